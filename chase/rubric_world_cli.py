"""``chase sim rubric-world``: the paper's Tables 1, 2, 6 and Figure 4, reproduced in the simulated rubric world.

    chase sim rubric-world --out DIR [--seeds 16] [--prompts 64] [--steps 300] [--seed 0] [--quick] [--force]
        -> DIR/summary.json       every table and finding (means, 95% t-intervals over seeds)
           DIR/config.json        the ExperimentConfig
           DIR/per_seed.json      per-seed peak gold, peak step, Table 2 accuracies (for re-analysis)
           DIR/curves.csv         gold reward, KL, proxy and win rate per step, mean and CI, per proxy
           DIR/properties.csv     the policy's probability of each property at the start, at peak gold, at the end
           DIR/table1.{csv,md}    peak gold / peak step / loss after peak / gold within KL budgets per proxy
           DIR/table2.{csv,md}    high- / low-reward pair accuracy per rubric condition
           DIR/table6.{csv,md}    Bradley-Terry rows next to the rubrics
           DIR/findings.md        the findings, each with its numbers and whether it holds
           DIR/example_rubrics.json  seed 0's rubrics (first prompts) under every condition
           DIR/rubric_world_fig4.{png,pdf,json}, DIR/rubric_world_table2.{png,pdf,json}
        stdout: one JSON object (where the files are, the headline numbers)

Defaults take about 2 minutes on a 2-core CPU. A finished DIR with the same config is not recomputed
(``--force`` recomputes); ``--refine-logs`` writes resumable refinement logs under DIR/refine_logs.
This is glue (may import anything); the library code is sim.rubric_world / rubric_train / bt /
rubric_experiments and figures.rubric_world.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import atomic_write_text, emit, write_json

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chase sim rubric-world", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seeds", type=int, default=16, help="independent worlds (default 16)")
    p.add_argument("--seed", type=int, default=0, help="master seed")
    p.add_argument("--prompts", type=int, default=64, help="prompts per world")
    p.add_argument("--steps", type=int, default=300, help="GRPO steps")
    p.add_argument("--group", type=int, default=16, help="responses per prompt per GRPO step")
    p.add_argument("--lr", type=float, default=None, help="SGD step size on the logits (default: TrainConfig)")
    p.add_argument("--kl-coef", type=float, default=None, help="KL penalty coefficient (default: TrainConfig)")
    p.add_argument("--eval-pairs", type=int, default=32, help="Table 2 pairs per prompt and region")
    p.add_argument("--bt-pairs", type=int, default=16, help="Bradley-Terry training pairs per prompt and kind")
    p.add_argument(
        "--bt-halo",
        type=float,
        default=None,
        help="strength of the BT model's style halo (default: BTConfig's; 0 switches it off)",
    )
    p.add_argument(
        "--verifier-halo", type=float, default=0.0, help="strength of a halo in the rubric verifier (default 0: none)"
    )
    p.add_argument(
        "--verifier-halo-trigger",
        default="markdown_headers,signature_phrase",
        help="comma-separated properties that switch the verifier's halo on",
    )
    p.add_argument(
        "--no-bt-ablation",
        action="store_true",
        help="skip the two off-policy BT ablations (perfect perception; style weights zeroed)",
    )
    p.add_argument("--refine-logs", action="store_true", help="write resumable refinement logs (slower: fsync)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 16 prompts, 60 steps")
    p.add_argument("--force", action="store_true", help="recompute even if DIR holds a finished run")
    return p


def _config(args: argparse.Namespace):
    from sim.bt import BTConfig
    from sim.rubric_experiments import ExperimentConfig
    from sim.rubric_train import TrainConfig
    from sim.rubric_world import Halo, VerifierConfig, WorldConfig

    if args.quick:
        args.seeds, args.prompts, args.steps, args.eval_pairs, args.bt_pairs = 2, 16, 60, 8, 8
    tkw: dict[str, Any] = {"steps": args.steps, "group_size": args.group}
    if args.lr is not None:
        tkw["lr"] = args.lr
    if args.kl_coef is not None:
        tkw["kl_coef"] = args.kl_coef
    bkw: dict[str, Any] = {"pairs_per_prompt": args.bt_pairs}
    if args.bt_halo is not None:
        bkw["halo"] = Halo(args.bt_halo)
    vhalo = Halo(args.verifier_halo, tuple(t for t in args.verifier_halo_trigger.split(",") if t))
    return ExperimentConfig(
        seeds=args.seeds,
        seed=args.seed,
        eval_pairs=args.eval_pairs,
        bt_ablation=not args.no_bt_ablation,
        world=WorldConfig(n_prompts=args.prompts),
        verifier=VerifierConfig(halo=vhalo),
        train=TrainConfig(**tkw),
        bt=BTConfig(**bkw),
    )


def _fmt(d: dict[str, float], scale: float = 1.0, digits: int = 3) -> str:
    m, lo, hi = d["mean"] * scale, d["lo"] * scale, d["hi"] * scale
    if not np.isfinite(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([f"{x:.6g}" if isinstance(x, float) else x for x in r])
    return buf.getvalue()


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


T1_METRICS = (
    "peak_gold",
    "peak_step",
    "final_gold",
    "loss_after_peak",
    "peak_win_rate",
    "final_kl",
    "gold_within_kl_1",
    "gold_within_kl_2",
    "gold_within_kl_4",
    "final_signature_prob",
)


def write_tables(out: Path, raw: dict[str, Any], sm: dict[str, Any]) -> None:
    t1 = sm["table1"]
    rows = [[n] + [v for m in T1_METRICS for v in (t1[n][m]["mean"], t1[n][m]["lo"], t1[n][m]["hi"])] for n in t1]
    atomic_write_text(
        out / "table1.csv", _csv(["proxy"] + [f"{m}_{s}" for m in T1_METRICS for s in ("mean", "lo", "hi")], rows)
    )
    md = _md(
        ["proxy", "peak gold", "peak step", "final gold", "loss after peak", "gold within KL<=2", "final KL"],
        [
            [
                n,
                _fmt(t1[n]["peak_gold"]),
                _fmt(t1[n]["peak_step"], digits=0),
                _fmt(t1[n]["final_gold"]),
                _fmt(t1[n]["loss_after_peak"], 100, 1) + " %",
                _fmt(t1[n]["gold_within_kl_2"]),
                _fmt(t1[n]["final_kl"], digits=2),
            ]
            for n in t1
        ],
    )
    atomic_write_text(out / "table1.md", md)
    t2 = sm["table2"]
    keys = ("high_ties_wrong", "low_ties_wrong", "high_ties_half", "low_ties_half")
    rows = [[c] + [v for k in keys for v in (t2[c][k]["mean"], t2[c][k]["lo"], t2[c][k]["hi"])] for c in t2]
    atomic_write_text(
        out / "table2.csv", _csv(["rubric"] + [f"{k}_{s}" for k in keys for s in ("mean", "lo", "hi")], rows)
    )
    gains = sm["table2_gains"]
    md_rows = []
    for c in t2:
        g = gains.get(c)
        md_rows.append(
            [
                c,
                _fmt(t2[c]["high_ties_wrong"], digits=1),
                _fmt(t2[c]["low_ties_wrong"], digits=1),
                "" if g is None else _fmt(g["high_ties_wrong"], digits=1),
                "" if g is None else _fmt(g["low_ties_wrong"], digits=1),
                _fmt(t2[c]["high_ties_half"], digits=1),
                _fmt(t2[c]["low_ties_half"], digits=1),
            ]
        )
    atomic_write_text(
        out / "table2.md",
        _md(
            [
                "rubric",
                "high acc % (ties wrong)",
                "low acc %",
                "high gain vs initial",
                "low gain vs initial",
                "high acc % (ties half)",
                "low acc % (ties half)",
            ],
            md_rows,
        ),
    )
    f6 = sm["findings"]["table6"]
    names6 = [n for n in t1 if n.startswith("bt-")] + ["4-great-diverse-pairs", "initial"]
    share = {n: f6.get(f"style_weight_share_{n[3:]}") for n in names6}
    rows6 = [
        [
            n,
            _fmt(t1[n]["peak_gold"]),
            _fmt(t1[n]["gold_within_kl_2"]),
            _fmt(t1[n]["final_kl"], digits=2),
            "" if share[n] is None else _fmt(share[n], 100, 1) + " %",
        ]
        for n in names6
    ]
    header6 = ["proxy", "peak gold", "gold within KL<=2", "final KL", "style artifacts' share of BT weight magnitude"]
    atomic_write_text(out / "table6.md", _md(header6, rows6))
    atomic_write_text(
        out / "table6.csv",
        _csv(
            [
                "proxy",
                "peak_gold_mean",
                "peak_gold_lo",
                "peak_gold_hi",
                "gold_within_kl_2_mean",
                "final_kl_mean",
                "style_share_mean",
            ],
            [
                [
                    n,
                    t1[n]["peak_gold"]["mean"],
                    t1[n]["peak_gold"]["lo"],
                    t1[n]["peak_gold"]["hi"],
                    t1[n]["gold_within_kl_2"]["mean"],
                    t1[n]["final_kl"]["mean"],
                    float("nan") if share[n] is None else share[n]["mean"],
                ]
                for n in names6
            ],
        ),
    )


def write_properties(out: Path, raw: dict[str, Any], smooth: int = 5) -> None:
    """properties.csv: per proxy and property, the policy's inclusion probability at the start, at each seed's
    peak-gold step and at the last step (means over seeds): what the policy learned, and what it gave up after
    its peak."""
    from rewards.stats import moving_average
    from sim.rubric_world import PROPERTIES

    probs = np.asarray(raw["train"]["probs"])  # (S, K, T, M)
    peak = moving_average(np.asarray(raw["train"]["gold"]), smooth).argmax(-1)  # (S, K)
    S, K, T, _M = probs.shape
    at_peak = probs[np.arange(S)[:, None], np.arange(K)[None, :], peak]  # (S, K, M)
    rows = [
        [
            n,
            p.name,
            p.kind,
            float(probs[:, k, 0, m].mean()),
            float(at_peak[:, k, m].mean()),
            float(probs[:, k, -1, m].mean()),
        ]
        for k, n in enumerate(raw["proxy_names"])
        for m, p in enumerate(PROPERTIES)
    ]
    atomic_write_text(
        out / "properties.csv", _csv(["proxy", "property", "kind", "p_start", "p_at_peak", "p_final"], rows)
    )


def write_curves(out: Path, raw: dict[str, Any]) -> None:
    from scipy import stats

    names = raw["proxy_names"]
    tr = raw["train"]
    S, K, T = tr["gold"].shape
    tq = stats.t.ppf(0.975, S - 1) if S > 1 else float("nan")
    header = ["step", "proxy"] + [f"{m}_{s}" for m in ("gold", "kl", "proxy", "win_rate") for s in ("mean", "lo", "hi")]
    rows = []
    stats_ = {}
    for m in ("gold", "kl", "proxy", "win_rate"):
        x = np.asarray(tr[m])
        mean = x.mean(0)
        half = tq * x.std(0, ddof=1) / np.sqrt(S) if S > 1 else np.full_like(mean, np.nan)
        stats_[m] = (mean, mean - half, mean + half)
    for k, n in enumerate(names):
        for t in range(T):
            rows.append(
                [t, n] + [float(stats_[m][i][k, t]) for m in ("gold", "kl", "proxy", "win_rate") for i in range(3)]
            )
    atomic_write_text(out / "curves.csv", _csv(header, rows))


def _holds(b: bool) -> str:
    return "**holds**" if b else "**does not hold**"


def findings_md(sm: dict[str, Any], config: dict[str, Any]) -> str:
    f = sm["findings"]
    t2, t1, f6, th = f["table2"], f["table1_figure4"], f["table6"], f["theory_link"]
    S = sm["seeds"]
    lines = [
        f"# Rubric world findings ({S} seeds, 95% t-intervals over seeds)",
        "",
        f"{config['world']['n_prompts']} prompts per world, {sm['steps']} GRPO steps, "
        f"group {config['train']['group_size']}, lr {config['train']['lr']}, "
        f"KL coef {config['train']['kl_coef']}, BT style halo {config['bt']['halo']['strength']}, "
        f"verifier halo {config['verifier']['halo']['strength']}.",
        "",
    ]
    lines += [
        "## Table 2 analog: refined rubrics chase the tail",
        "",
        f"- high-reward accuracy gain, mean over the four refined rubrics: "
        f"{_fmt(t2['high_gain_mean_over_refined'], digits=1)} points (ties wrong)",
        f"- low-reward accuracy gain: {_fmt(t2['low_gain_mean_over_refined'], digits=1)} points",
        f"- high gain minus twice the low gain: {_fmt(t2['high_minus_2x_low_gain'], digits=1)}",
        f"- low minus high accuracy of the refined rubrics: {_fmt(t2['low_minus_high_acc_refined'], digits=1)}",
        f"- finding (high gain >= 5 with CI, >= 2x low gain, high stays below low): {_holds(t2['holds'])}",
        "",
        "Per refined rubric (the paper's +7.6 vs +3.6 points are its 4-great-&-diverse row):",
        "",
    ]
    for c, d in t2.get("per_condition", {}).items():
        lines.append(
            f"- {c}: high gain {_fmt(d['high_gain'], digits=1)}, low gain {_fmt(d['low_gain'], digits=1)}, "
            f"high - 2 x low {_fmt(d['high_minus_2x_low_gain'], digits=1)}, low - high accuracy "
            f"{_fmt(d['low_minus_high_acc'], digits=1)} -> {_holds(d['holds'])}"
        )
    lines.append("")
    lines += ["## Table 1 / Figure 4 analog: peak gold reward and the timing of over-optimization", ""]
    for k, d in t1["peak_differences"].items():
        lines.append(f"- peak gold, {k}: {_fmt(d, digits=4)}")
    r = t1["peak_step_ratio_diverse_over_initial"]
    lines += [
        f"- initial rubric: gold lost after its peak, as a fraction of its gain: "
        f"{_fmt(t1['initial_loss_after_peak'], 100, 1)} %",
        f"- peak step, 4-great-diverse over initial (ratio of mean steps, bootstrap 95%): "
        f"{r['ratio_of_means']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]",
        f"- finding (strict order of the first four, last <=, loss >= 10 % with CI, ratio >= 2.5 with CI): "
        f"{_holds(t1['holds'])}",
        "",
    ]
    if f6:
        lines += [
            "## Table 6 analog: Bradley-Terry reward models",
            "",
            f"- peak gold, BT on-policy minus BT off-policy: {_fmt(f6['on_minus_off_peak_gold'], digits=4)} "
            f"-> {_holds(f6['holds'])} over the training horizon",
        ]
        for b in (1, 2, 4):
            key = f"on_minus_off_gold_within_kl_{b:g}"
            if key in f6:
                lines.append(f"- best gold within KL <= {b} nats, on minus off: {_fmt(f6[key], digits=4)}")
        for kind in ("on", "off", "both", "off-perfect-perception"):
            key = f"style_weight_share_{kind}"
            if key in f6:
                lines.append(f"- style artifacts' share of BT weight magnitude, {kind}: {_fmt(f6[key], 100, 1)} %")
        for n in ("bt-on", "bt-off", "bt-both"):
            key = f"final_signature_prob_{n}"
            if key in f6:
                lines.append(f"- P(signature phrase) after training, {n}: {_fmt(f6[key], digits=2)} (base 0.02)")
        if "on_minus_off_perfect_perception" in f6:
            lines.append(
                f"- ablation, BT on-policy minus BT off-policy with perfect perception: "
                f"{_fmt(f6['on_minus_off_perfect_perception'], digits=4)}"
            )
        if "off_style_zeroed_minus_off_peak_gold" in f6:
            lines += [
                f"- ablation, the off-policy BT with its style weights set to 0 minus the off-policy BT as "
                f"fitted, peak gold: {_fmt(f6['off_style_zeroed_minus_off_peak_gold'], digits=4)} -> "
                f"{_holds(f6['holds_because_of_artifact'])} (paying for the artifact costs gold)",
                f"- BT on-policy minus that ablation: {_fmt(f6['on_minus_off_style_zeroed_peak_gold'], digits=4)}",
                f"- P(signature phrase) after training against the ablation: "
                f"{_fmt(f6['final_signature_prob_bt-off-style-weights-zeroed'], digits=2)}",
            ]
        lines.append("")
    lines += [
        "## Theory link: pre-training tail accuracy vs peak gold",
        "",
        f"- per-seed Spearman(high-reward accuracy, peak gold) over the 5 rubric conditions: "
        f"{_fmt(th['spearman_high_acc_vs_peak_gold'], digits=2)}",
        f"- per-seed Spearman(low-reward accuracy, peak gold): {_fmt(th['spearman_low_acc_vs_peak_gold'], digits=2)}",
        f"- per-seed Spearman(best-of-64 win rate predicted from h(v), peak gold): "
        f"{_fmt(th['spearman_h_bon64_vs_peak_gold'], digits=2)}",
        f"- conditions ordered by mean high-reward accuracy: {', '.join(th['order_by_mean_high_acc'])}",
        f"- ordered by mean low-reward accuracy: {', '.join(th['order_by_mean_low_acc'])}",
        f"- ordered by mean peak gold: {', '.join(th['order_by_mean_peak_gold'])}",
        "",
    ]
    return "\n".join(lines)


def figure_data(raw: dict[str, Any], sm: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = raw["proxy_names"]
    curves = sm["curves"]
    kl = np.asarray(raw["train"]["kl"]).mean(0)
    t1 = sm["table1"]

    def curve(n: str, label: str | None = None) -> dict[str, Any]:
        k = names.index(n)
        c = curves[n]
        return {
            "label": label or n,
            "mean": np.asarray(c["mean"]).tolist(),
            "lo": np.asarray(c["lo"]).tolist(),
            "hi": np.asarray(c["hi"]).tolist(),
            "kl": kl[k].tolist(),
            "peak_step": t1[n]["peak_step"]["mean"],
        }

    rub = [curve(n) for n in raw["conditions"]] + [curve(raw["reference"], "gold rubric (reference)")]
    # the perfect-perception ablation (gold up to 0.96) is left to the tables: on the same axis it would flatten
    # the differences between the BT models this panel is about; the refined rubrics are in the first panel
    bts = [curve(n) for n in names if n.startswith("bt-") and n != "bt-off-perfect-perception"] + [curve("initial")]
    fig4 = {
        "title": "Rubric world: GRPO against each proxy, gold reward logged",
        "seeds": sm["seeds"],
        "step": list(range(sm["steps"])),
        "panels": [
            {"title": "rubrics (Table 1 / Figure 4 analog)", "curves": rub},
            {"title": "Bradley-Terry reward models (Table 6 analog)", "curves": bts},
        ],
    }
    t2 = sm["table2"]
    conds = list(raw["conditions"]) + [raw["reference"]]
    acc = {
        "title": "Table 2 analog: rubric agreement with gold by reward region",
        "seeds": sm["seeds"],
        "conditions": conds,
    }
    for region in ("high", "low"):
        k = f"{region}_ties_wrong"
        acc[region] = {s: [t2[c][k][s] for c in conds] for s in ("mean", "lo", "hi")}
    return fig4, acc


def _per_seed(raw: dict[str, Any], sm_smooth: int = 5) -> dict[str, Any]:
    from rewards.stats import moving_average

    gold = moving_average(np.asarray(raw["train"]["gold"]), sm_smooth)
    return {
        "proxy_names": raw["proxy_names"],
        "peak_gold": gold.max(-1).tolist(),
        "peak_step": gold.argmax(-1).tolist(),
        "table2": raw["table2"],
        "refine_stats": raw["refine_stats"],
        "bt_weights_mean_over_prompts": {k: np.asarray(v).mean(1).tolist() for k, v in raw["bt_weights"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    for name in ("seeds", "prompts", "steps", "eval_pairs", "bt_pairs"):
        if getattr(args, name) < 1:
            raise SystemExit(f"chase sim rubric-world: --{name.replace('_', '-')} must be >= 1")
    if args.group < 2:
        raise SystemExit("chase sim rubric-world: --group must be >= 2")
    try:
        config = _config(args)
    except ValueError as e:
        raise SystemExit(f"chase sim rubric-world: {e}") from None
    from rewards.rubric import stable_hash

    cfg_dict = config.to_dict()
    fingerprint = stable_hash(json.loads(json.dumps(cfg_dict)))
    out = Path(args.out)
    done = out / "summary.json"
    if done.exists() and not args.force:
        try:
            prev = json.loads(done.read_text())
        except (OSError, json.JSONDecodeError):
            prev = {}
        if prev.get("fingerprint") == fingerprint:
            emit(
                {
                    "out": str(out),
                    "skipped": True,
                    "reason": "finished run with the same config (use --force)",
                    "findings_holds": prev.get("holds"),
                }
            )
            return 0
    from figures.rubric_world import save_accuracy, save_curves
    from sim.rubric_experiments import run, summarize

    t0 = time.perf_counter()
    write_json(out / "config.json", cfg_dict)
    raw = run(
        config,
        log_dir=(out / "refine_logs") if args.refine_logs else None,
        progress=lambda s: print(f"[rubric-world] {s}", file=sys.stderr, flush=True),
    )
    sm = summarize(raw)
    f = sm["findings"]
    holds = {
        "table2": f["table2"]["holds"],
        "table1_figure4": f["table1_figure4"]["holds"],
        "table6_peak": f["table6"].get("holds"),
        "table6_matched_kl": f["table6"].get("holds_at_matched_kl_2"),
        "table6_because_of_artifact": f["table6"].get("holds_because_of_artifact"),
    }
    write_tables(out, raw, sm)
    write_curves(out, raw)
    write_properties(out, raw)
    write_json(out / "per_seed.json", _per_seed(raw))
    write_json(out / "example_rubrics.json", raw["example_rubrics"])
    atomic_write_text(out / "findings.md", findings_md(sm, cfg_dict))
    fig4, acc = figure_data(raw, sm)
    save_curves(fig4, out)
    save_accuracy(acc, out)
    seconds = time.perf_counter() - t0
    summary = {k: v for k, v in sm.items() if k != "curves"}
    write_json(done, {"fingerprint": fingerprint, "seconds": seconds, "holds": holds, **summary})
    t1 = sm["table1"]
    emit(
        {
            "out": str(out),
            "seconds": round(seconds, 1),
            "seeds": config.seeds,
            "holds": holds,
            "peak_gold": {n: round(t1[n]["peak_gold"]["mean"], 4) for n in t1},
            "files": sorted(p.name for p in out.iterdir() if p.is_file()),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
