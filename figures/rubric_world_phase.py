"""Rubric-world phase diagram figures, drawn from the JSON that ``paper_repro.rubric_world_phase`` writes.

``plot_phase(data)``: four panels against proposer knowledge, one line per refinement condition (95% CI bars
over worlds)::

    {"worlds": W, "knowledge": [k...], "conditions": [c...],
     "panels": [{"key": str, "title": str, "ylabel": str,
                 "series": {c: {"mean": [K], "lo": [K], "hi": [K]}}, "zero": bool}]}

``plot_halo(data)``: Table 6, peak gold of each Bradley-Terry kind against the halo strength, with the initial,
refined and gold rubrics as horizontal references::

    {"worlds": W, "halos": [h...], "bt": {kind: {"mean", "lo", "hi"}}, "refs": {label: {"mean", "lo", "hi"}}}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure

__all__ = ["plot_halo", "plot_phase"]


def _band(d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = np.asarray(d["mean"], float)
    lo, hi = np.asarray(d["lo"], float), np.asarray(d["hi"], float)
    return m, np.where(np.isfinite(lo), lo, m), np.where(np.isfinite(hi), hi, m)


def plot_phase(data: dict[str, Any]):
    panels = data["panels"]
    fig, axes = new_figure(ncols=2, nrows=(len(panels) + 1) // 2, width=4.8, height=3.5)
    ks = np.asarray(data["knowledge"], float)
    n = len(data["conditions"])
    offsets = (np.arange(n) - (n - 1) / 2) * 0.006  # conditions side by side, so the bars do not overlap
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        for j, c in enumerate(data["conditions"]):
            m, lo, hi = _band(panel["series"][c])
            ax.errorbar(
                ks + offsets[j],
                m,
                yerr=[m - lo, hi - m],
                color=PALETTE[j],
                marker="o",
                ms=3.5,
                lw=1.4,
                capsize=2,
                label=c,
            )
        if panel.get("zero"):
            ax.axhline(0.0, color="0.3", lw=0.8, ls="--")
        ax.set_xlabel("proposer knowledge (0.5 blind, 1.0 oracle)")
        ax.set_ylabel(panel["ylabel"])
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xticks(ks)
    axes.ravel()[0].legend(fontsize=7, loc="upper left")
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"Rubric world phase diagram: {data['worlds']} drawn worlds, 95% CI over worlds", fontsize=10)
    fig.tight_layout()
    return fig


def plot_halo(data: dict[str, Any]):
    fig, axes = new_figure(width=7.4, height=4.0)
    ax = axes[0][0]
    hs = np.asarray(data["halos"], float)
    for j, (kind, d) in enumerate(data["bt"].items()):
        m, lo, hi = _band(d)
        ax.errorbar(
            hs + (j - 1) * 0.008,
            m,
            yerr=[m - lo, hi - m],
            color=PALETTE[j],
            marker="o",
            lw=1.6,
            capsize=3,
            label=f"BT {kind}-policy" if kind != "both" else "BT both",
        )
    ref_style = [("0.35", "--"), (PALETTE[4], "-."), ("black", ":")]  # distinct from the three BT colours
    for (label, d), (col, ls) in zip(data["refs"].items(), ref_style, strict=False):
        m, lo, hi = (float(v) for v in (d["mean"], d["lo"], d["hi"]))
        ax.axhline(m, color=col, lw=1.4, ls=ls, label=label)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(lo, hi, color=col, alpha=0.12, lw=0)
    ax.set_xlabel("Bradley-Terry style halo (an assumption: P(absent fact read as present | styled))")
    ax.set_ylabel("peak gold reward under GRPO")
    ax.set_xticks(hs)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"Table 6 analog against the halo ({data['worlds']} worlds, 95% CI)", fontsize=9)
    fig.tight_layout()
    return fig
