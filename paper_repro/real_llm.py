"""What a real pretrained model learns to do to the embedding verifier, over a beta sweep: curves, KL range, examples.

    python -m paper_repro.real_llm --run beta0=runs/real_rft/sweep/beta0/s0,runs/real_rft/sweep/beta0/s1,... \
        --run beta0.1=... --run beta1=... --out docs/real_llm \
        [--content-without "Reads as sentences: ..."] [--kl-limit 10]

A condition is a name and its runs (seeds), as in ``chase rft collect`` (``rft.seeds``, which gathers the proxy,
gold and KL curves here). On top of them this reads each run's held-out completions (``eval_completions.jsonl``;
step 0 is the base policy) and writes into ``--out``:

* ``real_llm_metrics.json`` / ``.csv`` (``rft.seeds``: per run and evaluation step) and ``real_llm_curves.json``,
  the figure data (``figures.real_llm``): per condition the proxy, gold and KL curves of ``rft.seeds`` plus
  ``gold_content`` (the gold rescored without the ``--content-without`` criteria) and ``win_gold`` (the win rate
  against the base policy with the gold rubric as the pairwise judge, ``rft.winrate.ScorePairJudge``), each with
  its 95% t-interval over seeds;
* ``sweep.md`` / the ``kl_range`` table in ``real_llm_curves.json``: per run, the largest KL over its evaluations,
  the last evaluation at or below ``--kl-limit`` nats and the proxy, gold and gold win rate there and at the end;
* ``examples.md``: per seed of the FIRST condition, the completions for the first two held-out prompts at the
  start, at the gold peak (that seed's highest held-out gold) and at the end;
* ``criteria.json`` / ``criteria.md``: for the first condition, per criterion TEXT (categories share criterion
  texts), the share of held-out completions that pass it at the first and last evaluation, pooled over seeds,
  under the proxy (the embedding verifier, re-run here as in training) and the gold (rule checks); plus
  completion statistics (words, sentences, share of completions repeating a sentence).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import atomic_write_text, read_jsonl, write_json
from rewards.rubric import YES, Rubric
from rewards.stats import interval

__all__ = ["RealLLMConfig", "RealLLMResult", "main", "report", "run"]

EXTRA = ("gold_content", "win_gold")  # the curves this module adds to rft.seeds' figure data


@dataclass(frozen=True)
class RealLLMConfig:
    """``conditions``: ``((name, (run_dir, ...)), ...)``, one per setting (e.g. per beta), its runs the seeds;
    examples and criterion pass rates come from the first. ``kl_limit``: the KL (nats, sequence level) up to which
    the KL-range table counts an evaluation as in range. ``content_without``: gold criterion texts left out of
    ``gold_content``. ``n_examples``: held-out prompts shown per label. ``title``: the figure's."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...]
    n_examples: int = 2
    kl_limit: float = 10.0
    content_without: tuple[str, ...] = ()
    title: str = "SmolLM2-135M-Instruct on CPU, embedding-verifier proxy"


@dataclass(frozen=True)
class RealLLMResult:
    """``seeds``: the ``rft.seeds.SeedsResult`` (proxy, gold, KL curves); ``extra``: per condition {curve in
    :data:`EXTRA`: (R, T) over its seeds and steps}; ``kl_range``: one row per run; ``examples``: per run of the
    first condition, {label: [(prompt, completion)]}; ``criteria``: pass-rate rows; ``stats``: completion
    statistics at the first and last evaluation (first condition)."""

    seeds: Any
    extra: dict[str, dict[str, np.ndarray]]
    kl_range: list[dict]
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


def _extra_curves(run_dir: Path, steps: list[int], without: tuple[str, ...]) -> dict[str, np.ndarray]:
    """(T,) per curve of :data:`EXTRA` for one run at ``steps`` (NaN where the run has no completions)."""
    from rft.winrate import ScorePairJudge, gold_scorer, win_rates

    held, comps = _held_out(run_dir), read_jsonl(run_dir / "eval_completions.jsonl")
    content = gold_scorer(held, without)
    wins = {w.step: w.rate for w in win_rates(ScorePairJudge(gold_scorer(held)), comps)}
    out = {k: np.full(len(steps), np.nan) for k in EXTRA}
    for j, s in enumerate(steps):
        at = [c for c in comps if c["step"] == s]
        if at:
            out["gold_content"][j] = float(
                np.nanmean(content([c["prompt_index"] for c in at], [c["completion"] for c in at]))
            )
            out["win_gold"][j] = wins[s]
    return out


