"""Regenerate docs/rubric_world_findings.md: the rubric world's phase diagram (issue 13).

    chase repro rubric-world-phase [--out runs/rubric_world_phase] [--doc docs/rubric_world_findings.md]
                                   [--worlds 16] [--train-seeds 2] [--quick] [--overwrite]

Each world's numbers are cached in OUT/drawn/worldNNN.json and OUT/tuned/worldNNN.json through
``rewards.runs.cached`` (a killed run resumes at the next world; a file made with another config is an error
unless --overwrite). The report, its figures (docs/figures/rubric_world_phase.png, rubric_world_halo.png,
rubric_world_phase_curves.png) and every number in them come from those files.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from chase.cli import Parser
from figures.rubric_world import plot_curves
from figures.rubric_world_phase import plot_halo, plot_phase
from figures.style import save_from_file
from rewards.io import atomic_write_text, write_json
from rewards.runs import cached
from rewards.stats import interval
from sim.bt import BTConfig
from sim.rubric_experiments.config import ExperimentConfig
from sim.rubric_experiments.phase import PhaseConfig, conditions, rubric_name, run_world
from sim.rubric_train import TrainConfig
from sim.rubric_world import PROPERTY_INDEX, WorldConfig

from .report import figure_data, markdown
from .summary import _get, claims, phase_rows, ref_cond, reference_rows, table6_rows
from .text import prose

__all__ = ["ABLATIONS", "DEFAULT", "QUICK", "ablation_config", "main", "summarize", "tuned_config"]

DEFAULT = PhaseConfig()
QUICK = PhaseConfig(
    worlds=2,
    train_seeds=1,
    knowledge=(0.5, 1.0),
    diversity=(2, 6),
    halos=(0.0, 0.5),
    experiment=ExperimentConfig(
        seeds=1,
        bt_ablation=False,
        eval_pairs=8,
        world=WorldConfig(n_prompts=12, n_diverse=6),
        train=TrainConfig(steps=40),
        bt=BTConfig(pairs_per_prompt=6, steps=50),
    ),
)
K_REF = 0.75  # the knowledge whose refined rubric Table 6 compares the BT models with (the middle of the sweep)


# What the tuned world's early collapse of the initial rubric takes: the tuned world with ONE of its placed
# flaws drawn from the default ranges instead (initial and gold rubrics only, one GRPO seed per world).
_D = WorldConfig()
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "hedge-weight": (
        f"hedging's gold weight drawn from {_D.hedge_weights} (tuned: 3)",
        {"hedge_weights": _D.hedge_weights},
    ),
    "exploit-rates": (
        f"base hedging / padding rates 10^U{_D.base_exploit_rate} (tuned: 0.03 / 0.02)",
        {"base_exploit_rate": _D.base_exploit_rate},
    ),
    "writer-criteria": (
        f"catalogue rates U{_D.writer_criterion_prob} (tuned: 0.9 / 0.8 / 0.6 / 0.7, new entries 0)",
        {"writer_criterion_prob": _D.writer_criterion_prob},
    ),
    "coverage": (
        f"fact / tail coverage U{_D.writer_fact_prob} / U{_D.writer_tail_prob} (tuned: 0.9 / 0.05)",
        {"writer_fact_prob": _D.writer_fact_prob, "writer_tail_prob": _D.writer_tail_prob},
    ),
}


def ablation_config(drawn: PhaseConfig, changes: dict[str, Any]) -> PhaseConfig:
    """The tuned world with ``changes`` (WorldConfig fields), no refinement, no BT, one GRPO seed."""
    t = tuned_config(drawn)
    w = dataclasses.replace(t.experiment.world, **changes)
    return dataclasses.replace(
        t, knowledge=(), halos=(), train_seeds=1, experiment=dataclasses.replace(t.experiment, world=w)
    )


def tuned_config(drawn: PhaseConfig) -> PhaseConfig:
    """The old hand-tuned world (its writer's flaws placed), with an oracle proposer, as one labelled row."""
    w = dataclasses.replace(
        WorldConfig.tuned(),
        n_prompts=drawn.experiment.world.n_prompts,
        n_diverse=drawn.experiment.world.n_diverse,
    )
    return dataclasses.replace(
        drawn, knowledge=(1.0,), halos=(), experiment=dataclasses.replace(drawn.experiment, world=w)
    )


def _collect(config: PhaseConfig, out: Path, overwrite: bool, label: str) -> list[dict[str, Any]]:
    rows = []
    for w in range(config.worlds):
        t0 = time.perf_counter()
        path = out / f"world{w:03d}.json"
        rows.append(cached(path, {"phase": config.to_dict(), "world": w}, lambda w=w: run_world(config, w), overwrite))
        print(f"{label} world {w + 1}/{config.worlds}: {time.perf_counter() - t0:.0f}s", flush=True)
    return rows


def summarize_ablation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The initial rubric's peak, collapse and final hedging rate over an ablation's worlds."""
    hedge = PROPERTY_INDEX["hedged_diagnosis"]
    final = [r["proxies"]["initial"]["final_probs"][hedge] for r in rows]
    return {**reference_rows(rows)["initial"], "final_hedge": interval(final).to_dict(), "worlds": len(rows)}


def summarize(rows: list[dict[str, Any]], config: PhaseConfig) -> dict[str, Any]:
    """Every table of the report (JSON-able)."""
    k_ref = K_REF if K_REF in config.knowledge else config.knowledge[-1]
    sm: dict[str, Any] = {
        "worlds": len(rows),
        "k_ref": k_ref,
        "reference": reference_rows(rows),
        "phase": phase_rows(rows, config),
        "ref_cond": ref_cond(config),
        "claims": claims(rows, config),
        "table6": table6_rows(rows, config, k_ref) if config.halos else [],
        "seconds": sum(r["seconds"] for r in rows),
    }
    sm["refined_ref_peak"] = interval(_get(rows, rubric_name(k_ref, ref_cond(config)), "peak_gold")).to_dict()
    return sm


def curves_data(rows: list[dict[str, Any]], config: PhaseConfig) -> dict[str, Any]:
    """Figure 4 analog: mean gold curves over worlds at the lowest and the highest knowledge."""
    T = len(rows[0]["proxies"]["initial"]["gold_curve"])
    panels = []
    for k in (config.knowledge[0], config.knowledge[-1]):
        curves = []
        for c in ("initial", *conditions(config), "gold-rubric"):
            name = c if c in ("initial", "gold-rubric") else rubric_name(k, c)
            iv = interval([r["proxies"][name]["gold_curve"] for r in rows])
            kl = interval([r["proxies"][name]["kl_curve"] for r in rows]).mean
            peak = interval([r["proxies"][name]["peak_step"] for r in rows]).mean
            curves.append(
                {
                    "label": c,
                    "mean": list(iv.mean),
                    "lo": list(iv.lo),
                    "hi": list(iv.hi),
                    "kl": list(kl),
                    "peak_step": peak,
                }
            )
        panels.append({"title": f"proposer knowledge {k:g}", "curves": curves})
    return {
        "title": "GRPO against each rubric (drawn worlds)",
        "seeds": len(rows),
        "unit": "worlds",
        "kl_panel": 1,
        "step": list(range(T)),
        "panels": panels,
    }


def draw_figures(sm, rows, config: PhaseConfig, fig_dir: Path) -> list[Path]:
    """Draw the phase diagram, its Figure 4 analog and (with halos) the Table 6 sweep into ``fig_dir`` from the
    summary ``sm`` and per-world ``rows``; returns the PNG paths."""
    phase, halo = figure_data(sm, config)
    stems = {
        "rubric_world_phase": (phase, plot_phase),
        "rubric_world_phase_curves": (curves_data(rows, config), plot_curves),
    }
    if config.halos:
        stems["rubric_world_halo"] = (halo, plot_halo)
    return [
        save_from_file(plot, write_json(fig_dir / f"{stem}.json", data))["png"] for stem, (data, plot) in stems.items()
    ]


def main(argv: list[str] | None = None) -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/rubric_world_phase")
    p.add_argument("--doc", default="docs/rubric_world_findings.md")
    p.add_argument("--figures", default="docs/figures")
    p.add_argument("--worlds", type=int, default=None, help=f"drawn worlds (default {DEFAULT.worlds})")
    p.add_argument("--train-seeds", type=int, default=None, help=f"GRPO runs per world (default {DEFAULT.train_seeds})")
    p.add_argument("--quick", action="store_true", help="a tiny smoke run (2 worlds, 40 steps, 12 prompts)")
    p.add_argument("--overwrite", action="store_true", help="recompute worlds cached with another config")
    a = p.parse_args(argv)
    cfg = QUICK if a.quick else DEFAULT
    over = {k: v for k, v in (("worlds", a.worlds), ("train_seeds", a.train_seeds)) if v is not None}
    try:
        cfg = dataclasses.replace(cfg, **over)
    except ValueError as e:
        p.error(str(e))
    t0 = time.perf_counter()
    out = Path(a.out)
    rows = _collect(cfg, out / "drawn", a.overwrite, "drawn")
    tcfg = tuned_config(cfg)
    trows = _collect(tcfg, out / "tuned", a.overwrite, "tuned")
    sm, tsm = summarize(rows, cfg), summarize(trows, tcfg)
    abl = {"tuned": {**summarize_ablation(trows), "what": "tuned (every flaw placed)"}}
    for name, (what, changes) in ABLATIONS.items():
        rows_a = _collect(ablation_config(cfg, changes), out / "ablation" / name, a.overwrite, name)
        abl[name] = {**summarize_ablation(rows_a), "what": what}
    abl["drawn"] = {**summarize_ablation(rows), "what": "drawn (every flaw drawn)"}
    tsm["ablation"] = abl
    draw_figures(sm, rows, cfg, Path(a.figures))
    wall = time.perf_counter() - t0
    write_json(out / "summary.json", {"drawn": sm, "tuned": tsm, "wall_seconds": wall})
    atomic_write_text(Path(a.doc), markdown(sm, tsm, cfg, prose(sm, tsm, cfg, wall)))
    print(f"wrote {a.doc} ({wall:.0f}s)")
    return 0
