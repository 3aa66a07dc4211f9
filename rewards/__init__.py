"""The shared reward interface: quantile maps, rubrics and their file formats, verifiers, the refinement loop,
diagnostics, statistics and the cached-run policy.

numpy only: importing this package never imports torch, jax or trl.
"""

from rewards.diagnostics import HEstimate, PairAccuracy, estimate_h, pair_accuracy, tail_accuracy_profile
from rewards.formats import RubricRecord, load_rubrics, save_rubrics
from rewards.quantile import AdditiveError, Piece, QuantileMap, SpecError, parse_error
from rewards.refine import POOL_MODES, Iteration, PoolMode, Proposer, RefineConfig, RefineResult, refine, select_top2
from rewards.rubric import (
    NO,
    UNKNOWN,
    YES,
    Criterion,
    Rubric,
    RubricFormatError,
    RubricValidationError,
    healthbench_dataset_score,
    stable_hash,
    validate_rubric,
)
from rewards.verify import CheckSpecError, RuleVerifier, Verifier

__all__ = [
    "NO",
    "POOL_MODES",
    "UNKNOWN",
    "YES",
    "AdditiveError",
    "CheckSpecError",
    "Criterion",
    "HEstimate",
    "Iteration",
    "PairAccuracy",
    "Piece",
    "PoolMode",
    "Proposer",
    "QuantileMap",
    "RefineConfig",
    "RefineResult",
    "Rubric",
    "RubricFormatError",
    "RubricRecord",
    "RubricValidationError",
    "RuleVerifier",
    "SpecError",
    "Verifier",
    "estimate_h",
    "healthbench_dataset_score",
    "load_rubrics",
    "pair_accuracy",
    "parse_error",
    "refine",
    "save_rubrics",
    "select_top2",
    "stable_hash",
    "tail_accuracy_profile",
    "validate_rubric",
]
