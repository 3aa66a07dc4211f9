"""The cases of the triage task: clinical conditions, their phrases, and seeded patients (``make_cases``).

The property names and signs mirror ``sim.rubric_world.PROPERTIES`` (``rft.tasks.triage.build_task`` checks
them against the world, so a change there fails loudly rather than mis-rendering).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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
