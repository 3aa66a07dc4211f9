"""The rubric world's experiments: the paper's Tables 1, 2 and 6 and Figure 4, in miniature, over seeds.

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

:func:`summarize` turns the per-seed numbers into means with 95% t-intervals over seeds.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from rewards.diagnostics import estimate_h, pair_accuracy
from rewards.refine import RefineConfig, refine
from rewards.rubric import Rubric
from rewards.stats import moving_average
from sim.bt import PAIR_KINDS, STYLE_MASK, BTConfig, BTPairs, bt_pairs, bt_proxy, fit_bt_many
from sim.rubric_train import ProxyArrays, TrainConfig, rubric_proxy, stack_proxies, train_many
from sim.rubric_world import (
    PROPERTIES,
    Halo,
    ProposerConfig,
    RubricWorld,
    SimProposer,
    SimVerifier,
    VerifierConfig,
    WorldConfig,
    make_world,
    sample_pool,
)

__all__ = [
    "RUBRIC_CONDITIONS",
    "ExperimentConfig",
    "SeedRubrics",
    "refine_world",
    "table2_seed",
    "run",
    "summarize",
    "mean_ci",
]

# The paper's conditions, in its order, plus the gold rubric (checked by the same noisy verifier) as a reference.
RUBRIC_CONDITIONS: tuple[str, ...] = (
    "initial",
    "1-good-pair",
    "1-great-pair",
    "4-great-pairs",
    "4-great-diverse-pairs",
)
REFERENCE = "gold-rubric"


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a ``chase sim rubric-world`` run depends on.

    seeds             independent worlds (each with its own refinement, BT data and training noise)
    seed              master seed; seed s uses ``jax.random.fold_in(key(seed), s)``
    eval_pairs        high- and low-reward pairs per prompt for Table 2
    h_samples         base responses per prompt for the h(v) estimate
    h_edges           bin edges of the h(v) estimate (finer near v = 1, where RFT puts its weight)
    bt_kinds          which Bradley-Terry conditions to train on (subset of ``sim.bt.PAIR_KINDS``)
    bt_ablation       also train against two ablations of the off-policy BT (Table 6): one fitted with perfect
                      perception, and the fitted one with its style-artifact weights set to 0 (the same model,
                      except that it no longer pays for the artifact: the causal test of "because it rewards
                      the style artifact")
    world, verifier, proposer, train, bt   the component configs
    """

    seeds: int = 16
    seed: int = 0
    eval_pairs: int = 32
    h_samples: int = 64
    h_edges: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
    bt_kinds: tuple[str, ...] = PAIR_KINDS
    bt_ablation: bool = True
    world: WorldConfig = WorldConfig()
    verifier: VerifierConfig = VerifierConfig()
    proposer: ProposerConfig = ProposerConfig()
    train: TrainConfig = TrainConfig()
    bt: BTConfig = BTConfig()

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.eval_pairs < 1 or self.h_samples < 2:
            raise ValueError("ExperimentConfig: seeds, eval_pairs >= 1 and h_samples >= 2 needed")
        bad = set(self.bt_kinds) - set(PAIR_KINDS)
        if bad:
            raise ValueError(f"ExperimentConfig.bt_kinds: unknown {sorted(bad)}; expected {PAIR_KINDS}")

    def proxy_names(self) -> tuple[str, ...]:
        names = RUBRIC_CONDITIONS + (REFERENCE,) + tuple(f"bt-{k}" for k in self.bt_kinds)
        abl = ("bt-off-perfect-perception",) + (("bt-off-style-weights-zeroed",) if "off" in self.bt_kinds else ())
        return names + (abl if self.bt_ablation else ())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SeedRubrics:
    """One seed's world and rubrics. ``rubrics[cond]`` (P,) for every condition in RUBRIC_CONDITIONS and the
    reference; ``refine_stats[mode]``: counts of statuses and edit types."""

    world: RubricWorld
    verifier: SimVerifier
    rubrics: dict[str, tuple[Rubric, ...]]
    refine_stats: dict[str, dict[str, Any]] = field(default_factory=dict)


