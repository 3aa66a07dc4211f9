"""``chase``: one entry point, one sub-command per package.

Sub-commands are imported lazily so that ``chase theory ...`` never imports torch or trl.
Every sub-command module ``chase/<name>_cli.py`` exposes ``main(argv: list[str]) -> int | None``.
The glue lives here, not in the library packages, so that ``sim`` never imports ``theory`` and
``figures`` only ever sees result files.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "theory": ("chase.theory_cli", "closed forms and exact bandits (JSON on stdout)"),
    "sim": ("chase.sim_cli", "quantile bandit and rubric world simulators"),
    "rubric": ("chase.rubric_cli", "score rubrics and refine them"),
    "rft": ("chase.rft_cli", "real RFT with TRL GRPO"),
    "judge": ("chase.judge_cli", "LLM judges: serve a local model over an OpenAI-compatible API"),
    "repro": ("chase.repro_cli", "reproduce the paper's figures and tables"),
}


def _usage() -> str:
    lines = ["usage: chase COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_mod, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"chase: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
