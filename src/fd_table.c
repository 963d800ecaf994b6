/* fd_table.c — growing an array indexed by fd: the core's socket table
 * (loop.c) and the per-fd maps of poll.c and kqueue.c. */
#include "loop_internal.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *vex__fd_table_grow(void *table, unsigned *len, size_t elem, int fd,
                         unsigned first, unsigned cap, int fill)
{
    if (fd < 0 || (cap && (unsigned)fd >= cap)) {
        errno = EBADF;
        return NULL;
    }
    if ((unsigned)fd < *len)
        return table;
    /* Doubling: a process that raises RLIMIT_NOFILE step by step costs
     * O(log n) reallocations, not one per new highest fd. */
    unsigned n = *len ? *len : first;
    while (n <= (unsigned)fd) {
        if (n > (1u << 30)) {
            errno = EBADF;
            return NULL;
        }
        n *= 2;
    }
    if (cap && n > cap)
        n = cap;
    if ((size_t)n > SIZE_MAX / elem) {
        errno = ENOMEM;
        return NULL;
    }
    char *t = realloc(table, (size_t)n * elem);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    memset(t + (size_t)*len * elem, fill, (size_t)(n - *len) * elem);
    *len = n;
    return t;
}
