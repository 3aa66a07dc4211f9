"""``chase diagnose``: will RFT against this proxy be gamed? Config -> run -> DiagnoseResult -> report.

    config = DiagnoseConfig(samples="scores.jsonl")
    result = run(config, np.random.default_rng(config.seed))
    report(result, "out/")        # diagnosis.json (also the figure's data) and diagnosis.md

Input: base-policy samples, one JSON object per line, ``{"prompt_id", "proxy", "gold"}`` (the key names are
settings; other keys are ignored; ``gold`` missing or null = not gold-scored; ``proxy`` null = unscored, dropped
and counted). ``gold_scores``: a second file written by ``chase rubric score`` whose ``score`` becomes the gold
of the sample with the same ``index`` (the two-step recipe in the README). ``pairs``: optional pairwise gold
preferences ``{"prompt_id", "proxy_a", "proxy_b", "preferred": "a"|"b"|"tie", "tier": "high"|"low"}`` for the
tail-accuracy part (without it, pairs are formed within prompts from the gold-scored samples).

What it computes: the tail-accuracy profile (``rewards.diagnostics``), h(v) with a prompt bootstrap band
(``estimate_h``), the predicted gold-vs-KL curves of the tilt and of best-of-n with their resolution limit
(``rewards.predict``), and a verdict in plain words. Every user error is a ValueError naming file, line and field.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewards.checks import check_fields
from rewards.diagnostics import (
    HEstimate,
    accuracy_by_band,
    estimate_h,
    midrank_quantiles,
    pair_accuracy,
    pairs_within_groups,
)
from rewards.io import atomic_write_text, write_json
from rewards.predict import Prediction, group_codes, predict

__all__ = ["DiagnoseConfig", "DiagnoseResult", "Samples", "load_samples", "report", "run", "verdict"]

H_EDGES = (0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
BAND_EDGES = (0.0, 0.5, 0.8, 0.9, 0.95, 1.0)


@dataclass(frozen=True)
class DiagnoseConfig:
    """One diagnosis.

    samples:        JSONL of base-policy samples (see the module docstring).
    prompt_key:     key of the prompt id in each line.
    proxy_key:      key of the proxy score.
    gold_key:       key of the gold score (missing or null on a line: not gold-scored).
    gold_scores:    optional ``chase rubric score`` output whose ``score`` is the gold of the line with the same
                    ``index`` ("" = none).
    pairs:          optional JSONL of pairwise gold preferences for the tail-accuracy part ("" = none).
    min_per_prompt: fewest proxy-scored samples a prompt may have (fewer: an error).
    min_ess:        the curves count as resolved while the median per-prompt effective sample size is >= this.
    n_boot:         bootstrap replicates (prompts resampled).
    points:         inverse temperatures on the tilt grid.
    seed:           seed of the bootstrap generator.
    """

    samples: str = ""
    prompt_key: str = "prompt_id"
    proxy_key: str = "proxy"
    gold_key: str = "gold"
    gold_scores: str = ""
    pairs: str = ""
    min_per_prompt: int = 4
    min_ess: float = 10.0
    n_boot: int = 200
    points: int = 161
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.min_per_prompt < 2:
            raise ValueError(f"min_per_prompt must be >= 2 (got {self.min_per_prompt})")
        if not self.min_ess >= 1:
            raise ValueError(f"min_ess must be >= 1 (got {self.min_ess})")
        if self.n_boot < 0 or self.points < 3:
            raise ValueError(f"n_boot must be >= 0 and points >= 3 (got {self.n_boot}, {self.points})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Samples:
    """Proxy-scored samples: ``prompt_ids`` (N,) str, ``proxy`` (N,), ``gold`` (N,) NaN where not gold-scored;
    ``n_lines`` read, ``n_unscored`` dropped for a null proxy."""

    prompt_ids: np.ndarray
    proxy: np.ndarray
    gold: np.ndarray
    n_lines: int
    n_unscored: int


def _lines(path: str, what: str):
    """(line number, object) of every non-blank line of a JSONL file; one-line errors for the rest."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OSError(f"{what} {path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {i}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path}: line {i}: expected a JSON object, got {type(obj).__name__}")
        yield i, obj


