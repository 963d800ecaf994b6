/*
 * config.c — defaults, the order of sources (defaults < file < flags), the
 * checks that need the file system, and the refcounted snapshot.
 */
#include "config.h"
#include "access_config.h"
#include "tls_context.h"
#include "config_file.h"
#include "config_keys.h"
#include "platform.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "production_server"

void config_usage(void *file)
{
    FILE *f = file;
    fprintf(f, "usage: " PROG " [options]\n");
    fprintf(f, "  %-25s%s\n", "--config FILE",
            "read settings from this YAML file first; the flags\n"
            "                           below override it (see README: Configuration)");
    fprintf(f, "  %-25s%s\n", "--check-config",
            "validate the file and flags, print the result, exit 0 or 2");
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const cfg_key *k = &cfg_keys[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s %s", k->name, k->arg);
        /* A flag too long for its column gets a line of its own. */
        if (strlen(flag) >= 25)
            fprintf(f, "  %s\n%27s", flag, "");
        else
            fprintf(f, "  %-25s", flag);
        for (const char *p = k->help; *p; p++) {
            fputc(*p, f);
            if (*p == '\n')
                fprintf(f, "%27s", "");
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-25s%s\n", "--help", "this text");
    fprintf(f, "Seconds may have decimals (0.5). SIGHUP reloads --config; SIGUSR1 reopens\n"
               "the log files.\n"
               "Exit codes: 0 after a graceful shutdown, 1 on a runtime error, 2 for bad\n"
               "flags or configuration, 3 when the backend cannot run here.\n");
}

static int msg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 2;
}

static void defaults(server_config *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (server_config){
        .host = "0.0.0.0", .port = 8080,
        .threads = cpus > 0 ? (unsigned)cpus : 1,
        .max_clients = 10000, .backlog = 4096, .buffer_size = 8192,
        .header_timeout_ms = 30000, .idle_timeout_ms = 60000,
        .shutdown_timeout_ms = 5000, .stats_interval_ms = 10000,
        .root = NULL, .root_fd = -1, .max_body = 8u << 20,
        .admin_port = -1, .admin_host = "127.0.0.1",
    };
    log_settings_default(&cfg->log);
    comp_settings_default(&cfg->comp);
}

enum { O_CONFIG = 1000, O_CHECK, O_HELP, O_KEY0 = 2000 };

static void build_options(struct option *opts)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg_nkeys; i++)
        opts[n++] = (struct option){ cfg_keys[i].name, required_argument, NULL, O_KEY0 + (int)i };
    opts[n++] = (struct option){ "config", required_argument, NULL, O_CONFIG };
    opts[n++] = (struct option){ "check-config", no_argument, NULL, O_CHECK };
    opts[n++] = (struct option){ "help", no_argument, NULL, O_HELP };
    opts[n] = (struct option){ NULL, 0, NULL, 0 };
}

/* pass 0: --config, --check-config, --help and unknown flags;
 * pass 1: every setting, over what the file gave. */
