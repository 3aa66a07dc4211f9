"""``chase rubric``: score responses with rubrics, and refine rubrics against response pools.

    chase rubric score  --rubrics FILE --responses FILE [--format paper|healthbench] [--out FILE]
                        [--judge rule|NAME|module:factory] [--judge-arg KEY=VALUE ...] [--unknown nan|skip]
    chase rubric refine --rubrics FILE --pools FILE --proposer sim|NAME|module:factory --out FILE [--log FILE]
                        [--rounds R | --pool-mode MODE] [--exclude-used] [--judge ...] [--proposer-arg KEY=VALUE ...]
    chase rubric sim-export --out DIR [--pool-mode MODE] [--seed S] [--world-arg KEY=VALUE ...]

The simulated verifier and proposer (``--judge sim``, ``--proposer sim``) live in a rubric world chosen by
``--world-arg`` options (``world_seed`` and :class:`sim.rubric_world.WorldConfig` fields, shared by both);
``sim-export`` writes that world's initial and gold rubrics and a response pool as files these commands read.

Responses JSONL: one record per response, ``{"prompt": text-or-chat-list | "prompt_index": int, "response": ...}``
(an optional ``"id"`` is copied to the output). Pools JSONL: ``{"prompt" | "prompt_index", "responses": [...]}``.
A JSON-array response (a simulated response: a tuple of property bits) is read as a tuple.

Verifiers and proposers come from registries (:data:`VERIFIERS`, :data:`PROPOSERS`): ``make_verifier(args)``
and ``make_proposer(args)`` look the name up, or import ``module:factory`` and call ``factory(options)`` with
the ``--judge-arg`` / ``--proposer-arg`` options (values parsed as JSON when they parse, else strings).
LLM judges register themselves with :func:`register_verifier` (or are named as ``module:factory``).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chase.cli import Command, dispatch
from chase.judge_cli import add_llm_arguments, llm_options
from rewards.formats import FORMATS, RubricRecord, load_rubrics, read_json_records, render_prompt, save_rubrics
from rewards.io import emit, to_json, write_jsonl
from rewards.refine import POOL_MODES, Proposer, RefineConfig, RefineLogError, refine
from rewards.rubric import RubricFormatError, healthbench_dataset_score, n_unknown, verdict_names
from rewards.verify import RuleVerifier, Verifier, verify_with

Factory = Callable[[dict[str, Any]], Any]


def _rule_verifier(options: dict[str, Any]) -> Verifier:
    if options:
        raise ValueError(f"the rule verifier takes no options, got {sorted(options)}")
    return RuleVerifier()


@functools.lru_cache(maxsize=8)  # a verifier and a proposer built from the same options share one world; bounded
def _cached_world(world_seed: int, world_json: str):
    import jax

    from sim.rubric_world import WorldConfig, make_world

    return make_world(jax.random.key(world_seed), WorldConfig(**dict(json.loads(world_json))))


def _split_sim_options(options: dict[str, Any], own: type) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(world, own-config kwargs, the rest) from flat options: ``world_seed`` and WorldConfig fields pick the
    world (cached, so a verifier and a proposer built from the same options share it), fields of ``own`` go to
    its config."""
    import dataclasses

    from sim.rubric_world import WorldConfig

    opts = dict(options)
    world_seed = int(opts.pop("world_seed", 0))
    wf = {f.name for f in dataclasses.fields(WorldConfig)}
    of = {f.name for f in dataclasses.fields(own)}
    wkw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in opts.items() if k in wf}
    okw = {k: (tuple(tuple(x) for x in v) if isinstance(v, list) else v) for k, v in opts.items() if k in of}
    rest = {k: v for k, v in opts.items() if k not in wf and k not in of}
    world = _cached_world(world_seed, json.dumps(sorted(wkw.items())))
    return world, okw, rest


