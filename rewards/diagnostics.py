"""Tail-accuracy diagnostics of a proxy reward against a gold reward.

Two views of the same question, "where in the true-reward distribution is the proxy wrong?":

1. Pairwise agreement (the paper's Table 2). For pairs of responses to the same prompt, the proxy is
   *correct* when it orders the pair as the gold reward does. Pairs the gold reward ties carry no
   preference and are excluded (counted). A proxy tie is reported both ways: as wrong (``acc_ties_wrong``,
   the strict accuracy) and as half right (``acc_ties_half``, the chance-corrected one). Pairs with an
   unscored (NaN) side are excluded and counted, never silently scored. High-reward pairs come from strong
   pools, low-reward pairs from the weak base policy; :func:`accuracy_by_band` splits pairs by their true
   quantile instead.

2. ``h(v) = E[u | v]`` (docs/theory.md sections 1 and 5), estimated from base-policy samples by
   :func:`estimate_h`: ``u`` and ``v`` are the mid-rank quantiles of the gold and proxy scores (within each
   prompt when ``groups`` is given). The result is piecewise constant on bins of ``v`` so that theory can
   integrate it against any procedure's density ``g`` on [0, 1]: ``E_pi[u] = sum_b h[b] * (G(e[b+1]) - G(e[b]))``.

Confidence intervals are percentile bootstraps with an explicit ``np.random.Generator``; with ``groups``
the bootstrap resamples whole prompts (pairs or samples of one prompt are not independent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewards.stats import bootstrap_indices, percentile_interval

__all__ = [
    "HEstimate",
    "PairAccuracy",
    "accuracy_by_band",
    "estimate_h",
    "midrank_quantiles",
    "pair_accuracy",
    "paired_accuracy_difference",
    "pairs_within_groups",
    "tail_accuracy_profile",
]

_NAN2 = (float("nan"), float("nan"))


# --------------------------------------------------------------------------------------------------------------
# ranks


def _rank_counts(
    x: np.ndarray, groups: np.ndarray | None, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element: (mass in its group strictly below it, mass in its group <= it, group mass), all (N,) float.
    Mass is a count (``weights`` None: exact integers) or the sum of ``weights`` (N,)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros(x.shape[0], dtype=np.int64) if groups is None else np.asarray(groups)
    order = np.lexsort((x, g))
    xs, gs = x[order], g[order]
    n = x.shape[0]
    if n == 0:
        z = np.zeros(0)
        return z, z, z
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = gs[1:] != gs[:-1]
    new_run = new_group.copy()
    new_run[1:] |= xs[1:] != xs[:-1]
    run_id = np.cumsum(new_run) - 1
    grp_id = np.cumsum(new_group) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], n)
    grp_start = np.flatnonzero(new_group)
    grp_end = np.append(grp_start[1:], n)
    # cum[i] = mass of the first i sorted elements
    cum = (
        np.arange(n + 1, dtype=np.float64)
        if weights is None
        else np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=np.float64)[order])])
    )
    less = np.empty(n)
    leq = np.empty(n)
    size = np.empty(n)
    less[order] = cum[run_start[run_id]] - cum[grp_start[grp_id]]
    leq[order] = cum[run_end[run_id]] - cum[grp_start[grp_id]]
    size[order] = cum[grp_end[grp_id]] - cum[grp_start[grp_id]]
    return less, leq, size


def midrank_quantiles(values, groups=None, weights=None) -> np.ndarray:
    """Mid-rank quantiles ``(mass below + mass equal / 2) / total mass`` of ``values`` (N,), within the sample
    or within each group of ``groups`` (N,). Mass is a count (a sample: distinct values map to (rank - 1/2)/n,
    so the mean is exactly 1/2) or ``weights`` (N,) (a distribution: ``theory.bandit`` uses the base policy's
    probabilities, P0(X < x) + P0(X = x) / 2)."""
    values = np.asarray(values, dtype=np.float64)
    if weights is not None and np.shape(weights) != values.shape:
        raise ValueError(f"weights have shape {np.shape(weights)}, values {values.shape}")
    less, leq, size = _rank_counts(values, groups, weights)
    return (less + leq) / 2.0 / np.where(size > 0, size, 1.0)


# --------------------------------------------------------------------------------------------------------------
# pairwise agreement


@dataclass(frozen=True)
class PairAccuracy:
    """Agreement of a proxy with gold on a set of pairs. ``n_pairs`` = pairs with a gold preference and both
    sides scored = ``n_correct + n_wrong + n_proxy_ties``; ``n_gold_ties`` and ``n_unscored`` were excluded.
    CIs are (lo, hi) percentile bootstrap intervals at level ``1 - alpha`` (NaN without a generator)."""

    n_pairs: int
    n_correct: int
    n_wrong: int
    n_proxy_ties: int
    n_gold_ties: int
    n_unscored: int
    acc_ties_wrong: float
    acc_ties_half: float
    ci_ties_wrong: tuple[float, float] = _NAN2
    ci_ties_half: tuple[float, float] = _NAN2
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _outcomes(proxy_a, proxy_b, gold_a, gold_b):
    pa, pb, ga, gb = (np.asarray(x, dtype=np.float64).reshape(-1) for x in (proxy_a, proxy_b, gold_a, gold_b))
    if not pa.shape == pb.shape == ga.shape == gb.shape:
        raise ValueError(f"pair arrays differ in length: {pa.shape}, {pb.shape}, {ga.shape}, {gb.shape}")
    scored = ~(np.isnan(pa) | np.isnan(pb) | np.isnan(ga) | np.isnan(gb))
    gold_pref = np.sign(ga - gb)
    proxy_pref = np.sign(pa - pb)
    keep = scored & (gold_pref != 0)
    correct = keep & (proxy_pref == gold_pref)
    tie = keep & (proxy_pref == 0)
    return keep, correct, tie, int((~scored).sum()), int((scored & (gold_pref == 0)).sum())


def _cluster_sums(keep, correct, tie, groups):
    """Per-cluster (n, correct, tie) sums: (G,) each. Without groups every pair is its own cluster."""
    if groups is None:
        return keep.astype(np.float64), correct.astype(np.float64), tie.astype(np.float64)
    _, inv = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)
    G = inv.max() + 1 if inv.size else 0
    return (np.bincount(inv, keep, G), np.bincount(inv, correct, G), np.bincount(inv, tie, G))


def pair_accuracy(proxy_a, proxy_b, gold_a, gold_b, *, groups=None, rng=None, n_boot=1000, alpha=0.05) -> PairAccuracy:
    """Agreement of the proxy's preference with gold's on pairs ``(a[k], b[k])``; all inputs (M,).

    ``groups`` (M,): cluster id (the prompt) of each pair, for a cluster bootstrap. ``rng``: the
    ``np.random.Generator`` for the bootstrap CIs (None: no CIs) over ``n_boot`` resamples, two-sided ``1 - alpha``.
    """
    keep, correct, tie, n_unscored, n_gold_ties = _outcomes(proxy_a, proxy_b, gold_a, gold_b)
    n = int(keep.sum())
    nc, nt = int(correct.sum()), int(tie.sum())
    acc_w = nc / n if n else float("nan")
    acc_h = (nc + 0.5 * nt) / n if n else float("nan")
    ci_w = ci_h = _NAN2
    if rng is not None and n_boot > 0 and n > 0:
        kn, kc, kt = _cluster_sums(keep, correct, tie, groups)
        bw, bh = [], []
        for idx in bootstrap_indices(rng, kn.shape[0], n_boot):
            nn = kn[idx].sum(axis=1)
            cc = kc[idx].sum(axis=1)
            tt = kt[idx].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                bw.append(cc / nn)
                bh.append((cc + 0.5 * tt) / nn)
        ci_w = percentile_interval(np.concatenate(bw), alpha)
        ci_h = percentile_interval(np.concatenate(bh), alpha)
    return PairAccuracy(n, nc, n - nc - nt, nt, n_gold_ties, n_unscored, acc_w, acc_h, ci_w, ci_h, alpha)


def paired_accuracy_difference(
    proxy1_a,
    proxy1_b,
    proxy2_a,
    proxy2_b,
    gold_a,
    gold_b,
    *,
    groups=None,
    rng: np.random.Generator | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Accuracy of proxy 2 minus proxy 1 on the SAME pairs (e.g. refined minus initial rubric), with a paired
    (cluster) bootstrap CI. Pairs unscored by either proxy are excluded from both. All inputs (M,).
    Returns ``{"ties_wrong": d, "ties_half": d, "ci_ties_wrong": (lo, hi), "ci_ties_half": (lo, hi), "n_pairs"}``."""
    k1, c1, t1, _, _ = _outcomes(proxy1_a, proxy1_b, gold_a, gold_b)
    k2, c2, t2, _, _ = _outcomes(proxy2_a, proxy2_b, gold_a, gold_b)
    keep = k1 & k2
    dw = (c2 & keep).astype(np.float64) - (c1 & keep)
    dh = dw + 0.5 * ((t2 & keep).astype(np.float64) - (t1 & keep))
    n = int(keep.sum())
    out: dict[str, Any] = {
        "n_pairs": n,
        "ties_wrong": float(dw.sum() / n) if n else float("nan"),
        "ties_half": float(dh.sum() / n) if n else float("nan"),
        "ci_ties_wrong": _NAN2,
        "ci_ties_half": _NAN2,
        "alpha": alpha,
    }
    if rng is not None and n_boot > 0 and n > 0:
        if groups is None:
            kn, sw, sh = keep.astype(np.float64), dw, dh
        else:
            _, inv = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)
            G = inv.max() + 1
            kn, sw, sh = np.bincount(inv, keep, G), np.bincount(inv, dw, G), np.bincount(inv, dh, G)
        bw, bh = [], []
        for idx in bootstrap_indices(rng, kn.shape[0], n_boot):
            nn = kn[idx].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                bw.append(sw[idx].sum(axis=1) / nn)
                bh.append(sh[idx].sum(axis=1) / nn)
        out["ci_ties_wrong"] = percentile_interval(np.concatenate(bw), alpha)
        out["ci_ties_half"] = percentile_interval(np.concatenate(bh), alpha)
    return out


