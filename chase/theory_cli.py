"""``chase theory``: closed forms and exact bandits on the command line (one JSON object on stdout per call).

    chase theory winrate --map SPEC --kl X [--procedure tilt|bon] [--n N]
    chase theory bon     --map SPEC --n N
    chase theory bandit  --p P1,P2,... --true T1,... --proxy R1,... (--n N | --beta B)
    chase theory curve   --map SPEC [--map SPEC ...] --kl-max X --points M [--procedure tilt|bon] --out FILE.csv
    chase theory fig2    --out DIR

Bad input (a malformed spec, an impossible KL budget, mismatched arm lists) prints one line
``chase theory: error: ...`` on stderr and returns 2; nothing is printed on stdout then.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from chase.cli import Command, dispatch
from chase.flags import finite_float
from rewards.checks import check_memory
from rewards.io import atomic_write_text, emit
from rewards.quantile import QuantileMap, SpecError, parse_number
from theory import bandit, continuous
from theory.figure2 import curves_csv, fig2_data

PROG = "chase theory"


class CliError(Exception):
    """Bad command-line input: printed on stderr, exit code 2."""


def _finite(x: float | None) -> float | None:
    """JSON has no Infinity: beta = inf (the base policy, KL = 0) is reported as null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _floats(text: str, name: str) -> np.ndarray:
    try:
        return np.array(
            [parse_number(tok, f"--{name} (expected a comma-separated list like 0.5,0.5)") for tok in text.split(",")]
        )
    except SpecError as e:
        raise CliError(str(e)) from None


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} < 1; expected an integer >= 1")
    return n


def _winrate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", required=True, help="quantile-map spec, e.g. top-wrong:0.25")
    p.add_argument("--kl", required=True, type=finite_float, help="KL budget (nats, >= 0)")
    p.add_argument("--procedure", choices=("tilt", "bon"), default="tilt", help="(default: tilt)")
    p.add_argument("--n", type=_positive_int, help="bon only: use this n instead of the largest n with KL <= budget")


def _bon_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", required=True, help="quantile-map spec")
    p.add_argument("--n", required=True, type=_positive_int, help="best of n")


def _bandit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--p", required=True, help="base probabilities P1,P2,... (sum to 1)")
    p.add_argument("--true", required=True, dest="true_", help="true rewards T1,T2,...")
    p.add_argument("--proxy", required=True, help="proxy rewards R1,R2,... (ties allowed)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--n", type=_positive_int, help="best-of-n")
    g.add_argument("--beta", type=finite_float, help="tilt pi ∝ p exp(proxy/beta)")


def _curve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", required=True, action="append", help="quantile-map spec; repeat for several maps")
    p.add_argument("--kl-max", required=True, type=finite_float, help="largest KL on the grid (nats)")
    p.add_argument("--points", required=True, type=_positive_int, help="grid points")
    p.add_argument("--procedure", choices=("tilt", "bon"), default="tilt", help="(default: tilt)")
    p.add_argument("--out", required=True, help="CSV file to write (atomically)")


def _fig2_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output directory")


def _map(spec: str) -> QuantileMap:
    return QuantileMap.parse(spec)  # SpecError names the bad token


def _budget_row(qmap, procedure: str, kl_budget: float, stats, extra: dict) -> dict:
    return {
        "map": qmap.spec,
        "procedure": procedure,
        "kl": float(stats["kl"]),
        "kl_budget": kl_budget,
        **extra,
        "win_rate": float(stats["win_rate"]),
        "expected_true": float(stats["expected_true"]),
    }


def cmd_winrate(args) -> dict:
    qmap = _map(args.map)
    if args.procedure == "tilt":
        if args.n is not None:
            raise CliError("--n is only for --procedure bon")
        beta = float(continuous.beta_for_kl(args.kl, qmap))
        extra = {"beta": _finite(beta), "inv_beta": 0.0 if math.isinf(beta) else 1.0 / beta}
        return _budget_row(qmap, "tilt", args.kl, continuous.tilt_stats(qmap, beta), extra)
    if args.n is None:
        n = int(continuous.n_for_kl(args.kl, qmap))
    else:
        n = args.n
        if float(continuous.bon_kl(n, qmap)) > args.kl + 1e-12:
            raise CliError(f"--n {n} has KL {float(continuous.bon_kl(n, qmap)):.6g} > the budget --kl {args.kl}")
    return _budget_row(qmap, "bon", args.kl, continuous.bon_stats(qmap, n), {"n": n})


