/*
 * io_uring.c — the completion backend (Linux 6.0+, liburing 2.3+).
 *
 * Native use, not epoll in disguise: one multishot accept per listener, one
 * multishot recv per socket drawing from a shared provided-buffer ring (an
 * idle connection holds no buffer), sends queued during a turn and submitted
 * together with the wait in one io_uring_enter, closes as linked
 * cancel+close SQEs in that same batch.
 *
 * vex_sendfile asks the page cache first (pagecache.c, cachestat(2)): a
 * range that is resident goes out with sendfile(2) on the loop's thread, the
 * socket being non-blocking (no copy through user space, no buffer held; a
 * full socket arms a POLL_ADD for POLLOUT and the rest follows on it). Any
 * other piece, and the rest of a job once one page was missing, is read with
 * IORING_OP_READ into the socket's in-flight buffer and sent: a miss is waited
 * for by the kernel, never by the loop. IORING_OP_SPLICE would avoid the copy
 * too, but the kernel never issues a splice inline (io_splice refuses
 * non-blocking issue), so every piece would take a hop through an io-wq
 * worker thread.
 *
 * user_data is a pointer with the operation in its low 3 bits. A socket's
 * struct is kept (detached) until the last completion for it has arrived, so
 * a completion can never land on a new socket that reused the fd number.
 */
#include "../loop_internal.h"
#include "pagecache.h"
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ThreadSanitizer follows descriptors through its close(2) interceptor: a
 * close forgets what threads did with the number. A close done by the ring
 * (IORING_OP_CLOSE, below) is invisible to it, and so are the ring's accepts
 * and the server's raw openat2, so the next thread to get the same number
 * looked as if it shared the old descriptor with the thread that last used
 * it: a false race "on file descriptor N" (fstat in one worker against
 * close in another). The sanitizers' syscall hook tells TSan of the close as
 * the interceptor would. Only in -fsanitize=thread builds; nothing else
 * changes. */
#if defined(__SANITIZE_THREAD__)
#define VEX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VEX_TSAN 1
#endif
#endif
#ifdef VEX_TSAN
void __sanitizer_syscall_pre_impl_close(long fd);   /* sanitizer/linux_syscall_hooks.h */
#define tsan_ring_closes(fd) __sanitizer_syscall_pre_impl_close((long)(fd))
#else
#define tsan_ring_closes(fd) ((void)0)
#endif

enum { OP_IGNORE = 0, OP_RECV = 1, OP_SEND = 2, OP_ACCEPT = 3, OP_WAKE = 4, OP_CLOSE = 5,
       OP_FREAD = 6, OP_POLL = 7 /* POLLOUT for the sendfile(2) path */ };
#define OP_MASK 7u
#define BUF_GROUP 0

/* uring_sock.flags */
enum { U_RECV = 1u, U_SEND = 2u, U_HELD = 4u /* detached, kept for its CQEs */,
       U_FREAD = 8u /* a read of the vex_sendfile file is in flight */,
       U_RESEND = 16u /* the read came up short, so the SEND linked to it
                         will be cancelled: send what was read instead */,
       U_POLL = 32u /* a POLL_ADD for POLLOUT is in flight (the file waits
                       for room in the socket) */,
       U_FCOPY = 64u /* this job's file goes through the ring's READ for
                        good: a page was missing, the kernel cannot tell, or
                        sendfile(2) refused the file */,
       U_SOCKERR = 128u /* a recv or poll saw the socket fail: sendfile(2)
                           has no MSG_NOSIGNAL and would raise SIGPIPE once
                           the error was collected, so the ring's SEND
                           (MSG_NOSIGNAL) reports it instead */ };
#define U_BUSY (U_RECV | U_SEND | U_FREAD | U_POLL)

/* vex_sendfile reads a piece not in the page cache in this size into the
 * socket's in-flight buffer, which then fits the loop's spare-buffer list. */
#define FILE_CHUNK 65536u
/* Bytes sent with sendfile(2) per socket per turn before yielding to the
 * others: the share the READ path gives each socket (one 64 KiB piece). With
 * readiness.c's 1 MiB, 200 slow readers starting at once made GET / wait
 * 155-271 ms at p99 beside them, against 14-22 ms with this (README, "Files
 * on io_uring"). */
