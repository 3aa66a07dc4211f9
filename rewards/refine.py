"""Refinement-through-differentiation (the paper's rubric-refinement loop), written once for every world.

Per prompt and round: score the prompt's candidate pool with the current rubric (one verifier call per
response), take the two highest-scoring distinct responses (:func:`select_top2`), ask a :class:`Proposer` for
a rewritten rubric that separates them, validate it (:func:`rewards.rubric.validate_rubric`), and replace the
rubric only if it is valid. A proposer exception or invalid output keeps the previous rubric (a prompt never
loses its rubric) and is counted. With ``exclude_used`` a response chosen in an earlier round is not offered
again (matched by content hash, so duplicates of it are excluded too).

Every iteration is appended to a JSONL log (:mod:`rewards.refine_log`: its format and safety policy) whose
first line is a header with the settings' hash and a fingerprint of the inputs. ``refine(..., log_path=...)``
validates and replays a log of the same run it finds there and continues after the last complete iteration,
so an interrupted run ends with the same rubrics as an uninterrupted one, PROVIDED the verifier and proposer
are functions of their inputs (derive any randomness from :func:`stable_hash` of the inputs plus a seed, not
from a generator advanced call by call).

Rounds are processed round-major: round r scores the pools of all prompts in ONE ``verify_many`` call (so
LLM judges can batch), then proposes per prompt in prompt order.

Pool modes (:data:`POOL_MODES`) describe the paper's four refinement conditions; the worlds build the pools.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rewards.io import append_jsonl, to_json
from rewards.refine_log import (
    FAILURE_STATUSES,
    LOG_KIND,
    LOG_VERSION,
    STATUSES,
    Iteration,
    Progress,
    RefineLogError,
    log_header,
    open_log,
)
from rewards.rubric import (
    Rubric,
    RubricValidationError,
    rubric_diff,
    stable_hash,
    validate_rubric,
)
from rewards.verify import Verifier, verify_with

__all__ = [
    "FAILURE_STATUSES",
    "LOG_KIND",
    "LOG_VERSION",
    "POOL_MODES",
    "STATUSES",
    "Iteration",
    "NoPairError",
    "PoolMode",
    "Proposer",
    "RefineConfig",
    "RefineLogError",
    "RefineResult",
    "refine",
    "select_top2",
    "stable_hash",
]


class NoPairError(ValueError):
    """Fewer than two distinct responses with a finite score."""


@runtime_checkable
class Proposer(Protocol):
    """Rewrites a rubric so that it separates two responses.

    ``propose(prompt, rubric, response_a, response_b) -> Rubric``: ``response_a`` is the higher-scoring of the
    pair under ``rubric`` (ties: smaller content hash first). It may raise; the loop then keeps ``rubric``.
    For resumable runs it must be a function of its inputs (see the module docstring).
    """

    name: str

    def propose(self, prompt: str, rubric: Rubric, response_a: Any, response_b: Any) -> Rubric: ...


@dataclass(frozen=True)
class PoolMode:
    """One of the paper's refinement conditions. ``source`` names the generator(s) a world draws the pool
    from: ``good`` (a weaker model), ``great`` (one strong model), ``diverse`` (one response from each of
    ``pool_size`` strong models)."""

    name: str
    rounds: int
    pool_size: int
    source: str
    exclude_used: bool
    description: str


POOL_MODES: dict[str, PoolMode] = {
    m.name: m
    for m in (
        PoolMode("1-good-pair", 1, 2, "good", False, "one round on two responses of a weaker model"),
        PoolMode("1-great-pair", 1, 2, "great", False, "one round on two responses of a strong model"),
        # The paper: "4 rounds, a pool of 16". Our reading: each round takes the top two of the responses not
        # yet used, so the four rounds see four different pairs.
        PoolMode("4-great-pairs", 4, 16, "great", True, "four rounds on a pool of 16 responses of a strong model"),
        PoolMode(
            "4-great-diverse-pairs", 4, 16, "diverse", True, "four rounds on one response from each of 16 strong models"
        ),
    )
}


@dataclass(frozen=True)
class RefineConfig:
    """Refinement settings.

    rounds          rounds per prompt (each round: score, pick top 2, propose, validate)
    exclude_used    do not offer a response (by content hash) chosen in an earlier round again
    weight_range    closed range every proposed weight must lie in (None: any finite weight)
    max_criteria    reject proposals with more criteria (None: no limit)
    unknown         how pool scores treat UNKNOWN verdicts: "nan" (the response cannot be chosen) or "skip"
                    (score over known verdicts)
    same_aggregate  reject a proposal whose aggregation differs from the current rubric's
    """

    rounds: int = 1
    exclude_used: bool = False
    weight_range: tuple[float, float] | None = (1, 3)
    max_criteria: int | None = None
    unknown: str = "nan"
    same_aggregate: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.rounds, int) or isinstance(self.rounds, bool) or self.rounds < 0:
            raise ValueError(f"rounds must be a non-negative integer, got {self.rounds!r}")
        if self.unknown not in ("nan", "skip"):
            raise ValueError(f"unknown must be 'nan' or 'skip', got {self.unknown!r}")
        if self.weight_range is not None:
            lo, hi = self.weight_range
            object.__setattr__(self, "weight_range", (float(lo), float(hi)))
            if not lo <= hi:
                raise ValueError(f"weight_range {self.weight_range} is empty")

    @classmethod
    def from_pool_mode(cls, name: str, **overrides: Any) -> RefineConfig:
        """Rounds and exclusion of :data:`POOL_MODES` ``[name]``; other fields from ``overrides``."""
        if name not in POOL_MODES:
            raise ValueError(f"unknown pool mode {name!r}; expected one of {tuple(POOL_MODES)}")
        m = POOL_MODES[name]
        return cls(**{"rounds": m.rounds, "exclude_used": m.exclude_used, **overrides})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weight_range"] = None if self.weight_range is None else list(self.weight_range)
        return d


def _hashes(responses: Sequence[Any]) -> list[str]:
    return [stable_hash(r) for r in responses]


def select_top2(scores, responses: Sequence[Any], hashes: Sequence[str] | None = None) -> tuple[int, int]:
    """Indices ``(i, j)`` of the best and second-best responses by score.

    NaN scores are never chosen. Equal scores are ordered by :func:`stable_hash` of the response (smaller
    first), never by position, so the chosen CONTENTS do not depend on the pool order. ``j`` is the best
    response whose content differs from ``responses[i]`` (two copies of one answer cannot be told apart).
    Raises :class:`NoPairError` when fewer than two distinct responses have a finite score.
    ``scores`` (M,), ``responses`` M items; ``hashes`` (optional) their precomputed stable hashes.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape[0] != len(responses):
        raise ValueError(f"{s.shape[0]} scores for {len(responses)} responses")
    h = list(hashes) if hashes is not None else _hashes(responses)
    if len(h) != len(responses):
        raise ValueError(f"{len(h)} hashes for {len(responses)} responses")
    valid = [k for k in range(len(s)) if not math.isnan(s[k])]
    # the index is only a final key among exact duplicates (same content), where any choice is the same answer
    order = sorted(valid, key=lambda k: (-s[k], h[k], k))
    if not order:
        raise NoPairError("no response has a finite score")
    i = order[0]
    for k in order[1:]:
        if h[k] != h[i]:
            return i, k
    raise NoPairError("fewer than two distinct responses have a finite score")


