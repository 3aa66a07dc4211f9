"""Rubrics: weighted binary criteria and their aggregation into one score.

A rubric is a tuple of :class:`Criterion` objects plus the name of an aggregation. A verifier (see
:mod:`rewards.verify`) turns (prompt, response, rubric) into a verdict per criterion: ``YES = 1``,
``NO = 0`` or ``UNKNOWN = -1``, stored as int8 arrays of shape ``(..., C)``. :meth:`Rubric.score` maps
verdicts to scores of shape ``(...)``.

Aggregations (``Rubric.aggregate``):

``weighted_mean``  the paper: sum_i w_i [v_i = YES] / sum_i w_i, weights > 0 (integers 1..3 in the paper).
``healthbench``    HealthBench points: sum of the points of the met criteria / sum of the positive points.
                   Points may be negative (a met negative criterion is a penalty), so one example may
                   score below 0; :func:`healthbench_dataset_score` clips the DATASET mean to [0, 1].
``fraction``       unweighted fraction of satisfied criteria.
``all_pass``       1.0 if every criterion is satisfied, else 0.0.

For ``fraction`` and ``all_pass`` a criterion is *satisfied* when its verdict agrees with the sign of its
weight: YES for weight >= 0, NO for weight < 0 (so HealthBench penalty criteria count the right way round).

UNKNOWN is never counted as NO. With ``unknown="nan"`` (the default) any UNKNOWN verdict makes the score
NaN; with ``unknown="skip"`` the score is computed over the known verdicts only (numerator and
denominator both), and is NaN when nothing relevant is known. :func:`n_unknown` counts them.

File formats live in :mod:`rewards.formats` (which validates ``check`` specs with :mod:`rewards.verify`;
keeping them apart means this module imports neither).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AGGREGATES",
    "NO",
    "UNKNOWN",
    "YES",
    "Criterion",
    "Rubric",
    "RubricFormatError",
    "RubricValidationError",
    "healthbench_dataset_score",
    "n_unknown",
    "normalize_criterion_text",
    "rubric_diff",
    "stable_hash",
    "unscored_reason",
    "validate_rubric",
    "verdict_names",
]

YES: int = 1
NO: int = 0
UNKNOWN: int = -1

AGGREGATES: tuple[str, ...] = ("weighted_mean", "healthbench", "fraction", "all_pass")
_VERDICT_NAME = {YES: "yes", NO: "no", UNKNOWN: "unknown"}


# --------------------------------------------------------------------------------------------------------------
# errors


class RubricFormatError(ValueError):
    """A rubric or responses file (or dict) that cannot be read. ``path``, ``record`` (0-based index) and
    ``field`` say where; the message starts with the same information."""

    def __init__(
        self, message: str, path: str | os.PathLike | None = None, record: int | None = None, field: str | None = None
    ):
        self.path = None if path is None else str(path)
        self.record = record
        self.field = field
        self.detail = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(": ".join([*where, message]))

    def located(self, path=None, record=None, field_prefix: str | None = None) -> RubricFormatError:
        """The same error with the location filled in (inner fields are prefixed by ``field_prefix``)."""
        fld = self.field
        if field_prefix:
            fld = field_prefix if fld is None else f"{field_prefix}{fld if fld.startswith('[') else '.' + fld}"
        return RubricFormatError(
            self.detail, path if path is not None else self.path, record if record is not None else self.record, fld
        )


class RubricValidationError(ValueError):
    """A rubric that is well-formed but not acceptable (empty, weights out of range, duplicate criteria)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


# --------------------------------------------------------------------------------------------------------------
# hashing


def _canonical_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Rubric | Criterion):
        return obj.to_dict()
    raise TypeError(f"stable_hash: {type(obj).__name__} is not JSON-serializable")


def _canonical_json(obj: Any) -> str:
    # sort_keys + compact separators: one text per value; tuples and lists hash alike (JSON has only lists).
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_canonical_default
    )


