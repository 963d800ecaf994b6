/*
 * test_peer.c — the client's address in vex_accept_cb: IPv4, IPv6, an IPv4
 * client on a dual-stack listener (IPv4-mapped), a burst in which every
 * connection must carry its own address (io_uring's multishot accept shares
 * one address buffer between completions), no address with an error, and
 * vex_accept_batch_addr (no loop).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PEERS 64

typedef struct peers {
    int listen_fd, n, errors, last_err;
    int bad_error_peer;             /* an error delivered with an address */
    int fds[MAX_PEERS];
    struct sockaddr_storage addr[MAX_PEERS];
    socklen_t len[MAX_PEERS];
    int null_peer;                  /* a connection delivered without one */
    int wrong_listener;
} peers;

static void peers_on_accept(vex_loop *l, int listen_fd, int fd,
                            const struct sockaddr *peer, socklen_t peer_len, void *udata)
{
    (void)l;
    peers *p = udata;
    if (listen_fd != p->listen_fd)
        p->wrong_listener++;
    if (fd < 0) {
        p->errors++;
        p->last_err = -fd;
        if (peer || peer_len)
            p->bad_error_peer++;
        return;
    }
    if (p->n >= MAX_PEERS) {
        close(fd);
        return;
    }
    if (!peer || peer_len == 0 || peer_len > sizeof p->addr[0]) {
        p->null_peer++;
        p->len[p->n] = 0;
    } else {
        memcpy(&p->addr[p->n], peer, peer_len);
        p->len[p->n] = peer_len;
    }
    p->fds[p->n++] = fd;
}

typedef struct want_n {
    peers *p;
    int n;
} want_n;

static bool peers_reached(void *arg)
{
    want_n *w = arg;
    return w->p->n >= w->n;
}

static void peers_close(peers *p)
{
    for (int i = 0; i < p->n; i++)
        close(p->fds[i]);
}

/* Port of an address (either family), or -1. */
static int addr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return -1;
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    const void *a = ss->ss_family == AF_INET
        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
        snprintf(buf, len, "(family %d)", ss->ss_family);
    return buf;
}

/* Connect a blocking client of family to host:port; -1 on failure. */
static int connect_to(int family, const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &in->sin_addr);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &in6->sin6_addr);
        len = sizeof *in6;
    }
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* A listener on host (port 0), or a skip naming why this host cannot have
 * one (no IPv6 on loopback, say). */
static int listen_or_skip(const char *host, unsigned flags, int *port)
{
    int fd = vex_tcp_listen(host, 0, 64, flags);
    if (fd < 0) {
        int e = errno;
        if (e == EAFNOSUPPORT || e == EADDRNOTAVAIL || e == EPROTONOSUPPORT || e == EINVAL) {
            print_message("    skipped: cannot listen on %s here: %s\n", host, strerror(e));
            h_skip();
        }
        fail_msg("vex_tcp_listen(%s): %s", host, strerror(e));
    }
    *port = vex_local_port(fd);
    return fd;
}

/* One client of client_family connects to connect_host; the accepted
 * connection's peer must be of want_family, want_len bytes, with the
 * address want_addr and the client's own port. */
static void check_one_peer(const char *listen_host, unsigned flags, int client_family,
                           const char *connect_host, int want_family,
                           socklen_t want_len, const char *want_addr)
{
    int port;
    int lfd = listen_or_skip(listen_host, flags, &port);
    vex_loop *l = h_loop_new(NULL);
    peers p;
    memset(&p, 0, sizeof p);
    p.listen_fd = lfd;
    assert_int_equal(vex_listen_start(l, lfd, peers_on_accept, &p), 0);
    int cli = connect_to(client_family, connect_host, port);
    int connect_err = errno;
    int cli_port = cli >= 0 ? vex_local_port(cli) : -1;
    want_n w = { &p, 1 };
    bool got = cli >= 0 && h_run_until(l, peers_reached, &w, 3000);
    vex_listen_stop(l, lfd);
    h_loop_free(l);
    peers_close(&p);
    if (cli >= 0)
        close(cli);
    close(lfd);

    if (cli < 0)
        fail_msg("connect to [%s]:%d: %s", connect_host, port, strerror(connect_err));
    assert_true(got);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.errors, 0);
    assert_int_equal(p.wrong_listener, 0);
    assert_int_equal(p.null_peer, 0);
    char text[INET6_ADDRSTRLEN + 16];
    addr_text(&p.addr[0], text, sizeof text);
    if (p.addr[0].ss_family != want_family)
        fail_msg("peer family %d (%s), expected %d", p.addr[0].ss_family, text, want_family);
    assert_int_equal(p.len[0], want_len);
    if (strcmp(text, want_addr) != 0)
        fail_msg("peer address %s, expected %s", text, want_addr);
    if (addr_port(&p.addr[0]) != cli_port)
        fail_msg("peer port %d, but the client's local port is %d",
                 addr_port(&p.addr[0]), cli_port);
    print_message("    peer %s port %d\n", text, cli_port);
}

