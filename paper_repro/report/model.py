"""The report's small result types: one row per number compared, one :class:`ItemReport` per item.

Every item of ``chase repro`` computes a JSON-able dict (cached, so a rerun with the same config skips it) and
then *renders* it into an :class:`ItemReport`; REPORT.md and report.html are both drawn from these objects, so the
two never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "DOES_NOT_HOLD",
    "HOLDS",
    "HOLDS_UNDER_ASSUMPTIONS",
    "NOT_REPRODUCIBLE",
    "STATUSES",
    "ItemReport",
    "Row",
    "worst_status",
]

HOLDS = "holds"
HOLDS_UNDER_ASSUMPTIONS = "holds under stated assumptions"
DOES_NOT_HOLD = "does not hold"
NOT_REPRODUCIBLE = "not reproducible here"
STATUSES = (HOLDS, HOLDS_UNDER_ASSUMPTIONS, DOES_NOT_HOLD, NOT_REPRODUCIBLE)  # best to worst


def worst_status(statuses) -> str:
    """The worst of ``statuses`` in :data:`STATUSES` order (an item holds only if every row does)."""
    ranks = [STATUSES.index(s) for s in statuses]
    return STATUSES[max(ranks)] if ranks else NOT_REPRODUCIBLE


@dataclass(frozen=True)
class Row:
    """One compared quantity.

    quantity  what is measured, in words ("win rate at KL = 1, correct proxy")
    paper     the paper's number as printed ("0.865", "~60 steps"); "" where the paper has none
    ours      our number with its interval (``rewards.stats.format_interval``)
    status    one of :data:`STATUSES`
    note      why this status (the test applied, or what is assumed)
    """

    quantity: str
    paper: str
    ours: str
    status: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Row {self.quantity!r}: status {self.status!r} is not one of {STATUSES}")


@dataclass(frozen=True)
class ItemReport:
    """One item of the report, rendered from its cached data.

    figures      paths of PNGs relative to the report folder (each has a .pdf and the .json it was drawn from)
    assumptions  what the item assumes (a finding "holds under stated assumptions" names them here)
    why          for an item that is not reproducible here, the reason
    """

    title: str
    summary: str
    rows: tuple[Row, ...]
    figures: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    command: str = ""
    why: str = ""
    seconds: float = float("nan")  # compute time of the cached run (set by the build)
    hardware: str = ""  # the machine that computed it (set by the build)
    name: str = ""  # the item's registry name (set by the build)
    section: str = ""  # the report section (set by the build from the registry)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.rows:
            return NOT_REPRODUCIBLE
        return worst_status(r.status for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}