static int flags_pass(server_config *cfg, int argc, char **argv, int pass, bool *host_port,
                      bool *root_flag, char *err, size_t errlen)
{
    struct option opts[CFG_NKEYS_MAX + 4];
    if (cfg_nkeys > CFG_NKEYS_MAX)
        return msg(err, errlen, "internal: key table too long");
    build_options(opts);
    opterr = 0;   /* our own messages name the flag */
    optind = 1;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":", opts, &idx)) != -1) {
        const char *a = optarg;
        if (c == ':')
            return msg(err, errlen, "option '%s' needs a value (see --help)", argv[optind - 1]);
        if (c == '?' || c < O_CONFIG)
            return msg(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
        if (c == O_HELP) {
            if (pass == 0) {
                config_usage(stdout);
                return 1;
            }
            continue;
        }
        if (c == O_CHECK) {
            cfg->check_only = true;
            continue;
        }
        if (c == O_CONFIG) {
            if (pass == 0) {
                if (*a == '\0')
                    return msg(err, errlen, "invalid value for --config: '' (a file)");
                free(cfg->config_path);
                cfg->config_path = strdup(a);
                if (!cfg->config_path)
                    return msg(err, errlen, "out of memory");
            }
            continue;
        }
        if (pass == 0)
            continue;
        const cfg_key *k = &cfg_keys[c - O_KEY0];
        if (cfg_key_set(k, cfg, a))
            return msg(err, errlen, "invalid value for --%s: '%s' (%s)", k->name, a, k->want);
        if (k->off == offsetof(server_config, host) || k->off == offsetof(server_config, port))
            *host_port = true;
        if (k->off == offsetof(server_config, root))
            *root_flag = true;
    }
    if (optind < argc)
        return msg(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

int config_load(server_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    defaults(cfg);
    err[0] = '\0';
    bool host_port = false, root_flag = false;
    int rc = flags_pass(cfg, argc, argv, 0, &host_port, &root_flag, err, errlen);
    if (rc)
        return rc;
    file_seen seen = { false, false };
    if (cfg->config_path && (rc = config_file_read(cfg->config_path, cfg, &seen, err, errlen)))
        return rc;
    if ((rc = flags_pass(cfg, argc, argv, 1, &host_port, &root_flag, err, errlen)))
        return rc;
    /* Flags override the file: --host/--port stand for one listener. */
    if (!seen.listen || host_port) {
        cfg->n_listeners = 1;
        memset(&cfg->listeners[0], 0, sizeof cfg->listeners[0]);
        strcpy(cfg->listeners[0].host, cfg->host);
        cfg->listeners[0].port = cfg->port;
    }
    if (cfg->root) {
        cfg->root_fd = plat_open_root(cfg->root);
        if (cfg->root_fd < 0) {
            if (root_flag || !cfg->config_path)
                return msg(err, errlen, "invalid value for --root: '%s' (%s)", cfg->root,
                           strerror(errno));
            return msg(err, errlen, "%s: root: cannot open '%s' as a directory (%s)",
                       cfg->config_path, cfg->root, strerror(errno));
        }
    }
    if (log_settings_check(&cfg->log, cfg->config_path, err, errlen) < 0)
        return 2;
    return 0;
}

void config_free(server_config *cfg)
{
    free(cfg->root);
    free(cfg->config_path);
    if (cfg->root_fd >= 0)
        close(cfg->root_fd);
    for (unsigned i = 0; i < cfg->n_routes; i++) {
        cfg_route *r = &cfg->routes[i];
        free(r->path);
        free(r->body);
        free(r->content_type);
        free(r->location);
    }
    for (unsigned i = 0; i < cfg->n_limits; i++) {
        cfg_limit *l = &cfg->limits[i];
        free(l->name);
        free(l->path);
        rl_zone_free(l->zone);
        memset(l, 0, sizeof *l);
    }
    cfg->n_limits = 0;
    for (unsigned i = 0; i < CFG_MAX_LISTENERS; i++) {
        tls_ctx_free(cfg->tls[i]);
        cfg->tls[i] = NULL;
    }
    access_config_free(cfg->access);
    cfg->access = NULL;
    cfg->root = cfg->config_path = NULL;
    cfg->root_fd = -1;
    cfg->n_routes = 0;
}

void config_keep_zones(const server_config *old, server_config *nu)
{
    for (unsigned i = 0; i < nu->n_limits; i++) {
        cfg_limit *l = &nu->limits[i];
        for (unsigned j = 0; j < old->n_limits; j++) {
            const cfg_limit *o = &old->limits[j];
            if (strcmp(o->name, l->name) == 0 && rl_params_equal(&o->p, &l->p)) {
                rl_zone_free(l->zone);
                l->zone = rl_zone_ref(o->zone);
                break;
            }
        }
    }
}

void config_restart_diff(const server_config *old, const server_config *nu, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const cfg_key *k = &cfg_keys[i];
        if (!k->restart || cfg_key_equal(k, old, nu))
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", k->name);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
}

/* ---- snapshots ---------------------------------------------------------------- */

struct config_ref {
    _Atomic unsigned refs;
    server_config cfg;
};

config_ref *config_ref_new(server_config *cfg)
{
    config_ref *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    cfg->root_fd = -1;
    return r;
}

const server_config *config_ref_get(const config_ref *r) { return &r->cfg; }

config_ref *config_ref_acquire(config_ref *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void config_ref_release(config_ref *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        config_free(&r->cfg);
        free(r);
    }
}
