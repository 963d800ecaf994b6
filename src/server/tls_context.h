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
/* Serve ctx (its own certificate) to clients whose SNI name is one of
 * names ("*.example.com" matches one label); def stays the default and
 * owns ctx from then on. 0, or -1 with err. */
int      tls_ctx_add_sni(SSL_CTX *def, const char *name, SSL_CTX *ctx, char *err, size_t errlen);
#define TLS_SNI_MAX 32

#endif
