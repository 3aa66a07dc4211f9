"""Training dynamics on the quantile bandit: true vs proxy win rate over steps, and true win rate vs KL with
the theory's tilt curve drawn over it.

``plot(data)`` takes the dict that ``chase sim train`` writes as ``sim_train.json`` (never sim/theory objects):

    {"title": str,
     "maps": [{"map": str,
               "step": [T+1], "seeds": R,
               "true_mean", "true_lo", "true_hi": [T+1]   (95% CI band over seeds),
               "proxy_mean", "proxy_lo", "proxy_hi": [T+1] (proxy win rate E_pi[v]),
               "kl_mean": [T+1],
               "theory": {"kl": [P], "win_rate": [P]} or null}]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure, save_figure

__all__ = ["plot", "save"]


def plot(data: dict[str, Any]):
    fig, axes = new_figure(ncols=2, width=5.0, height=3.7)
    ax_t, ax_k = axes[0]
    for i, m in enumerate(data["maps"]):
        color = PALETTE[i % len(PALETTE)]
        step = np.asarray(m["step"])
        ax_t.plot(step, m["true_mean"], color=color, lw=1.8, label=f"{m['map']}: true")
        ax_t.fill_between(step, m["true_lo"], m["true_hi"], color=color, alpha=0.25, lw=0)
        # proxies on top (zorder) so that a proxy curve that coincides with another map's true curve stays visible
        ax_t.plot(step, m["proxy_mean"], color=color, lw=1.6, ls=(0, (4, 2)), zorder=3, label=f"{m['map']}: proxy")
        ax_t.fill_between(step, m["proxy_lo"], m["proxy_hi"], color=color, alpha=0.12, lw=0)
        kl = np.asarray(m["kl_mean"])
        ax_k.plot(kl, m["true_mean"], color=color, lw=1.8, label=f"{m['map']}: training")
        ax_k.fill_between(kl, m["true_lo"], m["true_hi"], color=color, alpha=0.25, lw=0)
        th = m.get("theory")
        if th:
            ax_k.plot(th["kl"], th["win_rate"], color=color, lw=1.0, ls=":", label=f"{m['map']}: tilt theory")
    ax_t.set_xlabel("training step")
    ax_t.set_ylabel("win rate vs base policy")
    ax_t.set_title("true (solid) vs proxy (dashed)")
    ax_k.set_xlabel("KL(π ‖ π0)")
    ax_k.set_ylabel("true win rate")
    ax_k.set_title("true win rate vs KL")
    seeds = data["maps"][0]["seeds"] if data["maps"] else 0
    fig.suptitle(data.get("title", "") + f"  (bands: 95% CI over {seeds} seeds)", fontsize=9)
    for ax in (ax_t, ax_k):
        ax.legend(fontsize=6.5, loc="lower right")
    # zoom the KL panel on where the curves differ: the bottom of the range is all ramp-up from 0.5
    hi = max(max(np.max(m["true_hi"]), np.max(m["proxy_hi"])) for m in data["maps"])
    ax_t.set_ylim(0.45, min(1.005, hi + 0.02))
    ax_k.set_ylim(0.45, min(1.005, hi + 0.02))
    fig.tight_layout()
    return fig


def save(data: dict[str, Any], out_dir, stem: str = "sim_train"):
    return save_figure(plot(data), data, out_dir, stem)
