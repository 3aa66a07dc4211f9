"""The rubric-world mechanisms figure: gold vs sequence-level KL, the exact tilt and the best factorized policy
beside GRPO per optimizer, one panel per (variant, rubric condition). Takes the plain dict that
``paper_repro.rubric_world_mechanisms`` writes::

    {"title": str, "seeds": S, "variants": [V], "conditions": [K], "optimizers": [O],
     "tilt_kl": [V][K][B], "tilt_gold": [V][K][B], "fact_kl": [V][K][B], "fact_gold": [V][K][B],
     "grpo_kl": [V][K][O][T], "grpo_gold": [V][K][O][T]}

(means over worlds). The tilt's peak and GRPO's peaks are marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure

__all__ = ["plot_mechanisms"]


def _panel(ax, data: dict[str, Any], v: int, k: int, xmax: float) -> None:
    tkl, tg = np.asarray(data["tilt_kl"][v][k]), np.asarray(data["tilt_gold"][v][k])
    ax.plot(tkl, tg, color="black", lw=2.2, label="exact tilt")
    i = int(tg.argmax())
    ax.plot([tkl[i]], [tg[i]], marker="o", color="black", ms=5, zorder=5)
    fkl, fg = np.asarray(data["fact_kl"][v][k], float), np.asarray(data["fact_gold"][v][k], float)
    if np.all(np.isfinite(fg)):
        ax.plot(fkl, fg, color="dimgray", lw=1.8, ls="--", label="best factorized policy")
        j = int(fg.argmax())
        ax.plot([fkl[j]], [fg[j]], marker="o", color="dimgray", ms=4, zorder=5)
    for o, opt in enumerate(data["optimizers"]):
        kl, g = np.asarray(data["grpo_kl"][v][k][o]), np.asarray(data["grpo_gold"][v][k][o])
        col = PALETTE[o % len(PALETTE)]
        ax.plot(kl, g, color=col, lw=1.5, label=f"GRPO, {opt}")
        j = int(g.argmax())
        ax.plot([kl[j]], [g[j]], marker="v", color=col, ms=5, zorder=5)
    ax.set_xlim(0, xmax)
    ax.set_title(f"{data['variants'][v]}: {data['conditions'][k]}", fontsize=9)


def plot_mechanisms(data: dict[str, Any]):
    V, K = len(data["variants"]), len(data["conditions"])
    fig, axes = new_figure(ncols=K, nrows=V, width=3.3, height=2.9)  # own y-range: the peaks are small
    grpo_max = max(float(np.max(data["grpo_kl"][v])) for v in range(V))
    xmax = 1.6 * grpo_max  # the tilt goes on to larger KL; GRPO's range and a bit beyond is what is compared
    for v in range(V):
        for k in range(K):
            ax = axes[v][k]
            _panel(ax, data, v, k, xmax)
            if k == 0:
                ax.set_ylabel("gold reward (exact)")
            if v == V - 1:
                ax.set_xlabel("sequence KL to base (nats)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{data['title']} ({data['seeds']} worlds, means; markers: peaks)", fontsize=11)
    fig.tight_layout()
    return fig
