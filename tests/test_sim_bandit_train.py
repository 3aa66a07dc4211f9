"""sim.train and `chase sim`: training dynamics, determinism, the CLI files, device sharding (subprocess)."""

import csv
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from chase import sim_cli
from rewards import QuantileMap
from sim import bandit as SB
from sim import train as ST
from theory import bandit as TB

WORLD = SB.WorldConfig(contexts=4, arms=24)


def _tasks(specs, seeds=2, world=WORLD, seed=0):
    return ST.build_tasks(jax.random.key(seed), seeds, world, [QuantileMap.parse(s) for s in specs])


def _train(tasks, cfg) -> ST.TrainingCurves:
    return ST.TrainingCurves(*(np.asarray(x) for x in ST.train_batch(tasks, cfg)))


# one small GRPO config shared by several tests and the CLI test (JAX compiles it once per process)
SMALL_CFG = ST.TrainConfig(steps=20, lr=0.05, group=4)


def test_shapes_and_step_zero_is_the_base_policy():
    m = _train(_tasks(["identity", "top-wrong:0.2"]), SMALL_CFG)
    assert m._fields == ST.METRICS and all(x.shape == (2, 2, 21) for x in m)
    assert np.allclose(m.true_win_rate[:, :, 0], 0.5, atol=1e-6)
    assert np.allclose(m.kl[:, :, 0], 0.0, atol=1e-6)
    assert all(np.all(np.isfinite(x)) for x in m)


def test_exact_natural_beta0_is_the_tilt_path():
    # theta_t = log p + lr * t * r (+ const): after t steps the policy is the tilt with 1/beta = lr * t
    tasks = _tasks(["top-wrong:0.3"])
    cfg = ST.TrainConfig(algo="exact", geometry="natural", steps=50, lr=0.4)
    m = _train(tasks, cfg).true_win_rate[0, 0]
    p, r, u = np.exp(np.asarray(tasks.logp0[0])), np.asarray(tasks.proxy[0, 0]), np.asarray(tasks.u[0])
    t = 50
    want = np.mean(
        [
            TB.evaluate(p[c], np.asarray(tasks.true[0, c]), TB.tilt_pmf(p[c], r[c], 1 / (0.4 * t)))["win_rate"]
            for c in range(WORLD.contexts)
        ]
    )
    assert m[t] == pytest.approx(want, abs=1e-5)
    del u


BETA = 0.2
BETA_CFG = {
    ("exact", "vanilla"): ST.TrainConfig(algo="exact", geometry="vanilla", steps=600, lr=30.0, beta=BETA),
    ("exact", "natural"): ST.TrainConfig(algo="exact", geometry="natural", steps=600, lr=0.5, beta=BETA),
    ("grpo", "natural"): ST.TrainConfig(algo="grpo", steps=1500, lr=0.02, beta=BETA, normalize_std=False, group=32),
}


@pytest.fixture(scope="module")
def beta_tasks():
    return _tasks(["reverse:0.7:1"])


@pytest.mark.parametrize("algo,geometry", list(BETA_CFG))
def test_beta_positive_converges_to_the_tilt_optimum(beta_tasks, algo, geometry):
    tasks = beta_tasks
    m = _train(tasks, BETA_CFG[algo, geometry])
    p = np.exp(np.asarray(tasks.logp0))
    want_w, want_kl = [], []
    for s in range(2):
        for c in range(WORLD.contexts):
            pmf = TB.tilt_pmf(p[s, c], np.asarray(tasks.proxy[s, 0, c]), BETA)
            ev = TB.evaluate(p[s, c], np.asarray(tasks.true[s, c]), pmf)
            want_w.append(ev["win_rate"])
            want_kl.append(ev["kl"])
    if algo == "exact":
        assert m.true_win_rate[:, 0, -1].mean() == pytest.approx(np.mean(want_w), rel=1e-3)
        assert m.kl[:, 0, -1].mean() == pytest.approx(np.mean(want_kl), rel=1e-3)
    else:  # grpo fluctuates around the fixed point: average the last 500 steps
        assert m.true_win_rate[:, 0, -500:].mean() == pytest.approx(np.mean(want_w), rel=0.02)
        assert m.kl[:, 0, -500:].mean() == pytest.approx(np.mean(want_kl), rel=0.15)


