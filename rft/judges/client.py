"""The OpenAI-compatible chat client that the judges and the proposer share: the official ``openai`` SDK for
transport (connection pooling, timeouts, TLS, proxies as users configure them), our retry policy on top.

Failure policy (the reason this module exists): nothing a server does can crash a run. HTTP 429 (honouring
``Retry-After``), 408/409/425, 5xx, timeouts, dropped connections, a 200 whose body is not a chat completion,
and a reply that ``accept`` rejects (unparsable) are retried with capped exponential backoff and full jitter
from a seeded RNG, at most ``max_attempts`` requests per call; then the call returns no value (a judge makes
that call's criteria UNKNOWN, never NO). Other 4xx (bad request, auth) are not retried. The SDK's own retries
are off (``max_retries=0``) so that every request is one of ours and counted in :class:`JudgeStats`.

API keys: read from the environment variable NAMED in the config (``api_key_env``) when the client opens its
connection pool; the key lives only inside the SDK client in memory: never in a config, repr, pickle, stats,
log line (error bodies are redacted) or run directory. A key sent over plain ``http://`` to a host other than
this machine is warned about once per client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import ipaddress
import json
import logging
import os
import random
import threading
import time
import urllib.parse
import weakref
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

__all__ = ["ChatClient", "ChatConfig", "ChatOutcome", "JudgeStats", "parse_retry_after", "run_coroutine_sync"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The SDK refuses to start without a key string. Servers that need none (vLLM, ``chase judge serve``) get this
# placeholder, which is not a secret and is never sent: no Authorization header at all (ChatClient._make_sdk).
NO_KEY_PLACEHOLDER = "no-key-configured"

_RETRY_STATUS = frozenset({408, 409, 425, 429})


# ----------------------------------------------------------------------------------------------------------------
# stats


@dataclass
class JudgeStats:
    """Counters since the judge was made (cumulative; thread-safe increments via :meth:`add`).

    items: (prompt, response, rubric) items graded; criteria: verdicts requested; cache_hits / cache_misses:
    criteria found / not found in the cache; calls: judge calls made (after cache and de-duplication; one per
    response, or per chunk with ``criteria_per_call``); requests: HTTP requests sent (attempts, incl. retries)
    or generations run; retries; failed_calls: calls that ended with no usable reply (all their criteria
    UNKNOWN); repaired: replies that needed JSON repair; missing: criteria a usable reply did not give;
    unscored_criteria / unscored_items: UNKNOWN verdicts returned / items with at least one; errors: failed
    attempts by kind (``http_429``, ``timeout``, ``unparsable``, ...)."""

    items: int = 0
    criteria: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    calls: int = 0
    requests: int = 0
    retries: int = 0
    failed_calls: int = 0
    repaired: int = 0
    missing: int = 0
    unscored_criteria: int = 0
    unscored_items: int = 0
    errors: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def __getstate__(self) -> dict[str, Any]:
        return self.as_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**{**state, "errors": Counter(state.get("errors", {}))})

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            d = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
            d["errors"] = dict(self.errors)
        return d


# ----------------------------------------------------------------------------------------------------------------
# running coroutines from sync code


def run_coroutine_sync(make_coro: Callable[[], Any]) -> Any:
    """Run ``make_coro()`` to completion from sync code: ``asyncio.run`` when this thread has no running loop,
    else on a helper thread with its own loop (calling ``asyncio.run`` inside a running loop is an error)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="judge-sync") as ex:
        return ex.submit(lambda: asyncio.run(make_coro())).result()


# ----------------------------------------------------------------------------------------------------------------
# configuration and results


