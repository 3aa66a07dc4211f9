"""Verifiers: (prompt, response, rubric) -> one verdict per criterion, in ONE call per response.

:class:`Verifier` is the protocol every verifier follows (the rule verifier here, the simulated verifier in
``sim``, LLM judges in ``rft``). :class:`RuleVerifier` checks the machine-checkable ``Criterion.check``
specs below; a criterion whose check it cannot use gets UNKNOWN (never NO).

Check specs (a JSON object; every rule key present must hold, then ``"negate": true`` inverts the result):

``{"any": [p, ...]}``                      at least one phrase occurs
``{"all": [p, ...]}``                      every phrase occurs
``{"none": [p, ...]}``                     no phrase occurs (forbidden phrases)
``{"regex": "pattern"}``                   the pattern is found (case-insensitive; Python ``re`` syntax, run by the
                                           ``regex`` package in its ``re``-compatible VERSION0 mode with a
                                           time limit: a search that runs past it, e.g. catastrophic
                                           backtracking on ``(a|aa)+$``, gives UNKNOWN, never NO, and is
                                           counted in ``RuleVerifier.timed_out`` and logged)
``{"min_words": n}`` / ``{"max_words": n}``  word count (whitespace-separated tokens) >= n / <= n
``{"count": {"phrase": p, "min": a, "max": b}}``  number of non-overlapping occurrences of p in [a, b]
                                           (``min``/``max`` optional, at least one given)

Phrases match case-insensitively, as whole words at their ends (``"CT"`` matches "a CT scan", not "fact"),
and any run of whitespace in a phrase matches any run of whitespace in the response.

A check with no rule key (e.g. the rubric world's ``{"property": 3}``) or with a key RuleVerifier does not
know is not usable: every key must hold and an unknown key cannot be checked, so the verdict is UNKNOWN.
A rule key with a malformed value (a bad regex, a non-list ``any``) raises :class:`CheckSpecError` when the
rubric is compiled (the rubric readers report it with file/record/field).

Responses are graded as data: the text of a response is only ever matched against the spec. A response
``None`` (missing) gets UNKNOWN for every criterion; other non-string responses raise ``TypeError``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import regex

from rewards.rubric import NO, UNKNOWN, YES, Rubric

__all__ = [
    "REGEX_TIMEOUT_S",
    "RULE_KEYS",
    "CheckSpecError",
    "RuleVerifier",
    "Verifier",
    "compile_check",
    "verify_with",
]

RULE_KEYS: tuple[str, ...] = ("any", "all", "none", "regex", "min_words", "max_words", "count")
_MODIFIERS = ("negate",)
# Seconds one ``regex`` check may search one response. Real checks take microseconds; a pathological pattern
# would otherwise hang scoring for minutes on a short response.
REGEX_TIMEOUT_S = 1.0

logger = logging.getLogger(__name__)


class CheckSpecError(ValueError):
    """A check spec whose rule keys have malformed values. The message names the key."""


class CheckTimeout(Exception):
    """A check ran past its time limit: its verdict is UNKNOWN (raised by a compiled test, caught by the
    verifier)."""


@runtime_checkable
class Verifier(Protocol):
    """Anything that grades responses against rubrics.

    ``verify(prompt, response, rubric) -> np.ndarray`` int8 of shape (C,), values YES/NO/UNKNOWN, covering
    every criterion in one call. ``verify_many(items) -> list`` of those, one per (prompt, response, rubric)
    item, in order; implementations batch however they like (group by rubric, concurrent HTTP, a cache).
    """

    name: str

    def verify(self, prompt: str, response: Any, rubric: Rubric) -> np.ndarray: ...

    def verify_many(self, items: Sequence[tuple[str, Any, Rubric]]) -> list[np.ndarray]: ...


def verify_with(verifier: Verifier, items: Sequence[tuple[str, Any, Rubric]]) -> list[np.ndarray]:
    """``verifier.verify_many(items)`` with its output checked: one int8 (C,) array per item, codes only.
    Raises ``ValueError`` naming the item when a verifier breaks the protocol."""
    out = verifier.verify_many(items)
    if len(out) != len(items):
        raise ValueError(f"verifier {verifier.name!r} returned {len(out)} verdict arrays for {len(items)} items")
    checked = []
    for k, (v, (_p, _r, rubric)) in enumerate(zip(out, items, strict=True)):
        a = np.asarray(v)
        # codes are -1 (UNKNOWN), 0, 1: a range check, much cheaper per item than np.isin
        if a.shape != (len(rubric.criteria),) or (a.size and ((a < UNKNOWN) | (a > YES) | (a != np.round(a))).any()):
            raise ValueError(f"verifier {verifier.name!r}: item {k}: verdicts {a!r} are not (C,)={len(rubric)} codes")
        checked.append(a.astype(np.int8, copy=False))
    return checked


# --------------------------------------------------------------------------------------------------------------
# compiling check specs

_Test = Callable[["_Text"], bool]


class _Text:
    """A response prepared once for all criteria of a rubric (word count cached)."""

    __slots__ = ("_words", "text")

    def __init__(self, text: str):
        self.text = text
        self._words: int | None = None

    @property
    def words(self) -> int:
        if self._words is None:
            self._words = len(self.text.split())
        return self._words


def _phrase_pattern(phrase: str) -> str:
    parts = [re.escape(p) for p in phrase.split()]
    body = r"\s+".join(parts)
    # whole-word boundaries only where the phrase itself starts/ends with a word character
    left = r"(?<!\w)" if re.match(r"\w", phrase.strip()) else ""
    right = r"(?!\w)" if re.search(r"\w$", phrase.strip()) else ""
    return f"{left}{body}{right}"


def _phrases(spec: Any, key: str) -> list[str]:
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, list) or not spec or not all(isinstance(p, str) and p.strip() for p in spec):
        raise CheckSpecError(f"check {key!r} must be a non-empty list of non-empty strings, got {spec!r}")
    return spec


def _nonneg_int(x: Any, key: str) -> int:
    ok = not isinstance(x, bool) and isinstance(x, int | float)
    try:
        ok = ok and math.isfinite(x) and x >= 0 and x == int(x)
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise CheckSpecError(f"check {key!r} must be a non-negative integer, got {x!r}")
    return int(x)


def _any_test(value: Any) -> _Test:
    rx = re.compile("|".join(_phrase_pattern(p) for p in _phrases(value, "any")), re.IGNORECASE)
    return lambda t: rx.search(t.text) is not None


def _all_test(value: Any) -> _Test:
    rxs = [re.compile(_phrase_pattern(p), re.IGNORECASE) for p in _phrases(value, "all")]
    return lambda t: all(r.search(t.text) is not None for r in rxs)


def _none_test(value: Any) -> _Test:
    rx = re.compile("|".join(_phrase_pattern(p) for p in _phrases(value, "none")), re.IGNORECASE)
    return lambda t: rx.search(t.text) is None


def _regex_test(pat: Any, timeout_s: float = REGEX_TIMEOUT_S) -> _Test:
    if not isinstance(pat, str) or not pat:
        raise CheckSpecError(f"check 'regex' must be a non-empty string, got {pat!r}")
    try:
        re.compile(pat)  # the documented syntax is Python's re: a pattern re rejects is rejected
        rx = regex.compile(pat, regex.IGNORECASE | regex.VERSION0)
    except (re.error, regex.error) as e:
        raise CheckSpecError(f"check 'regex' {pat!r} does not compile: {e}") from None

    def search(t: _Text) -> bool:
        try:
            return rx.search(t.text, timeout=timeout_s) is not None
        except TimeoutError:
            raise CheckTimeout(f"regex {pat[:60]!r} ran past {timeout_s:g} s") from None

    return search


def _min_words_test(value: Any) -> _Test:
    n = _nonneg_int(value, "min_words")
    return lambda t: t.words >= n


def _max_words_test(value: Any) -> _Test:
    n = _nonneg_int(value, "max_words")
    return lambda t: t.words <= n


def _count_test(c: Any) -> _Test:
    if (
        not isinstance(c, dict)
        or "phrase" not in c
        or not (set(c) - {"phrase"}) <= {"min", "max"}
        or not ({"min", "max"} & set(c))
    ):
        raise CheckSpecError(f"check 'count' must be {{'phrase': p, 'min': a, 'max': b}} (min or max), got {c!r}")
    p = c["phrase"]
    if not isinstance(p, str) or not p.strip():
        raise CheckSpecError(f"check 'count.phrase' must be a non-empty string, got {p!r}")
    lo = _nonneg_int(c["min"], "count.min") if "min" in c else 0
    hi = _nonneg_int(c["max"], "count.max") if "max" in c else None
    if hi is not None and hi < lo:
        raise CheckSpecError(f"check 'count' has max {hi} < min {lo}")
    rx = re.compile(_phrase_pattern(p), re.IGNORECASE)

    def count(t: _Text) -> bool:
        k = sum(1 for _ in rx.finditer(t.text))
        return k >= lo and (hi is None or k <= hi)

    return count


# rule key -> builder of its test from the spec's value (validating it)
_RULES: dict[str, Callable[[Any], _Test]] = {
    "any": _any_test,
    "all": _all_test,
    "none": _none_test,
    "regex": _regex_test,
    "min_words": _min_words_test,
    "max_words": _max_words_test,
    "count": _count_test,
}
assert tuple(_RULES) == RULE_KEYS


def compile_check(spec: Any, regex_timeout_s: float = REGEX_TIMEOUT_S) -> _Test | None:
    """Compile a check spec into ``test(text) -> bool``, or None when RuleVerifier cannot use it (no rule
    key, or a key it does not know). Raises :class:`CheckSpecError` on malformed rule values; the test raises
    :class:`CheckTimeout` when a ``regex`` search runs past ``regex_timeout_s`` seconds."""
    if spec is None or not isinstance(spec, dict):
        return None
    keys = set(spec)
    if not keys & set(RULE_KEYS) or keys - set(RULE_KEYS) - set(_MODIFIERS):
        return None
    negate = spec.get("negate", False)
    if not isinstance(negate, bool):
        raise CheckSpecError(f"check 'negate' must be true or false, got {negate!r}")
    # RULE_KEYS order: errors come in that order
    tests = [
        _regex_test(spec[k], regex_timeout_s) if k == "regex" else _RULES[k](spec[k]) for k in RULE_KEYS if k in spec
    ]
    if negate:
        return lambda t: not all(f(t) for f in tests)
    return lambda t: all(f(t) for f in tests)


class RuleVerifier:
    """Grades text responses with the criteria's ``check`` specs (see the module docstring).

    Compiled checks are cached per rubric (rubrics are hashable values), so ``verify_many`` compiles each
    distinct rubric once and prepares each response once for all its criteria. A ``regex`` search that runs
    past ``regex_timeout_s`` seconds gives UNKNOWN for that criterion; ``timed_out`` counts them (cumulative)
    and each call that had some logs one warning.
    """

    name = "rule"

    def __init__(self, cache_size: int = 4096, regex_timeout_s: float = REGEX_TIMEOUT_S):
        if not (isinstance(regex_timeout_s, int | float) and not isinstance(regex_timeout_s, bool)) or not (
            0 < regex_timeout_s < math.inf
        ):
            raise ValueError(f"regex_timeout_s must be a positive number of seconds, got {regex_timeout_s!r}")
        self._cache: dict[Rubric, list[_Test | None]] = {}
        self._cache_size = cache_size
        self.regex_timeout_s = float(regex_timeout_s)
        self.timed_out = 0

    def __getstate__(self) -> dict[str, Any]:
        # The cache holds compiled checks (closures), which do not pickle; the copy rebuilds them on demand,
        # so a RuleVerifier can travel to dataloader workers and other processes (TRL, torchrun).
        return {**self.__dict__, "_cache": {}}

    def compiled(self, rubric: Rubric) -> list[_Test | None]:
        """The compiled tests of ``rubric`` (None where a criterion has no usable check)."""
        tests = self._cache.get(rubric)
        if tests is None:
            tests = []
            for i, c in enumerate(rubric.criteria):
                try:
                    tests.append(compile_check(c.check, self.regex_timeout_s))
                except CheckSpecError as e:
                    raise CheckSpecError(f"criterion {i} ({c.text[:40]!r}): {e}") from None
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[rubric] = tests
        return tests

    def usable(self, rubric: Rubric) -> np.ndarray:
        """(C,) bool: which criteria this verifier can check."""
        return np.array([t is not None for t in self.compiled(rubric)], dtype=bool)

    def _grade(self, tests: list[_Test | None], response: Any, k: int) -> np.ndarray:
        out = np.full(len(tests), UNKNOWN, dtype=np.int8)
        if response is None:
            return out
        if not isinstance(response, str):
            raise TypeError(f"RuleVerifier grades text; item {k} has a {type(response).__name__} response")
        t = _Text(response)
        for i, f in enumerate(tests):
            if f is not None:
                try:
                    out[i] = YES if f(t) else NO
                except CheckTimeout as e:
                    self.timed_out += 1
                    logger.debug("item %d, criterion %d: %s: UNKNOWN", k, i, e)
        return out

    def _warn_timeouts(self, before: int) -> None:
        if self.timed_out > before:
            logger.warning(
                "rule verifier: %d regex check(s) ran past %g s and were graded UNKNOWN (a pathological pattern?)",
                self.timed_out - before,
                self.regex_timeout_s,
            )

    def verify(self, prompt: str, response: Any, rubric: Rubric) -> np.ndarray:
        """(C,) int8 verdicts for one response."""
        before = self.timed_out
        out = self._grade(self.compiled(rubric), response, 0)
        self._warn_timeouts(before)
        return out

    def verify_many(self, items: Sequence[tuple[str, Any, Rubric]]) -> list[np.ndarray]:
        """One (C,) int8 array per item, in order; items are grouped by rubric so each compiles once."""
        out: list[np.ndarray | None] = [None] * len(items)
        before = self.timed_out
        groups: dict[int, list[int]] = {}
        rubrics: dict[int, Rubric] = {}
        for k, (_prompt, _response, rubric) in enumerate(items):
            groups.setdefault(id(rubric), []).append(k)
            rubrics[id(rubric)] = rubric
        for rid, ks in groups.items():
            tests = self.compiled(rubrics[rid])
            for k in ks:
                out[k] = self._grade(tests, items[k][1], k)
        self._warn_timeouts(before)
        return out  # type: ignore[return-value]