def pairs_within_groups(groups) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs (i < j) of elements sharing a group: index arrays (M,), (M,). ``groups`` (N,)."""
    g = np.asarray(groups).reshape(-1)
    ia, ib = [], []
    _, inv = np.unique(g, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.flatnonzero(np.diff(inv[order])) + 1
    for members in np.split(order, bounds):
        if members.size >= 2:
            a, b = np.triu_indices(members.size, k=1)
            ia.append(members[a])
            ib.append(members[b])
    if not ia:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(ia), np.concatenate(ib)


def accuracy_by_band(
    proxy_a,
    proxy_b,
    gold_a,
    gold_b,
    u_a,
    u_b,
    edges=(0.0, 0.5, 0.8, 0.9, 0.95, 1.0),
    *,
    groups=None,
    rng: np.random.Generator | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Pairwise accuracy split by the true quantile of the pair: a pair belongs to the band
    ``[edges[b], edges[b+1])`` (last band closed) that holds the MEAN of its two true quantiles ``u_a, u_b``
    (base-policy quantiles of the gold score, e.g. from :func:`midrank_quantiles`). All pair inputs (M,).
    Returns one dict per band: ``{"band": (lo, hi), **PairAccuracy.to_dict()}``."""
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be increasing, got {edges!r}")
    um = (np.asarray(u_a, dtype=np.float64) + np.asarray(u_b, dtype=np.float64)) / 2
    band = np.clip(np.searchsorted(e, um, side="right") - 1, 0, e.size - 2)
    band = np.where((um < e[0]) | (um > e[-1]) | np.isnan(um), -1, band)
    arrs = [np.asarray(x, dtype=np.float64).reshape(-1) for x in (proxy_a, proxy_b, gold_a, gold_b)]
    g = None if groups is None else np.asarray(groups).reshape(-1)
    out = []
    for b in range(e.size - 1):
        m = band == b
        acc = pair_accuracy(
            *(x[m] for x in arrs), groups=None if g is None else g[m], rng=rng, n_boot=n_boot, alpha=alpha
        )
        out.append({"band": (float(e[b]), float(e[b + 1])), **acc.to_dict()})
    return out


