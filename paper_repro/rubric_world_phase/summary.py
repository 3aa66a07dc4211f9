"""Per-world rows (``sim.rubric_experiments.phase.run_world``) -> the phase diagram's tables and claims.

Every interval is a 95% t-interval over WORLDS (``rewards.stats.interval``; a world's number is already the
mean over its training seeds). Differences are paired within worlds. A claim "holds" at a knowledge level when
the interval of its quantity lies above 0; "holds for knowledge >= k" means it holds at k and at every level
swept above k (so one lucky level is not a threshold).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewards.stats import interval
from sim.bt import PAIR_KINDS
from sim.rubric_experiments.phase import PhaseConfig, bt_name, conditions, rubric_name

__all__ = ["COLLAPSE", "ref_cond", "claims", "phase_rows", "reference_rows", "table6_rows", "threshold"]

COLLAPSE = 0.10  # a run "collapses" when its smoothed gold ends >= 10% of its gain below its peak


def ref_cond(config: PhaseConfig) -> str:
    """The paper's reference condition: 4 rounds on one response from each of the most diverse pool's models."""
    return f"4-diverse-{max(config.diversity)}"


def _get(rows: list[dict], name: str, field: str) -> np.ndarray:
    """(W,) one field of one proxy across worlds; ``table2.high`` style paths reach into dicts."""
    out = []
    for r in rows:
        v: Any = r["proxies"][name]
        for part in field.split("."):
            v = v[part]
        out.append(float(v))
    return np.asarray(out)


def _ci(x) -> dict[str, float]:
    return interval(np.asarray(x, dtype=float), nan="omit").to_dict()


def _name(k: float | None, cond: str) -> str:
    return cond if k is None or cond == "initial" else rubric_name(k, cond)


def _proxy_stats(rows: list[dict], name: str) -> dict[str, Any]:
    lost = _get(rows, name, "lost_fraction")
    return {
        "peak_gold": _ci(_get(rows, name, "peak_gold")),
        "peak_step": _ci(_get(rows, name, "peak_step")),
        "lost_fraction": _ci(lost),
        "collapse_share": float(np.mean(np.nan_to_num(lost) >= COLLAPSE)),
        "final_kl": _ci(_get(rows, name, "final_kl")),
    }


def reference_rows(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """The initial rubric and the gold rubric (checked by the same noisy verifier)."""
    out = {}
    for name in ("initial", "gold-rubric"):
        out[name] = {
            **_proxy_stats(rows, name),
            "high": _ci(100 * _get(rows, name, "table2.high")),
            "low": _ci(100 * _get(rows, name, "table2.low")),
        }
        if name == "initial":
            out[name]["wrong_sign"] = _ci(_get(rows, name, "wrong_sign"))
            out[name]["artifact"] = _ci(_get(rows, name, "artifact"))
    return out


def phase_rows(rows: list[dict], config: PhaseConfig) -> list[dict[str, Any]]:
    """One row per (knowledge, condition): Table 2 gains (points), peak gold and its gain over the initial
    rubric, peak step, lost fraction, collapse share, sign errors per prompt."""
    hi0, lo0 = _get(rows, "initial", "table2.high"), _get(rows, "initial", "table2.low")
    pk0 = _get(rows, "initial", "peak_gold")
    ws0, ar0 = _get(rows, "initial", "wrong_sign"), _get(rows, "initial", "artifact")
    out = []
    for k in config.knowledge:
        for c in conditions(config):
            n = rubric_name(k, c)
            hg, lg = 100 * (_get(rows, n, "table2.high") - hi0), 100 * (_get(rows, n, "table2.low") - lo0)
            out.append(
                {
                    "knowledge": k,
                    "condition": c,
                    "high_gain": _ci(hg),
                    "low_gain": _ci(lg),
                    "high_minus_low_gain": _ci(hg - lg),
                    **_proxy_stats(rows, n),
                    "peak_gain": _ci(_get(rows, n, "peak_gold") - pk0),
                    "wrong_sign_added": _ci(_get(rows, n, "wrong_sign") - ws0),
                    "artifact_added": _ci(_get(rows, n, "artifact") - ar0),
                }
            )
    return out


def _above(x: np.ndarray) -> tuple[bool, dict[str, float]]:
    ci = _ci(x)
    return bool(np.isfinite(ci["lo"]) and ci["lo"] > 0), ci


def threshold(levels: tuple[float, ...], holds: list[bool]) -> float | None:
    """The smallest level from which the claim holds at every level swept above it; None if it fails at the top."""
    best = None
    for k, h in sorted(zip(levels, holds, strict=True), reverse=True):
        if not h:
            break
        best = k
    return best


def claims(rows: list[dict], config: PhaseConfig) -> dict[str, dict[str, Any]]:
    """The paper's knowledge-dependent claims, each evaluated at every knowledge level (paired over worlds)."""
    hi0 = _get(rows, "initial", "table2.high")
    lo0 = _get(rows, "initial", "table2.low")
    ref = ref_cond(config)
    order = ("initial", "1-good-pair", "1-great-pair", "4-great-pairs", ref)  # the paper's Table 1 order
    pk = {c: (lambda k, c=c: _get(rows, _name(k, c), "peak_gold")) for c in order}
    tests = {
        "table2_high_gain": (
            "refinement (4 great & diverse) raises high-reward pair accuracy",
            lambda k: 100 * (_get(rows, _name(k, ref), "table2.high") - hi0),
        ),
        "table2_tail": (
            "... by more than it raises low-reward accuracy (refinement chases the tail)",
            lambda k: (
                100
                * ((_get(rows, _name(k, ref), "table2.high") - hi0) - (_get(rows, _name(k, ref), "table2.low") - lo0))
            ),
        ),
        "table1_refined_beats_initial": (
            "the refined rubric (4 great & diverse) reaches a higher peak gold than the initial rubric",
            lambda k: pk[ref](k) - pk["initial"](k),
        ),
        "table1_diverse_beats_great": (
            "the diverse pool beats 4 great pairs on peak gold",
            lambda k: pk[ref](k) - pk["4-great-pairs"](k),
        ),
        "table1_more_pairs_help": (
            "4 great pairs beat 1 great pair on peak gold",
            lambda k: pk["4-great-pairs"](k) - pk["1-great-pair"](k),
        ),
        "table1_great_beats_good": (
            "1 great pair beats 1 good pair on peak gold",
            lambda k: pk["1-great-pair"](k) - pk["1-good-pair"](k),
        ),
    }
    out = {}
    for key, (text, f) in tests.items():
        per = {f"{k:g}": _above(f(k)) for k in config.knowledge}
        holds = [per[f"{k:g}"][0] for k in config.knowledge]
        out[key] = {
            "claim": text,
            "per_knowledge": {k: {"holds": h, "ci": ci} for k, (h, ci) in per.items()},
            "holds_for_knowledge_geq": threshold(config.knowledge, holds),
        }
    return out


