"""Rubric-world figures: the Figure 4 analog (gold reward over GRPO steps per proxy, 95% CI bands over seeds,
and gold vs KL) and the Table 2 analog (high- vs low-reward pair accuracy per rubric condition).

Both take plain dicts, never sim objects: the figure data that ``sim.rubric_experiments.report`` writes as
``rubric_world_fig4.json`` and ``rubric_world_table2.json``; :func:`render` draws both from a run folder.

``plot_curves(data)``::

    {"title": str, "seeds": S, "step": [T], "unit": "seeds" (optional; e.g. "worlds"),
     "kl_panel": int (optional: only that panel's curves on the gold-vs-KL panel),
     "panels": [{"title": str, "curves": [{"label": str, "mean": [T], "lo": [T], "hi": [T], "kl": [T],
                                           "peak_step": float | None}]}]}

The last panel is always followed by a gold-vs-KL panel drawn from every curve of every panel.

``plot_accuracy(data)``::

    {"title": str, "seeds": S, "conditions": [str],
     "high": {"mean": [C], "lo": [C], "hi": [C]}, "low": {"mean": [C], "lo": [C], "hi": [C]}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure, save_figure, save_from_file

__all__ = ["plot_curves", "plot_accuracy", "render", "save_curves", "save_accuracy"]

_DASHES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1))]


def plot_curves(data: dict[str, Any]):
    panels = data["panels"]
    fig, axes = new_figure(ncols=len(panels) + 1, width=4.4, height=3.6)
    step = np.asarray(data["step"])
    ax_kl = axes[0][-1]
    color_of: dict[str, Any] = {}
    on_kl: set[str] = set()
    kl_from = data.get("kl_panel")  # None: every panel's curves (first occurrence of a label); else that panel's
    for i, (ax, panel) in enumerate(zip(axes[0][:-1], panels, strict=True)):
        for c in panel["curves"]:
            if c["label"] not in color_of:
                color_of[c["label"]] = PALETTE[len(color_of) % len(PALETTE)]
            col = color_of[c["label"]]
            ls = _DASHES[list(color_of).index(c["label"]) // len(PALETTE) % len(_DASHES)]
            ax.plot(step, c["mean"], color=col, lw=1.6, ls=ls, label=c["label"])
            ax.fill_between(step, c["lo"], c["hi"], color=col, alpha=0.22, lw=0)
            if c.get("peak_step") is not None:
                ps = float(c["peak_step"])
                ax.plot([ps], [np.interp(ps, step, c["mean"])], marker="v", color=col, ms=5, zorder=4)
            if c["label"] not in on_kl and kl_from in (None, i):  # a curve shown in two panels is drawn once
                on_kl.add(c["label"])
                ax_kl.plot(c["kl"], c["mean"], color=col, lw=1.4, ls=ls, label=c["label"])
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("gold reward (expected, exact)")
        ax.set_title(panel["title"], fontsize=9)
        ax.legend(fontsize=6.5, loc="best")  # the BT panel's curves sit low: its legend goes above them
    ax_kl.set_xlabel("KL(π ‖ π_base) (nats, exact)")
    ax_kl.set_ylabel("gold reward")
    unit = data.get("unit", "seeds")
    kl_title = "" if kl_from is None else f", {panels[kl_from]['title']}"
    ax_kl.set_title(f"gold reward vs KL (means over {unit}{kl_title})", fontsize=9)
    ax_kl.legend(fontsize=5.5, loc="lower right", ncol=1)
    # with one seed the bands are NaN (no interval): scale on the means then
    lo = min(
        float(np.nanmin(np.concatenate([np.asarray(c["lo"], float), np.asarray(c["mean"], float)])))
        for p in panels
        for c in p["curves"]
    )
    hi = max(
        float(np.nanmax(np.concatenate([np.asarray(c["hi"], float), np.asarray(c["mean"], float)])))
        for p in panels
        for c in p["curves"]
    )
    for ax in axes[0]:
        ax.set_ylim(lo - 0.01, hi + 0.01)
    fig.suptitle(f"{data.get('title', '')}  (bands: 95% CI over {data['seeds']} {unit}; ▼ mean peak step)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_accuracy(data: dict[str, Any]):
    conds = data["conditions"]
    fig, axes = new_figure(width=6.4, height=3.6)
    ax = axes[0][0]
    x = np.arange(len(conds))
    w = 0.38
    for j, (region, label) in enumerate(
        (("high", "high-reward pairs (great model)"), ("low", "low-reward pairs (base model)"))
    ):
        d = data[region]
        mean = np.asarray(d["mean"], float)
        lo_, hi_ = np.asarray(d["lo"], float), np.asarray(d["hi"], float)
        lo_, hi_ = np.where(np.isfinite(lo_), lo_, mean), np.where(np.isfinite(hi_), hi_, mean)  # one seed: no CI
        err = np.stack([mean - lo_, hi_ - mean])
        bars = ax.bar(x + (j - 0.5) * w, mean, w, yerr=err, capsize=3, color=PALETTE[j], label=label)
        for b, m, top in zip(bars, mean, hi_, strict=True):
            ax.annotate(
                f"{m:.1f}",
                (b.get_x() + b.get_width() / 2, top),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=6.5,
            )
    ax.set_xticks(x, [c.replace("-pairs", "").replace("-pair", "").replace("-", " ") for c in conds], fontsize=7.5)
    ax.set_ylabel("pairwise accuracy vs gold (%)\n(rubric ties count as wrong)")
    vals = np.concatenate([np.asarray(data[r][k], float) for r in ("high", "low") for k in ("mean", "lo", "hi")])
    top, bottom = float(np.nanmax(vals)), float(np.nanmin(vals))
    ax.set_ylim(max(0, bottom - 10), min(100, top + 8))
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{data.get('title', '')}  (95% CI over {data['seeds']} seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def save_curves(data: dict[str, Any], out_dir, stem: str = "rubric_world_fig4"):
    return save_figure(plot_curves(data), data, out_dir, stem)


def save_accuracy(data: dict[str, Any], out_dir, stem: str = "rubric_world_table2"):
    return save_figure(plot_accuracy(data), data, out_dir, stem)


def render(out_dir, fig4: str = "rubric_world_fig4", table2: str = "rubric_world_table2") -> list[Path]:
    """Draw both figures of a run folder from the figure data JSON its report wrote (``fig4``.json,
    ``table2``.json); writes the PNG and PDF next to them. Returns the PNG paths."""
    out = Path(out_dir)
    return [
        save_from_file(plot, out / f"{stem}.json")["png"]
        for stem, plot in ((fig4, plot_curves), (table2, plot_accuracy))
    ]
