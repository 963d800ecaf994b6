/* fuzz_rand.h — a fixed "random" source for the TLS fuzz target only
 * (fuzz_rand.c): a RAND provider whose every call returns the same bytes
 * 01 02 03 ..., made the type of every DRBG of the default library context
 * before OpenSSL makes one. The server's random values, key shares, ECDSA
 * nonces and ticket keys are then the same on every run, so a client's
 * recorded second flight (Finished, application data, close_notify) still
 * matches and the fuzzer gets past the handshake. Never linked into the
 * server: it would make every key predictable. OpenSSL's own fuzz/ targets
 * do the same (fuzz/fuzz_rand.c, FuzzerSetRand). */
#ifndef VEX_FUZZ_RAND_H
#define VEX_FUZZ_RAND_H

void fuzz_rand_fix(void);   /* once, first thing in LLVMFuzzerInitialize */

#endif
