"""A small OpenAI-compatible chat server in front of a local model, plus the oracle and fault injection that
the judge tests and the benchmark use.

``JudgeServer(backend).start()`` serves ``POST /v1/chat/completions`` (plus ``GET /v1/models`` and
``GET /health``, ``GET /stats``) on a thread (``ThreadingHTTPServer``: one thread per connection, keep-alive). Backends:

- :class:`TransformersBackend`: a :class:`rft.judges.LocalChatModel` behind a micro-batcher: requests that
  arrive within ``batch_wait_ms`` of each other are generated in one batch (greedy; ``temperature`` ignored).
- :class:`OracleBackend`: no model. It reads the judge prompt of :func:`rft.judges.build_judge_messages` and
  answers deterministically (:func:`oracle_verdict`), so tests and benchmarks know every right answer.

Fault injection: ``fault_fn(index, body) -> Fault | None`` is asked for every request (``index`` counts from
0) and can return an HTTP error with headers (429 + Retry-After), a delay (slow reply or client timeout), a
dropped connection, a non-JSON body, or replacement / transformed reply content (garbage, truncated JSON,
missing criteria). ``latency_ms`` adds a fixed delay to every request (the benchmark's 50 ms).
Every request body is recorded (``server.bodies``), so tests assert on what the judge actually sent.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from rft.judges import RESPONSE_TAG, LocalChatModel

__all__ = [
    "ChatBackend",
    "Fault",
    "JudgeServer",
    "OracleBackend",
    "TransformersBackend",
    "oracle_verdict",
    "parse_judge_request",
]

logger = logging.getLogger(__name__)


class ChatBackend(Protocol):
    """Turns one chat (a list of ``{"role", "content"}``) into reply text."""

    name: str

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None, temperature: float) -> str: ...


# ----------------------------------------------------------------------------------------------------------------
# the oracle

_OPEN, _CLOSE = f"<{RESPONSE_TAG}>\n", f"\n</{RESPONSE_TAG}>\n\n"
# what follows the response wrapper in a judge prompt, to the end: the criteria block and the closing instruction
_TAIL_RX = re.compile(r"Criteria:\n((?:c\d+: [^\n]*\n)*c\d+: [^\n]*)\n\nReturn one JSON object [^\n]*")
_CRIT_LINE_RX = re.compile(r"^c(\d+): (.*)$")
_KEYWORD_RX = re.compile(r"'([^']+)'")


def oracle_verdict(response: str, criterion: str) -> bool:
    """The oracle's answer. A criterion quoting a keyword (``Mentions 'aspirin'``) is met iff the response
    contains it (case-insensitive); any other criterion by the parity of sha256(criterion NUL response)."""
    m = _KEYWORD_RX.search(criterion)
    if m:
        return m.group(1).lower() in response.lower()
    return hashlib.sha256(f"{criterion}\0{response}".encode()).digest()[0] % 2 == 0


def parse_judge_request(messages: list[dict[str, Any]]) -> tuple[str, list[str]] | None:
    """(wrapped response text, criteria texts) from a judge prompt, or None if it is not one. The response is
    returned as it appears inside the wrapper (escaped).

    Only the real criteria block counts: the one right after the response wrapper's closing tag, up to the end of
    the prompt. The wrapper's tags occur exactly once in a real judge prompt (the data inside is escaped by
    :func:`rft.judges.escape_data`), so a ``Criteria:`` block written inside the response is just response text."""
    user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(user, str) or user.count(_OPEN) != 1 or user.count(_CLOSE) != 1:
        return None
    response, _, tail = user.partition(_OPEN)[2].partition(_CLOSE)
    c = _TAIL_RX.fullmatch(tail)
    if c is None:
        return None
    lines = [_CRIT_LINE_RX.match(line) for line in c.group(1).split("\n")]
    if [int(m.group(1)) for m in lines] != list(range(1, len(lines) + 1)):
        return None
    return response, [m.group(2) for m in lines]


class OracleBackend:
    """Answers judge prompts with :func:`oracle_verdict` as ``{"c1": "yes", ...}``; anything else gets a
    reply that is not JSON (as a confused model would)."""

    name = "oracle"

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None, temperature: float = 0.0) -> str:
        parsed = parse_judge_request(messages)
        if parsed is None:
            return "I can only grade responses against criteria."
        response, crits = parsed
        return json.dumps({f"c{i + 1}": "yes" if oracle_verdict(response, c) else "no" for i, c in enumerate(crits)})


# ----------------------------------------------------------------------------------------------------------------
# a local model with micro-batching


class TransformersBackend:
    """A :class:`LocalChatModel` behind a queue: one worker thread takes up to ``batch_size`` waiting requests
    (waiting at most ``batch_wait_ms`` for more after the first) and generates them in one batch."""

    def __init__(self, lm: LocalChatModel, batch_wait_ms: float = 5.0):
        self.lm = lm
        self.name = lm.model_id
        self.batch_wait_s = batch_wait_ms / 1000.0
        self._q: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="judge-server-batcher", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while True:
            first = self._q.get()
            batch = [first]
            deadline = time.monotonic() + self.batch_wait_s
            while len(batch) < self.lm.batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._q.get(timeout=left))
                except queue.Empty:
                    break
            try:
                max_new = max((b[1] or self.lm.max_new_tokens) for b in batch)
                replies = self.lm.generate([b[0] for b in batch], max_new_tokens=max_new)
            except Exception as e:  # the server answers 500; the batcher keeps running
                for b in batch:
                    b[2].set_exception(e)
                continue
            for b, reply in zip(batch, replies, strict=True):
                if reply is None:
                    b[2].set_exception(ValueError("prompt longer than the model's context"))
                else:
                    b[2].set_result(reply)

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None, temperature: float = 0.0) -> str:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._q.put((messages, max_tokens, fut))
        return fut.result()


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply carries Content-Length
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms
        # to every keep-alive reply (seen here: 50 ms latency measured as ~100 ms per call)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests run thousands
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
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing to do

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif self.path.rstrip("/") == "/stats":  # requests received so far (benchmarks count calls server-side)
            self._send(200, {"requests": self.server.owner.n_requests})
        elif self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._send(400, {"error": {"message": "body must be JSON with a 'messages' list"}})
            return
        # the message itself, not dict(...): header names are case-insensitive (the openai SDK sends them lower
        # case), and its .get() is too
        index = srv._record(body, self.headers)
        fault = srv.fault_fn(index, body) if srv.fault_fn is not None else None
        if srv.latency_s:
            time.sleep(srv.latency_s)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and fault.drop:
            self.close_connection = True
            return
        if fault is not None and fault.raw_body is not None:
            self._send(fault.status, raw=fault.raw_body, headers=fault.headers)
            return
        if fault is not None and fault.status != 200:
            self._send(fault.status, {"error": {"message": f"injected {fault.status}"}}, headers=fault.headers)
            return
        if fault is not None and fault.content is not None:
            content = fault.content
        else:
            try:
                content = srv.backend.complete(messages, body.get("max_tokens"), float(body.get("temperature", 0)))
            except Exception as e:  # a backend failure is the client's retryable 500, never a dead server
                self._send(500, {"error": {"message": f"backend failed: {type(e).__name__}: {e}"}})
                return
            if fault is not None and fault.transform is not None:
                content = fault.transform(content)
        self._send(
            200,
            {
                "id": f"chatcmpl-{index}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.server.model_name,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            },
            headers=fault.headers if fault is not None else (),
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the benchmark opens dozens of connections at once
    owner: JudgeServer
    model_name: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hung up mid-request (timeouts are part of the tests) is not worth a traceback on stderr
        logger.debug("request from %s failed", client_address, exc_info=True)


class JudgeServer:
    """``with JudgeServer(OracleBackend(), latency_ms=50) as srv: ... srv.base_url ...``

    host/port: where to listen (port 0 = an ephemeral port, see ``srv.port``); latency_ms: added to every
    request; fault_fn: see :class:`Fault`; model_name: reported by ``/v1/models`` and in replies."""

    def __init__(
        self,
        backend: ChatBackend,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        fault_fn: Callable[[int, dict], Fault | None] | None = None,
        model_name: str | None = None,
    ):
        self.backend = backend
        self.latency_s = latency_ms / 1000.0
        self.fault_fn = fault_fn
        self.bodies: list[dict] = []
        self.headers: list[Message] = []  # per request; .get(name) ignores the case of the name
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._httpd.model_name = model_name or backend.name
        self._thread: threading.Thread | None = None

    def _record(self, body: dict, headers: Message) -> int:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            return len(self.bodies) - 1

    @property
    def n_requests(self) -> int:
        with self._lock:
            return len(self.bodies)

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

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
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
