/*
 * test_log.c — the logger without a server: the JSON string escaper
 * (log_json.c) with every class of byte, the UTF-8 edge cases (overlong,
 * surrogates, above U+10FFFF, truncated) and clipping that never splits an
 * escape; the X-Request-Id rules (request_id.c); the bounds of each setting
 * (log_config.c); and the writer (log.c): lines handed over by size and by
 * the flush interval, reopen after a rename, a live switch of destination
 * and level, a failed switch changing nothing, and everything written at
 * the stop; the access line (access_log.c) at its worst case, every field
 * as long as it may be and every byte escaped six-fold, within its buffer
 * and within the room the hook reserves for it (access_log_bound); the
 * reserve/commit buffer: a line goes in place, one too long for a buffer
 * and those coming while the writer holds LOG_INFLIGHT buffers are
 * dropped and counted, exactly; the escaper's word-at-a-time fast path
 * against a byte-by-byte reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/access_log.h"
#include "server/log.h"
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
    assert_int_equal(ls.buffer_bytes, 1u << 20);
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

/* ---- the writer ---- */

static char dir[64];

static char *path_of(const char *name)
{
    static char p[4][128];
    static int k;
    char *o = p[k++ & 3];
    snprintf(o, 128, "%s/%s", dir, name);
    return o;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static bool wait_written(uint64_t n)
{
    for (int i = 0; i < 300 && log_lines_written() < n; i++)
        sleep_ms(10);
    return log_lines_written() == n;
}

static void put_lines(log_slot *s, int n, const char *tag)
{
    char line[64];
    for (int i = 0; i < n; i++) {
        int k = snprintf(line, sizeof line, "{\"%s\":%d}\n", tag, i);
        log_access_line(s, line, (size_t)k);
    }
}

static void test_writer_reopen_apply_stop(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/vex_test_log.XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct log_settings ls;
    log_settings_default(&ls);
    assert_int_equal(log_parse_dest(path_of("a.log"), &ls.access), 0);
    assert_int_equal(log_parse_dest(path_of("e.log"), &ls.error), 0);
    ls.level = VLOG_DEBUG;
    ls.buffer_bytes = 4096;
    ls.flush_ms = 1;
    char err[256];
    assert_int_equal(log_start(&ls, 2, err, sizeof err), 0);
    assert_true(log_access_enabled());
    log_slot *s = log_slot_of(0);
    assert_non_null(s);
    assert_null(log_slot_of(2));

    /* 300 lines of ~12 bytes: full 4 KiB buffers go by size, the rest by
     * the interval. */
    put_lines(s, 300, "a");
    sleep_ms(5);
    log_slot_tick(s);
    assert_true(wait_written(300));
    assert_int_equal(count_lines(path_of("a.log")), 300);
    assert_int_equal(log_lines_dropped(), 0);

    log_event(VLOG_DEBUG, "debug \"%s\"", "quoted");
    log_event(VLOG_INFO, "info %d", 1);

    /* logrotate: rename, then reopen makes a new file for later lines */
    assert_int_equal(rename(path_of("a.log"), path_of("a.log.1")), 0);
    assert_int_equal(log_reopen(), 0);
    for (int i = 0; i < 100 && access(path_of("a.log"), F_OK) != 0; i++)
        sleep_ms(10);
    assert_int_equal(access(path_of("a.log"), F_OK), 0);
    put_lines(s, 10, "b");
    sleep_ms(5);
    log_slot_tick(s);
    assert_true(wait_written(310));
    assert_int_equal(count_lines(path_of("a.log.1")), 300);
    assert_int_equal(count_lines(path_of("a.log")), 10);

    /* a failed switch changes nothing */
    struct log_settings bad = ls;
    assert_int_equal(log_parse_dest(path_of("no/such/dir.log"), &bad.access), 0);
    bad.level = VLOG_ERROR;
    assert_int_equal(log_apply(&bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "--access-log"));
    assert_non_null(strstr(err, "no/such/dir.log"));
    assert_true(log_level_enabled(VLOG_DEBUG));

    /* a live switch: new access file, warn level */
    struct log_settings next = ls;
    assert_int_equal(log_parse_dest(path_of("b.log"), &next.access), 0);
    next.level = VLOG_WARN;
    next.buffer_bytes = 8192;
    assert_int_equal(log_apply(&next, err, sizeof err), 0);
    assert_false(log_level_enabled(VLOG_INFO));
    assert_true(log_level_enabled(VLOG_WARN));
    log_event(VLOG_INFO, "not logged");
    log_event(VLOG_WARN, "warned");
    put_lines(s, 7, "c");            /* still in the buffer at the stop */
    put_lines(log_slot_of(1), 3, "d");
    log_stop();
    log_stop();                      /* idempotent */
    assert_int_equal(log_lines_written(), 320);
    assert_int_equal(count_lines(path_of("a.log")), 10);
    assert_int_equal(count_lines(path_of("b.log")), 10);

    /* the event log: JSON lines, the levels that were on */
    FILE *f = fopen(path_of("e.log"), "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"level\":\"debug\",\"msg\":\"debug \\\"quoted\\\"\"}\n"));
    assert_non_null(strstr(buf, "\"level\":\"info\",\"msg\":\"info 1\"}\n"));
    assert_non_null(strstr(buf, "\"msg\":\"log files reopened\""));
    assert_non_null(strstr(buf, "\"level\":\"warn\",\"msg\":\"warned\"}\n"));
    assert_null(strstr(buf, "not logged"));
    assert_int_equal(strncmp(buf, "{\"time\":\"", 9), 0);

    const char *names[] = {"a.log", "a.log.1", "b.log", "e.log"};
    for (size_t i = 0; i < 4; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
}

static void test_start_fails_cleanly(void **state)
{
    (void)state;
    struct log_settings ls;
    log_settings_default(&ls);
    assert_int_equal(log_parse_dest("/nonexistent-dir/x/e.log", &ls.error), 0);
    char err[256];
    assert_int_equal(log_start(&ls, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "--error-log"));
    assert_non_null(strstr(err, "/nonexistent-dir/x/e.log"));
    assert_null(log_slot_of(0));
    log_stop();                      /* nothing to stop */
}

/* What a worker does per request (step the text) is what formatting the
 * next number gives, carries across every digit and the wrap included. */
static void test_request_id_step_matches_generate(void **state)
{
    (void)state;
    rid_init();
    char a[RID_GEN_LEN], b[RID_GEN_LEN];
    for (uint64_t seq = 0; seq < 70000; seq++) {
        rid_generate(a, seq);
        rid_step(a);
        rid_generate(b, seq + 1);
        assert_memory_equal(a, b, RID_GEN_LEN);
    }
    memcpy(a, "ffffffffffffffff", RID_GEN_LEN);
    rid_step(a);
    assert_memory_equal(a, "0000000000000000", RID_GEN_LEN);
    memcpy(a, "00000000000009ff", RID_GEN_LEN);
    rid_step(a);
    assert_memory_equal(a, "0000000000000a00", RID_GEN_LEN);
}

static void test_access_line_worst_case_fits(void **state)
{
    (void)state;
    static char big[20000];
    memset(big, 0x01, sizeof big);               /* \u0001: six bytes each */
    char rid[RID_MAX];
    memset(rid, 'z', sizeof rid);
    h1_peer peer = { .family = 10, .port = 65535 };
    memset(peer.addr, 0xab, 16);                 /* the longest IPv6 text */
    h1_log l = {
        .peer = &peer, .method_str = { big, 200 }, .target = { big, sizeof big },
        .status = 999, .body_bytes = UINT64_MAX, .duration_ns = UINT64_MAX,
        .user_agent = { big, sizeof big }, .referer = { big, sizeof big },
        .rid = rid, .rid_len = sizeof rid,
    };
    struct timespec now = { 1700000000, 999999999 };
    access_log *a = access_log_new(NULL);
    assert_non_null(a);
    size_t caps[] = { LOG_BUFFER_MIN, ACCESS_LINE_MAX };
    for (size_t i = 0; i < 2; i++) {
        size_t bound = access_log_bound(&l, caps[i]);
        assert_true(bound <= caps[i]);
        char *line = malloc(bound);              /* exactly the room: ASan sees an overrun */
        assert_non_null(line);
        size_t n = access_log_format(a, line, caps[i], &l, &now);
        assert_true(n <= bound);
        assert_true(n > caps[i] / 2);            /* the strings did take the room */
        assert_memory_equal(line + n - 2, "}\n", 2);
        assert_memory_equal(line, "{\"time\":\"2023-11-14T22:13:20.999Z\",", 35);
        free(line);
    }
    /* a common line (short fields, our id, no peer) within its bound too */
    h1_log common = { .method_str = { "GET", 3 }, .target = { "/json", 5 }, .status = 200,
                      .body_bytes = 27, .duration_ns = 12345,
                      .user_agent = { "curl/7.88.1", 11 }, .rid = "0123456789abcdef",
                      .rid_len = 16 };
    for (int with_peer = 0; with_peer < 2; with_peer++) {
        h1_peer v4 = { .family = 2, .port = 42796,
                       .addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1} };
        common.peer = with_peer ? &v4 : NULL;
        size_t bound = access_log_bound(&common, ACCESS_LINE_MAX);
        char *line = malloc(bound);
        assert_non_null(line);
        size_t n = access_log_format(a, line, ACCESS_LINE_MAX, &common, &now);
        assert_true(n <= bound);
        const char *want = with_peer
            ? "{\"time\":\"2023-11-14T22:13:20.999Z\",\"client\":\"127.0.0.1\",\"port\":42796,"
              "\"method\":\"GET\",\"target\":\"/json\",\"status\":200,\"bytes\":27,"
              "\"duration_us\":12,\"user_agent\":\"curl/7.88.1\",\"referer\":null,"
              "\"request_id\":\"0123456789abcdef\"}\n"
            : "{\"time\":\"2023-11-14T22:13:20.999Z\",\"client\":null,\"port\":null,"
              "\"method\":\"GET\",\"target\":\"/json\",\"status\":200,\"bytes\":27,"
              "\"duration_us\":12,\"user_agent\":\"curl/7.88.1\",\"referer\":null,"
              "\"request_id\":\"0123456789abcdef\"}\n";
        assert_int_equal(n, strlen(want));
        assert_memory_equal(line, want, n);
        free(line);
    }
    access_log_free(a);
}