def _edit_counts(result) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for it in result.iterations:
        d = it.diff
        for k in ("added", "removed", "reweighted", "rechecked"):
            counts[k] = counts.get(k, 0) + len(d.get(k, []))
    return {
        "status": result.status_counts(),
        "edits": counts,
        "criteria_mean": float(np.mean([len(r.criteria) for r in result.rubrics])),
    }


def refine_world(
    world: RubricWorld, key: jax.Array, config: ExperimentConfig, log_dir: Path | None = None
) -> SeedRubrics:
    """Refine the initial rubrics under every pool mode. Logs (resumable) go to ``log_dir/<mode>.jsonl``."""
    verifier = SimVerifier(world, config.verifier)
    proposer = SimProposer(world, config.proposer)
    rubrics: dict[str, tuple[Rubric, ...]] = {"initial": world.initial_rubrics}
    stats_: dict[str, dict[str, Any]] = {}
    for i, mode in enumerate(RUBRIC_CONDITIONS[1:]):
        pools = [
            [tuple(int(v) for v in r) for r in pool] for pool in sample_pool(world, mode, jax.random.fold_in(key, i))
        ]
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


def _scores(verifier: SimVerifier, rubrics: tuple[Rubric, ...], x: np.ndarray) -> np.ndarray:
    """Rubric scores of responses x (P, N, M) under per-prompt rubrics, verified by ``verifier`` -> (P, N)."""
    return verifier.scores(rubrics, x)


def table2_seed(sr: SeedRubrics, key: jax.Array, config: ExperimentConfig) -> dict[str, Any]:
    """Per-condition high/low pairwise accuracy and the h(v) estimate for one seed."""
    w, n = sr.world, config.eval_pairs
    k = jax.random.split(key, 5)
    sets = {
        "high": (w.sample("great", k[0], n), w.sample("great", k[1], n)),
        "low": (w.sample("base", k[2], n), w.sample("base", k[3], n)),
    }
    groups = np.broadcast_to(np.arange(w.n_prompts)[:, None], (w.n_prompts, n)).reshape(-1)
    hx = w.sample("base", k[4], config.h_samples)
    hgold = w.gold(hx)
    hgroups = np.broadcast_to(np.arange(w.n_prompts)[:, None], hx.shape[:2]).reshape(-1)
    out: dict[str, Any] = {}
    for cond, rubs in sr.rubrics.items():
        row: dict[str, Any] = {}
        for name, (xa, xb) in sets.items():
            acc = pair_accuracy(
                _scores(sr.verifier, rubs, xa).reshape(-1),
                _scores(sr.verifier, rubs, xb).reshape(-1),
                w.gold(xa).reshape(-1),
                w.gold(xb).reshape(-1),
                groups=groups,
            )
            row[name] = {
                "ties_wrong": acc.acc_ties_wrong,
                "ties_half": acc.acc_ties_half,
                "n_pairs": acc.n_pairs,
                "proxy_ties": acc.n_proxy_ties,
                "gold_ties": acc.n_gold_ties,
            }
        h = estimate_h(
            _scores(sr.verifier, rubs, hx).reshape(-1), hgold.reshape(-1), list(config.h_edges), groups=hgroups
        )
        row["h"] = [None if not np.isfinite(v) else float(v) for v in h.h]
        # best-of-n under h (THEORY.md section 2: E[u] = integral of h against n v^(n-1))
        row["h_bon"] = {str(nn): h.integrate(lambda v, nn=nn: np.asarray(v) ** nn) for nn in (4, 16, 64)}
        out[cond] = row
    return out


def _stack_pairs(items: list[BTPairs]) -> BTPairs:
    return BTPairs(*(np.stack(z) for z in zip(*items, strict=True)))


def mean_ci(x, alpha: float = 0.05) -> dict[str, float]:
    """Mean and two-sided (1 - alpha) t-interval over the first axis (seeds); NaN-free input expected."""
    a = np.asarray(x, dtype=np.float64)
    n = a.shape[0]
    m = a.mean(0)
    if n < 2:
        return {"mean": float(m), "lo": float("nan"), "hi": float("nan"), "n": n}
    half = stats.t.ppf(1 - alpha / 2, n - 1) * a.std(0, ddof=1) / math.sqrt(n)
    return {"mean": float(m), "lo": float(m - half), "hi": float(m + half), "n": n}


