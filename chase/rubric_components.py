"""Verifiers and proposers for ``chase rubric``: the registries, their factories and their options.

``make_verifier(args)`` / ``make_proposer(args)`` look the name up in :data:`VERIFIERS` / :data:`PROPOSERS`, or
import ``module:factory``, and call ``factory(options)`` with the ``--judge-arg`` / ``--proposer-arg`` options
(values parsed as JSON when they parse, else strings). The simulated ones (``sim``) also take the
``--world-arg`` options (``world_seed`` and :class:`sim.rubric_world.WorldConfig` fields, shared by both, so
they live in one world; a ``--judge-arg``/``--proposer-arg`` of the same key wins). Options that would have no
effect are errors (:class:`OptionError`), never silently ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
from collections.abc import Callable
from typing import Any

from chase.judge_cli import llm_options
from rewards.refine import Proposer
from rewards.verify import RuleVerifier, Verifier

__all__ = [
    "PROPOSERS",
    "VERIFIERS",
    "OptionError",
    "check_unused_options",
    "make_proposer",
    "make_verifier",
    "register_proposer",
    "register_verifier",
    "sim_world",
    "world_options",
]

Factory = Callable[[dict[str, Any]], Any]


class OptionError(ValueError):
    """A command-line option that is malformed, unknown, or has no effect with the chosen judge/proposer."""


def _rule_verifier(options: dict[str, Any]) -> Verifier:
    opts = dict(options)
    timeout = opts.pop("regex_timeout_s", None)
    if opts:
        raise OptionError(
            f"the rule verifier takes no options other than regex_timeout_s, got {sorted(opts)}; drop --judge-arg"
        )
    return RuleVerifier() if timeout is None else RuleVerifier(regex_timeout_s=timeout)


def _world_fields() -> set[str]:
    from sim.rubric_world import WorldConfig

    return {"world_seed"} | {f.name for f in dataclasses.fields(WorldConfig)}


@functools.lru_cache(maxsize=8)  # a verifier and a proposer built from the same options share one world; bounded
def _cached_world(world_seed: int, world_json: str):
    import jax

    from sim.rubric_world import WorldConfig, make_world

    try:
        config = WorldConfig(**dict(json.loads(world_json)))
        return make_world(jax.random.key(world_seed), config)
    except (TypeError, ValueError) as e:
        given = ", ".join(f"{k}={v!r}" for k, v in json.loads(world_json)) or "(defaults)"
        raise OptionError(f"bad rubric-world options {given} (--world-arg or a sim --judge-arg): {e}") from None


def sim_world(options: dict[str, Any], own: type | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(world, own-config kwargs, the rest) from flat options: ``world_seed`` and WorldConfig fields pick the
    world (cached, so a verifier and a proposer built from the same options share it), fields of ``own`` go to
    its config."""
    from sim.rubric_world import WorldConfig

    opts = dict(options)
    world_seed = opts.pop("world_seed", 0)
    if isinstance(world_seed, bool) or not isinstance(world_seed, int):
        raise OptionError(f"world_seed must be an integer, got {world_seed!r}")
    wf = {f.name for f in dataclasses.fields(WorldConfig)}
    of = {f.name for f in dataclasses.fields(own)} if own is not None else set()
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
        raise OptionError(f"bad halo {value!r}: {e}") from None


def _sim_verifier(options: dict[str, Any]) -> Verifier:
    # imported lazily: sim needs jax, and `chase rubric score` with the rule verifier must not pay for it
    from sim.rubric_world import SimVerifier, VerifierConfig

    world, okw, rest = sim_world(options, VerifierConfig)
    if "halo" in okw:  # halo=0.3 or halo={"strength": 0.3, "trigger": ["signature_phrase"]}
        okw["halo"] = _halo(okw["halo"])
    seed = rest.pop("seed", None)
    perfect = bool(rest.pop("perfect", False))
    if rest:
        raise OptionError(f"sim verifier: unknown options {sorted(rest)}")
    try:
        return SimVerifier(world, VerifierConfig.perfect() if perfect else VerifierConfig(**okw), seed=seed)
    except TypeError as e:
        raise OptionError(f"sim verifier: bad options: {e}") from None


def _sim_proposer(options: dict[str, Any]) -> Proposer:
    from sim.rubric_world import JudgeConfig, ProposerConfig, make_proposer

    world, okw, rest = sim_world(options, ProposerConfig)
    seed = rest.pop("seed", None)
    judge_error = rest.pop("judge_error", JudgeConfig().error)
    if rest:
        raise OptionError(f"sim proposer: unknown options {sorted(rest)}")
    try:
        return make_proposer(world, ProposerConfig(**okw), JudgeConfig(float(judge_error)), seed=seed)
    except TypeError as e:
        raise OptionError(f"sim proposer: bad options: {e}") from None


