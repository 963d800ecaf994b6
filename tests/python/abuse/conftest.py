"""Fixtures for the abuse suite: the server suite's own (binary on every
backend, start_server with the sanitizer checks at stop, the SIGALRM bound),
loaded from tests/python/server/conftest.py, and the run summary: every case
leaves a record in $VEX_ABUSE_OUT/records/, and the controlling pytest process
writes summary.json and table.md from them at the end."""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(__file__)
SERVER_DIR = os.path.join(HERE, "..", "server")
sys.path.insert(0, SERVER_DIR)
sys.path.insert(0, HERE)
os.environ.setdefault("VEX_TEST_TIME_LIMIT", "120")

_spec = importlib.util.spec_from_file_location("server_conftest",
                                               os.path.join(SERVER_DIR, "conftest.py"))
_server_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_server_conftest)
binary = _server_conftest.binary
time_limit = _server_conftest.time_limit
start_server = _server_conftest.start_server

COLUMNS = [("case", "case"), ("build", "build"), ("rps", "normal req/s"),
           ("p99_ms", "normal p99 ms"), ("load_errors", "normal errors"),
           ("rss_before_kib", "RSS before KiB"), ("rss_peak_kib", "RSS peak KiB"),
           ("rss_after_kib", "RSS after KiB"), ("fds_before", "fds before"),
           ("fds_peak", "fds peak"), ("fds_after", "fds after"), ("recovered", "recovered"),
           ("note", "note")]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: abuse and fault tests (make test-abuse)")


def markdown_table(recs):
    def cell(v):
        if isinstance(v, float):
            return f"{v:,.1f}" if v >= 10 else f"{v:.3g}"
        return "" if v is None else str(v)
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in sorted(recs, key=lambda r: (r["case"], r["build"])):
        lines.append("| " + " | ".join(cell(r.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("VEX_ABUSE_OUT")
    if not out or hasattr(session.config, "workerinput"):
        return                      # an xdist worker: the controller writes it
    d = os.path.join(out, "records")
    if not os.path.isdir(d):
        return
    recs = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name)) as f:
            recs.append(json.load(f))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"exitstatus": int(exitstatus), "cases": recs}, f, indent=1)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(markdown_table(recs))
