"""Exact closed forms for the exponential tilt and best-of-n under a piecewise-linear quantile map.

docs/theory.md section 2: any procedure that acts on the proxy only through the proxy quantile v, with
output density g(v) relative to pi0, has ``E_pi[u] = int_0^1 h(v) g(v) dv`` and
``KL(pi || pi0) = int_0^1 g log g``. A :class:`rewards.QuantileMap` makes ``h(v) = E[u | v]`` linear
on each piece (``h = a + b*v``), so both integrals are sums of elementary integrals of ``(a + b*v)``
against ``e^{v/beta}`` (the tilt, the RFT optimum) and ``n*v^{n-1}`` (best-of-n), done here exactly.

Conventions (the shared contract):

* the proxy reward the tilt sees is the proxy quantile v itself, so ``pi_beta ∝ pi0 * exp(v/beta)``;
  r* = u and R0 ~ U(0,1), so the expected true reward equals the win rate ``E_pi[u]``;
* a ``tie`` band gives every member the band's mid-rank v, so the tilt density is constant on it;
  best-of-n breaks ties uniformly at random, so the band gets ``v1^n - v0^n`` spread uniformly;
* a ``noise`` band keeps v continuous and uniform; only h is flat there. Only ties change the KL.

Numerics: everything is written with ``exp(t*(v - top))`` (t = 1/beta, ``top`` the largest proxy value,
so exponents are <= 0) and ``expm1``/series for small arguments. Nothing ever evaluates ``exp(1/beta)``,
so the formulas stay accurate from t = 0 (beta = inf, the base policy) to t ~ 1e6 (KL ~ 13) and beyond.

Every function broadcasts over ``beta`` / ``n`` (scalars or numpy arrays; the result has their shape).
``qmap`` may be a :class:`~rewards.QuantileMap`, a spec string, or a sequence of h pieces
``(v0, v1, a, b, tied)`` tiling [0, 1] (e.g. a binned estimate of h, see :func:`h_pieces_from_bins`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewards.quantile import QuantileMap

__all__ = [
    "KLBudgetError",
    "beta_for_kl",
    "bon_density",
    "bon_expected_true",
    "bon_frontier_gap",
    "bon_kl",
    "bon_stats",
    "bon_win_rate",
    "curve",
    "frontier_win_rate",
    "h_pieces_from_bins",
    "max_kl",
    "n_for_kl",
    "stack_pieces",
    "stacked_stats",
    "theorem1_kl",
    "tilt_density",
    "tilt_expected_true",
    "tilt_kl",
    "tilt_reference",
    "tilt_stats",
    "tilt_win_rate",
]


class KLBudgetError(ValueError):
    """A KL budget that no beta / n can meet (negative, not finite, or above the map's reachable maximum)."""


# ----------------------------------------------------------------------------------------- pieces
def _as_pieces(qmap: Any) -> np.ndarray:
    """(P, 5) float array of (v0, v1, a, b, tied) rows in proxy order; ``None`` means the identity map."""
    if qmap is None:
        return np.array([[0.0, 1.0, 0.0, 1.0, 0.0]])
    if isinstance(qmap, str):
        qmap = QuantileMap.parse(qmap)
    rows = qmap.h_pieces() if isinstance(qmap, QuantileMap) else list(qmap)
    arr = np.array([[float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(bool(r[4]))] for r in rows])
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError("expected at least one h piece (v0, v1, a, b, tied)")
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    if not isinstance(qmap, QuantileMap):  # QuantileMap validated itself; check hand-made pieces
        ends = np.concatenate([[0.0], arr[:, 1]])
        if np.any(np.abs(arr[:, 0] - ends[:-1]) > 1e-9) or abs(ends[-1] - 1.0) > 1e-9 or np.any(arr[:, 1] < arr[:, 0]):
            raise ValueError(f"h pieces must tile [0, 1] in v; got bands {arr[:, :2].tolist()}")
    return arr


def h_pieces_from_bins(edges, values) -> list[tuple[float, float, float, float, bool]]:
    """h pieces for a piecewise-constant h (e.g. binned E[u | v]): ``edges`` (B+1,), ``values`` (B,)."""
    edges = np.asarray(edges, dtype=float)
    values = np.asarray(values, dtype=float)
    if edges.ndim != 1 or values.shape != (edges.size - 1,):
        raise ValueError(f"edges {edges.shape} and values {values.shape}: expected (B+1,) and (B,)")
    if not np.all(np.isfinite(values)):
        raise ValueError("h values must be finite (drop or fill empty bins first)")
    return [
        (float(lo), float(hi), float(val), 0.0, False)
        for lo, hi, val in zip(edges[:-1], edges[1:], values, strict=True)
    ]


def _split(pieces: np.ndarray):
    v0, v1, a, b, tied = (pieces[..., i] for i in range(5))
    return v0, v1, a, b, tied.astype(bool)


# ----------------------------------------------------------------------------------- special functions
def _phi0(x):
    """(1 - e^{-x}) / x for x >= 0 (1 at x = 0): the mass of e^{-s x} on s in [0, 1]."""
    x = np.asarray(x, dtype=float)
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, -np.expm1(-safe) / safe, 1.0)