def tail_accuracy_profile(
    high: tuple, low: tuple, *, rng: np.random.Generator | None = None, n_boot: int = 1000, alpha: float = 0.05
) -> dict[str, Any]:
    """The paper's Table 2 for one proxy. ``high`` / ``low``: ``(proxy_a, proxy_b, gold_a, gold_b)`` or with a
    fifth element ``groups`` (all (M,)): pairs from strong pools and from the weak base policy.
    Returns ``{"high": PairAccuracy, "low": PairAccuracy, "gap_ties_wrong": high - low, "gap_ties_half": ...}``
    (the two sets are independent samples, so no joint CI is given for the gap; compare the two CIs)."""
    res = {}
    for name, arrs in (("high", high), ("low", low)):
        if len(arrs) not in (4, 5):
            raise ValueError(f"{name}: expected (proxy_a, proxy_b, gold_a, gold_b[, groups]), got {len(arrs)} arrays")
        res[name] = pair_accuracy(
            *arrs[:4], groups=arrs[4] if len(arrs) == 5 else None, rng=rng, n_boot=n_boot, alpha=alpha
        )
    res["gap_ties_wrong"] = res["high"].acc_ties_wrong - res["low"].acc_ties_wrong
    res["gap_ties_half"] = res["high"].acc_ties_half - res["low"].acc_ties_half
    return res


