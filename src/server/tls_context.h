/*
 * tls_context.h — one SSL_CTX per TLS listener, built when a configuration
 * is loaded (so --check-config proves the certificate and key load and
 * match) and owned by that configuration: a reload builds new ones for new
 * connections while open connections keep the old one alive (SSL_CTX is
 * reference-counted by every SSL made from it).
 */
#ifndef VEX_SERVER_TLS_CONTEXT_H
#define VEX_SERVER_TLS_CONTEXT_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/* NULL with a message in err. */
SSL_CTX *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
void     tls_ctx_free(SSL_CTX *ctx);

#endif
