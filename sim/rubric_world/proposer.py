"""The simulated proposer: a :class:`rewards.refine.Proposer` that sees only the pair it is shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.checks import check_fields
from rewards.rubric import Criterion, Rubric, stable_hash
from sim.rubric_world.properties import SIGN, M
from sim.rubric_world.verifier import _as_response, criterion_props
from sim.rubric_world.world import RubricWorld, precise_criterion

__all__ = ["ProposerConfig", "SimProposer"]


@dataclass(frozen=True)
class ProposerConfig:
    """The simulated proposer.

    misjudge: probability it believes the truly worse response of the pair is the better one; it then
        (a) credits the quality-neutral properties only the wrong winner has, by adding a criterion
        that rewards them, and (b) downweights criteria for the true winner's real advantages
    notice: probability it notices a given property in which the pair differs (per property)
    weight_noise: sd of the noise on its weight estimate (gold weight + noise, rounded, clipped to 1..3)
    """

    misjudge: float = 0.15
    notice: float = 0.85
    weight_noise: float = 0.6

    def __post_init__(self) -> None:
        check_fields(self)
        if not (0.0 <= self.misjudge <= 1.0 and 0.0 <= self.notice <= 1.0 and self.weight_noise >= 0.0):
            raise ValueError(f"ProposerConfig: misjudge and notice must be in [0, 1], weight_noise >= 0: {self}")


class SimProposer:
    """A :class:`rewards.refine.Proposer` for the rubric world.

    Sees only the pair: properties in which the two responses agree are invisible to it. For each noticed
    differing property k:

    - k matters to gold (fact, tail fact, penalty): if a coarse criterion contains k it is SPLIT into precise
      criteria for its gold-relevant parts (its quality-neutral parts dropped); else if a precise criterion
      exists its weight is re-estimated (TIGHTEN), and if it pays for the wrong side of k it is CORRECTED;
      else a precise criterion is ADDED;
    - k is quality-neutral (style, length) and a criterion pays for it although the response having k is not
      the better one (or the two are equally good): that criterion is REMOVED (a coarse one loses k).

    Randomness (misjudging, noticing, weight noise) is a deterministic function of (seed, prompt, rubric,
    pair), so :func:`rewards.refine.refine` resumes exactly.
    """

    def __init__(self, world: RubricWorld, config: ProposerConfig = ProposerConfig(), seed: int | None = None):
        self.world = world
        self.config = config
        self.seed = world.salt if seed is None else int(seed)
        self.name = f"sim-proposer-{stable_hash([repr(config), self.seed])[:10]}"

    def propose(self, prompt: str, rubric: Rubric, response_a: Any, response_b: Any) -> Rubric:
        p = self.world.prompt_index(prompt)
        a, b = np.array(_as_response(response_a)), np.array(_as_response(response_b))
        h = stable_hash([self.seed, prompt, rubric.content_hash(), a.tolist(), b.tolist()])
        rng = np.random.default_rng(int(h[:16], 16))
        ga, gb = self.world.gold(a[None], [p])[0], self.world.gold(b[None], [p])[0]
        # the misjudge draw is taken even for a tie: the random stream must not depend on the gold values
        misjudged = bool(rng.random() < self.config.misjudge) and ga != gb
        if ga == gb:
            winner = None
        else:
            winner = a if (ga > gb) != misjudged else b
        loser = None if winner is None else (b if winner is a else a)
        diff = [k for k in range(M) if a[k] != b[k]]
        noticed = [k for k, u in zip(diff, rng.random(len(diff)), strict=True) if u < self.config.notice]
        ed = _Editor(list(rubric.criteria), rng, self.world.gold_weights[p], self.config.weight_noise)
        for k in noticed:
            if SIGN[k] != 0:
                ed.relevant(k, misjudged, loser)
            else:
                ed.neutral(k, a if a[k] else b, misjudged, winner)
        if not ed.crits:
            raise ValueError("proposal would leave the rubric empty")
        return Rubric(tuple(_dedupe(ed.crits)), aggregate=rubric.aggregate)


class _Editor:
    """One proposal's edits of a criteria list. ``rng`` is the proposal's stream: its draws happen in the order
    of the noticed properties, so a proposal stays a pure function of (seed, prompt, rubric, pair)."""

    def __init__(self, crits: list[Criterion], rng: np.random.Generator, gold_weights_p, weight_noise: float):
        self.crits = crits
        self.rng = rng
        self.gw = gold_weights_p
        self.weight_noise = weight_noise

    def estimate(self, k: int) -> float:
        """The proposer's weight for property k: gold weight + noise, rounded, clipped to 1..3."""
        return float(np.clip(np.rint(self.gw[k] + self.rng.normal(0.0, self.weight_noise)), 1, 3))

    def find_precise(self, k: int) -> int | None:
        for i, c in enumerate(self.crits):
            pr = criterion_props(c)
            if pr is not None and pr[0] == (k,):
                return i
        return None

    def find_coarse(self, k: int) -> int | None:
        for i, c in enumerate(self.crits):
            pr = criterion_props(c)
            if pr is not None and len(pr[0]) > 1 and k in pr[0]:
                return i
        return None

    def relevant(self, k: int, misjudged: bool, loser: np.ndarray | None) -> None:
        """Edit for a noticed property k that matters to gold (fact, tail fact, penalty)."""
        crits = self.crits
        if misjudged and _favors(loser, k):
            # the true winner's real advantage is explained away
            i = self.find_precise(k)
            if i is not None and crits[i].weight > 1:
                c = crits[i]
                crits[i] = Criterion(c.text, c.weight - 1, c.check, _retag(c.tags, "downweighted"))
            return
        j = self.find_coarse(k)
        if j is not None:
            ks = criterion_props(crits[j])[0]  # type: ignore[index]
            new = [
                precise_criterion(q, self.estimate(q), ("split",))
                for q in ks
                if SIGN[q] != 0 and self.find_precise(q) is None
            ]
            crits[j : j + 1] = new
            return
        i = self.find_precise(k)
        if i is None:
            crits.append(precise_criterion(k, self.estimate(k), ("added",)))
        elif criterion_props(crits[i])[1] != (SIGN[k] < 0):  # type: ignore[index]
            # it pays for the wrong side of k (e.g. rewards padding): turn it the gold way round
            crits[i] = precise_criterion(k, self.estimate(k), ("corrected",))
        else:
            c = crits[i]
            crits[i] = Criterion(c.text, self.estimate(k), c.check, _retag(c.tags, "tightened"))

    def neutral(self, k: int, has_k: np.ndarray, misjudged: bool, winner: np.ndarray | None) -> None:
        """Edit for a noticed quality-neutral property k (style, length) in which the pair differs."""
        crits = self.crits
        if misjudged and winner is not None and winner[k] == 1:
            if self.find_precise(k) is None and self.find_coarse(k) is None:
                crits.append(precise_criterion(k, float(self.rng.integers(1, 3)), ("added", "artifact")))
            return
        if winner is None or has_k is not winner:
            i = self.find_precise(k)
            if i is not None:
                del crits[i]
            j = self.find_coarse(k)
            if j is not None:
                # tighten: the criterion stops paying for k but keeps its meaning otherwise (the proposer
                # learns nothing here about the other parts, e.g. that padding is bad)
                c = crits[j]
                ks, neg = criterion_props(c)  # type: ignore[misc]
                rest = [q for q in ks if q != k]
                chk: dict = {"property": rest[0]} if len(rest) == 1 else {"any_of": rest}
                if neg:
                    chk["negate"] = True
                crits[j] = Criterion(c.text, c.weight, chk, _retag(c.tags, "tightened"))


def _favors(resp: np.ndarray | None, k: int) -> bool:
    """Whether ``resp`` has property k on the side gold prefers."""
    return resp is not None and bool(resp[k] == (1 if SIGN[k] > 0 else 0))


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
