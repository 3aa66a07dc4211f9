"""findings.md of a rubric-world run: every finding with its numbers and whether it holds."""

from __future__ import annotations

from typing import Any

import numpy as np

from rewards.stats import format_interval
from sim.rubric_experiments.summary import (
    HIGH_OVER_LOW_FACTOR,
    KL_BUDGETS,
    MIN_HIGH_GAIN,
    MIN_INITIAL_LOST_FRACTION,
    MIN_PEAK_STEP_RATIO,
    RubricWorldSummary,
)

__all__ = ["findings_md", "fmt"]


def fmt(d: dict[str, float], scale: float = 1.0, digits: int = 3) -> str:
    """``mean [lo, hi]`` of an interval dict (just the mean when there is no interval, e.g. one seed)."""
    return format_interval(d, digits, scale)


def _holds(b: bool) -> str:
    return "**holds**" if b else "**does not hold**"


def _table2_lines(t2: dict[str, Any]) -> list[str]:
    lines = [
        "## Table 2 analog: refined rubrics chase the tail",
        "",
        f"- high-reward accuracy gain, mean over the four refined rubrics: "
        f"{fmt(t2['high_gain_mean_over_refined'], digits=1)} points (ties wrong)",
        f"- low-reward accuracy gain: {fmt(t2['low_gain_mean_over_refined'], digits=1)} points",
        f"- high gain minus twice the low gain: {fmt(t2['high_minus_2x_low_gain'], digits=1)}",
        f"- low minus high accuracy of the refined rubrics: {fmt(t2['low_minus_high_acc_refined'], digits=1)}",
        f"- finding (high gain >= {MIN_HIGH_GAIN:g} with CI, >= {HIGH_OVER_LOW_FACTOR}x low gain, high stays below "
        f"low): {_holds(t2['holds'])}",
        "",
        "Per refined rubric (the paper's +7.6 vs +3.6 points are its 4-great-&-diverse row):",
        "",
    ]
    for c, d in t2.get("per_condition", {}).items():
        lines.append(
            f"- {c}: high gain {fmt(d['high_gain'], digits=1)}, low gain {fmt(d['low_gain'], digits=1)}, "
            f"high - 2 x low {fmt(d['high_minus_2x_low_gain'], digits=1)}, low - high accuracy "
            f"{fmt(d['low_minus_high_acc'], digits=1)} -> {_holds(d['holds'])}"
        )
    return lines + [""]


def _table1_lines(t1: dict[str, Any]) -> list[str]:
    lines = ["## Table 1 / Figure 4 analog: peak gold reward and the timing of over-optimization", ""]
    for k, d in t1["peak_differences"].items():
        lines.append(f"- peak gold, {k}: {fmt(d, digits=4)}")
    r = t1["peak_step_ratio_diverse_over_initial"]
    return lines + [
        f"- initial rubric: gold lost after its peak, as a fraction of its gain: "
        f"{fmt(t1['initial_lost_fraction_of_gain'], 100, 1)} %",
        f"- peak step, 4-great-diverse over initial (ratio of mean steps, bootstrap 95%): "
        f"{r['ratio_of_means']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]",
        f"- finding (strict order of the first four, last <=, lost fraction of gain >= "
        f"{100 * MIN_INITIAL_LOST_FRACTION:g} % with CI, ratio >= {MIN_PEAK_STEP_RATIO:g} with CI): "
        f"{_holds(t1['holds'])}",
        "",
    ]


def _table6_ablation_lines(f6: dict[str, Any]) -> list[str]:
    lines = []
    if "on_minus_off_perfect_perception" in f6:
        lines.append(
            f"- ablation, BT on-policy minus BT off-policy with perfect perception: "
            f"{fmt(f6['on_minus_off_perfect_perception'], digits=4)}"
        )
    if "off_style_zeroed_minus_off_peak_gold" in f6:
        lines += [
            f"- ablation, the off-policy BT with its style weights set to 0 minus the off-policy BT as "
            f"fitted, peak gold: {fmt(f6['off_style_zeroed_minus_off_peak_gold'], digits=4)} -> "
            f"{_holds(f6['holds_because_of_artifact'])} (paying for the artifact costs gold)",
            f"- BT on-policy minus that ablation: {fmt(f6['on_minus_off_style_zeroed_peak_gold'], digits=4)}",
            f"- P(signature phrase) after training against the ablation: "
            f"{fmt(f6['final_signature_prob_bt-off-style-weights-zeroed'], digits=2)}",
        ]
    return lines