_PHI1_SERIES = np.array([(-1.0) ** k / (np.prod(np.arange(1, k + 1, dtype=float)) * (k + 2)) for k in range(20)])


def _phi1(x):
    """int_0^1 s e^{-s x} ds = (1 - e^{-x}(1 + x)) / x^2 for x >= 0; a Taylor series below 1 avoids cancellation."""
    x = np.asarray(x, dtype=float)
    small = x < 1.0
    xs = np.where(small, x, 0.0)
    series = np.zeros_like(xs)
    for c in _PHI1_SERIES[::-1]:
        series = series * xs + c
    xl = np.where(small, 1.0, x)
    direct = (_phi0(xl) - np.exp(-xl)) / xl
    return np.where(small, series, direct)


def _inv_beta(beta) -> np.ndarray:
    beta = np.asarray(beta, dtype=float)
    if np.any(np.isnan(beta)) or np.any(beta <= 0):
        raise ValueError(f"beta must be > 0 (np.inf is the base policy); got {beta}")
    return 1.0 / beta


# ------------------------------------------------------------------------------------------- tilt core
def _tilt_core(t, v0, v1, a, b, tied):
    """Exact tilt statistics; ``t`` (..., 1) and piece arrays (..., P) broadcast. Returns (win, kl, mean_v)."""
    w = v1 - v0
    top = np.where(tied, 0.5 * (v0 + v1), v1)  # the largest proxy value on the piece
    L = t * top
    Lmax = np.max(L, axis=-1, keepdims=True)
    A = np.exp(L - Lmax) * w  # e^{t(top - top_max)} * width, always <= 1: no overflow at any t
    x = t * w
    phi0 = np.where(tied, 1.0, _phi0(x))
    phi1 = np.where(tied, 0.0, _phi1(x))
    # with s = top - v on an untied piece: int (c - s) e^{t(top - s)} ds = e^{t top} w (c phi0 - w phi1)
    m0 = A * phi0
    m1 = A * w * phi1
    S = np.sum(m0, axis=-1)
    win = np.sum((a + b * top) * m0 - b * m1, axis=-1) / S
    mean_v = np.sum(top * m0 - m1, axis=-1) / S
    # KL = E[t r] - log E0[e^{t r}] = E[t (r - top_max)] - log S; t*m1 = A * x * phi1 keeps t out of products
    e_shift = np.sum((L - Lmax) * m0 - A * x * phi1, axis=-1) / S
    kl = np.maximum(e_shift - np.log(S), 0.0)
    return win, kl, mean_v


