"""Weight rules reproduce their peers' formulas and keep λ inside Λ."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import Simplex
from almo._validation import ALMOValueError, NonFiniteLossError
from almo.weights import (
    Averaged,
    BestResponse,
    ExponentiatedAscent,
    FixedWeights,
    ProjectedAscent,
)
from checks import poly_weights


def sort_projection(v):
    """Duchi et al. (2008) sort-based simplex projection, written independently here."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    rho = np.nonzero(u * np.arange(1, len(v) + 1) > (css - 1))[0][-1]
    theta = (css[rho] - 1) / (rho + 1.0)
    return np.maximum(v - theta, 0)


def loss_stream(rng, p, T, scale=1.0):
    return [scale * rng.standard_normal(p) ** 2 for _ in range(T)]


def test_projected_ascent_matches_afl_update(rng):
    p, T, lr = 7, 50, 0.3
    rule = ProjectedAscent(lr=lr)
    state = rule.init(Simplex(p))
    ref = np.full(p, 1.0 / p)
    for ell in loss_stream(rng, p, T):
        state = rule.update(state, ell)
        ref = sort_projection(ref + lr * ell)
        np.testing.assert_allclose(state.weights, ref, atol=1e-12, rtol=0)
    assert state.step == T


def test_projected_ascent_inv_sqrt_schedule(rng):
    p, lr = 4, 0.8
    rule = ProjectedAscent(lr=lr, schedule="inv_sqrt")
    state = rule.init(Simplex(p))
    ref = np.full(p, 0.25)
    for t, ell in enumerate(loss_stream(rng, p, 30), start=1):
        state = rule.update(state, ell)
        ref = sort_projection(ref + lr / np.sqrt(t) * ell)
        np.testing.assert_allclose(state.weights, ref, atol=1e-12, rtol=0)


def test_exponentiated_matches_group_dro(rng):
    """Group DRO: q_g <- q_g exp(eta * L_g), renormalize (Sagawa et al. 2020)."""
    p, eta = 5, 0.01
    rule = ExponentiatedAscent(lr=eta)
    state = rule.init(Simplex(p))
    q = np.ones(p) / p
    for ell in loss_stream(rng, p, 200, scale=3.0):
        state = rule.update(state, ell)
        q = q * np.exp(eta * ell)
        q = q / q.sum()
        np.testing.assert_allclose(state.weights, q, atol=1e-12, rtol=0)


def test_exponentiated_smoothing_matches_doremi(rng):
    """DoReMi: alpha' = alpha exp(eta * excess), renormalize, (1-c) alpha' + c/k."""
    p, eta, c = 6, 1.0, 1e-3
    rule = ExponentiatedAscent(lr=eta, smoothing=c)
    state = rule.init(Simplex(p))
    alpha = np.ones(p) / p
    for _ in range(100):
        excess = np.maximum(rng.standard_normal(p), 0.0)
        state = rule.update(state, excess)
        a = alpha * np.exp(eta * excess)
        alpha = (1 - c) * a / a.sum() + c / p
        np.testing.assert_allclose(state.weights, alpha, atol=1e-12, rtol=0)


def test_exponentiated_huge_losses_do_not_overflow():
    rule = ExponentiatedAscent(lr=1.0)
    state = rule.update(rule.init(Simplex(3)), np.array([1e6, 1e6 - 1, -1e6]))
    assert np.all(np.isfinite(state.weights))
    np.testing.assert_allclose(state.weights, [np.e / (np.e + 1), 1 / (np.e + 1), 0.0], atol=1e-12)


def test_best_response_and_fixed(rng):
    s = Simplex(4)
    ell = rng.standard_normal(4)
    state = BestResponse().update(BestResponse().init(s), ell)
    assert state.weights[np.argmax(ell)] == 1.0
    fixed = FixedWeights([0.1, 0.2, 0.3, 0.4])
    st_ = fixed.init(s)
    for e in loss_stream(rng, 4, 5):
        st_ = fixed.update(st_, e)
    np.testing.assert_array_equal(st_.weights, [0.1, 0.2, 0.3, 0.4])
    assert st_.step == 5


