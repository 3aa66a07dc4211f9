"""Regenerate docs/bandit_findings.md: the quantile-bandit simulator checked against theory/, and the
training-dynamics findings (top-band collapse, band-width sweep, beta > 0 convergence, heavy-tailed error).

    nice -n 10 python -m paper_repro.bandit_findings [--out runs/bandit_findings] [--doc docs/bandit_findings.md]
                                                     [--only bon,tilt,train,sweep,beta,error] [--force]

Each section caches its numbers in OUT/<section>.json (rerun with --force to recompute); the report is
written from those files, so every number in it comes from a run. Takes ~10-20 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax
import numpy as np
from scipy import stats

from rewards import QuantileMap, parse_error
from rewards.io import atomic_write_text, write_json
from sim import bandit as SB
from sim import train as ST
from theory import continuous as TC

SEEDS = 16
BON_MAPS = [
    "identity",
    "reversed",
    "top-wrong:0.1",
    "worst-wrong:0.1",
    "noise:0.9:1",
    "noise:0:0.1",
    "tie:0.9:1",
    "tie:0:0.1",
]
BON_N = [1, 2, 4, 16, 64, 256, 1024]
TILT_BETA = [1.0, 0.3, 0.1, 0.03, 0.01]
BON_WORLD = SB.WorldConfig(contexts=32, arms=10_000)
BON_SAMPLES = 16_000
IW, IK, IP = ST.METRICS.index("true_win_rate"), ST.METRICS.index("kl"), ST.METRICS.index("proxy_win_rate")
TRAIN_WORLD = SB.WorldConfig(contexts=64, arms=128)  # the `chase sim train` defaults
TRAIN_CFG = ST.TrainConfig(algo="grpo", geometry="natural", steps=600, lr=0.02, group=32)


def _ci(x) -> dict:
    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return {"mean": m, "lo": m - half, "hi": m + half}


def _fmt(c: dict, d: int = 3) -> str:
    if not math.isfinite(c["lo"]) or c["hi"] - c["lo"] < 10 ** (-d):
        return f"{c['mean']:.{d}f}"
    return f"{c['mean']:.{d}f} [{c['lo']:.{d}f}, {c['hi']:.{d}f}]"


# ----------------------------------------------------------------------------------------------- sections
def section_bon() -> dict:
    """Sampled best-of-n (M draws over 32 contexts x 10^4 equal-mass arms) vs the continuous theory."""
    world = SB.make_world(jax.random.key(1), BON_WORLD)
    rows = []
    for spec in BON_MAPS:
        q = QuantileMap.parse(spec)
        proxy = SB.proxy_for(world, q, jax.random.key(2))
        for n in BON_N:
            res = SB.sample_bon(jax.random.fold_in(jax.random.key(3), n), world, proxy, n, BON_SAMPLES)
            th_w, th_kl = float(TC.bon_win_rate(q, n)), float(TC.bon_kl(n, q))
            z = (res.win_rate - th_w) / res.se if res.se > 0 else float("nan")
            z_kl = (res.kl_estimate - th_kl) / res.kl_se if res.kl_se > 0 else float("nan")
            rows.append(
                {
                    "map": spec,
                    "n": n,
                    "win_rate": res.win_rate,
                    "se": res.se,
                    "theory": th_w,
                    "z": z,
                    "kl_estimate": res.kl_estimate,
                    "kl_se": res.kl_se,
                    "theory_kl": th_kl,
                    "z_kl": z_kl,
                    "exact_win_rate": res.exact_win_rate,
                    "exact_kl": res.exact_kl,
                }
            )
            print(f"bon {spec:16s} n={n:5d} W={res.win_rate:.4f}±{res.se:.4f} theory={th_w:.4f} z={z:+.2f}", flush=True)
    return {"samples": BON_SAMPLES, "world": BON_WORLD.__dict__, "rows": rows}


def section_tilt() -> dict:
    """Exact tilt on the same world vs the continuous theory; SE over contexts (noise-band draws)."""
    world = SB.make_world(jax.random.key(1), BON_WORLD)
    rows = []
    for spec in BON_MAPS:
        q = QuantileMap.parse(spec)
        proxy = SB.proxy_for(world, q, jax.random.key(2))
        for beta in TILT_BETA:
            ev = SB.evaluate(world.logp0, SB.tilt_logpmf(world.logp0, proxy, beta), world.u, world.true)
            w, kl = np.asarray(ev["win_rate"], float), np.asarray(ev["kl"], float)
            se = float(w.std(ddof=1) / math.sqrt(len(w)))
            th_w, th_kl = float(TC.tilt_win_rate(q, beta)), float(TC.tilt_kl(beta, q))
            rows.append(
                {
                    "map": spec,
                    "beta": beta,
                    "win_rate": float(w.mean()),
                    "se": se,
                    "theory": th_w,
                    "diff": float(w.mean()) - th_w,
                    "kl": float(kl.mean()),
                    "theory_kl": th_kl,
                    "kl_diff": float(kl.mean()) - th_kl,
                }
            )
    return {"world": BON_WORLD.__dict__, "rows": rows}


def _train(specs, cfg, world, seeds=SEEDS, seed=0):
    proxies = [QuantileMap.parse(s) if not s.startswith(("gauss", "t:")) else parse_error(s) for s in specs]
    t0 = time.perf_counter()
    m = np.asarray(ST.train_batch(ST.build_tasks(seed, seeds, world, proxies), cfg))
    return m, time.perf_counter() - t0


def _summ(m, j) -> dict:
    tw = m[:, j, :, IW]
    peak_step, peak, final = tw.argmax(1), tw.max(1), tw[:, -1]
    mean_curve = tw.mean(0)
    s = int(mean_curve.argmax())
    return {
        "peak_step": _ci(peak_step),
        "peak": _ci(peak),
        "final": _ci(final),
        "drop": _ci(peak - final),
        "kl_at_peak": _ci(m[np.arange(len(tw)), j, peak_step, IK]),
        "final_kl": _ci(m[:, j, -1, IK]),
        "mean_curve_peak_step": s,
        "curve_every_50": mean_curve[::50].tolist(),
    }


def section_train() -> dict:
    """Top 10% vs bottom 10% / 50% reversal, with the default (natural) GRPO and with vanilla geometries."""
    specs = ["top-wrong:0.1", "worst-wrong:0.1", "worst-wrong:0.5", "top-wrong:0.25", "identity"]
    out = {}
    runs = {
        "grpo-natural (default)": TRAIN_CFG,
        "grpo-vanilla": ST.TrainConfig(algo="grpo", geometry="vanilla", steps=600, lr=1.0, group=32),
        "exact-vanilla": ST.TrainConfig(algo="exact", geometry="vanilla", steps=600, lr=10.0),
    }
    for label, cfg in runs.items():
        m, secs = _train(specs, cfg, TRAIN_WORLD)
        out[label] = {"config": cfg.__dict__, "seconds": secs, "maps": {s: _summ(m, j) for j, s in enumerate(specs)}}
        print(label, {s: round(v["drop"]["mean"], 4) for s, v in out[label]["maps"].items()}, flush=True)
    for s in specs:
        c = TC.curve(QuantileMap.parse(s), 8.0, 801, "tilt")
        i = int(np.argmax(c["win_rate"]))
        out.setdefault("theory", {})[s] = {
            "peak": float(c["win_rate"][i]),
            "kl_at_peak": float(c["kl"][i]),
            "win_rate_at_kl8": float(c["win_rate"][-1]),
        }
    return out


def section_sweep() -> dict:
    """Band-width sweep of the top-band reversal: where the peak sits (step and KL)."""
    widths = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    specs = [f"top-wrong:{c}" for c in widths]
    world = SB.WorldConfig(contexts=32, arms=512)
    m, secs = _train(specs, TRAIN_CFG, world)
    out = {"world": world.__dict__, "seconds": secs, "rows": []}
    for j, (c, s) in enumerate(zip(widths, specs, strict=True)):
        curve = TC.curve(QuantileMap.parse(s), 8.0, 1601, "tilt")
        i = int(np.argmax(curve["win_rate"]))
        out["rows"].append(
            {
                "width": c,
                **_summ(m, j),
                "theory_peak": float(curve["win_rate"][i]),
                "theory_kl_at_peak": float(curve["kl"][i]),
            }
        )
    return out


GRPO_DECAY_STEPS = 60_000


def section_beta() -> dict:
    """beta > 0: where training converges, against the continuous theory's tilt at that beta."""
    world = SB.WorldConfig(contexts=16, arms=1000)
    specs = ["identity", "top-wrong:0.1", "worst-wrong:0.5"]
    rows = []
    for beta in (0.03, 0.1, 0.3):
        runs = {
            "exact-vanilla (REINFORCE, exact gradient)": ST.TrainConfig(
                algo="exact", geometry="vanilla", lr=30.0 / beta, steps=20_000, beta=beta
            ),
            "exact-natural": ST.TrainConfig(algo="exact", geometry="natural", lr=0.5 / beta, steps=300, beta=beta),
            "grpo-natural (no std norm; mean of last 500 steps)": ST.TrainConfig(
                algo="grpo", geometry="natural", lr=0.02, steps=3000, beta=beta, normalize_std=False, group=32
            ),
            # A Robbins-Monro schedule lets the sampled dynamics settle instead of fluctuating around the fixed
            # point. Its final policy is compared with the tilt at beta and at beta * G / (G - 1): the group-mean
            # baseline includes the sample itself, which shrinks the expected reward gradient by (G - 1) / G.
            f"grpo-natural (no std norm; lr 0.2/(1+t/100), {GRPO_DECAY_STEPS} steps; final step)": ST.TrainConfig(
                algo="grpo",
                geometry="natural",
                lr=0.2,
                lr_decay_steps=100.0,
                steps=GRPO_DECAY_STEPS,
                beta=beta,
                normalize_std=False,
                group=32,
            ),
        }
        for label, cfg in runs.items():
            m, secs = _train(specs, cfg, world, seeds=SEEDS if cfg.algo == "grpo" else 2)
            tail = 500 if (cfg.algo == "grpo" and cfg.lr_decay_steps == 0) else 1
            betas = {"": beta}
            if cfg.algo == "grpo" and cfg.lr_decay_steps > 0:
                betas[" vs theory at beta*G/(G-1)"] = beta * cfg.group / (cfg.group - 1)
            for suffix, b in betas.items():
                for j, s in enumerate(specs):
                    q = QuantileMap.parse(s)
                    w = m[:, j, -tail:, IW].mean(1)
                    kl = m[:, j, -tail:, IK].mean(1)
                    th_w, th_kl = float(TC.tilt_win_rate(q, b)), float(TC.tilt_kl(b, q))
                    rows.append(
                        {
                            "beta": beta,
                            "run": label + suffix,
                            "map": s,
                            "win_rate": _ci(w),
                            "kl": _ci(kl),
                            "theory_win_rate": th_w,
                            "theory_kl": th_kl,
                            "rel_err_win": float(w.mean() / th_w - 1),
                            "rel_err_kl": float(kl.mean() / th_kl - 1),
                            "seconds": secs,
                            "seeds": int(m.shape[0]),
                        }
                    )
                print(
                    "beta",
                    beta,
                    label + suffix,
                    [(r["map"], round(r["rel_err_win"], 4), round(r["rel_err_kl"], 4)) for r in rows[-len(specs) :]],
                    flush=True,
                )
    return {"world": world.__dict__, "rows": rows}


