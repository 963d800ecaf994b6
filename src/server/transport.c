/*
 * transport.c — what is the same for every transport: a write that needs a
 * new window, and close.
 */
#include "transport.h"

#include <stdlib.h>
#include <string.h>

bool tp_write_slow(tp *t, const void *p, size_t n)
{
    if (n == 0)
        return true;
    size_t avail;
    char *dst = t->ops->reserve(t, n, &avail);
    if (!dst)
        return false;
    memcpy(dst, p, n);
    t->env->out.used += n;
    return true;
}

void tp_close(tp *t)
{
    t->ops->close(t);
}

void tp_env_free(tp_env *e)
{
    free(e->tls_pt);
    e->tls_pt = NULL;
    e->tls_pt_cap = 0;
}
