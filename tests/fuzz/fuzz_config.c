/*
 * fuzz_config.c — libFuzzer target for the --config file: the fuzzer's
 * bytes are the YAML file, read by the real config_file_read (libyaml, the
 * key table of config_keys.c and every section parser: listen with TLS and
 * SNI, routes, limits, trusted-proxies, access, auth, the log keys) over
 * the defaults config_load gives when it has no flags.
 *
 * No file system: the build links with -Wl,--wrap for the calls that open
 * files (Makefile), and the wrappers below serve
 *   fuzz.yaml        the input (fmemopen),
 *   users.htpasswd   a fixed, valid password file,
 *   cert.pem/key.pem a certificate and key made once in
 *                    LLVMFuzzerInitialize (fuzz_cert.c, in memory),
 * and make every other path fail to open, which must be a clean error.
 * Rate-limit zones are allocated at most 64 KiB each (a valid file may ask
 * for 16 GiB per zone; the parser, not the allocator, is under test).
 *
 * The invariants, each a trap:
 *   - no crash, no leak (LSan), no undefined behaviour;
 *   - an error is "fuzz.yaml:LINE: ..." with LINE in 1..the input's line
 *     count (an operator is told where);
 *   - a success passes what --check-config checks without files (config.c's
 *     steps after the file, the log paths not opened), and its structure
 *     holds what the parsers promise: counts within their bounds, routes
 *     and limits complete, a TLS context exactly for each TLS listener, no
 *     password file (none can be read but users.htpasswd);
 *   - reading the same input twice gives the same settings (every key of
 *     the table equal, no restart difference).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "fuzz_cert.h"
#include "fuzz_check.h"
#include "server/access_config.h"
#include "server/config.h"
#include "server/config_file.h"
#include "server/config_keys.h"
#include "server/ratelimit.h"

#define INPUT_NAME "fuzz.yaml"
#define HTPASSWD_NAME "users.htpasswd"
#define ZONE_MAX 65536

static const uint8_t *in_data;
static size_t in_size;
static bool armed;            /* inside config_file_read: files are served */

/* A valid password file (SHA-512 crypt of "secret"). */
static const char htpasswd[] =
    "# fuzz\n"
    "alice:$6$fuzzsalt$iDTMfLlIWXnU0u/ucN8Rvel1jyy/OslJpB.sv1b7aqQg/Na4Y9B47sFqgSiQ4wv/4SbFVVCnHAGIJVpklv8Rc.\n";

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (!armed)   /* libFuzzer's own files (artifacts) */
        return __real_fopen(path, mode);
    if (strcmp(path, INPUT_NAME) == 0)
        return fmemopen((void *)in_data, in_size, "r");
    if (strcmp(path, HTPASSWD_NAME) == 0)
        return fmemopen((void *)htpasswd, sizeof htpasswd - 1, "r");
    errno = ENOENT;
    return NULL;
}

rl_zone *__real_rl_zone_new(const rl_params *p);
rl_zone *__wrap_rl_zone_new(const rl_params *p);
rl_zone *__wrap_rl_zone_new(const rl_params *p)
{
    rl_params q = *p;
    if (q.size_bytes > ZONE_MAX)
        q.size_bytes = ZONE_MAX;
    return __real_rl_zone_new(&q);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_cert_init();
    return 0;
}

/* The lines of the input as YAML counts them (a break is CR LF, CR, LF,
 * NEL, LS or PS), one more if it ends without a break. */
static unsigned line_count(const uint8_t *d, size_t n)
{
    unsigned lines = 1;
    for (size_t i = 0; i < n; i++)
        if (d[i] == '\n' || (d[i] == '\r' && (i + 1 == n || d[i + 1] != '\n')) ||
            (i + 1 < n && d[i] == 0xc2 && d[i + 1] == 0x85) ||
            (i + 2 < n && d[i] == 0xe2 && d[i + 1] == 0x80 && (d[i + 2] & 0xfe) == 0xa8))
            lines++;
    return lines;
}

/* "fuzz.yaml:LINE: ..." with LINE in [1, lines]. */
static void check_error(const char *err, unsigned lines)
{
    size_t pre = strlen(INPUT_NAME ":");
    if (strncmp(err, INPUT_NAME ":", pre) != 0 || err[pre] < '1' || err[pre] > '9') {
        fprintf(stderr, "error without a line: %s\n", err);
        CHECK(0);
    }
    char *end;
    unsigned long line = strtoul(err + pre, &end, 10);
    if (*end != ':' || line < 1 || line > lines) {
        fprintf(stderr, "error names line %lu of %u: %s\n", line, lines, err);
        CHECK(0);
    }
    CHECK(end[1] == ' ' && end[2] != '\0');
}

