"""Proposition 1 by adaptive quadrature: the slow, trusted reference the closed forms are tested against.

Proposition 1 (paper appendix A). With R0 = r*(x, Y0), Y0 ~ pi0, F0 the CDF of R0 and proxy r = f(R0),
the tilt pi ∝ pi0 exp(r/beta) has

    E_pi[r*] = E[R0 e^{f(R0)/beta}] / E[e^{f(R0)/beta}]
    W        = E[F0(R0) e^{f(R0)/beta}] / E[e^{f(R0)/beta}]
    KL       = E[(f(R0)/beta) e^{f(R0)/beta}] / E[e^{f(R0)/beta}] - log E[e^{f(R0)/beta}].

Here every expectation is an integral against R0's density over its support, done with
``scipy.integrate.quad``, so any continuous R0 distribution (a frozen ``scipy.stats`` object with a pdf,
infinite support allowed) and any callable f work; the default R0 ~ U(0, 1) makes R0 its own quantile.
A randomized proxy ``f(r0, xi)`` with xi ~ U(0, 1) (a ``noise`` band) is integrated over xi as well.
Nothing here shares code with :mod:`theory.continuous`: the map enters through ``QuantileMap.f``
(u -> v), never through the h pieces the closed forms integrate. (The pieces are read only for the
integration breakpoints, the exponent shift, and, for best-of-n, where a tie band's atom sits.)

Best-of-n is not part of Proposition 1; :func:`bon_reference` integrates its defining weight
``(G(r)^n - G^-(r)^n) / (G(r) - G^-(r))`` (``n G(r)^{n-1}`` off ties) against the base measure in the
same way. All functions take one scalar beta / n; they are slow (milliseconds to seconds per call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import integrate

from rewards.quantile import QuantileMap

__all__ = ["bon_reference", "map_bon_reference", "map_tilt_reference", "proposition1"]

_QUAD = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 500}


def _quad(fn: Callable[[float], float], lo: float, hi: float) -> float:
    return integrate.quad(fn, lo, hi, **_QUAD)[0]


def _dquad(fn: Callable[[float, float], float], lo: float, hi: float) -> float:
    """int_lo^hi int_0^1 fn(q, xi) dxi dq."""
    return integrate.quad(lambda q: integrate.quad(lambda xi: fn(q, xi), 0.0, 1.0, **_QUAD)[0], lo, hi, **_QUAD)[0]


def _intervals(points: Sequence[float], dist=None) -> list[tuple[float, float]]:
    """Integration intervals in R0 space: base quantiles ``points`` become cuts at F0^{-1}(point)."""
    qs = sorted({float(p) for p in points if 0.0 < float(p) < 1.0} | ({0.5} if dist is not None else set()))
    if dist is None:
        cuts = [0.0, *qs, 1.0]
    else:
        lo, hi = (float(x) for x in dist.support())
        cuts = [lo, *(float(dist.ppf(q)) for q in qs), hi]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _moments(logweight, lo, hi, randomized, value_r, cdf, logpdf):
    """int over x in [lo, hi] (and xi if randomized) of pdf * weight * (1, x, F0(x), value_r).

    pdf * weight is formed as exp(logpdf + log weight): far in an infinite tail the weight may overflow
    while the density underflows, and their product must still come out right (usually 0)."""

    def dw(x, xi):
        lp = logpdf(x)
        return 0.0 if lp == -np.inf else float(np.exp(lp + logweight(x, xi)))

    if randomized:
        return (
            _dquad(lambda x, xi: dw(x, xi), lo, hi),
            _dquad(lambda x, xi: dw(x, xi) * x, lo, hi),
            _dquad(lambda x, xi: dw(x, xi) * cdf(x), lo, hi),
            _dquad(lambda x, xi: dw(x, xi) * value_r(x, xi), lo, hi),
        )
    return (
        _quad(lambda x: dw(x, None), lo, hi),
        _quad(lambda x: dw(x, None) * x, lo, hi),
        _quad(lambda x: dw(x, None) * cdf(x), lo, hi),
        _quad(lambda x: dw(x, None) * value_r(x, None), lo, hi),
    )


def _base(dist):
    """(cdf, logpdf) of R0: the identity and 0 on [0, 1] for the default U(0,1)."""
    if dist is None:
        return (lambda x: x), (lambda x: 0.0)
    return (lambda x: float(dist.cdf(x))), (lambda x: float(dist.logpdf(x)))


def proposition1(f, beta: float, dist=None, points=(), randomized=False, f_max=None) -> dict[str, float]:
    """Proposition 1 for proxy r = f(R0) (or f(R0, xi) with ``randomized``) and R0 ~ ``dist``.

    ``dist``: frozen continuous scipy.stats distribution with a pdf (default U(0,1)); expectations are
    integrals of ``pdf(x) * ...`` over its support (infinite limits allowed). ``points``: base quantiles in
    (0, 1) where f is discontinuous or kinked (quadrature splits there). ``f_max``: an upper bound of f
    used to keep exponents <= 0 (default: the max of f over a quantile grid). ``beta``: scalar > 0,
    np.inf allowed. Returns floats expected_true, win_rate, kl.
    """
    beta = float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be > 0; got {beta}")
    t = 0.0 if np.isinf(beta) else 1.0 / beta
    cdf, logpdf = _base(dist)

    def r_of(x, xi):
        return float(f(x, xi)) if randomized else float(f(x))

    if f_max is None:
        qgrid = np.concatenate([np.linspace(1e-9, 1 - 1e-9, 4001), np.clip(np.asarray(points, float), 1e-9, 1 - 1e-9)])
        xgrid = qgrid if dist is None else dist.ppf(qgrid)
        xis = np.linspace(0.0, 1.0, 11) if randomized else [None]
        f_max = max(r_of(x, xi) for x in xgrid for xi in xis)

    def exponent(x, xi):  # log weight = t (r - f_max) <= 0 (up to the grid's resolution)
        return t * (r_of(x, xi) - f_max)

    return _integrate(points, dist, randomized, exponent, exponent, cdf, logpdf)


def _integrate(points, dist, randomized, log_weight, log_weight_value, cdf, logpdf) -> dict[str, float]:
    """Sum the quadrature moments over the pieces: Z, E[r* w], E[u w] and E[w log w] -> the normalized expected
    true reward, win rate and KL = E[w log w]/Z - log Z (clipped at 0)."""
    z = e_true = e_u = e_wlogw = 0.0
    for lo, hi in _intervals(points, dist):
        m = _moments(log_weight, lo, hi, randomized, log_weight_value, cdf, logpdf)
        z, e_true, e_u, e_wlogw = z + m[0], e_true + m[1], e_u + m[2], e_wlogw + m[3]
    return {"expected_true": e_true / z, "win_rate": e_u / z, "kl": float(max(e_wlogw / z - np.log(z), 0.0))}


def map_tilt_reference(qmap: QuantileMap | str, beta: float) -> dict[str, float]:
    """Proposition 1 for R0 ~ U(0,1) and r = qmap.f(u) (tie bands at their mid-rank, noise bands randomized)."""
    qmap = QuantileMap.parse(qmap) if isinstance(qmap, str) else qmap
    points = sorted({p.u0 for p in qmap.pieces} | {p.u1 for p in qmap.pieces})
    # the largest proxy value (a top tie band sits at its mid-rank): keeps every exponent <= 0 without underflow
    f_max = max(0.5 * (p.v0 + p.v1) if p.kind == "tie" else p.v1 for p in qmap.pieces)
    if qmap.is_deterministic:

        def f(u):
            return qmap.f(np.asarray(u))[()]

        return proposition1(f, beta, points=points, f_max=f_max)

    def f2(u, xi):
        return qmap.f(np.asarray(u), noise=np.asarray(xi))[()]

    return proposition1(f2, beta, points=points, randomized=True, f_max=f_max)


def bon_reference(
    f: Callable,
    n: float,
    dist=None,
    points: Sequence[float] = (),
    randomized: bool = False,
    proxy_cdf: Callable | None = None,
    proxy_cdf_left: Callable | None = None,
) -> dict[str, float]:
    """Best-of-n by quadrature: the chosen draw has density w(r) relative to pi0, where
    ``w = (G(r)^n - G^-(r)^n) / (G(r) - G^-(r))`` (uniform tie-breaking) and ``w = n G(r)^{n-1}`` where the
    proxy has no atom. ``proxy_cdf`` G defaults to the identity (a proxy already in uniform quantiles, as
    for a QuantileMap); ``proxy_cdf_left`` G^- (P(r < x)) defaults to G (no atoms).
    Returns floats expected_true, win_rate, kl (= E0[w log w]).
    """
    n = float(n)
    if not n >= 1:
        raise ValueError(f"n must be >= 1; got {n}")
    cdf, logpdf = _base(dist)
    G = proxy_cdf or (lambda x: x)
    Gm = proxy_cdf_left or G

    def r_of(x, xi):
        return float(f(x, xi)) if randomized else float(f(x))

    def weight(x, xi):
        r = r_of(x, xi)
        hi, lo = float(G(r)), float(Gm(r))
        if hi - lo > 1e-15:
            return (hi**n - lo**n) / (hi - lo)
        return n * hi ** (n - 1.0)

    def logw(x, xi):
        w = weight(x, xi)
        return float(np.log(w)) if w > 0 else -np.inf

    def logw_value(x, xi):  # multiplies w, so where w = 0 the value is irrelevant
        w = weight(x, xi)
        return float(np.log(w)) if w > 0 else 0.0

    # z is 1 up to quadrature error; dividing keeps the results normalized like proposition1's
    return _integrate(points, dist, randomized, logw, logw_value, cdf, logpdf)


def map_bon_reference(qmap: QuantileMap | str, n: float) -> dict[str, float]:
    """Best-of-n under ``qmap`` by quadrature over u: proxy v = qmap.f(u); a tie band [v0, v1] is one atom
    of mass v1 - v0 at its mid-rank, so there G = v1 and G^- = v0."""
    qmap = QuantileMap.parse(qmap) if isinstance(qmap, str) else qmap
    points = sorted({p.u0 for p in qmap.pieces} | {p.u1 for p in qmap.pieces})
    ties = [(0.5 * (p.v0 + p.v1), p.v0, p.v1) for p in qmap.pieces if p.kind == "tie"]

    def G(x):
        for mid, _lo, hi in ties:
            if abs(x - mid) < 1e-12:
                return hi
        return x

    def Gm(x):
        for mid, lo, _hi in ties:
            if abs(x - mid) < 1e-12:
                return lo
        return x

    if qmap.is_deterministic:

        def f(u):
            return qmap.f(np.asarray(u))[()]

        return bon_reference(f, n, points=points, proxy_cdf=G, proxy_cdf_left=Gm)

    def f2(u, xi):
        return qmap.f(np.asarray(u), noise=np.asarray(xi))[()]

    return bon_reference(f2, n, points=points, randomized=True, proxy_cdf=G, proxy_cdf_left=Gm)