/* A byte-by-byte reference of the escaping for ASCII and lone high bytes
 * (each invalid as UTF-8), to hold the 8-bytes-at-a-time path to. */
static size_t ref_escape(char *o, const unsigned char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c == '\n') {
            o[k++] = '\\';
            o[k++] = 'n';
        } else if (c == '\r') {
            o[k++] = '\\';
            o[k++] = 'r';
        } else if (c == '\t') {
            o[k++] = '\\';
            o[k++] = 't';
        } else if (c < 0x20 || c >= 0x7f) {
            k += (size_t)sprintf(o + k, "\\u00%02x", c);
        } else {
            o[k++] = (char)c;
        }
    }
    return k;
}

static void test_fast_path_matches_reference(void **state)
{
    (void)state;
    static const unsigned char specials[] = { '"', '\\', '\n', '\r', '\t', 0x00, 0x01, 0x1f,
                                              0x7f, 0x80, 0xff, 0xc0 };
    unsigned char in[40];
    char want[40 * 6 + 1], got[40 * 6 + 1];
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++) {
            in[i] = (unsigned char)(0x20 + (i * 7) % 95);    /* printable ASCII */
            if (in[i] == '"' || in[i] == '\\')
                in[i] = 'x';
        }
        /* all plain, then one special byte at every position */
        for (size_t pos = 0; pos <= n; pos++) {
            for (size_t sp = 0; sp < (pos < n ? sizeof specials : 1); sp++) {
                unsigned char save = pos < n ? in[pos] : 0;
                if (pos < n)
                    in[pos] = specials[sp];
                size_t used = 0;
                size_t k = json_escape(got, sizeof got, (const char *)in, n, &used);
                size_t w = ref_escape(want, in, n);
                assert_int_equal(used, n);
                assert_int_equal(k, w);
                assert_memory_equal(got, want, w);
                if (pos < n)
                    in[pos] = save;
            }
        }
    }
}

