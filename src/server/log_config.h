/*
 * log_config.h — the logging settings (part of server_config) and the
 * parsers of their values, one small function per value so that a flag and
 * a configuration-file key share the same checks.
 */
#ifndef VEX_SERVER_LOG_CONFIG_H
#define VEX_SERVER_LOG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum { VLOG_DEBUG = 0, VLOG_INFO, VLOG_WARN, VLOG_ERROR };

enum log_dest_kind { LOGD_OFF = 0, LOGD_STDERR, LOGD_SYSLOG, LOGD_FILE };

#define LOG_PATH_MAX 1024

struct log_dest {
    enum log_dest_kind kind;
    char path[LOG_PATH_MAX];     /* LOGD_FILE only */
};

struct log_settings {
    struct log_dest access;      /* default off    */
    struct log_dest error;       /* default stderr */
    int level;                   /* VLOG_*, default info */
    uint32_t buffer_bytes;       /* per worker, 4 KiB-16 MiB, default 1 MiB */
    uint64_t flush_ms;           /* hand over a partial buffer after this */
};

#define LOG_BUFFER_MIN (4u << 10)
#define LOG_BUFFER_DEFAULT (1u << 20)   /* bench and README "Logs": why 1 MiB */
#define LOG_BUFFER_MAX (16u << 20)

void log_settings_default(struct log_settings *ls);

/* Each returns 0, or -1 for a bad value (then *out is untouched). */
int log_parse_dest(const char *s, struct log_dest *out);   /* path|stderr|syslog|off */
int log_parse_level(const char *s, int *out);              /* debug|info|warn|error */
int log_parse_buffer(const char *s, uint32_t *out);        /* bytes */
int log_parse_interval(const char *s, uint64_t *out_ms);   /* seconds, 0.001-3600 */

const char *log_level_name(int level);

/* Can each file destination be opened for writing (created if missing, as
 * the logger will)? 0, or -1 with err naming the flag (or, when the
 * settings came from config_path, the file's key) and the path. */
int log_settings_check(const struct log_settings *ls, const char *config_path,
                       char *err, size_t errlen);
/* Open a file destination as the logger does; -1 (errno). */
int log_open_file(const char *path);

#endif
