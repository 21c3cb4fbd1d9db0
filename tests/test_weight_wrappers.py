"""The λ-state wrappers: EveryK (one step every k updates) and HoldAbsent (absent objectives
keep their last observed loss), checked against hand-written references on every set kind."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import Simplex
from almo._validation import ALMOValueError
from almo.weights import (
    Averaged,
    BestResponse,
    EveryK,
    EveryKState,
    ExponentiatedAscent,
    FixedWeights,
    HoldAbsent,
    HoldAbsentState,
    ProjectedAscent,
)
from checks import (
    assert_in_set,
    assert_rule_keeps_feasible,
    loss_vectors,
    mixture_sets,
    projectable,
)


def _hold_reference(means, present, last_seen):
    """The rule the trainer used before the wrappers existed (kept here as the reference)."""
    if present.all():
        last_seen[:] = means
        return means.copy()
    last_seen[present] = means[present]
    held = last_seen.copy()
    unseen = np.isnan(held)
    if unseen.any():
        held[unseen] = means[present].mean() if present.any() else 0.0
    return held


@settings(max_examples=25, deadline=None)
@given(st.data(), st.integers(2, 5), st.integers(1, 4))
def test_hold_absent_every_k_matches_the_hand_written_loop(data, p, k):
    ms = data.draw(mixture_sets(p).filter(projectable))
    rule = ProjectedAscent(lr=0.3, schedule="inv_sqrt")
    chain = HoldAbsent(EveryK(Averaged(rule), k) if k > 1 else Averaged(rule))
    state = chain.init(ms)
    ref_state, last_seen = Averaged(rule).init(ms), np.full(p, np.nan)
    acc, acc_n = np.zeros(p), 0
    for _ in range(data.draw(st.integers(1, 12))):
        means = np.array(data.draw(st.lists(st.floats(0, 5), min_size=p, max_size=p)))
        present = np.array(data.draw(st.lists(st.booleans(), min_size=p, max_size=p)))
        held = _hold_reference(means, present, last_seen)
        acc, acc_n = acc + held, acc_n + 1
        if acc_n == k:
            ref_state = Averaged(rule).update(ref_state, acc / acc_n)
            acc, acc_n = np.zeros(p), 0
        state = chain.update(state, means, present=present)
        np.testing.assert_allclose(state.held, held, rtol=0, atol=1e-12)
        np.testing.assert_allclose(state.weights, ref_state.weights, rtol=0, atol=1e-12)
        np.testing.assert_allclose(state.mean_weights, ref_state.average, rtol=0, atol=1e-12)
        assert_in_set(ms, state.weights)
        assert_in_set(ms, state.mean_weights)


def test_every_k_steps_on_the_mean_of_k_vectors():
    rule = EveryK(BestResponse(), k=3)
    s = rule.init(Simplex(3))
    for ell in ([3.0, 0.0, 0.0], [0.0, 2.0, 0.0]):
        s = rule.update(s, np.array(ell))
        assert s.weights.tolist() == pytest.approx([1 / 3] * 3) and s.inner.step == 0
    s = rule.update(s, np.array([0.0, 2.0, 0.5]))  # mean [1, 4/3, 1/6]
    assert s.weights.tolist() == [0.0, 1.0, 0.0] and s.inner.step == 1 and s.acc_n == 0
    assert s.step == 3


@pytest.mark.parametrize(
    "inner", [ProjectedAscent(0.2), ExponentiatedAscent(0.5, 1e-3), Averaged(ProjectedAscent(0.2))]
)
def test_wrapped_states_round_trip_through_arrays(inner, rng):
    ms = Simplex(4)
    rule = HoldAbsent(EveryK(inner, 2))
    s = rule.init(ms)
    for _ in range(5):
        s = rule.update(s, rng.random(4), present=rng.random(4) < 0.7)
    back = rule.restore(s.to_arrays(), ms)
    assert isinstance(back, HoldAbsentState) and isinstance(back.inner, EveryKState)
    np.testing.assert_array_equal(back.weights, s.weights)
    np.testing.assert_array_equal(back.last_seen, s.last_seen)
    np.testing.assert_array_equal(back.mean_weights, s.mean_weights)
    # and the two continue identically
    ell, mask = rng.random(4), np.array([True, False, True, True])
    np.testing.assert_array_equal(
        rule.update(back, ell, present=mask).weights, rule.update(s, ell, present=mask).weights
    )


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_wrappers_keep_lambda_feasible_on_every_set(data):
    p = data.draw(st.integers(2, 5))
    ms = data.draw(mixture_sets(p).filter(projectable))
    # magnitudes up to 1e3: the projections drift at 1e8 (the precision issue tracked apart)
    seq = data.draw(st.lists(loss_vectors(p, (1e-9, 1.0, 1e3)), min_size=1, max_size=6))
    for rule in (
        EveryK(ProjectedAscent(0.5), 2),
        HoldAbsent(ExponentiatedAscent(0.1)),
        HoldAbsent(EveryK(Averaged(BestResponse()), 3)),
    ):
        assert_rule_keeps_feasible(rule, ms, seq)


def test_updates_are_pure():
    rule = HoldAbsent(EveryK(ProjectedAscent(0.5), 2))
    s0 = rule.init(Simplex(3))
    s1 = rule.update(s0, np.array([1.0, 0.0, 0.0]), present=np.array([True, True, False]))
    assert np.isnan(s0.last_seen).all() and s0.inner.acc_n == 0
    again = rule.update(s0, np.array([1.0, 0.0, 0.0]), present=np.array([True, True, False]))
    np.testing.assert_array_equal(again.held, s1.held)


def test_plain_rules_accept_and_ignore_present():
    rule = FixedWeights([0.5, 0.5])
    s = rule.update(rule.init(Simplex(2)), np.array([1.0, 0.0]), present=np.array([True, False]))
    assert s.weights.tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: EveryK(ProjectedAscent(), 0), "`k` must be an integer >= 1"),
        (lambda: EveryK(ProjectedAscent(), 2.5), "`k` must be an integer >= 1"),
        (lambda: EveryK("rule", 2), "`rule` must be a WeightRule"),
        (lambda: HoldAbsent(None), "`rule` must be a WeightRule"),
    ],
)
def test_wrapper_construction_errors(build, match):
    with pytest.raises(ALMOValueError, match=match):
        build()


def test_wrapper_update_errors():
    rule = HoldAbsent(ProjectedAscent())
    s = rule.init(Simplex(3))
    with pytest.raises(ALMOValueError, match=r"`present` must be a bool mask of shape \(3,\)"):
        rule.update(s, np.zeros(3), present=np.array([1, 0, 1]))
    with pytest.raises(ALMOValueError, match="`state` must be a HoldAbsentState"):
        rule.update(ProjectedAscent().init(Simplex(3)), np.zeros(3))
    with pytest.raises(ALMOValueError, match="`state` must be a EveryKState"):
        EveryK(ProjectedAscent(), 2).update(s, np.zeros(3))
    with pytest.raises(ALMOValueError, match=r"`losses` must be a vector of shape \(3,\)"):
        rule.update(s, np.zeros(2))
    bad = dict(s.to_arrays())
    bad["last_seen"] = np.zeros(2)
    with pytest.raises(ALMOValueError, match="last_seen"):
        rule.restore(bad, Simplex(3))


def test_a_rule_with_its_own_update_works_inside_every_wrapper():
    """A user's rule may define ``update`` instead of ``_next``; the wrappers still call it."""
    from almo import Simplex
    from almo.weights import WeightRule, WeightState

    class Greedy(WeightRule):
        calls = 0

        def update(self, state, losses, *, present=None):
            type(self).calls += 1
            w = np.zeros(state.mixture_set.p)
            w[int(np.argmax(losses))] = 1.0
            return WeightState(w, state.step + 1, state.mixture_set)

    chain = HoldAbsent(EveryK(Averaged(Greedy()), 2))
    state = chain.init(Simplex(3))
    for ell in ([0.0, 1.0, 0.0], [0.0, 3.0, 0.0], [2.0, 0.0, 0.0], [5.0, 0.0, 0.0]):
        state = chain.update(state, np.array(ell))
    assert Greedy.calls == 2  # every second update, on the mean of two loss vectors
    np.testing.assert_array_equal(state.weights, [1.0, 0.0, 0.0])
    assert Simplex(3).contains(state.mean_weights)


def test_one_step_of_a_chain_checks_lambda_once(monkeypatch):
    import almo.weights as weights_module

    seen = []
    original = weights_module._check_weights

    def counting(*args, **kwargs):
        seen.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(weights_module, "_check_weights", counting)
    from almo import Simplex

    chain = HoldAbsent(EveryK(Averaged(ProjectedAscent(0.2)), 1))
    state = chain.init(Simplex(4))
    seen.clear()
    chain.update(state, np.array([1.0, 0.0, 0.5, 0.2]))
    assert seen == ["state.weights"]
