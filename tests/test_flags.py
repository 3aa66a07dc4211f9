"""chase.flags: flags generated from config dataclasses; library defaults are the only defaults."""

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from chase.flags import add_config_flags, config_from_args, field_help


@dataclass(frozen=True)
class Inner:
    """Inner settings.

    strength: how strong; a long explanation
              that continues here.
    """

    strength: float = 0.0
    trigger: tuple[str, ...] = ("a", "b")


@dataclass(frozen=True)
class Outer:
    """Outer settings.

    steps:  number of updates.
    algo:   which update rule.
    """

    steps: int = 400
    algo: Literal["grpo", "exact"] = "grpo"
    normalize: bool | None = None
    name: str = field(default="x", metadata={"help": "a name", "choices": ("x", "y")})
    inner: Inner = Inner(strength=0.5)


def _parse(argv, **kw):
    p = argparse.ArgumentParser(exit_on_error=False)
    add_config_flags(p, Outer, **kw)
    return p, p.parse_args(argv)


def test_defaults_come_from_the_library_and_only_given_flags_override():
    _, args = _parse([])
    assert config_from_args(Outer, args) == Outer()
    _, args = _parse(["--steps", "7", "--algo", "exact", "--no-normalize", "--inner-strength", "0.25"])
    cfg = config_from_args(Outer, args)
    assert cfg == Outer(steps=7, algo="exact", normalize=False, inner=Inner(strength=0.25))
    _, args = _parse(["--inner-trigger", "p,q"])
    assert config_from_args(Outer, args).inner == Inner(strength=0.5, trigger=("p", "q"))


def test_help_text_from_docstring_and_metadata_with_the_real_default():
    helps = field_help(Inner)
    assert helps["strength"] == "how strong; a long explanation that continues here."
    p, _ = _parse([])
    text = p.format_help()
    assert "--inner-strength" in text and "(default: 0.5)" in text  # the nested default, not Inner()'s 0.0
    assert "a name (default: x)" in text and "number of updates. (default: 400)" in text


@pytest.mark.parametrize(
    "argv", [["--steps", "1.5"], ["--algo", "ppo"], ["--name", "z"], ["--inner-strength", "inf"], ["--steps", "x"]]
)
def test_bad_values_are_usage_errors(argv):
    p = argparse.ArgumentParser(exit_on_error=False)
    add_config_flags(p, Outer)
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        p.parse_args(argv)


def test_exclude_and_fixed_and_unsupported_types():
    p, args = _parse([], exclude=("name", "inner.trigger"))
    assert "--name" not in p.format_help() and "--inner-trigger" not in p.format_help()
    assert config_from_args(Outer, args, steps=3).steps == 3

    @dataclass(frozen=True)
    class Bad:
        pairs: tuple[tuple[str, float], ...] = ()

    with pytest.raises(TypeError, match="no command-line form"):
        add_config_flags(argparse.ArgumentParser(), Bad)