def test_lr_decay_schedule_keeps_the_fixed_point(beta_tasks):
    import dataclasses

    const = BETA_CFG["exact", "natural"]
    decay = dataclasses.replace(const, lr_decay_steps=100.0)
    assert float(ST._lr_at(0, decay)) == const.lr and float(ST._lr_at(300, decay)) == pytest.approx(const.lr / 4)
    assert ST._lr_at(300, const) == const.lr
    a, b = _train(beta_tasks, const), _train(beta_tasks, decay)
    assert b.true_win_rate[:, 0, -1].mean() == pytest.approx(a.true_win_rate[:, 0, -1].mean(), rel=1e-4)
    assert b.kl[:, 0, -1].mean() == pytest.approx(a.kl[:, 0, -1].mean(), rel=1e-3)
    with pytest.raises(ValueError):
        ST.TrainConfig(lr_decay_steps=-1.0)


def test_permuting_arms_permutes_exact_training(beta_tasks):
    perm = np.random.default_rng(1).permutation(WORLD.arms)
    tasks = beta_tasks
    permuted = tasks._replace(**{f: getattr(tasks, f)[..., perm] for f in ("logp0", "u", "true", "proxy", "v")})
    cfg = BETA_CFG["exact", "vanilla"]
    assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(_train(tasks, cfg), _train(permuted, cfg), strict=True))


def test_zero_width_band_trains_exactly_like_the_identity():
    a = _train(_tasks(["identity", "top-wrong:0.2"]), SMALL_CFG)
    b = _train(_tasks(["reverse:0.4:0.4", "top-wrong:0.2"]), SMALL_CFG)
    # different spec strings (so different proxy keys), but no noise band: the same proxy, the same run
    assert all(np.array_equal(x[:, 0], y[:, 0]) for x, y in zip(a, b, strict=True))


def test_ppo_clipping_runs_and_k3_is_not_the_tilt(beta_tasks):
    base = BETA_CFG["grpo", "natural"]
    exact = _train(beta_tasks, base).kl[:, 0, -500:].mean()
    k3 = _train(beta_tasks, dataclasses.replace(base, kl_grad="k3")).kl[:, 0, -500:].mean()
    # k3's expected gradient is that of KL(pi0 || pi): a different fixed point from the tilt's
    assert abs(k3 - exact) > 0.05 * exact, (k3, exact)
    clipped = _train(beta_tasks, dataclasses.replace(SMALL_CFG, ppo_epochs=3))
    assert all(np.all(np.isfinite(x)) for x in clipped) and clipped.true_win_rate[:, 0, -1].mean() > 0.5


def test_bad_train_config_names_the_field():
    with pytest.raises(ValueError, match="algo"):
        ST.TrainConfig(algo="ppo")
    with pytest.raises(ValueError, match="geometry"):
        ST.TrainConfig(geometry="mirror")
    with pytest.raises(ValueError, match="k3"):
        ST.TrainConfig(algo="exact", kl_grad="k3")


# ----------------------------------------------------------------------------------------------- CLI
# the CLI builds the same TrainConfig and shapes as SMALL_CFG / _tasks: no new compilation
SMALL = ["--steps", "20", "--seeds", "2", "--arms", "24", "--contexts", "4", "--group", "4", "--lr", "0.05"]


