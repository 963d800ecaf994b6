"""Target variants: the same server with one feature switched on, measured in the
same run as the server without it, so a feature's cost is a ratio taken side by side.

A profile set lists `variants = ["accesslog"]`; every backend target then gets a
twin `<backend>+accesslog` started with the variant's extra flags, and every peer
that knows the variant (nginx: an `access_log ... buffer=64k` line) a twin
`<peer>+accesslog`. `cost_rows` turns the summaries into one row per case and
target: CPU µs per request without and with the feature, and the ratio.

A variant may also change how the target is reached: `scheme = "https"` gives our server
a second, TLS listener (its `server_config` file, written when the server starts, with
both listeners; the plain one still answers /readyz and /metrics) and nginx a `listen
... ssl` port (`nginx_server`); the load then goes to that port over https. `setup` runs
once per run before any target starts (e.g. makes the test CA and certificate) and
returns the names its templates use. Templates are filled by name (`{dir}`, `{target}`,
`{host}`, `{port}`, `{tls_port}` and whatever setup returned), other braces are kept.
"""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Callable, Optional

from .results import summary_index


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    description: str
    server_args: tuple = ()      # our server; "{dir}" and "{target}" are filled in
    nginx_http: str = ""         # directives added to nginx's http {} block ("{dir}" filled in)
    scheme: str = "http"         # "https": the load goes to the TLS listener
    server_config: str = ""      # our server's --config file (YAML), written at each start
    nginx_server: str = ""       # directives added to nginx's server {} block
    setup: Optional[Callable] = None   # setup(directory) -> {name: value}, once per run


# nginx writes the same fields as our JSON access log, escaped for JSON, buffered as
# its documentation recommends for busy servers (64 KiB, flushed every second).
NGINX_JSON_LOG = (
    "log_format vexjson escape=json '{\"time\":\"$time_iso8601\",\"client\":\"$remote_addr\","
    "\"port\":$remote_port,\"method\":\"$request_method\",\"target\":\"$request_uri\","
    "\"status\":$status,\"bytes\":$body_bytes_sent,\"duration_us\":$request_time,"
    "\"user_agent\":\"$http_user_agent\",\"referer\":\"$http_referer\","
    "\"request_id\":\"$request_id\"}';\n"
    "    access_log {dir}/nginx.access.log vexjson buffer=64k flush=1s;")

RATELIMIT_CONF = Path(__file__).resolve().parents[2] / "bench" / "profiles" / "ratelimit.yaml"

# nginx with the same rules: limit_req and limit_conn keyed on the address.
NGINX_LIMITS = (
    "limit_req_zone $binary_remote_addr zone=all:1m rate=1000000r/s;\n"
    "    limit_req zone=all burst=1000000 nodelay;\n"
    "    limit_conn_zone $binary_remote_addr zone=conns:1m;\n"
    "    limit_conn conns 65535;\n"
    "    deny 10.0.0.0/8;\n    allow 127.0.0.0/8;\n    allow ::1;\n    deny all;")

# ---------------------------------------------------------------------------- TLS
# One certificate for every target: an ECDSA P-256 leaf signed by a test CA made per run
# (no key is committed). ECDSA keeps the handshake's signature cheap, so server-side
# handshake work (ECDHE, tickets, buffers) is what the figure shows, not RSA alone.
TLS_CURVE = "prime256v1"


def make_certificate(directory: Path) -> dict:
    """A test CA and a server certificate for 127.0.0.1/localhost under directory/tls/:
    {'cert', 'key', 'ca'} paths. openssl CLI, as the server's TLS tests do."""
    d = Path(directory) / "tls"
    d.mkdir(parents=True, exist_ok=True)
    ca, key, csr, cert = d / "ca", d / "server.key", d / "server.csr", d / "server.pem"
    ext = d / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{TLS_CURVE}", "-nodes"]
    steps = [
        ["openssl", "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
         "-days", "2", "-subj", "/CN=vexbench test CA"],
        ["openssl", "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
         "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext)],
    ]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise VariantError(f"tls setup: {' '.join(cmd[:3])} failed: {r.stderr.strip()[-300:]}")
    for f in d.iterdir():           # nginx workers may run as an unprivileged user
        f.chmod(0o644)
    d.chmod(0o755)
    return {"cert": str(cert), "key": str(key), "ca": f"{ca}.pem"}


# Our server: the harness's plain listener (readiness, /metrics) and a TLS one with the
# server's built-in settings (src/server/tls_context.c: TLS 1.2/1.3, Mozilla intermediate,
# server preference, tickets and a session cache).
TLS_SERVER_CONFIG = """# generated by scripts/vexbench/variants.py (tls)
listen:
  - "{host}:{port}"
  - {address: "{host}", port: {tls_port}, tls: true, certificate: "{cert}", key: "{key}"}
"""

# The same suites, groups and preference in nginx (TLS 1.3 suites need ssl_conf_command;
# nginx's own default order would pick AES-256 where ours picks AES-128), tickets on and a
# per-worker session cache (OpenSSL's built-in one, as ours).
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                 "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")
TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
TLS_GROUPS = "X25519:prime256v1:secp384r1"
NGINX_TLS = (
    "listen {host}:{tls_port} ssl backlog=4096;\n"
    "        ssl_certificate {cert};\n"
    "        ssl_certificate_key {key};\n"
    "        ssl_protocols TLSv1.2 TLSv1.3;\n"
    f"        ssl_ciphers {TLS12_CIPHERS};\n"
    f"        ssl_conf_command Ciphersuites {TLS13_SUITES};\n"
    f"        ssl_ecdh_curve {TLS_GROUPS};\n"
    "        ssl_prefer_server_ciphers on;\n"
    "        ssl_session_tickets on;\n"
    "        ssl_session_cache builtin;")

