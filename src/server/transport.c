/*
 * transport.c — what is the same for every transport: writes through the
 * window, and close.
 */
#include "transport.h"

#include <string.h>

char *tp_reserve(tp *t, size_t min, size_t *avail)
{
    return t->ops->reserve(t, min, avail);
}

void tp_commit(tp *t, size_t n)
{
    t->ops->commit(t, n);
}

bool tp_write(tp *t, const void *p, size_t n)
{
    if (n == 0)
        return true;
    size_t avail;
    char *dst = t->ops->reserve(t, n, &avail);
    if (!dst)
        return false;
    memcpy(dst, p, n);
    t->ops->commit(t, n);
    return true;
}

void tp_close(tp *t)
{
    t->ops->close(t);
}
