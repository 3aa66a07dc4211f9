"""Closed forms vs the quadrature reference: 10^4 (beta, map) evaluations of the tilt (win rate + KL).

    nice -n 10 python benchmarks/bench_theory.py [--maps 100] [--betas 100] [--ref-sample 200] [--seed 0]

The closed form evaluates all M x B pairs in one vectorized call (``theory.continuous.stacked_stats``);
the best of several repeats is reported. The reference (``theory.reference.map_tilt_reference``,
Proposition 1 by adaptive quadrature) is far too slow to run 10^4 times, so a random subsample of pairs is
timed and its cost extrapolated linearly to all pairs; max |difference| is over that subsample. Maps are
random rearrangements with tie bands (``QuantileMap.from_permutation`` with 1-6 bands of kinds inc/dec/tie)
plus Figure 2's maps; noise bands are left out because their reference is a 2-D quadrature (about 50x
slower still), which would only inflate the ratio. 1/beta is log-uniform on [1e-2, 1e4] (KL up to ~8).
The same is then done for best-of-n with n log-uniform on [1, 1e4].
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from rewards.quantile import QuantileMap
from theory import continuous as C
from theory import reference as R

FIG2 = ["identity", "reversed", "top-wrong:0.25", "top-wrong:0.5", "worst-wrong:0.5", "worst-wrong:0.9"]


def make_maps(m: int, rng: np.random.Generator) -> list[QuantileMap]:
    maps = [QuantileMap.parse(s) for s in FIG2[:m]]
    while len(maps) < m:
        k = int(rng.integers(1, 7))
        perm = rng.permutation(k)
        kinds = rng.choice(["inc", "dec", "tie"], size=k, p=[0.45, 0.35, 0.2])
        maps.append(QuantileMap.from_permutation(perm, kinds, spec=f"perm{list(perm)}:{list(kinds)}"))
    return maps


def best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench(kind: str, maps, params: np.ndarray, sample: int, rng: np.random.Generator) -> dict:
    """params: (M, B) betas (kind 'tilt') or ns (kind 'bon')."""
    stacked = C.stack_pieces(maps)
    key = "beta" if kind == "tilt" else "n"

    def closed():
        return C.stacked_stats(stacked, **{key: params})

    out = closed()
    t_closed = best_time(closed, 7)
    total = params.size
    flat = rng.choice(total, size=min(sample, total), replace=False)
    ref = R.map_tilt_reference if kind == "tilt" else R.map_bon_reference
    diffs = []
    t0 = time.perf_counter()
    for idx in flat:
        i, j = np.unravel_index(idx, params.shape)
        r = ref(maps[i], float(params[i, j]))
        diffs.append(max(abs(r["win_rate"] - out["win_rate"][i, j]), abs(r["kl"] - out["kl"][i, j])))
    t_ref_sample = time.perf_counter() - t0
    t_ref_all = t_ref_sample * total / len(flat)
    return {
        "kind": kind,
        "evaluations": total,
        "closed_s": t_closed,
        "ref_sample": len(flat),
        "ref_sample_s": t_ref_sample,
        "ref_extrapolated_s": t_ref_all,
        "ratio": t_ref_all / t_closed,
        "max_abs_diff": float(max(diffs)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--maps", type=int, default=100)
    ap.add_argument("--betas", type=int, default=100, help="parameter values per map (beta or n)")
    ap.add_argument("--ref-sample", type=int, default=200, help="pairs actually run through the reference")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    maps = make_maps(args.maps, rng)
    shape = (args.maps, args.betas)
    betas = 1.0 / 10.0 ** rng.uniform(-2.0, 4.0, size=shape)
    ns = np.round(10.0 ** rng.uniform(0.0, 4.0, size=shape))
    print(
        f"# {platform.processor() or platform.machine()}, numpy {np.__version__}; "
        f"{args.maps} maps x {args.betas} values = {args.maps * args.betas} evaluations each"
    )
    for kind, params in (("tilt", betas), ("bon", ns)):
        r = bench(kind, maps, params, args.ref_sample, rng)
        print(
            f"{kind}: closed form {r['closed_s'] * 1e3:.2f} ms for {r['evaluations']} (vectorized, best of 7); "
            f"reference {r['ref_sample_s']:.2f} s for a random subsample of {r['ref_sample']}, extrapolated to "
            f"{r['ref_extrapolated_s']:.1f} s for {r['evaluations']}; ratio {r['ratio']:.0f}x; "
            f"max |difference| (win rate, KL) over the subsample {r['max_abs_diff']:.1e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
