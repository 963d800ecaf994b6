"""Launch a server under test, wait until it is ready, read its counters, stop it.

Reusable outside the bench runner (ci/ imports it for interleaved A/B trials):

    from vexbench.server import ServerProcess
    with ServerProcess.vex("build/epoll/production_server", cpu=0) as srv:
        print(srv.url("/"), srv.counters(), srv.proc())

The process is pinned with `taskset -c CPU` (taskset execs, so the pid is the server's),
runs in its own session, logs stdout/stderr to files, and is stopped with SIGTERM
(SIGKILL to its process group only after a timeout).
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import metrics, procstats, stats_block

LOOPBACK = "127.0.0.1"
EXIT_UNAVAILABLE = 3      # contract: the backend cannot run here (message on stderr)
EXIT_BAD_FLAGS = 2


class ServerError(RuntimeError):
    """The server did not start, did not become ready, or died."""


class BackendUnavailable(ServerError):
    """The server exited with code 3: this backend cannot run on this machine."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_loopback(host: str) -> None:
    if host not in ("localhost", "::1") and not host.startswith("127."):
        raise ValueError(f"refusing non-loopback address {host!r}: load goes to loopback only")


def http_get(host: str, port: int, path: str, timeout: float = 2.0) -> tuple:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def metrics_counters(server: "ServerProcess", requests_metric: str = "vex_requests_total") -> dict | None:
    """Counter reader for servers that expose Prometheus text on /metrics."""
    try:
        status, body = server.get("/metrics")
    except OSError:
        return None
    if status != 200:
        return None
    scrape = metrics.parse(body.decode("utf-8", "replace"))
    return {"source": "metrics", "requests": scrape.get(requests_metric), "scrape": scrape}