def _embedding_verifier(options: dict[str, Any]) -> Verifier:
    opts = dict(options)
    allowed = {"model", "threshold", "device"}
    if set(opts) - allowed:
        raise OptionError(f"the embedding verifier takes only {sorted(allowed)}, got {sorted(set(opts) - allowed)}")
    from rft.embedding import EmbeddingVerifier  # torch: imported only when named

    return EmbeddingVerifier(**opts)


VERIFIERS: dict[str, Factory] = {"rule": _rule_verifier, "sim": _sim_verifier, "embedding": _embedding_verifier}
PROPOSERS: dict[str, Factory] = {"sim": _sim_proposer}


def _llm_component(name: str) -> Factory:
    # LLM judges/proposers (rft) are built by chase/judge_cli.py, imported only when named
    def factory(options: dict[str, Any]):
        return getattr(importlib.import_module("chase.judge_cli"), name)(options)

    return factory


LLM_NAMES = ("openai", "transformers")
VERIFIERS.update(openai=_llm_component("openai_verifier"), transformers=_llm_component("transformers_verifier"))
PROPOSERS["openai"] = _llm_component("openai_proposer")


def register_verifier(name: str, factory: Factory) -> None:
    """Make ``--judge NAME`` build a verifier with ``factory(options)``."""
    VERIFIERS[name] = factory


def register_proposer(name: str, factory: Factory) -> None:
    """Make ``--proposer NAME`` build a proposer with ``factory(options)``."""
    PROPOSERS[name] = factory


def options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict; values parsed as JSON when they parse, else kept as strings."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key in out:
            raise OptionError(f"{flag} {key} is given twice")
        try:
            out[key] = json.loads(value)
        except (ValueError, RecursionError):
            out[key] = value
    return out


def world_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--world-arg`` options, each key checked against ``world_seed`` and the WorldConfig fields."""
    opts = options(getattr(args, "world_arg", None), "--world-arg")
    if opts:
        known = _world_fields()
        bad = sorted(set(opts) - known)
        if bad:
            raise OptionError(f"--world-arg: unknown key(s) {bad}; known: {sorted(known)}")
    return opts


def check_unused_options(args: argparse.Namespace, names: list[str]) -> None:
    """Refuse options that no chosen component (``names``: the --judge and --proposer given) reads."""
    if getattr(args, "world_arg", None) and "sim" not in names:
        raise OptionError(
            f"--world-arg configures the simulated rubric world of --judge sim / --proposer sim and has no effect "
            f"with {' / '.join(names)}; drop it"
        )
    llm = llm_options(args)
    if llm and not set(names) & set(LLM_NAMES):
        flags = ", ".join("--judge-cache" if k == "cache" else "--" + k.replace("_", "-") for k in llm)
        raise OptionError(
            f"{flags} only apply to the LLM judges/proposers ({', '.join(LLM_NAMES)}), not to {' / '.join(names)}; "
            "drop them or choose an LLM --judge/--proposer"
        )


def _resolve(name: str, registry: dict[str, Factory], kind: str) -> Factory:
    if name in registry:
        return registry[name]
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise OptionError(f"cannot load {kind} factory {name!r}: {e}") from None
    raise OptionError(f"unknown {kind} {name!r}; known: {sorted(registry)} or module:factory")


def _component_options(args: argparse.Namespace, name: str, flag: str, attr: str) -> dict[str, Any]:
    opts = options(getattr(args, attr, None), flag)
    if name in LLM_NAMES:  # --base-url/--model/... apply; --judge-arg wins
        opts = {**llm_options(args), **opts}
    elif name == "sim":  # the shared world; --judge-arg / --proposer-arg win
        opts = {**world_options(args), **opts}
    return opts


def make_verifier(args: argparse.Namespace) -> Verifier:
    """The verifier named by ``args.judge`` (default "rule") with ``args.judge_arg`` options."""
    name = getattr(args, "judge", None) or "rule"
    return _resolve(name, VERIFIERS, "verifier")(_component_options(args, name, "--judge-arg", "judge_arg"))


def make_proposer(args: argparse.Namespace) -> Proposer:
    """The proposer named by ``args.proposer`` with ``args.proposer_arg`` options."""
    opts = _component_options(args, args.proposer, "--proposer-arg", "proposer_arg")
    return _resolve(args.proposer, PROPOSERS, "proposer")(opts)
