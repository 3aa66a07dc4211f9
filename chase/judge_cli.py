"""``chase judge``: serve a local model over an OpenAI-compatible API; build LLM judges/proposers for the CLI.

    chase judge serve --model PATH [--gguf-file FILE] [--host 127.0.0.1] [--port 8000] [--latency-ms 0]
                      [--batch-size 8] [--max-new-tokens 256] [--served-model-name NAME] [--device cpu]
    chase judge serve --oracle [--port 8000] [--latency-ms 50]      # no model: deterministic test judge
    limits: [--max-body-bytes 8388608] [--request-timeout-s 10] [--idle-timeout-s 30] [--max-connections 128]

The server prints one JSON line (``{"base_url": ..., "model": ...}``) when it is listening, then serves
``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /health`` until interrupted. A bad option (port out
of range or in use, unknown host, negative or NaN latency, missing model folder, ...) is one line on stderr
(``chase judge serve: error: ...``) and exit 2.

This module also supplies the ``openai`` and ``transformers`` verifiers and the ``openai`` proposer of
``chase rubric`` (:func:`openai_verifier`, :func:`transformers_verifier`, :func:`openai_proposer`, registered
there), and the shared flags ``--base-url --model --api-key-env --judge-cache`` (:func:`add_llm_arguments`,
:func:`llm_options`). ``--judge-arg`` / ``--proposer-arg`` KEY=VALUE options override them per component,
e.g. a cheaper verifier model than the proposer's: ``--judge-arg model=gpt-4.1-mini``.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

from chase.cli import Command, dispatch
from rewards.io import emit

__all__ = ["add_llm_arguments", "llm_options", "main", "openai_proposer", "openai_verifier", "transformers_verifier"]


# ----------------------------------------------------------------------------------------------------------------
# factories for chase rubric (options: a dict of KEY=VALUE settings)


def _config(cls: type, options: dict[str, Any], what: str, extra: tuple[str, ...] = ()) -> tuple[Any, dict]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - names - set(extra))
    if unknown:
        raise SystemExit(f"chase: unknown {what} option(s) {unknown}; known: {sorted(names | set(extra))}")
    kw = {k: v for k, v in options.items() if k in names}
    if "weight_range" in kw:
        kw["weight_range"] = tuple(kw["weight_range"])
    try:
        return cls(**kw), {k: v for k, v in options.items() if k in extra}
    except (TypeError, ValueError) as e:
        raise SystemExit(f"chase: bad {what} options: {e}") from None


def openai_verifier(options: dict[str, Any]):
    """``--judge openai``: :class:`rft.judges.OpenAICompatibleJudge`; options are :class:`rft.judges.JudgeConfig`
    fields plus ``cache`` (a SQLite verdict cache path)."""
    from rft.cache import VerdictCache
    from rft.judges import JudgeConfig, OpenAICompatibleJudge

    config, extra = _config(JudgeConfig, options, "openai judge", ("cache",))
    cache = VerdictCache(extra["cache"]) if extra.get("cache") else None
    return OpenAICompatibleJudge(config, cache=cache)


def transformers_verifier(options: dict[str, Any]):
    """``--judge transformers``: :class:`rft.judges.TransformersJudge`; options ``model`` (a local folder),
    ``gguf_file``, ``device``, ``batch_size``, ``max_new_tokens``, ``criteria_per_call``, ``cache``."""
    from rft.cache import VerdictCache
    from rft.judges import TransformersJudge

    known = {"model", "gguf_file", "device", "batch_size", "max_new_tokens", "criteria_per_call", "cache"}
    # the shared LLM flags also carry HTTP settings; a local judge has no use for them
    opts = {k: v for k, v in options.items() if k not in ("base_url", "api_key_env")}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise SystemExit(f"chase: unknown transformers judge option(s) {unknown}; known: {sorted(known)}")
    if not opts.get("model"):
        raise SystemExit("chase: --judge transformers needs --model PATH (or --judge-arg model=PATH)")
    cache = VerdictCache(opts["cache"]) if opts.get("cache") else None
    return TransformersJudge.from_pretrained(
        opts["model"],
        gguf_file=opts.get("gguf_file"),
        device=opts.get("device", "cpu"),
        batch_size=int(opts.get("batch_size", 8)),
        max_new_tokens=int(opts.get("max_new_tokens", 256)),
        criteria_per_call=opts.get("criteria_per_call"),
        cache=cache,
    )


def openai_proposer(options: dict[str, Any]):
    """``--proposer openai``: :class:`rft.proposer.OpenAICompatibleProposer`; options are
    :class:`rft.proposer.ProposerConfig` fields (``cache`` is ignored: proposals are not cached)."""
    from rft.proposer import OpenAICompatibleProposer, ProposerConfig

    options = {k: v for k, v in options.items() if k != "cache"}
    config, _ = _config(ProposerConfig, options, "openai proposer")
    return OpenAICompatibleProposer(config)


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags shared by LLM judges and proposers (per-component ``--judge-arg``/``--proposer-arg`` win)."""
    g = parser.add_argument_group("LLM judge / proposer (--judge openai|transformers, --proposer openai)")
    g.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--model", help="model name sent to the server (transformers judge: a local model folder)")
    g.add_argument(
        "--api-key-env",
        help="NAME of the environment variable holding the API key "
        "(default OPENAI_API_KEY; the key itself is never logged or written)",
    )
    g.add_argument("--judge-cache", help="SQLite verdict cache file (shared across runs and processes)")
    g.add_argument("--max-concurrency", type=int, help="requests in flight at once (default 16)")