static void test_peer_address_ipv4(void **state)
{
    (void)state;
    check_one_peer("127.0.0.1", 0, AF_INET, "127.0.0.1", AF_INET,
                   (socklen_t)sizeof(struct sockaddr_in), "127.0.0.1");
}

static void test_peer_address_ipv6(void **state)
{
    (void)state;
    check_one_peer("::1", VEX_LISTEN_V6ONLY, AF_INET6, "::1", AF_INET6,
                   (socklen_t)sizeof(struct sockaddr_in6), "::1");
}

/* A dual-stack listener (IPV6_V6ONLY off) bound to the IPv4-mapped form of
 * 127.0.0.1, so it is reachable from loopback only: an IPv4 client shows as
 * AF_INET6 ::ffff:127.0.0.1, as the header says. */
static void test_peer_address_ipv4_client_on_dual_stack_listener(void **state)
{
    (void)state;
    check_one_peer("::ffff:127.0.0.1", 0, AF_INET, "127.0.0.1", AF_INET6,
                   (socklen_t)sizeof(struct sockaddr_in6), "::ffff:127.0.0.1");
}

/* Forty clients wait in the backlog before accepting starts, so a backend
 * takes many in one turn (io_uring: one multishot accept posting many
 * completions). Each connection must carry its own client's port, every
 * port exactly once. */
static void test_peer_address_each_connection_its_own(void **state)
{
    (void)state;
    enum { N = 40 };
    int port;
    int lfd = h_listen(64, &port);
    int cli[N], cli_port[N];
    for (int i = 0; i < N; i++) {
        cli[i] = h_connect(port);
        cli_port[i] = cli[i] >= 0 ? vex_local_port(cli[i]) : -1;
    }
    vex_loop *l = h_loop_new(NULL);
    peers p;
    memset(&p, 0, sizeof p);
    p.listen_fd = lfd;
    assert_int_equal(vex_listen_start(l, lfd, peers_on_accept, &p), 0);
    want_n w = { &p, N };
    bool all = h_run_until(l, peers_reached, &w, 5000);
    vex_listen_stop(l, lfd);
    h_loop_free(l);
    int matched = 0, wrong_family = 0, unknown = 0, twice = 0;
    bool seen[N] = { false };
    for (int i = 0; i < p.n; i++) {
        if (p.addr[i].ss_family != AF_INET ||
            ((struct sockaddr_in *)&p.addr[i])->sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
            wrong_family++;
            continue;
        }
        int port_i = addr_port(&p.addr[i]), k = 0;
        while (k < N && cli_port[k] != port_i)
            k++;
        if (k == N)
            unknown++;
        else if (seen[k])
            twice++;
        else
            seen[k] = true, matched++;
    }
    peers_close(&p);
    for (int i = 0; i < N; i++)
        if (cli[i] >= 0)
            close(cli[i]);
    close(lfd);

    for (int i = 0; i < N; i++)
        assert_true(cli[i] >= 0);
    assert_true(all);
    assert_int_equal(p.n, N);
    assert_int_equal(p.errors, 0);
    assert_int_equal(p.null_peer, 0);
    if (wrong_family || unknown || twice)
        fail_msg("%d connections: %d not 127.0.0.1/AF_INET, %d with a port no "
                 "client has, %d with another connection's port", p.n,
                 wrong_family, unknown, twice);
    assert_int_equal(matched, N);
}

