/*
 * auth_basic.h — HTTP Basic credentials against a password file of crypt(3)
 * hashes (user:hash lines, htpasswd style; yescrypt $y$, sha512-crypt $6$,
 * anything libcrypt knows), with a small cache of verified credentials.
 *
 * The cache holds SHA-256(user NUL password) of credentials that verified,
 * never a password; it belongs to one loaded password file, so a reload
 * (which re-reads the file) starts with an empty one; entries also expire.
 */
#ifndef VEX_SERVER_AUTH_BASIC_H
#define VEX_SERVER_AUTH_BASIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct auth_basic auth_basic;

/* Load path. NULL with err naming the line on a bad entry or an unknown
 * hash method, or when the file cannot be read. */
auth_basic *auth_basic_load(const char *path, unsigned cache_size, uint64_t ttl_ms,
                            char *err, size_t errlen);
void auth_basic_free(auth_basic *b);

enum basic_result { BASIC_OK, BASIC_OK_CACHED, BASIC_BAD };
/* Thread-safe. */
enum basic_result auth_basic_check(auth_basic *b, const char *user, size_t ulen,
                                   const char *pw, size_t plen, uint64_t now_ms);

#endif
