"""Checks of the settings of an RFT run, shared by the library and ``chase rft train`` (where they are parsed).

Every check raises ``ValueError("<field>: <what>")`` through :mod:`rewards.checks` (the one definition of these
checks): finite numbers, integers that are integers (not 4.7, not ``true``), ranges. :func:`check_fields` checks
a dataclass against its annotations; :func:`check_grpo_config`
checks the ``trl.GRPOConfig`` fields this package depends on, which TRL itself accepts unchecked (``beta: -1``,
``beta: [1, 2]``, a NaN learning rate, ``max_steps: 4.7``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rewards.checks import check_fields as _check_fields
from rewards.checks import check_value

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


def check_fields(obj: Any, bounds: dict[str, float]) -> None:
    """Check every field of an RFT settings dataclass against its annotation and the lower bounds ``bounds``
    (:func:`rewards.checks.check_fields`, errors named by the bare field, as the YAML and flags name it)."""
    _check_fields(obj, bounds, qualified=False)


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