def _table6_lines(f6: dict[str, Any]) -> list[str]:
    if not f6:
        return []
    lines = [
        "## Table 6 analog: Bradley-Terry reward models",
        "",
        f"- peak gold, BT on-policy minus BT off-policy: {fmt(f6['on_minus_off_peak_gold'], digits=4)} "
        f"-> {_holds(f6['holds'])} over the training horizon",
    ]
    for b in KL_BUDGETS:
        key = f"on_minus_off_gold_within_kl_{b:g}"
        if key in f6:
            lines.append(f"- best gold within KL <= {b:g} nats, on minus off: {fmt(f6[key], digits=4)}")
    for kind in ("on", "off", "both", "off-perfect-perception"):
        key = f"style_weight_share_{kind}"
        if key in f6:
            lines.append(f"- style artifacts' share of BT weight magnitude, {kind}: {fmt(f6[key], 100, 1)} %")
    for n in ("bt-on", "bt-off", "bt-both"):
        key = f"final_signature_prob_{n}"
        if key in f6:
            lines.append(f"- P(signature phrase) after training, {n}: {fmt(f6[key], digits=2)} (base 0.02)")
    return lines + _table6_ablation_lines(f6) + [""]


def _theory_lines(th: dict[str, Any]) -> list[str]:
    return [
        "## Theory link: pre-training tail accuracy vs peak gold",
        "",
        f"- per-seed Spearman(high-reward accuracy, peak gold) over the 5 rubric conditions: "
        f"{fmt(th['spearman_high_acc_vs_peak_gold'], digits=2)}",
        f"- per-seed Spearman(low-reward accuracy, peak gold): {fmt(th['spearman_low_acc_vs_peak_gold'], digits=2)}",
        f"- per-seed Spearman(best-of-64 win rate predicted from h(v), peak gold): "
        f"{fmt(th['spearman_h_bon64_vs_peak_gold'], digits=2)}",
        f"- conditions ordered by mean high-reward accuracy: {', '.join(th['order_by_mean_high_acc'])}",
        f"- ordered by mean low-reward accuracy: {', '.join(th['order_by_mean_low_acc'])}",
        f"- ordered by mean peak gold: {', '.join(th['order_by_mean_peak_gold'])}",
        "",
    ]


def _refine_lines(stats: list[dict[str, Any]]) -> list[str]:
    """Criteria per prompt that score a property the wrong way round / pay for an artifact, per refined rubric."""
    if not stats or not all("wrong_sign_per_prompt" in v for v in stats[0].values()):
        return []
    lines = ["## Refinement: wrong-sign and artifact-paying criteria per prompt (mean over seeds)", ""]
    for mode in stats[0]:
        ws = np.mean([s[mode]["wrong_sign_per_prompt"] for s in stats])
        ar = np.mean([s[mode]["artifact_per_prompt"] for s in stats])
        lines.append(f"- {mode}: wrong-sign {ws:.2f}, artifact-paying {ar:.2f}")
    return lines + [""]


def findings_md(sm: RubricWorldSummary) -> str:
    """The findings as Markdown, with the run's main settings in the first lines."""
    f, c = sm.findings, sm.result.config
    lines = [
        f"# Rubric world findings ({sm.seeds} seeds, 95% t-intervals over seeds)",
        "",
        f"{c.world.n_prompts} prompts per world, {sm.steps} GRPO steps, group {c.train.group_size}, "
        f"lr {c.train.lr}, KL coef {c.train.kl_coef}, BT style halo {c.bt.halo.strength}, "
        f"verifier halo {c.verifier.halo.strength}, proposer knowledge {c.proposer.knowledge} (0.5 blind, 1.0 "
        f"oracle), judge error {c.judge.error}. One configuration: docs/rubric_world_findings.md (`chase repro "
        "rubric-world-phase`) sweeps the proposer's knowledge over drawn worlds.",
        "",
    ]
    lines += _table2_lines(f["table2"]) + _table1_lines(f["table1_figure4"])
    lines += _table6_lines(f["table6"]) + _theory_lines(f["theory_link"]) + _refine_lines(sm.refine_stats)
    return "\n".join(lines)
