"""How a report item draws a figure: write the numbers to ``FIG_DIR/STEM.json``, then draw PNG + PDF from that file
(``figures.style.save_from_file``), so every figure in the report is drawn from a result file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewards.io import write_json

__all__ = ["draw"]


def draw(plot: Callable[[Any], Any], data: Any, fig_dir: Path, stem: str) -> str:
    """Draw ``plot(data)`` into ``fig_dir/stem.{json,png,pdf}``; returns the PNG's path relative to the report
    folder (``fig_dir``'s parent)."""
    from figures.style import save_from_file

    fig_dir = Path(fig_dir)
    path = write_json(fig_dir / f"{stem}.json", data)
    save_from_file(plot, path)
    return f"{fig_dir.name}/{stem}.png"
