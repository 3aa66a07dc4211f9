"""Which mechanism makes gold peak: the exact tilt over all 2^13 responses beside GRPO, per rubric condition.

    config = MechanismConfig(...)
    result = run(config, jax.random.key(config.seed))    # -> MechanismResult (named arrays)
    summary = summarize(result)                           # sim.rubric_experiments.mechanism_summary

Three sources of a peak are told apart (issue 13, deliverable 4):

* the **tail** mechanism (the paper's): the proxy is wrong where the best responses live, so the exact
  KL-regularized optimum itself (:func:`sim.rubric_world.exact_tilt`) gains gold and then loses it as beta
  falls. Any trainer that follows the tilt far enough loses gold too.
* the **policy class**: the tilt rises monotonically, but the best *factorized* policy at each beta (GRPO's
  policy: independent Bernoulli properties) loses gold, because it cannot represent the correlations the
  tilt uses (an OR criterion satisfied by one cheap property or another, never both).
* the **training path**: both optima rise, and GRPO (sampled groups, normalised advantages, the optimizer's
  order of learning) loses gold anyway.

Per world seed, every rubric condition of the rubric world (the initial rubric, its four refinements and the
gold rubric under the same noisy verifier) is built for two **variants** of the initial rubric:

``standard``   the world's own initial rubrics (the tuned world of ``chase sim rubric-world``);
``tail-flaw``  the same rubrics plus one criterion (``tail_text``) that pays ``tail_weight`` for the property
               ``tail_property`` (default: hedging among many diagnoses), which gold penalizes (weight 3).
               Its weight is small next to the facts' (1-3 each), so it barely moves the ranking of ordinary
               responses; it decides the ranking among responses that already satisfy everything else, i.e.
               it is wrong in the high-reward tail. Refinement starts from this flawed rubric, with the same
               pools, proposer and verifier as the standard variant.

For each (variant, condition): the best *factorized* policy per beta (GRPO's own policy class,
:mod:`sim.rubric_experiments.mean_field`), which tells the policy class apart from the training path; the
exact tilt curve (sequence-level KL, expected gold and proxy per beta) and
GRPO from the base policy with each optimizer in ``optimizers`` (learning rates ``lrs``), logging exact
expected gold and exact sequence-level KL every step (for a factorized policy the per-property sum that
:mod:`sim.rubric_train` logs *is* the KL between the two distributions over whole responses). A cheap side
sweep tilts the tail-flaw initial rubric at each ``tail_sweep`` weight (the flaw's size is an assumption).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rewards.checks import check_fields, check_memory
from rewards.rubric import Criterion, Rubric
from sim.rubric_experiments.config import REFERENCE, RUBRIC_CONDITIONS, ExperimentConfig
from sim.rubric_experiments.mean_field import factorized_optimum
from sim.rubric_experiments.run import refine_world
from sim.rubric_train import OPTIMIZERS, ProxyArrays, TrainConfig, rubric_proxy, stack_proxies, train_many
from sim.rubric_world import (
    PROPERTIES,
    PROPERTY_INDEX,
    ProposerConfig,
    RubricWorld,
    VerifierConfig,
    WorldConfig,
    all_responses,
    beta_grid,
    exact_tilt,
    make_world,
    tilt_arrays,
    tilt_with_expectations,
)

__all__ = ["CONDITIONS", "VARIANTS", "MechanismConfig", "MechanismResult", "run", "tail_flaw_rubrics"]

VARIANTS: tuple[str, ...] = ("standard", "tail-flaw")
CONDITIONS: tuple[str, ...] = RUBRIC_CONDITIONS + (REFERENCE,)


@dataclass(frozen=True)
class MechanismConfig:
    """Everything a mechanisms run depends on (the key is ``jax.random.key(seed)``; world s uses fold_in(key, s)).

    seeds: independent worlds (each: its own world, refinement and training noise)
    seed: master seed
    world, verifier, proposer: the rubric world's components. Defaults: the old hand-tuned world
        (``WorldConfig.tuned``, whose initial rubric collapses under GRPO: the collapse whose mechanism is asked
        about; drawn worlds rarely collapse, see ``chase repro rubric-world-phase``) with 32 prompts per world
        instead of 64 (the exact tilt enumerates 8192 responses per prompt), and a proposer of knowledge 1.0
        (it knows every sign from prior knowledge; it still reads no gold)
    train: GRPO settings shared by every optimizer (``optimizer`` and ``lr`` are replaced per optimizer)
    optimizers: optimizers of :class:`sim.rubric_train.TrainConfig` to train with
    lrs: their learning rates, in the same order (an assumption: chosen so that each peaks inside the run on
        the standard initial rubric; the report states them)
    tail_property: the property the tail-flaw criterion pays for (gold must penalize it)
    tail_weight: that criterion's weight in the tail-flaw variant
    tail_text: its text
    tail_sweep: tail-flaw weights of the tilt-only side sweep (initial rubric)
    beta_min, beta_max, n_beta: the tilt's temperatures: np.inf, then n_beta log-spaced from beta_max to beta_min
    """

    seeds: int = 8
    seed: int = 0
    world: WorldConfig = WorldConfig.tuned(n_prompts=32)
    verifier: VerifierConfig = VerifierConfig()
    proposer: ProposerConfig = ProposerConfig(knowledge=1.0)
    train: TrainConfig = TrainConfig()
    optimizers: tuple[str, ...] = OPTIMIZERS
    lrs: tuple[float, ...] = (0.5, 0.03, 0.05)
    tail_property: str = "hedged_diagnosis"
    tail_weight: float = 1.0
    tail_text: str = "Considers several possible diagnoses"
    tail_sweep: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)
    beta_min: float = 2e-3
    beta_max: float = 10.0
    n_beta: int = 24

    def __post_init__(self) -> None:
        check_fields(self, {"seeds": 1, "n_beta": 2, "tail_weight": 0.0})
        if len(self.optimizers) != len(self.lrs) or not self.optimizers:
            raise ValueError(f"MechanismConfig: optimizers {self.optimizers} and lrs {self.lrs} must pair up")
        bad = set(self.optimizers) - set(OPTIMIZERS)
        if bad or min(self.lrs) <= 0:
            raise ValueError(f"MechanismConfig: optimizers from {OPTIMIZERS} with lrs > 0; got {self.optimizers}")
        k = PROPERTY_INDEX.get(self.tail_property)
        if k is None or PROPERTIES[k].sign >= 0:
            raise ValueError(f"MechanismConfig.tail_property={self.tail_property!r}: need a property gold penalizes")
        if not 0 < self.beta_min < self.beta_max:
            raise ValueError(f"MechanismConfig: need 0 < beta_min={self.beta_min} < beta_max={self.beta_max}")
        # the trainer's logs (gold, KL, proxy, probs per step) and the tilt's (P, 2^13) float64 arrays
        n_runs = self.seeds * len(VARIANTS) * len(CONDITIONS) * len(self.optimizers)
        check_memory(4.0 * n_runs * self.train.steps * 20 * 4, "the mechanisms run", "lower seeds or steps")
        check_memory(8.0 * self.world.n_prompts * 2**13 * 12, "the exact tilt", "lower world.n_prompts")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def betas(self) -> np.ndarray:
        return beta_grid(self.beta_min, self.beta_max, self.n_beta)

    def experiment(self) -> ExperimentConfig:
        """The :class:`ExperimentConfig` whose refinement stage this run reuses (one seed at a time)."""
        return ExperimentConfig(seeds=1, world=self.world, verifier=self.verifier, proposer=self.proposer)


@dataclass
class MechanismResult:
    """S seeds, V variants, K conditions, O optimizers, T steps, B betas, W tail-sweep weights, M properties.

    beta                    (B,) the tilt's temperatures (np.inf first)
    tilt_kl, tilt_gold, tilt_proxy   (S, V, K, B) exact tilt: mean over prompts of KL / E[gold] / E[proxy]
    tilt_probs              (S, V, K, B, M) each property's inclusion probability under the tilt
    fact_kl, fact_gold      (S, V, K, B) the best factorized policy per beta
                            (:func:`sim.rubric_experiments.mean_field.factorized_optimum`; NaN with a halo)
    fact_probs              (S, V, K, B, M) its inclusion probabilities
    grpo_gold, grpo_kl, grpo_proxy   (S, V, K, O, T) GRPO per step (exact gold and sequence KL; sampled proxy)
    grpo_probs              (S, V, K, O, T, M) the policy's inclusion probabilities per step
    sweep_kl, sweep_gold    (S, W, B) the tilt of the tail-flaw initial rubric per ``tail_sweep`` weight
    n_criteria              (S, V, K) mean criteria per rubric
    seconds                 wall-clock time
    """

    config: MechanismConfig
    beta: np.ndarray
    tilt_kl: np.ndarray
    tilt_gold: np.ndarray
    tilt_proxy: np.ndarray
    tilt_probs: np.ndarray
    fact_kl: np.ndarray
    fact_gold: np.ndarray
    fact_probs: np.ndarray
    grpo_gold: np.ndarray
    grpo_kl: np.ndarray
    grpo_proxy: np.ndarray
    grpo_probs: np.ndarray
    sweep_kl: np.ndarray
    sweep_gold: np.ndarray
    n_criteria: np.ndarray
    seconds: float
    variants: tuple[str, ...] = VARIANTS
    conditions: tuple[str, ...] = CONDITIONS


def tail_flaw_rubrics(rubrics, config: MechanismConfig, weight: float | None = None) -> tuple[Rubric, ...]:
    """Each rubric plus the tail-flaw criterion (pays ``weight`` for ``config.tail_property``)."""
    k = PROPERTY_INDEX[config.tail_property]
    w = config.tail_weight if weight is None else weight
    extra = Criterion(config.tail_text, float(w), {"property": k}, ("writer", "tail_flaw"))
    return tuple(Rubric(r.criteria + (extra,), aggregate=r.aggregate) for r in rubrics)


def _variant_world(world: RubricWorld, variant: str, config: MechanismConfig) -> RubricWorld:
    if variant == "standard":
        return world
    return dataclasses.replace(world, initial_rubrics=tail_flaw_rubrics(world.initial_rubrics, config))


def _tilt_rows(world: RubricWorld, proxies: list[ProxyArrays], betas: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact tilt and best factorized policy of each proxy: tilt (kl, gold, proxy) each (K, B), tilt probs
    (K, B, M), factorized (kl, gold) each (K, B) and its probs (K, B, M) (NaN for a proxy with a halo)."""
    rows, probs, fact = [], [], []
    for px in proxies:
        lp, r, g = tilt_arrays(world, px)
        curve, marg = tilt_with_expectations(lp, r, g, betas, all_responses())
        rows.append(curve[1:])
        probs.append(marg)
        if np.any(px.halo != 0):
            nan = np.full(betas.shape, np.nan)
            fact.append((nan, nan, np.full(marg.shape, np.nan)))
        else:
            fc = factorized_optimum(world.base_logits(), px, world.gold_expected, betas)
            fact.append((fc.kl, fc.gold, fc.probs))
    kl, gold, prox = (np.stack([row[i] for row in rows]) for i in range(3))
    return kl, gold, prox, np.stack(probs), *(np.stack([f[i] for f in fact]) for i in range(3))


