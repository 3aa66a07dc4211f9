"""``summarize(result) -> dict``: which peak comes from which mechanism, and what refinement does to it.

Every number is a mean with a 95% t-interval over worlds (:func:`rewards.stats.interval`, as a dict
``{"mean", "lo", "hi", "n"}``); GRPO curve summaries come from :func:`rewards.stats.summarize_curve` with the
main report's smoothing; peak-step ratios from :func:`rewards.stats.bootstrap_ratio_of_means`. The verdicts
use the named thresholds below. The returned dict is JSON-able (the report caches it).

A curve **peaks** when its drop after the peak has a CI above ``MIN_DROP``, and is **flat** when the CI is
below it (otherwise: unclear). Mechanism of a GRPO peak (variant, condition, optimizer): ``tail`` when the
exact tilt itself peaks; else ``policy class`` when the best factorized policy peaks; else ``training
path``. A GRPO curve that does not peak within the run gets ``none``. Refinement of a peaked initial
rubric **removes** the collapse when the refined curve is flat, **delays** it when the refined curve still
peaks, later (peak KL for the tilt, peak step for GRPO; paired CI above 0), and otherwise **keeps** it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewards.stats import bootstrap_ratio_of_means, interval, summarize_curve
from sim.rubric_experiments.mechanisms import MechanismResult
from sim.rubric_experiments.summary import BOOTSTRAP_SEED, N_BOOTSTRAP, SMOOTH
from sim.rubric_world import PROPERTY_INDEX

__all__ = ["MIN_DROP", "summarize"]

MIN_DROP = 0.005  # gold: a fall after the peak smaller than this is not a collapse (the CI must clear it)


def _iv(x) -> dict[str, Any]:
    return interval(np.asarray(x, np.float64)).to_dict()


def _shape(drop) -> str:
    iv = interval(np.asarray(drop, np.float64))
    return "peaks" if iv.lo > MIN_DROP else ("flat" if iv.hi < MIN_DROP else "unclear")


def _tilt_metrics(kl, gold, probs=None, tail: int = 0) -> dict[str, Any]:
    """kl, gold (S, B), probs (S, B, M) of one (variant, condition) -> named per-seed arrays (the tail
    property's inclusion probability at the peak and the end only when ``probs`` is given)."""
    s = np.arange(kl.shape[0])
    i = gold.argmax(1)
    out = {
        "start": gold[:, 0],
        "peak": gold[s, i],
        "peak_kl": kl[s, i],
        "end": gold[:, -1],
        "end_kl": kl[:, -1],
        "drop": gold[s, i] - gold[:, -1],
    }
    if probs is not None:
        out.update(tail_prob_peak=probs[s, i, tail], tail_prob_end=probs[:, -1, tail])
    return out


def _along(kl_at, curve_kl, curve_gold) -> np.ndarray:
    """Per seed, a curve's gold at the KL values ``kl_at`` (S,), interpolated along the curve (S, B); the
    running maximum of its KL keeps the interpolation defined should a branch's KL ever step back."""
    return np.array(
        [np.interp(x, np.maximum.accumulate(k), g) for x, k, g in zip(kl_at, curve_kl, curve_gold, strict=True)]
    )


def _grpo_metrics(gold, kl, probs, optima: dict[str, tuple], tail: int) -> dict[str, Any]:
    """GRPO gold, kl (S, T), probs (S, T, M) and the optima's (kl, gold) (S, B) of the same proxy -> named
    per-seed arrays. ``gap_*``: GRPO's gold minus the tilt's (``gap_fact_*``: the best factorized policy's) at
    GRPO's KL."""
    cs = summarize_curve(gold, smooth=SMOOTH)
    s = np.arange(gold.shape[0])
    pk = np.asarray(cs.peak_step)
    out = {
        "peak": cs.peak,
        "peak_step": pk.astype(float),
        "peak_kl": kl[s, pk],
        "final": cs.final,
        "final_kl": kl[:, -1],
        "drop": cs.drop_after_peak,
        "tail_prob_peak": probs[s, pk, tail],
        "tail_prob_final": probs[:, -1, tail],
    }
    for name, (okl, og) in (("", optima["tilt"]), ("fact_", optima["factorized"])):
        out[f"gap_{name}at_peak"] = cs.peak - _along(kl[s, pk], okl, og)
        out[f"gap_{name}at_final"] = cs.final - _along(kl[:, -1], okl, og)
    return out


def _per_seed(r: MechanismResult) -> dict[str, dict[str, Any]]:
    """{variant: {condition: {"tilt": metrics, "grpo": {optimizer: metrics}}}} of per-seed arrays."""
    tail = PROPERTY_INDEX[r.config.tail_property]
    out: dict[str, dict[str, Any]] = {}
    for v, variant in enumerate(r.variants):
        out[variant] = {}
        for k, cond in enumerate(r.conditions):
            tkl, tg = r.tilt_kl[:, v, k], r.tilt_gold[:, v, k]
            optima = {"tilt": (tkl, tg), "factorized": (r.fact_kl[:, v, k], r.fact_gold[:, v, k])}
            grpo = {
                opt: _grpo_metrics(
                    r.grpo_gold[:, v, k, o], r.grpo_kl[:, v, k, o], r.grpo_probs[:, v, k, o], optima, tail
                )
                for o, opt in enumerate(r.config.optimizers)
            }
            out[variant][cond] = {
                "tilt": _tilt_metrics(tkl, tg, r.tilt_probs[:, v, k], tail),
                "factorized": _tilt_metrics(r.fact_kl[:, v, k], r.fact_gold[:, v, k], r.fact_probs[:, v, k], tail),
                "grpo": grpo,
            }
    return out


def _refinement_verdict(init: dict, ref: dict, when: str) -> dict[str, Any]:
    """Initial vs refined metrics of one curve kind; ``when`` is the key of the peak's position."""
    si, sr = _shape(init["drop"]), _shape(ref["drop"])
    later = interval(ref[when] - init[when])
    if si != "peaks":
        verdict = "no collapse to remove"
    elif sr == "flat":
        verdict = "removes"
    elif sr == "peaks" and later.lo > 0:
        verdict = "delays"
    elif sr == "peaks":
        verdict = "keeps"
    else:
        verdict = "reduces (unclear)"
    return {
        "verdict": verdict,
        "initial": si,
        "refined": sr,
        "drop_change": _iv(ref["drop"] - init["drop"]),
        f"{when}_change": later.to_dict(),
    }


def _refinement(per_seed: dict, conditions, optimizers) -> dict[str, Any]:
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    out: dict[str, Any] = {}
    for variant, rows in per_seed.items():
        init = rows[conditions[0]]
        out[variant] = {}
        for cond in conditions[1:]:
            ref = rows[cond]
            row: dict[str, Any] = {
                kind: _refinement_verdict(init[kind], ref[kind], "peak_kl") for kind in ("tilt", "factorized")
            }
            for opt in optimizers:
                a, b = init["grpo"][opt], ref["grpo"][opt]
                row[opt] = _refinement_verdict(a, b, "peak_step")
                row[opt]["peak_step_ratio"] = bootstrap_ratio_of_means(b["peak_step"], a["peak_step"], rng, N_BOOTSTRAP)
            out[variant][cond] = row
    return out


def _curves(r: MechanismResult) -> dict[str, Any]:
    """Means over worlds for the figure: tilt and factorized optimum (V, K, B) and GRPO (V, K, O, T) KL and gold,
    the tail sweep."""
    return {
        "tilt_kl": r.tilt_kl.mean(0).tolist(),
        "tilt_gold": r.tilt_gold.mean(0).tolist(),
        "fact_kl": r.fact_kl.mean(0).tolist(),
        "fact_gold": r.fact_gold.mean(0).tolist(),
        "grpo_kl": r.grpo_kl.mean(0).tolist(),
        "grpo_gold": r.grpo_gold.mean(0).tolist(),
        "sweep_kl": r.sweep_kl.mean(0).tolist(),
        "sweep_gold": r.sweep_gold.mean(0).tolist(),
    }


def _ivs(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: _iv(x) for k, x in metrics.items()}


def _mechanism(optima: dict[str, Any], grpo_shape: str) -> str:
    """Which mechanism a GRPO curve of this shape shows, given the two optima's shapes (module docstring)."""
    if grpo_shape != "peaks":
        return "none"
    if optima["tilt"]["shape"] == "peaks":
        return "tail"
    return "policy class" if optima["factorized"]["shape"] == "peaks" else "training path"


def summarize(r: MechanismResult) -> dict[str, Any]:
    """Tables (intervals), shapes, mechanisms, refinement verdicts, the tail sweep and mean curves (JSON-able)."""
    per_seed = _per_seed(r)
    table: dict[str, Any] = {}
    for variant, rows in per_seed.items():
        table[variant] = {}
        for cond, m in rows.items():
            optima = {kind: {"shape": _shape(m[kind]["drop"]), **_ivs(m[kind])} for kind in ("tilt", "factorized")}
            grpo = {}
            for opt, g in m["grpo"].items():
                shape = _shape(g["drop"])
                grpo[opt] = {"shape": shape, "mechanism": _mechanism(optima, shape), **_ivs(g)}
            table[variant][cond] = {**optima, "grpo": grpo}
    sweep = {}
    for w, weight in enumerate(r.config.tail_sweep):
        m = _tilt_metrics(r.sweep_kl[:, w], r.sweep_gold[:, w])
        sweep[str(weight)] = {"shape": _shape(m["drop"]), **{k: _iv(m[k]) for k in ("peak", "peak_kl", "end", "drop")}}
    return {
        "seeds": r.config.seeds,
        "variants": list(r.variants),
        "conditions": list(r.conditions),
        "optimizers": list(r.config.optimizers),
        "lrs": list(r.config.lrs),
        "steps": r.config.train.steps,
        "table": table,
        "refinement": _refinement(per_seed, r.conditions, r.config.optimizers),
        "tail_sweep": sweep,
        "n_criteria": {
            v: {c: _iv(r.n_criteria[:, i, k]) for k, c in enumerate(r.conditions)} for i, v in enumerate(r.variants)
        },
        "curves": _curves(r),
        "seconds": r.seconds,
    }
