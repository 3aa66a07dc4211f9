"""The simulated verifier: rubric criteria as arrays, counter-based hashing, the halo and :class:`SimVerifier`.

Check specs the verifier understands (a contract for renderers such as rft/tasks/triage.py):

``{"property": k}``                 YES iff the response has property k
``{"property": k, "negate": True}`` YES iff it does NOT have property k ("avoids ...")
``{"any_of": [k1, k2, ...]}``       YES iff it has at least one of them (a *coarse* criterion)

Verdict noise is a deterministic function of (seed, prompt, response, criterion) through a counter-based hash
(splitmix64), so one response always gets the same verdicts (as a cached LLM judge would) and refinement runs
resume exactly.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.checks import check_fields
from rewards.rubric import NO, UNKNOWN, YES, Criterion, Rubric, stable_hash
from sim.rubric_world.properties import KINDS, PROPERTIES, PROPERTY_INDEX, M
from sim.rubric_world.world import RubricWorld

__all__ = [
    "CriteriaArrays",
    "Halo",
    "SimVerifier",
    "VerifierConfig",
    "criteria_arrays",
    "criterion_props",
    "response_codes",
    "sign_errors",
]


def criterion_props(c: Criterion) -> tuple[tuple[int, ...], bool] | None:
    """(property indices, negate) of a sim-world criterion, or None when its check is not a sim check."""
    ch = c.check
    if not ch:
        return None
    neg = bool(ch.get("negate", False))
    if "property" in ch and "any_of" not in ch:
        k = ch["property"]
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < M:
            return None
        return (int(k),), neg
    if "any_of" in ch and "property" not in ch:
        ks = ch["any_of"]
        if not isinstance(ks, list | tuple) or not ks:
            return None
        if not all(isinstance(k, int | np.integer) and not isinstance(k, bool) and 0 <= k < M for k in ks):
            return None
        return tuple(sorted({int(k) for k in ks})), neg
    return None


def sign_errors(rubric: Rubric) -> tuple[int, int]:
    """EVALUATION only (it reads the properties' gold signs): (criteria that score a fact, tail fact or penalty
    the wrong way round, criteria that pay for a quality-neutral style / length property either way round).
    A coarse criterion counts by its gold-relevant parts; its neutral parts count as paying for an artifact."""
    wrong = artifact = 0
    for c in rubric.criteria:
        pr = criterion_props(c)
        if pr is None:
            continue
        ks, neg = pr
        d = -1 if neg else 1
        wrong += any(PROPERTIES[k].sign == -d for k in ks)
        artifact += any(PROPERTIES[k].sign == 0 for k in ks)
    return wrong, artifact


@dataclass(frozen=True)
class CriteriaArrays:
    """A rubric as arrays (one prompt). ``mask`` (C, M) bool: properties that satisfy criterion c;
    ``negate`` (C,) bool; ``weight`` (C,) float; ``usable`` (C,) bool (False: check unusable -> UNKNOWN)."""

    mask: np.ndarray
    negate: np.ndarray
    weight: np.ndarray
    usable: np.ndarray

    def truth(self, responses) -> np.ndarray:
        """Error-free verdicts (..., C) bool of responses (..., M)."""
        x = np.asarray(responses).astype(bool)
        hit = (x[..., None, :] & self.mask).any(-1)
        return hit ^ self.negate


def criteria_arrays(rubric: Rubric) -> CriteriaArrays:
    C = len(rubric.criteria)
    mask = np.zeros((C, M), dtype=bool)
    neg = np.zeros(C, dtype=bool)
    usable = np.zeros(C, dtype=bool)
    for c, crit in enumerate(rubric.criteria):
        pr = criterion_props(crit)
        if pr is None:
            continue
        mask[c, list(pr[0])] = True
        neg[c] = pr[1]
        usable[c] = True
    return CriteriaArrays(mask, neg, rubric.weights.copy(), usable)


def response_codes(responses) -> np.ndarray:
    """Integer code of each response (..., M) -> (...) uint64 (bit k = property k)."""
    x = np.asarray(responses).astype(np.uint64)
    return (x << np.arange(M, dtype=np.uint64)).sum(-1).astype(np.uint64)


_MASK64 = (1 << 64) - 1


def _splitmix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on uint64 arrays (wrapping arithmetic): a counter-based hash."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def _uniform(*parts: np.ndarray) -> np.ndarray:
    """Deterministic U[0,1) from integer arrays (broadcast), via chained splitmix64."""
    h = np.uint64(0)
    for p in parts:
        h = _splitmix(np.asarray(p, dtype=np.uint64) ^ _splitmix(h))
    return _to_unit(h)


def _to_unit(h: np.ndarray) -> np.ndarray:
    return (np.asarray(h, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@functools.lru_cache(maxsize=65536)
def _text_hash64(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "little")


def _criterion_key(c: Criterion) -> int:
    return _text_hash64(stable_hash([c.text, c.check]))


@dataclass(frozen=True)
class Halo:
    """A reader's halo: polished formatting read as competence (the "style over substance" bias documented for
    learned reward models and LLM judges). In a response that has any ``trigger`` property, a check on a
    property of one of ``kinds`` that would read it as absent reads it as present with probability
    ``strength``: ``fpr -> fpr + (1 - fpr) * strength`` and ``fnr -> fnr * (1 - strength)``.

    The Bradley-Terry model (:class:`sim.bt.BTConfig`) reads every property this way; the rubric verifier
    (:class:`VerifierConfig`) only its precise, non-negated criteria on those kinds. ``strength = 0``: none.

    strength: probability that a styled response's absent property reads as present (0: no halo)
    trigger: properties (names) that switch the halo on
    kinds: kinds of property the halo acts on
    """

    strength: float = 0.0
    trigger: tuple[str, ...] = ("markdown_headers", "signature_phrase")
    kinds: tuple[str, ...] = ("fact", "tail_fact")

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0.0 <= self.strength < 1.0:
            raise ValueError(f"Halo.strength={self.strength}: need a probability in [0, 1)")
        bad = [t for t in self.trigger if t not in PROPERTY_INDEX]
        if bad or not self.trigger:
            raise ValueError(f"Halo.trigger={self.trigger}: need property names from {list(PROPERTY_INDEX)}")
        if not set(self.kinds) <= set(KINDS):
            raise ValueError(f"Halo.kinds={self.kinds}: kinds from {KINDS}")
        if any(PROPERTIES[PROPERTY_INDEX[t]].kind in self.kinds for t in self.trigger):
            raise ValueError(f"Halo: a trigger {self.trigger} may not be of a kind it acts on {self.kinds}")

    def trigger_mask(self) -> np.ndarray:
        """(M,) bool: the properties that switch the halo on."""
        return np.isin(np.arange(M), [PROPERTY_INDEX[t] for t in self.trigger])

    def property_rates(self) -> np.ndarray:
        """(M,) float32: ``strength`` for properties of the halo's kinds, else 0."""
        return np.array([self.strength if p.kind in self.kinds else 0.0 for p in PROPERTIES], dtype=np.float32)

    def criterion_rate(self, c: Criterion) -> float:
        """The halo on a rubric criterion: ``strength`` for a precise, non-negated check on a property of the
        halo's kinds ("States the decisive test"), 0 for coarse, negated ("avoids ...") or non-sim checks."""
        pr = criterion_props(c)
        if self.strength == 0.0 or pr is None or pr[1] or len(pr[0]) != 1:
            return 0.0
        return self.strength if PROPERTIES[pr[0][0]].kind in self.kinds else 0.0

    def styled(self, responses) -> np.ndarray:
        """(...,) bool: which responses (..., M) carry a trigger property."""
        return (np.asarray(responses)[..., self.trigger_mask()] > 0).any(-1)

    @staticmethod
    def apply(fpr, fnr, h):
        """Error rates under a halo of probability ``h`` (arrays broadcast): (fpr', fnr')."""
        return fpr + (1.0 - fpr) * h, fnr * (1.0 - h)