def tilt_stats(qmap, beta) -> dict[str, np.ndarray]:
    """Win rate (= expected true reward), KL and mean proxy quantile of pi ∝ pi0 exp(v/beta).

    ``beta``: scalar or array of shape S (np.inf = base policy). Returns arrays of shape S.
    """
    t = _inv_beta(beta)
    v0, v1, a, b, tied = _split(_as_pieces(qmap))
    win, kl, mean_v = _tilt_core(t[..., None], v0, v1, a, b, tied)
    return {"win_rate": win, "expected_true": win, "kl": kl, "mean_proxy": mean_v}


def tilt_win_rate(qmap, beta) -> np.ndarray:
    """E_pi[u] for pi ∝ pi0 exp(v/beta) (Theorem 1's W for a rearrangement). Shape of ``beta``."""
    return tilt_stats(qmap, beta)["win_rate"]


tilt_expected_true = tilt_win_rate  # r* = u in the continuous theory


def theorem1_kl(beta) -> np.ndarray:
    """Theorem 1's KL, the same for every rearrangement (and every noise band):
    KL = t/(e^t - 1) - 1 - log((1 - e^{-t})/t) with t = 1/beta, written so that large t never overflows."""
    t = _inv_beta(beta)
    ts = np.where(t > 0, t, 1.0)
    # t/(e^t-1) = t e^{-t} / (1 - e^{-t}); exp(-t) underflows harmlessly to 0 for huge t
    first = ts * np.exp(-ts) / -np.expm1(-ts)
    kl = first - 1.0 - np.log(_phi0(ts))
    return np.where(t > 0, np.maximum(kl, 0.0), 0.0)


def tilt_kl(beta, qmap=None) -> np.ndarray:
    """KL(pi_beta || pi0). Without ties it is Theorem 1's value for every map; tie bands lower it."""
    pieces = _as_pieces(qmap)
    if not np.any(pieces[:, 4]):
        return theorem1_kl(beta)
    return tilt_stats(pieces, beta)["kl"]


def tilt_density(v, beta, qmap=None) -> np.ndarray:
    """Density of pi_beta relative to pi0 at proxy quantile v: e^{v/beta} / (beta (e^{1/beta} - 1)).

    ``v`` and ``beta`` broadcast. With ``qmap`` given, tie bands use their mid-rank (constant density there).
    """
    t = _inv_beta(beta)
    v = np.asarray(v, dtype=float)
    if qmap is None:
        # t e^{t(v-1)} / (1 - e^{-t}) = t e^{t(v-1)} / (-expm1(-t)); the t -> 0 limit is 1
        ts = np.where(t > 0, t, 1.0)
        return np.where(t > 0, np.exp(ts * (v - 1.0)) / _phi0(ts), np.ones_like(v * t))
    pieces = _as_pieces(qmap)
    v0, v1, _a, _b, tied = _split(pieces)
    tb = t[..., None]
    top = np.where(tied, 0.5 * (v0 + v1), v1)
    L = tb * top
    Lmax = np.max(L, axis=-1, keepdims=True)
    w = v1 - v0
    S = np.sum(np.exp(L - Lmax) * w * np.where(tied, 1.0, _phi0(tb * w)), axis=-1)
    idx = np.clip(np.searchsorted(v0, v, side="right") - 1, 0, len(v0) - 1)
    r = np.where(tied[idx], 0.5 * (v0[idx] + v1[idx]), v)
    return np.exp(t * r - np.squeeze(Lmax, -1)) / S


# ------------------------------------------------------------------------------------- best-of-n core
def _check_n(n) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    if np.any(np.isnan(n)) or np.any(n < 1) or np.any(np.isinf(n)):
        raise ValueError(f"n must be a finite number >= 1; got {n}")
    return n


def _vlogv_pow(v, n):
    """v^n log v with the 0 log 0 = 0 convention."""
    vs = np.where(v > 0, v, 1.0)
    return np.where(v > 0, vs**n * np.log(vs), 0.0)


