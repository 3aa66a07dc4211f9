"""rft.seeds (curves over seeds) and `chase rft plot / collect` with several runs per condition."""

import json

import numpy as np
import pytest
from scipy import stats

from chase import rft_cli
from rewards.io import write_jsonl
from rft.seeds import aggregate_curves, summarize_seeds


def _run(gold, proxy=None, kl=None, se=0.01, steps=None, hedge=None):
    steps = list(range(0, 10 * len(gold), 10)) if steps is None else steps
    proxy = gold if proxy is None else proxy
    kl = [0.5 * i for i in range(len(gold))] if kl is None else kl
    return [
        {
            "step": s,
            "gold": g,
            "gold_se": se,
            "proxy": p,
            "proxy_se": se,
            "kl_seq": k,
            "kl_seq_se": 0.0,
            "gold_pass": {"prop:hedged_diagnosis": 1.0 if hedge is None else hedge[i]},
        }
        for i, (s, g, p, k) in enumerate(zip(steps, gold, proxy, kl, strict=True))
    ]


def test_one_run_bands_are_its_sample_standard_errors():
    cv = aggregate_curves([_run([0.4, 0.5, 0.6], se=0.02)], ("prop:hedged_diagnosis", "prop:absent"))
    assert cv["n_seeds"] == 1 and cv["band"] == "se over samples" and cv["step"] == [0, 10, 20]
    np.testing.assert_allclose(cv["gold_lo"], [0.38, 0.48, 0.58])
    assert set(cv["pass"]) == {"prop:hedged_diagnosis"}  # criteria no run reports are left out


def test_several_runs_mean_and_t_interval_over_common_steps():
    a = _run([0.4, 0.5, 0.6, 0.7])
    b = _run([0.5, 0.7, 0.8], steps=[0, 10, 20])  # stopped early: only the shared steps are used
    c = _run([0.6, 0.6, 0.7, 0.9])
    cv = aggregate_curves([a, b, c])
    assert cv["step"] == [0, 10, 20] and cv["band"] == "95% t over seeds"
    x = np.array([[0.4, 0.5, 0.6], [0.5, 0.7, 0.8], [0.6, 0.6, 0.7]])
    half = stats.t.ppf(0.975, 2) * x.std(0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(cv["gold"], x.mean(0))
    np.testing.assert_allclose(cv["gold_hi"], x.mean(0) + half)
    with pytest.raises(ValueError, match="share no"):
        aggregate_curves([_run([0.1], steps=[0]), _run([0.2], steps=[5])])


def test_summarize_seeds_finds_a_smoothed_peak_and_the_lost_gain():
    up_down = [0.4, 0.5, 0.6, 0.7, 0.6, 0.5, 0.5, 0.5]
    s = summarize_seeds([_run(up_down), _run([g + 0.02 for g in up_down])])
    assert s["n_seeds"] == 2
    assert s["peak_step"]["per_seed"] == [30.0, 30.0]
    np.testing.assert_allclose(s["peak_gold"]["per_seed"], [(0.6 + 0.7 + 0.6) / 3, (0.6 + 0.7 + 0.6) / 3 + 0.02])
    np.testing.assert_allclose(s["final_gold"]["per_seed"], [0.5, 0.52])
    lost = (s["peak_gold"]["per_seed"][0] - 0.5) / (s["peak_gold"]["per_seed"][0] - 0.4)
    np.testing.assert_allclose(s["lost_fraction_of_gain"]["mean"], lost)
    assert s["peak_gold"]["lo"] < s["peak_gold"]["mean"] < s["peak_gold"]["hi"]
    one = summarize_seeds([_run(up_down)])
    assert np.isnan(one["peak_gold"]["lo"])


def test_plot_and_collect_take_several_seeds_per_condition(tmp_path, capsys):
    dirs = []
    for i, shift in enumerate((0.0, 0.03, -0.02)):
        d = tmp_path / f"seed{i}"
        write_jsonl(d / "eval_metrics.jsonl", _run([0.4 + shift, 0.6 + shift, 0.5 + shift]))
        dirs.append(str(d))
    single = tmp_path / "gold"
    write_jsonl(single / "eval_metrics.jsonl", _run([0.4, 0.6, 0.7]))
    runs = ["--run", "initial=" + ",".join(dirs), "--run", f"gold={single}"]
    assert rft_cli.main(["plot", *runs, "--out", str(tmp_path / "fig"), "--stem", "c"]) == 0
    assert (tmp_path / "fig" / "c.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "fig" / "c.json").read_text())
    data = data.get("data", data)
    assert data["initial"]["n_seeds"] == 3 and data["gold"]["n_seeds"] == 1
    capsys.readouterr()
    assert rft_cli.main(["collect", *runs, "--json", str(tmp_path / "m.json"), "--csv", str(tmp_path / "m.csv")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["over_seeds"]["initial"]["n_seeds"] == 3 and len(m["runs"]) == 4
    assert (tmp_path / "m.csv").read_text().splitlines()[0].startswith("run,condition,step")
    with pytest.raises(SystemExit, match="NAME=DIR"):
        rft_cli.main(["plot", "--run", "initial", "--out", str(tmp_path / "x")])
