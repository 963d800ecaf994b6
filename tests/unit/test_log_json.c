/*
 * test_log_json.c — the log's JSON string escaper (log_json.c), the
 * X-Request-Id rules (request_id.c) and the value parsers of the log
 * settings (log_config.c): every class of byte, the UTF-8 edge cases
 * (overlong, surrogates, above U+10FFFF, truncated), clipping that never
 * splits an escape, and the bounds of each setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "server/log_config.h"
#include "server/log_json.h"
#include "server/request_id.h"

static char out[4096];

static const char *esc_n(const char *s, size_t n)
{
    size_t used = 0;
    size_t len = json_escape(out, sizeof out - 1, s, n, &used);
    assert_int_equal(used, n);
    out[len] = '\0';
    return out;
}
static const char *esc(const char *s) { return esc_n(s, strlen(s)); }

static void test_plain_and_specials(void **state)
{
    (void)state;
    assert_string_equal(esc("GET /a?b=c&d"), "GET /a?b=c&d");
    assert_string_equal(esc("a\"b\\c"), "a\\\"b\\\\c");
    assert_string_equal(esc("l1\nl2\r\tx"), "l1\\nl2\\r\\tx");
    assert_string_equal(esc("/"), "/");
    assert_string_equal(esc(""), "");
}

static void test_control_bytes(void **state)
{
    (void)state;
    assert_string_equal(esc_n("\0", 1), "\\u0000");
    assert_string_equal(esc("\x01\x1f\x7f\x08\x0c"), "\\u0001\\u001f\\u007f\\u0008\\u000c");
    /* every control byte is escaped, nothing raw below 0x20 */
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c;
        const char *o = esc_n(&in, 1);
        for (const char *p = o; *p; p++)
            assert_true((unsigned char)*p >= 0x20);
    }
}

static void test_valid_utf8_kept(void **state)
{
    (void)state;
    assert_string_equal(esc("caf\xc3\xa9"), "caf\xc3\xa9");                 /* U+00E9 */
    assert_string_equal(esc("\xe2\x82\xac"), "\xe2\x82\xac");               /* U+20AC */
    assert_string_equal(esc("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");       /* U+1F600 */
    assert_string_equal(esc("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");       /* U+10FFFF */
    assert_string_equal(esc("\xed\x9f\xbf"), "\xed\x9f\xbf");               /* U+D7FF */
}

static void test_invalid_utf8_escaped(void **state)
{
    (void)state;
    assert_string_equal(esc("\xff"), "\\u00ff");
    assert_string_equal(esc("\x80"), "\\u0080");                   /* lone continuation */
    assert_string_equal(esc("\xc0\xaf"), "\\u00c0\\u00af");        /* overlong '/' */
    assert_string_equal(esc("\xe0\x80\xaf"), "\\u00e0\\u0080\\u00af");   /* overlong */
    assert_string_equal(esc("\xed\xa0\x80"), "\\u00ed\\u00a0\\u0080");   /* surrogate */
    assert_string_equal(esc("\xf4\x90\x80\x80"), "\\u00f4\\u0090\\u0080\\u0080"); /* > 10FFFF */
    assert_string_equal(esc("\xf5\x80\x80\x80"), "\\u00f5\\u0080\\u0080\\u0080");
    assert_string_equal(esc("a\xc3"), "a\\u00c3");                 /* truncated at the end */
    assert_string_equal(esc("\xc3(x"), "\\u00c3(x");               /* bad continuation */
    assert_string_equal(esc("\xe2\x82"), "\\u00e2\\u0082");
}

static void test_clipping_keeps_units_whole(void **state)
{
    (void)state;
    char o[16];
    size_t used;
    /* 'ab' fits, the 6-byte escape of \x01 does not: stop before it */
    size_t n = json_escape(o, 7, "ab\x01z", 4, &used);
    assert_int_equal(n, 2);
    assert_int_equal(used, 2);
    /* a UTF-8 sequence is not split */
    n = json_escape(o, 4, "ab\xe2\x82\xac", 5, &used);
    assert_int_equal(n, 2);
    assert_int_equal(used, 2);
    n = json_escape(o, 3, "a\"b", 3, &used);
    assert_int_equal(n, 3);                  /* a \" */
    assert_memory_equal(o, "a\\\"", 3);
    assert_int_equal(used, 2);
    n = json_escape(o, 5, "abcdefgh", 8, &used);
    assert_int_equal(n, 5);
    assert_int_equal(used, 5);
    n = json_escape(o, 0, "x", 1, &used);
    assert_int_equal(n, 0);
    assert_int_equal(used, 0);
}

/* Whatever the input, the output is printable ASCII or valid UTF-8, with
 * every quote and backslash escaped. */
static void test_all_bytes_give_safe_json(void **state)
{
    (void)state;
    unsigned char in[512];
    for (int i = 0; i < 512; i++)
        in[i] = (unsigned char)((i * 37 + i / 3) & 0xff);
    const char *o = esc_n((const char *)in, sizeof in);
    size_t n = strlen(o);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)o[i];
        assert_true(c >= 0x20 && c != 0x7f);
        if (c == '\\') {
            assert_non_null(strchr("\"\\nrtu", o[i + 1]));
            i += o[i + 1] == 'u' ? 6 : 2;
        } else if (c >= 0x80) {
            size_t k = json_utf8_len((const unsigned char *)o + i, n - i);
            assert_true(k >= 2);
            i += k;
        } else {
            assert_true(c != '"');
            i++;
        }
    }
}

