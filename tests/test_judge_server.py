"""`rft.judge_server` under hostile clients, on 127.0.0.1 only: body limit, bad Content-Length, slow and idle
connections, the connection cap, and what the server keeps (bounded, never a header's secret). Every socket has
a timeout, so no test can hang."""

import http.client
import json
import logging
import math
import socket
import time
import tracemalloc

import pytest

from rft.judge_server import JudgeServer, OracleBackend, ServerLimits
from rft.judges import build_judge_messages

SECRET = "sk-test-SECRET-server-0123456789"
BODY = json.dumps({"model": "oracle", "messages": build_judge_messages("p", "Take aspirin.", ["Mentions 'aspirin'"])})


def _post(srv: JudgeServer, body: str = BODY, headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def _raw(srv: JudgeServer, data: bytes, wait_s: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (at most ``wait_s``)."""
    with socket.create_connection((srv.host, srv.port), timeout=wait_s) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out


def _closed_within(sock: socket.socket, limit_s: float) -> float:
    """Seconds until the server closes ``sock`` (recv gives EOF or a reset); fails after ``limit_s``."""
    t0 = time.monotonic()
    sock.settimeout(limit_s)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"connection still open after {limit_s} s")
    return time.monotonic() - t0


@pytest.fixture
def server():
    with JudgeServer(OracleBackend(), limits=ServerLimits(request_timeout_s=0.5, idle_timeout_s=1.0)) as srv:
        yield srv


def test_normal_request_answers(server):
    status, reply = _post(server)
    assert status == 200 and json.loads(reply["choices"][0]["message"]["content"]) == {"c1": "yes"}
    assert server.n_requests == 1 and not server.rejected


def test_oversized_body_is_413_without_reading_it():
    with JudgeServer(OracleBackend(), limits=ServerLimits(max_body_bytes=len(BODY))) as srv:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 68719476736\r\n\r\n"
        t0 = time.monotonic()
        reply = _raw(srv, head)  # the 64 GiB body is never sent: the answer must not wait for it
        assert reply.startswith(b"HTTP/1.1 413") and f"{len(BODY)} bytes".encode() in reply
        assert time.monotonic() - t0 < 3
        assert _post(srv, body=BODY + " ")[0] == 413
        assert _post(srv)[0] == 200  # a body at the limit still works
        assert srv.rejected == {413: 2} and srv.n_requests == 1


@pytest.mark.parametrize(
    "headers,status",
    [
        ("Content-Length: -1\r\n", 400),
        ("Content-Length: abc\r\n", 400),
        ("Content-Length: 1e3\r\n", 400),
        ("Content-Length: +5\r\n", 400),
        ("Content-Length: 5\r\nContent-Length: 6\r\n", 400),
        ("", 411),
        ("Transfer-Encoding: chunked\r\n", 411),
    ],
)
def test_bad_content_length_is_answered_at_once(headers, status):
    with JudgeServer(OracleBackend(), limits=ServerLimits(request_timeout_s=5)) as srv:
        t0 = time.monotonic()
        reply = _raw(srv, f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        assert reply.startswith(f"HTTP/1.1 {status}".encode()) and b"Connection: close" in reply
        assert time.monotonic() - t0 < 2.5  # well before the 5 s request timeout: nothing waited for a body
        assert srv.rejected == {status: 1} and srv.n_requests == 0


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"messages": []}',
        '{"messages": "hi"}',
        '{"messages": [{"role": "user", "content": ["part"]}]}',
        '{"messages": [{"role": "user"}]}',
        '{"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}',
        '{"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
        '{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
    ],
)
def test_malformed_chat_request_is_400_and_never_reaches_the_backend(body):
    class Counting(OracleBackend):
        calls = 0

        def complete(self, *a, **kw):
            Counting.calls += 1
            return super().complete(*a, **kw)

    with JudgeServer(Counting()) as srv:
        status, reply = _post(srv, body=body)
        assert status == 400 and "'messages'" in reply["error"]["message"]
        assert Counting.calls == 0 and srv.n_requests == 0
        assert _post(srv, body=BODY)[0] == 200  # the connection and the server are fine


@pytest.mark.parametrize(
    "partial",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mess',  # body cut short
    ],
)
def test_half_sent_request_is_dropped_and_blocks_no_one(partial):
    with (
        JudgeServer(OracleBackend(), limits=ServerLimits(request_timeout_s=1.5)) as srv,
        socket.create_connection((srv.host, srv.port), timeout=5) as slow,
    ):
        t0 = time.monotonic()
        slow.sendall(partial)
        assert _post(srv)[0] == 200  # another client is served meanwhile ...
        slow.setblocking(False)
        with pytest.raises(BlockingIOError):  # ... while the half-sent request is still pending
            slow.recv(1)
        slow.setblocking(True)
        _closed_within(slow, 5.0)
        assert 1.0 < time.monotonic() - t0 < 4.0  # dropped at request_timeout_s
        assert srv.n_requests == 1


def test_trickled_request_is_dropped_at_its_deadline(server):
    """One byte every 0.1 s resets no per-read timer: the whole request must arrive within request_timeout_s."""
    data = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 100
    t0 = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        for i in range(len(data)):
            try:
                s.sendall(data[i : i + 1])
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - t0 > 6:
                pytest.fail("a trickled request was never dropped")
    assert time.monotonic() - t0 < 4.0  # request_timeout_s = 0.5; trickling it all would take 15 s


def test_idle_keepalive_connection_is_closed(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", body=BODY)
    assert conn.getresponse().read()
    assert 0.5 < _closed_within(conn.sock, 4.0) < 3.5  # idle_timeout_s = 1
    conn.close()


def test_connection_cap_answers_503_and_frees_its_slots():
    with JudgeServer(OracleBackend(), limits=ServerLimits(max_connections=2, idle_timeout_s=5)) as srv:
        idle = [socket.create_connection((srv.host, srv.port), timeout=5) for _ in range(2)]
        time.sleep(0.2)
        reply = _raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in reply
        idle[0].close()
        deadline = time.monotonic() + 3
        while _raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 503"):
            assert time.monotonic() < deadline, "a closed connection never gave its slot back"
            time.sleep(0.05)
        idle[1].close()
        assert srv.rejected[503] >= 1


def test_stop_closes_open_connections_at_once():
    srv = JudgeServer(OracleBackend()).start()  # default idle timeout: 30 s
    sock = socket.create_connection((srv.host, srv.port), timeout=5)
    time.sleep(0.1)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2 and _closed_within(sock, 2.0) < 2
    sock.close()


def test_what_is_recorded_is_bounded_and_holds_no_secret(caplog):
    limits = ServerLimits(record_last=5)
    with JudgeServer(OracleBackend(), limits=limits) as srv, caplog.at_level(logging.DEBUG, "rft.judge_server"):
        auth = {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET}
        for _ in range(40):
            assert _post(srv, headers=auth)[0] == 200
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        conn.request("GET", f"/health?token={SECRET}")
        assert conn.getresponse().status == 200
        conn.close()
        assert "GET /health?..." in caplog.text and SECRET not in caplog.text  # debug logs: no query string
        assert srv.n_requests == 40 and len(srv.requests) == 5 and srv.bodies == []
        assert [r.index for r in srv.requests] == list(range(35, 40))
        assert all(r.authorization == srv.fingerprint(f"Bearer {SECRET}") for r in srv.requests)
        assert srv.requests[0].model == "oracle" and srv.requests[0].n_bytes == len(BODY)
        recorded = repr((srv.requests, srv.bodies, srv.rejected, vars(srv)))
        assert SECRET not in recorded and "sk-test" not in recorded
    with JudgeServer(OracleBackend(), record_bodies=3) as srv:  # bodies only when asked, then bounded too
        for _ in range(10):
            _post(srv, headers=auth)
        assert len(srv.bodies) == 3 and srv.bodies[0]["model"] == "oracle" and SECRET not in repr(srv.bodies)


def test_big_bodies_are_not_retained():
    big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * (3 << 20)}]})
    with JudgeServer(OracleBackend()) as srv:
        assert _post(srv, body=big)[0] == 200  # warm up
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(8):  # 24 MiB sent in all
                assert _post(srv, body=big)[0] == 200
            time.sleep(0.2)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 4 << 20, f"{grown / 2**20:.1f} MiB still held after the requests"


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"latency_ms": -5}, "latency_ms"),
        ({"latency_ms": math.nan}, "latency_ms"),
        ({"port": 70000}, "port"),
        ({"port": -1}, "port"),
        ({"host": "no-such-host.invalid"}, "cannot resolve host"),
        ({"record_bodies": -1}, "record_bodies"),
    ],
)
def test_bad_server_options_raise_one_line_value_errors(kw, match):
    with pytest.raises(ValueError, match=match) as e:
        JudgeServer(OracleBackend(), **kw)
    assert "\n" not in str(e.value)


def test_limits_are_validated_and_port_in_use_is_one_line():
    for bad in ({"max_body_bytes": 0}, {"request_timeout_s": math.inf}, {"idle_timeout_s": -1}, {"max_connections": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ServerLimits(**bad)
    with JudgeServer(OracleBackend()) as srv, pytest.raises(OSError, match="already in use") as e:
        JudgeServer(OracleBackend(), port=srv.port)
    assert str(e.value) == f"port {srv.port} on 127.0.0.1 is already in use"
