"""The sections of the bandit findings: each is a frozen config holding everything its numbers depend on (the
cache key, see ``paper_repro.bandit_findings``) and a ``compute()`` that returns the section's JSON-able data.

Training sections go through the library entry ``sim.bandit_training.run``; every interval is
``rewards.stats.interval`` and every curve summary ``rewards.stats.summarize_curve``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from rewards import QuantileMap
from rewards.stats import interval, summarize_curve
from sim import bandit as SB
from sim.bandit_training import BanditTrainingConfig, BanditTrainingResult, run
from sim.train import TrainConfig
from theory import continuous as TC

__all__ = [
    "BETA_MAPS",
    "BETA_WORLD",
    "SEEDS",
    "BetaRun",
    "BetaSection",
    "BonSection",
    "ErrorSection",
    "SweepSection",
    "TiltSection",
    "TrainSection",
    "beta_runs",
    "grpo_decay",
    "run_experiment",
    "true_win_summary",
]

SEEDS = 16
BON_MAPS = (
    "identity",
    "reversed",
    "top-wrong:0.1",
    "worst-wrong:0.1",
    "noise:0.9:1",
    "noise:0:0.1",
    "tie:0.9:1",
    "tie:0:0.1",
)
BON_WORLD = SB.WorldConfig(contexts=32, arms=10_000)
TRAIN_WORLD = SB.WorldConfig(contexts=64, arms=128)  # the `chase sim train` defaults
# spelled out (not the library defaults) so that a change of those defaults cannot move this report's numbers
DEFAULT_GRPO = TrainConfig(algo="grpo", geometry="natural", steps=600, lr=0.02, group=32)
BETA_WORLD = SB.WorldConfig(contexts=16, arms=1000)
BETA_MAPS = ("identity", "top-wrong:0.1", "worst-wrong:0.5")
GRPO_DECAY_STEPS = 60_000


class _Section:
    """A section config: frozen, so the config that computed a cached result is the one that reports it."""

    def config(self) -> dict[str, Any]:
        """The cache key: every field, nested configs as dicts."""
        return dataclasses.asdict(self)


def run_experiment(config: BanditTrainingConfig) -> BanditTrainingResult:
    """One training experiment through the library entry, keyed by the config's own seed."""
    return run(config, jax.random.key(config.seed))


def true_win_summary(result: BanditTrainingResult, j: int) -> dict[str, Any]:
    """Proxy ``j``'s true-win-rate curve: each :class:`rewards.stats.CurveSummary` field as an interval over
    seeds, the KL at each seed's own peak and at the end (intervals), and the seed-mean curve's peak step and
    every 50th value."""
    c = result.curves
    win, kl = c.true_win_rate[:, j], c.kl[:, j]
    s = summarize_curve(win)
    mean_curve = win.mean(0)  # averaged in the recorded float32, as the published report did: same near-tie argmax
    return {
        **{k: interval(getattr(s, k)).to_dict() for k in s._fields},
        "kl_at_peak": interval(kl[np.arange(len(win)), s.peak_step]).to_dict(),
        "final_kl": interval(kl[:, -1]).to_dict(),
        "mean_curve_peak_step": int(summarize_curve(mean_curve).peak_step),
        "curve_every_50": mean_curve[::50].tolist(),
    }


def _tilt_peak(spec: str, kl_max: float, points: int) -> tuple[float, float, float]:
    """The continuous tilt's peak true win rate, the KL there, and the win rate at ``kl_max``."""
    c = TC.curve(QuantileMap.parse(spec), kl_max, points, "tilt")
    i = int(np.argmax(c["win_rate"]))
    return float(c["win_rate"][i]), float(c["kl"][i]), float(c["win_rate"][-1])


def _maps_on_world(world_cfg: SB.WorldConfig, maps, world_seed: int, proxy_seed: int):
    """The shared world and each map's proxy on it (bon and tilt use the same draws)."""
    world = SB.make_world(jax.random.key(world_seed), world_cfg)
    for spec in maps:
        q = QuantileMap.parse(spec)
        yield world, spec, q, SB.proxy_for(world, q, jax.random.key(proxy_seed))


