"""The SQLite verdict cache: threads, several processes, and a writer killed mid-write."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from rewards.rubric import NO, UNKNOWN, YES, Criterion, Rubric
from rft.cache import VerdictCache, VerdictCacheError, verdict_key
from rft.judge_server import JudgeServer, OracleBackend, oracle_verdict
from rft.judges import JudgeConfig, OpenAICompatibleJudge

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_keys_and_basic_ops(tmp_path):
    k1 = verdict_key("m|judge-v1", "p", "r", "crit")
    assert k1 == verdict_key("m|judge-v1", "p", "r", "crit")
    assert (
        len(
            {
                k1,
                verdict_key("m2|judge-v1", "p", "r", "crit"),
                verdict_key("m|judge-v1", "p", "r2", "crit"),
                verdict_key("m|judge-v1", "p2", "r", "crit"),
                verdict_key("m|judge-v1", "p", "r", "crit2"),
            }
        )
        == 5
    )
    with VerdictCache(tmp_path / "c.sqlite") as c:
        assert c.put_many([("a", "j", YES), ("b", "j", NO), ("u", "j", UNKNOWN)]) == 2  # UNKNOWN never stored
        c.put_many([("a", "j", NO)])  # first verdict wins
        assert c.get_many(["a", "b", "u", "zz"]) == {"a": YES, "b": NO}
        assert c.stats()["hits"] == 2 and c.stats()["misses"] == 2
        assert c.integrity_check() == "ok"
        mode = c._connect().execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_threads_share_one_cache(tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite")
    errors = []

    def work(t):
        try:
            for b in range(20):
                rows = [(f"t{t}-b{b}-{i}", "j", (t + i) % 2) for i in range(25)]
                cache.put_many(rows)
                got = cache.get_many([r[0] for r in rows])
                assert got == {k: v for k, _, v in rows}
        except Exception as e:  # collected: an assert in a thread would not fail the test otherwise
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(cache) == 8 * 20 * 25 and cache.integrity_check() == "ok"


WRITER = textwrap.dedent("""
    import os, sys
    from rft.cache import VerdictCache
    c = VerdictCache(sys.argv[1])
    batch = int(sys.argv[2])
    b = 0
    while True:
        c.put_many([(f"{os.getpid()}-b{b}-{i}-" + "x" * 200, "judge", i % 2) for i in range(batch)])
        b += 1
        if b == 1:
            print("ready", flush=True)
""")


def test_killed_writer_leaves_cache_consistent(tmp_path):
    path = tmp_path / "c.sqlite"
    batch = 2000  # big transactions, so the kill very likely lands inside one
    kills = 0
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(batch)], stdout=subprocess.PIPE, env=_env())
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(0.15)
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        cache = VerdictCache(path)
        assert cache.integrity_check() == "ok"
        n = len(cache) - (kills - 1)  # minus the rows written after earlier kills
        assert n > 0 and n % batch == 0  # only whole transactions are visible
        # and it is still usable for writing
        cache.put_many([(f"after-kill-{kills}", "judge", YES)])
        assert cache.get_many([f"after-kill-{kills}"]) == {f"after-kill-{kills}": YES}
        cache.close()
    final = VerdictCache(path)
    assert (len(final) - kills) % batch == 0 and final.integrity_check() == "ok"


MID_WRITE = textwrap.dedent("""
    import os, sys, time
    from rft.cache import VerdictCache
    c = VerdictCache(sys.argv[1])
    c.put_many([(f"committed-{i}", "judge", 1) for i in range(100)])
    conn = c._connect()
    conn.execute("PRAGMA cache_size = 5")  # tiny page cache: uncommitted pages spill into the WAL file
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO verdicts VALUES (?, 'judge', 0, 0.0)",
                     [(f"torn-{i}-" + "y" * 300,) for i in range(5000)])
    print(os.path.getsize(sys.argv[1] + "-wal"), flush=True)
    time.sleep(60)  # killed here, inside the transaction
