"""What a rubric-world experiment depends on: :class:`ExperimentConfig` and the condition names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rewards.checks import check_fields, check_memory
from sim.bt import PAIR_KINDS, BTConfig
from sim.rubric_train import TrainConfig
from sim.rubric_world import JudgeConfig, ProposerConfig, VerifierConfig, WorldConfig

__all__ = ["QUICK", "REFERENCE", "RUBRIC_CONDITIONS", "ExperimentConfig"]

# The paper's conditions, in its order, plus the gold rubric (checked by the same noisy verifier) as a reference.
RUBRIC_CONDITIONS: tuple[str, ...] = (
    "initial",
    "1-good-pair",
    "1-great-pair",
    "4-great-pairs",
    "4-great-diverse-pairs",
)
REFERENCE = "gold-rubric"


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a ``chase sim rubric-world`` run depends on (the key is ``jax.random.key(seed)``).

    seeds: independent worlds (each with its own refinement, BT data and training noise)
    seed: master seed; seed s uses ``jax.random.fold_in(jax.random.key(seed), s)``
    eval_pairs: high- and low-reward pairs per prompt for Table 2
    h_samples: base responses per prompt for the h(v) estimate
    h_edges: bin edges of the h(v) estimate (finer near v = 1, where RFT puts its weight)
    bt_kinds: which Bradley-Terry conditions to train on (subset of ``sim.bt.PAIR_KINDS``)
    bt_ablation: also train against two ablations of the off-policy BT (Table 6): one fitted with perfect
        perception, and the fitted one with its style-artifact weights set to 0 (the same model, except that it
        no longer pays for the artifact: the causal test of "because it rewards the style artifact")
    world: the world (:class:`sim.rubric_world.WorldConfig`)
    verifier: the simulated rubric verifier (:class:`sim.rubric_world.VerifierConfig`)
    proposer: the simulated refinement proposer (:class:`sim.rubric_world.ProposerConfig`)
    judge: the noisy pairwise judge whose verdicts the proposer is shown (:class:`sim.rubric_world.JudgeConfig`)
    train: GRPO against every proxy (:class:`sim.rubric_train.TrainConfig`)
    bt: the Bradley-Terry reward models (:class:`sim.bt.BTConfig`)
    """

    seeds: int = 16
    seed: int = 0
    eval_pairs: int = 32
    h_samples: int = 64
    h_edges: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
    bt_kinds: tuple[str, ...] = PAIR_KINDS
    bt_ablation: bool = True
    world: WorldConfig = WorldConfig()
    verifier: VerifierConfig = VerifierConfig()
    proposer: ProposerConfig = ProposerConfig()
    judge: JudgeConfig = JudgeConfig()
    train: TrainConfig = TrainConfig()
    bt: BTConfig = BTConfig()

    def __post_init__(self) -> None:
        check_fields(self)
        if self.seeds < 1 or self.eval_pairs < 1 or self.h_samples < 2:
            raise ValueError(
                f"ExperimentConfig: seeds={self.seeds} and eval_pairs={self.eval_pairs} must be >= 1, "
                f"h_samples={self.h_samples} must be >= 2"
            )
        bad = set(self.bt_kinds) - set(PAIR_KINDS)
        if bad:
            raise ValueError(f"ExperimentConfig.bt_kinds: unknown {sorted(bad)}; expected {PAIR_KINDS}")
        # the trainer's log holds every property's probability per seed, proxy and step, and its state one
        # policy per seed, proxy and prompt (float32, with a few times that in temporaries)
        proxies, m = len(self.proxy_names()), 13
        per_seed = proxies * (self.train.steps * (m + 4) + self.world.n_prompts * m * 8) * 4
        check_memory(4.0 * self.seeds * per_seed, "the rubric-world experiment", "lower seeds, steps or prompts")

    def proxy_names(self) -> tuple[str, ...]:
        """The proxies trained against, in the order of the result's proxy axis."""
        names = RUBRIC_CONDITIONS + (REFERENCE,) + tuple(f"bt-{k}" for k in self.bt_kinds)
        abl = ("bt-off-perfect-perception",) + (("bt-off-style-weights-zeroed",) if "off" in self.bt_kinds else ())
        return names + (abl if self.bt_ablation else ())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The smoke profile of ``chase sim rubric-world --quick``: every stage runs, in seconds instead of minutes.
QUICK = ExperimentConfig(
    seeds=2,
    eval_pairs=8,
    world=WorldConfig(n_prompts=16),
    train=TrainConfig(steps=60),
    bt=BTConfig(pairs_per_prompt=8),
)