@dataclass(frozen=True)
class RefineResult:
    """``rubrics``: the final rubric per prompt (P,). ``iterations``: every step in order, including those
    replayed from the log (the first ``n_resumed``)."""

    rubrics: tuple[Rubric, ...]
    iterations: tuple[Iteration, ...]
    n_resumed: int = 0

    def status_counts(self) -> dict[str, int]:
        c = Counter(it.status for it in self.iterations)
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def n_failures(self) -> int:
        """Proposer exceptions plus invalid proposals (the previous rubric was kept each time)."""
        return sum(1 for it in self.iterations if it.status in FAILURE_STATUSES)


def _canonical(rubric: Rubric) -> Rubric:
    # What a resumed run reads back from the log; the live run uses the same value so both runs agree
    # exactly (e.g. tuples inside a check become lists).
    return Rubric.from_dict(json.loads(to_json(rubric.to_dict())))


def _fingerprint(prompts, rubrics, pool_hashes, config: RefineConfig) -> str:
    return stable_hash(
        {
            "prompts": list(prompts),
            "rubrics": [r.to_dict() for r in rubrics],
            "pools": pool_hashes,
            "config": config.to_dict(),
        }
    )


def refine(
    prompts: Sequence[str],
    rubrics: Sequence[Rubric],
    pools: Sequence[Sequence[Any]],
    verifier: Verifier,
    proposer: Proposer,
    config: RefineConfig = RefineConfig(),
    log_path: str | os.PathLike | None = None,
    *,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> RefineResult:
    """Refine one rubric per prompt against that prompt's response pool.

    ``prompts`` (P,) texts; ``rubrics`` (P,) initial rubrics; ``pools`` (P,) sequences of responses (str for
    text worlds, JSON-serializable values such as tuples of ints for simulated ones). With ``log_path`` every
    iteration is appended there, and a log already there (from an interrupted run with the same inputs,
    config, verifier and proposer names) is replayed first. ``on_iteration`` is called after each new step.
    Returns :class:`RefineResult`; never raises for proposer errors (only KeyboardInterrupt and other
    BaseExceptions escape, after the completed steps are logged).
    """
    P = len(prompts)
    if len(rubrics) != P or len(pools) != P:
        raise ValueError(f"{P} prompts, {len(rubrics)} rubrics, {len(pools)} pools: need one of each per prompt")
    for p, r in enumerate(rubrics):
        if not isinstance(r, Rubric):
            raise TypeError(f"rubrics[{p}] is a {type(r).__name__}, not a Rubric")
    pool_hashes = [_hashes(pool) for pool in pools]
    prog = Progress([_canonical(r) for r in rubrics], [set() for _ in range(P)])
    log = Path(log_path) if log_path is not None else None
    if log is not None:
        fingerprint = _fingerprint(prompts, prog.state, pool_hashes, config)
        header = log_header(fingerprint, verifier.name, proposer.name, P, config.to_dict())
        open_log(log, header, prog, config, pool_hashes)
    n_resumed = len(prog.iterations)

    for rnd in range(config.rounds):
        todo = [p for p in range(P) if (rnd, p) not in prog.done]
        if not todo:
            continue
        cand = {p: prog.candidates(p, pool_hashes[p]) for p in todo}
        scores = _round_scores(prompts, pools, todo, cand, prog.state, verifier, config)
        for p, sc in zip(todo, scores, strict=True):
            hs = [pool_hashes[p][k] for k in cand[p]]
            it = _step(p, rnd, prompts[p], prog.state[p], pools[p], cand[p], hs, sc, proposer, config)
            if log is not None:
                append_jsonl(log, it.to_record())
            prog.add(it, config.exclude_used)
            if on_iteration is not None:
                on_iteration(it)
    return RefineResult(tuple(prog.state), tuple(prog.iterations), n_resumed)


def _round_scores(prompts, pools, todo: list[int], cand: dict[int, list[int]], state, verifier, config):
    """One verifier batch for the round: each prompt's candidate responses scored by its current rubric, (n_p,)
    float64 per prompt in ``todo`` order."""
    items = [(prompts[p], pools[p][k], state[p]) for p in todo for k in cand[p]]
    verdicts = verify_with(verifier, items) if items else []
    pos, out = 0, []
    for p in todo:
        ks = cand[p]
        v = np.stack(verdicts[pos : pos + len(ks)]) if ks else np.zeros((0, len(state[p])), np.int8)
        pos += len(ks)
        out.append(np.asarray(state[p].score(v, unknown=config.unknown), dtype=np.float64).reshape(-1))
    return out


def _step(
    p: int,
    rnd: int,
    prompt: str,
    old: Rubric,
    pool: Sequence[Any],
    ks: list[int],
    hs: list[str],
    scores: np.ndarray,
    proposer: Proposer,
    config: RefineConfig,
) -> Iteration:
    base = Iteration(
        p,
        rnd,
        "no_pair",
        tuple(ks),
        tuple(hs),
        tuple(float(x) for x in scores),
        None,
        None,
        None,
        old,
        old,
        rubric_diff(old, old),
        None,
    )
    try:
        a, b = select_top2(scores, [pool[k] for k in ks], hashes=hs)
    except NoPairError as e:
        return replace(base, error=str(e))
    base = replace(
        base, chosen=(ks[a], ks[b]), chosen_hashes=(hs[a], hs[b]), chosen_scores=(float(scores[a]), float(scores[b]))
    )
    try:
        new = proposer.propose(prompt, old, pool[ks[a]], pool[ks[b]])
    except Exception as e:  # noqa: BLE001 -- any proposer failure keeps the old rubric; BaseException escapes
        return replace(base, status="proposer_error", error=f"{type(e).__name__}: {e}"[:2000])
    problem = None
    if not isinstance(new, Rubric):
        problem = f"proposer returned a {type(new).__name__}, not a Rubric"
    elif config.same_aggregate and new.aggregate != old.aggregate:
        problem = f"proposer changed the aggregate from {old.aggregate!r} to {new.aggregate!r}"
    else:
        try:
            validate_rubric(new, config.weight_range, config.max_criteria)
            new = _canonical(new)
        except RubricValidationError as e:
            problem = str(e)
        except (TypeError, ValueError) as e:  # a check that is not JSON-serializable cannot be logged
            problem = f"rubric is not serializable: {e}"
    if problem is not None:
        return replace(base, status="invalid", error=problem[:2000])
    status = "unchanged" if new == old else "accepted"
    return replace(base, status=status, new_rubric=new, diff=rubric_diff(old, new))
