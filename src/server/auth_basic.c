/*
 * auth_basic.c — the password file, crypt(3) verification and the cache of
 * verified credentials. A yescrypt or sha512-crypt check costs milliseconds
 * of CPU on the calling worker's loop thread; the cache is what keeps a
 * keep-alive client from paying that on every request.
 */
#include "auth_basic.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pw_user {
    char *name;
    char *hash;
} pw_user;

typedef struct cache_ent {
    unsigned char key[32];        /* SHA-256(user NUL password) */
    uint64_t expires_ms;          /* 0: empty */
} cache_ent;

struct auth_basic {
    pw_user *users;
    unsigned n_users;
    cache_ent *cache;             /* direct-mapped by the key's first bytes */
    unsigned cache_size;
    uint64_t ttl_ms;
    pthread_mutex_t mu;           /* the cache: workers share the snapshot */
};

void auth_basic_free(auth_basic *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->n_users; i++) {
        free(b->users[i].name);
        if (b->users[i].hash)
            OPENSSL_cleanse(b->users[i].hash, strlen(b->users[i].hash));
        free(b->users[i].hash);
    }
    free(b->users);
    if (b->cache)
        OPENSSL_cleanse(b->cache, sizeof *b->cache * b->cache_size);
    free(b->cache);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int add_user(auth_basic *b, const char *name, size_t nlen, const char *hash)
{
    pw_user *u = realloc(b->users, sizeof *u * (b->n_users + 1));
    if (!u)
        return -1;
    b->users = u;
    u = &b->users[b->n_users];
    u->name = strndup(name, nlen);
    u->hash = strdup(hash);
    b->n_users++;
    return u->name && u->hash ? 0 : -1;
}

auth_basic *auth_basic_load(const char *path, unsigned cache_size, uint64_t ttl_ms,
                            char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read password file '%s': %s", path, strerror(errno));
        return NULL;
    }
    auth_basic *b = calloc(1, sizeof *b);
    if (!b || pthread_mutex_init(&b->mu, NULL)) {
        free(b);
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->cache_size = cache_size;
    b->ttl_ms = ttl_ms;
    if (cache_size && !(b->cache = calloc(cache_size, sizeof *b->cache)))
        goto oom;
    char line[1024];
    unsigned ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            snprintf(err, errlen, "password file '%s' line %u: expected user:hash", path, ln);
            goto fail;
        }
        const char *hash = colon + 1;
        /* Only hashes libcrypt accepts as settings: a plain or DES/MD5
         * entry would be an error found at the first login otherwise. */
        if (hash[0] != '$' || crypt_checksalt(hash) != CRYPT_SALT_OK) {
            snprintf(err, errlen, "password file '%s' line %u: unrecognised hash for '%.*s' "
                     "(yescrypt $y$ or sha512-crypt $6$)", path, ln, (int)(colon - line), line);
            goto fail;
        }
        for (unsigned i = 0; i < b->n_users; i++)
            if (strlen(b->users[i].name) == (size_t)(colon - line) &&
                memcmp(b->users[i].name, line, (size_t)(colon - line)) == 0) {
                snprintf(err, errlen, "password file '%s' line %u: user listed twice", path, ln);
                goto fail;
            }
        if (add_user(b, line, (size_t)(colon - line), hash))
            goto oom;
    }
    OPENSSL_cleanse(line, sizeof line);
    fclose(f);
    return b;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    OPENSSL_cleanse(line, sizeof line);
    fclose(f);
    auth_basic_free(b);
    return NULL;
}

static bool cache_key(const char *user, size_t ulen, const char *pw, size_t plen,
                      unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    static const unsigned char nul = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(md, user, ulen) && EVP_DigestUpdate(md, &nul, 1) &&
              EVP_DigestUpdate(md, pw, plen) && EVP_DigestFinal_ex(md, out, &n) && n == 32;
    EVP_MD_CTX_free(md);
    return ok;
}

static const pw_user *find_user(const auth_basic *b, const char *user, size_t ulen)
{
    for (unsigned i = 0; i < b->n_users; i++)
        if (strlen(b->users[i].name) == ulen && memcmp(b->users[i].name, user, ulen) == 0)
            return &b->users[i];
    return NULL;
}

static bool verify(const pw_user *u, const char *pw, size_t plen)
{
    char *phrase = strndup(pw, plen);
    struct crypt_data *cd = calloc(1, sizeof *cd);   /* ~32 KiB: not on the stack */
    bool ok = false;
    if (phrase && cd && strlen(phrase) == plen) {
        const char *out = crypt_rn(phrase, u->hash, cd, (int)sizeof *cd);
        size_t hl = strlen(u->hash);
        ok = out && out[0] != '*' && strlen(out) == hl && CRYPTO_memcmp(out, u->hash, hl) == 0;
    }
    if (phrase)
        OPENSSL_cleanse(phrase, plen);
    free(phrase);
    if (cd)
        OPENSSL_cleanse(cd, sizeof *cd);
    free(cd);
    return ok;
}

enum basic_result auth_basic_check(auth_basic *b, const char *user, size_t ulen,
                                   const char *pw, size_t plen, uint64_t now_ms)
{
    unsigned char key[32];
    bool have_key = b->cache_size && cache_key(user, ulen, pw, plen, key);
    cache_ent *slot = NULL;
    if (have_key) {
        uint32_t h;
        memcpy(&h, key, sizeof h);
        slot = &b->cache[h % b->cache_size];
        pthread_mutex_lock(&b->mu);
        bool hit = slot->expires_ms > now_ms && CRYPTO_memcmp(slot->key, key, 32) == 0;
        pthread_mutex_unlock(&b->mu);
        if (hit)
            return BASIC_OK_CACHED;
    }
    const pw_user *u = find_user(b, user, ulen);
    if (!u) {
        /* An unknown user costs a hash too (against the first entry's
         * setting), so timing does not tell which users exist. */
        if (b->n_users)
            (void)verify(&b->users[0], pw, plen);
        return BASIC_BAD;
    }
    if (!verify(u, pw, plen))
        return BASIC_BAD;
    if (slot) {
        pthread_mutex_lock(&b->mu);
        memcpy(slot->key, key, 32);
        slot->expires_ms = now_ms + b->ttl_ms;
        pthread_mutex_unlock(&b->mu);
    }
    OPENSSL_cleanse(key, sizeof key);
    return BASIC_OK;
}
