/* fuzz_cert.h — one self-signed certificate and key, made in memory, that
 * the fuzz targets serve as the files "cert.pem" and "key.pem": the build
 * wraps OpenSSL's two file loaders (-Wl,--wrap, see the Makefile), so
 * tls_context.c runs unchanged and touches no file. Any other path is
 * handed to OpenSSL as one that does not exist (its own error follows). */
#ifndef VEX_FUZZ_CERT_H
#define VEX_FUZZ_CERT_H

#define FUZZ_CERT_NAME "cert.pem"
#define FUZZ_KEY_NAME "key.pem"

void fuzz_cert_init(void);   /* once, from LLVMFuzzerInitialize */

#endif
