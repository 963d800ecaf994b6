/* ratelimit.c (nginx limit_req arithmetic on a fixed clock, LRU eviction),
 * proxy_proto.c (PROXY v1/v2) and connlimit.c: pure code, no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "../../src/server/connlimit.h"
#include "../../src/server/proxy_proto.h"
#include "../../src/server/ratelimit.h"

static void key_of(uint32_t i, uint8_t k[16])
{
    memset(k, 0, 16);
    memcpy(k, &i, 4);
}

static rl_zone *zone(uint64_t rate_milli, uint64_t burst, uint64_t delay, size_t size)
{
    rl_params p = { rate_milli, burst, delay, size };
    rl_zone *z = rl_zone_new(&p);
    assert_non_null(z);
    return z;
}

static void test_burst_nodelay(void **state)
{
    (void)state;
    rl_zone *z = zone(10000, 5, 5, 1 << 20);   /* 10r/s burst=5 nodelay */
    uint8_t k[16];
    key_of(1, k);
    for (int i = 0; i < 6; i++)
        assert_int_equal(rl_check(z, k, 1000, true).verdict, RL_PASS);
    rl_result r = rl_check(z, k, 1000, true);
    assert_int_equal(r.verdict, RL_REJECT);
    assert_int_equal(r.retry_after_s, 1);
    assert_int_equal(rl_check(z, k, 1099, true).verdict, RL_REJECT);   /* 990 drained */
    assert_int_equal(rl_check(z, k, 1100, true).verdict, RL_PASS);     /* 1000: one more */
    assert_int_equal(rl_check(z, k, 1100, true).verdict, RL_REJECT);
    /* a rejected request changes nothing: 10 s later the bucket is empty */
    for (int i = 0; i < 6; i++)
        assert_int_equal(rl_check(z, k, 11100, true).verdict, RL_PASS);
    rl_zone_free(z);
}

static void test_delay(void **state)
{
    (void)state;
    rl_zone *z = zone(2000, 5, 2, 1 << 20);    /* 2r/s burst=5 delay=2 */
    uint8_t k[16];
    key_of(7, k);
    uint64_t want[] = { 0, 0, 0, 500, 1000, 1500 };
    for (int i = 0; i < 6; i++) {
        rl_result r = rl_check(z, k, 5000, true);
        assert_int_equal(r.verdict, i < 3 ? RL_PASS : RL_DELAY);
        assert_int_equal(r.delay_ms, want[i]);
    }
    assert_int_equal(rl_check(z, k, 5000, true).verdict, RL_REJECT);
    rl_zone_free(z);
    z = zone(10000, 5, 0, 1 << 20);            /* no nodelay: all excess waits */
    key_of(8, k);
    assert_int_equal(rl_check(z, k, 0, true).verdict, RL_PASS);
    rl_result r = rl_check(z, k, 0, true);
    assert_int_equal(r.verdict, RL_DELAY);
    assert_int_equal(r.delay_ms, 100);
    rl_zone_free(z);
}

static void test_peek_does_not_account(void **state)
{
    (void)state;
    rl_zone *z = zone(10000, 0, 0, 1 << 20);
    uint8_t k[16];
    key_of(3, k);
    assert_int_equal(rl_check(z, k, 0, false).verdict, RL_PASS);
    assert_int_equal(rl_check(z, k, 0, true).verdict, RL_PASS);   /* the first, really */
    assert_int_equal(rl_check(z, k, 0, true).verdict, RL_REJECT);
    rl_zone_free(z);
}

static void test_lru_eviction_bounded(void **state)
{
    (void)state;
    rl_zone *z = zone(10000, 1, 1, 16384);
    size_t cap = rl_zone_capacity(z);
    assert_int_equal(cap, 16 * (16384 / 16 / 56));
    uint8_t steady[16], k[16];
    key_of(0xffffffffu, steady);
    rl_check(z, steady, 0, true);
    rl_check(z, steady, 0, true);       /* at its burst */
    for (uint32_t i = 0; i < 100000; i++) {
        key_of(i, k);
        assert_int_equal(rl_check(z, k, 0, true).verdict, RL_PASS);
        if (i % 8 == 0)                 /* kept recent: never the LRU one */
            assert_int_equal(rl_check(z, steady, 0, true).verdict, RL_REJECT);
    }
    rl_counts c;
    rl_zone_counts(z, &c);
    assert_true(c.entries <= cap);
    assert_int_equal(c.evicted, 100000 + 1 - c.entries);
    rl_zone_free(z);
    rl_params tiny = { 1000, 0, 0, 100 };
    assert_null(rl_zone_new(&tiny));
}

static long parse(const char *s, size_t n, proxy_addr *a) { return proxy_parse(s, n, a); }

