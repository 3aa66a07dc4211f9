"""The best *factorized* policy at each beta: the KL-regularized optimum inside GRPO's own policy class.

GRPO in the rubric world trains independent Bernoulli logits per property (:mod:`sim.rubric_train`); the exact
tilt (:func:`sim.rubric_world.exact_tilt`) is the optimum over *all* distributions on responses, which a coarse
OR criterion makes correlated (it pays for "A or B", so the tilt puts mass on A-without-B and B-without-A but
little on both). The optimum over product distributions,

    max_q  E_q[r] - beta * sum_k KL(q_k || p0_k)      over q = prod_k Bernoulli(q_k),

separates the two things a trainer could be blamed for: if it loses gold, the *policy class* does; if it does
not while GRPO does, the *training path* (sampling, normalised advantages, order of learning) does.

For a rubric proxy without a halo, E_q[r] is closed-form: criterion c (properties S_c, negation n_c, weight
w_c, verifier rates f_c, g_c) pays ``w_c / norm * (f_c + (1 - f_c - g_c) T_c)`` with
``E_q[OR_c] = 1 - prod_{j in S_c} (1 - q_j)``, so ``dE_q[r]/dq_k = sum_{c: k in S_c} w_c (1 - f_c - g_c) / norm
* (+1 or -1 for a negated c) * prod_{j in S_c, j != k} (1 - q_j)``. A stationary point satisfies
``logit q_k = logit p0_k + (dE_q[r]/dq_k) / beta``, found by damped fixed-point iteration, warm-started from the
previous (larger) beta: the branch that starts at the base policy, as training does. The objective is not
concave (OR criteria), so this is that branch's local optimum, not necessarily the global one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["FactorizedCurve", "factorized_optimum"]


class FactorizedCurve(NamedTuple):
    """Per beta (B,): sequence KL, expected gold and proxy (means over prompts), the fixed point's residual
    (max |logit change| in the last iteration), and the inclusion probabilities (B, M), mean over prompts."""

    beta: np.ndarray
    kl: np.ndarray
    gold: np.ndarray
    proxy: np.ndarray
    residual: np.ndarray
    probs: np.ndarray


def _coefficients(proxy: Any) -> tuple[np.ndarray, ...]:
    """(mask (P, C, M), sign (P, C), slope (P, C), offset (P,)) of a halo-free proxy's expected score."""
    if np.any(np.asarray(proxy.halo) != 0):
        raise ValueError("factorized_optimum: a proxy with a verifier halo has no closed form here")
    mask = np.asarray(proxy.mask, np.float64)
    w, norm = np.asarray(proxy.weight, np.float64), np.asarray(proxy.norm, np.float64)
    f, g = np.asarray(proxy.fpr, np.float64), np.asarray(proxy.fnr, np.float64)
    neg = np.asarray(proxy.negate) > 0.5
    slope = w * (1.0 - f - g) / norm[:, None]
    # E[score] = sum_c w_c f_c / norm + slope_c E[T_c], T_c = OR_c or 1 - OR_c
    offset = (w * f).sum(1) / norm + np.where(neg, slope, 0.0).sum(1)
    return mask, np.where(neg, -1.0, 1.0), slope, offset


def _score_and_grad(q: np.ndarray, coef) -> tuple[np.ndarray, np.ndarray]:
    """Expected proxy (P,) and its gradient in q (P, M) for product policies q (P, M)."""
    mask, sign, slope, offset = coef
    log1m = np.log1p(-np.clip(q, 0.0, 1.0 - 1e-12))  # (P, M)
    none = np.einsum("pcm,pm->pc", mask, log1m)  # log P(no property of S_c)
    score = offset + (sign * slope * (1.0 - np.exp(none))).sum(1)
    others = np.exp(none[..., None] - log1m[:, None, :]) * mask  # prod over S_c without k, (P, C, M)
    grad = np.einsum("pc,pcm->pm", sign * slope, others)
    return score, grad


def _kl(q: np.ndarray, p0: np.ndarray) -> np.ndarray:
    q, p0 = np.clip(q, 1e-15, 1 - 1e-15), np.clip(p0, 1e-15, 1 - 1e-15)
    return (q * np.log(q / p0) + (1 - q) * np.log((1 - q) / (1 - p0))).sum(-1)


def factorized_optimum(
    base_logits, proxy: Any, gold_fn, beta, iters: int = 400, damping: float = 0.3, tol: float = 1e-7
) -> FactorizedCurve:
    """The factorized policy's KL-regularized optimum along ``beta`` (decreasing order expected; np.inf first).

    base_logits (P, M); ``proxy`` a halo-free ``sim.rubric_train.ProxyArrays``; ``gold_fn(q)`` maps inclusion
    probabilities (P, M) to expected gold (P,) (e.g. ``RubricWorld.gold_expected``). ``damping``: the step of
    the fixed-point iteration in logit space; up to ``iters`` iterations per beta (stops below ``tol``)."""
    th0 = np.asarray(base_logits, np.float64)
    p0 = 1.0 / (1.0 + np.exp(-th0))
    coef = _coefficients(proxy)
    b = np.atleast_1d(np.asarray(beta, np.float64))
    th = th0.copy()
    out = {k: np.empty(b.size) for k in ("kl", "gold", "proxy", "residual")}
    probs = np.empty((b.size, th0.shape[1]))
    for i, bi in enumerate(b):
        res = 0.0
        for _ in range(0 if np.isinf(bi) else iters):
            _, grad = _score_and_grad(1.0 / (1.0 + np.exp(-th)), coef)
            step = damping * (th0 + grad / bi - th)
            th = th + step
            res = float(np.abs(step).max()) / damping
            if res < tol:
                break
        q = 1.0 / (1.0 + np.exp(-th))
        score, _ = _score_and_grad(q, coef)
        out["kl"][i], out["gold"][i], out["proxy"][i] = _kl(q, p0).mean(), np.mean(gold_fn(q)), score.mean()
        out["residual"][i] = res
        probs[i] = q.mean(0)
    return FactorizedCurve(b, out["kl"], out["gold"], out["proxy"], out["residual"], probs)
