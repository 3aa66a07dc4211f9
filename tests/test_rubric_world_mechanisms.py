"""The rubric-world mechanisms experiment (exact tilt beside GRPO) and its report, on a tiny world."""

import json

import jax
import numpy as np
import pytest

from paper_repro.rubric_world_mechanisms import main
from sim.rubric_experiments.mechanism_summary import MIN_DROP, _refinement_verdict, _shape
from sim.rubric_experiments.mechanisms import CONDITIONS, VARIANTS, MechanismConfig, run, tail_flaw_rubrics
from sim.rubric_train import TrainConfig
from sim.rubric_world import PROPERTY_INDEX, WorldConfig, criterion_props, make_world

TINY = MechanismConfig(
    seeds=2,
    world=WorldConfig(n_prompts=4, n_diverse=2),
    train=TrainConfig(steps=12, group_size=4),
    optimizers=("sgd", "natural"),
    lrs=(0.5, 0.05),
    n_beta=6,
    tail_sweep=(1.0,),
)


@pytest.fixture(scope="module")
def result():
    return run(TINY, jax.random.key(0))


def test_config_rejects_a_flaw_gold_does_not_penalize_and_unpaired_lrs():
    with pytest.raises(ValueError, match="tail_property"):
        MechanismConfig(tail_property="decisive_test")
    with pytest.raises(ValueError, match="pair up"):
        MechanismConfig(optimizers=("sgd",), lrs=(0.5, 0.1))


def test_tail_flaw_adds_one_criterion_paying_for_the_property():
    world = make_world(jax.random.key(1), WorldConfig(n_prompts=3, n_diverse=2))
    flawed = tail_flaw_rubrics(world.initial_rubrics, TINY, weight=2.0)
    for before, after in zip(world.initial_rubrics, flawed, strict=True):
        assert after.criteria[:-1] == before.criteria
        assert criterion_props(after.criteria[-1]) == ((PROPERTY_INDEX["hedged_diagnosis"],), False)
        assert after.criteria[-1].weight == 2.0


def test_run_shapes_and_what_the_two_curves_share(result):
    S, V, K, O, T, B = 2, len(VARIANTS), len(CONDITIONS), 2, TINY.train.steps, TINY.n_beta + 1
    assert result.tilt_gold.shape == (S, V, K, B) and result.grpo_gold.shape == (S, V, K, O, T)
    assert result.tilt_probs.shape == (S, V, K, B, 13) and result.sweep_gold.shape == (S, 1, B)
    # both start at the base policy: KL 0 and the same exact gold
    assert np.all(result.tilt_kl[..., 0] == 0) and np.allclose(result.grpo_kl[..., 0], 0, atol=1e-6)
    np.testing.assert_allclose(
        result.grpo_gold[..., 0], np.broadcast_to(result.tilt_gold[..., None, 0], (S, V, K, O)), atol=1e-5
    )
    # the gold rubric is the same proxy in both variants, and its tilt ends near gold 1 (verifier noise aside)
    g = CONDITIONS.index("gold-rubric")
    np.testing.assert_allclose(result.tilt_gold[:, 0, g], result.tilt_gold[:, 1, g])
    assert np.all(result.tilt_gold[:, 0, g, -1] > 0.95)
    # the tail flaw pays for hedging: at the smallest beta the flawed initial rubric's tilt hedges more
    h = PROPERTY_INDEX["hedged_diagnosis"]
    assert np.all(result.tilt_probs[:, 1, 0, -1, h] > result.tilt_probs[:, 0, 0, -1, h])
    # the sweep at the variant's own weight is the variant's initial-rubric tilt
    np.testing.assert_allclose(result.sweep_gold[:, 0], result.tilt_gold[:, 1, 0])


def test_shapes_and_refinement_verdicts():
    up = np.array([0.05, 0.06, 0.055, 0.052])
    assert _shape(up) == "peaks" and _shape(np.zeros(4)) == "flat" and _shape(np.array([0, 0.1, 0, 0.1])) == "unclear"
    init = {"drop": up, "peak_step": np.array([50.0, 60, 55, 52])}
    flat = {"drop": np.zeros(4), "peak_step": np.full(4, 299.0)}
    later = {"drop": up, "peak_step": np.array([150.0, 160, 170, 140])}
    same = {"drop": up, "peak_step": np.array([50.0, 61, 54, 52])}
    assert _refinement_verdict(init, flat, "peak_step")["verdict"] == "removes"
    assert _refinement_verdict(init, later, "peak_step")["verdict"] == "delays"
    assert _refinement_verdict(init, same, "peak_step")["verdict"] == "keeps"
    assert _refinement_verdict(flat, later, "peak_step")["verdict"] == "no collapse to remove"
    assert MIN_DROP > 0


def test_report_is_written_cached_and_refuses_another_config(tmp_path, capsys):
    args = ["--out", str(tmp_path / "run"), "--doc", str(tmp_path / "doc.md"), "--figures", str(tmp_path / "fig")]
    assert main(args, base=TINY) == 0
    doc = (tmp_path / "doc.md").read_text()
    for part in (
        "## Findings",
        "## Assumed",
        "## 1. The optima",
        "## 2. GRPO",
        "## 3. Does refinement",
        "## 4. The tail",
    ):
        assert part in doc
    assert (tmp_path / "fig" / "doc.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "fig" / "doc.json").read_text())
    assert np.shape(data["grpo_gold"]) == (2, len(CONDITIONS), 2, TINY.train.steps)  # short runs: every step
    cached = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert main(args, base=TINY) == 0  # from the cache: the same summary file
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == cached
    with pytest.raises(SystemExit) as e:
        main([*args, "--seeds", "3"], base=TINY)
    assert e.value.code == 2
    assert "another config" in capsys.readouterr().err
