/* fuzz_rand.c — see fuzz_rand.h. A provider with one RAND algorithm,
 * "vex-fixed": stateless, so the bytes do not depend on how many calls came
 * before (the order in which the server, the certificate and a recording
 * client draw from it does not matter, nor does the previous input). */
#include "fuzz_rand.h"

#include <limits.h>
#include <stdlib.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "fuzz_check.h"

static void *fixed_newctx(void *provctx, void *parent, const OSSL_DISPATCH *parent_calls)
{
    (void)provctx;
    (void)parent;
    (void)parent_calls;
    int *state = malloc(sizeof *state);
    if (state)
        *state = EVP_RAND_STATE_UNINITIALISED;
    return state;
}

static void fixed_freectx(void *vctx)
{
    free(vctx);
}

static int fixed_instantiate(void *vctx, unsigned strength, int pred, const unsigned char *pstr,
                             size_t pstr_len, const OSSL_PARAM params[])
{
    (void)strength;
    (void)pred;
    (void)pstr;
    (void)pstr_len;
    (void)params;
    *(int *)vctx = EVP_RAND_STATE_READY;
    return 1;
}

static int fixed_uninstantiate(void *vctx)
{
    *(int *)vctx = EVP_RAND_STATE_UNINITIALISED;
    return 1;
}

static int fixed_generate(void *vctx, unsigned char *out, size_t outlen, unsigned strength,
                          int pred, const unsigned char *adin, size_t adinlen)
{
    (void)vctx;
    (void)strength;
    (void)pred;
    (void)adin;
    (void)adinlen;
    for (size_t i = 0; i < outlen; i++)
        out[i] = (unsigned char)(i + 1);
    return 1;
}

static int fixed_enable_locking(void *vctx)
{
    (void)vctx;
    return 1;   /* nothing shared to lock */
}

static int fixed_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE);
    if (p && !OSSL_PARAM_set_int(p, *(int *)vctx))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH);
    if (p && !OSSL_PARAM_set_uint(p, 256))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);
    if (p && !OSSL_PARAM_set_size_t(p, INT_MAX))
        return 0;
    return 1;
}

static const OSSL_PARAM *fixed_gettable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    static const OSSL_PARAM known[] = {
        OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
        OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
        OSSL_PARAM_END,
    };
    return known;
}

#define FN(id, f) { id, (void (*)(void))(f) }
static const OSSL_DISPATCH fixed_rand_fns[] = {
    FN(OSSL_FUNC_RAND_NEWCTX, fixed_newctx),
    FN(OSSL_FUNC_RAND_FREECTX, fixed_freectx),
    FN(OSSL_FUNC_RAND_INSTANTIATE, fixed_instantiate),
    FN(OSSL_FUNC_RAND_UNINSTANTIATE, fixed_uninstantiate),
    FN(OSSL_FUNC_RAND_GENERATE, fixed_generate),
    FN(OSSL_FUNC_RAND_ENABLE_LOCKING, fixed_enable_locking),
    FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, fixed_get_ctx_params),
    FN(OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, fixed_gettable_ctx_params),
    { 0, NULL },
};

static const OSSL_ALGORITHM fixed_rands[] = {
    { "vex-fixed", "provider=vex-fuzz-rand", fixed_rand_fns, "fixed bytes, fuzzing only" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *fixed_query(void *provctx, int op, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    return op == OSSL_OP_RAND ? fixed_rands : NULL;
}

static const OSSL_DISPATCH fixed_provider_fns[] = {
    FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, fixed_query),
    { 0, NULL },
};

static int fixed_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                               const OSSL_DISPATCH **out, void **provctx)
{
    (void)handle;
    (void)in;
    *out = fixed_provider_fns;
    *provctx = NULL;
    return 1;
}

static OSSL_PROVIDER *fixed_provider;   /* loaded for the process's life */

void fuzz_rand_fix(void)
{
    /* The DRBG type must be set before the first DRBG exists: the primary,
     * public and private DRBGs are all made of "vex-fixed" then (no seed
     * source is asked: the primary's parent is not used by this type). */
    CHECK(OSSL_PROVIDER_add_builtin(NULL, "vex-fuzz-rand", fixed_provider_init) == 1);
    fixed_provider = OSSL_PROVIDER_try_load(NULL, "vex-fuzz-rand", 1);
    CHECK(fixed_provider != NULL);
    CHECK(RAND_set_DRBG_type(NULL, "vex-fixed", "provider=vex-fuzz-rand", NULL, NULL) == 1);
    unsigned char a[8], b[8];
    CHECK(RAND_bytes(a, sizeof a) == 1 && RAND_priv_bytes(b, sizeof b) == 1);
    CHECK(a[0] == 1 && a[7] == 8 && b[0] == 1 && b[7] == 8);   /* really fixed */
}