#define FILE_BURST 65536u

/* A connection as io_uring.c sees it. */
typedef struct uring_sock {
    vex_sock s;                /* first: a vex_sock * is a uring_sock *; its
                                  bflags hold the U_* flags */
    /* Output handed to the kernel (s.inflight bytes), or NULL: a holder
     * from the loop's list, attached while a send or a file read is in
     * flight (sending_get/sending_put), so an idle connection carries a
     * pointer for it, not a 24-byte vex_buf. */
    vex_buf *sending;
} uring_sock;

/* A holder of output in flight; the list of free ones is per loop. */
typedef struct send_buf {
    vex_buf b;                 /* first: uring_sock.sending points here */
    struct send_buf *next_free;
} send_buf;

const size_t vex__backend_sock_size = sizeof(uring_sock);
_Static_assert(sizeof(void *) != 8 || sizeof(uring_sock) <= VEX__SOCK_BUDGET_URING_LP64,
               "idle connection memory is a target");
_Static_assert(U_SOCKERR <= 0x8000u, "the U_* flags fit vex_sock.bflags");

static inline uring_sock *us(vex_sock *s) { return (uring_sock *)s; }

typedef struct uring_state {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    char *bufs;
    unsigned nbufs, buf_size;
    uint64_t wake_val;
    unsigned held;             /* detached sockets waiting for completions */
    unsigned closing;          /* close SQEs not yet completed */
    unsigned setup_flags;
    bool no_cachestat;         /* ENOSYS: every file piece takes the READ path */
    /* Per listener slot: accept SQEs in flight (0 or 1, briefly 1 more
     * while a cancel is pending). */
    unsigned accepts[VEX_MAX_LISTENERS];
    send_buf *send_free;       /* holders no socket has now */
} uring_state;

const char *const vex__backend_name = "io_uring";

static uint64_t tag(const void *p, unsigned op)
{
    return (uint64_t)(uintptr_t)p | op;
}

/* ---- availability and setup -------------------------------------------- */

static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 1;   /* cannot tell: let io_uring_setup decide */
    return ma > major || (ma == major && mi >= minor);
}

static int disabled_by_sysctl(char *why, size_t why_len)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d", &v) != 1)
        v = 0;
    fclose(f);
    /* 1 allows only members of kernel.io_uring_group (and CAP_SYS_ADMIN):
     * let io_uring_setup answer for those. */
    if (v == 2) {
        snprintf(why, why_len, "io_uring is disabled by /proc/sys/kernel/io_uring_disabled=2");
        errno = EPERM;
        return 1;
    }
    return 0;
}

static const char *setup_hint(int err)
{
    return err == EPERM ? " (blocked by a seccomp profile, a container runtime or kernel.io_uring_disabled?)"
         : err == ENOSYS ? " (kernel built without io_uring, or blocked by seccomp)"
         : "";
}

int vex__backend_available(char *why, size_t why_len)
{
    char dummy[8];
    if (!why) {
        why = dummy;
        why_len = sizeof dummy;
    }
    if (!kernel_at_least(6, 0)) {
        snprintf(why, why_len, "io_uring backend needs Linux 6.0+ (multishot recv)");
        return 0;
    }
    if (disabled_by_sysctl(why, why_len))
        return 0;
    struct io_uring ring;
    int r = io_uring_queue_init(2, &ring, 0);
    if (r < 0) {
        snprintf(why, why_len, "io_uring_setup: %s%s", strerror(-r), setup_hint(-r));
        return 0;
    }
    io_uring_queue_exit(&ring);
    return 1;
}

/* Newest flags first; fall back when the kernel says EINVAL.
 * Test hook (tests/conformance/test_uring.c): VEX_IO_URING_SETUP_FROM=N (0-2)
 * starts at the Nth set, as if an older kernel had refused the ones before,
 * so every fallback runs on a kernel that has them all. Read only here. */