def cmd_bon(args) -> dict:
    qmap = _map(args.map)
    stats = continuous.bon_stats(qmap, args.n)
    return {
        "map": qmap.spec,
        "n": args.n,
        "win_rate": float(stats["win_rate"]),
        "kl": float(stats["kl"]),
        "expected_true": float(stats["expected_true"]),
    }


def cmd_bandit(args) -> dict:
    p = _floats(args.p, "p")
    true = _floats(args.true_, "true")
    proxy = _floats(args.proxy, "proxy")
    if not (len(p) == len(true) == len(proxy)):
        raise CliError(
            f"--p, --true and --proxy have {len(p)}, {len(true)} and {len(proxy)} values; expected one per arm in each"
        )
    if args.n is not None:
        pmf = bandit.bon_pmf(p, proxy, args.n)
        extra = {"procedure": "bon", "n": args.n}
    else:
        if not (args.beta > 0):
            raise CliError(f"--beta {args.beta}: expected a number > 0")
        pmf = bandit.tilt_pmf(p, proxy, args.beta)
        extra = {"procedure": "tilt", "beta": args.beta}
    res = bandit.evaluate(p, true, pmf)
    return {
        **extra,
        "expected_true": res["expected_true"],
        "win_rate": res["win_rate"],
        "kl": res["kl"],
        "pmf": pmf.tolist(),
    }


def cmd_curve(args) -> dict:
    maps = [_map(s) for s in args.map]  # parse every spec before computing anything
    if args.points < 2:
        raise CliError(f"--points {args.points}: expected at least 2")
    if not args.kl_max > 0:
        raise CliError(f"--kl-max {args.kl_max}: expected a KL budget > 0")
    # the closed forms hold a few dozen float64 temporaries per grid point and map piece
    check_memory(100.0 * args.points * sum(len(m.pieces) for m in maps), "the curve", "lower --points")
    text, rows = curves_csv(maps, args.kl_max, args.points, args.procedure)
    out = atomic_write_text(args.out, text)
    return {
        "out": str(out),
        "rows": rows,
        "maps": [m.spec for m in maps],
        "procedure": args.procedure,
        "kl_max": args.kl_max,
        "points": args.points,
    }


def cmd_fig2(args) -> dict:
    from figures import fig2
    from figures.style import save_figure

    data = fig2_data()
    fig = fig2.plot(data)
    paths = save_figure(fig, data, args.out, "fig2")
    return {"out": str(Path(args.out)), "files": {k: str(v) for k, v in paths.items()}, "anchors": data["anchors"]}


def _emitting(command):
    """The command's JSON object goes to stdout (one object per call)."""
    return lambda args: emit(command(args))


_EXPECTED = (CliError, SpecError, continuous.KLBudgetError, ValueError)
# `chase theory NAME` through the one dispatcher (chase.cli.dispatch) and its error boundary
COMMANDS = {
    "winrate": Command(
        _winrate_flags, _emitting(cmd_winrate), "win rate of the tilt or best-of-n at a KL budget", _EXPECTED
    ),
    "bon": Command(_bon_flags, _emitting(cmd_bon), "best-of-n win rate and KL", _EXPECTED),
    "bandit": Command(_bandit_flags, _emitting(cmd_bandit), "exact finite-K tilt or best-of-n", _EXPECTED),
    "curve": Command(_curve_flags, _emitting(cmd_curve), "win rate against KL for one or more maps, as CSV", _EXPECTED),
    "fig2": Command(
        _fig2_flags, _emitting(cmd_fig2), "the paper's Figure 2 (PNG + PDF + plotted numbers as JSON)", _EXPECTED
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch(list(sys.argv[1:] if argv is None else argv), COMMANDS, PROG, "sub-command")


if __name__ == "__main__":
    raise SystemExit(main())
