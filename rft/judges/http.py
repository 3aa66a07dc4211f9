"""The OpenAI-compatible HTTP judge: :class:`OpenAICompatibleJudge` over :class:`rft.judges.client.ChatClient`.

TRL: ``judge.averify_many(items)`` is a coroutine, so an async reward function (TRL 1.16 runs those on its
own daemon event loop with ``asyncio.gather``) can await it; ``verify_many`` is the sync form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.rubric import Rubric
from rft.cache import VerdictCache
from rft.judges.base import Job, JudgeBase, accept_verdicts
from rft.judges.client import ChatClient, ChatConfig, JudgeStats, run_coroutine_sync
from rft.judges.parse import ParsedVerdicts
from rft.judges.prompt import PROMPT_VERSION, build_judge_messages

__all__ = ["JudgeConfig", "OpenAICompatibleJudge"]


@dataclass(frozen=True)
class JudgeConfig(ChatConfig):
    """:class:`ChatConfig` plus ``criteria_per_call``: None sends all criteria of a response in one call (the
    paper's verifier); k splits them into calls of at most k (1 = one call per criterion, as HealthBench's
    grader does)."""

    criteria_per_call: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.criteria_per_call is not None and self.criteria_per_call < 1:
            raise ValueError("criteria_per_call must be None or >= 1")


class OpenAICompatibleJudge(JudgeBase):
    """A :class:`rewards.verify.Verifier` backed by any OpenAI-compatible chat-completions server.

    ``OpenAICompatibleJudge(JudgeConfig(base_url=..., model=...), cache=VerdictCache(path))``. Use
    ``verify_many`` from sync code and ``await averify_many`` from async code (TRL async reward functions).
    """

    def __init__(self, config: JudgeConfig, cache: VerdictCache | None = None):
        self.config = config
        self.name = f"openai:{config.model}"
        self.judge_id = f"{config.model}|{PROMPT_VERSION}"
        self.cache = cache
        self.criteria_per_call = config.criteria_per_call
        self.stats = JudgeStats()
        self.client = ChatClient(config, self.stats)

    async def _run_job(self, job: Job) -> ParsedVerdicts | None:
        messages = build_judge_messages(job.prompt, job.response, job.criteria)
        outcome = await self.client.acomplete(messages, accept_verdicts(len(job.criteria)), label=self.name)
        return outcome.value

    async def averify_many(self, items: Sequence[tuple[Any, Any, Rubric]]) -> list[np.ndarray]:
        """Coroutine form of :meth:`verify_many` (cache reads/writes run in a worker thread)."""
        plan = await asyncio.to_thread(self._plan, items)
        results = await asyncio.gather(*(self._run_job(j) for j in plan.jobs))
        return await asyncio.to_thread(self._finish, plan, results)

    def verify_many(self, items: Sequence[tuple[Any, Any, Rubric]]) -> list[np.ndarray]:
        """One (C,) int8 array per item, in order; uncached criteria of all items are judged concurrently."""
        return run_coroutine_sync(lambda: self.averify_many(items))

    def close(self) -> None:
        self.client.close()
