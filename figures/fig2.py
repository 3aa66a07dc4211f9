"""Figure 2 of the paper: win rate against KL of the RFT optimum (the tilt) under misspecified proxies.

``plot(data)`` takes the JSON written by ``chase theory fig2`` (``data['a']`` and ``data['b']``, each
``{"kl": [M], "curves": [{"label", "spec", "win_rate": [M]}]}``) and returns the Figure. It never
computes anything itself: the numbers on the page are exactly the numbers in the JSON.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from figures.style import PALETTE, new_figure

# fixed colours/dashes so that "Correct" and "Reversed" read the same in every rendering
_STYLE_A = {
    "Correct": (PALETTE[0], "-"),
    "Reversed": (PALETTE[3], ":"),
    "Top 25% wrong": (PALETTE[1], "-"),
    "Top 50% wrong": (PALETTE[2], "-"),
    "Worst 50% wrong": (PALETTE[4], "--"),
    "Worst 90% wrong": (PALETTE[5], "--"),
}


def _axes(ax, kl, title: str) -> None:
    ax.axhline(0.5, color="0.5", lw=0.8, zorder=0)  # the base policy's win rate against itself
    ax.set(xlabel="KL(π ‖ π₀)", ylabel="win rate vs π₀", xlim=(kl[0], kl[-1]), ylim=(0, 1.01), title=title)


def plot(data: dict):
    """Two panels: (a) KL 0..8 for the six maps of Figure 2a; (b) KL 0..4, top c correct, rest reversed."""
    fig, axes = new_figure(ncols=2, width=4.8, height=3.6)
    ax_a, ax_b = axes[0]

    a = data["a"]
    kl = np.asarray(a["kl"])
    for i, curve in enumerate(a["curves"]):
        color, dash = _STYLE_A.get(curve["label"], (PALETTE[i % len(PALETTE)], "-"))
        ax_a.plot(kl, curve["win_rate"], dash, color=color, lw=1.8, label=curve["label"])
    _axes(ax_a, kl, "(a) misspecified bands")
    ax_a.legend(loc="lower right", fontsize=7.5, frameon=True)

    b = data["b"]
    kl_b = np.asarray(b["kl"])
    cs = np.asarray(b.get("c", np.linspace(0.1, 1.0, len(b["curves"]))))
    cmap = mpl.colormaps["viridis"]
    norm = mpl.colors.Normalize(vmin=float(cs.min()), vmax=float(cs.max()))
    for c, curve in zip(cs, b["curves"], strict=True):
        ax_b.plot(kl_b, curve["win_rate"], color=cmap(norm(c)), lw=1.6)
    _axes(ax_b, kl_b, "(b) top c correct, rest reversed")
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=norm)
    cbar = fig.colorbar(sm, ax=ax_b, pad=0.02)
    cbar.set_label("c (fraction correctly ranked at the top)")
    fig.tight_layout()
    return fig
