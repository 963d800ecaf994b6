/*
 * log_json.h — JSON string escaping for log lines, bounded: the output never
 * exceeds its room and never ends in the middle of an escape or a UTF-8
 * sequence, so a clipped field is still valid JSON.
 */
#ifndef VEX_SERVER_LOG_JSON_H
#define VEX_SERVER_LOG_JSON_H

#include <stddef.h>

/* Escape n bytes of in into out (at most cap bytes, no quotes, no NUL):
 * '"' and '\\' backslashed, control bytes and DEL as \u00XX (\n \r \t
 * short), valid UTF-8 kept, every byte of an invalid sequence as \u00XX
 * (the byte's value, so nothing is lost). Returns the bytes written;
 * *used (if not NULL) gets how much of in they cover. */
size_t json_escape(char *out, size_t cap, const char *in, size_t n, size_t *used);

/* The length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
size_t json_utf8_len(const unsigned char *p, size_t n);

#endif
