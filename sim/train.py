"""Training dynamics on the quantile bandit: a tabular softmax policy per context, started at the base policy
and trained on the proxy reward, with the true reward watched exactly at every step. JAX.

Two update rules (:class:`TrainConfig`):

``grpo``   G samples per context per step (inverse-CDF draws from the current policy), group-normalized
           advantages ``A_i = (r_i - mean) / (std + eps)`` (``normalize_std=False`` drops the division, as in
           Dr. GRPO), the policy-gradient step ``(1/G) sum_i A_i grad log pi(a_i)`` written out for a softmax
           (``e_a - pi``), optional PPO clipping over ``ppo_epochs`` passes on the same samples.
``exact``  REINFORCE with the exact expected gradient ``grad_k = pi_k (r_k - E_pi r)`` (optionally divided by
           the exact std of r under pi, the mean-field limit of GRPO's normalization).

KL penalty ``beta * KL(pi || pi0)``: ``kl_grad='exact'`` uses its exact gradient ``pi_k (log(pi_k/p_k) - KL)``
(with ``exact`` updates and no std normalization the fixed point is exactly the tilt ``pi0 exp(r/beta)``).
``kl_grad='k3'`` is what TRL's GRPO does: the per-sample k3 estimator ``p/pi - log(p/pi) - 1`` at the drawn
arms; its expected gradient is ``pi - p``, the gradient of the *reverse* KL(pi0 || pi), so its fixed point
is not the tilt (kept as an option to show that).

Recorded at every step (before that step's update, plus once after the last update, so ``steps + 1`` rows),
each averaged over contexts and computed exactly from the current policy (no sampling noise):
``proxy_reward = E_pi[r]``, ``proxy_win_rate = E_pi[v]`` (v the proxy's mid-rank quantile under pi0; equal
to proxy_reward for a quantile map with equal-mass arms), ``true_win_rate = E_pi[u]``,
``expected_true = E_pi[r*]``, ``kl = KL(pi || pi0)``.

Batching: :func:`train_batch` is jit + vmap over seeds and over a batch of proxies (maps or error models,
stacked as ``(R, M, C, K)`` arrays); :func:`train_sharded` splits the seed axis over JAX devices with
``shard_map``. This module never imports ``theory``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from rewards.checks import check_fields
from rewards.quantile import AdditiveError, QuantileMap
from sim.bandit import WorldConfig, make_world, mid_rank_quantiles, proxy_for

__all__ = [
    "METRICS",
    "Tasks",
    "TrainingCurves",
    "TrainConfig",
    "build_tasks",
    "train_batch",
    "train_sharded",
]


class TrainingCurves(NamedTuple):
    """What training records at every step (a pytree): each field ``(R, M, steps + 1)`` for R seeds and M proxies
    (or ``(..., steps + 1)`` in general), computed exactly from the current policy and averaged over contexts.

    proxy_reward:   E_pi[r].
    proxy_win_rate: E_pi[v], v the proxy's mid-rank quantile under pi0.
    true_win_rate:  E_pi[u], the win rate against the base policy.
    expected_true:  E_pi[r*].
    kl:             KL(pi || pi0).
    """

    proxy_reward: jax.Array
    proxy_win_rate: jax.Array
    true_win_rate: jax.Array
    expected_true: jax.Array
    kl: jax.Array


# Inside the jitted dynamics the metrics travel packed as columns of one array, in this order (one einsum
# computes four of them, and XLA's fused reductions over the packed array are what the committed numbers were
# computed with); they are read by name through _COLUMN, and results leave as TrainingCurves.
METRICS: tuple[str, ...] = TrainingCurves._fields
_COLUMN = {name: i for i, name in enumerate(METRICS)}


@dataclass(frozen=True)
class TrainConfig:
    """Training dynamics settings. These defaults are the ``chase sim train`` defaults (its flags are generated
    from this class): GRPO with natural-gradient steps, lr 0.02, G = 32, chosen so that a top-band error shows
    its rise, peak and fall within 400 steps.

    algo:          ``grpo`` (sampled groups) or ``exact`` (exact expected gradient).
    steps:         number of updates T (metrics are recorded T + 1 times).
    lr:            learning rate on the logits.
    beta:          KL penalty coefficient (0 = none).
    group:         G, samples per context per step (grpo).
    normalize_std: divide advantages by the group std (grpo) / the exact std under pi (exact).
                   None = the algorithm's default: True for grpo, False for exact.
    ppo_epochs:    gradient passes per batch of samples (grpo); clipping only bites when > 1.
    clip_eps:      PPO clip range epsilon (grpo).
    kl_grad:       ``exact`` (gradient of KL(pi || pi0)) or ``k3`` (TRL's sampled k3 estimator; grpo only).
    geometry:      ``natural`` (Fisher-preconditioned: natural policy gradient / mirror descent, the idealization
                   of PPO/TRPO-style trust-region steps) or ``vanilla`` (the plain gradient on the logits).
                   With ``exact`` + ``natural`` + beta = 0 the policy after t steps is exactly the tilt
                   pi0 exp(r / beta_t) with 1/beta_t = lr * t; ``vanilla`` moves along a different path
                   (p ∝ 1/(c - r) in the continuum), which never overshoots a top-band error; see
                   docs/bandit_findings.md. Default natural: see the same report.
    adv_eps:       added to the std before dividing (TRL uses 1e-4).
    lr_decay_steps: 0 = constant learning rate; tau > 0 = lr_t = lr / (1 + t / tau), a Robbins-Monro schedule
                   (sum lr_t diverges, sum lr_t^2 converges). Sampled GRPO with beta > 0 needs it to settle on
                   the tilt: at a constant lr the policy keeps fluctuating and its time-averaged KL and win rate
                   sit measurably below the fixed point (docs/bandit_findings.md, section 5).
    """

    algo: str = "grpo"
    steps: int = 400
    lr: float = 0.02
    beta: float = 0.0
    group: int = 32
    normalize_std: bool | None = None
    ppo_epochs: int = 1
    clip_eps: float = 0.2
    kl_grad: str = "exact"
    geometry: str = "natural"
    adv_eps: float = 1e-4
    lr_decay_steps: float = 0.0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.algo not in ("grpo", "exact"):
            raise ValueError(f"TrainConfig.algo={self.algo!r}: expected 'grpo' or 'exact'")
        if self.steps < 1 or self.group < 2 or self.ppo_epochs < 1:
            raise ValueError(
                f"TrainConfig: steps={self.steps}, group={self.group} (>= 2), "
                f"ppo_epochs={self.ppo_epochs} must be positive"
            )
        if not (self.lr > 0 and self.beta >= 0 and self.clip_eps > 0 and self.lr_decay_steps >= 0):
            raise ValueError(f"TrainConfig: lr={self.lr} > 0, beta={self.beta} >= 0, clip_eps={self.clip_eps} > 0")
        if self.kl_grad not in ("exact", "k3"):
            raise ValueError(f"TrainConfig.kl_grad={self.kl_grad!r}: expected 'exact' or 'k3'")
        if self.geometry not in ("natural", "vanilla"):
            raise ValueError(f"TrainConfig.geometry={self.geometry!r}: expected 'natural' or 'vanilla'")
        if self.kl_grad == "k3" and self.algo != "grpo":
            raise ValueError("TrainConfig.kl_grad='k3' is a sampled estimator: use it with algo='grpo'")

    @property
    def std_normalized(self) -> bool:
        return (self.algo == "grpo") if self.normalize_std is None else bool(self.normalize_std)


class Tasks(NamedTuple):
    """Stacked training inputs (a pytree). R seeds, M proxies, C contexts, K arms.

    keys:  (R,) PRNG keys for the training randomness (grpo draws).
    logp0, u, true: (R, C, K) the world of each seed.
    proxy, v:       (R, M, C, K) proxy reward and its mid-rank quantile under pi0.
    """

    keys: jax.Array
    logp0: jax.Array
    u: jax.Array
    true: jax.Array
    proxy: jax.Array
    v: jax.Array


def build_tasks(key: jax.Array, n_seeds: int, world: WorldConfig, proxies: list[QuantileMap | AdditiveError]) -> Tasks:
    """Seed i uses key ``fold_in(key, i)``, split into world / proxy / training keys; every proxy of a seed
    shares that seed's world (so maps are compared on common random numbers)."""
    if n_seeds < 1 or not proxies:
        raise ValueError(f"build_tasks: need n_seeds >= 1 and at least one proxy (got {n_seeds}, {len(proxies)})")
    base = key
    keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(n_seeds))
    k_world, k_proxy, k_train = jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, 3))(keys), 1, 0)
    worlds = _worlds(k_world, world)
    prox, vs = zip(*(_proxies(worlds, k_proxy, spec) for spec in proxies), strict=True)
    return Tasks(k_train, worlds.logp0, worlds.u, worlds.true, jnp.stack(prox, 1), jnp.stack(vs, 1))


