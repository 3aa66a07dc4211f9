"""theory.fit: Gao et al.'s forms recover known parameters and flag spurious peaks."""

import numpy as np
import pytest

from theory import continuous as C
from theory.fit import fit_gao, is_monotone


def test_bon_form_recovers_parameters_and_peak():
    d = np.linspace(0, 3, 25)
    res = fit_gao(d**2, 0.5 + d * (0.8 - 0.2 * d), "bon")
    assert res["alpha"] == pytest.approx(0.8) and res["beta"] == pytest.approx(0.2)
    assert res["peak_d"] == pytest.approx(2.0) and res["peak_kl"] == pytest.approx(4.0)
    assert res["peak_reward"] == pytest.approx(0.5 + 0.8)
    assert res["peak_in_range"] and res["flags"] == [] and res["data_monotone"] is None


def test_rl_form_recovers_parameters_and_peak():
    d = np.linspace(0.05, 4, 40)
    alpha, beta = 0.6, 0.4
    res = fit_gao(d**2, d * (alpha - beta * np.log(d)), "rl", offset=0.0)
    assert res["alpha"] == pytest.approx(alpha) and res["beta"] == pytest.approx(beta)
    peak = np.exp(alpha / beta - 1)
    assert res["peak_d"] == pytest.approx(peak) and res["peak_reward"] == pytest.approx(beta * peak)
    assert res["intercept_fitted"] is False


def test_monotone_data_and_out_of_range_peaks_are_flagged():
    # the perfect proxy's tilt curve never declines, yet the RL form still fits a peak: it must be flagged
    res = C.curve(None, 6.0, 61)
    fit = fit_gao(res["kl"], res["win_rate"], "rl")
    assert fit["data_monotone"] == "increasing"
    assert "monotone_data" in fit["flags"] or "no_peak" in fit["flags"]
    d = np.linspace(0, 1, 20)
    far = fit_gao(d**2, d * (1 - 0.1 * d), "bon", offset=0.0)  # true peak at d = 5, data stop at d = 1
    assert "peak_outside_data" in far["flags"] and not far["peak_in_range"]
    flat = fit_gao(d**2, d * (1 + 0.1 * d), "bon", offset=0.0)
    assert flat["peak_d"] is None and "no_peak" in flat["flags"]


def test_a_real_peak_is_not_flagged():
    res = C.curve("top-wrong:0.25", 8.0, 81)
    fit = fit_gao(res["kl"], res["win_rate"], "rl")
    assert fit["peak_in_range"] and fit["data_monotone"] is None and fit["flags"] == []


def test_fit_inputs():
    assert is_monotone([2, 1, 3], [0.2, 0.1, 0.3]) == "increasing"
    with pytest.raises(ValueError, match="procedure"):
        fit_gao([0, 1], [0, 1], "ppo")
    with pytest.raises(ValueError, match="same length"):
        fit_gao([0, 1], [0, 1, 2], "bon")
    res = fit_gao([0.0, 1.0, np.nan, 4.0, 9.0], [0.5, 0.7, 0.8, 0.8, 0.75], "bon")  # NaN rows dropped
    assert np.isfinite(res["alpha"]) and res["offset"] == 0.5
