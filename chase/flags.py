"""Command-line flags generated from config dataclasses, so command-line and library defaults cannot drift.

    parser = argparse.ArgumentParser(prog="chase sim train")
    add_config_flags(parser, TrainConfig)                  # --algo, --steps, --lr, ... (help from the docstring)
    add_config_flags(parser, WorldConfig, prefix="world")  # --world-arms, --world-contexts, ...
    args = parser.parse_args(argv)
    cfg = config_from_args(TrainConfig, args)              # only the flags the user gave override the defaults

Every field becomes ``--[prefix-]name`` (underscores as dashes). The flag's default is ``None`` so that the
config class's own default applies when a flag is not given; ``--help`` shows that default. Help text is a
field's ``metadata["help"]``, or else its entry in the class docstring (``name: text`` lines, continuation lines
indented deeper). Supported field types: int, float (finite only), str, bool (``--x / --no-x``), ``bool | None``,
``Literal[...]`` (choices), ``tuple[int|float|str, ...]`` (comma-separated) and nested dataclasses (flags with
the field name as prefix). Anything else raises ``TypeError`` unless listed in ``exclude``, so a new field
never silently lacks a flag. ``metadata["choices"]`` restricts a str field.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

__all__ = ["add_config_flags", "config_from_args", "field_help", "finite_float"]


def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` from ``metadata["help"]`` or the class docstring's ``name: text`` entries."""
    out: dict[str, str] = {}
    doc = (cls.__doc__ or "").expandtabs()
    current, indent = None, 0
    for line in doc.splitlines():
        m = re.match(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):\s+(\S.*)$", line)
        if m and m.group(2) in {f.name for f in dataclasses.fields(cls)}:
            current, indent = m.group(2), len(m.group(1))
            out[current] = m.group(3).strip()
        elif current and line.strip() and len(line) - len(line.lstrip()) > indent:
            out[current] += " " + line.strip()
        else:
            current = None
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            out[f.name] = f.metadata["help"]
    return out


def finite_float(text: str) -> float:
    """argparse type: a finite float (``nan`` and ``inf`` are usage errors)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return x


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


_SCALARS = {int: _int, float: finite_float, str: str}


def _tuple_parser(item: Any):
    conv = _SCALARS[item]

    def parse(text: str) -> tuple:
        return tuple(conv(x.strip()) for x in text.split(",") if x.strip())

    return parse


def _optional_inner(tp: Any) -> Any:
    """``X | None`` -> X; anything else unchanged."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _flag_kwargs(name: str, tp: Any, f: dataclasses.Field) -> dict[str, Any] | None:
    """argparse keyword arguments for one field, or None when the type has no flag form."""
    inner = _optional_inner(tp)
    if inner is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(inner) is typing.Literal:
        choices = typing.get_args(inner)
        return {"type": type(choices[0]), "choices": choices}
    if inner in _SCALARS:
        kw: dict[str, Any] = {"type": _SCALARS[inner]}
        if "choices" in f.metadata:
            kw["choices"] = tuple(f.metadata["choices"])
        return kw
    if typing.get_origin(inner) is tuple:
        args = typing.get_args(inner)
        if len(args) == 2 and args[1] is Ellipsis and args[0] in _SCALARS:
            return {"type": _tuple_parser(args[0]), "metavar": "A,B,..."}
    return None


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _dest(prefix: str, name: str) -> str:
    return f"{prefix}_{name}" if prefix else name


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    prefix: str = "",
    exclude: Iterable[str] = (),
    base: Any = None,
) -> None:
    """Add one flag per field of the dataclass ``cls`` (recursing into nested dataclasses). ``prefix`` ("world")
    gives ``--world-arms`` with dest ``world_arms``; ``exclude`` names fields left out (``"halo.trigger"`` for a
    nested one); ``base`` is the instance whose values ``--help`` shows (default ``cls()``)."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    defaults = cls() if base is None else base
    group = parser.add_argument_group(f"{prefix.replace('_', '-')} ({cls.__name__})" if prefix else cls.__name__)
    skip = set(exclude)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        tp = hints[f.name]
        default = getattr(defaults, f.name)
        if dataclasses.is_dataclass(tp):
            nested = [e.split(".", 1)[1] for e in skip if e.startswith(f.name + ".")]
            add_config_flags(parser, tp, _dest(prefix, f.name), exclude=nested, base=default)
            continue
        kw = _flag_kwargs(f.name, tp, f)
        if kw is None:
            raise TypeError(f"{cls.__name__}.{f.name}: type {tp} has no command-line form; exclude it")
        flag = "--" + _dest(prefix, f.name).replace("_", "-")
        text = helps.get(f.name, "").replace("%", "%%")
        group.add_argument(
            flag, dest=_dest(prefix, f.name), default=None, help=f"{text} (default: {_default_text(default)})", **kw
        )


def config_from_args(cls: type, args: argparse.Namespace, prefix: str = "", base: Any = None, **fixed: Any) -> Any:
    """Build ``cls`` from the parsed flags: fields whose flag was not given keep ``base``'s value (default:
    ``cls()``, the library default); ``fixed`` sets fields directly (e.g. values without a flag). Raises the
    config's own ``ValueError`` for invalid combinations (callers turn it into a usage error)."""
    hints = typing.get_type_hints(cls)
    base = cls() if base is None else base
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in fixed:
            continue
        tp, dest = hints[f.name], _dest(prefix, f.name)
        if dataclasses.is_dataclass(tp):
            sub = config_from_args(tp, args, dest, base=getattr(base, f.name))
            if sub != getattr(base, f.name):
                changes[f.name] = sub
        elif getattr(args, dest, None) is not None:
            changes[f.name] = getattr(args, dest)
    return dataclasses.replace(base, **changes, **fixed)