# ----------------------------------------------------------------------------------------------- bon, tilt
@dataclass(frozen=True)
class BonSection(_Section):
    """Sampled best-of-n (``samples`` draws over contexts x equal-mass arms) vs the continuous theory."""

    maps: tuple[str, ...] = BON_MAPS
    n: tuple[int, ...] = (1, 2, 4, 16, 64, 256, 1024)
    world: SB.WorldConfig = BON_WORLD
    samples: int = 16_000
    world_seed: int = 1
    proxy_seed: int = 2
    draw_seed: int = 3  # draws for n use fold_in(key(draw_seed), n)

    def compute(self) -> dict[str, Any]:
        rows = []
        for world, spec, q, proxy in _maps_on_world(self.world, self.maps, self.world_seed, self.proxy_seed):
            for n in self.n:
                res = SB.sample_bon(
                    jax.random.fold_in(jax.random.key(self.draw_seed), n), world, proxy, n, self.samples
                )
                rows.append(_bon_row(spec, q, n, res))
                r = rows[-1]
                print(
                    f"bon {spec:16s} n={n:5d} W={r['win_rate']:.4f}±{r['se']:.4f} theory={r['theory']:.4f}", flush=True
                )
        return {"samples": self.samples, "world": dataclasses.asdict(self.world), "rows": rows}


def _bon_row(spec: str, q: QuantileMap, n: int, res: SB.BonSample) -> dict[str, Any]:
    th_w, th_kl = float(TC.bon_win_rate(q, n)), float(TC.bon_kl(n, q))
    return {
        "map": spec,
        "n": n,
        "win_rate": res.win_rate,
        "se": res.se,
        "theory": th_w,
        "z": (res.win_rate - th_w) / res.se if res.se > 0 else float("nan"),
        "kl_estimate": res.kl_estimate,
        "kl_se": res.kl_se,
        "theory_kl": th_kl,
        "z_kl": (res.kl_estimate - th_kl) / res.kl_se if res.kl_se > 0 else float("nan"),
        "exact_win_rate": res.exact_win_rate,
        "exact_kl": res.exact_kl,
    }


@dataclass(frozen=True)
class TiltSection(_Section):
    """Exact tilt on the bon world vs the continuous theory; SE over contexts (noise-band draws)."""

    maps: tuple[str, ...] = BON_MAPS
    betas: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01)
    world: SB.WorldConfig = BON_WORLD
    world_seed: int = 1
    proxy_seed: int = 2

    def compute(self) -> dict[str, Any]:
        rows = []
        for world, spec, q, proxy in _maps_on_world(self.world, self.maps, self.world_seed, self.proxy_seed):
            for beta in self.betas:
                ev = SB.evaluate(world.logp0, SB.tilt_logpmf(world.logp0, proxy, beta), world.u, world.true)
                w, kl = np.asarray(ev["win_rate"], float), np.asarray(ev["kl"], float)
                th_w, th_kl = float(TC.tilt_win_rate(q, beta)), float(TC.tilt_kl(beta, q))
                rows.append(
                    {
                        "map": spec,
                        "beta": beta,
                        "win_rate": float(w.mean()),
                        "se": float(w.std(ddof=1) / math.sqrt(len(w))),  # a standard error over contexts
                        "theory": th_w,
                        "diff": float(w.mean()) - th_w,
                        "kl": float(kl.mean()),
                        "theory_kl": th_kl,
                        "kl_diff": float(kl.mean()) - th_kl,
                    }
                )
        return {"world": dataclasses.asdict(self.world), "rows": rows}


# ----------------------------------------------------------------------------------------------- training at beta = 0
def _beta0(maps, train_cfg: TrainConfig, world: SB.WorldConfig = TRAIN_WORLD, errors=()) -> BanditTrainingConfig:
    return BanditTrainingConfig(maps=tuple(maps), errors=tuple(errors), seeds=SEEDS, world=world, train=train_cfg)


_TRAIN_MAPS = ("top-wrong:0.1", "worst-wrong:0.1", "worst-wrong:0.5", "top-wrong:0.25", "identity")