def llm_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options from the shared LLM flags that were given (empty when none were)."""
    out: dict[str, Any] = {}
    for flag, key in (
        ("base_url", "base_url"),
        ("model", "model"),
        ("api_key_env", "api_key_env"),
        ("judge_cache", "cache"),
        ("max_concurrency", "max_concurrency"),
    ):
        v = getattr(args, flag, None)
        if v is not None:
            out[key] = v
    return out


# ----------------------------------------------------------------------------------------------------------------
# chase judge serve


class ServeOptionError(ValueError):
    """A bad ``chase judge serve`` option: one line on stderr, exit 2."""


def _check_serve_args(args: argparse.Namespace) -> None:
    """Every option checked before anything slow starts (messages name the flag)."""
    from rft.judge_backends import check_number

    if not 0 <= args.port <= 65535:
        raise ServeOptionError(f"--port must be in 0..65535, got {args.port}")
    for flag, value, low in (
        ("--latency-ms", args.latency_ms, 0),
        ("--batch-wait-ms", args.batch_wait_ms, 0),
        ("--request-timeout-s", args.request_timeout_s, 0.001),
        ("--idle-timeout-s", args.idle_timeout_s, 0.001),
    ):
        try:
            check_number(flag, value, low)
        except ValueError as e:
            raise ServeOptionError(str(e)) from None
    for flag, value in (
        ("--batch-size", args.batch_size),
        ("--max-new-tokens", args.max_new_tokens),
        ("--max-body-bytes", args.max_body_bytes),
        ("--max-connections", args.max_connections),
    ):
        if value < 1:
            raise ServeOptionError(f"{flag} must be >= 1, got {value}")
    if args.model is not None and not Path(args.model).is_dir():
        raise ServeOptionError(f"--model: no such folder: {args.model}")
    if args.gguf_file is not None and (args.oracle or not (Path(args.model) / args.gguf_file).is_file()):
        where = "needs --model" if args.oracle else f"no such file in {args.model}: {args.gguf_file}"
        raise ServeOptionError(f"--gguf-file: {where}")


def _load_backend(args: argparse.Namespace):
    from rft.judge_server import OracleBackend, TransformersBackend

    if args.oracle:
        return OracleBackend()
    try:
        from rft.judges import LocalChatModel

        lm = LocalChatModel.from_pretrained(
            args.model,
            gguf_file=args.gguf_file,
            device=args.device,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
        )
    except (OSError, ValueError, ImportError, RuntimeError) as e:  # transformers' messages run over many lines
        message = " ".join(f"{type(e).__name__}: {e}".split())
        raise ServeOptionError(f"cannot load the model in {args.model}: {message[:300]}") from None
    return TransformersBackend(lm, batch_wait_ms=args.batch_wait_ms)


def cmd_serve(args: argparse.Namespace) -> int:
    from rft.judge_server import JudgeServer, ServerLimits

    _check_serve_args(args)
    limits = ServerLimits(
        max_body_bytes=args.max_body_bytes,
        request_timeout_s=args.request_timeout_s,
        idle_timeout_s=args.idle_timeout_s,
        max_connections=args.max_connections,
    )
    server = JudgeServer(
        _load_backend(args),
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        model_name=args.served_model_name,
        limits=limits,
    )

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    emit({"base_url": server.base_url, "model": server.model_name, "latency_ms": args.latency_ms})
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _serve_flags(s: argparse.ArgumentParser) -> None:
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="local model folder (transformers format, or with --gguf-file)")
    src.add_argument("--oracle", action="store_true", help="no model: answer judge prompts deterministically")
    s.add_argument("--gguf-file", help="a GGUF file inside --model (needs the gguf package)")
    s.add_argument("--host", default="127.0.0.1", help="(default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start; default: 8000)")
    s.add_argument("--latency-ms", type=float, default=0.0, help="extra delay per request (benchmarks; default: 0)")
    s.add_argument("--batch-size", type=int, default=8, help="requests generated together (default: 8)")
    s.add_argument("--batch-wait-ms", type=float, default=5.0, help="wait this long to fill a batch (default: 5)")
    s.add_argument("--max-new-tokens", type=int, default=256, help="(default: 256)")
    s.add_argument("--device", default="cpu", help="(default: cpu)")
    s.add_argument("--served-model-name", help="model name reported to clients (default: the folder name)")
    g = s.add_argument_group("limits per client")
    g.add_argument("--max-body-bytes", type=int, default=8 << 20, help="larger request bodies get 413 (default: 8 MiB)")
    g.add_argument(
        "--request-timeout-s", type=float, default=10.0, help="a request must arrive within this (default: 10)"
    )
    g.add_argument("--idle-timeout-s", type=float, default=30.0, help="idle keep-alive connections close (default: 30)")
    g.add_argument("--max-connections", type=int, default=128, help="served at once, more get 503 (default: 128)")


COMMANDS = {
    "serve": Command(
        _serve_flags, cmd_serve, "serve a local model (or the oracle) over /v1/chat/completions", (ValueError, OSError)
    )
}


def main(argv: list[str] | None = None) -> int:
    return dispatch(list(sys.argv[1:] if argv is None else argv), COMMANDS, "chase judge", "sub-command")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
