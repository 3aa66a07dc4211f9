"""The refinement log: one JSONL file per :func:`rewards.refine.refine` run, appended step by step.

Line 1 is a header: ``{"type": "header", "kind": LOG_KIND, "version": LOG_VERSION, "config_hash", "config",
"fingerprint", "verifier", "proposer", "n_prompts"}``; ``config_hash`` is :func:`rewards.runs.config_hash` of
the refinement settings and ``fingerprint`` hashes the prompts, initial rubrics, pools and settings. Every
other line is one :class:`Iteration` (``"type": "iteration"``), written in the loop's order (round-major,
prompts in order) and fsync'ed.

Safety policy of :func:`open_log` (nothing a user gives as ``--log`` is ever lost):

- a missing or empty file becomes a new log;
- a file whose line 1 is not our header is refused (:class:`RefineLogError`) and left byte-for-byte untouched;
- a log of other settings is refused naming the settings that differ (the policy of :mod:`rewards.runs`), and
  a log of other inputs, verifier or proposer is refused likewise;
- every record is validated before anything is replayed (round and prompt in the loop's order, the offered
  candidates and chosen pair consistent with the pool, statuses, and every accepted rubric valid under the
  settings: weights in range, no duplicates, ...); a damaged or hand-edited log is refused, untouched;
- only then may a partial LAST line (a write cut off by a kill) be dropped, so appending starts on a new line.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.io import append_jsonl, atomic_write_bytes
from rewards.rubric import Rubric, RubricFormatError, RubricValidationError, validate_rubric
from rewards.runs import config_hash, differing_keys

__all__ = [
    "FAILURE_STATUSES",
    "LOG_KIND",
    "LOG_VERSION",
    "STATUSES",
    "Iteration",
    "Progress",
    "RefineLogError",
    "log_header",
    "open_log",
]

LOG_KIND = "chasing-tail refinement log"
LOG_VERSION = 2
# accepted: a valid, different rubric replaced the old one; unchanged: the proposer returned the same rubric;
# invalid: the proposer's rubric failed validation (old kept); proposer_error: the proposer raised (old kept);
# no_pair: fewer than two distinct responses with a finite score (old kept, proposer not called).
STATUSES: tuple[str, ...] = ("accepted", "unchanged", "invalid", "proposer_error", "no_pair")
FAILURE_STATUSES: tuple[str, ...] = ("invalid", "proposer_error")

logger = logging.getLogger(__name__)


class RefineLogError(ValueError):
    """A refinement log that does not belong to this run, is not a refinement log, or is damaged."""


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


@dataclass
class Progress:
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

    def candidates(self, p: int, hashes: Sequence[str]) -> list[int]:
        """Indices of prompt ``p``'s pool still on offer (not chosen before, by content hash)."""
        return [k for k, h in enumerate(hashes) if h not in self.used[p]]


def log_header(
    fingerprint: str, verifier: str, proposer: str, n_prompts: int, config: dict[str, Any]
) -> dict[str, Any]:
    """The header record of a new log (``config``: the refinement settings as a JSON-able dict)."""
    return {
        "type": "header",
        "kind": LOG_KIND,
        "version": LOG_VERSION,
        "config_hash": config_hash(config),
        "fingerprint": fingerprint,
        "verifier": verifier,
        "proposer": proposer,
        "n_prompts": n_prompts,
        "config": config,
    }


# --------------------------------------------------------------------------------------------------------------
# reading


_UNTOUCHED = "the file was left untouched"


def _parse_header(line: bytes) -> dict[str, Any] | None:
    try:
        head = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(head, dict) or head.get("type") != "header":
        return None
    return head


