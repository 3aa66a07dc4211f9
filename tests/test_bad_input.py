"""Bad input to every `chase` command gets one line on stderr, a non-zero exit, no traceback and no output.

Table-driven over `chase theory`, `chase sim`, `chase repro` and the top level (the rubric, judge and rft
commands have their own tables beside their tests). Commands run in-process through `chase.cli.main`, the one
error boundary, so the cases are fast; a case that names an output path checks that nothing was written there.
"""

import os

import pytest

from chase import cli

OUT = "{out}"  # replaced by a fresh path under tmp_path; asserted absent (or unchanged) afterwards
MAP = ["--map", "top-wrong:0.1"]
TRAIN = ["sim", "train", *MAP, "--steps", "3", "--seeds", "1", "--arms", "8", "--contexts", "2", "--out", OUT]
RW = ["sim", "rubric-world", "--quick", "--out", OUT]

THEORY = [
    ["theory", "winrate", "--kl", "1"],
    ["theory", "winrate", "--map", "top-wrng:0.1", "--kl", "1"],
    ["theory", "winrate", *MAP, "--kl", "nan"],
    ["theory", "winrate", *MAP, "--kl", "inf"],
    ["theory", "winrate", *MAP, "--kl", "-1"],
    ["theory", "winrate", *MAP, "--kl", "abc"],
    ["theory", "winrate", *MAP, "--kl", "1", "--procedure", "ppo"],
    ["theory", "winrate", *MAP, "--kl", "1", "--n", "0"],
    ["theory", "winrate", *MAP, "--kl", "1", "--n", "-3"],
    ["theory", "winrate", *MAP, "--kl", "1", "--n", "2.5"],
    ["theory", "winrate", *MAP, "--kl", "1", "--n", "4"],  # --n is for best-of-n only
    ["theory", "winrate", *MAP, "--kl", "0.1", "--procedure", "bon", "--n", "64"],  # over the budget
    ["theory", "winrate", "--map", "reverse:0.5:0.2", "--kl", "1"],
    ["theory", "winrate", "--map", "noise:0:2", "--kl", "1"],
    ["theory", "winrate", "--map", "reverse:0:0.5+reverse:0.4:1", "--kl", "1"],
    ["theory", "bon", *MAP],
    ["theory", "bon", *MAP, "--n", "0"],
    ["theory", "bon", *MAP, "--n", "x"],
    ["theory", "bon", "--map", "", "--n", "4"],
    ["theory", "bandit", "--p", "0.5,0.5", "--true", "1,2,3", "--proxy", "1,2", "--n", "2"],
    ["theory", "bandit", "--p", "a,b", "--true", "1,2", "--proxy", "1,2", "--n", "2"],
    ["theory", "bandit", "--p", "0.5,0.5", "--true", "1,2", "--proxy", "1,2", "--beta", "0"],
    ["theory", "bandit", "--p", "0.5,0.5", "--true", "1,2", "--proxy", "1,2", "--beta", "-1"],
    ["theory", "bandit", "--p", "0.5,0.5", "--true", "1,2", "--proxy", "1,2", "--beta", "nan"],
    ["theory", "bandit", "--p", "0.5,0.5", "--true", "1,2", "--proxy", "1,2", "--n", "2", "--beta", "1"],
    ["theory", "bandit", "--p", "0.5,0.5", "--true", "1,2", "--proxy", "1,2"],
    ["theory", "bandit", "--p", "0.5,0.7", "--true", "1,2", "--proxy", "1,2", "--n", "2"],
    ["theory", "bandit", "--p", "-0.5,1.5", "--true", "1,2", "--proxy", "1,2", "--n", "2"],
    ["theory", "curve", *MAP, "--kl-max", "8", "--points", "1", "--out", OUT],
    ["theory", "curve", *MAP, "--kl-max", "8", "--points", "100000000", "--out", OUT],
    ["theory", "curve", *MAP, "--kl-max", "0", "--points", "10", "--out", OUT],
    ["theory", "curve", *MAP, "--kl-max", "nan", "--points", "10", "--out", OUT],
    ["theory", "curve", *MAP, "--kl-max", "8", "--points", "10", "--procedure", "x", "--out", OUT],
    ["theory", "curve", "--map", "bad", "--kl-max", "8", "--points", "10", "--out", OUT],
    ["theory", "curve", *MAP, "--kl-max", "8", "--points", "10", "--out", "/dev/full/curve.csv"],
    ["theory", "curve", *MAP, "--kl-max", "8", "--points", "10", "--out", "{file}/curve.csv"],
    ["theory", "curve", *MAP, "--kl-max", "8", "--points", "10", "--out", "{dir}"],
    ["theory", "fig2", "--out", "{file}"],
    ["theory", "fig2", "--out", "/dev/full"],
    ["theory", "nope"],
]

