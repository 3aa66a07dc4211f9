"""World (b) of the pre-registered validation: real GRPO (TRL) on the triage task with the tiny LM.

Prediction (base samples alone): the pretrained base LM samples ``samples`` completions per held-out prompt (the
prompts the training runs are evaluated on), at temperature 1 as the evaluation does; each is scored by every
proxy rubric (initial, refined, gold) and by the gold rubric with the rule verifier; ``rewards.predict`` turns
them into the tilt's predicted gold against KL and against the proxy level.

Outcome: ``chase rft train --config rft/configs/cpu.yaml --proxy P --seed S`` runs (their ``eval_metrics.jsonl``:
gold, proxy and sequence-level KL every 10 steps on the same held-out prompts). Per run, the peak of the gold
curve (3-evaluation moving average, as ``docs/rft_findings.md``), the KL and proxy there.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import read_jsonl
from rewards.predict import predict
from rewards.stats import interval, moving_average

PROXIES = {"initial": "initial", "refined": "refined:4-great-diverse-pairs", "gold": "gold"}


@dataclass(frozen=True)
class RftPrediction:
    """The RFT validation.

    task, model: the task folder and the pretrained base LM (``chase rft build-task`` / ``chase rft pretrain``).
    samples:     base completions per held-out prompt; eval_prompts: held-out prompts (the evaluation's 16).
    max_new_tokens: as ``rft/configs/cpu.yaml`` (96).
    runs:        root of the GRPO runs, ``RUNS/seed{S}/grpo-{P}``; seeds: the seeds measured.
    smooth:      moving-average width of the gold curve when locating a run's peak (as the findings).
    steps:       GRPO steps of a finished run (``rft/configs/cpu.yaml``); unfinished runs are left out.
    samples_file: where the scored base samples go (``chase diagnose`` input: ``--proxy-key proxy_initial``).
    """

    task: str = "runs/rft/cpu/task"
    model: str = "runs/rft/cpu/tinylm"
    samples: int = 512
    eval_prompts: int = 16
    max_new_tokens: int = 96
    seed: int = 12345
    n_boot: int = 200
    min_ess: float = 10.0
    runs: str = "runs/rft/cpu"
    seeds: tuple[int, ...] = (0, 1, 2)
    proxies: tuple[str, ...] = ("initial", "refined", "gold")
    smooth: int = 3
    steps: int = 200
    samples_file: str = "runs/prediction/rft_base_samples.jsonl"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_base(cfg: RftPrediction) -> dict[str, Any]:
    """Base-LM completions on the held-out prompts, scored by each proxy rubric and by gold:
    ``{"prompt_id": [...], "gold": [...], "proxy": {name: [...]}}`` (one entry per completion)."""
    import torch

    from rewards.verify import RuleVerifier
    from rft.evaluate import EvalSpec, _generate
    from rft.reward import GoldReward, RubricReward
    from rft.tasks.triage import load_task
    from rft.tinylm import load_tinylm

    torch.set_num_threads(1)
    task = load_task(cfg.task)
    model, tok = load_tinylm(cfg.model, device="cpu")
    rows = {p: task.rows("eval", key, "conversational", n=cfg.eval_prompts) for p, key in PROXIES.items()}
    spec = EvalSpec(rows["initial"], cfg.samples, cfg.max_new_tokens, cfg.seed)
    proxy0, gold = RubricReward(RuleVerifier(), rubric_column="rubric", name="proxy"), GoldReward(RuleVerifier())
    s = _generate(model, model, tok, spec, proxy0, gold, 0, "conversational", False)
    reps = np.repeat(np.arange(len(spec.rows)), cfg.samples)
    out: dict[str, Any] = {
        "prompt_id": [rows["initial"][i].get("case_id", str(i)) for i in reps],
        "gold": gold.score(s.prompts, s.completions, s.gold_cols).tolist(),
        "proxy": {},
    }
    for name in cfg.proxies:
        cols = [rows[name][i]["rubric"] for i in reps]
        out["proxy"][name] = proxy0.score(s.prompts, s.completions, cols).tolist()
    return out


def _tilt_summary(pred) -> dict[str, Any]:
    t = pred["tilt"]
    c = t.curve
    keep = np.asarray(c.resolved)
    return {
        "peak": t.peak,
        "peak_kl": t.peak_kl,
        "peak_kl_ci": list(t.peak_kl_ci),
        "peak_gold": t.peak_gold,
        "peak_gold_ci": list(t.peak_gold_ci),
        "peak_proxy": t.peak_proxy,
        "max_kl": t.max_kl,
        "drop": t.drop,
        "drop_ci": list(t.drop_ci),
        "curve": {k: np.asarray(getattr(c, k))[keep].tolist() for k in ("kl", "gold", "gold_lo", "gold_hi", "proxy")},
    }


def _write_samples(base: dict[str, Any], path: Path) -> None:
    """The scored base samples as ``chase diagnose`` input, one JSONL line per completion with every proxy."""
    from rewards.io import write_jsonl

    names = list(base["proxy"])
    rows = (
        {"prompt_id": pid, "gold": g, **{f"proxy_{k}": base["proxy"][k][i] for k in names}}
        for i, (pid, g) in enumerate(zip(base["prompt_id"], base["gold"], strict=True))
    )
    write_jsonl(path, rows)


def predict_rft(cfg: RftPrediction) -> dict[str, Any]:
    """Sample the base LM, score, and predict per proxy. Returns a JSON-able dict (the samples' scores too)."""
    t0 = time.perf_counter()
    base = sample_base(cfg)
    ids, gold = np.array(base["prompt_id"]), np.array(base["gold"], dtype=float)
    _write_samples(base, Path(cfg.samples_file))
    out: dict[str, Any] = {"config": cfg.to_dict(), "n_samples": len(base["gold"]), "proxies": {}}
    for name, r in base["proxy"].items():
        r = np.array(r, dtype=float)
        ok = ~np.isnan(r)
        pred = predict(
            ids[ok], r[ok], gold[ok], rng=np.random.default_rng(cfg.seed), n_boot=cfg.n_boot, min_ess=cfg.min_ess
        )
        out["proxies"][name] = _tilt_summary(pred)
        print(name, {k: v for k, v in out["proxies"][name].items() if k != "curve"}, flush=True)
    out["seconds"] = time.perf_counter() - t0
    return out


def _run_peak(rows: list[dict], smooth: int) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["step"])
    gold = np.array([r["gold"] for r in rows], dtype=float)
    sm = moving_average(gold, smooth)
    i = int(np.argmax(sm))
    col = {k: [float(r[k]) for r in rows] for k in ("step", "gold", "proxy", "kl_seq")}
    return {
        "peak_step": col["step"][i],
        "peak_gold": float(sm[i]),
        "peak_kl": col["kl_seq"][i],
        "peak_proxy": col["proxy"][i],
        "interior_peak": i < len(rows) - 1,
        "drop": float(sm[i] - sm[-1]),  # smoothed peak minus smoothed end: what the run gave back
        "curve": col,
    }


def measure_rft(cfg: RftPrediction) -> dict[str, Any]:
    """Read the finished GRPO runs ``RUNS/seed{S}/grpo-{P}/eval_metrics.jsonl`` (they are trained by
    ``chase rft train``; see docs/prediction.md for the commands)."""
    out: dict[str, Any] = {"config": cfg.to_dict(), "proxies": {}}
    for p in cfg.proxies:
        runs = []
        for s in cfg.seeds:
            path = Path(cfg.runs) / f"seed{s}" / f"grpo-{p}" / "eval_metrics.jsonl"
            rows = read_jsonl(path)
            if rows and max(r["step"] for r in rows) >= cfg.steps:  # finished runs only
                runs.append({"seed": s, **_run_peak(rows, cfg.smooth)})
        out["proxies"][p] = runs
    return out


def _interp(x_new, x, y) -> np.ndarray:
    """y(x) at x_new by linear interpolation on the part of x that increases; NaN outside its range."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.concatenate([[True], np.diff(x) > 0])
    x, y = x[keep], y[keep]
    return np.where((x_new >= x[0]) & (x_new <= x[-1]), np.interp(x_new, x, y), np.nan)


def _first_crossing(x, y, level: float) -> float:
    """y where the curve x first reaches ``level`` (linear between evaluations); NaN if it never does."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    above = np.flatnonzero(x >= level)
    if above.size == 0:
        return float("nan")
    i = int(above[0])
    if i == 0:
        return float(y[0])
    f = (level - x[i - 1]) / (x[i] - x[i - 1])
    return float(y[i - 1] + f * (y[i] - y[i - 1]))


def _mean_abs(d: np.ndarray) -> float:
    """Mean |d| over the finite entries; NaN when none is finite (the prediction resolves none of the run)."""
    d = d[np.isfinite(d)]
    return float(np.abs(d).mean()) if d.size else float("nan")


def compare(pred: dict[str, Any], meas: dict[str, Any]) -> list[dict[str, Any]]:
    """Per proxy: predicted vs measured peak KL, gold and proxy at the peak; the predicted gold at each run's
    measured proxy level and KL (where the prediction resolves them) against the measured gold."""
    rows = []
    for name, runs in meas["proxies"].items():
        if not runs:
            continue
        p = pred["proxies"][name]
        c = p["curve"]
        mk = interval([r["peak_kl"] for r in runs])
        errs_proxy, errs_kl, kl_same_proxy = [], [], []
        for r in runs:
            cv = r["curve"]
            kl_same_proxy.append(_first_crossing(cv["proxy"], cv["kl_seq"], p["peak_proxy"]))
            g_at_proxy = _interp(np.array(cv["proxy"]), c["proxy"], c["gold"])
            g_at_kl = _interp(np.array(cv["kl_seq"]), c["kl"], c["gold"])
            errs_proxy.append(
                np.nanmean(np.abs(g_at_proxy - np.array(cv["gold"]))) if np.isfinite(g_at_proxy).any() else np.nan
            )
            errs_kl.append(np.nanmean(np.abs(g_at_kl - np.array(cv["gold"]))) if np.isfinite(g_at_kl).any() else np.nan)
        rows.append(
            {
                "proxy": name,
                "seeds": [r["seed"] for r in runs],
                "pred_peak": p["peak"],
                "pred_kl": p["peak_kl"],
                "pred_kl_ci": p["peak_kl_ci"],
                "pred_gold": p["peak_gold"],
                "pred_proxy": p["peak_proxy"],
                "max_kl": p["max_kl"],
                "meas_interior_peak": float(np.mean([r["interior_peak"] for r in runs])),
                "meas_drop": interval([r["drop"] for r in runs]).to_dict(),
                "meas_kl": mk.to_dict(),
                "meas_gold": interval([r["peak_gold"] for r in runs]).to_dict(),
                "meas_proxy": interval([r["peak_proxy"] for r in runs]).to_dict(),
                "rel_err_kl": (p["peak_kl"] - mk.mean) / mk.mean,
                "gold_abs_err_at_proxy": float(np.nanmean(errs_proxy)) if np.isfinite(errs_proxy).any() else None,
                "gold_abs_err_at_kl": float(np.nanmean(errs_kl)) if np.isfinite(errs_kl).any() else None,
                # the KL the run had spent when its proxy first reached the predicted peak's proxy level
                "meas_kl_at_pred_proxy": interval(kl_same_proxy, nan="omit").to_dict(),
            }
        )
    return rows
