"""``chase sim``: the quantile-bandit simulator (and the rubric world's entry point).

    chase sim bon   --map SPEC | --error SPEC --n N --samples M [--seed S] [--arms 10000] [--contexts 32]
                    [--base uniform]
        -> {"win_rate", "se", "kl_estimate", "kl_se", "exact_win_rate", "exact_kl", ...}
    chase sim tilt  --map SPEC | --error SPEC --beta B [--arms 10000] [--contexts 32] [--seed S]
        -> {"win_rate", "kl", "expected_true"}  (exact tilt, averaged over contexts)
    chase sim train --map SPEC [--map SPEC ...] [--error SPEC ...] [--steps T] [--seeds R] [--beta B]
                    [--lr L] [--algo grpo|exact] [--geometry natural|vanilla] --out DIR
        -> DIR/metrics.csv, DIR/summary.json, DIR/config.json, DIR/sim_train.{png,pdf,json}
    chase sim rubric-world ...   (the rubric world; handled by chase.rubric_world_cli.main)

This is glue: it may import ``theory`` (for the tilt curve drawn over the training figure and the
theory numbers in summary.json), which ``sim`` itself never does.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import atomic_write_text, emit, write_json
from rewards.quantile import QuantileMap, SpecError

__all__ = ["main", "summarize", "train_command"]

# Defaults for `chase sim train`, chosen so that `--map top-wrong:0.1 --map worst-wrong:0.1 --seeds 8` shows
# the top-band collapse (rise, peak, fall) and none for the bottom band in well under a minute on 2 cores.
TRAIN_DEFAULTS = dict(algo="grpo", geometry="natural", steps=400, lr=0.02, group=32, arms=128, contexts=64)


def _proxies(args) -> list:
    from sim.bandit import parse_proxy

    out = []
    try:
        for spec in args.map or []:
            out.append(parse_proxy(spec, "map"))
        for spec in args.error or []:
            out.append(parse_proxy(spec, "error"))
    except SpecError as e:
        raise SystemExit(f"chase sim: {e}") from None
    if not out:
        raise SystemExit("chase sim: give at least one --map SPEC or --error SPEC")
    names = [str(p) for p in out]
    if len(set(names)) != len(names):
        raise SystemExit(f"chase sim: the same proxy spec is given twice: {names}")
    return out


def _world_args(p: argparse.ArgumentParser, arms: int, contexts: int) -> None:
    p.add_argument("--arms", type=int, default=arms, help="arms K per context")
    p.add_argument("--contexts", type=int, default=contexts, help="contexts C")
    p.add_argument("--base", default="uniform", help="base policy: uniform | zipf:S | random:S")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed")


def _proxy_args(p: argparse.ArgumentParser, many: bool) -> None:
    action = "append" if many else None
    p.add_argument("--map", action=action, help="quantile-map spec (e.g. top-wrong:0.1)" + (", repeatable" * many))
    p.add_argument("--error", action=action, help="additive error spec: gauss:S or t:DF:S" + (", repeatable" * many))


def _single_proxy(args):
    if bool(args.map) == bool(args.error):
        raise SystemExit("chase sim: give exactly one of --map SPEC or --error SPEC")
    args.map = [args.map] if args.map else None
    args.error = [args.error] if args.error else None
    return _proxies(args)[0]


def _world(args):
    import jax

    from sim.bandit import WorldConfig, make_world

    try:
        cfg = WorldConfig(contexts=args.contexts, arms=args.arms, base=args.base)
    except ValueError as e:
        raise SystemExit(f"chase sim: {e}") from None
    k_world, k_proxy, k_draw = jax.random.split(jax.random.key(args.seed), 3)
    return make_world(k_world, cfg), k_proxy, k_draw


# ----------------------------------------------------------------------------------------------- bon / tilt
def bon_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chase sim bon", description="sampled best-of-n on a large quantile bandit")
    _proxy_args(p, many=False)
    p.add_argument("--n", type=int, required=True, help="best of n")
    p.add_argument("--samples", type=int, default=10_000, help="Monte Carlo draws M")
    _world_args(p, arms=10_000, contexts=32)
    args = p.parse_args(argv)
    if args.n < 1 or args.samples < 2:
        raise SystemExit(f"chase sim bon: need --n >= 1 and --samples >= 2 (got {args.n}, {args.samples})")
    proxy = _single_proxy(args)
    from sim.bandit import proxy_for, sample_bon

    world, k_proxy, k_draw = _world(args)
    res = sample_bon(k_draw, world, proxy_for(world, proxy, k_proxy), args.n, args.samples)
    emit(
        {
            "win_rate": res.win_rate,
            "se": res.se,
            "kl_estimate": res.kl_estimate,
            "kl_se": res.kl_se,
            "exact_win_rate": res.exact_win_rate,
            "exact_kl": res.exact_kl,
            "n": args.n,
            "samples": res.samples,
            "proxy": str(proxy),
            "arms": args.arms,
            "contexts": args.contexts,
            "base": args.base,
            "seed": args.seed,
        }
    )
    return 0


def tilt_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chase sim tilt", description="exact tilt pi0*exp(r/beta) on a quantile bandit")
    _proxy_args(p, many=False)
    p.add_argument("--beta", type=float, required=True, help="temperature beta > 0")
    _world_args(p, arms=10_000, contexts=32)
    args = p.parse_args(argv)
    if not args.beta > 0:
        raise SystemExit(f"chase sim tilt: --beta must be > 0 (got {args.beta})")
    proxy = _single_proxy(args)
    from sim.bandit import evaluate, proxy_for, tilt_logpmf

    world, k_proxy, _ = _world(args)
    logpi = tilt_logpmf(world.logp0, proxy_for(world, proxy, k_proxy), args.beta)
    ev = {k: float(np.mean(np.asarray(v))) for k, v in evaluate(world.logp0, logpi, world.u, world.true).items()}
    emit(
        {
            **ev,
            "beta": args.beta,
            "proxy": str(proxy),
            "arms": args.arms,
            "contexts": args.contexts,
            "base": args.base,
            "seed": args.seed,
        }
    )
    return 0


# ----------------------------------------------------------------------------------------------- train
def _ci(x: np.ndarray) -> dict[str, float | None]:
    """Mean and 95% t-interval over the first axis (seeds); None where there is only one seed."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    mean = float(np.mean(x))
    if x.shape[0] < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None}
    half = float(stats.t.ppf(0.975, x.shape[0] - 1) * np.std(x, ddof=1) / math.sqrt(x.shape[0]))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half}


