"""The backends of :mod:`rft.judge_server`: the deterministic oracle and a local model with micro-batching.

- :class:`OracleBackend`: no model. It reads the judge prompt of :func:`rft.judges.build_judge_messages` and
  answers deterministically (:func:`oracle_verdict`), so tests and benchmarks know every right answer. It reads
  only the real criteria block (the one after the response wrapper), never one written inside the response.
- :class:`TransformersBackend`: a :class:`rft.judges.LocalChatModel` behind a micro-batcher: requests that
  arrive within ``batch_wait_ms`` of each other are generated in one batch (greedy; ``temperature`` ignored).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import queue
import re
import threading
import time
from typing import Any, Protocol

from rft.judges import RESPONSE_TAG, LocalChatModel
from rft.winrate import parse_pairwise_request

__all__ = [
    "BAD_CHAT_REQUEST",
    "ChatBackend",
    "OracleBackend",
    "TransformersBackend",
    "chat_request",
    "check_number",
    "oracle_verdict",
    "parse_judge_request",
]


def check_number(name: str, value: float, low: float) -> None:
    """ValueError (one line) unless ``value`` is a finite number >= ``low``."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
        raise ValueError(f"{name} must be a finite number >= {low:g}, got {value!r}")


BAD_CHAT_REQUEST = (
    "body must be JSON with 'messages': a non-empty list of {'role': str, 'content': str}; 'max_tokens' an "
    "integer >= 1 or absent; 'temperature' a number, null or absent"
)


def chat_request(raw: bytes) -> dict | None:
    """The JSON request body if it is a chat request every backend can take, else None (answered with 400 and
    :data:`BAD_CHAT_REQUEST`): a bad request must never reach a batch, where it would fail the others too."""
    try:
        body = json.loads(raw)
        messages, max_tokens = body["messages"], body.get("max_tokens")
        temperature = body.get("temperature", 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    ok = isinstance(messages, list) and messages and (max_tokens is None or type(max_tokens) is int and max_tokens > 0)
    ok = ok and (temperature is None or type(temperature) in (int, float)) and all(map(_is_message, messages))
    return body if ok else None


def _is_message(m: Any) -> bool:
    return isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)


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
    """Answers judge prompts with :func:`oracle_verdict` as ``{"c1": "yes", ...}`` and pairwise prompts
    (``rft.winrate``) by preferring the longer response; anything else gets a reply that is not JSON (as a
    confused model would)."""

    name = "oracle"

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None, temperature: float = 0.0) -> str:
        parsed = parse_judge_request(messages)
        if parsed is None:
            pair = parse_pairwise_request(messages)
            if pair is not None:  # a pairwise comparison (rft.winrate): the longer response, A on a tie
                a, b = (len(x.split()) for x in pair[1:])
                return json.dumps({"better": "B" if b > a else "A"})
            return "I can only grade responses against criteria."
        response, crits = parsed
        return json.dumps({f"c{i + 1}": "yes" if oracle_verdict(response, c) else "no" for i, c in enumerate(crits)})


# ----------------------------------------------------------------------------------------------------------------
# a local model with micro-batching


class TransformersBackend:
    """A :class:`LocalChatModel` behind a queue: one worker thread takes up to ``batch_size`` waiting requests
    (waiting at most ``batch_wait_ms`` for more after the first) and generates them in one batch."""

    def __init__(self, lm: LocalChatModel, batch_wait_ms: float = 5.0):
        check_number("batch_wait_ms", batch_wait_ms, 0)
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