def test_averaged_is_running_mean(rng):
    p = 5
    rule = Averaged(ProjectedAscent(lr=0.2))
    state = rule.init(Simplex(p))
    iterates = [state.weights.copy()]
    for ell in loss_stream(rng, p, 40):
        state = rule.update(state, ell)
        iterates.append(state.weights.copy())
    np.testing.assert_allclose(state.average, np.mean(iterates, axis=0), atol=1e-12)
    assert Simplex(p).contains(state.average)


def test_torch_losses_accepted_and_pure(rng):
    rule = ProjectedAscent(lr=0.5)
    s0 = rule.init(Simplex(3))
    before = s0.weights.copy()
    s1 = rule.update(s0, torch.tensor([1.0, 2.0, 3.0], requires_grad=True))
    s2 = rule.update(s0, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(s0.weights, before)  # the old state is untouched
    np.testing.assert_allclose(s1.weights, s2.weights, atol=1e-7)


@pytest.mark.parametrize(
    "rule",
    [
        ProjectedAscent(0.1),
        ExponentiatedAscent(0.1, 0.01),
        BestResponse(),
        Averaged(ExponentiatedAscent(0.2)),
        FixedWeights([0.5, 0.25, 0.25]),
    ],
)
def test_state_round_trip(rule, rng):
    s = Simplex(3)
    state = rule.init(s)
    for ell in loss_stream(rng, 3, 7):
        state = rule.update(state, ell)
    arrays = state.to_arrays()
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    back = rule.restore(arrays, s)
    np.testing.assert_array_equal(back.weights, state.weights)
    assert back.step == state.step
    if hasattr(state, "average"):
        np.testing.assert_array_equal(back.average, state.average)
    ell = rng.standard_normal(3)
    np.testing.assert_array_equal(rule.update(back, ell).weights, rule.update(state, ell).weights)


finite = st.floats(min_value=-1e8, max_value=1e8, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(p=st.integers(1, 12), data=st.data())
def test_every_rule_stays_in_simplex(p, data):
    s = Simplex(p)
    rules = [
        ProjectedAscent(0.7),
        ProjectedAscent(3.0, "inv_sqrt"),
        ExponentiatedAscent(2.0),
        ExponentiatedAscent(0.5, 0.1),
        BestResponse(),
        Averaged(ProjectedAscent(1.0)),
    ]
    stream = data.draw(st.lists(st.lists(finite, min_size=p, max_size=p), min_size=1, max_size=8))
    for rule in rules:
        state = rule.init(s)
        for ell in stream:
            state = rule.update(state, np.array(ell))
            assert s.contains(state.weights, atol=1e-9), (rule, state.weights)
            if hasattr(state, "average"):
                assert s.contains(state.average, atol=1e-9)


def test_bad_input_messages():
    s = Simplex(3)
    rule = ProjectedAscent(0.1)
    state = rule.init(s)
    with pytest.raises(ALMOValueError, match=r"`losses` must be a vector of shape \(3,\)"):
        rule.update(state, [1.0, 2.0])
    with pytest.raises(NonFiniteLossError, match=r"objective 1"):
        rule.update(state, [1.0, np.nan, 0.0])
    with pytest.raises(ALMOValueError, match=r"`lr` must be finite and > 0.*found -1"):
        ProjectedAscent(lr=-1)
    with pytest.raises(ALMOValueError, match="schedule"):
        ProjectedAscent(lr=1, schedule="cosine")
    with pytest.raises(ALMOValueError, match="smoothing"):
        ExponentiatedAscent(lr=1, smoothing=1.5)
    with pytest.raises(ALMOValueError, match=r"`weights` must lie in the mixture set"):
        FixedWeights([0.7, 0.7, -0.4]).init(s)
    with pytest.raises(ALMOValueError, match=r"`weights` must have shape \(3,\)"):
        FixedWeights([0.5, 0.5]).init(s)
    with pytest.raises(ALMOValueError, match="mixture_set"):
        rule.init("simplex")
    assert state.step == 0 and np.allclose(state.weights, 1 / 3)


def test_repr():
    assert repr(ProjectedAscent(0.1)) == "ProjectedAscent(lr=0.1, schedule='constant')"
    assert repr(Averaged(BestResponse())) == "Averaged(rule=BestResponse(), power=0.0)"


def _sets():
    from almo import BoxSimplex, Polytope, PriorBall

    return [
        BoxSimplex([0.1, 0.0, 0.2, 0.05], [0.6, 0.5, 0.7, 0.4]),
        Polytope([[1.0, 1.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.0]], [0.7, 0.1]),
        PriorBall([0.4, 0.3, 0.2, 0.1], 0.3, divergence="l1"),
        PriorBall([0.4, 0.3, 0.2, 0.1], 0.05, divergence="kl"),
    ]


@settings(max_examples=12, deadline=None)
@given(
    stream=st.lists(
        st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=4, max_size=4),
        min_size=1,
        max_size=3,
    )
)
def test_every_rule_stays_in_smaller_sets(stream):
    rules = [
        ProjectedAscent(0.5),
        ExponentiatedAscent(1.0),
        ExponentiatedAscent(0.3, 0.01),
        BestResponse(),
        Averaged(ProjectedAscent(2.0, "inv_sqrt")),
    ]
    for s in _sets():
        for rule in rules:
            state = rule.init(s)
            assert s.contains(state.weights, atol=1e-7)
            for ell in stream:
                state = rule.update(state, np.array(ell))
                assert s.contains(state.weights, atol=1e-7), (s, rule, state.weights)
                if hasattr(state, "average"):
                    assert s.contains(state.average, atol=1e-7)


def test_exponentiated_on_box_projects_back():
    from almo import BoxSimplex

    box = BoxSimplex([0.2, 0.2, 0.2], [0.6, 0.6, 0.6])
    rule = ExponentiatedAscent(lr=10.0)
    state = rule.update(rule.init(box), np.array([1.0, 0.0, 0.0]))
    # exp step puts almost all mass on objective 0; the KL projection caps it at 0.6 and lifts
    # the others to their lower bound
    np.testing.assert_allclose(state.weights, [0.6, 0.2, 0.2], atol=1e-9)


def test_averaged_rejects_a_foreign_state():
    rule = Averaged(ProjectedAscent(0.1))
    plain = ProjectedAscent(0.1).init(Simplex(2))
    with pytest.raises(ALMOValueError, match=r"`state` must come from Averaged.init"):
        rule.update(plain, [1.0, 0.0])


def test_polynomial_averaging_with_power_one_weighs_iterate_s_by_s_plus_one():
    """Closed form: with η = 1 the rate 2/(t+2) gives weights ∝ (s + 1)."""
    rng = np.random.default_rng(3)
    rule = Averaged(ProjectedAscent(lr=0.3), power=1.0)
    state = rule.init(Simplex(3))
    iterates = [state.weights.copy()]
    for _ in range(25):
        state = rule.update(state, rng.normal(size=3))
        iterates.append(state.weights.copy())
    s = np.arange(len(iterates)) + 1.0
    expected = (s[:, None] * np.array(iterates)).sum(0) / s.sum()
    np.testing.assert_allclose(state.average, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(poly_weights(len(iterates), 1.0), s / s.sum(), atol=1e-15)
    assert Simplex(3).contains(state.average)


def test_power_zero_is_the_plain_mean_bitwise():
    rng = np.random.default_rng(4)
    plain, zero = Averaged(ProjectedAscent(lr=0.3)), Averaged(ProjectedAscent(lr=0.3), power=0)
    a, b = plain.init(Simplex(3)), zero.init(Simplex(3))
    for _ in range(10):
        v = rng.normal(size=3)
        a, b = plain.update(a, v), zero.update(b, v)
    np.testing.assert_array_equal(a.average, b.average)


@pytest.mark.parametrize("bad", [-0.5, float("inf"), "x"])
def test_averaged_refuses_a_bad_power(bad):
    with pytest.raises(ALMOValueError, match="power"):
        Averaged(ProjectedAscent(0.1), power=bad)
