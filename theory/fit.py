"""Gao et al. (2022) scaling forms for reward against KL, fitted by least squares, with honest peak flags.

With d = sqrt(KL): best-of-n ``R(d) = d (alpha - beta_b d)`` and RL ``R(d) = d (alpha - beta_r log d)``.
Both are linear in (alpha, beta) given d, so the fit is an exact linear least-squares problem. Gao et al.
measure R relative to the initial policy (R(0) = 0); here ``offset`` is subtracted first (default: the mean
reward at KL = 0 if the data contain that point, else an intercept is fitted as well).

A fitted peak can be spurious (docs/theory.md section 4): the forms always bend over when beta > 0, even for
monotone data. The result therefore says whether the peak lies inside the data's d range and whether the
data themselves are monotone, and lists ``flags`` a reader should not ignore.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_gao", "is_monotone"]


def is_monotone(kl, reward, tol: float = 0.0) -> str | None:
    """'increasing' / 'decreasing' if reward sorted by kl never moves the other way by more than ``tol``."""
    order = np.argsort(np.asarray(kl, dtype=float), kind="stable")
    diffs = np.diff(np.asarray(reward, dtype=float)[order])
    if np.all(diffs >= -tol):
        return "increasing"
    if np.all(diffs <= tol):
        return "decreasing"
    return None


def _gao_inputs(kl, reward) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D float arrays with the rows that have a NaN in either dropped."""
    kl = np.asarray(kl, dtype=float)
    reward = np.asarray(reward, dtype=float)
    if kl.shape != reward.shape or kl.ndim != 1:
        raise ValueError(f"kl {kl.shape} and reward {reward.shape} must be 1-D arrays of the same length")
    keep = np.isfinite(kl) & np.isfinite(reward)
    kl, reward = kl[keep], reward[keep]
    if np.any(kl < 0):
        raise ValueError("KL values must be >= 0")
    return kl, reward


def _gao_offset(kl: np.ndarray, reward: np.ndarray, offset: float | None) -> tuple[float, bool]:
    """``(offset, fit an intercept?)``: the given offset, else the mean reward at KL = 0, else 0 plus a fitted
    intercept."""
    if offset is not None:
        return offset, False
    at_zero = kl == 0
    if at_zero.any():
        return float(reward[at_zero].mean()), False
    return 0.0, True


def _gao_peak(proc: str, alpha: float, beta: float) -> tuple[float | None, float]:
    """``(peak_d, fitted reward above the offset there)``; peak_d None when the form has no interior maximum."""
    if beta <= 0:
        return None, 0.0
    if proc == "bon":  # d (alpha - beta d) is maximal at d = alpha / (2 beta)
        peak_d, value = alpha / (2.0 * beta), alpha**2 / (4.0 * beta)
    else:  # alpha - beta (log d + 1) = 0 -> d = exp(alpha / beta - 1), where R = beta d
        peak_d = float(np.exp(min(alpha / beta - 1.0, 700.0)))
        value = beta * peak_d
    return (peak_d, value) if peak_d > 0 else (None, 0.0)


def fit_gao(kl, reward, procedure: str, offset: float | None = None, monotone_tol: float = 0.0) -> dict:
    """Fit Gao et al.'s form for ``procedure`` ('bon' or 'rl'; 'tilt' is accepted as 'rl').

    ``kl``, ``reward``: (N,) arrays (NaN rows are dropped). Returns a dict: procedure, alpha, beta (beta_b or
    beta_r), offset, intercept_fitted, rmse, r2, d_range, peak_d, peak_kl, peak_reward (None when the fit
    has no interior maximum, i.e. beta <= 0), peak_in_range, data_monotone ('increasing', 'decreasing' or
    None), flags (list of str: 'no_peak', 'peak_outside_data', 'monotone_data', 'too_few_points').
    """
    proc = {"bon": "bon", "rl": "rl", "tilt": "rl"}.get(procedure)
    if proc is None:
        raise ValueError(f"procedure {procedure!r}: expected 'bon' or 'rl' (or 'tilt')")
    kl, reward = _gao_inputs(kl, reward)
    d = np.sqrt(kl)
    offset, intercept = _gao_offset(kl, reward, offset)
    y = reward - offset
    dlogd = np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)
    second = d**2 if proc == "bon" else dlogd
    X = np.stack([d, -second] + ([np.ones_like(d)] if intercept else []), axis=1)
    flags: list[str] = []
    if len(y) < X.shape[1] + 1:
        flags.append("too_few_points")
    if len(y) < X.shape[1]:
        raise ValueError(f"{len(y)} usable points: need at least {X.shape[1]} to fit the {proc} form")
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    alpha, beta = float(coef[0]), float(coef[1])
    c0 = float(coef[2]) if intercept else 0.0
    resid = y - X @ coef
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    peak_d, value = _gao_peak(proc, alpha, beta)
    peak_reward = None if peak_d is None else value + c0 + offset
    if peak_d is None:
        flags.append("no_peak")
    d_range = (float(d.min()), float(d.max())) if d.size else (float("nan"), float("nan"))
    in_range = peak_d is not None and d_range[0] <= peak_d <= d_range[1]
    if peak_d is not None and not in_range:
        flags.append("peak_outside_data")
    mono = is_monotone(kl, reward, monotone_tol)
    if mono is not None and peak_d is not None:
        flags.append("monotone_data")
    return {
        "procedure": proc,
        "alpha": alpha,
        "beta": beta,
        "offset": float(offset),
        "intercept": c0,
        "intercept_fitted": intercept,
        "rmse": float(np.sqrt(np.mean(resid**2))) if len(y) else float("nan"),
        "r2": r2,
        "d_range": d_range,
        "peak_d": peak_d,
        "peak_kl": None if peak_d is None else peak_d**2,
        "peak_reward": peak_reward,
        "peak_in_range": bool(in_range),
        "data_monotone": mono,
        "flags": flags,
    }
