"""A Bradley-Terry reward model for the rubric world: logistic regression on response features (JAX).

Features are ALL the world's properties, style artifacts and length included: the model has no way to know
which properties matter except through the preference labels it is trained on. Score of response x for
prompt p: ``s(x) = (u + d[p]) . x`` with a shared weight vector u (M,) and per-prompt deviations d (P, M),
L2-penalised (u weakly, d strongly), so prompts borrow strength from each other. Preference model:
``P(a > b) = sigmoid(s(a) - s(b))``.

Training pairs (:func:`bt_pairs`):

``on``    two responses of the base model (the policy before RFT), labelled by the gold reward
``off``   the great model against a weaker one (base or good, equally often), in random order, labelled by
          gold; here the great model's house style is almost perfectly confounded with being better
``both``  the union of the two

Labels are Bradley-Terry draws from the gold reward, ``P(y = 1) = sigmoid((g_a - g_b) / label_temp)``
(a noisy judge; gold ties are coin flips).

Perception. A preference-trained reward model reads text; it sees surface properties (style, length,
hedging, padding) reliably but case-specific correctness (is THIS the right diagnosis, the decisive test for
THIS case?) only noisily, because nothing in its input spells out the answer -- unlike a rubric verifier,
whose criterion names it. We model this as symmetric misperception: the model's feature k is the true
property flipped with probability ``perception[kind(k)]``, independently per response, both in its training
pairs and when it scores the policy's samples (:func:`bt_proxy`). With ``BTConfig.perfect_perception()`` the
model sees the gold features and is a well-specified logistic model of the gold preferences.

Style halo (:class:`sim.rubric_world.Halo`, ``BTConfig.halo``, strength 0.5 by default). Learned reward models
and LLM judges are known to read polished formatting as competence (the "style over substance" bias): in a
response that carries a style artifact, each absent fact or tail fact is perceived as present with probability
``halo.strength`` (on top of the flips). The default rubric verifier has no halo: it answers one named criterion
at a time. Why the world needs this: with independent properties and a KL that is a sum over properties, a
quality-neutral artifact that a reward model pays for otherwise costs little -- the policy learns it AND the
facts; the off-policy model's better tail-fact weights make up for that cost, and the Table 6 ordering appears
only at a matched KL budget. The halo is what makes rewarding the artifact costly: once the policy has learned
the artifact, the model can no longer tell its right answers from its wrong ones. ``Halo(0.0)`` switches it off
(docs/rubric_world_sensitivity.md reports both).

Nothing here singles out the style artifact: whether the model rewards it is decided by the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rewards.checks import check_fields
from sim.rubric_train import ProxyArrays, linear_proxy
from sim.rubric_world import KINDS, PROPERTIES, Halo, M, RubricWorld, key_rng

__all__ = [
    "BTConfig",
    "BTPairs",
    "PAIR_KINDS",
    "STYLE_MASK",
    "bt_pairs",
    "bt_proxy",
    "fit_bt",
    "fit_bt_many",
    "perceive",
]

PAIR_KINDS: tuple[str, ...] = ("on", "off", "both")


@dataclass(frozen=True)
class BTConfig:
    """Bradley-Terry training.

    pairs_per_prompt: pairs of each kind per prompt (``both`` has twice as many)
    label_temp: temperature of the gold-based label noise (gold rewards lie in [0, 1])
    l2_shared: L2 penalty on the shared weights u (per pair-averaged loss)
    l2_prompt: L2 penalty on the per-prompt deviations d
    steps: full-batch Adam steps on the (convex) penalised log-loss
    lr: Adam step size
    perception: (kind, flip probability) pairs: how unreliably the model perceives each kind of property
    halo: the model's :class:`sim.rubric_world.Halo` (see the module docstring); ``Halo(0.0)``: none
    """

    pairs_per_prompt: int = 16
    label_temp: float = 0.03
    l2_shared: float = 1e-3
    l2_prompt: float = 3e-2
    steps: int = 400
    lr: float = 0.05
    perception: tuple[tuple[str, float], ...] = (
        ("fact", 0.25),
        ("tail_fact", 0.3),
        ("penalty", 0.1),
        ("style", 0.0),
        ("length", 0.0),
    )
    halo: Halo = Halo(0.5)

    @classmethod
    def perfect_perception(cls, **kw) -> BTConfig:
        """Sees every property exactly: no flips and no halo."""
        return cls(perception=tuple((k, 0.0) for k in KINDS), halo=Halo(0.0), **kw)

    def flip_rates(self) -> np.ndarray:
        """(M,) misperception probability of each property."""
        d = dict(self.perception)
        return np.array([d.get(p.kind, 0.0) for p in PROPERTIES], dtype=np.float32)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.pairs_per_prompt < 1 or self.steps < 1:
            raise ValueError("BTConfig: pairs_per_prompt and steps must be >= 1")
        if self.label_temp <= 0 or self.l2_shared < 0 or self.l2_prompt < 0 or self.lr <= 0:
            raise ValueError("BTConfig: label_temp, lr > 0 and l2 penalties >= 0 needed")
        if not all(k in KINDS and 0.0 <= v < 0.5 for k, v in self.perception):
            raise ValueError(f"BTConfig.perception={self.perception}: kinds from {KINDS}, rates in [0, 0.5)")


class BTPairs(NamedTuple):
    """Preference pairs. xa, xb (N, M) float32 0/1 as PERCEIVED by the model; prompt (N,) int32; y (N,)
    float32 (1: a preferred), drawn from the TRUE properties' gold rewards; w (N,) float32 pair weights
    (0 = padding, so pair sets of different sizes stack into one vmapped fit)."""

    xa: np.ndarray
    xb: np.ndarray
    prompt: np.ndarray
    y: np.ndarray
    w: np.ndarray

    def padded(self, n: int) -> BTPairs:
        """The same pairs padded with zero-weight pairs to length n."""
        k = n - self.y.shape[0]
        if k < 0:
            raise ValueError(f"cannot pad {self.y.shape[0]} pairs to {n}")
        return BTPairs(*(np.concatenate([a, np.zeros((k,) + a.shape[1:], a.dtype)]) for a in self))


def bt_pairs(world: RubricWorld, key: jax.Array, kind: str, config: BTConfig = BTConfig()) -> BTPairs:
    """Draw labelled pairs of ``kind`` (see :data:`PAIR_KINDS`). A pure function of ``key``."""
    if kind not in PAIR_KINDS:
        raise ValueError(f"unknown pair kind {kind!r}; expected one of {PAIR_KINDS}")
    if kind == "both":
        k_on, k_off = jax.random.split(key)
        a, b = bt_pairs(world, k_on, "on", config), bt_pairs(world, k_off, "off", config)
        return BTPairs(*(np.concatenate([x, z]) for x, z in zip(a, b, strict=True)))
    n, P = config.pairs_per_prompt, world.n_prompts
    k1, k2, k3, k4 = jax.random.split(key, 4)
    rng = key_rng(k4)
    if kind == "on":
        xa, xb = world.sample("base", k1, n), world.sample("base", k2, n)
    else:
        great = world.sample("great", k1, n)
        weak_b, weak_g = world.sample("base", k2, n), world.sample("good", k3, n)
        weak = np.where(rng.random((P, n, 1)) < 0.5, weak_g, weak_b)
        swap = rng.random((P, n, 1)) < 0.5
        xa, xb = np.where(swap, weak, great), np.where(swap, great, weak)
    ga, gb = world.gold(xa), world.gold(xb)
    prob = 1.0 / (1.0 + np.exp(-(ga - gb) / config.label_temp))
    y = rng.random(prob.shape) < prob
    xa, xb = perceive(xa, rng, config), perceive(xb, rng, config)
    prompt = np.broadcast_to(np.arange(P)[:, None], (P, n))
    return BTPairs(
        xa.reshape(-1, M).astype(np.float32),
        xb.reshape(-1, M).astype(np.float32),
        prompt.reshape(-1).astype(np.int32),
        y.reshape(-1).astype(np.float32),
        np.ones(P * n, np.float32),
    )


STYLE_MASK: np.ndarray = np.array([p.kind == "style" for p in PROPERTIES])  # (M,) the style artifacts
STYLE_MASK.setflags(write=False)


def perceive(x: np.ndarray, rng: np.random.Generator, config: BTConfig = BTConfig()) -> np.ndarray:
    """What the model perceives of responses ``x`` (..., M) 0/1: each property flipped with its kind's rate,
    then, in responses with a halo trigger (judged on the TRUE properties: style is seen exactly), each
    property of the halo's kinds read as present with probability ``halo.strength``. Same shape and dtype."""
    x = np.asarray(x)
    seen = x ^ (rng.random(x.shape) < config.flip_rates())
    halo = config.halo.styled(x)[..., None] & (rng.random(x.shape) < config.halo.property_rates())
    return (seen | halo).astype(x.dtype)