def _read(path: Path) -> tuple[dict[str, Any] | None, list[tuple[int, Any]], int | None]:
    """(header or None for a missing/empty file, [(line number, record)], length in bytes of the complete lines
    when the last line is partial, else None). Raises :class:`RefineLogError` for anything but our log."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [], None
    except OSError as e:
        msg = f"{path}: cannot read the refinement log ({e.strerror or e}); pass a file path to --log"
        raise RefineLogError(msg) from None
    if not raw:
        return None, [], None
    first, nl, rest = raw.partition(b"\n")
    head = _parse_header(first) if nl else None
    if head is None or head.get("kind") != LOG_KIND:
        what = "an older refinement log without a 'kind'" if head is not None else "line 1 is not its header"
        raise RefineLogError(
            f"{path}: not a {LOG_KIND} ({what}); {_UNTOUCHED}: pass a new path to --log or move the file away"
        )
    lines = rest.split(b"\n")
    complete = None
    if lines[-1]:  # no newline at the end: a write cut off by a kill
        complete = len(raw) - len(lines[-1])
    records = []
    for n, line in enumerate(lines[:-1], start=2):
        if not line.strip():
            continue
        try:
            records.append((n, json.loads(line.decode("utf-8"))))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RefineLogError(f"{path}: line {n} is not valid JSON; the log is damaged and {_UNTOUCHED}") from None
    return head, records, complete


def _check_header(path: Path, head: dict[str, Any], header: dict[str, Any]) -> None:
    if head.get("version") != header["version"]:
        raise RefineLogError(
            f"{path}: a refinement log of format version {head.get('version')!r}, this program writes "
            f"{header['version']}; {_UNTOUCHED}: pass a new path to --log"
        )
    if head.get("config_hash") != header["config_hash"]:
        keys = ", ".join(differing_keys(head.get("config"), header["config"])[:8]) or "config_hash"
        raise RefineLogError(
            f"{path}: the log was written by a different run with other refinement settings (differs in: {keys}); "
            f"{_UNTOUCHED}: use another --log path or delete it"
        )
    for key in ("fingerprint", "verifier", "proposer", "n_prompts"):
        if head.get(key) != header[key]:
            what = " of the prompts, rubrics, pools and settings" if key == "fingerprint" else ""
            raise RefineLogError(
                f"{path}: the log was written by a different run ({key}{what}: {head.get(key)!r} in the log, "
                f"{header[key]!r} now); {_UNTOUCHED}: use another --log path or delete it"
            )


# --------------------------------------------------------------------------------------------------------------
# validating records


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_types(rec: Any) -> str | None:
    if not isinstance(rec, dict) or rec.get("type") != "iteration":
        return "not an iteration record"
    for key in ("prompt_index", "round"):
        if not _int(rec.get(key)):
            return f"{key} must be an integer, got {rec.get(key)!r}"
    if rec.get("status") not in STATUSES:
        return f"status must be one of {STATUSES}, got {rec.get('status')!r}"
    idx = rec.get("pool_indices")
    if not isinstance(idx, list) or not all(_int(k) for k in idx):
        return "pool_indices must be a list of integers"
    ch = rec.get("chosen")
    if ch is not None and not (isinstance(ch, list) and len(ch) == 2 and all(_int(k) for k in ch)):
        return f"chosen must be null or two integers, got {ch!r}"
    return None


def _check_rubrics(it: Iteration, old: Rubric, config: Any) -> str | None:
    if it.old_rubric != old:
        return f"old rubric of prompt {it.prompt_index} does not match the replayed state"
    if it.status != "accepted":
        return None if it.new_rubric == old else f"status {it.status!r} but the rubric changed"
    if it.new_rubric == old:
        return "status 'accepted' but the rubric did not change"
    if config.same_aggregate and it.new_rubric.aggregate != old.aggregate:
        return f"accepted rubric changed the aggregate to {it.new_rubric.aggregate!r}"
    try:
        validate_rubric(it.new_rubric, config.weight_range, config.max_criteria)
    except RubricValidationError as e:
        return f"accepted rubric is not valid under the settings ({e})"
    return None


def _check_step(it: Iteration, prog: Progress, hashes: Sequence[str], config: Any) -> str | None:
    """Why ``it`` cannot be the next step of ``prog`` (None when it can)."""
    p = it.prompt_index
    cand = prog.candidates(p, hashes)
    if list(it.pool_indices) != cand or list(it.pool_hashes) != [hashes[k] for k in cand]:
        return f"the offered candidates of prompt {p} do not match its pool"
    if len(it.scores) != len(cand):
        return f"{len(it.scores)} scores for {len(cand)} candidates"
    if (it.chosen is None) != (it.status == "no_pair"):
        return f"status {it.status!r} with chosen {it.chosen!r}"
    if it.chosen is not None:
        a, b = it.chosen
        if a == b or a not in cand or b not in cand:
            return f"chosen {list(it.chosen)} are not two offered candidates"
        if it.chosen_hashes != (hashes[a], hashes[b]) or it.chosen_scores is None or len(it.chosen_scores) != 2:
            return "chosen_hashes/chosen_scores do not match the chosen responses"
    return _check_rubrics(it, prog.state[p], config)


def _replay(path: Path, records, prog: Progress, config: Any, pool_hashes: Sequence[Sequence[str]]) -> None:
    P = len(prog.state)
    order = [(r, p) for r in range(config.rounds) for p in range(P)]
    for k, (n, rec) in enumerate(records):
        problem = _check_types(rec)
        if problem is None:
            try:
                it = Iteration.from_record(rec)
            except (KeyError, TypeError, ValueError, IndexError, RubricFormatError) as e:
                problem = f"malformed iteration record ({e})"
        if problem is None and (k >= len(order) or (it.round, it.prompt_index) != order[k]):
            want = "no more steps" if k >= len(order) else f"prompt {order[k][1]}, round {order[k][0]}"
            problem = f"unexpected step (prompt {it.prompt_index}, round {it.round}; expected {want})"
        if problem is None:
            problem = _check_step(it, prog, pool_hashes[it.prompt_index], config)
        if problem is not None:
            raise RefineLogError(f"{path}: line {n}: {problem}; the log is damaged or edited and {_UNTOUCHED}")
        prog.add(it, config.exclude_used)


def open_log(
    path: Path, header: dict[str, Any], prog: Progress, config: Any, pool_hashes: Sequence[Sequence[str]]
) -> None:
    """Open the log at ``path`` for a run described by ``header`` (:func:`log_header`): replay a log of the same
    run into ``prog`` after validating all of it, or start a new log. See the module docstring for the policy;
    refusals are :class:`RefineLogError` and leave the file untouched."""
    head, records, complete = _read(path)
    if head is None:
        append_jsonl(path, header)
        return
    _check_header(path, head, header)
    _replay(path, records, prog, config, pool_hashes)
    if complete is not None:
        # ours, validated: drop the partial last line so that appended records start on a fresh line
        atomic_write_bytes(path, path.read_bytes()[:complete])
        logger.warning("%s: dropped a partial last line (a write cut off by a kill); that step is redone", path)
