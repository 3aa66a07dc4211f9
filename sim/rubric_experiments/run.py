"""Running the rubric-world experiment: ``run(config, key) -> RubricWorldResult``.

Per seed (a fresh world each time):

1. refine the initial rubrics under each of the paper's pool modes (``rewards.refine.POOL_MODES``) with
   :func:`rewards.refine.refine`, the :class:`sim.rubric_world.SimVerifier` and the
   :class:`sim.rubric_world.SimProposer`;
2. Table 2: pairwise accuracy of each rubric (verified by the SimVerifier) against gold on high-reward pairs
   (two responses of the great model) and low-reward pairs (two of the base model), with
   :func:`rewards.diagnostics.pair_accuracy`; plus h(v) = E[u | v] from base samples
   (:func:`rewards.diagnostics.estimate_h`) for the theory link;
3. Table 6: Bradley-Terry models (:mod:`sim.bt`) trained on on-policy, off-policy-great and both kinds of pairs;
4. Table 1 / Figure 4: GRPO from the base policy against every proxy (:mod:`sim.rubric_train`), all seeds
   and proxies in one ``jit`` + ``vmap`` call, gold reward logged every step.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rewards.diagnostics import estimate_h, pair_accuracy
from rewards.refine import RefineConfig, refine
from rewards.rubric import Rubric
from sim.bt import STYLE_MASK, BTConfig, BTPairs, bt_pairs, bt_proxy, fit_bt_many
from sim.rubric_experiments.config import REFERENCE, RUBRIC_CONDITIONS, ExperimentConfig
from sim.rubric_train import ProxyArrays, rubric_proxy, stack_proxies, train_many
from sim.rubric_world import (
    PROPERTIES,
    Halo,
    RubricWorld,
    SimVerifier,
    make_proposer,
    make_world,
    pool_lists,
    sample_pool,
    sign_errors,
)

__all__ = ["RubricWorldResult", "SeedRubrics", "refine_world", "run", "table2_seed"]

# best-of-n sizes whose win rate h(v) predicts (Table 2's theory link)
BON_SIZES: tuple[int, ...] = (4, 16, 64)
# the fold_in index of the perfect-perception ablation's BT pairs (apart from the kinds' indices 0, 1, 2)
ABLATION_PAIRS_FOLD = 99


@dataclass
class SeedRubrics:
    """One seed's world and rubrics. ``rubrics[cond]`` (P,) for every condition in RUBRIC_CONDITIONS and the
    reference; ``refine_stats[mode]``: counts of statuses and edit types."""

    world: RubricWorld
    verifier: SimVerifier
    rubrics: dict[str, tuple[Rubric, ...]]
    refine_stats: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RubricWorldResult:
    """Everything a run measured; :func:`sim.rubric_experiments.summarize` turns it into tables and findings.

    S seeds, K proxies (``proxy_names``, the order of the proxy axis), T GRPO steps, P prompts, M properties.

    config         the :class:`ExperimentConfig` that was run
    proxy_names    (K,) proxy names: the rubric conditions, the gold-rubric reference, the BT models, ablations
    gold           (S, K, T) exact expected gold reward of the policy at each step
    kl             (S, K, T) exact KL(pi || pi_base) (nats, summed over prompts' properties, mean over prompts)
    proxy          (S, K, T) the proxy reward the policy was trained on
    win_rate       (S, K, T) win rate of the policy's samples against a fixed panel of base responses
    probs          (S, K, T, M) the policy's inclusion probability of each property (mean over prompts)
    table2         (S,) per seed: ``{condition: {"high"|"low": {"ties_wrong", "ties_half", "n_pairs",
                   "proxy_ties", "gold_ties"}, "h": [bins], "h_bon": {"4"|"16"|"64": float}}}``
    refine_stats   (S,) per seed: ``{pool mode: {"status", "edits", "criteria_mean", "wrong_sign_per_prompt",
                   "artifact_per_prompt"}}``
    bt_weights     ``{kind: (S, P, M)}`` fitted Bradley-Terry weights (kinds and "off-perfect-perception")
    gold_weights   (S, P, M) the worlds' gold weights
    example_rubrics  seed 0's first three rubrics under every condition, as dicts
    seconds        wall-clock time of the run
    """

    config: ExperimentConfig
    proxy_names: tuple[str, ...]
    gold: np.ndarray
    kl: np.ndarray
    proxy: np.ndarray
    win_rate: np.ndarray
    probs: np.ndarray
    table2: list[dict[str, Any]]
    refine_stats: list[dict[str, Any]]
    bt_weights: dict[str, np.ndarray]
    gold_weights: np.ndarray
    example_rubrics: dict[str, list[dict[str, Any]]]
    seconds: float
    conditions: tuple[str, ...] = RUBRIC_CONDITIONS
    reference: str = REFERENCE


def _edit_counts(result) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for it in result.iterations:
        d = it.diff
        for k in ("added", "removed", "reweighted", "rechecked"):
            counts[k] = counts.get(k, 0) + len(d.get(k, []))
    # evaluation (reads the properties' gold signs): how many criteria score a property the wrong way round
    # or pay for an artifact, per prompt -- a proposer without knowledge adds them (the report shows it)
    errs = np.array([sign_errors(r) for r in result.rubrics], dtype=float).reshape(-1, 2)
    return {
        "status": result.status_counts(),
        "edits": counts,
        "criteria_mean": float(np.mean([len(r.criteria) for r in result.rubrics])),
        "wrong_sign_per_prompt": float(errs[:, 0].mean()),
        "artifact_per_prompt": float(errs[:, 1].mean()),
    }


def refine_world(
    world: RubricWorld, key: jax.Array, config: ExperimentConfig, log_dir: Path | None = None
) -> SeedRubrics:
    """Refine the initial rubrics under every pool mode. Logs (resumable) go to ``log_dir/<mode>.jsonl``."""
    verifier = SimVerifier(world, config.verifier)
    proposer = make_proposer(world, config.proposer, config.judge)
    rubrics: dict[str, tuple[Rubric, ...]] = {"initial": world.initial_rubrics}
    stats_: dict[str, dict[str, Any]] = {}
    for i, mode in enumerate(RUBRIC_CONDITIONS[1:]):
        pools = pool_lists(sample_pool(world, mode, jax.random.fold_in(key, i)))
        log = None if log_dir is None else log_dir / f"{mode}.jsonl"
        res = refine(
            world.prompts,
            world.initial_rubrics,
            pools,
            verifier,
            proposer,
            RefineConfig.from_pool_mode(mode),
            log_path=log,
        )
        rubrics[mode] = res.rubrics
        stats_[mode] = _edit_counts(res)
    rubrics[REFERENCE] = world.gold_rubrics
    return SeedRubrics(world, verifier, rubrics, stats_)


def _pair_row(sr: SeedRubrics, rubs, xa: np.ndarray, xb: np.ndarray) -> dict[str, Any]:
    """Pairwise accuracy against gold of one condition's rubrics on pairs (xa[p, i], xb[p, i])."""
    w = sr.world
    groups = np.broadcast_to(np.arange(w.n_prompts)[:, None], xa.shape[:2]).reshape(-1)
    acc = pair_accuracy(
        sr.verifier.scores(rubs, xa).reshape(-1),
        sr.verifier.scores(rubs, xb).reshape(-1),
        w.gold(xa).reshape(-1),
        w.gold(xb).reshape(-1),
        groups=groups,
    )
    return {
        "ties_wrong": acc.acc_ties_wrong,
        "ties_half": acc.acc_ties_half,
        "n_pairs": acc.n_pairs,
        "proxy_ties": acc.n_proxy_ties,
        "gold_ties": acc.n_gold_ties,
    }


def table2_seed(sr: SeedRubrics, key: jax.Array, config: ExperimentConfig) -> dict[str, Any]:
    """Per-condition high/low pairwise accuracy and the h(v) estimate for one seed."""
    w, n = sr.world, config.eval_pairs
    k = jax.random.split(key, 5)
    sets = {
        "high": (w.sample("great", k[0], n), w.sample("great", k[1], n)),
        "low": (w.sample("base", k[2], n), w.sample("base", k[3], n)),
    }
    hx = w.sample("base", k[4], config.h_samples)
    hgold = w.gold(hx)
    hgroups = np.broadcast_to(np.arange(w.n_prompts)[:, None], hx.shape[:2]).reshape(-1)
    out: dict[str, Any] = {}
    for cond, rubs in sr.rubrics.items():
        row: dict[str, Any] = {name: _pair_row(sr, rubs, xa, xb) for name, (xa, xb) in sets.items()}
        h = estimate_h(
            sr.verifier.scores(rubs, hx).reshape(-1), hgold.reshape(-1), list(config.h_edges), groups=hgroups
        )
        row["h"] = [None if not np.isfinite(v) else float(v) for v in h.h]
        # best-of-n under h (docs/theory.md, section 2: E[u] = integral of h against n v^(n-1))
        row["h_bon"] = {str(nn): h.integrate(lambda v, nn=nn: np.asarray(v) ** nn) for nn in BON_SIZES}
        out[cond] = row
    return out


def _stack_pairs(items: list[BTPairs]) -> BTPairs:
    return BTPairs(*(np.stack(z) for z in zip(*items, strict=True)))


def _ablation_bt(config: ExperimentConfig) -> BTConfig:
    """The off-policy BT's perfect-perception ablation: no flips, no halo."""
    return dataclasses.replace(config.bt, perception=tuple((k, 0.0) for k, _ in config.bt.perception), halo=Halo(0.0))


def _fit_bts(bt_data: dict[str, list[BTPairs]], config: ExperimentConfig) -> dict[str, np.ndarray]:
    """One vmapped fit over (kind, seed): every pair set padded to the longest with zero-weight pairs."""
    P = config.world.n_prompts
    sets = list(bt_data.items())
    n_max = max(p.y.shape[0] for _k, v in sets for p in v)
    flat = [p.padded(n_max) for _k, v in sets for p in v]
    fitted = np.asarray(fit_bt_many(_stack_pairs(flat), P, config.bt)).reshape(len(sets), config.seeds, P, -1)
    return {k: fitted[i] for i, (k, _v) in enumerate(sets)}


def _seed_proxies(sr: SeedRubrics, bt_w: dict[str, np.ndarray], s: int, config: ExperimentConfig, c_max: int):
    """Seed s's proxies as arrays, in the order of ``config.proxy_names()``."""
    pxs: list[ProxyArrays] = [rubric_proxy(sr.rubrics[c], sr.verifier, c_max) for c in RUBRIC_CONDITIONS + (REFERENCE,)]
    for k in config.bt_kinds:
        pxs.append(bt_proxy(bt_w[k][s], config.bt, c_max))
    if config.bt_ablation:
        pxs.append(bt_proxy(bt_w["off-perfect-perception"][s], _ablation_bt(config), c_max))
        if "off" in config.bt_kinds:
            pxs.append(bt_proxy(np.where(STYLE_MASK, 0.0, bt_w["off"][s]), config.bt, c_max))
    return stack_proxies(pxs)


def _per_seed_stage(config: ExperimentConfig, key: jax.Array, log_dir: Path | None, say, t0: float):
    """World, refinement, Table 2 and BT pairs for every seed -> (seed records, BT pair sets by kind)."""
    seeds: list[dict[str, Any]] = []
    bt_data: dict[str, list[BTPairs]] = {k: [] for k in config.bt_kinds}
    if config.bt_ablation:
        bt_data["off-perfect-perception"] = []
    for s in range(config.seeds):
        ks = jax.random.split(jax.random.fold_in(key, s), 5)
        world = make_world(ks[0], config.world)
        sr = refine_world(world, ks[1], config, None if log_dir is None else log_dir / f"seed{s:03d}")
        t2 = table2_seed(sr, ks[2], config)
        for i, kind in enumerate(config.bt_kinds):
            bt_data[kind].append(bt_pairs(world, jax.random.fold_in(ks[3], i), kind, config.bt))
        if config.bt_ablation:
            pairs = bt_pairs(world, jax.random.fold_in(ks[3], ABLATION_PAIRS_FOLD), "off", _ablation_bt(config))
            bt_data["off-perfect-perception"].append(pairs)
        seeds.append({"rubrics": sr, "table2": t2, "train_key": ks[4]})
        say(f"seed {s + 1}/{config.seeds}: world, refinement, Table 2 done ({time.perf_counter() - t0:.0f}s)")
    return seeds, bt_data


def run(
    config: ExperimentConfig,
    key: jax.Array,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> RubricWorldResult:
    """Run every experiment of ``config``. ``key``: ``jax.random.key(config.seed)``, made by the caller; seed s
    uses ``fold_in(key, s)``. ``log_dir``: resumable refinement logs. ``progress``: called with status lines."""
    say = progress or (lambda s: None)
    t0 = time.perf_counter()
    seeds, bt_data = _per_seed_stage(config, key, log_dir, say, t0)
    bt_w = _fit_bts(bt_data, config)
    say(f"Bradley-Terry models fitted ({time.perf_counter() - t0:.0f}s)")

    names = config.proxy_names()
    c_max = max(len(r.criteria) for sd in seeds for rubs in sd["rubrics"].rubrics.values() for r in rubs)
    c_max = max(c_max, len(PROPERTIES))
    per_seed = [_seed_proxies(sd["rubrics"], bt_w, s, config, c_max) for s, sd in enumerate(seeds)]
    proxies = ProxyArrays(*(np.stack(z) for z in zip(*per_seed, strict=True)))
    keys = jax.vmap(lambda k: jax.random.split(k, len(names)))(jnp.stack([sd["train_key"] for sd in seeds]))
    base = np.stack([sd["rubrics"].world.base_logits() for sd in seeds])
    gw = np.stack([sd["rubrics"].world.gold_weights for sd in seeds])
    say(f"training {config.seeds} seeds x {len(names)} proxies x {config.train.steps} steps (jit + vmap) ...")
    log = jax.tree.map(np.asarray, train_many(keys, base, proxies, gw, config.train))
    say(f"training done ({time.perf_counter() - t0:.0f}s)")
    first = seeds[0]["rubrics"].rubrics
    return RubricWorldResult(
        config=config,
        proxy_names=names,
        gold=log.gold,
        kl=log.kl,
        proxy=log.proxy,
        win_rate=log.win_rate,
        probs=log.probs,
        table2=[sd["table2"] for sd in seeds],
        refine_stats=[sd["rubrics"].refine_stats for sd in seeds],
        bt_weights=bt_w,
        gold_weights=gw,
        example_rubrics={c: [r.to_dict() for r in first[c][:3]] for c in first},
        seconds=time.perf_counter() - t0,
    )
