"""The triage text task: the rubric world (``sim.rubric_world``) rendered as text.

Prompts are case descriptions (a patient with a condition from :data:`CONDITIONS`, an age, a sex and a risk
factor); a response is a few sentences, one per property it has, each drawn from several paraphrases and
filled in with the case's specifics. Every property has a text check (a ``rewards.verify.RuleVerifier`` spec),
so the world's rubrics, whose criteria carry sim checks (``{"property": k}``, ``{"any_of": [...]}``, with
``"negate"``), become text rubrics with the SAME criteria (text, weight) and a text check in place of the sim
check (:func:`rubric_to_text`). The sim check is kept in a tag (``sim=<json>``) so the translation is
lossless both ways (:func:`rubric_to_sim`), which lets the world's ``SimProposer`` drive
``rewards.refine.refine`` on TEXT pools (:class:`TextProposer`).

Exactness (tested): for a rendered response ``render(case, x)``, :func:`detect` recovers ``x`` exactly, and the
gold text rubric scored by ``RuleVerifier`` equals ``RubricWorld.gold(x)``.

On disk (``build_task``): ``task.json`` (world config, cases, and per case the rubrics ``initial``, ``gold``
and ``refined:<pool mode>``, plus the base model's inclusion probabilities), ``corpus.jsonl`` (base-model
responses rendered as text: the tiny LM's pretraining corpus, so its output distribution is the base
policy), ``refine-<mode>.jsonl`` (the refinement logs, resumable) and ``bt-{on,off,both}.json``
(Bradley-Terry proxies from ``sim.bt``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewards.formats import load_rubrics
from rewards.io import read_jsonl, write_json, write_jsonl
from rewards.rubric import Criterion, Rubric
from rewards.verify import RuleVerifier

__all__ = [
    "CONDITIONS",
    "Case",
    "Condition",
    "PromptBT",
    "Task",
    "TaskRecord",
    "TextProposer",
    "TriageConfig",
    "build_task",
    "detect",
    "featurize",
    "load_task",
    "make_cases",
    "property_check",
    "render",
    "rubric_to_sim",
    "rubric_to_text",
]

# Property names of sim.rubric_world.PROPERTIES, in order (checked against the world at import time of
# build_task, so a change there fails loudly rather than mis-rendering).
PROPERTY_NAMES: tuple[str, ...] = (
    "key_symptom",
    "diagnosis",
    "first_line_treatment",
    "urgency",
    "decisive_test",
    "dangerous_differential",
    "risk_modifier",
    "hedged_diagnosis",
    "unsafe_advice",
    "padding",
    "markdown_headers",
    "signature_phrase",
    "long",
)
M = len(PROPERTY_NAMES)
SIGN = np.array([1, 1, 1, 1, 1, 1, 1, -1, -1, -1, 0, 0, 0], dtype=np.int8)


@dataclass(frozen=True)
class Condition:
    """A clinical scenario. Every phrase is specific to it; no phrase of one field occurs in another field of
    the same condition (tested), so each property's check fires only on its own sentence."""

    name: str
    symptom: str
    diagnosis: str
    treatment: str
    urgency: str
    test: str
    differential: str
    risk: str
    modification: str
    unsafe: str
    distractors: tuple[str, str, str]
    sex: str | None = None  # set when the risk factor implies it
    max_age: int = 80  # exclusive; lower for pregnancy-related risk factors


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "cvst",
        "severe headache",
        "cerebral venous sinus thrombosis",
        "anticoagulation with heparin",
        "in the emergency department now",
        "urgent MRI with venography",
        "subarachnoid hemorrhage",
        "oral contraceptive use",
        "stop the oral contraceptive",
        "take aspirin and sleep it off",
        ("tension headache", "sinusitis", "eye strain"),
        "woman",
        45,
    ),
    Condition(
        "pe",
        "sudden shortness of breath",
        "pulmonary embolism",
        "anticoagulation with apixaban",
        "in the emergency department now",
        "CT pulmonary angiography",
        "acute coronary syndrome",
        "recent long flight",
        "add compression stockings",
        "use an inhaler and wait a week",
        ("anxiety", "asthma", "a chest cold"),
    ),
    Condition(
        "appendicitis",
        "right lower abdominal pain",
        "acute appendicitis",
        "surgical removal of the appendix",
        "within a few hours",
        "CT scan of the abdomen",
        "ectopic pregnancy",
        "possible pregnancy",
        "check a pregnancy test first",
        "eat light meals and use a heating pad",
        ("gas pain", "constipation", "food poisoning"),
        "woman",
        45,
    ),
    Condition(
        "pneumonia",
        "productive cough with fever",
        "community acquired pneumonia",
        "oral amoxicillin",
        "within one day",
        "chest x-ray",
        "pulmonary tuberculosis",
        "penicillin allergy",
        "use doxycycline instead",
        "finish old leftover pills from a friend",
        ("bronchitis", "a viral cold", "allergies"),
    ),
    Condition(
        "pyelo",
        "flank pain with burning urination",
        "acute pyelonephritis",
        "oral ciprofloxacin",
        "within one day",
        "urine culture",
        "kidney stone with obstruction",
        "current pregnancy",
        "give ceftriaxone instead",
        "drink cranberry juice only",
        ("muscle strain", "bladder irritation", "dehydration"),
        "woman",
        45,
    ),
    Condition(
        "dka",
        "vomiting with extreme thirst",
        "diabetic ketoacidosis",
        "intravenous fluids and insulin",
        "in the emergency department now",
        "blood ketone and blood gas test",
        "severe sepsis",
        "SGLT2 inhibitor use",
        "stop the SGLT2 inhibitor",
        "skip insulin until eating again",
        ("stomach flu", "gastritis", "a migraine"),
    ),
    Condition(
        "gca",
        "new temple pain with jaw pain",
        "giant cell arteritis",
        "high dose prednisone",
        "within a few hours",
        "temporal artery biopsy",
        "transient ischemic attack",
        "type 2 diabetes",
        "monitor blood sugar on steroids",
        "wait a month before any treatment",
        ("dental pain", "jaw arthritis", "trigeminal neuralgia"),
    ),
    Condition(
        "meningitis",
        "fever with stiff neck",
        "bacterial meningitis",
        "intravenous ceftriaxone",
        "in the emergency department now",
        "lumbar puncture",
        "brain abscess",
        "kidney disease",
        "adjust the antibiotic dose for kidney function",
        "take ibuprofen and rest for two days",
        ("neck strain", "influenza", "a sinus infection"),
    ),
)

