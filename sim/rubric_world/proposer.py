"""The simulated proposer: it sees what an LLM proposer sees, never gold.

Inputs of one proposal: the two responses (their properties), the judge's verdict on which is better (a bool,
handed over by :class:`sim.rubric_world.judge.JudgedProposer`), the current rubric, and the proposer's own
*prior knowledge* (:class:`ProposerBeliefs`), drawn once per world by the environment (:func:`draw_beliefs`):

- per (prompt, property), with probability ``2 * knowledge - 1`` it KNOWS the property's sign (good, bad or
  quality-neutral) and has a noisy idea of its importance; so ``knowledge`` is the accuracy a guess from the
  prior alone would have (0.5: a coin, the blind proposer; 1.0: the oracle);
- otherwise it does not know it: for a style / length property it takes the artifact for quality with
  probability ``credulity`` (believes +1); else it INFERS the sign from the verdict, as an LLM reading two
  answers would: present in the preferred response = good, present in the rejected one = bad. A wrong verdict,
  or a property that merely co-occurs with the better answer, then yields a wrong-sign criterion.

This module imports nothing that holds gold (tests/test_rubric_world_gold_free.py checks the object graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.checks import check_fields
from rewards.rubric import Criterion, Rubric, stable_hash
from sim.rubric_world.properties import M
from sim.rubric_world.verifier import _as_response, criterion_props
from sim.rubric_world.world import signed_criterion

__all__ = ["UNKNOWN_SIGN", "ProposerBeliefs", "ProposerConfig", "SimProposer"]

UNKNOWN_SIGN = 2  # a belief entry: no prior, the sign is inferred from the verdict


@dataclass(frozen=True)
class ProposerConfig:
    """The simulated proposer (all assumptions; the phase diagram sweeps ``knowledge``).

    knowledge: in [0.5, 1]; the proposer knows a property's sign with probability ``2 * knowledge - 1``
    credulity: probability that, NOT knowing a style / length property is neutral, it takes it for quality
    notice: probability it notices a given property in which the pair differs (per property)
    weight_noise: sd of the noise on its importance belief for a known property (rounded, clipped to 1..3)
    """

    knowledge: float = 0.75
    credulity: float = 0.3
    notice: float = 0.85
    weight_noise: float = 0.6

    def __post_init__(self) -> None:
        check_fields(self)
        ok = 0.5 <= self.knowledge <= 1.0 and 0.0 <= self.credulity <= 1.0 and 0.0 <= self.notice <= 1.0
        if not ok or not self.weight_noise >= 0.0:
            raise ValueError(
                f"ProposerConfig: knowledge must be in [0.5, 1], credulity and notice in [0, 1], "
                f"weight_noise >= 0: {self}"
            )


@dataclass(frozen=True, eq=False)
class ProposerBeliefs:
    """A proposer's prior knowledge of one world.

    prompts  (P,) prompt ids
    sign     (P, M) int8: believed sign +1 / -1 / 0 (neutral), or :data:`UNKNOWN_SIGN`
    weight   (P, M) float: believed importance 1..3 where the sign is believed nonzero, NaN elsewhere
    """

    prompts: tuple[str, ...]
    sign: np.ndarray
    weight: np.ndarray

    def index(self, prompt: str) -> int:
        try:
            return self.prompts.index(prompt)
        except ValueError:
            raise KeyError(f"prompt {prompt!r} is not one the proposer knows") from None

    def content_hash(self) -> str:
        return stable_hash([list(self.prompts), self.sign.tolist(), np.nan_to_num(self.weight, nan=-1).tolist()])


class SimProposer:
    """Rewrites a rubric to separate a judged pair (see the module docstring for what it knows).

    For each noticed property k in which the pair differs, with believed sign s (prior, else inferred):

    - s = 0 (believed neutral): a criterion that pays for k is REMOVED (a coarse one loses k);
    - s != 0: a coarse criterion containing k is SPLIT into precise criteria for its parts, each with its
      believed sign (a part it has no belief about and sees no evidence on keeps the coarse criterion's
      direction: it defers to the rubric); else a precise criterion on k is CORRECTED if it points the other
      way, re-weighted (TIGHTENED) if not; else a precise criterion with sign s is ADDED.

    Randomness (noticing, weights it must guess) is a deterministic function of (seed, prompt, rubric, pair,
    verdict), so :func:`rewards.refine.refine` resumes exactly.
    """

    def __init__(self, beliefs: ProposerBeliefs, config: ProposerConfig = ProposerConfig(), seed: int = 0):
        if not isinstance(beliefs, ProposerBeliefs):
            raise TypeError(
                f"SimProposer takes ProposerBeliefs (its prior knowledge), not a {type(beliefs).__name__}; "
                "build one for a world with sim.rubric_world.make_proposer"
            )
        self.beliefs = beliefs
        self.config = config
        self.seed = int(seed)
        self.name = f"sim-proposer-{stable_hash([repr(config), self.seed, beliefs.content_hash()])[:10]}"

    def propose_judged(self, prompt: str, rubric: Rubric, response_a: Any, response_b: Any, a_wins: bool) -> Rubric:
        """The new rubric, given the judge's verdict ``a_wins`` (True: the judge prefers ``response_a``)."""
        p = self.beliefs.index(prompt)
        a, b = np.array(_as_response(response_a)), np.array(_as_response(response_b))
        h = stable_hash([self.seed, prompt, rubric.content_hash(), a.tolist(), b.tolist(), bool(a_wins)])
        rng = np.random.default_rng(int(h[:16], 16))
        winner = a if a_wins else b
        diff = [k for k in range(M) if a[k] != b[k]]
        noticed = [k for k, u in zip(diff, rng.random(len(diff)), strict=True) if u < self.config.notice]
        sign = {k: _believed(int(self.beliefs.sign[p, k]), a[k] != b[k], bool(winner[k])) for k in range(M)}
        ed = _Editor(list(rubric.criteria), rng, sign, self.beliefs.weight[p])
        for k in noticed:
            ed.edit(k)
        if not ed.crits:
            raise ValueError("proposal would leave the rubric empty")
        return Rubric(tuple(_dedupe(ed.crits)), aggregate=rubric.aggregate)


