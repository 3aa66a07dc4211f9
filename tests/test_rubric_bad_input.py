"""Every bad input to ``chase rubric score|refine|sim-export`` is refused the same way: a non-zero exit, exactly
one line on stderr (no traceback), and nothing written: the folder holds the same files, byte for byte."""

import json
import shutil
from pathlib import Path

import pytest

from chase import rubric_cli
from tests.test_rubric_cli import EX, AddPhraseProposer

RESPONSES = [json.loads(x) for x in open(f"{EX}/triage_responses.jsonl")]
POOLS = "".join(
    json.dumps({"prompt_index": p, "responses": [r["response"] for r in RESPONSES[a:b]]}) + "\n"
    for p, (a, b) in enumerate([(0, 4), (4, 6)])
)
BAD_RUBRICS = {
    "not json": b"{oops\n",
    "empty": b"",
    "latin1": b'[{"prompt": "caf\xe9"}]',
    "no rubrics key": b'[{"prompt": "p"}]\n',
    "bad regex": b'[{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1, "check": {"regex": "("}}]}]',
    "zero weight": b'[{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 0}]}]',
    "a number": b"42",
}
BAD_RESPONSES = {
    "empty": b"",
    "not json": b'{"prompt_index": 0, "response": "x"}\n{broken\n',
    "no response": b'{"prompt_index": 0}\n',
    "index out of range": b'{"prompt_index": 5, "response": "x"}\n',
    "not an object": b'["x"]\n',
    "unknown prompt": b'{"prompt": "nobody asked", "response": "x"}\n',
    "non-text for rule judge": b'{"prompt_index": 0, "response": [0, 1]}\n',
}
BAD_POOLS = {
    "responses not a list": b'{"prompt_index": 0, "responses": "x"}\n',
    "two pools for a prompt": b'{"prompt_index": 0, "responses": []}\n{"prompt_index": 0, "responses": []}\n',
    "empty": b"",
}
SCORE = ["score", "--rubrics", "{t}/rubrics.json", "--responses", "{t}/responses.jsonl"]
REFINE = ["refine", "--rubrics", "{t}/rubrics.json", "--pools", "{t}/pools.jsonl", "--proposer", "add-phrase"]
REFINE_OUT = [*REFINE, "--out", "{t}/refined.json"]
SIM = ["--judge", "sim", "--proposer", "sim"]

