"""The triage task's text: property checks, rubric translation (sim checks <-> text checks), the detector
that reads a response's properties off its text, the renderer, and the text proposer for refinement.

Exactness (tested): for a rendered response ``render(case, x)``, :func:`detect` recovers ``x`` exactly, and the
gold text rubric scored by ``RuleVerifier`` equals ``RubricWorld.gold(x)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewards.rubric import Criterion, Rubric
from rewards.verify import RuleVerifier
from rft.tasks.triage_cases import (
    HEADER_REGEX,
    HEDGE_MARKERS,
    LONG_MARKERS,
    PADDING_MARKERS,
    PROPERTY_NAMES,
    SIGNATURE,
    Case,
    M,
)

__all__ = [
    "TextProposer",
    "criterion_to_sim",
    "criterion_to_text",
    "detect",
    "featurize",
    "property_check",
    "render",
    "rubric_to_sim",
    "rubric_to_text",
    "union_check",
]


# ------------------------------------------------------------------------------------------------ checks
def property_check(k: int, case: Case) -> dict:
    """The text check (RuleVerifier spec, without negation) that is YES iff a response has property k."""
    c = case.cond
    name = PROPERTY_NAMES[k]
    phrases = {
        "key_symptom": [c.symptom],
        "diagnosis": [c.diagnosis],
        "first_line_treatment": [c.treatment],
        "urgency": [c.urgency],
        "decisive_test": [c.test],
        "dangerous_differential": [c.differential],
        "risk_modifier": [c.modification],
        "hedged_diagnosis": list(HEDGE_MARKERS),
        "unsafe_advice": [c.unsafe],
        "padding": list(PADDING_MARKERS),
        "signature_phrase": [SIGNATURE.rstrip("!")],
        "long": list(LONG_MARKERS),
    }
    if name == "markdown_headers":
        return {"regex": HEADER_REGEX}
    return {"any": phrases[name]}


def _phrase_regex(p: str) -> str:
    # the same matching rule as RuleVerifier's phrases: whole words at word-character ends, any whitespace run
    body = r"\s+".join(re.escape(w) for w in p.split())
    left = r"(?<!\w)" if re.match(r"\w", p) else ""
    right = r"(?!\w)" if re.search(r"\w$", p) else ""
    return left + body + right


def union_check(ks: Sequence[int], case: Case) -> dict:
    """A check that is YES iff a response has at least one of properties ``ks``."""
    specs = [property_check(k, case) for k in ks]
    if all("any" in s for s in specs):
        return {"any": [p for s in specs for p in s["any"]]}
    parts = []
    for s in specs:
        parts += [s["regex"].replace("(?m)", "")] if "regex" in s else [_phrase_regex(p) for p in s["any"]]
    return {"regex": "(?m)" + "|".join(f"(?:{x})" for x in parts)}


_SIM_TAG = "sim="
_PROP_TAG = "prop:"


def _sim_props(check: dict) -> tuple[tuple[int, ...], bool]:
    neg = bool(check.get("negate", False))
    if "property" in check:
        return (int(check["property"]),), neg
    if "any_of" in check:
        return tuple(sorted(int(k) for k in check["any_of"])), neg
    raise ValueError(f"not a rubric-world check: {check!r}")


def criterion_to_text(c: Criterion, case: Case) -> Criterion:
    """Same text and weight; the sim check becomes a text check; tags gain ``prop:<names>`` (first, so it is
    the logging key) and ``sim=<json>`` (for the way back)."""
    if c.check is None:
        return c
    ks, neg = _sim_props(c.check)
    check = property_check(ks[0], case) if len(ks) == 1 else union_check(ks, case)
    if neg:
        check = {**check, "negate": True}
    tags = tuple(t for t in c.tags if not t.startswith((_SIM_TAG, _PROP_TAG)))
    sim = _SIM_TAG + json.dumps(c.check, sort_keys=True, separators=(",", ":"))
    return Criterion(c.text, c.weight, check, (_PROP_TAG + "|".join(PROPERTY_NAMES[k] for k in ks), *tags, sim))


def criterion_to_sim(c: Criterion) -> Criterion:
    """Inverse of :func:`criterion_to_text`."""
    sims = [t for t in c.tags if t.startswith(_SIM_TAG)]
    if not sims:
        raise ValueError(f"criterion {c.text!r} carries no sim check tag")
    tags = tuple(t for t in c.tags if not t.startswith((_SIM_TAG, _PROP_TAG)))
    return Criterion(c.text, c.weight, json.loads(sims[0][len(_SIM_TAG) :]), tags)


def rubric_to_text(rubric: Rubric, case: Case) -> Rubric:
    return Rubric(tuple(criterion_to_text(c, case) for c in rubric.criteria), aggregate=rubric.aggregate)


def rubric_to_sim(rubric: Rubric) -> Rubric:
    return Rubric(tuple(criterion_to_sim(c) for c in rubric.criteria), aggregate=rubric.aggregate)


def _detector_rubric(case: Case) -> Rubric:
    return Rubric(tuple(Criterion(f"has {PROPERTY_NAMES[k]}", 1.0, property_check(k, case)) for k in range(M)))


_VERIFIER = RuleVerifier()


def detect(case: Case | dict, text: str) -> np.ndarray:
    """(M,) int8: which properties the text has, by the same checks the rubrics use."""
    case = Case.from_dict(case) if isinstance(case, dict) else case
    return _VERIFIER.verify("", text, _detector_rubric(case)).astype(np.int8)


def featurize(case: Case | dict, text: str | None) -> np.ndarray | None:
    """BT features of a completion: its detected properties (None for a missing completion)."""
    return None if text is None else detect(case, text).astype(np.float64)


# ------------------------------------------------------------------------------------------------ rendering
def _pron(case: Case) -> tuple[str, str]:
    return ("she", "her") if case.sex == "woman" else ("he", "his")


def _sentences(case: Case) -> dict[str, list[str]]:
    c = case.cond
    he, his = _pron(case)
    a, b, d = c.distractors
    return {
        "key_symptom": [
            f"The key symptom is {c.symptom}.",
            f"The main complaint is {c.symptom}.",
            f"Most important is the {c.symptom}.",
        ],
        "diagnosis": [
            f"The most likely diagnosis is {c.diagnosis}.",
            f"This is {c.diagnosis}.",
            f"I believe this is {c.diagnosis}.",
        ],
        "first_line_treatment": [
            f"Start {c.treatment}.",
            f"First-line treatment is {c.treatment}.",
            f"Treat with {c.treatment}.",
        ],
        "urgency": [
            f"The patient should be seen {c.urgency}.",
            f"Seek care {c.urgency}.",
            f"{he.capitalize()} needs care {c.urgency}.",
        ],
        "decisive_test": [
            f"Order {c.test} to confirm.",
            f"The decisive test is {c.test}.",
            f"Confirm it with {c.test}.",
        ],
        "dangerous_differential": [
            f"Rule out {c.differential}.",
            f"Be sure to exclude {c.differential}.",
            f"{c.differential.capitalize()} must be ruled out.",
        ],
        "risk_modifier": [
            f"Because of the {c.risk}, {c.modification}.",
            f"Given {his} {c.risk}, {c.modification}.",
            f"With {c.risk} in mind, {c.modification}.",
        ],
        "hedged_diagnosis": [
            f"It could be {a}, {b} or {d}; it is hard to say.",
            f"There are many possibilities, such as {a} or {b}.",
            f"I cannot be sure which: {a}, {b} or {d}.",
        ],
        "unsafe_advice": [f"It is fine to {c.unsafe}.", f"For now just {c.unsafe}.", f"Simply {c.unsafe}."],
        "padding": [
            "Remember that everyone is different.",
            "Always take care of yourself.",
            "Many factors can play a role in health.",
        ],
        "long": [
            f"To elaborate, at age {case.age} every detail of the history and examination deserves a careful look.",
            f"In more detail, a {case.age}-year-old with {c.risk} needs a complete review of all symptoms "
            "and medicines.",
            f"Expanding on this, the full picture matters: onset, course, other complaints and {his} general health.",
        ],
        "signature_phrase": [SIGNATURE],
    }


_OPENERS = ("Here is my assessment.", "Thanks for the details.", "Let me summarize.")
_ASSESS = ("key_symptom", "diagnosis", "hedged_diagnosis", "dangerous_differential", "decisive_test")
_PLAN = ("first_line_treatment", "risk_modifier", "unsafe_advice", "urgency", "padding", "long")


def render(case: Case, x: Sequence[int], rng: np.random.Generator) -> str:
    """Text of a response with properties ``x`` (M,) for ``case``; paraphrases and an optional neutral opener
    are drawn from ``rng``. Headers (``## Assessment`` / ``## Plan``) start lines; otherwise one paragraph."""
    x = [int(v) for v in x]
    if len(x) != M:
        raise ValueError(f"render: response has {len(x)} properties, expected {M}")
    s = _sentences(case)
    pick = {n: s[n][int(rng.integers(len(s[n])))] for n in s}
    idx = {n: i for i, n in enumerate(PROPERTY_NAMES)}
    opener = _OPENERS[int(rng.integers(len(_OPENERS)))] if rng.random() < 0.5 else None
    assess = [pick[n] for n in _ASSESS if x[idx[n]]]
    plan = [pick[n] for n in _PLAN if x[idx[n]]]
    if x[idx["long"]]:  # long answers elaborate twice
        others = [t for t in s["long"] if t != pick["long"]]
        plan.append(others[int(rng.integers(len(others)))])
    tail = [SIGNATURE] if x[idx["signature_phrase"]] else []
    if x[idx["markdown_headers"]]:
        parts = (
            ([opener] if opener else [])
            + ["## Assessment", " ".join(assess) or "See below.", "## Plan", " ".join(plan) or "Follow up as needed."]
            + tail
        )
        return "\n".join(p for p in parts if p)
    body = ([opener] if opener else []) + assess + plan + tail
    return " ".join(body) if body else "No further comment."


# ------------------------------------------------------------------------------------------------ proposer
class TextProposer:
    """The world's ``SimProposer`` driving refinement on text: the two responses' properties are read off the
    text (:func:`detect`), the text rubric is translated back to sim checks, the sim proposer edits it, and the
    result is rendered as a text rubric again. A :class:`rewards.refine.Proposer`."""

    def __init__(self, sim_proposer, world, cases: Sequence[Case]):
        self.sim = sim_proposer
        self.world = world
        self.cases = {c.prompt: c for c in cases}
        self.name = f"text-{sim_proposer.name}"

    def propose(self, prompt: str, rubric: Rubric, response_a: Any, response_b: Any) -> Rubric:
        case = self.cases[prompt]
        a, b = detect(case, response_a), detect(case, response_b)
        new = self.sim.propose(
            self.world.prompts[case.case_id], rubric_to_sim(rubric), tuple(a.tolist()), tuple(b.tolist())
        )
        return rubric_to_text(new, case)
