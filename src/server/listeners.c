/*
 * listeners.c — binding listeners and planning their change on reload.
 * A listener is kept when its address, port (as configured) and
 * ipv6-only are unchanged; anything else is a new listener plus a removed
 * one, and the new one is bound first.
 */
#include "listeners.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vex_net.h"

void lformat(char *buf, size_t cap, const char *host, int port)
{
    bool br = strchr(host, ':') != NULL;
    snprintf(buf, cap, "%s%s%s:%d", br ? "[" : "", host, br ? "]" : "", port);
}

bool lspec_same(const cfg_listener *a, const cfg_listener *b)
{
    return a->port == b->port && a->v6only == b->v6only && a->tls == b->tls &&
           strcmp(a->host, b->host) == 0;
}

static void append(char *buf, size_t cap, const char *host, int port)
{
    char one[96];
    lformat(one, sizeof one, host, port);
    size_t n = strlen(buf);
    if (n + strlen(one) + 3 < cap)
        snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", one);
}

void lplan_abort(lplan *p)
{
    for (unsigned i = 0; p->fds && i < p->n_new * p->n_workers; i++)
        if (p->fds[i] >= 0)
            close(p->fds[i]);
    lplan_done(p);
}

void lplan_done(lplan *p)
{
    free(p->fds);
    p->fds = NULL;
    p->n_new = 0;
}

int lplan_make(const lregistry *cur, const server_config *cfg, unsigned n_workers,
               unsigned backlog, lplan *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->n_workers = n_workers;
    p->next.next_lid = cur->next_lid;
    p->fds = malloc(sizeof(int) * CFG_MAX_LISTENERS * n_workers);
    if (!p->fds) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < CFG_MAX_LISTENERS * n_workers; i++)
        p->fds[i] = -1;
    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        const cfg_listener *spec = &cfg->listeners[i];
        lrecord *rec = &p->next.r[p->next.n++];
        const lrecord *old = NULL;
        for (unsigned j = 0; j < cur->n && !old; j++)
            if (lspec_same(&cur->r[j].spec, spec))
                old = &cur->r[j];
        if (old) {
            *rec = *old;
            continue;
        }
        rec->spec = *spec;
        rec->lid = p->next.next_lid++;
        rec->port = spec->port;
        unsigned k = p->n_new++;
        p->new_idx[k] = p->next.n - 1;
        unsigned flags = VEX_LISTEN_REUSEPORT | (spec->v6only ? VEX_LISTEN_V6ONLY : 0);
        for (unsigned w = 0; w < n_workers; w++) {
            /* With port 0 the first socket picks the port, the others join it. */
            int fd = vex_tcp_listen(spec->host, rec->port, (int)backlog, flags);
            if (fd < 0) {
                char a[96];
                lformat(a, sizeof a, spec->host, rec->port);
                snprintf(err, errlen, "cannot listen on %s: %s", a, strerror(errno));
                lplan_abort(p);
                return -1;
            }
            /* Each response leaves in one send; Nagle would only delay the
             * next one behind a delayed ACK. Set here, the accepted sockets
             * inherit it (PLAT_NODELAY_INHERITED; admit.c sets it per
             * socket where they may not). */
            vex_set_nodelay(fd, 1);
            if (rec->port == 0)
                rec->port = vex_local_port(fd);
            p->fds[k * n_workers + w] = fd;
        }
        append(p->added, sizeof p->added, spec->host, rec->port);
    }
    for (unsigned j = 0; j < cur->n; j++) {
        bool kept = false;
        for (unsigned i = 0; i < p->next.n && !kept; i++)
            kept = p->next.r[i].lid == cur->r[j].lid;
        if (!kept)
            append(p->removed, sizeof p->removed, cur->r[j].spec.host, cur->r[j].port);
    }
    return 0;
}
