"""Figure of docs/prediction.md, world (b): the tilt predicted from base samples against real GRPO runs.

Reads ``prediction_rft.json`` (written by ``paper_repro.prediction.report``)::

    {"proxies": [{"name": "initial",
                  "pred": {"kl": [...], "gold": [...], "gold_lo": [...], "gold_hi": [...], "proxy": [...]},
                  "max_kl": x,
                  "runs": [{"seed": 0, "kl_seq": [...], "gold": [...], "proxy": [...]}, ...]}, ...]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure

__all__ = ["plot"]


def plot(data: dict[str, Any]):
    """Two panels per proxy row: gold against sequence-level KL (log axis) and gold against the proxy level."""
    rows = data["proxies"]
    fig, axes = new_figure(2, len(rows), width=5.0, height=3.4)
    for i, p in enumerate(rows):
        ax_kl, ax_px = axes[i, 0], axes[i, 1]
        pr = p["pred"]
        kl = np.asarray(pr["kl"])
        for ax, x in ((ax_kl, np.maximum(kl, 1e-2)), (ax_px, np.asarray(pr["proxy"]))):
            ax.fill_between(x, pr["gold_lo"], pr["gold_hi"], color=PALETTE[1], alpha=0.25, lw=0)
            ax.plot(x, pr["gold"], color=PALETTE[1], lw=2.5, label="predicted (tilt of base samples)")
        for j, r in enumerate(p["runs"]):
            lab = "GRPO runs (seeds)" if j == 0 else None
            ax_kl.plot(np.maximum(r["kl_seq"], 1e-2), r["gold"], color=PALETTE[0], lw=1, marker="o", ms=2.5, label=lab)
            ax_px.plot(r["proxy"], r["gold"], color=PALETTE[0], lw=1, marker="o", ms=2.5, label=lab)
        ax_kl.axvline(p["max_kl"], color="0.3", ls="--", lw=1)
        ax_kl.set_xscale("log")
        ax_kl.set(
            xlabel="sequence-level KL to the base LM (nats, log)", ylabel="gold", title=f"{p['name']}: gold vs KL"
        )
        ax_px.set(xlabel="proxy (rubric score)", ylabel="gold", title=f"{p['name']}: gold vs proxy level")
        ax_kl.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig
