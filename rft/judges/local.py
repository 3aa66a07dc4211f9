"""The local transformers judge: the shared prompt and parser on a :class:`rft.judges.local_model.LocalChatModel`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewards.rubric import Rubric
from rft.cache import VerdictCache
from rft.judges.base import JudgeBase
from rft.judges.client import JudgeStats
from rft.judges.local_model import LocalChatModel
from rft.judges.parse import ParsedVerdicts, parse_verdicts
from rft.judges.prompt import PROMPT_VERSION, build_judge_messages

__all__ = ["TransformersJudge"]


class TransformersJudge(JudgeBase):
    """A :class:`rewards.verify.Verifier` running a local chat model (:class:`LocalChatModel`): the same prompt
    and parser as :class:`OpenAICompatibleJudge`, greedy decoding, batched. A reply that does not parse, or a
    prompt longer than the model's ``max_input_tokens``, gives UNKNOWN for that call's criteria (no retry:
    greedy decoding would give the same reply).

    ``TransformersJudge(LocalChatModel(model, tokenizer), cache=...)``; the judge id (cache key) uses
    ``lm.model_id``."""

    def __init__(self, lm: LocalChatModel, *, criteria_per_call: int | None = None, cache: VerdictCache | None = None):
        self.lm = lm
        self.name = f"transformers:{lm.model_id}"
        self.judge_id = f"{lm.model_id}|{PROMPT_VERSION}"
        self.criteria_per_call = criteria_per_call
        self.cache = cache
        self.stats = JudgeStats()

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        *,
        gguf_file: str | None = None,
        device: str = "cpu",
        batch_size: int = 8,
        max_new_tokens: int = 256,
        **kw: Any,
    ) -> TransformersJudge:
        lm = LocalChatModel.from_pretrained(
            path, gguf_file=gguf_file, device=device, batch_size=batch_size, max_new_tokens=max_new_tokens
        )
        return cls(lm, **kw)

    def verify_many(self, items: Sequence[tuple[Any, Any, Rubric]]) -> list[np.ndarray]:
        """One (C,) int8 array per item, in order; uncached criteria are judged in batches."""
        plan = self._plan(items)
        replies = self.lm.generate([build_judge_messages(j.prompt, j.response, j.criteria) for j in plan.jobs])
        self.stats.add(requests=sum(r is not None for r in replies))
        results: list[ParsedVerdicts | None] = []
        for job, reply in zip(plan.jobs, replies, strict=True):
            if reply is None:
                self.stats.error("too_long")
                results.append(None)
                continue
            res = parse_verdicts(reply, len(job.criteria))
            if not res.ok:
                self.stats.error("unparsable")
            results.append(res if res.ok else None)
        return self._finish(plan, results)

    async def averify_many(self, items: Sequence[tuple[Any, Any, Rubric]]) -> list[np.ndarray]:
        """Runs :meth:`verify_many` in a worker thread so an event loop (TRL's) is not blocked."""
        return await asyncio.to_thread(self.verify_many, items)