# --------------------------------------------------------------------------------------------------------------
# h(v) = E[u | v]


@dataclass(frozen=True, eq=False)
class HEstimate:
    """A piecewise-constant estimate of h(v) = E[u | v] on [0, 1].

    ``edges`` (B+1,) from 0 to 1; ``h``, ``lo``, ``hi`` (B,): the estimate and its bootstrap CI on
    ``[edges[b], edges[b+1])``; ``mass`` (B,): the number of samples whose v-mass lies in the bin (a sample
    tied with k-1 others is spread uniformly over its tie band of width k/n, which is how best-of-n breaks
    ties and leaves E[u | band] unchanged for the tilt). NaN where a bin holds no mass.
    ``tie_bands`` (T, 2) and ``tie_h`` (T,): proxy tie bands [v0, v1] of 2+ samples and mean u in each
    (only without groups; theory needs them for the KL of a tilt, docs/theory.md section 2).
    ``n``: samples used; ``n_dropped``: samples dropped because the proxy or gold score was NaN.

    To integrate against a procedure with density g on [0, 1] and CDF G: ``integrate(G)`` =
    sum_b h[b] * (G(edges[b+1]) - G(edges[b])).
    """

    edges: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mass: np.ndarray
    n: int
    n_dropped: int
    tie_bands: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    tie_h: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha: float = 0.05

    def __call__(self, v) -> np.ndarray:
        """h at proxy quantiles ``v`` (any shape)."""
        v = np.asarray(v, dtype=np.float64)
        b = np.clip(np.searchsorted(self.edges, v, side="right") - 1, 0, self.h.size - 1)
        return self.h[b]

    def integrate(self, cdf: Callable[[np.ndarray], np.ndarray], which: str = "h") -> float:
        """sum_b x[b] * (cdf(edges[b+1]) - cdf(edges[b])) with x = h, lo or hi; NaN if a bin with positive
        probability has no estimate. ``cdf`` maps an array of v in [0, 1] to G(v). Integrating ``lo`` / ``hi``
        gives the envelope of the pointwise intervals, wider than a confidence interval of the integral."""
        x = {"h": self.h, "lo": self.lo, "hi": self.hi}[which]
        p = np.diff(np.asarray(cdf(self.edges), dtype=np.float64))
        used = p > 0
        if np.isnan(x[used]).any():
            return float("nan")
        return float(np.sum(x[used] * p[used]))

    def to_dict(self) -> dict[str, Any]:
        def lst(a):
            return [None if (isinstance(x, float) and x != x) else x for x in np.asarray(a).tolist()]

        return {
            "edges": lst(self.edges),
            "h": lst(self.h),
            "lo": lst(self.lo),
            "hi": lst(self.hi),
            "mass": lst(self.mass),
            "n": self.n,
            "n_dropped": self.n_dropped,
            "tie_bands": np.asarray(self.tie_bands).tolist(),
            "tie_h": lst(self.tie_h),
            "alpha": self.alpha,
        }


def _h_point(proxy, gold, groups, edges) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    m, u, v0, v1 = _bin_weights(proxy, gold, groups, edges)
    mass = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = (m * u[:, None]).sum(axis=0) / mass
    return np.where(mass > 0, h, np.nan), mass, (u, v0, v1)


def _bin_weights(proxy, gold, groups, edges):
    """(N, B) probability that sample i's proxy quantile falls in bin b, and the quantiles u, v0, v1 (N,)."""
    less_g, leq_g, size_g = _rank_counts(gold, groups)
    u = (less_g + leq_g) / 2.0 / size_g
    less, leq, size = _rank_counts(proxy, groups)
    v0, v1 = less / size, leq / size
    ov = np.clip(np.minimum(v1[:, None], edges[None, 1:]) - np.maximum(v0[:, None], edges[None, :-1]), 0.0, None)
    return ov / (v1 - v0)[:, None], u, v0, v1


