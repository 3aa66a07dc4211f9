"""The pre-registered validation's pipeline (paper_repro.prediction) on a tiny bandit: predict, measure, compare,
report; and the RFT comparison helpers on hand-made curves."""

import json

import numpy as np
import pytest

from paper_repro.prediction.bandit import BanditPrediction, compare, measure_bandit, predict_bandit
from paper_repro.prediction.report import write_report
from paper_repro.prediction.rft import _first_crossing, _interp, _run_peak
from rewards.io import write_json
from sim.bandit import WorldConfig
from sim.train import TrainConfig


def test_tiny_bandit_validation_runs_end_to_end(tmp_path, monkeypatch):
    cfg = BanditPrediction(
        maps=("top-wrong:0.3", "identity"),
        ns=(16, 256),
        seeds=2,
        n_boot=20,
        world=WorldConfig(contexts=8, arms=64),
        train=TrainConfig(algo="grpo", geometry="natural", steps=150),
    )
    pred, meas = predict_bandit(cfg), measure_bandit(cfg)
    rows = {(r["map"], r["n"]): r for r in compare(pred, meas)}
    assert rows[("identity", 256)]["pred_peaks"] == 0
    assert rows[("top-wrong:0.3", 16)]["pred_peaks"] == 0  # 16 samples cannot reach the peak (~1.2 nats)
    assert rows[("top-wrong:0.3", 256)]["pred_peaks"] == 2
    assert abs(rows[("top-wrong:0.3", 256)]["rel_err_kl"]) < 0.5
    docs = tmp_path / "docs" / "prediction"
    write_json(docs / "bandit_predictions.json", pred)
    write_json(docs / "bandit_outcomes.json", meas)
    monkeypatch.chdir(tmp_path)  # no git history here: commits read "unknown" or "uncommitted"
    write_report(docs, tmp_path / "docs" / "prediction.md")
    text = (tmp_path / "docs" / "prediction.md").read_text()
    assert "## (a) Quantile bandit" in text and "| top-wrong:0.3 | 256 | 2/2 |" in text
    assert "No predictions committed." in text  # rft and rubric worlds absent
    json.dumps(pred)  # JSON-able


def test_rft_helpers():
    assert _first_crossing([0.1, 0.3, 0.5], [0.0, 2.0, 6.0], 0.4) == pytest.approx(4.0)
    assert np.isnan(_first_crossing([0.1, 0.2], [0.0, 1.0], 0.9))
    y = _interp(np.array([0.5, 2.0, 9.0]), [0.0, 1.0, 3.0], [0.0, 1.0, 3.0])
    assert y[0] == pytest.approx(0.5) and y[1] == pytest.approx(2.0) and np.isnan(y[2])
    rows = [
        {"step": 10 * i, "gold": g, "proxy": 0.1 * i, "kl_seq": float(i)}
        for i, g in enumerate([0.1, 0.5, 0.9, 0.5, 0.1])
    ]
    peak = _run_peak(rows, smooth=1)
    assert peak["peak_step"] == 20 and peak["peak_kl"] == 2.0 and peak["drop"] == pytest.approx(0.8)