def _believed(prior: int, differs: bool, winner_has: bool) -> int | None:
    """The sign the proposer acts on: its prior if it has one, else inferred from the verdict where the pair
    differs, else None (no belief, no evidence)."""
    if prior != UNKNOWN_SIGN:
        return prior
    if not differs:
        return None
    return 1 if winner_has else -1


class _Editor:
    """One proposal's edits of a criteria list; ``sign`` maps each property to its believed sign (or None)."""

    def __init__(self, crits: list[Criterion], rng: np.random.Generator, sign: dict, weight_p: np.ndarray):
        self.crits = crits
        self.rng = rng
        self.sign = sign
        self.weight_p = weight_p

    def weight(self, k: int) -> float:
        """Its believed importance of k, or a guess from 1..3 when it has none."""
        w = self.weight_p[k]
        return float(w) if np.isfinite(w) else float(self.rng.integers(1, 4))

    def _find(self, k: int, coarse: bool) -> int | None:
        for i, c in enumerate(self.crits):
            pr = criterion_props(c)
            if pr is not None and k in pr[0] and (len(pr[0]) > 1) == coarse:
                return i
        return None

    def edit(self, k: int) -> None:
        s = self.sign[k]
        if s == 0:
            self.drop(k)
            return
        j = self._find(k, coarse=True)
        if j is not None:
            ks, neg = criterion_props(self.crits[j])  # type: ignore[misc]
            new = []
            for q in ks:
                sq = self.sign[q] if self.sign[q] is not None else (-1 if neg else 1)
                if sq != 0 and self._find(q, coarse=False) is None:
                    new.append(signed_criterion(q, sq, self.weight(q), ("split",)))
            self.crits[j : j + 1] = new
            return
        i = self._find(k, coarse=False)
        if i is None:
            self.crits.append(signed_criterion(k, s, self.weight(k), ("added",)))
        elif (-1 if criterion_props(self.crits[i])[1] else 1) != s:  # type: ignore[index]
            self.crits[i] = signed_criterion(k, s, self.weight(k), ("corrected",))
        else:
            c = self.crits[i]
            self.crits[i] = Criterion(c.text, self.weight(k), c.check, _retag(c.tags, "tightened"))

    def drop(self, k: int) -> None:
        """It believes k does not matter: stop paying for it (a coarse criterion keeps its other parts)."""
        i = self._find(k, coarse=False)
        if i is not None:
            del self.crits[i]
        j = self._find(k, coarse=True)
        if j is not None:
            c = self.crits[j]
            ks, neg = criterion_props(c)  # type: ignore[misc]
            rest = [q for q in ks if q != k]
            chk: dict = {"property": rest[0]} if len(rest) == 1 else {"any_of": rest}
            if neg:
                chk["negate"] = True
            self.crits[j] = Criterion(c.text, c.weight, chk, _retag(c.tags, "tightened"))


def _retag(tags: tuple[str, ...], t: str) -> tuple[str, ...]:
    return tags if t in tags else (*tags, t)


def _dedupe(crits: list[Criterion]) -> list[Criterion]:
    seen: set[str] = set()
    out = []
    for c in crits:
        key = c.text.casefold()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