static int ring_init(uring_state *st, unsigned entries)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    const char *from = getenv("VEX_IO_URING_SETUP_FROM");
    size_t first = from && from[0] >= '0' && from[0] <= '2' && !from[1] ? (size_t)(from[0] - '0') : 0;
    int r = -EINVAL;
    for (size_t i = first; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;   /* multishot ops post many CQEs per SQE */
        r = io_uring_queue_init_params(entries, &st->ring, &p);
        if (r == 0) {
            st->setup_flags = p.flags;
            return 0;
        }
        if (r != -EINVAL)
            break;
    }
    return r;
}

static int buf_ring_init(uring_state *st, unsigned count, unsigned size)
{
    st->nbufs = count;
    st->buf_size = size;
    st->br_bytes = count * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, st->br_bytes, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    st->br = mem;
    if (posix_memalign((void **)&st->bufs, 4096, (size_t)count * size) != 0)
        return -ENOMEM;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)st->br;
    reg.ring_entries = count;
    reg.bgid = BUF_GROUP;
    int r = io_uring_register_buf_ring(&st->ring, &reg, 0);
    if (r < 0)
        return r;
    io_uring_buf_ring_init(st->br);
    int mask = io_uring_buf_ring_mask(count);
    for (unsigned i = 0; i < count; i++)
        io_uring_buf_ring_add(st->br, st->bufs + (size_t)i * size, size,
                              (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(st->br, (int)count);
    return 0;
}

static void give_back_buffer(uring_state *st, unsigned bid)
{
    io_uring_buf_ring_add(st->br, st->bufs + (size_t)bid * st->buf_size,
                          st->buf_size, (unsigned short)bid,
                          io_uring_buf_ring_mask(st->nbufs), 0);
    io_uring_buf_ring_advance(st->br, 1);
}

/* An SQE, submitting what is queued if the SQ is full. */
static struct io_uring_sqe *get_sqe(vex_loop *l)
{
    uring_state *st = l->be;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
    while (!sqe) {
        io_uring_submit(&st->ring);
        vex__core_syscall(l);
        sqe = io_uring_get_sqe(&st->ring);
    }
    return sqe;
}

/* Room for n SQEs that must go in one submission (a link chain: were the SQ
 * to fill between them, the first would be submitted without its link). */
static void reserve_sqes(vex_loop *l, unsigned n)
{
    uring_state *st = l->be;
    while (io_uring_sq_space_left(&st->ring) < n) {
        io_uring_submit(&st->ring);
        vex__core_syscall(l);
    }
}

static void arm_wake(vex_loop *l)
{
    uring_state *st = l->be;
    struct io_uring_sqe *sqe = get_sqe(l);
    io_uring_prep_read(sqe, l->wake_rfd, &st->wake_val, sizeof st->wake_val, 0);
    io_uring_sqe_set_data64(sqe, tag(l, OP_WAKE));
}

static void state_free(uring_state *st, bool ring_ok)
{
    while (st->send_free) {
        send_buf *h = st->send_free;
        st->send_free = h->next_free;
        free(h);
    }
    if (ring_ok)
        io_uring_queue_exit(&st->ring);
    if (st->br)
        munmap(st->br, st->br_bytes);
    free(st->bufs);
    free(st);
}

int vex__backend_init(vex_loop *l, char *err, size_t err_len)
{
    char why[160];
    if (!kernel_at_least(6, 0) || disabled_by_sysctl(why, sizeof why)) {
        if (!kernel_at_least(6, 0))
            snprintf(why, sizeof why, "io_uring backend needs Linux 6.0+ (multishot recv)");
        if (err && err_len)
            snprintf(err, err_len, "%s", why);
        errno = kernel_at_least(6, 0) ? EPERM : ENOSYS;
        return -1;
    }
    uring_state *st = calloc(1, sizeof *st);
    if (!st) {
        errno = ENOMEM;
        return -1;
    }
    unsigned count = l->cfg.recv_buf_count;
    if (count & (count - 1) || count > 32768) {
        if (err && err_len)
            snprintf(err, err_len, "recv_buf_count must be a power of two <= 32768");
        free(st);
        errno = EINVAL;
        return -1;
    }
    int r = ring_init(st, l->cfg.ring_entries);
    if (r < 0) {
        if (err && err_len)
            snprintf(err, err_len, "io_uring_setup: %s%s", strerror(-r), setup_hint(-r));
        free(st);
        errno = -r;
        return -1;
    }
    r = buf_ring_init(st, count, l->cfg.recv_buf_size);
    if (r < 0) {
        if (err && err_len)
            snprintf(err, err_len, "io_uring provided-buffer ring: %s", strerror(-r));
        state_free(st, true);
        errno = -r;
        return -1;
    }
    io_uring_register_ring_fd(&st->ring);   /* optional: saves an fd lookup per enter */
    l->be = st;
    arm_wake(l);
    return 0;
}

/* ---- sockets ------------------------------------------------------------ */

static void arm_recv(vex_loop *l, vex_sock *s)
{
    struct io_uring_sqe *sqe = get_sqe(l);
    io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, tag(s, OP_RECV));
    s->bflags |= U_RECV;
}

