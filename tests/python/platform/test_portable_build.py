"""`make PORTABLE=1` really runs the FreeBSD/macOS code paths.

The portable binaries must import none of the Linux-only calls that have a
fallback (so the fallbacks are what the server and conformance tests just
ran), and every Linux-only header in the shared sources must sit behind
`#if ... __linux__`, so that the same files compile on FreeBSD and macOS.
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# Linux-only calls a portable build must not use; each has a POSIX fallback.
LINUX_ONLY = {"accept4", "eventfd", "memfd_create", "sendfile", "sendfile64", "syscall",
              "epoll_create1", "epoll_ctl", "epoll_wait"}
# The backends only ever built on Linux, the minimal reference servers (raw epoll and
# raw liburing by design: `make ref` builds them on Linux only), and Linux's own headers.
LINUX_BACKENDS = {"src/backends/epoll.c", "src/backends/io_uring.c",
                  "bench/ref_epoll.c", "bench/ref_uring.c"}
LINUX_HEADER = re.compile(r"#\s*include\s*<(linux/|sys/(epoll|eventfd|sendfile|syscall)\.h|liburing)")


def imported(path):
    if not shutil.which("nm"):
        pytest.skip("nm (binutils) not installed")
    out = subprocess.run(["nm", "-u", path], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


def built(name):
    path = os.path.join(ROOT, "build", name)
    if not os.path.exists(path):
        pytest.skip(f"build/{name} not built (make PORTABLE=1 / make BACKEND=poll)")
    return path


@pytest.mark.parametrize("binary", ["production_server", "test_conformance", "vex_probe"])
def test_portable_binaries_import_no_linux_only_call(binary):
    used = imported(built(f"poll-portable/{binary}")) & LINUX_ONLY
    assert not used, f"build/poll-portable/{binary} imports {sorted(used)}"


def test_linux_build_does_import_them():
    """The check above can fail: the ordinary Linux build uses these calls."""
    used = imported(built("poll/production_server"))
    assert {"accept4", "eventfd", "memfd_create", "sendfile", "syscall"} <= used


def sources():
    for top in ("src", "include", "tools", "bench"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def unguarded_linux_includes(text):
    """Lines with a Linux-only #include not inside an #if naming __linux__."""
    stack, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if re.match(r"#\s*if", s):
            stack.append("__linux__" in s)
        elif re.match(r"#\s*(elif|else)", s) and stack:
            stack[-1] = "__linux__" in s and not s.startswith("#else")
        elif re.match(r"#\s*endif", s) and stack:
            stack.pop()
        elif LINUX_HEADER.match(s) and not any(stack):
            bad.append(f"{n}: {s}")
    return bad


def test_guard_check_can_fail():
    assert unguarded_linux_includes("#include <linux/openat2.h>\n")
    assert unguarded_linux_includes("#ifdef __linux__\n#else\n#include <sys/epoll.h>\n#endif\n")
    assert not unguarded_linux_includes("#if defined(__linux__) && !defined(X)\n"
                                        "#include <linux/openat2.h>\n#endif\n")


def test_linux_headers_only_behind_linux_guards():
    bad = {}
    for rel in sources():
        if rel in LINUX_BACKENDS:
            continue
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            found = unguarded_linux_includes(f.read())
        if found:
            bad[rel] = found
    assert not bad, bad
