"""A small OpenAI-compatible chat server in front of a local model or the oracle, with the fault injection that
the judge tests and the benchmark use.

``JudgeServer(backend).start()`` serves ``POST /v1/chat/completions`` (plus ``GET /v1/models`` and
``GET /health``, ``GET /stats``) on a thread (``ThreadingHTTPServer``: one thread per connection, keep-alive).
Backends (:mod:`rft.judge_backends`, re-exported here): :class:`OracleBackend` (deterministic judge, no model) and
:class:`TransformersBackend` (a local model, micro-batched).

Fault injection: ``fault_fn(index, body) -> Fault | None`` is asked for every request (``index`` counts from
0) and can return an HTTP error with headers (429 + Retry-After), a delay (slow reply or client timeout), a
dropped connection, a non-JSON body, or replacement / transformed reply content (garbage, truncated JSON,
missing criteria). ``latency_ms`` adds a fixed delay to every request (the benchmark's 50 ms).

What a client may cost the server is bounded (:class:`ServerLimits`: body size, timeouts, connections), and
nothing of a request outlives it but bounded summaries without headers (:class:`RequestRecord`) and, only when
asked (``record_bodies=N``), the last N bodies. Debug logs show request lines without their query strings.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import hashlib
import hmac
import io
import json
import logging
import os
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rft.judge_backends import (
    BAD_CHAT_REQUEST,
    ChatBackend,
    OracleBackend,
    TransformersBackend,
    chat_request,
    check_number,
    oracle_verdict,
    parse_judge_request,
)

__all__ = [
    "ChatBackend",
    "Fault",
    "JudgeServer",
    "OracleBackend",
    "RequestRecord",
    "ServerLimits",
    "TransformersBackend",
    "oracle_verdict",
    "parse_judge_request",
]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# the server


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of (or on top of) answering it normally.

    status: HTTP status to answer with (200 = answer); headers: extra headers (e.g. ``(("Retry-After", "1"),)``);
    delay_s: sleep before answering (slow reply, or a client timeout when longer than the client's limit);
    drop: close the connection without answering; raw_body: send these bytes as the body (with ``status``);
    content: reply content instead of the backend's; transform: reply content = transform(backend content)."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    drop: bool = False
    raw_body: bytes | None = None
    content: str | None = None
    transform: Callable[[str], str] | None = None


@dataclass(frozen=True)
class ServerLimits:
    """What one client may cost the server. max_body_bytes: a larger request body is answered 413 unread;
    request_timeout_s: a request (line, headers and body) must arrive within this from its first byte, and each
    reply write may take this long; idle_timeout_s: a keep-alive connection with no new request is closed;
    max_connections: connections served at once (one thread each), more are answered 503 + Retry-After;
    record_last: request summaries kept (:class:`RequestRecord`); record_bodies: full request bodies kept
    (0 = none; for tests that inspect what was sent)."""

    max_body_bytes: int = 8 * 1024 * 1024
    request_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    max_connections: int = 128
    record_last: int = 64
    record_bodies: int = 0

    def __post_init__(self) -> None:
        for name in ("request_timeout_s", "idle_timeout_s"):
            check_number(name, getattr(self, name), 0.001)
        for name, low in (("max_body_bytes", 1), ("max_connections", 1), ("record_last", 0), ("record_bodies", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not (isinstance(v, int) and v >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")


@dataclass(frozen=True)
class RequestRecord:
    """What the server keeps of one chat request: no headers, no body. ``authorization`` is a keyed fingerprint
    of the Authorization header (compare with :meth:`JudgeServer.fingerprint`), never the header itself."""

    index: int
    n_bytes: int
    n_messages: int
    model: str | None
    authorization: str | None


_CONTENT_LENGTH_RX = re.compile(r"[0-9]{1,18}")
_QUERY_RX = re.compile(r"\?[^\s\"']*")  # a query string may carry a token: never logged
_BUSY = b'{"error": {"message": "server busy: too many connections"}}'
_BUSY_REPLY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
_BUSY_REPLY += b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY)


class _DeadlineReader(io.RawIOBase):
    """The connection's reads; while ``deadline`` (monotonic) is set, no read waits past it, so a request that
    trickles in byte by byte is dropped on time too."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request not received in time")
            self._sock.settimeout(left)
        return self._sock.recv_into(b)


