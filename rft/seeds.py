"""Evaluation curves of several GRPO runs (seeds) of one condition: means with 95% t-intervals over seeds.

numpy / scipy only (no torch), so figures and the CLI can use it on result files. A *run* is the list of rows
``rft.train`` writes to ``eval_metrics.jsonl`` (step, gold, gold_se, proxy, proxy_se, kl_seq, gold_pass, ...).

With one run the bands are +-1 standard error over that run's evaluation samples (all one seed can say);
with several they are 95% t-intervals over seeds, and the per-seed summaries (:func:`summarize_seeds`) use a
3-point moving average of the gold curve so that a single lucky evaluation does not make the peak.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from rewards.stats import moving_average

__all__ = ["aggregate_curves", "summarize_seeds", "SMOOTH"]

SMOOTH = 3  # evaluations in the centered moving average used for per-seed peaks


def _common_steps(runs: list[list[dict]]) -> list[int]:
    if not runs or any(not r for r in runs):
        raise ValueError("every run needs at least one evaluation row")
    steps = set.intersection(*({int(row["step"]) for row in r} for r in runs))
    if not steps:
        raise ValueError("the runs share no evaluation step")
    return sorted(steps)


def _matrix(runs: list[list[dict]], steps: list[int], key: str) -> np.ndarray:
    """(n_runs, n_steps) values of ``key`` (NaN where missing)."""
    out = np.full((len(runs), len(steps)), np.nan)
    for i, r in enumerate(runs):
        by_step = {int(row["step"]): row for row in r}
        for j, s in enumerate(steps):
            v = by_step[s].get(key)
            out[i, j] = np.nan if v is None else float(v)
    return out


def _mean_ci(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t-interval over axis 0 (n >= 2)."""
    n = x.shape[0]
    m = np.nanmean(x, 0)
    half = stats.t.ppf(0.975, n - 1) * np.nanstd(x, 0, ddof=1) / math.sqrt(n)
    return m, m - half, m + half


def aggregate_curves(runs: list[list[dict]], watch: tuple[str, ...] = ()) -> dict[str, Any]:
    """Curves of one condition over the evaluation steps all runs share.

    Returns {"n_seeds", "band" ("se over samples" | "95% t over seeds"), "step", "gold", "gold_lo", "gold_hi",
    "proxy", "proxy_lo", "proxy_hi", "kl_seq", "kl_seq_lo", "kl_seq_hi", "pass": {criterion: mean pass rate}}
    (lists, one entry per step)."""
    steps = _common_steps(runs)
    out: dict[str, Any] = {"n_seeds": len(runs), "step": steps}
    for key in ("gold", "proxy", "kl_seq"):
        x = _matrix(runs, steps, key)
        if len(runs) == 1:
            se = np.nan_to_num(_matrix(runs, steps, f"{key}_se")[0])
            m, lo, hi = x[0], x[0] - se, x[0] + se
        else:
            m, lo, hi = _mean_ci(x)
        out[key], out[f"{key}_lo"], out[f"{key}_hi"] = m.tolist(), lo.tolist(), hi.tolist()
    out["band"] = "se over samples" if len(runs) == 1 else "95% t over seeds"
    out["pass"] = {}
    for crit in watch:
        vals = np.full((len(runs), len(steps)), np.nan)
        for i, r in enumerate(runs):
            by_step = {int(row["step"]): row for row in r}
            for j, s in enumerate(steps):
                v = by_step[s].get("gold_pass", {}).get(crit)
                vals[i, j] = np.nan if v is None else float(v)
        if not np.isnan(vals).all():
            out["pass"][crit] = np.nanmean(vals, 0).tolist()
    return out


def summarize_seeds(runs: list[list[dict]], smooth: int = SMOOTH) -> dict[str, Any]:
    """Per-seed peak of the smoothed gold curve, its step, the final (smoothed) gold, the drop after the peak
    and the fraction of the gain lost, with means and 95% t-intervals over seeds ({"mean", "lo", "hi", "per_seed"};
    lo = hi = NaN with one seed)."""
    steps = _common_steps(runs)
    gold = moving_average(_matrix(runs, steps, "gold"), smooth)
    start = _matrix(runs, steps, "gold")[:, 0]
    i = np.argmax(gold, 1)
    peak = gold[np.arange(len(runs)), i]
    final = gold[:, -1]
    per = {
        "peak_gold": peak,
        "peak_step": np.asarray(steps)[i].astype(float),
        "final_gold": final,
        "drop_after_peak": peak - final,
        "lost_fraction_of_gain": (peak - final) / np.maximum(peak - start, 1e-12),
        "final_kl_seq": _matrix(runs, steps, "kl_seq")[:, -1],
    }
    out: dict[str, Any] = {"n_seeds": len(runs), "smooth": smooth}
    for k, v in per.items():
        if len(runs) > 1:
            m, lo, hi = _scalar_ci(v)
        else:
            m, lo, hi = float(v[0]), float("nan"), float("nan")
        out[k] = {"mean": m, "lo": lo, "hi": hi, "per_seed": v.tolist()}
    return out


def _scalar_ci(v: np.ndarray) -> tuple[float, float, float]:
    m, lo, hi = _mean_ci(v[:, None])
    return float(m[0]), float(lo[0]), float(hi[0])
