#!/usr/bin/python3
"""Write the seed corpora of fuzz_chunked and fuzz_conn (committed; run
again after changing a seed here): tests/fuzz/corpus_chunked/ and
tests/fuzz/corpus_conn/. Each seed is named for what it exercises."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, name, data):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_chunked: ctl, ncuts, cuts, body -------------------------------------
ENCODE, TRAILER = 0x80, 0x40


def chunked(name, body, ctl=0, cuts=b""):
    write("corpus_chunked", name, bytes([ctl, len(cuts)]) + cuts + body)


chunked("one_chunk", b"5\r\nhello\r\n0\r\n\r\n")
chunked("two_chunks_split", b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", cuts=bytes([2, 0, 7, 1]))
chunked("upper_hex", b"A\r\n0123456789\r\n0\r\n\r\n")
chunked("leading_zeros", b"0005\r\nhello\r\n000\r\n\r\n")
chunked("extension_token", b"5;name=value\r\nhello\r\n0;last\r\n\r\n")
chunked("extension_quoted", b'5;n="a \\"q\\" b"\r\nhello\r\n0\r\n\r\n')
chunked("extension_bws", b"5 ; a = b ; c\r\nhello\r\n0\r\n\r\n", cuts=bytes([3, 3]))
chunked("trailer", b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other: two\r\n\r\n")
chunked("next_request_after", b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n")
chunked("empty_body", b"0\r\n\r\n")
chunked("bare_lf", b"5\nhello\n0\n\n")
chunked("no_crlf_after_data", b"5\r\nhelloX\r\n0\r\n\r\n")
chunked("size_overflow", b"10000000000000000\r\n")
chunked("size_max_u64", b"ffffffffffffffff\r\n")
chunked("over_limit", b"9\r\n123456789\r\n0\r\n\r\n", ctl=1 | (4 << 2))
chunked("at_limit", b"8\r\n12345678\r\n0\r\n\r\n", ctl=1 | (8 << 2))
chunked("long_extension", b"1;" + b"x" * 5000 + b"\r\na\r\n0\r\n\r\n")
chunked("long_trailers", b"0\r\n" + b"X-A: " + b"b" * 9000 + b"\r\n\r\n")
chunked("neg_size", b"-5\r\nhello\r\n0\r\n\r\n")
chunked("hex_prefix", b"0x5\r\nhello\r\n0\r\n\r\n")
chunked("space_before_size", b" 5\r\nhello\r\n0\r\n\r\n")
chunked("trailer_no_colon", b"0\r\nbad trailer\r\n\r\n")
chunked("nul_in_ext", b"5;a\x00b\r\nhello\r\n0\r\n\r\n")
chunked("byte_pieces", b"3\r\nabc\r\n0\r\n\r\n", cuts=bytes([0] * 16))
chunked("unlimited", b"5\r\nhello\r\n0\r\n\r\n", ctl=3)
chunked("encode_small", b"hello, chunked world", ctl=ENCODE, cuts=bytes([4, 0x45, 0x82, 0xc3]))
chunked("encode_trailer", b"payload", ctl=ENCODE | TRAILER, cuts=bytes([1, 2]))
chunked("encode_over_limit", b"0123456789abcdef", ctl=ENCODE | 1 | (3 << 2), cuts=bytes([5]))
chunked("encode_binary", bytes(range(256)), ctl=ENCODE, cuts=bytes([0x3f, 0x7f, 0xbf, 0xff]))
chunked("encode_empty", b"", ctl=ENCODE | TRAILER)

# ---- fuzz_conn: flags, ncuts, cuts, stream ---------------------------------------
SMALL_BODY, SMALL_BUF, NO_SENDFILE, BYTES_FILE, DRAIN_EACH, DRAINING = 1, 2, 4, 8, 16, 32
EOF_, RESET, TIMEOUT, SHUTDOWN = 0 << 6, 1 << 6, 2 << 6, 3 << 6


HOOK, ADMIN = 0x40, 0x80   # in the cut-count octet


def conn(name, stream, flags=DRAIN_EACH, cuts=b"", mode=0):
    write("corpus_conn", name, bytes([flags, len(cuts) | mode]) + cuts + stream)


G = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
conn("get_plain", G)
conn("get_json", b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n")
conn("pipeline_mixed", G + b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"
     b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
     b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
conn("pipeline_split", G * 4, cuts=bytes([0, 4, 9, 20, 1, 30]))
conn("pipeline_slow_reader", G * 40, flags=EOF_)
conn("byte_at_a_time", G + b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n", cuts=bytes([0] * 63))
conn("http10_keepalive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /json HTTP/1.0\r\n\r\n")
conn("connection_close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + G)
conn("echo_length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world" + G)
conn("echo_length_split", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world" + G,
     cuts=bytes([50, 2, 3]))
conn("echo_chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n" + G)
conn("echo_chunked_bad", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nhello\r\n0\r\n\r\n" + G)
conn("echo_over_limit", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"50\r\n" + b"x" * 80 + b"\r\n0\r\n\r\n", flags=DRAIN_EACH | SMALL_BODY)
conn("echo_length_over_limit", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + b"x" * 100,
     flags=DRAIN_EACH | SMALL_BODY)
conn("echo_expect", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" + G)
conn("expect_discard", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" + G)
conn("body_to_404", b"PUT /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd" + G)
conn("chunked_to_404", b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + G)
conn("method_405", b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
conn("pipeline_bytes_unread", b"GET /bytes/65536 HTTP/1.1\r\nHost: a\r\n\r\n" * 30, flags=EOF_ | SMALL_BODY)
conn("bytes_small", b"GET /bytes/100 HTTP/1.1\r\nHost: a\r\n\r\n" + G)
conn("bytes_large_file", b"GET /bytes/2200000 HTTP/1.1\r\nHost: a\r\n\r\n" + G, flags=EOF_ | BYTES_FILE)
conn("bytes_large_mem", b"GET /bytes/700000 HTTP/1.1\r\nHost: a\r\n\r\n" + G, flags=EOF_)
conn("bytes_no_sendfile", b"GET /bytes/1500000 HTTP/1.1\r\nHost: a\r\n\r\n" + G,
     flags=EOF_ | BYTES_FILE | NO_SENDFILE)
conn("bytes_head", b"HEAD /bytes/99999999 HTTP/1.1\r\nHost: a\r\n\r\n" + G)
conn("bytes_bad", b"GET /bytes/12x HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes/ HTTP/1.1\r\nHost: a\r\n\r\n")
conn("bytes_huge_budget", b"GET /bytes/1099511627776 HTTP/1.1\r\nHost: a\r\n\r\n", flags=EOF_ | BYTES_FILE)
conn("static_no_root", b"GET /static/index.html HTTP/1.1\r\nHost: a\r\n\r\n" + G)
conn("bad_request", b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n" + G)
conn("bad_version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
conn("smuggle_cl_te", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + G)
conn("long_target", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
conn("many_headers", b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 70 + b"\r\n")
conn("incomplete_head", b"GET / HTTP/1.1\r\nHost: a\r\n")
conn("incomplete_body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
conn("leading_crlf", b"\r\n\r\n" + G)
conn("reset_midway", G + b"GET /json HTTP/1.1\r\n", flags=RESET)
conn("timeout_in_head", G + b"GET /json HTTP/1.1\r\n", flags=TIMEOUT)
conn("timeout_in_body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc", flags=TIMEOUT)
conn("timeout_idle", G, flags=TIMEOUT | DRAIN_EACH)
conn("shutdown_idle", G + G, flags=SHUTDOWN | DRAIN_EACH)
conn("draining", G + G, flags=DRAINING | DRAIN_EACH)
conn("draining_readyz", b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n", flags=DRAINING)
conn("small_buffer", G * 10 + b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 600\r\n\r\n" + b"y" * 600,
     flags=SMALL_BUF)
conn("absolute_form", b"GET http://a/json HTTP/1.1\r\nHost: a\r\n\r\n")
conn("connect_upgrade", b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n")

conn("hook_pipeline", G + b"GET /json?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"
     b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", mode=HOOK)
conn("hook_echo_chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3\r\nabc\r\n0\r\n\r\n" + G, mode=HOOK, cuts=bytes([10, 40, 3]))
conn("hook_bad_request", G + b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", mode=HOOK)
# Regressions: the hook was given the target of a request whose bytes were
# gone (heap-use-after-free): the 408 of a timeout, and a chunked body
# refused in a later delivery than its head.
conn("regress_hook_stale_target_408", G + b"GET /json HTTP/1.1\r\n", flags=TIMEOUT, mode=HOOK)
conn("regress_hook_stale_target_body", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3\r\nabc\r\nzz\r\n", mode=HOOK, cuts=bytes([63, 7]))
conn("hook_timeout_after_split", b"GET /json HTTP/1.1\r\nHost: a\r\n\r\nGET /js", flags=TIMEOUT,
     mode=HOOK, cuts=bytes([20]))
conn("hook_bytes_file", b"GET /bytes/1100000 HTTP/1.1\r\nHost: a\r\n\r\n" + G, flags=EOF_ | BYTES_FILE,
     mode=HOOK)
conn("admin_routes", b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
     b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nPOST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
     mode=ADMIN | HOOK)

if __name__ == "__main__":
    print("seeds written under", HERE, file=sys.stderr)
