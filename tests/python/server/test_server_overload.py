"""Load that must lose nothing: a pipelined burst far larger than every
buffer, and clients queued at the connection limit. Each client counts its
responses; none may end in a bare EOF or reset."""
import re
import resource
import select
import socket
import threading
import time

import pytest

from server_helpers import Reader, admin_port, wait_for

CL_RE = re.compile(rb"\r\ncontent-length: *(\d+)", re.I)


def pipelined_requests(n):
    """n requests whose responses identify them: /bytes/(i % 61) answers with
    a Content-Length of i % 61, so order is checked, not only the count."""
    return b"".join(b"GET /bytes/%d HTTP/1.1\r\nHost: t\r\n\r\n" % (i % 61) for i in range(n))


def read_pipelined(sock, n, timeout):
    """Read n responses; return (count in the right order, how the stream
    ended early or None, first out-of-order index or None)."""
    sock.settimeout(timeout)
    buf = bytearray()
    pos = 0
    got = 0
    end = None
    while got < n:
        while True:                       # parse every complete response
            i = buf.find(b"\r\n\r\n", pos)
            if i < 0:
                break
            head = bytes(buf[pos:i + 2])
            m = CL_RE.search(head)
            length = int(m.group(1)) if m else -1
            if i + 4 + max(length, 0) > len(buf):
                break
            if not head.startswith(b"HTTP/1.1 200 ") or length != got % 61:
                return got, None, got
            pos = i + 4 + length
            got += 1
            if got == n:
                break
        if got == n:
            break
        if pos > 1 << 20:
            del buf[:pos]
            pos = 0
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            end = "timeout"
            break
        except ConnectionResetError:
            end = "reset"
            break
        if not data:
            end = "EOF"
            break
        buf += data
    return got, end, None


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_pipelined_burst_written_then_read(start_server, n):
    """The whole burst is written before the client reads a byte (as far as
    the kernel's buffers take it; a writer thread keeps pushing the rest)."""
    srv = start_server("--threads", "1")
    s = srv.connect(timeout=30)
    data = pipelined_requests(n)
    writer_done = threading.Event()
    errors = []

    def writer():
        try:
            s.sendall(data)
        except OSError as e:
            errors.append(e)
        writer_done.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    writer_done.wait(timeout=3)           # read only once writing is done (or stuck)
    got, end, bad = read_pipelined(s, n, timeout=30)
    t.join(timeout=30)
    s.close()
    assert bad is None, f"response {bad} out of order"
    assert (got, end) == (n, None), f"{got}/{n} responses, then {end}"
    assert not errors, errors
    m = srv.metrics()
    assert m["vex_errors_total"] == 0
    assert m["vex_requests_total"] >= n


def test_pipelined_burst_read_while_writing(start_server):
    n = 100_000
    srv = start_server("--threads", "1")
    s = srv.connect(timeout=30)
    data = pipelined_requests(n)
    t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
    t.start()
    got, end, bad = read_pipelined(s, n, timeout=30)
    t.join(timeout=30)
    s.close()
    assert bad is None, f"response {bad} out of order"
    assert (got, end) == (n, None), f"{got}/{n} responses, then {end}"
    assert srv.metrics()["vex_errors_total"] == 0


# ---- the connection limit ----------------------------------------------------

