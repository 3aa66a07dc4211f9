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
import csv
import io
import math
import sys
from pathlib import Path

import numpy as np

from rewards.io import atomic_write_text, emit
from rewards.quantile import QuantileMap, SpecError, parse_number
from theory import bandit, continuous

PROG = "chase theory"

# Figure 2 of the paper (tilt = the KL-regularized RFT optimum): labels and map specs.
FIG2A = [
    ("Correct", "identity"),
    ("Reversed", "reversed"),
    ("Top 25% wrong", "top-wrong:0.25"),
    ("Top 50% wrong", "top-wrong:0.5"),
    ("Worst 50% wrong", "worst-wrong:0.5"),
    ("Worst 90% wrong", "worst-wrong:0.9"),
]
FIG2B_C = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
FIG2_POINTS = 401


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


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="Closed forms and exact bandits (JSON on stdout).")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("winrate", help="win rate of the tilt or best-of-n at a KL budget")
    p.add_argument("--map", required=True, help="quantile-map spec, e.g. top-wrong:0.25")
    p.add_argument("--kl", required=True, type=float, help="KL budget (nats, >= 0)")
    p.add_argument("--procedure", choices=("tilt", "bon"), default="tilt")
    p.add_argument("--n", type=_positive_int, help="bon only: use this n instead of the largest n with KL <= budget")

    p = sub.add_parser("bon", help="best-of-n win rate and KL")
    p.add_argument("--map", required=True)
    p.add_argument("--n", required=True, type=_positive_int)

    p = sub.add_parser("bandit", help="exact finite-K tilt or best-of-n")
    p.add_argument("--p", required=True, help="base probabilities P1,P2,... (sum to 1)")
    p.add_argument("--true", required=True, dest="true_", help="true rewards T1,T2,...")
    p.add_argument("--proxy", required=True, help="proxy rewards R1,R2,... (ties allowed)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--n", type=_positive_int, help="best-of-n")
    g.add_argument("--beta", type=float, help="tilt pi ∝ p exp(proxy/beta)")

    p = sub.add_parser("curve", help="win rate against KL for one or more maps, as CSV")
    p.add_argument("--map", required=True, action="append", help="repeat for several maps")
    p.add_argument("--kl-max", required=True, type=float)
    p.add_argument("--points", required=True, type=_positive_int)
    p.add_argument("--procedure", choices=("tilt", "bon"), default="tilt")
    p.add_argument("--out", required=True, help="CSV file to write (atomically)")

    p = sub.add_parser("fig2", help="the paper's Figure 2 (PNG + PDF + plotted numbers as JSON)")
    p.add_argument("--out", required=True, help="output directory")
    return ap


def _map(spec: str) -> QuantileMap:
    return QuantileMap.parse(spec)  # SpecError names the bad token


def cmd_winrate(args) -> dict:
    qmap = _map(args.map)
    if args.procedure == "tilt":
        if args.n is not None:
            raise CliError("--n is only for --procedure bon")
        beta = float(continuous.beta_for_kl(args.kl, qmap))
        stats = continuous.tilt_stats(qmap, beta)
        return {
            "map": qmap.spec,
            "procedure": "tilt",
            "kl": float(stats["kl"]),
            "kl_budget": args.kl,
            "beta": _finite(beta),
            "inv_beta": 0.0 if math.isinf(beta) else 1.0 / beta,
            "win_rate": float(stats["win_rate"]),
            "expected_true": float(stats["expected_true"]),
        }
    if args.n is None:
        n = int(continuous.n_for_kl(args.kl, qmap))
    else:
        n = args.n
        if float(continuous.bon_kl(n, qmap)) > args.kl + 1e-12:
            raise CliError(f"--n {n} has KL {float(continuous.bon_kl(n, qmap)):.6g} > the budget --kl {args.kl}")
    stats = continuous.bon_stats(qmap, n)
    return {
        "map": qmap.spec,
        "procedure": "bon",
        "kl": float(stats["kl"]),
        "kl_budget": args.kl,
        "n": n,
        "win_rate": float(stats["win_rate"]),
        "expected_true": float(stats["expected_true"]),
    }


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
    param = "beta" if args.procedure == "tilt" else "n"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["map", "procedure", "kl", "win_rate", "expected_true", param])
    rows = 0
    for qmap in maps:
        res = continuous.curve(qmap, args.kl_max, args.points, args.procedure)
        for kl, wr, et, par in zip(res["kl"], res["win_rate"], res["expected_true"], res[param], strict=True):
            writer.writerow(
                [
                    qmap.spec,
                    args.procedure,
                    repr(float(kl)),
                    repr(float(wr)),
                    repr(float(et)),
                    repr(float(par)) if param == "beta" else int(par),
                ]
            )
            rows += 1
    out = atomic_write_text(args.out, buf.getvalue())
    return {
        "out": str(out),
        "rows": rows,
        "maps": [m.spec for m in maps],
        "procedure": args.procedure,
        "kl_max": args.kl_max,
        "points": args.points,
    }


def fig2_data(points: int = FIG2_POINTS) -> dict:
    """The numbers Figure 2 plots (tilt win rate on a KL grid) plus the THEORY.md anchor values read off them."""

    def panel(kl_max, items):
        kl = np.linspace(0.0, kl_max, points)
        curves = []
        for label, spec in items:
            qmap = _map(spec)
            beta = continuous.beta_for_kl(kl, qmap)
            curves.append({"label": label, "spec": spec, "win_rate": continuous.tilt_win_rate(qmap, beta).tolist()})
        return {"kl": kl.tolist(), "curves": curves}

    a = panel(8.0, FIG2A)
    b = panel(4.0, [(f"top {round(c * 100)}% correct", f"top-correct:{c:g}") for c in FIG2B_C])
    b["c"] = FIG2B_C
    wr = {c["label"]: np.array(c["win_rate"]) for c in a["curves"]}
    kl = np.array(a["kl"])
    top25 = wr["Top 25% wrong"]
    worst90 = wr["Worst 90% wrong"]
    anchors = {
        "correct_at_kl1": float(continuous.tilt_win_rate(None, continuous.beta_for_kl(1.0))),
        "correct_at_kl2": float(continuous.tilt_win_rate(None, continuous.beta_for_kl(2.0))),
        "top25_peak": float(top25.max()),
        "top25_peak_kl": float(kl[np.argmax(top25)]),
        "top25_at_kl8": float(top25[-1]),
        "worst90_min": float(worst90.min()),
        "worst90_min_kl": float(kl[np.argmin(worst90)]),
        "worst90_at_kl8": float(worst90[-1]),
        "correct_at_kl8": float(wr["Correct"][-1]),
    }
    return {"figure": "fig2", "procedure": "tilt", "a": a, "b": b, "anchors": anchors}


def cmd_fig2(args) -> dict:
    from figures import fig2
    from figures.style import save_figure

    data = fig2_data()
    fig = fig2.plot(data)
    paths = save_figure(fig, data, args.out, "fig2")
    return {"out": str(Path(args.out)), "files": {k: str(v) for k, v in paths.items()}, "anchors": data["anchors"]}


COMMANDS = {"winrate": cmd_winrate, "bon": cmd_bon, "bandit": cmd_bandit, "curve": cmd_curve, "fig2": cmd_fig2}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage + the error on stderr (or --help on stdout)
        return int(exc.code or 0)
    try:
        result = COMMANDS[args.cmd](args)
    except (CliError, SpecError, continuous.KLBudgetError, ValueError) as exc:
        print(f"{PROG} {args.cmd}: error: {exc}", file=sys.stderr)
        return 2
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
