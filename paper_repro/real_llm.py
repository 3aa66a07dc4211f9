"""What a real pretrained model learns to do to the embedding verifier: completions and criterion pass rates.

    python -m paper_repro.real_llm --run runs/real_rft/s0 --run runs/real_rft/s1 --run runs/real_rft/s2 \
        --out docs/real_llm

reads each run's held-out completions (``eval_completions.jsonl``; step 0 is the base policy) and writes

* ``examples.md``: per seed, the completions for the first two held-out prompts at the start, at the step of
  the gold peak (that seed's highest held-out gold reward) and at the end;
* ``criteria.json`` / ``criteria.md``: per criterion TEXT (the categories share criterion texts), the share of
  held-out completions that pass it, at the first and the last evaluation, pooled over seeds, under the proxy
  (the embedding verifier, re-run here exactly as in training) and under the gold (rule checks); plus
  completion statistics (words, sentences, share of completions repeating a sentence).

The curves with 95% intervals over seeds come from ``chase rft collect`` (``rft.seeds``), not from here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewards.io import atomic_write_text, read_jsonl, write_json
from rewards.rubric import YES, Rubric

__all__ = ["RealLLMConfig", "RealLLMResult", "main", "report", "run"]


@dataclass(frozen=True)
class RealLLMConfig:
    """``runs``: run directories (seeds of one condition, dataset runs); ``n_examples``: prompts shown."""

    runs: tuple[str, ...]
    n_examples: int = 2


@dataclass(frozen=True)
class RealLLMResult:
    """``examples``: per run, {label: [(step, prompt, completion)]}; ``criteria``: rows of pass rates;
    ``stats``: completion statistics at the first and last evaluation."""

    examples: dict
    criteria: list[dict]
    stats: dict


def _held_out(run_dir: Path) -> list[dict]:
    from rft.data import DataSpec, load_rubric_dataset

    a = json.loads((run_dir / "run_config.json").read_text())["rft"]
    spec = DataSpec(a["dataset"], a["dataset_format"], a["gold_rubrics"], None, a["eval_fraction"], a["split_seed"])
    return load_rubric_dataset(spec).eval[: a["eval_prompts"]]


def _repeats(text: str) -> bool:
    from rft.embedding import sentences

    s = [x.lower().strip(" .!?;") for x in sentences(text)]
    return len(s) != len(set(s))


def _pass_rates(verifier, rows: list[dict], comps: list[dict], column: str) -> dict[str, list[int]]:
    parsed = {i: Rubric.from_dict(json.loads(r[column])) for i, r in enumerate(rows)}  # the column's JSON
    items = [(rows[c["prompt_index"]]["prompt"][-1]["content"], c["completion"], parsed[c["prompt_index"]])
             for c in comps]  # fmt: skip
    out: dict[str, list[int]] = defaultdict(list)
    for (_p, _c, r), v in zip(items, verifier.verify_many(items), strict=True):
        for crit, x in zip(r.criteria, v, strict=True):
            if x >= 0:
                out[crit.text].append(int(x == YES))
    return out


def run(config: RealLLMConfig) -> RealLLMResult:
    from rewards.verify import RuleVerifier
    from rft.embedding import EmbeddingVerifier, sentences

    proxy_v, gold_v = EmbeddingVerifier(), RuleVerifier()
    examples, pooled, stats = {}, defaultdict(lambda: defaultdict(list)), defaultdict(lambda: defaultdict(list))
    for d in map(Path, config.runs):
        rows, comps = _held_out(d), read_jsonl(d / "eval_completions.jsonl")
        evals = read_jsonl(d / "eval_metrics.jsonl")
        steps = sorted({c["step"] for c in comps})
        peak = max(evals, key=lambda r: r["gold"])["step"]
        by = {s: [c for c in comps if c["step"] == s] for s in steps}
        pick = {"start": steps[0], "gold peak": peak, "end": steps[-1]}
        examples[d.name] = {
            f"{k} (step {s})": [(rows[c["prompt_index"]]["prompt"][-1]["content"], c["completion"])
                                for c in by[s] if c["prompt_index"] < config.n_examples]
            for k, s in pick.items()
        }  # fmt: skip
        for when, s in (("first", steps[0]), ("last", steps[-1])):
            for kind, v, col in (("proxy", proxy_v, "rubric"), ("gold", gold_v, "gold_rubric")):
                for text, xs in _pass_rates(v, rows, by[s], col).items():
                    pooled[(kind, text)][when].extend(xs)
            stats[when]["words"].extend(len(c["completion"].split()) for c in by[s])
            stats[when]["sentences"].extend(len(sentences(c["completion"])) for c in by[s])
            stats[when]["repeats_a_sentence"].extend(int(_repeats(c["completion"])) for c in by[s])
    crit = [
        {"verifier": k, "criterion": t, "first": float(np.mean(v["first"])), "last": float(np.mean(v["last"])),
         "n_first": len(v["first"]), "n_last": len(v["last"])}
        for (k, t), v in sorted(pooled.items()) if v["first"] and v["last"]
    ]  # fmt: skip
    st = {w: {k: float(np.mean(v)) for k, v in d.items()} for w, d in stats.items()}
    return RealLLMResult(examples, crit, st)


def report(result: RealLLMResult, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    lines = ["# Held-out completions at the start, the gold peak and the end (per seed)", ""]
    for seed, by_label in result.examples.items():
        lines += [f"## {seed}", ""]
        for label, pairs in by_label.items():
            lines += [f"### {label}", ""]
            lines += [f"- *{p}*  \n  `{' '.join(c.split())}`" for p, c in pairs]
            lines.append("")
    table = ["| verifier | criterion | pass, first eval | pass, last eval | n |", "|---|---|---|---|---|"]
    table += [f"| {r['verifier']} | {r['criterion']} | {r['first']:.2f} | {r['last']:.2f} | {r['n_last']} |"
              for r in result.criteria]  # fmt: skip
    table += ["", "| completions | " + " | ".join(result.stats["first"]) + " |", "|---|---|---|---|"]
    table += [f"| {w} eval | " + " | ".join(f"{v:.2f}" for v in d.values()) + " |" for w, d in result.stats.items()]
    return {
        "examples": atomic_write_text(out / "examples.md", "\n".join(lines) + "\n"),
        "criteria_md": atomic_write_text(out / "criteria.md", "\n".join(table) + "\n"),
        "criteria": write_json(out / "criteria.json", {"criteria": result.criteria, "stats": result.stats}),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_repro.real_llm", description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, help="a dataset run directory (repeat for seeds)")
    p.add_argument("--out", required=True, help="output folder")
    a = p.parse_args(argv)
    paths = report(run(RealLLMConfig(tuple(a.run))), a.out)
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
