"""Rubric file formats: read and write rubrics as records, one per prompt.

File formats (:func:`load_rubrics` / :func:`save_rubrics`), one record per prompt:

``paper``        a JSON list or JSONL of ``{"prompt": str, "rubrics": [{"criterion": str, "weight": number}]}``.
``healthbench``  JSONL of ``{"prompt": str | [{"role", "content"}], "rubrics": [{"criterion", "points", "tags"}]}``.

The ``paper`` reader also takes what the paper's own code writes: records whose criteria are under
``"criteria"`` (each with a ``local_id``) with ``total_criteria`` and ``total_weight`` (checked against the
criteria when present), and a file that is one object holding the record list under ``"rubrics"`` (with its
``"metadata"``). Such records are written back in the format above (``"rubrics"``; totals dropped).

Both formats also read and write an optional ``"check"`` object per criterion (a machine-checkable spec
for :class:`rewards.verify.RuleVerifier`), optional ``"tags"`` per criterion in the paper format, and an
optional record-level ``"aggregate"`` (written only when it differs from the format's default). Other
record-level keys are kept verbatim in ``RubricRecord.meta["extra"]``; a chat-list prompt is kept in
``meta["prompt_messages"]`` (``RubricRecord.prompt`` is its rendered text). Other criterion-level keys
are dropped on read. Every error is a :class:`RubricFormatError` naming the file, the record index
(0-based) and the field. Records that read but are suspect (:func:`rubric_warnings`: duplicate criteria, paper
weights outside 1..3, a HealthBench rubric with no positive points, whose every score is null) are logged as
warnings naming the file and record.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.io import atomic_write_text, to_json
from rewards.rubric import (
    AGGREGATES,
    Criterion,
    Rubric,
    RubricFormatError,
    RubricValidationError,
    normalize_criterion_text,
)
from rewards.verify import CheckSpecError, compile_check

__all__ = [
    "FORMATS",
    "RubricRecord",
    "load_rubrics",
    "parse_rubric_records",
    "read_json_records",
    "record_to_json",
    "render_prompt",
    "rubric_warnings",
    "save_rubrics",
    "unwrap_records",
]

logger = logging.getLogger(__name__)
# The paper's weights are integers 1..3 (the refinement loop's default weight range).
PAPER_WEIGHTS: tuple[float, float] = (1.0, 3.0)

FORMATS: tuple[str, ...] = ("paper", "healthbench")
_DEFAULT_AGGREGATE = {"paper": "weighted_mean", "healthbench": "healthbench"}
_WEIGHT_KEY = {"paper": "weight", "healthbench": "points"}
# record keys the reader consumes (the rest go to meta["extra"]); the paper code's totals are recomputed on write
# top-level keys of the paper code's container files (rubrics per iteration; scored responses)
_CONTAINER_KEYS = frozenset({"metadata", "rubrics", "results", "scored_responses"})
_RECORD_KEYS = ("prompt", "rubrics", "criteria", "aggregate", "total_criteria", "total_weight")


@dataclass(frozen=True)
class RubricRecord:
    """One prompt and its rubric. ``meta``: ``{"extra": {other record keys}}`` plus ``"prompt_messages"``
    when the file gave the prompt as a chat list."""

    prompt: str
    rubric: Rubric
    meta: dict = field(default_factory=dict, hash=False)


def render_prompt(prompt: Any) -> str:
    """A prompt as text: a string as is; a chat list of ``{"role", "content"}`` as its single user message,
    or as ``"role: content"`` blocks separated by blank lines when there are several messages."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and len(prompt) == 1 and prompt[0].get("role") == "user":
        return prompt[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def _parse_prompt(value: Any) -> tuple[str, list | None]:
    if isinstance(value, str):
        return value, None
    if isinstance(value, list) and value:
        for j, m in enumerate(value):
            if not isinstance(m, dict):
                raise RubricFormatError(f"message {j} is a {type(m).__name__}, not an object", field="prompt")
            for k in ("role", "content"):
                if not isinstance(m.get(k), str):
                    raise RubricFormatError(f"message {j} needs a string {k!r}", field="prompt")
        return render_prompt(value), value
    raise RubricFormatError("must be a string or a non-empty list of {role, content} messages", field="prompt")


def _number(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a float
        return False


def _check_paper_code_totals(rec: dict, items: list, crits: list[Criterion]) -> None:
    """The paper code's records carry ``total_criteria`` and ``total_weight`` next to ``criteria``, and a
    ``local_id`` per criterion: when present they must agree with the criteria (a mismatch means the file was
    edited by hand or truncated, and the totals would silently mislead)."""
    n = rec.get("total_criteria")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n != len(crits)):
        raise RubricFormatError(f"is {n!r} but the record has {len(crits)} criteria", field="total_criteria")
    w = rec.get("total_weight")
    total = sum(c.weight for c in crits)
    if w is not None and (not _number(w) or not math.isclose(w, total, rel_tol=1e-9, abs_tol=1e-9)):
        raise RubricFormatError(f"is {w!r} but the criteria's weights sum to {total:g}", field="total_weight")
    ids = [it.get("local_id") for it in items]
    present = [x for x in ids if x is not None]
    if len(set(map(str, present))) != len(present):
        raise RubricFormatError("local_id values repeat within the record", field="criteria")


def _parse_record(rec: Any, fmt: str) -> RubricRecord:
    if not isinstance(rec, dict):
        raise RubricFormatError(f"a record must be a JSON object, got {type(rec).__name__}")
    if "prompt" not in rec:
        raise RubricFormatError("missing", field="prompt")
    prompt, messages = _parse_prompt(rec["prompt"])
    list_key = "rubrics"
    if "rubrics" not in rec and "criteria" in rec and fmt == "paper":
        list_key = "criteria"  # the paper code's own rubric records (see _check_paper_code_totals)
    if list_key not in rec:
        raise RubricFormatError("missing (give 'rubrics', or the paper code's 'criteria')", field="rubrics")
    items = rec[list_key]
    if not isinstance(items, list) or not items:
        raise RubricFormatError("must be a non-empty list of criteria", field=list_key)
    aggregate = rec.get("aggregate", _DEFAULT_AGGREGATE[fmt])
    if aggregate not in AGGREGATES:
        raise RubricFormatError(f"unknown aggregate {aggregate!r}; expected one of {AGGREGATES}", field="aggregate")
    wkey = _WEIGHT_KEY[fmt]
    crits = []
    for i, it in enumerate(items):
        where = f"{list_key}[{i}]"
        if not isinstance(it, dict):
            raise RubricFormatError(f"must be an object, got {type(it).__name__}", field=where)
        text = it.get("criterion")
        if not isinstance(text, str) or not text.strip():
            raise RubricFormatError("must be a non-empty string", field=f"{where}.criterion")
        if wkey not in it:
            raise RubricFormatError("missing", field=f"{where}.{wkey}")
        w = it[wkey]
        if not _number(w):
            raise RubricFormatError(f"must be a finite number, got {w!r}", field=f"{where}.{wkey}")
        if aggregate == "weighted_mean" and w <= 0:
            raise RubricFormatError(f"must be > 0 for a weighted mean, got {w!r}", field=f"{where}.{wkey}")
        tags = it.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RubricFormatError("must be a list of strings", field=f"{where}.tags")
        check = it.get("check")
        if check is not None:
            if not isinstance(check, dict):
                raise RubricFormatError("must be an object or null", field=f"{where}.check")

            try:
                compile_check(check)
            except CheckSpecError as e:
                raise RubricFormatError(str(e), field=f"{where}.check") from None
        crits.append(Criterion(text, float(w), check, tuple(tags)))
    if list_key == "criteria":
        _check_paper_code_totals(rec, items, crits)
    meta: dict[str, Any] = {"extra": {k: v for k, v in rec.items() if k not in _RECORD_KEYS}}
    if messages is not None:
        meta["prompt_messages"] = messages
    return RubricRecord(prompt, Rubric(tuple(crits), aggregate), meta)


def rubric_warnings(rubric: Rubric, format: str = "paper") -> list[str]:
    """What is suspect about a rubric that reads fine: duplicate criteria (by normalized text), weights outside
    the paper's 1..3 (paper format), no positive points (a ``healthbench`` rubric: every score is null)."""
    out = []
    seen: dict[str, int] = {}
    for i, c in enumerate(rubric.criteria):
        key = normalize_criterion_text(c.text)
        if key in seen:
            out.append(f"criterion {i} duplicates criterion {seen[key]} ({c.text[:40]!r})")
        seen.setdefault(key, i)
    lo, hi = PAPER_WEIGHTS
    if format == "paper":
        bad = [f"{i} ({c.weight:g})" for i, c in enumerate(rubric.criteria) if not lo <= c.weight <= hi]
        if bad:
            out.append(f"weights outside the paper's {lo:g}..{hi:g}: criteria {', '.join(bad)}")
    if rubric.aggregate == "healthbench" and not (rubric.weights > 0).any():
        out.append("no criterion has positive points: every response will score null (reason 'no positive points')")
    return out


def parse_rubric_records(
    records: Any, format: str = "paper", path: str | os.PathLike | None = None, lines: Sequence[int] | None = None
) -> list[RubricRecord]:
    """Records (already-decoded JSON values) -> :class:`RubricRecord` list; errors name path/record/field."""
    if format not in FORMATS:
        raise ValueError(f"unknown rubric format {format!r}; expected one of {FORMATS}")
    if not isinstance(records, list):
        raise RubricFormatError(f"expected a list of records, got {type(records).__name__}", path)
    out = []
    for i, rec in enumerate(records):
        where = i if lines is None else f"{i} (line {lines[i]})"
        try:
            out.append(_parse_record(rec, format))
        except RubricFormatError as e:
            raise RubricFormatError(e.detail, path, where, e.field) from None  # type: ignore[arg-type]
        for w in rubric_warnings(out[-1].rubric, format):
            logger.warning("%s: record %s: %s", path if path is not None else "rubrics", where, w)
    return out


def _json_error(e: BaseException) -> str:
    if isinstance(e, json.JSONDecodeError):
        return e.msg
    return "nested too deeply" if isinstance(e, RecursionError) else str(e)


def _whole_object(text: str) -> dict | None:
    """A file that is one JSON object which is not itself a record (no ``"prompt"``): the paper code's
    container files (``{"metadata", "rubrics": [...]}``, ``{"results": [...]}``). None otherwise (JSONL)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None  # JSONL (several objects), or bad JSON that the JSONL reader reports with its line
    if not isinstance(value, dict) or "prompt" in value or "prompt_index" in value:
        return None  # a one-line JSONL file: a single record
    return value if _CONTAINER_KEYS & value.keys() else None


def unwrap_records(value: Any, key: str, path: str | os.PathLike | None) -> Any:
    """The record list of a container object ``{..., key: [records]}`` (the paper code's files); a list as is."""
    if isinstance(value, dict):
        inner = value.get(key)
        if not isinstance(inner, list):
            raise RubricFormatError(f"a JSON object file needs a list under {key!r} (or give a list / JSONL)", path)
        return inner
    return value


def read_json_records(path: str | os.PathLike) -> tuple[list[Any] | dict, list[int] | None]:
    """Decode a JSON list, a JSONL file, or one JSON object that is not a record (a container: returned as the
    dict, see :func:`unwrap_records`). Returns (records, line numbers or None for a JSON list or object).
    Raises :class:`RubricFormatError` only (unreadable file, bad UTF-8, bad JSON)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise RubricFormatError(f"cannot read: {e.strerror or e}", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RubricFormatError(f"not UTF-8 text (byte {e.start})", path) from None
    whole = _whole_object(text)
    if whole is not None:
        return whole, None
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, or an int over Python's digit limit
            msg = _json_error(e)
            line = f" at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
            raise RubricFormatError(f"invalid JSON{line}: {msg}", path) from None
        return value, None
    records, lines = [], []
    # split on "\n" only: str.splitlines() would also split inside strings holding U+2028, U+0085, ...
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError) as e:  # JSONDecodeError, or an int over Python's digit limit
            msg = _json_error(e)
            raise RubricFormatError(
                f"line {n}: invalid JSON ({msg}); expected a JSON list or one JSON object per line", path, len(records)
            ) from None
        lines.append(n)
    return records, lines


def load_rubrics(path: str | os.PathLike, format: str = "paper") -> list[RubricRecord]:
    """Read a rubric file (paper: JSON list or JSONL; healthbench: JSONL). See the module docstring."""
    if format not in FORMATS:
        raise ValueError(f"unknown rubric format {format!r}; expected one of {FORMATS}")
    records, lines = read_json_records(path)
    records = unwrap_records(records, "rubrics", path)
    if not records and isinstance(records, list):
        raise RubricFormatError("no records", path)
    return parse_rubric_records(records, format, path, lines)


def record_to_json(rec: RubricRecord, format: str = "paper") -> dict[str, Any]:
    """One :class:`RubricRecord` as a record of ``format``; inverse of the reader."""
    if format not in FORMATS:
        raise ValueError(f"unknown rubric format {format!r}; expected one of {FORMATS}")
    wkey = _WEIGHT_KEY[format]
    meta = rec.meta or {}
    out: dict[str, Any] = {"prompt": meta.get("prompt_messages", rec.prompt)}
    items = []
    for c in rec.rubric.criteria:
        w = int(c.weight) if float(c.weight).is_integer() else c.weight
        it: dict[str, Any] = {"criterion": c.text, wkey: w}
        if format == "healthbench" or c.tags:
            it["tags"] = list(c.tags)
        if c.check is not None:
            it["check"] = c.check
        items.append(it)
    out["rubrics"] = items
    if rec.rubric.aggregate != _DEFAULT_AGGREGATE[format]:
        out["aggregate"] = rec.rubric.aggregate
    for k, v in meta.get("extra", {}).items():
        out.setdefault(k, v)
    return out


def save_rubrics(path: str | os.PathLike, records: Sequence[RubricRecord], format: str = "paper") -> Path:
    """Write records atomically: paper -> a JSON list (``.jsonl`` suffix -> JSONL), healthbench -> JSONL.
    Raises :class:`RubricValidationError` for an empty rubric (the readers would reject it)."""
    rows = []
    for i, rec in enumerate(records):
        if len(rec.rubric.criteria) == 0:
            raise RubricValidationError([f"record {i}: rubric has no criteria"])
        rows.append(record_to_json(rec, format))
    if format == "paper" and Path(path).suffix != ".jsonl":
        return atomic_write_text(path, to_json(rows, indent=2, ensure_ascii=False) + "\n")
    return atomic_write_text(path, "".join(to_json(r, ensure_ascii=False) + "\n" for r in rows))
