"""Property checks on every kind of mixture set, against independent references.

Every set kind (Simplex, BoxSimplex with finite and infinite bounds, Polytope, PriorBall l1/χ²/KL)
is drawn by hypothesis and checked for: projection optimality (variational inequality against an
LP or conic solve written in ``checks.py``) and idempotence, worst-case optimality, numpy =
torch, float32 against float64, batches = rows one by one, and the invariants every convex
subset of the simplex has (translation invariance, non-expansiveness, homogeneity, monotonicity
and convexity of the worst case). Closed-form equivalences between kinds, the helpers' own
failure modes, and regressions of fixed defects come last.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import BoxSimplex, Polytope, PriorBall, Simplex
from checks import (
    KINDS,
    assert_agree,
    assert_in_set,
    assert_projection_exact,
    assert_projection_optimal,
    assert_worst_case_optimal,
    is_conic,
    kind_of,
    linear_max,
    loss_vectors,
    mixture_sets,
    reference_projection,
)

EPS = np.finfo(np.float64).eps

# Every kind is exact at every magnitude, from 1e-300 to 1e300 (the property tests mix them
# within one vector). Agreement with a polytope's projection (a cvxpy solve polished on its
# active set) is asked to POLYTOPE_ATOL.
POLYTOPE_ATOL = 1e-4
DEFAULT = (1e-300, 1e-9, 1.0, 1e3, 1e8, 1e300)
# Invariants whose own arithmetic (norms, sums of two projections) would overflow at 1e300.
MODERATE = (1e-300, 1e-9, 1.0, 1e3, 1e8, 1e100)
FLOAT32 = (1e-30, 1e-9, 1.0, 1e3, 1e8, 1e30)  # the same span, within float32's range


def tol_for(s) -> float:
    """Accuracy asked of the library: conic references are good to ~1e-8, LPs to ~1e-10."""
    return 1e-6 if is_conic(s) else 1e-8


def round_off(s, *vectors) -> float:
    """Round-off floor of results computed from float64 vectors of these magnitudes."""
    scale = max(float(np.abs(np.asarray(v)).max()) for v in vectors)
    return 16 * s.p * EPS * max(1.0, scale)


@st.composite
def set_and_vectors(draw, count=1, kinds=KINDS, p=(1, 6), for_projection=True, mags=DEFAULT):
    """A set, then ``count`` vectors of its dimension mixing the magnitudes ``mags``."""
    dim = draw(st.integers(*p))
    sets = mixture_sets(dim, kinds)
    s = draw(sets)
    vectors = loss_vectors(dim, mags)
    return (s, *[draw(vectors) for _ in range(count)])


# --------------------------------------------------------------------------- optimality


@settings(max_examples=80, deadline=None)
@given(case=set_and_vectors())
def test_projection_satisfies_the_variational_inequality(case):
    s, v = case
    proj = s.project(v)
    assert isinstance(proj, np.ndarray) and proj.dtype == np.float64 and proj.shape == v.shape
    assert_projection_exact(s, v, proj, tol=tol_for(s))
    # Idempotent: a point of the set is its own projection.
    atol = POLYTOPE_ATOL if kind_of(s) == "polytope" else tol_for(s)
    assert_agree(
        s.project(proj),
        proj,
        rtol=0,
        atol=atol + round_off(s, v),
        what=f"projection of a projection, {kind_of(s)}",
    )


@settings(max_examples=80, deadline=None)
@given(case=set_and_vectors(for_projection=False))
def test_worst_case_is_the_independent_maximum(case):
    s, ell = case
    result = s.worst_case(ell)
    assert result.weights.dtype == np.float64 and isinstance(result.value, float)
    assert_worst_case_optimal(s, ell, result, tol=tol_for(s))


@settings(max_examples=25, deadline=None)
@given(case=set_and_vectors(kinds=KINDS, p=(2, 5)))
def test_projection_is_as_close_as_the_cvxpy_qp(case):
    s, v = case
    v = v / max(1.0, float(np.abs(v).max()))  # the QP reference is accurate at unit scale
    proj, ref = s.project(v), reference_projection(s, v)
    # The library's point is at least as close to v as cvxpy's, and both are the same point.
    # (cvxpy's conic answers may lie outside the ball by ~1e-7, hence the looser slack there.)
    slack = {"chi2": 1e-6, "kl": 1e-6, "polytope": 5e-4}.get(kind_of(s), 1e-9)
    assert np.sum((proj - v) ** 2) <= np.sum((ref - v) ** 2) + slack
    assert_agree(
        proj,
        ref,
        rtol=0,
        atol={"chi2": 2e-6, "kl": 2e-5, "polytope": POLYTOPE_ATOL}.get(kind_of(s), 1e-9),
        what=f"projection vs cvxpy QP, {kind_of(s)}",
    )


@settings(max_examples=30, deadline=None)
@given(case=set_and_vectors(count=2, p=(2, 6), mags=MODERATE))
def test_points_of_the_set_are_fixed_and_worst_cases_dominate_them(case):
    s, a, b = case
    inside = [s.uniform(), s.worst_case(a).weights, s.project(a), s.project(b)]
    inside.append(0.5 * (inside[1] + inside[3]))  # convex combination: still in Λ
    wc = s.worst_case(b)
    fixed_atol = POLYTOPE_ATOL if kind_of(s) == "polytope" else 1e-7
    for lam in inside:
        assert_in_set(s, lam, atol=1e-7)
        assert_agree(s.project(lam), lam, rtol=0, atol=fixed_atol, what=f"Π(λ) = λ, {kind_of(s)}")
        # No point of Λ beats the worst case.
        assert lam @ b <= wc.value + 1e-7 * max(1.0, float(np.abs(b).max()))


# --------------------------------------------------------------------------- implementations agree


@settings(max_examples=40, deadline=None)
@given(case=set_and_vectors(count=3))
def test_numpy_and_torch_agree(case):
    s, *rows = case
    v = np.stack(rows)
    out_np = s.project(v)
    out_t = s.project(torch.tensor(v, dtype=torch.float64))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float64
    assert_agree(
        out_t,
        out_np,
        rtol=0,
        atol=1e-12 + round_off(s, v),
        what=f"torch vs numpy projection, {kind_of(s)}",
    )
    ell = rows[0]
    by_torch, by_numpy = s.worst_case(torch.tensor(ell)), s.worst_case(ell)
    scale = max(1.0, float(np.abs(ell).max()))
    if kind_of(s) == "polytope":
        # Re-solving the LP from another warm start may pick another optimal vertex, and its
        # value moves within the solver's accuracy.
        assert by_torch.value == pytest.approx(by_numpy.value, abs=tol_for(s) * scale)
        assert_worst_case_optimal(s, ell, by_torch, tol=tol_for(s))
    else:
        assert by_torch.value == by_numpy.value
        assert_agree(by_torch.weights, by_numpy.weights, rtol=0, atol=0, what="worst case")


@settings(max_examples=40, deadline=None)
@given(case=set_and_vectors(count=2, p=(1, 8), mags=FLOAT32))
def test_float32_inputs_give_float32_projections_of_the_same_point(case):
    s, *rows = case
    v32 = np.stack(rows).astype(np.float32)
    ref = s.project(v32.astype(np.float64))  # the same input values, in float64
    out_np = s.project(v32)
    out_t = s.project(torch.tensor(v32))
    assert out_np.dtype == np.float32 and out_t.dtype == torch.float32
    for out, how in ((out_np, "numpy"), (out_t, "torch")):
        assert_agree(
            out,
            ref,
            rtol=0,
            # Polytope rows are QP solves warm-started from earlier ones: ~1e-6 apart.
            atol=2e-7 + round_off(s, ref) + 1e-9 + (1e-6 if kind_of(s) == "polytope" else 0),
            what=f"float32 vs float64 projection ({how}), {kind_of(s)}",
        )
        assert_in_set(s, out, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(case=set_and_vectors(count=6))
def test_batches_equal_rows_one_by_one(case):
    s, *rows = case
    v = np.stack(rows)
    batch = s.project(v)
    one_by_one = np.stack([s.project(row) for row in rows])
    assert_agree(
        batch,
        one_by_one,
        rtol=0,
        atol=1e-12 + round_off(s, v),
        what=f"batched vs row-by-row projection, {kind_of(s)}",
    )
    # Any leading shape (..., p) is the same computation.
    cube = s.project(v.reshape(2, 3, s.p))
    assert cube.shape == (2, 3, s.p)
    assert_agree(
        cube.reshape(6, s.p),
        batch,
        rtol=0,
        atol=1e-12 + round_off(s, v),
        what="(2, 3, p) vs (6, p) batch",
    )
    torch_cube = s.project(torch.tensor(v.reshape(3, 2, s.p)))
    assert_agree(
        torch_cube.reshape(6, s.p),
        batch,
        rtol=0,
        atol=1e-12 + round_off(s, v),
        what="torch (3, 2, p) vs numpy (6, p) batch",
    )
    assert_in_set(s, batch, atol=tol_for(s) + round_off(s, v))


# --------------------------------------------------------------------------- invariants


@settings(max_examples=30, deadline=None)
@given(case=set_and_vectors(count=2, mags=MODERATE), shift=st.floats(-1e3, 1e3))
def test_projection_ignores_shifts_along_the_ones_vector(case, shift):
    # Every Λ lies in the hyperplane Σλ = 1: Π(v + c·1) = Π(v).
    s, v, _ = case
    atol = POLYTOPE_ATOL if kind_of(s) == "polytope" else 1e-9
    assert_agree(
        s.project(v + shift),
        s.project(v),
        rtol=0,
        atol=atol + round_off(s, v, shift),
        what=f"Π(v + c·1) vs Π(v), {kind_of(s)}",
    )


@settings(max_examples=30, deadline=None)
@given(case=set_and_vectors(count=2, mags=MODERATE))
def test_projection_is_non_expansive(case):
    s, v, w = case
    gap = np.linalg.norm(s.project(v) - s.project(w))
    slack = 2 * POLYTOPE_ATOL if kind_of(s) == "polytope" else 1e-7
    assert gap <= np.linalg.norm(v - w) + slack + round_off(s, v, w)


@settings(max_examples=50, deadline=None)
@given(
    case=set_and_vectors(count=2, for_projection=False, p=(1, 6), mags=MODERATE),
    shift=st.floats(-1e3, 1e3),
    factor=st.floats(1e-3, 1e3),
)
def test_worst_case_value_is_a_support_function(case, shift, factor):
    # σ(ℓ) = max over Λ of ⟨λ, ℓ⟩: σ(ℓ + c·1) = σ(ℓ) + c, σ(kℓ) = k σ(ℓ) for k > 0,
    # monotone, convex, and between min ℓ and max ℓ.
    s, a, b = case
    a, b = a / max(1.0, float(np.abs(a).max())), b / max(1.0, float(np.abs(b).max()))
    value = s.worst_case(a).value
    tol = 1e-6 if is_conic(s) else 1e-9
    assert a.min() - tol <= value <= a.max() + tol
    assert s.worst_case(a + shift).value == pytest.approx(value + shift, abs=tol * (1 + abs(shift)))
    assert s.worst_case(factor * a).value == pytest.approx(factor * value, abs=tol * factor + 1e-12)
    assert s.worst_case(np.maximum(a, b)).value >= value - tol
    mid = s.worst_case(0.5 * (a + b)).value
    assert mid <= 0.5 * (value + s.worst_case(b).value) + tol


# --------------------------------------------------------------------------- equivalent sets


@settings(max_examples=25, deadline=None)
@given(p=st.integers(1, 7), data=st.data())
def test_sets_that_equal_the_simplex_behave_like_it(p, data):
    v = data.draw(loss_vectors(p))
    prior = np.arange(1.0, p + 1) / np.arange(1.0, p + 1).sum()
    simplex = Simplex(p)
    twins = {
        "box [0, 1]": BoxSimplex(np.zeros(p), np.ones(p)),
        "box [0, inf]": BoxSimplex(0.0, np.inf, p=p),
        "polytope 0·λ ≤ 1": Polytope(np.zeros((1, p)), [1.0]),
        "l1 ball of radius 2": PriorBall(prior, 2.0, "l1"),
        # The largest χ² and KL divergences from λ0 on the simplex: 1/min λ0 − 1, −log min λ0.
        "χ² ball": PriorBall(prior, 1.0 / prior.min() - 1.0 + 1e-9, "chi2"),
        "KL ball": PriorBall(prior, -np.log(prior.min()) + 1e-9, "kl"),
    }
    ell = v / max(1.0, float(np.abs(v).max()))
    for name, twin in twins.items():
        assert twin.worst_case(ell).value == pytest.approx(ell.max(), abs=1e-9), name
        if name != "polytope 0·λ ≤ 1" or np.abs(v).max() < 1e4:
            atol = POLYTOPE_ATOL if name.startswith("polytope") else 1e-8
            assert_agree(
                twin.project(v),
                simplex.project(v),
                rtol=0,
                atol=atol + round_off(simplex, v),
                what=f"{name} vs simplex",
            )


@settings(max_examples=12, deadline=None)
@given(p=st.integers(2, 4), data=st.data())
def test_l1_ball_equals_its_polytope_description(p, data):
    # {λ : Σ|λ − λ0| ≤ r} = {λ : Σ s_i (λ_i − λ0_i) ≤ r for every sign vector s}.
    ball = data.draw(mixture_sets(p, ("l1",)))
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=p)))
    poly = Polytope(signs, ball.radius + signs @ ball.prior)
    v = data.draw(loss_vectors(p, (1e-3, 1.0, 10.0)))
    assert_agree(
        ball.project(v), poly.project(v), rtol=0, atol=POLYTOPE_ATOL, what="l1 ball vs polytope"
    )
    assert ball.worst_case(v).value == pytest.approx(poly.worst_case(v).value, abs=1e-8)


def test_box_with_equal_bounds_is_a_single_point(rng):
    point = rng.dirichlet(np.ones(5))
    box = BoxSimplex(point, point)
    for v in (rng.normal(size=5), 1e6 * rng.normal(size=5), np.zeros(5)):
        assert_agree(box.project(v), point, rtol=0, atol=1e-9, what="single-point box")
        assert box.worst_case(v).value == pytest.approx(point @ v, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("divergence", ["l1", "chi2", "kl"])
def test_balls_grow_with_the_radius(rng, divergence):
    # A larger ball contains the smaller one: its worst case is at least as large.
    prior = rng.dirichlet(np.ones(6)) * 0.94 + 0.01
    ell = rng.normal(size=6)
    values = [
        PriorBall(prior, r, divergence).worst_case(ell).value
        for r in (0.0, 0.01, 0.1, 0.5, 1.0, 5.0)
    ]
    assert values[0] == pytest.approx(prior @ ell, abs=1e-12)
    assert np.all(np.diff(values) >= -1e-10), values
    assert values[-1] <= ell.max() + 1e-12


def test_chi2_small_radius_worst_case_has_its_closed_form(rng):
    # Without active non-negativity: σ(ℓ) = E_λ0 ℓ + sqrt(r · Var_λ0 ℓ).
    for _ in range(5):
        prior = rng.dirichlet(np.ones(5) * 5)
        ell = rng.normal(size=5)
        r = 1e-3
        mean = prior @ ell
        var = prior @ (ell - mean) ** 2
        assert PriorBall(prior, r, "chi2").worst_case(ell).value == pytest.approx(
            mean + np.sqrt(r * var), abs=1e-10
        )


def test_kl_worst_case_is_an_exponential_tilt(rng):
    # The maximizer is λ ∝ λ0 exp(β ℓ) with KL(λ ‖ λ0) = r (when the ball misses the top face).
    prior = rng.dirichlet(np.ones(4) * 3)
    ell = rng.normal(size=4)
    wc = PriorBall(prior, 0.05, "kl").worst_case(ell)
    log_ratio = np.log(wc.weights / prior)
    beta = np.polyfit(ell, log_ratio, 1)[0]
    assert_agree(
        log_ratio - beta * ell,
        np.full(4, (log_ratio - beta * ell).mean()),
        rtol=0,
        atol=1e-8,
        what="log(λ/λ0) − β ℓ is constant",
    )
    assert wc.weights @ np.log(wc.weights / prior) == pytest.approx(0.05, abs=1e-9)


# --------------------------------------------------------------------------- the helpers fail


def test_assert_in_set_rejects_each_kind_of_violation():
    box = BoxSimplex([0.1, 0.1, 0.1], [0.5, 0.5, 0.5])
    assert_in_set(box, np.array([0.4, 0.3, 0.3]))
    assert_in_set(box, torch.tensor([[0.4, 0.3, 0.3], [0.5, 0.4, 0.1]], dtype=torch.float64))
    for bad, message in [
        ([0.6, 0.3, 0.1], "contains"),
        ([0.4, 0.3, 0.2], "sums to 1"),
        ([np.nan, 0.5, 0.5], "not finite"),
        ([1.1, -0.05, -0.05], "negative"),
    ]:
        with pytest.raises(AssertionError, match=message):
            assert_in_set(box, np.array(bad))
    with pytest.raises(AssertionError, match="row 1 of 2"):
        assert_in_set(box, np.array([[0.4, 0.3, 0.3], [0.9, 0.05, 0.05]]))
    with pytest.raises(AssertionError, match="last axis 3"):
        assert_in_set(box, np.ones(4) / 4)


def test_assert_projection_optimal_rejects_a_feasible_but_wrong_point():
    ball = PriorBall([0.4, 0.3, 0.2, 0.1], 0.3, "l1")
    v = np.array([2.0, 0.0, 0.0, 0.0])
    assert_projection_optimal(ball, v, ball.project(v))
    with pytest.raises(AssertionError, match="not optimal"):
        assert_projection_optimal(ball, v, ball.prior)  # in the ball, but not the nearest point
    with pytest.raises(AssertionError, match="contains"):
        assert_projection_optimal(ball, v, np.array([1.0, 0.0, 0.0, 0.0]))  # nearer, outside


def test_assert_worst_case_optimal_rejects_wrong_values_and_weights():
    s = Simplex(3)
    ell = np.array([0.1, 0.7, 0.3])
    assert_worst_case_optimal(s, ell, s.worst_case(ell))
    with pytest.raises(AssertionError, match="independent maximum"):
        assert_worst_case_optimal(s, ell, (0.3, np.array([0.0, 0.0, 1.0])))
    with pytest.raises(AssertionError, match="<weights, ℓ>"):
        assert_worst_case_optimal(s, ell, (0.7, np.array([0.0, 0.0, 1.0])))


def test_assert_agree_names_what_and_the_largest_discrepancy():
    assert_agree(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), rtol=1e-8, what="x")
    with pytest.raises(AssertionError, match=r"x: shapes differ"):
        assert_agree(np.ones(3), np.ones(4), what="x")
    with pytest.raises(AssertionError, match=r"kernels: 1 of 3 .* 0\.5 at index \(2,\)"):
        assert_agree([1.0, 2.0, 3.5], [1.0, 2.0, 3.0], rtol=0, atol=1e-3, what="kernels")
    with pytest.raises(AssertionError, match="disagree"):
        assert_agree([np.nan], [1.0], rtol=1, atol=1, what="nan")


@pytest.mark.parametrize("kind", KINDS)
def test_linear_max_matches_brute_force_over_vertices_or_samples(rng, kind):
    # The reference itself against a crude inner bound: no sampled point of Λ beats it, and
    # some sampled point comes close.
    s = _fixed_sets(rng)[kind]
    ell = rng.normal(size=4)
    best = linear_max(s, ell)
    points = s.project(rng.normal(size=(120, 4)) * 3)
    attained = points @ ell
    assert attained.max() <= best + 1e-7
    assert attained.max() >= best - 0.2 * (ell.max() - ell.min())


def _fixed_sets(rng):
    return {
        "simplex": Simplex(4),
        "box": BoxSimplex([0.1, 0.0, 0.2, 0.0], [0.6, 0.5, np.inf, 0.3]),
        "polytope": Polytope([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], [0.1, 0.7]),
        "l1": PriorBall([0.4, 0.3, 0.2, 0.1], 0.4, "l1"),
        "chi2": PriorBall([0.4, 0.3, 0.2, 0.1], 0.3, "chi2"),
        "kl": PriorBall([0.4, 0.3, 0.2, 0.1], 0.2, "kl"),
    }


# --------------------------------------------------------------------------- regressions


def test_kl_ball_of_radius_zero_projects_onto_its_prior():
    ball = PriorBall([0.005, 0.005, 0.985, 0.005], 0.0, "kl")
    out = ball.project(np.array([0.0, 0.0, 0.0, 1.0]))
    assert_agree(out, ball.prior, rtol=0, atol=1e-12, what="projection onto {λ0}")


def test_polytope_projects_large_vectors():
    poly = Polytope([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]], [0.2])
    v = np.array([0.0, 0.0, 0.0, 0.0, -1e6, 0.0])
    assert_projection_optimal(poly, v, poly.project(v))


def test_chi2_worst_case_with_a_tiny_radius():
    ball = PriorBall([0.5, 0.5], 1e-16, "chi2")
    ell = np.array([0.0, 1.0])
    assert_worst_case_optimal(ball, ell, ball.worst_case(ell))


def test_chi2_worst_case_with_nearly_tied_top_losses():
    ball = PriorBall(np.full(6, 1 / 6), 1.0, "chi2")
    ell = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0 + 1e-9])
    assert_worst_case_optimal(ball, ell, ball.worst_case(ell), tol=1e-6)


def test_chi2_worst_case_of_two_nearly_equal_losses_is_finite():
    ball = PriorBall([0.5, 0.5], 0.5, "chi2")
    ell = np.array([0.5, 0.5 + 5e-10])
    assert_worst_case_optimal(ball, ell, ball.worst_case(ell), tol=1e-6)


def test_polytope_projection_fixes_its_own_degenerate_vertices():
    A = np.array(
        [[0.5, 2.0, 0.0, 1.0, 0.0], [0.0, 0.0, -1.5, 0.0, 0.0], [0.0, 1.0, 1.375, -0.5, 2.0]]
    )
    poly = Polytope(A, [1.5, 0.0, 1.125])
    once = poly.project(np.array([0.0, 0.0, -1000.0, 0.0, 1000.0]))
    assert_in_set(poly, once, atol=1e-9)
    assert_agree(poly.project(once), once, rtol=0, atol=1e-9, what="Π(Π(v)) vs Π(v)")


def test_polytope_equal_to_the_simplex_projects_onto_its_vertices_exactly():
    poly = Polytope(np.zeros((1, 4)), [1.0])
    v = np.array([0.0, -1000.0, 1.0, 0.0])
    assert_agree(poly.project(v), [0.0, 0.0, 1.0, 0.0], rtol=0, atol=1e-9, what="vertex")


def test_polytope_projection_ignores_a_common_shift():
    poly = Polytope(np.array([[-0.5, 0.0, 0.0, 0.0, 0.0, 0.0]]), [0.5])
    v = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    assert_agree(poly.project(v + 217.0), poly.project(v), rtol=0, atol=1e-9, what="shifted")


def test_kl_worst_case_of_subnormal_loss_gaps_is_silent():
    import warnings

    ball = PriorBall([0.005, 0.005, 0.005, 0.985], 1.0, "kl")
    ell = np.array([0.0, 0.0, -1e-9, -2.225074e-318])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ball.worst_case(ell)
    assert_worst_case_optimal(ball, ell, result, tol=1e-6)


def test_projection_onto_a_single_point_polytope_is_silent():
    import warnings

    prior = np.array([0.08576883, 0.38055845, 0.53367272])
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    poly = Polytope(signs, signs @ prior)  # the l1 ball of radius 0 around the prior
    for v in (
        [0.0013664634705496859, -0.0006651946734866135, 0.00035151007009301974],
        [6.564749350763358, -12.883614637495544, 3.9512206018200824],
        [-4.959107284421519, 3.2896962946020207, -2.58572545473924],
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = poly.project(np.array(v))
        assert_agree(out, prior, rtol=0, atol=1e-7, what="projection onto {λ0}")
