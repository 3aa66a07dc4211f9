"""`chase diagnose` end to end on small synthetic files (the input forms, the outputs, the two-step recipe)."""

import json

import numpy as np

from chase import cli
from rewards.quantile import QuantileMap


def _write_samples(path, spec="top-wrong:0.3", prompts=12, m=256, seed=0, drop_gold_every=0):
    rng = np.random.default_rng(seed)
    q = QuantileMap.parse(spec)
    u = rng.uniform(size=(prompts, m))
    v = q.f(u, rng.uniform(size=u.shape))
    k = 0
    with open(path, "w") as f:
        for p in range(prompts):
            for j in range(m):
                row = {"index": k, "prompt_id": f"case-{p}", "proxy": float(v[p, j]), "note": "kept"}
                if not (drop_gold_every and k % drop_gold_every == 0):
                    row["gold"] = float(u[p, j])
                f.write(json.dumps(row) + "\n")
                k += 1
    return u, v


def test_diagnose_writes_the_report_figure_and_json(tmp_path, capsys):
    _write_samples(tmp_path / "s.jsonl", drop_gold_every=5)
    with open(tmp_path / "s.jsonl", "a") as f:
        f.write('{"prompt_id": "case-0", "proxy": null, "gold": 0.5}\n')  # unscored: dropped and counted
    out = tmp_path / "out"
    rc = cli.main(["diagnose", "--samples", str(tmp_path / "s.jsonl"), "--out", str(out), "--n-boot", "50"])
    assert rc == 0
    line = json.loads(capsys.readouterr().out)
    for name in ("diagnosis.json", "diagnosis.md", "diagnosis.png", "diagnosis.pdf", "run.json"):
        assert (out / name).exists(), name
    d = json.loads((out / "diagnosis.json").read_text())
    assert d["counts"] == {"lines": 3073, "samples": 3072, "prompts": 12, "gold_scored": 2457, "proxy_unscored": 1}
    assert d["tilt"]["peak"] and line["peak_predicted"]
    assert d["tilt"]["peak_kl"] < d["tilt"]["max_kl"]
    assert len(d["bands"]) == 5 and set(d["tail"]) == {"high", "low"}
    assert d["tail"]["high"]["acc_ties_half"] < d["tail"]["low"]["acc_ties_half"]  # the top band is reversed
    assert "Over-optimization is predicted" in (out / "diagnosis.md").read_text()
    # the same input again: the same numbers
    assert cli.main(["diagnose", "--samples", str(tmp_path / "s.jsonl"), "--out", str(out), "--n-boot", "50"]) == 0
    assert json.loads((out / "diagnosis.json").read_text()) == d


def test_two_step_recipe_gold_from_a_second_score_file(tmp_path, capsys):
    u, v = _write_samples(tmp_path / "s.jsonl", spec="identity", prompts=8, m=32)
    # the shape `chase rubric score` writes: index, prompt_index, score
    with open(tmp_path / "proxy.jsonl", "w") as fp, open(tmp_path / "gold.jsonl", "w") as fg:
        for k, (uu, vv) in enumerate(zip(u.ravel(), v.ravel(), strict=True)):
            fp.write(json.dumps({"index": k, "prompt_index": k // 32, "score": vv, "verdicts": []}) + "\n")
            fg.write(json.dumps({"index": k, "prompt_index": k // 32, "score": uu}) + "\n")
    argv = ["diagnose", "--samples", str(tmp_path / "proxy.jsonl"), "--prompt-key", "prompt_index"]
    argv += ["--proxy-key", "score", "--gold-scores", str(tmp_path / "gold.jsonl"), "--out", str(tmp_path / "o")]
    assert cli.main([*argv, "--n-boot", "20", "--no-figure"]) == 0
    d = json.loads((tmp_path / "o" / "diagnosis.json").read_text())
    assert d["counts"]["gold_scored"] == 256 and not d["tilt"]["peak"]
    assert "No peak below KL" in d["verdict"]


def test_pairs_file_gives_the_tail_accuracy(tmp_path, capsys):
    _write_samples(tmp_path / "s.jsonl", prompts=6, m=16)
    rows = [{"prompt_id": "x", "proxy_a": 2, "proxy_b": 1, "preferred": "a", "tier": "low"}] * 3
    rows += [{"prompt_id": "y", "proxy_a": 2, "proxy_b": 1, "preferred": "b", "tier": "high"}] * 2
    rows += [{"prompt_id": "y", "proxy_a": 1, "proxy_b": 1, "preferred": "a", "tier": "high"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["diagnose", "--samples", str(tmp_path / "s.jsonl"), "--pairs", str(tmp_path / "p.jsonl")]
    assert cli.main([*argv, "--out", str(tmp_path / "o"), "--n-boot", "20", "--no-figure"]) == 0
    tail = json.loads((tmp_path / "o" / "diagnosis.json").read_text())["tail"]
    assert tail["low"]["acc_ties_half"] == 1.0
    assert tail["high"]["acc_ties_half"] == 0.5 / 3  # two wrong, one proxy tie (half)
