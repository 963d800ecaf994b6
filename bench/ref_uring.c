/* Minimal reference server on raw liburing: the floor for production_server's
 * io_uring backend in `make bench PEERS=ref` (README "Reference servers").
 *
 * One thread, one io_uring_submit_and_wait per turn. Multishot accept;
 * per connection one multishot recv from a provided-buffer ring (the buffer
 * goes back to the ring as soon as its terminators are counted); one send of
 * every response owed (one per "\r\n\r\n") from REF_BATCH canned copies, at
 * most one send in flight per connection so pieces never interleave. Setup
 * flags as the io_uring backend tries them (SUBMIT_ALL|SINGLE_ISSUER|
 * DEFER_TASKRUN, then SUBMIT_ALL|COOP_TASKRUN, then none). */
#include "ref_common.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_ENTRIES 4096u
#define NBUFS 1024u              /* as the io_uring backend's defaults */
#define BUF_SIZE 16384u
#define BGID 0

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND };

/* op (8 bits) | generation (24 bits) | fd (32 bits): a completion for a
 * closed connection whose fd number is reused carries the old generation. */
#define UD(op, gen, fd) (((uint64_t)(op) << 56) | ((uint64_t)((gen) & 0xffffffu) << 32) | (uint32_t)(fd))
#define UD_OP(u) ((unsigned)((u) >> 56))
#define UD_GEN(u) ((uint32_t)(((u) >> 32) & 0xffffffu))
#define UD_FD(u) ((int)(uint32_t)(u))

typedef struct {
    const char *send_ptr;   /* the send in flight (NULL: none) */
    uint32_t send_len;
    uint32_t owed;          /* responses waiting for the send in flight */
    uint32_t gen;
    uint8_t match;          /* partial terminator carried between recvs */
    uint8_t recv_armed;
    uint8_t open;
} conn;

typedef struct {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *bufs;
    unsigned returned;      /* buffers given back this turn, published at its end */
    int lfd;
    conn *conns;            /* indexed by fd */
    size_t nconns;
    ref_response resp;
} server;

static struct io_uring_sqe *sqe_get(server *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    while (!sqe) {          /* SQ full: hand the kernel what is queued */
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void arm_accept(server *s)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0, s->lfd));
}

static void arm_recv(server *s, int fd, conn *c)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, UD(OP_RECV, c->gen, fd));
    c->recv_armed = 1;
}

static void send_piece(server *s, int fd, conn *c, const char *p, uint32_t len)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_send(sqe, fd, p, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, UD(OP_SEND, c->gen, fd));
    c->send_ptr = p;
    c->send_len = len;
}

/* One send for what is owed (up to REF_BATCH responses). */
static void send_owed(server *s, int fd, conn *c)
{
    uint32_t n = c->owed < REF_BATCH ? c->owed : REF_BATCH;
    c->owed -= n;
    send_piece(s, fd, c, s->resp.buf, (uint32_t)(n * s->resp.len));
}

static void close_conn(int fd, conn *c)
{
    if (c->recv_armed)
        shutdown(fd, SHUT_RDWR);    /* ends the armed recv: it holds the socket */
    close(fd);
    *c = (conn){.gen = c->gen + 1};
}

static void give_back(server *s, unsigned bid)
{
    io_uring_buf_ring_add(s->br, s->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(NBUFS), (int)s->returned);
    s->returned++;
}

static void on_accept(server *s, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(s);
    int fd = cqe->res;
    if (fd < 0)
        return;
    if ((size_t)fd >= s->nconns) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = &s->conns[fd];
    c->open = 1;
    arm_recv(s, fd, c);
}

static void on_recv(server *s, struct io_uring_cqe *cqe, int fd, conn *c)
{
    int more = cqe->flags & IORING_CQE_F_MORE;
    if (!more)
        c->recv_armed = 0;
    if (cqe->res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        c->owed += ref_count_requests(s->bufs + (size_t)bid * BUF_SIZE, (size_t)cqe->res, &c->match);
        give_back(s, bid);
        if (!c->send_ptr && c->owed)
            send_owed(s, fd, c);
        if (!more)
            arm_recv(s, fd, c);
    } else if (cqe->res == -ENOBUFS && !more) {
        arm_recv(s, fd, c);
    } else if (!more) {
        close_conn(fd, c);       /* EOF or an error */
    }
}

