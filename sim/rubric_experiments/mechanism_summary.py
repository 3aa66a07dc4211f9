"""``summarize(result) -> dict``: which peak comes from which mechanism, and what refinement does to it.

Every number is a mean with a 95% t-interval over worlds (:func:`rewards.stats.interval`, as a dict
``{"mean", "lo", "hi", "n"}``); GRPO curve summaries come from :func:`rewards.stats.summarize_curve` with the
main report's smoothing; peak-step ratios from :func:`rewards.stats.bootstrap_ratio_of_means`. The verdicts
use the named thresholds below. The returned dict is JSON-able (the report caches it).

A curve **peaks** when its drop after the peak has a CI above ``MIN_DROP``, and is **flat** when the CI is
below it (otherwise: unclear). Mechanism of a (variant, condition, optimizer): ``tail`` when the exact tilt
itself peaks, ``trainer`` when only GRPO peaks, ``none`` when neither does. Refinement of a peaked initial
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


def _grpo_metrics(gold, kl, probs, tkl, tgold, tail: int) -> dict[str, Any]:
    """GRPO gold, kl (S, T), probs (S, T, M) and the tilt (S, B) of the same proxy -> named per-seed arrays.

    ``tilt_at_*``: the tilt's gold at GRPO's KL (interpolated along the tilt, whose KL rises with 1/beta)."""
    cs = summarize_curve(gold, smooth=SMOOTH)
    s = np.arange(gold.shape[0])
    pk = np.asarray(cs.peak_step)
    at = np.array([np.interp(x, tkl[j], tgold[j]) for j, x in enumerate(kl[s, pk])])
    at_end = np.array([np.interp(x, tkl[j], tgold[j]) for j, x in enumerate(kl[:, -1])])
    return {
        "peak": cs.peak,
        "peak_step": pk.astype(float),
        "peak_kl": kl[s, pk],
        "final": cs.final,
        "final_kl": kl[:, -1],
        "drop": cs.drop_after_peak,
        "tilt_at_peak_kl": at,
        "gap_at_peak": cs.peak - at,
        "tilt_at_final_kl": at_end,
        "gap_at_final": cs.final - at_end,
        "tail_prob_peak": probs[s, pk, tail],
        "tail_prob_final": probs[:, -1, tail],
    }


def _per_seed(r: MechanismResult) -> dict[str, dict[str, Any]]:
    """{variant: {condition: {"tilt": metrics, "grpo": {optimizer: metrics}}}} of per-seed arrays."""
    tail = PROPERTY_INDEX[r.config.tail_property]
    out: dict[str, dict[str, Any]] = {}
    for v, variant in enumerate(r.variants):
        out[variant] = {}
        for k, cond in enumerate(r.conditions):
            tkl, tg = r.tilt_kl[:, v, k], r.tilt_gold[:, v, k]
            grpo = {
                opt: _grpo_metrics(
                    r.grpo_gold[:, v, k, o], r.grpo_kl[:, v, k, o], r.grpo_probs[:, v, k, o], tkl, tg, tail
                )
                for o, opt in enumerate(r.config.optimizers)
            }
            out[variant][cond] = {"tilt": _tilt_metrics(tkl, tg, r.tilt_probs[:, v, k], tail), "grpo": grpo}
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
            row: dict[str, Any] = {"tilt": _refinement_verdict(init["tilt"], ref["tilt"], "peak_kl")}
            for opt in optimizers:
                a, b = init["grpo"][opt], ref["grpo"][opt]
                row[opt] = _refinement_verdict(a, b, "peak_step")
                row[opt]["peak_step_ratio"] = bootstrap_ratio_of_means(b["peak_step"], a["peak_step"], rng, N_BOOTSTRAP)
            out[variant][cond] = row
    return out


def _curves(r: MechanismResult) -> dict[str, Any]:
    """Means over worlds for the figure: tilt (V, K, B) and GRPO (V, K, O, T) KL and gold, the tail sweep."""
    return {
        "tilt_kl": r.tilt_kl.mean(0).tolist(),
        "tilt_gold": r.tilt_gold.mean(0).tolist(),
        "grpo_kl": r.grpo_kl.mean(0).tolist(),
        "grpo_gold": r.grpo_gold.mean(0).tolist(),
        "sweep_kl": r.sweep_kl.mean(0).tolist(),
        "sweep_gold": r.sweep_gold.mean(0).tolist(),
    }


def summarize(r: MechanismResult) -> dict[str, Any]:
    """Tables (intervals), shapes, mechanisms, refinement verdicts, the tail sweep and mean curves (JSON-able)."""
    per_seed = _per_seed(r)
    table: dict[str, Any] = {}
    for variant, rows in per_seed.items():
        table[variant] = {}
        for cond, m in rows.items():
            tilt_shape = _shape(m["tilt"]["drop"])
            grpo = {}
            for opt, g in m["grpo"].items():
                shape = _shape(g["drop"])
                mech = "tail" if tilt_shape == "peaks" else ("trainer" if shape == "peaks" else "none")
                grpo[opt] = {"shape": shape, "mechanism": mech, **{k: _iv(x) for k, x in g.items()}}
            tilt = {"shape": tilt_shape, **{k: _iv(x) for k, x in m["tilt"].items()}}
            table[variant][cond] = {"tilt": tilt, "grpo": grpo}
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
