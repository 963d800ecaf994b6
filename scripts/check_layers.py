#!/usr/bin/python3
"""Check that src/server's imports run one way and form no circle.

Layers, lowest first: library (vex_net.h) -> common modules (config, platform,
metrics, response, the HTTP parser) -> transport -> http1 -> handlers ->
server (the assembly: main, worker, admit, prometheus, ...). A file may
include its own layer or any lower one; a layer's *_internal.h only its own
files. Modules (x.c with x.h; http1*.c/.h as one, transport*.c/.h as one)
must form no include cycle.

Exit 0 when the tree obeys, 1 with one line per violation.
"""
import argparse
import os
import re
import sys

LAYERS = ["library", "common", "transport", "http1", "handlers", "server"]

# file stem (without .c/.h) -> layer; anything not listed is "server".
STEMS = {
    "vex_net": "library",
    "config": "common", "config_keys": "common", "config_file": "common",
    "listeners": "common", "metrics": "common", "response": "common",
    "bench_slowdown": "common", "http_parser": "common", "http_chars": "common",
    "platform": "common", "log_config": "common", "request_id": "common",
    "tls_context": "common", "cidr": "common", "mix64": "common", "ratelimit": "common",
    "proxy_proto": "common", "realip": "common",
    "connlimit": "common", "access_config": "common", "auth_basic": "common",
    "compress": "common", "accept_encoding": "common",
    "transport": "transport", "transport_tcp": "transport", "transport_tls": "transport",
    "http1": "http1", "http1_internal": "http1", "http1_out": "http1", "http1_body": "http1",
    "routes": "handlers", "handlers": "handlers", "static_files": "handlers",
    "limit_policy": "handlers", "access": "handlers",
}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    return STEMS.get(os.path.splitext(os.path.basename(path))[0], "server")


def module_of(path):
    """x.c and x.h are one module; a layer split over files sharing one
    private header (http1*.c, transport*.c, config*.c) is one module too."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for group in ("http1", "transport", "config"):
        if stem.startswith(group):
            return group
    return stem


def scan(src_dir):
    """{file: [included basenames]} for every .c/.h under src_dir."""
    out = {}
    for name in sorted(os.listdir(src_dir)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(src_dir, name), encoding="utf-8") as f:
                out[name] = [os.path.basename(i) for i in INCLUDE_RE.findall(f.read())]
    return out


def violations(files):
    bad = []
    for name, incs in files.items():
        mine = LAYERS.index(layer_of(name))
        for inc in incs:
            theirs = LAYERS.index(layer_of(inc))
            if theirs > mine:
                bad.append(f"{name} ({LAYERS[mine]}) includes {inc} ({LAYERS[theirs]}): "
                           f"imports must run downwards")
            if inc.endswith("_internal.h") and layer_of(inc) != layer_of(name):
                bad.append(f"{name} includes {inc}: another layer's internals")
    # module graph: x.c and x.h are one module; an edge per include
    graph = {}
    for name, incs in files.items():
        m = module_of(name)
        graph.setdefault(m, set()).update(module_of(i) for i in incs if module_of(i) != m)
    state = {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cyc = stack[stack.index(n):] + [n]
                bad.append("include cycle: " + " -> ".join(cyc))
            elif n in graph and not state.get(n):
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", nargs="?", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src", "server"),
        help="the server's source folder (default: src/server)")
    args = ap.parse_args(argv)
    bad = violations(scan(args.src))
    for line in bad:
        print(f"check_layers: {line}")
    if not bad:
        print(f"check_layers: {args.src}: imports run one way, no cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