@dataclass(frozen=True)
class TrainSection(_Section):
    """Top 10% vs bottom 10% / 50% reversal, with the default (natural) GRPO and with vanilla geometries.
    ``runs``: (label, experiment) pairs on the same maps; theory: the tilt curve up to KL ``theory_kl``."""

    runs: tuple[tuple[str, BanditTrainingConfig], ...] = (
        ("grpo-natural (default)", _beta0(_TRAIN_MAPS, DEFAULT_GRPO)),
        (
            "grpo-vanilla",
            _beta0(_TRAIN_MAPS, TrainConfig(algo="grpo", geometry="vanilla", steps=600, lr=1.0, group=32)),
        ),
        ("exact-vanilla", _beta0(_TRAIN_MAPS, TrainConfig(algo="exact", geometry="vanilla", steps=600, lr=10.0))),
    )
    theory_kl: float = 8.0
    theory_points: int = 801

    def compute(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runs": {}, "theory": {}}
        for label, cfg in self.runs:
            r = run_experiment(cfg)
            maps = {s: true_win_summary(r, j) for j, s in enumerate(cfg.maps)}
            out["runs"][label] = {"config": cfg.to_dict(), "seconds": r.seconds, "maps": maps}
            print(label, {s: round(v["drop_after_peak"]["mean"], 4) for s, v in maps.items()}, flush=True)
        for s in self.runs[0][1].maps:
            peak, kl_at_peak, at_max = _tilt_peak(s, self.theory_kl, self.theory_points)
            out["theory"][s] = {"peak": peak, "kl_at_peak": kl_at_peak, "win_rate_at_max_kl": at_max}
        return out


@dataclass(frozen=True)
class SweepSection(_Section):
    """Band-width sweep of the top-band reversal: where the peak sits (step and KL)."""

    widths: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    world: SB.WorldConfig = SB.WorldConfig(contexts=32, arms=512)
    train: TrainConfig = DEFAULT_GRPO
    seeds: int = SEEDS
    theory_kl: float = 8.0
    theory_points: int = 1601

    def experiment(self) -> BanditTrainingConfig:
        maps = tuple(f"top-wrong:{c}" for c in self.widths)
        return BanditTrainingConfig(maps=maps, seeds=self.seeds, world=self.world, train=self.train)

    def compute(self) -> dict[str, Any]:
        cfg = self.experiment()
        r = run_experiment(cfg)
        out: dict[str, Any] = {"world": dataclasses.asdict(self.world), "seconds": r.seconds, "rows": []}
        for j, (c, s) in enumerate(zip(self.widths, cfg.maps, strict=True)):
            peak, kl_at_peak, _ = _tilt_peak(s, self.theory_kl, self.theory_points)
            out["rows"].append(
                {"width": c, **true_win_summary(r, j), "theory_peak": peak, "theory_kl_at_peak": kl_at_peak}
            )
        return out


@dataclass(frozen=True)
class ErrorSection(_Section):
    """Additive proxy error r = r* + X: Gaussian vs Student t(2) (and t(3)), default GRPO, beta = 0."""

    errors: tuple[str, ...] = ("gauss:1", "gauss:2", "t:2:1", "t:3:1")
    worlds: tuple[SB.WorldConfig, ...] = (TRAIN_WORLD, SB.WorldConfig(contexts=16, arms=1024))
    train: TrainConfig = DEFAULT_GRPO
    seeds: int = SEEDS

    def compute(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by_arms": {}}
        for world in self.worlds:
            r = run_experiment(
                BanditTrainingConfig(maps=(), errors=self.errors, seeds=self.seeds, world=world, train=self.train)
            )
            maps = {s: true_win_summary(r, j) for j, s in enumerate(self.errors)}
            out["by_arms"][str(world.arms)] = {"world": dataclasses.asdict(world), "seconds": r.seconds, "maps": maps}
            print(
                "error K",
                world.arms,
                {s: (round(v["peak"]["mean"], 3), round(v["final"]["mean"], 3)) for s, v in maps.items()},
            )
        return out


# ----------------------------------------------------------------------------------------------- beta > 0
def grpo_decay(beta: float, lr: float = 0.2, steps: int = GRPO_DECAY_STEPS) -> TrainConfig:
    """Sampled GRPO (natural, no std normalization, G = 32) with lr_t = lr / (1 + t/100). A Robbins-Monro
    schedule lets the sampled dynamics settle instead of fluctuating around the fixed point."""
    return TrainConfig(
        algo="grpo",
        geometry="natural",
        lr=lr,
        lr_decay_steps=100.0,
        steps=steps,
        beta=beta,
        normalize_std=False,
        group=32,
    )


@dataclass(frozen=True)
class BetaRun:
    """One training run of the beta section: its final ``tail`` steps are averaged. With a decaying lr the final
    policy is also compared with the tilt at beta * G / (G - 1): the group-mean baseline includes the sample
    itself, which shrinks the expected reward gradient by (G - 1) / G."""

    beta: float
    label: str
    experiment: BanditTrainingConfig
    tail: int = 1

    def theory_betas(self) -> dict[str, float]:
        """Report-label suffix -> the beta whose tilt the run is compared with."""
        t = self.experiment.train
        out = {"": self.beta}
        if t.algo == "grpo" and t.lr_decay_steps > 0:
            out[" vs theory at beta*G/(G-1)"] = self.beta * t.group / (t.group - 1)
        return out


def beta_runs(betas=(0.03, 0.1, 0.3), maps=BETA_MAPS, world=BETA_WORLD, seeds=SEEDS) -> tuple[BetaRun, ...]:
    """The beta section's runs: exact gradients (deterministic, 2 seeds) and sampled GRPO (``seeds``)."""

    def exp(train_cfg: TrainConfig, n: int) -> BanditTrainingConfig:
        return BanditTrainingConfig(maps=tuple(maps), seeds=n, world=world, train=train_cfg)

    out = []
    for b in betas:
        out += [
            BetaRun(
                b,
                "exact-vanilla (REINFORCE, exact gradient)",
                exp(TrainConfig(algo="exact", geometry="vanilla", lr=30.0 / b, steps=20_000, beta=b), 2),
            ),
            BetaRun(
                b, "exact-natural", exp(TrainConfig(algo="exact", geometry="natural", lr=0.5 / b, steps=300, beta=b), 2)
            ),
            BetaRun(
                b,
                "grpo-natural (no std norm; mean of last 500 steps)",
                exp(
                    TrainConfig(
                        algo="grpo", geometry="natural", lr=0.02, steps=3000, beta=b, normalize_std=False, group=32
                    ),
                    seeds,
                ),
                tail=500,
            ),
            BetaRun(
                b,
                f"grpo-natural (no std norm; lr 0.2/(1+t/100), {GRPO_DECAY_STEPS} steps; final step)",
                exp(grpo_decay(b), seeds),
            ),
        ]
    return tuple(out)


@dataclass(frozen=True)
class BetaSection(_Section):
    """beta > 0: where training converges, against the continuous theory's tilt at that beta."""

    runs: tuple[BetaRun, ...] = beta_runs()

    def compute(self) -> dict[str, Any]:
        rows = []
        for br in self.runs:
            r = run_experiment(br.experiment)
            for suffix, b in br.theory_betas().items():
                rows += [_beta_row(br, r, j, s, b, suffix) for j, s in enumerate(br.experiment.maps)]
                print(
                    "beta",
                    br.beta,
                    br.label + suffix,
                    [(x["map"], round(x["rel_err_win"], 4)) for x in rows[-len(br.experiment.maps) :]],
                )
        return {"world": dataclasses.asdict(self.runs[0].experiment.world), "rows": rows}


def _beta_row(br: BetaRun, r: BanditTrainingResult, j: int, spec: str, b: float, suffix: str) -> dict[str, Any]:
    q = QuantileMap.parse(spec)
    # mean over the last `tail` steps in the recorded dtype (float32), as the report always computed it
    w = r.curves.true_win_rate[:, j, -br.tail :].mean(1)
    kl = r.curves.kl[:, j, -br.tail :].mean(1)
    th_w, th_kl = float(TC.tilt_win_rate(q, b)), float(TC.tilt_kl(b, q))
    return {
        "beta": br.beta,
        "run": br.label + suffix,
        "map": spec,
        "win_rate": interval(w).to_dict(),
        "kl": interval(kl).to_dict(),
        "theory_win_rate": th_w,
        "theory_kl": th_kl,
        "rel_err_win": float(w.mean() / th_w - 1),
        "rel_err_kl": float(kl.mean() / th_kl - 1),
        "seconds": r.seconds,
        "seeds": br.experiment.seeds,
    }