def stable_hash(obj: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``obj`` (str, numbers, lists/tuples, dicts, numpy values,
    rubrics). Stable across processes and Python versions, unlike ``hash()``. NaN/inf raise ValueError."""
    return hashlib.sha256(_canonical_json(obj).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# criteria and rubrics


_WS = re.compile(r"\s+")


def normalize_criterion_text(text: str) -> str:
    """Text used to call two criteria duplicates: case-folded, whitespace collapsed, trailing punctuation
    dropped."""
    return _WS.sub(" ", text).strip().casefold().rstrip(" .;:!,")


@dataclass(frozen=True)
class Criterion:
    """One binary criterion.

    ``text``    what an LLM judge reads, phrased so that YES is good for weight > 0 (the paper's convention).
    ``weight``  importance (1..3 in the paper) or HealthBench points (may be negative: YES is then bad).
    ``check``   optional machine-checkable spec (a JSON object) read by :class:`rewards.verify.RuleVerifier`
                or by a simulator's verifier (``{"property": i}``); excluded from ``hash()``, included in
                ``==`` and :func:`stable_hash`. Do not mutate it after construction.
    ``tags``    free-form labels (HealthBench axes, refinement types).
    """

    text: str
    weight: float = 1.0
    check: dict | None = field(default=None, hash=False)
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"criterion text must be a non-empty string, got {self.text!r}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, int | float | np.integer | np.floating):
            raise ValueError(f"criterion weight must be a number, got {self.weight!r}")
        try:
            w = float(self.weight)
        except OverflowError:
            w = math.inf
        if not math.isfinite(w):
            raise ValueError(f"criterion weight must be finite, got {self.weight!r}")
        object.__setattr__(self, "weight", w)
        if self.check is not None and not isinstance(self.check, Mapping):
            raise ValueError(f"criterion check must be a JSON object or None, got {type(self.check).__name__}")
        if self.check is not None:
            object.__setattr__(self, "check", dict(self.check))
        if isinstance(self.tags, str) or not isinstance(self.tags, Iterable):
            raise ValueError(f"criterion tags must be a sequence of strings, got {self.tags!r}")
        tags = tuple(self.tags)
        if not all(isinstance(t, str) for t in tags):
            raise ValueError(f"criterion tags must be strings, got {tags!r}")
        object.__setattr__(self, "tags", tags)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "weight": self.weight}
        if self.check is not None:
            d["check"] = self.check
        if self.tags:
            d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Criterion:
        if not isinstance(d, Mapping):
            raise RubricFormatError(f"expected an object, got {type(d).__name__}")
        if "text" not in d:
            raise RubricFormatError("missing", field="text")
        kw = {"text": d["text"], "weight": d.get("weight", 1.0), "check": d.get("check"), "tags": d.get("tags", ())}
        try:
            return cls(**kw)
        except ValueError as e:
            raise RubricFormatError(str(e)) from None


@dataclass(frozen=True)
class Rubric:
    """A tuple of criteria and an aggregation (one of :data:`AGGREGATES`).

    ``weighted_mean`` requires every weight > 0 (otherwise flipping a verdict to YES could lower the score).
    An empty rubric is allowed here (its scores are NaN); :func:`validate_rubric` rejects it.
    """

    criteria: tuple[Criterion, ...]
    aggregate: str = "weighted_mean"
    _w: np.ndarray = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.criteria, Criterion) or not isinstance(self.criteria, Iterable):
            raise ValueError("criteria must be a sequence of Criterion")
        crit = tuple(self.criteria)
        for i, c in enumerate(crit):
            if not isinstance(c, Criterion):
                raise ValueError(f"criteria[{i}] is a {type(c).__name__}, not a Criterion")
        object.__setattr__(self, "criteria", crit)
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {self.aggregate!r}; expected one of {AGGREGATES}")
        w = np.array([c.weight for c in crit], dtype=np.float64)
        if self.aggregate == "weighted_mean" and np.any(w <= 0):
            bad = [i for i, x in enumerate(w) if x <= 0]
            raise ValueError(f"weighted_mean needs weights > 0; criteria {bad} have weights {w[bad].tolist()}")
        w.setflags(write=False)
        object.__setattr__(self, "_w", w)

    def __len__(self) -> int:
        return len(self.criteria)

    @property
    def weights(self) -> np.ndarray:
        """(C,) float64, read-only."""
        return self._w

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(c.text for c in self.criteria)

    def score(self, verdicts, unknown: str = "nan") -> np.ndarray | float:
        """Aggregate verdicts ``(..., C)`` (int8 codes YES/NO/UNKNOWN) into scores ``(...)`` (float64).

        ``unknown="nan"``: any UNKNOWN makes that score NaN. ``unknown="skip"``: score over the known verdicts
        only; NaN if none of the relevant ones is known. A 1-D input returns a numpy float64 scalar.
        """
        if unknown not in ("nan", "skip"):
            raise ValueError(f"unknown must be 'nan' or 'skip', got {unknown!r}")
        v = np.asarray(verdicts)
        if v.ndim == 0 or v.shape[-1] != len(self.criteria):
            raise ValueError(f"verdicts have shape {v.shape}; expected (..., {len(self.criteria)})")
        if v.size and not np.isin(v, (YES, NO, UNKNOWN)).all():
            raise ValueError("verdicts must be YES=1, NO=0 or UNKNOWN=-1")
        w = self._w
        known = v != UNKNOWN
        met = v == YES
        any_unknown = ~known.all(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.aggregate in ("weighted_mean", "healthbench"):
                num = (met * w).sum(axis=-1)
                # healthbench: the denominator counts positive points only (penalties can push below 0)
                dw = w if self.aggregate == "weighted_mean" else np.maximum(w, 0.0)
                den = (known * dw).sum(axis=-1)
                out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
            else:
                sat = np.where(w >= 0, met, v == NO) & known
                n_known = known.sum(axis=-1)
                if self.aggregate == "fraction":
                    out = np.where(n_known > 0, sat.sum(axis=-1) / np.maximum(n_known, 1), np.nan)
                else:  # all_pass: fails as soon as one known verdict fails; passes only if some are known
                    out = np.where(n_known > 0, (sat.sum(axis=-1) == n_known).astype(np.float64), np.nan)
        out = np.asarray(out, dtype=np.float64)
        if unknown == "nan":
            out = np.where(any_unknown, np.nan, out)
        return out[()] if out.ndim == 0 else out

    def content_hash(self) -> str:
        """:func:`stable_hash` of :meth:`to_dict` (criteria order matters; use it to key caches and logs)."""
        return stable_hash(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"aggregate": self.aggregate, "criteria": [c.to_dict() for c in self.criteria]}

    @classmethod
    def from_dict(cls, d: Any) -> Rubric:
        """Inverse of :meth:`to_dict`; raises :class:`RubricFormatError` naming the field."""
        if not isinstance(d, Mapping):
            raise RubricFormatError(f"expected an object, got {type(d).__name__}")
        crits = d.get("criteria")
        if not isinstance(crits, list):
            raise RubricFormatError("must be a list", field="criteria")
        out = []
        for i, c in enumerate(crits):
            try:
                out.append(Criterion.from_dict(c))
            except RubricFormatError as e:
                raise e.located(field_prefix=f"criteria[{i}]") from None
        try:
            return cls(tuple(out), aggregate=d.get("aggregate", "weighted_mean"))
        except ValueError as e:
            raise RubricFormatError(str(e), field="aggregate" if "aggregate" in str(e) else "criteria") from None

    def with_criteria(self, criteria: Iterable[Criterion]) -> Rubric:
        return Rubric(tuple(criteria), aggregate=self.aggregate)


def n_unknown(verdicts) -> np.ndarray | int:
    """Number of UNKNOWN verdicts along the last axis: ``(..., C) -> (...)`` ints."""
    out = (np.asarray(verdicts) == UNKNOWN).sum(axis=-1)
    return int(out) if np.ndim(out) == 0 else out


def unscored_reason(rubric: Rubric, verdicts, unknown: str = "nan") -> str | None:
    """Why ``rubric.score(verdicts, unknown)`` is NaN for one response's (C,) verdicts, in words (None when the
    score is a number): ``"no positive points"`` (a HealthBench rubric of penalties only), ``"2 unknown
    verdicts"``, ``"no known verdicts"``, ...."""
    v = np.asarray(verdicts).reshape(-1)
    if not math.isnan(float(rubric.score(v, unknown=unknown))):
        return None
    if len(rubric.criteria) == 0:
        return "no criteria"
    if rubric.aggregate == "healthbench" and not (rubric.weights > 0).any():
        return "no positive points"
    nu = int((v == UNKNOWN).sum())
    if unknown == "nan" and nu:
        return f"{nu} unknown verdict{'' if nu == 1 else 's'}"
    if rubric.aggregate == "healthbench":
        return "no criterion with positive points has a known verdict"
    return "no known verdicts"


def verdict_names(verdicts) -> list[str]:
    """(C,) codes -> ["yes", "no", "unknown", ...]."""
    return [_VERDICT_NAME[int(x)] for x in np.asarray(verdicts).reshape(-1)]


def healthbench_dataset_score(scores, unknown: str = "nan") -> float:
    """HealthBench's overall score: the mean of per-example scores (which may be < 0), clipped to [0, 1].

    ``scores`` (N,). Unscored examples (NaN) make the result NaN unless ``unknown="skip"``, which averages the
    scored ones only. An empty input is NaN.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if unknown == "skip":
        s = s[~np.isnan(s)]
    elif unknown != "nan":
        raise ValueError(f"unknown must be 'nan' or 'skip', got {unknown!r}")
    if s.size == 0 or np.isnan(s).any():
        return float("nan")
    return float(np.clip(s.mean(), 0.0, 1.0))


def validate_rubric(
    rubric: Rubric, weight_range: tuple[float, float] | None = (1, 3), max_criteria: int | None = None
) -> Rubric:
    """Check a rubric is usable; returns it unchanged or raises :class:`RubricValidationError` listing every
    problem: not a Rubric, empty, more than ``max_criteria`` criteria, a weight outside the closed
    ``weight_range`` (None: no range check), duplicate criteria (by :func:`normalize_criterion_text`)."""
    if not isinstance(rubric, Rubric):
        raise RubricValidationError([f"expected a Rubric, got {type(rubric).__name__}"])
    problems = []
    if len(rubric.criteria) == 0:
        problems.append("rubric has no criteria")
    if max_criteria is not None and len(rubric.criteria) > max_criteria:
        problems.append(f"rubric has {len(rubric.criteria)} criteria, more than {max_criteria}")
    if weight_range is not None:
        lo, hi = weight_range
        for i, c in enumerate(rubric.criteria):
            if not lo <= c.weight <= hi:
                problems.append(f"criterion {i} ({c.text[:40]!r}) has weight {c.weight:g} outside [{lo:g}, {hi:g}]")
    seen: dict[str, int] = {}
    for i, c in enumerate(rubric.criteria):
        key = normalize_criterion_text(c.text)
        if key in seen:
            problems.append(f"criterion {i} duplicates criterion {seen[key]} ({c.text[:40]!r})")
        else:
            seen[key] = i
    if problems:
        raise RubricValidationError(problems)
    return rubric


def rubric_diff(old: Rubric, new: Rubric) -> dict[str, list]:
    """What changed from ``old`` to ``new``, matching criteria by normalized text.

    Returns ``{"added": [text], "removed": [text], "reweighted": [{"criterion", "old", "new"}],
    "rechecked": [text]}`` (``rechecked``: same text and weight, different ``check`` or tags).
    """
    o = {normalize_criterion_text(c.text): c for c in old.criteria}
    n = {normalize_criterion_text(c.text): c for c in new.criteria}
    added = [c.text for k, c in n.items() if k not in o]
    removed = [c.text for k, c in o.items() if k not in n]
    reweighted, rechecked = [], []
    for k, c in n.items():
        if k in o:
            if o[k].weight != c.weight:
                reweighted.append({"criterion": c.text, "old": o[k].weight, "new": c.weight})
            elif o[k].check != c.check or o[k].tags != c.tags:
                rechecked.append(c.text)
    return {"added": added, "removed": removed, "reweighted": reweighted, "rechecked": rechecked}
