"""GRPO runs over seeds as one experiment: Config -> collect -> Result -> report.

    config = SeedsConfig.from_specs(["initial=runs/s0/grpo-initial,runs/s1/grpo-initial", "gold=runs/s0/grpo-gold"])
    result = collect(config)            # SeedsResult: curves (R, T) by name, per-seed curve summaries
    report(result, "runs/rft/cpu")      # rft_metrics.json, rft_metrics.csv, rft_curves.json (figure data)

A *run* is a directory that ``chase rft train`` wrote: ``eval_metrics.jsonl`` (one row per evaluation: step,
gold, gold_se, proxy, proxy_se, kl_seq, kl_seq_se, gold_pass, ...), ``run_config.json``, ``eval_samples.jsonl``.
A *condition* is a name and the runs (seeds) of one setting.

Every interval is :func:`rewards.stats.interval` over seeds and every curve summary is
:func:`rewards.stats.summarize_curve` (peak_step, peak, final, drop_after_peak, start, lost_fraction_of_gain),
keyed by the curve it summarizes (``gold``, ``proxy``, ``kl_seq``), so the names mean what they mean in the
simulators (``docs/theory.md``). Per-seed summaries of the reward curves use a ``smooth``-point centered moving
average (default 3) so that a single lucky evaluation does not make the peak (the KL curve is summarized raw);
a single run's own summary (:func:`summarize_run`, what ``rft.train`` writes to ``summary.json``) is unsmoothed.

Figure bands: with several seeds, 95% t-intervals over seeds; with one seed, +-1 standard error over that run's
evaluation samples (all one seed can say).

numpy / scipy only (no torch), so the CLI and figures use it on result files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewards.io import atomic_write_text, read_jsonl, write_json
from rewards.stats import CurveSummary, interval, summarize_curve

__all__ = [
    "CURVES",
    "SMOOTHED",
    "WATCH",
    "ConditionResult",
    "RunRecord",
    "SeedCurves",
    "SeedsConfig",
    "SeedsResult",
    "collect",
    "figure_data",
    "load_condition",
    "metrics_csv",
    "report",
    "summarize",
    "summarize_run",
]

CURVES = ("gold", "proxy", "kl_seq")  # the evaluation curves that are stacked over seeds and summarized
SMOOTHED = ("gold", "proxy")  # noisy reward evaluations: one lucky evaluation must not make the peak

# gold criteria worth watching: two the initial rubric pays for the cheap way (hedging, padding: gold
# penalizes them, so the pass rate is the rate of AVOIDING them) and two tail facts it rarely names
WATCH = {
    "prop:hedged_diagnosis": "avoids hedging",
    "prop:padding": "avoids padding",
    "prop:dangerous_differential": "names dangerous differential",
    "prop:decisive_test": "orders decisive test",
}


@dataclass(frozen=True)
class SeedsConfig:
    """Which runs to gather and how to summarize them.

    conditions:   ``((name, (run_dir, ...)), ...)``: each condition's runs, one per seed (see
                  :meth:`from_specs` for ``NAME=DIR[,DIR...]``).
    smooth:       width of the centered moving average of the reward curves (gold, proxy) before their peak
                  and final are read; the KL curve is summarized raw (its final is where the policy ended).
    watch:        gold criteria (``prop:<name>``) whose pass rates the figure data carries.
    common_steps: use the evaluation steps all seeds of a condition share; otherwise seeds that evaluated at
                  different steps are an error.
    model:        pretrained model directory whose ``tinylm.json`` report goes into the metrics.
    samples:      last evaluation samples kept per run in the metrics JSON.
    """

    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    smooth: int = 3
    watch: tuple[str, ...] = tuple(WATCH)
    common_steps: bool = False
    model: str | None = None
    samples: int = 8

    def __post_init__(self) -> None:
        if self.smooth < 1:
            raise ValueError(f"smooth must be >= 1 (got {self.smooth})")
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0 (got {self.samples})")
        names = [n for n, _ in self.conditions]
        if len(set(names)) != len(names):
            raise ValueError(f"a condition is named twice: {names}")
        for name, dirs in self.conditions:
            if not name or not dirs:
                raise ValueError(f"condition {name!r} needs a name and at least one run directory")

    @classmethod
    def from_specs(cls, specs: list[str] | tuple[str, ...], **kw: Any) -> SeedsConfig:
        """``NAME=DIR[,DIR...]`` per spec (several dirs: seeds of one condition; a name given twice gathers
        the runs of both, in order)."""
        out: dict[str, list[str]] = {}
        for spec in specs:
            name, sep, dirs = spec.partition("=")
            runs = [d for d in dirs.split(",") if d]
            if not sep or not name or not runs:
                raise ValueError(f"a run spec is NAME=DIR[,DIR...], got {spec!r}")
            out.setdefault(name, []).extend(runs)
        return cls(conditions=tuple((n, tuple(d)) for n, d in out.items()), **kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SeedCurves:
    """Evaluation curves of one condition: ``steps`` (T,) shared by its R seeds; ``gold``, ``gold_se``,
    ``proxy``, ``proxy_se``, ``kl_seq``, ``kl_seq_se`` (R, T) (NaN where a row lacks the value); ``passes``
    {criterion: (R, T) gold pass rate} for the watched criteria some seed reports."""

    steps: np.ndarray
    gold: np.ndarray
    gold_se: np.ndarray
    proxy: np.ndarray
    proxy_se: np.ndarray
    kl_seq: np.ndarray
    kl_seq_se: np.ndarray
    passes: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_seeds(self) -> int:
        return int(self.gold.shape[0])


@dataclass(frozen=True)
class RunRecord:
    """One run as read: its directory, condition, key in the metrics (``name`` or ``name/seed-run-i``), its
    evaluation rows (sorted by step), ``run_config.json`` and the last evaluation samples."""

    key: str
    condition: str
    dir: str
    rows: list[dict]
    config: dict
    samples: list[dict]


@dataclass(frozen=True)
class ConditionResult:
    """One condition: its runs, curves (R, T) and per-curve summaries (:data:`CURVES` -> CurveSummary whose
    fields are (R,) per-seed values)."""

    name: str
    runs: tuple[RunRecord, ...]
    curves: SeedCurves
    summary: dict[str, CurveSummary]


@dataclass(frozen=True)
class SeedsResult:
    """What :func:`collect` gathered: the config, the conditions in order, and the pretraining report."""

    config: SeedsConfig
    conditions: tuple[ConditionResult, ...]
    pretrain: dict | None = None


def _read_run(key: str, condition: str, d: str, samples: int) -> RunRecord:
    path = Path(d)
    rows = read_jsonl(path / "eval_metrics.jsonl")
    if not rows:
        raise FileNotFoundError(f"{path / 'eval_metrics.jsonl'} is missing or empty")
    cfg_path = path / "run_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
    kept = read_jsonl(path / "eval_samples.jsonl")[-samples:] if samples else []
    return RunRecord(key, condition, d, sorted(rows, key=lambda r: r["step"]), cfg, kept)


def _steps(runs: tuple[RunRecord, ...], name: str, common: bool) -> list[int]:
    per_run = [[int(r["step"]) for r in run.rows] for run in runs]
    if common:
        shared = sorted(set.intersection(*(set(s) for s in per_run)))
        if not shared:
            raise ValueError(f"condition {name!r}: the seeds share no evaluation step")
        return shared
    for run, steps in zip(runs[1:], per_run[1:], strict=True):
        if steps != per_run[0]:
            raise ValueError(
                f"condition {name!r}: seeds evaluated at different steps ({runs[0].dir}: {_span(per_run[0])}; "
                f"{run.dir}: {_span(steps)}); use common_steps (--common-steps) to keep the steps they share"
            )
    return per_run[0]


def _span(steps: list[int]) -> str:
    return f"{len(steps)} steps {steps[0]}..{steps[-1]}" if steps else "no steps"


def _matrix(runs: tuple[RunRecord, ...], steps: list[int], get) -> np.ndarray:
    """(R, T) ``get(row)`` at each run's row of each step; NaN where it returns None."""
    out = np.full((len(runs), len(steps)), np.nan)
    for i, run in enumerate(runs):
        by_step = {int(r["step"]): r for r in run.rows}
        for j, s in enumerate(steps):
            v = get(by_step[s])
            out[i, j] = np.nan if v is None else float(v)
    return out


