"""Regenerate docs/rubric_world_mechanisms.md: which mechanism makes gold peak in the rubric world (issue 13).

    chase repro rubric-world-mechanisms [--seeds 8] [--out runs/rubric_world_mechanisms]
                                        [--doc docs/rubric_world_mechanisms.md] [--figures docs/figures]
                                        [--overwrite] [any MechanismConfig flag, e.g. --train-steps 600]

Per world: the exact KL-regularized optimum over all 2^13 responses (sim.rubric_world.exact) beside GRPO with
SGD, Adam and natural gradient, for every rubric condition, in the standard world and in a variant whose
initial rubric is wrong in the high-reward tail (sim.rubric_experiments.mechanisms). The summary is cached in
OUT/summary.json with ``rewards.runs.cached`` (another config: rerun with --overwrite); the report and figure
are written from it. A few minutes on 2 cores at the default size.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from chase.cli import Parser
from chase.flags import add_config_flags, config_from_args
from figures.rubric_world_mechanisms import plot_mechanisms
from figures.style import save_from_file
from rewards.io import atomic_write_text, write_json
from rewards.runs import RunConfigMismatch, cached
from rewards.stats import format_interval
from sim.rubric_experiments.mechanism_summary import MIN_DROP
from sim.rubric_experiments.mechanisms import MechanismConfig

__all__ = ["compute", "draw_figure", "main", "report"]

NO_FLAG = ("verifier.fpr", "verifier.fnr")


def compute(cfg: MechanismConfig) -> dict[str, Any]:
    import jax

    from sim.rubric_experiments.mechanism_summary import summarize
    from sim.rubric_experiments.mechanisms import run

    return summarize(run(cfg, jax.random.key(cfg.seed), progress=lambda s: print(s, flush=True)))


def _f(iv: dict, d: int = 3, scale: float = 1.0) -> str:
    return format_interval(iv, d, scale, min_width=-math.inf)


def _curve_text(m: dict[str, Any]) -> str:
    return f"{m['shape']} (peak {_f(m['peak'])} at KL {_f(m['peak_kl'], 2)}; drop after it {_f(m['drop'])})"


def _findings(s: dict[str, Any]) -> list[str]:
    """One bullet per variant (its initial rubric) and one per variant's refinements, all from the summary."""
    lines = ["## Findings (generated from the tables below)", ""]
    for v, rows in s["table"].items():
        m = rows[s["conditions"][0]]
        grpo = "; ".join(
            f"{o}: {g['shape']} (peak step {_f(g['peak_step'], 0)}, drop {_f(g['drop'])}; mechanism: {g['mechanism']})"
            for o, g in m["grpo"].items()
        )
        lines.append(
            f"- **{v}, initial rubric.** Exact tilt: {_curve_text(m['tilt'])}. Best factorized policy: "
            f"{_curve_text(m['factorized'])}. GRPO: {grpo}."
        )
    for v, rows in s["refinement"].items():
        parts = []
        for kind in ["tilt", "factorized", *s["optimizers"]]:
            verdicts = [f"{c}: {r[kind]['verdict']}" for c, r in rows.items()]
            parts.append(f"{kind} -- " + ", ".join(verdicts))
        lines.append(f"- **{v}, refinement vs the initial rubric.** " + "; ".join(parts) + ".")
    return lines + [""]


