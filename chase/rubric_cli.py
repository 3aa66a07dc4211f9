"""``chase rubric``: score responses with rubrics, and refine rubrics against response pools.

    chase rubric score  --rubrics FILE --responses FILE [--format paper|healthbench] [--out FILE]
                        [--judge rule|NAME|module:factory] [--judge-arg KEY=VALUE ...] [--unknown nan|skip]
                        [--max-unscored-frac F]
    chase rubric refine --rubrics FILE --pools FILE --proposer sim|NAME|module:factory --out FILE [--log FILE]
                        [--rounds R | --pool-mode MODE] [--exclude-used] [--judge ...] [--proposer-arg KEY=VALUE ...]
                        [--max-unscored-frac F]
    chase rubric sim-export --out DIR [--pool-mode MODE] [--seed S] [--world-arg KEY=VALUE ...]

The simulated verifier and proposer (``--judge sim``, ``--proposer sim``) live in a rubric world chosen by
``--world-arg`` options (``world_seed`` and :class:`sim.rubric_world.WorldConfig` fields, shared by both);
``sim-export`` writes that world's initial and gold rubrics and a response pool as files these commands read.
Input files: :mod:`chase.rubric_files`; verifiers, proposers and their options: :mod:`chase.rubric_components`.

Failure behaviour: a bad input (file, option, output path, a ``--log`` that is not this run's log) is one line
``chase rubric NAME: error: ...`` on stderr and exit 2, before anything is written. A run that completes but
leaves more than ``--max-unscored-frac`` of the responses unscored (a dead judge, a rejected API key), or
whose proposer calls failed beyond it, writes what it has and then exits 1 with a one-line error giving the
counts.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chase.cli import Command, dispatch
from chase.judge_cli import add_llm_arguments
from chase.rubric_components import (
    PROPOSERS,
    VERIFIERS,
    OptionError,
    _rule_verifier,  # noqa: F401 -- named as chase.rubric_cli:_rule_verifier (module:factory form)
    _sim_proposer,  # noqa: F401
    _sim_verifier,  # noqa: F401
    check_unused_options,
    make_proposer,
    make_verifier,
    register_proposer,
    register_verifier,
    sim_world,
    world_options,
)
from chase.rubric_files import check_out_dir, check_out_file, read_pools, read_responses
from rewards.formats import FORMATS, RubricRecord, load_rubrics, save_rubrics
from rewards.io import emit, to_json, write_jsonl
from rewards.refine import FAILURE_STATUSES, POOL_MODES, RefineConfig, RefineLogError, refine
from rewards.rubric import RubricFormatError, healthbench_dataset_score, n_unknown, unscored_reason, verdict_names
from rewards.verify import verify_with

# Default of --max-unscored-frac; see _threshold_flag for why.
MAX_UNSCORED_FRAC = 0.5


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _check_threshold(args: argparse.Namespace) -> None:
    f = args.max_unscored_frac
    if not 0.0 <= f <= 1.0:
        raise OptionError(f"--max-unscored-frac must be in [0, 1] (1 disables the check), got {f!r}")


def _fail(command: str, message: str) -> int:
    """A run that completed but failed: one line on stderr, exit 1 (bad inputs are exit 2)."""
    print(f"chase rubric {command}: error: {message}", file=sys.stderr)
    return 1


def _score_rows(records, items_meta, verdicts, unknown: str) -> tuple[list[dict[str, Any]], list[float], int]:
    rows, scores, unknowns = [], [], 0
    for k, ((p, _resp, rid), v) in enumerate(zip(items_meta, verdicts, strict=True)):
        rubric = records[p].rubric
        s = float(rubric.score(v, unknown=unknown))
        nu = n_unknown(v)
        unknowns += nu
        scores.append(s)
        row: dict[str, Any] = {"index": k, "prompt_index": p, "score": _num(s)}
        if math.isnan(s):
            row["reason"] = unscored_reason(rubric, v, unknown)
        row.update(verdicts=verdict_names(v), n_unknown=nu)
        if rid is not None:
            row["id"] = rid
        rows.append(row)
    return rows, scores, unknowns


def cmd_score(args: argparse.Namespace) -> int:
    _check_threshold(args)
    check_unused_options(args, [args.judge])
    if args.out:
        check_out_file(args.out)
    records = load_rubrics(args.rubrics, args.format)
    items_meta = read_responses(args.responses, records)
    verifier = make_verifier(args)
    items = [(records[p].prompt, resp, records[p].rubric) for p, resp, _id in items_meta]
    try:
        verdicts = verify_with(verifier, items)
    except TypeError as e:  # e.g. the rule verifier given simulated (non-text) responses
        raise RubricFormatError(f"{e} (is --judge right for these responses?)", args.responses) from None
    rows, scores, unknowns = _score_rows(records, items_meta, verdicts, args.unknown)
    if args.out:
        write_jsonl(args.out, rows)
    else:
        sys.stdout.write("".join(to_json(r) + "\n" for r in rows))
    s = np.asarray(scores, dtype=np.float64)
    scored = s[~np.isnan(s)]
    n_unscored = int(s.size - scored.size)
    summary: dict[str, Any] = {
        "responses": len(rows),
        "scored": int(scored.size),
        "unscored": n_unscored,
        "unknown_verdicts": int(unknowns),
        "mean_score_of_scored": _num(float(scored.mean())) if scored.size else None,
        "verifier": verifier.name,
        "unknown": args.unknown,
    }
    if getattr(verifier, "timed_out", 0):
        summary["timed_out_checks"] = int(verifier.timed_out)
    if args.format == "healthbench":
        summary["healthbench_score_clipped_of_scored"] = _num(healthbench_dataset_score(s, unknown="skip"))
    if args.out:
        summary["out"] = args.out
    print(to_json(summary), file=sys.stderr)
    if n_unscored > args.max_unscored_frac * len(rows):
        return _fail(
            "score",
            f"{n_unscored} of {len(rows)} responses unscored ({n_unscored / len(rows):.0%}, {unknowns} unknown "
            f"verdicts), above --max-unscored-frac {args.max_unscored_frac:g}; the scores were written "
            f"(see each row's 'reason'); is the judge up and authorized, or should --unknown be skip?",
        )
    return 0


def _refine_config(args: argparse.Namespace) -> RefineConfig:
    if args.pool_mode:
        if args.rounds is not None or args.exclude_used:
            raise OptionError("--pool-mode sets rounds and exclusion; drop --rounds/--exclude-used")
        return RefineConfig.from_pool_mode(args.pool_mode, weight_range=tuple(args.weight_range), unknown=args.unknown)
    return RefineConfig(
        rounds=1 if args.rounds is None else args.rounds,
        exclude_used=args.exclude_used,
        weight_range=tuple(args.weight_range),
        unknown=args.unknown,
    )


def _refine_problems(result, threshold: float) -> list[str]:
    """Why a completed refinement failed: unscored pool responses or failed proposer calls above ``threshold``."""
    scores = [s for it in result.iterations for s in it.scores]
    n_nan = sum(1 for s in scores if math.isnan(s))
    called = [it for it in result.iterations if it.status != "no_pair"]
    failed = [it for it in called if it.status in FAILURE_STATUSES]
    problems = []
    if n_nan > threshold * len(scores):
        problems.append(f"{n_nan} of {len(scores)} pool responses unscored")
    if len(failed) > threshold * len(called):
        kinds = ", ".join(f"{s} {sum(it.status == s for it in failed)}" for s in FAILURE_STATUSES)
        problems.append(f"{len(failed)} of {len(called)} proposer calls failed ({kinds})")
    return problems


def _check_refine_paths(args: argparse.Namespace) -> None:
    check_out_file(args.out)
    if args.log:
        check_out_file(args.log, "--log")
        if Path(args.log).resolve() == Path(args.out).resolve():
            raise OptionError(f"--log and --out are the same file {args.out}; give the log its own path")


def cmd_refine(args: argparse.Namespace) -> int:
    _check_threshold(args)
    check_unused_options(args, [args.judge, args.proposer])
    _check_refine_paths(args)
    config = _refine_config(args)
    records = load_rubrics(args.rubrics, args.format)
    pools = read_pools(args.pools, records)
    verifier = make_verifier(args)
    proposer = make_proposer(args)

    def progress(it):
        if not args.quiet:
            print(
                f"prompt {it.prompt_index} round {it.round}: {it.status}" + (f" ({it.error})" if it.error else ""),
                file=sys.stderr,
            )

    prompts, rubrics = [r.prompt for r in records], [r.rubric for r in records]
    result = refine(prompts, rubrics, pools, verifier, proposer, config, log_path=args.log, on_iteration=progress)
    out_records = [RubricRecord(rec.prompt, rub, rec.meta) for rec, rub in zip(records, result.rubrics, strict=True)]
    save_rubrics(args.out, out_records, args.format)
    emit(
        {
            "out": args.out,
            "log": args.log,
            "prompts": len(records),
            "iterations": len(result.iterations),
            "resumed_iterations": result.n_resumed,
            "status_counts": result.status_counts(),
            "failures": result.n_failures,
            "config": config.to_dict(),
            "verifier": verifier.name,
            "proposer": proposer.name,
        }
    )
    problems = _refine_problems(result, args.max_unscored_frac)
    if problems:
        return _fail(
            "refine",
            f"{'; '.join(problems)}, above --max-unscored-frac {args.max_unscored_frac:g}; the rubrics were written "
            f"(failed steps kept the old rubric); is the judge/proposer up and authorized?",
        )
    return 0


def cmd_sim_export(args: argparse.Namespace) -> int:
    import jax

    from sim.rubric_world import sample_pool

    out = check_out_dir(args.out)
    world, _own, _rest = sim_world(world_options(args))
    mode = POOL_MODES[args.pool_mode]
    pools = sample_pool(world, mode.name, jax.random.key(args.seed))
    out.mkdir(exist_ok=True)
    for name, rubrics in (("initial_rubrics.json", world.initial_rubrics), ("gold_rubrics.json", world.gold_rubrics)):
        save_rubrics(out / name, [RubricRecord(p, r) for p, r in zip(world.prompts, rubrics, strict=True)])
    write_jsonl(
        out / "pools.jsonl", [{"prompt_index": i, "responses": pools[i].tolist()} for i in range(world.n_prompts)]
    )
    emit(
        {
            "out": str(out),
            "prompts": world.n_prompts,
            "pool_mode": mode.name,
            "pool_size": int(pools.shape[1]),
            "files": ["initial_rubrics.json", "gold_rubrics.json", "pools.jsonl"],
        }
    )
    return 0


# --------------------------------------------------------------------------------------------------------------
# flags


def _threshold_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--max-unscored-frac",
        type=float,
        default=MAX_UNSCORED_FRAC,
        metavar="F",
        help=f"exit 1 (after writing the output) when more than this fraction of {what}; default %(default)s: "
        "a judge that leaves most responses unscored is down, unauthorized or the wrong judge, while a few "
        "judge-only criteria under --unknown nan stay below it; 1 disables the check",
    )


def _common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rubrics", required=True, help="rubric file (paper: JSON list or JSONL; healthbench: JSONL)")
    p.add_argument("--format", choices=FORMATS, default="paper", help="rubric file format (default: paper)")
    p.add_argument(
        "--judge", default="rule", help="verifier: a registered name (%(default)s, sim, ...) or module:factory"
    )
    p.add_argument("--judge-arg", action="append", metavar="KEY=VALUE", help="option passed to the verifier")
    p.add_argument(
        "--unknown",
        choices=("nan", "skip"),
        default="nan",
        help="UNKNOWN verdicts make the score NaN (default) or are skipped",
    )
    p.add_argument(
        "--world-arg",
        action="append",
        metavar="KEY=VALUE",
        help="rubric-world option of --judge sim / --proposer sim (world_seed, n_prompts, ...; an error otherwise)",
    )
    add_llm_arguments(p)


def _score_flags(p: argparse.ArgumentParser) -> None:
    _common_flags(p)
    p.add_argument("--responses", required=True, help="JSONL of {prompt | prompt_index, response[, id]}")
    p.add_argument("--out", help="output JSONL (default: stdout)")
    _threshold_flag(p, "the responses is unscored (score null)")


def _refine_flags(p: argparse.ArgumentParser) -> None:
    _common_flags(p)
    p.add_argument("--pools", required=True, help="JSONL of {prompt | prompt_index, responses: [...]}")
    p.add_argument("--proposer", required=True, help="proposer: a registered name (sim, ...) or module:factory")
    p.add_argument("--proposer-arg", action="append", metavar="KEY=VALUE", help="option passed to the proposer")
    p.add_argument("--rounds", type=int, help="refinement rounds (default 1)")
    p.add_argument("--exclude-used", action="store_true", help="do not offer a response chosen in an earlier round")
    p.add_argument("--pool-mode", choices=tuple(POOL_MODES), help="take rounds/exclusion from a paper condition")
    p.add_argument(
        "--weight-range",
        type=float,
        nargs=2,
        default=(1.0, 3.0),
        metavar=("LO", "HI"),
        help="allowed criterion weights (default 1 3)",
    )
    p.add_argument("--out", required=True, help="refined rubric file (same format as --rubrics)")
    p.add_argument(
        "--log",
        help="append-only JSONL iteration log; this run's log is validated and resumed, any other file is refused "
        "and left untouched",
    )
    p.add_argument("--quiet", action="store_true", help="no per-iteration lines on stderr")
    _threshold_flag(p, "the pool responses is unscored, or of the proposer calls failed,")


def _sim_export_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder for initial_rubrics.json, gold_rubrics.json, pools.jsonl")
    p.add_argument(
        "--pool-mode",
        choices=tuple(POOL_MODES),
        default="4-great-diverse-pairs",
        help="which generator(s) and pool size (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the pool samples (default 0)")
    p.add_argument("--world-arg", action="append", metavar="KEY=VALUE", help="world_seed, n_prompts, ...")


# `chase rubric NAME` through the one dispatcher; bad files, specs, logs, options and output paths -> one line,
# exit 2 (RubricFormatError, OptionError, OutputPathError, RefineLogError are ValueErrors; OSError: a write
# that failed anyway, e.g. a full disk)
_EXPECTED = (ValueError, RefineLogError, OSError)
COMMANDS = {
    "score": Command(_score_flags, cmd_score, "score responses (JSONL out, summary on stderr)", _EXPECTED),
    "refine": Command(
        _refine_flags, cmd_refine, "refine rubrics against response pools (resumable with --log)", _EXPECTED
    ),
    "sim-export": Command(
        _sim_export_flags, cmd_sim_export, "write a rubric world's initial/gold rubrics and pools as files", _EXPECTED
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch(list(sys.argv[1:] if argv is None else argv), COMMANDS, "chase rubric", "sub-command")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["PROPOSERS", "VERIFIERS", "main", "make_proposer", "make_verifier", "register_proposer", "register_verifier"]
