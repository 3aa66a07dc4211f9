"""Predict over-optimization from base-policy samples: the KL-regularized optimum and best-of-n, estimated by
reweighting the samples themselves.

Input: N base-policy samples in P prompts, each with a proxy score ``r`` (what training will maximize) and,
where available, a gold score ``g`` (what we care about; NaN = not scored). Nothing is fitted.

**Tilt** (docs/theory.md section 2). The optimum of ``E_pi[r] - beta KL(pi || pi0)`` is ``pi0 exp(r / beta)``.
Per prompt, the self-normalized weights ``w_i = exp(lam r_i) / sum_j exp(lam r_j)`` (``lam = 1/beta``, one
``lam`` shared by all prompts, as one training run shares one beta) turn the empirical base distribution into
an estimate of that tilt. Predicted gold = ``sum_i w_i g_i`` over the gold-scored samples (renormalized: gold is
assumed missing at random within a prompt); sequence-level KL of the reweighted empirical distribution
``sum_i w_i log(m w_i)`` (m samples in the prompt: equal to the importance-sampling estimate
``lam E_w[r] - log mean exp(lam r)`` of KL(tilt || pi0)); effective sample size ``1 / sum_i w_i^2``.
Prompt-level values are averaged over prompts.

**Best-of-n** from the same empirical distribution, exactly: within a prompt, the best of n draws (with
replacement, ties broken uniformly) lands on the tie group of proxy value ``x`` with probability
``F(x)^n - F(x-)^n``, spread evenly over the group.

**Resolution.** A tilt estimated from m samples cannot see KL beyond ~log m, and long before that it rests on a
handful of samples. The curve is *resolved* while the median over prompts of the per-prompt ESS stays at or
above ``min_ess``; peaks are searched only there, and a curve still rising at the limit is reported as
"no peak below KL = X", never extrapolated.

**Bands.** Prompt-clustered percentile bootstrap (whole prompts resampled; the per-prompt curves are computed
once, so a replicate is a weighted average). A peak is *predicted* when the bootstrap interval of the drop
from the peak to the end of the resolved range excludes 0.

numpy only; randomness from an explicit ``np.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.diagnostics import _rank_counts, midrank_quantiles
from rewards.stats import percentile_bands, percentile_interval

__all__ = ["CurveBands", "Prediction", "best_of_n_curves", "group_codes", "predict", "tilt_curves"]


def group_codes(prompt_ids) -> tuple[np.ndarray, int]:
    """Dense integer codes (N,) for prompt ids of any hashable type, and the number of prompts P."""
    _, codes = np.unique(np.asarray(prompt_ids), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    return codes, int(codes.max()) + 1 if codes.size else 0


def _per_prompt_gold_u(gold: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scored mask (N,) and the within-prompt mid-rank gold quantile u (N,; NaN where gold is NaN)."""
    scored = ~np.isnan(gold)
    u = np.full(gold.shape, np.nan)
    u[scored] = midrank_quantiles(gold[scored], codes[scored])
    return scored, u


def _weighted_prompt_sums(w, codes, P, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per prompt: sum_i w_i x_i for each column x (N,), NaN entries counted as 0. Returns {name: (P,)}."""
    return {k: np.bincount(codes, w * np.nan_to_num(x), P) for k, x in cols.items()}


def _finish(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ratio estimates per prompt from weighted sums: gold and u renormalized over gold-scored samples."""
    with np.errstate(invalid="ignore", divide="ignore"):
        gold = sums["gold"] / sums["scored"]
        win = sums["u"] / sums["scored"]
    return {"gold": gold, "win": win, "proxy": sums["proxy"], "v": sums["v"], "kl": sums["kl"], "ess": sums["ess"]}


def _padded(codes: np.ndarray, P: int, cols: list[np.ndarray], fill: list[float]) -> tuple[np.ndarray, ...]:
    """Per-prompt rows: each column (N,) laid out as (P, m_max), prompt p's samples in its row, the rest ``fill``."""
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=P)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(codes.size) - starts[codes[order]]
    out = []
    for x, f in zip(cols, fill, strict=True):
        a = np.full((P, int(counts.max())), f, dtype=np.float64)
        a[codes[order], pos] = x[order]
        out.append(a)
    return tuple(out)


