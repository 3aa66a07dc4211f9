"""SmolLM2 over-optimizing the embedding verifier, over a beta sweep: proxy, gold, KL and gold win rate per step.

``plot(data)`` takes the figure data that ``python -m paper_repro.real_llm`` writes (``real_llm_curves.json``:
``rft.seeds.figure_data`` per condition, ``step`` and ``gold`` / ``proxy`` / ``kl_seq`` with ``_lo`` / ``_hi``
bands, 95% t-intervals over seeds, plus ``gold_content`` and ``win_gold`` when present, and ``kl_limit``).
Panels: (a) the proxy, (b) the gold (dotted: the gold without the checks named in ``content_without``), (c) the
sequence-level KL on a symmetric-log axis (the sweep spans 0.1 to 100 nats; each seed thin when
``kl_seq_seeds`` is given, else the band) with the limit drawn, (d) the win rate
against the base policy with the gold rubric as the pairwise judge. Files without the extra curves (a plain
``chase rft collect``) draw (a)-(c).

    python -m figures.real_llm docs/real_llm/real_llm_curves.json   # -> real_llm_curves.png / .pdf beside it
"""

from __future__ import annotations

import sys
from typing import Any

from figures.style import PALETTE, new_figure, save_from_file

__all__ = ["plot"]


def _line(ax, cv: dict, key: str, color, style: str = "-", label: str | None = None) -> None:
    ax.plot(cv["step"], cv[key], style, color=color, marker="o", ms=3, label=label)
    ax.fill_between(cv["step"], cv[f"{key}_lo"], cv[f"{key}_hi"], color=color, alpha=0.15)


def plot(data: dict[str, Any]):
    fig, axes = new_figure(ncols=2, nrows=2, width=4.6, height=3.2)
    (ax_p, ax_g), (ax_k, ax_w) = axes
    has_extra = all("win_gold" in cv for cv in data["conditions"])
    for i, cv in enumerate(data["conditions"]):
        c, n = PALETTE[i], f"{cv['name']}, {cv['n_seeds']} seed{'s' * (cv['n_seeds'] > 1)}"
        _line(ax_p, cv, "proxy", c, label=n)
        _line(ax_g, cv, "gold", c, label=n)
        if has_extra:
            _line(ax_g, cv, "gold_content", c, ":")
            _line(ax_w, cv, "win_gold", c, label=n)
        if "kl_seq_seeds" in cv:  # each seed thin, the mean over seeds thick (a t-band over 3 seeds is too wide)
            for seed in cv["kl_seq_seeds"]:
                ax_k.plot(cv["step"], seed, "-", color=c, lw=0.8, alpha=0.5)
            ax_k.plot(cv["step"], cv["kl_seq"], "-", color=c, marker="o", ms=3, lw=2, label=f"{n} (thin: seeds)")
        else:
            _line(ax_k, cv, "kl_seq", c, label=n)
    ax_p.set(xlabel="GRPO step", ylabel="held-out proxy (0-1)", title="(a) proxy: embedding verifier", ylim=(0, 1))
    content = "; dotted: without the coherence check" if has_extra and data.get("content_without") else ""
    ax_g.set(xlabel="GRPO step", ylabel="held-out gold (0-1)", title=f"(b) gold: rule checks{content}", ylim=(0, 1))
    ax_k.set_yscale("symlog", linthresh=1.0)
    ax_k.set_ylim(bottom=0)  # sample estimates of a KL near 0 can dip below it; the KL itself cannot
    if data.get("kl_limit"):
        ax_k.axhline(data["kl_limit"], color="0.3", lw=0.8, ls="--", label=f"{data['kl_limit']:g} nats")
    ax_k.set(xlabel="GRPO step", ylabel="KL(pi || pi_base), nats per completion", title="(c) sequence-level KL")
    if has_extra:
        ax_w.axhline(0.5, color="0.5", lw=0.8)
        ax_w.set(xlabel="GRPO step", ylabel="win rate vs step 0", title="(d) gold as pairwise judge", ylim=(0, 1))
        ax_w.legend(fontsize=7)
    else:
        ax_w.set_axis_off()
    for ax in (ax_p, ax_g, ax_k):
        ax.legend(fontsize=7)
    bands = "; ".join(sorted({cv["band"] for cv in data["conditions"]}))
    fig.suptitle(f"{data.get('title') or 'SmolLM2-135M-Instruct, CPU'} (bands: {bands})", fontsize=10)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    print({k: str(v) for k, v in save_from_file(plot, sys.argv[1]).items()})
