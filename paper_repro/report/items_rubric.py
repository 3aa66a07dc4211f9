"""Rubric-world items: which mechanism makes gold peak (exact tilt vs GRPO), and the phase diagram over proposer
knowledge (Tables 1, 2 and 6, Figure 4 analogs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paper_repro.report.items import register
from paper_repro.report.model import DOES_NOT_HOLD, HOLDS_UNDER_ASSUMPTIONS, ItemReport, Row
from rewards.stats import format_interval

__all__ = ["MechanismsItemConfig", "PhaseItemConfig"]


def _iv(d: dict[str, Any], digits: int = 3) -> str:
    return format_interval(d, digits)


@dataclass(frozen=True)
class MechanismsItemConfig:
    """``chase repro rubric-world-mechanisms`` at a chosen size: worlds (``seeds``), prompts per world, GRPO steps."""

    seeds: int = 8
    n_prompts: int = 32
    steps: int = 300

    def mechanism_config(self):
        import dataclasses

        from sim.rubric_experiments.mechanisms import MechanismConfig

        base = MechanismConfig()
        return dataclasses.replace(
            base,
            seeds=self.seeds,
            world=dataclasses.replace(base.world, n_prompts=self.n_prompts),
            train=dataclasses.replace(base.train, steps=self.steps),
        )

    def resolved(self) -> dict[str, Any]:
        """The full config this item runs (in the cache key, so a changed library default is not reused)."""
        return self.mechanism_config().to_dict()

    def compute(self) -> dict[str, Any]:
        from paper_repro.rubric_world_mechanisms import compute

        return compute(self.mechanism_config())

    def render(self, s: dict[str, Any], fig_dir: Path) -> ItemReport:
        from paper_repro.rubric_world_mechanisms import draw_figure

        std, tail = s["variants"][0], s["variants"][-1]
        init = s["conditions"][0]
        rows = []
        g = s["table"][std][init]["grpo"]["sgd"]
        t_std = s["table"][std][init]["tilt"]
        rows.append(
            Row(
                f"{std} world, initial rubric: GRPO (SGD) collapses",
                "initial rubric: win rate falls after ~step 60 (Figure 4)",
                f"{g['shape']}: peak step {_iv(g['peak_step'], 0)}, drop {_iv(g['drop'])}; mechanism: "
                f"{g['mechanism']} (exact tilt: {t_std['shape']})",
                HOLDS_UNDER_ASSUMPTIONS if g["shape"] == "peaks" else DOES_NOT_HOLD,
                "the collapse is there, but not by the paper's tail mechanism unless the tilt itself peaks",
            )
        )
        t = s["table"][tail][init]["tilt"]
        rows.append(
            Row(
                f"{tail} world, initial rubric: the exact KL-regularized optimum itself peaks",
                "errors in the top tail of the proxy wreck the result (§3)",
                f"{t['shape']}: peak gold {_iv(t['peak'])} at KL {_iv(t['peak_kl'], 2)}, drop {_iv(t['drop'])}",
                HOLDS_UNDER_ASSUMPTIONS if t["shape"] == "peaks" else DOES_NOT_HOLD,
                "assumes the tail flaw (a small criterion paying for a property gold penalizes)",
            )
        )
        verdicts = {c: r["tilt"]["verdict"] for c, r in s["refinement"][tail].items()}
        delays = [c for c, v in verdicts.items() if c != "gold-rubric" and v in ("delays", "removes")]
        rows.append(
            Row(
                f"{tail} world: refinement postpones the tilt's collapse",
                "onset moves from ~step 60 to ~160 (Figure 4)",
                "; ".join(f"{c}: {v}" for c, v in verdicts.items()),
                HOLDS_UNDER_ASSUMPTIONS if delays else DOES_NOT_HOLD,
                "holds when some refined rubric (not the gold rubric) delays or removes the peak (CIs over worlds)",
            )
        )
        fig = draw_figure(s, fig_dir, "rubric_world_mechanisms")
        return ItemReport(
            "Rubric world: which mechanism makes gold peak (exact tilt vs GRPO with SGD, Adam, natural gradient)",
            "For every rubric condition the exact KL-regularized optimum over all 8192 responses, the best "
            "factorized policy (GRPO's policy class) and GRPO with three optimizers, in the standard world and in "
            "one whose initial rubric is wrong in the high-reward tail.",
            tuple(rows),
            (f"{fig_dir.name}/{Path(fig).name}",),
            assumptions=(
                f"{s['seeds']} worlds, {self.n_prompts} prompts each, {s['steps']} GRPO steps",
                "learning rates " + ", ".join(f"{o} {lr}" for o, lr in zip(s["optimizers"], s["lrs"], strict=True)),
                "the old hand-tuned world (its initial rubric collapses) with a gold-free proposer of knowledge 1.0",
            ),
            command="chase repro rubric-world-mechanisms",
        )


# the paper's numbers for the phase diagram's claims (health domain; PAPER.md Tables 1 and 2)
_PAPER_CLAIMS = {
    "table2_high_gain": "high-reward accuracy 40.3% → 47.9% (+7.6)",
    "table2_tail": "+7.6 high vs +3.6 low",
    "table1_refined_beats_initial": "win rate 34.4% vs 21.7%",
    "table1_diverse_beats_great": "34.4% vs 31.4%",
    "table1_more_pairs_help": "31.4% vs 26.5%",
    "table1_great_beats_good": "26.5% vs 22.4%",
}


@dataclass(frozen=True)
class PhaseItemConfig:
    """``chase repro rubric-world-phase`` at a chosen size (drawn worlds, GRPO seeds per world, the knowledge and
    halo grids); the old tuned world is one labelled row beside it."""

    worlds: int = 16
    train_seeds: int = 2
    knowledge: tuple[float, ...] = (0.5, 0.625, 0.75, 0.875, 1.0)
    halos: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    n_prompts: int = 0  # 0: the experiment's default
    steps: int = 0  # 0: the experiment's default

    def phase_config(self):
        import dataclasses

        from sim.rubric_experiments.phase import PhaseConfig

        base = PhaseConfig()
        exp = base.experiment
        if self.n_prompts:
            exp = dataclasses.replace(exp, world=dataclasses.replace(exp.world, n_prompts=self.n_prompts))
        if self.steps:
            exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, steps=self.steps))
        return dataclasses.replace(
            base,
            worlds=self.worlds,
            train_seeds=self.train_seeds,
            knowledge=self.knowledge,
            halos=self.halos,
            experiment=exp,
        )

    def resolved(self) -> dict[str, Any]:
        return self.phase_config().to_dict()

    def compute(self) -> dict[str, Any]:
        from paper_repro.rubric_world_phase import summarize, tuned_config
        from sim.rubric_experiments.phase import run_world

        cfg = self.phase_config()
        tcfg = tuned_config(cfg)
        rows = [run_world(cfg, w) for w in range(cfg.worlds)]
        trows = [run_world(tcfg, w) for w in range(tcfg.worlds)]
        return {"drawn": summarize(rows, cfg), "tuned": summarize(trows, tcfg), "rows": rows}

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        from paper_repro.rubric_world_phase import draw_figures

        cfg = self.phase_config()
        sm, tsm = data["drawn"], data["tuned"]
        rows = [_claim_row(key, c) for key, c in sm["claims"].items()]
        rows += [_collapse_row(sm, tsm)] + [_table6_row(t) for t in sm["table6"]]
        figs = draw_figures(sm, data["rows"], cfg, fig_dir)
        return ItemReport(
            "Rubric world: Tables 1, 2 and 6 and Figure 4 analogs over drawn worlds, against proposer knowledge",
            "No simulated agent reads gold: the proposer sees a judged pair and its own prior knowledge of each "
            "property's sign (knowledge 0.5 = blind, 1.0 = knows every sign); the writer's flaws are drawn per "
            "world. Each claim is tested at every knowledge level (paired over worlds) and holds for knowledge at "
            "or above the stated threshold.",
            tuple(rows),
            tuple(f"{fig_dir.name}/{Path(f).name}" for f in figs),
            assumptions=(
                f"{sm['worlds']} drawn worlds x {cfg.train_seeds} GRPO seeds; knowledge "
                + ", ".join(f"{k:g}" for k in cfg.knowledge),
                "the writer's flaw distributions and the pairwise judge's error (15%) stated in "
                "docs/rubric_world_findings.md",
                "Table 6: the Bradley-Terry style halo is an assumption, swept "
                + ", ".join(f"{h:g}" for h in cfg.halos),
            ),
            command="chase repro rubric-world-phase",
        )


def _claim_row(key: str, c: dict[str, Any]) -> Row:
    k = c["holds_for_knowledge_geq"]
    per = c["per_knowledge"]
    lo_k, hi_k = next(iter(per)), list(per)[-1]
    ours = f"knowledge {lo_k}: {_iv(per[lo_k]['ci'], 2)}; {hi_k}: {_iv(per[hi_k]['ci'], 2)}"
    return Row(
        c["claim"],
        _PAPER_CLAIMS.get(key, ""),
        ours + ("" if k is None else f"; holds for knowledge >= {k:g}"),
        HOLDS_UNDER_ASSUMPTIONS if k is not None else DOES_NOT_HOLD,
        "holds at a knowledge when the paired difference's 95% CI over worlds lies above 0",
    )


def _collapse_row(sm: dict[str, Any], tsm: dict[str, Any]) -> Row:
    d, t = sm["reference"]["initial"], tsm["reference"]["initial"]
    return Row(
        "the initial rubric over-optimizes (loses >= 10% of its gain under GRPO)",
        "win rate falls after ~step 60 (Figure 4)",
        f"drawn worlds: {d['collapse_share']:.0%} collapse (lost {_iv(d['lost_fraction'])}); old tuned world: "
        f"{t['collapse_share']:.0%} (lost {_iv(t['lost_fraction'])}, peak step {_iv(t['peak_step'], 0)})",
        DOES_NOT_HOLD if d["collapse_share"] < 0.5 else HOLDS_UNDER_ASSUMPTIONS,
        "emerges only from the tuned world's hand-placed flaws (labelled row)",
    )


def _table6_row(t: dict[str, Any]) -> Row:
    ok = t["on_minus_off"]["lo"] > 0 and t["refined_minus_best_bt"]["lo"] > 0
    return Row(
        f"Table 6 at BT style halo {t['halo']:g}: on-policy BT beats off-policy, the refined rubric beats every BT",
        "on 26.8% > off 22.4%; rubric 34.4% > every BT",
        f"on - off {_iv(t['on_minus_off'])}; refined - best BT {_iv(t['refined_minus_best_bt'])}; best BT - "
        f"initial {_iv(t['best_bt_minus_initial'])}",
        HOLDS_UNDER_ASSUMPTIONS if ok else DOES_NOT_HOLD,
        "the halo strength is an assumption; holds when both CIs lie above 0",
    )


@register("rubric-world-phase", "Phase diagram", "Rubric world")
def _phase() -> dict[str, PhaseItemConfig]:
    return {
        "smoke": PhaseItemConfig(worlds=2, train_seeds=1, knowledge=(0.5, 1.0), halos=(0.5,), n_prompts=8, steps=20),
        "quick": PhaseItemConfig(worlds=8, train_seeds=1, knowledge=(0.5, 0.75, 1.0), halos=(0.0, 0.5)),
        "full": PhaseItemConfig(),
    }


@register("rubric-world-mechanisms", "Mechanisms", "Rubric world")
def _mechanisms() -> dict[str, MechanismsItemConfig]:
    return {
        "smoke": MechanismsItemConfig(seeds=2, n_prompts=4, steps=20),
        "quick": MechanismsItemConfig(seeds=8, n_prompts=16, steps=300),
        "full": MechanismsItemConfig(),
    }
