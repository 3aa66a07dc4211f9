"""Training dynamics on the quantile bandit: jit + vmap (sim.train) vs the same update in numpy.

    nice -n 10 python benchmarks/bench_sim.py [--seeds 64] [--arms 10000] [--steps 500] [--numpy-steps 50]
                                             [--copy-mb 512] [--repeats 3] [--json OUT.json]

Workload: the ``exact`` algorithm (REINFORCE with the exact expected gradient, vanilla geometry, beta = 0)
with the full metrics recorded at every step (proxy reward, proxy win rate, true win rate, expected true
reward, KL), one context per seed: seeds x arms x steps arm-updates. JAX runs ``sim.train.train_batch``
(lax.scan over steps, vmap over seeds). numpy runs the same arithmetic vectorized over arms, looping over
seeds and steps, in float32 like JAX; it is timed on ``--numpy-steps`` steps and extrapolated linearly to
``--steps`` (the loop body does not change with the step), which the output says.

Bandwidth limit, measured in the same run: the best of a numpy ``copyto`` and a jitted, buffer-donating
``x + 1`` over a ``--copy-mb`` float32 array, counting bytes read + written. Bytes per arm update
(float32): the update must read the logit and the five per-arm inputs it uses (base log-prob, proxy,
proxy quantile, true quantile, true reward) and write the logit back: 7 x 4 = 28 bytes. Per-context
scalars (max, normalizer, means, KL) are negligible. Achieved "bandwidth" = arm-updates/s x 28 B; the
fraction is that over the copy limit. If the whole working set fits in the last-level cache
(64 x 10^4 x 28 B = 18 MB here, L3 = 32 MB), it can exceed the DRAM copy limit: the output says so.

On a machine with a GPU, JAX runs there (the numpy baseline stays on the host CPU), and the copy limit is
the GPU's (jitted ``x + 1`` on the device).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from rewards import QuantileMap
from sim.bandit import WorldConfig
from sim.train import METRICS, TrainConfig, build_tasks, train_batch

BYTES_PER_ARM_UPDATE = 7 * 4


def numpy_train(logp0, u, true, proxy, v, lr, steps):
    """The ``exact`` vanilla update with full metrics, one seed at a time; inputs (S, K) float32."""
    out = np.empty((logp0.shape[0], steps, len(METRICS)), np.float32)
    for s in range(logp0.shape[0]):
        theta = logp0[s].copy()
        lp, r, vv, uu, tt = logp0[s], proxy[s], v[s], u[s], true[s]
        for t in range(steps):
            m = theta.max()
            e = np.exp(theta - m)
            z = e.sum()
            pi = e / z
            logpi = theta - (m + np.log(z))
            rbar = pi @ r
            kl = pi @ (logpi - lp)
            out[s, t] = (rbar, pi @ vv, pi @ uu, pi @ tt, kl)
            theta += lr * pi * (r - rbar)
    return out


def copy_bandwidth(mb: int, repeats: int) -> dict:
    n = mb * 2**20 // 4
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    best_np = min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeats))
    # donated input: the output reuses the buffer, so the timing is the streaming, not fresh-page faults
    f = jax.jit(lambda a: a + 1.0, donate_argnums=0)
    box = [f(jax.device_put(jnp.ones(n, jnp.float32)))]
    box[0].block_until_ready()

    def step():
        box[0] = f(box[0])
        box[0].block_until_ready()

    best_jax = min(_timed(step) for _ in range(repeats))
    bytes_moved = 2 * n * 4
    return {
        "numpy_copy_GBps": bytes_moved / best_np / 1e9,
        "jax_copy_GBps": bytes_moved / best_jax / 1e9,
        "limit_GBps": max(bytes_moved / best_np, bytes_moved / best_jax) / 1e9,
        "array_MB": mb,
    }


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=64)
    p.add_argument("--arms", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--numpy-steps", type=int, default=50)
    p.add_argument("--copy-mb", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-numpy", action="store_true")
    p.add_argument("--json", default=None)
    return p


def _jax_timing(tasks, cfg: TrainConfig, repeats: int):
    """``(compile seconds, curves, best run seconds)`` of ``train_batch`` compiled ahead of time."""
    t0 = time.perf_counter()
    compiled = train_batch.lower(tasks, cfg).compile()
    compile_s = time.perf_counter() - t0
    jm = jax.block_until_ready(compiled(tasks))
    jax_s = min(_timed(lambda: jax.block_until_ready(compiled(tasks))) for _ in range(repeats))
    return compile_s, jm, jax_s


def _numpy_timing(args, tasks, jm, lr: float, jax_s: float, updates: int) -> dict:
    """The numpy baseline on ``--numpy-steps`` steps, extrapolated, and its agreement with JAX."""
    ns = min(args.numpy_steps, args.steps)
    # (R, C=1, K) world arrays and (R, M=1, C=1, K) proxy arrays -> (R, K)
    logp0, u, true = (np.asarray(x[:, 0], np.float32) for x in (tasks.logp0, tasks.u, tasks.true))
    proxy, v = (np.asarray(x[:, 0, 0], np.float32) for x in (tasks.proxy, tasks.v))
    t0 = time.perf_counter()
    nm = numpy_train(logp0, u, true, proxy, v, lr, ns)
    np_s_measured = time.perf_counter() - t0
    np_s = np_s_measured * args.steps / ns
    # the two implementations agree on the steps both ran (float32 both; summation order differs)
    diff = float(np.abs(nm - np.stack(jm, -1)[:, 0, :ns]).max())  # TrainingCurves fields in METRICS order
    return {
        "numpy_steps_timed": ns,
        "numpy_s_measured": np_s_measured,
        "numpy_s_extrapolated": np_s,
        "numpy_arm_updates_per_s": updates / np_s,
        "speedup": np_s / jax_s,
        "max_abs_diff_first_steps": diff,
    }


def _bandwidth(args, res: dict) -> dict:
    bw = copy_bandwidth(args.copy_mb, args.repeats)
    achieved = res["jax_arm_updates_per_s"] * BYTES_PER_ARM_UPDATE / 1e9
    return {
        "bandwidth": bw,
        "bytes_per_arm_update": BYTES_PER_ARM_UPDATE,
        "achieved_GBps": achieved,
        "fraction_of_copy_limit": achieved / bw["limit_GBps"],
        "working_set_MB": args.seeds * args.arms * BYTES_PER_ARM_UPDATE / 2**20,
    }


def _summary_lines(args, res: dict) -> list[str]:
    bw = res["bandwidth"]
    lines = [
        f"device: {res['device']}  ({args.seeds} seeds x {args.arms} arms x {args.steps} steps, full metrics)",
        f"jax (jit+vmap+scan): {res['jax_s']:.3f} s  = {res['jax_arm_updates_per_s'] / 1e9:.3f} G arm-updates/s "
        f"(compile {res['jax_compile_s']:.1f} s, not included)",
    ]
    if not args.skip_numpy:
        lines += [
            f"numpy (loop over seeds and steps): {res['numpy_s_measured']:.2f} s for {res['numpy_steps_timed']} "
            f"steps, extrapolated to {args.steps}: {res['numpy_s_extrapolated']:.2f} s",
            f"ratio numpy/jax: {res['speedup']:.1f}x   (max |diff| on the shared steps: "
            f"{res['max_abs_diff_first_steps']:.1e})",
        ]
    return lines + [
        f"copy limit: numpy {bw['numpy_copy_GBps']:.1f} GB/s, jax {bw['jax_copy_GBps']:.1f} GB/s "
        f"(read+write, {args.copy_mb} MB array); limit used = {bw['limit_GBps']:.1f} GB/s",
        f"achieved: {res['achieved_GBps']:.1f} GB/s at {BYTES_PER_ARM_UPDATE} B/arm-update = "
        f"{100 * res['fraction_of_copy_limit']:.0f}% of the copy limit "
        f"(working set {res['working_set_MB']:.1f} MB)",
    ]


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    dev = jax.devices()[0]
    world = WorldConfig(contexts=1, arms=args.arms)
    tasks = build_tasks(jax.random.key(0), args.seeds, world, [QuantileMap.parse("top-wrong:0.1")])
    jax.block_until_ready(tasks)
    lr = 10.0
    cfg = TrainConfig(algo="exact", geometry="vanilla", steps=args.steps, lr=lr)
    compile_s, jm, jax_s = _jax_timing(tasks, cfg, args.repeats)
    updates = args.seeds * args.arms * args.steps
    res = {
        "device": str(dev),
        "platform": dev.platform,
        "host": platform.processor() or platform.machine(),
        "seeds": args.seeds,
        "arms": args.arms,
        "steps": args.steps,
        "jax_compile_s": compile_s,
        "jax_s": jax_s,
        "jax_arm_updates_per_s": updates / jax_s,
    }
    if not args.skip_numpy:
        res.update(_numpy_timing(args, tasks, jm, lr, jax_s, updates))
    res.update(_bandwidth(args, res))
    print(json.dumps(res, indent=2))
    print("\n".join(_summary_lines(args, res)))
    if args.json:
        from rewards.io import write_json

        write_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