/* The reserve/commit buffer with a writer that cannot write: a FIFO whose
 * reader reads nothing until told, filled up beforehand. 4 KiB buffers,
 * lines of 1 KiB: buffer A takes lines 1-4, line 5 hands A over (the
 * writer holds it, stuck), B takes 5-8, C 9-12, D 13-16; with A, B and C
 * in flight (LOG_INFLIGHT) lines 17-20 find D full and are dropped. */
static void test_reserve_commit_drops_exactly(void **state)
{
    (void)state;
    assert_int_equal(LOG_INFLIGHT, 3);
    strcpy(dir, "/tmp/vex_test_log.XXXXXX");
    assert_non_null(mkdtemp(dir));
    const char *fifo = path_of("fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(rd >= 0);
    int wr = open(fifo, O_WRONLY | O_NONBLOCK);
    assert_true(wr >= 0);
    static char fill[4096];
    memset(fill, 'f', sizeof fill);
    size_t prefill = 0;
    for (size_t chunk = sizeof fill; chunk; chunk = chunk > 1 ? chunk / 2 : 0) {
        ssize_t r;
        while ((r = write(wr, fill, chunk)) > 0)
            prefill += (size_t)r;
        assert_int_equal(errno, EAGAIN);
    }
    close(wr);

    struct log_settings ls;
    log_settings_default(&ls);
    assert_int_equal(log_parse_dest(fifo, &ls.access), 0);
    ls.buffer_bytes = 4096;
    char err[256];
    assert_int_equal(log_start(&ls, 1, err, sizeof err), 0);
    log_slot *s = log_slot_of(0);
    uint64_t dropped0 = log_lines_dropped(), written0 = log_lines_written();

    /* longer than a buffer: dropped, counted, nothing else changes */
    assert_null(log_reserve(s, 4097));
    assert_int_equal(log_lines_dropped(), dropped0 + 1);

    for (int i = 1; i <= 20; i++) {
        char *w = log_reserve(s, 1024);
        if (i <= 16) {
            assert_non_null(w);
            memset(w, 'a' + (i - 1) % 26, 1023);
            w[1023] = '\n';
            log_commit(s, 1024);
        } else {
            assert_null(w);
        }
        assert_int_equal(log_lines_dropped(), dropped0 + 1 + (i > 16 ? (uint64_t)(i - 16) : 0));
    }
    assert_int_equal(log_lines_written(), written0);
    /* a smaller line still fits nowhere: D is full */
    assert_null(log_reserve(s, 1));
    assert_int_equal(log_lines_dropped(), dropped0 + 6);

    /* let the writer through: A, B and C are written, D at the stop */
    static char sink[1 << 17];
    size_t got = 0;
    for (int t = 0; t < 300 && log_lines_written() < written0 + 12; t++) {
        ssize_t r = read(rd, sink, sizeof sink);
        if (r > 0)
            got += (size_t)r;
        sleep_ms(10);
    }
    assert_int_equal(log_lines_written(), written0 + 12);
    log_stop();
    ssize_t r;
    while ((r = read(rd, sink, sizeof sink)) > 0)
        got += (size_t)r;
    close(rd);
    assert_int_equal(got, prefill + 16 * 1024);
    assert_int_equal(log_lines_written(), written0 + 16);
    assert_int_equal(log_lines_dropped(), dropped0 + 6);
    unlink(fifo);
    rmdir(dir);
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
        cmocka_unit_test(test_writer_reopen_apply_stop),
        cmocka_unit_test(test_start_fails_cleanly),
        cmocka_unit_test(test_access_line_worst_case_fits),
        cmocka_unit_test(test_request_id_step_matches_generate),
        cmocka_unit_test(test_fast_path_matches_reference),
        cmocka_unit_test(test_reserve_commit_drops_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
