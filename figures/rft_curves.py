"""Real-RFT curves: gold vs proxy reward over GRPO steps, gold vs sequence-level KL, and which gold criteria
the policy gains or loses.

``plot(data)`` takes ``{condition: curves}`` with curves as made by ``rft.seeds.aggregate_curves`` from one or
several runs' ``eval_metrics.jsonl`` (step, gold / proxy / kl_seq means with ``_lo`` / ``_hi`` bands, ``band``
saying what the band is, ``n_seeds``, ``pass`` {criterion: mean pass rate}) and returns a Figure. It reads data
only (never imports rft).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure

# gold criteria worth watching: two the initial rubric pays for the cheap way (hedging, padding: gold
# penalizes them) and two tail facts it rarely names
# (pass rate of a gold penalty criterion = rate of AVOIDING the penalty)
WATCH = {
    "prop:hedged_diagnosis": "avoids hedging",
    "prop:padding": "avoids padding",
    "prop:dangerous_differential": "names dangerous differential",
    "prop:decisive_test": "orders decisive test",
}


def plot(data: dict[str, dict[str, Any]], title: str = "", watch_run: str | None = None):
    """Three panels: (a) gold (solid) and proxy (dashed) reward vs step with their bands; (b) gold reward vs
    sequence-level KL(pi || pi_ref) in nats; (c) gold-criterion pass rates vs step for ``watch_run`` (default:
    the first condition). ``data``: {name: curves}."""
    fig, axes = new_figure(ncols=3, width=4.4, height=3.3)
    ax_s, ax_k, ax_p = axes[0]
    bands = set()
    for i, (name, cv) in enumerate(data.items()):
        c = PALETTE[i % len(PALETTE)]
        step = np.asarray(cv["step"], float)
        label = name if cv["n_seeds"] == 1 else f"{name} ({cv['n_seeds']} seeds)"
        bands.add(cv["band"])
        g = np.asarray(cv["gold"], float)
        ax_s.plot(step, g, color=c, lw=2, label=f"{label}: gold")
        ax_s.fill_between(step, cv["gold_lo"], cv["gold_hi"], color=c, alpha=0.18, lw=0)
        ax_s.plot(step, cv["proxy"], color=c, lw=1.5, ls="--", label=f"{label}: proxy")
        ax_s.fill_between(step, cv["proxy_lo"], cv["proxy_hi"], color=c, alpha=0.08, lw=0)
        yerr = np.vstack([g - np.asarray(cv["gold_lo"], float), np.asarray(cv["gold_hi"], float) - g])
        ax_k.errorbar(cv["kl_seq"], g, yerr=yerr, color=c, marker="o", ms=3, lw=1.5, capsize=0, label=label)
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
    cv = data[run]
    step = np.asarray(cv["step"], float)
    for j, (key, label) in enumerate(WATCH.items()):
        if key in cv.get("pass", {}):
            ax_p.plot(step, cv["pass"][key], color=PALETTE[(j + 3) % len(PALETTE)], lw=1.8, label=label)
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_xlabel("GRPO step")
    ax_p.set_ylabel("gold criterion pass rate" + (" (mean over seeds)" if cv["n_seeds"] > 1 else ""))
    ax_p.set_title(f"(c) {run}: criteria")
    ax_p.legend(fontsize=7)
    fig.suptitle((title + "  " if title else "") + "(bands: " + "; ".join(sorted(bands)) + ")", fontsize=9)
    fig.tight_layout()
    return fig
