"""The machinery both judges share: cache lookup, de-duplication, chunking into calls, and assembly.

A judge follows :class:`rewards.verify.Verifier`: one call per response covers all its criteria (or chunks of
``criteria_per_call``). Verdicts are cached in a :class:`rft.cache.VerdictCache` under (judge id = model +
:data:`rft.judges.prompt.PROMPT_VERSION`, prompt, response, criterion), so repeated scoring and resumed runs
cost no calls. UNKNOWN (-1) is never cached, so a rerun asks again only for what is missing; a criterion the
judge could not score stays UNKNOWN, which :meth:`rewards.rubric.Rubric.score` turns into NaN (never NO).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewards.rubric import UNKNOWN, Rubric, stable_hash
from rft.cache import VerdictCache, verdict_key
from rft.judges.client import JudgeStats
from rft.judges.parse import ParsedVerdicts, parse_verdicts
from rft.judges.prompt import render_text

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One judge call: a response and the criteria texts it asks about, and the items whose verdicts it fills."""

    prompt: str
    response: str
    criteria: tuple[str, ...]
    targets: list[tuple[int, list[int]]] = field(default_factory=list)  # (item, criterion indices) it fills


@dataclass
class Plan:
    """A batch after the cache: verdicts so far, cache keys, and the calls still to make."""

    out: list[np.ndarray]  # one (C,) int8 per item, UNKNOWN until filled
    keys: list[list[str] | None]  # cache keys per item and criterion (None: unscorable item)
    jobs: list[Job]
    hits: int = 0  # criteria served from the cache


_Wanted = tuple[int, str, str, Rubric]  # (item index, prompt text, response text, rubric)


class JudgeBase:
    """Cache + planning + assembly; subclasses provide the calls. ``judge_id`` = model + prompt version."""

    name: str
    judge_id: str
    cache: VerdictCache | None
    criteria_per_call: int | None
    stats: JudgeStats

    def _render(
        self, items: Sequence[tuple[Any, Any, Rubric]]
    ) -> tuple[list[np.ndarray], list[list[str] | None], list[_Wanted]]:
        """All-UNKNOWN verdicts, cache keys, and the gradable items (the ones with a response)."""
        out, keys, wanted = [], [], []
        for prompt, response, rubric in items:
            if not isinstance(rubric, Rubric):
                raise TypeError(f"{self.name}: expected a Rubric, got {type(rubric).__name__}")
            out.append(np.full(len(rubric.criteria), UNKNOWN, dtype=np.int8))
            p, r = render_text(prompt), render_text(response)
            if r is None:  # no response: nothing to grade (UNKNOWN, never NO)
                keys.append(None)
                continue
            p = "" if p is None else p
            keys.append([verdict_key(self.judge_id, p, r, c.text) for c in rubric.criteria])
            wanted.append((len(out) - 1, p, r, rubric))
        return out, keys, wanted

    def _jobs(
        self, out: list[np.ndarray], keys: list[list[str] | None], wanted: list[_Wanted], found: dict[str, int]
    ) -> list[Job]:
        """Fill cached verdicts into ``out``; the rest become calls, identical calls asked once."""
        jobs: dict[str, Job] = {}
        for k, p, r, rubric in wanted:
            missing = []
            for i, key in enumerate(keys[k]):
                if key in found:
                    out[k][i] = found[key]
                else:
                    missing.append(i)
            step = self.criteria_per_call or max(len(missing), 1)
            for s in range(0, len(missing), step):
                idx = missing[s : s + step]
                texts = tuple(rubric.criteria[i].text for i in idx)
                jid = stable_hash([p, r, list(texts)])
                job = jobs.get(jid)
                if job is None:
                    job = jobs[jid] = Job(p, r, texts)
                job.targets.append((k, idx))
        return list(jobs.values())

    def _plan(self, items: Sequence[tuple[Any, Any, Rubric]]) -> Plan:
        out, keys, wanted = self._render(items)
        all_keys = [k for ks in keys if ks for k in ks]
        found: dict[str, int] = {}
        if self.cache is not None and all_keys:
            found = self.cache.get_many(all_keys)
        jobs = self._jobs(out, keys, wanted, found)
        hits = sum(1 for ks in keys if ks for key in ks if key in found)
        self.stats.add(
            items=len(items),
            criteria=sum(len(o) for o in out),
            cache_hits=hits,
            cache_misses=len(all_keys) - hits,
            calls=len(jobs),
        )
        return Plan(out, keys, jobs, hits)

    def _finish(self, plan: Plan, results: Sequence[ParsedVerdicts | None]) -> list[np.ndarray]:
        rows = []
        for job, res in zip(plan.jobs, results, strict=True):
            if res is None:
                self.stats.add(failed_calls=1)
                continue
            self.stats.add(repaired=int(res.repaired), missing=res.n_missing)
            for k, idx in job.targets:
                plan.out[k][idx] = res.verdicts
                rows.extend(
                    (plan.keys[k][i], self.judge_id, int(v))
                    for i, v in zip(idx, res.verdicts, strict=True)
                    if v != UNKNOWN
                )
        if self.cache is not None and rows:
            self.cache.put_many(rows)
        n_unk = sum(int((o == UNKNOWN).sum()) for o in plan.out)
        n_items = sum(1 for o in plan.out if (o == UNKNOWN).any())
        self.stats.add(unscored_criteria=n_unk, unscored_items=n_items)
        level = logging.WARNING if n_unk else logging.INFO
        logger.log(
            level,
            "%s: %d items, %d calls, %d cache hits, %d unscored criteria in %d items "
            "(failed attempts so far by kind: %s)",
            self.name,
            len(plan.out),
            len(plan.jobs),
            plan.hits,
            n_unk,
            n_items,
            dict(self.stats.errors) or "none",
        )
        return plan.out

    def verify(self, prompt: Any, response: Any, rubric: Rubric) -> np.ndarray:
        """(C,) int8 verdicts for one response (one call covers all criteria unless ``criteria_per_call``)."""
        return self.verify_many([(prompt, response, rubric)])[0]


def accept_verdicts(n: int) -> Callable[[str], ParsedVerdicts | None]:
    """A :meth:`rft.judges.client.ChatClient.acomplete` ``accept`` for ``n`` criteria: a reply with no
    readable verdict is rejected (so the client retries it); one with some verdicts is kept."""

    def accept(text: str) -> ParsedVerdicts | None:
        res = parse_verdicts(text, n)
        return res if res.ok else None

    return accept
