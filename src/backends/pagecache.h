/*
 * pagecache.h — does a range of a file sit in the page cache? io_uring.c
 * asks before each piece of a vex_sendfile job: a resident range can go out
 * with sendfile(2) on the loop's thread (no disk read to wait for), any
 * other through the ring's asynchronous read.
 */
#ifndef VEX_PAGECACHE_H
#define VEX_PAGECACHE_H

#include <stdint.h>

/* 1: every page of [off, off + len) is in the page cache (len > 0);
 * 0: some page is not (a hole, an evicted page, or the range runs past the
 * end of the file); -1 with errno when the kernel cannot say: ENOSYS before
 * Linux 6.5 (cachestat(2)), EOPNOTSUPP or EBADF for a file without a page
 * cache (hugetlbfs, a pipe), EINVAL for len 0. */
int vex__pagecache_resident(int fd, uint64_t off, uint64_t len);

#endif
