"""Rubric files: the paper's format and HealthBench JSONL, round trips, and errors that say where."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.formats import RubricRecord, load_rubrics, save_rubrics
from rewards.rubric import Criterion, Rubric, RubricFormatError, RubricValidationError

EXAMPLES = "examples/rubrics"


def test_example_files_load():
    paper = load_rubrics(f"{EXAMPLES}/triage_paper.json", "paper")
    assert len(paper) == 2 and paper[0].rubric.aggregate == "weighted_mean"
    assert paper[0].rubric.criteria[0].weight == 3.0 and paper[0].rubric.criteria[0].check is not None
    assert paper[1].rubric.criteria[-1].check is None
    hb = load_rubrics(f"{EXAMPLES}/healthbench_sample.jsonl", "healthbench")
    assert hb[0].rubric.aggregate == "healthbench"
    assert min(c.weight for c in hb[0].rubric.criteria) == -8.0
    assert hb[0].meta["extra"]["prompt_id"] == "hb-demo-1"
    assert hb[1].meta["prompt_messages"][1]["role"] == "assistant"
    assert hb[1].prompt.startswith("user: Can I give")
    assert hb[0].prompt.startswith("I'm 67")  # a single user message renders as its text


@pytest.mark.parametrize("name,fmt", [("triage_paper.json", "paper"), ("healthbench_sample.jsonl", "healthbench")])
def test_roundtrip_is_exact(tmp_path, name, fmt):
    recs = load_rubrics(f"{EXAMPLES}/{name}", fmt)
    out = tmp_path / ("out.jsonl" if fmt == "healthbench" else "out.json")
    save_rubrics(out, recs, fmt)
    again = load_rubrics(out, fmt)
    assert [(r.prompt, r.rubric, r.meta) for r in again] == [(r.prompt, r.rubric, r.meta) for r in recs]
    original = (
        [json.loads(x) for x in open(f"{EXAMPLES}/{name}")]
        if fmt == "healthbench"
        else json.load(open(f"{EXAMPLES}/{name}"))
    )
    written = [json.loads(x) for x in open(out)] if fmt == "healthbench" else json.load(open(out))
    assert written == original  # record-level fields and key values are preserved


def test_paper_jsonl_and_non_default_aggregate_roundtrip(tmp_path):
    recs = [RubricRecord("p", Rubric((Criterion("a", 1.5, tags=("x",)),), "fraction"))]
    save_rubrics(tmp_path / "r.jsonl", recs, "paper")
    assert json.loads((tmp_path / "r.jsonl").read_text())["aggregate"] == "fraction"
    assert load_rubrics(tmp_path / "r.jsonl", "paper")[0].rubric == recs[0].rubric
    with pytest.raises(RubricValidationError):
        save_rubrics(tmp_path / "e.json", [RubricRecord("p", Rubric(()))])


def _write(tmp_path, records, name="r.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in records))
    return p


GOOD = {"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1}]}


@pytest.mark.parametrize(
    "bad,field",
    [
        ({"rubrics": [{"criterion": "c", "weight": 1}]}, "prompt"),
        ({"prompt": 3, "rubrics": [{"criterion": "c", "weight": 1}]}, "prompt"),
        ({"prompt": [{"role": "user"}], "rubrics": [{"criterion": "c", "weight": 1}]}, "prompt"),
        ({"prompt": "p"}, "rubrics"),
        ({"prompt": "p", "rubrics": []}, "rubrics"),
        ({"prompt": "p", "rubrics": ["c"]}, "rubrics[0]"),
        ({"prompt": "p", "rubrics": [{"weight": 1}]}, "rubrics[0].criterion"),
        ({"prompt": "p", "rubrics": [{"criterion": "c"}]}, "rubrics[0].weight"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": "3"}]}, "rubrics[0].weight"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": True}]}, "rubrics[0].weight"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": 0}]}, "rubrics[0].weight"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1, "tags": "x"}]}, "rubrics[0].tags"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1, "check": [1]}]}, "rubrics[0].check"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1, "check": {"regex": "("}}]}, "rubrics[0].check"),
        ({"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1}], "aggregate": "median"}, "aggregate"),
    ],
)
def test_errors_name_file_record_and_field(tmp_path, bad, field):
    p = _write(tmp_path, [GOOD, GOOD, bad])
    with pytest.raises(RubricFormatError) as e:
        load_rubrics(p, "paper")
    assert e.value.path == str(p) and e.value.field == field
    assert str(p) in str(e.value) and "record 2" in str(e.value) and repr(field) in str(e.value)


def test_healthbench_needs_points_and_allows_negative(tmp_path):
    p = _write(tmp_path, [{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1}]}])
    with pytest.raises(RubricFormatError, match="points"):
        load_rubrics(p, "healthbench")
    p = _write(
        tmp_path,
        [
            {
                "prompt": "p",
                "rubrics": [{"criterion": "c", "points": -5, "tags": []}, {"criterion": "d", "points": 5, "tags": []}],
            }
        ],
    )
    assert load_rubrics(p, "healthbench")[0].rubric.weights.tolist() == [-5.0, 5.0]


def test_file_level_errors(tmp_path):
    with pytest.raises(RubricFormatError, match="cannot read"):
        load_rubrics(tmp_path / "missing.json")
    (tmp_path / "b.jsonl").write_bytes(b'{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1}]}\n{oops\n')
    with pytest.raises(RubricFormatError, match="line 2") as e:
        load_rubrics(tmp_path / "b.jsonl")
    assert e.value.record == 1
    (tmp_path / "e.json").write_text("")
    with pytest.raises(RubricFormatError, match="no records"):
        load_rubrics(tmp_path / "e.json")
    (tmp_path / "d.json").write_text('{"prompt": "p", "rubrics": 1}')
    with pytest.raises(RubricFormatError, match="record 0"):
        load_rubrics(tmp_path / "d.json")
    with pytest.raises(ValueError, match="format"):
        load_rubrics(tmp_path / "d.json", "yaml")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "prompt",
                    "rubrics",
                    "criterion",
                    "weight",
                    "points",
                    "tags",
                    "check",
                    "aggregate",
                    "x",
                    "any",
                    "regex",
                    "count",
                    "phrase",
                    "min",
                    "max_words",
                    "negate",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from(["paper", "healthbench"]))
def test_readers_raise_only_rubric_format_error_on_arbitrary_bytes(tmp_path, data, fmt):
    p = tmp_path / "x.jsonl"
    p.write_bytes(data)
    try:
        load_rubrics(p, fmt)
    except RubricFormatError:
        pass


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_values, max_size=3) | json_values, st.sampled_from(["paper", "healthbench"]), st.booleans())
def test_readers_raise_only_rubric_format_error_on_arbitrary_json(tmp_path, value, fmt, as_lines):
    p = tmp_path / "x.json"
    if as_lines and isinstance(value, list):
        p.write_text("".join(json.dumps(v) + "\n" for v in value))
    else:
        p.write_text(json.dumps(value))
    try:
        recs = load_rubrics(p, fmt)
    except RubricFormatError:
        return
    for r in recs:  # anything accepted is a usable rubric
        assert len(r.rubric) > 0 and isinstance(r.prompt, str)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.text(min_size=1).filter(str.strip), st.integers(1, 3), st.lists(st.text(max_size=5), max_size=2)),
        min_size=1,
        max_size=5,
    ),
    st.text(),
    st.sampled_from(["paper", "healthbench"]),
)
def test_roundtrip_property(tmp_path, crits, prompt, fmt):
    rec = RubricRecord(
        prompt,
        Rubric(
            tuple(Criterion(t, w, None, tuple(tags)) for t, w, tags in crits),
            "weighted_mean" if fmt == "paper" else "healthbench",
        ),
        {"extra": {}},
    )
    p = tmp_path / "r.jsonl"
    save_rubrics(p, [rec], fmt)
    (back,) = load_rubrics(p, fmt)
    assert back.rubric == rec.rubric and back.prompt == prompt


def test_huge_integers_are_format_errors(tmp_path):
    p = tmp_path / "h.json"
    p.write_text('[{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1' + "0" * 400 + "}]}]")
    with pytest.raises(RubricFormatError, match="rubrics"):
        load_rubrics(p)
    p.write_text(
        '[{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1, "check": {"min_words": 1' + "0" * 400 + "}}]}]"
    )
    with pytest.raises(RubricFormatError, match="check"):
        load_rubrics(p)
    p.write_text('[{"prompt": "p", "rubrics": [{"criterion": "c", "weight": 1' + "0" * 5000 + "}]}]")
    with pytest.raises(RubricFormatError, match="digits"):  # over Python's int-parsing limit
        load_rubrics(p)