@dataclass(frozen=True)
class VerifierConfig:
    """Error rates of the simulated verifier, by the kind of property a criterion checks.

    fpr: P(YES | criterion truly not met) for precise criteria, per kind (for a penalty criterion "avoids X",
        a false positive = missing the penalty X)
    fnr: P(NO | criterion truly met) for precise criteria, per kind
    coarse_fpr: the false-positive rate of ``any_of`` criteria
    coarse_fnr: the false-negative rate of ``any_of`` criteria
    jitter: sd of a log-normal per-criterion multiplier (criteria differ in how checkable they are)
    max_rate: rates are clipped to [0, max_rate]
    halo: :class:`Halo` on precise fact / tail-fact criteria (default: none). Off in every default
        experiment (a verifier halo on the signature line was explored in the pre-issue-13 tuned world)
    """

    fpr: tuple[tuple[str, float], ...] = (
        ("fact", 0.05),
        ("tail_fact", 0.05),
        ("penalty", 0.1),
        ("style", 0.03),
        ("length", 0.05),
    )
    fnr: tuple[tuple[str, float], ...] = (
        ("fact", 0.05),
        ("tail_fact", 0.1),
        ("penalty", 0.03),
        ("style", 0.03),
        ("length", 0.05),
    )
    coarse_fpr: float = 0.08
    coarse_fnr: float = 0.05
    jitter: float = 0.3
    max_rate: float = 0.45
    halo: Halo = Halo()

    def __post_init__(self) -> None:
        check_fields(self)
        rates = [v for _k, v in self.fpr + self.fnr] + [self.coarse_fpr, self.coarse_fnr, self.max_rate]
        if not all(isinstance(v, int | float) and 0.0 <= v <= 1.0 for v in rates):
            raise ValueError(f"VerifierConfig: error rates must be probabilities in [0, 1], got {rates}")
        if not self.jitter >= 0:
            raise ValueError(f"VerifierConfig.jitter={self.jitter}: must be >= 0")

    @classmethod
    def perfect(cls) -> VerifierConfig:
        z = tuple((k, 0.0) for k in KINDS)
        return cls(fpr=z, fnr=z, coarse_fpr=0.0, coarse_fnr=0.0, jitter=0.0)

    def scaled(self, factor: float) -> VerifierConfig:
        return VerifierConfig(
            tuple((k, v * factor) for k, v in self.fpr),
            tuple((k, v * factor) for k, v in self.fnr),
            self.coarse_fpr * factor,
            self.coarse_fnr * factor,
            self.jitter,
            self.max_rate,
            self.halo,
        )


