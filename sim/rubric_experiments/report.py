"""``report(result_or_summary, out_dir)``: every file of a rubric-world run.

summary.json            every table and finding (means, 95% t-intervals over seeds) and which findings hold
per_seed.json           per-seed peak gold, peak step, Table 2 accuracies (for re-analysis)
curves.csv              gold reward, KL, proxy and win rate per step, mean and CI, per proxy
properties.csv          the policy's probability of each property at the start, at peak gold, at the end
table1.{csv,md}         peak gold / peak step / lost fraction of gain / gold within KL budgets per proxy
table2.{csv,md}         high- / low-reward pair accuracy per rubric condition
table6.{csv,md}         Bradley-Terry rows next to the rubrics
findings.md             the findings, each with its numbers and whether it holds
example_rubrics.json    seed 0's rubrics (first prompts) under every condition
rubric_world_fig4.json, rubric_world_table2.json   the figure data :mod:`figures.rubric_world` draws
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import atomic_write_text, write_json
from rewards.stats import interval
from sim.rubric_experiments.findings_md import findings_md, fmt
from sim.rubric_experiments.run import RubricWorldResult
from sim.rubric_experiments.summary import RubricWorldSummary, summarize
from sim.rubric_world import PROPERTIES

__all__ = ["FIG4", "FIG_TABLE2", "figure_data", "per_seed", "report"]

FIG4 = "rubric_world_fig4"  # stems of the figure-data files (figures.rubric_world draws them)
FIG_TABLE2 = "rubric_world_table2"
CURVE_METRICS = ("gold", "kl", "proxy", "win_rate")
T1_METRICS = (
    "peak_gold",
    "peak_step",
    "final_gold",
    "lost_fraction_of_gain",
    "peak_win_rate",
    "final_kl",
    "gold_within_kl_1",
    "gold_within_kl_2",
    "gold_within_kl_4",
    "final_signature_prob",
)
T2_KEYS = ("high_ties_wrong", "low_ties_wrong", "high_ties_half", "low_ties_half")
MLH = ("mean", "lo", "hi")


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([f"{x:.6g}" if isinstance(x, float) else x for x in r])
    return buf.getvalue()


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _write_table(out: Path, stem: str, csv_text: str, md_text: str) -> None:
    atomic_write_text(out / f"{stem}.csv", csv_text)
    atomic_write_text(out / f"{stem}.md", md_text)


def write_table1(out: Path, sm: RubricWorldSummary) -> None:
    t1 = sm.table1
    rows = [[n] + [v for m in T1_METRICS for v in (t1[n][m][s] for s in MLH)] for n in t1]
    header = ["proxy"] + [f"{m}_{s}" for m in T1_METRICS for s in MLH]
    md_header = ["proxy", "peak gold", "peak step", "final gold", "lost fraction of gain", "gold within KL<=2"]
    md_rows = [
        [
            n,
            fmt(t1[n]["peak_gold"]),
            fmt(t1[n]["peak_step"], digits=0),
            fmt(t1[n]["final_gold"]),
            fmt(t1[n]["lost_fraction_of_gain"], 100, 1) + " %",
            fmt(t1[n]["gold_within_kl_2"]),
            fmt(t1[n]["final_kl"], digits=2),
        ]
        for n in t1
    ]
    _write_table(out, "table1", _csv(header, rows), _md(md_header + ["final KL"], md_rows))


def write_table2(out: Path, sm: RubricWorldSummary) -> None:
    t2, gains = sm.table2, sm.table2_gains
    rows = [[c] + [v for k in T2_KEYS for v in (t2[c][k][s] for s in MLH)] for c in t2]
    header = ["rubric"] + [f"{k}_{s}" for k in T2_KEYS for s in MLH]
    md_rows = []
    for c in t2:
        g = gains.get(c)
        md_rows.append(
            [
                c,
                fmt(t2[c]["high_ties_wrong"], digits=1),
                fmt(t2[c]["low_ties_wrong"], digits=1),
                "" if g is None else fmt(g["high_ties_wrong"], digits=1),
                "" if g is None else fmt(g["low_ties_wrong"], digits=1),
                fmt(t2[c]["high_ties_half"], digits=1),
                fmt(t2[c]["low_ties_half"], digits=1),
            ]
        )
    md_header = ["rubric", "high acc % (ties wrong)", "low acc %", "high gain vs initial", "low gain vs initial"]
    md_header += ["high acc % (ties half)", "low acc % (ties half)"]
    _write_table(out, "table2", _csv(header, rows), _md(md_header, md_rows))


def write_table6(out: Path, sm: RubricWorldSummary) -> None:
    t1, f6 = sm.table1, sm.findings["table6"]
    names = [n for n in t1 if n.startswith("bt-")] + ["4-great-diverse-pairs", "initial"]
    share = {n: f6.get(f"style_weight_share_{n[3:]}") for n in names}
    md_rows = [
        [
            n,
            fmt(t1[n]["peak_gold"]),
            fmt(t1[n]["gold_within_kl_2"]),
            fmt(t1[n]["final_kl"], digits=2),
            "" if share[n] is None else fmt(share[n], 100, 1) + " %",
        ]
        for n in names
    ]
    md_header = ["proxy", "peak gold", "gold within KL<=2", "final KL", "style artifacts' share of BT weight magnitude"]
    rows = [
        [n, *(t1[n]["peak_gold"][s] for s in MLH), t1[n]["gold_within_kl_2"]["mean"], t1[n]["final_kl"]["mean"]]
        + [float("nan") if share[n] is None else share[n]["mean"]]
        for n in names
    ]
    header = ["proxy", "peak_gold_mean", "peak_gold_lo", "peak_gold_hi", "gold_within_kl_2_mean", "final_kl_mean"]
    _write_table(out, "table6", _csv(header + ["style_share_mean"], rows), _md(md_header, md_rows))


def write_properties(out: Path, sm: RubricWorldSummary) -> None:
    """properties.csv: per proxy and property, the policy's inclusion probability at the start, at each seed's
    peak-gold step and at the last step (means over seeds): what the policy learned, and what it gave up after
    its peak."""
    probs = sm.result.probs  # (S, K, T, M)
    S, K, _T, _M = probs.shape
    at_peak = probs[np.arange(S)[:, None], np.arange(K)[None, :], sm.gold_curve.peak_step]  # (S, K, M)
    rows = [
        [n, p.name, p.kind]
        + [float(probs[:, k, 0, m].mean()), float(at_peak[:, k, m].mean()), float(probs[:, k, -1, m].mean())]
        for k, n in enumerate(sm.result.proxy_names)
        for m, p in enumerate(PROPERTIES)
    ]
    header = ["proxy", "property", "kind", "p_start", "p_at_peak", "p_final"]
    atomic_write_text(out / "properties.csv", _csv(header, rows))


def write_curves(out: Path, r: RubricWorldResult) -> None:
    """curves.csv: every logged curve per step and proxy, mean and 95% t-interval over seeds."""
    ivs = {m: interval(getattr(r, m)) for m in CURVE_METRICS}  # fields (K, T)
    header = ["step", "proxy"] + [f"{m}_{s}" for m in CURVE_METRICS for s in MLH]
    rows = [
        [t, n] + [float(getattr(ivs[m], s)[k, t]) for m in CURVE_METRICS for s in MLH]
        for k, n in enumerate(r.proxy_names)
        for t in range(r.gold.shape[-1])
    ]
    atomic_write_text(out / "curves.csv", _csv(header, rows))


def _curve_entry(sm: RubricWorldSummary, n: str, label: str | None = None) -> dict[str, Any]:
    k = sm.result.proxy_names.index(n)
    c = sm.curves[n]
    return {
        "label": label or n,
        "mean": np.asarray(c["mean"]).tolist(),
        "lo": np.asarray(c["lo"]).tolist(),
        "hi": np.asarray(c["hi"]).tolist(),
        "kl": sm.result.kl.mean(0)[k].tolist(),
        "peak_step": sm.table1[n]["peak_step"]["mean"],
    }


def figure_data(sm: RubricWorldSummary) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Figure 4 data, Table 2 figure data) in the forms :mod:`figures.rubric_world` documents."""
    r = sm.result
    rub = [_curve_entry(sm, n) for n in r.conditions] + [_curve_entry(sm, r.reference, "gold rubric (reference)")]
    # the perfect-perception ablation (gold up to 0.96) is left to the tables: on the same axis it would flatten
    # the differences between the BT models this panel is about; the refined rubrics are in the first panel
    bt_names = [n for n in r.proxy_names if n.startswith("bt-") and n != "bt-off-perfect-perception"]
    fig4 = {
        "title": "Rubric world: GRPO against each proxy, gold reward logged",
        "seeds": sm.seeds,
        "step": list(range(sm.steps)),
        "panels": [
            {"title": "rubrics (Table 1 / Figure 4 analog)", "curves": rub},
            {
                "title": "Bradley-Terry reward models (Table 6 analog)",
                "curves": [_curve_entry(sm, n) for n in bt_names] + [_curve_entry(sm, "initial")],
            },
        ],
    }
    conds = list(r.conditions) + [r.reference]
    acc: dict[str, Any] = {
        "title": "Table 2 analog: rubric agreement with gold by reward region",
        "seeds": sm.seeds,
        "conditions": conds,
    }
    for region in ("high", "low"):
        acc[region] = {s: [sm.table2[c][f"{region}_ties_wrong"][s] for c in conds] for s in MLH}
    return fig4, acc


