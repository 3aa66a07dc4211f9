"""``chase diagnose --samples FILE --out DIR``: predict over-optimization from scored base-policy samples.

Writes ``DIR/diagnosis.json`` (everything, also the figure's data), ``DIR/diagnosis.md`` and
``DIR/diagnosis.png`` / ``.pdf``. The input format and the method: :mod:`rewards.diagnose`,
:mod:`rewards.predict`. Bad input is one line naming the file, line and field, and exit 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys

from chase.cli import Parser
from chase.flags import add_config_flags, config_from_args
from rewards.io import emit

__all__ = ["main"]


def _parser() -> Parser:
    from rewards.diagnose import DiagnoseConfig

    p = Parser(prog="chase diagnose", description="predict over-optimization from scored base-policy samples")
    p.add_argument("--out", required=True, help="output folder (a run directory)")
    p.add_argument("--overwrite", action="store_true", help="replace a run of another config in --out")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG/PDF (diagnosis.json is still written)")
    add_config_flags(p, DiagnoseConfig)
    return p


_INPUTS = ("samples", "gold_scores", "pairs")


def _sha256(path: str) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _run(p: Parser, args: argparse.Namespace) -> int:
    import numpy as np

    from rewards.diagnose import DiagnoseConfig, report, run
    from rewards.runs import RunConfigMismatch, open_run

    try:
        cfg = config_from_args(DiagnoseConfig, args)
    except ValueError as e:
        p.error(str(e))
    result = run(cfg, np.random.default_rng(cfg.seed))  # reads and checks the input before --out is touched
    # the inputs are files: their contents are part of the run's identity, not just their names
    record = {**cfg.to_dict(), "input_sha256": {k: _sha256(getattr(cfg, k)) for k in _INPUTS if getattr(cfg, k)}}
    try:
        run_dir = open_run(args.out, record, overwrite=args.overwrite, kind="diagnose")
    except RunConfigMismatch as e:
        p.error(str(e))
    report(result, run_dir.path)
    if not args.no_figure:
        from figures.diagnosis import plot
        from figures.style import save_from_file

        save_from_file(plot, run_dir.path / "diagnosis.json")
    t = result.tilt
    headline = {
        "peak_predicted": t.peak,
        "peak_kl": round(t.peak_kl, 4),
        "peak_gold": round(t.peak_gold, 4),
        "max_resolved_kl": round(t.max_kl, 4),
    }
    run_dir.finish(headline=headline)
    emit({"out": str(args.out), **headline, "verdict": result.verdict})
    return 0


def main(argv: list[str] | None = None) -> int:
    """One command, no sub-commands: parse, run; usage errors and bad input are one line and exit 2."""
    p = _parser()
    try:
        args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse printed the usage error (or --help)
        return int(exc.code or 0)
    return _run(p, args)


if __name__ == "__main__":
    raise SystemExit(main())
