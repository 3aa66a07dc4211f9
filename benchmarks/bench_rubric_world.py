"""Rubric-world trainer: the counter-hash uniform generator vs JAX's threefry, in the same run.

The vmapped GRPO trainer (sim/rubric_train.py) draws P x G x (M + C) uniforms per step per run; this times
that draw for the default experiment's batch (16 seeds x 10 proxies) with ``jax.random.uniform`` (threefry)
and with ``sim.rubric_train._hash_uniform``, both jitted, and prints the ratio. It also times the XLA compile
of the whole vmapped trainer, and of a copy of it whose steps draw with threefry instead (what the trainer
did first), again in the same run.

    nice -n 10 python benchmarks/bench_rubric_world.py [--reps 20]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from sim import rubric_train as rt
from sim.rubric_world import M, SimVerifier, WorldConfig, make_world


def _time(f, *args, reps: int) -> float:
    jax.block_until_ready(f(*args))
    t = time.perf_counter()
    for _ in range(reps):
        out = f(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / reps


def _threefry_train(key, base_logits, proxy, gold_weights, config):
    """rt.train with its step uniforms drawn by threefry (jax.random.uniform on per-step split keys)."""
    theta0 = jnp.asarray(base_logits, jnp.float32)
    px = rt.ProxyArrays(*(jnp.asarray(a, jnp.float32) for a in proxy))
    P, G, C = theta0.shape[0], config.group_size, px.mask.shape[-2]

    def step(theta, k):
        u = jax.random.uniform(k, (P, G, M + C))
        p = jax.nn.sigmoid(theta)
        x = (u[..., :M] < p[:, None, :]).astype(jnp.float32)
        r = rt._proxy_reward(u[..., M:], x, px)
        adv = (r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + config.adv_eps)
        grad = -(adv[..., None] * (x - p[:, None, :])).mean(1) + config.kl_coef * p * (1 - p) * (theta - theta0)
        return theta - config.lr * grad, rt._gold(p[:, None, :], jnp.asarray(gold_weights)).mean()

    return jax.lax.scan(step, theta0, jax.random.split(key, config.steps))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    S, K, P, G, C = 16, 10, 64, 16, 16
    shape = (S * K, P, G, M + C)
    key = jax.random.key(0)
    threefry = jax.jit(lambda k: jax.random.uniform(k, shape))
    seeds = jax.random.bits(key, (S * K, 2), jnp.uint32)
    hashed = jax.jit(jax.vmap(lambda s: rt._hash_uniform(s, shape[1:])))
    t_tf = _time(threefry, key, reps=args.reps)
    t_h = _time(hashed, seeds, reps=args.reps)
    print(
        f"uniforms per trainer step ({np.prod(shape):,}): threefry {t_tf * 1e3:.1f} ms, "
        f"hash {t_h * 1e3:.1f} ms, ratio {t_tf / t_h:.1f}x"
    )

    w = make_world(jax.random.key(1), WorldConfig())
    px = rt.rubric_proxy(w.initial_rubrics, SimVerifier(w), C)
    stk = rt.ProxyArrays(*(jnp.asarray(np.broadcast_to(a, (S, K) + a.shape)) for a in px))
    keys = jax.random.split(key, S * K).reshape(S, K)
    base = jnp.asarray(np.broadcast_to(w.base_logits(), (S, P, M)), jnp.float32)
    gw = jnp.asarray(np.broadcast_to(w.gold_weights, (S, P, M)), jnp.float32)
    cfg = rt.TrainConfig()
    for name, fn in (("hash (sim.rubric_train)", rt.train), ("threefry per step", _threefry_train)):

        def run(k, b, p, g, fn=fn):
            inner = jax.vmap(lambda k_, p_: fn(k_, b, p_, g, cfg))
            return inner(k, p)

        many = jax.jit(jax.vmap(run))
        t = time.perf_counter()
        many.lower(keys, base, stk, gw).compile()
        print(f"compile of the vmapped trainer (16 x 10 runs), {name}: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