def _band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step mean and 95% t-band over seeds; x: (R, T+1)."""
    from scipy import stats

    mean = x.mean(0)
    if x.shape[0] < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, x.shape[0] - 1) * x.std(0, ddof=1) / math.sqrt(x.shape[0])
    return mean, mean - half, mean + half


def summarize(metrics: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per proxy: peak step, peak / final true win rate, drop from the peak (each mean + 95% CI over seeds),
    plus the seed-mean curve's peak and KL there. ``metrics: (R, M, T+1, len(METRICS))``."""
    from sim.train import METRICS

    iw, ik = METRICS.index("true_win_rate"), METRICS.index("kl")
    out = {}
    for j, name in enumerate(names):
        tw = metrics[:, j, :, iw]  # (R, T+1)
        peak_step = tw.argmax(axis=1)
        peak = tw.max(axis=1)
        final = tw[:, -1]
        mean_curve = tw.mean(0)
        s = int(mean_curve.argmax())
        out[name] = {
            "peak_step": _ci(peak_step),
            "peak_true_win_rate": _ci(peak),
            "final_true_win_rate": _ci(final),
            "drop_from_peak": _ci(peak - final),
            "mean_curve": {
                "peak_step": s,
                "peak_true_win_rate": float(mean_curve[s]),
                "kl_at_peak": float(metrics[:, j, s, ik].mean()),
                "final_true_win_rate": float(mean_curve[-1]),
                "final_kl": float(metrics[:, j, -1, ik].mean()),
            },
        }
    return out


