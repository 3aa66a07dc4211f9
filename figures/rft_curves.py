"""Real-RFT curves: gold vs proxy reward over GRPO steps, gold vs sequence-level KL, and which gold criteria
the policy gains or loses.

``plot(data)`` takes ``{run name: [eval rows]}`` as written to ``eval_metrics.jsonl`` by ``rft.train`` (each
row: step, gold, gold_se, proxy, proxy_se, kl_seq, kl_seq_se, gold_pass {criterion key: pass rate}) and
returns a Figure. It reads data only (never imports rft).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure

# gold criteria worth watching: two the initial rubric pays for the cheap way (hedging, padding: gold
# penalizes them) and two tail facts it rarely names
# (pass rate of a gold penalty criterion = rate of AVOIDING the penalty)
WATCH = {"prop:hedged_diagnosis": "avoids hedging", "prop:padding": "avoids padding",
         "prop:dangerous_differential": "names dangerous differential", "prop:decisive_test": "orders decisive test"}


def _arr(rows: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=np.float64)


def plot(data: dict[str, list[dict[str, Any]]], title: str = "", watch_run: str | None = None):
    """Three panels: (a) gold (solid) and proxy (dashed) reward vs step with ±1 SE bands; (b) gold reward vs
    sequence-level KL(pi || pi_ref) in nats; (c) gold-criterion pass rates vs step for ``watch_run`` (default:
    the first run). ``data``: {name: rows}."""
    fig, axes = new_figure(ncols=3, width=4.4, height=3.3)
    ax_s, ax_k, ax_p = axes[0]
    for i, (name, rows) in enumerate(data.items()):
        rows = sorted(rows, key=lambda r: r["step"])
        c = PALETTE[i % len(PALETTE)]
        step = _arr(rows, "step")
        g, gse = _arr(rows, "gold"), np.nan_to_num(_arr(rows, "gold_se"))
        p, pse = _arr(rows, "proxy"), np.nan_to_num(_arr(rows, "proxy_se"))
        ax_s.plot(step, g, color=c, lw=2, label=f"{name}: gold")
        ax_s.fill_between(step, g - gse, g + gse, color=c, alpha=0.15, lw=0)
        ax_s.plot(step, p, color=c, lw=1.5, ls="--", label=f"{name}: proxy")
        ax_s.fill_between(step, p - pse, p + pse, color=c, alpha=0.08, lw=0)
        kl = _arr(rows, "kl_seq")
        ax_k.errorbar(kl, g, yerr=gse, color=c, marker="o", ms=3, lw=1.5, capsize=0, label=name)
    ax_s.set_xlabel("GRPO step")
    ax_s.set_ylabel("reward (held-out prompts)")
    ax_s.set_title("(a) gold vs proxy reward")
    ax_s.legend(fontsize=7, loc="best")
    ax_k.set_xscale("symlog", linthresh=1.0)  # the informative range is 0-10 nats; runs go far beyond
    ax_k.set_xlabel("sequence-level KL(π‖π_ref) [nats, symlog]")
    ax_k.set_ylabel("gold reward")
    ax_k.set_title("(b) gold reward vs KL")
    ax_k.legend(fontsize=7)
    run = watch_run or next(iter(data))
    rows = sorted(data[run], key=lambda r: r["step"])
    step = _arr(rows, "step")
    for j, (key, label) in enumerate(WATCH.items()):
        v = np.array([r.get("gold_pass", {}).get(key, np.nan) for r in rows], dtype=np.float64)
        if np.isnan(v).all():
            continue
        ax_p.plot(step, v, color=PALETTE[(j + 3) % len(PALETTE)], lw=1.8, label=label)
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_xlabel("GRPO step")
    ax_p.set_ylabel("gold criterion pass rate")
    ax_p.set_title(f"(c) {run}: criteria")
    ax_p.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
