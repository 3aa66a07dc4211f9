"""Generic panels for ``chase repro`` items: lines with optional CI bands and points with CI bars.

``plot(data)`` takes::

    {"ncols": int (optional, default: all panels in one row),
     "panels": [{"title": str, "xlabel": str, "ylabel": str,
                 "xscale": "linear" | "log" (optional), "xticks": [values] (optional), "ylim": [lo, hi] (optional),
                 "hline": y (optional, a grey reference line),
                 "lines":  [{"label", "x": [N], "y": [N], "lo": [N]?, "hi": [N]?, "dash": "-"?, "color": k?}],
                 "points": [{"label", "x": [N], "y": [N], "lo": [N]?, "hi": [N]?, "color": k?}]}]}

``color`` indexes the shared palette so one quantity keeps one colour across panels. Lines and points with the
same colour are one series (theory line, simulated points): only the line is labelled then.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.ticker import NullFormatter

from figures.style import PALETTE, new_figure

__all__ = ["plot"]


def _series(ax, s: dict[str, Any], i: int, kind: str) -> None:
    color = PALETTE[int(s.get("color", i)) % len(PALETTE)]
    x, y = np.asarray(s["x"], float), np.asarray(s["y"], float)
    lo, hi = s.get("lo"), s.get("hi")
    if kind == "line":
        ax.plot(x, y, s.get("dash", "-"), color=color, lw=1.6, label=s.get("label"))
        if lo is not None and hi is not None:
            ax.fill_between(x, np.asarray(lo, float), np.asarray(hi, float), color=color, alpha=0.2, lw=0)
        return
    err = None
    if lo is not None and hi is not None:
        err = np.vstack([y - np.asarray(lo, float), np.asarray(hi, float) - y])
        err = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
    ax.errorbar(x, y, yerr=err, fmt="o", ms=3.5, color=color, capsize=2, lw=1, label=s.get("label"))


def plot(data: dict[str, Any]):
    panels = data["panels"]
    ncols = int(data.get("ncols") or len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=4.4, height=3.4)
    flat = axes.ravel()
    for ax, p in zip(flat, panels, strict=False):
        if p.get("hline") is not None:
            ax.axhline(p["hline"], color="0.6", lw=0.8, zorder=0)
        for i, s in enumerate(p.get("lines", [])):
            _series(ax, s, i, "line")
        for i, s in enumerate(p.get("points", [])):
            _series(ax, s, i, "points")
        ax.set(xlabel=p.get("xlabel", ""), ylabel=p.get("ylabel", ""), title=p.get("title", ""))
        if p.get("xscale"):
            ax.set_xscale(p["xscale"])
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor log ticks unlabelled: labels collide otherwise
        if p.get("xticks"):
            ax.set_xticks(p["xticks"], [f"{t:g}" for t in p["xticks"]])
        if p.get("ylim"):
            ax.set_ylim(*p["ylim"])
        handles, labels = ax.get_legend_handles_labels()
        if labels:
            ax.legend(fontsize=7, loc="best", frameon=True)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
