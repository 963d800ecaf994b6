/*
 * reload.c — SIGHUP, on the main thread (never a worker's): read and check
 * the configuration again, bind added listeners, then publish the new
 * snapshot; each worker takes it at its next safe point. Any error keeps
 * the old configuration serving and says why (file, line, key).
 */
#include "server.h"
#include "signals.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "production_server"

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void finish(server *s, bool ok)
{
    pthread_mutex_lock(&s->mu);
    if (ok)
        s->reload.ok++;
    else
        s->reload.failed++;
    s->reload.last_ok = ok;
    s->reload.last_unix = unix_now();
    pthread_mutex_unlock(&s->mu);
}

/* Keep the running value of every (restart) setting: the pools, loops and
 * admin socket were made with them. */
static void keep_restart_settings(const server_config *old, server_config *nu)
{
    nu->threads = old->threads;
    nu->max_clients = old->max_clients;
    nu->backlog = old->backlog;
    nu->buffer_size = old->buffer_size;
    nu->admin_port = old->admin_port;
    memcpy(nu->admin_host, old->admin_host, sizeof nu->admin_host);
}

void listeners_hand_out(server *s, lplan *p, bool running)
{
    for (unsigned w = 0; w < s->n_workers; w++) {
        worker *wk = &s->workers[w];
        for (unsigned k = 0; k < p->n_new; k++) {
            wlisten l = { p->fds[k * p->n_workers + w], p->next.r[p->new_idx[k]].lid, false,
                           p->next.r[p->new_idx[k]].spec };
            if (!running)
                wk->ls[wk->n_ls++] = l;
            else if (wk->n_lpending < CFG_MAX_LISTENERS)
                wk->lpending[wk->n_lpending++] = l;
            else
                close(l.fd);      /* cannot happen: main waits for the last hand-out */
        }
        wk->n_lwant = p->next.n;
        for (unsigned i = 0; i < p->next.n; i++)
            wk->lwant[i] = p->next.r[i].lid;
    }
    s->lreg = p->next;
    lplan_done(p);
}

/* The previous reload's sockets are taken before new ones are handed out
 * (a worker's loop is woken and takes them within milliseconds). */
static void wait_workers_synced(server *s)
{
    for (int i = 0; i < 200; i++) {
        bool synced = true;
        pthread_mutex_lock(&s->mu);
        unsigned gen = atomic_load(&s->cfg_gen);
        for (unsigned w = 0; w < s->n_workers; w++)
            if (s->workers[w].cfg_gen != gen)
                synced = false;
        pthread_mutex_unlock(&s->mu);
        if (synced)
            return;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

void server_reload(server *s, int argc, char **argv)
{
    if (sig_stop_requested())
        return;                   /* draining: nothing takes a new snapshot */
    wait_workers_synced(s);
    if (!s->cfg->config_path) {
        /* Not a failed reload: there is nothing to read. */
        log_event(VLOG_WARN, "SIGHUP: no --config file to reload; still serving");
        return;
    }
    server_config nu;
    char err[512];
    int rc = config_load(&nu, argc, argv, err, sizeof err);
    if (rc) {
        log_event(VLOG_ERROR, "SIGHUP: reload failed, still serving the previous "
                              "configuration: %s", err);
        config_free(&nu);
        finish(s, false);
        return;
    }
    char restart[256];
    config_restart_diff(s->cfg, &nu, restart, sizeof restart);
    keep_restart_settings(s->cfg, &nu);
    config_keep_zones(s->cfg, &nu);

    lplan plan;
    if (lplan_make(&s->lreg, &nu, s->n_workers, nu.backlog, &plan, err, sizeof err) < 0) {
        log_event(VLOG_ERROR, "SIGHUP: reload failed, still serving the previous "
                              "configuration: %s", err);
        config_free(&nu);
        finish(s, false);
        return;
    }
    /* The logs switch here, before the snapshot: a log file that cannot be
     * opened now fails the reload with nothing changed. */
    if (log_apply(&nu.log, err, sizeof err) < 0) {
        lplan_abort(&plan);
        log_event(VLOG_ERROR, "SIGHUP: reload failed, still serving the previous "
                              "configuration: %s", err);
        config_free(&nu);
        finish(s, false);
        return;
    }
    config_ref *ref = config_ref_new(&nu);
    if (!ref) {
        lplan_abort(&plan);
        config_free(&nu);
        log_event(VLOG_ERROR, "SIGHUP: reload failed, still serving the previous "
                              "configuration: out of memory");
        finish(s, false);
        return;
    }
    char added[sizeof plan.added], removed[sizeof plan.removed];
    strcpy(added, plan.added);
    strcpy(removed, plan.removed);

    pthread_mutex_lock(&s->mu);
    config_ref *old = s->cfg_ref;
    s->cfg_ref = ref;
    s->cfg = config_ref_get(ref);
    listeners_hand_out(s, &plan, true);
    atomic_fetch_add_explicit(&s->cfg_gen, 1, memory_order_release);
    pthread_mutex_unlock(&s->mu);
    config_ref_release(old);      /* workers still on it hold their own */
    for (unsigned i = 0; i < s->n_workers; i++) {
        vex_loop *l = atomic_load_explicit(&s->workers[i].loop_pub, memory_order_acquire);
        if (l)
            vex_loop_wake(l);
    }
    finish(s, true);
    /* One event per fact, so a log search for listener changes or kept
     * restart-only settings finds them without parsing the summary. */
    log_event(VLOG_INFO, "SIGHUP: reloaded %s (generation %u)", s->cfg->config_path,
              atomic_load(&s->cfg_gen));
    if (added[0])
        log_event(VLOG_INFO, "reload: listening on %s", added);
    if (removed[0])
        log_event(VLOG_INFO, "reload: stopped listening on %s (its connections finish)", removed);
    if (restart[0])
        log_event(VLOG_WARN, "reload: needs a restart to change, kept: %s", restart);
}