static void cancel_op(vex_loop *l, const void *p, unsigned op)
{
    struct io_uring_sqe *sqe = get_sqe(l);
    io_uring_prep_cancel64(sqe, tag(p, op), 0);
    io_uring_sqe_set_data64(sqe, OP_IGNORE);
}

int vex__backend_sock_add(vex_loop *l, vex_sock *s)
{
    arm_recv(l, s);
    return 0;
}

int vex__backend_sock_read(vex_loop *l, vex_sock *s, bool on)
{
    /* A recv still armed (its cancel not yet completed) re-arms itself from
     * its last completion, see recv_done. */
    if (on && !(s->bflags & U_RECV))
        arm_recv(l, s);
    else if (!on && (s->bflags & U_RECV))
        cancel_op(l, s, OP_RECV);
    return 0;
}

/* s's in-flight holder, attached now if it had none; NULL: out of memory. */
static vex_buf *sending_get(vex_loop *l, vex_sock *s)
{
    if (us(s)->sending)
        return us(s)->sending;
    uring_state *st = l->be;
    send_buf *h = st->send_free;
    if (h)
        st->send_free = h->next_free;
    else if (!(h = calloc(1, sizeof *h)))
        return NULL;
    us(s)->sending = &h->b;
    return &h->b;
}

/* Give s's holder back once nothing in it is pending: its memory goes to
 * the loop's spare list (or is freed: drop), the holder to the free list. */
static void sending_put(vex_loop *l, vex_sock *s, bool drop)
{
    send_buf *h = (send_buf *)(void *)us(s)->sending;
    if (!h)
        return;
    if (drop) {
        vex__buf_free(&h->b);
    } else {
        vex__core_buf_release(l, &h->b);
        if (h->b.data)
            return;              /* still pending: a send goes on from it */
    }
    uring_state *st = l->be;
    us(s)->sending = NULL;
    h->next_free = st->send_free;
    st->send_free = h;
}

