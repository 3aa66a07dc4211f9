"""Refinement-through-differentiation (the paper's rubric-refinement loop), written once for every world.

Per prompt and round: score the prompt's candidate pool with the current rubric (one verifier call per
response), take the two highest-scoring distinct responses (:func:`select_top2`), ask a :class:`Proposer` for
a rewritten rubric that separates them, validate it (:func:`rewards.rubric.validate_rubric`), and replace the
rubric only if it is valid. A proposer exception or invalid output keeps the previous rubric (a prompt never
loses its rubric) and is counted. With ``exclude_used`` a response chosen in an earlier round is not offered
again (matched by content hash, so duplicates of it are excluded too).

Every iteration is appended to a JSONL log (``rewards.io.append_jsonl``, fsync'ed) whose first line is a
header fingerprinting the inputs and config. ``refine(..., log_path=...)`` replays a log it finds there and
continues after the last complete iteration, so an interrupted run ends with the same rubrics as an
uninterrupted one, PROVIDED the verifier and proposer are functions of their inputs (derive any randomness
from :func:`stable_hash` of the inputs plus a seed, not from a generator advanced call by call).

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rewards.io import append_jsonl, atomic_write_text, read_jsonl, to_json
from rewards.rubric import (
    Rubric,
    RubricFormatError,
    RubricValidationError,
    rubric_diff,
    stable_hash,
    validate_rubric,
)
from rewards.verify import Verifier, verify_with

__all__ = [
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

LOG_VERSION = 1
# accepted: a valid, different rubric replaced the old one; unchanged: the proposer returned the same rubric;
# invalid: the proposer's rubric failed validation (old kept); proposer_error: the proposer raised (old kept);
# no_pair: fewer than two distinct responses with a finite score (old kept, proposer not called).
STATUSES: tuple[str, ...] = ("accepted", "unchanged", "invalid", "proposer_error", "no_pair")
FAILURE_STATUSES: tuple[str, ...] = ("invalid", "proposer_error")


class NoPairError(ValueError):
    """Fewer than two distinct responses with a finite score."""


class RefineLogError(ValueError):
    """A refinement log that does not belong to this run or is inconsistent with it."""


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
class Iteration:
    """One (prompt, round) step, as logged.

    ``pool_indices`` / ``pool_hashes`` / ``scores``: the candidates offered this round (after exclusion), in
    pool order, with their scores under ``old_rubric`` (NaN = unscored). ``chosen``: (best, second) as
    indices into the prompt's FULL pool, or None for status ``no_pair``. ``new_rubric`` is the rubric after
    this step (``old_rubric`` again unless accepted). ``diff``: :func:`rewards.rubric.rubric_diff`.
    """

    prompt_index: int
    round: int
    status: str
    pool_indices: tuple[int, ...]
    pool_hashes: tuple[str, ...]
    scores: tuple[float, ...]
    chosen: tuple[int, int] | None
    chosen_hashes: tuple[str, str] | None
    chosen_scores: tuple[float, float] | None
    old_rubric: Rubric
    new_rubric: Rubric
    diff: dict = field(hash=False)
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {
            "type": "iteration",
            "prompt_index": self.prompt_index,
            "round": self.round,
            "status": self.status,
            "pool_indices": list(self.pool_indices),
            "pool_hashes": list(self.pool_hashes),
            "scores": [num(x) for x in self.scores],
            "chosen": None if self.chosen is None else list(self.chosen),
            "chosen_hashes": None if self.chosen_hashes is None else list(self.chosen_hashes),
            "chosen_scores": None if self.chosen_scores is None else [num(x) for x in self.chosen_scores],
            "old_rubric": self.old_rubric.to_dict(),
            "new_rubric": self.new_rubric.to_dict(),
            "diff": self.diff,
            "error": self.error,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Iteration:
        def num(x: Any) -> float:
            return float("nan") if x is None else float(x)

        return cls(
            prompt_index=int(r["prompt_index"]),
            round=int(r["round"]),
            status=str(r["status"]),
            pool_indices=tuple(int(k) for k in r["pool_indices"]),
            pool_hashes=tuple(r["pool_hashes"]),
            scores=tuple(num(x) for x in r["scores"]),
            chosen=None if r["chosen"] is None else (int(r["chosen"][0]), int(r["chosen"][1])),
            chosen_hashes=None if r["chosen_hashes"] is None else tuple(r["chosen_hashes"]),
            chosen_scores=None if r["chosen_scores"] is None else tuple(num(x) for x in r["chosen_scores"]),
            old_rubric=Rubric.from_dict(r["old_rubric"]),
            new_rubric=Rubric.from_dict(r["new_rubric"]),
            diff=r["diff"],
            error=r.get("error"),
        )


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


def _open_log(log_path: Path, header: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the logged iteration records, after checking the header; start a new log if there is none."""
    if log_path.exists() and log_path.stat().st_size > 0:
        raw = log_path.read_bytes()
        if not raw.endswith(b"\n"):
            # a write cut off by a kill: drop the partial tail so that appended lines start on a fresh line
            cut = raw.rfind(b"\n") + 1
            atomic_write_text(log_path, raw[:cut].decode("utf-8", errors="strict"))
        try:
            rows = read_jsonl(log_path)
        except ValueError as e:
            raise RefineLogError(str(e)) from None
        if not rows:
            append_jsonl(log_path, header)
            return []
        head = rows[0]
        if not isinstance(head, dict) or head.get("type") != "header":
            raise RefineLogError(f"{log_path}: line 1 is not a refinement log header")
        for key in ("version", "fingerprint", "verifier", "proposer", "n_prompts"):
            if head.get(key) != header[key]:
                raise RefineLogError(
                    f"{log_path}: the log was written by a different run ({key}: {head.get(key)!r} in the log, "
                    f"{header[key]!r} now); use another --log path or delete it"
                )
        its = rows[1:]
        for n, r in enumerate(its, start=2):
            if not isinstance(r, dict) or r.get("type") != "iteration":
                raise RefineLogError(f"{log_path}: line {n} is not an iteration record")
        return its
    append_jsonl(log_path, header)
    return []


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
    prog = _Progress([_canonical(r) for r in rubrics], [set() for _ in range(P)])
    log = Path(log_path) if log_path is not None else None
    if log is not None:
        header = {
            "type": "header",
            "version": LOG_VERSION,
            "fingerprint": _fingerprint(prompts, prog.state, pool_hashes, config),
            "verifier": verifier.name,
            "proposer": proposer.name,
            "n_prompts": P,
            "config": config.to_dict(),
        }
        _replay(log, header, prog, config)
    n_resumed = len(prog.iterations)

    for rnd in range(config.rounds):
        todo = [p for p in range(P) if (rnd, p) not in prog.done]
        if not todo:
            continue
        cand = {p: [k for k, h in enumerate(pool_hashes[p]) if h not in prog.used[p]] for p in todo}
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