# Fixed marker phrases of the properties that do not depend on the case (each paraphrase contains one).
HEDGE_MARKERS = ("hard to say", "many possibilities", "cannot be sure which")
PADDING_MARKERS = ("everyone is different", "take care of yourself", "many factors can play a role")
LONG_MARKERS = ("to elaborate", "in more detail", "expanding on this")
SIGNATURE = "Stay safe and informed!"
HEADER_REGEX = r"(?m)^## \w"


@dataclass(frozen=True)
class Case:
    """One prompt: a world prompt index with its condition and patient details. ``prompt`` is the user turn."""

    case_id: int
    condition: str
    age: int
    sex: str
    prompt: str

    @property
    def cond(self) -> Condition:
        return _COND[self.condition]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Case:
        return cls(int(d["case_id"]), d["condition"], int(d["age"]), d["sex"], d["prompt"])


_COND = {c.name: c for c in CONDITIONS}


def make_cases(n: int, seed: int) -> list[Case]:
    """``n`` cases; case p has condition ``p % len(CONDITIONS)`` and a seeded age and sex."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n):
        c = CONDITIONS[p % len(CONDITIONS)]
        age = 22 + int(rng.integers(0, 58)) % (c.max_age - 22)
        u = rng.random()  # drawn for every case: the same seed gives the same ages whatever the conditions
        sex = c.sex or ("woman" if u < 0.5 else "man")
        prompt = (
            f"Case {p:03d}. A {age}-year-old {sex} with {c.risk} reports {c.symptom}. What is your assessment and plan?"
        )
        out.append(Case(p, c.name, age, sex, prompt))
    return out


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


# ------------------------------------------------------------------------------------------------ the task
@dataclass(frozen=True)
class TriageConfig:
    """How ``chase rft build-task`` builds the task.

    seed: world key and every sampling seed; n_prompts: cases (world prompts); n_eval: held-out cases (the
    last ones; their conditions all appear in training too); corpus_per_case: base-model responses per case in
    the pretraining corpus; refine_modes: pool modes (rewards.refine.POOL_MODES) to build refined rubrics for;
    bt_pairs: response pairs per case and kind to fit the Bradley-Terry proxies on (sim.bt).
    """

    seed: int = 0
    n_prompts: int = 64
    n_eval: int = 16
    corpus_per_case: int = 200
    refine_modes: tuple[str, ...] = ("1-great-pair", "4-great-diverse-pairs")
    bt_pairs: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.n_eval < self.n_prompts:
            raise ValueError(f"TriageConfig: need 0 < n_eval ({self.n_eval}) < n_prompts ({self.n_prompts})")


@dataclass
class TaskRecord:
    """One prompt of the task: its case, split ('train' / 'eval') and rubrics by key."""

    case: Case
    split: str
    rubrics: dict[str, Rubric]
    base_probs: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "case": self.case.to_dict(),
            "split": self.split,
            "base_probs": self.base_probs,
            "rubrics": {k: r.to_dict() for k, r in self.rubrics.items()},
        }

    @classmethod
    def from_json(cls, d: dict) -> TaskRecord:
        return cls(
            Case.from_dict(d["case"]),
            d["split"],
            {k: Rubric.from_dict(v) for k, v in d["rubrics"].items()},
            list(d.get("base_probs", [])),
        )


class Task:
    """A built triage task (see :func:`build_task`); ``path`` is its directory."""

    def __init__(self, path: str | Path, records: list[TaskRecord], meta: dict):
        self.path = Path(path)
        self.records = records
        self.meta = meta

    @property
    def rubric_keys(self) -> list[str]:
        return list(self.records[0].rubrics)

    def split(self, split: str) -> list[TaskRecord]:
        out = [r for r in self.records if r.split == split]
        if not out:
            raise ValueError(f"task {self.path}: no records in split {split!r}")
        return out

    def rows(self, split: str, rubric_key: str, prompt_format: str = "conversational", n: int | None = None):
        """Dataset rows (dicts): prompt (chat messages; 'standard' callers render them), rubric (proxy JSON),
        gold_rubric (JSON), case (JSON), case_id."""
        from rft.reward import rubric_to_column

        recs = self.split(split)[: n or None]
        out = []
        for r in recs:
            if rubric_key not in r.rubrics:
                raise KeyError(
                    f"task {self.path}: case {r.case.case_id} has no rubric {rubric_key!r} (have {sorted(r.rubrics)})"
                )
            out.append(
                {
                    "prompt": [{"role": "user", "content": r.case.prompt}],
                    "rubric": rubric_to_column(r.rubrics[rubric_key]),
                    "gold_rubric": rubric_to_column(r.rubrics["gold"]),
                    "case": json.dumps(r.case.to_dict()),
                    "case_id": r.case.case_id,
                }
            )
        return out

    def dataset(self, split: str, rubric_key: str, prompt_format: str = "conversational", n: int | None = None):
        from datasets import Dataset

        return Dataset.from_list(self.rows(split, rubric_key, prompt_format, n))

    def add_rubric_file(self, path: str | Path) -> str:
        """Load a paper-format rubric file (prompts = case prompts) as rubric key ``file:<name>``; criteria
        must carry text checks (as this task writes them)."""
        recs = load_rubrics(path, format="paper")
        by_prompt = {r.prompt: r.rubric for r in recs}
        key = f"file:{Path(path).name}"
        for r in self.records:
            if r.case.prompt in by_prompt:
                r.rubrics[key] = by_prompt[r.case.prompt]
        missing = [r.case.case_id for r in self.records if key not in r.rubrics]
        if missing:
            raise ValueError(f"{path}: no rubric for cases {missing[:10]}{'...' if len(missing) > 10 else ''}")
        return key

    def corpus(self) -> tuple[list[list[dict]], list[str]]:
        """(prompt messages, completion texts) of the base-model corpus."""
        rows = read_jsonl(self.path / "corpus.jsonl")
        if not rows:
            raise FileNotFoundError(f"{self.path / 'corpus.jsonl'}: missing or empty (run chase rft build-task)")
        return [[{"role": "user", "content": r["prompt"]}] for r in rows], [r["completion"] for r in rows]

    def bt_model(self, kind: str = "on") -> PromptBT:
        """The Bradley-Terry proxy fitted on ``kind`` pairs (sim.bt.PAIR_KINDS: on / off / both)."""
        return PromptBT.load(self.path / f"bt-{kind}.json")


def load_task(path: str | Path) -> Task:
    path = Path(path)
    f = path / "task.json"
    if not f.exists():
        raise FileNotFoundError(f"{f}: no triage task here (build one with: chase rft build-task --out {path})")
    d = json.loads(f.read_text())
    try:
        records = [TaskRecord.from_json(r) for r in d["records"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{f}: malformed task record ({e})") from None
    return Task(path, records, d.get("meta", {}))


# ------------------------------------------------------------------------------------------------ Bradley-Terry
@dataclass
class PromptBT:
    """A fitted Bradley-Terry reward model of the rubric world (``sim.bt``): per-prompt weights ``w`` (P, M) on
    the response properties; the score of a completion is ``w[case_id] . detect(case, text)``. JSON on disk."""

    w: np.ndarray
    kind: str = ""

    def score(self, X: np.ndarray, cases: Sequence[dict]) -> np.ndarray:
        """X (N, M) features, cases (N,) case dicts (their ``case_id`` picks the row of ``w``) -> (N,)."""
        ids = np.array([int(c["case_id"]) for c in cases])
        return (np.asarray(X, dtype=np.float64) * self.w[ids]).sum(-1)

    def save(self, path: str | Path) -> None:
        write_json(path, {"kind": self.kind, "features": list(PROPERTY_NAMES), "w": self.w.tolist()})

    @classmethod
    def load(cls, path: str | Path) -> PromptBT:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no Bradley-Terry model (build the task with chase rft build-task)")
        d = json.loads(p.read_text())
        return cls(np.asarray(d["w"], dtype=np.float64), d.get("kind", ""))


# ------------------------------------------------------------------------------------------------ building
def build_task(cfg: TriageConfig, out_dir: str | Path, progress: bool = True) -> Task:
    """Draw the world, render cases, translate rubrics, refine them on text pools, write the corpus and a BT
    proxy. Resumable: refinement logs are replayed; finished files are rebuilt identically (same seed)."""
    import jax
    from tqdm.auto import tqdm

    from rewards.refine import RefineConfig, refine
    from sim import rubric_world as rw

    names = tuple(p.name for p in rw.PROPERTIES)
    if names != PROPERTY_NAMES or tuple(rw.SIGN.tolist()) != tuple(SIGN.tolist()):
        raise RuntimeError(f"sim.rubric_world properties changed: {names}; update rft/tasks/triage.py")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(cfg.seed)
    k_world, k_corpus, k_pools, k_bt = jax.random.split(key, 4)
    world = rw.make_world(k_world, rw.WorldConfig(n_prompts=cfg.n_prompts))
    cases = make_cases(cfg.n_prompts, cfg.seed)
    base = world.probs("base")
    records = []
    for p, case in enumerate(cases):
        split = "eval" if p >= cfg.n_prompts - cfg.n_eval else "train"
        rubs = {
            "initial": rubric_to_text(world.initial_rubrics[p], case),
            "gold": rubric_to_text(world.gold_rubrics[p], case),
        }
        records.append(TaskRecord(case, split, rubs, [round(float(v), 6) for v in base[p]]))

    verifier = RuleVerifier()
    proposer = TextProposer(rw.SimProposer(world), world, cases)
    prompts = [c.prompt for c in cases]
    refine_stats = {}
    for mi, mode in enumerate(cfg.refine_modes):
        props = rw.sample_pool(world, mode, jax.random.fold_in(k_pools, mi))
        rng = np.random.default_rng([cfg.seed, 17, mi])
        pools = [[render(cases[p], props[p, j], rng) for j in range(props.shape[1])] for p in range(cfg.n_prompts)]
        res = refine(
            prompts,
            [r.rubrics["initial"] for r in records],
            pools,
            verifier,
            proposer,
            RefineConfig.from_pool_mode(mode),
            log_path=out / f"refine-{mode}.jsonl",
        )
        for r, new in zip(records, res.rubrics, strict=True):
            r.rubrics[f"refined:{mode}"] = new
        refine_stats[mode] = res.status_counts()

    # pretraining corpus: base-model responses rendered as text
    x = world.sample("base", k_corpus, cfg.corpus_per_case)  # (P, n, M)
    rng = np.random.default_rng([cfg.seed, 23])
    rows = []
    for p in tqdm(range(cfg.n_prompts), desc="render corpus", disable=not progress):
        for j in range(cfg.corpus_per_case):
            rows.append(
                {
                    "case_id": p,
                    "prompt": cases[p].prompt,
                    "completion": render(cases[p], x[p, j], rng),
                    "properties": x[p, j].tolist(),
                }
            )
    order = np.random.default_rng([cfg.seed, 29]).permutation(len(rows))
    write_jsonl(out / "corpus.jsonl", [rows[i] for i in order])

    # Bradley-Terry proxies (sim.bt) on on-policy, off-policy-great and both kinds of pairs: the paper's
    # Table 6 conditions. Perfect perception: the text featurizer (detect) reads properties exactly, so the
    # model is trained on exactly what it will see when scoring the policy's text.
    from sim.bt import PAIR_KINDS, BTConfig, bt_pairs, fit_bt

    bt_cfg = BTConfig.perfect_perception(pairs_per_prompt=cfg.bt_pairs)
    for i, kind in enumerate(PAIR_KINDS):
        w = fit_bt(bt_pairs(world, jax.random.fold_in(k_bt, i), kind, bt_cfg), cfg.n_prompts, bt_cfg)
        PromptBT(np.asarray(w, dtype=np.float64), kind).save(out / f"bt-{kind}.json")

    meta = {
        "config": asdict(cfg),
        "world_config": asdict(world.config),
        "property_names": list(PROPERTY_NAMES),
        "refine_status": refine_stats,
        "n_corpus": len(rows),
    }
    write_json(out / "task.json", {"meta": meta, "records": [r.to_json() for r in records]})
    return Task(out, records, meta)