SIM = [
    ["sim", "bon", "--n", "4"],
    ["sim", "bon", *MAP, "--error", "gauss:1", "--n", "4"],
    ["sim", "bon", *MAP, "--n", "0"],
    ["sim", "bon", *MAP, "--n", "4", "--samples", "1"],
    ["sim", "bon", *MAP, "--n", "4", "--arms", "0"],
    ["sim", "bon", *MAP, "--n", "4", "--contexts", "0"],
    ["sim", "bon", *MAP, "--n", "4", "--arms", "1000000000"],
    ["sim", "bon", *MAP, "--n", "1000000000", "--samples", "10", "--arms", "100"],
    ["sim", "bon", *MAP, "--n", "4", "--base", "bogus"],
    ["sim", "bon", *MAP, "--n", "4", "--base", "zipf:-1"],
    ["sim", "bon", "--error", "t:0:1", "--n", "4"],
    ["sim", "bon", "--error", "gauss:-1", "--n", "4"],
    ["sim", "bon", "--map", "tie:1:0.5", "--n", "4"],
    ["sim", "bon", *MAP, "--n", "4", "--seed", "x"],
    ["sim", "tilt", *MAP, "--beta", "0"],
    ["sim", "tilt", *MAP, "--beta", "-1"],
    ["sim", "tilt", *MAP, "--beta", "nan"],
    ["sim", "tilt", *MAP, "--beta", "inf"],
    ["sim", "tilt", "--map", "x", "--beta", "1"],
    ["sim", "tilt", *MAP],
    [*TRAIN, "--lr", "inf"],
    [*TRAIN, "--lr", "nan"],
    [*TRAIN, "--lr", "0"],
    [*TRAIN, "--lr", "-1"],
    [*TRAIN, "--group", "1"],
    [*TRAIN[:-4], "--seeds", "0", "--out", OUT],
    [*TRAIN, "--steps", "0"],
    [*TRAIN, "--steps", "1.5"],
    [*TRAIN, "--algo", "ppo"],
    [*TRAIN, "--geometry", "mirror"],
    [*TRAIN, "--kl-grad", "k4"],
    [*TRAIN, "--algo", "exact", "--kl-grad", "k3"],
    [*TRAIN, "--beta", "-1"],
    [*TRAIN, "--beta", "inf"],
    [*TRAIN, "--clip-eps", "0"],
    [*TRAIN, "--lr-decay-steps", "-1"],
    [*TRAIN, "--ppo-epochs", "0"],
    [*TRAIN, "--adv-eps", "nan"],
    [*TRAIN, *MAP],  # the same proxy twice
    [*TRAIN, "--error", "t:2"],
    [*TRAIN, "--devices", "99"],
    [*TRAIN, "--devices", "-1"],
    [*TRAIN, "--arms", "100000000"],
    [*TRAIN, "--normalize-std", "yes"],
    [*TRAIN[:-1], "{file}"],
    [*TRAIN[:-1], "{file}/run"],
    [*TRAIN[:-1], "/dev/full/run"],
    [*TRAIN, "--bogus-flag", "1"],
    [*RW, "--seeds", "0"],
    [*RW, "--train-steps", "0"],
    [*RW, "--train-lr", "nan"],
    [*RW, "--train-kl-coef", "-1"],
    [*RW, "--train-group-size", "1"],
    [*RW, "--world-n-prompts", "0"],
    [*RW, "--world-n-prompts", "1000000000"],
    [*RW, "--world-writer-fact-prob", "2"],
    [*RW, "--world-fact-weights", "0,9"],
    [*RW, "--verifier-coarse-fpr", "2"],
    [*RW, "--verifier-jitter", "-1"],
    [*RW, "--proposer-knowledge", "1.5"],
    [*RW, "--proposer-notice", "nan"],
    [*RW, "--bt-kinds", "sideways"],
    [*RW, "--eval-pairs", "0"],
    [*RW, "--h-samples", "1"],
    [*RW[:-1], "{file}"],
    [*RW, "--no-such-flag"],
    ["sim", "nope"],
]

