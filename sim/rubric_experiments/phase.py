"""The rubric world's phase diagram (issue 13): what refinement does against the proposer's *knowledge* and the
refinement pool's *diversity*, over many drawn worlds; and Table 6 with the Bradley-Terry halo swept.

    config = PhaseConfig(...)                  # frozen; ``experiment`` holds world, verifier, judge, train, bt
    row = run_world(config, w)                 # world w: a JSON-able dict of per-world numbers

Per world w (``jax.random.fold_in(jax.random.key(seed), w)``): draw the world (its writer's flaws drawn from
``WorldConfig``'s stated ranges), draw each condition's refinement pool ONCE, refine the initial rubrics under
every (knowledge, condition) with a gold-free :class:`sim.rubric_world.SimProposer` shown a noisy judge's
verdicts (the same judge, pools and belief draws at every knowledge: a paired design, and a higher knowledge
knows a superset of what a lower one knows), measure Table 2 accuracy of every rubric, fit Bradley-Terry models
on on-policy / off-policy / both pairs at every halo strength (same pairs and labels at every halo), and train
GRPO ``train_seeds`` times against every proxy (one ``jit`` + ``vmap`` call per world).

Conditions (:data:`CONDITIONS`): the paper's four, with the 4-round pool of 16 taken from 1 model (4 great
pairs), from the first ``d`` diverse models for each ``d`` in ``diversity`` (the first is the great model).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from rewards.checks import check_fields
from rewards.refine import RefineConfig, refine
from rewards.stats import summarize_curve
from sim.bt import PAIR_KINDS, BTPairs, bt_pairs, bt_proxy, fit_bt_many
from sim.rubric_experiments.config import REFERENCE, ExperimentConfig
from sim.rubric_experiments.run import SeedRubrics, table2_seed
from sim.rubric_train import rubric_proxy, stack_proxies, train_many
from sim.rubric_world import (
    Halo,
    SimVerifier,
    make_proposer,
    make_world,
    pool_lists,
    sample_pool,
    sign_errors,
)

__all__ = ["C_MAX", "SMOOTH", "PhaseConfig", "conditions", "proxy_names", "run_world"]

C_MAX = 24  # criteria per rubric the trainer is compiled for (one compilation for every world)
SMOOTH = 5  # a gold curve's peak is the maximum of its 5-step moving average (as in ``chase sim rubric-world``)


@dataclass(frozen=True)
class PhaseConfig:
    """One phase-diagram run.

    worlds: drawn worlds (CIs are over worlds)
    train_seeds: GRPO runs per world and proxy (averaged within a world)
    seed: master seed; world w uses ``fold_in(key(seed), w)``
    knowledge: the proposer knowledges swept (0.5 blind ... 1.0 oracle); empty: no refinement (initial and
        gold rubrics only)
    diversity: models in the diverse 4-round pools (1 model = the 4-great-pairs condition, always run)
    halos: Bradley-Terry style-halo strengths swept (Table 6; empty: no BT models)
    experiment: everything else (world ranges, verifier, judge, proposer's other knobs, train, bt, eval pairs)
    """

    worlds: int = 16
    train_seeds: int = 2
    seed: int = 0
    knowledge: tuple[float, ...] = (0.5, 0.625, 0.75, 0.875, 1.0)
    diversity: tuple[int, ...] = (4, 16)
    halos: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    experiment: ExperimentConfig = ExperimentConfig(seeds=1, bt_ablation=False)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.worlds < 1 or self.train_seeds < 1:
            raise ValueError(f"PhaseConfig: worlds and train_seeds must be >= 1: {self}")
        if not all(0.5 <= k <= 1.0 for k in self.knowledge):
            raise ValueError(f"PhaseConfig.knowledge={self.knowledge}: each in [0.5, 1]")
        if not self.diversity or not all(1 <= d <= self.experiment.world.n_diverse for d in self.diversity):
            raise ValueError(f"PhaseConfig.diversity={self.diversity}: each in 1..{self.experiment.world.n_diverse}")
        if not all(0.0 <= h < 1.0 for h in self.halos):
            raise ValueError(f"PhaseConfig.halos={self.halos}: each in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def conditions(config: PhaseConfig) -> dict[str, tuple[str, int | None]]:
    """Refinement condition name -> (``rewards.refine.POOL_MODES`` name, models in a diverse pool or None)."""
    out: dict[str, tuple[str, int | None]] = {
        "1-good-pair": ("1-good-pair", None),
        "1-great-pair": ("1-great-pair", None),
        "4-great-pairs": ("4-great-pairs", None),
    }
    out.update({f"4-diverse-{d}": ("4-great-diverse-pairs", d) for d in config.diversity})
    return out


def rubric_name(knowledge: float, cond: str) -> str:
    return f"k{knowledge:g}/{cond}"


def bt_name(kind: str, halo: float) -> str:
    return f"bt-{kind}/halo{halo:g}"


def proxy_names(config: PhaseConfig) -> tuple[str, ...]:
    """Every proxy trained against, in the order of a world's proxy axis."""
    rubs = [rubric_name(k, c) for k in config.knowledge for c in conditions(config)]
    bts = [bt_name(kind, h) for h in config.halos for kind in PAIR_KINDS]
    return ("initial", REFERENCE, *rubs, *bts)


def _refine_all(world, verifier, config: PhaseConfig, key: jax.Array) -> tuple[dict, dict]:
    """Rubrics of every (knowledge, condition) and their refinement numbers (accepted edits, sign errors)."""
    exp = config.experiment
    conds = conditions(config) if config.knowledge else {}
    pools = {
        c: pool_lists(sample_pool(world, m, jax.random.fold_in(key, i), n))
        for i, (c, (m, n)) in enumerate(conds.items())
    }
    rubrics: dict[str, tuple] = {"initial": world.initial_rubrics, REFERENCE: world.gold_rubrics}
    info: dict[str, dict[str, float]] = {"initial": _sign_info(world.initial_rubrics)}
    for k in config.knowledge:
        proposer = make_proposer(world, dataclasses.replace(exp.proposer, knowledge=k), exp.judge)
        for c, (mode, _n) in conds.items():
            res = refine(
                world.prompts, world.initial_rubrics, pools[c], verifier, proposer, RefineConfig.from_pool_mode(mode)
            )
            rubrics[rubric_name(k, c)] = res.rubrics
            info[rubric_name(k, c)] = {**_sign_info(res.rubrics), "accepted": res.status_counts()["accepted"]}
    return rubrics, info


def _sign_info(rubrics) -> dict[str, float]:
    """Per-prompt means of the rubric's wrong-sign and artifact-paying criteria (evaluation: reads gold signs)."""
    e = np.array([sign_errors(r) for r in rubrics], dtype=float)
    return {"wrong_sign": float(e[:, 0].mean()), "artifact": float(e[:, 1].mean())}


def _bt_weights(world, config: PhaseConfig, key: jax.Array) -> dict[str, np.ndarray]:
    """Fitted BT weights (P, M) per (kind, halo); a kind's pairs and labels are the same at every halo."""
    exp = config.experiment
    sets: list[tuple[str, BTPairs]] = []
    for h in config.halos:
        bt_h = dataclasses.replace(exp.bt, halo=Halo(h))
        for i, kind in enumerate(PAIR_KINDS):
            sets.append((bt_name(kind, h), bt_pairs(world, jax.random.fold_in(key, i), kind, bt_h)))
    if not sets:
        return {}
    n_max = max(p.y.shape[0] for _n, p in sets)
    stacked = BTPairs(*(np.stack(z) for z in zip(*[p.padded(n_max) for _n, p in sets], strict=True)))
    fitted = np.asarray(fit_bt_many(stacked, world.n_prompts, exp.bt))
    return {name: fitted[i] for i, (name, _p) in enumerate(sets)}


def _train(world, verifier, rubrics: dict, bt_w: dict, config: PhaseConfig, key: jax.Array) -> dict[str, np.ndarray]:
    """GRPO against every proxy, ``train_seeds`` times: gold (S, K, T), kl (S, K, T), probs (S, K, T, M)."""
    exp = config.experiment
    pxs = []
    for name in proxy_names(config):
        if name.startswith("bt-"):
            h = float(name.split("/halo")[1])
            pxs.append(bt_proxy(bt_w[name], dataclasses.replace(exp.bt, halo=Halo(h)), C_MAX))
        else:
            pxs.append(rubric_proxy(rubrics[name], verifier, C_MAX))
    S, K = config.train_seeds, len(pxs)
    one = stack_proxies(pxs)
    proxies = type(one)(*(np.broadcast_to(a[None], (S, *a.shape)) for a in one))
    keys = jax.random.split(key, S * K).reshape(S, K)
    base = np.broadcast_to(world.base_logits()[None], (S, *world.base_logits().shape))
    gw = np.broadcast_to(np.asarray(world.gold_weights)[None], base.shape)
    log = train_many(keys, base, proxies, gw, exp.train)
    return {"gold": np.asarray(log.gold), "kl": np.asarray(log.kl), "probs": np.asarray(log.probs)}


def _table2_row(t2: dict[str, Any]) -> dict[str, float]:
    return {"high": t2["high"]["ties_wrong"], "low": t2["low"]["ties_wrong"]}


def run_world(config: PhaseConfig, w: int) -> dict[str, Any]:
    """World ``w``'s numbers (JSON-able): per proxy its Table 2 accuracy (rubrics), refinement sign errors,
    and (means over training seeds) peak gold, peak step, lost fraction of gain, final KL, the gold curve and
    the final property rates; plus the world's drawn writer flaws."""
    t0 = time.perf_counter()
    exp = config.experiment
    ks = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), w), 5)
    world = make_world(ks[0], exp.world)
    verifier = SimVerifier(world, exp.verifier)
    rubrics, info = _refine_all(world, verifier, config, ks[1])
    t2 = table2_seed(SeedRubrics(world, verifier, rubrics), ks[2], exp)
    logs = _train(world, verifier, rubrics, _bt_weights(world, config, ks[3]), config, ks[4])
    cs = summarize_curve(logs["gold"], smooth=SMOOTH)  # fields (S, K)
    proxies: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(proxy_names(config)):
        proxies[name] = {
            "peak_gold": float(cs.peak[:, i].mean()),
            "peak_step": float(cs.peak_step[:, i].mean()),
            "lost_fraction": float(np.nanmean(cs.lost_fraction_of_gain[:, i])),
            "final_kl": float(logs["kl"][:, i, -1].mean()),
            "gold_curve": np.round(logs["gold"][:, i].mean(0), 5).tolist(),
            "kl_curve": np.round(logs["kl"][:, i].mean(0), 4).tolist(),
            "final_probs": np.round(logs["probs"][:, i, -1].mean(0), 4).tolist(),
            **({"table2": _table2_row(t2[name])} if name in t2 else {}),
            **info.get(name, {}),
        }
    d = world.writer_draws
    return {
        "world": w,
        "writer": {"fact_prob": d.fact_prob, "tail_prob": d.tail_prob, "criterion_prob": d.criterion_prob},
        "base_exploit": {"hedge": d.hedge_rate, "padding": d.padding_rate},
        "base_gold": float(logs["gold"][:, 0, 0].mean()),
        "proxies": proxies,
        "seconds": time.perf_counter() - t0,
    }