static void test_request_id_rules(void **state)
{
    (void)state;
    assert_true(rid_valid("abc", 3));
    assert_true(rid_valid("A-Z_a.z:0+9/=@", 14));
    assert_false(rid_valid("", 0));
    assert_false(rid_valid("a b", 3));
    assert_false(rid_valid("a\"b", 3));
    assert_false(rid_valid("a\\b", 3));
    assert_false(rid_valid("a\r\nb", 4));
    assert_false(rid_valid("caf\xc3\xa9", 5));
    char big[RID_MAX + 1];
    memset(big, 'x', sizeof big);
    assert_true(rid_valid(big, RID_MAX));
    assert_false(rid_valid(big, RID_MAX + 1));

    rid_init();
    char a[RID_GEN_LEN + 1] = "", b[RID_GEN_LEN + 1] = "";
    rid_generate(a, 1);
    rid_generate(b, 2);
    assert_int_equal(strspn(a, "0123456789abcdef"), RID_GEN_LEN);
    assert_true(rid_valid(a, RID_GEN_LEN));
    assert_string_not_equal(a, b);
}

static void test_settings_parsers(void **state)
{
    (void)state;
    struct log_settings ls;
    log_settings_default(&ls);
    assert_int_equal(ls.access.kind, LOGD_OFF);
    assert_int_equal(ls.error.kind, LOGD_STDERR);
    assert_int_equal(ls.level, VLOG_INFO);
    assert_int_equal(ls.buffer_bytes, 65536);
    assert_int_equal(ls.flush_ms, 1000);

    struct log_dest d;
    assert_int_equal(log_parse_dest("off", &d), 0);
    assert_int_equal(d.kind, LOGD_OFF);
    assert_int_equal(log_parse_dest("syslog", &d), 0);
    assert_int_equal(d.kind, LOGD_SYSLOG);
    assert_int_equal(log_parse_dest("/var/log/x.log", &d), 0);
    assert_int_equal(d.kind, LOGD_FILE);
    assert_string_equal(d.path, "/var/log/x.log");
    assert_int_equal(log_parse_dest("", &d), -1);

    int lv;
    assert_int_equal(log_parse_level("debug", &lv), 0);
    assert_int_equal(lv, VLOG_DEBUG);
    assert_int_equal(log_parse_level("error", &lv), 0);
    assert_int_equal(lv, VLOG_ERROR);
    assert_int_equal(log_parse_level("verbose", &lv), -1);
    assert_int_equal(log_parse_level("INFO", &lv), -1);

    uint32_t bb;
    assert_int_equal(log_parse_buffer("4096", &bb), 0);
    assert_int_equal(bb, 4096);
    assert_int_equal(log_parse_buffer("16777216", &bb), 0);
    assert_int_equal(log_parse_buffer("4095", &bb), -1);
    assert_int_equal(log_parse_buffer("16777217", &bb), -1);
    assert_int_equal(log_parse_buffer("64k", &bb), -1);
    assert_int_equal(log_parse_buffer("-1", &bb), -1);

    uint64_t ms;
    assert_int_equal(log_parse_interval("0.5", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(log_parse_interval("0", &ms), -1);
    assert_int_equal(log_parse_interval("3601", &ms), -1);
    assert_int_equal(log_parse_interval("1s", &ms), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_specials),
        cmocka_unit_test(test_control_bytes),
        cmocka_unit_test(test_valid_utf8_kept),
        cmocka_unit_test(test_invalid_utf8_escaped),
        cmocka_unit_test(test_clipping_keeps_units_whole),
        cmocka_unit_test(test_all_bytes_give_safe_json),
        cmocka_unit_test(test_request_id_rules),
        cmocka_unit_test(test_settings_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
