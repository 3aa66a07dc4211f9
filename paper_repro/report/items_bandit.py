"""Quantile-bandit items: collapse over training for top vs bottom bands, the band-width sweep, and the fixed
points at beta > 0 (all through ``paper_repro.bandit_findings``' section configs or ``sim.bandit_training``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paper_repro.report.items import register
from paper_repro.report.model import DOES_NOT_HOLD, HOLDS, ItemReport, Row
from paper_repro.report.plots import draw
from rewards.stats import format_interval
from sim.bandit import WorldConfig
from sim.train import TrainConfig

__all__ = ["BetaConfig", "CollapseConfig", "SweepConfig"]

_GRPO = TrainConfig(algo="grpo", geometry="natural", steps=600, lr=0.02, group=32)  # `chase sim train`'s default
_FINDINGS = "python -m paper_repro.bandit_findings"


@dataclass(frozen=True)
class CollapseConfig:
    """Default GRPO (beta = 0) on the quantile bandit with the top 10% reversed, the bottom 10% reversed and a
    correct proxy; the continuous tilt drawn over each."""

    maps: tuple[str, ...] = ("top-wrong:0.1", "worst-wrong:0.1", "identity")
    seeds: int = 16
    world: WorldConfig = field(default_factory=lambda: WorldConfig(contexts=64, arms=128))
    train: TrainConfig = _GRPO

    def compute(self) -> dict[str, Any]:
        import jax

        from sim.bandit_training import BanditTrainingConfig, figure_data, run, summarize
        from theory.continuous import tilt_reference

        cfg = BanditTrainingConfig(maps=self.maps, seeds=self.seeds, world=self.world, train=self.train)
        result = run(cfg, jax.random.key(cfg.seed))
        summary = summarize(result)
        theory = {
            name: tilt_reference(p, float(summary[name]["mean_curve"]["final_kl"]))
            for name, p in zip(result.proxy_names, cfg.proxies(), strict=True)
        }
        return {"summary": summary, "figure": figure_data(result, theory), "seconds": result.seconds}

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        from figures import sim_train

        s = {k: v["true_win_rate"] for k, v in data["summary"].items()}
        top, bottom = s["top-wrong:0.1"], s["worst-wrong:0.1"]
        rows = [
            Row(
                "top 10% reversed: true win rate lost after its peak (drop, CI over seeds)",
                "top-tail errors wreck the result",
                format_interval(top["drop_after_peak"], 4),
                HOLDS if top["drop_after_peak"]["lo"] > 0.005 else DOES_NOT_HOLD,
                "holds: the drop's CI lies above 0.005",
            ),
            Row(
                "bottom 10% reversed: drop after its peak",
                "bottom errors barely matter",
                format_interval(bottom["drop_after_peak"], 4),
                HOLDS if bottom["drop_after_peak"]["hi"] < top["drop_after_peak"]["lo"] else DOES_NOT_HOLD,
                "holds: its CI lies below the top band's",
            ),
            Row(
                "final true win rate: bottom 10% reversed vs correct proxy",
                "",
                f"{format_interval(bottom['final'], 3)} vs {format_interval(s['identity']['final'], 3)}",
                HOLDS if abs(bottom["final"]["mean"] - s["identity"]["final"]["mean"]) < 0.02 else DOES_NOT_HOLD,
                "holds: within 0.02",
            ),
        ]
        fig = draw(sim_train.plot, data["figure"], fig_dir, "bandit_collapse")
        w, t = self.world, self.train
        return ItemReport(
            "Quantile bandit: collapse over training, top band vs bottom band reversed",
            "GRPO without a KL penalty climbs the proxy; the true win rate follows the theory's tilt curve up to the "
            "top band's peak and then falls, while a reversed bottom band costs nothing.",
            tuple(rows),
            (fig,),
            assumptions=(
                f"{w.contexts} contexts x {w.arms} arms, {self.seeds} seeds, GRPO ({t.geometry}), lr {t.lr:g}, "
                f"G {t.group}, {t.steps} steps, beta 0",
            ),
            command=f"chase sim train --map top-wrong:0.1 --map worst-wrong:0.1 --seeds {self.seeds}",
            seconds=data["seconds"],
        )


@dataclass(frozen=True)
class SweepConfig:
    """The band-width sweep of the top-band reversal (``paper_repro.bandit_findings.sections.SweepSection``)."""

    widths: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    contexts: int = 32
    arms: int = 512
    seeds: int = 16
    steps: int = 600

    def _section(self):
        from paper_repro.bandit_findings.sections import SweepSection

        train = dataclasses.replace(_GRPO, steps=self.steps)
        return SweepSection(self.widths, WorldConfig(contexts=self.contexts, arms=self.arms), train, self.seeds)

    def compute(self) -> dict[str, Any]:
        return self._section().compute()

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        from figures import repro_panels

        rows, peaks, drops = [], [], []
        for r in data["rows"]:
            gap = r["peak"]["mean"] - r["theory_peak"]
            rel_kl = r["kl_at_peak"]["mean"] / r["theory_kl_at_peak"] - 1
            peaks.append(r["peak_step"]["mean"])
            drops.append(r["drop_after_peak"]["mean"])
            rows.append(
                Row(
                    f"top {r['width']:g} reversed: peak true W (theory) / KL at peak (theory)",
                    "",
                    f"{format_interval(r['peak'], 3)} ({r['theory_peak']:.3f}) / "
                    f"{format_interval(r['kl_at_peak'], 2)} ({r['theory_kl_at_peak']:.2f}), KL {rel_kl:+.0%}",
                    HOLDS if abs(gap) <= 0.05 and abs(rel_kl) <= 0.25 else DOES_NOT_HOLD,
                    "holds: peak within 0.05 of the tilt's and its KL within ±25%",
                )
            )
        order = bool(np.all(np.diff(peaks) < 0) and np.all(np.diff(drops) > 0))
        rows.append(
            Row(
                "wider band: earlier peak and larger drop",
                "",
                "monotone" if order else "not monotone",
                HOLDS if order else DOES_NOT_HOLD,
            )
        )
        fig = draw(repro_panels.plot, _sweep_panels(data["rows"]), fig_dir, "bandit_width_sweep")
        return ItemReport(
            "Quantile bandit: how the width of the reversed top band sets the peak",
            "Training peaks where the exact tilt peaks; the wider the reversed top band, the earlier and lower the "
            "peak.",
            tuple(rows),
            (fig,),
            assumptions=(f"{self.contexts} contexts x {self.arms} arms, {self.seeds} seeds, {self.steps} GRPO steps",),
            command=f"{_FINDINGS} --only sweep",
        )


def _sweep_panels(rows: list[dict[str, Any]]) -> dict[str, Any]:
    c = [r["width"] for r in rows]

    def pts(key: str) -> dict[str, Any]:
        return {
            "label": "training (95% CI)",
            "x": c,
            "y": [r[key]["mean"] for r in rows],
            "lo": [r[key]["lo"] for r in rows],
            "hi": [r[key]["hi"] for r in rows],
            "color": 1,
        }

    return {
        "panels": [
            {
                "title": "peak true win rate",
                "xlabel": "width c of the reversed top band",
                "ylabel": "win rate vs π₀",
                "lines": [{"label": "exact tilt", "x": c, "y": [r["theory_peak"] for r in rows], "color": 0}],
                "points": [pts("peak")],
            },
            {
                "title": "KL at the peak",
                "xlabel": "width c of the reversed top band",
                "ylabel": "KL(π ‖ π₀), nats",
                "lines": [{"label": "exact tilt", "x": c, "y": [r["theory_kl_at_peak"] for r in rows], "color": 0}],
                "points": [pts("kl_at_peak")],
            },
        ]
    }


@dataclass(frozen=True)
class BetaConfig:
    """beta > 0: exact natural-gradient training to its fixed point vs the continuous tilt at that beta
    (``paper_repro.bandit_findings.sections.BetaSection`` with its exact-natural runs; the sampled-GRPO runs of
    the full report take ~20 min and live in docs/bandit_findings.md)."""

    betas: tuple[float, ...] = (0.03, 0.1, 0.3)
    maps: tuple[str, ...] = ("identity", "top-wrong:0.1", "worst-wrong:0.5")
    contexts: int = 16
    arms: int = 1000
    steps: int = 300

    def compute(self) -> dict[str, Any]:
        from paper_repro.bandit_findings.sections import BetaRun, BetaSection
        from sim.bandit_training import BanditTrainingConfig

        world = WorldConfig(contexts=self.contexts, arms=self.arms)
        runs = tuple(
            BetaRun(
                b,
                "exact-natural",
                BanditTrainingConfig(
                    maps=self.maps,
                    seeds=2,
                    world=world,
                    train=TrainConfig(algo="exact", geometry="natural", lr=0.5 / b, steps=self.steps, beta=b),
                ),
            )
            for b in self.betas
        )
        from rewards import QuantileMap
        from theory.continuous import tilt_win_rate

        grid = np.geomspace(min(self.betas) / 2, max(self.betas) * 2, 60)
        lines = {s: np.asarray(tilt_win_rate(QuantileMap.parse(s), grid), float).tolist() for s in self.maps}
        return {**BetaSection(runs).compute(), "theory": {"beta": grid.tolist(), "win_rate": lines}}

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        from figures import repro_panels

        rows = [
            Row(
                f"beta {r['beta']:g}, {r['map']}: fixed-point true W (tilt) / KL (tilt)",
                "",
                f"{r['win_rate']['mean']:.4f} ({r['theory_win_rate']:.4f}) / {r['kl']['mean']:.3f} "
                f"({r['theory_kl']:.3f})",
                HOLDS if abs(r["rel_err_win"]) <= 0.01 and abs(r["rel_err_kl"]) <= 0.05 else DOES_NOT_HOLD,
                f"relative errors {r['rel_err_win']:+.2%} (W), {r['rel_err_kl']:+.2%} (KL); holds: within 1% / 5%",
            )
            for r in data["rows"]
        ]
        lines, points = [], []
        for k, spec in enumerate(self.maps):
            mine = [r for r in data["rows"] if r["map"] == spec]
            th = data["theory"]
            lines.append({"label": f"{spec}: tilt", "x": th["beta"], "y": th["win_rate"][spec], "color": k})
            points.append({"x": [r["beta"] for r in mine], "y": [r["win_rate"]["mean"] for r in mine], "color": k})
        panel = {
            "title": "fixed point of training (points) vs the tilt (lines)",
            "xlabel": "β",
            "ylabel": "true win rate vs π₀",
        }
        fig = draw(
            repro_panels.plot,
            {"panels": [{**panel, "xscale": "log", "xticks": list(self.betas), "lines": lines, "points": points}]},
            fig_dir,
            "bandit_beta",
        )
        return ItemReport(
            "Quantile bandit: with beta > 0 training converges to the tilt",
            "The KL-regularized objective's optimum is the tilt π0·exp(v/β)/Z; exact natural-gradient training "
            "reaches it under every map.",
            tuple(rows),
            (fig,),
            assumptions=(f"{self.contexts} contexts x {self.arms} arms, exact gradients, {self.steps} steps",),
            command=f"{_FINDINGS} --only beta",
        )


@register("bandit-collapse", "Collapse over training", "Quantile bandit")
def _collapse() -> dict[str, CollapseConfig]:
    small = WorldConfig(contexts=8, arms=64)
    return {
        "smoke": CollapseConfig(seeds=2, world=small, train=dataclasses.replace(_GRPO, steps=40)),
        "quick": CollapseConfig(seeds=8),
        "full": CollapseConfig(),
    }


@register("bandit-width-sweep", "Band-width sweep", "Quantile bandit")
def _sweep() -> dict[str, SweepConfig]:
    return {
        "smoke": SweepConfig(widths=(0.1, 0.5), contexts=4, arms=64, seeds=2, steps=40),
        "quick": SweepConfig(contexts=16, arms=256, seeds=8),
        "full": SweepConfig(),
    }


@register("bandit-beta", "beta > 0 fixed points", "Quantile bandit")
def _beta() -> dict[str, BetaConfig]:
    return {
        "smoke": BetaConfig(betas=(0.3,), maps=("identity",), contexts=4, arms=100, steps=30),
        "quick": BetaConfig(),
        "full": BetaConfig(contexts=16, arms=1000, steps=600),
    }