def _seed_stage(world: RubricWorld, key: jax.Array, config: MechanismConfig):
    """One world: rubrics of every (variant, condition), their proxies and exact tilts, and the tail sweep."""
    betas = config.betas()
    proxies, tilts, n_crit = [], [], []
    for variant in VARIANTS:
        sr = refine_world(_variant_world(world, variant, config), key, config.experiment())
        rubs = [sr.rubrics[c] for c in CONDITIONS]
        c_max = max(len(r.criteria) for rr in rubs for r in rr)
        pxs = [rubric_proxy(rr, sr.verifier, c_max) for rr in rubs]
        proxies.append(pxs)
        tilts.append(_tilt_rows(world, pxs, betas))
        n_crit.append([np.mean([len(r.criteria) for r in rr]) for rr in rubs])
    sweep = []
    for w in config.tail_sweep:
        rub = tail_flaw_rubrics(world.initial_rubrics, config, w)
        lp, r, g = tilt_arrays(world, rubric_proxy(rub, sr.verifier, max(len(x.criteria) for x in rub)))
        sweep.append(exact_tilt(lp, r, g, betas)[1:3])
    tilt = tuple(np.stack([t[i] for t in tilts]) for i in range(7))  # each (V, K, B[, M])
    return proxies, tilt, np.asarray(sweep), np.asarray(n_crit)


