"""docs/prediction.md from the committed prediction and outcome files (``chase repro prediction report``).

Every number is read from ``docs/prediction/*_predictions.json`` / ``*_outcomes.json``; the commit hashes of the
prediction and outcome files come from ``git log`` (the earliest commit that added each file).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import atomic_write_text, write_json
from rewards.stats import format_interval, interval

PLATEAU = 0.001  # a measured "peak" that gives back less than this much win rate / gold is plateau noise


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def first_commit(path: Path) -> str:
    """The commit that first added ``path`` (short hash), or "uncommitted"."""
    try:
        out = subprocess.run(
            ["git", "log", "--diff-filter=A", "--format=%h %cI", "--", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    lines = [x for x in out if x.strip()]
    return lines[-1] if lines else "uncommitted"


def _iv(d: dict, digits: int = 2) -> str:
    return format_interval(d, digits) if d["n"] else "-"


def _pct(x: float) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:+.0f}%"


def bandit_section(pred: dict[str, Any], meas: dict[str, Any] | None, docs: Path) -> list[str]:
    from paper_repro.prediction.bandit import compare

    cfg = pred["config"]
    w = cfg["world"]
    lines = [
        "## (a) Quantile bandit",
        "",
        f"Prediction: {'/'.join(map(str, cfg['ns']))} base samples per context, {w['contexts']} contexts x {w['arms']} "
        f"equal-mass arms, {cfg['seeds']} worlds; gold = the true quantile u (so predicted gold = predicted win "
        f"rate). Outcome: `sim.bandit_training` GRPO ({cfg['train']['algo']}, {cfg['train']['geometry']} geometry, "
        f"lr {cfg['train']['lr']}, G = {cfg['train']['group']}, {cfg['train']['steps']} steps, beta 0) on the same "
        f"worlds; per seed the peak of the exact true-win-rate curve and the KL there. Intervals: 95% t over the "
        f"{cfg['seeds']} worlds.",
        "",
        f"Predictions committed in `{first_commit(docs / 'bandit_predictions.json')}`; outcomes in "
        f"`{first_commit(docs / 'bandit_outcomes.json')}`.",
        "",
    ]
    if meas is None:
        return lines + ["Not measured yet.", ""]
    lines += [
        "| map | n | worlds with a predicted peak | predicted peak KL | measured peak KL (same worlds) | rel. error KL "
        "| predicted peak win | measured peak win | rel. error win | resolved to KL | worlds with a measured peak "
        "(drop > 0.001) | measured peak KL (all worlds) | measured drop after peak | 'no peak below X' violated |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in compare(pred, meas, PLATEAU):
        has = "pred_kl" in r
        cells = [
            r["map"],
            str(r["n"]),
            f"{r['pred_peaks']}/{r['worlds']}",
            _iv(r["pred_kl"]) if has else "-",
            _iv(r["meas_kl"]) if has else "-",
            _pct(r["rel_err_kl"]) if has else "-",
            _iv(r["pred_win"], 3) if has else "-",
            _iv(r["meas_win"], 3) if has else "-",
            _pct(r["rel_err_win"]) if has else "-",
            _iv(r["max_kl"]),
            f"{r['meas_peaks']}/{r['worlds']}",
            _iv(r["meas_kl_all"]),
            f"{r['meas_drop']:.4f}",
            f"{r['no_peak_violations']}/{r['worlds'] - r['pred_peaks']}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _rft_curve_err(c: dict[str, Any]) -> str:
    return "-" if c is None or not math.isfinite(c) else f"{c:.3f}"


def rft_section(pred: dict[str, Any], meas: dict[str, Any] | None, docs: Path) -> list[str]:
    from paper_repro.prediction.rft import compare

    cfg = pred["config"]
    lines = [
        "## (b) Real RFT on the triage task (TRL GRPO, tiny LM, CPU)",
        "",
        f"Prediction: {cfg['samples']} base-LM completions per held-out prompt x {cfg['eval_prompts']} prompts "
        f"({pred['n_samples']} samples), each scored by every proxy rubric and the gold rubric (rule verifier). "
        f"Outcome: `chase rft train --config rft/configs/cpu.yaml --proxy P --seed S` (200 GRPO steps, beta 0.01), "
        f"evaluated every 10 steps on the same 16 held-out prompts; peak = max of the 3-evaluation moving average "
        f"of gold; KL = sequence-level KL(pi || base) measured by the evaluation.",
        "",
        f"Predictions committed in `{first_commit(docs / 'rft_predictions.json')}`; outcomes in "
        f"`{first_commit(docs / 'rft_outcomes.json')}`.",
        "",
    ]
    if meas is None:
        return lines + ["Not measured yet.", ""]
    lines += ["![predicted vs GRPO](figures/prediction_rft.png)", ""]
    lines += [
        "| proxy | seeds | peak predicted | predicted peak KL | resolved to KL | measured peak KL | measured drop "
        "after peak | rel. error KL "
        "| predicted gold at peak | measured peak gold | predicted proxy at peak | measured proxy at peak "
        "| mean abs gold error at the run's proxy level | at the run's KL | measured KL when the run's proxy reached "
        "the predicted peak's proxy level |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in compare(pred, meas):
        lines.append(
            f"| {r['proxy']} | {','.join(map(str, r['seeds']))} | {'yes' if r['pred_peak'] else 'no'} | "
            f"{r['pred_kl']:.2f} [{r['pred_kl_ci'][0]:.2f}, {r['pred_kl_ci'][1]:.2f}] | {r['max_kl']:.2f} | "
            f"{_iv(r['meas_kl'], 1)} | {_iv(r['meas_drop'], 3)} | {_pct(r['rel_err_kl'])} | {r['pred_gold']:.3f} | "
            f"{_iv(r['meas_gold'], 3)} | "
            f"{r['pred_proxy']:.3f} | {_iv(r['meas_proxy'], 3)} | {_rft_curve_err(r['gold_abs_err_at_proxy'])} | "
            f"{_rft_curve_err(r['gold_abs_err_at_kl'])} | {_iv(r['meas_kl_at_pred_proxy'], 1)} |"
        )
    return lines + [""]


def _gap_to_exact(p: dict[str, Any], ex: dict[str, Any]) -> float:
    """Largest |sampled-tilt gold - exact-tilt gold| at the same KL over the resolved part of the prediction."""
    c = p["curve"]
    keep = np.asarray(c["resolved"], dtype=bool)
    kl, gold = np.asarray(c["kl"])[keep], np.asarray(c["gold"])[keep]
    return float(np.max(np.abs(gold - np.interp(kl, ex["curve"]["kl"], ex["curve"]["gold"]))))


def rft_figure_data(pred: dict[str, Any], meas: dict[str, Any]) -> dict[str, Any]:
    """The data ``figures.prediction`` plots: per measured proxy the resolved predicted curve and every run."""
    rows = []
    for name, runs in meas["proxies"].items():
        if runs:
            p = pred["proxies"][name]
            rows.append(
                {
                    "name": name,
                    "pred": p["curve"],
                    "max_kl": p["max_kl"],
                    "runs": [
                        {"seed": r["seed"], **{k: r["curve"][k] for k in ("kl_seq", "gold", "proxy")}} for r in runs
                    ],
                }
            )
    return {"proxies": rows}


def rubric_rows(pred: dict[str, Any], meas: dict[str, Any]) -> list[dict[str, Any]]:
    """Per condition and n: sampled prediction, exact tilt and GRPO peak KL (intervals over seeds), the sampled
    prediction's largest gold gap to the exact tilt, and the exact tilt's gold at GRPO's peak KL."""
    rows = []
    for c, m in meas["conditions"].items():
        ex = [s[c]["exact"] for s in pred["seeds"]]
        exact_at_grpo = [
            float(np.interp(k, e["curve"]["kl"], e["curve"]["gold"])) for k, e in zip(m["peak_kl"], ex, strict=True)
        ]
        for n in pred["config"]["ns"]:
            p = [s[c]["pred"][str(n)] for s in pred["seeds"]]
            rows.append(
                {
                    "condition": c,
                    "n": n,
                    "pred_peak_share": float(np.mean([x["peak"] for x in p])),
                    "pred_kl": interval([x["peak_kl"] for x in p]).to_dict(),
                    "max_kl": interval([x["max_kl"] for x in p]).to_dict(),
                    "exact_peak_share": float(np.mean([x["interior_peak"] for x in ex])),
                    "exact_kl": interval([x["peak_kl"] for x in ex]).to_dict(),
                    "exact_gold": interval([x["peak_gold"] for x in ex]).to_dict(),
                    "grpo_peak_share": float(np.mean(m["interior_peak"])),
                    "grpo_kl": interval(m["peak_kl"], nan="omit").to_dict(),
                    "grpo_gold": interval(m["peak_gold"]).to_dict(),
                    "pred_exact_gap": interval([_gap_to_exact(x, e) for x, e in zip(p, ex, strict=True)]).to_dict(),
                    "exact_gold_at_grpo_peak_kl": interval(exact_at_grpo).to_dict(),
                    "grpo_drop": float(np.max(m["mean_curve"]["gold"]) - m["mean_curve"]["gold"][-1]),
                }
            )
    return rows


