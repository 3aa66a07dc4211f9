"""What an item of ``chase repro`` is, and the registry of items.

An item has a name, a title, a section of the report and, per profile, a frozen config with two methods:

- ``compute() -> dict``: the numbers (JSON-able). Cached in ``OUT/items/NAME.json`` with the config
  (``rewards.runs.cached``), so a rerun with the same config skips it and a killed run loses only the item
  that was running.
- ``resolved() -> dict`` (optional): what else the numbers depend on, added to the cache key: the library
  config an item expands to, or the digest of the committed files it reads (:func:`file_digests`), so a changed
  default or a regenerated file is never served from an old cache.
- ``render(data, fig_dir) -> ItemReport``: the rows compared with the paper, statuses and figures. Figures
  are drawn from JSON files the render writes (``figures.style.save_from_file``), never from live objects.

Profiles: ``smoke`` (CI: seconds, tiny sizes; numbers are not meant to hold), ``quick`` (a 2-core CPU, no GPU,
core install, about 10 minutes for everything) and ``full`` (the sizes behind docs/; hours on a CPU).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ITEMS", "PROFILES", "ROOT", "SECTIONS", "Item", "file_digests", "register"]

ROOT = Path(__file__).resolve().parents[2]  # the repository (files committed beside the package)

PROFILES = ("smoke", "quick", "full")
# the report's sections, in order (an item names one)
SECTIONS = ("Theory", "Quantile bandit", "Rubric world", "Prediction", "Real RFT", "Benchmarks")


def file_digests(*paths: str) -> dict[str, str]:
    """``{path: sha256 of its bytes}`` for files relative to :data:`ROOT` ("missing" for an absent file)."""
    return {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() if (ROOT / p).is_file() else "missing"
            for p in paths}  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One item: ``configs`` maps each profile of :data:`PROFILES` to the config that runs it."""

    name: str
    title: str
    section: str
    configs: dict[str, Any]
    needs: str = "core"  # "core" or "rft": what the compute step imports (quick reads RFT results from files)

    def config(self, profile: str) -> Any:
        if profile not in self.configs:
            raise ValueError(f"item {self.name}: no {profile!r} profile (have {', '.join(self.configs)})")
        return self.configs[profile]

    def cache_key(self, profile: str) -> dict[str, Any]:
        cfg = self.config(profile)
        key = {"item": self.name, "config_class": type(cfg).__name__, "config": dataclasses.asdict(cfg)}
        if hasattr(cfg, "resolved"):  # the library config it expands to: a changed library default is not reused
            key["resolved"] = cfg.resolved()
        return key


ITEMS: dict[str, Item] = {}


def register(name: str, title: str, section: str, needs: str = "core") -> Callable[[Callable[[], dict]], Item]:
    """Decorator over a function returning ``{profile: config}``; adds the item to :data:`ITEMS` in order."""

    def wrap(make_configs: Callable[[], dict]) -> Item:
        configs = make_configs()
        missing = [p for p in PROFILES if p not in configs]
        if missing:
            raise ValueError(f"item {name}: profiles {missing} have no config")
        if section not in SECTIONS:
            raise ValueError(f"item {name}: section {section!r} is not one of {SECTIONS}")
        if name in ITEMS:
            raise ValueError(f"item {name} registered twice")
        ITEMS[name] = Item(name, title, section, configs, needs)
        return ITEMS[name]

    return wrap
