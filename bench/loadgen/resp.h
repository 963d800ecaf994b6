/*
 * resp.h — incremental HTTP/1.1 response framing for vex_loadgen: status
 * code, Content-Length body, Connection: close. Enough to count responses
 * of keep-alive servers; chunked bodies are refused (RESP_UNSUPPORTED), as
 * every target here sends Content-Length.
 */
#ifndef VEX_LOADGEN_RESP_H
#define VEX_LOADGEN_RESP_H

#include <stddef.h>
#include <stdint.h>

#define RESP_HEAD_MAX 16384

enum { RESP_MORE = 0, RESP_DONE = 1, RESP_BAD = -1, RESP_UNSUPPORTED = -2 };

typedef struct resp_parser {
    int in_body;
    int status;
    int close;              /* the server said Connection: close */
    int no_body;            /* set by the caller for HEAD requests */
    uint64_t body_left;
    size_t head_len;
    char head[RESP_HEAD_MAX];
} resp_parser;

void resp_reset(resp_parser *p, int no_body);
/* Consume bytes of data[0..n) into p; *used says how many. RESP_DONE: one
 * response is complete (p->status, p->close), the rest of data is the next
 * one's. RESP_MORE: all used, response incomplete. Negative: bad framing. */
int resp_feed(resp_parser *p, const char *data, size_t n, size_t *used);

#endif
