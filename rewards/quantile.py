"""Misspecification of a proxy reward, measured in base-policy quantiles.

Under the base policy pi0 the true quantile ``u = F0(r*)`` is Uniform(0, 1). A proxy is described by
what it does to ``u``: it hands out a proxy quantile ``v``. A :class:`QuantileMap` is a list of
pieces; piece ``i`` sends the true band ``[u0, u1]`` onto the proxy band ``[v0, v1]`` of the same width
(so ``v`` stays uniform under pi0, which is Theorem 1's hypothesis) in one of four ways:

``inc``    order kept:        v = v0 + (u - u0)
``dec``    order reversed:    v = v1 - (u - u0)
``noise``  uninformative:     v ~ Uniform(v0, v1) independent of u (a continuous proxy, random order)
``tie``    uninformative:     v = (v0 + v1) / 2 for every u in the band (one tied proxy value; the
           mid-rank convention, so the base win rate stays exactly 1/2)

Everything the theory needs is then ``h(v) = E[u | v]``, which is linear on each piece, plus the
positions of the ties (ties change the KL, docs/theory.md section 2).

Spec grammar (``QuantileMap.parse``), bands are closed intervals of [0, 1]:

``identity``        f(u) = u
``reversed``        f(u) = 1 - u
``reverse:A:B``     reverse the order inside [A, B]
``noise:A:B``       make [A, B] uninformative by independent noise
``tie:A:B``         make [A, B] uninformative by one tied proxy value
``sink:E``          move the top E below everything else, order kept within both parts
``top-wrong:C``     = reverse:1-C:1
``worst-wrong:C``   = reverse:0:C
``top-correct:C``   = reverse:0:1-C (the top C stays correctly ranked, the rest is reversed)

Disjoint band terms combine with ``+``, e.g. ``reverse:0:0.1+tie:0.9:1``.

Additive error models (``parse_error``): ``gauss:S`` (r = r* + S*N(0,1)) and ``t:DF:S``
(r = r* + S*StudentT(DF)); Kwa et al. 2024 show the heavy-tailed one collapses best-of-n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "PIECE_KINDS",
    "AdditiveError",
    "Piece",
    "QuantileMap",
    "SpecError",
    "parse_error",
]

PieceKind = Literal["inc", "dec", "noise", "tie"]
PIECE_KINDS: tuple[str, ...] = ("inc", "dec", "noise", "tie")
# Integer codes used by the array form (``QuantileMap.table``) that jax code consumes.
KIND_CODE = {"inc": 0, "dec": 1, "noise": 2, "tie": 3}

_TOL = 1e-12


class SpecError(ValueError):
    """A malformed quantile-map or error-model spec. The message names the token and what was expected."""


@dataclass(frozen=True)
class Piece:
    """True band [u0, u1] sent onto proxy band [v0, v1] (equal widths) in the way ``kind`` says."""

    u0: float
    u1: float
    v0: float
    v1: float
    kind: PieceKind

    @property
    def width(self) -> float:
        return self.u1 - self.u0

    def h_coefficients(self) -> tuple[float, float]:
        """(a, b) with h(v) = a + b*v on this piece."""
        if self.kind == "inc":
            return self.u0 - self.v0, 1.0
        if self.kind == "dec":
            return self.u1 + self.v0, -1.0
        return 0.5 * (self.u0 + self.u1), 0.0


@dataclass(frozen=True)
class QuantileMap:
    """A measure-preserving misspecification of the true quantile; see the module docstring.

    ``pieces`` are stored sorted by ``v0`` (proxy order), which is the order the theory integrates in.
    Build with :meth:`parse`, :meth:`from_pieces`, or :meth:`from_permutation`.
    """

    pieces: tuple[Piece, ...]
    spec: str = "custom"

    def __post_init__(self) -> None:
        _validate(self.pieces)
        ordered = tuple(sorted(self.pieces, key=lambda p: p.v0))
        object.__setattr__(self, "pieces", ordered)

    # ----------------------------------------------------------------------------- constructors
    @classmethod
    def from_pieces(cls, pieces, spec: str = "custom") -> QuantileMap:
        """Pieces as ``Piece`` objects or ``(u0, u1, v0, v1, kind)`` tuples; zero-width pieces are dropped."""
        built = []
        for p in pieces:
            piece = p if isinstance(p, Piece) else Piece(*(float(x) for x in p[:4]), p[4])  # type: ignore[arg-type]
            if piece.width > _TOL:
                built.append(piece)
        return cls(tuple(built), spec)

    @classmethod
    def identity(cls) -> QuantileMap:
        return cls((Piece(0.0, 1.0, 0.0, 1.0, "inc"),), "identity")

    @classmethod
    def parse(cls, spec: str) -> QuantileMap:
        """Build a map from the spec grammar in the module docstring. Raises :class:`SpecError`."""
        if not isinstance(spec, str) or not spec.strip():
            raise SpecError(f"empty quantile-map spec {spec!r}: expected e.g. 'identity' or 'reverse:0.9:1'")
        text = spec.strip()
        terms = [t.strip() for t in text.split("+")]
        if len(terms) == 1:
            name = terms[0].split(":")[0]
            if name == "identity" and terms[0] == "identity":
                return cls.identity()
            if name == "reversed" and terms[0] == "reversed":
                return cls((Piece(0.0, 1.0, 0.0, 1.0, "dec"),), "reversed")
            if name == "sink":
                (e,) = _numbers(terms[0], 1, spec)
                return cls.from_pieces([(1.0 - e, 1.0, 0.0, e, "inc"), (0.0, 1.0 - e, e, 1.0, "inc")], text)
        bands = sorted((*_band(term, spec), term) for term in terms)
        for (_a0, b0, _k0, t0), (a1, _b1, _k1, t1) in zip(bands[:-1], bands[1:], strict=True):
            if a1 < b0 - _TOL:
                raise SpecError(f"in spec {spec!r}: bands {t0!r} and {t1!r} overlap; expected disjoint bands")
        pieces: list[tuple[float, float, float, float, str]] = []
        cursor = 0.0
        for a, b, kind, _term in bands:
            if a > cursor:
                pieces.append((cursor, a, cursor, a, "inc"))
            pieces.append((a, b, a, b, kind))
            cursor = max(cursor, b)
        if cursor < 1.0:
            pieces.append((cursor, 1.0, cursor, 1.0, "inc"))
        return cls.from_pieces(pieces, text)

    @classmethod
    def from_permutation(cls, perm, kinds=None, spec: str = "custom") -> QuantileMap:
        """Cut [0,1] into len(perm) equal bands; true band i goes to proxy slot perm[i] (kind inc by default)."""
        perm = [int(x) for x in perm]
        k = len(perm)
        if sorted(perm) != list(range(k)):
            raise SpecError(f"from_permutation: {perm} is not a permutation of 0..{k - 1}")
        kinds = list(kinds) if kinds is not None else ["inc"] * k
        if len(kinds) != k:
            raise SpecError(f"from_permutation: {len(kinds)} kinds for {k} bands")
        return cls.from_pieces([(i / k, (i + 1) / k, perm[i] / k, (perm[i] + 1) / k, kinds[i]) for i in range(k)], spec)

    # ----------------------------------------------------------------------------- properties
    @property
    def is_deterministic(self) -> bool:
        """True when no piece is ``noise`` (ties are deterministic: every u in the band gets the mid-rank)."""
        return all(p.kind != "noise" for p in self.pieces)

    @property
    def has_ties(self) -> bool:
        return any(p.kind == "tie" for p in self.pieces)

    @property
    def is_rearrangement(self) -> bool:
        """True when f is a bijection (only inc/dec pieces), so f^{-1} = h."""
        return all(p.kind in ("inc", "dec") for p in self.pieces)

    def table(self) -> dict[str, np.ndarray]:
        """Array form, sorted by v0: u0, u1, v0, v1 (float64, shape (P,)), kind (int codes, KIND_CODE)."""
        return {
            "u0": np.array([p.u0 for p in self.pieces]),
            "u1": np.array([p.u1 for p in self.pieces]),
            "v0": np.array([p.v0 for p in self.pieces]),
            "v1": np.array([p.v1 for p in self.pieces]),
            "kind": np.array([KIND_CODE[p.kind] for p in self.pieces], dtype=np.int32),
        }

    def h_pieces(self) -> list[tuple[float, float, float, float, bool]]:
        """[(v0, v1, a, b, tied)] with h(v) = a + b*v on [v0, v1], in proxy order."""
        return [(p.v0, p.v1, *p.h_coefficients(), p.kind == "tie") for p in self.pieces]

    # ----------------------------------------------------------------------------- evaluation
    def f(self, u, noise=None, xp: Any = np):
        """Proxy quantile for true quantile ``u`` (any shape).

        ``noise``: Uniform(0,1) draws of u's shape, used only on ``noise`` pieces (required if the
        map has one). ``xp`` is the array namespace (numpy, or ``jax.numpy`` for traced code).
        """
        if not self.is_deterministic and noise is None:
            raise ValueError(f"map {self.spec!r} has a noise band: pass noise=Uniform(0,1) draws shaped like u")
        u = xp.asarray(u, dtype=float) if xp is np else xp.asarray(u)
        by_u = sorted(self.pieces, key=lambda p: p.u0)
        out = u * 0.0
        for i, p in enumerate(by_u):
            last = i == len(by_u) - 1
            inside = (u >= p.u0) & ((u <= p.u1) if last else (u < p.u1))
            if p.kind == "inc":
                val = p.v0 + (u - p.u0)
            elif p.kind == "dec":
                val = p.v1 - (u - p.u0)
            elif p.kind == "tie":
                val = xp.full_like(u, 0.5 * (p.v0 + p.v1))
            else:
                val = p.v0 + p.width * xp.asarray(noise)
            out = xp.where(inside, val, out)
        return out

    def h(self, v, xp: Any = np):
        """E[u | v] for proxy quantile ``v`` (any shape). Equals f^{-1} for a rearrangement."""
        v = xp.asarray(v, dtype=float) if xp is np else xp.asarray(v)
        out = v * 0.0
        for i, (v0, v1, a, b, _tied) in enumerate(self.h_pieces()):
            last = i == len(self.pieces) - 1
            inside = (v >= v0) & ((v <= v1) if last else (v < v1))
            out = xp.where(inside, a + b * v, out)
        return out

    def f_inv(self, v):
        """Inverse of f for a rearrangement; NaN on noise/tie pieces, where u is not a function of v."""
        v = np.asarray(v, dtype=float)
        out = self.h(v)
        for p in self.pieces:
            if p.kind in ("noise", "tie"):
                out = np.where((v >= p.v0) & (v <= p.v1), np.nan, out)
        return out

    def __str__(self) -> str:  # the spec is the name users see in tables and JSON
        return self.spec


def _validate(pieces: tuple[Piece, ...]) -> None:
    if not pieces:
        raise SpecError("a QuantileMap needs at least one piece")
    for p in pieces:
        if p.kind not in PIECE_KINDS:
            raise SpecError(f"piece {p}: kind {p.kind!r} is not one of {PIECE_KINDS}")
        for name in ("u0", "u1", "v0", "v1"):
            x = getattr(p, name)
            if not (np.isfinite(x) and -_TOL <= x <= 1 + _TOL):
                raise SpecError(f"piece {p}: {name}={x} is outside [0, 1]")
        if p.u1 - p.u0 <= _TOL:
            raise SpecError(f"piece {p}: empty or inverted band u0={p.u0} >= u1={p.u1}")
        if abs((p.u1 - p.u0) - (p.v1 - p.v0)) > 1e-9:
            raise SpecError(
                f"piece {p}: widths differ (u: {p.u1 - p.u0}, v: {p.v1 - p.v0}); "
                "a measure-preserving map sends a band onto one of the same width"
            )
    for axis in ("u", "v"):
        spans = sorted((getattr(p, axis + "0"), getattr(p, axis + "1")) for p in pieces)
        cursor = 0.0
        for lo, hi in spans:
            if abs(lo - cursor) > 1e-9:
                raise SpecError(
                    f"pieces do not tile [0,1] in {axis}: expected a band starting at {cursor}, got [{lo}, {hi}]"
                )
            cursor = hi
        if abs(cursor - 1.0) > 1e-9:
            raise SpecError(f"pieces do not tile [0,1] in {axis}: they end at {cursor}")


def _numbers(term: str, count: int, spec: str) -> list[float]:
    parts = term.split(":")
    if len(parts) != count + 1:
        expected = ":".join([parts[0]] + ["X"] * count)
        raise SpecError(f"in spec {spec!r}: token {term!r} has {len(parts) - 1} numbers; expected {expected!r}")
    out = []
    for tok in parts[1:]:
        try:
            x = float(tok)
        except ValueError:
            raise SpecError(
                f"in spec {spec!r}: token {tok!r} in {term!r} is not a number; expected a number in [0, 1]"
            ) from None
        if not (0.0 <= x <= 1.0):
            raise SpecError(f"in spec {spec!r}: token {tok!r} in {term!r} is outside [0, 1]")
        out.append(x)
    return out


_BAND_KIND = {"reverse": "dec", "noise": "noise", "tie": "tie"}
_SHORTHANDS = ("top-wrong", "worst-wrong", "top-correct")
_ALL_NAMES = ("identity", "reversed", "reverse", "noise", "tie", "sink", *_SHORTHANDS)


def _band(term: str, spec: str) -> tuple[float, float, str]:
    name = term.split(":")[0]
    if name in _BAND_KIND:
        a, b = _numbers(term, 2, spec)
        if a > b:
            raise SpecError(f"in spec {spec!r}: band {term!r} has A={a} > B={b}; expected A <= B")
        return a, b, _BAND_KIND[name]
    if name in _SHORTHANDS:
        (c,) = _numbers(term, 1, spec)
        if name == "top-wrong":
            return 1.0 - c, 1.0, "dec"
        if name == "worst-wrong":
            return 0.0, c, "dec"
        return 0.0, 1.0 - c, "dec"
    if name in ("identity", "reversed", "sink"):
        raise SpecError(f"in spec {spec!r}: {term!r} cannot be combined with '+'; expected it alone")
    raise SpecError(f"in spec {spec!r}: unknown token {name!r}; expected one of {', '.join(_ALL_NAMES)}")


@dataclass(frozen=True)
class AdditiveError:
    """Proxy r = r* + scale * X with X ~ N(0,1) (``kind='gauss'``) or Student t(df) (``kind='t'``)."""

    kind: Literal["gauss", "t"]
    scale: float
    df: float = np.inf
    spec: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("gauss", "t"):
            raise SpecError(f"error model kind {self.kind!r}: expected 'gauss' or 't'")
        if not (np.isfinite(self.scale) and self.scale >= 0):
            raise SpecError(f"error model scale {self.scale}: expected a finite number >= 0")
        if self.kind == "t" and not (self.df > 0):
            raise SpecError(f"Student t degrees of freedom {self.df}: expected > 0")

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Draws of scale*X with the given shape, from an explicit numpy Generator."""
        if self.kind == "gauss":
            return self.scale * rng.standard_normal(shape)
        return self.scale * rng.standard_t(self.df, shape)

    def sample_jax(self, key, shape):
        """The same in JAX, from an explicit PRNG key (for the simulators)."""
        import jax

        if self.kind == "gauss":
            return self.scale * jax.random.normal(key, shape)
        return self.scale * jax.random.t(key, self.df, shape)

    def __str__(self) -> str:
        if self.spec:
            return self.spec
        return f"gauss:{self.scale:g}" if self.kind == "gauss" else f"t:{self.df:g}:{self.scale:g}"


def parse_error(spec: str) -> AdditiveError:
    """``gauss:S`` or ``t:DF:S``. Raises :class:`SpecError` naming the bad token."""
    parts = spec.strip().split(":")
    if not ((parts[0] == "gauss" and len(parts) == 2) or (parts[0] == "t" and len(parts) == 3)):
        raise SpecError(f"error spec {spec!r}: expected 'gauss:SCALE' or 't:DF:SCALE'")
    nums = [parse_number(tok, f"error spec {spec!r}") for tok in parts[1:]]
    # AdditiveError validates the values (scale >= 0, df > 0) and raises SpecError itself
    if parts[0] == "gauss":
        return AdditiveError("gauss", nums[0], spec=spec)
    return AdditiveError("t", nums[1], df=nums[0], spec=spec)


def parse_number(token: str, where: str) -> float:
    """float(token), or a :class:`SpecError` that names the token and where it was found."""
    try:
        return float(token)
    except ValueError:
        raise SpecError(f"in {where}: token {token!r} is not a number") from None
