"""Checks of the settings of an RFT run, shared by the library and ``chase rft train`` (where they are parsed).

Every check raises ``ValueError("<field>: <what>")``: finite numbers, integers that are integers (not 4.7, not
``true``), ranges. :func:`check_fields` checks a dataclass against its annotations; :func:`check_grpo_config`
checks the ``trl.GRPOConfig`` fields this package depends on, which TRL itself accepts unchecked (``beta: -1``,
``beta: [1, 2]``, a NaN learning rate, ``max_steps: 4.7``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

__all__ = ["GRPO_RULES", "check_fields", "check_grpo_config", "check_value"]

# the GRPOConfig fields we depend on: name -> (type, lower bound, bound excluded?, upper bound)
GRPO_RULES: dict[str, tuple[str, float, bool, float]] = {
    "beta": ("float", 0, False, math.inf),
    "learning_rate": ("float", 0, True, math.inf),
    "num_train_epochs": ("float", 0, True, math.inf),
    "num_generations": ("int", 2, False, math.inf),
    "per_device_train_batch_size": ("int", 1, False, math.inf),
    "gradient_accumulation_steps": ("int", 1, False, math.inf),
    "steps_per_generation": ("int", 1, False, math.inf),
    "num_iterations": ("int", 1, False, math.inf),
    "max_completion_length": ("int", 1, False, math.inf),
    "temperature": ("float", 0, True, math.inf),
    "top_p": ("float", 0, True, 1),
    "top_k": ("int", 0, False, math.inf),
    "epsilon": ("float", 0, True, math.inf),
    "epsilon_high": ("float", 0, True, math.inf),
    "warmup_steps": ("float", 0, False, math.inf),
    "weight_decay": ("float", 0, False, math.inf),
    "max_grad_norm": ("float", 0, False, math.inf),
    "adam_epsilon": ("float", 0, True, math.inf),
    "logging_steps": ("float", 0, True, math.inf),
    "save_steps": ("float", 0, True, math.inf),
    "save_total_limit": ("int", 0, False, math.inf),
    "seed": ("int", 0, False, math.inf),
    "dataloader_num_workers": ("int", 0, False, math.inf),
}


def check_value(name: str, value: Any, kind: str, lo: float = -math.inf, above: bool = False, hi=math.inf) -> None:
    """Raise ``ValueError("name: ...")`` unless ``value`` is of ``kind`` ('int': an integer, not a bool;
    'float': a finite int or float; 'bool'; 'str') and, for numbers, in [lo, hi] (lo excluded when ``above``)."""
    what = {"int": "an integer", "float": "a finite number", "bool": "true or false", "str": "a string"}[kind]
    if kind in ("int", "float"):
        types = (int,) if kind == "int" else (int, float)
        ok = isinstance(value, types) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > lo if above else value >= lo) and value <= hi
        what += "" if lo == -math.inf else f" {'>' if above else '>='} {lo:g}"
        what += "" if hi == math.inf else f" and <= {hi:g}"
    else:
        ok = isinstance(value, bool if kind == "bool" else str)
    if not ok:
        raise ValueError(f"{name}: must be {what}, got {value!r}")


def check_fields(obj: Any, bounds: dict[str, float]) -> None:
    """Check every field of a dataclass against its annotation ('int', 'float', 'bool', 'str', 'str | None')
    and the lower bounds ``bounds``."""
    hints = typing.get_type_hints(type(obj))  # not ``Field.type``: HfArgumentParser rewrites ``str | None`` to str
    for f in dataclasses.fields(obj):
        kind = hints[f.name].__name__ if isinstance(hints[f.name], type) else str(hints[f.name])
        value = getattr(obj, f.name)
        if not (value is None and kind.endswith(" | None")):
            check_value(f.name, value, kind.removesuffix(" | None"), bounds.get(f.name, -math.inf))


def check_grpo_config(config) -> None:
    """Check the ``GRPOConfig`` fields we depend on (:data:`GRPO_RULES`; None is fine where TRL's default is
    None). ``max_steps`` is -1 (train ``num_train_epochs``) or a positive integer."""
    from trl import GRPOConfig

    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    for name, (kind, lo, above, hi) in GRPO_RULES.items():
        value = getattr(config, name, None)
        if not (value is None and defaults.get(name) is None):
            check_value(name, value, kind, lo, above, hi)
    steps = config.max_steps
    if not (isinstance(steps, int) and not isinstance(steps, bool) and (steps == -1 or steps >= 1)):
        raise ValueError(f"max_steps: must be an integer >= 1, or -1 (train num_train_epochs), got {steps!r}")