# module-level jitted pieces (static configs) so that repeated calls reuse the compiled code
@partial(jax.jit, static_argnums=(1,))
def _worlds(k_world, world: WorldConfig):
    return jax.vmap(lambda k: make_world(k, world))(k_world)


@partial(jax.jit, static_argnums=(2,))
def _proxies(worlds, k_proxy, spec):
    r = jax.vmap(lambda w, k: proxy_for(w, spec, k))(worlds, k_proxy)
    return r, mid_rank_quantiles(jnp.exp(worlds.logp0), r)


# ----------------------------------------------------------------------------------------------- one step
# Internally every (seed, proxy, context) is one independent "row": the dynamics run on (N, K) arrays of rows.
# (Nested vmaps over seeds and maps gave XLA:CPU (R, M, C, K) reductions that ran ~6x slower than the same
# work laid out as rows.) On CPU the rows go through lax.map in blocks of ROWS_PER_BLOCK, each block running
# all its steps while its arrays sit in cache (~BLOCK_ELEMENTS_CPU arms per block: 16 rows of 10^4 arms measured
# best on the 2-core dev box; smaller blocks drown in per-op overhead); on an accelerator all rows go at once.
BLOCK_ELEMENTS_CPU = 160_000


def _metrics(pi, logpi, logp0, x):
    """Exact per-row metrics (N, len(METRICS)) from the policy ``pi`` (and its log) and the stacked inputs
    ``x = [proxy, v, u, true]`` (N, 4, K): one pass computes the four expectations, one more the KL."""
    s = jnp.einsum("nk,njk->nj", pi, x)
    kl = jnp.sum(pi * (logpi - logp0), axis=-1)
    return jnp.concatenate([s, kl[:, None]], axis=-1)