def _width(curve: str, smooth: int) -> int:
    return smooth if curve in SMOOTHED else 1


def load_condition(name: str, dirs: tuple[str, ...], config: SeedsConfig) -> ConditionResult:
    """Read the runs of one condition, stack their curves over the shared steps and summarize each seed."""
    runs = tuple(
        _read_run(name if len(dirs) == 1 else f"{name}/seed-run-{i}", name, d, config.samples)
        for i, d in enumerate(dirs)
    )
    steps = _steps(runs, name, config.common_steps)
    cols = {k: _matrix(runs, steps, lambda r, k=k: r.get(k)) for k in ("gold_se", "proxy_se", "kl_seq_se", *CURVES)}
    passes = {}
    for crit in config.watch:
        m = _matrix(runs, steps, lambda r, c=crit: r.get("gold_pass", {}).get(c))
        if not np.isnan(m).all():  # criteria no run reports are left out
            passes[crit] = m
    curves = SeedCurves(np.asarray(steps), **cols, passes=passes)
    summary = {k: summarize_curve(getattr(curves, k), _width(k, config.smooth), curves.steps) for k in CURVES}
    return ConditionResult(name, runs, curves, summary)


def collect(config: SeedsConfig) -> SeedsResult:
    """Gather every condition of ``config`` (raises ``FileNotFoundError`` for a run without evaluations and
    ``ValueError`` for seeds whose steps differ)."""
    if not config.conditions:
        raise ValueError("no runs given (conditions is empty)")
    conditions = tuple(load_condition(name, dirs, config) for name, dirs in config.conditions)
    pretrain = None
    if config.model:
        pretrain = json.loads((Path(config.model) / "tinylm.json").read_text(encoding="utf-8"))
    return SeedsResult(config, conditions, pretrain)


