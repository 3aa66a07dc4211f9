"""The rubric world (DESIGN.md world 2): responses as sets of properties, a hidden gold rubric, generator
models of different skill and style, a simulated rubric writer, verifier and proposer.

A *response* is a tuple of 0/1 ints over :data:`PROPERTIES` (length M = 13): which facts it states, which
tail facts (what separates a great answer from a good one), which penalties it commits, which quality-
neutral style artifacts it carries and whether it is long. Everything that describes the properties is
data (:class:`Property`, :data:`WRITER_CRITERIA`) so that a renderer (rft/tasks/triage.py) can turn the same
world into text.

Gold. Each prompt p has gold importances ``gold_weights[p, k]`` (0 for style and length). The gold rubric
is a :class:`rewards.Rubric` with one criterion per fact/tail fact (``check={"property": k}``) and one
"avoids ..." criterion per penalty (``check={"property": k, "negate": True}``); the gold reward of a
response is that rubric's weighted mean under perfect verification (:meth:`RubricWorld.gold`).

Check specs used by the simulated verifier (a contract for renderers):

``{"property": k}``                 YES iff the response has property k
``{"property": k, "negate": True}`` YES iff it does NOT have property k ("avoids ...")
``{"any_of": [k1, k2, ...]}``       YES iff it has at least one of them (a *coarse* criterion, e.g. "considers
                                    alternative diagnoses" is met by naming the dangerous differential OR by
                                    hedging; "thorough" is met by a long answer OR by padding)

The initial rubric (:func:`write_initial_rubric`, the simulated rubric writer) covers what the prompt makes
obvious: most common facts with noisy weights, the obvious safety penalty, and -- this is where top-tail
errors come from -- coarse criteria that pay for hedging and padding and a criterion paying for a style
artifact. It almost never names a tail fact.

Generators (:data:`BASE_PROFILES`, :func:`diverse_profiles`) are per-property inclusion probabilities per
prompt; sampled properties are independent given (model, prompt). The "great" model has a signature style
(markdown headers + a signature closing phrase) and a blind spot (one tail fact it rarely states); the
diverse strong models differ in which tail facts they know and in style.

:class:`SimVerifier` checks criteria with per-criterion false-positive / false-negative rates; its noise is
a deterministic function of (seed, prompt, response, criterion) through a counter-based hash, so one
response always gets the same verdicts (as a cached LLM judge would) and refinement runs resume exactly.
:class:`SimProposer` is a :class:`rewards.refine.Proposer`: it compares the two responses' properties, can
only notice properties in which they DIFFER, and edits the rubric (add, split/tighten, reweight, remove);
with a small probability it misjudges which response is better. It plugs into :func:`rewards.refine.refine`.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from rewards.rubric import NO, UNKNOWN, YES, Criterion, Rubric, stable_hash

__all__ = [
    "KINDS",
    "PROPERTIES",
    "PROPERTY_INDEX",
    "M",
    "SIGN",
    "WRITER_CRITERIA",
    "BASE_PROFILES",
    "Property",
    "WriterCriterion",
    "ModelProfile",
    "WorldConfig",
    "RubricWorld",
    "Halo",
    "VerifierConfig",
    "SimVerifier",
    "ProposerConfig",
    "SimProposer",
    "CriteriaArrays",
    "criterion_props",
    "criteria_arrays",
    "diverse_profiles",
    "make_world",
    "write_initial_rubric",
    "gold_rubric",
    "precise_criterion",
    "response_codes",
    "key_rng",
]

KINDS: tuple[str, ...] = ("fact", "tail_fact", "penalty", "style", "length")


# ------------------------------------------------------------------------------------------------ properties
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
_KIND_OF = np.array([KINDS.index(p.kind) for p in PROPERTIES])


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


# The writer's flaws live here: two coarse criteria that a policy can satisfy the cheap way (hedging,
# padding) and one that pays for a style artifact. Gold penalizes hedging and padding and ignores style.
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
)


# ------------------------------------------------------------------------------------------------ generators
@dataclass(frozen=True)
class ModelProfile:
    """A generator "model": mean inclusion probability per property (M,), before per-prompt variation."""

    name: str
    probs: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.probs) != M:
            raise ValueError(f"ModelProfile {self.name!r}: {len(self.probs)} probabilities, expected {M}")
        if not all(0.0 < p < 1.0 for p in self.probs):
            raise ValueError(f"ModelProfile {self.name!r}: probabilities must lie in (0, 1): {self.probs}")


def _profile(name: str, **kw: float) -> ModelProfile:
    missing = set(PROPERTY_INDEX) - set(kw)
    if missing:
        raise ValueError(f"profile {name!r} misses {sorted(missing)}")
    return ModelProfile(name, tuple(float(kw[p.name]) for p in PROPERTIES))


# Order of keywords = PROPERTIES order. The base model knows some common facts, rarely a tail fact, and
# sometimes hedges, pads or is unsafe. "great" knows two tail facts well but has a blind spot
# (risk_modifier) and a strong house style (headers + signature line), which it shares with no one.
BASE_PROFILES: tuple[ModelProfile, ...] = (
    _profile(
        "base",
        key_symptom=0.5,
        diagnosis=0.45,
        first_line_treatment=0.5,
        urgency=0.4,
        decisive_test=0.03,
        dangerous_differential=0.01,
        risk_modifier=0.02,
        hedged_diagnosis=0.03,
        unsafe_advice=0.08,
        padding=0.02,
        markdown_headers=0.15,
        signature_phrase=0.02,
        long=0.2,
    ),
    _profile(
        "good",
        key_symptom=0.85,
        diagnosis=0.8,
        first_line_treatment=0.8,
        urgency=0.75,
        decisive_test=0.12,
        dangerous_differential=0.1,
        risk_modifier=0.06,
        hedged_diagnosis=0.2,
        unsafe_advice=0.04,
        padding=0.2,
        markdown_headers=0.3,
        signature_phrase=0.03,
        long=0.5,
    ),
    _profile(
        "great",
        key_symptom=0.95,
        diagnosis=0.92,
        first_line_treatment=0.95,
        urgency=0.9,
        decisive_test=0.55,
        dangerous_differential=0.5,
        risk_modifier=0.05,
        hedged_diagnosis=0.06,
        unsafe_advice=0.01,
        padding=0.06,
        markdown_headers=0.9,
        signature_phrase=0.9,
        long=0.8,
    ),
)


def diverse_profiles(n: int, rng: np.random.Generator, include_great: bool = True) -> tuple[ModelProfile, ...]:
    """``n`` strong models with different strengths and styles (the paper's 16 frontier models).

    Each knows each tail fact with probability 1/2 (then states it with prob U(0.45, 0.75), else U(0.03,
    0.12)); facts U(0.8, 0.95); penalties low; headers and length vary; the signature line stays the great
    model's own. With ``include_great`` the first one is the great model itself.
    """
    great = BASE_PROFILES[2]
    out: list[ModelProfile] = [ModelProfile("diverse-00-great", great.probs)] if include_great else []
    while len(out) < n:
        j = len(out)
        pr: dict[str, float] = {}
        for prop in PROPERTIES:
            if prop.kind == "fact":
                pr[prop.name] = rng.uniform(0.8, 0.95)
            elif prop.kind == "tail_fact":
                pr[prop.name] = rng.uniform(0.45, 0.75) if rng.random() < 0.5 else rng.uniform(0.03, 0.12)
        pr.update(
            hedged_diagnosis=rng.uniform(0.03, 0.15),
            unsafe_advice=rng.uniform(0.005, 0.04),
            padding=rng.uniform(0.03, 0.2),
            markdown_headers=rng.uniform(0.05, 0.95),
            signature_phrase=0.02,
            long=rng.uniform(0.2, 0.9),
        )
        out.append(_profile(f"diverse-{j:02d}", **pr))
    return tuple(out[:n])


# ------------------------------------------------------------------------------------------------ the world
@dataclass(frozen=True)
class WorldConfig:
    """How a rubric world is drawn (all randomness comes from the key given to :func:`make_world`).

    n_prompts        P, prompts (cases) in the world
    n_diverse        strong diverse models (the paper: 16); the first is the great model
    prompt_sd        sd of a per-(prompt, property) logit shift shared by all models (some cases are harder)
    model_sd         sd of a per-(model, prompt, property) logit jitter
    fact_weights     gold weights a fact draws from (uniformly); likewise tail / penalty weights below
    tail_weights, hedge_weights, unsafe_weights, padding_weights
    writer_fact_prob the writer includes each common fact with this probability (at least one always)
    writer_tail_prob ... and each tail fact with this (small) probability: the prompt rarely makes it obvious
    writer_weight_noise  sd of the integer noise the writer adds to gold weights (then clipped to 1..3)
    """

    n_prompts: int = 64
    n_diverse: int = 16
    prompt_sd: float = 0.5
    model_sd: float = 0.3
    fact_weights: tuple[int, ...] = (1, 2, 3)
    tail_weights: tuple[int, ...] = (2, 3)
    hedge_weights: tuple[int, ...] = (3,)
    unsafe_weights: tuple[int, ...] = (3,)
    padding_weights: tuple[int, ...] = (1, 2)
    writer_fact_prob: float = 0.9
    writer_tail_prob: float = 0.05
    writer_weight_noise: float = 0.8

    def __post_init__(self) -> None:
        if self.n_prompts < 1 or self.n_diverse < 1:
            raise ValueError(f"WorldConfig: n_prompts={self.n_prompts}, n_diverse={self.n_diverse} must be >= 1")
        for f in ("fact_weights", "tail_weights", "hedge_weights", "unsafe_weights", "padding_weights"):
            ws = getattr(self, f)
            if not ws or not all(1 <= w <= 3 for w in ws):
                raise ValueError(f"WorldConfig.{f}={ws}: need a non-empty set of weights in 1..3")
        for f in ("writer_fact_prob", "writer_tail_prob"):
            if not 0.0 <= getattr(self, f) <= 1.0:
                raise ValueError(f"WorldConfig.{f} must be a probability")


@dataclass(frozen=True, eq=False)
class RubricWorld:
    """One drawn world.

    prompts          (P,) prompt ids ("case-000", ...); SimVerifier / SimProposer map them back to indices
    gold_weights     (P, M) float, importance of each property's gold criterion; 0 for style and length
    model_names      (n_models,) "base", "good", "great", then the diverse models
    model_probs      (n_models, P, M) float, inclusion probabilities
    gold_rubrics     (P,) the hidden gold rubric per prompt
    initial_rubrics  (P,) the simulated writer's rubric per prompt
    salt             integer derived from the key; seeds the verifier / proposer hashes by default
    """

    config: WorldConfig
    prompts: tuple[str, ...]
    gold_weights: np.ndarray
    model_names: tuple[str, ...]
    model_probs: np.ndarray
    gold_rubrics: tuple[Rubric, ...]
    initial_rubrics: tuple[Rubric, ...]
    salt: int
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({p: i for i, p in enumerate(self.prompts)})

    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    @property
    def diverse_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.model_names if n.startswith("diverse-"))

    def prompt_index(self, prompt: str) -> int:
        try:
            return self._index[prompt]
        except KeyError:
            raise KeyError(f"prompt {prompt!r} is not in this rubric world") from None

    def probs(self, model: str) -> np.ndarray:
        """(P, M) inclusion probabilities of ``model``."""
        try:
            return self.model_probs[self.model_names.index(model)]
        except ValueError:
            raise KeyError(f"unknown model {model!r}; have {self.model_names}") from None

    def base_logits(self) -> np.ndarray:
        """(P, M) logits of the base model (the RFT policy's initialisation and KL reference)."""
        p = self.probs("base")
        return np.log(p) - np.log1p(-p)

    def sample(self, model: str, key: jax.Array, n: int) -> np.ndarray:
        """(P, n, M) int8 responses of ``model``, n per prompt. A pure function of ``key``."""
        p = self.probs(model)
        return (key_rng(key).random((self.n_prompts, n, M)) < p[:, None, :]).astype(np.int8)

    def sample_diverse(self, key: jax.Array) -> np.ndarray:
        """(P, n_diverse, M) int8: one response per prompt from each diverse model."""
        idx = [self.model_names.index(n) for n in self.diverse_names]
        p = np.transpose(self.model_probs[idx], (1, 0, 2))  # (P, D, M)
        return (key_rng(key).random(p.shape) < p).astype(np.int8)

    def gold(self, responses, prompt_idx=None) -> np.ndarray:
        """Gold reward of responses ``(..., M)``: weighted mean of the gold criteria under perfect verification.

        ``prompt_idx`` broadcasts against ``responses.shape[:-1]``; None means the leading axis is the prompt
        axis (responses of shape (P, ..., M)). Returns float64 of shape ``responses.shape[:-1]``.
        """
        x = np.asarray(responses)
        if x.shape[-1] != M:
            raise ValueError(f"responses have {x.shape[-1]} properties, expected {M}")
        if prompt_idx is None:
            if x.shape[0] != self.n_prompts:
                raise ValueError(f"responses lead with {x.shape[0]} prompts, world has {self.n_prompts}")
            gw = self.gold_weights.reshape((self.n_prompts,) + (1,) * (x.ndim - 2) + (M,))
        else:
            gw = self.gold_weights[np.asarray(prompt_idx)]
        v = np.where(SIGN > 0, x, 1 - x)
        return (gw * v).sum(-1) / gw.sum(-1)

    def gold_expected(self, probs) -> np.ndarray:
        """Exact expected gold reward of factorized policies with inclusion probabilities ``(P, ..., M)``."""
        q = np.asarray(probs, dtype=np.float64)
        gw = self.gold_weights.reshape((self.n_prompts,) + (1,) * (q.ndim - 2) + (M,))
        v = np.where(SIGN > 0, q, 1 - q)
        return (gw * v).sum(-1) / gw.sum(-1)


def precise_criterion(k: int, weight: float, tags: tuple[str, ...] = ()) -> Criterion:
    """The criterion that scores property k the gold way round (style/length: the text that rewards it)."""
    prop = PROPERTIES[k]
    check = {"property": k, "negate": True} if prop.sign < 0 else {"property": k}
    return Criterion(prop.criterion, float(weight), check, (prop.kind, *tags))


def gold_rubric(gold_weights_p: np.ndarray) -> Rubric:
    """The gold rubric of one prompt from its (M,) gold weights (properties with weight 0 are left out)."""
    return Rubric(tuple(precise_criterion(k, float(w), ("gold",)) for k, w in enumerate(gold_weights_p) if w > 0))


def write_initial_rubric(gold_weights_p: np.ndarray, rng: np.random.Generator, config: WorldConfig) -> Rubric:
    """The simulated rubric writer: what the prompt makes obvious, with mis-weighting and coarse criteria.

    Common facts (each with prob ``writer_fact_prob``, at least one) and, rarely, a tail fact, at gold weight
    plus integer noise; then each :data:`WRITER_CRITERIA` entry with its probability. A coarse criterion
    whose precise parts the writer already included is skipped (no two criteria for one property).
    """

    def noisy(w: float) -> float:
        return float(np.clip(np.rint(w + rng.normal(0.0, config.writer_weight_noise)), 1, 3))

    crits: list[Criterion] = []
    facts = [k for k, p in enumerate(PROPERTIES) if p.kind == "fact"]
    keep = [k for k in facts if rng.random() < config.writer_fact_prob] or [facts[int(rng.integers(len(facts)))]]
    covered: set[int] = set()
    for k in keep:
        crits.append(precise_criterion(k, noisy(gold_weights_p[k]), ("writer",)))
        covered.add(k)
    for k, p in enumerate(PROPERTIES):
        if p.kind == "tail_fact" and rng.random() < config.writer_tail_prob:
            crits.append(precise_criterion(k, noisy(gold_weights_p[k]), ("writer",)))
            covered.add(k)
    for wc in WRITER_CRITERIA:
        draw_in, draw_w = rng.random(), int(rng.integers(len(wc.weights)))  # draw both always: stable streams
        idx = {PROPERTY_INDEX[n] for n in wc.any_of}
        if draw_in < wc.prob and not idx & covered:
            crits.append(Criterion(wc.text, float(wc.weights[draw_w]), wc.check(), ("writer", wc.name)))
            covered |= idx
    return Rubric(tuple(crits))


def key_rng(key: jax.Array) -> np.random.Generator:
    """A numpy Generator seeded by the bits of a JAX key: host-side sampling stays a pure function of the key
    without compiling a JAX sampler for every new shape (which costs seconds each on CPU)."""
    data = np.asarray(jax.random.key_data(key)).astype(np.uint64).ravel()
    return np.random.default_rng([int(v) for v in data])


def _key_seed(key: jax.Array) -> int:
    return int(key_rng(key).integers(0, np.iinfo(np.int32).max))


def make_world(key: jax.Array, config: WorldConfig = WorldConfig()) -> RubricWorld:
    """Draw a world: gold weights, generator probabilities per prompt, gold and initial rubrics.

    A pure function of ``key`` (a ``jax.random.key``) and ``config``.
    """
    k_weights, k_models, k_writer, k_div, k_salt = jax.random.split(key, 5)
    P = config.n_prompts
    rng_w = np.random.default_rng(_key_seed(k_weights))
    choices = {"fact": config.fact_weights, "tail_fact": config.tail_weights}
    pen = {
        "hedged_diagnosis": config.hedge_weights,
        "unsafe_advice": config.unsafe_weights,
        "padding": config.padding_weights,
    }
    gw = np.zeros((P, M))
    for k, prop in enumerate(PROPERTIES):
        opts = choices.get(prop.kind) or pen.get(prop.name)
        if opts:
            gw[:, k] = rng_w.choice(np.asarray(opts, dtype=np.float64), size=P)

    profiles = BASE_PROFILES + diverse_profiles(config.n_diverse, np.random.default_rng(_key_seed(k_div)))
    rng_m = np.random.default_rng(_key_seed(k_models))
    mean_logit = np.array([[math.log(q / (1 - q)) for q in pr.probs] for pr in profiles])  # (n_models, M)
    shift = rng_m.normal(0.0, config.prompt_sd, size=(1, P, M))
    jitter = rng_m.normal(0.0, config.model_sd, size=(len(profiles), P, M))
    probs = 1.0 / (1.0 + np.exp(-(mean_logit[:, None, :] + shift + jitter)))
    probs = np.clip(probs, 1e-4, 1 - 1e-4)

    rng_r = np.random.default_rng(_key_seed(k_writer))
    gold = tuple(gold_rubric(gw[p]) for p in range(P))
    init = tuple(write_initial_rubric(gw[p], rng_r, config) for p in range(P))
    gw.setflags(write=False)
    probs.setflags(write=False)
    return RubricWorld(
        config=config,
        prompts=tuple(f"case-{p:03d}" for p in range(P)),
        gold_weights=gw,
        model_names=tuple(pr.name for pr in profiles),
        model_probs=probs,
        gold_rubrics=gold,
        initial_rubrics=init,
        salt=_key_seed(k_salt),
    )


# ------------------------------------------------------------------------------------------------ criteria as arrays
def criterion_props(c: Criterion) -> tuple[tuple[int, ...], bool] | None:
    """(property indices, negate) of a sim-world criterion, or None when its check is not a sim check."""
    ch = c.check
    if not ch:
        return None
    neg = bool(ch.get("negate", False))
    if "property" in ch and "any_of" not in ch:
        k = ch["property"]
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < M:
            return None
        return (int(k),), neg
    if "any_of" in ch and "property" not in ch:
        ks = ch["any_of"]
        if not isinstance(ks, list | tuple) or not ks:
            return None
        if not all(isinstance(k, int | np.integer) and not isinstance(k, bool) and 0 <= k < M for k in ks):
            return None
        return tuple(sorted({int(k) for k in ks})), neg
    return None


@dataclass(frozen=True)
class CriteriaArrays:
    """A rubric as arrays (one prompt). ``mask`` (C, M) bool: properties that satisfy criterion c;
    ``negate`` (C,) bool; ``weight`` (C,) float; ``usable`` (C,) bool (False: check unusable -> UNKNOWN)."""

    mask: np.ndarray
    negate: np.ndarray
    weight: np.ndarray
    usable: np.ndarray

    def truth(self, responses) -> np.ndarray:
        """Error-free verdicts (..., C) bool of responses (..., M)."""
        x = np.asarray(responses).astype(bool)
        hit = (x[..., None, :] & self.mask).any(-1)
        return hit ^ self.negate


def criteria_arrays(rubric: Rubric) -> CriteriaArrays:
    C = len(rubric.criteria)
    mask = np.zeros((C, M), dtype=bool)
    neg = np.zeros(C, dtype=bool)
    usable = np.zeros(C, dtype=bool)
    for c, crit in enumerate(rubric.criteria):
        pr = criterion_props(crit)
        if pr is None:
            continue
        mask[c, list(pr[0])] = True
        neg[c] = pr[1]
        usable[c] = True
    return CriteriaArrays(mask, neg, rubric.weights.copy(), usable)


def response_codes(responses) -> np.ndarray:
    """Integer code of each response (..., M) -> (...) uint64 (bit k = property k)."""
    x = np.asarray(responses).astype(np.uint64)
    return (x << np.arange(M, dtype=np.uint64)).sum(-1).astype(np.uint64)


_MASK64 = (1 << 64) - 1


def _splitmix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on uint64 arrays (wrapping arithmetic): a counter-based hash."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def _uniform(*parts: np.ndarray) -> np.ndarray:
    """Deterministic U[0,1) from integer arrays (broadcast), via chained splitmix64."""
    h = np.uint64(0)
    for p in parts:
        h = _splitmix(np.asarray(p, dtype=np.uint64) ^ _splitmix(h))
    return _to_unit(h)


def _to_unit(h: np.ndarray) -> np.ndarray:
    return (np.asarray(h, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@functools.lru_cache(maxsize=65536)
def _text_hash64(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "little")


def _criterion_key(c: Criterion) -> int:
    return _text_hash64(stable_hash([c.text, c.check]))


# ------------------------------------------------------------------------------------------------ verifier
@dataclass(frozen=True)
class Halo:
    """A reader's halo: polished formatting read as competence (the "style over substance" bias documented for
    learned reward models and LLM judges). In a response that has any ``trigger`` property, a check on a
    property of one of ``kinds`` that would read it as absent reads it as present with probability
    ``strength``: ``fpr -> fpr + (1 - fpr) * strength`` and ``fnr -> fnr * (1 - strength)``.

    The Bradley-Terry model (:class:`sim.bt.BTConfig`) reads every property this way; the rubric verifier
    (:class:`VerifierConfig`) only its precise, non-negated criteria on those kinds. ``strength = 0``: none.
    """

    strength: float = 0.0
    trigger: tuple[str, ...] = ("markdown_headers", "signature_phrase")
    kinds: tuple[str, ...] = ("fact", "tail_fact")

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise ValueError(f"Halo.strength={self.strength}: need a probability in [0, 1)")
        bad = [t for t in self.trigger if t not in PROPERTY_INDEX]
        if bad or not self.trigger:
            raise ValueError(f"Halo.trigger={self.trigger}: need property names from {list(PROPERTY_INDEX)}")
        if not set(self.kinds) <= set(KINDS):
            raise ValueError(f"Halo.kinds={self.kinds}: kinds from {KINDS}")
        if any(PROPERTIES[PROPERTY_INDEX[t]].kind in self.kinds for t in self.trigger):
            raise ValueError(f"Halo: a trigger {self.trigger} may not be of a kind it acts on {self.kinds}")

    def trigger_mask(self) -> np.ndarray:
        """(M,) bool: the properties that switch the halo on."""
        return np.isin(np.arange(M), [PROPERTY_INDEX[t] for t in self.trigger])

    def property_rates(self) -> np.ndarray:
        """(M,) float32: ``strength`` for properties of the halo's kinds, else 0."""
        return np.array([self.strength if p.kind in self.kinds else 0.0 for p in PROPERTIES], dtype=np.float32)

    def criterion_rate(self, c: Criterion) -> float:
        """The halo on a rubric criterion: ``strength`` for a precise, non-negated check on a property of the
        halo's kinds ("States the decisive test"), 0 for coarse, negated ("avoids ...") or non-sim checks."""
        pr = criterion_props(c)
        if self.strength == 0.0 or pr is None or pr[1] or len(pr[0]) != 1:
            return 0.0
        return self.strength if PROPERTIES[pr[0][0]].kind in self.kinds else 0.0

    def styled(self, responses) -> np.ndarray:
        """(...,) bool: which responses (..., M) carry a trigger property."""
        return (np.asarray(responses)[..., self.trigger_mask()] > 0).any(-1)

    @staticmethod
    def apply(fpr, fnr, h):
        """Error rates under a halo of probability ``h`` (arrays broadcast): (fpr', fnr')."""
        return fpr + (1.0 - fpr) * h, fnr * (1.0 - h)


@dataclass(frozen=True)
class VerifierConfig:
    """Error rates of the simulated verifier, by the kind of property a criterion checks.

    fpr / fnr    P(YES | criterion truly not met) / P(NO | truly met) for precise criteria, per kind
                 (for a penalty criterion "avoids X", a false positive = missing the penalty X)
    coarse_fpr / coarse_fnr   the same for ``any_of`` criteria
    jitter       sd of a log-normal per-criterion multiplier (criteria differ in how checkable they are)
    max_rate     rates are clipped to [0, max_rate]
    halo         :class:`Halo` on precise fact / tail-fact criteria (default: none). Off in every default
                 experiment; docs/rubric_world_findings.md shows what one triggered by the signature line does
    """

    fpr: tuple[tuple[str, float], ...] = (
        ("fact", 0.05),
        ("tail_fact", 0.05),
        ("penalty", 0.1),
        ("style", 0.03),
        ("length", 0.05),
    )
    fnr: tuple[tuple[str, float], ...] = (
        ("fact", 0.05),
        ("tail_fact", 0.1),
        ("penalty", 0.03),
        ("style", 0.03),
        ("length", 0.05),
    )
    coarse_fpr: float = 0.08
    coarse_fnr: float = 0.05
    jitter: float = 0.3
    max_rate: float = 0.45
    halo: Halo = Halo()

    @classmethod
    def perfect(cls) -> VerifierConfig:
        z = tuple((k, 0.0) for k in KINDS)
        return cls(fpr=z, fnr=z, coarse_fpr=0.0, coarse_fnr=0.0, jitter=0.0)

    def scaled(self, factor: float) -> VerifierConfig:
        return VerifierConfig(
            tuple((k, v * factor) for k, v in self.fpr),
            tuple((k, v * factor) for k, v in self.fnr),
            self.coarse_fpr * factor,
            self.coarse_fnr * factor,
            self.jitter,
            self.max_rate,
            self.halo,
        )


class SimVerifier:
    """A :class:`rewards.verify.Verifier` for rubric-world responses, with per-criterion error rates.

    Verdict noise is a deterministic function of (seed, prompt, response, criterion text + check): the same
    response always gets the same verdicts. Criteria whose check is not a sim check get UNKNOWN.
    """

    def __init__(self, world: RubricWorld, config: VerifierConfig = VerifierConfig(), seed: int | None = None):
        self.world = world
        self.config = config
        self.seed = world.salt if seed is None else int(seed)
        self._fpr = dict(config.fpr)
        self._fnr = dict(config.fnr)
        self.name = f"sim-verifier-{stable_hash([repr(config), self.seed])[:10]}"
        self._rates: dict[tuple[str, str], tuple[float, float]] = {}
        self._compiled: dict[Rubric, tuple[CriteriaArrays, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._trigger = config.halo.trigger_mask()

    def compiled(self, rubric: Rubric) -> tuple[CriteriaArrays, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(criteria arrays, fpr (C,), fnr (C,), criterion hash keys (C,) uint64, halo (C,)) of a rubric, cached."""
        got = self._compiled.get(rubric)
        if got is None:
            if len(self._compiled) > 100_000:
                self._compiled.clear()
            fpr, fnr = self.rates(rubric)
            keys = np.array([_criterion_key(c) for c in rubric.criteria], dtype=np.uint64)
            got = (criteria_arrays(rubric), fpr, fnr, keys, self.halo_rates(rubric))
            self._compiled[rubric] = got
        return got

    def error_rates(self, c: Criterion) -> tuple[float, float]:
        """(fpr, fnr) of criterion ``c`` (0, 0 for an unusable check)."""
        key = (c.text, stable_hash(c.check))
        got = self._rates.get(key)
        if got is not None:
            return got
        pr = criterion_props(c)
        if pr is None:
            out = (0.0, 0.0)
        else:
            ks, _neg = pr
            if len(ks) > 1:
                f, n = self.config.coarse_fpr, self.config.coarse_fnr
            else:
                kind = PROPERTIES[ks[0]].kind
                f, n = self._fpr.get(kind, 0.0), self._fnr.get(kind, 0.0)
            if self.config.jitter > 0:
                z = _uniform(np.uint64(self.seed), np.uint64(_criterion_key(c)), np.uint64(7))
                # inverse-normal via erfinv-free approximation is unnecessary: a uniform on [-1, 1] * jitter*sqrt3
                mult = math.exp(self.config.jitter * math.sqrt(3.0) * (2.0 * float(z) - 1.0))
                f, n = f * mult, n * mult
            out = (min(f, self.config.max_rate), min(n, self.config.max_rate))
        self._rates[key] = out
        return out

    def rates(self, rubric: Rubric) -> tuple[np.ndarray, np.ndarray]:
        """(C,) false-positive and (C,) false-negative rates of the rubric's criteria."""
        r = np.array([self.error_rates(c) for c in rubric.criteria], dtype=np.float64).reshape(-1, 2)
        return r[:, 0], r[:, 1]

    def halo_rates(self, rubric: Rubric) -> np.ndarray:
        """(C,) the verifier's halo on each criterion (:meth:`Halo.criterion_rate`), active in styled responses."""
        return np.array([self.config.halo.criterion_rate(c) for c in rubric.criteria], dtype=np.float64)

    def _yes(self, truth, u, fpr, fnr, halo, x) -> np.ndarray:
        """Noisy YES (..., C) from error-free verdicts ``truth`` and uniforms ``u`` (..., C); rates and halo
        (..., C) broadcast; the halo is active where the response x (..., M) carries a trigger property."""
        h = halo * (x[..., self._trigger] > 0).any(-1)[..., None]
        fpr, fnr = Halo.apply(fpr, fnr, h)
        return np.where(truth, u >= fnr, u < fpr)

    def _item_hash(self, prompt_idx, responses) -> np.ndarray:
        """(N,) uint64 hash of (seed, prompt, response) per item."""
        h = _splitmix(np.uint64(self.seed))
        h = _splitmix(np.asarray(prompt_idx, dtype=np.uint64) ^ h)
        return _splitmix(response_codes(responses) ^ h)

    def verdicts(self, prompt_idx, responses, rubric: Rubric) -> np.ndarray:
        """Vectorized core: responses (N, M) of prompts ``prompt_idx`` (N,) -> (N, C) int8 verdicts."""
        x = np.asarray(responses)
        if x.ndim != 2 or x.shape[1] != M:
            raise ValueError(f"responses have shape {x.shape}; expected (N, {M})")
        arr, fpr, fnr, ckeys, halo = self.compiled(rubric)
        truth = arr.truth(x)  # (N, C)
        u = _to_unit(_splitmix(self._item_hash(prompt_idx, x)[:, None] ^ ckeys[None, :]))
        yes = self._yes(truth, u, fpr, fnr, halo, x)
        out = np.where(yes, YES, NO).astype(np.int8)
        out[:, ~arr.usable] = UNKNOWN
        return out

    def scores(self, rubrics: Sequence[Rubric], responses) -> np.ndarray:
        """Weighted-mean scores of responses (P, N, M) under per-prompt rubrics (P,) -> (P, N) float64.

        The same verdicts as :meth:`verdicts` (hence as ``rubric.score(verify(...))``), vectorized over prompts;
        NaN where a rubric has a criterion without a sim check."""
        x = np.asarray(responses)
        P, N = x.shape[:2]
        comp = [self.compiled(r) for r in rubrics]
        C = max(len(r.criteria) for r in rubrics)
        mask = np.zeros((P, C, M), bool)
        neg = np.zeros((P, C), bool)
        w = np.zeros((P, C))
        fpr = np.zeros((P, C))
        fnr = np.zeros((P, C))
        keys = np.zeros((P, C), np.uint64)
        halo = np.zeros((P, C))
        bad = np.zeros(P, bool)
        for p, (arr, f, n, k, h) in enumerate(comp):
            c = arr.weight.shape[0]
            mask[p, :c], neg[p, :c], w[p, :c], fpr[p, :c], fnr[p, :c], keys[p, :c], halo[p, :c] = (
                arr.mask,
                arr.negate,
                arr.weight,
                f,
                n,
                k,
                h,
            )
            bad[p] = not arr.usable.all() or rubrics[p].aggregate != "weighted_mean"
        truth = (x.astype(bool)[:, :, None, :] & mask[:, None]).any(-1) ^ neg[:, None]  # (P, N, C)
        item = self._item_hash(np.broadcast_to(np.arange(P)[:, None], (P, N)).reshape(-1), x.reshape(-1, M)).reshape(
            P, N
        )
        u = _to_unit(_splitmix(item[:, :, None] ^ keys[:, None, :]))
        yes = self._yes(truth, u, fpr[:, None], fnr[:, None], halo[:, None], x)
        out = (yes * w[:, None]).sum(-1) / w.sum(-1)[:, None]
        out[bad] = np.nan
        return out

    def verify(self, prompt: str, response: Any, rubric: Rubric) -> np.ndarray:
        return self.verdicts([self.world.prompt_index(prompt)], [_as_response(response)], rubric)[0]

    def verify_many(self, items: Sequence[tuple[str, Any, Rubric]]) -> list[np.ndarray]:
        """All items in one vectorized pass (criteria padded to the longest rubric)."""
        if not items:
            return []
        comp = [self.compiled(rub) for _p, _r, rub in items]
        sizes = [c[0].weight.shape[0] for c in comp]
        N, C = len(items), max(sizes)
        mask = np.zeros((N, C, M), bool)
        neg = np.zeros((N, C), bool)
        fpr = np.zeros((N, C))
        fnr = np.zeros((N, C))
        keys = np.zeros((N, C), np.uint64)
        halo = np.zeros((N, C))
        usable = np.zeros((N, C), bool)
        for i, (arr, f, n, k, h) in enumerate(comp):
            c = sizes[i]
            mask[i, :c], neg[i, :c], fpr[i, :c], fnr[i, :c], keys[i, :c], halo[i, :c], usable[i, :c] = (
                arr.mask,
                arr.negate,
                f,
                n,
                k,
                h,
                arr.usable,
            )
        x = np.array([_as_response(r) for _p, r, _rub in items], dtype=np.int8).reshape(N, M)
        pidx = np.array([self.world.prompt_index(p) for p, _r, _rub in items])
        truth = (x.astype(bool)[:, None, :] & mask).any(-1) ^ neg
        u = _to_unit(_splitmix(self._item_hash(pidx, x)[:, None] ^ keys))
        yes = self._yes(truth, u, fpr, fnr, halo, x)
        out = np.where(usable, np.where(yes, YES, NO), UNKNOWN).astype(np.int8)
        return [out[i, : sizes[i]] for i in range(N)]


def _as_response(r: Any) -> tuple[int, ...]:
    t = tuple(int(v) for v in r)
    if len(t) != M or any(v not in (0, 1) for v in t):
        raise ValueError(f"a rubric-world response is a tuple of {M} 0/1 ints, got {r!r}")
    return t


# ------------------------------------------------------------------------------------------------ proposer
@dataclass(frozen=True)
class ProposerConfig:
    """The simulated proposer.

    misjudge      probability it believes the truly worse response of the pair is the better one; it then
                  (a) credits the quality-neutral properties only the wrong winner has, by adding a criterion
                  that rewards them, and (b) downweights criteria for the true winner's real advantages
    notice        probability it notices a given property in which the pair differs (per property)
    weight_noise  sd of the noise on its weight estimate (gold weight + noise, rounded, clipped to 1..3)
    """

    misjudge: float = 0.15
    notice: float = 0.85
    weight_noise: float = 0.6


class SimProposer:
    """A :class:`rewards.refine.Proposer` for the rubric world.

    Sees only the pair: properties in which the two responses agree are invisible to it. For each noticed
    differing property k:

    - k matters to gold (fact, tail fact, penalty): if a coarse criterion contains k it is SPLIT into precise
      criteria for its gold-relevant parts (its quality-neutral parts dropped); else if a precise criterion
      exists its weight is re-estimated (TIGHTEN), and if it pays for the wrong side of k it is CORRECTED;
      else a precise criterion is ADDED;
    - k is quality-neutral (style, length) and a criterion pays for it although the response having k is not
      the better one (or the two are equally good): that criterion is REMOVED (a coarse one loses k).

    Randomness (misjudging, noticing, weight noise) is a deterministic function of (seed, prompt, rubric,
    pair), so :func:`rewards.refine.refine` resumes exactly.
    """

    def __init__(self, world: RubricWorld, config: ProposerConfig = ProposerConfig(), seed: int | None = None):
        self.world = world
        self.config = config
        self.seed = world.salt if seed is None else int(seed)
        self.name = f"sim-proposer-{stable_hash([repr(config), self.seed])[:10]}"

    def propose(self, prompt: str, rubric: Rubric, response_a: Any, response_b: Any) -> Rubric:
        p = self.world.prompt_index(prompt)
        a, b = np.array(_as_response(response_a)), np.array(_as_response(response_b))
        h = stable_hash([self.seed, prompt, rubric.content_hash(), a.tolist(), b.tolist()])
        rng = np.random.default_rng(int(h[:16], 16))
        gw = self.world.gold_weights[p]
        ga, gb = self.world.gold(a[None], [p])[0], self.world.gold(b[None], [p])[0]
        misjudged = bool(rng.random() < self.config.misjudge) and ga != gb
        if ga == gb:
            winner = None
        else:
            winner = a if (ga > gb) != misjudged else b
        loser = None if winner is None else (b if winner is a else a)
        diff = [k for k in range(M) if a[k] != b[k]]
        noticed = [k for k, u in zip(diff, rng.random(len(diff)), strict=True) if u < self.config.notice]
        crits = list(rubric.criteria)

        def estimate(k: int) -> float:
            return float(np.clip(np.rint(gw[k] + rng.normal(0.0, self.config.weight_noise)), 1, 3))

        def find_precise(k: int) -> int | None:
            for i, c in enumerate(crits):
                pr = criterion_props(c)
                if pr is not None and pr[0] == (k,):
                    return i
            return None

        def find_coarse(k: int) -> int | None:
            for i, c in enumerate(crits):
                pr = criterion_props(c)
                if pr is not None and len(pr[0]) > 1 and k in pr[0]:
                    return i
            return None

        def favors(resp: np.ndarray | None, k: int) -> bool:
            return resp is not None and bool(resp[k] == (1 if SIGN[k] > 0 else 0))

        for k in noticed:
            relevant = SIGN[k] != 0
            if relevant and misjudged and favors(loser, k):
                # the true winner's real advantage is explained away
                i = find_precise(k)
                if i is not None and crits[i].weight > 1:
                    c = crits[i]
                    crits[i] = Criterion(c.text, c.weight - 1, c.check, _retag(c.tags, "downweighted"))
                continue
            if relevant:
                j = find_coarse(k)
                if j is not None:
                    ks = criterion_props(crits[j])[0]  # type: ignore[index]
                    new = [
                        precise_criterion(q, estimate(q), ("split",))
                        for q in ks
                        if SIGN[q] != 0 and find_precise(q) is None
                    ]
                    crits[j : j + 1] = new
                    continue
                i = find_precise(k)
                if i is None:
                    crits.append(precise_criterion(k, estimate(k), ("added",)))
                elif criterion_props(crits[i])[1] != (SIGN[k] < 0):  # type: ignore[index]
                    # it pays for the wrong side of k (e.g. rewards padding): turn it the gold way round
                    crits[i] = precise_criterion(k, estimate(k), ("corrected",))
                else:
                    c = crits[i]
                    crits[i] = Criterion(c.text, estimate(k), c.check, _retag(c.tags, "tightened"))
                continue
            # quality-neutral property in which the pair differs
            has_k = a if a[k] else b
            if misjudged and winner is not None and winner[k] == 1:
                if find_precise(k) is None and find_coarse(k) is None:
                    crits.append(precise_criterion(k, float(rng.integers(1, 3)), ("added", "artifact")))
                continue
            if winner is None or has_k is not winner:
                i = find_precise(k)
                if i is not None:
                    del crits[i]
                j = find_coarse(k)
                if j is not None:
                    # tighten: the criterion stops paying for k but keeps its meaning otherwise (the proposer
                    # learns nothing here about the other parts, e.g. that padding is bad)
                    c = crits[j]
                    ks, neg = criterion_props(c)  # type: ignore[misc]
                    rest = [q for q in ks if q != k]
                    chk: dict = {"property": rest[0]} if len(rest) == 1 else {"any_of": rest}
                    if neg:
                        chk["negate"] = True
                    crits[j] = Criterion(c.text, c.weight, chk, _retag(c.tags, "tightened"))
        if not crits:
            raise ValueError("proposal would leave the rubric empty")
        return Rubric(tuple(_dedupe(crits)), aggregate=rubric.aggregate)


def _retag(tags: tuple[str, ...], t: str) -> tuple[str, ...]:
    return tags if t in tags else (*tags, t)


def _dedupe(crits: list[Criterion]) -> list[Criterion]:
    seen: set[str] = set()
    out = []
    for c in crits:
        key = c.text.casefold()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
