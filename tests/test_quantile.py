import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards import QuantileMap, SpecError, parse_error

SPECS = [
    "identity",
    "reversed",
    "reverse:0.2:0.6",
    "noise:0.1:0.3",
    "tie:0.9:1",
    "sink:0.1",
    "top-wrong:0.25",
    "worst-wrong:0.5",
    "top-correct:0.3",
    "reverse:0:0.1+tie:0.9:1",
]


@pytest.mark.parametrize("spec", SPECS)
def test_h_is_mean_true_quantile_and_v_uniform(spec):
    m = QuantileMap.parse(spec)
    rng = np.random.default_rng(0)
    u = rng.uniform(size=200_000)
    v = m.f(u, noise=rng.uniform(size=u.shape))
    # v is uniform under the base policy (ties sit at their mid-rank, so the mean is still 1/2)
    assert abs(v.mean() - 0.5) < 5e-3
    # E[h(v)] = E[u] and, binned, h(v) ~ E[u | v]
    assert abs(m.h(v).mean() - u.mean()) < 5e-3
    bins = np.clip((v * 20).astype(int), 0, 19)
    for b in range(20):
        sel = bins == b
        if not sel.any():  # a tied band leaves the bins it spans empty, except the mid-rank's
            continue
        assert abs(u[sel].mean() - m.h(v[sel]).mean()) < 0.02


def test_rearrangement_inverse():
    m = QuantileMap.parse("sink:0.2")
    u = np.linspace(0.01, 0.99, 50)
    assert np.allclose(m.f_inv(m.f(u)), u)
    assert m.is_rearrangement and not QuantileMap.parse("tie:0.9:1").is_rearrangement
    assert np.isnan(QuantileMap.parse("tie:0.9:1").f_inv(np.array([0.95])))[0]


def test_shorthands():
    assert QuantileMap.parse("top-wrong:0.1").pieces == QuantileMap.parse("reverse:0.9:1").pieces
    assert QuantileMap.parse("worst-wrong:0.1").pieces == QuantileMap.parse("reverse:0:0.1").pieces
    assert QuantileMap.parse("top-correct:0.3").pieces == QuantileMap.parse("reverse:0:0.7").pieces
    u = np.linspace(0, 1, 101)
    assert np.allclose(QuantileMap.parse("reverse:0.4:0.4").h(u), u)  # zero-width band = identity


@pytest.mark.parametrize(
    "bad,needle",
    [
        ("revers:0:1", "'revers'"),
        ("reverse:0.5", "reverse:X:X"),
        ("reverse:a:1", "'a'"),
        ("reverse:0.6:0.2", "A <= B"),
        ("reverse:0:0.5+noise:0.4:1", "overlap"),
        ("sink:2", "'2'"),
        ("", "empty"),
        ("identity+reverse:0:1", "cannot be combined"),
    ],
)
def test_bad_specs_name_the_token(bad, needle):
    with pytest.raises(SpecError, match=None) as err:
        QuantileMap.parse(bad)
    assert needle in str(err.value)


def test_from_pieces_validation():
    with pytest.raises(SpecError, match="tile"):
        QuantileMap.from_pieces([(0, 0.5, 0, 0.5, "inc")])
    with pytest.raises(SpecError, match="widths"):
        QuantileMap.from_pieces([(0, 0.5, 0, 0.6, "inc"), (0.5, 1, 0.6, 1, "inc")])
    with pytest.raises(SpecError, match="kind"):
        QuantileMap.from_pieces([(0, 1, 0, 1, "wiggle")])


@given(st.permutations(list(range(6))))
def test_permutation_maps_preserve_mean(perm):
    m = QuantileMap.from_permutation(perm)
    v = np.linspace(0, 1, 6001)
    assert abs(np.trapezoid(m.h(v), v) - 0.5) < 1e-3


def test_error_models():
    rng = np.random.default_rng(1)
    g = parse_error("gauss:0.5")
    t = parse_error("t:2:1")
    assert g.sample(rng, (10,)).shape == (10,)
    assert t.kind == "t" and t.df == 2 and t.scale == 1
    with pytest.raises(SpecError, match="'x'"):
        parse_error("t:x:1")
    with pytest.raises(SpecError, match="expected"):
        parse_error("cauchy:1")


@pytest.mark.parametrize("spec,needle", [("gauss:-1", "scale"), ("t:0:1", "degrees of freedom"), ("t:2:y", "'y'")])
def test_bad_error_model_values_raise_spec_error(spec, needle):
    with pytest.raises(SpecError, match=needle):
        parse_error(spec)
