"""Real clients: ab (HTTP/1.0, with and without keep-alive) and curl."""
import re
import shutil
import subprocess

import pytest


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} not installed")
    return path


@pytest.mark.parametrize("keepalive", [True, False], ids=["ab-k", "ab"])
def test_ab(server, keepalive):
    ab = need("ab")
    args = [ab, "-q", "-n", "3000", "-c", "20"] + (["-k"] if keepalive else [])
    p = subprocess.run(args + [f"http://127.0.0.1:{server.port}/"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"Complete requests:\s+3000", out), out
    assert re.search(r"Failed requests:\s+0", out), out
    assert "Non-2xx" not in out
    if keepalive:
        assert re.search(r"Keep-Alive requests:\s+3000", out), out
    m = server.metrics()
    assert m['vex_responses_total{class="2xx"}'] == 3000   # ab's, not this scrape
    assert m["vex_errors_total"] == 0


def test_curl(server, tmp_path):
    curl = need("curl")
    base = f"http://127.0.0.1:{server.port}"
    p = subprocess.run([curl, "-sS", "--fail", f"{base}/", f"{base}/json", f"{base}/healthz"],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b'Hello, World!{"message":"Hello, World!"}ok\n'
    body = tmp_path / "body.bin"
    body.write_bytes(bytes(range(256)) * 5000)
    p = subprocess.run([curl, "-sS", "--fail", "--data-binary", f"@{body}", f"{base}/echo"],
                       capture_output=True, timeout=20)
    assert p.returncode == 0 and p.stdout == body.read_bytes()
    p = subprocess.run([curl, "-sS", "--fail", "-H", "Transfer-Encoding: chunked",
                        "--data-binary", f"@{body}", f"{base}/echo"], capture_output=True,
                       timeout=20)
    assert p.returncode == 0 and p.stdout == body.read_bytes()
    p = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                        f"{base}/bytes/10000000"], capture_output=True, text=True, timeout=20)
    assert p.stdout == "200 10000000"
    p = subprocess.run([curl, "-sS", "-I", f"{base}/"], capture_output=True, text=True,
                       timeout=20)
    assert p.stdout.startswith("HTTP/1.1 200 OK") and "Content-Length: 13" in p.stdout
    p = subprocess.run([curl, "-sS", "--http1.0", f"{base}/json"], capture_output=True,
                       timeout=20)
    assert p.stdout == b'{"message":"Hello, World!"}'
