"""The rubric world's experiments: the paper's Tables 1, 2 and 6 and Figure 4, in miniature, over seeds.

    config = ExperimentConfig(...)                          # config.py: frozen, nested component configs
    result = run(config, jax.random.key(config.seed))       # run.py: -> RubricWorldResult (named arrays)
    summary = summarize(result)                             # summary.py: tables, findings, theory link
    report(summary, out_dir)                                # report.py: CSV / Markdown / JSON files

Every statistic goes through :mod:`rewards.stats` (docs/ARCHITECTURE.md); the theory the findings test is in
docs/theory.md.
"""

from sim.rubric_experiments.config import QUICK, REFERENCE, RUBRIC_CONDITIONS, ExperimentConfig
from sim.rubric_experiments.report import FIG4, FIG_TABLE2, figure_data, report
from sim.rubric_experiments.run import RubricWorldResult, SeedRubrics, refine_world, run, table2_seed
from sim.rubric_experiments.summary import KL_BUDGETS, RubricWorldSummary, gold_within_kl, summarize

__all__ = [
    "FIG4",
    "FIG_TABLE2",
    "KL_BUDGETS",
    "QUICK",
    "REFERENCE",
    "RUBRIC_CONDITIONS",
    "ExperimentConfig",
    "RubricWorldResult",
    "RubricWorldSummary",
    "SeedRubrics",
    "figure_data",
    "gold_within_kl",
    "refine_world",
    "report",
    "run",
    "summarize",
    "table2_seed",
]