static void test_proxy_v1(void **state)
{
    (void)state;
    proxy_addr a;
    const char *h = "PROXY TCP4 192.0.2.1 10.0.0.1 56324 443\r\nGET /";
    long n = parse(h, strlen(h), &a);
    assert_int_equal(n, (long)strlen("PROXY TCP4 192.0.2.1 10.0.0.1 56324 443\r\n"));
    assert_false(a.local);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, 56324);
    const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    assert_memory_equal(a.addr, v4, 16);
    for (size_t i = 0; i < 40; i++)      /* every prefix: more needed */
        assert_int_equal(parse(h, i, &a), 0);
    h = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
    assert_int_equal(parse(h, strlen(h), &a), (long)strlen(h));
    assert_int_equal(a.family, AF_INET6);
    h = "PROXY UNKNOWN ffff::1 whatever\r\n";
    assert_int_equal(parse(h, strlen(h), &a), (long)strlen(h));
    assert_true(a.local);
    const char *bad[] = {
        "PROXY TCP4 192.0.2.1 10.0.0.1 56324\r\n", "PROXY TCP4 192.0.2.1 10.0.0.1 56324 65536\r\n",
        "PROXY TCP5 192.0.2.1 10.0.0.1 1 2\r\n", "PROXY TCP6 192.0.2.1 10.0.0.1 1 2\r\n",
        "PROXY TCP4  192.0.2.1 10.0.0.1 1 2\r\n", "PROXY TCP4 192.0.2.1 10.0.0.1 1 2 3\r\n",
        "proxy TCP4 192.0.2.1 10.0.0.1 1 2\r\n", "GET / HTTP/1.1\r\n",
        "PROXY TCP4 192.0.2.1 10.0.0.1 1 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_true(parse(bad[i], strlen(bad[i]), &a) < 0);
    char longline[200];
    memset(longline, 'A', sizeof longline);
    memcpy(longline, "PROXY ", 6);
    assert_true(parse(longline, sizeof longline, &a) < 0);   /* no CRLF in 107 */
}

static void test_proxy_v2(void **state)
{
    (void)state;
    proxy_addr a;
    unsigned char h[64] = "\r\n\r\n\0\r\nQUIT\n";
    h[12] = 0x21;                        /* v2 PROXY */
    h[13] = 0x11;                        /* INET, STREAM */
    h[14] = 0;
    h[15] = 12 + 3;                      /* addresses and a 3-byte TLV */
    const unsigned char addr[12] = {203, 0, 113, 7, 10, 0, 0, 1, 0x1f, 0x90, 0, 80};
    memcpy(h + 16, addr, 12);
    memset(h + 28, 0xee, 3);
    assert_int_equal(parse((const char *)h, 31 + 5, &a), 31);
    assert_int_equal(a.port, 8080);
    assert_int_equal(a.addr[12], 203);
    for (size_t i = 0; i < 31; i++)
        assert_int_equal(parse((const char *)h, i, &a), 0);
    h[12] = 0x20;                        /* LOCAL */
    assert_int_equal(parse((const char *)h, 31, &a), 31);
    assert_true(a.local);
    h[12] = 0x22;                        /* unknown command */
    assert_true(parse((const char *)h, 31, &a) < 0);
    h[12] = 0x11;                        /* version 1 */
    assert_true(parse((const char *)h, 31, &a) < 0);
    h[12] = 0x21;
    h[15] = 4;                           /* too short for INET */
    assert_true(parse((const char *)h, 31, &a) < 0);
}

static void test_connlimit(void **state)
{
    (void)state;
    cl_table *t = cl_table_new(4);
    assert_non_null(t);
    uint8_t a[16], b[16];
    key_of(1, a);
    key_of(2, b);
    assert_true(cl_acquire(t, a, 2));
    assert_true(cl_acquire(t, a, 2));
    assert_false(cl_acquire(t, a, 2));
    assert_true(cl_acquire(t, b, 2));
    cl_release(t, a);
    assert_true(cl_acquire(t, a, 2));
    cl_release(t, a);
    cl_release(t, a);
    cl_release(t, b);
    for (int i = 0; i < 1000; i++) {     /* freed entries are reused */
        key_of((uint32_t)i + 10, a);
        assert_true(cl_acquire(t, a, 1));
        cl_release(t, a);
    }
    assert_false(cl_acquire(t, a, 0));
    cl_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_nodelay),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_peek_does_not_account),
        cmocka_unit_test(test_lru_eviction_bounded),
        cmocka_unit_test(test_proxy_v1),
        cmocka_unit_test(test_proxy_v2),
        cmocka_unit_test(test_connlimit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
