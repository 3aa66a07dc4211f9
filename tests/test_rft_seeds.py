"""rft.seeds (GRPO runs over seeds: Config -> collect -> Result -> report) and `chase rft plot / collect`."""

import json

import numpy as np
import pytest
from scipy import stats

from chase import rft_cli
from rewards.io import write_jsonl
from rft.seeds import SeedsConfig, collect, figure_data, report, summarize, summarize_run


def _rows(gold, proxy=None, kl=None, se=0.01, steps=None, hedge=None):
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


def _runs(tmp_path, name, *curves, **kw):
    """Write one run directory per gold curve; returns the NAME=DIR,DIR spec."""
    dirs = []
    for i, gold in enumerate(curves):
        d = tmp_path / f"{name}-{i}"
        write_jsonl(d / "eval_metrics.jsonl", _rows(gold, **kw))
        dirs.append(str(d))
    return f"{name}=" + ",".join(dirs)


UP_DOWN = [0.4, 0.5, 0.6, 0.7, 0.6, 0.5, 0.5, 0.5]


def test_specs_parse_and_bad_specs_are_clear_errors():
    cfg = SeedsConfig.from_specs(["a=x,y", "b=z", "a=w"])
    assert cfg.conditions == (("a", ("x", "y", "w")), ("b", ("z",)))
    for bad in ("a", "=x", "a="):
        with pytest.raises(ValueError, match="NAME=DIR"):
            SeedsConfig.from_specs([bad])
    with pytest.raises(ValueError, match="smooth"):
        SeedsConfig(smooth=0)


