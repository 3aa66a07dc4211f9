"""``chase theory``: JSON contract, CSV output, Figure 2 data, and clean errors (exit 2, no traceback)."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from chase.cli import main
from theory import continuous as C


def run(capsys, *argv):
    code = main(["theory", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1  # one JSON object per call
    return json.loads(lines[0])


def test_winrate_tilt(capsys):
    res = run_json(capsys, "winrate", "--map", "identity", "--kl", "1")
    assert set(res) >= {"map", "procedure", "kl", "beta", "win_rate", "expected_true"}
    assert res["procedure"] == "tilt" and res["map"] == "identity"
    assert res["win_rate"] == pytest.approx(0.8646, abs=1e-4) and res["kl"] == pytest.approx(1.0, abs=1e-10)
    assert res["beta"] == pytest.approx(float(C.beta_for_kl(1.0)))
    zero = run_json(capsys, "winrate", "--map", "reversed", "--kl", "0")
    assert zero["beta"] is None and zero["win_rate"] == pytest.approx(0.5)


def test_winrate_bon_picks_the_largest_n_within_budget(capsys):
    res = run_json(capsys, "winrate", "--map", "top-wrong:0.25", "--kl", "2", "--procedure", "bon")
    n = res["n"]
    assert float(C.bon_kl(n)) <= 2.0 < float(C.bon_kl(n + 1))
    assert res["win_rate"] == pytest.approx(float(C.bon_win_rate("top-wrong:0.25", n)))
    fixed = run_json(capsys, "winrate", "--map", "identity", "--kl", "2", "--procedure", "bon", "--n", "4")
    assert fixed["n"] == 4 and fixed["win_rate"] == pytest.approx(0.8)


def test_bon(capsys):
    res = run_json(capsys, "bon", "--map", "identity", "--n", "9")
    assert res["n"] == 9 and res["win_rate"] == pytest.approx(0.9)
    assert res["kl"] == pytest.approx(np.log(9) - 8 / 9)


def test_bandit(capsys):
    res = run_json(
        capsys, "bandit", "--p", "0.25,0.25,0.25,0.25", "--true", "1,2,3,4", "--proxy", "1,2,2,4", "--n", "3"
    )
    assert np.allclose(res["pmf"], [1 / 64, 13 / 64, 13 / 64, 37 / 64])
    assert set(res) >= {"expected_true", "win_rate", "kl", "pmf"}
    tilt = run_json(capsys, "bandit", "--p", "0.5,0.5", "--true", "0,1", "--proxy", "0,1", "--beta", "1")
    assert tilt["pmf"][1] == pytest.approx(np.e / (1 + np.e))


def test_curve_writes_csv(capsys, tmp_path):
    out = tmp_path / "sub" / "curve.csv"
    res = run_json(
        capsys,
        "curve",
        "--map",
        "identity",
        "--map",
        "top-wrong:0.25",
        "--kl-max",
        "3",
        "--points",
        "7",
        "--out",
        str(out),
    )
    assert res["rows"] == 14 and res["maps"] == ["identity", "top-wrong:0.25"]
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 14 and rows[0].keys() >= {"map", "kl", "win_rate", "beta"}
    mine = [r for r in rows if r["map"] == "top-wrong:0.25"]
    assert float(mine[-1]["kl"]) == pytest.approx(3.0, abs=1e-9)
    assert float(mine[-1]["win_rate"]) == pytest.approx(float(C.tilt_win_rate("top-wrong:0.25", C.beta_for_kl(3.0))))
    bon = run_json(
        capsys, "curve", "--map", "identity", "--kl-max", "3", "--points", "7", "--procedure", "bon", "--out", str(out)
    )
    rows = list(csv.DictReader(out.open()))
    assert bon["rows"] == len(rows) and "n" in rows[0] and int(rows[0]["n"]) == 1


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["winrate", "--map", "revrse:0:1", "--kl", "1"], "'revrse'"),
        (["winrate", "--map", "identity", "--kl", "-1"], ">= 0"),
        (["winrate", "--map", "tie:0.9:1", "--kl", "3"], "not reachable"),
        (["winrate", "--map", "tie:0.9:1", "--kl", "3", "--procedure", "bon"], "not reachable"),
        (["winrate", "--map", "identity", "--kl", "0.1", "--procedure", "bon", "--n", "50"], "budget"),
        (
            ["curve", "--map", "identity", "--map", "tie:0.9:1", "--kl-max", "8", "--points", "5", "--out", "x.csv"],
            "not reachable",
        ),
        (["bandit", "--p", "0.5,0.5", "--true", "0,1", "--proxy", "0", "--n", "2"], "one per arm"),
        (["bandit", "--p", "0.5,x", "--true", "0,1", "--proxy", "0,1", "--n", "2"], "'x'"),
        (["bandit", "--p", "0.5,0.6", "--true", "0,1", "--proxy", "0,1", "--n", "2"], "sum to 1"),
        (["bon", "--map", "identity", "--n", "0"], "--n"),
        (["bandit", "--p", "1", "--true", "0", "--proxy", "0"], "--n"),
    ],
)
def test_errors_exit_2_with_a_message(capsys, argv, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_fig2_writes_figure_and_anchor_data(capsys, tmp_path):
    res = run_json(capsys, "fig2", "--out", str(tmp_path))
    for ext in ("png", "pdf", "json"):
        assert (tmp_path / f"fig2.{ext}").stat().st_size > 1000
    data = json.loads((tmp_path / "fig2.json").read_text())
    assert len(data["a"]["curves"]) == 6 and len(data["b"]["curves"]) == 10
    assert data["a"]["kl"][-1] == 8.0 and data["b"]["kl"][-1] == 4.0
    a = data["anchors"]
    assert res["anchors"] == a
    assert a["correct_at_kl1"] == pytest.approx(0.865, abs=5e-4)
    assert a["correct_at_kl2"] == pytest.approx(0.950, abs=5e-4)
    assert a["top25_peak"] == pytest.approx(0.81, abs=5e-3) and 1.2 < a["top25_peak_kl"] < 1.6
    assert a["top25_at_kl8"] == pytest.approx(0.75, abs=2e-3)
    assert a["worst90_min"] < 0.5 and a["worst90_min_kl"] < 1.0
    assert a["worst90_at_kl8"] == pytest.approx(a["correct_at_kl8"], abs=1e-6)
    # panel b: c = 100% correct is the identity curve; smaller c never beats larger c
    b = np.array([c["win_rate"] for c in data["b"]["curves"]])
    assert np.all(np.diff(b, axis=0) >= -1e-12)


def test_console_entry_point_runs_in_a_fresh_interpreter():
    proc = subprocess.run(
        [sys.executable, "-m", "chase", "theory", "bon", "--map", "top-wrong:0.1", "--n", "4"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["n"] == 4
    bad = subprocess.run(
        [sys.executable, "-m", "chase", "theory", "bon", "--map", "nope", "--n", "4"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "'nope'" in bad.stderr and "Traceback" not in bad.stderr
