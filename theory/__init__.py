"""Closed forms and exact finite-K results for tilt and best-of-n under quantile misspecification.

Modules: :mod:`theory.continuous` (exact closed forms under a piecewise-linear ``QuantileMap``, KL budgets,
the win-rate/KL frontier), :mod:`theory.bandit` (exact finite-K tilt and best-of-n with ties),
:mod:`theory.reference` (Proposition 1 by quadrature, the slow trusted reference) and :mod:`theory.fit`
(Gao et al.'s scaling forms with honest peak flags). numpy/scipy only; never torch or trl.
"""

from theory import bandit, continuous, fit, reference

__all__ = ["bandit", "continuous", "fit", "reference"]
