"""paper_repro.rubric_world_sensitivity: every variant changes one thing; the report comes from cached runs."""

import dataclasses

from paper_repro import rubric_world_sensitivity as rs
from sim.bt import BTConfig
from sim.rubric_experiments import ExperimentConfig
from sim.rubric_train import TrainConfig
from sim.rubric_world import WorldConfig

TINY = ExperimentConfig(
    seeds=2,
    eval_pairs=4,
    world=WorldConfig(n_prompts=8, n_diverse=4),
    train=TrainConfig(steps=20),
    bt=BTConfig(pairs_per_prompt=4),
)


def test_each_variant_changes_exactly_one_component():
    base = dataclasses.asdict(TINY)
    for name, (_what, f) in rs.VARIANTS.items():
        changed = [k for k, v in dataclasses.asdict(f(TINY)).items() if v != base[k]]
        assert len(changed) == (0 if name == "defaults" else 1), (name, changed)
        # a variant keeps the rest of the component it changes (a tiny base stays tiny)
        assert f(TINY).train.steps == 20 and f(TINY).world.n_prompts == 8


def test_report_from_runs_and_cache(tmp_path, capsys):
    out, doc = tmp_path / "runs", tmp_path / "sens.md"
    argv = ["--out", str(out), "--doc", str(doc), "--seeds", "2", "--only", "defaults,halo-0"]
    assert rs.main(argv, base=TINY) == 0
    rows = [ln for ln in doc.read_text().splitlines() if ln.startswith("| ") and "variant" not in ln]
    assert [r.split(" | ")[0] for r in rows] == ["| defaults", "| BT style halo 0 (default 0.5)"]
    capsys.readouterr()
    stamp = (out / "defaults.json").stat().st_mtime_ns
    assert rs.main(argv, base=TINY) == 0  # cached: not rerun
    assert (out / "defaults.json").stat().st_mtime_ns == stamp
    # a cache made with another config is neither reused nor reported
    assert rs.main(["--out", str(out), "--doc", str(doc), "--seeds", "3", "--only", ""], base=TINY) == 0
    assert "left out" in capsys.readouterr().out
    assert not [ln for ln in doc.read_text().splitlines() if ln.startswith("| ") and "variant" not in ln][1:]
