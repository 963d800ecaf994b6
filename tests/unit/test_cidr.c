/* cidr.c: parsing, containment and masking over the v4-mapped form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/server/cidr.h"

static bool in(const char *range, const char *addr)
{
    cidr c;
    const char *why = NULL;
    uint8_t a[16];
    assert_true(cidr_parse(range, &c, &why));
    assert_true(cidr_parse_addr(addr, a));
    return cidr_contains(&c, a);
}

static void test_v4_ranges(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.255.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("192.168.1.128/25", "192.168.1.200"));
    assert_false(in("192.168.1.128/25", "192.168.1.127"));
    assert_true(in("127.0.0.1", "127.0.0.1"));
    assert_false(in("127.0.0.1", "127.0.0.2"));
    assert_true(in("0.0.0.0/0", "8.8.8.8"));
    assert_false(in("0.0.0.0/0", "::1"));      /* IPv4 /0 is every IPv4 address, no more */
}

static void test_v6_ranges(void **state)
{
    (void)state;
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("::1", "::1"));
    assert_true(in("::ffff:10.0.0.0/104", "10.1.2.3"));
    assert_true(in("all", "10.1.2.3"));
    assert_true(in("any", "fe80::1"));
}

static void test_errors(void **state)
{
    (void)state;
    cidr c;
    const char *why = NULL;
    const char *bad[] = {"", "10.0.0.0/33", "2001:db8::/129", "10.0.0.1/8", "10.0.0.0/",
                         "10.0.0.0/x", "300.1.1.1", "host.example", "10.0.0.0/8/8", "/8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        assert_false(cidr_parse(bad[i], &c, &why));
        assert_non_null(why);
    }
}

static void test_mask_and_format(void **state)
{
    (void)state;
    uint8_t a[16], m[16], want[16];
    assert_true(cidr_parse_addr("2001:db8:1:2:3:4:5:6", a));
    cidr_mask(m, a, 64);
    assert_true(cidr_parse_addr("2001:db8:1:2::", want));
    assert_memory_equal(m, want, 16);
    cidr c;
    const char *why;
    char buf[64];
    assert_true(cidr_parse("10.1.0.0/16", &c, &why));
    cidr_format(&c, buf, sizeof buf);
    assert_string_equal(buf, "10.1.0.0/16");
    assert_true(cidr_parse("2001:db8::/48", &c, &why));
    cidr_format(&c, buf, sizeof buf);
    assert_string_equal(buf, "2001:db8::/48");
}

/* The word-wise mask and containment against a byte-at-a-time reference,
 * for every prefix length and a spread of addresses (bits on both sides of
 * each boundary). */
static bool ref_bit(const uint8_t *a, unsigned i) { return a[i / 8] >> (7 - i % 8) & 1; }

static void test_word_ops_match_bytes(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (unsigned round = 0; round < 64; round++) {
        uint8_t a[16], b[16];
        for (int i = 0; i < 16; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            a[i] = (uint8_t)x;
            b[i] = (uint8_t)(x >> 8);
        }
        for (unsigned bits = 0; bits <= 128; bits++) {
            uint8_t m[16];
            cidr_mask(m, a, bits);
            for (unsigned i = 0; i < 128; i++)
                assert_int_equal(ref_bit(m, i), i < bits ? ref_bit(a, i) : 0);
            cidr c = { {0}, (uint8_t)bits };
            memcpy(c.addr, m, 16);
            assert_true(cidr_contains(&c, a));
            /* b shares a's first `bits` bits, then differs at one bit */
            uint8_t d[16];
            memcpy(d, a, 16);
            for (unsigned i = 0; i < 128; i++) {
                d[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
                assert_int_equal(cidr_contains(&c, d), i >= bits);
                d[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
            }
            bool same = true;
            for (unsigned i = 0; i < bits; i++)
                same = same && ref_bit(a, i) == ref_bit(b, i);
            assert_int_equal(cidr_contains(&c, b), same);
        }
    }
    uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    assert_true(cidr_is_v4(v4));
    v4[9] = 1;
    assert_false(cidr_is_v4(v4));
    v4[9] = 0; v4[10] = 0xfe;
    assert_false(cidr_is_v4(v4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_ranges),
        cmocka_unit_test(test_v6_ranges),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mask_and_format),
        cmocka_unit_test(test_word_ops_match_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