static void check_success(const server_config *c, const file_seen *seen)
{
    CHECK(c->n_listeners >= 1 && c->n_listeners <= CFG_MAX_LISTENERS);
    for (unsigned i = 0; i < CFG_MAX_LISTENERS; i++) {
        const cfg_listener *l = &c->listeners[i];
        if (i >= c->n_listeners) {
            CHECK(c->tls[i] == NULL);
            continue;
        }
        CHECK(l->port >= 0 && l->port <= 65535);
        CHECK(memchr(l->host, '\0', sizeof l->host) && cfg_numeric_addr(l->host));
        CHECK((c->tls[i] != NULL) == l->tls);
        CHECK(!(l->tls && (l->proxy_protocol || l->redirect_https)));
        for (unsigned j = 0; j < i; j++)
            CHECK(l->port == 0 || l->port != c->listeners[j].port ||
                  strcmp(l->host, c->listeners[j].host) != 0);
    }
    CHECK(!(seen->listen && seen->host_port));
    CHECK(c->n_routes <= CFG_MAX_ROUTES);
    for (unsigned i = 0; i < c->n_routes; i++) {
        const cfg_route *r = &c->routes[i];
        CHECK(r->path && r->path[0] == '/');
        CHECK(r->status >= 200 && r->status <= 599);
        CHECK(r->status != 204 && r->status != 205 && r->status != 304);
        bool redirect = r->status == 301 || r->status == 302 || r->status == 303 ||
                        r->status == 307 || r->status == 308;
        CHECK(redirect == (r->location != NULL));
    }
    CHECK(c->n_limits <= CFG_MAX_LIMITS);
    for (unsigned i = 0; i < c->n_limits; i++) {
        const cfg_limit *l = &c->limits[i];
        CHECK(l->name && l->name[0] && l->zone && l->p.rate_milli > 0);
        CHECK(l->p.delay <= l->p.burst);
        CHECK(l->status >= 400 && l->status <= 599);
        CHECK(!(l->prefix && !l->path) && !(!l->requests && l->path));
        for (unsigned j = 0; j < i; j++)
            CHECK(strcmp(l->name, c->limits[j].name) != 0);
    }
    CHECK(c->n_trusted <= CFG_MAX_PROXIES);
    if (c->access) {
        const access_config *a = c->access;
        CHECK(a->n_rules <= ACCESS_MAX_RULES && a->n_tokens <= ACCESS_MAX_TOKENS);
        /* Only users.htpasswd can be read, and it is valid. */
        CHECK(!a->password_file || strcmp(a->password_file, HTPASSWD_NAME) == 0);
        for (unsigned i = 0; i < a->n_rules; i++)
            CHECK(a->rules[i].path[0] == '/' && a->rules[i].len == strlen(a->rules[i].path));
    }
    /* What --check-config checks beyond the file and needs no files: the
     * log destinations are well formed (opening them is the file system's). */
    CHECK(c->log.access.kind != LOGD_FILE || c->log.access.path[0]);
    CHECK(c->log.error.kind != LOGD_FILE || c->log.error.path[0]);
}

/* config_load with no argument: the defaults, touching no file. */
static void defaults(server_config *c)
{
    char prog[] = "fuzz_config", *argv[] = {prog, NULL}, err[64];
    CHECK(config_load(c, 1, argv, err, sizeof err) == 0);
}

/* config_load's steps after the file when no flag is given. */
static void after_file(server_config *c, const file_seen *seen)
{
    if (!seen->listen) {
        c->n_listeners = 1;
        memset(&c->listeners[0], 0, sizeof c->listeners[0]);
        strcpy(c->listeners[0].host, c->host);
        c->listeners[0].port = c->port;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 65536)   /* fmemopen needs a size; bigger adds nothing */
        return -1;
    in_data = data;
    in_size = size;
    unsigned lines = line_count(data, size);

    server_config a, b;
    file_seen sa, sb;
    char ea[512] = "", eb[512] = "";
    defaults(&a);
    armed = true;
    int ra = config_file_read(INPUT_NAME, &a, &sa, ea, sizeof ea);
    armed = false;
    if (ra) {
        CHECK(ra == 2);
        check_error(ea, lines);
    } else {
        after_file(&a, &sa);
        check_success(&a, &sa);
    }

    /* The same file again: the same answer (a reload of an unchanged file
     * must not see a difference). */
    defaults(&b);
    armed = true;
    int rb = config_file_read(INPUT_NAME, &b, &sb, eb, sizeof eb);
    armed = false;
    CHECK(ra == rb);
    if (ra) {
        CHECK(strcmp(ea, eb) == 0);
    } else {
        after_file(&b, &sb);
        for (size_t i = 0; i < cfg_nkeys; i++)
            if (cfg_keys[i].file)
                CHECK(cfg_key_equal(&cfg_keys[i], &a, &b));
        char diff[256];
        config_restart_diff(&a, &b, diff, sizeof diff);
        CHECK(diff[0] == '\0');
        CHECK(a.n_listeners == b.n_listeners && a.n_routes == b.n_routes &&
              a.n_limits == b.n_limits && a.n_trusted == b.n_trusted);
    }
    config_free(&a);
    config_free(&b);
    ERR_clear_error();
    return 0;
}