def _assumptions(s: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    opts = ", ".join(f"{o} (lr {lr})" for o, lr in zip(s["optimizers"], s["lrs"], strict=True))
    tr = cfg["train"]
    return [
        "## Assumed",
        "",
        f"- World: the old hand-tuned world (`WorldConfig.tuned`, its initial rubric collapses under GRPO) with "
        f"{cfg['world']['n_prompts']} prompts per world;",
        f"  the gold-free proposer with prior knowledge {cfg['proposer']['knowledge']:g} (it knows that share of signs"
        " without reading gold) and the default verifier. Refinement as in `chase sim rubric-world` (same pools).",
        f'- Tail-flaw variant: every initial rubric also has the criterion "{cfg["tail_text"]}" (weight '
        f"{cfg['tail_weight']:g}),",
        f"  YES iff the response has `{cfg['tail_property']}`, which gold penalizes (weight 3). Small next to the",
        "  facts' weights, it changes the ranking mostly among responses that already satisfy the rest: the proxy",
        "  is wrong in the high-reward tail. Refinement starts from this rubric. Its weight is swept (table 4).",
        f"- GRPO: {tr['steps']} steps, {tr['group_size']} samples per prompt, KL coefficient {tr['kl_coef']}, "
        f"optimizers {opts};",
        f"  Adam b1 {tr['adam_b1']}, b2 {tr['adam_b2']}; natural gradient = SGD step divided by the exact Fisher",
        f"  diag(p(1-p)) of the factorized policy, damping {tr['ng_damping']}. The learning rates are a choice",
        "  (each optimizer peaks inside the run on the standard initial rubric), not tuned for gold.",
        "- Exact tilt: pi_beta ∝ pi_0 exp(E[proxy score | response] / beta) over all 8192 responses per prompt,",
        f"  pi_0 = the base model; {cfg['n_beta']} temperatures from {cfg['beta_max']:g} down to {cfg['beta_min']:g}.",
        "  KL is sequence-level (whole responses) for both; for GRPO's factorized policy it equals the",
        "  per-property sum the trainer logs.",
        f"- A curve *peaks* when its gold falls after the peak by more than {MIN_DROP} (95% CI over worlds above",
        f"  {MIN_DROP}), is *flat* when the CI is below it, else *unclear*. GRPO's peak is taken from a 5-step",
        "  moving average (as in the main report). Mechanism of a GRPO peak: *tail* when the exact tilt itself",
        "  peaks; else *policy class* when the best factorized policy peaks; else *training path*; *none* when",
        "  GRPO does not peak within its run.",
        "",
    ]


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table (header, separator, one line per row) and a blank line."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def _tilt_table(s: dict[str, Any]) -> list[str]:
    head = ["variant", "condition", "tilt: peak gold", "KL at peak", "gold at max KL", "max KL", "drop", "shape"]
    head += ["P(tail prop.) peak / max KL", "factorized: peak gold", "KL at peak", "gold at max KL", "drop", "shape"]
    rows = []
    for v, conds in s["table"].items():
        for c, m in conds.items():
            t, f = m["tilt"], m["factorized"]
            cells = [v, c, _f(t["peak"]), _f(t["peak_kl"], 2), _f(t["end"]), _f(t["end_kl"], 2), _f(t["drop"])]
            cells += [t["shape"], f"{_f(t['tail_prob_peak'], 2)} / {_f(t['tail_prob_end'], 2)}"]
            rows.append(cells + [_f(f["peak"]), _f(f["peak_kl"], 2), _f(f["end"]), _f(f["drop"]), f["shape"]])
    return [
        "## 1. The optima per rubric condition: exact tilt (all distributions) and best factorized policy",
        "",
        "Tilt: pi_beta over all 8192 responses. Factorized: the best product-of-Bernoulli policy at each beta",
        "(GRPO's policy class; the branch that starts at the base policy). P(tail prop.): the tail property's",
        "inclusion probability under the tilt at its peak and at its largest KL.",
        "",
        *_md_table(head, rows),
    ]


def _grpo_table(s: dict[str, Any]) -> list[str]:
    head = ["variant", "condition", "optimizer", "peak gold", "peak step", "KL at peak", "final gold", "final KL"]
    head += ["drop", "shape", "mechanism", "gap at peak", "gap at final", "factorized gap at peak", "at final"]
    rows = []
    for v, conds in s["table"].items():
        for c, m in conds.items():
            for o, g in m["grpo"].items():
                cells = [v, c, o, _f(g["peak"]), _f(g["peak_step"], 0), _f(g["peak_kl"], 2), _f(g["final"])]
                cells += [_f(g["final_kl"], 2), _f(g["drop"]), g["shape"], g["mechanism"]]
                cells += [_f(g["gap_at_peak"]), _f(g["gap_at_final"])]
                rows.append(cells + [_f(g["gap_fact_at_peak"]), _f(g["gap_fact_at_final"])])
    return [
        "## 2. GRPO per rubric condition and optimizer",
        "",
        "Gap = GRPO's gold minus the exact tilt's gold at the same sequence KL (negative: GRPO is below the",
        "optimum's path); factorized gap: the same against the best factorized policy (what the training path",
        "adds to the policy class).",
        "",
        *_md_table(head, rows),
    ]


def _verdict(r: dict[str, Any]) -> str:
    return f"{r['verdict']} ({r['initial']} -> {r['refined']})"


def _refinement_table(s: dict[str, Any]) -> list[str]:
    head = ["variant", "condition", "tilt", "tilt peak-KL change", "factorized", *s["optimizers"]]
    rows = []
    for v, conds in s["refinement"].items():
        for c, r in conds.items():
            cells = [v, c, _verdict(r["tilt"]), _f(r["tilt"]["peak_kl_change"], 2), _verdict(r["factorized"])]
            for o in s["optimizers"]:
                ratio = r[o]["peak_step_ratio"]
                cells.append(
                    f"{_verdict(r[o])}; peak step x{ratio['ratio_of_means']:.2f} [{ratio['lo']:.2f}, {ratio['hi']:.2f}]"
                )
            rows.append(cells)
    return [
        "## 3. Does refinement delay the collapse or remove it?",
        "",
        "Against the same world's initial rubric (initial shape -> refined shape). Tilt: change of the KL at",
        "its peak; GRPO: ratio of mean peak steps (refined / initial, bootstrap 95% interval). GRPO's verdicts",
        "hold within its run's steps; the optima's for any KL on their grid.",
        "",
        *_md_table(head, rows),
    ]


def _sweep_table(s: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    rows = [
        [w, _f(m["peak"]), _f(m["peak_kl"], 2), _f(m["end"]), _f(m["drop"]), m["shape"]]
        for w, m in s["tail_sweep"].items()
    ]
    return [
        f"## 4. The tail flaw's weight (exact tilt of the initial rubric plus the `{cfg['tail_property']}` criterion)",
        "",
        *_md_table(["flaw weight", "peak gold", "KL at peak", "gold at max KL", "drop", "shape"], rows),
    ]


def report(s: dict[str, Any], cfg: dict[str, Any], figure: str | None) -> str:
    lines = [
        "# Rubric world: which mechanism makes gold peak",
        "",
        "Generated by `chase repro rubric-world-mechanisms` (= `python -m paper_repro.rubric_world_mechanisms`)",
        f"from {s['seeds']} worlds (seeds {cfg['seed']}..{cfg['seed'] + s['seeds'] - 1}); every number is a mean "
        "with a 95% t-interval over worlds.",
        f"Predictions made before the runs: [rubric_world_mechanisms.predictions.md]"
        f"(rubric_world_mechanisms.predictions.md). Run time {s['seconds']:.0f} s.",
        "",
    ]
    lines += _findings(s) + _assumptions(s, cfg)
    if figure:
        lines += [
            f"![gold vs KL: exact tilt and GRPO]({figure})",
            "",
            "Means over worlds. The x-axis stops at 1.6 x GRPO's largest KL; the optima go on (table 1).",
            "",
        ]
    lines += _tilt_table(s) + _grpo_table(s) + _refinement_table(s) + _sweep_table(s, cfg)
    return "\n".join(lines)


def draw_figure(s: dict[str, Any], fig_dir: Path, stem: str) -> Path:
    """Draw the mechanisms figure from summary ``s`` into ``fig_dir/stem.{json,png,pdf}``; returns the PNG."""
    keys = ("variants", "conditions", "optimizers", "seeds")
    title = f"Rubric world: exact tilt vs GRPO ({s['steps']} steps)"
    curves = dict(s["curves"])
    # every few steps of GRPO's curves and 4 decimals are ample for the plot and keep the data file small
    T = len(curves["grpo_gold"][0][0][0])
    keep = sorted({*range(0, T, max(1, T // 100)), T - 1})
    for key in ("grpo_kl", "grpo_gold"):
        curves[key] = np.round(np.asarray(curves[key])[..., keep], 4).tolist()
    for key in ("tilt_kl", "tilt_gold", "fact_kl", "fact_gold", "sweep_kl", "sweep_gold"):
        curves[key] = np.round(np.asarray(curves[key], float), 4).tolist()
    data = {"title": title, **{k: s[k] for k in keys}, **curves}
    path = write_json(fig_dir / f"{stem}.json", data)
    return save_from_file(plot_mechanisms, path)["png"]


def main(argv: list[str] | None = None, base: MechanismConfig | None = None) -> int:
    """``base``: the config the flags change (tests pass a tiny one)."""
    p = Parser(prog="chase repro rubric-world-mechanisms", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/rubric_world_mechanisms")
    p.add_argument("--doc", default="docs/rubric_world_mechanisms.md")
    p.add_argument("--figures", default="docs/figures", help="folder of the figure DOC_STEM.png/.pdf/.json")
    p.add_argument("--overwrite", action="store_true", help="recompute although OUT/summary.json exists")
    base = MechanismConfig() if base is None else base
    add_config_flags(p, MechanismConfig, exclude=NO_FLAG, base=base)
    a = p.parse_args(argv)
    try:
        cfg = config_from_args(MechanismConfig, a, base=base)
    except ValueError as e:
        p.error(str(e))
    t0 = time.perf_counter()
    try:
        s = cached(Path(a.out) / "summary.json", cfg.to_dict(), lambda: compute(cfg), overwrite=a.overwrite)
    except RunConfigMismatch as e:
        p.error(str(e))
    doc = Path(a.doc)
    png = draw_figure(s, Path(a.figures), doc.stem)  # the figure is named after the doc
    try:
        rel = png.resolve().relative_to(doc.resolve().parent).as_posix()
    except ValueError:
        rel = png.resolve().as_posix()
    atomic_write_text(doc, report(s, cfg.to_dict(), rel))
    print(f"wrote {doc} and {png} ({time.perf_counter() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