@dataclass(frozen=True)
class ChatConfig:
    """An OpenAI-compatible ``/chat/completions`` endpoint and how hard to try it.

    base_url: up to and including the API version, e.g. ``http://127.0.0.1:8000/v1`` (vLLM, SGLang,
        ``chase judge serve``) or ``https://api.openai.com/v1``; model: the ``model`` field sent;
    api_key_env: NAME of the environment variable holding the API key (the key itself is never stored here);
        None or an unset variable sends no Authorization header;
    max_concurrency: requests in flight at once (across every event loop that uses the client);
    timeout_s: limit for one request (connect + reply); max_attempts: requests per call, first one included;
    backoff_base_s / backoff_max_s: retry k waits uniform(0, min(max, base * 2**(k-1))) ("full jitter");
    retry_after_max_s: a server's ``Retry-After`` is honoured up to this many seconds;
    temperature / max_tokens: sampling fields sent (None omits max_tokens);
    json_mode: also send ``response_format={"type": "json_object"}`` (servers that support it);
    seed: seeds the jitter RNG (runs are reproducible up to network timing)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "judge"
    api_key_env: str | None = "OPENAI_API_KEY"
    max_concurrency: int = 16
    timeout_s: float = 60.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    retry_after_max_s: float = 60.0
    temperature: float = 0.0
    max_tokens: int | None = 1024
    json_mode: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        u = urllib.parse.urlsplit(self.base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if self.max_concurrency < 1 or self.max_attempts < 1:
            raise ValueError("max_concurrency and max_attempts must be >= 1")
        if not (self.timeout_s > 0 and self.backoff_base_s >= 0 and self.backoff_max_s >= 0):
            raise ValueError("timeout_s must be > 0 and backoff times >= 0")


@dataclass(frozen=True)
class ChatOutcome(Generic[T]):
    """value: what ``accept`` returned for the first accepted reply, or None after the last attempt;
    attempts: requests sent; error: the last failure kind when value is None."""

    value: T | None
    attempts: int
    error: str | None = None


class _ChatError(Exception):
    """One failed attempt. Carries no SDK exception (their messages quote response bodies, which may echo the
    key); ``detail`` is redacted before it is made."""

    def __init__(self, kind: str, retry: bool, retry_after: float | None = None, detail: str = ""):
        super().__init__(kind)
        self.kind, self.retry, self.retry_after, self.detail = kind, retry, retry_after, detail


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reply_content(data: bytes) -> str:
    """The first choice's message content of a chat-completions body; ``bad_body`` (retried) if it is not one.
    Parsed here rather than by the SDK so that a 200 with a broken body is an ordinary failed attempt."""
    try:
        content = json.loads(data)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _ChatError("bad_body", True) from None
    if not isinstance(content, str):
        raise _ChatError("bad_body", True)
    return content


# ----------------------------------------------------------------------------------------------------------------
# the I/O loop that owns the SDK client


class _IOLoop:
    """An event loop on a daemon thread, owning one ``AsyncOpenAI`` client and the concurrency bound.

    Why a loop of its own: the SDK's connections belong to the event loop that opened them, and callers come
    from many loops (``verify_many`` runs ``asyncio.run`` per call; TRL keeps one long-lived loop; tests run
    both at once). Sending every request from this one loop gives one connection pool and one hard bound on
    requests in flight, whoever calls."""

    def __init__(self, sdk: Any, extra_headers: dict[str, Any], max_concurrency: int):
        self.sdk = sdk
        self.extra_headers = extra_headers
        self.sem = asyncio.Semaphore(max_concurrency)  # binds to the loop that first uses it: ours
        self.pid = os.getpid()  # after a fork this thread is gone; the client starts a new one
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="judge-http", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        """Close the SDK client, then the loop. Never blocks, so it is safe from any thread (finalizers too)."""

        async def shutdown() -> None:
            try:
                await self.sdk.close()
            finally:
                self.loop.stop()

        try:
            self.loop.call_soon_threadsafe(lambda: self.loop.create_task(shutdown()))
        except RuntimeError:  # the loop is already closed
            pass


# ----------------------------------------------------------------------------------------------------------------
# the client


class ChatClient:
    """Async chat completions with bounded concurrency, timeouts, retries and backoff (see :class:`ChatConfig`).

    Requests go through one ``openai.AsyncOpenAI`` client on the client's own I/O loop (:class:`_IOLoop`);
    the retry loop, backoff sleeps and ``accept`` run on the caller's loop. Concurrency is bounded by a
    semaphore held per attempt only (a call backing off does not block the others, and waiting in line does
    not eat a request's timeout)."""

    def __init__(self, config: ChatConfig, stats: JudgeStats | None = None):
        self.config = config
        self.stats = stats if stats is not None else JudgeStats()
        self._rng = random.Random(config.seed)  # explicit and seeded: no global RNG
        self._rng_lock = threading.Lock()
        self._io: _IOLoop | None = None
        self._io_lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None
        self._warned_no_key = False
        self._warned_plain_http = False

    def __getstate__(self) -> dict[str, Any]:
        # threads, loops, sockets and the SDK client (which holds the key) do not travel: rebuilt on first use
        return {"config": self.config, "stats": self.stats}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["stats"])

    def __repr__(self) -> str:
        return f"ChatClient(base_url={self.config.base_url!r}, model={self.config.model!r})"

    # -- plumbing -----------------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        name = self.config.api_key_env
        key = os.environ.get(name) if name else None
        if name and not key and not self._warned_no_key:
            self._warned_no_key = True
            logger.info("environment variable %s is not set: sending requests without an API key", name)
        return key or None

    def _warn_plain_http(self) -> None:
        """Warn (once per client; the key itself is never printed) when a key is about to travel unencrypted:
        an ``http://`` base URL whose host is not this machine."""
        u = urllib.parse.urlsplit(self.config.base_url)
        host = (u.hostname or "").strip("[]")
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = host == "localhost" or host.endswith(".localhost")
        if u.scheme == "http" and not local and not self._warned_plain_http:
            self._warned_plain_http = True
            logger.warning(
                "sending the API key from $%s over plain http to %s: anyone on the network path can read it; "
                "use an https:// base URL",
                self.config.api_key_env,
                host,
            )

    def _redact(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "[REDACTED]") if key else text

    def _make_sdk(self) -> tuple[Any, dict[str, Any]]:
        """The SDK client, and the headers each request adds: with no key configured, no Authorization header
        at all (an explicit omission; the placeholder key is never sent), as local servers expect."""
        import openai  # imported here: ``import rft.judges`` stays light for the local judge and the server

        c = self.config
        key = self._api_key()
        if key:
            self._warn_plain_http()
        extra_headers = {} if key else {"Authorization": openai.Omit()}
        sdk = openai.AsyncOpenAI(
            api_key=key or NO_KEY_PLACEHOLDER,
            base_url=c.base_url,
            timeout=c.timeout_s,
            max_retries=0,  # our policy decides (it also retries unparsable replies and counts every request)
        )
        return sdk, extra_headers

    def _io_loop(self) -> _IOLoop:
        with self._io_lock:
            if self._io is None or self._io.pid != os.getpid():
                if self._finalizer is not None:
                    self._finalizer.detach()  # forked: that loop (and its sockets) belongs to the parent
                self._io = _IOLoop(*self._make_sdk(), self.config.max_concurrency)
                # a client dropped without close() still frees its thread and connections
                self._finalizer = weakref.finalize(self, self._io.stop)
            return self._io

    def close(self) -> None:
        with self._io_lock:
            if self._finalizer is not None:
                self._finalizer()  # runs _IOLoop.stop once
            self._io, self._finalizer = None, None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        c = self.config
        with self._rng_lock:
            jitter = self._rng.uniform(0.0, min(c.backoff_max_s, c.backoff_base_s * 2 ** (attempt - 1)))
        if retry_after is not None:
            # the server told us when: wait at least that long (capped), plus a little jitter to de-synchronize
            return min(retry_after, c.retry_after_max_s) + min(jitter, c.backoff_base_s)
        return jitter

    def payload(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        c = self.config
        p: dict[str, Any] = {"model": c.model, "messages": messages, "temperature": c.temperature}
        if c.max_tokens is not None:
            p["max_tokens"] = c.max_tokens
        if c.json_mode:
            p["response_format"] = {"type": "json_object"}
        return p

    # -- one attempt (runs on the I/O loop) ----------------------------------------------------------------
    def _status_error(self, status: int, headers: Any, body: bytes) -> _ChatError:
        retry = status in _RETRY_STATUS or status >= 500
        ra = parse_retry_after(headers.get("retry-after")) if retry else None
        return _ChatError(f"http_{status}", retry, ra, self._redact(body[:200].decode("utf-8", "replace")))

    async def _send(self, io: _IOLoop, payload: dict[str, Any]) -> str:
        import openai

        async with io.sem:
            self.stats.add(requests=1)
            try:
                # raw response: we read the body ourselves, so a broken 200 is a retried ``bad_body``
                request = io.sdk.chat.completions.with_raw_response.create(**payload, extra_headers=io.extra_headers)
                raw = await asyncio.wait_for(request, self.config.timeout_s)  # a bound on the whole request
            except (TimeoutError, openai.APITimeoutError):
                raise _ChatError("timeout", True) from None
            except openai.APIStatusError as e:
                raise self._status_error(e.status_code, e.response.headers, e.response.content) from None
            except openai.APIConnectionError as e:
                raise _ChatError("connection", True, detail=type(e.__cause__ or e).__name__) from None
        http = raw.http_response
        if http.status_code != 200:  # another 2xx is not a chat completion either
            raise self._status_error(http.status_code, http.headers, http.content)
        return _reply_content(http.content)

    # -- the public call ----------------------------------------------------------------------------------
    async def acomplete(
        self, messages: list[dict[str, str]], accept: Callable[[str], T | None], label: str = "call"
    ) -> ChatOutcome[T]:
        """Send ``messages`` until ``accept(reply_text)`` returns a value (not None), at most ``max_attempts``
        requests. Never raises for server or network trouble: returns ``ChatOutcome(None, attempts, kind)``."""
        c = self.config
        payload = self.payload(messages)
        last = "none"
        for attempt in range(1, c.max_attempts + 1):
            try:
                io = self._io_loop()
                text = await asyncio.wrap_future(io.submit(self._send(io, payload)))
                value = accept(text)
                if value is not None:
                    return ChatOutcome(value, attempt)
                err = _ChatError("unparsable", True)
            except _ChatError as e:
                err = e
            last = err.kind
            self.stats.error(err.kind)
            if not err.retry:
                logger.warning("%s: %s (not retried)%s", label, err.kind, f": {err.detail}" if err.detail else "")
                return ChatOutcome(None, attempt, err.kind)
            if attempt < c.max_attempts:
                self.stats.add(retries=1)
                await asyncio.sleep(self._delay(attempt, err.retry_after))
        # INFO, not WARNING: a dead server would print one line per call; the batch summary warns once
        logger.info("%s: gave up after %d attempts (last error: %s)", label, c.max_attempts, last)
        return ChatOutcome(None, c.max_attempts, last)

    def complete(self, messages: list[dict[str, str]], accept: Callable[[str], T | None]) -> ChatOutcome[T]:
        """Sync form of :meth:`acomplete`."""
        return run_coroutine_sync(lambda: self.acomplete(messages, accept))
