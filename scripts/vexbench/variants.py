"""Target variants: the same server with one feature switched on, measured in the
same run as the server without it, so a feature's cost is a ratio taken side by side.

A profile set lists `variants = ["accesslog"]`; every backend target then gets a
twin `<backend>+accesslog` started with the variant's extra flags, and every peer
that knows the variant (nginx: an `access_log ... buffer=64k` line) a twin
`<peer>+accesslog`. `cost_rows` turns the summaries into one row per case and
target: CPU µs per request without and with the feature, and the ratio.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .results import summary_index


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    description: str
    server_args: tuple = ()      # our server; "{dir}" and "{target}" are filled in
    nginx_http: str = ""         # directives added to nginx's http {} block ("{dir}" filled in)


# nginx writes the same fields as our JSON access log, escaped for JSON, buffered as
# its documentation recommends for busy servers (64 KiB, flushed every second).
NGINX_JSON_LOG = (
    "log_format vexjson escape=json '{{\"time\":\"$time_iso8601\",\"client\":\"$remote_addr\","
    "\"port\":$remote_port,\"method\":\"$request_method\",\"target\":\"$request_uri\","
    "\"status\":$status,\"bytes\":$body_bytes_sent,\"duration_us\":$request_time,"
    "\"user_agent\":\"$http_user_agent\",\"referer\":\"$http_referer\","
    "\"request_id\":\"$request_id\"}}';\n"
    "    access_log {dir}/nginx.access.log vexjson buffer=64k flush=1s;")

RATELIMIT_CONF = Path(__file__).resolve().parents[2] / "bench" / "profiles" / "ratelimit.yaml"

# nginx with the same rules: limit_req and limit_conn keyed on the address.
NGINX_LIMITS = (
    "limit_req_zone $binary_remote_addr zone=all:1m rate=1000000r/s;\n"
    "    limit_req zone=all burst=1000000 nodelay;\n"
    "    limit_conn_zone $binary_remote_addr zone=conns:1m;\n"
    "    limit_conn conns 65535;\n"
    "    deny 10.0.0.0/8;\n    allow 127.0.0.0/8;\n    allow ::1;\n    deny all;")

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
}


class VariantError(ValueError):
    pass


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise VariantError(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
    return VARIANTS[name]


def server_args(v: Variant, target: str, directory: Path) -> list:
    return [a.format(dir=directory, target=target) for a in v.server_args]


def nginx_http(v: Variant, directory: Path) -> str:
    return v.nginx_http.format(dir=directory)


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