def _bon_core(n, v0, v1, a, b, tied):
    """Exact best-of-n statistics; ``n`` (..., 1) and pieces (..., P) broadcast. Returns (win, kl, mean_v)."""
    p1 = v1**n
    p0 = v0**n
    D = p1 - p0  # probability that the best of n lands in the band
    q1 = v1 ** (n + 1) - v0 ** (n + 1)
    frac = n / (n + 1.0)
    win_untied = a * D + b * frac * q1
    win = np.sum(np.where(tied, (a + b * 0.5 * (v0 + v1)) * D, win_untied), axis=-1)
    mean_v = np.sum(np.where(tied, 0.5 * (v0 + v1) * D, frac * q1), axis=-1)
    # int g log g with g = n v^{n-1}: log n * D + (n - 1) [v^n log v - v^n / n] from v0 to v1
    kl_untied = np.log(n) * D + (n - 1.0) * (_vlogv_pow(v1, n) - _vlogv_pow(v0, n) - D / n)
    w = v1 - v0
    Ds = np.where(D > 0, D, 1.0)
    kl_tied = np.where(D > 0, D * np.log(Ds / np.where(w > 0, w, 1.0)), 0.0)  # D spread uniformly over the band
    kl = np.sum(np.where(tied, kl_tied, kl_untied), axis=-1)
    return win, np.maximum(kl, 0.0), mean_v


def bon_stats(qmap, n) -> dict[str, np.ndarray]:
    """Win rate (= expected true reward), KL and mean proxy quantile of best-of-n (uniform tie-breaking).

    ``n``: scalar or array of shape S (real n >= 1 allowed: the formulas are analytic in n).
    """
    n = _check_n(n)
    v0, v1, a, b, tied = _split(_as_pieces(qmap))
    win, kl, mean_v = _bon_core(n[..., None], v0, v1, a, b, tied)
    return {"win_rate": win, "expected_true": win, "kl": kl, "mean_proxy": mean_v}


def bon_win_rate(qmap, n) -> np.ndarray:
    """E[u] of the best of n draws, ranked by the proxy. Shape of ``n``."""
    return bon_stats(qmap, n)["win_rate"]


bon_expected_true = bon_win_rate


def bon_kl(n, qmap=None) -> np.ndarray:
    """KL(best-of-n || pi0): log n - (n-1)/n without ties (every map); strictly less with a tie band."""
    pieces = _as_pieces(qmap)
    if not np.any(pieces[:, 4]):
        n = _check_n(n)
        return np.log(n) - (n - 1.0) / n
    return bon_stats(pieces, n)["kl"]


def bon_density(v, n) -> np.ndarray:
    """n v^{n-1}: density of the best of n proxy quantiles relative to pi0 (no ties). ``v``, ``n`` broadcast."""
    n = _check_n(n)
    v = np.asarray(v, dtype=float)
    return n * v ** (n - 1.0)


# ------------------------------------------------------------------------------------ many maps at once
def stack_pieces(qmaps) -> np.ndarray:
    """(M, P, 5) array of the maps' h pieces, padded with zero-width pieces (which carry no mass) to the
    largest piece count P, for :func:`stacked_stats`."""
    tables = [_as_pieces(q) for q in qmaps]
    width = max(t.shape[0] for t in tables)
    out = np.zeros((len(tables), width, 5))
    for i, t in enumerate(tables):
        out[i, : t.shape[0]] = t
    return out


def stacked_stats(stacked: np.ndarray, beta=None, n=None) -> dict[str, np.ndarray]:
    """Tilt (``beta``) or best-of-n (``n``) statistics for M maps at once, fully vectorized.

    ``stacked``: (M, P, 5) from :func:`stack_pieces`; ``beta`` or ``n``: (M, B). Returns (M, B) arrays.
    """
    if (beta is None) == (n is None):
        raise ValueError("pass exactly one of beta and n")
    v0, v1, a, b, tied = (x[:, None, :] for x in _split(np.asarray(stacked, dtype=float)))
    if beta is not None:
        win, kl, mean_v = _tilt_core(_inv_beta(beta)[..., None], v0, v1, a, b, tied)
    else:
        win, kl, mean_v = _bon_core(_check_n(n)[..., None], v0, v1, a, b, tied)
    return {"win_rate": win, "expected_true": win, "kl": kl, "mean_proxy": mean_v}