static void submit_send(vex_loop *l, vex_sock *s)
{
    /* Bytes of a file follow (the queue before it, or a piece that is not
     * the last): MSG_MORE lets TCP fill whole segments, as TCP_CORK does. */
    const vex_file_job *f = vex__sock_file(s);
    bool more = f && f->left > 0;
    struct io_uring_sqe *sqe = get_sqe(l);
    vex_buf *b = us(s)->sending;
    io_uring_prep_send(sqe, s->fd, b->data + b->off, vex__buf_pending(b),
                       MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    io_uring_sqe_set_data64(sqe, tag(s, OP_SEND));
    s->bflags |= U_SEND;
}

/* Close the file of a vex_sendfile job with an SQE in the turn's batch; only
 * once no read of it is in flight (a read holds the file, not the fd
 * number, but one still in the SQ would see a closed or reused fd). */
static void file_end(vex_loop *l, vex_sock *s)
{
    if (!vex__sock_file(s) || (s->bflags & U_FREAD))
        return;
    struct io_uring_sqe *sqe = get_sqe(l);
    tsan_ring_closes(vex__sock_file(s)->fd);
    io_uring_prep_close(sqe, vex__sock_file(s)->fd);
    io_uring_sqe_set_data64(sqe, tag(l, OP_CLOSE));
    ((uring_state *)l->be)->closing++;
    vex__core_file_done(s);
    s->bflags &= ~U_FCOPY;   /* the next job asks the page cache afresh */
}

static void sock_failed(vex_loop *l, vex_sock *s, int err)
{
    file_end(l, s);
    s->inflight = 0;
    if (us(s)->sending)
        vex__buf_consume(us(s)->sending, vex__buf_pending(us(s)->sending));
    vex__core_wrote(l, s, -err);
}

static void file_read(vex_loop *l, vex_sock *s)
{
    vex_buf *b = sending_get(l, s);
    if (b)
        vex__core_buf_ready(l, b);
    if (!b || vex__buf_reserve(b, FILE_CHUNK) < 0) {
        sock_failed(l, s, ENOMEM);
        return;
    }
    vex_file_job *f = vex__sock_file(s);
    unsigned n = f->left < FILE_CHUNK ? (unsigned)f->left : FILE_CHUNK;
    /* READ linked to the SEND of the same bytes: a page-cache hit is read
     * and sent within one io_uring_enter. A short read fails the link, so the
     * SEND never sends bytes that were not read (see file_read_done). The n
     * bytes count as in flight from now on, no longer as the file's. */
    reserve_sqes(l, 2);
    struct io_uring_sqe *sqe = get_sqe(l);
    io_uring_prep_read(sqe, f->fd, b->data, n, f->off);
    io_uring_sqe_set_data64(sqe, tag(s, OP_FREAD));
    sqe->flags |= IOSQE_IO_LINK;
    s->bflags |= U_FREAD;
    f->off += n;
    f->left -= n;
    b->off = 0;
    b->len = n;
    s->inflight = n;
    submit_send(l, s);
}

/* Come back to the file when the socket has room (POLLOUT), or, with
 * room still there after a burst, at the next turn: a NOP under the same tag
 * (a POLLOUT would wait for the queue to drain to two thirds first). */
static void arm_pollout(vex_loop *l, vex_sock *s, bool full)
{
    struct io_uring_sqe *sqe = get_sqe(l);
    if (full)
        io_uring_prep_poll_add(sqe, s->fd, POLLOUT);
    else
        io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, tag(s, OP_POLL));
    s->bflags |= U_POLL;
}

/* Send what of the file the page cache holds with sendfile(2), up to
 * FILE_BURST. Returns false, having sent nothing more, when the next piece
 * must take the ring's READ instead (then U_FCOPY is set). Runs only from
 * the loop's flush, after every completion of the turn was dispatched: a
 * recv that collected a reset's error has set U_SOCKERR by then. */