def _train_all(worlds, proxies, keys, config: MechanismConfig, say) -> tuple[np.ndarray, ...]:
    """GRPO for every (seed, variant, condition) with each optimizer -> gold, kl, proxy (S, V, K, O, T), probs."""
    S, V, K = len(worlds), len(VARIANTS), len(CONDITIONS)
    flat = stack_proxies([px for per_seed in proxies for per_var in per_seed for px in per_var])
    stacked = ProxyArrays(*(a.reshape((S, V * K) + a.shape[1:]) for a in flat))
    base = np.stack([w.base_logits() for w in worlds])
    gw = np.stack([w.gold_weights for w in worlds])
    # the same training noise for every optimizer and variant: condition k of seed s uses key (s, k)
    run_keys = jnp.stack([jax.random.split(k, K)[np.tile(np.arange(K), V)] for k in keys])
    outs = []
    for opt, lr in zip(config.optimizers, config.lrs, strict=True):
        tc = dataclasses.replace(config.train, optimizer=opt, lr=lr)
        log = jax.tree.map(np.asarray, train_many(run_keys, base, stacked, gw, tc))
        outs.append(log)
        say(f"trained with {opt} (lr {lr})")

    def grab(f):
        a = np.stack([getattr(lg, f) for lg in outs], axis=2)  # (S, V*K, O, T, ...)
        return a.reshape((S, V, K) + a.shape[2:])

    return grab("gold"), grab("kl"), grab("proxy"), grab("probs")


