"""``chase sim rubric-world``: a tiny end-to-end run writes every table and figure, and is not redone."""

import json

import pytest

from chase import rubric_world_cli

TINY = [
    "--seeds",
    "2",
    "--world-n-prompts",
    "8",
    "--train-steps",
    "20",
    "--eval-pairs",
    "4",
    "--bt-pairs-per-prompt",
    "4",
]


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_end_to_end_tiny_run(tmp_path, capsys):
    out = tmp_path / "rw"
    assert rubric_world_cli.main(["--out", str(out), *TINY]) == 0
    res = _last_json(capsys)
    for name in (
        "summary.json",
        "config.json",
        "run.json",
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
    assert "lost_fraction_of_gain" in summary["table1"]["initial"]
    assert summary["findings"]["table6"]["off_style_zeroed_minus_off_peak_gold"]["n"] == 2
    props = (out / "properties.csv").read_text().splitlines()
    assert len(props) == 1 + 13 * len(summary["table1"]) and props[0].startswith("proxy,property,kind,p_start")
    lines = (out / "curves.csv").read_text().splitlines()
    assert len(lines) == 1 + 20 * len(summary["table1"])

    # same config again: skipped, not recomputed, and the summary's headline is emitted again
    stamp = (out / "summary.json").stat().st_mtime_ns
    assert rubric_world_cli.main(["--out", str(out), *TINY]) == 0
    again = _last_json(capsys)
    assert again["skipped"] is True and again["holds"] == res["holds"] and again["peak_gold"] == res["peak_gold"]
    assert (out / "summary.json").stat().st_mtime_ns == stamp

    # another config in the same folder: a clear error naming what differs
    with pytest.raises(SystemExit) as e:
        rubric_world_cli.main(["--out", str(out), *TINY, "--train-lr", "0.25"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "train.lr" in err and "--overwrite" in err


def test_explicit_flag_beats_quick(tmp_path, monkeypatch):
    seen = {}

    def fake_open_run(path, config, overwrite=False, kind="run"):
        seen.update(config)
        raise SystemExit(0)  # stop before running anything

    monkeypatch.setattr("rewards.runs.open_run", fake_open_run)
    with pytest.raises(SystemExit):
        rubric_world_cli.main(["--out", str(tmp_path / "q"), "--quick", "--train-steps", "7", "--seeds", "3"])
    assert seen["train"]["steps"] == 7 and seen["seeds"] == 3  # given explicitly: they win
    assert seen["world"]["n_prompts"] == 16 and seen["eval_pairs"] == 8  # the rest of --quick applies


@pytest.mark.parametrize(
    "bad, field",
    [(["--seeds", "0"], "seeds"), (["--train-group-size", "1"], "group_size"), (["--train-steps", "0"], "steps")],
)
def test_bad_arguments_exit_with_a_message(tmp_path, bad, field, capsys):
    with pytest.raises(SystemExit) as e:
        rubric_world_cli.main(["--out", str(tmp_path / "x"), *bad])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "chase sim rubric-world" in err and field in err
    assert not (tmp_path / "x").exists()  # nothing written for a config that cannot run