def _kl_range(name: str, run, wins: np.ndarray, limit: float) -> dict:
    rows = run.rows
    kl = np.array([r["kl_seq"] for r in rows], dtype=float)
    inside = [i for i, x in enumerate(kl) if x <= limit]
    last_in = max(inside) if inside else None  # rows are sorted by step; step 0 (KL 0) is always inside
    at = lambda i: {"step": rows[i]["step"], "proxy": rows[i]["proxy"], "gold": rows[i]["gold"],  # noqa: E731
                    "kl_seq": float(kl[i]), "win_gold": float(wins[i])}  # fmt: skip
    return {
        "condition": name,
        "run": run.dir,
        "max_kl": float(kl.max()),
        "stays_in_range": bool((kl <= limit).all()),
        "last_in_range": None if last_in is None else at(last_in),
        "end": at(len(rows) - 1),
    }


def run(config: RealLLMConfig) -> RealLLMResult:
    from rewards.verify import RuleVerifier
    from rft.embedding import EmbeddingVerifier, sentences
    from rft.seeds import SeedsConfig, collect

    seeds = collect(SeedsConfig(conditions=config.conditions, watch=()))
    extra, kl_range = {}, []
    for c in seeds.conditions:
        steps = c.curves.steps.tolist()
        per_run = [_extra_curves(Path(r.dir), steps, config.content_without) for r in c.runs]
        extra[c.name] = {k: np.stack([p[k] for p in per_run]) for k in EXTRA}
        for r, p in zip(c.runs, per_run, strict=True):
            kl_range.append(_kl_range(c.name, r, p["win_gold"], config.kl_limit))

    proxy_v, gold_v = EmbeddingVerifier(), RuleVerifier()
    examples, pooled, stats = {}, defaultdict(lambda: defaultdict(list)), defaultdict(lambda: defaultdict(list))
    for r in seeds.conditions[0].runs:
        d = Path(r.dir)
        rows, comps = _held_out(d), read_jsonl(d / "eval_completions.jsonl")
        steps = sorted({c["step"] for c in comps})
        peak = max(r.rows, key=lambda e: e["gold"])["step"]  # the first of equal maxima
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
    return RealLLMResult(seeds, extra, kl_range, examples, crit, st)


def figure_data(result: RealLLMResult, config: RealLLMConfig) -> dict[str, Any]:
    """``rft.seeds.figure_data`` plus, per condition, the :data:`EXTRA` curves (mean, ``_lo``, ``_hi``: 95% t over
    seeds) and per-seed curves ``kl_seq_seeds``, ``gold_seeds``, ``win_gold_seeds`` ((R, T)); and the KL-range
    table with the settings that name it."""
    from rft.seeds import figure_data as seeds_figure_data

    data = seeds_figure_data(result.seeds, config.title)
    for cond, c in zip(data["conditions"], result.seeds.conditions, strict=True):
        # with few seeds a t-band of the KL spans orders of magnitude (and below 0): the figure draws each seed
        cond["kl_seq_seeds"] = c.curves.kl_seq.tolist()
        cond["gold_seeds"] = c.curves.gold.tolist()
        cond["win_gold_seeds"] = result.extra[c.name]["win_gold"].tolist()
        for k, m in result.extra[c.name].items():
            iv = interval(m, nan="omit")
            cond[k], cond[f"{k}_lo"], cond[f"{k}_hi"] = (np.atleast_1d(x).tolist() for x in (iv.mean, iv.lo, iv.hi))
    data["kl_limit"] = config.kl_limit
    data["content_without"] = list(config.content_without)
    data["kl_range"] = result.kl_range
    return data