def fit_bt(pairs: BTPairs, n_prompts: int, config: BTConfig = BTConfig()) -> jax.Array:
    """Fit the BT model; returns the per-prompt weights ``u + d`` of shape (n_prompts, M).

    Only ``steps``, ``lr`` and the L2 penalties of ``config`` are used here (perception acts on the data)."""
    xa, xb, pr, y, wt = (jnp.asarray(a) for a in pairs)
    dx = xa - xb
    sgn = 2.0 * y - 1.0

    def loss(params):
        u, d = params
        s = (dx * (u[None, :] + d[pr])).sum(-1)
        nll = (wt * jax.nn.softplus(-sgn * s)).sum() / jnp.maximum(wt.sum(), 1.0)
        return nll + 0.5 * config.l2_shared * (u**2).sum() + 0.5 * config.l2_prompt * (d**2).sum() / n_prompts

    grad = jax.grad(loss)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def step(state, t):
        params, m, v = state
        g = grad(params)
        m = jax.tree.map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree.map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        mh = jax.tree.map(lambda a: a / (1 - b1 ** (t + 1)), m)
        vh = jax.tree.map(lambda a: a / (1 - b2 ** (t + 1)), v)
        params = jax.tree.map(lambda p, a, b: p - config.lr * a / (jnp.sqrt(b) + eps), params, mh, vh)
        return (params, m, v), None

    zeros = (jnp.zeros(M), jnp.zeros((n_prompts, M)))
    (params, _, _), _ = jax.lax.scan(step, (zeros, zeros, zeros), jnp.arange(config.steps, dtype=jnp.float32))
    u, d = params
    return u[None, :] + d


