"""Rubric aggregation: the paper's weighted mean, HealthBench points, fraction, all-pass; UNKNOWN handling."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.rubric import (
    NO,
    UNKNOWN,
    YES,
    Criterion,
    Rubric,
    RubricValidationError,
    healthbench_dataset_score,
    n_unknown,
    rubric_diff,
    stable_hash,
    validate_rubric,
)


def rub(weights, aggregate="weighted_mean"):
    return Rubric(tuple(Criterion(f"criterion {i}", w) for i, w in enumerate(weights)), aggregate)


def test_weighted_mean_matches_hand_computation():
    r = rub([3, 1, 2])
    assert r.score(np.array([YES, NO, YES], np.int8)) == pytest.approx(5 / 6)
    assert r.score(np.array([NO, NO, NO], np.int8)) == 0.0
    assert r.weights.tolist() == [3.0, 1.0, 2.0]
    with pytest.raises(ValueError):
        r.weights[0] = 5  # read-only


def test_batched_shapes():
    r = rub([1, 2])
    v = np.array([[[YES, NO], [NO, YES]], [[YES, YES], [UNKNOWN, YES]]], np.int8)  # (2, 2, C)
    s = r.score(v)
    assert s.shape == (2, 2)
    np.testing.assert_allclose(s[0], [1 / 3, 2 / 3])
    assert s[1, 0] == 1.0 and math.isnan(s[1, 1])
    assert n_unknown(v).tolist() == [[0, 0], [0, 1]]


def test_unknown_is_nan_or_skipped_never_no():
    r = rub([1, 3])
    v = np.array([YES, UNKNOWN], np.int8)
    assert math.isnan(r.score(v))
    assert r.score(v, unknown="skip") == 1.0  # computed over the known verdict only; NO would give 0.25
    assert math.isnan(r.score(np.array([UNKNOWN, UNKNOWN], np.int8), unknown="skip"))
    for agg in ("healthbench", "fraction", "all_pass"):
        assert math.isnan(rub([1, 3], agg).score(v))
    with pytest.raises(ValueError):
        r.score(v, unknown="zero")


def test_healthbench_points_negative_and_below_zero():
    r = Rubric((Criterion("good", 10), Criterion("also good", 5), Criterion("harmful", -8)), "healthbench")
    assert r.score(np.array([YES, YES, NO], np.int8)) == 1.0
    assert r.score(np.array([YES, NO, YES], np.int8)) == pytest.approx((10 - 8) / 15)
    assert r.score(np.array([NO, NO, YES], np.int8)) == pytest.approx(-8 / 15)  # one example may go below 0
    # skip: the denominator only counts the KNOWN positive criteria
    assert r.score(np.array([YES, UNKNOWN, NO], np.int8), unknown="skip") == 1.0
    assert math.isnan(Rubric((Criterion("harm", -1),), "healthbench").score(np.array([NO], np.int8)))


def test_healthbench_dataset_score_clips_the_mean_only():
    assert healthbench_dataset_score([-0.5, -0.2]) == 0.0
    assert healthbench_dataset_score([1.0, 0.5, -0.3]) == pytest.approx(0.4)
    assert math.isnan(healthbench_dataset_score([0.5, float("nan")]))
    assert healthbench_dataset_score([0.5, float("nan")], unknown="skip") == 0.5
    assert math.isnan(healthbench_dataset_score([]))


def test_fraction_and_all_pass_count_penalties_by_sign():
    r = Rubric((Criterion("a", 2), Criterion("b", 1), Criterion("penalty", -3)), "fraction")
    assert r.score(np.array([YES, NO, NO], np.int8)) == pytest.approx(2 / 3)
    assert r.score(np.array([YES, YES, YES], np.int8)) == pytest.approx(2 / 3)
    ap = Rubric(r.criteria, "all_pass")
    assert ap.score(np.array([YES, YES, NO], np.int8)) == 1.0
    assert ap.score(np.array([YES, YES, YES], np.int8)) == 0.0
    assert ap.score(np.array([YES, UNKNOWN, NO], np.int8), unknown="skip") == 1.0


def test_bad_verdicts_and_weights_raise():
    r = rub([1, 2])
    with pytest.raises(ValueError, match="shape"):
        r.score(np.array([YES], np.int8))
    with pytest.raises(ValueError, match="YES=1"):
        r.score(np.array([2, 0], np.int8))
    with pytest.raises(ValueError, match="weights > 0"):
        rub([1, 0])
    with pytest.raises(ValueError):
        Criterion("x", float("nan"))
    with pytest.raises(ValueError):
        Criterion("  ", 1)
    with pytest.raises(ValueError):
        Criterion("x", True)
    assert math.isnan(Rubric(()).score(np.zeros((0,), np.int8)))


def test_validate_rubric_lists_every_problem():
    r = Rubric((Criterion("Mentions CT.", 1), Criterion("mentions  ct", 2), Criterion("x", 5)))
    with pytest.raises(RubricValidationError) as e:
        validate_rubric(r, (1, 3), max_criteria=2)
    msg = str(e.value)
    assert "duplicates criterion 0" in msg and "outside [1, 3]" in msg and "more than 2" in msg
    with pytest.raises(RubricValidationError, match="no criteria"):
        validate_rubric(Rubric(()))
    assert validate_rubric(rub([1, 3])) is not None


def test_hash_and_dict_roundtrip():
    r = Rubric((Criterion("a", 2, {"any": ["x"]}, ("t",)), Criterion("b", 1)))
    assert Rubric.from_dict(r.to_dict()) == r
    assert r.content_hash() == Rubric.from_dict(r.to_dict()).content_hash()
    assert r.content_hash() != Rubric(r.criteria[::-1]).content_hash()
    assert Criterion("a", 2) == Criterion("a", 2.0) and hash(Criterion("a", 2)) == hash(Criterion("a", 2.0))
    assert stable_hash((1, 0, 1)) == stable_hash([1, 0, 1]) == stable_hash(np.array([1, 0, 1]))
    d = rubric_diff(r, Rubric((Criterion("A", 3, {"any": ["x"]}, ("t",)), Criterion("c", 1))))
    assert d == {
        "added": ["c"],
        "removed": ["b"],
        "reweighted": [{"criterion": "A", "old": 2.0, "new": 3.0}],
        "rechecked": [],
    }


# ---------------------------------------------------------------------------------------------------- properties

weights_st = st.lists(st.integers(1, 3), min_size=1, max_size=12)


@st.composite
def rubric_and_verdicts(draw, aggregate="weighted_mean", allow_unknown=False):
    w = draw(weights_st)
    codes = [YES, NO, UNKNOWN] if allow_unknown else [YES, NO]
    v = draw(st.lists(st.sampled_from(codes), min_size=len(w), max_size=len(w)))
    return rub(w, aggregate), np.array(v, np.int8)


@settings(max_examples=80, deadline=None)
@given(
    rubric_and_verdicts(allow_unknown=True),
    st.sampled_from(["weighted_mean", "healthbench", "fraction", "all_pass"]),
    st.randoms(use_true_random=False),
    st.sampled_from(["nan", "skip"]),
)
def test_score_invariant_to_criterion_order(rv, agg, rnd, unknown):
    r, v = rv
    r = Rubric(r.criteria, agg)
    perm = list(range(len(r)))
    rnd.shuffle(perm)
    r2 = Rubric(tuple(r.criteria[i] for i in perm), agg)
    a, b = r.score(v, unknown=unknown), r2.score(v[perm], unknown=unknown)
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(rubric_and_verdicts(allow_unknown=True), st.floats(0.01, 100), st.sampled_from(["nan", "skip"]))
def test_weighted_mean_invariant_to_scaling_weights(rv, c, unknown):
    r, v = rv
    scaled = Rubric(tuple(Criterion(x.text, x.weight * c) for x in r.criteria))
    a, b = r.score(v, unknown=unknown), scaled.score(v, unknown=unknown)
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(rubric_and_verdicts(allow_unknown=True), st.data(), st.sampled_from(["nan", "skip"]))
def test_flipping_no_to_yes_never_lowers_weighted_mean(rv, data, unknown):
    r, v = rv
    no = np.flatnonzero(v == NO)
    if no.size == 0:
        return
    i = data.draw(st.sampled_from(no.tolist()))
    v2 = v.copy()
    v2[i] = YES
    a, b = r.score(v, unknown=unknown), r.score(v2, unknown=unknown)
    assert math.isnan(a) == math.isnan(b)
    if not math.isnan(a):
        assert b >= a - 1e-12 and b > a  # strictly higher: every weight is positive


@settings(max_examples=100, deadline=None)
@given(rubric_and_verdicts(allow_unknown=True))
def test_any_unknown_gives_nan_and_skip_equals_known_subrubric(rv):
    r, v = rv
    known = v != UNKNOWN
    if (~known).any():
        assert math.isnan(r.score(v))
    if known.any():
        sub = Rubric(tuple(c for c, k in zip(r.criteria, known, strict=True) if k))
        assert r.score(v, unknown="skip") == pytest.approx(sub.score(v[known]))
