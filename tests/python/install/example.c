/* A program built against an installed vex_net with pkg-config only: one
 * loop, one listener, a client that connects to it, and a timer; prints the
 * backend and version it was linked with. Exit 0 when the connection was
 * accepted, 3 when the backend cannot run here (with the reason). */
#include <vex_net.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int accepted = -1;

static void on_accept(vex_loop *loop, int listen_fd, int client_fd,
                      const struct sockaddr *peer, socklen_t peer_len, void *udata)
{
    (void)peer;
    (void)peer_len;
    (void)listen_fd; (void)udata;
    accepted = client_fd;
    vex_loop_stop(loop);
}

static void on_timeout(vex_loop *loop, vex_timer *t)
{
    (void)t;
    vex_loop_stop(loop);
}

int main(void)
{
    char why[256] = "";
    if (!vex_backend_available(why, sizeof why)) {
        printf("backend %s unavailable: %s\n", vex_backend_name(), why);
        return 3;
    }
    vex_loop *loop = vex_loop_new(NULL, why, sizeof why);
    int lfd = vex_tcp_listen("127.0.0.1", 0, 16, 0);
    if (!loop || lfd < 0 || vex_listen_start(loop, lfd, on_accept, NULL) < 0) {
        printf("setup failed: %s\n", why);
        return 1;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)vex_local_port(lfd));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        return 1;
    }
    vex_timer t = VEX_TIMER_INIT;
    vex_timer_start(loop, &t, 5000, 0, on_timeout, NULL);
    vex_loop_run(loop);
    printf("vex_net %s backend=%s accepted=%s\n", VEX_NET_VERSION, vex_backend_name(),
           accepted >= 0 ? "yes" : "no");
    if (accepted >= 0)
        close(accepted);
    close(c);
    vex_listen_stop(loop, lfd);
    close(lfd);
    vex_loop_free(loop);
    return accepted >= 0 ? 0 : 1;
}
