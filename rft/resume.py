"""Resuming a GRPO run: which checkpoint to resume from, and the one piece of state TRL does not restore.

A run killed while writing ``checkpoint-N`` leaves a folder without ``trainer_state.json`` (transformers writes
it last) or without weights; :func:`last_complete_checkpoint` skips such folders (and says so on stderr) in
favour of the newest complete one.

Exactness. transformers restores the global python / numpy / torch RNG states from ``rng_state.pth``, the
optimizer, the scheduler and the trainer state; our evaluation seeds its own sampling and leaves the global RNG
untouched (``rft.evaluate``). What is not restored is the generator of TRL's ``RepeatSampler`` (the prompt
order): it is seeded once with ``args.seed`` and draws one permutation per epoch, so a run resumed in epoch
``e > 0`` would replay epoch 0's order. :class:`SamplerEpochCallback` re-derives it at the start of every epoch
(seed, then ``e`` permutations: exactly the uninterrupted run's state), with no extra file in the checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

__all__ = ["WEIGHT_FILES", "SamplerEpochCallback", "checkpoint_problem", "last_complete_checkpoint"]

# a checkpoint's weights: the model (one file or sharded), or a LoRA adapter (peft saves only the adapter)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")


def checkpoint_problem(path: str | Path, needs_optimizer: bool = True) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from (None: it is complete)."""
    path = Path(path)
    try:
        json.loads((path / "trainer_state.json").read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no readable trainer_state.json"
    if not any((path / w).is_file() for w in WEIGHT_FILES):
        return "no model weights"
    missing = [f for f in ("optimizer.pt", "scheduler.pt") if needs_optimizer and not (path / f).is_file()]
    return f"no {', '.join(missing)}" if missing else None


def last_complete_checkpoint(run_dir: str | Path, needs_optimizer: bool = True) -> str | None:
    """The newest complete ``checkpoint-N`` in ``run_dir`` (None if there is none); every newer incomplete
    one is reported on stderr and left in place (the run overwrites it when it reaches that step again)."""
    found = []
    for d in Path(run_dir).glob("checkpoint-*"):
        step = d.name.removeprefix("checkpoint-")
        if d.is_dir() and step.isdigit():
            found.append((int(step), d))
    for _, d in sorted(found, reverse=True):
        problem = checkpoint_problem(d, needs_optimizer)
        if problem is None:
            return str(d)
        print(f"chase rft train: skipping incomplete checkpoint {d} ({problem})", file=sys.stderr)
    return None


def _repeat_sampler(dataloader):
    """TRL's RepeatSampler inside a (possibly accelerate-wrapped) dataloader, or None."""
    seen, todo = set(), [dataloader]
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if type(obj).__name__ == "RepeatSampler":
            return obj
        todo += [getattr(obj, a, None) for a in ("sampler", "batch_sampler", "base_dataloader")]
    return None


def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class SamplerEpochCallback(_callback_base()):
    """At each epoch start, set the prompt sampler's generator to the state it has in an uninterrupted run:
    seeded with its seed, then one permutation drawn per earlier epoch (see the module docstring)."""

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kw):
        sampler = _repeat_sampler(train_dataloader)
        if sampler is None or not getattr(sampler, "shuffle", False) or sampler.seed is None:
            return
        steps = max(len(train_dataloader) // args.gradient_accumulation_steps, 1)  # as transformers counts
        epoch = state.global_step // steps
        gen = torch.Generator().manual_seed(sampler.seed)
        for _ in range(epoch):
            torch.randperm(sampler.num_samples, generator=gen)
        sampler.generator.set_state(gen.get_state())