CASES: list[tuple[str, list[str], dict[str, bytes]]] = [
    *[(f"score rubrics {k}", [*SCORE, "--rubrics", "{t}/bad"], {"bad": v}) for k, v in BAD_RUBRICS.items()],
    ("score rubrics missing", [*SCORE, "--rubrics", "{t}/nope.json"], {}),
    ("score rubrics is a folder", [*SCORE, "--rubrics", "{t}/dir"], {}),
    ("score paper file as healthbench", [*SCORE, "--format", "healthbench"], {}),
    *[(f"score responses {k}", [*SCORE, "--responses", "{t}/bad"], {"bad": v}) for k, v in BAD_RESPONSES.items()],
    ("score responses missing", [*SCORE, "--responses", "{t}/nope.jsonl"], {}),
    ("score unknown judge", [*SCORE, "--judge", "nope"], {}),
    ("score judge module missing", [*SCORE, "--judge", "no_such_module:make"], {}),
    ("score judge-arg not KEY=VALUE", [*SCORE, "--judge-arg", "oops"], {}),
    ("score judge-arg unknown to rule", [*SCORE, "--judge-arg", "a=1"], {}),
    ("score judge-arg bad timeout", [*SCORE, "--judge-arg", "regex_timeout_s=-1"], {}),
    (
        "score judge-arg given twice",
        [*SCORE, "--judge-arg", "regex_timeout_s=1", "--judge-arg", "regex_timeout_s=2"],
        {},
    ),
    ("score world-arg with rule judge", [*SCORE, "--world-arg", "n_prompts=8"], {}),
    ("score world-arg not KEY=VALUE", [*SCORE, "--judge", "sim", "--world-arg", "n_prompts"], {}),
    ("score world-arg unknown key", [*SCORE, "--judge", "sim", "--world-arg", "bogus=1"], {}),
    ("score llm flag with rule judge", [*SCORE, "--base-url", "http://127.0.0.1:1/v1"], {}),
    ("score threshold above 1", [*SCORE, "--max-unscored-frac", "2"], {}),
    ("score threshold not a number", [*SCORE, "--max-unscored-frac", "half"], {}),
    ("score unknown policy", [*SCORE, "--unknown", "zero"], {}),
    ("score without rubrics", ["score", "--responses", "{t}/responses.jsonl"], {}),
    ("score unknown flag", [*SCORE, "--bogus"], {}),
    ("score out parent missing", [*SCORE, "--out", "{t}/missing/s.jsonl"], {}),
    ("score out is a folder", [*SCORE, "--out", "{t}/dir"], {}),
    ("score out under a file", [*SCORE, "--out", "{t}/rubrics.json/s.jsonl"], {}),
    *[(f"refine pools {k}", [*REFINE_OUT, "--pools", "{t}/bad"], {"bad": v}) for k, v in BAD_POOLS.items()],
    ("refine pools missing", [*REFINE_OUT, "--pools", "{t}/nope.jsonl"], {}),
    ("refine rubrics not json", [*REFINE_OUT, "--rubrics", "{t}/bad"], {"bad": b"{oops"}),
    ("refine negative rounds", [*REFINE_OUT, "--rounds", "-1"], {}),
    ("refine empty weight range", [*REFINE_OUT, "--weight-range", "3", "1"], {}),
    ("refine pool mode and rounds", [*REFINE_OUT, "--pool-mode", "4-great-pairs", "--rounds", "2"], {}),
    ("refine unknown pool mode", [*REFINE_OUT, "--pool-mode", "8-pairs"], {}),
    ("refine unknown proposer", [*REFINE_OUT, "--proposer", "nope"], {}),
    ("refine without proposer", ["refine", "--rubrics", "{t}/rubrics.json", "--pools", "{t}/pools.jsonl"], {}),
    ("refine without out", REFINE, {}),
    ("refine threshold negative", [*REFINE_OUT, "--max-unscored-frac", "-0.1"], {}),
    ("refine world-arg without sim", [*REFINE_OUT, "--world-arg", "n_prompts=8"], {}),
    ("refine world-arg unknown key", [*REFINE_OUT, *SIM, "--world-arg", "bogus=1"], {}),
    ("refine llm flag without llm", [*REFINE_OUT, "--model", "judge"], {}),
    ("refine out parent missing", [*REFINE, "--out", "{t}/missing/r.json"], {}),
    ("refine out is a folder", [*REFINE, "--out", "{t}/dir"], {}),
    ("refine out under a file", [*REFINE, "--out", "{t}/pools.jsonl/r.json"], {}),
    ("refine log is a settings file", [*REFINE_OUT, "--log", "{t}/settings.json"], {"settings.json": b'{"lr": 1}'}),
    ("refine log is a text file", [*REFINE_OUT, "--log", "{t}/notes.txt"], {"notes.txt": b"todo\nmore"}),
    ("refine log is a folder", [*REFINE_OUT, "--log", "{t}/dir"], {}),
    ("refine log is the out file", [*REFINE_OUT, "--log", "{t}/refined.json"], {}),
    ("refine log parent missing", [*REFINE_OUT, "--log", "{t}/missing/log.jsonl"], {}),
    ("refine log edited weight 99", [*REFINE_OUT, "--log", "{t}/log.jsonl"], {"log.jsonl": "edit:weight"}),
    ("refine log edited round -5", [*REFINE_OUT, "--log", "{t}/log.jsonl"], {"log.jsonl": "edit:round"}),
    ("refine log of other settings", [*REFINE_OUT, "--rounds", "2", "--log", "{t}/log.jsonl"], {"log.jsonl": "log"}),
    ("sim-export out is a file", ["sim-export", "--out", "{t}/rubrics.json"], {}),
    ("sim-export out parent missing", ["sim-export", "--out", "{t}/missing/world"], {}),
    ("sim-export world-arg unknown key", ["sim-export", "--out", "{t}/w", "--world-arg", "bogus=1"], {}),
    ("sim-export world-arg bad value", ["sim-export", "--out", "{t}/w", "--world-arg", "n_prompts=-1"], {}),
    ("sim-export world-arg wrong type", ["sim-export", "--out", "{t}/w", "--world-arg", "n_prompts=abc"], {}),
    ("sim-export world seed not int", ["sim-export", "--out", "{t}/w", "--world-arg", "world_seed=x"], {}),
    ("sim-export world-arg no value", ["sim-export", "--out", "{t}/w", "--world-arg", "=3"], {}),
    ("sim-export unknown pool mode", ["sim-export", "--out", "{t}/w", "--pool-mode", "8-pairs"], {}),
    ("sim-export seed not int", ["sim-export", "--out", "{t}/w", "--seed", "x"], {}),
    ("sim-export without out", ["sim-export"], {}),
]


def _log(t: Path) -> bytes:
    """A real refinement log of the REFINE_OUT command (1 round)."""
    args = [a.format(t=t) for a in [*REFINE_OUT, "--quiet", "--log", "{t}/made.jsonl"]]
    assert rubric_cli.main(args) == 0
    (t / "refined.json").unlink()
    return (t / "made.jsonl").read_bytes()


def _edited(t: Path, how: str) -> bytes:
    rows = [json.loads(x) for x in _log(t).decode().splitlines()]
    if how == "weight":
        rows[1]["new_rubric"]["criteria"][0]["weight"] = 99
    else:
        rows[1]["round"] = -5
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture
def folder(tmp_path):
    rubric_cli.register_proposer("add-phrase", lambda options: AddPhraseProposer())
    shutil.copy(f"{EX}/triage_paper.json", tmp_path / "rubrics.json")
    shutil.copy(f"{EX}/triage_responses.jsonl", tmp_path / "responses.jsonl")
    (tmp_path / "pools.jsonl").write_text(POOLS)
    (tmp_path / "dir").mkdir()
    return tmp_path


def _snapshot(t: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(t)): (p.read_bytes() if p.is_file() else None) for p in sorted(t.rglob("*"))}


def test_the_table_is_large_and_names_are_unique():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name,argv,files", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_nonzero_and_writes_nothing(folder, capsys, name, argv, files):
    for rel, content in files.items():
        if content == "log":
            content = _log(folder)
        elif isinstance(content, str):
            content = _edited(folder, content.split(":")[1])
        (folder / rel).write_bytes(content)
    (folder / "made.jsonl").unlink(missing_ok=True)
    capsys.readouterr()
    before = _snapshot(folder)
    rc = rubric_cli.main([a.format(t=folder) for a in argv])
    err = capsys.readouterr().err
    assert rc != 0, name
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"chase rubric {argv[0]}: error: ") or lines[0].startswith("chase rubric: "), err
    assert "Traceback" not in err
    assert _snapshot(folder) == before  # no output, no temp file, inputs and logs untouched
