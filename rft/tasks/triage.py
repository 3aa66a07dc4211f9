"""The triage text task: the rubric world (``sim.rubric_world``) rendered as text.

Prompts are case descriptions (a patient with a condition from :data:`CONDITIONS`, an age, a sex and a risk
factor); a response is a few sentences, one per property it has, each drawn from several paraphrases and
filled in with the case's specifics. Every property has a text check (a ``rewards.verify.RuleVerifier`` spec),
so the world's rubrics, whose criteria carry sim checks (``{"property": k}``, ``{"any_of": [...]}``, with
``"negate"``), become text rubrics with the SAME criteria (text, weight) and a text check in place of the sim
check (:func:`rubric_to_text`). The sim check is kept in a tag (``sim=<json>``) so the translation is
lossless both ways (:func:`rubric_to_sim`), which lets the world's ``SimProposer`` drive
``rewards.refine.refine`` on TEXT pools (:class:`TextProposer`).

Exactness (tested): for a rendered response ``render(case, x)``, :func:`detect` recovers ``x`` exactly, and the
gold text rubric scored by ``RuleVerifier`` equals ``RubricWorld.gold(x)``.

Modules: ``rft.tasks.triage_cases`` (conditions, cases, property names), ``rft.tasks.triage_text`` (checks,
rubric translation, detection, rendering, :class:`TextProposer`) and this one (the task on disk and how it is
built); everything is importable from here.

On disk (``build_task``): ``task.json`` (world config, cases, and per case the rubrics ``initial``, ``gold``
and ``refined:<pool mode>``, plus the base model's inclusion probabilities), ``corpus.jsonl`` (base-model
responses rendered as text: the tiny LM's pretraining corpus, so its output distribution is the base
policy), ``refine-<mode>.jsonl`` (the refinement logs, resumable) and ``bt-{on,off,both}.json``
(Bradley-Terry proxies from ``sim.bt``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rewards.formats import load_rubrics
from rewards.io import read_jsonl, write_json, write_jsonl
from rewards.rubric import Rubric
from rewards.verify import RuleVerifier
from rft.tasks.triage_cases import (
    CONDITIONS,
    HEADER_REGEX,
    HEDGE_MARKERS,
    LONG_MARKERS,
    PADDING_MARKERS,
    PROPERTY_NAMES,
    SIGN,
    SIGNATURE,
    Case,
    Condition,
    M,
    make_cases,
)
from rft.tasks.triage_text import (
    TextProposer,
    criterion_to_sim,
    criterion_to_text,
    detect,
    featurize,
    property_check,
    render,
    rubric_to_sim,
    rubric_to_text,
    union_check,
)

__all__ = [  # the task's whole surface, importable from here (the parts live in triage_cases, triage_text)
    "CONDITIONS",
    "HEADER_REGEX",
    "HEDGE_MARKERS",
    "LONG_MARKERS",
    "M",
    "PADDING_MARKERS",
    "PROPERTY_NAMES",
    "SIGN",
    "SIGNATURE",
    "Case",
    "Condition",
    "PromptBT",
    "Task",
    "TaskRecord",
    "TextProposer",
    "TriageConfig",
    "build_task",
    "criterion_to_sim",
    "criterion_to_text",
    "detect",
    "featurize",
    "load_task",
    "make_cases",
    "property_check",
    "render",
    "rubric_to_sim",
    "rubric_to_text",
    "union_check",
]


# ------------------------------------------------------------------------------------------------ the task
@dataclass(frozen=True)
class TriageConfig:
    """How ``chase rft build-task`` builds the task.

    seed:            world key and every sampling seed.
    n_prompts:       cases (world prompts).
    n_eval:          held-out cases (the last ones; their conditions all appear in training too).
    corpus_per_case: base-model responses per case in the pretraining corpus.
    refine_modes:    pool modes (rewards.refine.POOL_MODES) to build refined rubrics for; empty for none.
    bt_pairs:        response pairs per case and kind to fit the Bradley-Terry proxies on (sim.bt).
    """

    seed: int = 0
    n_prompts: int = 64
    n_eval: int = 16
    corpus_per_case: int = 200
    refine_modes: tuple[str, ...] = ("1-great-pair", "4-great-diverse-pairs")
    bt_pairs: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.n_eval < self.n_prompts:
            raise ValueError(f"TriageConfig: need 0 < n_eval ({self.n_eval}) < n_prompts ({self.n_prompts})")


@dataclass
class TaskRecord:
    """One prompt of the task: its case, split ('train' / 'eval') and rubrics by key."""

    case: Case
    split: str
    rubrics: dict[str, Rubric]
    base_probs: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "case": self.case.to_dict(),
            "split": self.split,
            "base_probs": self.base_probs,
            "rubrics": {k: r.to_dict() for k, r in self.rubrics.items()},
        }

    @classmethod
    def from_json(cls, d: dict) -> TaskRecord:
        return cls(
            Case.from_dict(d["case"]),
            d["split"],
            {k: Rubric.from_dict(v) for k, v in d["rubrics"].items()},
            list(d.get("base_probs", [])),
        )


class Task:
    """A built triage task (see :func:`build_task`); ``path`` is its directory."""

    def __init__(self, path: str | Path, records: list[TaskRecord], meta: dict):
        self.path = Path(path)
        self.records = records
        self.meta = meta

    @property
    def rubric_keys(self) -> list[str]:
        return list(self.records[0].rubrics)

    def split(self, split: str) -> list[TaskRecord]:
        out = [r for r in self.records if r.split == split]
        if not out:
            raise ValueError(f"task {self.path}: no records in split {split!r}")
        return out

    def rows(self, split: str, rubric_key: str, prompt_format: str = "conversational", n: int | None = None):
        """Dataset rows (dicts): prompt (chat messages; 'standard' callers render them), rubric (proxy JSON),
        gold_rubric (JSON), case (JSON), case_id."""
        from rft.reward import rubric_to_column

        recs = self.split(split)[: n or None]
        out = []
        for r in recs:
            if rubric_key not in r.rubrics:
                raise KeyError(
                    f"task {self.path}: case {r.case.case_id} has no rubric {rubric_key!r} (have {sorted(r.rubrics)})"
                )
            out.append(
                {
                    "prompt": [{"role": "user", "content": r.case.prompt}],
                    "rubric": rubric_to_column(r.rubrics[rubric_key]),
                    "gold_rubric": rubric_to_column(r.rubrics["gold"]),
                    "case": json.dumps(r.case.to_dict()),
                    "case_id": r.case.case_id,
                }
            )
        return out

    def dataset(self, split: str, rubric_key: str, prompt_format: str = "conversational", n: int | None = None):
        from datasets import Dataset

        return Dataset.from_list(self.rows(split, rubric_key, prompt_format, n))

    def add_rubric_file(self, path: str | Path) -> str:
        """Load a paper-format rubric file (prompts = case prompts) as rubric key ``file:<name>``; criteria
        must carry text checks (as this task writes them)."""
        recs = load_rubrics(path, format="paper")
        by_prompt = {r.prompt: r.rubric for r in recs}
        key = f"file:{Path(path).name}"
        for r in self.records:
            if r.case.prompt in by_prompt:
                r.rubrics[key] = by_prompt[r.case.prompt]
        missing = [r.case.case_id for r in self.records if key not in r.rubrics]
        if missing:
            raise ValueError(f"{path}: no rubric for cases {missing[:10]}{'...' if len(missing) > 10 else ''}")
        return key

    def corpus(self) -> tuple[list[list[dict]], list[str]]:
        """(prompt messages, completion texts) of the base-model corpus."""
        rows = read_jsonl(self.path / "corpus.jsonl")
        if not rows:
            raise FileNotFoundError(f"{self.path / 'corpus.jsonl'}: missing or empty (run chase rft build-task)")
        return [[{"role": "user", "content": r["prompt"]}] for r in rows], [r["completion"] for r in rows]

    def bt_model(self, kind: str = "on") -> PromptBT:
        """The Bradley-Terry proxy fitted on ``kind`` pairs (sim.bt.PAIR_KINDS: on / off / both)."""
        return PromptBT.load(self.path / f"bt-{kind}.json")


def load_task(path: str | Path) -> Task:
    path = Path(path)
    f = path / "task.json"
    if not f.exists():
        raise FileNotFoundError(f"{f}: no triage task here (build one with: chase rft build-task --out {path})")
    d = json.loads(f.read_text())
    try:
        records = [TaskRecord.from_json(r) for r in d["records"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{f}: malformed task record ({e})") from None
    return Task(path, records, d.get("meta", {}))


# ------------------------------------------------------------------------------------------------ Bradley-Terry
@dataclass
class PromptBT:
    """A fitted Bradley-Terry reward model of the rubric world (``sim.bt``): per-prompt weights ``w`` (P, M) on
    the response properties; the score of a completion is ``w[case_id] . detect(case, text)``. JSON on disk."""

    w: np.ndarray
    kind: str = ""

    def score(self, X: np.ndarray, cases: Sequence[dict]) -> np.ndarray:
        """X (N, M) features, cases (N,) case dicts (their ``case_id`` picks the row of ``w``) -> (N,)."""
        ids = np.array([int(c["case_id"]) for c in cases])
        return (np.asarray(X, dtype=np.float64) * self.w[ids]).sum(-1)

    def save(self, path: str | Path) -> None:
        write_json(path, {"kind": self.kind, "features": list(PROPERTY_NAMES), "w": self.w.tolist()})

    @classmethod
    def load(cls, path: str | Path) -> PromptBT:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no Bradley-Terry model (build the task with chase rft build-task)")
        d = json.loads(p.read_text())
        return cls(np.asarray(d["w"], dtype=np.float64), d.get("kind", ""))


# ------------------------------------------------------------------------------------------------ building
def build_task(cfg: TriageConfig, out_dir: str | Path, progress: bool = True) -> Task:
    """Draw the world, render cases, translate rubrics, refine them on text pools, write the corpus and a BT
    proxy. Resumable: refinement logs are replayed; finished files are rebuilt identically (same seed)."""
    import jax

    from sim import rubric_world as rw

    names = tuple(p.name for p in rw.PROPERTIES)
    if names != PROPERTY_NAMES or tuple(rw.SIGN.tolist()) != tuple(SIGN.tolist()):
        raise RuntimeError(f"sim.rubric_world properties changed: {names}; update rft/tasks/triage_cases.py")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(cfg.seed)
    k_world, k_corpus, k_pools, k_bt = jax.random.split(key, 4)
    # the task is one demonstration world, not a finding over worlds: it keeps the original tuned world (its
    # writer's flaws placed, hedging the base model's rare exploit) that docs/rft_findings.md was measured on
    world = rw.make_world(k_world, rw.WorldConfig.tuned(n_prompts=cfg.n_prompts))
    cases = make_cases(cfg.n_prompts, cfg.seed)
    records = _records(cfg, world, cases)
    refine_stats = _refine_rubrics(cfg, world, cases, records, k_pools, out)
    n_corpus = _write_corpus(cfg, world, cases, k_corpus, out, progress)
    _fit_bt_proxies(cfg, world, k_bt, out)
    meta = {
        "config": asdict(cfg),
        "world_config": asdict(world.config),
        "property_names": list(PROPERTY_NAMES),
        "refine_status": refine_stats,
        "n_corpus": n_corpus,
    }
    write_json(out / "task.json", {"meta": meta, "records": [r.to_json() for r in records]})
    return Task(out, records, meta)


def _records(cfg: TriageConfig, world, cases: list[Case]) -> list[TaskRecord]:
    """One record per case: split, the world's initial and gold rubrics as text, the base inclusion rates."""
    base = world.probs("base")
    records = []
    for p, case in enumerate(cases):
        split = "eval" if p >= cfg.n_prompts - cfg.n_eval else "train"
        rubs = {
            "initial": rubric_to_text(world.initial_rubrics[p], case),
            "gold": rubric_to_text(world.gold_rubrics[p], case),
        }
        records.append(TaskRecord(case, split, rubs, [round(float(v), 6) for v in base[p]]))
    return records


