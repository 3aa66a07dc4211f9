"""Run the selected items (each cached) and write OUT/REPORT.md and OUT/report.html."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from paper_repro.report.items import ITEMS, PROFILES, SECTIONS, Item
from paper_repro.report.model import ItemReport
from paper_repro.report.render import render_html, render_index, render_markdown
from rewards.io import atomic_write_text
from rewards.runs import cached

__all__ = ["build", "hardware", "select"]


def select(only: Sequence[str] | None) -> list[Item]:
    """The items named in ``only`` in registry order (all when empty); an unknown name is a ValueError."""
    _load_items()
    ordered = sorted(ITEMS.values(), key=lambda it: SECTIONS.index(it.section))  # stable: registry order within
    if not only:
        return ordered
    unknown = sorted(set(only) - set(ITEMS))
    if unknown:
        raise ValueError(f"--only: unknown item(s) {', '.join(unknown)}; expected some of {', '.join(ITEMS)}")
    return [it for it in ordered if it.name in set(only)]


def _load_items() -> None:
    """Import the item modules (each registers its items on import, in report order)."""
    from paper_repro.report import items_bandit, items_files, items_prediction, items_rubric, items_theory  # noqa: F401


def hardware() -> str:
    """The machine an item ran on, in words (stored with the item: a cached item keeps its original machine)."""
    import jax

    backend = jax.default_backend()
    accel = "" if backend == "cpu" else f", {backend}: {jax.devices()[0].device_kind}"
    return f"{os.cpu_count()}-core {platform.machine()} CPU{accel}"


def _timed(compute: Callable[[], dict]) -> Callable[[], dict]:
    def run() -> dict:
        t0 = time.perf_counter()
        data = compute()
        return {"data": data, "compute_seconds": time.perf_counter() - t0, "hardware": hardware()}

    return run


def build(
    profile: str,
    only: Sequence[str] | None,
    out: str | Path,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = None,
) -> list[ItemReport]:
    """Compute (or load) each selected item, render it, and write the report. Returns the rendered items.

    Each item's numbers are cached in ``out/items/NAME.json`` with its config (``rewards.runs.cached``): a
    rerun with the same config skips it, another config is a ``RunConfigMismatch`` naming the keys that
    differ (``overwrite`` recomputes). Progress goes to ``echo`` (default: stderr), one line per item."""
    if profile not in PROFILES:
        raise ValueError(f"--profile {profile!r}: expected one of {', '.join(PROFILES)}")
    echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    items, out = select(only), Path(out)
    reports, total = [], 0.0
    for k, item in enumerate(items, 1):
        cfg = item.config(profile)
        path = out / "items" / f"{item.name}.json"
        fresh = not path.exists() or overwrite
        echo(f"[{k}/{len(items)}] {item.name}: {'computing' if fresh else 'checking the cache'} ...")
        t0 = time.perf_counter()
        stored = cached(path, item.cache_key(profile), _timed(cfg.compute), overwrite)
        rep = cfg.render(stored["data"], out / "figures")
        rep = dataclasses.replace(
            rep,
            name=item.name,
            section=item.section,
            seconds=stored["compute_seconds"],
            hardware=stored.get("hardware", "unknown"),
        )
        total += stored["compute_seconds"]
        echo(f"[{k}/{len(items)}] {item.name}: {rep.status} ({time.perf_counter() - t0:.1f} s)")
        reports.append(rep)
    atomic_write_text(out / "REPORT.md", render_markdown(reports, profile, total))
    atomic_write_text(out / "INDEX.md", render_index(reports, profile))
    atomic_write_text(out / "report.html", render_html(reports, profile, total, out))
    echo(f"wrote {out / 'REPORT.md'} and {out / 'report.html'}")
    return reports
