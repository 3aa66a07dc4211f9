"""The exact KL-regularized optimum over the whole rubric-world response space (no sampling, no trainer).

A response is one of the R = 2^M property vectors (M = 13, R = 8192). For a base policy pi_0 over them (per
prompt), a proxy reward r(x) and a temperature beta, the maximizer of ``E_pi[r] - beta KL(pi || pi_0)`` is the
exponential tilt ``pi_beta(x) ∝ pi_0(x) exp(r(x) / beta)`` (docs/theory.md). This module enumerates all R
responses, so every nonlinearity of a rubric (coarse OR criteria, negations, the verifier's halo that only
styled responses get) is scored exactly instead of being assumed linear.

The proxy score of a response is its *expected* score under the noisy verifier: a KL-regularized objective only
sees a random reward through its conditional mean, so the tilt of the expected score is the optimum even though
each verdict is noisy. Sequence-level KL is the KL between the two distributions over whole responses (for
factorized policies it equals the per-property sum that :mod:`sim.rubric_train` logs).

Response r's property k is bit k of r (the order of :func:`sim.rubric_world.response_codes`).

Used as: ``exact_tilt(*tilt_arrays(world, proxy), beta_grid())`` -> :class:`TiltCurve`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rewards.checks import check_memory
from sim.rubric_world.properties import M
from sim.rubric_world.verifier import Halo
from sim.rubric_world.world import RubricWorld

__all__ = [
    "TiltCurve",
    "all_responses",
    "beta_grid",
    "exact_tilt",
    "factorized_logprobs",
    "proxy_scores",
    "tilt_arrays",
]

# float64 copies of a (P, R) array that exact_tilt holds at once (inputs, exponent, log-pmf, temporaries)
_LIVE_COPIES = 8


class TiltCurve(NamedTuple):
    """The exact tilt at each beta (all (B,) float64, the order of the ``beta`` given).

    beta   the temperatures (np.inf: the base policy)
    kl     mean over prompts of the sequence-level KL(pi_beta || pi_0), nats
    gold   mean over prompts of E_{pi_beta}[gold]
    proxy  mean over prompts of E_{pi_beta}[proxy]
    """

    beta: np.ndarray
    kl: np.ndarray
    gold: np.ndarray
    proxy: np.ndarray


def all_responses(m: int = M) -> np.ndarray:
    """(2^m, m) int8: every response, row r having property k iff bit k of r is set."""
    if not 1 <= m <= 20:
        raise ValueError(f"all_responses: m={m} must lie in 1..20 (2^m responses are enumerated)")
    codes = np.arange(1 << m, dtype=np.int64)
    return ((codes[:, None] >> np.arange(m)) & 1).astype(np.int8)


def beta_grid(lo: float = 1e-3, hi: float = 10.0, n: int = 49) -> np.ndarray:
    """(n + 1,) temperatures: np.inf (the base policy) then ``n`` log-spaced values from ``hi`` down to ``lo``."""
    if not 0 < lo < hi or n < 1:
        raise ValueError(f"beta_grid: need 0 < lo={lo} < hi={hi} and n={n} >= 1")
    return np.concatenate([[np.inf], np.geomspace(hi, lo, n)])


def factorized_logprobs(logits) -> np.ndarray:
    """(P, R) log-probability of every response under independent Bernoulli(sigmoid(logits)) properties.

    ``logits`` (P, M); log p(x) = sum_k [x_k log s(l_k) + (1 - x_k) log s(-l_k)], computed stably."""
    lg = np.asarray(logits, dtype=np.float64)
    if lg.ndim != 2 or lg.shape[1] < 1:
        raise ValueError(f"logits must have shape (P, M); got {lg.shape}")
    x = all_responses(lg.shape[1]).astype(np.float64)  # (R, M)
    check_memory(8.0 * lg.shape[0] * x.shape[0] * 2, "the response log-probabilities", "lower n_prompts")
    log_on, log_off = -np.logaddexp(0.0, -lg), -np.logaddexp(0.0, lg)  # log s(l), log s(-l)
    return log_off.sum(1)[:, None] + (log_on - log_off) @ x.T


def proxy_scores(proxy: Any, responses=None) -> np.ndarray:
    """(P, R) expected score of every response under a proxy given as arrays (a ``sim.rubric_train.ProxyArrays``
    or anything with its fields: mask (P, C, M), negate, weight, fpr, fnr, halo (P, C), norm (P,),
    halo_trigger (P, M)).

    Per criterion: YES iff (any masked property present) xor negate, flipped by the verifier's error rates, and
    in a response with a halo trigger the rates move by the halo (``sim.rubric_world.Halo.apply``). The
    expected score is ``sum_c weight_c P(YES_c | x) / norm``. ``responses`` (R, M) defaults to all of them."""
    x = all_responses() if responses is None else np.asarray(responses)
    mask, neg, w = (np.asarray(a, np.float64) for a in (proxy.mask, proxy.negate, proxy.weight))
    fpr, fnr, halo = (np.asarray(a, np.float64) for a in (proxy.fpr, proxy.fnr, proxy.halo))
    norm, trig = np.asarray(proxy.norm, np.float64), np.asarray(proxy.halo_trigger, np.float64)
    P, C, _ = mask.shape
    check_memory(8.0 * P * x.shape[0] * (C + 4), "the exact proxy scores", "lower n_prompts")
    out = np.empty((P, x.shape[0]))
    xf = x.astype(np.float64)
    for p in range(P):  # per prompt keeps the (R, C) temporaries small
        truth = ((xf @ mask[p].T) > 0.5) != (neg[p] > 0.5)  # (R, C)
        styled = (xf @ trig[p]) > 0.5  # (R,)
        h = np.where(styled[:, None], halo[p], 0.0)
        f_pos, f_neg = Halo.apply(fpr[p], fnr[p], h)
        yes = np.where(truth, 1.0 - f_neg, f_pos)
        out[p] = yes @ w[p] / norm[p]
    return out


def tilt_arrays(world: RubricWorld, proxy: Any, logits=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base log-probs, proxy scores, gold scores), each (P, R), for ``world`` and a proxy given as arrays.

    ``logits`` (P, M) of the initial policy default to the world's base model (the RFT initialisation and KL
    reference of :mod:`sim.rubric_train`). Gold is the world's gold reward of each response (evaluation only)."""
    lg = world.base_logits() if logits is None else np.asarray(logits, np.float64)
    x = all_responses()
    gold = world.gold(x[None, :, :], prompt_idx=np.arange(world.n_prompts)[:, None])
    return factorized_logprobs(lg), proxy_scores(proxy, x), gold