def _drain(sock: socket.socket, wait_s: float) -> None:
    """Close our side, then read and drop what the client still sends, for at most ``wait_s`` (0: only what has
    arrived): closing a socket with unread data sends a reset, which can destroy the reply still in flight."""
    deadline = time.monotonic() + wait_s
    with contextlib.suppress(OSError):  # BlockingIOError and TimeoutError included
        sock.shutdown(socket.SHUT_WR)
        for _ in range(256):  # at most 16 MiB
            sock.settimeout(max(0.0, deadline - time.monotonic()))  # 0.0: no waiting
            if not sock.recv(65536):
                return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply carries Content-Length
    server: _Server

    def setup(self) -> None:
        self.limits = self.server.owner.limits
        self.timeout = self.limits.idle_timeout_s  # applied to the socket by StreamRequestHandler.setup
        super().setup()
        # headers and body go out in two writes; without TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms
        # to every keep-alive reply (seen here: 50 ms latency measured as ~100 ms per call)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._linger = False
        self._reader = _DeadlineReader(self.connection)
        self.rfile.close()  # the socket's own reader: ours replaces it
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = None  # wait for the next request at most idle_timeout_s ...
        self.connection.settimeout(self.limits.idle_timeout_s)
        try:
            if not self.rfile.peek(1):
                self.close_connection = True  # the client closed the connection
                return
        except OSError:  # TimeoutError included
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + self.limits.request_timeout_s  # ... then all of it in time
        try:
            super().handle_one_request()
        finally:
            vars(self).pop("headers", None)  # an idle keep-alive connection keeps no Authorization header

    def finish(self) -> None:
        super().finish()
        if self._linger:  # a reply went out before the request body was read
            _drain(self.connection, 1.0)

    def _received(self) -> None:
        """The request is in: from now on only the reply's writes wait, each at most request_timeout_s."""
        self._reader.deadline = None
        self.connection.settimeout(self.limits.request_timeout_s)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests run thousands
        args = tuple(_QUERY_RX.sub("?...", a) if isinstance(a, str) else a for a in args)
        logger.debug("%s " + format, self.address_string(), *args)

    def _send(
        self, status: int, obj: Any = None, raw: bytes | None = None, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        body = raw if raw is not None else json.dumps(obj).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing to do

    def _reject(self, status: int, message: str) -> None:
        """Answer an error and close: a request body left unread must not be read as the next request."""
        self.close_connection = self._linger = True
        self.server.owner._count_rejected(status)
        self._send(status, {"error": {"message": message}})

    def _read_body(self) -> bytes | None:
        """The request body, or None once it was answered 400/411/413 (unread) or the client went away."""
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or ()}
        limit = self.limits.max_body_bytes
        if self.headers.get("Transfer-Encoding"):
            self._reject(411, "send the body with a Content-Length (chunked bodies are not accepted)")
        elif not lengths:
            self._reject(411, "Content-Length required")
        elif len(lengths) > 1 or _CONTENT_LENGTH_RX.fullmatch(next(iter(lengths))) is None:
            self._reject(400, "Content-Length must be one non-negative integer")
        elif int(next(iter(lengths))) > limit:
            self._reject(413, f"request body over the server's limit of {limit} bytes")
        else:
            length = int(next(iter(lengths)))
            raw = self.rfile.read(length) if length else b""
            if len(raw) == length:
                return raw
            self.close_connection = True  # the client hung up mid-body
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.headers.get("Content-Length", "0").strip() != "0" or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a GET body is never read
        self._received()
        path = self.path.partition("?")[0].rstrip("/")
        if path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif path == "/stats":  # requests received so far (benchmarks count calls server-side)
            self._send(200, {"requests": self.server.owner.n_requests})
        elif path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "no such route"}})

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server.owner
        if self.path.partition("?")[0].rstrip("/") != "/v1/chat/completions":
            self._reject(404, "no such route")
            return
        raw = self._read_body()
        if raw is None:
            return
        self._received()
        body = chat_request(raw)
        if body is None:  # never handed to a backend: one bad request must not fail a whole batch
            self._send(400, {"error": {"message": BAD_CHAT_REQUEST}})
            return
        index = srv._record(body, len(raw), self.headers.get("Authorization"))
        del raw
        fault = srv.fault_fn(index, body) if srv.fault_fn is not None else None
        if srv.latency_s:
            time.sleep(srv.latency_s)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and fault.drop:
            self.close_connection = True
            return
        if fault is not None and (fault.raw_body is not None or fault.status != 200):
            obj = {"error": {"message": f"injected {fault.status}"}}
            self._send(fault.status, obj, raw=fault.raw_body, headers=fault.headers)
            return
        self._complete(index, body, fault)

    def _complete(self, index: int, body: dict, fault: Fault | None) -> None:
        srv = self.server.owner
        if fault is not None and fault.content is not None:
            content = fault.content
        else:
            try:
                content = srv.backend.complete(body["messages"], body.get("max_tokens"), body.get("temperature") or 0)
            except Exception as e:  # a backend failure is the client's retryable 500, never a dead server
                self._send(500, {"error": {"message": f"backend failed: {type(e).__name__}: {e}"}})
                return
            if fault is not None and fault.transform is not None:
                content = fault.transform(content)
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        reply = {"id": f"chatcmpl-{index}", "object": "chat.completion", "created": int(time.time())}
        reply |= {"model": self.server.model_name, "choices": [choice]}
        self._send(200, reply, headers=fault.headers if fault is not None else ())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes the open connections itself
    request_queue_size = 256  # the benchmark opens dozens of connections at once
    owner: JudgeServer
    model_name: str

    def __init__(self, address: tuple[str, int], family: int, owner: JudgeServer):
        self.address_family = family
        self.owner = owner
        self._slots = threading.BoundedSemaphore(owner.limits.max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # HTTPServer's asks DNS for getfqdn(host), unused here
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # full: say so at once instead of piling up threads
            self.owner._count_rejected(503)
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY_REPLY)
                _drain(request, 0.0)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)
            self._slots.release()

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hung up mid-request (timeouts are part of the tests) is not worth a traceback on stderr
        logger.debug("request from %s failed", client_address, exc_info=True)


