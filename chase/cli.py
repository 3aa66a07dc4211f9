"""``chase``: one entry point, one sub-command per package.

Sub-commands are imported lazily so that ``chase theory ...`` never imports torch or trl. A table maps each
name to ``(target, help)`` or to a :class:`Command`; a target is ``"module"`` (its ``main(argv)``) or
``"module:function"``, called with the remaining arguments and returning an exit code (``None`` = 0).
:func:`dispatch` is the one dispatcher of every command level (``chase``, ``chase sim``, ``chase repro``, ...),
so every usage text looks alike, and :func:`main` is the one error boundary (one line and exit 2 for a user's
error, a traceback only for a bug or under ``--debug``).
The glue lives here, not in the library packages, so that ``sim`` never imports ``theory`` and
``figures`` only ever sees result files.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import NamedTuple

COMMANDS = {
    "theory": ("chase.theory_cli", "closed forms and exact bandits (JSON on stdout)"),
    "sim": ("chase.sim_cli", "quantile bandit and rubric world simulators"),
    "rubric": ("chase.rubric_cli", "score rubrics and refine them"),
    "rft": ("chase.rft_cli", "real RFT with TRL GRPO"),
    "judge": ("chase.judge_cli", "LLM judges: serve a local model over an OpenAI-compatible API"),
    "diagnose": ("chase.diagnose_cli", "predict over-optimization from scored base-policy samples"),
    "repro": ("chase.repro_cli", "regenerate the reports in docs/ from cached runs"),
}


class Parser(argparse.ArgumentParser):
    """argparse with the one-line error contract: a usage error prints ``PROG: error: MESSAGE (see PROG --help)``
    on one line of stderr and exits 2 (argparse's default adds the usage block above it)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


class Command(NamedTuple):
    """A sub-command whose module is already imported: ``flags(parser)`` adds its flags, ``run(args)`` runs it
    (returns an exit code or None), and errors of the ``expected`` types become one line on stderr and exit 2."""

    flags: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
    help: str
    expected: tuple[type[BaseException], ...] = (ValueError,)


Table = dict[str, "tuple[str, str] | Command"]


def _help(entry: tuple[str, str] | Command) -> str:
    return entry.help if isinstance(entry, Command) else entry[1]


def _usage(prog: str, table: Table, what: str) -> str:
    debug = " [--debug]" if prog == "chase" else ""
    lines = [f"usage: {prog}{debug} {what.upper()} [ARGS...]", "", f"{what}s:"]
    width = max(8, *(len(n) for n in table))
    lines += [f"  {name:<{width}}  {_help(entry)}" for name, entry in table.items()]
    return "\n".join(lines)


def dispatch(argv: list[str], table: Table, prog: str, what: str) -> int:
    """Run ``table[argv[0]]`` with ``argv[1:]``: a :class:`Command` through :func:`run_subcommand`, or a
    ``("module[:function]", help)`` target imported only now. Usage on -h; exit 2 for an unknown name."""
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(prog, table, what))
        return 0
    if argv[0] not in table:
        names = ", ".join(table)
        print(f"{prog}: error: unknown {what} {argv[0]!r}; choose from {names} (see {prog} --help)", file=sys.stderr)
        return 2
    entry = table[argv[0]]
    if isinstance(entry, Command):
        return run_subcommand(f"{prog} {argv[0]}", entry.help, entry.flags, entry.run, argv[1:], entry.expected)
    module, _, function = entry[0].partition(":")
    return int(getattr(importlib.import_module(module), function or "main")(argv[1:]) or 0)


def run_subcommand(
    prog: str,
    description: str,
    add_flags: Callable[[argparse.ArgumentParser], None],
    command: Callable[[argparse.Namespace], int | None],
    argv: list[str],
    expected: tuple[type[BaseException], ...] = (ValueError,),
) -> int:
    """Parse ``argv`` with the flags ``add_flags`` adds, run ``command(args)`` and return its exit code.

    The error boundary of a sub-command: argparse errors print usage and give 2 (``--help`` gives 0); an
    ``expected`` error (bad values, unreadable files, ...) prints ``PROG: error: MESSAGE`` on one line of stderr
    and gives 2. Anything else is a bug and keeps its traceback.
    """
    p = Parser(prog=prog, description=description)
    add_flags(p)
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage + the error on stderr (or --help on stdout)
        return int(exc.code or 0)
    try:
        return int(command(args) or 0)
    except expected as exc:
        if debugging():
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2


# Errors a user can cause and fix (bad values, unreadable or unwritable files, an unreachable server, a broken
# database file): one line and exit 2. Anything else is a bug in chasing-tail and keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, sqlite3.Error, json.JSONDecodeError)
DEBUG_ENV = "CHASE_DEBUG"


def debugging() -> bool:
    """True under ``chase --debug ...`` or ``CHASE_DEBUG=1``: expected errors then show their traceback."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(exc: BaseException) -> str:
    """The error as one line: the message (or the type for an empty one), newlines folded."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """``chase [--debug] COMMAND ...``: the one error boundary. Expected errors (:data:`EXPECTED_ERRORS`) that a
    command did not report itself print ``chase COMMAND: error: ...`` on one line and exit 2 (``--debug`` or
    ``CHASE_DEBUG=1`` shows the traceback instead); Ctrl-C exits 130 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = os.environ.get(DEBUG_ENV)
    if argv[:1] == ["--debug"]:
        argv = argv[1:]
        os.environ[DEBUG_ENV] = "1"  # seen by the inner boundaries (run_subcommand); restored below
    try:
        return _guarded(argv)
    finally:
        if previous is None:
            os.environ.pop(DEBUG_ENV, None)
        else:
            os.environ[DEBUG_ENV] = previous


def _guarded(argv: list[str]) -> int:
    try:
        return dispatch(argv, COMMANDS, "chase", "command")
    except BrokenPipeError:  # `chase ... | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except EXPECTED_ERRORS as exc:
        if debugging():
            raise
        words = argv[:2] if len(argv) > 1 and not argv[1].startswith("-") else argv[:1]
        where = " ".join(["chase", *words])
        print(f"{where}: error: {one_line(exc)} (run with --debug for the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chase: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