def run(
    config: ExperimentConfig = ExperimentConfig(),
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every experiment; returns per-seed raw results (see :func:`summarize`)."""
    say = progress or (lambda s: None)
    master = jax.random.key(config.seed)
    t0 = time.perf_counter()
    seeds, bt_data = [], {k: [] for k in config.bt_kinds}
    bt_abl = []
    abl_cfg = dataclasses.replace(
        config.bt, perception=tuple((k, 0.0) for k, _ in config.bt.perception), halo=Halo(0.0)
    )
    for s in range(config.seeds):
        ks = jax.random.split(jax.random.fold_in(master, s), 5)
        world = make_world(ks[0], config.world)
        sr = refine_world(world, ks[1], config, None if log_dir is None else log_dir / f"seed{s:03d}")
        t2 = table2_seed(sr, ks[2], config)
        for i, kind in enumerate(config.bt_kinds):
            bt_data[kind].append(bt_pairs(world, jax.random.fold_in(ks[3], i), kind, config.bt))
        if config.bt_ablation:
            bt_abl.append(bt_pairs(world, jax.random.fold_in(ks[3], 99), "off", abl_cfg))
        seeds.append({"rubrics": sr, "table2": t2, "train_key": ks[4]})
        say(f"seed {s + 1}/{config.seeds}: world, refinement, Table 2 done ({time.perf_counter() - t0:.0f}s)")

    P = config.world.n_prompts
    # one vmapped fit over (seed, kind): pad every pair set to the longest with zero-weight pairs
    sets = [(k, v) for k, v in bt_data.items()] + ([("off-perfect-perception", bt_abl)] if config.bt_ablation else [])
    n_max = max(p.y.shape[0] for _k, v in sets for p in v)
    flat = [p.padded(n_max) for _k, v in sets for p in v]
    fitted = np.asarray(fit_bt_many(_stack_pairs(flat), P, config.bt)).reshape(len(sets), config.seeds, P, -1)
    bt_w = {k: fitted[i] for i, (k, _v) in enumerate(sets)}
    say(f"Bradley-Terry models fitted ({time.perf_counter() - t0:.0f}s)")

    names = config.proxy_names()
    c_max = max(len(r.criteria) for sd in seeds for rubs in sd["rubrics"].rubrics.values() for r in rubs)
    c_max = max(c_max, len(PROPERTIES))
    per_seed = []
    for s, sd in enumerate(seeds):
        sr = sd["rubrics"]
        pxs: list[ProxyArrays] = [
            rubric_proxy(sr.rubrics[c], sr.verifier, c_max) for c in RUBRIC_CONDITIONS + (REFERENCE,)
        ]
        for k in config.bt_kinds:
            pxs.append(bt_proxy(bt_w[k][s], config.bt, c_max))
        if config.bt_ablation:
            pxs.append(bt_proxy(bt_w["off-perfect-perception"][s], abl_cfg, c_max))
            if "off" in config.bt_kinds:
                pxs.append(bt_proxy(np.where(STYLE_MASK, 0.0, bt_w["off"][s]), config.bt, c_max))
        per_seed.append(stack_proxies(pxs))
    proxies = ProxyArrays(*(np.stack(z) for z in zip(*per_seed, strict=True)))
    keys = jax.vmap(lambda k: jax.random.split(k, len(names)))(jnp.stack([sd["train_key"] for sd in seeds]))
    base = np.stack([sd["rubrics"].world.base_logits() for sd in seeds])
    gw = np.stack([sd["rubrics"].world.gold_weights for sd in seeds])
    say(f"training {config.seeds} seeds x {len(names)} proxies x {config.train.steps} steps (jit + vmap) ...")
    log = train_many(keys, base, proxies, gw, config.train)
    log = jax.tree.map(np.asarray, log)
    say(f"training done ({time.perf_counter() - t0:.0f}s)")
    return {
        "config": config.to_dict(),
        "proxy_names": list(names),
        "conditions": list(RUBRIC_CONDITIONS),
        "reference": REFERENCE,
        "table2": [sd["table2"] for sd in seeds],
        "refine_stats": [sd["rubrics"].refine_stats for sd in seeds],
        "bt_weights": {k: v for k, v in bt_w.items()},
        "gold_weights": gw,
        "train": {"gold": log.gold, "kl": log.kl, "proxy": log.proxy, "win_rate": log.win_rate, "probs": log.probs},
        "example_rubrics": {
            c: [r.to_dict() for r in seeds[0]["rubrics"].rubrics[c][:3]] for c in seeds[0]["rubrics"].rubrics
        },
        "seconds": time.perf_counter() - t0,
    }


def gold_within_kl(gold: np.ndarray, kl: np.ndarray, budget: float) -> np.ndarray:
    """Best gold reward a run reaches while its KL(pi || pi_base) is at most ``budget``: (..., T) -> (...).
    (KL rises almost monotonically in these runs; a run that never spends the budget counts all its steps.)"""
    return np.where(kl <= budget, gold, -np.inf).max(-1)


KL_BUDGETS: tuple[float, ...] = (1.0, 2.0, 4.0)


def summarize(raw: dict[str, Any], smooth: int = 5) -> dict[str, Any]:
    """Means and 95% t-intervals over seeds for every table; the findings with their checks.

    Peak gold per seed is the maximum of the (``smooth``-step moving-average) gold curve; the peak step is
    where it occurs; the loss after the peak is (peak - final) / (peak - start). ``gold_within_kl_B`` is the
    best gold reached with KL <= B nats (the comparison at a matched KL budget).
    """
    names = raw["proxy_names"]
    conds = raw["conditions"]
    gold = np.asarray(raw["train"]["gold"])  # (S, K, T)
    win = np.asarray(raw["train"]["win_rate"])
    S, K, T = gold.shape
    gs = moving_average(gold, smooth)
    peak = gs.max(-1)
    peak_step = gs.argmax(-1)
    start = gold[..., 0]
    final = gs[..., -1]
    loss_frac = (peak - final) / np.maximum(peak - start, 1e-12)
    win_peak = moving_average(win, max(smooth, 9)).max(-1)
    kl = np.asarray(raw["train"]["kl"])
    at_kl = {b: gold_within_kl(gs, kl, b) for b in KL_BUDGETS}
    sig = [k for k, p in enumerate(PROPERTIES) if p.name == "signature_phrase"][0]
    probs = np.asarray(raw["train"]["probs"])  # (S, K, T, M)
    table1 = {}
    for k, n in enumerate(names):
        table1[n] = {
            "peak_gold": mean_ci(peak[:, k]),
            "peak_step": mean_ci(peak_step[:, k]),
            "final_gold": mean_ci(final[:, k]),
            "loss_after_peak": mean_ci(loss_frac[:, k]),
            "peak_win_rate": mean_ci(win_peak[:, k]),
            "final_kl": mean_ci(kl[:, k, -1]),
            "final_signature_prob": mean_ci(probs[:, k, -1, sig]),
            **{f"gold_within_kl_{b:g}": mean_ci(at_kl[b][:, k]) for b in KL_BUDGETS},
        }
    # Table 2
    t2 = raw["table2"]
    table2 = {}
    for c in list(conds) + [raw["reference"]]:
        row = {}
        for region in ("high", "low"):
            for tie in ("ties_wrong", "ties_half"):
                row[f"{region}_{tie}"] = mean_ci([100 * sd[c][region][tie] for sd in t2])
        for nn in ("4", "16", "64"):
            row[f"h_bon_{nn}"] = mean_ci([sd[c]["h_bon"][nn] for sd in t2])
        table2[c] = row
    gains = {}
    for c in conds[1:]:
        gains[c] = {
            f"{region}_{tie}": mean_ci([100 * (sd[c][region][tie] - sd["initial"][region][tie]) for sd in t2])
            for region in ("high", "low")
            for tie in ("ties_wrong", "ties_half")
        }
    # findings
    idx = {n: k for k, n in enumerate(names)}
    refined = conds[1:]
    hi_gain = np.array(
        [[100 * (sd[c]["high"]["ties_wrong"] - sd["initial"]["high"]["ties_wrong"]) for c in refined] for sd in t2]
    )  # (S, 4)
    lo_gain = np.array(
        [[100 * (sd[c]["low"]["ties_wrong"] - sd["initial"]["low"]["ties_wrong"]) for c in refined] for sd in t2]
    )
    hi_acc = np.array([[100 * sd[c]["high"]["ties_wrong"] for c in refined] for sd in t2])
    lo_acc = np.array([[100 * sd[c]["low"]["ties_wrong"] for c in refined] for sd in t2])
    f_t2 = {
        "high_gain_mean_over_refined": mean_ci(hi_gain.mean(1)),
        "low_gain_mean_over_refined": mean_ci(lo_gain.mean(1)),
        "high_minus_2x_low_gain": mean_ci(hi_gain.mean(1) - 2 * lo_gain.mean(1)),
        "low_minus_high_acc_refined": mean_ci((lo_acc - hi_acc).mean(1)),
    }
    f_t2["holds"] = bool(
        f_t2["high_gain_mean_over_refined"]["lo"] >= 5
        and f_t2["high_minus_2x_low_gain"]["lo"] > 0
        and f_t2["low_minus_high_acc_refined"]["lo"] > 0
    )
    # the paper's +7.6 vs +3.6 points are its 4-great-&-diverse row: the same checks for each refined rubric
    per_cond = {}
    for j, c in enumerate(refined):
        d = {
            "high_gain": mean_ci(hi_gain[:, j]),
            "low_gain": mean_ci(lo_gain[:, j]),
            "high_minus_2x_low_gain": mean_ci(hi_gain[:, j] - 2 * lo_gain[:, j]),
            "low_minus_high_acc": mean_ci(lo_acc[:, j] - hi_acc[:, j]),
        }
        d["holds"] = bool(
            d["high_gain"]["lo"] >= 5 and d["high_minus_2x_low_gain"]["lo"] > 0 and d["low_minus_high_acc"]["lo"] > 0
        )
        per_cond[c] = d
    f_t2["per_condition"] = per_cond
    ordered = [peak[:, idx[c]] for c in conds]
    diffs = {f"{conds[i + 1]} - {conds[i]}": mean_ci(ordered[i + 1] - ordered[i]) for i in range(len(conds) - 1)}
    strict = [diffs[k]["lo"] > 0 for k in list(diffs)[:3]]
    last = diffs[list(diffs)[3]]
    ki, kd = idx["initial"], idx["4-great-diverse-pairs"]
    ratio_seed = (peak_step[:, kd] + 1) / (peak_step[:, ki] + 1)
    mean_ratio = (peak_step[:, kd].mean() + 1) / (peak_step[:, ki].mean() + 1)
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(2000):
        b = rng.integers(0, S, S)
        boot.append((peak_step[b, kd].mean() + 1) / (peak_step[b, ki].mean() + 1))
    f_t1 = {
        "peak_differences": diffs,
        "strict_order_first_three": strict,
        "last_step_leq": bool(last["hi"] >= 0),  # "<=" cannot be rejected or the difference is positive
        "initial_loss_after_peak": mean_ci(loss_frac[:, ki]),
        "peak_step_ratio_diverse_over_initial": {
            "ratio_of_means": float(mean_ratio),
            "lo": float(np.quantile(boot, 0.025)),
            "hi": float(np.quantile(boot, 0.975)),
            "median_per_seed_ratio": float(np.median(ratio_seed)),
        },
    }
    f_t1["holds"] = bool(
        all(strict)
        and f_t1["last_step_leq"]
        and f_t1["initial_loss_after_peak"]["lo"] >= 0.10
        and f_t1["peak_step_ratio_diverse_over_initial"]["lo"] >= 2.5
    )
    f_t6 = {}
    if "bt-on" in idx and "bt-off" in idx:
        f_t6["on_minus_off_peak_gold"] = mean_ci(peak[:, idx["bt-on"]] - peak[:, idx["bt-off"]])
        f_t6["holds"] = bool(f_t6["on_minus_off_peak_gold"]["lo"] > 0)
        for b in KL_BUDGETS:
            f_t6[f"on_minus_off_gold_within_kl_{b:g}"] = mean_ci(at_kl[b][:, idx["bt-on"]] - at_kl[b][:, idx["bt-off"]])
        f_t6["holds_at_matched_kl_2"] = bool(f_t6["on_minus_off_gold_within_kl_2"]["lo"] > 0)
        for n in ("bt-on", "bt-off", "bt-both"):
            if n in idx:
                f_t6[f"final_signature_prob_{n}"] = mean_ci(probs[:, idx[n], -1, sig])
        bw = raw["bt_weights"]
        style = [k for k, p in enumerate(PROPERTIES) if p.kind == "style"]
        for kind, W in bw.items():
            W = np.asarray(W)  # (S, P, M)
            scale = np.abs(W).sum(-1, keepdims=True)
            f_t6[f"style_weight_share_{kind}"] = mean_ci((np.abs(W[..., style]).sum(-1) / scale[..., 0]).mean(-1))
        if "bt-off-perfect-perception" in idx:
            f_t6["on_minus_off_perfect_perception"] = mean_ci(
                peak[:, idx["bt-on"]] - peak[:, idx["bt-off-perfect-perception"]]
            )
        if "bt-off-style-weights-zeroed" in idx:
            # the causal test: the same off-policy model, minus what it pays for the artifact
            z = idx["bt-off-style-weights-zeroed"]
            f_t6["off_style_zeroed_minus_off_peak_gold"] = mean_ci(peak[:, z] - peak[:, idx["bt-off"]])
            f_t6["on_minus_off_style_zeroed_peak_gold"] = mean_ci(peak[:, idx["bt-on"]] - peak[:, z])
            f_t6["final_signature_prob_bt-off-style-weights-zeroed"] = mean_ci(probs[:, z, -1, sig])
            f_t6["holds_because_of_artifact"] = bool(f_t6["off_style_zeroed_minus_off_peak_gold"]["lo"] > 0)
    # theory link: does pre-training tail accuracy predict the ordering of peak gold across conditions?
    rho_hi, rho_lo, rho_h = [], [], []
    for s in range(S):
        pg = [peak[s, idx[c]] for c in conds]
        rho_hi.append(stats.spearmanr([t2[s][c]["high"]["ties_half"] for c in conds], pg).statistic)
        rho_lo.append(stats.spearmanr([t2[s][c]["low"]["ties_half"] for c in conds], pg).statistic)
        rho_h.append(stats.spearmanr([t2[s][c]["h_bon"]["64"] for c in conds], pg).statistic)
    mean_order = lambda key: list(np.argsort([np.mean([key(sd, c) for sd in t2]) for c in conds]))  # noqa: E731
    f_th = {
        "spearman_high_acc_vs_peak_gold": mean_ci(np.nan_to_num(rho_hi)),
        "spearman_low_acc_vs_peak_gold": mean_ci(np.nan_to_num(rho_lo)),
        "spearman_h_bon64_vs_peak_gold": mean_ci(np.nan_to_num(rho_h)),
        "order_by_mean_high_acc": [conds[i] for i in mean_order(lambda sd, c: sd[c]["high"]["ties_half"])],
        "order_by_mean_low_acc": [conds[i] for i in mean_order(lambda sd, c: sd[c]["low"]["ties_half"])],
        "order_by_mean_peak_gold": [conds[i] for i in np.argsort([peak[:, idx[c]].mean() for c in conds])],
    }
    curves = {n: {"mean": gold[:, k].mean(0), "lo": None, "hi": None} for k, n in enumerate(names)}
    tq = stats.t.ppf(0.975, S - 1) if S > 1 else float("nan")
    for k, n in enumerate(names):
        sd_ = gold[:, k].std(0, ddof=1) if S > 1 else np.full(T, np.nan)
        curves[n]["lo"] = curves[n]["mean"] - tq * sd_ / math.sqrt(S)
        curves[n]["hi"] = curves[n]["mean"] + tq * sd_ / math.sqrt(S)
    return {
        "seeds": S,
        "steps": T,
        "table1": table1,
        "table2": table2,
        "table2_gains": gains,
        "findings": {"table2": f_t2, "table1_figure4": f_t1, "table6": f_t6, "theory_link": f_th},
        "curves": curves,
        "refine_stats": raw["refine_stats"],
    }