def _halo(value: Any):
    from sim.rubric_world import Halo

    try:
        if isinstance(value, dict):
            return Halo(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        return Halo(float(value))
    except (TypeError, ValueError) as e:
        raise SystemExit(f"chase rubric: bad halo {value!r}: {e}") from None


def _sim_verifier(options: dict[str, Any]) -> Verifier:
    # imported lazily: sim needs jax, and `chase rubric score` with the rule verifier must not pay for it
    from sim.rubric_world import SimVerifier, VerifierConfig

    world, okw, rest = _split_sim_options(options, VerifierConfig)
    if "halo" in okw:  # halo=0.3 or halo={"strength": 0.3, "trigger": ["signature_phrase"]}
        okw["halo"] = _halo(okw["halo"])
    seed = rest.pop("seed", None)
    perfect = bool(rest.pop("perfect", False))
    if rest:
        raise ValueError(f"sim verifier: unknown options {sorted(rest)}")
    return SimVerifier(world, VerifierConfig.perfect() if perfect else VerifierConfig(**okw), seed=seed)


def _sim_proposer(options: dict[str, Any]) -> Proposer:
    from sim.rubric_world import ProposerConfig, SimProposer

    world, okw, rest = _split_sim_options(options, ProposerConfig)
    seed = rest.pop("seed", None)
    if rest:
        raise ValueError(f"sim proposer: unknown options {sorted(rest)}")
    return SimProposer(world, ProposerConfig(**okw), seed=seed)


VERIFIERS: dict[str, Factory] = {"rule": _rule_verifier, "sim": _sim_verifier}
PROPOSERS: dict[str, Factory] = {"sim": _sim_proposer}


def _llm_component(name: str) -> Factory:
    # LLM judges/proposers (rft) are built by chase/judge_cli.py, imported only when named
    def factory(options: dict[str, Any]):
        return getattr(importlib.import_module("chase.judge_cli"), name)(options)

    return factory


_LLM_NAMES = ("openai", "transformers")
VERIFIERS.update(openai=_llm_component("openai_verifier"), transformers=_llm_component("transformers_verifier"))
PROPOSERS["openai"] = _llm_component("openai_proposer")


def register_verifier(name: str, factory: Factory) -> None:
    """Make ``--judge NAME`` build a verifier with ``factory(options)``."""
    VERIFIERS[name] = factory


def register_proposer(name: str, factory: Factory) -> None:
    """Make ``--proposer NAME`` build a proposer with ``factory(options)``."""
    PROPOSERS[name] = factory


def _options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"chase rubric: {flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _resolve(name: str, registry: dict[str, Factory], kind: str) -> Factory:
    if name in registry:
        return registry[name]
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise SystemExit(f"chase rubric: cannot load {kind} factory {name!r}: {e}") from None
    raise SystemExit(f"chase rubric: unknown {kind} {name!r}; known: {sorted(registry)} or module:factory")


def make_verifier(args: argparse.Namespace) -> Verifier:
    """The verifier named by ``args.judge`` (default "rule") with ``args.judge_arg`` options."""
    name = getattr(args, "judge", None) or "rule"
    options = _options(getattr(args, "judge_arg", None), "--judge-arg")
    if name in _LLM_NAMES:  # --base-url/--model/... apply; --judge-arg wins
        options = {**llm_options(args), **options}
    return _resolve(name, VERIFIERS, "verifier")(options)


def make_proposer(args: argparse.Namespace) -> Proposer:
    """The proposer named by ``args.proposer`` with ``args.proposer_arg`` options."""
    options = _options(getattr(args, "proposer_arg", None), "--proposer-arg")
    if args.proposer in _LLM_NAMES:
        options = {**llm_options(args), **options}
    return _resolve(args.proposer, PROPOSERS, "proposer")(options)


# --------------------------------------------------------------------------------------------------------------
# input files


def _as_response(x: Any) -> Any:
    return tuple(_as_response(y) for y in x) if isinstance(x, list) else x


def _prompt_lookup(records: list[RubricRecord]) -> dict[str, int | None]:
    index: dict[str, int | None] = {}
    for i, rec in enumerate(records):
        index[rec.prompt] = None if rec.prompt in index else i  # None: ambiguous (two records share the prompt)
    return index


def _locate(rec: dict, k: int, path: str, records: list[RubricRecord], lookup: dict[str, int | None]) -> int:
    if "prompt_index" in rec:
        p = rec["prompt_index"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(records):
            raise RubricFormatError(f"must be an integer in [0, {len(records)}), got {p!r}", path, k, "prompt_index")
        return p
    if "prompt" not in rec:
        raise RubricFormatError("missing (give 'prompt' or 'prompt_index')", path, k, "prompt")
    prompt = rec["prompt"]
    if not isinstance(prompt, str | list):
        raise RubricFormatError("must be a string or a chat list", path, k, "prompt")
    try:
        text = render_prompt(prompt)
    except (KeyError, TypeError, AttributeError):
        raise RubricFormatError("chat messages need 'role' and 'content'", path, k, "prompt") from None
    if text not in lookup:
        raise RubricFormatError("does not match any prompt of the rubric file", path, k, "prompt")
    if lookup[text] is None:
        raise RubricFormatError("matches several rubric records; use prompt_index", path, k, "prompt")
    return lookup[text]  # type: ignore[return-value]


def _read_records(path: str, what: str) -> list[dict]:
    records, _lines = read_json_records(path)
    if not isinstance(records, list):
        raise RubricFormatError(f"expected JSONL or a JSON list of {what} records", path)
    for k, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise RubricFormatError(f"a record must be a JSON object, got {type(rec).__name__}", path, k)
    return records


def read_responses(path: str, records: list[RubricRecord]) -> list[tuple[int, Any, Any]]:
    """(prompt index, response, id or None) per record of a responses JSONL."""
    lookup = _prompt_lookup(records)
    out = []
    for k, rec in enumerate(_read_records(path, "response")):
        p = _locate(rec, k, path, records, lookup)
        if "response" not in rec:
            raise RubricFormatError("missing", path, k, "response")
        out.append((p, _as_response(rec["response"]), rec.get("id")))
    return out


def read_pools(path: str, records: list[RubricRecord]) -> list[list[Any]]:
    """One pool (list of responses) per rubric record; prompts without a pool record get an empty pool."""
    lookup = _prompt_lookup(records)
    pools: list[list[Any] | None] = [None] * len(records)
    for k, rec in enumerate(_read_records(path, "pool")):
        p = _locate(rec, k, path, records, lookup)
        resp = rec.get("responses")
        if not isinstance(resp, list):
            raise RubricFormatError("must be a list of responses", path, k, "responses")
        if pools[p] is not None:
            raise RubricFormatError(f"a second pool for prompt {p}", path, k, "prompt")
        pools[p] = [_as_response(r) for r in resp]
    return [p if p is not None else [] for p in pools]


# --------------------------------------------------------------------------------------------------------------
# commands


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def cmd_score(args: argparse.Namespace) -> int:
    records = load_rubrics(args.rubrics, args.format)
    items_meta = read_responses(args.responses, records)
    verifier = make_verifier(args)
    items = [(records[p].prompt, resp, records[p].rubric) for p, resp, _id in items_meta]
    try:
        verdicts = verify_with(verifier, items)
    except TypeError as e:  # e.g. the rule verifier given simulated (non-text) responses
        raise RubricFormatError(f"{e} (is --judge right for these responses?)", args.responses) from None
    rows, scores, unknowns = [], [], 0
    for k, ((p, _resp, rid), v) in enumerate(zip(items_meta, verdicts, strict=True)):
        s = float(records[p].rubric.score(v, unknown=args.unknown))
        nu = n_unknown(v)
        unknowns += nu
        scores.append(s)
        row: dict[str, Any] = {
            "index": k,
            "prompt_index": p,
            "score": _num(s),
            "verdicts": verdict_names(v),
            "n_unknown": nu,
        }
        if rid is not None:
            row["id"] = rid
        rows.append(row)
    if args.out:
        write_jsonl(args.out, rows)
    else:
        sys.stdout.write("".join(to_json(r) + "\n" for r in rows))
    s = np.asarray(scores, dtype=np.float64)
    scored = s[~np.isnan(s)]
    summary: dict[str, Any] = {
        "responses": len(rows),
        "scored": int(scored.size),
        "unscored": int(s.size - scored.size),
        "unknown_verdicts": int(unknowns),
        "mean_score_of_scored": _num(float(scored.mean())) if scored.size else None,
        "verifier": verifier.name,
        "unknown": args.unknown,
    }
    if args.format == "healthbench":
        summary["healthbench_score_clipped_of_scored"] = _num(healthbench_dataset_score(s, unknown="skip"))
    if args.out:
        summary["out"] = args.out
    print(to_json(summary), file=sys.stderr)
    return 0


def cmd_refine(args: argparse.Namespace) -> int:
    records = load_rubrics(args.rubrics, args.format)
    pools = read_pools(args.pools, records)
    if args.pool_mode:
        config = RefineConfig.from_pool_mode(
            args.pool_mode, weight_range=tuple(args.weight_range), unknown=args.unknown
        )
        if args.rounds is not None or args.exclude_used:
            raise SystemExit("chase rubric refine: --pool-mode sets rounds and exclusion; drop --rounds/--exclude-used")
    else:
        config = RefineConfig(
            rounds=1 if args.rounds is None else args.rounds,
            exclude_used=args.exclude_used,
            weight_range=tuple(args.weight_range),
            unknown=args.unknown,
        )
    verifier = make_verifier(args)
    proposer = make_proposer(args)

    def progress(it):
        if not args.quiet:
            print(
                f"prompt {it.prompt_index} round {it.round}: {it.status}" + (f" ({it.error})" if it.error else ""),
                file=sys.stderr,
            )

    result = refine(
        [r.prompt for r in records],
        [r.rubric for r in records],
        pools,
        verifier,
        proposer,
        config,
        log_path=args.log,
        on_iteration=progress,
    )
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
    return 0


def cmd_sim_export(args: argparse.Namespace) -> int:
    import jax

    from sim.rubric_world import VerifierConfig, sample_pool

    world, _okw, rest = _split_sim_options(_options(args.world_arg, "--world-arg"), VerifierConfig)
    if rest:
        raise SystemExit(f"chase rubric sim-export: unknown --world-arg options {sorted(rest)}")
    mode = POOL_MODES[args.pool_mode]
    pools = sample_pool(world, mode.name, jax.random.key(args.seed))
    out = Path(args.out)
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
        help="rubric-world option for the sim verifier/proposer (world_seed, n_prompts, ...)",
    )
    add_llm_arguments(p)


def _score_flags(p: argparse.ArgumentParser) -> None:
    _common_flags(p)
    p.add_argument("--responses", required=True, help="JSONL of {prompt | prompt_index, response[, id]}")
    p.add_argument("--out", help="output JSONL (default: stdout)")


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
    p.add_argument("--log", help="append-only JSONL iteration log; an existing log is resumed")
    p.add_argument("--quiet", action="store_true", help="no per-iteration lines on stderr")


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


# `chase rubric NAME` through the one dispatcher; bad files, specs, logs and options -> one line, exit 2
_EXPECTED = (ValueError, RefineLogError)
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
