"""LLM-judge throughput: one call per response vs one per criterion, concurrent vs one at a time, and the cache.

Starts `chase judge serve --oracle --latency-ms 50` in a separate process (a deterministic stand-in for an LLM
server that takes 50 ms per call), then grades 256 responses x 10 criteria with OpenAICompatibleJudge in
several modes. Calls are counted by the server (GET /stats) and by the client; every mode's verdicts are
checked against the oracle's answers. Prints one JSON object.

    nice -n 10 python benchmarks/bench_judge.py                 # full run (~3 min: the serial per-criterion
                                                                 # baseline alone makes 2560 calls x 50 ms)
    python benchmarks/bench_judge.py --responses 64 --skip-serial-per-criterion   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rewards.rubric import Criterion, Rubric  # noqa: E402
from rft.cache import VerdictCache  # noqa: E402
from rft.judge_server import oracle_verdict  # noqa: E402
from rft.judges import JudgeConfig, OpenAICompatibleJudge  # noqa: E402


def server_requests(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=10) as r:
        return int(json.loads(r.read())["requests"])


def run_mode(base_url, items, expected, *, concurrency, per_call, cache=None):
    cfg = JudgeConfig(
        base_url=base_url,
        model="oracle",
        api_key_env=None,
        max_concurrency=concurrency,
        criteria_per_call=per_call,
        timeout_s=30.0,
    )
    judge = OpenAICompatibleJudge(cfg, cache=cache)
    before = server_requests(base_url)
    t0 = time.perf_counter()
    out = judge.verify_many(items)
    wall = time.perf_counter() - t0
    calls = server_requests(base_url) - before
    ok = all(o.tolist() == e for o, e in zip(out, expected, strict=True))
    judge.close()
    s = judge.stats.as_dict()
    return {
        "concurrency": concurrency,
        "criteria_per_call": per_call or "all",
        "server_calls": calls,
        "client_requests": s["requests"],
        "wall_s": round(wall, 3),
        "correct": ok,
        "unscored_criteria": s["unscored_criteria"],
        "cache_hits": s["cache_hits"],
    }


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--responses", type=int, default=256)
    ap.add_argument("--criteria", type=int, default=10)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument(
        "--skip-serial-per-criterion",
        action="store_true",
        help="skip the slowest baseline (responses x criteria calls one at a time)",
    )
    return ap.parse_args()


def _workload(n_responses: int, n_criteria: int):
    """(items, expected verdicts): one rubric of ``n_criteria`` criteria, ``n_responses`` responses."""
    rubric = Rubric(tuple(Criterion(f"The answer satisfies requirement {i}") for i in range(n_criteria)))
    items = [
        ("A patient asks about a headache.", f"Response {k}: rest, fluids and see a doctor if it lasts.", rubric)
        for k in range(n_responses)
    ]
    expected = [[int(oracle_verdict(r, c.text)) for c in rubric.criteria] for _, r, _ in items]
    return items, expected


def _start_oracle(latency_ms: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "chase", "judge", "serve", "--oracle", "--port", "0", "--latency-ms", str(latency_ms)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)


def _all_modes(base_url: str, items, expected, args) -> dict:
    conc = args.concurrency
    # warm-up, not timed: the first request imports the openai SDK (~1.3 s) and opens connections
    run_mode(base_url, items[:1], expected[:1], concurrency=1, per_call=None)
    rows = {
        "per_response_concurrent": run_mode(base_url, items, expected, concurrency=conc, per_call=None),
        "per_response_serial": run_mode(base_url, items, expected, concurrency=1, per_call=None),
        "per_criterion_concurrent": run_mode(base_url, items, expected, concurrency=conc, per_call=1),
    }
    if not args.skip_serial_per_criterion:
        rows["per_criterion_serial"] = run_mode(base_url, items, expected, concurrency=1, per_call=1)
    with tempfile.TemporaryDirectory() as d:
        cache = VerdictCache(Path(d) / "verdicts.sqlite")
        for name in ("per_response_concurrent_cold_cache", "per_response_warm_cache"):
            rows[name] = run_mode(base_url, items, expected, concurrency=conc, per_call=None, cache=cache)
        cache.close()
    return rows


def _summary(rows: dict, args) -> dict:
    conc, ser = rows["per_response_concurrent"], rows["per_response_serial"]
    pc = rows["per_criterion_concurrent"]
    summary = {
        "setup": {
            "responses": args.responses,
            "criteria": args.criteria,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "modes": rows,
        "speedup_concurrent_vs_serial_per_response": round(ser["wall_s"] / conc["wall_s"], 2),
        "calls_per_criterion_over_per_response": pc["server_calls"] / conc["server_calls"],
        "speedup_per_response_vs_per_criterion_concurrent": round(pc["wall_s"] / conc["wall_s"], 2),
        "all_correct": all(r["correct"] for r in rows.values()),
    }
    if "per_criterion_serial" in rows:
        serial = rows["per_criterion_serial"]["wall_s"]
        summary["speedup_best_vs_healthbench_style_serial"] = round(serial / conc["wall_s"], 2)
    return summary


def main() -> int:
    args = _args()
    items, expected = _workload(args.responses, args.criteria)
    proc = _start_oracle(args.latency_ms)
    try:
        base_url = json.loads(proc.stdout.readline())["base_url"]
        rows = _all_modes(base_url, items, expected, args)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    summary = _summary(rows, args)
    print(json.dumps(summary, indent=2))
    return 0 if summary["all_correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
