"""World (a) of the pre-registered validation: the quantile bandit.

Prediction (from base samples alone): for each seed's world, draw ``n`` arms per context from the base policy,
read their proxy (what GRPO will see) and gold (the true quantile u, the win rate's integrand), and run
``rewards.predict.predict``: peak KL, peak win rate, resolution limit, for n in ``BanditPrediction.ns``.
Nothing from training is used; the training itself is run afterwards by :func:`measure` with the same keys,
so the worlds are the same.

Outcome: ``sim.bandit_training.run`` (default GRPO, natural geometry) on the same config; per seed the peak of
the true win-rate curve and the KL at it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import jax
import numpy as np

from rewards.predict import predict
from rewards.stats import interval, summarize_curve
from sim.bandit import WorldConfig
from sim.bandit_training import BanditTrainingConfig
from sim.bandit_training import run as train_run
from sim.train import TrainConfig, build_tasks

MAPS = (
    "top-wrong:0.05",
    "top-wrong:0.1",
    "top-wrong:0.2",
    "top-wrong:0.3",
    "reverse:0.85:0.95",
    "reverse:0.6:0.8",
    "noise:0.9:1",
    "noise:0.7:1",
    "identity",
    "worst-wrong:0.1",
)


@dataclass(frozen=True)
class BanditPrediction:
    """The bandit validation.

    maps:    proxies (top-band reversals of several widths, reversals below the top, noise bands, controls).
    ns:      base samples per context used for a prediction (the error vs n).
    seeds:   worlds (each its own prediction and its own training run).
    n_boot:  bootstrap replicates per prediction; min_ess: the resolution rule of ``rewards.predict``.
    world, train: the training run that tests the prediction (the band-width sweep of docs/bandit_findings.md).
    """

    maps: tuple[str, ...] = MAPS
    ns: tuple[int, ...] = (16, 64, 256, 1024)
    seeds: int = 8
    seed: int = 0
    n_boot: int = 200
    min_ess: float = 10.0
    world: WorldConfig = field(default_factory=lambda: WorldConfig(contexts=32, arms=512))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(algo="grpo", geometry="natural", steps=600))

    def experiment(self) -> BanditTrainingConfig:
        return BanditTrainingConfig(
            maps=self.maps, seeds=self.seeds, seed=self.seed, world=self.world, train=self.train
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one(pred) -> dict[str, Any]:
    t = pred["tilt"]
    return {
        "peak": t.peak,
        "peak_kl": t.peak_kl,
        "peak_kl_ci": list(t.peak_kl_ci),
        "peak_win": t.peak_win,
        "peak_gold": t.peak_gold,
        "peak_v": t.peak_v,
        "max_kl": t.max_kl,
        "drop": t.drop,
        "drop_ci": list(t.drop_ci),
        "p_peak": t.p_peak,
        "bon_peak": pred["best_of_n"].peak,
        "bon_peak_kl": pred["best_of_n"].peak_kl,
    }


def predict_bandit(cfg: BanditPrediction) -> dict[str, Any]:
    """Predictions per map, n and seed (base samples only). Returns a JSON-able dict."""
    exp = cfg.experiment()
    tasks = build_tasks(jax.random.key(exp.seed), exp.seeds, exp.world, exp.proxies())
    u, proxy, logp0 = np.asarray(tasks.u), np.asarray(tasks.proxy), np.asarray(tasks.logp0)
    R, M, C, K = proxy.shape
    out: dict[str, Any] = {"config": cfg.to_dict(), "maps": {}}
    t0 = time.perf_counter()
    for j, name in enumerate(cfg.maps):
        rows = {}
        for n in cfg.ns:
            per_seed = []
            for s in range(R):
                rng = np.random.default_rng([cfg.seed, s, j, n])
                p0 = np.exp(logp0[s].astype(np.float64))
                arms = np.stack([rng.choice(K, size=n, p=p0[c] / p0[c].sum()) for c in range(C)])  # (C, n)
                ctx = np.repeat(np.arange(C), n)
                r = proxy[s, j][ctx, arms.ravel()]
                g = u[s][ctx, arms.ravel()]
                per_seed.append(_one(predict(ctx, r, g, rng=rng, n_boot=cfg.n_boot, min_ess=cfg.min_ess)))
            rows[str(n)] = per_seed
        out["maps"][name] = rows
        print(f"predicted {name}", flush=True)
    out["seconds"] = time.perf_counter() - t0
    return out


def measure_bandit(cfg: BanditPrediction) -> dict[str, Any]:
    """Train (same keys, same worlds) and record per seed the true win-rate peak and the KL at it."""
    exp = cfg.experiment()
    res = train_run(exp, jax.random.key(exp.seed))
    c = res.curves
    out: dict[str, Any] = {"config": cfg.to_dict(), "seconds": res.seconds, "maps": {}}
    for j, name in enumerate(res.proxy_names):
        win, kl = c.true_win_rate[:, j].astype(np.float64), c.kl[:, j].astype(np.float64)
        s = summarize_curve(win)
        steps = np.asarray(s.peak_step)
        last = win.shape[-1] - 1
        out["maps"][name] = {
            "peak_step": steps.tolist(),
            "peak_win": np.asarray(s.peak).tolist(),
            "peak_kl": kl[np.arange(len(win)), steps].tolist(),
            "interior_peak": (steps < last).tolist(),
            "drop": np.asarray(s.drop_after_peak).tolist(),
            "final_kl": kl[:, -1].tolist(),
            "mean_curve": {"kl": kl.mean(0)[::10].tolist(), "win": win.mean(0)[::10].tolist()},
            "peak_kl_interval": interval(kl[np.arange(len(win)), steps]).to_dict(),
        }
    return out


def compare(pred: dict[str, Any], meas: dict[str, Any], plateau: float = 0.001) -> list[dict[str, Any]]:
    """One row per (map, n). Worlds where a peak is predicted: predicted vs measured peak KL and win rate
    (intervals over those worlds) and the relative error of the means. Worlds where none is predicted ("no peak
    below KL = X"): how many of them had a measured peak that gives back more than ``plateau`` at a KL below X
    (a violated claim)."""
    rows = []
    for name, by_n in pred["maps"].items():
        m = meas["maps"][name]
        m_kl, m_win, m_drop = (np.asarray(m[k], dtype=float) for k in ("peak_kl", "peak_win", "drop"))
        real = np.asarray(m["interior_peak"]) & (m_drop > plateau)
        for n, seeds in by_n.items():
            has = np.array([s["peak"] for s in seeds])
            p_kl = np.array([s["peak_kl"] for s in seeds])
            p_win = np.array([s["peak_win"] for s in seeds])
            x = np.array([s["max_kl"] for s in seeds])
            row = {
                "map": name,
                "n": int(n),
                "worlds": len(seeds),
                "pred_peaks": int(has.sum()),
                "max_kl": interval(x).to_dict(),
                "meas_peaks": int(real.sum()),
                "meas_kl_all": interval(m_kl, nan="omit").to_dict(),
                "meas_drop": float(np.nanmean(m_drop)),
                "no_peak_violations": int(np.sum(~has & real & (m_kl < x))),
            }
            if has.any():
                pk, mk = interval(p_kl[has]), interval(m_kl[has], nan="omit")
                pw, mw = interval(p_win[has]), interval(m_win[has])
                row.update(
                    pred_kl=pk.to_dict(),
                    meas_kl=mk.to_dict(),
                    pred_win=pw.to_dict(),
                    meas_win=mw.to_dict(),
                    rel_err_kl=(pk.mean - mk.mean) / mk.mean,
                    rel_err_win=(pw.mean - mw.mean) / mw.mean,
                )
            rows.append(row)
    return rows
