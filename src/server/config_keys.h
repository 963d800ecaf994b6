/*
 * config_keys.h — the one table of settings shared by the flags and the
 * configuration file (config.c and config_file.c; nothing else uses it).
 * A key is spelt the same in both: --max-clients N and `max-clients: N`.
 */
#ifndef VEX_SERVER_CONFIG_KEYS_H
#define VEX_SERVER_CONFIG_KEYS_H

#include "config.h"

enum cfg_type {
    K_UINT,       /* unsigned, digits only, [lo, hi]                    */
    K_U64,        /* uint64_t                                          */
    K_INT,        /* int (ports)                                       */
    K_SECS,       /* seconds with decimals, stored as ms; lo/hi in ms  */
    K_ADDR,       /* numeric IPv4/IPv6 address into char[CFG_ADDR_LEN] */
    K_PATH,       /* a non-empty string, heap copy (char *)            */
    K_LOGDEST,    /* struct log_dest: a path, stderr, syslog or off    */
    K_LOGLEVEL,   /* int VLOG_*: debug, info, warn or error            */
    K_LOGBUF,     /* uint32_t log buffer bytes, [lo, hi]               */
    K_BOOL,       /* bool: on/off, true/false, yes/no, 1/0             */
    K_CTYPES,     /* char[COMP_TYPES_LEN]: compressible type patterns  */
    K_ENCLIST,    /* char[COMP_ORDER_LEN]: content codings, preferred first */
};

typedef struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t off;               /* offsetof(server_config, field)          */
    uint64_t lo, hi;
    const char *want;         /* what a valid value is, for messages     */
    bool restart;             /* a reload cannot change it               */
    bool file;                /* may appear in the file (else flag only)  */
    const char *arg, *help;   /* --help: metavar and text                 */
} cfg_key;

extern const cfg_key cfg_keys[];
extern const size_t cfg_nkeys;
#define CFG_NKEYS_MAX 128   /* for the getopt table on the stack */

const cfg_key *cfg_key_find(const char *name);
/* Parse val into cfg. 0, or -1 (the value is not what k->want says). */
int cfg_key_set(const cfg_key *k, server_config *cfg, const char *val);
/* Is this setting the same in both? */
bool cfg_key_equal(const cfg_key *k, const server_config *a, const server_config *b);

/* Strict scalars, shared with the file's own sections. */
int cfg_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int cfg_parse_bool(const char *s, bool *out);
bool cfg_numeric_addr(const char *host);
/* "ADDR:PORT", "[V6]:PORT" or "PORT" (all IPv4 addresses). */
int cfg_parse_listen(const char *s, cfg_listener *out);

#endif