def section_error() -> dict:
    """Additive proxy error r = r* + X: Gaussian vs Student t(2) (and t(3)), default GRPO, beta = 0."""
    specs = ["gauss:1", "gauss:2", "t:2:1", "t:3:1"]
    out = {}
    for arms in (128, 1024):
        world = SB.WorldConfig(contexts=64 if arms == 128 else 16, arms=arms)
        m, secs = _train(specs, TRAIN_CFG, world)
        maps = {s: _summ(m, j) for j, s in enumerate(specs)}
        out[str(arms)] = {"world": world.__dict__, "seconds": secs, "maps": maps}
        print(
            "error K",
            arms,
            {s: (round(v["peak"]["mean"], 3), round(v["final"]["mean"], 3)) for s, v in out[str(arms)]["maps"].items()},
            flush=True,
        )
    return out


SECTIONS = {
    "bon": section_bon,
    "tilt": section_tilt,
    "train": section_train,
    "sweep": section_sweep,
    "beta": section_beta,
    "error": section_error,
}


# ----------------------------------------------------------------------------------------------- report
def report(res: dict, commands: str) -> str:
    L = [
        "# Quantile-bandit findings",
        "",
        "Generated by `paper_repro/bandit_findings.py` from its cached runs (every number below was computed",
        "by that script; rerun it to regenerate this file). The simulator (`sim/`) never imports `theory/`,",
        "so agreement between them is a check of both. Intervals are 95% t-intervals over seeds unless said",
        "otherwise.",
        "",
        "Rerun:",
        "",
        "```bash",
        commands,
        "```",
        "",
    ]
    if "bon" in res:
        rows = res["bon"]["rows"]
        zs = np.array([r["z"] for r in rows if math.isfinite(r["z"])])
        # a KL SE below 1e-6 is float32 rounding of identical log-ratios (every winner in one top tie group)
        zk = np.array([r["z_kl"] for r in rows if math.isfinite(r["z_kl"]) and r["kl_se"] > 1e-6])
        L += [
            "## 1. Sampled best-of-n vs theory",
            "",
            f"{res['bon']['samples']:,} draws of best-of-n per cell, spread over 32 contexts x 10^4 equal-mass "
            "arms; the SE is cluster-robust over contexts (it includes the noise bands' per-context draws). "
            f"{len(rows)} cells ({len(BON_MAPS)} maps x n in {BON_N}).",
            "",
            f"- win rate: max |z| = {np.abs(zs).max():.2f} over {len(zs)} cells with SE > 0; "
            f"{int((np.abs(zs) < 4).sum())}/{len(zs)} within 4 SE.",
            f"- KL: the Monte Carlo estimate E[log pi_bon(a)/p(a)] vs theory: max |z| = "
            f"{np.abs(zk).max() if len(zk) else float('nan'):.2f}; {int((np.abs(zk) < 4).sum())}/{len(zk)} within "
            "4 SE (cells where every winner has the same log-ratio, e.g. the top tie band at large n, have SE ~ 0 "
            "and are left out: there the estimate and the theory differ by ~1e-5, float32 rounding).",
            "",
            "| map | n | sampled W ± SE | theory W | z | KL est ± SE | theory KL |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            L.append(
                f"| {r['map']} | {r['n']} | {r['win_rate']:.4f} ± {r['se']:.4f} | {r['theory']:.4f} | "
                f"{r['z']:+.2f} | {r['kl_estimate']:.3f} ± {r['kl_se']:.3f} | {r['theory_kl']:.3f} |"
            )
        L.append("")
    if "tilt" in res:
        rows = res["tilt"]["rows"]
        dw = np.array([abs(r["diff"]) for r in rows])
        dk = np.array([abs(r["kl_diff"]) for r in rows])
        within = sum(abs(r["diff"]) <= 4 * r["se"] + 2e-4 for r in rows)
        L += [
            "## 2. Exact tilt vs theory",
            "",
            f"Exact tilt on the same world, beta in {TILT_BETA}. The finite-K tilt is exact, so the only "
            "differences are discretization (K = 10^4: O(1/K) plus O(1/(K beta)) at small beta) and, for noise "
            "bands, the per-context noise draw (SE over the 32 contexts).",
            "",
            f"- max |W - theory| = {dw.max():.2e}, max |KL - theory| = {dk.max():.2e}; "
            f"{within}/{len(rows)} cells within 4 SE + 2e-4 (SE = 0 for deterministic maps).",
            "",
            "| map | beta | W (exact, sim) | theory W | diff | KL (sim) | theory KL |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            L.append(
                f"| {r['map']} | {r['beta']} | {r['win_rate']:.5f} | {r['theory']:.5f} | {r['diff']:+.1e} | "
                f"{r['kl']:.4f} | {r['theory_kl']:.4f} |"
            )
        L.append("")
    if "train" in res:
        t = res["train"]
        L += [
            "## 3. Training on a proxy with a reversed band (beta = 0)",
            "",
            f"World: {TRAIN_WORLD.contexts} contexts x {TRAIN_WORLD.arms} equal-mass arms, {SEEDS} seeds, 600 "
            "steps (the `chase sim train` defaults, longer). Peak = max over steps of a seed's true win rate; "
            "drop = peak - final. Theory: the continuous tilt's peak and KL at the peak.",
            "",
        ]
        for label in [k for k in t if k not in ("theory", "section_seconds")]:
            cfg = t[label]["config"]
            L += [
                f"**{label}** (algo={cfg['algo']}, geometry={cfg['geometry']}, lr={cfg['lr']}, "
                f"G={cfg['group']}; {t[label]['seconds']:.1f} s for 5 maps x {SEEDS} seeds)",
                "",
                "| map | peak step | peak true W | final true W | drop from peak | KL at peak | theory peak (KL) |",
                "|---|---|---|---|---|---|---|",
            ]
            for s, v in t[label]["maps"].items():
                th = t["theory"][s]
                L.append(
                    f"| {s} | {_fmt(v['peak_step'], 0)} | {_fmt(v['peak'])} | {_fmt(v['final'])} | "
                    f"{_fmt(v['drop'], 4)} | {_fmt(v['kl_at_peak'], 2)} | "
                    f"{th['peak']:.3f} ({th['kl_at_peak']:.2f}) |"
                )
            L.append("")
    if "sweep" in res:
        sw = res["sweep"]
        L += [
            "## 4. Band-width sweep (top band reversed)",
            "",
            f"Default GRPO (natural), {sw['world']['contexts']} contexts x {sw['world']['arms']} arms, {SEEDS} "
            "seeds, 600 steps.",
            "",
            "| top band reversed | peak step | peak true W | KL at peak | final W | drop | theory peak "
            "| theory KL at peak |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in sw["rows"]:
            L.append(
                f"| {r['width']} | {_fmt(r['peak_step'], 0)} | {_fmt(r['peak'])} | {_fmt(r['kl_at_peak'], 2)} | "
                f"{_fmt(r['final'])} | {_fmt(r['drop'], 4)} | {r['theory_peak']:.3f} | "
                f"{r['theory_kl_at_peak']:.2f} |"
            )
        L.append("")
    if "beta" in res:
        rows = res["beta"]["rows"]
        L += [
            "## 5. beta > 0: convergence to the tilt optimum",
            "",
            f"World: {res['beta']['world']['contexts']} contexts x {res['beta']['world']['arms']} equal-mass arms. "
            "Exact runs are deterministic (2 seeds, identical worlds); GRPO uses 16 seeds and averages its last "
            "500 steps (a sampled policy keeps fluctuating around the fixed point). Theory: the continuous tilt.",
            "",
            "| beta | run | map | true W | theory W | rel. err W | KL | theory KL | rel. err KL |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            L.append(
                f"| {r['beta']} | {r['run']} | {r['map']} | {_fmt(r['win_rate'], 4)} | "
                f"{r['theory_win_rate']:.4f} | {100 * r['rel_err_win']:+.2f}% | {_fmt(r['kl'], 3)} | "
                f"{r['theory_kl']:.3f} | "
                f"{100 * r['rel_err_kl']:+.2f}% |"
            )
        L.append("")
    if "error" in res:
        L += [
            "## 6. Additive error: Gaussian vs heavy-tailed",
            "",
            "Proxy r = r* + X with r* ~ N(0,1) per arm; default GRPO (natural), beta = 0, 600 steps, 16 seeds.",
            "",
        ]
        for arms, e in ((a, e) for a, e in res["error"].items() if a != "section_seconds"):
            L += [
                f"K = {arms} arms x {e['world']['contexts']} contexts:",
                "",
                "| error | peak step | peak true W | final true W | drop | final KL |",
                "|---|---|---|---|---|---|",
            ]
            for s, v in e["maps"].items():
                L.append(
                    f"| {s} | {_fmt(v['peak_step'], 0)} | {_fmt(v['peak'])} | {_fmt(v['final'])} | "
                    f"{_fmt(v['drop'], 4)} | {_fmt(v['final_kl'], 2)} |"
                )
            L.append("")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bandit_findings")
    p.add_argument("--doc", default="docs/bandit_findings.md")
    p.add_argument("--only", default=",".join(SECTIONS))
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    res = {}
    for name in SECTIONS:
        path = out / f"{name}.json"
        if name in args.only.split(",") and (args.force or not path.exists()):
            t0 = time.perf_counter()
            data = SECTIONS[name]()
            data["section_seconds"] = time.perf_counter() - t0
            write_json(path, data)
        if path.exists():
            res[name] = json.loads(path.read_text())
    cmd = f"nice -n 10 python -m paper_repro.bandit_findings --out {args.out} --doc {args.doc}"
    extra = Path(args.doc).with_suffix(".notes.md")
    text = report(res, cmd)
    if extra.exists():  # hand-written interpretation, kept beside the generated tables
        text += "\n" + extra.read_text()
    atomic_write_text(args.doc, text)
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
