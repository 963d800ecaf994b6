/*
 * config_keys.c — every setting once: its name, type, range and help.
 *
 * Values are checked strictly (digits only, ranges) because a typo such as
 * "max-clients: 10k" silently becoming 10 would be worse than refusing.
 */
#include "config_keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFF(f) offsetof(server_config, f)
#define DAY_MS 86400000ull

const cfg_key cfg_keys[] = {
    {"host", K_ADDR, OFF(host), 0, 0, "a numeric IPv4 or IPv6 address", false, true,
     "ADDR", "numeric IPv4/IPv6 address to bind (default 0.0.0.0);\n"
             "with --port, replaces the file's listen list"},
    {"port", K_INT, OFF(port), 0, 65535, "0-65535", false, true,
     "N", "TCP port, 0 picks a free one (default 8080)"},
    {"threads", K_UINT, OFF(threads), 1, 1024, "1-1024", true, true,
     "N", "event loops, one SO_REUSEPORT socket per listener each\n(default: online CPUs)"},
    {"max-clients", K_UINT, OFF(max_clients), 1, 10000000, "1-10000000", true, true,
     "N", "open connections, all threads (default 10000)"},
    {"backlog", K_UINT, OFF(backlog), 1, 65535, "1-65535", true, true,
     "N", "listen backlog per thread; also how many accepted\n"
          "clients may wait for a slot (default 4096)"},
    {"buffer-size", K_UINT, OFF(buffer_size), 1024, 1u << 20, "1024-1048576 bytes", true, true,
     "N", "bytes per receive buffer (default 8192)"},
    {"header-timeout", K_SECS, OFF(header_timeout_ms), 1, DAY_MS, "seconds, 0.001-86400", false, true,
     "S", "seconds for a request head to arrive (default 30)"},
    {"idle-timeout", K_SECS, OFF(idle_timeout_ms), 1, DAY_MS, "seconds, 0.001-86400", false, true,
     "S", "keep-alive idle, body and write stall seconds (default 60)"},
    {"shutdown-timeout", K_SECS, OFF(shutdown_timeout_ms), 0, DAY_MS, "seconds, 0-86400", false, true,
     "S", "seconds to drain after SIGINT/SIGTERM (default 5)"},
    {"stats-interval", K_SECS, OFF(stats_interval_ms), 0, DAY_MS,
     "seconds, 0-86400 (0 disables)", false, true,
     "S", "seconds between statistics blocks, 0: off (default 10)"},
    {"root", K_PATH, OFF(root), 0, 0, "a directory", false, true,
     "DIR", "directory served under GET /static/ (default: none)"},
    {"max-body", K_U64, OFF(max_body), 0, (uint64_t)1 << 40, "0-1099511627776 bytes", false, true,
     "N", "request body limit in bytes (default 8388608)"},
    {"admin-port", K_INT, OFF(admin_port), 0, 65535, "0-65535", true, true,
     "N", "also listen here for /healthz, /readyz and /metrics\n"
          "only, with its own 16 connections outside\n"
          "--max-clients (0 picks a port; default: off)"},
    {"admin-host", K_ADDR, OFF(admin_host), 0, 0, "a numeric IPv4 or IPv6 address", true, true,
     "ADDR", "address of the admin listener (default 127.0.0.1)"},
    {"limit-conn", K_UINT, OFF(limit_conn), 0, 10000000, "0-10000000 (0: no limit)", false, true,
     "N", "connections per client address (IPv4 whole, IPv6\n"
          "/64), all threads; more get 503 (default 0: off)"},
    /* logs (log_config.h parses the values; log_apply switches them live) */
    {"access-log", K_LOGDEST, OFF(log.access), 0, 0, "a file path, stderr, syslog or off",
     false, true, "DEST", "JSON access log: a file, stderr, syslog or off\n(default off)"},
    {"error-log", K_LOGDEST, OFF(log.error), 0, 0, "a file path, stderr, syslog or off",
     false, true, "DEST", "event log: a file, stderr, syslog or off\n(default stderr)"},
    {"log-level", K_LOGLEVEL, OFF(log.level), 0, 0, "debug, info, warn or error", false, true,
     "LEVEL", "debug, info, warn or error (default info)"},
    {"log-buffer", K_LOGBUF, OFF(log.buffer_bytes), LOG_BUFFER_MIN, LOG_BUFFER_MAX,
     "4096-16777216 bytes", false, true,
     "N", "log buffer bytes per thread, 4096-16777216\n(default 1048576)"},
    {"log-flush-interval", K_SECS, OFF(log.flush_ms), 1, 3600000, "seconds, 0.001-3600",
     false, true, "S", "seconds before a partly filled log buffer is\n"
                       "written, 0.001-3600 (default 1)"},
    /* compression (compress.h; every key live on reload) */
    {"compression", K_BOOL, OFF(comp.on), 0, 0, "on or off", false, true,
     "on|off", "compress responses the client accepts (default on)"},
    {"compression-types", K_CTYPES, OFF(comp.types), 0, 0,
     "comma-separated type/sub, type/*, +suffix", false, true,
     "LIST", "compressible Content-Types (default text/*,\n"
             "application/json,application/javascript,\n"
             "image/svg+xml,application/xml,+json,+xml)"},
    {"compression-min-size", K_UINT, OFF(comp.min_size), 0, 1u << 30, "0-1073741824 bytes",
     false, true, "N", "smallest body compressed, bytes (default 1024)"},
    {"compression-encodings", K_ENCLIST, OFF(comp.order), 0, 0,
     "br, zstd and/or gzip, comma-separated, each once", false, true,
     "LIST", "codings offered, preferred first on equal q\n(default br,zstd,gzip)"},
    {"compression-precompressed", K_BOOL, OFF(comp.precompressed), 0, 0, "on or off",
     false, true, "on|off", "serve fresh .br/.zst/.gz siblings of static\nfiles (default on)"},
    {"gzip-level", K_UINT, OFF(comp.gzip_level), 1, 9, "1-9", false, true,
     "N", "gzip level, 1-9 (default 6)"},
    {"brotli-level", K_UINT, OFF(comp.brotli_level), 0, 11, "0-11", false, true,
     "N", "brotli quality, 0-11 (default 4)"},
    {"zstd-level", K_UINT, OFF(comp.zstd_level), 1, 19, "1-19", false, true,
     "N", "zstd level, 1-19 (default 3)"},
};
const size_t cfg_nkeys = sizeof cfg_keys / sizeof cfg_keys[0];

