"""World (c) of the pre-registered validation: the simulated rubric world, every rubric condition.

Three curves of gold against sequence-level KL per condition:

- **prediction** (``rewards.predict`` on base samples alone): ``samples`` responses per prompt drawn from the
  base model, each scored by the condition's rubric (its *expected* score under the simulated verifier: a judge
  averaged over calls; assumed, see docs/prediction.md) and by gold;
- **exact tilt** over all 2^13 responses (``sim.rubric_world.exact``): what the prediction estimates;
- **GRPO** (``sim.rubric_train.train_many``, the experiment's default settings): what training does.

The world and the refined rubrics per seed are those of ``chase sim rubric-world`` (``refine_world`` with the
same keys); the Bradley-Terry conditions are left out (they are not rubrics).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rewards.predict import predict
from rewards.stats import interval, summarize_curve
from sim.rubric_experiments.config import REFERENCE, RUBRIC_CONDITIONS, ExperimentConfig
from sim.rubric_experiments.run import refine_world
from sim.rubric_train import ProxyArrays, rubric_proxy, stack_proxies, train_many
from sim.rubric_world import M, make_world
from sim.rubric_world.exact import beta_grid, exact_tilt, tilt_arrays

CONDITIONS = RUBRIC_CONDITIONS + (REFERENCE,)


@dataclass(frozen=True)
class RubricPrediction:
    """The rubric-world validation. ``seeds``: worlds (the experiment's keys: seed s = fold_in(key(seed), s));
    ``ns``: base responses per prompt for a prediction (one prediction per value); ``n_boot``, ``min_ess``: as
    ``rewards.predict``. The experiment's default world, verifier, proposer and GRPO settings (``ExperimentConfig``)."""

    seeds: int = 4
    seed: int = 0
    ns: tuple[int, ...] = (256, 4096)
    n_boot: int = 200
    min_ess: float = 10.0

    def experiment(self) -> ExperimentConfig:
        return ExperimentConfig(seeds=self.seeds, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seed_rubrics(cfg: RubricPrediction, s: int):
    """Seed s's refined rubrics (world and verifier inside) and its training key, with the experiment's keys."""
    exp = cfg.experiment()
    ks = jax.random.split(jax.random.fold_in(jax.random.key(exp.seed), s), 5)
    return refine_world(make_world(ks[0], exp.world), ks[1], exp), ks[4]


def _c_max(srs) -> int:
    return max(M, *(len(r.criteria) for sr in srs for c in CONDITIONS for r in sr.rubrics[c]))


def _proxies(sr, c_max: int) -> dict[str, ProxyArrays]:
    return {c: rubric_proxy(sr.rubrics[c], sr.verifier, c_max) for c in CONDITIONS}


def predict_rubric(cfg: RubricPrediction) -> dict[str, Any]:
    """Per seed and condition: the sampled prediction and the exact tilt (no training)."""
    out: dict[str, Any] = {"config": cfg.to_dict(), "seeds": []}
    t0 = time.perf_counter()
    pow2 = 1 << np.arange(M)
    for s in range(cfg.seeds):
        sr, _ = _seed_rubrics(cfg, s)
        world, proxies = sr.world, _proxies(sr, _c_max([sr]))
        rng = np.random.default_rng([cfg.seed, s])
        p_base = 1.0 / (1.0 + np.exp(-world.base_logits()))  # (P, M)
        P = p_base.shape[0]
        rows = {}
        for c in CONDITIONS:
            base_lp, prox, gold = tilt_arrays(world, proxies[c])
            ex = exact_tilt(base_lp, prox, gold, beta_grid(1e-3, 10.0, 81))
            i = int(np.argmax(ex.gold))
            rows[c] = {"pred": {}}
            for n in cfg.ns:
                x = (rng.random((P, n, M)) < p_base[:, None, :]).astype(np.int64)
                codes = x @ pow2  # (P, n): index of each sampled response among all 2^M
                r = np.take_along_axis(prox, codes, axis=1).ravel()
                g = np.take_along_axis(gold, codes, axis=1).ravel()
                pid = np.repeat(np.arange(P), n)
                pr = predict(pid, r, g, rng=rng, n_boot=cfg.n_boot, min_ess=cfg.min_ess)["tilt"]
                rows[c]["pred"][str(n)] = {
                    "peak": pr.peak,
                    "peak_kl": pr.peak_kl,
                    "peak_kl_ci": list(pr.peak_kl_ci),
                    "peak_gold": pr.peak_gold,
                    "max_kl": pr.max_kl,
                    "drop": pr.drop,
                    "curve": {k: np.asarray(getattr(pr.curve, k)).tolist() for k in ("kl", "gold", "resolved")},
                }
            rows[c]["exact"] = {
                "peak_kl": float(ex.kl[i]),
                "peak_gold": float(ex.gold[i]),
                "interior_peak": bool(i < ex.kl.size - 1),
                "curve": {"kl": ex.kl.tolist(), "gold": ex.gold.tolist(), "proxy": ex.proxy.tolist()},
            }
        out["seeds"].append(rows)
        print(f"rubric seed {s}: predicted ({time.perf_counter() - t0:.0f}s)", flush=True)
    out["seconds"] = time.perf_counter() - t0
    return out


def measure_rubric(cfg: RubricPrediction) -> dict[str, Any]:
    """GRPO (the experiment's settings) against every condition, per seed: the gold curve's peak and the KL."""
    exp = cfg.experiment()
    seeds = [_seed_rubrics(cfg, s) for s in range(cfg.seeds)]
    c_max = _c_max([sr for sr, _ in seeds])
    per_seed = [stack_proxies([_proxies(sr, c_max)[c] for c in CONDITIONS]) for sr, _ in seeds]
    proxies = ProxyArrays(*(np.stack(z) for z in zip(*per_seed, strict=True)))
    keys = [jax.random.split(k, len(CONDITIONS)) for _, k in seeds]
    base = [sr.world.base_logits() for sr, _ in seeds]
    gw = [sr.world.gold_weights for sr, _ in seeds]
    log = jax.tree.map(np.asarray, train_many(jnp.stack(keys), np.stack(base), proxies, np.stack(gw), exp.train))
    out: dict[str, Any] = {"config": cfg.to_dict(), "conditions": {}}
    for j, c in enumerate(CONDITIONS):
        gold, kl = log.gold[:, j].astype(np.float64), log.kl[:, j].astype(np.float64)
        sm = summarize_curve(gold)
        steps = np.asarray(sm.peak_step)
        out["conditions"][c] = {
            "peak_step": steps.tolist(),
            "peak_gold": np.asarray(sm.peak).tolist(),
            "peak_kl": kl[np.arange(cfg.seeds), steps].tolist(),
            "interior_peak": (steps < gold.shape[-1] - 1).tolist(),
            "final_kl": kl[:, -1].tolist(),
            "mean_curve": {"kl": kl.mean(0)[::5].tolist(), "gold": gold.mean(0)[::5].tolist()},
            "peak_kl_interval": interval(kl[np.arange(cfg.seeds), steps]).to_dict(),
        }
    return out


def _tilt_marginals(base_lp: np.ndarray, prox: np.ndarray, beta: float) -> np.ndarray:
    """(M,) mean over prompts of each property's probability under the exact tilt at ``beta``."""
    from sim.rubric_world.exact import all_responses

    a = base_lp + prox / beta
    a = a - a.max(1, keepdims=True)
    pmf = np.exp(a)
    pmf /= pmf.sum(1, keepdims=True)
    return (pmf @ all_responses().astype(np.float64)).mean(0)


def mechanisms(cfg: RubricPrediction, seed: int = 0, condition: str = "initial") -> dict[str, Any]:
    """What moves at each peak (one world): property rates of GRPO at its gold peak and at the end, and of the
    exact tilt at the same KLs and at its own peak."""
    from sim.rubric_world import PROPERTIES

    sr, k_train = _seed_rubrics(cfg, seed)
    px = _proxies(sr, _c_max([sr]))[condition]
    exp = cfg.experiment()
    log = jax.tree.map(
        np.asarray,
        train_many(
            k_train[None, None],
            sr.world.base_logits()[None],
            ProxyArrays(*(np.asarray(a)[None, None] for a in px)),
            sr.world.gold_weights[None],
            exp.train,
        ),
    )
    gold, kl, probs = log.gold[0, 0], log.kl[0, 0], log.probs[0, 0]  # (T,), (T,), (T, M)
    t_peak = int(np.argmax(gold))
    base_lp, prox, g = tilt_arrays(sr.world, px)
    betas = beta_grid(1e-3, 10.0, 81)
    ex = exact_tilt(base_lp, prox, g, betas)
    b_peak = betas[int(np.argmax(ex.gold))]

    def beta_at(k: float) -> float:
        return float(betas[1:][int(np.argmin(np.abs(ex.kl[1:] - k)))])

    names = [p.name for p in PROPERTIES]
    rates = {
        "grpo_start": probs[0],
        "grpo_peak": probs[t_peak],
        "grpo_end": probs[-1],
        "tilt_at_grpo_peak_kl": _tilt_marginals(base_lp, prox, beta_at(kl[t_peak])),
        "tilt_at_grpo_end_kl": _tilt_marginals(base_lp, prox, beta_at(kl[-1])),
        "tilt_peak": _tilt_marginals(base_lp, prox, b_peak),
    }
    return {
        "condition": condition,
        "seed": seed,
        "grpo": {
            "peak_step": t_peak,
            "peak_kl": float(kl[t_peak]),
            "peak_gold": float(gold[t_peak]),
            "end_kl": float(kl[-1]),
            "end_gold": float(gold[-1]),
        },
        "tilt_peak": {"kl": float(ex.kl[int(np.argmax(ex.gold))]), "gold": float(ex.gold.max())},
        "rates": {
            k: dict(zip(names, np.round(np.asarray(v, dtype=float), 4).tolist(), strict=True)) for k, v in rates.items()
        },
    }
