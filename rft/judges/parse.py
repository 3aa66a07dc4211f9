"""The judge reply parser, shared by every judge: bounded JSON repair, UNKNOWN (never NO) for what is not said.

- A parsable reply that omits some criteria (or gives a verdict that is neither yes nor no, or contradicts
  itself) leaves exactly those criteria UNKNOWN; the others are kept.
- JSON repair is bounded: strip code fences, take the first balanced JSON value (at most a few candidates),
  drop trailing commas; failing that, salvage complete ``"cN": "yes"|"no"`` pairs from a truncated reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.rubric import NO, UNKNOWN, YES

MAX_REPLY_CHARS = 32_768  # longer replies are cut before parsing (a judge reply is a few hundred characters)
_MAX_CANDIDATES = 8  # start positions tried when looking for the first balanced JSON value
_FENCE_RX = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?\n?(.*?)```", re.IGNORECASE | re.DOTALL)
_PAIR_RX = re.compile(
    r'"\s*((?:c|criterion)?[\s_#-]*\d+)\s*"\s*:\s*("(?:yes|no|true|false)"|true|false)', re.IGNORECASE
)
_KEY_RX = re.compile(r"^\s*(?:c|criterion|crit|id)?[\s_#-]*(\d+)\s*$", re.IGNORECASE)
_YES_WORDS = frozenset({"yes", "y", "true", "met", "pass", "passed", "satisfied", "1"})
_NO_WORDS = frozenset({"no", "n", "false", "not met", "unmet", "fail", "failed", "not satisfied", "0"})
_CONTAINER_KEYS = ("verdicts", "criteria", "results", "grades", "answers", "evaluation")
_ID_KEYS = ("id", "criterion_id", "criterion", "key", "name")
_VALUE_KEYS = ("verdict", "answer", "met", "value", "result", "grade", "satisfied")


def _first_balanced(s: str, start: int = 0) -> tuple[str, int] | None:
    """The first balanced ``{...}`` or ``[...]`` span at or after ``start`` (string-aware), and where it began."""
    i = min((p for p in (s.find("{", start), s.find("[", start)) if p >= 0), default=-1)
    if i < 0:
        return None
    depth, in_str, esc = 0, False, False
    for j in range(i, len(s)):
        ch = s[j]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return s[i : j + 1], i
    return None  # never closes: truncated


def _drop_trailing_commas(s: str) -> str:
    out, in_str, esc = [], False, False
    n = len(s)
    for j, ch in enumerate(s):
        if in_str:
            esc = (ch == "\\") and not esc
            if ch == '"' and not esc:
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == ",":
            k = j + 1
            while k < n and s[k].isspace():
                k += 1
            if k < n and s[k] in "}]":
                continue
        out.append(ch)
    return "".join(out)


def extract_json(text: Any) -> tuple[Any, bool]:
    """``(value, repaired)``: the JSON object or array in a model reply, or ``(None, False)``.

    Tries, in order and within fixed bounds: the whole reply; the first fenced code block; the first balanced
    ``{...}``/``[...]`` span (up to :data:`_MAX_CANDIDATES` start positions), each also with trailing commas
    dropped. ``repaired`` is True when anything but the first step was needed."""
    if not isinstance(text, str):
        return None, False
    s = text[:MAX_REPLY_CHARS].strip()
    try:
        v = json.loads(s)
        if isinstance(v, dict | list):
            return v, False
    except (ValueError, RecursionError):
        pass
    sources = [m.group(1) for m in [_FENCE_RX.search(s)] if m] + [s]
    for src in sources:
        pos = 0
        for _ in range(_MAX_CANDIDATES):
            found = _first_balanced(src, pos)
            if found is None:
                break
            span, begin = found
            for cand in (span, _drop_trailing_commas(span)):
                try:
                    v = json.loads(cand)
                except (ValueError, RecursionError):
                    continue
                if isinstance(v, dict | list):
                    return v, True
            pos = begin + 1
    return None, False


def _verdict_code(value: Any, depth: int = 0) -> int | None:
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, int | float) and value in (0, 1):
        return YES if value == 1 else NO
    if isinstance(value, str):
        w = " ".join(value.strip().strip(".!\"'").lower().replace("_", " ").split())
        if w in _YES_WORDS:
            return YES
        if w in _NO_WORDS:
            return NO
        return None
    if isinstance(value, dict) and depth == 0:
        for k in _VALUE_KEYS:
            if k in value:
                return _verdict_code(value[k], depth + 1)
    return None


def _criterion_index(key: Any, n: int) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        idx = key - 1
    elif isinstance(key, str):
        m = _KEY_RX.match(key)
        if m is None:
            return None
        idx = int(m.group(1)) - 1
    else:
        return None
    return idx if 0 <= idx < n else None


def _pairs(obj: Any, depth: int = 0) -> list[tuple[Any, Any]]:
    if depth > 2:
        return []
    if isinstance(obj, dict):
        for k in _CONTAINER_KEYS:
            if k in obj and isinstance(obj[k], dict | list):
                return _pairs(obj[k], depth + 1)
        return list(obj.items())
    if isinstance(obj, list):
        out = []
        for i, el in enumerate(obj):
            if isinstance(el, dict):
                key = next((el[k] for k in _ID_KEYS if k in el), None)
                val = next((el[k] for k in _VALUE_KEYS if k in el), None)
                if key is not None:
                    out.append((key, val))
            else:  # a positional list: ["yes", "no", ...]
                out.append((i + 1, el))
        return out
    return []


@dataclass(frozen=True)
class ParsedVerdicts:
    """What :func:`parse_verdicts` read from one reply.

    verdicts: (C,) int8, UNKNOWN where the reply gave no usable verdict; ok: at least one verdict was read;
    repaired: JSON repair or pair salvage was needed; n_missing: criteria left UNKNOWN."""

    verdicts: np.ndarray
    ok: bool
    repaired: bool
    n_missing: int


def parse_verdicts(text: Any, n: int) -> ParsedVerdicts:
    """Read verdicts for criteria ``c1..cn`` from a judge reply (see the module docstring for the rules).

    Accepted shapes: ``{"c1": "yes", ...}`` (keys ``c1``/``1``/``criterion 1``; values yes/no, true/false, 1/0,
    met/not met, or an object with a ``verdict`` field), the same under a ``verdicts``/``criteria``/``results``
    key, a list of ``{"id", "verdict"}`` objects, or a positional list. A criterion given two different
    verdicts is UNKNOWN."""
    out = np.full(n, UNKNOWN, dtype=np.int8)
    obj, repaired = extract_json(text)
    if obj is not None:
        pairs = _pairs(obj)
    elif isinstance(text, str):
        # truncated reply: keep only complete quoted pairs (an unfinished value is never guessed)
        pairs = [(m.group(1), json.loads(m.group(2).lower())) for m in _PAIR_RX.finditer(text[:MAX_REPLY_CHARS])]
        repaired = bool(pairs)
    else:
        pairs = []
    seen: dict[int, int] = {}
    conflict: set[int] = set()
    for key, val in pairs:
        idx, code = _criterion_index(key, n), _verdict_code(val)
        if idx is None or code is None:
            continue
        if idx in seen and seen[idx] != code:
            conflict.add(idx)
        seen[idx] = code
    for idx, code in seen.items():
        if idx not in conflict:
            out[idx] = code
    n_known = int((out != UNKNOWN).sum())
    return ParsedVerdicts(out, n_known > 0, repaired, n - n_known)