def _refine_rubrics(cfg: TriageConfig, world, cases: list[Case], records: list[TaskRecord], k_pools, out: Path):
    """Refine the initial rubrics on text pools of each mode in ``cfg.refine_modes``; adds ``refined:<mode>`` to
    every record and returns the refinement status counts per mode."""
    import jax

    from rewards.refine import RefineConfig, refine
    from sim import rubric_world as rw

    verifier = RuleVerifier()
    # an oracle proposer (knows every property's sign; weights noisy): what the task's refined rubrics assume
    proposer = TextProposer(rw.make_proposer(world, rw.ProposerConfig(knowledge=1.0)), world, cases)
    prompts = [c.prompt for c in cases]
    refine_stats = {}
    for mi, mode in enumerate(cfg.refine_modes):
        props = rw.sample_pool(world, mode, jax.random.fold_in(k_pools, mi))
        rng = np.random.default_rng([cfg.seed, 17, mi])
        pools = [[render(cases[p], props[p, j], rng) for j in range(props.shape[1])] for p in range(cfg.n_prompts)]
        res = refine(
            prompts,
            [r.rubrics["initial"] for r in records],
            pools,
            verifier,
            proposer,
            RefineConfig.from_pool_mode(mode),
            log_path=out / f"refine-{mode}.jsonl",
        )
        for r, new in zip(records, res.rubrics, strict=True):
            r.rubrics[f"refined:{mode}"] = new
        refine_stats[mode] = res.status_counts()
    return refine_stats