REPRO = [
    ["repro", "nope"],
    ["repro", "bandit-findings", "--only", "bon,typo", "--out", OUT, "--doc", "{out}.md"],
    ["repro", "bandit-findings", "--bogus"],
    ["repro", "grpo-small-beta", "--lr", "nan"],
    ["repro", "grpo-small-beta", "--steps", "0"],
    ["repro", "grpo-small-beta", "--seeds", "0"],
    ["repro", "rubric-world-sensitivity", "--seeds", "x"],
]

SCORE = ["rubric", "score", "--rubrics", "examples/rubrics/triage_paper.json"]
SCORE += ["--responses", "examples/rubrics/triage_responses.jsonl", "--judge", "openai"]
SCORE += ["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--out", OUT]
CACHE = [[*SCORE, "--judge-cache", "{dir}"], [*SCORE, "--judge-cache", "{file}"]]  # a folder; not SQLite

TOP = [["nope"], ["--debug", "nope"], ["theory"] + ["winrate", "--map"]]

CASES = THEORY + SIM + REPRO + CACHE + TOP


def _fill(argv, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder\n")
    (tmp_path / "a_dir").mkdir(exist_ok=True)
    subs = {"{out}": str(tmp_path / "out"), "{file}": str(a_file), "{dir}": str(tmp_path / "a_dir")}
    out = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        out.append(a)
    return out


def _run(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse usage errors exit through SystemExit(2)
        return int(e.code or 0)


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c)[:80] for c in CASES])
def test_bad_input_is_one_line_and_a_nonzero_exit(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHASE_DEBUG", raising=False)
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/ are relative
    before = sorted(os.listdir(tmp_path))
    rc = _run(_fill(argv, tmp_path))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "error" in lines[0], err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.md").exists()
    assert sorted(os.listdir(tmp_path)) == sorted(set(before) | {"a_file", "a_dir"})
    assert (tmp_path / "a_file").read_text() == "not a folder\n"


def test_a_run_folder_with_a_corrupt_or_other_config_is_refused_and_kept(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{corrupt")
    argv = _fill(TRAIN, tmp_path)
    argv[argv.index(str(tmp_path / "out"))] = str(run)
    assert _run(argv) == 2 and "not a chasing-tail run folder" in capsys.readouterr().err
    assert _run([*argv, "--overwrite"]) == 2  # never someone else's folder, even with --overwrite
    assert (run / "config.json").read_text() == "{corrupt" and os.listdir(run) == ["config.json"]
    (run / "run.json").write_text("{corrupt")
    assert _run(argv) == 2 and "cannot read the run record" in capsys.readouterr().err
    other = _fill(TRAIN, tmp_path)
    other[other.index(str(tmp_path / "out"))] = str(tmp_path / "run2")
    assert _run(other) == 0
    capsys.readouterr()
    assert _run([*other, "--lr", "0.5"]) == 2 and "differs in: train.lr" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    # setenv first, so that monkeypatch restores "unset" afterwards (main sets CHASE_DEBUG=1 for --debug)
    monkeypatch.setenv("CHASE_DEBUG", "")
    with pytest.raises(OSError):
        cli.main(["--debug", "theory", "fig2", "--out", "/dev/full"])
    assert not cli.debugging()  # --debug lasts for that call only


# chase diagnose: (file contents by name, extra argv, a word the one-line error must contain)
_GOOD = "".join(
    f'{{"prompt_id": "p{p}", "proxy": {(7 * j) % 5}, "gold": {(3 * j + p) % 4}}}\n' for p in range(3) for j in range(6)
)
DIAGNOSE = [
    ({"s.jsonl": '{"prompt_id": "a", "proxy": 1, "gold": 1}\n' * 2 + _GOOD}, [], "samples"),  # 2 per prompt
    (
        {"s.jsonl": "".join(f'{{"prompt_id": {p}, "proxy": 1, "gold": {j}}}\n' for p in range(3) for j in range(5))},
        [],
        "constant",
    ),
    ({"s.jsonl": _GOOD + '{"prompt_id": "p0", "proxy": NaN, "gold": 1}\n'}, [], "line 19"),
    ({"s.jsonl": _GOOD + '{"prompt_id": "p0", "proxy": Infinity}\n'}, [], "proxy"),
    ({"s.jsonl": _GOOD + '{"proxy": 1, "gold": 1}\n'}, [], "prompt_id"),
    ({"s.jsonl": _GOOD + '{"prompt_id": "p0", "gold": 1}\n'}, [], "proxy"),
    ({"s.jsonl": _GOOD + '{"prompt_id": "p0", "proxy": "high", "gold": 1}\n'}, [], "proxy"),
    ({"s.jsonl": _GOOD + '{"prompt_id": "p0", "proxy": 1, "gold": true}\n'}, [], "gold"),
    ({"s.jsonl": _GOOD + "{not json\n"}, [], "line 19"),
    ({"s.jsonl": _GOOD + "[1, 2]\n"}, [], "object"),
    ({"s.jsonl": _GOOD.replace('"gold"', '"g"')}, [], "gold"),  # no gold anywhere
    ({"s.jsonl": ""}, [], "no proxy-scored"),
    ({}, [], "cannot read"),  # the samples file does not exist
    ({"s.jsonl": _GOOD}, ["--min-per-prompt", "1"], "min_per_prompt"),
    ({"s.jsonl": _GOOD}, ["--min-ess", "nan"], "min-ess"),
    ({"s.jsonl": _GOOD}, ["--n-boot", "-1"], "n_boot"),
    ({"s.jsonl": _GOOD}, ["--proxy-key", "score"], "score"),
    (
        {"s.jsonl": _GOOD.replace('"proxy"', '"index": 0, "proxy"'), "g.jsonl": '{"index": 5, "score": 1}\n'},
        ["--gold-scores", "{tmp}/g.jsonl"],
        "index",
    ),
    ({"s.jsonl": _GOOD, "g.jsonl": '{"score": 1}\n'}, ["--gold-scores", "{tmp}/g.jsonl"], "index"),
    (
        {"s.jsonl": _GOOD, "p.jsonl": '{"proxy_a": 1, "proxy_b": 2, "preferred": "c"}\n'},
        ["--pairs", "{tmp}/p.jsonl"],
        "preferred",
    ),
    ({"s.jsonl": _GOOD}, ["--no-such-flag"], "no-such-flag"),
]


@pytest.mark.parametrize("files,extra,word", DIAGNOSE, ids=[f"diagnose-{i}-{c[2]}" for i, c in enumerate(DIAGNOSE)])
def test_diagnose_bad_input_is_one_line_exit_2_and_writes_nothing(files, extra, word, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHASE_DEBUG", raising=False)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = ["diagnose", "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "out")]
    argv += [a.replace("{tmp}", str(tmp_path)) for a in extra]
    rc = _run(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert word in lines[0], err
    assert not (tmp_path / "out").exists()