def test_intervals_over_seeds_by_name(tmp_path):
    shifts = (0.0, 0.02, 0.05)
    spec = _runs(tmp_path, "initial", *([g + s for g in UP_DOWN] for s in shifts))
    res = collect(SeedsConfig.from_specs([spec]))
    (c,) = res.conditions
    assert c.curves.gold.shape == (3, 8) and c.curves.steps.tolist() == list(range(0, 80, 10))
    s = summarize(res)["initial"]
    assert s["n_seeds"] == 3 and s["smooth"] == 3
    peak = (0.6 + 0.7 + 0.6) / 3 + np.array(shifts)
    np.testing.assert_allclose(s["gold"]["peak"]["per_seed"], peak)
    assert s["gold"]["peak_step"]["per_seed"] == [30.0, 30.0, 30.0]
    half = stats.t.ppf(0.975, 2) * peak.std(ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(
        [s["gold"]["peak"]["lo"], s["gold"]["peak"]["hi"]], [peak.mean() - half, peak.mean() + half]
    )
    np.testing.assert_allclose(s["gold"]["final"]["per_seed"], 0.5 + np.array(shifts))
    lost = (peak - (0.5 + np.array(shifts))) / (peak - (0.4 + np.array(shifts)))
    np.testing.assert_allclose(s["gold"]["lost_fraction_of_gain"]["mean"], lost.mean())
    assert set(s) == {"n_seeds", "smooth", "steps", "gold", "proxy", "kl_seq"}
    assert set(s["kl_seq"]) == {"peak_step", "peak", "final", "drop_after_peak", "start", "lost_fraction_of_gain"}
    # the figure's band over seeds is the same t-interval, step by step
    fd = figure_data(res)["conditions"][0]
    x = c.curves.gold
    np.testing.assert_allclose(fd["gold_hi"], x.mean(0) + stats.t.ppf(0.975, 2) * x.std(0, ddof=1) / np.sqrt(3))
    assert fd["band"] == "95% t over seeds" and fd["pass"]["prop:hedged_diagnosis"] == [1.0] * 8


def test_one_seed_has_nan_intervals_and_sample_se_bands(tmp_path):
    res = collect(SeedsConfig.from_specs([_runs(tmp_path, "gold", [0.4, 0.5, 0.6], se=0.02)], watch=("prop:x",)))
    s = summarize(res)["gold"]
    assert s["n_seeds"] == 1 and s["gold"]["peak"]["n"] == 1
    assert np.isnan(s["gold"]["peak"]["lo"]) and np.isnan(s["gold"]["peak"]["hi"])
    fd = figure_data(res)["conditions"][0]
    assert fd["band"] == "se over samples" and fd["pass"] == {}  # criteria no run reports are left out
    np.testing.assert_allclose(fd["gold_lo"], [0.38, 0.48, 0.58])


def test_mismatched_steps_are_a_clear_error_unless_common_steps(tmp_path):
    full = _runs(tmp_path, "a", [0.4, 0.5, 0.6, 0.7])
    d = tmp_path / "short"
    write_jsonl(d / "eval_metrics.jsonl", _rows([0.5, 0.7, 0.8]))  # stopped early
    spec = f"{full},{d}"
    with pytest.raises(ValueError, match=r"condition 'a': seeds evaluated at different steps .*4 steps 0\.\.30"):
        collect(SeedsConfig.from_specs([spec]))
    res = collect(SeedsConfig.from_specs([spec], common_steps=True))
    assert res.conditions[0].curves.steps.tolist() == [0, 10, 20]
    with pytest.raises(FileNotFoundError, match="eval_metrics"):
        collect(SeedsConfig.from_specs([f"a={tmp_path / 'nothing'}"]))


def test_summarize_run_is_unsmoothed_with_step_numbers():
    s = summarize_run(_rows(UP_DOWN))
    assert s["gold"]["peak_step"] == 30 and s["gold"]["peak"] == 0.7 and s["gold"]["final"] == 0.5
    assert s["gold"]["drop_after_peak"] == pytest.approx(0.2) and s["first"]["step"] == 0 and s["last"]["step"] == 70
    assert summarize_run([]) == {}


def test_report_writes_metrics_and_figure_data(tmp_path):
    spec = _runs(tmp_path, "initial", UP_DOWN, [g + 0.01 for g in UP_DOWN])
    res = collect(SeedsConfig.from_specs([spec, _runs(tmp_path, "gold", UP_DOWN)]))
    paths = report(res, tmp_path / "out", "x", title="t")
    m = json.loads(paths["json"].read_text())
    assert set(m["runs"]) == {"initial/seed-run-0", "initial/seed-run-1", "gold"}
    assert m["over_seeds"]["initial"]["gold"]["peak"]["n"] == 2 and m["config"]["smooth"] == 3
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("run,condition,step") and len(lines) == 1 + 3 * 8
    fd = json.loads(paths["figure_data"].read_text())
    assert fd["title"] == "t" and [c["name"] for c in fd["conditions"]] == ["initial", "gold"]


def test_plot_and_collect_take_several_seeds_per_condition(tmp_path, capsys):
    seeds = _runs(tmp_path, "initial", *([0.4 + s, 0.6 + s, 0.5 + s] for s in (0.0, 0.03, -0.02)))
    runs = ["--run", seeds, "--run", _runs(tmp_path, "gold", [0.4, 0.6, 0.7])]
    assert rft_cli.main(["plot", *runs, "--out", str(tmp_path / "fig"), "--stem", "c"]) == 0
    assert (tmp_path / "fig" / "c.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "fig" / "c.json").read_text())
    assert [c["n_seeds"] for c in data["conditions"]] == [3, 1]
    capsys.readouterr()
    assert rft_cli.main(["collect", *runs, "--out", str(tmp_path / "m"), "--smooth", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gold_peak"]["gold"] == 0.7  # --smooth 1: the raw peak
    m = json.loads((tmp_path / "m" / "rft_metrics.json").read_text())
    assert m["over_seeds"]["initial"]["n_seeds"] == 3 and len(m["runs"]) == 4
    assert (tmp_path / "m" / "rft_curves.png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        rft_cli.main(["plot", "--run", "initial", "--out", str(tmp_path / "x")])
    assert "NAME=DIR" in capsys.readouterr().err
