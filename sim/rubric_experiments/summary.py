"""``summarize(result) -> RubricWorldSummary``: Tables 1, 2 and 6, the findings and the theory link.

Every number is a mean with a 95% t-interval over seeds (:func:`rewards.stats.interval`); curve summaries come
from :func:`rewards.stats.summarize_curve` (so ``peak``, ``peak_step`` and ``lost_fraction_of_gain`` mean what
they mean everywhere else), the peak-step ratio's interval from :func:`rewards.stats.bootstrap_ratio_of_means`
and rank correlations from :func:`rewards.stats.spearman`. Every threshold a finding is checked against is a
named constant below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewards.stats import (
    CurveSummary,
    bootstrap_ratio_of_means,
    interval,
    moving_average,
    spearman,
    summarize_curve,
)
from sim.rubric_experiments.run import RubricWorldResult
from sim.rubric_world import PROPERTIES, PROPERTY_INDEX

__all__ = ["KL_BUDGETS", "RubricWorldSummary", "gold_within_kl", "summarize"]

SMOOTH = 5  # width of the moving average a gold curve's peak is taken from (one lucky step is not a peak)
WIN_SMOOTH = 9  # the win rate is noisier (a sampled panel): at least this wide a window for its peak
KL_BUDGETS: tuple[float, ...] = (1.0, 2.0, 4.0)  # nats: the gold reached within each budget (matched-KL rows)
MATCHED_KL = 2.0  # the budget at which Table 6's "on-policy beats off-policy" is also checked

# Table 2 (the paper: refinement gains +7.6 points on high-reward pairs vs +3.6 on low-reward ones)
MIN_HIGH_GAIN = 5.0  # points: the high-reward gain's CI must clear this (a clear gain, not noise)
HIGH_OVER_LOW_FACTOR = 2  # ... and exceed this multiple of the low-reward gain (the gain is in the tail)
# Table 1 / Figure 4 (the paper: the initial rubric over-optimizes early; the diverse one peaks much later)
MIN_INITIAL_LOST_FRACTION = 0.10  # the initial rubric gives back at least this share of its gain (CI lower end)
MIN_PEAK_STEP_RATIO = 2.5  # 4-great-diverse peaks at least this many times later than initial (bootstrap lo)
N_BOOTSTRAP = 2000  # bootstrap replicates of the peak-step ratio (its percentile interval)
BOOTSTRAP_SEED = 0  # the bootstrap's own generator: the summary is a pure function of the result
SIGNATURE = PROPERTY_INDEX["signature_phrase"]  # the great model's style artifact that BT models pay for
STYLE = [k for k, p in enumerate(PROPERTIES) if p.kind == "style"]


@dataclass
class RubricWorldSummary:
    """The tables and findings of one run (JSON form: :meth:`to_dict`, which leaves out curves and the result).

    table1         ``{proxy: {metric: {"mean","lo","hi","n"}}}`` (peak gold, peak step, lost fraction of gain, ...)
    table2         ``{condition: {"high_ties_wrong", ..., "h_bon_64": interval}}`` pair accuracy in percent
    table2_gains   ``{refined condition: {"high_ties_wrong", ...: interval}}`` gain over the initial rubric
    findings       ``{"table2", "table1_figure4", "table6", "theory_link": {...}}``, each with its ``holds``
    curves         ``{proxy: {"mean","lo","hi": (T,)}}`` gold reward per step over seeds
    gold_curve     per-seed summaries (S, K) of the smoothed gold curves
    result         the run summarized (for the report's per-step and per-seed files)
    """

    seeds: int
    steps: int
    table1: dict[str, dict[str, Any]]
    table2: dict[str, dict[str, Any]]
    table2_gains: dict[str, dict[str, Any]]
    findings: dict[str, dict[str, Any]]
    refine_stats: list[dict[str, Any]]
    curves: dict[str, dict[str, np.ndarray]] = field(repr=False)
    gold_curve: CurveSummary = field(repr=False)
    result: RubricWorldResult = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        keys = ("seeds", "steps", "table1", "table2", "table2_gains", "findings", "refine_stats")
        return {k: getattr(self, k) for k in keys}

    def holds(self) -> dict[str, bool | None]:
        """The headline: whether each finding holds (None: not measured in this config)."""
        f = self.findings
        return {
            "table2": f["table2"]["holds"],
            "table1_figure4": f["table1_figure4"]["holds"],
            "table6_peak": f["table6"].get("holds"),
            "table6_matched_kl": f["table6"].get("holds_at_matched_kl_2"),
            "table6_because_of_artifact": f["table6"].get("holds_because_of_artifact"),
        }


def gold_within_kl(gold: np.ndarray, kl: np.ndarray, budget: float) -> np.ndarray:
    """Best gold reward a run reaches while its KL(pi || pi_base) is at most ``budget``: (..., T) -> (...).
    (KL rises almost monotonically in these runs; a run that never spends the budget counts all its steps.)"""
    return np.where(kl <= budget, gold, -np.inf).max(-1)


def _ci(x) -> dict[str, Any]:
    return interval(x).to_dict()


def table1(r: RubricWorldResult, gc: CurveSummary, smooth: int = SMOOTH) -> dict[str, dict[str, Any]]:
    """Per proxy: peak gold, peak step, final gold, lost fraction of gain, peak win rate, final KL, gold within
    each KL budget, final P(signature phrase)."""
    win_peak = summarize_curve(r.win_rate, smooth=max(smooth, WIN_SMOOTH)).peak
    at_kl = {b: gold_within_kl(moving_average(r.gold, smooth), r.kl, b) for b in KL_BUDGETS}
    out = {}
    for k, n in enumerate(r.proxy_names):
        out[n] = {
            "peak_gold": _ci(gc.peak[:, k]),
            "peak_step": _ci(gc.peak_step[:, k]),
            "final_gold": _ci(gc.final[:, k]),
            "lost_fraction_of_gain": _ci(gc.lost_fraction_of_gain[:, k]),
            "peak_win_rate": _ci(win_peak[:, k]),
            "final_kl": _ci(r.kl[:, k, -1]),
            "final_signature_prob": _ci(r.probs[:, k, -1, SIGNATURE]),
            **{f"gold_within_kl_{b:g}": _ci(at_kl[b][:, k]) for b in KL_BUDGETS},
        }
    return out


def table2(r: RubricWorldResult) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(accuracy per condition in percent and h-based best-of-n, gain of each refined rubric over initial)."""
    t2 = r.table2
    rows = {}
    for c in list(r.conditions) + [r.reference]:
        row = {}
        for region in ("high", "low"):
            for tie in ("ties_wrong", "ties_half"):
                row[f"{region}_{tie}"] = _ci([100 * sd[c][region][tie] for sd in t2])
        for nn in ("4", "16", "64"):
            row[f"h_bon_{nn}"] = _ci([sd[c]["h_bon"][nn] for sd in t2])
        rows[c] = row
    gains = {}
    for c in r.conditions[1:]:
        gains[c] = {
            f"{region}_{tie}": _ci([100 * (sd[c][region][tie] - sd["initial"][region][tie]) for sd in t2])
            for region in ("high", "low")
            for tie in ("ties_wrong", "ties_half")
        }
    return rows, gains


def _table2_checks(hi_gain, lo_gain, acc_gap) -> dict[str, Any]:
    """The Table 2 finding on per-seed arrays (S,): a clear high-reward gain, well above the low-reward gain, and
    the refined rubric still less accurate in the tail than in the bulk (``acc_gap``: low minus high accuracy)."""
    d = {
        "high_gain": _ci(hi_gain),
        "low_gain": _ci(lo_gain),
        "high_minus_2x_low_gain": _ci(hi_gain - HIGH_OVER_LOW_FACTOR * lo_gain),
        "low_minus_high_acc": _ci(acc_gap),
    }
    d["holds"] = bool(
        d["high_gain"]["lo"] >= MIN_HIGH_GAIN
        and d["high_minus_2x_low_gain"]["lo"] > 0
        and d["low_minus_high_acc"]["lo"] > 0
    )
    return d


def findings_table2(r: RubricWorldResult) -> dict[str, Any]:
    """Refined rubrics chase the tail: checked on the mean over the four refined rubrics and on each one."""
    t2, refined = r.table2, r.conditions[1:]

    def acc(region: str) -> np.ndarray:  # (S, 4) percent, ties wrong
        return np.array([[100 * sd[c][region]["ties_wrong"] for c in refined] for sd in t2])

    def gain(region: str) -> np.ndarray:
        return np.array(
            [[100 * (sd[c][region]["ties_wrong"] - sd["initial"][region]["ties_wrong"]) for c in refined] for sd in t2]
        )

    hi_gain, lo_gain, gap = gain("high"), gain("low"), acc("low") - acc("high")
    mean = _table2_checks(hi_gain.mean(1), lo_gain.mean(1), gap.mean(1))
    f = {
        "high_gain_mean_over_refined": mean["high_gain"],
        "low_gain_mean_over_refined": mean["low_gain"],
        "high_minus_2x_low_gain": mean["high_minus_2x_low_gain"],
        "low_minus_high_acc_refined": mean["low_minus_high_acc"],
        "holds": mean["holds"],
    }
    # the paper's +7.6 vs +3.6 points are its 4-great-&-diverse row: the same checks for each refined rubric
    f["per_condition"] = {c: _table2_checks(hi_gain[:, j], lo_gain[:, j], gap[:, j]) for j, c in enumerate(refined)}
    return f


def findings_table1(r: RubricWorldResult, gc: CurveSummary) -> dict[str, Any]:
    """Peak gold rises along the paper's order of conditions; the initial rubric loses much of its gain after an
    early peak; the 4-great-diverse rubric peaks much later."""
    idx = {n: k for k, n in enumerate(r.proxy_names)}
    conds = r.conditions
    ordered = [gc.peak[:, idx[c]] for c in conds]
    diffs = {f"{conds[i + 1]} - {conds[i]}": _ci(ordered[i + 1] - ordered[i]) for i in range(len(conds) - 1)}
    strict = [diffs[k]["lo"] > 0 for k in list(diffs)[:3]]
    last = diffs[list(diffs)[3]]
    ki, kd = idx["initial"], idx["4-great-diverse-pairs"]
    # steps counted from 1 so that a peak at step 0 still gives a finite ratio
    num, den = gc.peak_step[:, kd] + 1, gc.peak_step[:, ki] + 1
    ratio = bootstrap_ratio_of_means(num, den, np.random.default_rng(BOOTSTRAP_SEED), n_boot=N_BOOTSTRAP)
    f = {
        "peak_differences": diffs,
        "strict_order_first_three": strict,
        "last_step_leq": bool(last["hi"] >= 0),  # "<=" cannot be rejected or the difference is positive
        "initial_lost_fraction_of_gain": _ci(gc.lost_fraction_of_gain[:, ki]),
        "peak_step_ratio_diverse_over_initial": {**ratio, "median_per_seed_ratio": float(np.median(num / den))},
    }
    f["holds"] = bool(
        all(strict)
        and f["last_step_leq"]
        and f["initial_lost_fraction_of_gain"]["lo"] >= MIN_INITIAL_LOST_FRACTION
        and f["peak_step_ratio_diverse_over_initial"]["lo"] >= MIN_PEAK_STEP_RATIO
    )
    return f


def _table6_ablations(r: RubricWorldResult, gc: CurveSummary, idx: dict[str, int]) -> dict[str, Any]:
    """What the off-policy BT's ablations show: perfect perception, and the style weights set to 0."""
    f: dict[str, Any] = {}
    if "bt-off-perfect-perception" in idx:
        f["on_minus_off_perfect_perception"] = _ci(
            gc.peak[:, idx["bt-on"]] - gc.peak[:, idx["bt-off-perfect-perception"]]
        )
    if "bt-off-style-weights-zeroed" in idx:
        # the causal test: the same off-policy model, minus what it pays for the artifact
        z = idx["bt-off-style-weights-zeroed"]
        f["off_style_zeroed_minus_off_peak_gold"] = _ci(gc.peak[:, z] - gc.peak[:, idx["bt-off"]])
        f["on_minus_off_style_zeroed_peak_gold"] = _ci(gc.peak[:, idx["bt-on"]] - gc.peak[:, z])
        f["final_signature_prob_bt-off-style-weights-zeroed"] = _ci(r.probs[:, z, -1, SIGNATURE])
        f["holds_because_of_artifact"] = bool(f["off_style_zeroed_minus_off_peak_gold"]["lo"] > 0)
    return f


def findings_table6(r: RubricWorldResult, gc: CurveSummary, smooth: int = SMOOTH) -> dict[str, Any]:
    """On-policy BT beats off-policy BT (at peak and at matched KL), and why: the style artifact."""
    idx = {n: k for k, n in enumerate(r.proxy_names)}
    if "bt-on" not in idx or "bt-off" not in idx:
        return {}
    on, off = idx["bt-on"], idx["bt-off"]
    at_kl = {b: gold_within_kl(moving_average(r.gold, smooth), r.kl, b) for b in KL_BUDGETS}
    f: dict[str, Any] = {"on_minus_off_peak_gold": _ci(gc.peak[:, on] - gc.peak[:, off])}
    f["holds"] = bool(f["on_minus_off_peak_gold"]["lo"] > 0)
    for b in KL_BUDGETS:
        f[f"on_minus_off_gold_within_kl_{b:g}"] = _ci(at_kl[b][:, on] - at_kl[b][:, off])
    f[f"holds_at_matched_kl_{MATCHED_KL:g}"] = bool(f[f"on_minus_off_gold_within_kl_{MATCHED_KL:g}"]["lo"] > 0)
    for n in ("bt-on", "bt-off", "bt-both"):
        if n in idx:
            f[f"final_signature_prob_{n}"] = _ci(r.probs[:, idx[n], -1, SIGNATURE])
    for kind, W in r.bt_weights.items():
        W = np.asarray(W)  # (S, P, M)
        scale = np.abs(W).sum(-1, keepdims=True)
        f[f"style_weight_share_{kind}"] = _ci((np.abs(W[..., STYLE]).sum(-1) / scale[..., 0]).mean(-1))
    return {**f, **_table6_ablations(r, gc, idx)}


def theory_link(r: RubricWorldResult, gc: CurveSummary) -> dict[str, Any]:
    """Does pre-training tail accuracy predict the ordering of peak gold across conditions? Per-seed Spearman
    correlations over the conditions (a seed whose ranking is undefined counts as 0) and the mean orders."""
    t2, conds = r.table2, r.conditions
    idx = {n: k for k, n in enumerate(r.proxy_names)}

    def rho(score) -> dict[str, Any]:
        per_seed = [
            spearman([score(t2[s], c) for c in conds], [gc.peak[s, idx[c]] for c in conds])
            for s in range(r.gold.shape[0])
        ]
        return _ci(np.nan_to_num(per_seed))

    def order(values) -> list[str]:
        return [conds[i] for i in np.argsort(values)]

    def mean_order(score) -> list[str]:
        return order([np.mean([score(sd, c) for sd in t2]) for c in conds])

    return {
        "spearman_high_acc_vs_peak_gold": rho(lambda sd, c: sd[c]["high"]["ties_half"]),
        "spearman_low_acc_vs_peak_gold": rho(lambda sd, c: sd[c]["low"]["ties_half"]),
        "spearman_h_bon64_vs_peak_gold": rho(lambda sd, c: sd[c]["h_bon"]["64"]),
        "order_by_mean_high_acc": mean_order(lambda sd, c: sd[c]["high"]["ties_half"]),
        "order_by_mean_low_acc": mean_order(lambda sd, c: sd[c]["low"]["ties_half"]),
        "order_by_mean_peak_gold": order([gc.peak[:, idx[c]].mean() for c in conds]),
    }


def gold_curves(r: RubricWorldResult) -> dict[str, dict[str, np.ndarray]]:
    """Gold reward per step, mean and 95% t-interval over seeds, per proxy: ``{proxy: {"mean","lo","hi"}}``."""
    out = {}
    for k, n in enumerate(r.proxy_names):
        iv = interval(r.gold[:, k])
        out[n] = {"mean": iv.mean, "lo": iv.lo, "hi": iv.hi}
    return out


def summarize(result: RubricWorldResult, smooth: int = SMOOTH) -> RubricWorldSummary:
    """Means and 95% t-intervals over seeds for every table; the findings with their checks.

    Peak gold per seed is the maximum of the (``smooth``-step moving-average) gold curve, the peak step where it
    occurs, ``lost_fraction_of_gain`` is (peak - final) / (peak - start) (:func:`rewards.stats.summarize_curve`).
    ``gold_within_kl_B`` is the best gold reached with KL <= B nats (the comparison at a matched KL budget).
    """
    gc = summarize_curve(result.gold, smooth=smooth)
    t2, gains = table2(result)
    S, _K, T = result.gold.shape
    return RubricWorldSummary(
        seeds=S,
        steps=T,
        table1=table1(result, gc, smooth),
        table2=t2,
        table2_gains=gains,
        findings={
            "table2": findings_table2(result),
            "table1_figure4": findings_table1(result, gc),
            "table6": findings_table6(result, gc, smooth),
            "theory_link": theory_link(result, gc),
        },
        refine_stats=result.refine_stats,
        curves=gold_curves(result),
        gold_curve=gc,
        result=result,
    )
