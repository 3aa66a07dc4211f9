"""``chase repro``: regenerate the reports under docs/ from runs (each target caches its numbers under runs/).

    chase repro bandit-findings [ARGS...]          -> docs/bandit_findings.md (paper_repro.bandit_findings)
    chase repro rubric-world-sensitivity [ARGS...] -> docs/rubric_world_sensitivity.md
                                                      (paper_repro.rubric_world_sensitivity)
    chase repro grpo-small-beta [ARGS...]          -> the beta = 0.03 numbers in docs/bandit_findings.notes.md

ARGS go to the target unchanged (``chase repro TARGET --help`` lists them). The rubric world's main tables come
from ``chase sim rubric-world``; the real-RFT runs from ``chase rft train``.
"""

from __future__ import annotations

import sys

from chase.cli import dispatch

__all__ = ["TARGETS", "main"]

TARGETS: dict[str, tuple[str, str]] = {
    "bandit-findings": ("paper_repro.bandit_findings", "quantile bandit vs theory, training dynamics (~10-30 min)"),
    "rubric-world-sensitivity": (
        "paper_repro.rubric_world_sensitivity",
        "rubric world findings under one-parameter changes (~6 min)",
    ),
    "prediction": ("paper_repro.prediction", "pre-registered validation of chase diagnose (docs/prediction.md)"),
    "grpo-small-beta": ("paper_repro.grpo_small_beta", "sampled GRPO at beta = 0.03: NaN seeds and the rest (~17 min)"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch(list(sys.argv[1:] if argv is None else argv), TARGETS, "chase repro", "target")


if __name__ == "__main__":
    raise SystemExit(main())
