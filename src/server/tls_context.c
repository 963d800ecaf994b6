/*
 * tls_context.c — the settings every TLS listener gets: TLS 1.2 and 1.3
 * only, Mozilla "intermediate" cipher suites and groups, the server's
 * preference, ALPN http/1.1, no renegotiation, a server session cache and
 * session tickets. Ticket keys are OpenSSL's own, random per SSL_CTX: a
 * reload (SIGHUP) builds a new SSL_CTX and so rotates them; tickets issued
 * before it no longer resume (a full handshake instead).
 */
#include "tls_context.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Mozilla intermediate, 5.7 */
#define TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS "X25519:prime256v1:secp384r1"

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;   /* only HTTP/1.1 is spoken here */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *failed(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char why[160] = "unknown error";
    if (e)
        ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    snprintf(err, errlen, "%s '%s' (%s)", what, path, why);
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return failed(ctx, err, errlen, "cannot create a TLS context for", cert);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) || !SSL_CTX_set1_groups_list(ctx, GROUPS))
        return failed(ctx, err, errlen, "cipher settings rejected for", cert);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    static const unsigned char sid[] = "vex_net";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    /* Released buffers: an idle keep-alive connection holds no 16 KiB
     * record buffers (the memory nginx and haproxy also give back). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* The chain sent is the file's certificates, as nginx sends: without
     * this OpenSSL rebuilds it for every handshake whose certificate has no
     * chain of its own (a leaf alone), running X509_verify_cert against the
     * context's store (empty here: we verify no clients), about 6,000
     * instructions a handshake for the same leaf alone on the wire. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return failed(ctx, err, errlen, "cannot load certificate", cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return failed(ctx, err, errlen, "cannot load key", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return failed(ctx, err, errlen, "key does not match the certificate", key);
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

/* ---- SNI: several certificates on one listener ----------------------------- */

typedef struct sni_table {
    unsigned n;
    struct { char name[256]; SSL_CTX *ctx; } e[TLS_SNI_MAX];
} sni_table;

static int sni_idx = -1;
static pthread_once_t sni_once = PTHREAD_ONCE_INIT;

static void sni_table_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    sni_table *t = ptr;
    if (!t)
        return;
    for (unsigned i = 0; i < t->n; i++)
        SSL_CTX_free(t->e[i].ctx);   /* one reference per name */
    free(t);
}

static void sni_init(void)
{
    sni_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_table_free);
}

static bool name_match(const char *pat, const char *host)
{
    if (pat[0] == '*' && pat[1] == '.') {
        const char *dot = strchr(host, '.');
        return dot && dot != host && strcasecmp(dot, pat + 1) == 0;
    }
    return strcasecmp(pat, host) == 0;
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const sni_table *t = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!host || !t)
        return SSL_TLSEXT_ERR_NOACK;   /* the default certificate */
    for (unsigned i = 0; i < t->n; i++)
        if (name_match(t->e[i].name, host)) {
            SSL_set_SSL_CTX(ssl, t->e[i].ctx);
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

int tls_ctx_add_sni(SSL_CTX *def, const char *name, SSL_CTX *ctx, char *err, size_t errlen)
{
    pthread_once(&sni_once, sni_init);
    if (sni_idx < 0) {
        snprintf(err, errlen, "cannot set up SNI");
        return -1;
    }
    sni_table *t = SSL_CTX_get_ex_data(def, sni_idx);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || !SSL_CTX_set_ex_data(def, sni_idx, t)) {
            free(t);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        SSL_CTX_set_tlsext_servername_callback(def, on_servername);
        SSL_CTX_set_tlsext_servername_arg(def, t);
    }
    if (t->n == TLS_SNI_MAX || strlen(name) >= sizeof t->e[0].name) {
        snprintf(err, errlen, "at most %d SNI names of up to 255 characters", TLS_SNI_MAX);
        return -1;
    }
    strcpy(t->e[t->n].name, name);
    t->e[t->n++].ctx = ctx;
    return 0;
}
