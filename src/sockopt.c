/* sockopt.c — socket helpers that need no loop: listen, batch accept, options. */
#include "loop_internal.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value);
}

int vex_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return want == fl ? 0 : fcntl(fd, F_SETFL, want);
}

static int set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int vex_set_nodelay(int fd, int on)
{
    return set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, !!on);
}

int vex_set_keepalive(int fd, int on, int idle_s, int interval_s, int count)
{
    if (set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, !!on) < 0)
        return -1;
    if (!on)
        return 0;
#if defined(TCP_KEEPIDLE)
    if (idle_s > 0 && set_int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s) < 0)
        return -1;
#elif defined(TCP_KEEPALIVE) /* macOS spells the idle time this way */
    if (idle_s > 0 && set_int_opt(fd, IPPROTO_TCP, TCP_KEEPALIVE, idle_s) < 0)
        return -1;
#endif
#if defined(TCP_KEEPINTVL)
    if (interval_s > 0 && set_int_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s) < 0)
        return -1;
#endif
#if defined(TCP_KEEPCNT)
    if (count > 0 && set_int_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, count) < 0)
        return -1;
#endif
    (void)idle_s; (void)interval_s; (void)count;
    return 0;
}

int vex_set_recvbuf(int fd, int bytes)
{
    return set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

int vex_set_sendbuf(int fd, int bytes)
{
    return set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

int vex_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    errno = EAFNOSUPPORT;
    return -1;
}

/* Parse host into a sockaddr; NULL or "" means any IPv4 address. */
static int make_addr(const char *host, int port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!host || !*host) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
    } else {
        errno = EINVAL;
        return -1;
    }
    if (ss->ss_family == AF_INET) {
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
    } else {
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    }
    return 0;
}

int vex_tcp_listen(const char *host, int port, int backlog, unsigned flags)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (port < 0 || port > 65535 || backlog < 0) {
        errno = EINVAL;
        return -1;
    }
    if (make_addr(host, port, &ss, &len) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (set_cloexec(fd) < 0 || vex_set_nonblock(fd, 1) < 0 ||
        set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
        goto fail;
    if (flags & VEX_LISTEN_REUSEPORT) {
#ifdef SO_REUSEPORT
        if (set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0)
            goto fail;
#else
        errno = ENOPROTOOPT;
        goto fail;
#endif
    }
    if (ss.ss_family == AF_INET6 &&
        set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!(flags & VEX_LISTEN_V6ONLY)) < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        listen(fd, backlog ? backlog : SOMAXCONN) < 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* accept4 where it exists (Linux, FreeBSD 10+). macOS has none (and
 * VEX_PORTABLE builds run that path on Linux): accept, then set the flags;
 * a fork+exec in another thread between the two could inherit the socket,
 * which only matters to a program that execs while it serves. */
static int accept_one(int listen_fd, struct sockaddr *peer, socklen_t *peer_len)
{
#if (defined(__linux__) && !defined(VEX_PORTABLE)) || defined(__FreeBSD__)
    return accept4(listen_fd, peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(listen_fd, peer, peer_len);
    if (fd >= 0 && (set_cloexec(fd) < 0 || vex_set_nonblock(fd, 1) < 0)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
#endif
}

int vex__accept(int listen_fd, struct sockaddr *peer, socklen_t *peer_len)
{
    socklen_t room = peer_len ? *peer_len : 0;
    for (;;) {
        if (peer_len)
            *peer_len = room;
        int fd = accept_one(listen_fd, peer, peer_len);
        if (fd >= 0 || (errno != EINTR && errno != ECONNABORTED))
            return fd;
    }
}

int vex_accept_batch_addr(int listen_fd, int *fds, struct sockaddr_storage *peers,
                          socklen_t *peer_lens, int max)
{
    if (!peers != !peer_lens) {
        errno = EINVAL;
        return -1;
    }
    int n = 0;
    while (n < max) {
        socklen_t len = sizeof *peers;
        int fd = vex__accept(listen_fd, peers ? (struct sockaddr *)&peers[n] : NULL,
                             peers ? &len : NULL);
        if (fd >= 0) {
            if (peer_lens)
                peer_lens[n] = len;
            fds[n++] = fd;
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (n == 0)
            return -1;
        break;  /* report the error on the next call, after these are served */
    }
    return n;
}

int vex_accept_batch(int listen_fd, int *fds, int max)
{
    return vex_accept_batch_addr(listen_fd, fds, NULL, NULL, max);
}
