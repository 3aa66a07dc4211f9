"""rewards.runs: the one cached-run policy (same config skips, another config is an error or --overwrite)."""

import json

import numpy as np
import pytest

from rewards.runs import RunConfigMismatch, cached, config_hash, open_run


def test_same_config_is_finished_after_finish_and_not_before(tmp_path):
    cfg = {"seeds": 2, "train": {"lr": 0.02, "steps": np.int64(5)}}
    run = open_run(tmp_path / "r", cfg)
    assert not run.finished and json.loads((tmp_path / "r" / "config.json").read_text())["train"]["steps"] == 5
    assert not open_run(tmp_path / "r", cfg).finished  # killed before finish: not finished
    run.finish(seconds=1.5)
    again = open_run(tmp_path / "r", {"train": {"steps": 5, "lr": 0.02}, "seeds": 2})  # key order is irrelevant
    assert again.finished and again.config_hash == run.config_hash and again.run_info()["seconds"] == 1.5


def test_other_config_is_a_clear_error_unless_overwrite(tmp_path):
    open_run(tmp_path, {"seeds": 2, "train": {"lr": 0.02}}).finish()
    with pytest.raises(RunConfigMismatch, match=r"differs in: train\.lr.*--overwrite"):
        open_run(tmp_path, {"seeds": 2, "train": {"lr": 0.1}})
    run = open_run(tmp_path, {"seeds": 2, "train": {"lr": 0.1}}, overwrite=True)
    assert not run.finished and json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    assert json.loads((tmp_path / "config.json").read_text())["train"]["lr"] == 0.1


def test_overwrite_recomputes_even_the_same_config(tmp_path):
    open_run(tmp_path, {"a": 1}).finish()
    assert not open_run(tmp_path, {"a": 1}, overwrite=True).finished


def test_bad_folders_are_clear_errors(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RunConfigMismatch, match="not a folder"):
        open_run(f, {})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.json").write_text("{corrupt")
    with pytest.raises(RunConfigMismatch, match="not a chasing-tail run folder"):
        open_run(tmp_path / "d", {}, overwrite=True)  # someone else's folder: refused even with overwrite
    assert (tmp_path / "d" / "config.json").read_text() == "{corrupt"
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "run.json").write_text("{corrupt")
    with pytest.raises(RunConfigMismatch, match="cannot read the run record"):
        open_run(tmp_path / "e", {})


def test_run_json_is_a_header_of_kind_format_and_hash(tmp_path):
    run = open_run(tmp_path, {"a": 1}, kind="sim-train")
    head = json.loads((tmp_path / "run.json").read_text())
    assert head == {"kind": "sim-train", "format": 1, "config_hash": run.config_hash, "status": "running"}
    run.finish(seconds=2.0)
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "finished"
    with pytest.raises(RunConfigMismatch, match="holds a 'sim-train' run, not a 'sim-rubric-world' run"):
        open_run(tmp_path, {"a": 1}, overwrite=True, kind="sim-rubric-world")


def test_cached_result_file(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": [1.0, float("nan")]}

    p = tmp_path / "section.json"
    r1 = cached(p, {"n": 3}, compute)
    r2 = cached(p, {"n": 3}, compute)
    assert len(calls) == 1 and r1["x"][0] == r2["x"][0] == 1.0 and np.isnan(r2["x"][1])
    with pytest.raises(RunConfigMismatch, match="differs in: n"):
        cached(p, {"n": 4}, compute)
    cached(p, {"n": 4}, compute, overwrite=True)
    assert len(calls) == 2
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(RunConfigMismatch, match="not a cached result"):
        cached(tmp_path / "other.json", {}, compute)


def test_config_hash_is_stable():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1}) != config_hash({"a": 2})


def test_cached_result_keeps_key_order(tmp_path):
    """A fresh result and the same result read back list their keys alike (reports print them in order)."""
    p = tmp_path / "s.json"
    fresh = cached(p, {}, lambda: {"z": 1, "a": {"y": 2, "b": 3}})
    assert list(fresh) == ["z", "a"] and list(fresh["a"]) == ["y", "b"]
    assert cached(p, {}, lambda: None) == fresh and list(cached(p, {}, lambda: None)) == ["z", "a"]
