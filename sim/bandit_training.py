"""The quantile-bandit training experiment: Config -> run -> Result -> summarize -> report.

    config = BanditTrainingConfig(maps=("top-wrong:0.1", "worst-wrong:0.1"), seeds=8)
    result = run(config, jax.random.key(config.seed))   # TrainingCurves (R, M, T+1) by name
    report(result, "runs/demo", theory={...})           # metrics.csv, summary.json, sim_train.json (figure data)

``chase sim train`` is this entry with flags generated from the config. ``theory`` (optional) is the continuous
theory's tilt curve per proxy, ``{name: {"kl": [...], "win_rate": [...]}}``, passed in as data because ``sim``
never imports ``theory``; the report puts it next to the measured curves.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rewards.checks import check_fields, check_memory
from rewards.io import atomic_write_text, write_json
from rewards.quantile import AdditiveError, QuantileMap
from rewards.stats import interval, summarize_curve
from sim.bandit import WorldConfig, parse_proxy
from sim.train import METRICS, TrainConfig, TrainingCurves, build_tasks, train_batch, train_sharded

__all__ = ["BanditTrainingConfig", "BanditTrainingResult", "report", "run", "summarize"]


@dataclass(frozen=True)
class BanditTrainingConfig:
    """One training-dynamics experiment on the quantile bandit.

    maps:    quantile-map specs of the proxies; see ``rewards.QuantileMap.parse``. The default pair shows a
             top-band collapse next to a harmless bottom-band error.
    errors:  additive proxy-error specs (``gauss:S``, ``t:DF:S``).
    seeds:   independent seeds R (each draws its own world, proxy noise and training samples).
    seed:    master seed; seed i uses ``fold_in(key(seed), i)``.
    devices: shard the seeds over this many JAX devices (0: all that JAX sees).
    world:   the bandit (contexts x arms, base policy).
    train:   the update rule and its settings.
    """

    maps: tuple[str, ...] = ("top-wrong:0.1", "worst-wrong:0.1")
    errors: tuple[str, ...] = ()
    seeds: int = 8
    seed: int = 0
    devices: int = 0
    world: WorldConfig = field(default_factory=lambda: WorldConfig(contexts=64, arms=128))
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1 (got {self.seeds})")
        if self.devices < 0:
            raise ValueError(f"devices must be >= 0 (got {self.devices})")
        names = [str(p) for p in self.proxies()]
        rows = float(self.seeds) * max(len(names), 1) * self.world.contexts
        # per (seed, proxy, context) row: ~12 float32 arrays over the arms (inputs, logits, policy, gradient)
        # and the recorded curves (steps + 1) x 5 metrics
        nbytes = rows * (48.0 * self.world.arms) + float(self.seeds) * len(names) * (self.train.steps + 1) * 20
        check_memory(nbytes, "the training run", "lower seeds, contexts, arms or steps")
        if not names:
            raise ValueError("give at least one proxy (a map or an additive error)")
        if len(set(names)) != len(names):
            raise ValueError(f"the same proxy is given twice: {names}")

    def proxies(self) -> list[QuantileMap | AdditiveError]:
        """The parsed proxies, maps first (raises ``rewards.SpecError``, a ValueError, on a bad spec)."""
        return [parse_proxy(s, "map") for s in self.maps] + [parse_proxy(s, "error") for s in self.errors]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BanditTrainingResult:
    """``curves``: :class:`sim.train.TrainingCurves` as numpy arrays ``(R, M, T+1)``; ``proxy_names`` (M,)."""

    config: BanditTrainingConfig
    proxy_names: tuple[str, ...]
    curves: TrainingCurves
    seconds: float


def devices_for(config: BanditTrainingConfig) -> list:
    """The JAX devices the run shards its seeds over; ValueError when the config asks for more than exist."""
    devices = jax.devices()
    if config.devices > len(devices):
        raise ValueError(f"devices={config.devices} but JAX sees {len(devices)}")
    return devices[: config.devices] if config.devices else devices


def run(config: BanditTrainingConfig, key: jax.Array) -> BanditTrainingResult:
    """Train every proxy for every seed (jit + vmap; seeds sharded when more than one device is used)."""
    proxies = config.proxies()
    devices = devices_for(config)
    tasks = build_tasks(key, config.seeds, config.world, proxies)
    t0 = time.perf_counter()
    curves = train_sharded(tasks, config.train, devices) if len(devices) > 1 else train_batch(tasks, config.train)
    curves = TrainingCurves(*(np.asarray(c) for c in curves))
    return BanditTrainingResult(config, tuple(str(p) for p in proxies), curves, time.perf_counter() - t0)


def summarize(result: BanditTrainingResult) -> dict[str, Any]:
    """Per proxy: the true-win-rate curve's peak step, peak, final, drop after the peak and lost fraction of
    the gain (each an interval over seeds, ``{"mean", "lo", "hi", "n"}``), and the seed-mean curve's peak, the KL
    there and at the end."""
    c = result.curves
    out: dict[str, Any] = {}
    for j, name in enumerate(result.proxy_names):
        per_seed = summarize_curve(c.true_win_rate[:, j])
        mean_curve = summarize_curve(c.true_win_rate[:, j].mean(0))
        s = int(mean_curve.peak_step)
        kl_mean = c.kl[:, j].mean(0)
        out[name] = {
            "true_win_rate": {k: interval(getattr(per_seed, k)).to_dict() for k in per_seed._fields},
            "mean_curve": {
                "peak_step": s,
                "peak": float(mean_curve.peak),
                "kl_at_peak": float(kl_mean[s]),
                "final": float(mean_curve.final),
                "final_kl": float(kl_mean[-1]),
            },
        }
    return out


def _theory_summary(theory: dict[str, list[float]], final_kl: float) -> dict[str, float]:
    kl, win = np.asarray(theory["kl"]), np.asarray(theory["win_rate"])
    return {
        "peak": float(win.max()),
        "kl_at_peak": float(kl[int(win.argmax())]),
        "win_rate_at_final_kl": float(np.interp(final_kl, kl, win)),
    }


def metrics_csv(result: BanditTrainingResult) -> str:
    """Long format: one row per (proxy, seed, step) with every :class:`TrainingCurves` field by name."""
    c = result.curves
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "seed", "map", *METRICS])
    r, m, t = c.kl.shape
    for j in range(m):
        for s in range(r):
            for step in range(t):
                w.writerow([step, s, result.proxy_names[j], *(f"{getattr(c, k)[s, j, step]:.9g}" for k in METRICS)])
    return buf.getvalue()


def figure_data(result: BanditTrainingResult, theory: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data ``figures.sim_train`` plots: per proxy the true and proxy win-rate bands over seeds and KL."""
    c, cfg = result.curves, result.config
    maps = []
    for j, name in enumerate(result.proxy_names):
        true, prox = interval(c.true_win_rate[:, j]), interval(c.proxy_win_rate[:, j])
        maps.append(
            {
                "map": name,
                "step": list(range(c.kl.shape[-1])),
                "seeds": cfg.seeds,
                **{
                    f"true_{k}": _band(v, true.mean) for k, v in (("mean", true.mean), ("lo", true.lo), ("hi", true.hi))
                },
                **{
                    f"proxy_{k}": _band(v, prox.mean)
                    for k, v in (("mean", prox.mean), ("lo", prox.lo), ("hi", prox.hi))
                },
                "kl_mean": c.kl[:, j].mean(0).tolist(),
                "theory": (theory or {}).get(name),
            }
        )
    t = cfg.train
    title = f"{t.algo} ({t.geometry}), lr={t.lr:g}, beta={t.beta:g}, K={cfg.world.arms}, C={cfg.world.contexts}"
    return {"title": title, "maps": maps}


def _band(v: np.ndarray, mean: np.ndarray) -> list[float]:
    """A band edge; with one seed there is no band, so the edge is the mean itself (drawn as a line)."""
    v = np.asarray(v, dtype=float)
    return np.where(np.isnan(v), mean, v).tolist()


def report(result: BanditTrainingResult, out_dir: str | Path, theory: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``metrics.csv``, ``summary.json`` and ``sim_train.json`` (figure data) to ``out_dir``; returns the
    summary. ``theory`` adds the tilt theory's peak and its win rate at the run's final KL per proxy."""
    out = Path(out_dir)
    summary = summarize(result)
    for name, th in (theory or {}).items():
        if th is not None:
            summary[name]["theory_tilt"] = _theory_summary(th, summary[name]["mean_curve"]["final_kl"])
    atomic_write_text(out / "metrics.csv", metrics_csv(result))
    write_json(out / "sim_train.json", figure_data(result, theory))
    doc = {"config": result.config.to_dict(), "seconds": result.seconds, "maps": summary}
    write_json(out / "summary.json", doc)
    return doc