def test_cli_train_is_deterministic_and_writes_the_promised_files(tmp_path, capsys):
    args = ["train", "--map", "top-wrong:0.2", "--error", "t:2:0.5", *SMALL]
    assert sim_cli.main([*args, "--out", str(tmp_path / "a"), "--no-figure"]) == 0
    assert sim_cli.main([*args, "--out", str(tmp_path / "b"), "--no-figure"]) == 0
    a, b = (tmp_path / "a" / "metrics.csv").read_bytes(), (tmp_path / "b" / "metrics.csv").read_bytes()
    assert a == b
    rows = list(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    assert list(rows[0]) == ["step", "seed", "map", *ST.METRICS]
    assert len(rows) == 21 * 2 * 2
    assert {r["map"] for r in rows} == {"top-wrong:0.2", "t:2:0.5"}
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    for name in ("top-wrong:0.2", "t:2:0.5"):
        s = summary["maps"][name]
        for key in ("peak_step", "peak", "final", "drop_after_peak", "lost_fraction_of_gain"):
            t = s["true_win_rate"][key]
            assert t["lo"] <= t["mean"] <= t["hi"] and t["n"] == 2
    assert "theory_tilt" in summary["maps"]["top-wrong:0.2"] and "theory_tilt" not in summary["maps"]["t:2:0.5"]
    # a finished identical run is skipped (resumable); a different seed is not
    capsys.readouterr()
    assert sim_cli.main([*args, "--out", str(tmp_path / "a"), "--no-figure"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True
    # another config in the same folder is a usage error naming what differs, unless --overwrite
    other = [a if a != "0.05" else "0.06" for a in args]
    with pytest.raises(SystemExit):
        sim_cli.main([*other, "--out", str(tmp_path / "a"), "--no-figure"])
    assert "differs in: train.lr" in capsys.readouterr().err
    assert sim_cli.main([*other, "--out", str(tmp_path / "a"), "--no-figure", "--overwrite"]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["train"]["lr"] == 0.06


def test_cli_train_defaults_are_the_library_defaults():
    from sim.bandit_training import BanditTrainingConfig

    p = sim_cli._train_parser()
    cfg = sim_cli._train_config(p, p.parse_args(["--map", "identity", "--out", "x"]))
    assert cfg == BanditTrainingConfig(maps=("identity",), errors=())
    assert (cfg.train.lr, cfg.train.group, cfg.world.arms, cfg.world.contexts) == (0.02, 32, 128, 64)
    help_text = p.format_help()
    assert "(default: 0.02)" in help_text and "(default: 128)" in help_text


def test_cli_bon_prints_json(capsys):
    # the shapes and n of a test_sim_bandit case, so the compiled sampler is reused when both files run
    assert (
        sim_cli.main(
            ["bon", "--map", "reversed", "--n", "8", "--samples", "3200", "--arms", "4000", "--contexts", "16"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"win_rate", "se", "kl_estimate"} <= set(out)
    assert abs(out["win_rate"] - 1 / 9) < 4 * out["se"]
    assert sim_cli.main(["tilt", "--map", "identity", "--beta", "0.5", "--arms", "4000", "--contexts", "16"]) == 0
    assert json.loads(capsys.readouterr().out)["win_rate"] > 0.5


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--map", "top-wrng:0.1", "--out", "/tmp/never"], "unknown token"),
        (["bon", "--n", "4"], "exactly one"),
        (["train", "--map", "identity", "--map", "identity", "--out", "/tmp/never"], "twice"),
        (["train", "--map", "identity", "--lr", "inf", "--out", "/tmp/never"], "must be finite"),
        (["train", "--map", "identity", "--group", "1", "--out", "/tmp/never"], "group"),
    ],
)
def test_cli_bad_input_is_a_clear_error(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        sim_cli.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_cli_unknown_subcommand():
    assert sim_cli.main(["nope"]) == 2


# ----------------------------------------------------------------------------------------------- sharding
def test_seeds_shard_over_four_host_devices_and_match_one_device():
    code = textwrap.dedent("""
        import jax, numpy as np
        assert len(jax.devices()) == 4, jax.devices()
        from rewards import QuantileMap
        from sim.bandit import WorldConfig
        from sim.train import TrainConfig, build_tasks, train_batch, train_sharded
        world = WorldConfig(contexts=3, arms=16)
        tasks = build_tasks(jax.random.key(0), 8, world, [QuantileMap.parse("top-wrong:0.2")])
        cfg = TrainConfig(steps=15, lr=0.05, group=4)  # grpo: its PRNG keys travel with the seeds
        one = np.stack(train_batch(tasks, cfg), -1)
        four = train_sharded(tasks, cfg)
        assert len(four.kl.sharding.device_set) == 4, four.kl.sharding
        four = np.stack(four, -1)
        assert np.allclose(four, one, atol=1e-5), np.abs(four - one).max()
        # 6 seeds: padded up to 8 over the 4 devices and cut back (exact updates: quicker to compile)
        cfg = TrainConfig(algo="exact", steps=15, lr=2.0)
        six = jax.tree.map(lambda x: x[:6], tasks)
        one, four = np.stack(train_batch(six, cfg), -1), np.stack(train_sharded(six, cfg), -1)
        assert four.shape == one.shape and np.allclose(four, one, atol=1e-5)
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def test_jnp_is_what_the_quantile_map_sees():
    # QuantileMap.f must accept jax arrays (xp=jnp) inside jit: the simulator relies on it
    q = QuantileMap.parse("top-wrong:0.5")
    out = jax.jit(lambda u: q.f(u, xp=jnp))(jnp.asarray([0.1, 0.6, 0.9]))
    assert np.allclose(out, [0.1, 0.9, 0.6], atol=1e-6)
