"""Helpers for the production_server tests: the Server process wrapper and a
small HTTP/1.1 response reader (standard library only)."""
import fcntl
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

LISTEN_RE = re.compile(r"^vex_net production_server listening on (\S+):(\d+) "
                       r"backend=(\S+) threads=(\d+) pid=(\d+)$")

# What ASan, LSan, UBSan and TSan print when they find something.
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                          r"WARNING: ThreadSanitizer|"
                          r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)")


class Server:
    """A running production_server; stdout is collected by a thread."""

    def __init__(self, binary, args=(), ready_timeout=10, prefix=(), listen=True):
        self.binary = binary
        # listen=False: the addresses come from a --config file's listen list
        self.args = (["--host", "127.0.0.1", "--port", "0"] if listen else []) + \
            ["--stats-interval", "0"]
        self.args += list(args)
        # stderr goes to a file, not a pipe: a sanitizer report (or any
        # chatter) can never fill a pipe nobody reads and stall the server.
        # O_APPEND: read_stderr seeks the shared file offset to 0, and the
        # server must not write over the start of its own log meanwhile.
        self._err = tempfile.TemporaryFile(mode="w+")
        fd = self._err.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        self.proc = subprocess.Popen(list(prefix) + [binary] + self.args, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        self.pid = self.proc.pid
        line = self._first_line(ready_timeout)
        m = LISTEN_RE.match(line.rstrip("\n"))
        if not m:
            rc = self.proc.poll()
            err = self.read_stderr() if rc is not None else ""
            if rc == 3:
                pytest.skip(f"backend cannot run here: {err.strip()}")
            self.kill()
            raise AssertionError(f"bad listening line {line!r} rc={rc} stderr={err!r}")
        self.listen_line = line
        self.port = int(m.group(2))
        self.backend = m.group(3)
        self.threads = int(m.group(4))
        assert int(m.group(5)) == self.pid
        self.out = []
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.stderr = ""

    def _first_line(self, timeout):
        end = time.monotonic() + timeout
        buf = ""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                line = self.proc.stdout.readline()
                return line
            if self.proc.poll() is not None:
                return buf
        return buf

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.out.append(line)

    # -- control ---------------------------------------------------------
    def send_signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        self.stderr = self.read_stderr()
        return rc

    def read_stderr(self):
        self._err.seek(0)
        return self._err.read()

    def sanitizer_report(self):
        """The sanitizer's report on stderr, or "" (plain builds: always "")."""
        err = self.read_stderr()
        m = SANITIZER_RE.search(err)
        return err[max(0, m.start() - 200):][:6000] if m else ""

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def alive(self):
        return self.proc.poll() is None

    # -- introspection ---------------------------------------------------
    def fds(self):
        if not os.path.isdir(f"/proc/{self.pid}/fd"):
            return fds_by_lsof(self.pid)      # macOS, FreeBSD without procfs
        out = {}
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out[int(fd)] = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                pass
        return out

    def rss_bytes(self):
        if not os.path.exists(f"/proc/{self.pid}/status"):
            ps = subprocess.run(["ps", "-o", "rss=", "-p", str(self.pid)],
                                capture_output=True, text=True)
            return int(ps.stdout.strip() or 0) * 1024
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stats_blocks(self):
        """Parsed SERVER STATISTICS blocks printed so far."""
        text = "".join(self.out)
        blocks = []
        for body in re.findall(r"=== SERVER STATISTICS ===\n(.*?)=========================\n",
                               text, re.S):
            d = {}
            for line in body.splitlines():
                k, v = line.split(":", 1)
                d[k.strip()] = v.strip()
            blocks.append(d)
        return blocks

    # -- clients ---------------------------------------------------------
    def connect(self, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def request(self, raw, timeout=5):
        """Send raw bytes on a new connection, read one response."""
        with self.connect(timeout) as s:
            s.sendall(raw)
            return read_response(s)

    def get(self, path, headers="", method="GET"):
        return self.request(f"{method} {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode(),)

    def metrics(self):
        resp = self.get("/metrics")
        assert resp.status == 200
        out = {}
        for line in resp.body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out


# ---- HTTP response reading ----------------------------------------------

class Response:
    def __init__(self, status, reason, version, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers          # lower-cased name -> list of values
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        v = self.headers.get(name.lower())
        return v[0] if v else default

    def __repr__(self):
        return f"<Response {self.status} {self.headers} body={self.body[:80]!r}>"


class Reader:
    """Buffered reader over a socket so pipelined responses can be split."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("EOF")
        self.buf += data

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_only=False):
        while True:
            head = self.read_until(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
            status = int(status)
            headers = {}
            for line in lines[1:]:
                if not line:
                    continue
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), []).append(v.strip())
            if 100 <= status < 200:
                continue        # interim response
            break
        body = b""
        if head_only or status in (204, 304):
            pass
        elif "content-length" in headers:
            body = self.read_n(int(headers["content-length"][0]))
        elif "chunked" in headers.get("transfer-encoding", [""])[0]:
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self.read_until(b"\r\n")
                    break
                body += self.read_n(size)
                self.read_n(2)
        else:
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
            body, self.buf = self.buf, b""
        return Response(status, reason, version, headers, body, head)


def read_response(sock, head_only=False):
    return Reader(sock).response(head_only)


def wait_closed(sock, timeout=5):
    """True if the peer closes (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def wait_for(pred, timeout=5, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except (AssertionError, OSError, ConnectionError, KeyError):
            pass                     # e.g. a 503 while at the connection limit
        time.sleep(step)
    return pred()


def admin_port(srv, timeout=5):
    """The --admin-port 0 listener's port, from the server's stdout."""
    found = []

    def seen():
        for line in srv.out:
            m = re.match(r"^vex_net production_server admin on \S+:(\d+)", line)
            if m:
                found.append(int(m.group(1)))
                return True
        return False
    assert wait_for(seen, timeout=timeout), "".join(srv.out)
    return found[0]


def fds_by_lsof(pid):
    """{fd: name} of pid's numbered descriptors from lsof(8): where there is no
    /proc/PID/fd (macOS has lsof in its base system, FreeBSD in pkg lsof)."""
    r = subprocess.run(["lsof", "-n", "-P", "-w", "-p", str(pid), "-F", "fn"],
                       capture_output=True, text=True, timeout=30)
    out, fd = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("f"):
            fd = int(line[1:]) if line[1:].isdigit() else None
        elif line.startswith("n") and fd is not None:
            out[fd] = line[1:]
    return out


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768               # Linux's default; BSD/macOS use 49152 and up


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port for a listener a test configures itself, chosen below the
    kernel's ephemeral range: a port the kernel hands out (bind to 0) can be
    taken meanwhile as the local port of any client connection — a parallel
    test's — after which a listener on the wildcard address cannot bind it
    (seen in CI: a reload from 127.0.0.1:P to 0.0.0.0:P failed with
    EADDRINUSE). Free on both the host and the wildcard address when chosen."""
    import random
    rng = random.Random(os.getpid() * 1000003 + time.monotonic_ns())
    wild = "::" if family == socket.AF_INET6 else "0.0.0.0"
    for _ in range(500):
        port = rng.randrange(10000, _ephemeral_low())
        try:
            for h in (host, wild):
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.bind((h, port))
            return port
        except OSError:
            continue
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