/* The loopless helper: three clients, each fd with its own client's port. */
static void test_accept_batch_addr_reports_each_client(void **state)
{
    (void)state;
    enum { N = 3 };
    int port;
    int lfd = h_listen(16, &port);
    int fds[8], cli[N], cli_port[N];
    struct sockaddr_storage peers[8];
    socklen_t lens[8];
    errno = 0;
    int one_array = vex_accept_batch_addr(lfd, fds, peers, NULL, 8);
    int one_array_err = errno;
    for (int i = 0; i < N; i++) {
        cli[i] = h_connect(port);
        cli_port[i] = cli[i] >= 0 ? vex_local_port(cli[i]) : -1;
    }
    int got = 0;
    uint64_t t0 = h_now_ms();
    while (got < N && h_now_ms() - t0 < 3000) {
        int n = vex_accept_batch_addr(lfd, fds + got, peers + got, lens + got, 8 - got);
        if (n < 0)
            break;
        got += n;
        if (n == 0)
            h_sleep_ms(5);
    }
    int matched = 0, bad = 0;
    for (int i = 0; i < got; i++) {
        int k = 0;
        while (k < N && cli_port[k] != addr_port(&peers[i]))
            k++;
        if (k < N && peers[i].ss_family == AF_INET && lens[i] == sizeof(struct sockaddr_in))
            matched++;
        else
            bad++;
        close(fds[i]);
    }
    for (int i = 0; i < N; i++)
        if (cli[i] >= 0)
            close(cli[i]);
    close(lfd);

    assert_int_equal(one_array, -1);
    assert_int_equal(one_array_err, EINVAL);
    assert_int_equal(got, N);
    assert_int_equal(bad, 0);
    assert_int_equal(matched, N);
}

/* An accept error (EMFILE here) comes with peer NULL and peer_len 0. */
static void test_peer_address_absent_on_accept_error(void **state)
{
    (void)state;
    vex_loop *l = h_loop_new(NULL);
    peers p;
    memset(&p, 0, sizeof p);
    int port;
    p.listen_fd = h_listen(16, &port);
    int cli = h_socket();
    assert_true(cli >= 0);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    struct rlimit low = { (rlim_t)h_lowest_free_fd(), saved.rlim_max };
    int set = setrlimit(RLIMIT_NOFILE, &low);
    int started = vex_listen_start(l, p.listen_fd, peers_on_accept, &p);
    h_run_for(l, 20);
    int conn = h_connect_fd(cli, port);
    uint64_t t0 = h_now_ms();
    while (p.errors == 0 && h_now_ms() - t0 < 2000)
        h_run_for(l, 10);
    setrlimit(RLIMIT_NOFILE, &saved);
    want_n w = { &p, 1 };
    bool recovered = h_run_until(l, peers_reached, &w, 3000);
    vex_listen_stop(l, p.listen_fd);
    h_loop_free(l);
    peers_close(&p);
    close(cli);
    close(p.listen_fd);

    assert_int_equal(set, 0);
    assert_int_equal(started, 0);
    assert_int_equal(conn, 0);
    if (p.errors < 1)
        fail_msg("no accept error while out of fds");
    if (p.last_err != EMFILE && p.last_err != ENFILE)
        fail_msg("accept error %d (%s), expected EMFILE", p.last_err, strerror(p.last_err));
    assert_int_equal(p.bad_error_peer, 0);
    assert_true(recovered);
    assert_int_equal(p.null_peer, 0);
}

int h_group_peer(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_peer_address_ipv4),
        H_TEST(test_peer_address_ipv6),
        H_TEST(test_peer_address_ipv4_client_on_dual_stack_listener),
        H_TEST(test_peer_address_each_connection_its_own),
        H_TEST(test_peer_address_absent_on_accept_error),
        H_TEST(test_accept_batch_addr_reports_each_client),
    };
    return cmocka_run_group_tests_name("peer", tests, NULL, NULL);
}