VARIANTS = {
    "ratelimit": Variant(
        "ratelimit", "a rate limit on every request, limit-conn, trusted proxies and an "
        "allow/deny list, never triggered", server_args=("--config", str(RATELIMIT_CONF)),
        nginx_http=NGINX_LIMITS),
    "accesslog": Variant(
        "accesslog", "JSON access log to a file (buffered per worker)",
        server_args=("--access-log", "{dir}/{target}.access.log"),
        nginx_http=NGINX_JSON_LOG),
    # The access log with nginx's buffer size instead of our default (1 MiB):
    # what the larger buffer saves (fewer hand-offs to the writer thread).
    "accesslog-64k": Variant(
        "accesslog-64k", "JSON access log to a file with 64 KiB buffers (nginx's buffer=64k)",
        server_args=("--access-log", "{dir}/{target}.access.log", "--log-buffer", "65536")),
    # The same lines written to /dev/null: the server's own cost of logging
    # (formatting, buffering, the writes) without the file system's.
    "accesslog-null": Variant(
        "accesslog-null", "JSON access log to /dev/null (the server's part of the cost)",
        server_args=("--access-log", "/dev/null"),
        nginx_http=NGINX_JSON_LOG.replace("{dir}/nginx.access.log", "/dev/null")),
    "tls": Variant(
        "tls", "HTTPS: a TLS listener (same certificate, suites and groups as nginx's), "
        "the load over https", scheme="https",
        server_args=("--config", "{dir}/{target}.yaml"),
        server_config=TLS_SERVER_CONFIG, nginx_server=NGINX_TLS, setup=make_certificate),
}


class VariantError(ValueError):
    pass


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise VariantError(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
    return VARIANTS[name]


def fill(template: str, **names) -> str:
    """`{name}` replaced for each name given; every other brace kept (YAML, nginx, JSON)."""
    for k, v in names.items():
        template = template.replace("{" + k + "}", str(v))
    return template


def server_args(v: Variant, target: str, directory: Path, ctx: dict | None = None) -> list:
    return [fill(a, dir=directory, target=target, **(ctx or {})) for a in v.server_args]


def server_files(v: Variant, target: str, directory: Path, ctx: dict | None = None) -> dict:
    """{path: template} our server needs written at each start ({host}, {port}, {tls_port}
    are left for ServerProcess to fill)."""
    if not v.server_config:
        return {}
    return {Path(directory) / f"{target}.yaml": fill(v.server_config, dir=directory, **(ctx or {}))}


def nginx_http(v: Variant, directory: Path, ctx: dict | None = None) -> str:
    return fill(v.nginx_http, dir=directory, **(ctx or {}))


def nginx_server(v: Variant, directory: Path, ctx: dict | None = None, **names) -> str:
    return fill(v.nginx_server, dir=directory, **(ctx or {}), **names)


def prepare(names, directory: Path) -> dict:
    """Run each variant's setup once: {variant: its names}."""
    out = {}
    for n in names:
        v = get(n)
        out[n] = v.setup(Path(directory)) if v.setup else {}
    return out


def split(target: str) -> tuple:
    """'io_uring+accesslog' -> ('io_uring', 'accesslog'); 'epoll' -> ('epoll', None)."""
    base, _, var = target.partition("+")
    return base, var or None


def cost_rows(doc: dict) -> list:
    """[(case, base target, variant, base CPU µs/req, variant CPU µs/req, ratio)] for every
    variant target that has a base target summary in the same case."""
    idx = summary_index(doc)
    out = []
    for (case, target), s in sorted(idx.items()):
        base, var = split(target)
        if not var or (case, base) not in idx:
            continue
        b = idx[(case, base)]["metrics"].get("cpu_us_per_req")
        v = s["metrics"].get("cpu_us_per_req")
        if not b or not v:
            continue
        out.append((case, base, var, b["median"], v["median"], v["median"] / b["median"]))
    return out


def cost_lines(doc: dict) -> list:
    """Markdown (and terminal) lines: the cost of each variant, ratio to its base."""
    rows = cost_rows(doc)
    if not rows:
        return []
    L = ["## What each feature costs (same run, CPU µs per request)", "",
         "| case | target | without | with | ratio |", "|---|---|---|---|---|"]
    for case, base, var, b, v, r in rows:
        L.append(f"| {case} | {base} +{var} | {b:.2f} | {v:.2f} | {r:.3f}× |")
    L.append("")
    return L
