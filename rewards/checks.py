"""Checks shared by every config dataclass, so the library and the command line reject the same values.

- :func:`check_fields`: every float field (and every float in a tuple field) is finite, every int field holds a
  whole number (not a float, not a bool). NaN would otherwise slip through range checks such as ``lr <= 0``
  (every comparison with NaN is False), and ``inf`` would run a job that cannot mean anything.
- :func:`check_memory`: refuse a size whose arrays would not fit, with an estimate, before allocating anything.
  The limit is ``CHASE_MAX_BYTES`` (bytes) or :data:`DEFAULT_MAX_BYTES`.

Both raise ``ValueError`` with ``Class.field=value: what is wrong``, which the command line prints as one line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_BYTES", "check_fields", "check_memory", "max_bytes"]

DEFAULT_MAX_BYTES = 8 * 2**30  # a third of the 24 GiB machines this project runs on


def _is_whole(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _check_value(owner: str, name: str, tp: Any, value: Any) -> None:
    where = f"{owner}.{name}={value!r}"
    if tp is float or tp == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not math.isfinite(value):
            raise ValueError(f"{where}: must be a finite number")
    elif tp is int or tp == "int":
        if not _is_whole(value):
            raise ValueError(f"{where}: must be a whole number")
    elif typing.get_origin(tp) is tuple and isinstance(value, tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and args[0] in (int, float):
            for i, v in enumerate(value):
                _check_value(owner, f"{name}[{i}]", args[0], v)


def check_fields(obj: Any) -> None:
    """Validate the float / int / tuple-of-number fields of the dataclass instance ``obj`` (see module doc).
    Fields typed ``X | None`` are checked only when not None."""
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(obj):
        tp, value = hints.get(f.name), getattr(obj, f.name)
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            continue
        if len(args) == 2 and type(None) in args:  # X | None with a value: check it as an X
            tp = next(a for a in args if a is not type(None))
        _check_value(cls.__name__, f.name, tp, value)


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
