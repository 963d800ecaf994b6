/* access_config.c and auth_basic.c: allow/deny order, parsers, the
 * failed-authentication table, and the Basic cache (hit, miss, expiry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <crypt.h>
#include <cmocka.h>

#include "../../src/server/access_config.h"

static void addr_of(const char *text, uint8_t out[16])
{
    assert_true(cidr_parse_addr(text, out));
}

static void test_acl_first_match(void **state)
{
    (void)state;
    acl_list l = {0};
    const char *why = NULL;
    uint8_t a[16];
    assert_true(acl_add(&l, "deny 10.1.0.0/16", &why));
    assert_true(acl_add(&l, "allow 10.0.0.0/8", &why));
    assert_true(acl_add(&l, "deny all", &why));
    addr_of("10.1.2.3", a);
    assert_false(acl_allows(&l, a));
    addr_of("10.2.2.3", a);
    assert_true(acl_allows(&l, a));
    addr_of("::1", a);
    assert_false(acl_allows(&l, a));
    acl_list empty = {0};
    assert_true(acl_allows(&empty, a));          /* no entry: allowed */
    assert_false(acl_add(&l, "permit all", &why));
    assert_false(acl_add(&l, "deny 10.0.0.1/8", &why));   /* host bits */
    assert_false(acl_add(&l, "allow", &why));
    assert_true(acl_add(&l, "allow   ::ffff:127.0.0.0/104", &why));
}

static void test_parsers(void **state)
{
    (void)state;
    assert_int_equal(access_method_bit("GET"), 1u << 1);
    assert_int_equal(access_method_bit("TRACE"), 1u << 9);
    assert_int_equal(access_method_bit("get"), 0);
    unsigned char d[32];
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    assert_true(access_parse_digest(hex, d));
    assert_int_equal(d[0], 0xaa);
    hex[10] = 'G';
    assert_false(access_parse_digest(hex, d));
    assert_false(access_parse_digest("abc", d));
}

static void test_fail_table(void **state)
{
    (void)state;
    access_config *a = access_config_new();
    char err[256];
    a->fail_limit = 3;
    a->fail_window_ms = 1000;
    assert_true(access_config_finish(a, err, sizeof err));
    uint8_t x[16], y[16];
    addr_of("192.0.2.1", x);
    addr_of("2001:db8::1", y);
    for (int i = 0; i < 3; i++) {
        assert_false(access_fail_blocked(a, x, 100));
        access_fail_note(a, x, 100);
    }
    assert_true(access_fail_blocked(a, x, 200));
    assert_false(access_fail_blocked(a, y, 200));
    assert_false(access_fail_blocked(a, x, 1100));   /* the window ended */
    access_fail_note(a, x, 1100);
    assert_false(access_fail_blocked(a, x, 1100));   /* a new window: 1 failure */
    /* 256 other addresses push x's entry out: bounded, never grows */
    for (unsigned i = 0; i < 256; i++) {
        uint8_t z[16] = {0x20, 0x01, 0x0d, 0xb8, 1};
        z[14] = (uint8_t)(i >> 8);
        z[15] = (uint8_t)i;
        access_fail_note(a, z, 1200 + i);
    }
    access_fail_note(a, x, 1500);
    access_fail_note(a, x, 1500);
    assert_false(access_fail_blocked(a, x, 1500));   /* counted from 0 again */
    access_config_free(a);
}

static void test_basic_cache(void **state)
{
    (void)state;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    assert_non_null(crypt_gensalt_rn("$6$", 0, NULL, 0, setting, sizeof setting));
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    const char *hash = crypt_rn("pw", setting, &cd, sizeof cd);
    assert_non_null(hash);
    char path[] = "/tmp/test_access_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\nu:%s\n", hash);
    fclose(f);
    char err[512];
    auth_basic *b = auth_basic_load(path, 16, 1000, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(auth_basic_check(b, "u", 1, "pw", 2, 10), BASIC_OK);
    assert_int_equal(auth_basic_check(b, "u", 1, "pw", 2, 20), BASIC_OK_CACHED);
    assert_int_equal(auth_basic_check(b, "u", 1, "pW", 2, 30), BASIC_BAD);
    assert_int_equal(auth_basic_check(b, "v", 1, "pw", 2, 30), BASIC_BAD);
    assert_int_equal(auth_basic_check(b, "u", 1, "pw", 2, 2000), BASIC_OK);   /* expired */
    auth_basic_free(b);
    b = auth_basic_load(path, 0, 1000, err, sizeof err);        /* no cache */
    assert_int_equal(auth_basic_check(b, "u", 1, "pw", 2, 10), BASIC_OK);
    assert_int_equal(auth_basic_check(b, "u", 1, "pw", 2, 20), BASIC_OK);
    auth_basic_free(b);
    f = fopen(path, "w");
    fprintf(f, "u:plain\n");
    fclose(f);
    assert_null(auth_basic_load(path, 16, 1000, err, sizeof err));
    assert_non_null(strstr(err, "line 1: unrecognised hash for 'u'"));
    unlink(path);
    assert_null(auth_basic_load(path, 16, 1000, err, sizeof err));
    assert_non_null(strstr(err, "cannot read password file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_first_match),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_fail_table),
        cmocka_unit_test(test_basic_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