class ServerProcess:
    def __init__(self, argv: list, *, name: str | None = None, cpu: int | None = 0,
                 host: str = LOOPBACK, port: int | None = None, ready_path: str = "/readyz",
                 log_dir: str | os.PathLike | None = None, counters=metrics_counters,
                 ready_timeout: float = 15.0, stop_signal: int = signal.SIGTERM,
                 stop_timeout: float = 15.0, include_children: bool = True, on_stop=None,
                 scheme: str = "http", tls_port: int | None = None, files: dict | None = None):
        """argv may hold `{host}` and `{port}` placeholders; port defaults to a free one.

        scheme "https": the load goes to a second, TLS port (`tls_port`, a free one at
        each start unless given, `{tls_port}` in argv and files) while readiness and
        counters keep the plain `port`. `files` ({path: template}) are written at each
        start with the same placeholders filled (a config file naming the ports)."""
        check_loopback(host)
        self.argv_template = [str(a) for a in argv]
        self.name = name or Path(self.argv_template[0]).name
        self.cpu = cpu
        self.host = host
        self.port = port
        self.ready_path = ready_path
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="vexbench-"))
        self.counter_reader = counters
        self.ready_timeout = ready_timeout
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.include_children = include_children
        self.on_stop = on_stop
        self.proc: subprocess.Popen | None = None
        self.command: list = []
        self.started_at = None
        self.result: dict | None = None
        self.lives: list = []             # stop results of earlier lives (restart())
        self.notes: list = []             # caveats to carry into the results
        self.serves = None                # profile -> bool: the cases it runs (None: all)
        self.encodings = None             # content codings it compresses with (None: any)
        self.config_text: str | None = None
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, not {scheme!r}")
        self.scheme = scheme
        self.tls_port_fixed = tls_port
        self.tls_port = tls_port
        self.files = dict(files or {})

    @classmethod
    def vex(cls, binary, *, cpu: int | None = 0, threads: int = 1, stats_interval: float = 5,
            extra_args=(), name: str | None = None, listen_flags: bool = True,
            **kw) -> "ServerProcess":
        """The vex_net production_server with the harness's standard flags.
        listen_flags=False leaves out --host/--port, which would replace a config
        file's `listen` list (a variant's file names the listeners itself)."""
        listen = ["--host", "{host}", "--port", "{port}"] if listen_flags else []
        argv = [str(binary), *listen, "--threads", str(threads),
                "--stats-interval", f"{stats_interval:g}", *map(str, extra_args)]
        return cls(argv, name=name or Path(binary).parent.name, cpu=cpu, **kw)

    # ------------------------------------------------------------------ lifecycle
    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"{self.name}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}.stderr.log"

    def start(self, attempts: int = 3) -> "ServerProcess":
        fixed_port = self.port is not None
        for attempt in range(attempts):
            port = self.port if fixed_port else free_port(self.host)
            try:
                self._spawn(port)
                self._wait_ready()
                return self
            except BackendUnavailable:
                raise
            except ServerError:
                rc = self.proc.poll() if self.proc else None
                self._kill()
                # a port taken between free_port() and bind(): try another one
                if fixed_port or rc in (EXIT_BAD_FLAGS, None) or attempt == attempts - 1:
                    raise
        raise ServerError(f"{self.name}: could not start")

    def _spawn(self, port: int) -> None:
        self.port = port
        if self.scheme == "https" and self.tls_port_fixed is None:
            self.tls_port = free_port(self.host)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        argv = [self._fill(a) for a in self.argv_template]
        for path, template in self.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(self._fill(template))
            self.config_text = Path(path).read_text()
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        self.command = pin + argv
        mode = "ab" if self.lives else "wb"    # a restart keeps the earlier logs
        out = open(self.stdout_path, mode)
        err = open(self.stderr_path, mode)
        try:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        except FileNotFoundError as e:
            raise ServerError(f"{self.name}: cannot execute {self.command[0]}: {e}") from None
        finally:
            out.close()
            err.close()
        self.started_at = time.time()

    def _fill(self, text: str) -> str:
        text = text.replace("{host}", self.host).replace("{port}", str(self.port))
        return text.replace("{tls_port}", str(self.tls_port)) if self.tls_port else text

    def _stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                msg = self._stderr_text().strip()
                if rc == EXIT_UNAVAILABLE:
                    line = msg.splitlines()[-1] if msg else "backend unavailable (exit 3)"
                    raise BackendUnavailable(line)
                tail = " | ".join(msg.splitlines()[-3:]) or "(no stderr)"
                raise ServerError(f"{self.name} exited with code {rc} before ready: {tail}")
            try:
                status, _ = self.get(self.ready_path, timeout=1.0)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        raise ServerError(f"{self.name} not ready on {self.url(self.ready_path)} after "
                          f"{self.ready_timeout:g}s ({last})")

    def runs(self, profile) -> bool:
        """Whether this server takes part in `profile`'s cases (a canned-response
        reference server answers only some)."""
        if self.scheme not in getattr(profile, "schemes", ("http", "https")):
            return False                  # e.g. s_time on a plain target, vex_loadgen on TLS
        asked = getattr(profile, "accept_encodings", ())
        if asked and self.encodings is not None and not set(asked) & set(self.encodings):
            return False                  # it would answer identity: not the case measured
        return self.serves is None or self.serves(profile)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def stop(self, final: bool = True) -> dict:
        """Stop (SIGTERM by default), wait, parse the final statistics block. `final`
        also runs the clean-up hook (temp config dirs); restart() passes False."""
        if self.result is not None:
            return self.result
        killed = False
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(self.stop_signal)
                try:
                    self.proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    killed = True
                    self._kill()
            rc = self.proc.returncode
        blocks = stats_block.parse_blocks(self.stdout_text())
        self.result = {"exit_code": rc, "killed_after_timeout": killed,
                       "stats_blocks": len(blocks),
                       "final_stats": blocks[-1] if blocks else None,
                       "stderr_tail": self._stderr_text().strip().splitlines()[-5:]}
        if final and self.on_stop:
            self.on_stop()
        return self.result

    def restart(self) -> "ServerProcess":
        """Stop and start again (a fresh process, e.g. for memory measurements). The stop
        result of each earlier life is kept in self.lives."""
        self.lives.append(self.stop(final=False))
        self.result = None
        self.proc = None
        return self.start()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ probes
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def url(self, path: str = "/") -> str:
        """Where the load goes: the TLS port over https for an https target."""
        if self.scheme == "https":
            return f"https://{self.host}:{self.tls_port}{path}"
        return f"http://{self.host}:{self.port}{path}"

    def get(self, path: str, timeout: float = 2.0) -> tuple:
        return http_get(self.host, self.port, path, timeout)

    def counters(self) -> dict | None:
        """{'source', 'requests', ...} from the server's own counters, or None."""
        return self.counter_reader(self) if self.counter_reader else None

    def proc_stats(self) -> procstats.ProcSnapshot:
        return procstats.snapshot(self.proc.pid, self.include_children)

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stats_blocks(self) -> list:
        return stats_block.parse_blocks(self.stdout_text())

    def describe(self) -> dict:
        return {"name": self.name, "command": self.command, "pid": self.pid,
                "host": self.host, "port": self.port, "cpu": self.cpu,
                "scheme": self.scheme, "tls_port": self.tls_port,
                "stdout_log": str(self.stdout_path), "stderr_log": str(self.stderr_path),
                "notes": list(self.notes), "config": self.config_text}
