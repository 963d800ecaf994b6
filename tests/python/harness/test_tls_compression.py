"""The tls variant (a TLS listener on our server and nginx, the load over https), the
h2load and s_time tools, and the compression cases: how they are parsed, what command
lines and configurations they render, and, with the real binaries, that the load
reaches the TLS port and that sessions resume."""
import json
import os
import zlib

import pytest

from vexbench_testlib import FIXTURES, built, have
from vexbench import h2load, peers, s_time, variants
from vexbench.profiles import Profile, ProfileError, load_profiles, make_plan
from vexbench.server import ServerProcess
from vexbench.trial import run_trial


def test_tls_set_runs_tls_variant_over_the_cases_of_issue_11():
    plan = make_plan("tls")
    assert plan.variants == ("tls",)
    assert [c.id for c in plan.cases] == ["plaintext@c100", "static-64k@c100", "churn@c20",
                                         "tls-resume@c20", "tls-serial-full@c1",
                                         "tls-serial-resume@c1"]
    ps = load_profiles()
    assert ps["tls-resume"].tool == "h2load" and not ps["tls-resume"].keepalive
    assert ps["tls-serial-full"].tool == "s_time" and not ps["tls-serial-full"].tls_resume
    assert ps["tls-serial-resume"].tls_resume
    assert ps["tls-serial-full"].schemes == ("https",)
    assert ps["plaintext"].schemes == ("http", "https")
    assert ps["memory-idle"].schemes == ("http",)


def test_compression_set_and_accept_encodings():
    plan = make_plan("compression")
    ps = {c.profile.name: c.profile for c in plan.cases}
    assert sorted(ps) == ["json-64k", "json-64k-br", "json-64k-gzip", "json-64k-zstd"]
    assert ps["json-64k"].accept_encodings == ()
    assert ps["json-64k-gzip"].accept_encodings == ("gzip",)
    assert ps["json-64k-br"].path == "/static/65536.json"
    p = Profile(name="x", headers=(("accept-encoding", "br;q=0, gzip;q=0.5, zstd"),))
    assert p.accept_encodings == ("gzip", "zstd")
    assert Profile(name="y", headers=(("Accept-Encoding", "br;q=abc"),)).accept_encodings == ("br",)


def test_profile_rules_of_the_new_tools():
    with pytest.raises(ProfileError, match="tls_resume needs tool s_time"):
        Profile.from_dict("x", {"tls_resume": True})
    with pytest.raises(ProfileError, match="connections = \\[1\\]"):
        Profile.from_dict("x", {"tool": "s_time", "connections": [4]})
    with pytest.raises(ProfileError, match="h2load profiles need requests"):
        Profile.from_dict("x", {"tool": "h2load"})
    with pytest.raises(ProfileError, match="GET without a body"):
        Profile.from_dict("x", {"tool": "h2load", "requests": 10, "method": "POST"})


def test_s_time_and_h2load_commands():
    ps = load_profiles()
    assert s_time.command("https://127.0.0.1:8443/", ps["tls-serial-full"], 2.5) == [
        "taskset", "-c", "1", "openssl", "s_time", "-connect", "127.0.0.1:8443", "-new",
        "-time", "3", "-www", "/"]
    assert "-reuse" in s_time.command("https://h:1/x", ps["tls-serial-resume"], 1, cpu=None)
    with pytest.raises(ValueError, match="https URL"):
        s_time.command("http://h:1/", ps["tls-serial-full"], 1)
    assert h2load.command("https://127.0.0.1:8443/", ps["tls-resume"], 20) == [
        "taskset", "-c", "1", "h2load", "--h1", "-t", "1", "-n", "10000", "-c", "20",
        "-H", "Connection: close", "https://127.0.0.1:8443/"]


def test_h2load_and_s_time_parsers_on_real_output():
    f = h2load.figures((FIXTURES / "h2load_h1_close_tls.txt").read_text())
    assert f["requests"] == 20000 and f["duration_s"] == pytest.approx(14.34)
    assert f["rps"] == pytest.approx(20000 / 14.34)
    assert f["non_2xx"] == 0 and f["socket_errors"] == 0
    assert f["latency_ms"] == {"mean": pytest.approx(7.22), "max": pytest.approx(415.18)}
    bad = "finished in 1.00s, 5.00 req/s, 0B/s\nrequests: 10 total, 10 started, 8 done, " \
          "5 succeeded, 3 failed, 2 errored, 0 timeout\nstatus codes: 5 2xx, 0 3xx, 3 4xx, 0 5xx\n"
    g = h2load.figures(bad)
    assert (g["requests"], g["non_2xx"], g["socket_errors"]) == (8, 3, 4)
    with pytest.raises(ValueError):
        h2load.figures("starting benchmark...\n")
    n = s_time.figures((FIXTURES / "s_time_new.txt").read_text(), 2.0)
    r = s_time.figures((FIXTURES / "s_time_reuse.txt").read_text(), 2.0)
    assert (n["requests"], r["requests"]) == (1317, 1915)
    assert r["rps"] == pytest.approx(957.5) and r["bytes"] == 1915 * 183
    with pytest.raises(ValueError):
        s_time.figures("no summary", 1.0)