def _per_seed(summary: CurveSummary) -> dict[str, dict[str, Any]]:
    """Each field's interval over seeds (``{"mean", "lo", "hi", "n"}``; lo = hi = NaN with one seed) and the
    per-seed values."""
    return {
        k: {**interval(v).to_dict(), "per_seed": np.asarray(v, dtype=float).tolist()}
        for k, v in summary._asdict().items()
    }


def summarize(result: SeedsResult) -> dict[str, Any]:
    """Per condition: ``{"n_seeds", "smooth", "steps", curve: {field: {"mean", "lo", "hi", "n", "per_seed"}}}``
    for every curve of :data:`CURVES` and every :class:`rewards.stats.CurveSummary` field."""
    out = {}
    for c in result.conditions:
        head = {"n_seeds": c.curves.n_seeds, "smooth": result.config.smooth, "steps": c.curves.steps.tolist()}
        out[c.name] = head | {k: _per_seed(s) for k, s in c.summary.items()}
    return out


def summarize_run(rows: list[dict], smooth: int = 1) -> dict[str, Any]:
    """One run's summary: its first and last evaluation rows and, per curve of :data:`CURVES`, the
    :class:`rewards.stats.CurveSummary` fields (``smooth`` applies to the reward curves as in :func:`collect`;
    unsmoothed by default; ``peak_step`` is a step number)."""
    if not rows:
        return {}
    rows = sorted(rows, key=lambda r: r["step"])
    steps = np.array([int(r["step"]) for r in rows])
    out: dict[str, Any] = {"first": rows[0], "last": rows[-1]}
    for k in CURVES:
        s = summarize_curve(np.array([r[k] for r in rows], dtype=float), _width(k, smooth), steps)
        out[k] = {f: (int(v) if f == "peak_step" else float(v)) for f, v in s._asdict().items()}
    return out