class SimVerifier:
    """A :class:`rewards.verify.Verifier` for rubric-world responses, with per-criterion error rates.

    Verdict noise is a deterministic function of (seed, prompt, response, criterion text + check): the same
    response always gets the same verdicts. Criteria whose check is not a sim check get UNKNOWN.
    """

    def __init__(self, world: RubricWorld, config: VerifierConfig = VerifierConfig(), seed: int | None = None):
        self.world = world
        self.config = config
        self.seed = world.salt if seed is None else int(seed)
        self._fpr = dict(config.fpr)
        self._fnr = dict(config.fnr)
        self.name = f"sim-verifier-{stable_hash([repr(config), self.seed])[:10]}"
        self._rates: dict[tuple[str, str], tuple[float, float]] = {}
        self._compiled: dict[Rubric, tuple[CriteriaArrays, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._trigger = config.halo.trigger_mask()

    def compiled(self, rubric: Rubric) -> tuple[CriteriaArrays, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(criteria arrays, fpr (C,), fnr (C,), criterion hash keys (C,) uint64, halo (C,)) of a rubric, cached."""
        got = self._compiled.get(rubric)
        if got is None:
            if len(self._compiled) > 100_000:
                self._compiled.clear()
            fpr, fnr = self.rates(rubric)
            keys = np.array([_criterion_key(c) for c in rubric.criteria], dtype=np.uint64)
            got = (criteria_arrays(rubric), fpr, fnr, keys, self.halo_rates(rubric))
            self._compiled[rubric] = got
        return got

    def error_rates(self, c: Criterion) -> tuple[float, float]:
        """(fpr, fnr) of criterion ``c`` (0, 0 for an unusable check)."""
        key = (c.text, stable_hash(c.check))
        got = self._rates.get(key)
        if got is not None:
            return got
        pr = criterion_props(c)
        if pr is None:
            out = (0.0, 0.0)
        else:
            ks, _neg = pr
            if len(ks) > 1:
                f, n = self.config.coarse_fpr, self.config.coarse_fnr
            else:
                kind = PROPERTIES[ks[0]].kind
                f, n = self._fpr.get(kind, 0.0), self._fnr.get(kind, 0.0)
            if self.config.jitter > 0:
                z = _uniform(np.uint64(self.seed), np.uint64(_criterion_key(c)), np.uint64(7))
                # inverse-normal via erfinv-free approximation is unnecessary: a uniform on [-1, 1] * jitter*sqrt3
                mult = math.exp(self.config.jitter * math.sqrt(3.0) * (2.0 * float(z) - 1.0))
                f, n = f * mult, n * mult
            out = (min(f, self.config.max_rate), min(n, self.config.max_rate))
        self._rates[key] = out
        return out

    def rates(self, rubric: Rubric) -> tuple[np.ndarray, np.ndarray]:
        """(C,) false-positive and (C,) false-negative rates of the rubric's criteria."""
        r = np.array([self.error_rates(c) for c in rubric.criteria], dtype=np.float64).reshape(-1, 2)
        return r[:, 0], r[:, 1]

    def halo_rates(self, rubric: Rubric) -> np.ndarray:
        """(C,) the verifier's halo on each criterion (:meth:`Halo.criterion_rate`), active in styled responses."""
        return np.array([self.config.halo.criterion_rate(c) for c in rubric.criteria], dtype=np.float64)

    def _yes(self, truth, u, fpr, fnr, halo, x) -> np.ndarray:
        """Noisy YES (..., C) from error-free verdicts ``truth`` and uniforms ``u`` (..., C); rates and halo
        (..., C) broadcast; the halo is active where the response x (..., M) carries a trigger property."""
        h = halo * (x[..., self._trigger] > 0).any(-1)[..., None]
        fpr, fnr = Halo.apply(fpr, fnr, h)
        return np.where(truth, u >= fnr, u < fpr)

    def _item_hash(self, prompt_idx, responses) -> np.ndarray:
        """(N,) uint64 hash of (seed, prompt, response) per item."""
        h = _splitmix(np.uint64(self.seed))
        h = _splitmix(np.asarray(prompt_idx, dtype=np.uint64) ^ h)
        return _splitmix(response_codes(responses) ^ h)

    def verdicts(self, prompt_idx, responses, rubric: Rubric) -> np.ndarray:
        """Vectorized core: responses (N, M) of prompts ``prompt_idx`` (N,) -> (N, C) int8 verdicts."""
        x = np.asarray(responses)
        if x.ndim != 2 or x.shape[1] != M:
            raise ValueError(f"responses have shape {x.shape}; expected (N, {M})")
        arr, fpr, fnr, ckeys, halo = self.compiled(rubric)
        truth = arr.truth(x)  # (N, C)
        u = _to_unit(_splitmix(self._item_hash(prompt_idx, x)[:, None] ^ ckeys[None, :]))
        yes = self._yes(truth, u, fpr, fnr, halo, x)
        out = np.where(yes, YES, NO).astype(np.int8)
        out[:, ~arr.usable] = UNKNOWN
        return out

    def scores(self, rubrics: Sequence[Rubric], responses) -> np.ndarray:
        """Weighted-mean scores of responses (P, N, M) under per-prompt rubrics (P,) -> (P, N) float64.

        The same verdicts as :meth:`verdicts` (hence as ``rubric.score(verify(...))``), vectorized over prompts;
        NaN where a rubric has a criterion without a sim check."""
        x = np.asarray(responses)
        P, N = x.shape[:2]
        comp = [self.compiled(r) for r in rubrics]
        C = max(len(r.criteria) for r in rubrics)
        mask = np.zeros((P, C, M), bool)
        neg = np.zeros((P, C), bool)
        w = np.zeros((P, C))
        fpr = np.zeros((P, C))
        fnr = np.zeros((P, C))
        keys = np.zeros((P, C), np.uint64)
        halo = np.zeros((P, C))
        bad = np.zeros(P, bool)
        for p, (arr, f, n, k, h) in enumerate(comp):
            c = arr.weight.shape[0]
            mask[p, :c], neg[p, :c], w[p, :c], fpr[p, :c], fnr[p, :c], keys[p, :c], halo[p, :c] = (
                arr.mask,
                arr.negate,
                arr.weight,
                f,
                n,
                k,
                h,
            )
            bad[p] = not arr.usable.all() or rubrics[p].aggregate != "weighted_mean"
        truth = (x.astype(bool)[:, :, None, :] & mask[:, None]).any(-1) ^ neg[:, None]  # (P, N, C)
        item = self._item_hash(np.broadcast_to(np.arange(P)[:, None], (P, N)).reshape(-1), x.reshape(-1, M)).reshape(
            P, N
        )
        u = _to_unit(_splitmix(item[:, :, None] ^ keys[:, None, :]))
        yes = self._yes(truth, u, fpr[:, None], fnr[:, None], halo[:, None], x)
        out = (yes * w[:, None]).sum(-1) / w.sum(-1)[:, None]
        out[bad] = np.nan
        return out

    def verify(self, prompt: str, response: Any, rubric: Rubric) -> np.ndarray:
        return self.verdicts([self.world.prompt_index(prompt)], [_as_response(response)], rubric)[0]

    def verify_many(self, items: Sequence[tuple[str, Any, Rubric]]) -> list[np.ndarray]:
        """All items in one vectorized pass (criteria padded to the longest rubric)."""
        if not items:
            return []
        comp = [self.compiled(rub) for _p, _r, rub in items]
        sizes = [c[0].weight.shape[0] for c in comp]
        N, C = len(items), max(sizes)
        mask = np.zeros((N, C, M), bool)
        neg = np.zeros((N, C), bool)
        fpr = np.zeros((N, C))
        fnr = np.zeros((N, C))
        keys = np.zeros((N, C), np.uint64)
        halo = np.zeros((N, C))
        usable = np.zeros((N, C), bool)
        for i, (arr, f, n, k, h) in enumerate(comp):
            c = sizes[i]
            mask[i, :c], neg[i, :c], fpr[i, :c], fnr[i, :c], keys[i, :c], halo[i, :c], usable[i, :c] = (
                arr.mask,
                arr.negate,
                f,
                n,
                k,
                h,
                arr.usable,
            )
        x = np.array([_as_response(r) for _p, r, _rub in items], dtype=np.int8).reshape(N, M)
        pidx = np.array([self.world.prompt_index(p) for p, _r, _rub in items])
        truth = (x.astype(bool)[:, None, :] & mask).any(-1) ^ neg
        u = _to_unit(_splitmix(self._item_hash(pidx, x)[:, None] ^ keys))
        yes = self._yes(truth, u, fpr, fnr, halo, x)
        out = np.where(usable, np.where(yes, YES, NO), UNKNOWN).astype(np.int8)
        return [out[i, : sizes[i]] for i in range(N)]


def _as_response(r: Any) -> tuple[int, ...]:
    t = tuple(int(v) for v in r)
    if len(t) != M or any(v not in (0, 1) for v in t):
        raise ValueError(f"a rubric-world response is a tuple of {M} 0/1 ints, got {r!r}")
    return t
