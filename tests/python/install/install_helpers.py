"""Shared by the install tests: the repository, the backends, make without the
outer make's flags."""
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PREFIX = "/usr/local"
MAKE_TIMEOUT = 600


def version():
    with open(os.path.join(ROOT, "include", "vex_net.h"), encoding="utf-8") as f:
        return re.search(r'#define VEX_NET_VERSION "([^"]+)"', f.read()).group(1)


def clean_env(**extra):
    """The environment without the outer make's flags (make test runs us)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(extra)
    return env


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-s", "-C", ROOT, *args],
                          env=clean_env(), capture_output=True, text=True, timeout=MAKE_TIMEOUT)


def backends():
    """VEX_TEST_BACKENDS (as make test sets it), else every backend available here."""
    only = os.environ.get("VEX_TEST_BACKENDS", "").split()
    if only:
        return [b for b in only if b in ("epoll", "io_uring", "kqueue", "poll")]
    out = make("--eval", "print-available: ; @echo $(AVAILABLE)", "print-available")
    return out.stdout.split()


BACKENDS = backends()