def table6_rows(rows: list[dict], config: PhaseConfig, k_ref: float) -> list[dict[str, Any]]:
    """Per halo: peak gold of each BT kind, on minus off, and each BT minus the initial rubric and minus the
    refined (4 great & diverse, knowledge ``k_ref``) rubric."""
    pk0 = _get(rows, "initial", "peak_gold")
    ref = _get(rows, rubric_name(k_ref, ref_cond(config)), "peak_gold")
    out = []
    for h in config.halos:
        g = {kind: _get(rows, bt_name(kind, h), "peak_gold") for kind in PAIR_KINDS}
        lost = {kind: _get(rows, bt_name(kind, h), "lost_fraction") for kind in PAIR_KINDS}
        out.append(
            {
                "halo": h,
                "peak_gold": {kind: _ci(v) for kind, v in g.items()},
                "collapse_share": {kind: float(np.mean(np.nan_to_num(v) >= COLLAPSE)) for kind, v in lost.items()},
                "on_minus_off": _ci(g["on"] - g["off"]),
                "both_minus_off": _ci(g["both"] - g["off"]),
                "best_bt_minus_initial": _ci(np.max(np.stack(list(g.values())), axis=0) - pk0),
                "refined_minus_best_bt": _ci(ref - np.max(np.stack(list(g.values())), axis=0)),
            }
        )
    return out
