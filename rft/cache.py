"""A SQLite verdict cache shared by threads and processes: repeated scoring and resumed runs cost no calls.

One row per (judge id, prompt, response, criterion text) -> verdict. The key is the sha256
(:func:`rewards.rubric.stable_hash`) of that 4-tuple, so equal inputs hit across processes and runs; the
judge id carries the model name and the prompt version (a new judge prompt gets fresh verdicts).
Only definite verdicts (YES / NO) are stored: UNKNOWN means "could not score", so a resumed run asks again.

Safety, and why:
- WAL journal: readers never block the writer and a writer killed mid-transaction leaves the database at
  its last commit (SQLite rolls the torn WAL frames back on the next open). ``synchronous=NORMAL`` is
  durable against process crashes (only an OS crash may lose the last commits, never consistency).
- Short transactions (one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per batch of rows) plus a busy timeout, so
  several processes writing at once wait for each other instead of failing with "database is locked".
- ``INSERT OR IGNORE``: the first verdict for a key wins, so two processes racing on the same key agree.
- One connection per process, guarded by a lock for threads; a forked child reopens its own connection
  (SQLite connections must not cross ``fork``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rewards.rubric import NO, YES, stable_hash

__all__ = ["VerdictCache", "verdict_key"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key     TEXT PRIMARY KEY,
    judge   TEXT NOT NULL,
    verdict INTEGER NOT NULL CHECK (verdict IN (0, 1)),
    created REAL NOT NULL
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SELECT ... IN (...): well under SQLite's host-parameter limit


def verdict_key(judge_id: str, prompt: Any, response: Any, criterion_text: str) -> str:
    """The cache key: sha256 of the canonical JSON of (judge id, prompt, response, criterion text).
    ``prompt`` / ``response`` may be strings or any JSON-serializable value (chat lists, tuples of ints)."""
    return stable_hash(["verdict-v1", judge_id, prompt, response, criterion_text])


class VerdictCacheError(ValueError):
    """The verdict cache file cannot be opened or used."""


class VerdictCache:
    """``get_many(keys) -> {key: verdict}`` and ``put_many([(key, judge_id, verdict)])`` over one SQLite file.

    ``hits`` / ``misses`` / ``writes`` count this object's lookups (per process); :meth:`stats` returns them.
    """

    def __init__(self, path: str | os.PathLike, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = float(busy_timeout_s)
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        try:
            self._connect()
        except sqlite3.Error as e:  # a folder, a file that is not SQLite, no permission: say which file
            raise VerdictCacheError(
                f"{self.path}: cannot open the verdict cache ({e}); give a new or SQLite file"
            ) from e

    # -- connection ---------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # Two processes opening a NEW file at once both try to switch it to WAL; SQLite answers one of them
        # "database is locked" at once (no busy wait for that switch). Retry the open, bounded by the busy
        # timeout, with a growing pause; any other error (a folder, not SQLite) is raised at once.
        deadline, pause = time.monotonic() + self.busy_timeout_s, 0.02
        while True:
            try:
                conn = self._open_once()
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(2 * pause, 1.0)
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _open_once(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions are exactly as long as we say.
        conn = sqlite3.connect(
            str(self.path), timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning(
                    "verdict cache %s: journal_mode is %s, not WAL (filesystem without shared memory?)", self.path, mode
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        # picklable (TRL/accelerate may ship reward functions to other processes): reopen there, fresh counters
        return {"path": str(self.path), "busy_timeout_s": self.busy_timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["busy_timeout_s"])

    def __enter__(self) -> VerdictCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reads and writes ---------------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, int]:
        """Cached verdicts for ``keys`` (absent keys are missing from the dict); counts hits and misses."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, int] = {}
        with self._lock:
            conn = self._connect()
            for i in range(0, len(keys), _CHUNK):
                part = keys[i : i + _CHUNK]
                q = f"SELECT key, verdict FROM verdicts WHERE key IN ({','.join('?' * len(part))})"
                found.update((k, int(v)) for k, v in conn.execute(q, part))
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def put_many(self, rows: Iterable[tuple[str, str, int]]) -> int:
        """Store ``(key, judge_id, verdict)`` rows in ONE short transaction; UNKNOWN verdicts are skipped.
        Returns the number of rows offered (existing keys keep their first verdict)."""
        now = time.time()
        data = [(k, j, int(v), now) for k, j, v in rows if int(v) in (YES, NO)]
        if not data:
            return 0
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR IGNORE INTO verdicts (key, judge, verdict, created) VALUES (?,?,?,?)", data)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self.writes += len(data)
        return len(data)

    # -- inspection ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the file is consistent)."""
        with self._lock:
            return str(self._connect().execute("PRAGMA integrity_check").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {
            "path": str(self.path),
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
            "hit_rate": (self.hits / total) if total else float("nan"),
        }

    def log_stats(self, level: int = logging.INFO) -> None:
        s = self.stats()
        logger.log(
            level, "verdict cache %s: %d hits, %d misses, %d writes", s["path"], s["hits"], s["misses"], s["writes"]
        )
