/* timer.c — timers as a binary min-heap ordered by (due time, start order). */
#include "loop_internal.h"
#include <stdlib.h>
#include <errno.h>

static bool timer_before(const vex_timer *a, const vex_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_place(vex_loop *l, size_t i, vex_timer *t)
{
    l->heap[i] = t;
    t->heap_index = i;
}

static void sift_up(vex_loop *l, size_t i)
{
    vex_timer *t = l->heap[i];
    while (i > 1 && timer_before(t, l->heap[i / 2])) {
        heap_place(l, i, l->heap[i / 2]);
        i /= 2;
    }
    heap_place(l, i, t);
}

static void sift_down(vex_loop *l, size_t i)
{
    vex_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i;
        if (c > l->heap_len)
            break;
        if (c + 1 <= l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_place(l, i, l->heap[c]);
        i = c;
    }
    heap_place(l, i, t);
}

void vex_timer_stop(vex_loop *l, vex_timer *t)
{
    if (!l || !t || t->heap_index == 0)
        return;
    size_t i = t->heap_index;
    vex_timer *last = l->heap[l->heap_len--];
    t->heap_index = 0;
    if (last != t) {
        heap_place(l, i, last);
        sift_up(l, i);
        sift_down(l, last->heap_index);
    }
}

int vex_timer_start(vex_loop *l, vex_timer *t, uint64_t after_ms,
                    uint64_t period_ms, vex_timer_cb cb, void *data)
{
    if (!l || !t || !cb) {
        errno = EINVAL;
        return -1;
    }
    vex_timer_stop(l, t);
    if (l->heap_len + 1 >= l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        vex_timer **h = realloc(l->heap, cap * sizeof *h);
        if (!h) {
            errno = ENOMEM;
            return -1;
        }
        l->heap = h;
        l->heap_cap = cap;
    }
    /* Count from the turn's cached time, as libuv does: timers started
     * together keep their relative order whatever the clock did meanwhile. */
    t->due_ms = l->now_ms + after_ms;
    t->period_ms = period_ms;
    t->seq = ++l->timer_seq;
    t->cb = cb;
    t->data = data;
    heap_place(l, ++l->heap_len, t);
    sift_up(l, l->heap_len);
    return 0;
}

int vex_timer_active(const vex_timer *t)
{
    return t && t->heap_index != 0;
}

/* Milliseconds until the next timer is due: -1 if none, 0 if overdue. */
int vex__timers_next_timeout(const vex_loop *l)
{
    if (l->heap_len == 0)
        return -1;
    uint64_t due = l->heap[1]->due_ms;
    if (due <= l->now_ms)
        return 0;
    uint64_t d = due - l->now_ms;
    return d > INT32_MAX ? INT32_MAX : (int)d;
}

/* Run every timer due by now. A periodic timer is re-armed before its
 * callback so the callback may stop or restart it. Timers started by a
 * callback with a zero delay run on the next turn, never in this one. */
int vex__timers_run(vex_loop *l)
{
    int ran = 0;
    uint64_t now = l->now_ms, last_seq = l->timer_seq;
    while (l->heap_len > 0) {
        vex_timer *t = l->heap[1];
        if (t->due_ms > now || t->seq > last_seq)
            break;
        vex_timer_stop(l, t);
        if (t->period_ms > 0) {
            /* Skip missed periods rather than firing a burst after a stall. */
            uint64_t next = t->due_ms + t->period_ms;
            if (next <= now)
                next = now + t->period_ms;
            vex_timer_start(l, t, next - now, t->period_ms, t->cb, t->data);
        }
        t->cb(l, t);
        ran++;
    }
    return ran;
}
