/*
 * request_id.h — X-Request-Id: a client's id is kept when well formed
 * (1-128 of [A-Za-z0-9._:+/=@-], nothing that could break a header or a
 * log line), otherwise one is made: 16 hex digits of a per-process random
 * prefix XOR a per-process unique sequence number (the worker's counter
 * with the worker in its top bits), so ids differ across restarts and never
 * repeat within one process.
 */
#ifndef VEX_SERVER_REQUEST_ID_H
#define VEX_SERVER_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RID_MAX 128
#define RID_GEN_LEN 16

bool rid_valid(const char *s, size_t n);
/* Writes RID_GEN_LEN characters (no NUL). */
void rid_generate(char *out, uint64_t seq);
/* The next id after text (rid_generate(out, seq) -> the one of seq + 1), in
 * place: what a worker does per request instead of formatting 16 digits. */
void rid_step(char *text);
/* Pick the process's prefix (once, at start; later calls keep it). */
void rid_init(void);

#endif
