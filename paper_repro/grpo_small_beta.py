"""Sampled GRPO (natural geometry, no std normalization, lr 0.2 / (1 + t/100)) at beta = 0.03: how many seeds
blow up (NaN), when, and where the others end against the tilt at beta and at beta * G / (G - 1).

    nice -n 10 python -m paper_repro.grpo_small_beta [--lr 0.2] [--steps 60000] [--seeds 16]

The world, maps and update rule are those of the beta section of ``paper_repro.bandit_findings`` (16 contexts x
1000 arms; identity, top-wrong:0.1, worst-wrong:0.5). Prints one line per map. About 10-17 minutes on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np

from chase.cli import Parser
from paper_repro.bandit_findings.sections import (
    BETA_MAPS,
    BETA_WORLD,
    GRPO_DECAY_STEPS,
    SEEDS,
    grpo_decay,
    run_experiment,
)
from rewards import QuantileMap
from rewards.stats import interval
from sim.bandit_training import BanditTrainingConfig, BanditTrainingResult
from theory import continuous as TC

BETA = 0.03


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m paper_repro.grpo_small_beta",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--lr", type=float, default=0.2, help="initial learning rate (default: 0.2)")
    p.add_argument("--steps", type=int, default=GRPO_DECAY_STEPS, help=f"updates (default: {GRPO_DECAY_STEPS})")
    p.add_argument("--seeds", type=int, default=SEEDS, help=f"independent seeds (default: {SEEDS})")
    return p


def map_line(result: BanditTrainingResult, j: int, beta: float) -> str:
    """Proxy ``j``: seeds whose curve went NaN (and the first NaN step), and where the others end against the
    tilt at ``beta`` and at beta * G / (G - 1)."""
    spec, cfg = result.config.maps[j], result.config
    q = QuantileMap.parse(spec)
    b_eff = beta * cfg.train.group / (cfg.train.group - 1)
    curve = result.curves.true_win_rate[:, j]
    dead = np.isnan(curve).any(1)
    first = [int(np.argmax(np.isnan(c))) for c in curve[dead]]
    w = interval(curve[~dead, -1]).mean
    kl = interval(result.curves.kl[~dead, j, -1]).mean
    return (
        f"{spec}: {int(dead.sum())}/{cfg.seeds} seeds NaN (first NaN steps {first}); the other seeds end at "
        f"win {w:.4f} (tilt at beta {float(TC.tilt_win_rate(q, beta)):.4f}, at beta*G/(G-1) "
        f"{float(TC.tilt_win_rate(q, b_eff)):.4f}), KL {kl:.3f} (tilt {float(TC.tilt_kl(beta, q)):.3f}, "
        f"{float(TC.tilt_kl(b_eff, q)):.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    cfg = BanditTrainingConfig(
        maps=BETA_MAPS, seeds=a.seeds, world=BETA_WORLD, train=grpo_decay(BETA, lr=a.lr, steps=a.steps)
    )
    result = run_experiment(cfg)
    for j in range(len(cfg.maps)):
        print(map_line(result, j, BETA), flush=True)
    print(f"seconds {result.seconds:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