static bool file_sendfile(vex_loop *l, vex_sock *s)
{
    uring_state *st = l->be;
    vex_file_job *f = vex__sock_file(s);
    size_t sent = 0;
    while (f->left > 0) {
        if (sent >= FILE_BURST) {   /* yield to the other sockets */
            arm_pollout(l, s, false);
            break;
        }
        size_t room = FILE_BURST - sent;
        size_t want = f->left < room ? (size_t)f->left : room;
        int resident = st->no_cachestat ? -1 : vex__pagecache_resident(f->fd, f->off, want);
        if (!st->no_cachestat)
            vex__core_syscall(l);
        if (resident != 1) {   /* not all there, or the kernel cannot tell */
            if (resident < 0 && errno == ENOSYS)
                st->no_cachestat = true;   /* before Linux 6.5: do not ask again */
            s->bflags |= U_FCOPY;   /* what was sent shows in vex_write_pending */
            return false;
        }
        off_t o = (off_t)f->off;
        ssize_t n = sendfile(s->fd, f->fd, &o, want);
        vex__core_syscall(l);
        if (n > 0) {
            f->off += (uint64_t)n;
            f->left -= (uint64_t)n;
            sent += (size_t)n;
            if ((size_t)n < want) {   /* the socket is full: wait for room */
                arm_pollout(l, s, true);
                break;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            arm_pollout(l, s, true);
            break;
        } else if (n < 0 && (errno == EINVAL || errno == ENOSYS) && sent == 0) {
            s->bflags |= U_FCOPY;   /* a file sendfile(2) cannot read */
            return false;
        } else {   /* 0: the file is shorter than promised */
            sock_failed(l, s, n == 0 ? EIO : errno);
            return true;
        }
    }
    if (f->left == 0)
        file_end(l, s);
    if (sent > 0)
        vex__core_wrote(l, s, (ssize_t)sent);   /* last: it may run on_drain */
    return true;
}

static void file_flush(vex_loop *l, vex_sock *s)
{
    if (vex__sock_file(s)->left == 0) {
        file_end(l, s);
        vex__core_wrote(l, s, 0);   /* done: on_drain */
        return;
    }
    if (!(s->bflags & (U_FCOPY | U_SOCKERR)) && file_sendfile(l, s))
        return;
    file_read(l, s);
}

void vex__backend_sock_flush(vex_loop *l, vex_sock *s)
{
    if (s->bflags & (U_SEND | U_FREAD | U_POLL))
        return;   /* one send in flight per socket keeps the bytes in order */
    if (vex__buf_pending(&s->out) == 0) {   /* then the file, if any */
        if (vex__sock_file(s))
            file_flush(l, s);
        return;
    }
    /* Hand the queue to the kernel as it is; new writes go to a fresh queue
     * so the bytes in flight are never moved by a realloc. */
    vex_buf *b = sending_get(l, s);
    if (!b) {
        sock_failed(l, s, ENOMEM);
        return;
    }
    vex_buf spare = *b;
    *b = s->out;
    s->out = spare;
    s->out.off = s->out.len = 0;
    vex__core_buf_release(l, &s->out);   /* the next write takes a spare */
    s->inflight = vex__buf_pending(b);
    submit_send(l, s);
}

bool vex__backend_sock_detach(vex_loop *l, vex_sock *s, bool close_fd)
{
    uring_state *st = l->be;
    file_end(l, s);   /* or when its read completes */
    bool busy = s->bflags & U_BUSY;
    if (s->bflags & U_FREAD) {
        /* The file READ is not on s->fd, so the cancel below misses it; a
         * cancelled READ breaks its link, and the SEND behind it never runs.
         * A READ already waiting on the disk cannot be stopped: its SEND
         * then still goes out (see vex_sock_remove). */
        cancel_op(l, s, OP_FREAD);
    }
    if (busy) {
        reserve_sqes(l, 2);   /* cancel and close in one chain */
        struct io_uring_sqe *sqe = get_sqe(l);
        io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, OP_IGNORE);
        /* The close must follow the cancel even when the cancel finds
         * nothing (-ENOENT): a hard link does not break on error. */
        if (close_fd)
            sqe->flags |= IOSQE_IO_HARDLINK;
        s->bflags |= U_HELD;
        st->held++;
    }
    if (close_fd) {
        struct io_uring_sqe *sqe = get_sqe(l);
        tsan_ring_closes(s->fd);
        io_uring_prep_close(sqe, s->fd);
        io_uring_sqe_set_data64(sqe, tag(l, OP_CLOSE));
        st->closing++;
    } else if (busy) {
        /* The caller owns fd again after we return: cancel now, before it
         * can read from or close the socket itself. */
        io_uring_submit(&st->ring);
        vex__core_syscall(l);
    }
    if (!busy)   /* nothing of the kernel's still points into it */
        sending_put(l, s, true);
    return !busy;
}

static void maybe_release(vex_loop *l, vex_sock *s)
{
    uring_state *st = l->be;
    if ((s->bflags & (U_HELD | U_BUSY)) == U_HELD) {
        s->bflags &= ~U_HELD;
        st->held--;
        sending_put(l, s, true);
        vex__core_sock_release(l, s);
    }
}

static void recv_done(vex_loop *l, vex_sock *s, struct io_uring_cqe *cqe)
{
    uring_state *st = l->be;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more)
        s->bflags &= ~U_RECV;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0)
            vex__core_deliver(l, s, st->bufs + (size_t)bid * st->buf_size, cqe->res);
        give_back_buffer(st, bid);   /* the data was consumed in the callback */
    } else if (cqe->res == 0) {
        vex__core_deliver(l, s, NULL, 0);
    } else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
        s->bflags |= U_SOCKERR;   /* the kernel collected the error: see U_SOCKERR */
        vex__core_deliver(l, s, NULL, cqe->res);
    }
    if (s->flags & VS_DETACHED) {
        maybe_release(l, s);
        return;
    }
    /* Multishot ended (ENOBUFS, cancel after a pause, or the kernel's
     * choice): re-arm while the owner still wants data. */
    if (!more && !(s->flags & (VS_PAUSED | VS_EOF)) && !s->held_end &&
        !(s->bflags & U_RECV))
        arm_recv(l, s);
}