""")


def test_writer_killed_inside_a_transaction(tmp_path):
    path = tmp_path / "c.sqlite"
    p = subprocess.Popen([sys.executable, "-c", MID_WRITE, str(path)], stdout=subprocess.PIPE, env=_env())
    wal_bytes = int(p.stdout.readline())
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wal_bytes > 1_000_000  # the torn transaction really was on disk when the writer died
    cache = VerdictCache(path)
    assert cache.integrity_check() == "ok"
    assert len(cache) == 100  # only the committed rows
    assert cache.get_many(["committed-0", "torn-0-" + "y" * 300]) == {"committed-0": YES}
    cache.put_many([("after", "judge", NO)])
    assert len(cache) == 101


JUDGE_PROC = textwrap.dedent("""
    import json, sys
    from rewards.rubric import Criterion, Rubric
    from rft.cache import VerdictCache
    from rft.judges import JudgeConfig, OpenAICompatibleJudge
    url, path, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rubric = Rubric(tuple(Criterion(f"criterion {i}") for i in range(6)))
    judge = OpenAICompatibleJudge(JudgeConfig(base_url=url, model="oracle", api_key_env=None, max_concurrency=4,
                                              backoff_base_s=0.01), cache=VerdictCache(path))
    out = judge.verify_many([("p", f"resp {k}", rubric) for k in range(lo, hi)])
    print(json.dumps({"unscored": judge.stats.unscored_criteria, "hits": judge.stats.cache_hits}))
""")


def test_processes_share_the_cache(tmp_path):
    path = tmp_path / "shared.sqlite"
    rubric = Rubric(tuple(Criterion(f"criterion {i}") for i in range(6)))
    with JudgeServer(OracleBackend()) as srv:
        # two processes at once, overlapping ranges [0, 40) and [20, 60)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", JUDGE_PROC, srv.base_url, str(path), str(lo), str(hi)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_env(),
            )
            for lo, hi in ((0, 40), (20, 60))
        ]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (_out, e) in zip(procs, outs, strict=True):
            assert p.returncode == 0, e.decode()[-2000:]
            assert b"database is locked" not in e
        assert srv.n_requests <= 80  # the overlap may be asked by both, never more than once each
        before = srv.n_requests
        judge = OpenAICompatibleJudge(
            JudgeConfig(base_url=srv.base_url, model="oracle", api_key_env=None), cache=VerdictCache(path)
        )
        out = judge.verify_many([("p", f"resp {k}", rubric) for k in range(60)])
        assert srv.n_requests == before  # everything either process judged is served from the shared cache
        assert [o.tolist() for o in out] == [
            [int(oracle_verdict(f"resp {k}", c.text)) for c in rubric.criteria] for k in range(60)
        ]
        # a later process reading it: all hits, no requests
        p = subprocess.run(
            [sys.executable, "-c", JUDGE_PROC, srv.base_url, str(path), "0", "60"],
            capture_output=True,
            env=_env(),
            timeout=60,
        )
        assert p.returncode == 0 and srv.n_requests == before
        assert p.stdout.decode().strip() == '{"unscored": 0, "hits": 360}'


@pytest.mark.parametrize("n", [0, 1])
def test_cache_file_in_new_folder(tmp_path, n):
    c = VerdictCache(tmp_path / "a" / "b" / f"c{n}.sqlite")
    assert len(c) == 0


def test_open_retries_a_locked_new_file_then_succeeds(tmp_path, monkeypatch):
    """Two processes switching a new file to WAL at once: SQLite says "database is locked" to one at once; the
    open retries (bounded by the busy timeout) instead of failing."""
    import sqlite3

    real, calls = VerdictCache._open_once, []

    def flaky(self):
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real(self)

    monkeypatch.setattr(VerdictCache, "_open_once", flaky)
    VerdictCache(tmp_path / "c.sqlite")
    assert len(calls) == 3


def test_open_gives_up_on_a_lock_after_the_busy_timeout(tmp_path, monkeypatch):
    import sqlite3

    def locked(self):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(VerdictCache, "_open_once", locked)
    with pytest.raises(VerdictCacheError, match="locked"):
        VerdictCache(tmp_path / "c.sqlite", busy_timeout_s=0.1)