@dataclass
class _Progress:
    """The refinement so far: the current rubric per prompt, the responses already chosen per prompt (hashes),
    the (round, prompt) steps done and their iterations in order."""

    state: list[Rubric]
    used: list[set[str]]
    done: set[tuple[int, int]] = field(default_factory=set)
    iterations: list[Iteration] = field(default_factory=list)

    def add(self, it: Iteration, exclude_used: bool) -> None:
        p = it.prompt_index
        self.state[p] = it.new_rubric
        if exclude_used and it.chosen_hashes is not None:
            self.used[p].update(it.chosen_hashes)
        self.done.add((it.round, p))
        self.iterations.append(it)


def _replay(log: Path, header: dict[str, Any], prog: _Progress, config: RefineConfig) -> None:
    """Replay the steps of a log made with the same inputs (creating it with ``header`` if absent) into
    ``prog``; a record that does not continue the replayed state is a :class:`RefineLogError`."""
    P = len(prog.state)
    for n, rec in enumerate(_open_log(log, header), start=2):
        try:
            it = Iteration.from_record(rec)
        except (KeyError, TypeError, ValueError, IndexError, RubricFormatError) as e:
            raise RefineLogError(f"{log}: line {n}: malformed iteration record ({e})") from None
        p = it.prompt_index
        if not 0 <= p < P or (it.round, p) in prog.done or it.round >= config.rounds:
            raise RefineLogError(f"{log}: line {n}: unexpected step (prompt {p}, round {it.round})")
        if it.old_rubric != prog.state[p]:
            raise RefineLogError(f"{log}: line {n}: old rubric of prompt {p} does not match the replayed state")
        prog.add(it, config.exclude_used)


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
