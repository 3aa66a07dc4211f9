"""Sampled GRPO (natural geometry, no std normalization, lr 0.2 / (1 + t/100)) at beta = 0.03: how many seeds
blow up (NaN), when, and where the others end against the tilt at beta and at beta * G / (G - 1).

    nice -n 10 python -m paper_repro.grpo_small_beta [--lr 0.2] [--steps 60000] [--seeds 16]

The world and maps are those of the beta section of ``paper_repro.bandit_findings`` (16 contexts x 1000 arms;
identity, top-wrong:0.1, worst-wrong:0.5). Prints one line per map. About 10-17 minutes on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np

from paper_repro.bandit_findings import IK, IW, SB, ST, TC, _train
from rewards import QuantileMap

SPECS = ("identity", "top-wrong:0.1", "worst-wrong:0.5")
BETA = 0.03


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--steps", type=int, default=60_000)
    p.add_argument("--seeds", type=int, default=16)
    a = p.parse_args(argv)
    cfg = ST.TrainConfig(
        algo="grpo",
        geometry="natural",
        lr=a.lr,
        lr_decay_steps=100.0,
        steps=a.steps,
        beta=BETA,
        normalize_std=False,
        group=32,
    )
    m, secs = _train(list(SPECS), cfg, SB.WorldConfig(contexts=16, arms=1000), seeds=a.seeds)
    b_eff = BETA * cfg.group / (cfg.group - 1)
    for j, spec in enumerate(SPECS):
        q = QuantileMap.parse(spec)
        curve = m[:, j, :, IW]
        dead = np.isnan(curve).any(1)
        first = [int(np.argmax(np.isnan(c))) for c in curve[dead]]
        w, kl = m[~dead, j, -1, IW], m[~dead, j, -1, IK]
        print(
            f"{spec}: {int(dead.sum())}/{a.seeds} seeds NaN (first NaN steps {first}); the other seeds end at "
            f"win {w.mean():.4f} (tilt at beta {float(TC.tilt_win_rate(q, BETA)):.4f}, at beta*G/(G-1) "
            f"{float(TC.tilt_win_rate(q, b_eff)):.4f}), KL {kl.mean():.3f} (tilt {float(TC.tilt_kl(BETA, q)):.3f}, "
            f"{float(TC.tilt_kl(b_eff, q)):.3f})",
            flush=True,
        )
    print(f"seconds {secs:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