def per_seed(sm: RubricWorldSummary) -> dict[str, Any]:
    """Per-seed numbers for re-analysis: peak gold and step per proxy, Table 2 rows, refinement counts."""
    r = sm.result
    return {
        "proxy_names": list(r.proxy_names),
        "peak_gold": sm.gold_curve.peak.tolist(),
        "peak_step": sm.gold_curve.peak_step.tolist(),
        "table2": r.table2,
        "refine_stats": r.refine_stats,
        "bt_weights_mean_over_prompts": {k: np.asarray(v).mean(1).tolist() for k, v in r.bt_weights.items()},
    }


def report(result_or_summary: RubricWorldResult | RubricWorldSummary, out_dir) -> RubricWorldSummary:
    """Write every table (CSV + Markdown), findings.md, curves.csv, properties.csv, per_seed.json,
    example_rubrics.json, summary.json and the figure data JSON into ``out_dir``; returns the summary."""
    sm = summarize(result_or_summary) if isinstance(result_or_summary, RubricWorldResult) else result_or_summary
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_table1(out, sm)
    write_table2(out, sm)
    write_table6(out, sm)
    write_curves(out, sm.result)
    write_properties(out, sm)
    write_json(out / "per_seed.json", per_seed(sm))
    write_json(out / "example_rubrics.json", sm.result.example_rubrics)
    atomic_write_text(out / "findings.md", findings_md(sm))
    fig4, acc = figure_data(sm)
    write_json(out / f"{FIG4}.json", fig4)
    write_json(out / f"{FIG_TABLE2}.json", acc)
    write_json(out / "summary.json", {"seconds": sm.result.seconds, "holds": sm.holds(), **sm.to_dict()})
    return sm
