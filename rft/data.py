"""Bring your own data: a rubric file as a GRPO dataset, split into training and held-out prompts by prompt.

``load_rubric_dataset(DataSpec(...))`` reads

* ``dataset``: a rubric file in the paper's format (JSON list, JSONL, or the paper code's own files) or
  HealthBench JSONL (``rewards.formats``); its rubric per prompt is the **proxy** the policy is trained on;
* ``gold_rubrics`` (optional): a rubric file for the same prompts (matched by prompt text), the **gold** used
  only in evaluation. Without it the gold column is the proxy rubric itself (then gold = proxy: the run can
  show optimisation, not over-optimisation; ``DataSplit.gold_is_proxy`` says so);
* ``references`` (optional): a responses JSONL (``{"prompt" | "prompt_index", "response"}``) whose responses
  go in column ``reference`` (the first per prompt; "" where there is none), for verifiers or judges that
  compare with a reference answer.

The split is by prompt: the distinct prompt texts are permuted with ``np.random.default_rng(split_seed)`` and
the first ``ceil(eval_fraction * n)`` (at least 1, at most n - 1) are held out, so the same prompt never lands
in both splits (two records with the same prompt text go to the same side).

Rows (dicts) carry ``prompt`` (chat messages: the file's chat list, or one user message), ``rubric`` and
``gold_rubric`` (``rft.reward.rubric_to_column`` JSON), ``case_id`` (the record's ``id`` / ``prompt_id`` when
present, else ``"p<index>"``) and ``reference``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rewards.formats import FORMATS, RubricRecord, load_rubrics, read_json_records
from rewards.rubric import RubricFormatError

__all__ = ["DataSpec", "DataSplit", "dataset_rows", "detect_format", "load_rubric_dataset", "split_by_prompt"]


@dataclass(frozen=True)
class DataSpec:
    """Where the data is and how it is split (see the module docstring). ``format``: 'auto', 'paper' or
    'healthbench' ('auto': HealthBench when the first criterion has ``points``, else paper)."""

    dataset: str
    format: str = "auto"
    gold_rubrics: str | None = None
    references: str | None = None
    eval_fraction: float = 0.25
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.format not in ("auto", *FORMATS):
            raise ValueError(f"dataset_format: must be 'auto' or one of {FORMATS}, got {self.format!r}")
        if not 0 < self.eval_fraction < 1:
            raise ValueError(f"eval_fraction: must be in (0, 1), got {self.eval_fraction!r}")


@dataclass(frozen=True)
class DataSplit:
    """``train`` / ``eval``: lists of row dicts; ``gold_is_proxy``: no gold file was given."""

    train: list[dict]
    eval: list[dict]
    gold_is_proxy: bool
    format: str


def detect_format(path: str) -> str:
    """'healthbench' when the first record's first criterion has ``points``, else 'paper'."""
    records, _ = read_json_records(path)
    if isinstance(records, list) and records and isinstance(records[0], dict):
        items = records[0].get("rubrics")
        if isinstance(items, list) and items and isinstance(items[0], dict) and "points" in items[0]:
            return "healthbench"
    return "paper"


def split_by_prompt(prompts: list[str], eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices) of ``prompts``, split by distinct prompt text (module docstring)."""
    distinct = list(dict.fromkeys(prompts))
    if len(distinct) < 2:
        raise ValueError(f"dataset: {len(distinct)} distinct prompt(s); a train/held-out split needs at least 2")
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_eval = min(max(1, math.ceil(eval_fraction * len(distinct))), len(distinct) - 1)
    held = {distinct[i] for i in order[:n_eval]}
    train = [i for i, p in enumerate(prompts) if p not in held]
    return train, [i for i, p in enumerate(prompts) if p in held]


def _gold_for(records: list[RubricRecord], path: str) -> list:
    gold = load_rubrics(path, detect_format(path))
    by_prompt = {}
    for g in gold:
        by_prompt.setdefault(g.prompt, g.rubric)
    missing = [i for i, r in enumerate(records) if r.prompt not in by_prompt]
    if missing:
        raise RubricFormatError(f"no gold rubric for dataset records {missing[:5]} (matched by prompt text)", path)
    return [by_prompt[r.prompt] for r in records]


def _references(records: list[RubricRecord], path: str | None) -> list[str]:
    if path is None:
        return [""] * len(records)
    from chase.rubric_files import read_responses  # the one reader of responses files

    out = [""] * len(records)
    for p, response, _id in read_responses(path, records):
        if not isinstance(response, str):
            raise RubricFormatError(f"prompt {p}: a reference response must be text", path, field="response")
        out[p] = out[p] or response
    return out


def _row(i: int, rec: RubricRecord, gold, reference: str) -> dict:
    from rft.reward import rubric_to_column

    extra = rec.meta.get("extra", {})
    case_id = extra.get("id", extra.get("prompt_id", f"p{i}"))
    messages = rec.meta.get("prompt_messages") or [{"role": "user", "content": rec.prompt}]
    return {
        "prompt": messages,
        "rubric": rubric_to_column(rec.rubric),
        "gold_rubric": rubric_to_column(gold),
        "case_id": str(case_id),
        "reference": reference,
    }


def load_rubric_dataset(spec: DataSpec) -> DataSplit:
    """Read, join and split (module docstring). Raises ``RubricFormatError`` (a ValueError naming the file,
    record and field) for bad files and ``ValueError`` for a dataset that cannot be split."""
    fmt = detect_format(spec.dataset) if spec.format == "auto" else spec.format
    records = load_rubrics(spec.dataset, fmt)
    gold = _gold_for(records, spec.gold_rubrics) if spec.gold_rubrics else [r.rubric for r in records]
    refs = _references(records, spec.references)
    rows = [_row(i, r, g, ref) for i, (r, g, ref) in enumerate(zip(records, gold, refs, strict=True))]
    train, held = split_by_prompt([r.prompt for r in records], spec.eval_fraction, spec.split_seed)
    return DataSplit([rows[i] for i in train], [rows[i] for i in held], spec.gold_rubrics is None, fmt)


def dataset_rows(args):
    """(training ``datasets.Dataset``, held-out rows) for ``rft.train.RFTArguments`` with a ``dataset``: the
    first ``n_train_prompts`` (0 = all) and ``eval_prompts`` rows of each side; proxy=gold trains on the gold."""
    from datasets import Dataset

    spec = DataSpec(
        args.dataset, args.dataset_format, args.gold_rubrics, args.references, args.eval_fraction, args.split_seed
    )
    split = load_rubric_dataset(spec)
    train, held = split.train[: args.n_train_prompts or None], split.eval[: args.eval_prompts]
    if args.proxy == "gold":
        for r in (*train, *held):
            r["rubric"] = r["gold_rubric"]
    return Dataset.from_list(train), held
