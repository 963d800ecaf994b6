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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_ranges),
        cmocka_unit_test(test_v6_ranges),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mask_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