@partial(jax.jit, static_argnames=("n_prompts", "config"))
def fit_bt_many(pairs: BTPairs, n_prompts: int, config: BTConfig = BTConfig()) -> jax.Array:
    """:func:`fit_bt` vmapped over a leading axis of stacked pairs (S, N, ...) -> (S, n_prompts, M)."""
    return jax.vmap(lambda p: fit_bt(p, n_prompts, config))(BTPairs(*pairs))


def bt_proxy(weights, config: BTConfig = BTConfig(), c_max: int = M) -> ProxyArrays:
    """The fitted model (P, M) as a training proxy that perceives the policy's samples as it perceived its
    training pairs: flip probability = false-positive = false-negative rate, and the style halo (see
    :func:`perceive`; the trainer applies it to samples with a style artifact)."""
    px = linear_proxy(np.asarray(weights), c_max)
    flip = np.zeros(px.fpr.shape, np.float32)
    flip[:, :M] = config.flip_rates()[None, :]
    halo = np.zeros(px.fpr.shape, np.float32)
    halo[:, :M] = config.halo.property_rates()[None, :]
    trigger = np.broadcast_to(config.halo.trigger_mask().astype(np.float32), px.halo_trigger.shape).copy()
    return px._replace(fpr=flip, fnr=flip.copy(), halo=halo, halo_trigger=trigger)