def test_tls_variant_renders_our_config_and_nginx_ssl_server(tmp_path):
    v = variants.get("tls")
    ctx = {"cert": "/c/server.pem", "key": "/c/server.key", "ca": "/c/ca.pem"}
    assert v.scheme == "https"
    assert variants.server_args(v, "epoll+tls", tmp_path, ctx) == \
        ["--config", f"{tmp_path}/epoll+tls.yaml"]
    files = variants.server_files(v, "epoll+tls", tmp_path, ctx)
    (path, text), = files.items()
    assert path == tmp_path / "epoll+tls.yaml"
    assert '  - "{host}:{port}"\n' in text       # the ports are filled at each start
    assert ('  - {address: "{host}", port: {tls_port}, tls: true, '
            'certificate: "/c/server.pem", key: "/c/server.key"}') in text
    assert variants.server_files(variants.get("accesslog"), "epoll+x", tmp_path) == {}
    server = variants.nginx_server(v, tmp_path, ctx, host="127.0.0.1", tls_port=8443)
    conf = peers.nginx_config(8080, tmp_path, tmp_path, 100, None, None, "", server)
    assert "listen 127.0.0.1:8080 backlog=4096;" in conf
    assert "listen 127.0.0.1:8443 ssl backlog=4096;" in conf
    for line in ("ssl_certificate /c/server.pem;", "ssl_certificate_key /c/server.key;",
                 "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_prefer_server_ciphers on;",
                 "ssl_session_tickets on;", "ssl_session_cache builtin;",
                 "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
                 "ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                 "TLS_CHACHA20_POLY1305_SHA256;"):
        assert line in conf, line
    assert "ssl" not in peers.nginx_config(8080, tmp_path, tmp_path, 100, None)


def test_nginx_suites_are_the_servers_own():
    """The nginx side must copy src/server/tls_context.c's lists, not drift from them."""
    from vexbench_testlib import ROOT
    src = (ROOT / "src" / "server" / "tls_context.c").read_text()
    joined = "".join(l.strip().strip('"\\ ') for l in
                     src.split("#define TLS12_CIPHERS", 1)[1].split("#define TLS13", 1)[0]
                     .splitlines())
    assert joined.replace('""', "") == variants.TLS12_CIPHERS
    assert f'#define TLS13_SUITES "{variants.TLS13_SUITES}"' in src
    assert f'#define GROUPS "{variants.TLS_GROUPS}"' in src


def test_nginx_gzip_matches_our_default_level():
    from vexbench_testlib import ROOT
    conf = peers.nginx_config(8080, ROOT, ROOT, 10, None)
    assert f"gzip_comp_level {peers.NGINX_GZIP_LEVEL};" in conf
    assert "gzip_types text/plain application/json;" in conf
    assert "types { application/json json; }" in conf
    readme = (ROOT / "README.md").read_text()
    assert f"| `gzip-level` | 1–9 | {peers.NGINX_GZIP_LEVEL} | live |" in readme


def test_json_body_is_exact_json_and_compressible(tmp_path):
    for n in (2, 3, 57, 1000, 65536):
        b = peers.json_body(n)
        assert len(b) == n
        json.loads(b)
    assert 5 < 65536 / len(zlib.compress(peers.json_body(65536), 6)) < 30
    www = peers.make_www(tmp_path, {"/static/65536.json", "/static/10.bin"})
    assert (www / "static" / "65536.json").read_bytes() == peers.json_body(65536)


def test_targets_take_part_by_scheme_and_encoding(tmp_path):
    ps = load_profiles()
    plain = ServerProcess(["true"], name="a")
    tls = ServerProcess(["true"], name="b", scheme="https")
    assert plain.runs(ps["plaintext"]) and tls.runs(ps["plaintext"])
    assert not plain.runs(ps["tls-serial-full"]) and tls.runs(ps["tls-serial-full"])
    assert plain.runs(ps["memory-idle"]) and not tls.runs(ps["memory-idle"])
    gz = ServerProcess(["true"], name="c")
    gz.encodings = ("gzip",)
    assert gz.runs(ps["json-64k-gzip"]) and gz.runs(ps["json-64k"])
    assert not gz.runs(ps["json-64k-br"]) and not gz.runs(ps["json-64k-zstd"])
    assert plain.runs(ps["json-64k-br"])                    # None: any coding
    with pytest.raises(ValueError, match="scheme"):
        ServerProcess(["true"], scheme="ftp")


def test_https_url_and_files_filled_at_start(tmp_path):
    srv = ServerProcess(["x", "--port", "{port}", "--tls", "{tls_port}"], scheme="https",
                        port=8080, tls_port=8443,
                        files={tmp_path / "c.yaml": "a: {host}:{port}\nb: {tls_port}\nc: {x}\n"})
    assert srv.url("/p") == "https://127.0.0.1:8443/p"
    assert srv._fill("{host}:{port}/{tls_port}") == "127.0.0.1:8080/8443"
    assert ServerProcess(["x"], port=8080).url("/") == "http://127.0.0.1:8080/"


def _start_tls(tmp_path, backend="epoll"):
    v = variants.get("tls")
    ctx = variants.prepare(["tls"], tmp_path)["tls"]
    srv = ServerProcess.vex(built(backend), cpu=None, stats_interval=0,
                            extra_args=variants.server_args(v, "t+tls", tmp_path, ctx),
                            name=f"{backend}+tls", log_dir=tmp_path / "logs",
                            listen_flags=False, scheme="https",
                            files=variants.server_files(v, "t+tls", tmp_path, ctx))
    return srv.start(), ctx


BACKENDS = os.environ.get("VEX_TEST_BACKENDS", "epoll").split()


@pytest.mark.skipif(not have("openssl", "h2load", "wrk"), reason="needs openssl, h2load, wrk")
@pytest.mark.parametrize("backend", BACKENDS)
def test_real_tls_target_takes_the_load_over_https_and_resumes(tmp_path, backend):
    srv, ctx = _start_tls(tmp_path, backend)
    try:
        assert srv.tls_port and srv.tls_port != srv.port
        assert "tls: true" in srv.config_text and str(srv.tls_port) in srv.config_text
        assert srv.get("/")[0] == 200                # the plain listener still answers
        ps = load_profiles()
        t = run_trial(srv, ps["plaintext"], connections=4, duration=1, work_dir=tmp_path / "w",
                      loadgen_cpu=None)
        assert t["ok"], t["error"]
        assert t["command"][-1].startswith(f"https://127.0.0.1:{srv.tls_port}/")
        d = t["figures"]["metrics_delta"]
        assert d["vex_tls_handshakes_total"] == 4 and t["flags"] == []
        assert d["vex_requests_total"] == t["figures"]["server_requests"] > 100
        prof = ps["tls-resume"].replace(requests=200, connections=(4,))
        t = run_trial(srv, prof, connections=4, work_dir=tmp_path / "w", loadgen_cpu=None)
        assert t["ok"], t["error"]
        d = t["figures"]["metrics_delta"]
        assert t["figures"]["requests"] == 200 and t["flags"] == []
        assert d["vex_tls_handshakes_total"] == 200
        assert d["vex_tls_resumed_total"] >= 200 - 4     # each client's first is full
        t = run_trial(srv, ps["tls-serial-full"], connections=1, duration=1,
                      work_dir=tmp_path / "w", loadgen_cpu=None)
        assert t["ok"], t["error"]
        d = t["figures"]["metrics_delta"]
        assert d["vex_tls_handshakes_total"] == t["figures"]["requests"] > 10
        assert d["vex_tls_resumed_total"] == 0
    finally:
        srv.stop()


@pytest.mark.skipif(not have("openssl", "nginx"), reason="needs openssl and nginx")
def test_real_nginx_tls_variant_serves_the_same_certificate_and_resumes(tmp_path):
    import subprocess
    ctx = variants.prepare(["tls"], tmp_path)["tls"]
    srv = peers.make_peer("nginx", {"/"}, variant="tls", variant_ctx=ctx, cpu=None,
                          log_dir=tmp_path)
    with srv:
        assert srv.name == "nginx+tls" and srv.url("/").startswith("https://")
        sess = tmp_path / "sess"
        seen = []
        for args in (["-sess_out", str(sess)], ["-sess_in", str(sess)]):
            r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.tls_port}",
                                "-CAfile", ctx["ca"], "-ign_eof", *args],
                               input="GET / HTTP/1.0\r\n\r\n",
                               capture_output=True, text=True, timeout=20)
            seen += [l for l in r.stdout.splitlines()
                     if l.startswith(("New,", "Reused,", "Verify return code"))]
        assert seen == ["New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256",
                        "Verify return code: 0 (ok)",
                        "Reused, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256",
                        "Verify return code: 0 (ok)"]
