"""One plotting style for every figure, and the one way figures are saved (PNG + PDF + plotted numbers)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from rewards.io import atomic_write_bytes, write_json  # noqa: E402

PALETTE = sns.color_palette("colorblind")


def apply_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 120, "savefig.dpi": 150, "savefig.bbox": "tight"})


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.6, height: float = 3.4, **kw):
    apply_style()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


def save_figure(fig, data: Any, out_dir: str | Path, stem: str, write_data: bool = True) -> dict[str, Path]:
    """Write ``stem``.png, ``stem``.pdf and ``stem``.json (the plotted numbers) atomically into out_dir."""
    out_dir = Path(out_dir)
    paths = {}
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext)
        paths[ext] = atomic_write_bytes(out_dir / f"{stem}.{ext}", buf.getvalue())
    if write_data:
        paths["json"] = write_json(out_dir / f"{stem}.json", data)
    plt.close(fig)
    return paths


def save_from_file(plot: Callable[[Any], Any], data_path: str | Path) -> dict[str, Path]:
    """Draw the figure whose numbers a report wrote to ``DIR/STEM.json``: ``DIR/STEM.png`` and ``.pdf`` (figures
    read result files, never experiment objects)."""
    data_path = Path(data_path)
    data = json.loads(data_path.read_text(encoding="utf-8"))
    return {**save_figure(plot(data), data, data_path.parent, data_path.stem, write_data=False), "json": data_path}
