"""The noisy pairwise judge: the ENVIRONMENT's answer to "which of these two responses is better?".

An LLM proposer sees two responses and decides which is better with its own (fallible) judgement; here that
judgement is a separate environment object, :class:`PairJudge`, which holds the world (gold) and answers with a
verdict only. The proposer never holds the judge: :class:`JudgedProposer` (environment glue) asks the judge and
hands the proposer the verdict (a bool), so nothing that proposes rubrics can reach gold. The proposer's prior
knowledge is drawn here too (:func:`draw_beliefs`): it is correlated with the truth by construction, to a
degree set by ``ProposerConfig.knowledge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.checks import check_fields
from rewards.rubric import Rubric, stable_hash
from sim.rubric_world.properties import SIGN, M
from sim.rubric_world.proposer import UNKNOWN_SIGN, ProposerBeliefs, ProposerConfig, SimProposer
from sim.rubric_world.world import RubricWorld

__all__ = ["JudgeConfig", "JudgedProposer", "PairJudge", "draw_beliefs", "make_proposer"]


@dataclass(frozen=True)
class JudgeConfig:
    """The pairwise judge.

    error: probability that it prefers the truly worse response of a pair with different gold rewards
        (an assumption; the paper's proposer is an LLM whose pairwise accuracy we do not know; 0.15 = 85%)
    """

    error: float = 0.15

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0.0 <= self.error <= 1.0:
            raise ValueError(f"JudgeConfig.error={self.error}: need a probability in [0, 1]")


class PairJudge:
    """Prefers the response with the higher gold reward, except with probability ``error``; a gold tie is a coin
    flip. Deterministic per (seed, prompt, pair), independent of the order the pair is given in."""

    def __init__(self, world: RubricWorld, config: JudgeConfig = JudgeConfig(), seed: int | None = None):
        self._world = world
        self.config = config
        self.seed = world.salt if seed is None else int(seed)
        self.name = f"sim-judge-{stable_hash([repr(config), self.seed])[:10]}"

    def prefers_first(self, prompt: str, a: Any, b: Any) -> bool:
        """True when the judge prefers ``a`` over ``b`` (0/1 property tuples of the world)."""
        x, y = tuple(int(v) for v in a), tuple(int(v) for v in b)
        lo, hi = sorted([x, y])
        rng = np.random.default_rng(int(stable_hash([self.seed, prompt, lo, hi])[:16], 16))
        u_err, u_tie = rng.random(2)
        p = self._world.prompt_index(prompt)
        g = self._world.gold(np.array([x, y]), [p, p])
        if g[0] == g[1]:
            first_of_sorted = bool(u_tie < 0.5)
            return first_of_sorted == (x == lo)
        return bool(g[0] > g[1]) != bool(u_err < self.config.error)


class JudgedProposer:
    """A :class:`rewards.refine.Proposer`: asks ``judge`` which response of the pair is better and passes ONLY that
    verdict to ``proposer.propose_judged`` (the environment showing a proposer its judgement)."""

    def __init__(self, proposer, judge: PairJudge):
        self.proposer = proposer
        self.judge = judge
        self.name = f"{proposer.name}+{judge.name}"

    def propose(self, prompt: str, rubric: Rubric, response_a: Any, response_b: Any) -> Rubric:
        a_wins = self.judge.prefers_first(prompt, response_a, response_b)
        return self.proposer.propose_judged(prompt, rubric, response_a, response_b, a_wins)


def draw_beliefs(world: RubricWorld, config: ProposerConfig, seed: int) -> ProposerBeliefs:
    """The proposer's prior knowledge of ``world`` (see :mod:`sim.rubric_world.proposer`): per (prompt,
    property) it knows the gold sign with probability ``2 * knowledge - 1`` (then, for a property gold weighs,
    its importance as gold weight + N(0, weight_noise), rounded and clipped to 1..3); a style / length property
    it does not know is taken for quality with probability ``credulity``. Every uniform is drawn whatever the
    config, so with one seed a higher knowledge knows a superset of what a lower one knows."""
    rng = np.random.default_rng([int(seed), 0x6B6E6F77])
    P = world.n_prompts
    u_know, u_cred = rng.random((P, M)), rng.random((P, M))
    noise = rng.normal(0.0, config.weight_noise, (P, M))
    knows = u_know < 2.0 * config.knowledge - 1.0
    sign = np.where(knows, SIGN[None, :], UNKNOWN_SIGN)
    sign = np.where(~knows & (SIGN == 0)[None, :] & (u_cred < config.credulity), 1, sign).astype(np.int8)
    weight = np.where(knows & (SIGN != 0)[None, :], np.clip(np.rint(world.gold_weights + noise), 1, 3), np.nan)
    sign.setflags(write=False)
    weight.setflags(write=False)
    return ProposerBeliefs(world.prompts, sign, weight)


def make_proposer(
    world: RubricWorld,
    config: ProposerConfig | None = None,
    judge: JudgeConfig | None = None,
    seed: int | None = None,
) -> JudgedProposer:
    """The refinement proposer of ``world``: a :class:`SimProposer` with drawn beliefs, shown the verdicts of a
    :class:`PairJudge` (None: the default configs). ``seed`` (default: the world's salt) seeds beliefs,
    proposals and judge."""
    s = world.salt if seed is None else int(seed)
    config, judge = config or ProposerConfig(), judge or JudgeConfig()
    return JudgedProposer(SimProposer(draw_beliefs(world, config, s), config, s), PairJudge(world, judge, s))
