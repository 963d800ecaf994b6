/*
 * log_config.c — defaults and strict parsing of the logging settings.
 */
#include "log_config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void log_settings_default(struct log_settings *ls)
{
    memset(ls, 0, sizeof *ls);
    ls->access.kind = LOGD_OFF;
    ls->error.kind = LOGD_STDERR;
    ls->level = VLOG_INFO;
    ls->buffer_bytes = LOG_BUFFER_DEFAULT;
    ls->flush_ms = 1000;
}

int log_parse_dest(const char *s, struct log_dest *out)
{
    struct log_dest d = { .kind = LOGD_FILE };
    if (!strcmp(s, "off"))
        d.kind = LOGD_OFF;
    else if (!strcmp(s, "stderr"))
        d.kind = LOGD_STDERR;
    else if (!strcmp(s, "syslog"))
        d.kind = LOGD_SYSLOG;
    else if (*s == '\0' || strlen(s) >= sizeof d.path)
        return -1;
    else
        strcpy(d.path, s);
    *out = d;
    return 0;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *log_level_name(int level)
{
    return level >= VLOG_DEBUG && level <= VLOG_ERROR ? level_names[level] : "?";
}

int log_parse_level(const char *s, int *out)
{
    for (int i = VLOG_DEBUG; i <= VLOG_ERROR; i++)
        if (!strcmp(s, level_names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

int log_parse_buffer(const char *s, uint32_t *out)
{
    /* digits only, as config.c: "64k" must not silently mean 64 */
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return -1;
    unsigned long v = strtoul(s, NULL, 10);
    if (v < LOG_BUFFER_MIN || v > LOG_BUFFER_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int log_parse_interval(const char *s, uint64_t *out_ms)
{
    if (*s == '\0' || strspn(s, "0123456789.") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < 0.001 || v > 3600)
        return -1;
    *out_ms = (uint64_t)(v * 1000.0 + 0.5);
    return 0;
}

/* Non-blocking: a FIFO or pipe nobody reads must not hang the writer (see
 * log.c); regular files ignore the flag. */
int log_open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
}

static int check_one(const struct log_dest *d, const char *key, const char *config_path,
                     char *err, size_t errlen)
{
    if (d->kind != LOGD_FILE)
        return 0;
    int fd = log_open_file(d->path);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    int e = errno;
    if (config_path)
        snprintf(err, errlen, "%s: %s: cannot open '%s' for writing (%s)", config_path, key,
                 d->path, strerror(e));
    else
        snprintf(err, errlen, "invalid value for --%s: '%s' (cannot open for writing: %s)",
                 key, d->path, strerror(e));
    return -1;
}

int log_settings_check(const struct log_settings *ls, const char *config_path,
                       char *err, size_t errlen)
{
    if (check_one(&ls->access, "access-log", config_path, err, errlen) < 0)
        return -1;
    return check_one(&ls->error, "error-log", config_path, err, errlen);
}