def _lr_at(t, cfg: TrainConfig):
    """The learning rate at step t (a traced int): constant, or lr / (1 + t / tau)."""
    if cfg.lr_decay_steps > 0:
        return cfg.lr / (1.0 + t / cfg.lr_decay_steps)
    return cfg.lr


def _exact_update(theta, pi, logpi, logp0, proxy, rbar, kl, cfg: TrainConfig, lr):
    adv = proxy - rbar[:, None]
    if cfg.std_normalized:
        std = jnp.sqrt(jnp.sum(pi * adv**2, axis=-1, keepdims=True))
        adv = adv / (std + cfg.adv_eps)
    if cfg.beta > 0:
        adv = adv - cfg.beta * ((logpi - logp0) - kl[:, None])
    # vanilla: the gradient pi_k * A_k; natural: the Fisher-preconditioned gradient, which for a tabular
    # softmax is A_k itself (up to a constant shift of the logits, which changes nothing)
    return theta + lr * (adv if cfg.geometry == "natural" else pi * adv)


def _grpo_update(theta, keys, t, pi, logpi, logp0, proxy, kl, cfg: TrainConfig):
    lr = _lr_at(t, cfg)
    n, k = theta.shape
    g = cfg.group
    rows = jnp.arange(n)[:, None]
    cdf = jnp.cumsum(pi, axis=-1)
    unif = jax.vmap(lambda key: jax.random.uniform(jax.random.fold_in(key, t), (g,), dtype=pi.dtype))(keys)
    unif = unif * cdf[:, -1:]
    # compare_all: a plain compare-and-count (fast to compile, O(G K)); a binary search (scan) beyond 256 arms
    method = "compare_all" if k <= 256 else "scan"
    arms = jnp.minimum(jax.vmap(partial(jnp.searchsorted, side="right", method=method))(cdf, unif), k - 1)  # (N, G)
    r = proxy[rows, arms]
    adv = r - jnp.mean(r, axis=-1, keepdims=True)
    if cfg.std_normalized:
        adv = adv / (jnp.std(r, axis=-1, ddof=1, keepdims=True) + cfg.adv_eps)
    logpi_old_a = logpi[rows, arms]
    for epoch in range(cfg.ppo_epochs):  # static: a handful of passes on the same samples
        if epoch > 0:
            logpi = jax.nn.log_softmax(theta, axis=-1)
            pi = jnp.exp(logpi)
            kl = jnp.sum(pi * (logpi - logp0), axis=-1)
        ratio = jnp.exp(logpi[rows, arms] - logpi_old_a)
        # d/dtheta min(ratio*A, clip(ratio)*A) = A*ratio*grad log pi(a) where the unclipped term is the min
        keep = jnp.where(adv >= 0, ratio <= 1 + cfg.clip_eps, ratio >= 1 - cfg.clip_eps)
        w = jnp.where(keep, adv * ratio, 0.0) / g  # (N, G)
        if cfg.beta > 0 and cfg.kl_grad == "k3":
            # grad of k3 = p/pi - log(p/pi) - 1 at a drawn arm is (1 - p_a/pi_a) grad log pi(a)
            w = w - cfg.beta * (1.0 - jnp.exp(logp0[rows, arms] - logpi[rows, arms])) / g
        if cfg.geometry == "natural":
            # unbiased estimate of the natural gradient A_k: each draw of arm a adds w / pi(a) to its logit
            # (importance weight 1/pi under the sampling policy); E = sum_k pi_k * A_k / pi_k e_k = A
            grad = jnp.zeros_like(theta).at[rows, arms].add(w * jnp.exp(-logpi_old_a))
        else:
            # sum_i w_i (e_{a_i} - pi)
            grad = jnp.zeros_like(theta).at[rows, arms].add(w) - pi * jnp.sum(w, axis=-1, keepdims=True)
        if cfg.beta > 0 and cfg.kl_grad == "exact":
            kl_adv = (logpi - logp0) - kl[:, None]
            grad = grad - cfg.beta * (kl_adv if cfg.geometry == "natural" else pi * kl_adv)
        theta = theta + lr * grad
    return theta