# ------------------------------------------------------------------------------------------ KL budgets
def max_kl(qmap=None) -> float:
    """Supremum of the KL reachable by the tilt (beta -> 0) and by best-of-n (n -> inf).

    Both concentrate on the top proxy value: infinite KL for a continuous top, but if the top is one tied
    band of width w the limit is uniform on it and KL -> -log w, which no finite beta or n reaches.
    """
    pieces = _as_pieces(qmap)
    v0, v1, _a, _b, tied = _split(pieces)
    top = np.where(tied, 0.5 * (v0 + v1), v1)
    k = int(np.argmax(top))
    return float(-np.log(v1[k] - v0[k])) if tied[k] else float("inf")


def _check_budget(kl, qmap) -> tuple[np.ndarray, float]:
    kl = np.asarray(kl, dtype=float)
    if np.any(~np.isfinite(kl)) or np.any(kl < 0):
        bad = kl[~(np.isfinite(kl) & (kl >= 0))] if kl.ndim else kl
        raise KLBudgetError(f"KL budget must be a finite number >= 0; got {np.ravel(bad)[0]}")
    cap = max_kl(qmap)
    if np.any(kl >= cap):
        name = getattr(qmap, "spec", qmap)
        raise KLBudgetError(
            f"KL budget {float(np.max(kl)):g} is not reachable for map {name!r}: its top tie band "
            f"caps the KL below {cap:.6g} (= -log of the band's width)"
        )
    return kl, cap


def beta_for_kl(kl, qmap=None, rtol: float = 1e-14) -> np.ndarray:
    """beta with KL(pi_beta || pi0) = kl, by vectorized bisection on log(1/beta) (a bracketing root finder;
    the KL is strictly increasing in 1/beta since d KL / dt = t Var_pi(v)). kl = 0 gives np.inf.

    Raises :class:`KLBudgetError` for a negative budget or one at/above :func:`max_kl`.
    """
    kl, _cap = _check_budget(kl, qmap)
    pieces = _as_pieces(qmap)
    v0, v1, a, b, tied = _split(pieces)

    def f(t):
        return _tilt_core(t[:, None], v0, v1, a, b, tied)[1]

    flat = kl.ravel()
    out = np.full(flat.shape, np.inf)
    pos = flat > 0
    target = flat[pos]
    if target.size:
        # starting guesses: KL ~ t^2 / 24 for small t, ~ log t - 1 for large t (identity map)
        guess = np.where(target < 1.0, np.sqrt(24.0 * target), np.exp(np.minimum(target, 700.0) + 1.0))
        lo = guess.copy()
        hi = guess.copy()
        for _ in range(400):
            low_bad = f(lo) >= target
            if not low_bad.any():
                break
            lo = np.where(low_bad, lo / 8.0, lo)
        for _ in range(400):
            high_bad = f(hi) <= target
            if not high_bad.any():
                break
            with np.errstate(over="ignore"):
                hi = np.where(high_bad, hi * 8.0, hi)
            if not np.all(np.isfinite(hi)):
                raise KLBudgetError(f"KL budget {float(np.max(target)):g} needs 1/beta beyond the float range")
        if np.any(f(lo) >= target) or np.any(f(hi) <= target):
            raise KLBudgetError(f"could not bracket 1/beta for KL budget(s) {target}")  # pragma: no cover
        llo, lhi = np.log(lo), np.log(hi)
        for _ in range(200):
            mid = 0.5 * (llo + lhi)
            above = f(np.exp(mid)) > target
            lhi = np.where(above, mid, lhi)
            llo = np.where(above, llo, mid)
            if np.all(lhi - llo <= rtol):
                break
        out[pos] = 1.0 / np.exp(0.5 * (llo + lhi))
    return out.reshape(kl.shape)


