/*
 * handlers.h — the server's resources (routes.c maps paths to them).
 */
#ifndef VEX_SERVER_HANDLERS_H
#define VEX_SERVER_HANDLERS_H

#include "http1.h"

/* What the handlers need from the server, given once at start. */
typedef struct app_env {
    int bytes_fd;             /* a file of the /bytes/N pattern, or -1 */
    const char *pattern;      /* PATTERN_CHUNK bytes of it in memory */
    size_t (*render_metrics)(void *src, char *buf, size_t cap);
    void *metrics_src;
    /* the event log (log.h), for policies' decisions; NULL: none */
    void (*log_event)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
} app_env;

/* /bytes/N content: a 64-character alphabet repeated, so a client can check
 * any byte: byte i is alphabet[i % 64]. */
#define PATTERN_CHUNK (64u * 1024)
#define PATTERN_FILE  (1u << 20)

/* The environment of the route table a connection is served by. */
static inline const app_env *app_of(const h1_ex *x)
{
    return x->ctx->routers[x->c->kind]->env;
}


void h_plaintext(h1_ex *x, const http_request *req);   /* TechEmpower plaintext */
void h_json(h1_ex *x, const http_request *req);
void h_healthz(h1_ex *x, const http_request *req);
void h_readyz(h1_ex *x, const http_request *req);      /* 503 while draining */
void h_metrics(h1_ex *x, const http_request *req);     /* Prometheus text */
void h_echo(h1_ex *x, const http_request *req);        /* POST: the body back */
void h_bytes(h1_ex *x, const http_request *req);       /* /bytes/N */
void h_text(h1_ex *x, const http_request *req);        /* /text/N: the same, text/plain */
void h_static(h1_ex *x, const http_request *req);      /* static_files.c */

#endif
