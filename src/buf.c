/* buf.c — the growable byte queue behind each socket's output. */
#include "loop_internal.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>

int vex__buf_reserve(vex_buf *b, size_t n)
{
    if (b->off == b->len)   /* empty: reuse from the start */
        b->off = b->len = 0;
    if (b->cap - b->len < n) {
        /* Slide pending bytes down instead of growing, but only when the
         * consumed prefix is at least as large as what is left: each byte is
         * then moved O(1) times, and a queue written and drained in turn
         * never grows past twice its peak. */
        if (b->off > 0 && b->off >= b->len - b->off) {
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->cap - b->len < n) {
            size_t cap = b->cap ? b->cap : 512;
            if (n > VEX__BUF_MAX - b->len) {   /* 32-bit offsets */
                errno = ENOMEM;
                return -1;
            }
            while (cap - b->len < n) {
                if (cap >= VEX__BUF_MAX) {
                    errno = ENOMEM;
                    return -1;
                }
                cap *= 2;
            }
            char *d = realloc(b->data, cap);
            if (!d) {
                errno = ENOMEM;
                return -1;
            }
            b->data = d;
            b->cap = (uint32_t)cap;
        }
    }
    return 0;
}

int vex__buf_append(vex_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (vex__buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += (uint32_t)n;
    return 0;
}

void vex__buf_consume(vex_buf *b, size_t n)
{
    if (n < (size_t)(b->len - b->off)) {
        b->off += (uint32_t)n;
    } else {
        b->off = b->len = 0;
        /* Give large buffers back: an idle connection should hold nothing. */
        if (b->cap > 65536) {
            vex__buf_free(b);
        }
    }
}

void vex__buf_free(vex_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
