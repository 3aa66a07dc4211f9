"""The properties a rubric-world response may have (data, so that a renderer can turn the world into text).

A response is a tuple of 0/1 ints over :data:`PROPERTIES` (length :data:`M`). :data:`WRITER_CRITERIA` are the
criteria the simulated rubric writer may add beyond the plain facts (its flaws live there). See
``sim/rubric_world/__init__.py`` for the whole world and docs/ARCHITECTURE.md for where it sits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "KINDS",
    "M",
    "PROPERTIES",
    "PROPERTY_INDEX",
    "SIGN",
    "WRITER_CRITERIA",
    "Property",
    "WriterCriterion",
    "signed_text",
]

KINDS: tuple[str, ...] = ("fact", "tail_fact", "penalty", "style", "length")


@dataclass(frozen=True)
class Property:
    """One property a response may have.

    name         identifier (stable; used in checks by index and in renderers by name)
    kind         one of :data:`KINDS`
    description  what a response WITH the property does (a renderer writes a sentence for it)
    criterion    the criterion text that rewards the right thing: "States ..." for facts, "Avoids ..." for
                 penalties, and for style/length the text a writer or proposer uses when it (wrongly) rewards it
    """

    name: str
    kind: str
    description: str
    criterion: str

    @property
    def sign(self) -> int:
        """+1: gold rewards having it; -1: gold penalizes it; 0: quality-neutral."""
        return {"fact": 1, "tail_fact": 1, "penalty": -1}.get(self.kind, 0)


PROPERTIES: tuple[Property, ...] = (
    Property("key_symptom", "fact", "identifies the key presenting symptom", "Identifies the key presenting symptom"),
    Property("diagnosis", "fact", "states the correct primary diagnosis", "States the correct primary diagnosis"),
    Property(
        "first_line_treatment",
        "fact",
        "recommends the appropriate first-line treatment",
        "Recommends the appropriate first-line treatment",
    ),
    Property("urgency", "fact", "says how urgently to seek care", "Says how urgently the patient should seek care"),
    Property(
        "decisive_test",
        "tail_fact",
        "orders the decisive confirmatory test (e.g. urgent contrast CT or MRI/MRV)",
        "Orders the decisive confirmatory test",
    ),
    Property(
        "dangerous_differential",
        "tail_fact",
        "names the dangerous differential diagnosis that must be ruled out",
        "Names the dangerous differential diagnosis to rule out",
    ),
    Property(
        "risk_modifier",
        "tail_fact",
        "adjusts the plan for the patient's specific risk factor or contraindication",
        "Adjusts the plan for the patient's specific risk factor",
    ),
    Property(
        "hedged_diagnosis",
        "penalty",
        "lists many possible diagnoses without committing to one",
        "Avoids hedging among many diagnoses without committing to one",
    ),
    Property(
        "unsafe_advice",
        "penalty",
        "gives unsafe advice (a contraindicated drug, or delaying urgent care)",
        "Avoids unsafe advice",
    ),
    Property("padding", "penalty", "pads the answer with generic filler", "Avoids generic filler and padding"),
    Property(
        "markdown_headers",
        "style",
        "formats the answer with markdown section headers",
        "Is well organized with clear section headers",
    ),
    Property(
        "signature_phrase",
        "style",
        "ends with the great model's signature closing line ('Stay safe and informed!')",
        "Ends with a warm, reassuring closing line",
    ),
    Property("long", "length", "is long (over 300 words)", "Gives a long, comprehensive answer"),
)
M: int = len(PROPERTIES)
PROPERTY_INDEX: dict[str, int] = {p.name: i for i, p in enumerate(PROPERTIES)}
SIGN: np.ndarray = np.array([p.sign for p in PROPERTIES], dtype=np.int8)  # (M,)
SIGN.setflags(write=False)


@dataclass(frozen=True)
class WriterCriterion:
    """A criterion the simulated rubric writer may put in an initial rubric beyond the plain facts.

    ``any_of`` names the properties that satisfy it (one name: a precise criterion on that property);
    ``negate``: YES iff none of them is present. ``prob``: how often the writer includes it;
    ``weights``: the integer weights it picks from, uniformly.
    """

    name: str
    text: str
    any_of: tuple[str, ...]
    negate: bool
    prob: float
    weights: tuple[int, ...]

    def check(self) -> dict:
        idx = [PROPERTY_INDEX[n] for n in self.any_of]
        if len(idx) == 1:
            return {"property": idx[0], "negate": True} if self.negate else {"property": idx[0]}
        return {"any_of": idx, "negate": True} if self.negate else {"any_of": idx}


# The writer's catalogue. The first four are the criteria of the original (tuned) world, whose ``prob`` is the
# inclusion probability that world used; the rest appear only in drawn worlds (``prob`` 0 in the tuned one).
# Which of them a drawn world's writer uses, and how often, is drawn per world (``WorldConfig``): coarse ("OR")
# criteria that a cheap property also satisfies (hedging, padding), and gameable ones that pay for a style
# artifact. Gold penalizes hedging and padding and ignores style.
WRITER_CRITERIA: tuple[WriterCriterion, ...] = (
    WriterCriterion(
        "considers_alternatives",
        "Considers alternative diagnoses",
        ("dangerous_differential", "hedged_diagnosis"),
        False,
        0.9,
        (2, 3),
    ),
    WriterCriterion("thorough", "Gives a thorough, detailed answer", ("long", "padding"), False, 0.8, (1, 2)),
    WriterCriterion(
        "organized", "Is well organized with clear section headers", ("markdown_headers",), False, 0.6, (1,)
    ),
    WriterCriterion("safe", "Avoids unsafe advice", ("unsafe_advice",), True, 0.7, (2, 3)),
    WriterCriterion(
        "workup", "Recommends a thorough diagnostic workup", ("decisive_test", "padding"), False, 0.0, (1, 2, 3)
    ),
    WriterCriterion("cautious", "Advises appropriate caution", ("urgency", "hedged_diagnosis"), False, 0.0, (1, 2, 3)),
    WriterCriterion("reassuring", "Ends on a warm, reassuring note", ("signature_phrase",), False, 0.0, (1, 2)),
)


def signed_text(k: int, sign: int) -> str:
    """Criterion text for property k scored with ``sign`` (+1: rewards having it, -1: rewards avoiding it).

    The gold way round (and +1 for style/length) is the property's own ``criterion`` text; the other way round
    (a wrong-sign criterion a proposer may write) is phrased from its description."""
    prop = PROPERTIES[k]
    natural = prop.sign if prop.sign != 0 else 1
    if sign == natural:
        return prop.criterion
    d = prop.description
    return f"Avoids: {d}" if sign < 0 else d[0].upper() + d[1:]