def rubric_section(pred: dict[str, Any], meas: dict[str, Any] | None, docs: Path) -> list[str]:
    cfg = pred["config"]
    lines = [
        "## (c) Rubric world, every rubric condition",
        "",
        f"Prediction: {'/'.join(map(str, cfg['ns']))} base responses per prompt (64 prompts), {cfg['seeds']} worlds "
        f"(the keys of `chase sim rubric-world`, same refined rubrics); each sample's proxy score is its expected "
        f"score under the simulated verifier. Exact tilt: `sim.rubric_world.exact` over all 2^13 responses. GRPO: "
        f"`sim.rubric_train` with the experiment's defaults (SGD, lr 0.5, kl_coef 0.2, G = 16, 300 steps).",
        "",
        f"Predictions committed in `{first_commit(docs / 'rubric_predictions.json')}`; outcomes in "
        f"`{first_commit(docs / 'rubric_outcomes.json')}`.",
        "",
    ]
    if meas is None:
        return lines + ["Not measured yet.", ""]
    lines += [
        "| condition | n | prediction | max gold gap, prediction vs exact tilt (resolved range) | exact tilt: peak KL "
        "(worlds with an interior peak) | exact peak gold | GRPO peak KL (worlds with an interior peak) "
        "| GRPO peak gold | GRPO mean-curve drop after peak | exact-tilt gold at GRPO's peak KL "
        "| claim vs exact tilt | claim vs GRPO |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rubric_rows(pred, meas):
        x = r["max_kl"]["mean"]
        claim = f"peak at KL {_iv(r['pred_kl'])}" if r["pred_peak_share"] >= 0.5 else f"no peak below KL {x:.2f}"
        ex_ok = r["exact_kl"]["mean"] >= x or r["exact_peak_share"] < 0.5
        g_ok = r["grpo_kl"]["mean"] >= x or r["grpo_drop"] <= PLATEAU
        lines.append(
            f"| {r['condition']} | {r['n']} | {claim} | {_iv(r['pred_exact_gap'], 3)} | {_iv(r['exact_kl'])} "
            f"({r['exact_peak_share']:.2f}) | {_iv(r['exact_gold'], 3)} | {_iv(r['grpo_kl'])} "
            f"({r['grpo_peak_share']:.2f}) | {_iv(r['grpo_gold'], 3)} | {r['grpo_drop']:.4f} | "
            f"{_iv(r['exact_gold_at_grpo_peak_kl'], 3)} | {'holds' if ex_ok else 'violated'} | "
            f"{'holds' if g_ok else 'violated: GRPO peaks at {:.0%} of X'.format(r['grpo_kl']['mean'] / x)} |"
        )
    return lines + [""]


def write_report(docs: Path, out: Path, prose: str = "") -> None:
    """Assemble docs/prediction.md: the header and method, ``docs/prediction.summary.md`` (hand-written) if it
    exists, one generated section per world, then ``docs/prediction.notes.md`` (the hand-written reading)."""
    lines = [
        "# Pre-registered validation of `chase diagnose`",
        "",
        "Generated by `chase repro prediction report` from the committed files in `docs/prediction/` (every "
        "number below is read from them). Regenerate each world with `chase repro prediction predict WORLD` "
        "(base samples only; commit the file), then `chase repro prediction measure WORLD` (training), then "
        "`chase repro prediction report`.",
        "",
        "The predictor (`rewards.predict`): per prompt, the self-normalized tilt of the base samples by the proxy "
        "with one inverse temperature shared by all prompts; predicted gold, sequence-level KL of the reweighted "
        "empirical distribution, effective sample size (ESS); prompt bootstrap bands; the curve counts as resolved "
        "while the median per-prompt ESS >= 10, and a peak is predicted only inside that range and only when the "
        "bootstrap interval of the drop after it excludes 0. Relative error = (predicted - measured) / measured, "
        "of the means over seeds.",
        "",
    ]
    summary = docs.parent / "prediction.summary.md"
    if summary.exists():
        lines += [summary.read_text(encoding="utf-8").rstrip(), ""]
    for world, section in (("bandit", bandit_section), ("rft", rft_section), ("rubric", rubric_section)):
        pred = _load(docs / f"{world}_predictions.json")
        if pred is None:
            lines += [f"## {world}", "", "No predictions committed.", ""]
            continue
        lines += section(pred, _load(docs / f"{world}_outcomes.json"), docs)
    rft_p, rft_m = _load(docs / "rft_predictions.json"), _load(docs / "rft_outcomes.json")
    if rft_p is not None and rft_m is not None:
        from figures.prediction import plot
        from figures.style import save_from_file

        write_json(docs.parent / "figures" / "prediction_rft.json", rft_figure_data(rft_p, rft_m))
        save_from_file(plot, docs.parent / "figures" / "prediction_rft.json")
    notes = docs.parent / "prediction.notes.md"
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    atomic_write_text(out, "\n".join(lines))
