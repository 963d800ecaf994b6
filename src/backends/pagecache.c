/*
 * pagecache.c — the page cache's answer for a range, by cachestat(2)
 * (Linux 6.5). glibc 2.36 and the Debian 12 kernel headers know neither the
 * call nor its structs, so both are spelled out here, as the kernel's uapi
 * <linux/mman.h> defines them. One syscall that walks the file's page-cache
 * index for the range: no mapping, no data copied.
 *
 * What it cannot tell: a page counted present may still be under a read in
 * flight (readahead someone else started), and a page may be evicted between
 * this answer and the sendfile(2) that trusts it. Either makes that one
 * sendfile wait for the disk; io_uring.c limits the first case by sending a
 * job through the asynchronous path for good once it found a page missing.
 */
#include "pagecache.h"
#include <errno.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/syscall.h>

#ifndef SYS_cachestat
#if defined(__alpha__)
#define SYS_cachestat 561   /* alpha numbers new calls 110 above the rest */
#else
#define SYS_cachestat 451   /* the same on every other architecture */
#endif
#endif

struct vex_cachestat_range {
    uint64_t off, len;
};

struct vex_cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int vex__pagecache_resident(int fd, uint64_t off, uint64_t len)
{
    if (len == 0) {   /* cachestat would read it as "to the end of the file" */
        errno = EINVAL;
        return -1;
    }
    struct vex_cachestat_range r = {off, len};
    struct vex_cachestat cs;
    if (syscall(SYS_cachestat, fd, &r, &cs, 0) < 0)
        return -1;
    /* Pages past the end of the file are not counted, so a range that runs
     * past it (a file truncated under a job) reads as not resident. */
    uint64_t page = (uint64_t)getpagesize();
    uint64_t pages = (off + len - 1) / page - off / page + 1;
    return cs.nr_cache >= pages;
}

#else

int vex__pagecache_resident(int fd, uint64_t off, uint64_t len)
{
    (void)fd, (void)off, (void)len;
    errno = ENOSYS;
    return -1;
}

#endif