static void send_done(vex_loop *l, vex_sock *s, int res)
{
    s->bflags &= ~U_SEND;
    if (s->flags & VS_DETACHED) {
        maybe_release(l, s);
        return;
    }
    if (s->bflags & U_RESEND) {
        s->bflags &= ~U_RESEND;
        if (res == -ECANCELED) {   /* the link broke as it should */
            submit_send(l, s);
            return;
        }
    }
    if (res < 0) {
        sock_failed(l, s, res == -ECANCELED ? EPIPE : -res);
        return;
    }
    if (res == 0) {   /* no progress on a non-empty send: the peer is gone */
        send_done(l, s, -EPIPE);
        return;
    }
    vex__buf_consume(us(s)->sending, (size_t)res);
    s->inflight -= (size_t)res;
    if (vex__buf_pending(us(s)->sending) > 0)
        submit_send(l, s);   /* short send: the rest, before anything newer */
    else if (vex__buf_pending(&s->out) > 0)
        vex__backend_sock_flush(l, s);
    else if (vex__sock_file(s) && vex__sock_file(s)->left == 0)
        file_end(l, s);   /* its last piece: vex__core_wrote below sees it done */
    else if (vex__sock_file(s))   /* from the flush, where sendfile(2) may run */
        vex__core_flush_later(l, s);
    /* Sent: its memory goes back, as s->out's does (a file job that follows
     * with sendfile(2) needs none; a READ takes a buffer again). */
    sending_put(l, s, false);
    vex__core_wrote(l, s, res);
}

static void poll_done(vex_loop *l, vex_sock *s, int res)
{
    s->bflags &= ~U_POLL;
    if (s->flags & VS_DETACHED) {
        maybe_release(l, s);
        return;
    }
    /* A failed socket: let the ring's SEND meet the error (MSG_NOSIGNAL). */
    if (res < 0 || (res & (POLLERR | POLLHUP)))
        s->bflags |= U_SOCKERR;
    vex__core_flush_later(l, s);
}

static void file_read_done(vex_loop *l, vex_sock *s, int res)
{
    s->bflags &= ~U_FREAD;
    if (s->flags & VS_DETACHED) {
        file_end(l, s);
        maybe_release(l, s);
        return;
    }
    if (res <= 0) {   /* 0: the file is shorter than promised */
        sock_failed(l, s, res < 0 ? -res : EIO);   /* the linked SEND is cancelled */
        return;
    }
    size_t unread = us(s)->sending->len - (size_t)res;
    if (unread > 0) {   /* short: those bytes are the file's again */
        vex_file_job *f = vex__sock_file(s);
        f->off -= unread;
        f->left += unread;
        us(s)->sending->len = (uint32_t)res;
        s->inflight = (size_t)res;
        s->bflags |= U_RESEND;
    }
}

/* ---- listeners ---------------------------------------------------------- */

/* ls->armed is the wish to accept; uring_state.accepts counts the SQEs. */
static unsigned *accepts_in_flight(vex_loop *l, vex_listener *ls)
{
    return &((uring_state *)l->be)->accepts[ls - l->listeners];
}

static void arm_accept(vex_loop *l, vex_listener *ls)
{
    struct io_uring_sqe *sqe = get_sqe(l);
    io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(ls, OP_ACCEPT));
    (*accepts_in_flight(l, ls))++;
}

int vex__backend_listen(vex_loop *l, vex_listener *ls, bool on)
{
    if (ls->armed == on)
        return 0;
    ls->armed = on;
    if (on && *accepts_in_flight(l, ls) == 0) {
        arm_accept(l, ls);
    } else if (!on && *accepts_in_flight(l, ls) > 0) {
        struct io_uring_sqe *sqe = get_sqe(l);
        io_uring_prep_cancel64(sqe, tag(ls, OP_ACCEPT), IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, OP_IGNORE);
    }
    /* A resume while the cancel is pending re-arms from the last CQE. */
    return 0;
}

