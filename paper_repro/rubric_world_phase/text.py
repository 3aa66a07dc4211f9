"""The findings document's prose: the run's settings, the stated assumptions, and the committed predictions
checked against the measured numbers (every number here is read from the summaries)."""

from __future__ import annotations

from typing import Any

from rewards.stats import format_interval
from sim.rubric_experiments.phase import PhaseConfig, conditions
from sim.rubric_world import WRITER_CRITERIA, ProposerConfig

__all__ = ["predictions", "prose"]


def _f(ci: dict, d: int = 3) -> str:
    return format_interval(ci, d)


def _row(sm: dict[str, Any], k: float, cond: str) -> dict[str, Any]:
    return next(r for r in sm["phase"] if r["knowledge"] == k and r["condition"] == cond)


def predictions(sm: dict[str, Any], tsm: dict[str, Any], cfg: PhaseConfig) -> list[tuple[str, bool, str]]:
    """(prediction, held, what was measured) for each prediction of docs/rubric_world_phase_predictions.md."""
    k0, k1 = cfg.knowledge[0], cfg.knowledge[-1]
    ref = sm["ref_cond"]
    out = []
    lo_r, hi_r = _row(sm, k0, ref)["high_gain"], _row(sm, k1, ref)["high_gain"]
    rises = all(_row(sm, k1, c)["high_gain"]["mean"] > _row(sm, k0, c)["high_gain"]["mean"] for c in conditions(cfg))
    ok = rises and lo_r["mean"] <= 0 and lo_r["hi"] < 2 and hi_r["lo"] > 0 and hi_r["mean"] > 5
    out.append(
        (
            "1. high-reward gain rises with knowledge; <= 0 (CI top < 2) blind, > 5 (CI > 0) as oracle",
            ok,
            f"{ref}: {_f(lo_r, 1)} points at {k0:g}, {_f(hi_r, 1)} at {k1:g}; rises for every condition: {rises}",
        )
    )
    four = [c for c in conditions(cfg) if c.startswith("4-")]
    top = all(_row(sm, k1, c)["peak_gain"]["lo"] > 0 for c in four)
    blind = max(_row(sm, k0, c)["peak_gain"]["mean"] for c in conditions(cfg))
    out.append(
        (
            "2. 4-round refined rubrics beat the initial peak gold at 1.0; none by > 0.02 at 0.5",
            top and blind <= 0.02,
            f"4-round peak gains at {k1:g}: "
            + ", ".join(f"{c} {_f(_row(sm, k1, c)['peak_gain'])}" for c in four)
            + f"; largest mean gain at {k0:g}: {blind:.3f}",
        )
    )
    a_div, a_great = (_row(sm, k0, c)["artifact_added"]["mean"] for c in (ref, "4-great-pairs"))
    out.append(
        (
            "3. blind, the diverse pool leaves more artifact criteria than 4 great pairs",
            a_div > a_great,
            f"artifact criteria added per prompt at {k0:g}: {ref} {a_div:.2f}, 4-great-pairs {a_great:.2f}",
        )
    )
    ini, tini = sm["reference"]["initial"], tsm["reference"]["initial"]
    out.append(
        (
            "4. the initial rubric collapses in < half the drawn worlds, and loses less than in the tuned world",
            ini["collapse_share"] < 0.5 and ini["lost_fraction"]["mean"] < tini["lost_fraction"]["mean"],
            f"collapse share {ini['collapse_share']:.0%} (tuned {tini['collapse_share']:.0%}); lost fraction "
            f"{_f(ini['lost_fraction'])} (tuned {_f(tini['lost_fraction'])})",
        )
    )
    t6 = {r["halo"]: r for r in sm["table6"]}
    if 0.0 in t6 and 0.75 in t6:
        z, h = t6[0.0], t6[0.75]
        held = z["on_minus_off"]["lo"] <= 0 <= z["on_minus_off"]["hi"] and h["on_minus_off"]["lo"] > 0
        held = held and z["best_bt_minus_initial"]["hi"] < 0
        out.append(
            (
                "5. BT on - off contains 0 at halo 0, > 0 at halo 0.75; every BT below the initial rubric at halo 0",
                held,
                f"on - off {_f(z['on_minus_off'])} at 0, {_f(h['on_minus_off'])} at 0.75; best BT - initial at 0: "
                f"{_f(z['best_bt_minus_initial'])}",
            )
        )
    tr = next((r for r in tsm["phase"] if r["condition"] == tsm["ref_cond"]), None)
    if tr is not None:
        out.append(
            (
                "6. the tuned world (oracle) keeps a 4-great-&-diverse high-reward gain > 10 points",
                tr["high_gain"]["mean"] > 10,
                f"{_f(tr['high_gain'], 1)} points",
            )
        )
    return out


