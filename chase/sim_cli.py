"""``chase sim``: the quantile-bandit simulator and the rubric world. Flags are generated from the library's
config dataclasses (``chase.flags``), so ``--help`` shows the library defaults and they cannot drift.

    chase sim bon   --map SPEC | --error SPEC --n N [--samples M] [--seed S] [--arms K] [--contexts C] [--base B]
    chase sim tilt  --map SPEC | --error SPEC --beta B [world flags]
    chase sim train --map SPEC [--map SPEC ...] [--error SPEC ...] --out DIR [TrainConfig flags] [world flags]
        -> DIR/metrics.csv, summary.json, config.json, run.json, sim_train.{json,png,pdf}
    chase sim rubric-world ...   (chase.rubric_world_cli)

This is glue: it parses, calls ``sim.bandit`` / ``sim.bandit_training``, and asks ``theory`` for the tilt curve
drawn over the training figure (which ``sim`` itself never imports).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from chase.cli import Parser, dispatch
from chase.flags import add_config_flags, config_from_args, finite_float
from rewards.io import emit
from rewards.quantile import SpecError

__all__ = ["SUBCOMMANDS", "bon_command", "main", "tilt_command", "train_command"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "bon": ("chase.sim_cli:bon_command", "sampled best-of-n on a quantile bandit (JSON)"),
    "tilt": ("chase.sim_cli:tilt_command", "exact tilt pi0*exp(r/beta) on a quantile bandit (JSON)"),
    "train": ("chase.sim_cli:train_command", "training dynamics -> metrics.csv, summary.json, figure"),
    "rubric-world": ("chase.rubric_world_cli:main", "the rubric world: the paper's Tables 1, 2, 6 and Figure 4"),
}


def _proxy_flags(p: argparse.ArgumentParser, many: bool) -> None:
    action = "append" if many else None
    more = ", repeatable" if many else ""
    p.add_argument("--map", action=action, help=f"quantile-map spec of the proxy (e.g. top-wrong:0.1){more}")
    p.add_argument("--error", action=action, help=f"additive proxy-error spec: gauss:S or t:DF:S{more}")


def _world(p: argparse.ArgumentParser, args, base):
    """The bandit world from the generated world flags; a bad value is a usage error."""
    from sim.bandit import WorldConfig

    try:
        return config_from_args(WorldConfig, args, base=base)
    except ValueError as e:
        p.error(str(e))


def _one_proxy(p: argparse.ArgumentParser, args):
    from sim.bandit import parse_proxy

    if bool(args.map) == bool(args.error):
        p.error("give exactly one of --map SPEC or --error SPEC")
    try:
        return parse_proxy(args.map, "map") if args.map else parse_proxy(args.error, "error")
    except SpecError as e:
        p.error(str(e))


def _single_world_parser(prog: str, description: str):
    from sim.bandit import WorldConfig

    p = Parser(prog=prog, description=description)
    _proxy_flags(p, many=False)
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    add_config_flags(p, WorldConfig)
    return p, WorldConfig()


def _drawn(args, world_cfg, proxy):
    import jax

    from sim.bandit import make_world, proxy_for

    k_world, k_proxy, k_draw = jax.random.split(jax.random.key(args.seed), 3)
    world = make_world(k_world, world_cfg)
    return world, proxy_for(world, proxy, k_proxy), k_draw


def bon_command(argv: list[str]) -> int:
    p, default_world = _single_world_parser("chase sim bon", "sampled best-of-n on a large quantile bandit")
    p.add_argument("--n", type=int, required=True, help="best of n")
    p.add_argument("--samples", type=int, default=10_000, help="Monte Carlo draws M (default: 10000)")
    args = p.parse_args(argv)
    if args.n < 1 or args.samples < 2:
        p.error(f"need --n >= 1 and --samples >= 2 (got {args.n}, {args.samples})")
    world_cfg, proxy = _world(p, args, default_world), _one_proxy(p, args)
    from sim.bandit import sample_bon

    world, r, k_draw = _drawn(args, world_cfg, proxy)
    res = sample_bon(k_draw, world, r, args.n, args.samples)
    emit({**res._asdict(), "n": args.n, "proxy": str(proxy), **_world_fields(world_cfg), "seed": args.seed})
    return 0


def _world_fields(cfg) -> dict[str, Any]:
    return {"arms": cfg.arms, "contexts": cfg.contexts, "base": cfg.base}


def tilt_command(argv: list[str]) -> int:
    p, default_world = _single_world_parser("chase sim tilt", "exact tilt pi0*exp(r/beta) on a quantile bandit")
    p.add_argument("--beta", type=finite_float, required=True, help="temperature beta > 0")
    args = p.parse_args(argv)
    if not args.beta > 0:
        p.error(f"--beta must be > 0 (got {args.beta})")
    world_cfg, proxy = _world(p, args, default_world), _one_proxy(p, args)
    from sim.bandit import evaluate, tilt_logpmf

    world, r, _ = _drawn(args, world_cfg, proxy)
    ev = evaluate(world.logp0, tilt_logpmf(world.logp0, r, args.beta), world.u, world.true)
    ev = {k: float(np.mean(np.asarray(v))) for k, v in ev.items()}
    emit({**ev, "beta": args.beta, "proxy": str(proxy), **_world_fields(world_cfg), "seed": args.seed})
    return 0


def _train_parser():
    from sim.bandit_training import BanditTrainingConfig
    from sim.train import TrainConfig

    p = Parser(prog="chase sim train", description="training dynamics on the quantile bandit")
    _proxy_flags(p, many=True)
    p.add_argument("--out", required=True, help="output folder (a run directory: config.json, run.json, results)")
    p.add_argument("--overwrite", action="store_true", help="replace a run of another config in --out")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG/PDF (the figure data is still written)")
    add_config_flags(p, BanditTrainingConfig, exclude=("maps", "errors", "world", "train"))
    add_config_flags(p, TrainConfig)
    add_config_flags(p, type(BanditTrainingConfig().world), base=BanditTrainingConfig().world)
    return p


def _train_config(p, args):
    from sim.bandit import WorldConfig
    from sim.bandit_training import BanditTrainingConfig
    from sim.train import TrainConfig

    default = BanditTrainingConfig()
    # proxies given on the command line replace the default pair (maps and errors together)
    given = {"maps": tuple(args.map or ()), "errors": tuple(args.error or ())} if args.map or args.error else {}
    try:
        return config_from_args(
            BanditTrainingConfig,
            args,
            **given,
            train=config_from_args(TrainConfig, args),
            world=config_from_args(WorldConfig, args, base=default.world),
        )
    except ValueError as e:  # SpecError included
        p.error(str(e))


def train_command(argv: list[str]) -> int:
    p = _train_parser()
    args = p.parse_args(argv)
    cfg = _train_config(p, args)
    import jax

    from rewards.runs import RunConfigMismatch, open_run
    from sim.bandit_training import devices_for, report, run

    try:
        devices_for(cfg)  # before anything is written to --out
        run_dir = open_run(args.out, cfg.to_dict(), overwrite=args.overwrite, kind="sim-train")
    except (RunConfigMismatch, ValueError) as e:
        p.error(str(e))
    if run_dir.finished:
        print(f"chase sim train: {args.out} already holds this run (--overwrite recomputes it)", file=sys.stderr)
        emit({"out": str(args.out), "skipped": True, **run_dir.run_info().get("headline", {})})
        return 0
    result = run(cfg, jax.random.key(cfg.seed))
    doc = report(result, args.out, theory=_theory_curves(cfg, result))
    if not args.no_figure:
        from figures.sim_train import plot
        from figures.style import save_from_file

        save_from_file(plot, run_dir.path / "sim_train.json")
    headline = {"seconds": round(result.seconds, 3), "maps": _headline(doc["maps"])}
    run_dir.finish(headline=headline)
    emit({"out": str(args.out), **headline})
    return 0


def _headline(maps: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, s in maps.items():
        t = s["true_win_rate"]
        out[name] = {k: t[k]["mean"] for k in ("peak_step", "peak", "final")}
        out[name]["drop_after_peak"] = t["drop_after_peak"]
    return out


def _theory_curves(cfg, result) -> dict[str, Any] | None:
    """The continuous theory's tilt curve for each quantile-map proxy (beta = 0 runs only: the tilt path)."""
    if cfg.train.beta != 0:
        return None
    from theory.continuous import tilt_reference

    kl_max = result.curves.kl.mean(0).max(-1)  # (M,)
    return {
        name: tilt_reference(proxy, float(kl_max[j]))
        for j, (name, proxy) in enumerate(zip(result.proxy_names, cfg.proxies(), strict=True))
    }


def main(argv: list[str] | None = None) -> int:
    return dispatch(list(sys.argv[1:] if argv is None else argv), SUBCOMMANDS, "chase sim", "sub-command")