def _number(obj: dict, key: str, where: str, required: bool) -> float:
    """A finite float, NaN for null / missing (when allowed); ValueError naming ``where`` and the field."""
    if key not in obj:
        if required:
            raise ValueError(f"{where}: missing field {key!r}")
        return math.nan
    x = obj[key]
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ValueError(f"{where}: field {key!r} must be a number or null, got {json.dumps(x)[:40]}")
    if not math.isfinite(x):
        raise ValueError(f"{where}: field {key!r} is {x} (use null for an unscored sample)")
    return float(x)


def _gold_from_scores(path: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for i, obj in _lines(path, "gold scores"):
        idx = obj.get("index")
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise ValueError(f"{path}: line {i}: field 'index' missing or not an integer (a chase rubric score file?)")
        out[idx] = _number(obj, "score", f"{path}: line {i}", required=True)
    return out


def load_samples(config: DiagnoseConfig) -> Samples:
    """Read and check the samples (and the gold scores file). ValueError / OSError name file, line and field."""
    if not config.samples:
        raise ValueError("give the samples file (--samples FILE)")
    gold_by_index = _gold_from_scores(config.gold_scores) if config.gold_scores else None
    ids, proxy, gold, n_lines, n_unscored = [], [], [], 0, 0
    for i, obj in _lines(config.samples, "samples"):
        n_lines += 1
        where = f"{config.samples}: line {i}"
        if config.prompt_key not in obj:
            raise ValueError(f"{where}: missing field {config.prompt_key!r}")
        pid = obj[config.prompt_key]
        if pid is None or isinstance(pid, dict | list):
            raise ValueError(f"{where}: field {config.prompt_key!r} must be a string or number")
        r = _number(obj, config.proxy_key, where, required=True)
        if gold_by_index is None:
            g = _number(obj, config.gold_key, where, required=False)
        else:
            idx = obj.get("index")
            if idx not in gold_by_index:
                raise ValueError(f"{where}: index {idx!r} has no line in {config.gold_scores}")
            g = gold_by_index[idx]
        if math.isnan(r):
            n_unscored += 1
            continue
        ids.append(str(pid))
        proxy.append(r)
        gold.append(g)
    if not ids:
        raise ValueError(f"{config.samples}: no proxy-scored samples")
    return Samples(np.array(ids), np.array(proxy), np.array(gold), n_lines, n_unscored)


def check_samples(s: Samples, config: DiagnoseConfig) -> None:
    """Enough samples per prompt, a proxy that varies, some gold: else a ValueError saying which and what to do."""
    uniq, counts = np.unique(s.prompt_ids, return_counts=True)
    few = counts < config.min_per_prompt
    if few.any():
        raise ValueError(
            f"{config.samples}: field {config.prompt_key!r}: prompt {uniq[few][0]!r} has {counts[few][0]} proxy-scored "
            f"samples (need >= {config.min_per_prompt}; {int(few.sum())} of {uniq.size} prompts are short)"
        )
    _, inv = np.unique(s.prompt_ids, return_inverse=True)
    spread = np.zeros(uniq.size)
    np.maximum.at(spread, inv, s.proxy)
    low = np.full(uniq.size, np.inf)
    np.minimum.at(low, inv, s.proxy)
    if np.all(spread == low):
        raise ValueError(f"{config.samples}: field {config.proxy_key!r} is constant within every prompt")
    has_gold = ~np.isnan(s.gold)
    if has_gold.sum() < 2 or np.unique(s.gold[has_gold]).size < 2:
        raise ValueError(
            f"{config.samples}: field {config.gold_key!r}: need gold scores that vary (found {has_gold.sum()})"
        )


@dataclass(frozen=True, eq=False)
class DiagnoseResult:
    """``h``: h(v) estimate; ``bands``: pair accuracy by true-quantile band; ``tail``: high vs low pair
    accuracy (dicts of ``PairAccuracy.to_dict()``); ``tilt`` and ``best_of_n``: :class:`rewards.predict.Prediction`;
    ``counts``: samples, prompts, gold-scored, unscored; ``verdict``: the plain-words paragraph."""

    config: DiagnoseConfig
    counts: dict[str, int]
    h: HEstimate
    bands: list[dict[str, Any]]
    tail: dict[str, Any]
    tilt: Prediction
    best_of_n: Prediction
    verdict: str


def _pairs_file(path: str, rng, n_boot: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Tail accuracy from a pairwise-preference file: accuracy per ``tier`` (all pairs if no tier is given)."""
    rows: dict[str, list[tuple]] = {}
    for i, obj in _lines(path, "pairs"):
        where = f"{path}: line {i}"
        pa, pb = (_number(obj, k, where, required=True) for k in ("proxy_a", "proxy_b"))
        pref = obj.get("preferred")
        if pref not in ("a", "b", "tie"):
            raise ValueError(f"{where}: field 'preferred' must be 'a', 'b' or 'tie', got {json.dumps(pref)}")
        tier = obj.get("tier", "all")
        if tier not in ("high", "low", "all"):
            raise ValueError(f"{where}: field 'tier' must be 'high' or 'low', got {json.dumps(tier)}")
        ga, gb = {"a": (1.0, 0.0), "b": (0.0, 1.0), "tie": (0.0, 0.0)}[pref]
        rows.setdefault(tier, []).append((pa, pb, ga, gb, str(obj.get("prompt_id", i))))
    tail = {}
    for tier, rs in rows.items():
        pa, pb, ga, gb, grp = (np.array(c) for c in zip(*rs, strict=True))
        tail[tier] = pair_accuracy(pa, pb, ga, gb, groups=grp, rng=rng, n_boot=n_boot).to_dict()
    return [], tail


def _tail_from_samples(s: Samples, rng, n_boot: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pairs within prompts among gold-scored samples: accuracy by true-quantile band, and high (mean u >= 0.8)
    vs low (mean u < 0.5) pairs."""
    ok = ~np.isnan(s.gold)
    ids, r, g = group_codes(s.prompt_ids)[0][ok], s.proxy[ok], s.gold[ok]  # integer ids: fast grouping
    u = midrank_quantiles(g, ids)
    a, b = pairs_within_groups(ids)
    bands = accuracy_by_band(r[a], r[b], g[a], g[b], u[a], u[b], BAND_EDGES, groups=ids[a], rng=rng, n_boot=n_boot)
    um = (u[a] + u[b]) / 2
    tail = {}
    for name, m in (("high", um >= 0.8), ("low", um < 0.5)):
        tail[name] = pair_accuracy(r[a][m], r[b][m], g[a][m], g[b][m], groups=ids[a][m], rng=rng, n_boot=n_boot)
        tail[name] = tail[name].to_dict()
    return bands, tail


def run(config: DiagnoseConfig, rng: np.random.Generator) -> DiagnoseResult:
    """Load, check and diagnose the samples (see the module docstring)."""
    s = load_samples(config)
    check_samples(s, config)
    codes = group_codes(s.prompt_ids)[0]
    h = estimate_h(s.proxy, s.gold, H_EDGES, groups=codes, rng=rng, n_boot=config.n_boot)
    if config.pairs:
        bands, tail = _pairs_file(config.pairs, rng, config.n_boot)
    else:
        bands, tail = _tail_from_samples(s, rng, config.n_boot)
    pred = predict(codes, s.proxy, s.gold, rng=rng, n_boot=config.n_boot, min_ess=config.min_ess, points=config.points)
    counts = {
        "lines": s.n_lines,
        "samples": int(s.proxy.size),
        "prompts": int(np.unique(s.prompt_ids).size),
        "gold_scored": int((~np.isnan(s.gold)).sum()),
        "proxy_unscored": s.n_unscored,
    }
    text = verdict(pred, tail, counts, bands)
    return DiagnoseResult(config, counts, h, bands, tail, pred["tilt"], pred["best_of_n"], text)


def _iv(x: float, ci, digits: int = 3) -> str:
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{x:.{digits}f}"
    return f"{x:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _top_band(bands: list[dict[str, Any]]) -> str:
    """A sentence when the top gold band's pair accuracy is below every other band's (CIs apart)."""
    if len(bands) < 2 or not bands[-1]["n_pairs"]:
        return ""
    top, rest = bands[-1], [b for b in bands[:-1] if b["n_pairs"]]
    if rest and all(top["ci_ties_half"][1] < b["ci_ties_half"][0] for b in rest):
        lo, hi = top["band"]
        return (
            f" Among pairs in the top {100 * (hi - lo):.0f}% of gold it orders only "
            f"{_iv(top['acc_ties_half'], top['ci_ties_half'])} correctly, below every other band: the tail is where "
            f"it is wrong."
        )
    return ""


def verdict(
    pred: dict[str, Prediction], tail: dict[str, Any], counts: dict[str, int], bands: list[dict[str, Any]] = ()
) -> str:
    """One paragraph in plain words from the tilt prediction, best-of-n and the tail accuracy."""
    t, b = pred["tilt"], pred["best_of_n"]
    start = t.curve.gold[0]
    if t.peak:
        head = (
            f"Over-optimization is predicted. Under KL-regularized RFT against this proxy, gold should rise from "
            f"{start:.3f} to {_iv(t.peak_gold, t.peak_gold_ci)} at a sequence-level KL of about "
            f"{_iv(t.peak_kl, t.peak_kl_ci, 2)} nats (proxy {t.peak_proxy:.3f}, the base policy's "
            f"{100 * t.peak_v:.0f}th percentile of the proxy) and then fall: by KL = {t.max_kl:.2f} it is "
            f"{_iv(t.drop, t.drop_ci)} lower. Stop before that KL, or fix the proxy where it is wrong in the tail."
        )
    else:
        rise = (
            "has not turned down where the samples can still resolve the optimum"
            if t.peak_index == int(np.flatnonzero(t.curve.resolved).max())
            else f"the dip after its highest point (KL {t.peak_kl:.2f}) is not significant: {_iv(t.drop, t.drop_ci)}"
        )
        head = (
            f"No peak below KL = {t.max_kl:.2f} nats: predicted gold goes from {start:.3f} to "
            f"{t.peak_gold:.3f} and {rise}. This says nothing about larger KL; "
            f"{counts['samples'] // max(counts['prompts'], 1)} samples per prompt cannot see further (the reach "
            f"grows roughly like the log of the samples per prompt)."
        )
    bon = (
        f" Best-of-n: {'a peak at n = ' + format(b.curve.param[b.peak_index], 'g') if b.peak else 'no peak'} "
        f"(gold {b.peak_gold:.3f} at KL {b.peak_kl:.2f}; resolved to KL {b.max_kl:.2f})."
    )
    hi, lo = tail.get("high"), tail.get("low")
    acc = ""
    if hi and lo and hi["n_pairs"] and lo["n_pairs"]:
        worse = hi["ci_ties_half"][1] < lo["ci_ties_half"][0]
        acc = (
            f" The proxy orders {100 * hi['acc_ties_half']:.0f}% of high-reward pairs as gold does, against "
            f"{100 * lo['acc_ties_half']:.0f}% of low-reward pairs"
            + (" (worse in the tail, where optimization goes)." if worse else ".")
        )
    return head + bon + acc + _top_band(list(bands))


def to_json(result: DiagnoseResult) -> dict[str, Any]:
    """Everything ``report`` writes to ``diagnosis.json`` (also the data ``figures.diagnosis`` plots)."""
    h = result.h
    return {
        "config": result.config.to_dict(),
        "counts": result.counts,
        "h": {
            "edges": h.edges.tolist(),
            "h": h.h.tolist(),
            "lo": h.lo.tolist(),
            "hi": h.hi.tolist(),
            "mass": h.mass.tolist(),
            "n": h.n,
        },
        "bands": [{**b, "band": list(b["band"])} for b in result.bands],
        "tail": result.tail,
        "tilt": result.tilt.to_dict(),
        "best_of_n": result.best_of_n.to_dict(),
        "verdict": result.verdict,
    }


def markdown(result: DiagnoseResult) -> str:
    """``diagnosis.md``: the verdict, the peak numbers, the tail accuracy and h(v) tables."""
    c, t, b = result.counts, result.tilt, result.best_of_n
    lines = [
        "# Diagnosis: over-optimization predicted from base-policy samples",
        "",
        f"{c['samples']} proxy-scored samples in {c['prompts']} prompts ({c['gold_scored']} gold-scored; "
        f"{c['proxy_unscored']} lines with an unscored proxy dropped). Intervals: 95% prompt bootstrap "
        f"({result.config.n_boot} replicates).",
        "",
        "![diagnosis](diagnosis.png)",
        "",
        "## Verdict",
        "",
        result.verdict,
        "",
        "## Predicted peaks",
        "",
        "| procedure | peak predicted | KL at peak | gold at peak | proxy at peak | median ESS there "
        "| drop to resolved end | resolved to KL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in (("KL-regularized optimum (tilt)", t), ("best-of-n", b)):
        lines.append(
            f"| {name} | {'yes' if p.peak else 'no'} | {_iv(p.peak_kl, p.peak_kl_ci, 2)} | "
            f"{_iv(p.peak_gold, p.peak_gold_ci)} | {p.peak_proxy:.3f} | {p.curve.ess_median[p.peak_index]:.0f} | "
            f"{_iv(p.drop, p.drop_ci)} | {p.max_kl:.2f} |"
        )
    lines += ["", "## Tail accuracy (pairs the proxy orders as gold does; proxy ties count half)", ""]
    lines += ["| pairs | n | accuracy |", "|---|---|---|"]
    names = {"high": "high (mean gold quantile >= 0.8)", "low": "low (mean gold quantile < 0.5)"}
    for name, a in result.tail.items():
        lines.append(f"| {names.get(name, name)} | {a['n_pairs']} | {_iv(a['acc_ties_half'], a['ci_ties_half'])} |")
    for band in result.bands:
        lo, hi = band["band"]
        acc = _iv(band["acc_ties_half"], band["ci_ties_half"])
        lines.append(f"| gold quantile {lo:g}-{hi:g} | {band['n_pairs']} | {acc} |")
    lines += ["", "## h(v) = E[gold quantile | proxy quantile] (within prompts)", ""]
    lines += ["| v | h | 95% |", "|---|---|---|"]
    h = result.h
    for k in range(h.h.size):
        lines.append(f"| {h.edges[k]:g}-{h.edges[k + 1]:g} | {h.h[k]:.3f} | [{h.lo[k]:.3f}, {h.hi[k]:.3f}] |")
    return "\n".join(lines) + "\n"


def report(result: DiagnoseResult, out_dir: str | Path) -> dict[str, Any]:
    """Write ``diagnosis.json`` and ``diagnosis.md`` into ``out_dir``; returns the JSON."""
    out = Path(out_dir)
    data = to_json(result)
    write_json(out / "diagnosis.json", data)
    atomic_write_text(out / "diagnosis.md", markdown(result))
    return data
