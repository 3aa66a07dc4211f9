"""Figure 2 of the paper from the exact theory, and win-rate-vs-KL tables for any maps.

:func:`fig2_data` returns the numbers ``figures.fig2`` plots (tilt win rate on a KL grid, panel a: the paper's
maps; panel b: the top c correctly ranked and the rest reversed) plus the anchor values of docs/theory.md read
off them. :func:`curves_csv` is the table ``chase theory curve`` writes.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from rewards.quantile import QuantileMap
from theory import continuous

__all__ = ["FIG2A", "FIG2B_C", "FIG2_POINTS", "curves_csv", "fig2_data"]

# Figure 2 of the paper (tilt = the KL-regularized RFT optimum): labels and map specs.
FIG2A = [
    ("Correct", "identity"),
    ("Reversed", "reversed"),
    ("Top 25% wrong", "top-wrong:0.25"),
    ("Top 50% wrong", "top-wrong:0.5"),
    ("Worst 50% wrong", "worst-wrong:0.5"),
    ("Worst 90% wrong", "worst-wrong:0.9"),
]
FIG2B_C = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
FIG2_POINTS = 401


def curves_csv(maps: list[QuantileMap], kl_max: float, points: int, procedure: str = "tilt") -> tuple[str, int]:
    """CSV text (``map, procedure, kl, win_rate, expected_true, beta|n``; floats as repr, so nothing is rounded)
    of each map's curve (:func:`theory.continuous.curve`) and the number of data rows."""
    param = "beta" if procedure == "tilt" else "n"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["map", "procedure", "kl", "win_rate", "expected_true", param])
    rows = 0
    for qmap in maps:
        res = continuous.curve(qmap, kl_max, points, procedure)
        for kl, wr, et, par in zip(res["kl"], res["win_rate"], res["expected_true"], res[param], strict=True):
            value = repr(float(par)) if param == "beta" else int(par)
            writer.writerow([qmap.spec, procedure, repr(float(kl)), repr(float(wr)), repr(float(et)), value])
            rows += 1
    return buf.getvalue(), rows


def fig2_data(points: int = FIG2_POINTS) -> dict:
    """The numbers Figure 2 plots (tilt win rate on a KL grid) plus the docs/theory.md anchor values read off them."""

    def panel(kl_max, items):
        kl = np.linspace(0.0, kl_max, points)
        curves = []
        for label, spec in items:
            qmap = QuantileMap.parse(spec)
            beta = continuous.beta_for_kl(kl, qmap)
            curves.append({"label": label, "spec": spec, "win_rate": continuous.tilt_win_rate(qmap, beta).tolist()})
        return {"kl": kl.tolist(), "curves": curves}

    a = panel(8.0, FIG2A)
    b = panel(4.0, [(f"top {round(c * 100)}% correct", f"top-correct:{c:g}") for c in FIG2B_C])
    b["c"] = FIG2B_C
    wr = {c["label"]: np.array(c["win_rate"]) for c in a["curves"]}
    kl = np.array(a["kl"])
    top25 = wr["Top 25% wrong"]
    worst90 = wr["Worst 90% wrong"]
    anchors = {
        "correct_at_kl1": float(continuous.tilt_win_rate(None, continuous.beta_for_kl(1.0))),
        "correct_at_kl2": float(continuous.tilt_win_rate(None, continuous.beta_for_kl(2.0))),
        "top25_peak": float(top25.max()),
        "top25_peak_kl": float(kl[np.argmax(top25)]),
        "top25_at_kl8": float(top25[-1]),
        "worst90_min": float(worst90.min()),
        "worst90_min_kl": float(kl[np.argmin(worst90)]),
        "worst90_at_kl8": float(worst90[-1]),
        "correct_at_kl8": float(wr["Correct"][-1]),
    }
    return {"figure": "fig2", "procedure": "tilt", "a": a, "b": b, "anchors": anchors}
