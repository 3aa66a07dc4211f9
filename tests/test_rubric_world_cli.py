"""``chase sim rubric-world``: a tiny end-to-end run writes every table and figure, and is not redone."""

import json

import pytest

from chase import rubric_world_cli

TINY = ["--seeds", "2", "--prompts", "8", "--steps", "20", "--eval-pairs", "4", "--bt-pairs", "4"]


def test_end_to_end_tiny_run(tmp_path, capsys):
    out = tmp_path / "rw"
    assert rubric_world_cli.main(["--out", str(out), *TINY]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in (
        "summary.json",
        "config.json",
        "per_seed.json",
        "curves.csv",
        "table1.csv",
        "table1.md",
        "table2.csv",
        "table2.md",
        "table6.md",
        "findings.md",
        "example_rubrics.json",
        "properties.csv",
        "rubric_world_fig4.png",
        "rubric_world_fig4.json",
        "rubric_world_table2.png",
    ):
        assert (out / name).exists(), name
    assert set(res["holds"]) == {
        "table2",
        "table1_figure4",
        "table6_peak",
        "table6_matched_kl",
        "table6_because_of_artifact",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == 2 and summary["steps"] == 20
    assert set(summary["table1"]) >= {
        "initial",
        "4-great-diverse-pairs",
        "bt-on",
        "bt-off",
        "bt-off-perfect-perception",
        "bt-off-style-weights-zeroed",
    }
    assert summary["findings"]["table6"]["off_style_zeroed_minus_off_peak_gold"]["n"] == 2
    props = (out / "properties.csv").read_text().splitlines()
    assert len(props) == 1 + 13 * len(summary["table1"]) and props[0].startswith("proxy,property,kind,p_start")
    lines = (out / "curves.csv").read_text().splitlines()
    assert len(lines) == 1 + 20 * len(summary["table1"])
    # same config again: skipped, not recomputed
    assert rubric_world_cli.main(["--out", str(out), *TINY]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["skipped"] is True


@pytest.mark.parametrize("bad", [["--seeds", "0"], ["--group", "1"], ["--steps", "0"]])
def test_bad_arguments_exit_with_a_message(tmp_path, bad):
    with pytest.raises(SystemExit) as e:
        rubric_world_cli.main(["--out", str(tmp_path / "x"), *bad])
    assert "must be" in str(e.value)