def estimate_h(
    proxy,
    gold,
    bins: int | Any = 10,
    *,
    groups=None,
    rng: np.random.Generator | None = None,
    n_boot: int = 200,
    alpha: float = 0.05,
) -> HEstimate:
    """Binned estimate of h(v) = E[u | v] from base-policy samples.

    ``proxy``, ``gold`` (N,): the two scores of N base-policy responses (NaN rows are dropped and counted).
    ``groups`` (N,): prompt ids; quantiles are then taken within each prompt (u = F0(r* | x)) and the bootstrap
    resamples prompts. ``bins``: a number of equal-width bins or the edges (from 0 to 1, increasing).
    ``rng``: generator for the bootstrap CIs (None: lo = hi = NaN). Tilts and best-of-n put their weight near
    v = 1, so give edges that are finer there (e.g. ``[0, .5, .8, .9, .95, .98, 1]``) when integrating.
    """
    p = np.asarray(proxy, dtype=np.float64).reshape(-1)
    g = np.asarray(gold, dtype=np.float64).reshape(-1)
    if p.shape != g.shape:
        raise ValueError(f"proxy has {p.shape[0]} scores, gold has {g.shape[0]}")
    grp = None if groups is None else np.asarray(groups).reshape(-1)
    if grp is not None and grp.shape != p.shape:
        raise ValueError(f"groups has {grp.shape[0]} entries for {p.shape[0]} scores")
    edges = _bin_edges(bins)
    ok = ~(np.isnan(p) | np.isnan(g))
    p, g = p[ok], g[ok]
    grp = None if grp is None else grp[ok]
    n, n_dropped = int(p.size), int((~ok).sum())
    nan_b = np.full(edges.size - 1, np.nan)
    if n == 0:
        return HEstimate(edges, nan_b, nan_b.copy(), nan_b.copy(), np.zeros(edges.size - 1), 0, n_dropped, alpha=alpha)
    h, mass, (u, v0, v1) = _h_point(p, g, grp, edges)
    lo = hi = nan_b
    if rng is not None and n_boot > 0:
        lo, hi = _bootstrap_h(p, g, grp, edges, rng, n_boot, alpha)
    tie_bands, tie_h = (np.zeros((0, 2)), np.zeros(0)) if grp is not None else _tie_bands(u, v0, v1, n)
    return HEstimate(edges, h, lo, hi, mass, n, n_dropped, tie_bands, tie_h, alpha)


def _bin_edges(bins) -> np.ndarray:
    """Edges from a number of equal-width bins or from given edges (increasing from 0 to 1)."""
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        return np.linspace(0.0, 1.0, int(bins) + 1)
    edges = np.asarray(bins, dtype=np.float64).reshape(-1)
    if edges.size < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bin edges must increase from 0 to 1, got {bins!r}")
    return edges


def _bootstrap_h(p, g, grp, edges, rng: np.random.Generator, n_boot: int, alpha: float):
    """Percentile CIs ``(lo, hi)`` per bin, resampling responses (no groups) or whole prompts.

    With groups the quantiles are within prompts, so a resampled prompt (a new prompt, even when drawn twice)
    keeps its samples' u and bin weights: a replicate is a prompt-count-weighted sum of per-prompt bin sums,
    computed once (the same resamples as recomputing the ranks per replicate, at a fraction of the cost)."""
    if grp is None:
        boots = np.empty((n_boot, edges.size - 1))
        for k in range(n_boot):
            pick = rng.integers(0, p.size, size=p.size)
            boots[k] = _h_point(p[pick], g[pick], None, edges)[0]
    else:
        _, inv = np.unique(grp, return_inverse=True)
        G = int(inv.max()) + 1
        m, u, _, _ = _bin_weights(p, g, inv, edges)
        mass = np.stack([np.bincount(inv, m[:, b], G) for b in range(m.shape[1])], axis=1)  # (G, B)
        num = np.stack([np.bincount(inv, m[:, b] * u, G) for b in range(m.shape[1])], axis=1)
        counts = np.stack([np.bincount(rng.integers(0, G, size=G), minlength=G) for _ in range(n_boot)])
        with np.errstate(invalid="ignore", divide="ignore"):
            boots = (counts @ num) / (counts @ mass)
    with np.errstate(invalid="ignore"):
        lo = np.array([percentile_interval(boots[:, b], alpha)[0] for b in range(edges.size - 1)])
        hi = np.array([percentile_interval(boots[:, b], alpha)[1] for b in range(edges.size - 1)])
    return lo, hi


def _tie_bands(u, v0, v1, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Proxy tie groups wider than 1.5/n as quantile bands ``(B, 2)`` and the mean gold quantile in each."""
    wide = (v1 - v0) > 1.5 / n
    if not wide.any():
        return np.zeros((0, 2)), np.zeros(0)
    bands, inv = np.unique(np.stack([v0[wide], v1[wide]], axis=1), axis=0, return_inverse=True)
    return bands, np.bincount(inv.reshape(-1), u[wide]) / np.bincount(inv.reshape(-1))