def _check_inputs(base_logp, proxy, gold, beta) -> tuple[np.ndarray, ...]:
    arrs = [np.asarray(a, np.float64) for a in (base_logp, proxy, gold)]
    if arrs[0].ndim != 2 or any(a.shape != arrs[0].shape for a in arrs):
        raise ValueError(f"base_logp, proxy, gold must share one (P, R) shape; got {[a.shape for a in arrs]}")
    if not all(np.all(np.isfinite(a)) for a in arrs[1:]):
        raise ValueError("proxy and gold scores must be finite")
    if np.any(np.isnan(arrs[0])) or np.any(arrs[0] == np.inf):
        raise ValueError("base_logp must be log-probabilities (finite or -inf)")
    b = np.atleast_1d(np.asarray(beta, np.float64))
    if b.ndim != 1 or np.any(np.isnan(b)) or np.any(b <= 0):
        raise ValueError(f"beta must be a 1-D array of values > 0 (np.inf: the base policy); got {beta}")
    return (*arrs, b)


def exact_tilt(base_logp, proxy, gold, beta) -> TiltCurve:
    """The exact tilt ``pi_beta ∝ pi_0 exp(proxy / beta)`` per prompt, for each beta.

    base_logp (P, R): log pi_0 per prompt (need not be normalised; -inf = outside the support);
    proxy, gold (P, R): scores of each response; beta (B,): temperatures, np.inf = pi_0.
    Returns :class:`TiltCurve` with (B,) means over prompts. Memory: a few (P, R) float64 arrays (checked)."""
    lp0, r, g, b = _check_inputs(base_logp, proxy, gold, beta)
    check_memory(8.0 * lp0.size * _LIVE_COPIES, "the exact tilt", "lower n_prompts")
    lp0 = lp0 - _logsumexp(lp0)[:, None]  # normalise pi_0
    support = np.isfinite(lp0)
    kl, eg, er = (np.empty(b.size) for _ in range(3))
    for i, bi in enumerate(b):
        t = 0.0 if np.isinf(bi) else 1.0 / bi
        s = np.where(support, t * r, 0.0)  # log pi_beta - log pi_0 + log Z
        a = lp0 + s
        logz = _logsumexp(a)  # (P,)
        pmf = np.exp(a - logz[:, None])
        # KL = E_beta[log pi_beta - log pi_0] = E_beta[s] - log Z: no log of a tiny pmf is ever taken
        kl[i] = 0.0 if t == 0.0 else np.mean(np.maximum((pmf * s).sum(1) - logz, 0.0))
        eg[i] = np.mean((pmf * g).sum(1))
        er[i] = np.mean((pmf * r).sum(1))
    return TiltCurve(b, kl, eg, er)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp of (P, R) (rows of -inf give -inf)."""
    m = np.max(a, axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return m + np.log(np.exp(a - m[:, None]).sum(1))