def n_for_kl(kl, qmap=None) -> np.ndarray:
    """Largest integer n >= 1 with KL(best-of-n || pi0) <= kl (int64 array of kl's shape).

    Raises :class:`KLBudgetError` for a negative budget, or one at/above :func:`max_kl` (then every n fits).
    """
    kl, _cap = _check_budget(kl, qmap)
    pieces = _as_pieces(qmap)
    flat = kl.ravel()
    tol = 1e-12  # so that n_for_kl(bon_kl(n)) == n despite rounding

    def fits(n):
        return bon_kl(n.astype(float), pieces) <= flat + tol

    lo = np.ones(flat.shape, dtype=np.int64)  # fits: KL(1) = 0
    hi = np.full(flat.shape, 2, dtype=np.int64)
    for _ in range(61):
        grow = fits(hi)
        if not grow.any():
            break
        lo = np.where(grow, hi, lo)
        hi = np.where(grow, hi * 2, hi)
    if np.any(fits(hi)):
        raise KLBudgetError(f"KL budget {float(np.max(flat)):g} needs n > 2^61 (best-of-n's KL ~ log n - 1)")
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = fits(mid)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo.reshape(kl.shape)


# ------------------------------------------------------------------------------------------- frontier
def frontier_win_rate(kl) -> np.ndarray:
    """The largest win rate any policy reaches at KL <= kl: pi ∝ pi0 exp(c u), i.e. the perfect-proxy tilt."""
    return tilt_win_rate(None, beta_for_kl(kl))


def bon_frontier_gap(n, qmap=None) -> np.ndarray:
    """Frontier win rate at best-of-n's KL minus best-of-n's win rate (>= 0; < 1e-3 for a perfect proxy, n >= 8)."""
    stats = bon_stats(qmap, n)
    return frontier_win_rate(stats["kl"]) - stats["win_rate"]


# ---------------------------------------------------------------------------------------------- curves
def curve(qmap, kl_max: float, points: int, procedure: str = "tilt") -> dict[str, np.ndarray]:
    """Win rate against KL for one map.

    ``tilt``: ``points`` KL values evenly spaced on [0, kl_max]; returns kl, win_rate, expected_true, beta
    (np.inf at kl = 0). ``bon``: the distinct integers n_for_kl over that grid; returns kl (the realised
    KL of each n, <= the grid value), win_rate, expected_true, n. Arrays have shape (M,).
    """
    if procedure not in ("tilt", "bon"):
        raise ValueError(f"procedure {procedure!r}: expected 'tilt' or 'bon'")
    points = int(points)
    if points < 2:
        raise ValueError(f"points={points}: expected at least 2")
    grid = np.linspace(0.0, float(kl_max), points)
    if procedure == "tilt":
        beta = beta_for_kl(grid, qmap)
        stats = tilt_stats(qmap, beta)
        return {"kl": stats["kl"], "win_rate": stats["win_rate"], "expected_true": stats["expected_true"], "beta": beta}
    n = np.unique(n_for_kl(grid, qmap))
    stats = bon_stats(qmap, n)
    return {"kl": stats["kl"], "win_rate": stats["win_rate"], "expected_true": stats["expected_true"], "n": n}


def tilt_reference(proxy, kl_max: float, points: int = 200) -> dict[str, list[float]] | None:
    """The tilt's win rate against KL on [0, max(kl_max, 0.5)] for a quantile-map proxy, as plain lists
    ``{"kl", "win_rate"}`` (``points`` each) to draw over a training run; None for any other proxy (an additive
    error has no closed form here)."""
    if not isinstance(proxy, QuantileMap):
        return None
    c = curve(proxy, max(kl_max, 0.5), points, "tilt")
    return {"kl": np.asarray(c["kl"]).tolist(), "win_rate": np.asarray(c["win_rate"]).tolist()}