const cfg_key *cfg_key_find(const char *name)
{
    for (size_t i = 0; i < cfg_nkeys; i++)
        if (strcmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

/* Digits only: strtoull alone would accept "-1", " 5" and "0x10". */
int cfg_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Seconds with optional decimals, returned in milliseconds. */
static int parse_secs(const char *s, uint64_t lo_ms, uint64_t hi_ms, uint64_t *ms)
{
    if (*s == '\0' || strspn(s, "0123456789.") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v * 1000.0 < (double)lo_ms - 1e-6 ||
        v * 1000.0 > (double)hi_ms)
        return -1;
    *ms = (uint64_t)(v * 1000.0 + 0.5);   /* no -lm for llround */
    return 0;
}

int cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

bool cfg_numeric_addr(const char *host)
{
    unsigned char addr[16];
    return inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, addr) == 1;
}

int cfg_parse_listen(const char *s, cfg_listener *out)
{
    memset(out, 0, sizeof *out);
    const char *port = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof out->host)
            return -1;
        memcpy(out->host, s + 1, (size_t)(close - s - 1));
        port = close + 2;
    } else if (strchr(s, ':')) {
        const char *colon = strrchr(s, ':');
        if (strchr(s, ':') != colon || (size_t)(colon - s) >= sizeof out->host)
            return -1;     /* a bare IPv6 address needs brackets */
        memcpy(out->host, s, (size_t)(colon - s));
        port = colon + 1;
    } else {
        strcpy(out->host, "0.0.0.0");
    }
    uint64_t v;
    if (!cfg_numeric_addr(out->host) || cfg_parse_u64(port, 0, 65535, &v))
        return -1;
    out->port = (int)v;
    return 0;
}

int cfg_key_set(const cfg_key *k, server_config *cfg, const char *val)
{
    char *field = (char *)cfg + k->off;
    uint64_t v;
    switch (k->type) {
    case K_UINT:
        if (cfg_parse_u64(val, k->lo, k->hi, &v))
            return -1;
        *(unsigned *)(void *)field = (unsigned)v;
        return 0;
    case K_U64:
        return cfg_parse_u64(val, k->lo, k->hi, (uint64_t *)(void *)field);
    case K_INT:
        if (cfg_parse_u64(val, k->lo, k->hi, &v))
            return -1;
        *(int *)(void *)field = (int)v;
        return 0;
    case K_SECS:
        return parse_secs(val, k->lo, k->hi, (uint64_t *)(void *)field);
    case K_ADDR:
        if (strlen(val) >= CFG_ADDR_LEN || !cfg_numeric_addr(val))
            return -1;
        strcpy(field, val);
        return 0;
    case K_LOGDEST:
        return log_parse_dest(val, (struct log_dest *)(void *)field);
    case K_LOGLEVEL:
        return log_parse_level(val, (int *)(void *)field);
    case K_LOGBUF:
        return log_parse_buffer(val, (uint32_t *)(void *)field);
    case K_BOOL:
        return cfg_parse_bool(val, (bool *)(void *)field);
    case K_CTYPES:
        if (strlen(val) >= COMP_TYPES_LEN || comp_types_valid(val))
            return -1;
        strcpy(field, val);
        return 0;
    case K_ENCLIST: {
        uint8_t order[ENC_N];
        if (strlen(val) >= COMP_ORDER_LEN || comp_order_parse(val, order) < 0)
            return -1;
        strcpy(field, val);
        return 0;
    }
    case K_PATH: {
        if (*val == '\0')
            return -1;
        char *copy = strdup(val);
        if (!copy)
            return -1;
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = copy;
        return 0;
    }
    }
    return -1;
}

bool cfg_key_equal(const cfg_key *k, const server_config *a, const server_config *b)
{
    const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
    switch (k->type) {
    case K_UINT: return *(const unsigned *)(const void *)fa == *(const unsigned *)(const void *)fb;
    case K_INT: return *(const int *)(const void *)fa == *(const int *)(const void *)fb;
    case K_U64:
    case K_SECS: return *(const uint64_t *)(const void *)fa == *(const uint64_t *)(const void *)fb;
    case K_ADDR:
    case K_CTYPES:
    case K_ENCLIST: return strcmp(fa, fb) == 0;
    case K_BOOL: return *(const bool *)(const void *)fa == *(const bool *)(const void *)fb;
    case K_LOGLEVEL: return *(const int *)(const void *)fa == *(const int *)(const void *)fb;
    case K_LOGBUF:
        return *(const uint32_t *)(const void *)fa == *(const uint32_t *)(const void *)fb;
    case K_LOGDEST: {
        const struct log_dest *da = (const void *)fa, *db = (const void *)fb;
        return da->kind == db->kind && strcmp(da->path, db->path) == 0;
    }
    case K_PATH: {
        const char *sa = *(char *const *)(const void *)fa, *sb = *(char *const *)(const void *)fb;
        return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
    }
    }
    return false;
}
