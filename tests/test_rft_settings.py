"""Every bad RFT setting is one line ``chase rft train: error: <field>: <what>`` and exit 2 (no training)."""

import math

import pytest

pytest.importorskip("trl")

from chase.rft_cli import main  # noqa: E402
from rft.checks import check_grpo_config  # noqa: E402
from rft.train import RFTArguments  # noqa: E402

BASE = "output_dir: {out}\nreport_to: none\nuse_cpu: true\nbf16: false\nprepare: false\n"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error" in ln.lower() and "warn" not in ln.lower()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "yaml, expected",
    [
        ("beta: -1", "beta: must be a finite number >= 0, got -1"),
        ("beta: [1, 2]", "beta: must be a finite number >= 0, got [1, 2]"),
        ("beta: true", "beta: must be a finite number >= 0, got True"),
        ("learning_rate: .nan", "learning_rate: must be a finite number > 0, got nan"),
        ("max_steps: 4.7", "max_steps: must be an integer >= 1, or -1 (train num_train_epochs), got 4.7"),
        ("max_steps: 0", "max_steps: must be an integer >= 1, or -1 (train num_train_epochs), got 0"),
        ("top_p: 1.5", "top_p: must be a finite number > 0 and <= 1, got 1.5"),
        ("eval_every: 2.5", "eval_every: must be a whole number >= 1, got 2.5"),
        ("max_unscored_steps: -1", "max_unscored_steps: must be a whole number >= 0, got -1"),
        ("max_train_minutes: .inf", "max_train_minutes: must be a finite number >= 0, got inf"),
        ("proxy: 3", "proxy: must be a string, got 3"),
        ("proxy: best", "proxy: must be one of"),
        ("monitor_gold: 2", "monitor_gold: must be true or false, got 2"),
        ("num_generations: 1", "GRPO requires at least 2 generations"),  # TRL's own check, kept on one line
    ],
)
def test_bad_yaml_values_exit_2_with_one_line(tmp_path, capsys, yaml, expected):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml + "\n" + BASE.format(out=tmp_path / "out"))
    assert main(["train", "--config", str(cfg)]) == 2
    assert _error_line(capsys).startswith(f"chase rft train: error: {expected}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flag, value, expected",
    [
        ("--max_steps", "4.7", "max_steps: invalid int value: '4.7'"),
        ("--learning_rate", "nan", "learning_rate: must be a finite number > 0, got nan"),
        ("--beta", "-0.5", "beta: must be a finite number >= 0, got -0.5"),
        ("--eval_samples", "0", "eval_samples: must be a whole number >= 1, got 0"),
        ("--task_dir", "/nonexistent/task", "task_dir: no triage task in /nonexistent/task"),
        ("--model_name_or_path", "/nonexistent/lm", "model_name_or_path: no such folder /nonexistent/lm"),
    ],
)
def test_bad_flags_and_missing_folders_exit_2_with_one_line(tmp_path, capsys, flag, value, expected):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(out=tmp_path / "out"))
    task = ["--task_dir", str(tmp_path)] if flag == "--model_name_or_path" else []
    if task:
        (tmp_path / "task.json").write_text("{}")
    assert main(["train", "--config", str(cfg), *task, flag, value]) == 2
    assert _error_line(capsys).startswith(f"chase rft train: error: {expected}")


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert _error_line(capsys) == f"chase rft train: error: config: no such file {tmp_path / 'nope.yaml'}"


def test_the_library_shares_the_checks(tmp_path):
    from trl import GRPOConfig

    with pytest.raises(ValueError, match=r"^eval_every: must be a whole number >= 1, got 2\.5$"):
        RFTArguments(eval_every=2.5)
    with pytest.raises(ValueError, match="^judge_max_concurrency:"):
        RFTArguments(judge_max_concurrency=0)
    ok = dict(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none")
    check_grpo_config(GRPOConfig(**ok, beta=0.01, max_steps=3))
    for bad in ({"beta": math.nan}, {"learning_rate": -1e-3}, {"max_steps": 2.0}, {"seed": -3}):
        with pytest.raises(ValueError, match=f"^{next(iter(bad))}: "):
            check_grpo_config(GRPOConfig(**ok, **bad))
