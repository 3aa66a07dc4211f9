"""``chase repro prediction``: the pre-registered validation of ``chase diagnose`` (docs/prediction.md).

    chase repro prediction predict bandit|rft|rubric   -> docs/prediction/WORLD_predictions.json (commit it first)
    chase repro prediction measure bandit|rft|rubric   -> docs/prediction/WORLD_outcomes.json (train, then compare)
    chase repro prediction report                      -> docs/prediction.md from the committed files
    chase repro prediction mechanisms                  -> docs/prediction/rubric_mechanisms.json (what moves at
                                                          each rubric-world peak, one world, initial rubric)

Predictions use base-policy samples alone; ``measure`` runs the training that tests them. The branch history
shows each predictions file committed before its outcomes file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chase.cli import Parser
from rewards.io import write_json

__all__ = ["main"]

DOCS = Path("docs/prediction")
WORLDS = ("bandit", "rft", "rubric")


def _predict(world: str, args) -> dict:
    if world == "bandit":
        from paper_repro.prediction.bandit import BanditPrediction, predict_bandit

        return predict_bandit(BanditPrediction())
    if world == "rft":
        from paper_repro.prediction.rft import RftPrediction, predict_rft

        return predict_rft(RftPrediction())
    from paper_repro.prediction.rubric import RubricPrediction, predict_rubric

    return predict_rubric(RubricPrediction())


def _measure(world: str, args) -> dict:
    if world == "bandit":
        from paper_repro.prediction.bandit import BanditPrediction, measure_bandit

        return measure_bandit(BanditPrediction())
    if world == "rft":
        from paper_repro.prediction.rft import RftPrediction, measure_rft

        return measure_rft(RftPrediction())
    from paper_repro.prediction.rubric import RubricPrediction, measure_rubric

    return measure_rubric(RubricPrediction())


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="chase repro prediction", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=("predict", "measure", "report", "mechanisms"))
    p.add_argument("world", nargs="?", choices=WORLDS)
    p.add_argument("--docs", default=str(DOCS), help=f"folder of the prediction and outcome files ({DOCS})")
    p.add_argument("--out", default="docs/prediction.md", help="the report (stage report)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    docs = Path(args.docs)
    if args.stage == "mechanisms":
        from paper_repro.prediction.rubric import RubricPrediction, mechanisms

        write_json(docs / "rubric_mechanisms.json", mechanisms(RubricPrediction()))
        return 0
    if args.stage == "report":
        from paper_repro.prediction.report import write_report

        write_report(docs, Path(args.out))
        return 0
    if args.world is None:
        p.error(f"stage {args.stage} needs a world: one of {', '.join(WORLDS)}")
    if args.stage == "predict":
        write_json(docs / f"{args.world}_predictions.json", _predict(args.world, args))
    else:
        if not (docs / f"{args.world}_predictions.json").exists():
            p.error(f"{docs}/{args.world}_predictions.json is missing: predict (and commit) before measuring")
        write_json(docs / f"{args.world}_outcomes.json", _measure(args.world, args))
    return 0
