"""The findings document's prose: the run's settings, the stated assumptions, and the committed predictions
checked against the measured numbers (every number here is read from the summaries)."""

from __future__ import annotations

from typing import Any

from rewards.stats import format_interval
from sim.rubric_experiments.phase import PhaseConfig, conditions
from sim.rubric_world import WRITER_CRITERIA, ProposerConfig

from .summary import threshold

__all__ = ["emerges", "predictions", "prose"]


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
    return out + _predictions_bt_tuned(sm, tsm)


def _predictions_bt_tuned(sm: dict[str, Any], tsm: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Predictions 5 (Table 6 against the halo) and 6 (the tuned world's row)."""
    out = []
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


def _thr(c: dict[str, Any]) -> str:
    k = c["holds_for_knowledge_geq"]
    return "no knowledge swept (it fails at 1.0)" if k is None else f"knowledge >= {k:g}"


def emerges(sm: dict[str, Any], tsm: dict[str, Any], cfg: PhaseConfig) -> str:
    """What the numbers say, each sentence computed from the summaries."""
    ref, cl = sm["ref_cond"], sm["claims"]
    k0, k1 = cfg.knowledge[0], cfg.knowledge[-1]
    blind, top = _row(sm, k0, ref), _row(sm, k1, ref)
    cross = next((k for k in cfg.knowledge if _row(sm, k, ref)["wrong_sign_added"]["mean"] <= 0), None)
    ini, tini = sm["reference"]["initial"], tsm["reference"]["initial"]
    refined_collapse = max(r["collapse_share"] for r in sm["phase"])
    lines = [
        "## What emerges",
        "",
        f"- **Table 2 needs a proposer that knows most signs.** Refinement ({ref}) raises high-reward accuracy "
        f"for {_thr(cl['table2_high_gain'])} and raises it more than low-reward accuracy for "
        f"{_thr(cl['table2_tail'])}. A blind proposer ({k0:g}) LOWERS both: high {_f(blind['high_gain'], 1)}, "
        f"low {_f(blind['low_gain'], 1)} points; as oracle ({k1:g}): high {_f(top['high_gain'], 1)}, low "
        f"{_f(top['low_gain'], 1)}.",
        f"- **Why: wrong-sign criteria.** Inferring a sign from which response the judge preferred is wrong "
        "whenever the verdict is wrong or the property merely co-occurs with the better answer. The refined "
        f"rubric carries {_f(blind['wrong_sign_added'], 2)} more wrong-sign criteria per prompt than the "
        f"initial one at {k0:g} and {_f(top['wrong_sign_added'], 2)} at {k1:g}; refinement stops adding "
        f"them on average from knowledge {cross if cross is None else f'{cross:g}'}.",
        f"- **Table 1 (peak gold).** The refined rubric beats the initial one for "
        f"{_thr(cl['table1_refined_beats_initial'])}; 4 great pairs beat 1 great pair for "
        f"{_thr(cl['table1_more_pairs_help'])}; 1 great pair beats 1 good pair for "
        f"{_thr(cl['table1_great_beats_good'])}. The diverse pool beats 4 great pairs only for "
        f"{_thr(cl['table1_diverse_beats_great'])}; blind it is worse "
        f"({_f(cl['table1_diverse_beats_great']['per_knowledge'][f'{k0:g}']['ci'])}): its responses differ in "
        "more properties (style included), so a blind proposer infers more signs and gets more of them wrong.",
        f"- **Over-optimization of the initial rubric does not emerge.** In drawn worlds the initial rubric "
        f"loses >= 10% of its gain by step {cfg.experiment.train.steps} in {ini['collapse_share']:.0%} of worlds "
        f"(mean lost fraction {_f(ini['lost_fraction'])}, mean peak step {ini['peak_step']['mean']:.0f}); in the "
        f"tuned world in {tini['collapse_share']:.0%} (lost {_f(tini['lost_fraction'])}, peak step "
        f"{tini['peak_step']['mean']:.0f}). No refined rubric collapses in any drawn world (largest collapse "
        f"share over the diagram: {refined_collapse:.0%}). The early peak of the old findings is a property of "
        "the hand-placed flaws (a coarse criterion paying for hedging, written 90% of the time, hedging rare in "
        "the base model and weighted 3 by gold), not of rubrics written with flaws drawn from the stated ranges.",
    ]
    abl = {k: v for k, v in tsm.get("ablation", {}).items() if k not in ("tuned", "drawn")}
    if abl:
        shares = ", ".join(f"{k} drawn: {v['collapse_share']:.0%}" for k, v in abl.items())
        lines.append(
            "- **The tuned world's collapse needs every placed flaw at once.** Drawing any ONE of them from its "
            f"range instead lowers the share of worlds whose initial rubric collapses from "
            f"{tini['collapse_share']:.0%} ({shares}); drawing all of them gives {ini['collapse_share']:.0%}."
        )
    lines += _emerges_bt_tuned(sm, tsm, top, tini, k1)
    return "\n".join(lines)


def _emerges_bt_tuned(sm, tsm, top: dict, tini: dict, k1: float) -> list[str]:
    """The Table 6 and tuned-world bullets of :func:`emerges`."""
    lines: list[str] = []
    t6 = sm["table6"]
    if t6:
        halos = [r["halo"] for r in t6]
        h_star = threshold(halos, [r["on_minus_off"]["lo"] > 0 for r in t6])
        worst = max(r["best_bt_minus_initial"]["hi"] for r in t6)
        lines.append(
            f"- **Table 6 is the halo.** On-policy BT beats off-policy BT at peak gold only for halo >= "
            f"{'none' if h_star is None else f'{h_star:g}'} (halo {t6[0]['halo']:g}: "
            f"{_f(t6[0]['on_minus_off'])}; {t6[-1]['halo']:g}: {_f(t6[-1]['on_minus_off'])}). Every BT model "
            f"stays below the initial rubric at every halo (best BT - initial: upper CI end at most {worst:.3f}), "
            "the opposite of the paper, whose on-policy and on + off BT models beat its initial rubric (health win "
            "rate 26.8 and 30.7 vs 21.7 %); only the refined rubric beating every BT model agrees with it."
        )
    tr = next((r for r in tsm["phase"] if r["condition"] == tsm["ref_cond"]), None)
    if tr is not None:
        lines.append(
            f"- **The old tuned world** (one labelled row, oracle proposer): {tsm['ref_cond']} high-reward gain "
            f"{_f(tr['high_gain'], 1)}, low {_f(tr['low_gain'], 1)} points (drawn worlds at knowledge {k1:g}: "
            f"{_f(top['high_gain'], 1)} and {_f(top['low_gain'], 1)}), peak gold {_f(tr['peak_gold'])} vs the "
            f"initial rubric's {_f(tini['peak_gold'])}. Its Table 2 and Table 1 gains are what any world gives an "
            "oracle proposer; its early collapse of the initial rubric is what only its placed flaws give."
        )
    return lines


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
            f"knowledge 1.0 as one labelled row. Computing the drawn and tuned worlds took "
            f"{sm['seconds'] + tsm['seconds']:.0f} s (timed as each was computed, on 2 CPU cores shared with other "
            f"jobs, so an idle machine is faster); this regeneration took {wall:.0f} s (cached worlds are read). All "
            "intervals are 95% t-intervals over worlds; differences are paired within worlds.",
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
        f"### Predictions committed before the runs (docs/rubric_world_phase_predictions.md, written after a "
        f"timing probe had shown world 0 of 16): {held} of {len(preds)} held",
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
    ablation = (
        "The old tuned world with ONE of its hand-placed flaws drawn from the default range instead (initial and "
        "gold rubrics only, one GRPO seed per world; the first and last rows are the tuned and drawn worlds "
        "above). A flaw whose drawing removes the collapse is one the collapse needs."
    )
    return {
        "ablation": ablation,
        "head": head,
        "emerges": emerges(sm, tsm, cfg),
        "assumptions": _assumptions(cfg),
        "predictions": "\n".join(plines),
        "tail": tail,
    }