def _run_block(keys, logp0, u, true, proxy, v, cfg: TrainConfig) -> jax.Array:
    """All steps for one block of rows (``(B, K)``, keys ``(B,)``); per-row metrics ``(steps + 1, B, len(METRICS))``."""
    x = jnp.stack([proxy, v, u, true], axis=1)  # (B, 4, K)

    def policy(theta):
        mx = jnp.max(theta, axis=-1, keepdims=True)
        e = jnp.exp(theta - mx)
        z = jnp.sum(e, axis=-1, keepdims=True)
        lse = mx + jnp.log(z)
        return e / z, theta - lse, lse[:, 0]

    def step(theta, t):
        pi, logpi, lse = policy(theta)
        row = _metrics(pi, logpi, logp0, x)
        rbar, kl = row[:, _COLUMN["proxy_reward"]], row[:, _COLUMN["kl"]]
        if cfg.algo == "exact":
            theta = _exact_update(theta, pi, logpi, logp0, proxy, rbar, kl, cfg, _lr_at(t, cfg))
        else:
            theta = _grpo_update(theta, keys, t, pi, logpi, logp0, proxy, kl, cfg)
        return theta, row

    theta, rows = jax.lax.scan(step, logp0, jnp.arange(cfg.steps))
    pi, logpi, _ = policy(theta)
    return jnp.concatenate([rows, _metrics(pi, logpi, logp0, x)[None]], axis=0)


