"""The phase diagram as Markdown (docs/rubric_world_findings.md) and as figure data (docs/figures/*.json)."""

from __future__ import annotations

from typing import Any

from rewards.stats import format_interval
from sim.bt import PAIR_KINDS
from sim.rubric_experiments.phase import PhaseConfig, conditions

from .summary import COLLAPSE

__all__ = ["figure_data", "markdown"]


def _f(ci: dict, d: int = 3, scale: float = 1.0) -> str:
    return format_interval(ci, d, scale)


def _thr(c: dict[str, Any]) -> str:
    k = c["holds_for_knowledge_geq"]
    return "never (fails at 1.0)" if k is None else f"**{k:g}**"


def figure_data(sm: dict[str, Any], config: PhaseConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(phase-diagram data, Table 6 halo data) for :mod:`figures.rubric_world_phase`."""
    conds = list(conditions(config))
    rows = sm["phase"]

    def series(key: str) -> dict[str, Any]:
        out = {}
        for c in conds:
            rs = [r for r in rows if r["condition"] == c]
            out[c] = {f: [r[key][f] for r in rs] for f in ("mean", "lo", "hi")}
        return out

    panels = [
        ("high_gain", "Table 2: high-reward accuracy gain", "gain over the initial rubric (points)", True),
        ("low_gain", "Table 2: low-reward accuracy gain", "gain over the initial rubric (points)", True),
        ("peak_gain", "Table 1: peak gold minus the initial rubric's", "peak gold difference", True),
        ("wrong_sign_added", "wrong-sign criteria added per prompt", "change vs the initial rubric", True),
    ]
    phase = {
        "worlds": sm["worlds"],
        "knowledge": list(config.knowledge),
        "conditions": conds,
        "panels": [{"key": k, "title": t, "ylabel": y, "zero": z, "series": series(k)} for k, t, y, z in panels],
    }
    t6 = sm["table6"]
    halo = {
        "worlds": sm["worlds"],
        "halos": [r["halo"] for r in t6],
        "bt": {kind: {f: [r["peak_gold"][kind][f] for r in t6] for f in ("mean", "lo", "hi")} for kind in PAIR_KINDS},
        "refs": {
            "initial rubric": sm["reference"]["initial"]["peak_gold"],
            f"refined ({sm['ref_cond']}, knowledge {sm['k_ref']:g})": sm["refined_ref_peak"],
            "gold rubric": sm["reference"]["gold-rubric"]["peak_gold"],
        },
    }
    return phase, halo


def _claims_table(sm: dict[str, Any]) -> list[str]:
    lines = [
        "| finding (the paper's claim) | assumed (inputs, not findings) | emerges | holds for knowledge >= |",
        "|---|---|---|---|",
    ]
    assumed = "judge errs 15%; proposer notices 85% of differences; knowledge swept"
    for key, c in sm["claims"].items():
        per = ", ".join(f"{k}: {_f(v['ci'], 3 if 'table1' in key else 1)}" for k, v in c["per_knowledge"].items())
        lines.append(f"| {c['claim']} | {assumed} | measured per knowledge ({per}) | {_thr(c)} |")
    ini = sm["reference"]["initial"]
    lines.append(
        f"| the initial rubric over-optimizes (gold falls after a peak) | writer's coarse and gameable criteria "
        f"and the base model's exploit rates drawn per world; SGD trainer | loses >= {COLLAPSE:.0%} of its gain in "
        f"{ini['collapse_share']:.0%} of worlds; mean lost fraction {_f(ini['lost_fraction'], 1, 100)} % | "
        "does not depend on knowledge |"
    )
    for r in sm["table6"]:
        lines.append(
            f"| Table 6: on-policy BT beats off-policy BT (halo {r['halo']:g}) | BT style halo {r['halo']:g} "
            f"(swept: an assumption) | on - off peak gold {_f(r['on_minus_off'])}; best BT - initial rubric "
            f"{_f(r['best_bt_minus_initial'])} | {'holds' if r['on_minus_off']['lo'] > 0 else 'no'} (not a "
            "knowledge claim) |"
        )
    return lines


def _phase_table(sm: dict[str, Any]) -> list[str]:
    lines = [
        "| knowledge | condition | high gain (pts) | low gain (pts) | peak gold | peak gold - initial | peak step "
        "| collapse share | wrong-sign criteria added / prompt | artifact criteria added / prompt |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sm["phase"]:
        lines.append(
            f"| {r['knowledge']:g} | {r['condition']} | {_f(r['high_gain'], 1)} | {_f(r['low_gain'], 1)} | "
            f"{_f(r['peak_gold'])} | {_f(r['peak_gain'])} | {r['peak_step']['mean']:.0f} | "
            f"{r['collapse_share']:.0%} | {_f(r['wrong_sign_added'], 2)} | {_f(r['artifact_added'], 2)} |"
        )
    return lines


def _reference_table(sm: dict[str, Any], tuned: dict[str, Any] | None) -> list[str]:
    lines = [
        "| world | rubric | high acc % | low acc % | peak gold | peak step | lost fraction of gain | collapse share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, s in (("drawn", sm), ("tuned (old)", tuned)):
        if s is None:
            continue
        for name, r in s["reference"].items():
            lines.append(
                f"| {label} | {name} | {_f(r['high'], 1)} | {_f(r['low'], 1)} | {_f(r['peak_gold'])} | "
                f"{r['peak_step']['mean']:.0f} | {_f(r['lost_fraction'], 1, 100)} % | {r['collapse_share']:.0%} |"
            )
    if tuned is not None:
        for r in tuned["phase"]:
            lines.append(
                f"| tuned (old) | {r['condition']} (knowledge {r['knowledge']:g}) | gain {_f(r['high_gain'], 1)} | "
                f"gain {_f(r['low_gain'], 1)} | {_f(r['peak_gold'])} | {r['peak_step']['mean']:.0f} | "
                f"{_f(r['lost_fraction'], 1, 100)} % | {r['collapse_share']:.0%} |"
            )
    return lines


def _ablation(tsm: dict[str, Any]) -> list[str]:
    lines = [
        "| world | initial rubric: peak step | lost fraction of gain | collapse share | P(hedge) at the last step "
        "| worlds |",
        "|---|---|---|---|---|---|",
    ]
    for r in tsm.get("ablation", {}).values():
        lines.append(
            f"| {r['what']} | {_f(r['peak_step'], 0)} | {_f(r['lost_fraction'], 1, 100)} % | {r['collapse_share']:.0%} "
            f"| {_f(r['final_hedge'], 2)} | {r['worlds']} |"
        )
    return lines


def _table6(sm: dict[str, Any]) -> list[str]:
    lines = [
        "| halo | BT on | BT off | BT both | on - off | best BT - initial rubric | refined rubric - best BT |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sm["table6"]:
        g = r["peak_gold"]
        lines.append(
            f"| {r['halo']:g} | {_f(g['on'])} | {_f(g['off'])} | {_f(g['both'])} | {_f(r['on_minus_off'])} | "
            f"{_f(r['best_bt_minus_initial'])} | {_f(r['refined_minus_best_bt'])} |"
        )
    return lines


def markdown(sm: dict[str, Any], tuned: dict[str, Any] | None, config: PhaseConfig, text: dict[str, str]) -> str:
    """The findings document. ``text``: the prose blocks (``head``, ``assumptions``, ``predictions``, ``tail``)
    that :mod:`paper_repro.rubric_world_phase` fills with its measured numbers, and ``emerges``)."""
    out = [text["head"], "", "## Assumed / emerges / holds for knowledge >= ...", ""]
    out += _claims_table(sm)
    out += ["", "![phase diagram](figures/rubric_world_phase.png)", "", text["emerges"], "", text["predictions"], ""]
    out += ["![gold curves](figures/rubric_world_phase_curves.png)", ""]
    out += ["## The phase diagram (Table 2 and Table 1 against proposer knowledge and pool diversity)", ""]
    out += _phase_table(sm)
    out += ["", "## The initial and gold rubrics, and the old tuned world (one labelled row)", ""]
    out += _reference_table(sm, tuned)
    if tuned is not None and tuned.get("ablation"):
        out += ["", "### What the tuned world's early collapse takes: one placed flaw drawn at a time", ""]
        out += [text["ablation"], ""] + _ablation(tuned)
    out += ["", "## Table 6 analog: Bradley-Terry reward models against the halo (an assumption, swept)", ""]
    out += _table6(sm)
    out += ["", "![Table 6 against the halo](figures/rubric_world_halo.png)", "", text["assumptions"], ""]
    out += [text["tail"]]
    return "\n".join(out) + "\n"