def run(config: MechanismConfig, key: jax.Array, progress: Callable[[str], None] | None = None) -> MechanismResult:
    """Every (seed, variant, condition): exact tilt and GRPO with each optimizer. ``key``: jax.random.key(seed)."""
    say = progress or (lambda s: None)
    t0 = time.perf_counter()
    worlds, proxies, tilts, sweeps, n_crit, train_keys = [], [], [], [], [], []
    for s in range(config.seeds):
        k_world, k_refine, k_train = jax.random.split(jax.random.fold_in(key, s), 3)
        world = make_world(k_world, config.world)
        pxs, tilt, sweep, nc = _seed_stage(world, k_refine, config)
        worlds.append(world)
        proxies.append(pxs)
        tilts.append(tilt)
        sweeps.append(sweep)
        n_crit.append(nc)
        train_keys.append(k_train)
        say(f"seed {s + 1}/{config.seeds}: rubrics and exact tilts ({time.perf_counter() - t0:.0f}s)")
    gold, kl, prox, probs = _train_all(worlds, proxies, train_keys, config, say)
    tk, tg, tp, tpr, fk, fg, fpr = (np.stack([t[i] for t in tilts]) for i in range(7))
    sw = np.stack(sweeps)  # (S, W, 2, B)
    return MechanismResult(
        config=config,
        beta=config.betas(),
        tilt_kl=tk,
        tilt_gold=tg,
        tilt_proxy=tp,
        tilt_probs=tpr,
        fact_kl=fk,
        fact_gold=fg,
        fact_probs=fpr,
        grpo_gold=gold,
        grpo_kl=kl,
        grpo_proxy=prox,
        grpo_probs=probs,
        sweep_kl=sw[:, :, 0],
        sweep_gold=sw[:, :, 1],
        n_criteria=np.stack(n_crit),
        seconds=time.perf_counter() - t0,
    )
