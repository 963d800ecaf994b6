/* fuzz_cert.c — see fuzz_cert.h. */
#include "fuzz_cert.h"

#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz_check.h"

static X509 *cert;
static EVP_PKEY *pkey;

void fuzz_cert_init(void)
{
    pkey = EVP_EC_gen("P-256");
    cert = X509_new();
    CHECK(pkey && cert);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    /* Fixed dates, not "now": the certificate is in the handshake's transcript,
     * which must be the same on every run for fuzz_tls's recorded flights. */
    ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)1767225600);   /* 2026-01-01 */
    ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)4102444800);    /* 2100-01-01 */
    X509_set_pubkey(cert, pkey);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    CHECK(X509_sign(cert, pkey, EVP_sha256()) > 0);
}

int __real_SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file);
int __wrap_SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file);
int __wrap_SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file)
{
    if (strcmp(file, FUZZ_CERT_NAME) == 0)
        return SSL_CTX_use_certificate(ctx, cert);
    return __real_SSL_CTX_use_certificate_chain_file(ctx, "/nonexistent/vex-fuzz/cert.pem");
}

int __real_SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type);
int __wrap_SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type);
int __wrap_SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type)
{
    if (strcmp(file, FUZZ_KEY_NAME) == 0)
        return SSL_CTX_use_PrivateKey(ctx, pkey);
    return __real_SSL_CTX_use_PrivateKey_file(ctx, "/nonexistent/vex-fuzz/key.pem", type);
}