static void on_send(server *s, struct io_uring_cqe *cqe, int fd, conn *c)
{
    if (cqe->res < 0) {
        close_conn(fd, c);
        return;
    }
    uint32_t done = (uint32_t)cqe->res;
    if (done < c->send_len) {
        send_piece(s, fd, c, c->send_ptr + done, c->send_len - done);
        return;
    }
    c->send_ptr = NULL;
    if (c->owed)
        send_owed(s, fd, c);
}

static void on_cqe(server *s, struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    unsigned op = UD_OP(ud);
    if (op == OP_ACCEPT) {
        on_accept(s, cqe);
        return;
    }
    int fd = UD_FD(ud);
    conn *c = &s->conns[fd];
    if (!c->open || UD_GEN(ud) != (c->gen & 0xffffffu)) {
        /* a connection already closed: only its buffer matters */
        if (op == OP_RECV && (cqe->flags & IORING_CQE_F_BUFFER))
            give_back(s, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return;
    }
    if (op == OP_RECV)
        on_recv(s, cqe, fd, c);
    else
        on_send(s, cqe, fd, c);
}

static int ring_init(struct io_uring *ring, unsigned *flags)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = RING_ENTRIES * 4;    /* multishot ops post many CQEs per SQE */
        r = io_uring_queue_init_params(RING_ENTRIES, ring, &p);
        *flags = p.flags;
        if (r != -EINVAL)
            return r;
    }
    return r;
}

static int buf_ring_init(server *s)
{
    void *mem = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    s->br = mem;
    if (posix_memalign((void **)&s->bufs, 4096, (size_t)NBUFS * BUF_SIZE) != 0)
        return -ENOMEM;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)s->br;
    reg.ring_entries = NBUFS;
    reg.bgid = BGID;
    int r = io_uring_register_buf_ring(&s->ring, &reg, 0);
    if (r < 0)
        return r;
    io_uring_buf_ring_init(s->br);
    for (unsigned i = 0; i < NBUFS; i++)
        give_back(s, i);
    io_uring_buf_ring_advance(s->br, (int)s->returned);
    s->returned = 0;
    return 0;
}

int main(int argc, char **argv)
{
    ref_args a;
    int rc = ref_parse_args(argc, argv, "ref_uring", &a);
    if (rc)
        return rc;
    static server s;
    s.nconns = ref_fd_limit();
    s.conns = calloc(s.nconns, sizeof *s.conns);
    if (!s.conns || ref_response_init(&s.resp) < 0 || ref_signals() < 0) {
        perror("ref_uring: init");
        return 1;
    }
    unsigned flags = 0;
    int r = ring_init(&s.ring, &flags);
    if (r < 0) {
        fprintf(stderr, "ref_uring: io_uring_setup: %s\n", strerror(-r));
        return REF_EXIT_UNAVAILABLE;
    }
    /* once, at start: which fallback this kernel took */
    printf("ref_uring: setup flags%s%s%s%s\n",
           flags & IORING_SETUP_SUBMIT_ALL ? " SUBMIT_ALL" : "",
           flags & IORING_SETUP_SINGLE_ISSUER ? " SINGLE_ISSUER" : "",
           flags & IORING_SETUP_DEFER_TASKRUN ? " DEFER_TASKRUN" : "",
           flags & IORING_SETUP_COOP_TASKRUN ? " COOP_TASKRUN" : "");
    fflush(stdout);
    r = buf_ring_init(&s);
    if (r < 0) {
        fprintf(stderr, "ref_uring: provided-buffer ring: %s\n", strerror(-r));
        return REF_EXIT_UNAVAILABLE;
    }
    io_uring_register_ring_fd(&s.ring);     /* optional, as the backend does */
    s.lfd = ref_listen(&a);
    if (s.lfd < 0)
        return 1;
    arm_accept(&s);
    volatile sig_atomic_t *stop = ref_stop_flag();
    while (!*stop) {
        r = io_uring_submit_and_wait(&s.ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            fprintf(stderr, "ref_uring: io_uring_enter: %s\n", strerror(-r));
            return 1;
        }
        ref_response_tick(&s.resp);
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&s.ring, head, cqe) {
            on_cqe(&s, cqe);
            seen++;
        }
        io_uring_cq_advance(&s.ring, seen);
        if (s.returned) {
            io_uring_buf_ring_advance(s.br, (int)s.returned);
            s.returned = 0;
        }
    }
    /* The armed accept holds the listening socket: end it first, so the port is
     * free when this process is gone (ring teardown finishes asynchronously). */
    shutdown(s.lfd, SHUT_RDWR);
    close(s.lfd);
    io_uring_queue_exit(&s.ring);
    free(s.conns);
    free(s.bufs);
    ref_response_free(&s.resp);
    return 0;
}