def _bind(host: str, port: int, owner: JudgeServer) -> _Server:
    """The listening server, or a one-line error: port out of range, unknown host, port in use, ..."""
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ValueError(f"port must be an integer in 0..65535, got {port!r}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError(f"cannot resolve host {host!r}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return _Server((host, port), family, owner)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise OSError(f"port {port} on {host} is already in use") from None
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


class JudgeServer:
    """``with JudgeServer(OracleBackend(), latency_ms=50) as srv: ... srv.base_url ...``

    host/port: where to listen (port 0 = an ephemeral port, see ``srv.port``); latency_ms: added to every
    request; fault_fn: see :class:`Fault`; model_name: reported by ``/v1/models`` and in replies; limits: see
    :class:`ServerLimits`; record_bodies: shorthand for ``limits.record_bodies``. Bad values raise ValueError,
    a port in use or a host that is not local OSError, each with a one-line message.

    Recorded, all bounded: ``n_requests`` (chat requests answered or faulted), ``rejected`` (counts by status
    of requests refused before reading them), ``requests`` (the last ``record_last`` :class:`RequestRecord`),
    ``bodies`` (the last ``record_bodies`` request bodies)."""

    def __init__(
        self,
        backend: ChatBackend,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        fault_fn: Callable[[int, dict], Fault | None] | None = None,
        model_name: str | None = None,
        limits: ServerLimits | None = None,
        record_bodies: int | None = None,
    ):
        check_number("latency_ms", latency_ms, 0)
        limits = limits or ServerLimits()
        self.limits = limits if record_bodies is None else dataclasses.replace(limits, record_bodies=record_bodies)
        self.backend = backend
        self.latency_s = latency_ms / 1000.0
        self.fault_fn = fault_fn
        self.n_requests = 0
        self.rejected: collections.Counter[int] = collections.Counter()
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=self.limits.record_last)
        self._bodies: collections.deque[dict] = collections.deque(maxlen=self.limits.record_bodies)
        self._key = os.urandom(16)  # fingerprints of credentials are keyed: useless outside this process
        self._lock = threading.Lock()
        self._httpd = _bind(host, port, self)
        self._httpd.model_name = model_name or backend.name
        self._thread: threading.Thread | None = None

    def fingerprint(self, secret: str) -> str:
        """The fingerprint a :class:`RequestRecord` holds for this Authorization header value."""
        return hmac.new(self._key, secret.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:16]

    def _record(self, body: dict, n_bytes: int, authorization: str | None) -> int:
        model = body.get("model")
        auth = None if authorization is None else self.fingerprint(authorization)
        with self._lock:
            index = self.n_requests
            self.n_requests += 1
            model = model[:200] if isinstance(model, str) else None
            self._records.append(RequestRecord(index, n_bytes, len(body["messages"]), model, auth))
            if self._bodies.maxlen:
                self._bodies.append(body)
            return index

    def _count_rejected(self, status: int) -> None:
        with self._lock:
            self.rejected[status] += 1

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def bodies(self) -> list[dict]:
        with self._lock:
            return list(self._bodies)

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def model_name(self) -> str:
        return self._httpd.model_name

    def start(self) -> JudgeServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="judge-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which only a started server runs
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