def _sweep_md(data: dict[str, Any]) -> str:
    f = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    lim = data["kl_limit"]
    lines = [f"# KL range per run (limit {lim:g} nats, sequence level)", ""]
    lines += ["| condition | run | max KL | stays <= limit | last step in range: proxy / gold / gold win rate | "
              "end: step, proxy / gold / gold win rate, KL |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in data["kl_range"]:
        a, e = r["last_in_range"], r["end"]
        inside = "-" if a is None else f"step {a['step']}: {f(a['proxy'])} / {f(a['gold'])} / {f(a['win_gold'])}"
        lines.append(
            f"| {r['condition']} | {Path(r['run']).name} | {r['max_kl']:.2f} | {'yes' if r['stays_in_range'] else 'no'}"
            f" | {inside} | step {e['step']}: {f(e['proxy'])} / {f(e['gold'])} / {f(e['win_gold'])}, "
            f"{e['kl_seq']:.2f} |"
        )
    lines += ["", "# Curves: mean [95% t-interval over seeds] per condition and evaluation step", ""]
    keys = ("proxy", "gold", "gold_content", "win_gold", "kl_seq")
    lines += ["| condition | step | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for c in data["conditions"]:
        for j, s in enumerate(c["step"]):
            cells = [f"{c[k][j]:.3f} [{c[k + '_lo'][j]:.3f}, {c[k + '_hi'][j]:.3f}]" for k in keys]
            lines.append(f"| {c['name']} ({c['n_seeds']} seeds) | {s} | " + " | ".join(cells) + " |")
    if data["content_without"]:
        lines += ["", "gold_content: the gold without " + "; ".join(f'"{t}"' for t in data["content_without"])]
    return "\n".join(lines) + "\n"


def report(result: RealLLMResult, config: RealLLMConfig, out_dir: str | Path) -> dict[str, Path]:
    from rft.seeds import metrics, metrics_csv

    out = Path(out_dir)
    data = figure_data(result, config)  # rft.seeds' figure data plus EXTRA: written once, here
    paths = {
        "json": write_json(out / "real_llm_metrics.json", metrics(result.seeds)),
        "csv": atomic_write_text(out / "real_llm_metrics.csv", metrics_csv(result.seeds)),
        "figure_data": write_json(out / "real_llm_curves.json", data),
    }
    paths["sweep"] = atomic_write_text(out / "sweep.md", _sweep_md(data))
    lines = ["# Held-out completions at the start, the gold peak and the end (per seed)", ""]
    for seed, by_label in result.examples.items():
        lines += [f"## {result.seeds.conditions[0].name}, {seed}", ""]
        for label, pairs in by_label.items():
            lines += [f"### {label}", ""]
            lines += [f"- *{p}*  \n  `{' '.join(c.split())}`" for p, c in pairs]
            lines.append("")
    table = ["| verifier | criterion | pass, first eval | pass, last eval | n |", "|---|---|---|---|---|"]
    table += [f"| {r['verifier']} | {r['criterion']} | {r['first']:.2f} | {r['last']:.2f} | {r['n_last']} |"
              for r in result.criteria]  # fmt: skip
    table += ["", "| completions | " + " | ".join(result.stats["first"]) + " |", "|---|---|---|---|"]
    table += [f"| {w} eval | " + " | ".join(f"{v:.2f}" for v in d.values()) + " |" for w, d in result.stats.items()]
    paths["examples"] = atomic_write_text(out / "examples.md", "\n".join(lines) + "\n")
    paths["criteria_md"] = atomic_write_text(out / "criteria.md", "\n".join(table) + "\n")
    paths["criteria"] = write_json(out / "criteria.json", {"criteria": result.criteria, "stats": result.stats})
    return paths


def main(argv: list[str] | None = None) -> int:
    from rft.seeds import SeedsConfig

    p = argparse.ArgumentParser(prog="python -m paper_repro.real_llm", description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, help="NAME=DIR[,DIR...]: a condition and its seeds")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--kl-limit", type=float, default=10.0, help="nats: the KL range the table reports")
    p.add_argument(
        "--content-without", action="append", default=[], help="gold criterion text left out of gold_content"
    )
    a = p.parse_args(argv)
    try:
        conditions = SeedsConfig.from_specs(a.run).conditions
    except ValueError as e:
        p.error(str(e))
    config = RealLLMConfig(conditions, kl_limit=a.kl_limit, content_without=tuple(a.content_without))
    paths = report(run(config), config, a.out)
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