def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip(f"needs {n} fds, RLIMIT_NOFILE hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def open_clients(port, n):
    socks = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(c)
    return socks


def readable(socks, timeout):
    """The sockets of socks with something to read (poll: fds above 1024)."""
    p = select.poll()
    by_fd = {}
    for c in socks:
        p.register(c, select.POLLIN)
        by_fd[c.fileno()] = c
    return [by_fd[fd] for fd, _ in p.poll(int(timeout * 1000))]


@pytest.fixture
def clients():
    """Client sockets of a test, closed whatever happens."""
    socks = []
    yield socks
    for c in socks:
        c.close()


def test_queued_clients_are_all_served_in_order_of_free_slots(start_server, clients):
    """--max-clients 500; 2000 clients connect and each sends GET /. Exactly
    500 are answered while 1500 wait in the backlog. Closing answered clients
    frees slots, and every waiting client is then answered: 200, never a bare
    EOF or reset, never a 503."""
    raise_nofile(2000 + 200)
    srv = start_server("--threads", "1", "--max-clients", "500")
    clients += open_clients(srv.port, 2000)
    for c in clients:
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(1.0)
    first = readable(clients, 0.5)
    assert len(first) == 500, f"{len(first)} clients answered at once, the limit is 500"
    statuses, bare = {}, []
    waiting = set(clients)
    end = time.monotonic() + 60
    while waiting and time.monotonic() < end:
        for c in readable(waiting, 0.2):
            try:
                r = Reader(c).response()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            except (ConnectionError, OSError) as e:
                bare.append(repr(e))
            waiting.discard(c)
            c.close()                     # answered: its slot goes to the next
    assert not waiting, f"{len(waiting)} clients never answered; got {statuses}"
    assert not bare, f"{len(bare)} clients got no response: {bare[:3]}"
    assert statuses == {200: 2000}, statuses
    m = srv.metrics()
    assert m["vex_connections_total"] == 2000 + 1   # the metrics connection itself
    assert m["vex_connections_rejected_total"] == 0
    assert m["vex_connections_waiting"] == 0


def test_at_the_limit_no_more_than_max_clients_are_served_at_once(start_server, clients):
    """With 4 slots held by idle clients, further clients are not answered
    (they wait, they are not refused); one slot freed lets exactly one in."""
    srv = start_server("--threads", "2", "--max-clients", "4")
    held = open_clients(srv.port, 4)
    clients += held
    for c in held:
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert Reader(c).response().status == 200
    extra = open_clients(srv.port, 3)
    clients += extra
    for c in extra:
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    ready, _, _ = select.select(extra, [], [], 1.0)
    assert ready == [], "a client over the limit was answered (or refused) while 4 were open"
    held.pop().close()
    ready, _, _ = select.select(extra, [], [], 5.0)
    assert len(ready) >= 1
    time.sleep(0.3)
    ready, _, _ = select.select(extra, [], [], 0)
    assert len(ready) == 1, f"{len(ready)} clients answered after one slot freed"
    r = Reader(ready[0]).response()
    assert r.status == 200


def admin_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return Reader(s).response()


def test_admin_port_answers_at_the_connection_limit(start_server, clients):
    srv = start_server("--threads", "2", "--max-clients", "3", "--admin-port", "0")
    port = admin_port(srv)
    held = open_clients(srv.port, 3)
    clients += held
    for c in held:
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert Reader(c).response().status == 200
    queued = open_clients(srv.port, 1)[0]   # waits in the backlog
    clients.append(queued)
    t0 = time.monotonic()
    assert admin_get(port, "/healthz").status == 200
    r = admin_get(port, "/metrics")
    assert time.monotonic() - t0 < 2
    assert r.status == 200
    vals = dict(line.rsplit(" ", 1) for line in r.body.decode().splitlines()
                if line and not line.startswith("#"))
    assert float(vals["vex_connections_active"]) == 3   # admin ones are not counted
    assert admin_get(port, "/readyz").status == 200
    # only the health and metrics routes live there
    assert admin_get(port, "/").status == 404
    assert admin_get(port, "/json").status == 404
    for c in held + [queued]:
        c.close()


def test_admin_port_has_its_own_small_limit(start_server, clients):
    srv = start_server("--threads", "1", "--admin-port", "0")
    port = admin_port(srv)
    conns = open_clients(port, 16)
    clients += conns
    for c in conns:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert Reader(c).response().status == 200
    extra = open_clients(port, 1)[0]
    clients.append(extra)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    r = Reader(extra).response()
    assert r.status == 503
    assert r.header("retry-after") == "1"
    assert r.header("connection") == "close"
    for c in conns + [extra]:
        c.close()
    assert srv.get("/").status == 200       # the main listener never noticed
    assert srv.metrics()["vex_connections_rejected_total"] == 1