def _band(c: ConditionResult, k: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = getattr(c.curves, k)
    if c.curves.n_seeds == 1:
        se = np.nan_to_num(getattr(c.curves, f"{k}_se")[0])
        return x[0], x[0] - se, x[0] + se
    iv = interval(x, nan="omit")
    return iv.mean, iv.lo, iv.hi


def figure_data(result: SeedsResult, title: str = "") -> dict[str, Any]:
    """The data ``figures.rft_curves`` plots: per condition the step axis, the gold / proxy / kl_seq means
    with their bands (``_lo`` / ``_hi``; ``band`` says which), and the watched criteria's mean pass rates."""
    conds = []
    for c in result.conditions:
        d: dict[str, Any] = {"name": c.name, "n_seeds": c.curves.n_seeds, "step": c.curves.steps.tolist()}
        d["band"] = "se over samples" if c.curves.n_seeds == 1 else "95% t over seeds"
        for k in CURVES:
            m, lo, hi = _band(c, k)
            d[k], d[f"{k}_lo"], d[f"{k}_hi"] = m.tolist(), lo.tolist(), hi.tolist()
        d["pass"] = {k: np.nanmean(v, axis=0).tolist() for k, v in c.curves.passes.items()}
        conds.append(d)
    watch = {k: WATCH.get(k, k) for k in result.config.watch}
    return {"title": title, "watch": watch, "conditions": conds}


def metrics_csv(result: SeedsResult) -> str:
    """Long format: one line per run and evaluation step (``run``, ``condition``, ``step``, every other field of
    the row, ``gold_pass/<criterion>``), columns in a stable order."""
    lines = []
    for c in result.conditions:
        for run in c.runs:
            for r in run.rows:
                flat = {k: v for k, v in r.items() if k != "gold_pass"}
                passes = {f"gold_pass/{k}": v for k, v in r.get("gold_pass", {}).items()}
                lines.append({"run": run.key, "condition": c.name, **flat, **passes})
    first = ("run", "condition", "step")
    cols = sorted({k for r in lines for k in r}, key=lambda k: (first.index(k) if k in first else len(first), k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(lines)
    return buf.getvalue()


def metrics(result: SeedsResult) -> dict[str, Any]:
    """The metrics document: config, pretraining report, every run (summary, evaluation rows, config, last
    samples) and the summaries over seeds."""
    runs = {
        run.key: {
            "dir": run.dir,
            "condition": c.name,
            "summary": summarize_run(run.rows),
            "eval": run.rows,
            "config": run.config,
            "samples": run.samples,
        }
        for c in result.conditions
        for run in c.runs
    }
    doc = {"config": result.config.to_dict(), "runs": runs, "over_seeds": summarize(result)}
    return doc | ({"pretrain": result.pretrain} if result.pretrain is not None else {})


def report(result: SeedsResult, out_dir: str | Path, stem: str = "rft", title: str = "") -> dict[str, Path]:
    """Write ``{stem}_metrics.json`` (:func:`metrics`), ``{stem}_metrics.csv`` (:func:`metrics_csv`) and
    ``{stem}_curves.json`` (:func:`figure_data`, what ``figures.rft_curves`` draws) into ``out_dir``."""
    out = Path(out_dir)
    return {
        "json": write_json(out / f"{stem}_metrics.json", metrics(result)),
        "csv": atomic_write_text(out / f"{stem}_metrics.csv", metrics_csv(result)),
        "figure_data": write_json(out / f"{stem}_curves.json", figure_data(result, title)),
    }