/* A multishot accept writes every connection's address to the one buffer
 * its SQE names, so by the time a CQE is read the address may be a later
 * connection's: ask the socket instead, one getpeername(2) per connection.
 * It fails (ENOTCONN) only for a client that reset meanwhile; such a
 * connection is dropped, as accept(2) drops one that aborted. */
static void accepted(vex_loop *l, vex_listener *ls, int fd)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int r = getpeername(fd, (struct sockaddr *)&peer, &len);
    vex__core_syscall(l);
    if (r < 0) {
        close(fd);
        vex__core_syscall(l);
        return;
    }
    vex__core_accepted(l, ls, fd, (struct sockaddr *)&peer, len);
}

static void accept_done(vex_loop *l, vex_listener *ls, struct io_uring_cqe *cqe)
{
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more)
        (*accepts_in_flight(l, ls))--;
    if (ls->fd < 0) {            /* listener stopped: do not leak the socket */
        if (cqe->res >= 0)
            close(cqe->res);
        return;
    }
    if (cqe->res >= 0)
        accepted(l, ls, cqe->res);
    else if (cqe->res != -ECANCELED)
        vex__core_accepted(l, ls, cqe->res, NULL, 0);   /* EMFILE & co. disarm + back off */
    if (!more && ls->armed && *accepts_in_flight(l, ls) == 0)
        arm_accept(l, ls);
}

/* ---- the wait ----------------------------------------------------------- */

static void dispatch(vex_loop *l, struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    void *p = (void *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);
    switch (ud & OP_MASK) {
    case OP_RECV:
        recv_done(l, p, cqe);
        break;
    case OP_SEND:
        send_done(l, p, cqe->res);
        break;
    case OP_FREAD:
        file_read_done(l, p, cqe->res);
        break;
    case OP_POLL:
        poll_done(l, p, cqe->res);
        break;
    case OP_ACCEPT:
        accept_done(l, p, cqe);
        break;
    case OP_WAKE:
        arm_wake(l);
        vex__core_woken(l);
        break;
    case OP_CLOSE:
        ((uring_state *)l->be)->closing--;
        break;
    default:
        break;
    }
}

static int reap(vex_loop *l)
{
    uring_state *st = l->be;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&st->ring, head, cqe) {
        dispatch(l, cqe);
        n++;
    }
    io_uring_cq_advance(&st->ring, n);
    return (int)n;
}

int vex__backend_wait(vex_loop *l, int timeout_ms)
{
    uring_state *st = l->be;
    struct io_uring_cqe *cqe;
    int r;
    /* Submit and wait in one io_uring_enter. */
    if (timeout_ms < 0) {
        r = io_uring_submit_and_wait(&st->ring, 1);
    } else {
        struct __kernel_timespec ts = {
            .tv_sec = timeout_ms / 1000,
            .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
        };
        r = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
    }
    vex__core_waited(l);
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) {
        errno = -r;
        return -1;
    }
    int n = reap(l);
    /* Completions the CQ could not hold wait in the kernel (FEAT_NODROP):
     * flush them now rather than one turn later. */
    while (io_uring_cq_has_overflow(&st->ring)) {
        io_uring_get_events(&st->ring);
        vex__core_syscall(l);
        n += reap(l);
    }
    return n;
}

void vex__backend_free(vex_loop *l)
{
    uring_state *st = l->be;
    if (!st)
        return;
    /* vex_loop_free queued cancel+close for every socket: submit them (a
     * close left in the SQ would leak its fd) and let them complete so each
     * held socket is released exactly once. With DEFER_TASKRUN a linked
     * close runs only while we wait, so wait for the closes too. */
    io_uring_submit(&st->ring);
    uint64_t deadline = vex__core_clock_ms() + 2000;
    while ((st->held > 0 || st->closing > 0) && vex__core_clock_ms() < deadline) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
        int r = io_uring_submit_and_wait_timeout(&st->ring, &cqe,
                                                 st->held + st->closing, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR)
            break;   /* e.g. EBADF: freed from another thread than its own */
        reap(l);
    }
    state_free(st, true);
    l->be = NULL;
}
