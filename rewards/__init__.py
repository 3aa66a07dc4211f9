"""The shared reward interface: quantile maps, rubrics, verifiers, the refinement loop, diagnostics.

numpy only: importing this package never imports torch, jax or trl.
"""

from rewards.quantile import AdditiveError, Piece, QuantileMap, SpecError, parse_error

__all__ = ["AdditiveError", "Piece", "QuantileMap", "SpecError", "parse_error"]
