/* pagecache.c: cachestat(2)'s answer for ranges of real files, evicted with
 * posix_fadvise(DONTNEED) and read back. Files go to /var/tmp (or
 * $VEX_TEST_TMPDIR): DONTNEED evicts nothing on tmpfs, where /tmp may be. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/backends/pagecache.h"

#define SIZE (1u << 20)   /* 256 pages of 4 KiB */

static bool have_cachestat(void)
{
    int fd = memfd_create("probe", 0);
    assert_true(fd >= 0);
    int r = vex__pagecache_resident(fd, 0, 1);
    int e = errno;
    close(fd);
    return !(r < 0 && e == ENOSYS);
}

/* A file of SIZE bytes on disk, written out and evicted; -1 (skip) where
 * the filesystem keeps it anyway. */
static int cold_file(void)
{
    const char *dir = getenv("VEX_TEST_TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/vex_pagecache_XXXXXX", dir ? dir : "/var/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char *buf = malloc(SIZE);
    assert_non_null(buf);
    memset(buf, 'x', SIZE);
    assert_int_equal(write(fd, buf, SIZE), SIZE);
    free(buf);
    assert_int_equal(vex__pagecache_resident(fd, 0, SIZE), 1);   /* dirty pages count */
    assert_int_equal(fdatasync(fd), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    if (vex__pagecache_resident(fd, 0, SIZE) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_evicted_then_read_back(void **state)
{
    (void)state;
    if (!have_cachestat())
        skip();   /* kernel before 6.5: pagecache.c answers ENOSYS, io_uring.c copies */
    int fd = cold_file();
    if (fd < 0)
        skip();   /* the filesystem of the test directory does not evict (tmpfs?) */
    char b[SIZE / 2];
    assert_int_equal(pread(fd, b, sizeof b, 0), (ssize_t)sizeof b);
    /* Readahead may have brought in more than was read: evict the last
     * page again rather than guess how far it went. */
    assert_int_equal(posix_fadvise(fd, SIZE - 4096, 4096, POSIX_FADV_DONTNEED), 0);
    assert_int_equal(vex__pagecache_resident(fd, 0, SIZE / 2), 1);
    assert_int_equal(vex__pagecache_resident(fd, 4096, 1), 1);
    assert_int_equal(vex__pagecache_resident(fd, SIZE - 1, 1), 0);
    assert_int_equal(vex__pagecache_resident(fd, SIZE - 4097, 2), 0);   /* one of two pages */
    assert_int_equal(vex__pagecache_resident(fd, 0, SIZE), 0);
    /* A range across pages counts each page it touches. */
    assert_int_equal(posix_fadvise(fd, 8192, 4096, POSIX_FADV_DONTNEED), 0);
    assert_int_equal(vex__pagecache_resident(fd, 4096, 4097), 0);
    assert_int_equal(vex__pagecache_resident(fd, 4096, 4096), 1);
    assert_int_equal(vex__pagecache_resident(fd, 12288, 100), 1);
    close(fd);
}

static void test_range_past_the_end_is_not_resident(void **state)
{
    (void)state;
    if (!have_cachestat())
        skip();
    int fd = memfd_create("t", 0);
    assert_true(fd >= 0);
    char b[10000];
    memset(b, 1, sizeof b);
    assert_int_equal(write(fd, b, sizeof b), (ssize_t)sizeof b);
    assert_int_equal(vex__pagecache_resident(fd, 0, sizeof b), 1);
    assert_int_equal(vex__pagecache_resident(fd, 9999, 1), 1);
    assert_int_equal(vex__pagecache_resident(fd, 0, 3 * 4096 + 1), 0);   /* a page past it */
    assert_int_equal(ftruncate(fd, 4096), 0);                             /* truncated under us */
    assert_int_equal(vex__pagecache_resident(fd, 0, sizeof b), 0);
    close(fd);
}

static void test_hole_is_not_resident(void **state)
{
    (void)state;
    if (!have_cachestat())
        skip();
    int fd = memfd_create("t", 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);   /* all hole: reads as zeros, no page */
    assert_int_equal(vex__pagecache_resident(fd, 0, 1 << 20), 0);
    assert_int_equal(pwrite(fd, "a", 1, 65536), 1);
    assert_int_equal(vex__pagecache_resident(fd, 65536, 4096), 1);
    assert_int_equal(vex__pagecache_resident(fd, 0, 65537), 0);
    close(fd);
}

static void test_cannot_tell(void **state)
{
    (void)state;
    int fd = memfd_create("t", 0);
    assert_true(fd >= 0);
    errno = 0;
    assert_int_equal(vex__pagecache_resident(fd, 0, 0), -1);   /* 0 would mean "to the end" */
    assert_int_equal(errno, EINVAL);
    close(fd);
    assert_int_equal(vex__pagecache_resident(fd, 0, 1), -1);   /* closed */
    assert_true(errno == EBADF || errno == ENOSYS);
    int p[2];   /* a pipe is never resident (0 pages, or an error): never sendfile'd */
    assert_int_equal(pipe(p), 0);
    assert_true(vex__pagecache_resident(p[0], 0, 1) != 1);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evicted_then_read_back),
        cmocka_unit_test(test_range_past_the_end_is_not_resident),
        cmocka_unit_test(test_hole_is_not_resident),
        cmocka_unit_test(test_cannot_tell),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
