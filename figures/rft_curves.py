"""Real-RFT curves: gold vs proxy reward over GRPO steps, gold vs sequence-level KL, and which gold criteria
the policy gains or loses.

``plot(data)`` takes the figure data that ``rft.seeds.report`` writes as ``<stem>_curves.json`` (never rft
objects):

    {"title": str,
     "watch": {criterion: label},
     "conditions": [{"name": str, "n_seeds": R, "band": "95% t over seeds" | "se over samples",
                     "step": [T],
                     "gold", "gold_lo", "gold_hi", "proxy", "proxy_lo", "proxy_hi",
                     "kl_seq", "kl_seq_lo", "kl_seq_hi": [T],
                     "pass": {criterion: [T] mean gold pass rate}}]}

Panel (c) shows the watched criteria of the first condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure, save_figure

__all__ = ["plot", "save"]


def _reward_panels(ax_s, ax_k, conditions: list[dict[str, Any]]) -> None:
    for i, cv in enumerate(conditions):
        c = PALETTE[i % len(PALETTE)]
        step = np.asarray(cv["step"], float)
        label = cv["name"] if cv["n_seeds"] == 1 else f"{cv['name']} ({cv['n_seeds']} seeds)"
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


def _criteria_panel(ax_p, cv: dict[str, Any], watch: dict[str, str]) -> None:
    step = np.asarray(cv["step"], float)
    for j, (key, label) in enumerate(watch.items()):
        if key in cv.get("pass", {}):
            ax_p.plot(step, cv["pass"][key], color=PALETTE[(j + 3) % len(PALETTE)], lw=1.8, label=label)
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_xlabel("GRPO step")
    ax_p.set_ylabel("gold criterion pass rate" + (" (mean over seeds)" if cv["n_seeds"] > 1 else ""))
    ax_p.set_title(f"(c) {cv['name']}: criteria")
    ax_p.legend(fontsize=7)


def plot(data: dict[str, Any]):
    """Three panels: (a) gold (solid) and proxy (dashed) reward vs step with their bands; (b) gold reward vs
    sequence-level KL(pi || pi_ref) in nats; (c) the first condition's watched gold-criterion pass rates."""
    fig, axes = new_figure(ncols=3, width=4.4, height=3.3)
    ax_s, ax_k, ax_p = axes[0]
    conditions = data["conditions"]
    _reward_panels(ax_s, ax_k, conditions)
    _criteria_panel(ax_p, conditions[0], data.get("watch", {}))
    bands = sorted({cv["band"] for cv in conditions})
    title = data.get("title", "")
    fig.suptitle((title + "  " if title else "") + "(bands: " + "; ".join(bands) + ")", fontsize=9)
    fig.tight_layout()
    return fig


def save(data: dict[str, Any], out_dir, stem: str = "rft_curves"):
    return save_figure(plot(data), data, out_dir, stem)
