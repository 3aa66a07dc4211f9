"""SmolLM2 over-optimizing the embedding verifier: held-out proxy and gold reward over GRPO steps, and the KL.

``plot(data)`` takes the figure data that ``chase rft collect`` writes (``rft.seeds.figure_data``: per condition
``step``, ``gold``/``proxy``/``kl_seq`` with ``_lo``/``_hi`` bands: 95% t-intervals over seeds). Unlike
``figures.rft_curves`` it has no per-criterion panel (the triage task's watched criteria do not exist here) and
draws the KL on a linear axis (these runs' KLs are fractions of a nat).

    python -m figures.real_llm docs/real_llm/real_llm_curves.json   # -> real_llm_curves.png / .pdf beside it
"""

from __future__ import annotations

import sys
from typing import Any

from figures.style import PALETTE, new_figure, save_from_file

__all__ = ["plot"]


def plot(data: dict[str, Any]):
    fig, axes = new_figure(ncols=2, width=4.8, height=3.4)
    ax_r, ax_k = axes[0]
    for i, cv in enumerate(data["conditions"]):
        c, n = PALETTE[i], f"{cv['name']}, {cv['n_seeds']} seed{'s' * (cv['n_seeds'] > 1)}"
        for key, style, marker in (("proxy", "--", "s"), ("gold", "-", "o")):
            ax_r.plot(cv["step"], cv[key], style, color=c, marker=marker, label=f"{key}: {n}")
            ax_r.fill_between(cv["step"], cv[f"{key}_lo"], cv[f"{key}_hi"], color=c, alpha=0.15)
        ax_k.plot(cv["step"], cv["kl_seq"], color=c, marker="o", label=n)
        ax_k.fill_between(cv["step"], cv["kl_seq_lo"], cv["kl_seq_hi"], color=c, alpha=0.15)
    ax_r.set(xlabel="GRPO step", ylabel="held-out reward (0-1)", title="(a) proxy (embedding) vs gold (rules)")
    ax_r.set_ylim(0, 1)
    ax_r.legend(fontsize=7, loc="lower right")
    ax_k.set(xlabel="GRPO step", ylabel="KL(pi || pi_base) [nats per completion]", title="(b) sequence-level KL")
    ax_k.axhline(0, color="0.5", lw=0.8)
    ax_k.legend(fontsize=8)
    bands = "; ".join(sorted({cv["band"] for cv in data["conditions"]}))
    fig.suptitle(f"{data.get('title') or 'SmolLM2-135M-Instruct, CPU'} (bands: {bands})", fontsize=10)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    print({k: str(v) for k, v in save_from_file(plot, sys.argv[1]).items()})
