"""Checks shared by every config dataclass, so the library and the command line reject the same values.

- :func:`check_fields` / :func:`check_value`: every float field (and every float in a tuple field) is finite,
  every int field holds a whole number (not a float, not a bool), bool and str fields hold bools and strings,
  optional lower bounds hold. NaN would otherwise slip through range checks such as ``lr <= 0``
  (every comparison with NaN is False), and ``inf`` would run a job that cannot mean anything.
- :func:`check_memory`: refuse a size whose arrays would not fit, with an estimate, before allocating anything.
  The limit is ``CHASE_MAX_BYTES`` (bytes) or :data:`DEFAULT_MAX_BYTES`.

All raise ``ValueError("Class.field: must be ..., got value")``, which the command line prints as one line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_BYTES", "check_fields", "check_memory", "check_value", "max_bytes"]

DEFAULT_MAX_BYTES = 8 * 2**30  # a third of the 24 GiB machines this project runs on


def check_value(name: str, value: Any, kind: str, lo: float = -math.inf, above: bool = False, hi=math.inf) -> None:
    """Raise ``ValueError("name: must be ..., got value")`` unless ``value`` is of ``kind`` ('int': a whole number,
    not a bool or a float; 'float': a finite number; 'bool'; 'str') and, for numbers, in [lo, hi] (lo excluded
    when ``above``)."""
    what = {"int": "a whole number", "float": "a finite number", "bool": "true or false", "str": "a string"}[kind]
    if kind in ("int", "float"):
        types = (int, np.integer) if kind == "int" else (int, float, np.integer, np.floating)
        ok = isinstance(value, types) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > lo if above else value >= lo) and value <= hi
        what += "" if lo == -math.inf else f" {'>' if above else '>='} {lo:g}"
        what += "" if hi == math.inf else f" and <= {hi:g}"
    else:
        ok = isinstance(value, bool if kind == "bool" else str)
    if not ok:
        raise ValueError(f"{name}: must be {what}, got {value!r}")


_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}


def _check_typed(name: str, tp: Any, value: Any, lo: float) -> None:
    if tp in _KINDS:
        check_value(name, value, _KINDS[tp], lo)
    elif typing.get_origin(tp) is tuple and isinstance(value, tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and args[0] in _KINDS:
            for i, v in enumerate(value):
                check_value(f"{name}[{i}]", v, _KINDS[args[0]], lo)


def check_fields(obj: Any, bounds: dict[str, float] | None = None, qualified: bool = True) -> None:
    """Check the int / float / bool / str (and tuple-of-number) fields of the dataclass instance ``obj`` against
    their annotations, and against the lower bounds ``bounds`` (field -> bound). ``X | None`` fields may be None.
    Errors name ``Class.field`` (or just ``field`` when not ``qualified``). Other field types are left to the
    class's own checks."""
    cls = type(obj)
    hints = typing.get_type_hints(cls)  # resolved annotations (with ``from __future__ import annotations``)
    for f in dataclasses.fields(obj):
        tp, value = hints.get(f.name), getattr(obj, f.name)
        args = typing.get_args(tp)
        if type(None) in args:
            if value is None:
                continue
            if len(args) == 2:  # X | None with a value: check it as an X
                tp = next(a for a in args if a is not type(None))
        name = f"{cls.__name__}.{f.name}" if qualified else f.name
        _check_typed(name, tp, value, (bounds or {}).get(f.name, -math.inf))


def max_bytes() -> int:
    """The memory limit for one job's arrays: ``CHASE_MAX_BYTES`` if set (a positive integer), else the default."""
    text = os.environ.get("CHASE_MAX_BYTES")
    if text is None:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"CHASE_MAX_BYTES={text!r}: must be a whole number of bytes") from None
    if value <= 0:
        raise ValueError(f"CHASE_MAX_BYTES={text!r}: must be positive")
    return value


def check_memory(nbytes: float, what: str, hint: str) -> None:
    """Raise ``ValueError`` when ``what`` needs more than :func:`max_bytes` (``nbytes`` an estimate, float so
    that huge products do not overflow); ``hint`` says which settings to lower."""
    limit = max_bytes()
    if nbytes > limit:
        raise ValueError(
            f"{what} would need about {nbytes / 2**30:.3g} GiB (limit {limit / 2**30:.3g} GiB, "
            f"env CHASE_MAX_BYTES); {hint}"
        )