def _assumptions(cfg: PhaseConfig) -> str:
    e, w = cfg.experiment, cfg.experiment.world
    crit = "; ".join(f"{c.text!r} = any of {list(c.any_of)}{' (negated)' if c.negate else ''}" for c in WRITER_CRITERIA)
    return "\n".join(
        [
            "## Assumptions (inputs of the world, each drawn or swept, none tuned to a result)",
            "",
            "Drawn per world (uniform over the stated range; `sim.rubric_world.WorldConfig`):",
            f"- the writer's rate of including each common fact: U{w.writer_fact_prob}; each tail fact: "
            f"U{w.writer_tail_prob} (tail coverage);",
            f"- for each entry of its catalogue, the rate at which it writes it: U{w.writer_criterion_prob}. "
            f"Catalogue: {crit}. The coarse (OR) entries are met by a cheap property too (hedging, padding); the "
            "style entries pay for an artifact; a coarse entry is skipped where the writer already covers a part;",
            f"- the base model's hedging and padding rates: 10^U{w.base_exploit_rate} each (the exploits' rarity);",
            f"- gold weights: facts {w.fact_weights}, tail facts {w.tail_weights}, hedging {w.hedge_weights}, unsafe "
            f"advice {w.unsafe_weights}, padding {w.padding_weights}; the writer's weights are gold plus N(0, "
            f"{w.writer_weight_noise}) rounded to 1..3.",
            "",
            "Fixed (stated, not findings): the pairwise judge shown to the proposer errs with probability "
            f"{e.judge.error} (ties: a coin); the proposer notices {e.proposer.notice:.0%} of the properties in which "
            f"a pair differs, takes an unknown style property for quality with probability {e.proposer.credulity}, "
            f"and its importance estimates carry N(0, {e.proposer.weight_noise}) noise. The verifier's error rates, "
            f"GRPO (SGD on logits, lr {e.train.lr}, KL {e.train.kl_coef}, {e.train.steps} steps, group "
            f"{e.train.group_size}) and the BT model (perception flips, {e.bt.pairs_per_prompt} pairs per prompt "
            "and kind) are as in `chase sim rubric-world`.",
            "",
            "Swept: the proposer's knowledge (the phase diagram's axis), the diverse pool's number of models "
            f"{cfg.diversity} (and 1 model: 4 great pairs), the BT style halo {cfg.halos} (Table 6).",
        ]
    )


def prose(sm: dict[str, Any], tsm: dict[str, Any], cfg: PhaseConfig, wall: float) -> dict[str, str]:
    e = cfg.experiment
    head = "\n".join(
        [
            "# The rubric world without an oracle: a phase diagram",
            "",
            "Regenerate this file, its figures and every number in it (cached per world under "
            "`runs/rubric_world_phase/`):",
            "",
            "```bash",
            "chase repro rubric-world-phase",
            "```",
            "",
            f"{sm['worlds']} drawn worlds x {cfg.train_seeds} GRPO seeds, {e.world.n_prompts} prompts per world, "
            f"{e.train.steps} steps, proposer knowledge {list(cfg.knowledge)}; plus the old tuned world at "
            f"knowledge 1.0 as one labelled row. This run: {wall:.0f} s wall clock (world computations "
            f"{sm['seconds'] + tsm['seconds']:.0f} s; 2 CPU cores shared with other jobs, so an idle machine is "
            "faster; a fully cached rerun only redraws the report). All intervals are 95% t-intervals over "
            "worlds; differences are paired within worlds.",
            "",
            "No simulated agent reads gold: the proposer sees the two responses, a noisy judge's verdict and its "
            "own drawn prior knowledge (`ProposerConfig.knowledge`: it knows a property's sign with probability "
            "2 x knowledge - 1, else infers it from the verdict), the writer sees its own noisy importance beliefs, "
            "and the Bradley-Terry models see their perceived pairs and labels "
            "(tests/test_rubric_world_gold_free.py). Gold is used only to label, judge and evaluate.",
        ]
    )
    preds = predictions(sm, tsm, cfg)
    held = sum(h for _p, h, _m in preds)
    plines = [
        f"### Predictions committed before the runs (docs/rubric_world_phase_predictions.md): {held} of "
        f"{len(preds)} held",
        "",
    ]
    plines += [f"- {'HELD' if h else 'MISSED'}: {p}. Measured: {m}." for p, h, m in preds]
    tail = "\n".join(
        [
            "## What this does not cover",
            "",
            "- Which mechanism makes a peak (exact KL-regularized tilt over all responses vs the trainer's order of "
            "learning; SGD / Adam / natural gradient; a world whose initial rubric is wrong in the high-reward "
            "tail) is issue 13's deliverable 4, built on a separate branch (mech13).",
            "- `chase sim rubric-world` still runs one configuration (proposer knowledge "
            f"{ProposerConfig().knowledge:g} by default, drawn writer flaws); its numbers are one column "
            "of this diagram, not a reproduction of the paper.",
        ]
    )
    return {"head": head, "assumptions": _assumptions(cfg), "predictions": "\n".join(plines), "tail": tail}
