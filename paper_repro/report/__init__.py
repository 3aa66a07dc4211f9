"""``chase repro``: one report of everything the package shows, with the paper's numbers beside ours.

    chase repro [--profile smoke|quick|full] [--only ITEM,...] [--out DIR] [--overwrite]

writes DIR/REPORT.md and DIR/report.html (self-contained). Items are registered in ``items_*.py`` (theory,
quantile bandit, ..., benchmarks); each is cached in DIR/items/NAME.json with its config, so a rerun skips
finished items and a killed run loses only the item in progress. ``smoke`` is for CI (seconds; its numbers are
not meant to hold), ``quick`` fits a 2-core CPU in about 10 minutes with the core install, ``full`` reruns at the
sizes behind docs/.
"""

from paper_repro.report.build import build, select
from paper_repro.report.items import ITEMS, PROFILES, Item
from paper_repro.report.model import STATUSES, ItemReport, Row

__all__ = ["ITEMS", "PROFILES", "STATUSES", "Item", "ItemReport", "Row", "build", "select"]