def _train_rows(keys, logp0, u, true, proxy, v, cfg: TrainConfig, groups: int) -> jax.Array:
    """The dynamics on N independent rows (all ``(N, K)``, keys ``(N,)``); metrics averaged within ``groups``
    equal consecutive blocks of rows. Returns ``(steps + 1, groups, len(METRICS))``."""
    n, k = logp0.shape
    block = min(n, max(1, BLOCK_ELEMENTS_CPU // k)) if jax.default_backend() == "cpu" else n
    pad = (-n) % block
    arrays = (keys, logp0, u, true, proxy, v)
    if pad:  # repeat the last row; its metrics are dropped below
        arrays = tuple(jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)], axis=0) for a in arrays)
    blocks = tuple(a.reshape(-1, block, *a.shape[1:]) for a in arrays)
    out = jax.lax.map(lambda b: _run_block(*b, cfg), blocks)  # (n_blocks, T+1, block, len(METRICS))
    out = jnp.moveaxis(out, 0, 1).reshape(cfg.steps + 1, -1, len(METRICS))[:, :n]
    return out.reshape(cfg.steps + 1, groups, n // groups, len(METRICS)).mean(axis=2)


def _context_keys(key, c: int):
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(c))


def _train_seeds(tasks: Tasks, cfg: TrainConfig):
    r, m, c, k = tasks.proxy.shape
    # context c of seed s draws from fold_in(key_s, c) under every proxy: common random numbers across maps
    keys = jax.vmap(lambda kk: _context_keys(kk, c))(tasks.keys)  # (R, C)
    keys = jnp.broadcast_to(keys[:, None], (r, m, c)).reshape(-1)
    world = [jnp.broadcast_to(x[:, None], (r, m, c, k)).reshape(-1, k) for x in (tasks.logp0, tasks.u, tasks.true)]
    out = _train_rows(
        keys, world[0], world[1], world[2], tasks.proxy.reshape(-1, k), tasks.v.reshape(-1, k), cfg, r * m
    )
    return jnp.moveaxis(out.reshape(cfg.steps + 1, r, m, len(METRICS)), 0, 2)


def _as_curves(packed: jax.Array) -> TrainingCurves:
    return TrainingCurves(*jnp.moveaxis(packed, -1, 0))


@partial(jax.jit, static_argnums=(1,))
def train_batch(tasks: Tasks, cfg: TrainConfig) -> TrainingCurves:
    """:class:`TrainingCurves` ``(R, M, steps + 1)`` for every seed and proxy, on the default device."""
    return _as_curves(_train_seeds(tasks, cfg))


def train_sharded(tasks: Tasks, cfg: TrainConfig, devices=None) -> TrainingCurves:
    """As :func:`train_batch`, with the seed axis split over ``devices`` (default: all) by ``shard_map``.

    Seeds are independent, so each device runs the vmapped dynamics on its slice and nothing is
    communicated. The seed count is padded up to a multiple of the device count (repeating the last seed)
    and the padding is dropped from the result.
    """
    devices = list(jax.devices() if devices is None else devices)
    nd = len(devices)
    r = tasks.logp0.shape[0]
    pad = (-r) % nd
    if pad:
        tasks = jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0), tasks)
    out = _sharded_fn(tuple(devices), cfg)(tasks)
    return jax.tree.map(lambda x: x[:r], out) if pad else out


@lru_cache(maxsize=16)  # compiled functions per (devices, config); bounded so that sweeps cannot grow it forever
def _sharded_fn(devices: tuple, cfg: TrainConfig):
    mesh = Mesh(np.array(devices), ("seeds",))
    spec = PartitionSpec("seeds")
    body = jax.shard_map(lambda t: _train_seeds(t, cfg), mesh=mesh, in_specs=(spec,), out_specs=spec)
    return jax.jit(lambda t: _as_curves(body(t)))  # named inside jit: the fields stay sharded over the seeds