def _theory_for(proxy, kl_max: float) -> dict[str, Any] | None:
    """The continuous theory's tilt curve (for a quantile map; None for an additive-error proxy)."""
    if not isinstance(proxy, QuantileMap):
        return None
    from theory.continuous import curve

    c = curve(proxy, max(kl_max, 0.5), 200, "tilt")
    return {"kl": np.asarray(c["kl"]).tolist(), "win_rate": np.asarray(c["win_rate"]).tolist()}


def _metrics_csv(metrics: np.ndarray, names: list[str]) -> str:
    from sim.train import METRICS

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "seed", "map", *METRICS])
    r, m, t, _ = metrics.shape
    for j in range(m):
        for s in range(r):
            for step in range(t):
                w.writerow([step, s, names[j], *(f"{x:.9g}" for x in metrics[s, j, step])])
    return buf.getvalue()


def train_command(argv: list[str]) -> int:
    d = TRAIN_DEFAULTS
    p = argparse.ArgumentParser(prog="chase sim train", description="training dynamics on the quantile bandit")
    _proxy_args(p, many=True)
    p.add_argument("--steps", type=int, default=d["steps"], help="updates T (T+1 rows per seed and map)")
    p.add_argument("--seeds", type=int, default=8, help="independent seeds R (world + training draws)")
    p.add_argument("--beta", type=float, default=0.0, help="KL penalty coefficient")
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate on the logits")
    p.add_argument("--algo", choices=("grpo", "exact"), default=d["algo"])
    p.add_argument(
        "--geometry",
        choices=("natural", "vanilla"),
        default=d["geometry"],
        help="natural (Fisher-preconditioned, the tilt path) or vanilla gradient",
    )
    p.add_argument("--group", type=int, default=d["group"], help="GRPO samples per context per step")
    p.add_argument(
        "--normalize-std",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="divide advantages by their std (default: on for grpo, off for exact)",
    )
    p.add_argument("--ppo-epochs", type=int, default=1, help="GRPO passes per batch (clipping bites when > 1)")
    p.add_argument("--clip-eps", type=float, default=0.2)
    p.add_argument("--kl-grad", choices=("exact", "k3"), default="exact")
    p.add_argument(
        "--lr-decay-steps",
        type=float,
        default=0.0,
        help="0: constant lr; tau > 0: lr / (1 + step / tau) (sampled GRPO with beta > 0 needs it)",
    )
    p.add_argument("--devices", type=int, default=0, help="shard seeds over this many JAX devices (0: all)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="recompute even if DIR holds a finished identical run")
    p.add_argument("--no-figure", action="store_true")
    _world_args(p, arms=d["arms"], contexts=d["contexts"])
    args = p.parse_args(argv)
    proxies = _proxies(args)
    names = [str(x) for x in proxies]

    from sim.bandit import WorldConfig
    from sim.train import TrainConfig

    try:
        world = WorldConfig(contexts=args.contexts, arms=args.arms, base=args.base)
        cfg = TrainConfig(
            algo=args.algo,
            steps=args.steps,
            lr=args.lr,
            beta=args.beta,
            group=args.group,
            normalize_std=args.normalize_std,
            ppo_epochs=args.ppo_epochs,
            clip_eps=args.clip_eps,
            kl_grad=args.kl_grad,
            geometry=args.geometry,
            lr_decay_steps=args.lr_decay_steps,
        )
    except ValueError as e:
        raise SystemExit(f"chase sim train: {e}") from None
    if args.seeds < 1:
        raise SystemExit(f"chase sim train: --seeds must be >= 1 (got {args.seeds})")
    out = Path(args.out)
    config = {
        "proxies": names,
        "seeds": args.seeds,
        "seed": args.seed,
        "world": dataclasses.asdict(world),
        "train": dataclasses.asdict(cfg),
    }
    done = out / "summary.json"
    if not args.force and done.exists() and (out / "config.json").exists():
        if json.loads((out / "config.json").read_text()) == json.loads(json.dumps(config)):
            print(f"chase sim train: {out} already holds this run (use --force to recompute)", file=sys.stderr)
            emit({"out": str(out), "skipped": True})
            return 0

    t0 = time.perf_counter()
    metrics = run_training(proxies, world, cfg, args.seeds, args.seed, args.devices)
    elapsed = time.perf_counter() - t0
    write_json(out / "config.json", config)
    atomic_write_text(out / "metrics.csv", _metrics_csv(metrics, names))
    summary = summarize(metrics, names)
    from sim.train import METRICS

    ik, iw, ip = METRICS.index("kl"), METRICS.index("true_win_rate"), METRICS.index("proxy_win_rate")
    fig_maps = []
    for j, (name, proxy) in enumerate(zip(names, proxies, strict=True)):
        theory = _theory_for(proxy, float(metrics[:, j, :, ik].mean(0).max())) if cfg.beta == 0 else None
        if theory is not None:
            s = summary[name]["mean_curve"]
            summary[name]["theory_tilt"] = {
                "peak_true_win_rate": float(np.max(theory["win_rate"])),
                "kl_at_peak": float(theory["kl"][int(np.argmax(theory["win_rate"]))]),
                "win_rate_at_final_kl": float(np.interp(s["final_kl"], theory["kl"], theory["win_rate"])),
            }
        tm, tl, th = _band(metrics[:, j, :, iw])
        pm, pl, ph = _band(metrics[:, j, :, ip])
        fig_maps.append(
            {
                "map": name,
                "step": list(range(metrics.shape[2])),
                "seeds": args.seeds,
                "true_mean": tm.tolist(),
                "true_lo": tl.tolist(),
                "true_hi": th.tolist(),
                "proxy_mean": pm.tolist(),
                "proxy_lo": pl.tolist(),
                "proxy_hi": ph.tolist(),
                "kl_mean": metrics[:, j, :, ik].mean(0).tolist(),
                "theory": theory,
            }
        )
    write_json(done, {"config": config, "seconds": elapsed, "maps": summary})
    if not args.no_figure:
        from figures.sim_train import save

        title = f"{cfg.algo} ({cfg.geometry}), lr={cfg.lr:g}, beta={cfg.beta:g}, K={world.arms}, C={world.contexts}"
        save({"title": title, "maps": fig_maps}, out)
    emit(
        {
            "out": str(out),
            "seconds": round(elapsed, 3),
            "maps": {
                k: {
                    "peak_step": v["peak_step"]["mean"],
                    "peak": v["peak_true_win_rate"]["mean"],
                    "final": v["final_true_win_rate"]["mean"],
                    "drop": v["drop_from_peak"],
                }
                for k, v in summary.items()
            },
        }
    )
    return 0


def run_training(proxies, world, cfg, seeds: int, seed: int, devices: int = 0) -> np.ndarray:
    """Build the tasks and train; ``(R, M, T+1, len(METRICS))`` as numpy. Shards seeds when > 1 device."""
    import jax

    from sim.train import build_tasks, train_batch, train_sharded

    tasks = build_tasks(seed, seeds, world, proxies)
    devs = jax.devices()
    if devices:
        if devices > len(devs):
            raise SystemExit(f"chase sim train: --devices {devices} but JAX sees {len(devs)}")
        devs = devs[:devices]
    if len(devs) > 1:
        return np.asarray(train_sharded(tasks, cfg, devs))
    return np.asarray(train_batch(tasks, cfg))


# ----------------------------------------------------------------------------------------------- dispatch
SUBCOMMANDS = {
    "bon": bon_command,
    "tilt": tilt_command,
    "train": train_command,
}


def _usage() -> str:
    return (
        "usage: chase sim {bon,tilt,train,rubric-world} ...\n"
        "  bon           sampled best-of-n (JSON)\n"
        "  tilt          exact tilt (JSON)\n"
        "  train         training dynamics -> metrics.csv, summary.json, figure\n"
        "  rubric-world  the rubric world (chase.rubric_world_cli)"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name == "rubric-world":
        # HOOK: the rubric world lives in chase/rubric_world_cli.py (owned by the rubric-world helper), imported
        # lazily so that `chase sim bon/train` never needs it.
        from chase import rubric_world_cli

        return int(rubric_world_cli.main(rest) or 0)
    if name not in SUBCOMMANDS:
        print(f"chase sim: unknown sub-command {name!r}\n{_usage()}", file=sys.stderr)
        return 2
    return int(SUBCOMMANDS[name](rest) or 0)
