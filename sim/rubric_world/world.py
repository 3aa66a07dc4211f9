"""The rubric world itself: generator models, the world config, the drawn :class:`RubricWorld` (gold weights,
per-prompt model probabilities, gold and initial rubrics) and the simulated rubric writer.

Generators (:data:`BASE_PROFILES`, :func:`diverse_profiles`) are per-property inclusion probabilities per
prompt; sampled properties are independent given (model, prompt). :func:`make_world` is a pure function of a
``jax.random.key`` and a :class:`WorldConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import numpy as np

from rewards.checks import check_fields, check_memory
from rewards.rubric import Criterion, Rubric
from sim.rubric_world.properties import PROPERTIES, PROPERTY_INDEX, SIGN, WRITER_CRITERIA, M, signed_text

__all__ = [
    "BASE_PROFILES",
    "ModelProfile",
    "RubricWorld",
    "WorldConfig",
    "diverse_profiles",
    "gold_rubric",
    "key_rng",
    "make_world",
    "precise_criterion",
    "signed_criterion",
    "write_initial_rubric",
    "writer_weights",
    "WriterDraws",
]


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
def _range(name: str, r: tuple[float, ...], lo: float, hi: float, allow_empty: bool = False) -> None:
    if (allow_empty and r == ()) or (len(r) == 2 and lo <= r[0] <= r[1] <= hi):
        return
    extra = " or empty (the stated values)" if allow_empty else ""
    raise ValueError(f"WorldConfig.{name}={r}: need a range (lo, hi) with {lo} <= lo <= hi <= {hi}{extra}")


@dataclass(frozen=True)
class WorldConfig:
    """How a rubric world is drawn (all randomness comes from the key given to :func:`make_world`).

    The writer's flaws are DRAWN per world from the stated distributions below (assumptions, swept by drawing
    many worlds): every ``(lo, hi)`` range is a uniform distribution from which each world draws one rate.
    :meth:`tuned` gives the original hand-tuned world (point ranges, the catalogue's stated probabilities).

    n_prompts: P, prompts (cases) in the world
    n_diverse: strong diverse models (the paper: 16); the first is the great model
    prompt_sd: sd of a per-(prompt, property) logit shift shared by all models (some cases are harder)
    model_sd: sd of a per-(model, prompt, property) logit jitter
    fact_weights: gold weights a fact draws from (uniformly)
    tail_weights: gold weights a tail fact draws from
    hedge_weights: gold weights of the hedging penalty
    unsafe_weights: gold weights of the unsafe-advice penalty
    padding_weights: gold weights of the padding penalty
    writer_fact_prob: range of the world's rate at which the writer includes each common fact (at least one)
    writer_tail_prob: range of the world's tail coverage: the rate at which it includes each tail fact
    writer_criterion_prob: range from which the world draws, for each :data:`WRITER_CRITERIA` entry (coarse
        "OR" criteria, gameable style criteria, the safety criterion), the rate at which its writer includes it;
        empty: each entry's stated ``prob`` (the tuned world)
    base_exploit_rate: range of the log10 of the base model's hedging and padding rates (drawn per world, one
        each; the exploits' rarity decides when RFT discovers them); empty: the base profile's 0.03 / 0.02
    writer_weight_noise: sd of the integer noise the writer adds to gold weights (then clipped to 1..3)
    """

    n_prompts: int = 64
    n_diverse: int = 16
    prompt_sd: float = 0.5
    model_sd: float = 0.3
    fact_weights: tuple[int, ...] = (1, 2, 3)
    tail_weights: tuple[int, ...] = (2, 3)
    hedge_weights: tuple[int, ...] = (1, 2, 3)
    unsafe_weights: tuple[int, ...] = (3,)
    padding_weights: tuple[int, ...] = (1, 2)
    writer_fact_prob: tuple[float, ...] = (0.6, 1.0)
    writer_tail_prob: tuple[float, ...] = (0.0, 0.3)
    writer_criterion_prob: tuple[float, ...] = (0.0, 1.0)
    base_exploit_rate: tuple[float, ...] = (-2.0, -0.8)
    writer_weight_noise: float = 0.8

    @classmethod
    def tuned(cls, **kw) -> WorldConfig:
        """The original hand-tuned world: its writer's flaws placed, not drawn (kept as one labelled row)."""
        base = dict(
            hedge_weights=(3,),
            writer_fact_prob=(0.9, 0.9),
            writer_tail_prob=(0.05, 0.05),
            writer_criterion_prob=(),
            base_exploit_rate=(),
        )
        return cls(**{**base, **kw})

    def __post_init__(self) -> None:
        check_fields(self)
        if self.n_prompts < 1 or self.n_diverse < 1:
            raise ValueError(f"WorldConfig: n_prompts={self.n_prompts}, n_diverse={self.n_diverse} must be >= 1")
        # a prompt holds its rubrics (Python objects, ~10-20 kB) and every model's property probabilities
        check_memory(20e3 * self.n_prompts * (1 + self.n_diverse / 16), "the rubric world", "lower n_prompts")
        for f in ("fact_weights", "tail_weights", "hedge_weights", "unsafe_weights", "padding_weights"):
            ws = getattr(self, f)
            if not ws or not all(1 <= w <= 3 for w in ws):
                raise ValueError(f"WorldConfig.{f}={ws}: need a non-empty set of weights in 1..3")
        _range("writer_fact_prob", self.writer_fact_prob, 0.0, 1.0)
        _range("writer_tail_prob", self.writer_tail_prob, 0.0, 1.0)
        _range("writer_criterion_prob", self.writer_criterion_prob, 0.0, 1.0, allow_empty=True)
        _range("base_exploit_rate", self.base_exploit_rate, -4.0, -0.1, allow_empty=True)


@dataclass(frozen=True)
class WriterDraws:
    """What one world's writer drew (its flaws): ``fact_prob``, ``tail_prob`` and ``criterion_prob`` (one rate per
    :data:`WRITER_CRITERIA` entry, by name); plus the base model's drawn ``hedge_rate`` and ``padding_rate``."""

    fact_prob: float
    tail_prob: float
    criterion_prob: dict
    hedge_rate: float
    padding_rate: float

    @classmethod
    def draw(cls, config: WorldConfig, rng: np.random.Generator) -> WriterDraws:
        def u(r: tuple[float, ...]) -> float:
            return float(rng.uniform(r[0], r[1]))

        fact, tail = u(config.writer_fact_prob), u(config.writer_tail_prob)
        if config.writer_criterion_prob:
            crit = {wc.name: u(config.writer_criterion_prob) for wc in WRITER_CRITERIA}
        else:
            crit = {wc.name: wc.prob for wc in WRITER_CRITERIA}
        base = BASE_PROFILES[0].probs
        if config.base_exploit_rate:
            hedge, pad = 10 ** u(config.base_exploit_rate), 10 ** u(config.base_exploit_rate)
        else:
            hedge, pad = base[PROPERTY_INDEX["hedged_diagnosis"]], base[PROPERTY_INDEX["padding"]]
        return cls(fact, tail, crit, hedge, pad)


@dataclass(frozen=True, eq=False)
class RubricWorld:
    """One drawn world.

    prompts          (P,) prompt ids ("case-000", ...); SimVerifier / SimProposer map them back to indices
    gold_weights     (P, M) float, importance of each property's gold criterion; 0 for style and length
    model_names      (n_models,) "base", "good", "great", then the diverse models
    model_probs      (n_models, P, M) float, inclusion probabilities
    gold_rubrics     (P,) the hidden gold rubric per prompt
    initial_rubrics  (P,) the simulated writer's rubric per prompt
    writer_draws     the writer's drawn flaw rates and the base model's drawn exploit rates (:class:`WriterDraws`)
    salt             integer derived from the key; seeds the verifier / proposer hashes by default
    """

    config: WorldConfig
    prompts: tuple[str, ...]
    gold_weights: np.ndarray
    model_names: tuple[str, ...]
    model_probs: np.ndarray
    gold_rubrics: tuple[Rubric, ...]
    initial_rubrics: tuple[Rubric, ...]
    writer_draws: WriterDraws
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

    def sample_diverse(self, key: jax.Array, n_models: int | None = None) -> np.ndarray:
        """(P, n, M) int8: one response per prompt from each of the first ``n_models`` diverse models (None:
        all n_diverse of them; the first is the great model)."""
        names = self.diverse_names if n_models is None else self.diverse_names[:n_models]
        idx = [self.model_names.index(n) for n in names]
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


def signed_criterion(k: int, sign: int, weight: float, tags: tuple[str, ...] = ()) -> Criterion:
    """A precise criterion on property k: ``sign`` +1 rewards having it, -1 rewards avoiding it (whatever gold
    says: a proposer writes the sign it believes)."""
    check = {"property": k, "negate": True} if sign < 0 else {"property": k}
    return Criterion(signed_text(k, sign), float(weight), check, (PROPERTIES[k].kind, *tags))


def precise_criterion(k: int, weight: float, tags: tuple[str, ...] = ()) -> Criterion:
    """The criterion that scores property k the gold way round (style/length: the text that rewards it)."""
    return signed_criterion(k, -1 if PROPERTIES[k].sign < 0 else 1, weight, tags)


def gold_rubric(gold_weights_p: np.ndarray) -> Rubric:
    """The gold rubric of one prompt from its (M,) gold weights (properties with weight 0 are left out)."""
    return Rubric(tuple(precise_criterion(k, float(w), ("gold",)) for k, w in enumerate(gold_weights_p) if w > 0))


def writer_weights(gold_weights: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """The writer's beliefs about importance (P, M): gold weight plus integer noise, clipped to 1..3. Drawn by the
    ENVIRONMENT (the writer's knowledge is correlated with the truth); the writer itself only sees this array."""
    return np.clip(np.rint(gold_weights + rng.normal(0.0, noise, gold_weights.shape)), 1, 3)


def write_initial_rubric(believed_weights_p: np.ndarray, rng: np.random.Generator, draws: WriterDraws) -> Rubric:
    """The simulated rubric writer: what the prompt makes obvious, with mis-weighting and coarse criteria.

    ``believed_weights_p`` (M,): the writer's own noisy importance of each property (:func:`writer_weights`),
    never gold. Common facts (each with the world's ``draws.fact_prob``, at least one) and tail facts (each
    with ``draws.tail_prob``) at the believed weight; then each :data:`WRITER_CRITERIA` entry with its drawn
    rate ``draws.criterion_prob[name]``, at a weight drawn from the entry's set. A coarse criterion whose
    precise parts the writer already included is skipped (no two criteria for one property).
    """
    crits: list[Criterion] = []
    facts = [k for k, p in enumerate(PROPERTIES) if p.kind == "fact"]
    keep = [k for k in facts if rng.random() < draws.fact_prob] or [facts[int(rng.integers(len(facts)))]]
    covered: set[int] = set()
    for k in keep:
        crits.append(precise_criterion(k, float(believed_weights_p[k]), ("writer",)))
        covered.add(k)
    for k, p in enumerate(PROPERTIES):
        if p.kind == "tail_fact" and rng.random() < draws.tail_prob:
            crits.append(precise_criterion(k, float(believed_weights_p[k]), ("writer",)))
            covered.add(k)
    for wc in WRITER_CRITERIA:
        draw_in, draw_w = rng.random(), int(rng.integers(len(wc.weights)))  # draw both always: stable streams
        idx = {PROPERTY_INDEX[n] for n in wc.any_of}
        if draw_in < draws.criterion_prob[wc.name] and not idx & covered:
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

    rng_r = np.random.default_rng(_key_seed(k_writer))
    draws = WriterDraws.draw(config, rng_r)
    base = dict(zip(PROPERTY_INDEX, BASE_PROFILES[0].probs, strict=True))
    base.update(hedged_diagnosis=draws.hedge_rate, padding=draws.padding_rate)
    profiles = (_profile("base", **base),) + BASE_PROFILES[1:]
    profiles += diverse_profiles(config.n_diverse, np.random.default_rng(_key_seed(k_div)))
    rng_m = np.random.default_rng(_key_seed(k_models))
    mean_logit = np.array([[math.log(q / (1 - q)) for q in pr.probs] for pr in profiles])  # (n_models, M)
    shift = rng_m.normal(0.0, config.prompt_sd, size=(1, P, M))
    jitter = rng_m.normal(0.0, config.model_sd, size=(len(profiles), P, M))
    probs = 1.0 / (1.0 + np.exp(-(mean_logit[:, None, :] + shift + jitter)))
    probs = np.clip(probs, 1e-4, 1 - 1e-4)

    gold = tuple(gold_rubric(gw[p]) for p in range(P))
    believed = writer_weights(gw, rng_r, config.writer_weight_noise)
    init = tuple(write_initial_rubric(believed[p], rng_r, draws) for p in range(P))
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
        writer_draws=draws,
        salt=_key_seed(k_salt),
    )