def tilt_curves(proxy, gold, codes, P: int, lams, chunk: int = 8) -> dict[str, np.ndarray]:
    """Per-prompt tilt curves on the grid ``lams`` (L,) of inverse temperatures: each of ``gold`` (gold mean,
    NaN for a prompt without gold), ``win`` (mean gold quantile u, the win rate against the base policy),
    ``proxy``, ``v`` (mean within-prompt proxy quantile), ``kl``, ``ess`` is (L, P). Computed on a (P, m_max)
    padded layout, ``chunk`` temperatures at a time (memory: ~4 * chunk * P * m_max floats)."""
    r = np.asarray(proxy, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    scored, u = _per_prompt_gold_u(g, codes)
    v = midrank_quantiles(r, codes)
    m = np.bincount(codes, minlength=P).astype(np.float64)
    rmax = np.full(P, -np.inf)
    np.maximum.at(rmax, codes, r)
    dr = r - rmax[codes]  # <= 0: exp never overflows
    cols = [dr, dr, np.nan_to_num(g), np.nan_to_num(u), scored.astype(float), r, v]
    dr_exp, dr0, *x = _padded(codes, P, cols, [-np.inf] + [0.0] * 6)
    x = np.stack([dr0, *x], axis=-1)  # (P, m_max, 6): dr, gold, u, scored, proxy, v
    out: dict[str, list] = {k: [] for k in ("gold", "win", "proxy", "v", "kl", "ess")}
    lams = np.asarray(lams, dtype=np.float64)
    for i in range(0, lams.size, chunk):
        lam = lams[i : i + chunk, None, None]
        e = np.exp(lam * dr_exp)  # (l, P, m_max); padding -> 0
        z = e.sum(-1)
        w = e / z[..., None]
        s = np.einsum("lpm,pmk->lpk", w, x)
        sums = {"gold": s[..., 1], "u": s[..., 2], "scored": s[..., 3], "proxy": s[..., 4], "v": s[..., 5]}
        sums["kl"] = lam[..., 0] * s[..., 0] - np.log(z) + np.log(m)  # sum_i w_i log(m w_i)
        sums["ess"] = 1.0 / np.einsum("lpm,lpm->lp", w, w)
        for k, val in _finish(sums).items():
            out[k].append(val)
    return {k: np.concatenate(val) for k, val in out.items()}


def best_of_n_curves(proxy, gold, codes, P: int, ns) -> dict[str, np.ndarray]:
    """Per-prompt best-of-n curves for each n in ``ns`` (L,), exact over the empirical distribution with ties
    split evenly: the same keys and shapes (L, P) as :func:`tilt_curves`."""
    r = np.asarray(proxy, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    scored, u = _per_prompt_gold_u(g, codes)
    v = midrank_quantiles(r, codes)
    less, leq, size = _rank_counts(r, codes)
    f_lo, f_hi, k = less / size, leq / size, leq - less  # F(x-), F(x), tie-group size
    out: dict[str, list] = {k_: [] for k_ in ("gold", "win", "proxy", "v", "kl", "ess")}
    for n in np.asarray(ns, dtype=np.float64):
        # F^n - F_^n written as F^n (1 - (F_/F)^n) keeps precision when both are close to 1
        with np.errstate(divide="ignore", invalid="ignore"):
            top = f_hi**n * -np.expm1(n * np.log(np.where(f_lo > 0, f_lo / f_hi, 1.0)))
        top = np.where(f_lo > 0, top, f_hi**n)
        w = top / k  # probability of each sample
        with np.errstate(divide="ignore"):
            logmw = np.where(w > 0, np.log(np.maximum(w, 1e-300) * size), 0.0)
        sums = _weighted_prompt_sums(
            w, codes, P, {"gold": g, "u": u, "scored": scored.astype(float), "proxy": r, "v": v, "kl": logmw}
        )
        sums["ess"] = 1.0 / np.bincount(codes, w * w, P)
        for key, x in _finish(sums).items():
            out[key].append(x)
    return {k_: np.stack(x) for k_, x in out.items()}


@dataclass(frozen=True, eq=False)
class CurveBands:
    """A predicted curve over a grid (L,): ``param`` (lam or n), prompt means of ``kl``, ``gold``, ``win``,
    ``proxy``, ``v``; ``ess_median`` / ``ess_min`` over prompts; bootstrap bands ``gold_lo/hi``, ``win_lo/hi``,
    ``kl_lo/hi`` (NaN without a bootstrap); ``resolved`` (L,) bool: median ESS >= min_ess."""

    param: np.ndarray
    kl: np.ndarray
    gold: np.ndarray
    win: np.ndarray
    proxy: np.ndarray
    v: np.ndarray
    ess_median: np.ndarray
    ess_min: np.ndarray
    gold_lo: np.ndarray
    gold_hi: np.ndarray
    win_lo: np.ndarray
    win_hi: np.ndarray
    kl_lo: np.ndarray
    kl_hi: np.ndarray
    resolved: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {k: np.asarray(x).tolist() for k, x in self.__dict__.items()}


@dataclass(frozen=True)
class Prediction:
    """What the samples predict for one procedure (tilt or best-of-n).

    ``curve``: :class:`CurveBands`. ``peak``: True when an interior peak is predicted (the drop's bootstrap
    interval excludes 0). ``peak_index``: argmax of predicted gold in the resolved range. ``peak_kl``,
    ``peak_gold``, ``peak_win``, ``peak_proxy``, ``peak_v``: the curve there; ``peak_kl_ci`` and
    ``peak_gold_ci``: bootstrap intervals (argmax per replicate); ``drop``, ``drop_ci``: gold at the peak minus
    gold at the end of the resolved range; ``max_kl``: the largest resolved KL; ``p_peak``: share of bootstrap
    replicates whose argmax lies before the end of the resolved range.
    """

    curve: CurveBands
    peak: bool
    peak_index: int
    peak_kl: float
    peak_gold: float
    peak_win: float
    peak_proxy: float
    peak_v: float
    peak_kl_ci: tuple[float, float]
    peak_gold_ci: tuple[float, float]
    drop: float
    drop_ci: tuple[float, float]
    max_kl: float
    p_peak: float

    def to_dict(self) -> dict[str, Any]:
        d = {k: (list(x) if isinstance(x, tuple) else x) for k, x in self.__dict__.items() if k != "curve"}
        return {**d, "curve": self.curve.to_dict()}


def _prompt_mean(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted mean over prompts of (L, P) curves with weights ``counts`` (B, P) -> (B, L); prompts where
    x is NaN (no gold) are left out of both sums."""
    ok = ~np.isnan(x)
    num = counts @ np.where(ok, x, 0.0).T
    den = counts @ ok.T.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _summarize(curves: dict[str, np.ndarray], param, min_ess: float, rng, n_boot: int, alpha: float) -> Prediction:
    """Prompt means, bootstrap bands and the peak of per-prompt curves (L, P)."""
    L, P = curves["kl"].shape
    ones = np.ones((1, P))
    mean = {k: _prompt_mean(x, ones)[0] for k, x in curves.items() if k != "ess"}
    ess_med, ess_min = np.median(curves["ess"], axis=1), curves["ess"].min(axis=1)
    resolved = ess_med >= min_ess
    resolved[0] = True  # the base policy itself is always resolved
    last = int(np.flatnonzero(resolved).max())
    idx = int(np.nanargmax(np.where(np.arange(L) <= last, mean["gold"], -np.inf)))
    nan_l = np.full(L, np.nan)
    bands = {k: (nan_l, nan_l) for k in ("gold", "win", "kl")}
    peak_kl_ci = peak_gold_ci = drop_ci = (float("nan"),) * 2
    p_peak = float("nan")
    if rng is not None and n_boot > 0:
        counts = np.stack([np.bincount(rng.integers(0, P, P), minlength=P) for _ in range(n_boot)]).astype(float)
        boot = {k: _prompt_mean(curves[k], counts) for k in ("gold", "win", "kl")}  # (B, L)
        for k, b in boot.items():
            bands[k] = percentile_bands(b, alpha)
        gb = np.where(np.arange(L) <= last, np.nan_to_num(boot["gold"], nan=-np.inf), -np.inf)
        arg = gb.argmax(axis=1)
        rows = np.arange(n_boot)
        peak_kl_ci = percentile_interval(boot["kl"][rows, arg], alpha)
        peak_gold_ci = percentile_interval(boot["gold"][rows, arg], alpha)
        drop_ci = percentile_interval(boot["gold"][:, idx] - boot["gold"][:, last], alpha)
        p_peak = float(np.mean(arg < last))
    drop = float(mean["gold"][idx] - mean["gold"][last])
    curve = CurveBands(
        np.asarray(param, dtype=np.float64),
        mean["kl"],
        mean["gold"],
        mean["win"],
        mean["proxy"],
        mean["v"],
        ess_med,
        ess_min,
        *bands["gold"],
        *bands["win"],
        *bands["kl"],
        resolved,
    )
    is_peak = bool(idx < last and drop > 0 and (np.isnan(drop_ci[0]) or drop_ci[0] > 0))
    return Prediction(
        curve,
        is_peak,
        idx,
        float(mean["kl"][idx]),
        float(mean["gold"][idx]),
        float(mean["win"][idx]),
        float(mean["proxy"][idx]),
        float(mean["v"][idx]),
        peak_kl_ci,
        peak_gold_ci,
        drop,
        drop_ci,
        float(mean["kl"][last]),
        p_peak,
    )


def lam_grid(proxy, codes, points: int = 161, span: tuple[float, float] = (1e-2, 1e4)) -> np.ndarray:
    """Inverse temperatures (points,): 0 then a geometric grid of ``span`` in units of 1 / (pooled within-prompt
    standard deviation of the proxy), so that the grid does not depend on the proxy's scale."""
    r = np.asarray(proxy, dtype=np.float64)
    P = int(codes.max()) + 1
    m = np.bincount(codes, minlength=P)
    mu = np.bincount(codes, r, P) / m
    sd = float(np.sqrt(np.sum((r - mu[codes]) ** 2) / max(r.size - P, 1)))
    if not sd > 0:
        raise ValueError("the proxy is constant within every prompt: there is nothing to optimize")
    return np.concatenate([[0.0], np.geomspace(*span, points - 1) / sd])


def predict(
    prompt_ids,
    proxy,
    gold,
    *,
    rng: np.random.Generator | None = None,
    n_boot: int = 200,
    min_ess: float = 10.0,
    points: int = 161,
    alpha: float = 0.05,
) -> dict[str, Prediction]:
    """Tilt and best-of-n predictions from base samples: ``prompt_ids``, ``proxy``, ``gold`` (N,) (gold may be
    NaN; proxy must be finite). Returns ``{"tilt": Prediction, "best_of_n": Prediction}``; best-of-n runs over
    n = 1, 2, 4, ... up to 4x the largest prompt's sample count."""
    codes, P = group_codes(prompt_ids)
    r = np.asarray(proxy, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise ValueError("proxy scores must be finite (drop unscored samples first)")
    lams = lam_grid(r, codes, points)
    tilt = tilt_curves(r, gold, codes, P, lams)
    m_max = int(np.bincount(codes).max())
    ns = 2.0 ** np.arange(int(np.ceil(np.log2(4 * m_max))) + 1)
    bon = best_of_n_curves(r, gold, codes, P, ns)
    return {
        "tilt": _summarize(tilt, lams, min_ess, rng, n_boot, alpha),
        "best_of_n": _summarize(bon, ns, min_ess, rng, n_boot, alpha),
    }
