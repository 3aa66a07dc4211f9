"""Figure of ``chase diagnose``: h(v), the predicted gold-vs-KL curves, and the tail accuracy.

Reads ``diagnosis.json`` (written by ``rewards.diagnose.report``)::

    {"h": {"edges": [...], "h": [...], "lo": [...], "hi": [...]},
     "tilt": {"curve": {"kl": [...], "gold": [...], "gold_lo": [...], "gold_hi": [...], "resolved": [...]},
              "peak": bool, "peak_kl": x, "peak_gold": y, "max_kl": x},
     "best_of_n": {... the same ...},
     "bands": [{"band": [lo, hi], "acc_ties_half": a, "ci_ties_half": [lo, hi], "n_pairs": n}, ...],
     "tail": {"high": {...}, "low": {...}}}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures.style import PALETTE, new_figure

__all__ = ["plot"]


def _h_panel(ax, h: dict[str, Any]) -> None:
    e = np.asarray(h["edges"])
    for k in range(e.size - 1):
        x = [e[k], e[k + 1]]
        ax.fill_between(x, [h["lo"][k]] * 2, [h["hi"][k]] * 2, color=PALETTE[0], alpha=0.25, lw=0)
        ax.plot(x, [h["h"][k]] * 2, color=PALETTE[0], lw=2)
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", label="a perfect proxy")
    ax.set(xlabel="proxy quantile v (within prompt)", ylabel="E[gold quantile | v]", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("(a) h(v) with 95% band")
    ax.legend(loc="upper left", fontsize=8)


def _curve(ax, pred: dict[str, Any], name: str, color, marker: str) -> None:
    c = pred["curve"]
    kl, res = np.asarray(c["kl"]), np.asarray(c["resolved"], dtype=bool)
    gold, lo, hi = (np.asarray(c[k], dtype=float) for k in ("gold", "gold_lo", "gold_hi"))
    ax.fill_between(kl[res], lo[res], hi[res], color=color, alpha=0.2, lw=0)
    ax.plot(kl[res], gold[res], color=color, lw=2, marker=marker, ms=3 if marker else 0, label=name)
    ax.plot(kl[~res], gold[~res], color=color, lw=1, ls=":")  # beyond what the samples resolve
    if pred["peak"]:
        ax.plot([pred["peak_kl"]], [pred["peak_gold"]], marker="*", ms=14, color=color, mec="k", zorder=5)


def _kl_panel(ax, data: dict[str, Any]) -> None:
    _curve(ax, data["tilt"], "KL-regularized optimum (tilt)", PALETTE[1], "")
    _curve(ax, data["best_of_n"], "best-of-n", PALETTE[2], "o")
    ax.axvline(data["tilt"]["max_kl"], color="0.3", ls="--", lw=1)
    ax.text(
        data["tilt"]["max_kl"],
        ax.get_ylim()[1],
        f" resolved to KL {data['tilt']['max_kl']:.2f}",
        fontsize=8,
        va="top",
        ha="left",
    )
    ax.set(xlabel="sequence-level KL to the base policy (nats)", ylabel="predicted gold")
    ax.set_title("(b) predicted gold vs KL (* = peak)")
    ax.legend(loc="lower right", fontsize=8)


def _acc_panel(ax, data: dict[str, Any]) -> None:
    rows = [(f"{b['band'][0]:g}-{b['band'][1]:g}", b) for b in data["bands"]]
    names = {"high": "high pairs\n(mean u >= 0.8)", "low": "low pairs\n(mean u < 0.5)"}
    rows += [(names.get(name, name), a) for name, a in data["tail"].items()]
    labels = [r[0] for r in rows]
    acc = np.array([r[1]["acc_ties_half"] for r in rows], dtype=float)
    ci = np.array([r[1]["ci_ties_half"] for r in rows], dtype=float)
    x = np.arange(len(rows))
    colors = [PALETTE[0]] * len(data["bands"]) + [PALETTE[3]] * len(data["tail"])
    ax.bar(x, acc, color=colors)
    err = np.abs(np.stack([acc - ci[:, 0], ci[:, 1] - acc]))
    ax.errorbar(x, acc, yerr=np.nan_to_num(err), fmt="none", ecolor="k", capsize=3)
    ax.axhline(0.5, color="0.5", ls=":")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="pair accuracy (ties half)", ylim=(0, 1))
    ax.set_title("(c) pair accuracy by gold quantile band")


def plot(data: dict[str, Any]):
    """Three panels: h(v), predicted gold vs KL (tilt and best-of-n), pair accuracy by band."""
    fig, axes = new_figure(3, 1, width=4.8, height=3.8)
    _h_panel(axes[0, 0], data["h"])
    _kl_panel(axes[0, 1], data)
    _acc_panel(axes[0, 2], data)
    fig.tight_layout()
    return fig
