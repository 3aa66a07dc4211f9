"""Rubric rewards as TRL 1.16 ``GRPOTrainer`` reward functions.

TRL calls a reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns,
trainer_state=..., log_extra=..., log_metric=...)`` where ``columns`` are the dataset's other columns, one
value per completion (already repeated over the group), and expects one ``float | None`` per completion.
``None`` becomes NaN in TRL: a completion that every reward function leaves unscored gets zero advantage
and is excluded from its group's baseline (``GRPOTrainer._generate_and_score_completions``). So an
unscorable completion must be ``None``, never ``0``: a 0 would be a real (bad) reward and push the policy.
``log_metric(name, value)`` accumulates scalars that TRL averages over each logging step (and across
processes) and reports next to ``reward`` and ``kl``.

The per-prompt rubric travels as a dataset column holding ``json.dumps(Rubric.to_dict())`` (a string, because
``datasets`` would turn nested dicts with varying keys into structs padded with None). One verifier call per
completion covers all its criteria (``Verifier.verify_many``). Instances are plain picklable objects (no
closures, no locks), which multi-process launches and ``datasets`` fingerprinting need.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rewards.rubric import UNKNOWN, YES, Rubric
from rewards.verify import Verifier, verify_with

__all__ = [
    "AsyncRubricReward",
    "BTReward",
    "GoldReward",
    "RubricReward",
    "completion_text",
    "criterion_key",
    "prompt_text",
    "rubric_to_column",
]


def rubric_to_column(rubric: Rubric) -> str:
    """The dataset-column form of a rubric (compact, key-sorted JSON of ``Rubric.to_dict()``)."""
    return json.dumps(rubric.to_dict(), sort_keys=True, separators=(",", ":"))


def completion_text(completion: Any) -> str | None:
    """Text of one completion: a string (standard format) or a list of messages (conversational: the
    assistant messages' contents joined). ``None`` stays ``None`` (unscorable)."""
    if completion is None or isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        parts = []
        for m in completion:
            if not isinstance(m, Mapping) or "content" not in m:
                raise TypeError(f"conversational completion must be a list of {{role, content}} dicts, got {m!r}")
            if m.get("role", "assistant") == "assistant":
                c = m["content"]
                parts.append(c if isinstance(c, str) else "".join(b.get("text", "") for b in c))
        return "\n".join(parts)
    raise TypeError(f"completion must be a string or a list of messages, got {type(completion).__name__}")


def prompt_text(prompt: Any) -> str:
    """Text of one prompt for the verifier: a string, or a chat list rendered as ``role: content`` lines."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in prompt)
    raise TypeError(f"prompt must be a string or a list of messages, got {type(prompt).__name__}")


def criterion_key(rubric: Rubric, i: int) -> str:
    """Name under which criterion ``i`` is logged: its first tag (the triage task tags criteria with their
    property name, so rates are comparable across prompts and rubric versions), else ``c{i}``."""
    tags = rubric.criteria[i].tags
    return tags[0] if tags else f"c{i}"


class RubricReward:
    """Score completions with a per-prompt rubric from a dataset column (TRL reward function).

    Args:
        verifier: any :class:`rewards.verify.Verifier` (``RuleVerifier``, an LLM judge, ...).
        rubric_column: dataset column holding the rubric JSON (see :func:`rubric_to_column`).
        name: reward name in TRL's logs (``rewards/<name>/mean``) and prefix of our metrics.
        unknown: ``"nan"`` (any UNKNOWN verdict -> unscored, the default) or ``"skip"`` (score known verdicts).
        log_criteria: log per-criterion pass rates (``<name>/pass/<key>``, over known verdicts).
        max_logged_criteria: cap on distinct per-criterion keys (keeps huge heterogeneous rubric sets bounded).
        monitors: other rewards scored on the same completions and logged as ``<monitor.name>/mean`` (e.g. a
            :class:`GoldReward`); they never enter the training reward.

    Logged through TRL's ``log_metric`` per call (TRL averages per logging step): ``<name>/unscored``
    (count of ``None`` rewards in the batch), ``<name>/unscored_frac``, ``<name>/unknown_verdict_frac``,
    ``<name>/pass/<key>`` and, for each monitor, ``<monitor>/mean`` and ``<monitor>/unscored``.
    """

    def __init__(
        self,
        verifier: Verifier,
        rubric_column: str = "rubric",
        name: str = "rubric",
        unknown: str = "nan",
        log_criteria: bool = True,
        max_logged_criteria: int = 64,
        monitors: Sequence[RubricReward] = (),
    ):
        if unknown not in ("nan", "skip"):
            raise ValueError(f"unknown must be 'nan' or 'skip', got {unknown!r}")
        self.verifier = verifier
        self.rubric_column = rubric_column
        self.name = name
        self.__name__ = name  # TRL names a callable reward by __name__ (else its class name)
        self.unknown = unknown
        self.log_criteria = log_criteria
        self.max_logged_criteria = max_logged_criteria
        self.monitors = tuple(monitors)
        self._parsed: dict[str, Rubric] = {}
        self._logged_keys: set[str] = set()
        self.n_calls = 0
        self.n_scored = 0
        self.n_unscored = 0

    @property
    def column(self) -> str:
        """The dataset column this reward reads (uniform with :class:`BTReward`)."""
        return self.rubric_column

    # -- parsing ------------------------------------------------------------------------------------------
    def rubric(self, value: Any) -> Rubric:
        """A column value (JSON string, dict or Rubric) as a Rubric; parsed JSON is memoized."""
        if isinstance(value, Rubric):
            return value
        if isinstance(value, str):
            r = self._parsed.get(value)
            if r is None:
                try:
                    r = Rubric.from_dict(json.loads(value))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{self.name}: column {self.rubric_column!r} is not rubric JSON: {e}") from None
                if len(self._parsed) > 65536:
                    self._parsed.clear()
                self._parsed[value] = r
            return r
        if isinstance(value, Mapping):
            return Rubric.from_dict(value)
        raise TypeError(f"{self.name}: column {self.rubric_column!r} holds a {type(value).__name__}, not a rubric")

    def _column(self, columns: Mapping[str, Any], n: int) -> list:
        if self.rubric_column not in columns:
            raise KeyError(
                f"{self.name}: the dataset has no column {self.rubric_column!r} (columns passed by TRL: "
                f"{sorted(k for k in columns if k not in ('trainer_state', 'log_extra', 'log_metric'))})"
            )
        col = list(columns[self.rubric_column])
        if len(col) != n:
            raise ValueError(f"{self.name}: column {self.rubric_column!r} has {len(col)} values for {n} completions")
        return col

    # -- scoring ------------------------------------------------------------------------------------------
    def verdicts(self, prompts: Sequence[Any], completions: Sequence[Any], rubrics: Sequence[Any]):
        """(rubrics, verdicts): one verifier call per completion, all criteria at once. verdicts[k] is (C_k,)
        int8."""
        rubs = [self.rubric(r) for r in rubrics]
        items = [(prompt_text(p), completion_text(c), r) for p, c, r in zip(prompts, completions, rubs, strict=True)]
        return rubs, verify_with(self.verifier, items)

    def _scores(self, rubs, verdicts) -> np.ndarray:
        return np.array(
            [float(r.score(v, unknown=self.unknown)) for r, v in zip(rubs, verdicts, strict=True)], dtype=np.float64
        )

    def score(self, prompts: Sequence[Any], completions: Sequence[Any], rubrics: Sequence[Any]) -> np.ndarray:
        """(N,) float64 scores, NaN = unscored. For evaluation; logs nothing."""
        rubs, v = self.verdicts(prompts, completions, rubrics)
        return self._scores(rubs, v)

    def __call__(
        self, prompts, completions, completion_ids=None, log_metric: Callable | None = None, **columns
    ) -> list[float | None]:
        n = len(completions)
        rubs, verdicts = self.verdicts(prompts, completions, self._column(columns, n))
        return self._finish(prompts, completions, columns, rubs, verdicts, log_metric)

    def _finish(self, prompts, completions, columns, rubs, verdicts, log_metric) -> list[float | None]:
        scores = self._scores(rubs, verdicts)
        out = [None if math.isnan(s) else float(s) for s in scores]
        n_unscored = sum(r is None for r in out)
        self.n_calls += 1
        self.n_scored += len(out) - n_unscored
        self.n_unscored += n_unscored
        if log_metric is not None:
            self._log(log_metric, rubs, verdicts, n_unscored, len(out))
            for m in self.monitors:
                ms = m.score(prompts, completions, m._column(columns, len(completions)))
                ok = ~np.isnan(ms)
                if ok.any():
                    log_metric(f"{m.name}/mean", float(ms[ok].mean()))
                log_metric(f"{m.name}/unscored", float((~ok).sum()))
        return out

    def _log(self, log_metric: Callable, rubs, verdicts, n_unscored: int, n: int) -> None:
        log_metric(f"{self.name}/unscored", float(n_unscored))
        log_metric(f"{self.name}/unscored_frac", n_unscored / max(n, 1))
        total = sum(len(v) for v in verdicts)
        unknown = sum(int((v == UNKNOWN).sum()) for v in verdicts)
        log_metric(f"{self.name}/unknown_verdict_frac", unknown / max(total, 1))
        if not self.log_criteria:
            return
        yes: dict[str, int] = {}
        known: dict[str, int] = {}
        for r, v in zip(rubs, verdicts, strict=True):
            for i in range(len(r.criteria)):
                if v[i] == UNKNOWN:
                    continue
                k = criterion_key(r, i)
                if k not in self._logged_keys:
                    if len(self._logged_keys) >= self.max_logged_criteria:
                        continue
                    self._logged_keys.add(k)
                known[k] = known.get(k, 0) + 1
                yes[k] = yes.get(k, 0) + int(v[i] == YES)
        for k in sorted(known):
            log_metric(f"{self.name}/pass/{k}", yes[k] / known[k])

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_parsed"] = {}  # a cache: rebuilt on demand in the other process
        return d


class AsyncRubricReward(RubricReward):
    """The same reward as an ``async`` callable: TRL runs async reward functions concurrently (``asyncio.gather``
    on its own event loop), so a slow HTTP judge does not serialize with other reward functions. Uses
    ``verifier.averify_many(items)`` when the verifier has it, else runs ``verify_many`` in a worker thread."""

    async def __call__(
        self, prompts, completions, completion_ids=None, log_metric: Callable | None = None, **columns
    ) -> list[float | None]:
        n = len(completions)
        rubs = [self.rubric(r) for r in self._column(columns, n)]
        items = [(prompt_text(p), completion_text(c), r) for p, c, r in zip(prompts, completions, rubs, strict=True)]
        averify = getattr(self.verifier, "averify_many", None)
        if averify is not None:
            verdicts = [np.asarray(v, dtype=np.int8) for v in await averify(items)]
            if len(verdicts) != n:
                raise ValueError(f"{self.name}: verifier returned {len(verdicts)} verdict arrays for {n} items")
        else:
            verdicts = await asyncio.to_thread(verify_with, self.verifier, items)
        return self._finish(prompts, completions, columns, rubs, verdicts, log_metric)


class GoldReward(RubricReward):
    """The hidden gold rubric (column ``gold_rubric``): for evaluation and monitoring only.

    Calling it as a *training* reward (TRL passes ``trainer_state``) raises, so a config typo cannot train on
    the gold reward by accident; train on it deliberately with ``RubricReward(verifier, "gold_rubric")``
    (the ``proxy: gold`` setting of ``chase rft train``).
    """

    def __init__(self, verifier: Verifier, rubric_column: str = "gold_rubric", name: str = "gold", **kw):
        super().__init__(verifier, rubric_column=rubric_column, name=name, **kw)

    def __call__(self, prompts, completions, completion_ids=None, log_metric=None, **columns):
        if "trainer_state" in columns:
            raise RuntimeError(
                "GoldReward is for evaluation only; use RubricReward(verifier, 'gold_rubric') to "
                "train on the gold rubric deliberately"
            )
        return super().__call__(prompts, completions, completion_ids, log_metric, **columns)


class BTReward:
    """A Bradley–Terry reward model as a TRL reward function.

    The BT model scores feature vectors; ``featurize(case, text) -> (F,) array`` maps one completion's text
    (with its prompt's case record from column ``case_column``, a JSON string) to the model's features, and
    ``bt_score(X (N, F), cases (N,)) -> (N,)`` scores them (the cases let a model have per-prompt weights).
    A completion that cannot be featurized (``featurize`` returns
    None) is unscored (None). Logged: ``<name>/unscored``.
    """

    def __init__(
        self,
        bt_score: Callable[[np.ndarray, list], np.ndarray],
        featurize: Callable[[Any, str], Any],
        case_column: str = "case",
        name: str = "bt",
    ):
        self.bt_score = bt_score
        self.featurize = featurize
        self.case_column = case_column
        self.name = name
        self.__name__ = name

    @property
    def column(self) -> str:
        return self.case_column

    def score(self, prompts, completions, cases) -> np.ndarray:
        cases = [json.loads(c) if isinstance(c, str) else c for c in cases]
        feats = [self.featurize(c, completion_text(t)) for c, t in zip(cases, completions, strict=True)]
        out = np.full(len(feats), np.nan)
        ok = [i for i, f in enumerate(feats) if f is not None]
        if ok:
            X = np.stack([np.asarray(feats[i], dtype=np.float64) for i in ok])
            out[ok] = np.asarray(self.bt_score(X, [cases[i] for i in ok]), dtype=np.float64).reshape(-1)
        return out

    def __call__(self, prompts, completions, completion_ids=None, log_metric=None, **columns):
        if self.case_column not in columns:
            raise KeyError(f"{self.name}: the dataset has no column {self.case_column!r}")
        s = self.score(prompts, completions, columns[self.case_column])
        out = [None if math.isnan(x) else float(x) for x in s]
        if log_metric is not None:
            log_metric(f"{self.name}/unscored", float(sum(r is None for r in out)))
        return out