def _write_corpus(cfg: TriageConfig, world, cases: list[Case], k_corpus, out: Path, progress: bool) -> int:
    """The pretraining corpus: base-model responses rendered as text, shuffled (``corpus.jsonl``)."""
    from tqdm.auto import tqdm

    x = world.sample("base", k_corpus, cfg.corpus_per_case)  # (P, n, M)
    rng = np.random.default_rng([cfg.seed, 23])
    rows = []
    for p in tqdm(range(cfg.n_prompts), desc="render corpus", disable=not progress):
        for j in range(cfg.corpus_per_case):
            rows.append(
                {
                    "case_id": p,
                    "prompt": cases[p].prompt,
                    "completion": render(cases[p], x[p, j], rng),
                    "properties": x[p, j].tolist(),
                }
            )
    order = np.random.default_rng([cfg.seed, 29]).permutation(len(rows))
    write_jsonl(out / "corpus.jsonl", [rows[i] for i in order])
    return len(rows)


def _fit_bt_proxies(cfg: TriageConfig, world, k_bt, out: Path) -> None:
    """Bradley-Terry proxies (sim.bt) on on-policy, off-policy-great and both kinds of pairs: the paper's
    Table 6 conditions. Perfect perception: the text featurizer (detect) reads properties exactly, so the
    model is trained on exactly what it will see when scoring the policy's text."""
    import jax

    from sim.bt import PAIR_KINDS, BTConfig, bt_pairs, fit_bt

    bt_cfg = BTConfig.perfect_perception(pairs_per_prompt=cfg.bt_pairs)
    for i, kind in enumerate(PAIR_KINDS):
        w = fit_bt(bt_pairs(world, jax.random.fold_in(k_bt, i), kind, bt_cfg), cfg.n_prompts, bt_cfg)
        PromptBT(np.asarray(w, dtype=np.float64), kind).save(out / f"bt-{kind}.json")
