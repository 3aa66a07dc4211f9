"""The quantile bandit: contexts x K arms, a base policy, a true reward, and a proxy that is wrong in chosen
quantile bands (or wrong by additive noise). Exact tilt and best-of-n, and sampled best-of-n. JAX.

Shapes: every per-arm array is ``(..., K)`` with arms on the last axis; a world holds ``(C, K)`` arrays
(C contexts). Every random thing is a pure function of an explicit PRNG key (``jax.random.key``).

Conventions (docs/theory.md sections 1-3, shared with ``theory/`` but implemented here independently; this
module never imports ``theory`` so the tests can use the two as independent witnesses):

- the true quantile of arm k is its mid-rank under the base policy ``p``:
  ``u_k = P0(r* < r*_k) + P0(r* = r*_k) / 2``, so ``E_p[u] = 1/2`` exactly;
- a quantile-map proxy is ``v = f(u)`` with ``f`` a :class:`rewards.QuantileMap` (noise bands draw an
  independent Uniform(0,1) per arm from the key); the reward the procedures see is ``v`` itself;
- an additive-error proxy is ``r = r* + X`` (:class:`rewards.AdditiveError`);
- win rate of a policy ``pi`` against ``p`` is ``E_pi[u]``; KL is ``KL(pi || p)``.

Floating point: the code follows the dtype of its inputs (float32 by default in JAX). The best-of-n pmf
is written so that float32 keeps its relative accuracy in the top tail, where it matters: masses above
a proxy level are computed as suffix sums (small numbers added to small numbers) and ``F**n - F_**n`` as
``F**n * -expm1(n * log(F_/F))``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rewards.checks import check_fields, check_memory
from rewards.quantile import AdditiveError, QuantileMap, SpecError, parse_error

__all__ = [
    "BonSample",
    "World",
    "WorldConfig",
    "additive_proxy",
    "base_logits",
    "bon_pmf",
    "evaluate",
    "make_world",
    "mid_rank_quantiles",
    "parse_proxy",
    "proxy_for",
    "quantile_proxy",
    "sample_bon",
    "spec_key",
    "tilt_logpmf",
]


# ----------------------------------------------------------------------------------------------- world
@dataclass(frozen=True)
class WorldConfig:
    """How a quantile-bandit world is drawn.

    contexts: number of independent contexts C (prompts); results are averaged over them.
    arms:     arms per context K.
    base:     base-policy logits: ``uniform`` (equal-mass arms, the continuous theory's limit),
              ``zipf:S`` (p_k proportional to (rank_k + 1)^-S, arm order shuffled per context), or
              ``random:S`` (logits ~ S * N(0, 1)).
    true:     true reward per arm: ``gauss`` (N(0, 1) i.i.d.); pass ``true=`` to :func:`make_world`
              to give it explicitly instead.
    """

    contexts: int = 32
    arms: int = 10_000
    base: str = "uniform"
    true: str = "gauss"

    def __post_init__(self) -> None:
        check_fields(self)
        # a drawn world holds ~8 float32 arrays of (contexts, arms): base log-probs, truth, quantiles, proxies...
        check_memory(32.0 * self.contexts * self.arms, "the bandit world", "lower arms or contexts")
        if self.contexts < 1 or self.arms < 1:
            raise ValueError(f"WorldConfig: contexts={self.contexts} and arms={self.arms} must be >= 1")
        _parse_base(self.base)
        if self.true != "gauss":
            raise ValueError(f"WorldConfig.true={self.true!r}: expected 'gauss' (or pass true= to make_world)")


class World(NamedTuple):
    """A drawn world (a JAX pytree). All fields ``(C, K)``.

    logp0: base-policy log-probabilities (normalized per context).
    true:  true reward r*.
    u:     mid-rank true quantile under the base policy.
    """

    logp0: jax.Array
    true: jax.Array
    u: jax.Array


def _parse_base(base: str) -> tuple[str, float]:
    parts = base.split(":")
    if parts[0] == "uniform" and len(parts) == 1:
        return "uniform", 0.0
    if parts[0] in ("zipf", "random") and len(parts) == 2:
        try:
            s = float(parts[1])
        except ValueError:
            raise ValueError(f"base {base!r}: {parts[1]!r} is not a number") from None
        if not (np.isfinite(s) and s >= 0):
            raise ValueError(f"base {base!r}: the scale must be a finite number >= 0")
        return parts[0], s
    raise ValueError(f"base {base!r}: expected 'uniform', 'zipf:S' or 'random:S'")


def base_logits(key, cfg: WorldConfig) -> jax.Array:
    """Base-policy logits ``(C, K)``, normalized to log-probabilities."""
    kind, s = _parse_base(cfg.base)
    shape = (cfg.contexts, cfg.arms)
    if kind == "uniform":
        # written out (not log_softmax of zeros): XLA would constant-fold that reduction, slowly
        return jnp.full(shape, -np.log(cfg.arms), dtype=jnp.float32)
    elif kind == "zipf":
        ranks = jnp.arange(1, cfg.arms + 1, dtype=jnp.float32)
        zipf = -s * jnp.log(ranks)
        keys = jax.random.split(key, cfg.contexts)
        # shuffle which arm gets which mass so that base probability and true reward are independent
        logits = jax.vmap(lambda k: jax.random.permutation(k, zipf))(keys)
    else:
        logits = s * jax.random.normal(key, shape)
    return jax.nn.log_softmax(logits, axis=-1)


def _tie_groups(values):
    """Sort order, and per arm (original order) the sorted positions where its tie group starts (lo) and
    ends (hi, exclusive). ``values: (K,)``. Built from the sort with cumulative max/min (no binary searches:
    they compile into nested loops under vmap, which made world building slow to compile)."""
    k = values.shape[0]
    order = jnp.argsort(values)
    sv = values[order]
    idx = jnp.arange(k)
    differs = sv[1:] != sv[:-1]
    first = jnp.concatenate([jnp.ones((1,), bool), differs])
    last = jnp.concatenate([differs, jnp.ones((1,), bool)])
    lo_sorted = jax.lax.cummax(jnp.where(first, idx, 0))
    hi_sorted = jax.lax.cummin(jnp.where(last, idx + 1, k), reverse=True)
    rank = jnp.zeros((k,), idx.dtype).at[order].set(idx)  # inverse permutation
    return order, lo_sorted[rank], hi_sorted[rank]


def _mid_rank_1d(p, values):
    order, lo, _hi = _tie_groups(values)
    below = jnp.concatenate([jnp.zeros((1,), p.dtype), jnp.cumsum(p[order])])[lo]
    # the tied mass is summed directly (not as a difference of cumsums) so it keeps its relative precision
    tied = jax.ops.segment_sum(p, lo, num_segments=values.shape[0])[lo]
    return below + 0.5 * tied


def mid_rank_quantiles(p, values) -> jax.Array:
    """Mid-rank quantiles ``u_k = P(V < v_k) + P(V = v_k)/2`` under ``p``; ``p, values: (..., K) -> (..., K)``."""
    p = jnp.asarray(p)
    values = jnp.asarray(values)
    return jnp.vectorize(_mid_rank_1d, signature="(k),(k)->(k)")(p, values)


@partial(jax.jit, static_argnums=(1,))
def make_world(key, cfg: WorldConfig, true=None) -> World:
    """Draw a world: base logits, true rewards (Gaussian unless ``true`` (C, K) is given) and mid-rank u."""
    k_base, k_true = jax.random.split(key)
    logp0 = base_logits(k_base, cfg)
    if true is None:
        true = jax.random.normal(k_true, logp0.shape)
    else:
        true = jnp.asarray(true, dtype=logp0.dtype)
        if true.shape != logp0.shape:
            raise ValueError(f"make_world: true has shape {true.shape}; expected (contexts, arms) = {logp0.shape}")
    u = mid_rank_quantiles(jnp.exp(logp0), true)
    return World(logp0=logp0, true=true, u=u)


# ----------------------------------------------------------------------------------------------- proxies
def quantile_proxy(world: World, qmap: QuantileMap, key) -> jax.Array:
    """Proxy ``v = f(u)`` for every arm, ``(C, K)``; noise bands draw Uniform(0,1) per arm from ``key``."""
    noise = None if qmap.is_deterministic else jax.random.uniform(key, world.u.shape, dtype=world.u.dtype)
    return qmap.f(world.u, noise, xp=jnp).astype(world.u.dtype)


def additive_proxy(world: World, err: AdditiveError, key) -> jax.Array:
    """Proxy ``r = r* + X`` for every arm, ``(C, K)``."""
    return (world.true + err.sample_jax(key, world.true.shape)).astype(world.true.dtype)


def parse_proxy(spec: str, kind: str = "map") -> QuantileMap | AdditiveError:
    """``kind='map'``: a QuantileMap spec; ``kind='error'``: an additive-error spec (``gauss:S``, ``t:DF:S``)."""
    if kind == "map":
        return QuantileMap.parse(spec)
    if kind == "error":
        return parse_error(spec)
    raise SpecError(f"proxy kind {kind!r}: expected 'map' or 'error'")


def spec_key(key, spec: str):
    """A key for one proxy spec, independent of where the spec sits in a list (stable CRC32 of its text)."""
    return jax.random.fold_in(key, zlib.crc32(spec.encode()) & 0x7FFFFFFF)


def proxy_for(world: World, proxy: QuantileMap | AdditiveError, key) -> jax.Array:
    """The proxy array ``(C, K)`` for a map or an additive error model (its key is ``spec_key(key, str(proxy))``)."""
    k = spec_key(key, str(proxy))
    if isinstance(proxy, QuantileMap):
        return quantile_proxy(world, proxy, k)
    if isinstance(proxy, AdditiveError):
        return additive_proxy(world, proxy, k)
    raise TypeError(f"proxy_for: expected a QuantileMap or AdditiveError, got {type(proxy).__name__}")


# ----------------------------------------------------------------------------------------------- exact procedures
def tilt_logpmf(logp0, proxy, beta) -> jax.Array:
    """log pi_beta with ``pi_beta ∝ p * exp(proxy / beta)``; ``(..., K)``; ``beta > 0`` broadcasts over ``...``."""
    beta = jnp.asarray(beta)
    return jax.nn.log_softmax(logp0 + proxy / beta[..., None], axis=-1)


def _bon_pmf_1d(p, proxy, n):
    k = proxy.shape[0]
    order, lo, hi = _tie_groups(proxy)
    # F = P0(r <= level) comes from whichever of the prefix sum (mass below) and the suffix sum (mass above)
    # is the smaller number: a sum of small numbers keeps float32's relative precision and 1 - (a sum near 1)
    # would not (F**n needs it at the top, F itself at the bottom).
    ps = p[order]
    prefix = jnp.concatenate([jnp.zeros((1,), p.dtype), jnp.cumsum(ps)])
    suffix = jnp.concatenate([jnp.cumsum(ps[::-1])[::-1], jnp.zeros((1,), p.dtype)])
    below, above = prefix[lo], suffix[hi]
    mass = jax.ops.segment_sum(p, lo, num_segments=k)[lo]

    f_hi = below + mass  # F(level) from the prefix side ...
    log_f = jnp.where(f_hi < 0.5, jnp.log(f_hi), jnp.log1p(-jnp.clip(above, 0.0, 1.0)))  # ... or the suffix side
    f = jnp.exp(log_f)
    # F^n - F_^n = F^n * (1 - (1 - mass/F)^n), with log1p/expm1 so that a small tie mass keeps its precision
    ratio = jnp.clip(mass / jnp.where(f > 0, f, 1.0), 0.0, 1.0)
    group_prob = jnp.exp(n * log_f) * -jnp.expm1(n * jnp.log1p(-ratio))
    return jnp.where(mass > 0, p / jnp.where(mass > 0, mass, 1.0) * group_prob, 0.0)


def bon_pmf(logp0, proxy, n) -> jax.Array:
    """Exact best-of-n pmf ``(..., K)``: the winner of n base draws by proxy, ties broken uniformly.

    A tie group at level l gets ``F(l)^n - F_(l)^n`` (``F = P0(r <= l)``, ``F_ = P0(r < l)``), split ∝ p.
    ``n`` is a scalar (or broadcasts against ``...``).
    """
    p = jnp.exp(jnp.asarray(logp0))
    proxy = jnp.asarray(proxy)
    n = jnp.asarray(n, dtype=p.dtype)
    return jnp.vectorize(_bon_pmf_1d, signature="(k),(k),()->(k)")(p, proxy, n)


def evaluate(logp0, logpi, u, true) -> dict[str, jax.Array]:
    """Exact metrics of a policy per context, all ``(...,)``: ``win_rate = E_pi[u]``, ``expected_true =
    E_pi[r*]``, ``kl = KL(pi || p)``. ``logpi`` may hold ``-inf`` for arms with zero probability."""
    pi = jnp.exp(logpi)
    log_ratio = jnp.where(pi > 0, logpi - logp0, 0.0)
    return {
        "win_rate": jnp.sum(pi * u, axis=-1),
        "expected_true": jnp.sum(pi * true, axis=-1),
        "kl": jnp.sum(pi * log_ratio, axis=-1),
    }


# ----------------------------------------------------------------------------------------------- sampled best-of-n
class BonSample(NamedTuple):
    """Sampled best-of-n over M draws spread evenly over the contexts (draw d uses context d mod C).

    win_rate, se:      mean true quantile u of the winners and its standard error. With C > 1 the SE is
                       cluster-robust over contexts (it includes the between-context spread, e.g. from
                       noise-band draws); with C = 1 it is the i.i.d. SE.
    kl_estimate, kl_se: Monte Carlo estimate of KL(pi_bon || p) = E_bon[log(pi_bon(a) / p(a))], using the
                       exact best-of-n pmf at the sampled arms (handles ties), and its SE.
    exact_win_rate, exact_kl: the exact best-of-n values averaged over the same contexts.
    """

    win_rate: float
    se: float
    kl_estimate: float
    kl_se: float
    exact_win_rate: float
    exact_kl: float
    samples: int


def _cluster_mean_se(x, cluster, n_clusters):
    """Mean of x and its standard error, cluster-robust over ``cluster`` ids (CR1 sandwich)."""
    m = x.shape[0]
    mean = jnp.mean(x)
    if n_clusters <= 1:
        return mean, jnp.std(x, ddof=1) / jnp.sqrt(m)
    sums = jax.ops.segment_sum(x - mean, cluster, num_segments=n_clusters)
    var = n_clusters / (n_clusters - 1) * jnp.sum(sums**2) / float(m) ** 2  # float: m**2 overflows int32
    return mean, jnp.sqrt(var)


def _sample_bon_draws(key, logp0, proxy, n, samples, chunk):
    """Winner arm indices ``(samples,)`` and their contexts, by simulating n base draws per sample."""
    c, k = logp0.shape
    p = jnp.exp(logp0)
    cdf = jnp.cumsum(p, axis=-1)
    ctx_all = jnp.arange(samples) % c
    n_chunks = -(-samples // chunk)
    keys = jax.random.split(key, n_chunks)

    def one_chunk(args):
        kc, start = args
        ctx = (start + jnp.arange(chunk)) % c
        k_draw, k_tie = jax.random.split(kc)
        # inverse-CDF draws: O(n log K) per sample instead of Gumbel-max's O(n K)
        unif = jax.random.uniform(k_draw, (chunk, n), dtype=p.dtype) * cdf[ctx, -1][:, None]
        idx = jax.vmap(lambda cd, uu: jnp.searchsorted(cd, uu, side="right"))(cdf[ctx], unif)
        idx = jnp.minimum(idx, k - 1)
        r = proxy[ctx[:, None], idx]
        best = jnp.max(r, axis=-1, keepdims=True)
        # uniform tie-break among the draws that reach the best proxy value
        tb = jnp.where(r == best, jax.random.uniform(k_tie, (chunk, n)), -1.0)
        win = jnp.take_along_axis(idx, jnp.argmax(tb, axis=-1)[:, None], axis=-1)[:, 0]
        return win

    starts = jnp.arange(n_chunks) * chunk
    wins = jax.lax.map(one_chunk, (keys, starts)).reshape(-1)[:samples]
    return wins, ctx_all


def sample_bon(key, world: World, proxy, n: int, samples: int, chunk: int = 1024) -> BonSample:
    """Sampled best-of-n (see :class:`BonSample`). ``proxy: (C, K)``; ``n >= 1``; ``samples >= 2``."""
    if n < 1 or samples < 2:
        raise ValueError(f"sample_bon: need n >= 1 and samples >= 2, got n={n}, samples={samples}")
    chunk = int(min(chunk, samples))
    # per chunk: n uniform draws, their arm indices, proxy values and tie-break keys (4 bytes each)
    check_memory(16.0 * chunk * n + 12.0 * samples, "sampled best-of-n", "lower n or samples")
    res = _sample_bon_jit(key, world, proxy, int(n), int(samples), chunk)
    return BonSample(*(float(x) for x in res), samples=int(samples))


@partial(jax.jit, static_argnums=(3, 4, 5))
def _sample_bon_jit(key, world, proxy, n, samples, chunk):
    c = world.logp0.shape[0]
    wins, ctx = _sample_bon_draws(key, world.logp0, proxy, n, samples, chunk)
    pmf = bon_pmf(world.logp0, proxy, n)  # (C, K)
    u_w = world.u[ctx, wins]
    log_ratio = jnp.log(pmf[ctx, wins]) - world.logp0[ctx, wins]
    win_rate, se = _cluster_mean_se(u_w, ctx, c)
    kl_est, kl_se = _cluster_mean_se(log_ratio, ctx, c)
    ev = evaluate(world.logp0, jnp.log(pmf), world.u, world.true)
    return win_rate, se, kl_est, kl_se, jnp.mean(ev["win_rate"]), jnp.mean(ev["kl"])
