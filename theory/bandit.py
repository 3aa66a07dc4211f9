"""Exact finite-K bandits (docs/theory.md section 3): tilt and best-of-n over K arms, ties allowed.

Arms k have base probabilities ``p`` (K,), true rewards and proxy rewards (K,). Win rates use mid-ranks
``u_k = P0(r* < r*_k) + P0(r* = r*_k) / 2`` so the base policy's win rate is exactly 1/2. Ties are exact
float equality: pass rounded values if near-equal rewards should tie.

``beta`` / ``n`` may be arrays of shape S; the pmfs then have shape S + (K,).
"""

from __future__ import annotations

import numpy as np

from rewards.diagnostics import midrank_quantiles

__all__ = ["bon_pmf", "evaluate", "mid_rank_quantiles", "tilt_pmf"]


def _probs(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"p must be a non-empty 1-D array of arm probabilities; got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"p must be finite and >= 0; got {p.tolist()}")
    total = p.sum()
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"p must sum to 1 (within 1e-6); it sums to {total!r}")
    return p / total


def _values(values, k: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.shape != (k,):
        raise ValueError(f"{name} has shape {values.shape}; expected ({k},) to match p")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite; got {values.tolist()}")
    return values


def mid_rank_quantiles(p, values) -> np.ndarray:
    """(K,) mid-rank quantiles P0(X < x_k) + P0(X = x_k)/2 of each arm's value under pi0."""
    p = _probs(p)
    return midrank_quantiles(_values(values, p.size, "values"), weights=p)


def tilt_pmf(p, proxy, beta) -> np.ndarray:
    """pi_beta(k) ∝ p_k exp(r_k / beta); beta = np.inf gives p. Shape S + (K,) for beta of shape S."""
    p = _probs(p)
    proxy = _values(proxy, p.size, "proxy")
    beta = np.asarray(beta, dtype=float)
    if np.any(np.isnan(beta)) or np.any(beta <= 0):
        raise ValueError(f"beta must be > 0 (np.inf is the base policy); got {beta}")
    t = (1.0 / beta)[..., None]
    support = p > 0
    # subtract the largest proxy on the support so the exponent is <= 0 at any beta (never overflows)
    logits = np.where(support, t * (proxy - proxy[support].max()), -np.inf)
    weights = np.where(support, p * np.exp(np.where(support, logits, 0.0)), 0.0)
    return weights / weights.sum(axis=-1, keepdims=True)


def bon_pmf(p, proxy, n) -> np.ndarray:
    """Best of n draws from p ranked by ``proxy``, ties broken uniformly at random.

    A tie group G at proxy level l gets F(l)^n - F^-(l)^n (F = P0(r <= l), F^- = P0(r < l)), split ∝ p_k
    inside G. ``n`` real >= 1 allowed; shape S + (K,) for n of shape S.
    """
    p = _probs(p)
    proxy = _values(proxy, p.size, "proxy")
    n = np.asarray(n, dtype=float)
    if np.any(np.isnan(n)) or np.any(n < 1) or np.any(np.isinf(n)):
        raise ValueError(f"n must be a finite number >= 1; got {n}")
    levels, inverse = np.unique(proxy, return_inverse=True)
    mass = np.bincount(inverse, weights=p, minlength=levels.size)
    upper = np.minimum(np.cumsum(mass), 1.0)
    lower = np.concatenate([[0.0], upper[:-1]])
    nn = n[..., None]
    group = upper**nn - lower**nn  # S + (L,)
    share = np.where(mass[inverse] > 0, p / np.where(mass[inverse] > 0, mass[inverse], 1.0), 0.0)
    return group[..., inverse] * share


def evaluate(p, true, pmf) -> dict[str, np.ndarray]:
    """Expected true reward, mid-rank win rate against pi0, and KL(pmf || p) of a policy over the arms.

    ``pmf`` (..., K); results have shape ``pmf.shape[:-1]`` (floats for a single pmf). KL is inf when pmf puts
    mass where p has none.
    """
    p = _probs(p)
    true = _values(true, p.size, "true")
    pmf = np.asarray(pmf, dtype=float)
    if pmf.shape[-1:] != (p.size,):
        raise ValueError(f"pmf has shape {pmf.shape}; expected (..., {p.size})")
    if np.any(pmf < -1e-15) or np.any(np.abs(pmf.sum(axis=-1) - 1.0) > 1e-9):
        raise ValueError("pmf must be a probability vector (>= 0, summing to 1)")
    u = mid_rank_quantiles(p, true)
    pos = pmf > 0
    ratio = np.where(pos, pmf / np.where(p > 0, p, 1.0), 1.0)
    terms = np.where(pos, np.where(p > 0, pmf * np.log(ratio), np.inf), 0.0)
    out = {
        "expected_true": np.sum(pmf * true, axis=-1),
        "win_rate": np.sum(pmf * u, axis=-1),
        "kl": np.maximum(np.sum(terms, axis=-1), 0.0),
    }
    if pmf.ndim == 1:
        return {k: float(v) for k, v in out.items()}
    return out
