"""Every weight rule on every kind of mixture set: feasibility, reference recursions, state.

Rules: ProjectedAscent (constant and inv_sqrt steps), ExponentiatedAscent (with and without
smoothing), FixedWeights, BestResponse, and Averaged around each. Sets: every kind that
``checks.mixture_sets`` draws. References are independent: Π_Λ by cvxpy from the set's public
description, the Group DRO / DoReMi formulas in the log domain, worst cases by LP or conic solves,
and the running mean of the iterates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from almo import BoxSimplex, Polytope, PriorBall, Simplex
from almo._validation import ALMOValueError, NonFiniteLossError
from almo.weights import (
    Averaged,
    AveragedState,
    BestResponse,
    ExponentiatedAscent,
    FixedWeights,
    ProjectedAscent,
    WeightRule,
    WeightState,
)
from checks import (
    KINDS,
    assert_agree,
    assert_in_set,
    assert_rule_keeps_feasible,
    assert_worst_case_optimal,
    constraint_violation,
    is_conic,
    kind_of,
    loss_vectors,
    mixture_sets,
    projectable,
    reference_kl_projection,
    reference_projection,
)

EPS = np.finfo(np.float64).eps


def feasible_point(s) -> np.ndarray:
    """A point of the set other than its centre (a worst-case vertex or boundary point)."""
    return s.worst_case(np.arange(s.p, dtype=float)).weights


RULES = {
    "projected": lambda s: ProjectedAscent(0.5),
    "projected inv_sqrt": lambda s: ProjectedAscent(2.0, "inv_sqrt"),
    "exponentiated": lambda s: ExponentiatedAscent(0.7),
    "exponentiated smoothed": lambda s: ExponentiatedAscent(1.0, smoothing=0.05),
    "fixed": lambda s: FixedWeights(feasible_point(s)),
    "best response": lambda s: BestResponse(),
}
ALL_RULES = [*RULES, *(f"averaged {name}" for name in RULES)]


def make_rule(name: str, s) -> WeightRule:
    if name.startswith("averaged "):
        return Averaged(RULES[name.removeprefix("averaged ")](s))
    return RULES[name](s)


def reference_atol(s) -> float:
    """Agreement asked with the cvxpy projection: its χ² solve is good to ~1e-7, its KL solve to
    ~1e-5 on tiny balls; Polytope's own QP may stop ~3e-5 off at degenerate vertices (strict
    xfails in test_properties_sets.py)."""
    return {"chi2": 2e-6, "kl": 2e-5, "polytope": 1e-4}.get(kind_of(s), 1e-9)


def largest_step(rule: WeightRule) -> float:
    inner = rule.rule if isinstance(rule, Averaged) else rule
    return float(getattr(inner, "lr", 1.0))


# Every set projects exactly at every magnitude (test_properties_sets.py): rules are exercised
# on losses from 1e-300 to 1e300, mixed within a vector.
MAGNITUDES: dict[str, tuple[float, ...]] = {}
DEFAULT = (1e-300, 1e-9, 1.0, 1e3, 1e8, 1e300)


@st.composite
def set_and_stream(draw, kinds=KINDS, p=(1, 6), steps=(1, 6), magnitudes=None):
    dim = draw(st.integers(*p))
    s = draw(mixture_sets(dim, kinds).filter(projectable))
    mags = magnitudes or MAGNITUDES.get(kind_of(s), DEFAULT)
    vectors = loss_vectors(dim, mags)
    stream = draw(st.lists(vectors, min_size=steps[0], max_size=steps[1]))
    return s, stream


def near_tie(ell) -> bool:
    """Whether the two largest distinct losses differ by less than 1e-6 of their size."""
    top = np.unique(ell)[-2:]
    return top.size == 2 and top[1] - top[0] < 1e-6 * max(1.0, float(np.abs(top).max()))


def feasibility_atol(s, rule, stream) -> float:
    """1e-9 plus the round-off of projecting vectors of size lr·‖ℓ‖."""
    scale = max([1.0] + [largest_step(rule) * float(np.abs(ell).max()) for ell in stream])
    return 1e-9 + 16 * s.p * EPS * scale


# --------------------------------------------------------------------------- feasibility


@settings(max_examples=80, deadline=None)
@given(case=set_and_stream(), name=st.sampled_from(ALL_RULES))
def test_every_rule_keeps_every_iterate_in_every_set(case, name):
    s, stream = case
    rule = make_rule(name, s)
    state, iterates = assert_rule_keeps_feasible(rule, s, stream, feasibility_atol(s, rule, stream))
    assert len(iterates) == len(stream) + 1 and state.step == len(stream)


@settings(max_examples=25, deadline=None)
@given(case=set_and_stream(steps=(1, 8)), inner=st.sampled_from(list(RULES)))
def test_averaged_keeps_the_inner_trajectory_and_the_mean_of_its_iterates(case, inner):
    s, stream = case
    plain = RULES[inner](s)
    averaged = Averaged(plain)
    atol = feasibility_atol(s, plain, stream)
    _, iterates = assert_rule_keeps_feasible(plain, s, stream, atol)
    state, wrapped = assert_rule_keeps_feasible(averaged, s, stream, atol)
    # Wrapping does not change the iterates (up to the round-off of re-solving a Polytope's
    # LP or QP from another warm start), and the average is their plain mean.
    if inner == "best response" and kind_of(s) == "polytope":
        # Ties: the LP may return another optimal vertex; both attain the same values.
        for lam_a, lam_b, ell in zip(wrapped[1:], iterates[1:], stream, strict=True):
            assert lam_a @ ell == pytest.approx(lam_b @ ell, abs=1e-8)
    else:
        exact = kind_of(s) != "polytope"
        assert_agree(
            np.array(wrapped),
            np.array(iterates),
            rtol=0,
            atol=0 if exact else 1e-9,
            what="Averaged iterates",
        )
    assert isinstance(state, AveragedState)
    assert_agree(
        state.average,
        np.mean(wrapped, axis=0),
        rtol=0,
        atol=1e-12,
        what=f"running average vs mean of iterates, {inner}",
    )


# --------------------------------------------------------------------------- reference recursions


@settings(max_examples=30, deadline=None)
@given(
    case=set_and_stream(p=(2, 5), steps=(1, 5), magnitudes=(1e-3, 1.0, 5.0)),
    schedule=st.sampled_from(["constant", "inv_sqrt"]),
    lr=st.sampled_from([0.05, 0.5, 3.0]),
)
def test_projected_ascent_is_the_projection_of_the_ascent_step(case, schedule, lr):
    # λ_t = Π_Λ(λ_{t−1} + γ_t ℓ_t) with γ_t = lr or lr/√t, Π_Λ solved by cvxpy.
    s, stream = case
    rule = ProjectedAscent(lr, schedule)
    state = rule.init(s)
    atol = reference_atol(s)
    for t, ell in enumerate(stream, start=1):
        gamma = lr if schedule == "constant" else lr / np.sqrt(t)
        assert rule.step_size(t) == pytest.approx(gamma, rel=1e-15)
        expected = reference_projection(s, state.weights + gamma * ell)
        state = rule.update(state, ell)
        assert_agree(
            state.weights,
            expected,
            rtol=0,
            atol=atol,
            what=f"ProjectedAscent({lr}, {schedule}) step {t} on {kind_of(s)}",
        )


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 8),
    data=st.data(),
    lr=st.sampled_from([1e-3, 0.01, 1.0, 5.0]),
    smoothing=st.sampled_from([0.0, 1e-3, 0.3]),
)
def test_exponentiated_ascent_on_the_simplex_is_the_group_dro_formula(p, data, lr, smoothing):
    # q ← q·exp(η ℓ)/Z, then (1 − c) q + c/p: written in the log domain (scipy's softmax), so
    # huge losses cannot overflow the reference either.
    stream = data.draw(st.lists(loss_vectors(p), min_size=1, max_size=8))
    rule = ExponentiatedAscent(lr, smoothing)
    state = rule.init(Simplex(p))
    q = np.full(p, 1.0 / p)
    for t, ell in enumerate(stream, start=1):
        with np.errstate(divide="ignore"):
            q = softmax(np.log(q) + lr * ell)
        q = (1 - smoothing) * q + smoothing / p
        state = rule.update(state, ell)
        assert_agree(
            state.weights,
            q,
            rtol=1e-9,
            atol=1e-15,
            what=f"ExponentiatedAscent({lr}, {smoothing}) step {t}",
        )


@settings(max_examples=30, deadline=None)
@given(
    case=set_and_stream(kinds=KINDS[1:], p=(2, 5), steps=(1, 4), magnitudes=(1e-3, 1.0, 5.0)),
    smoothing=st.sampled_from([0.0, 0.05]),
)
def test_exponentiated_ascent_on_smaller_sets_projects_only_when_it_leaves(case, smoothing):
    # The exponentiated step q' is kept when it lies in Λ, else replaced by its KL projection.
    s, stream = case
    lr = 0.8
    rule = ExponentiatedAscent(lr, smoothing)
    state = rule.init(s)
    for t, ell in enumerate(stream, start=1):
        with np.errstate(divide="ignore"):
            step = softmax(np.log(state.weights) + lr * ell)
        step = (1 - smoothing) * step + smoothing / s.p
        state = rule.update(state, ell)
        violation = constraint_violation(s, step)
        if violation <= -1e-9:  # clearly inside: the peer's formula, untouched
            assert_agree(
                state.weights,
                step,
                rtol=1e-12,
                atol=1e-15,
                what=f"exponentiated step kept, step {t} on {kind_of(s)}",
            )
        elif violation > 1e-9:  # clearly outside: the KL (Bregman) projection of the step
            reference = reference_kl_projection(s, step)
            if reference is not None:
                assert_agree(
                    state.weights,
                    reference,
                    rtol=0,
                    atol=max(reference_atol(s), 2e-5),
                    what=f"exponentiated step KL-projected, step {t} on {kind_of(s)}",
                )


@settings(max_examples=50, deadline=None)
@given(case=set_and_stream(steps=(1, 4)))
def test_best_response_plays_an_exact_worst_case(case):
    s, stream = case
    rule = BestResponse()
    state = rule.init(s)
    for ell in stream:
        state = rule.update(state, ell)
        attained = float(state.weights @ ell)
        assert_worst_case_optimal(
            s, ell, (attained, state.weights), tol=1e-6 if is_conic(s) else 1e-8
        )


@settings(max_examples=30, deadline=None)
@given(case=set_and_stream(steps=(1, 6)))
def test_fixed_weights_never_move(case):
    s, stream = case
    point = feasible_point(s)
    _state, iterates = assert_rule_keeps_feasible(FixedWeights(point), s, stream)
    assert all(np.array_equal(w, point) for w in iterates)


# --------------------------------------------------------------------------- game properties


@settings(max_examples=25, deadline=None)
@given(
    case=set_and_stream(steps=(1, 1), magnitudes=(0.1, 1.0, 10.0)),
    schedule=st.sampled_from(["constant", "inv_sqrt"]),
)
def test_projected_ascent_never_lowers_a_constant_loss(case, schedule):
    # Against a fixed ℓ, projected ascent is monotone: ⟨ℓ, Π(λ + γℓ) − λ⟩ ≥ ‖Π(λ + γℓ) − λ‖²/γ.
    s, (ell,) = case
    rule = ProjectedAscent(0.3, schedule)
    state = rule.init(s)
    values = [state.weights @ ell]
    for _ in range(15):
        state = rule.update(state, ell)
        values.append(state.weights @ ell)
    scale = max(1.0, float(np.abs(ell).max()))
    tol = (1e-4 if kind_of(s) == "polytope" else 1e-9) * scale
    assert np.all(np.diff(values) >= -tol), values
    assert values[-1] <= s.worst_case(ell).value + tol


@pytest.mark.parametrize("kind", KINDS)
def test_projected_ascent_converges_to_the_worst_case_of_a_constant_loss(rng, kind):
    # Against a fixed ℓ the maximizer λ* is a fixed point (ℓ lies in Λ's normal cone there),
    # and the iterates reach it: ⟨λ_t, ℓ⟩ → σ_Λ(ℓ).
    s = _fixed_sets()[kind]
    ell = rng.normal(size=4)
    rule = ProjectedAscent(1.0)
    state = rule.init(s)
    for _ in range(40):
        state = rule.update(state, ell)
    gap = s.worst_case(ell).value - state.weights @ ell
    assert -1e-9 <= gap <= 1e-6 * (ell.max() - ell.min())


def test_exponentiated_ascent_converges_to_the_best_vertex_of_the_simplex():
    # On Δ_p, λ_t ∝ λ_0 exp(η t ℓ): the gap to max ℓ decays like exp(−η t · (gap to 2nd best)).
    ell = np.array([0.3, -1.0, 0.9, 0.5])
    rule = ExponentiatedAscent(2.0)
    state = rule.init(Simplex(4))
    for t in range(1, 31):
        state = rule.update(state, ell)
        q = np.exp(2.0 * t * ell)
        assert_agree(state.weights, q / q.sum(), rtol=1e-12, atol=1e-300, what=f"λ_{t}")
    assert 0.0 <= ell.max() - state.weights @ ell <= 1e-9


def test_exponentiated_ascent_converges_to_the_worst_case_on_a_box():
    """With the KL map-back the rule is mirror ascent on Λ: against a constant loss it reaches
    the worst case (a Euclidean map-back stalled 0.05 short on this box)."""
    s = _fixed_sets()["box"]
    ell = np.array([-1.42382504, 1.26372846, -0.87066174, -0.25917323])
    rule = ExponentiatedAscent(2.0)
    state = rule.init(s)
    for _ in range(300):
        state = rule.update(state, ell)
    assert s.worst_case(ell).value - state.weights @ ell <= 1e-3


@settings(max_examples=40, deadline=None)
@given(
    case=set_and_stream(steps=(1, 4), magnitudes=(1e-3, 1.0, 10.0)),
    name=st.sampled_from(
        [
            "projected",
            "projected inv_sqrt",
            "exponentiated",
            "exponentiated smoothed",
            "best response",
        ]
    ),
    shift=st.floats(-100.0, 100.0),
)
def test_rules_ignore_a_common_shift_of_the_losses(case, name, shift):
    # Σλ = 1 on every Λ: adding c·1 to ℓ changes no update (projection, softmax and argmax
    # are all invariant to it).
    s, stream = case
    rule = make_rule(name, s)
    a, b = rule.init(s), rule.init(s)
    for t, ell in enumerate(stream, start=1):
        a, b = rule.update(a, ell), rule.update(b, ell + shift)
        if name == "best response":
            # Any maximizer may be returned, and the shift may round near ties into ties:
            # compare the values attained instead.
            scale = max(1.0, float(np.abs(ell).max()))
            assert a.weights @ ell == pytest.approx(b.weights @ ell, abs=1e-7 * scale)
            continue
        atol = 1e-6 if kind_of(s) in ("polytope", "chi2", "kl") else 1e-9
        if name.startswith("exponentiated") and kind_of(s) not in ("simplex", "box"):
            atol = 2e-5  # the KL map-back is an exponential-cone solve, good to ~1e-5
        assert_agree(
            b.weights,
            a.weights,
            rtol=0,
            atol=atol,
            what=f"{name} with ℓ + {shift:g} vs ℓ, step {t} on {kind_of(s)}",
        )


@pytest.mark.parametrize("name", ALL_RULES)
def test_torch_losses_give_the_numpy_update(rng, name):
    s = _fixed_sets()["box"]
    rule = make_rule(name, s)
    ell = rng.normal(size=4)
    by_numpy = rule.update(rule.init(s), ell)
    by_torch = rule.update(rule.init(s), torch.tensor(ell, requires_grad=True))
    assert_agree(by_torch.weights, by_numpy.weights, rtol=0, atol=0, what=f"{name}, torch ℓ")


# --------------------------------------------------------------------------- state


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ALL_RULES)
def test_restore_round_trips_every_state(rng, kind, name):
    s = _fixed_sets()[kind]
    rule = make_rule(name, s)
    state = rule.init(s)
    for _ in range(3):
        state = rule.update(state, rng.normal(size=s.p))
    arrays = state.to_arrays()
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    back = rule.restore({k: v.copy() for k, v in arrays.items()}, s)
    assert type(back) is type(state) and back.step == state.step
    assert_agree(back.weights, state.weights, rtol=0, atol=0, what="restored weights")
    if isinstance(state, AveragedState):
        assert_agree(back.average, state.average, rtol=0, atol=0, what="restored average")
        assert back.inner is not None and back.inner.step == state.step
    ell = rng.normal(size=s.p)
    assert_agree(
        rule.update(back, ell).weights,
        rule.update(state, ell).weights,
        rtol=0,
        atol=0,
        what="update after restore",
    )


def test_restore_rejects_weights_outside_the_set():
    box = BoxSimplex([0.3, 0.3, 0.0], [0.5, 0.5, 0.4])
    for rule in (ProjectedAscent(0.1), Averaged(ProjectedAscent(0.1))):
        arrays = rule.update(rule.init(Simplex(3)), np.array([5.0, 0.0, 0.0])).to_arrays()
        with pytest.raises(ALMOValueError, match=r"arrays\['weights'\].*must lie in"):
            rule.restore(arrays, box)
    arrays = Averaged(BestResponse()).init(box).to_arrays()
    arrays["average"] = np.array([0.9, 0.05, 0.05])
    with pytest.raises(ALMOValueError, match=r"arrays\['average'\]"):
        Averaged(BestResponse()).restore(arrays, box)


@pytest.mark.parametrize("kind", KINDS)
def test_fixed_weights_outside_the_set_are_rejected_at_init(kind):
    s = _fixed_sets()[kind]
    outside = np.array([0.0, 0.0, 0.0, 1.0])  # a vertex none of the smaller sets contains
    if kind == "simplex":
        outside = np.array([0.7, 0.7, -0.4, 0.0])
    assert not s.contains(outside)
    with pytest.raises(ALMOValueError, match=r"`weights` must lie in the mixture set"):
        FixedWeights(outside).init(s)


@pytest.mark.parametrize("name", ALL_RULES)
def test_bad_losses_are_refused_with_the_objective_named(name):
    s = _fixed_sets()["l1"]
    rule = make_rule(name, s)
    state = rule.init(s)
    with pytest.raises(NonFiniteLossError, match="objective 2"):
        rule.update(state, np.array([0.1, 0.2, np.inf, 0.3]))
    with pytest.raises(ALMOValueError, match=r"`losses` must be a vector of shape \(4,\)"):
        rule.update(state, np.ones(3))
    assert state.step == 0 and s.contains(state.weights)  # the refused update left no trace


def _fixed_sets():
    return {
        "simplex": Simplex(4),
        "box": BoxSimplex([0.1, 0.0, 0.2, 0.0], [0.6, 0.5, np.inf, 0.3]),
        "polytope": Polytope([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], [0.1, 0.7]),
        "l1": PriorBall([0.4, 0.3, 0.2, 0.1], 0.4, "l1"),
        "chi2": PriorBall([0.4, 0.3, 0.2, 0.1], 0.3, "chi2"),
        "kl": PriorBall([0.4, 0.3, 0.2, 0.1], 0.2, "kl"),
    }


# --------------------------------------------------------------------------- the helper fails


class _Escaping(WeightRule):
    """Steps to the first vertex, whatever the set."""

    def _next(self, state, losses):
        out = np.zeros(state.mixture_set.p)
        out[0] = 1.0
        return out


class _Stuck(WeightRule):
    """Forgets to count its steps."""

    def update(self, state, losses):
        return WeightState(state.weights, state.step, state.mixture_set)


class _Mutating(WeightRule):
    """Writes the new λ into the old state's array."""

    def update(self, state, losses):
        state.weights[:] = state.mixture_set.project(state.weights + np.asarray(losses))
        return WeightState(state.weights, state.step + 1, state.mixture_set)


def test_assert_rule_keeps_feasible_catches_broken_rules():
    box = BoxSimplex([0.2, 0.2, 0.2], [0.6, 0.6, 0.6])
    stream = [np.array([1.0, 0.0, 0.0])] * 2
    assert_rule_keeps_feasible(ProjectedAscent(0.5), box, stream)
    with pytest.raises(AssertionError, match=r"_Escaping\(\) on BoxSimplex.*step 1.*contains"):
        assert_rule_keeps_feasible(_Escaping(), box, stream)
    with pytest.raises(AssertionError, match=r"state.step is 0, expected 1"):
        assert_rule_keeps_feasible(_Stuck(), box, stream)
    with pytest.raises(AssertionError, match="mutated the previous state"):
        assert_rule_keeps_feasible(_Mutating(), box, stream)
    assert_in_set(box, box.uniform())
