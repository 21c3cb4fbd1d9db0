"""Mixture sets: worst cases against LPs/conic programs, projections against QPs and the
variational inequality, contains/uniform, numpy/torch/dtype/batch handling, and bad input."""

import warnings

import cvxpy as cp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from almo._validation import ALMOValueError, NonFiniteLossError
from almo.mixtures import BoxSimplex, MixtureSet, Polytope, PriorBall, Simplex, WorstCase
from checks import reference_kl_projection

TIGHT = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}


def solve_reference(problem):
    # Against tolerances this tight Clarabel sometimes stops at "almost solved" (still ~1e-9);
    # cvxpy then warns, which pytest would turn into an error.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        problem.solve(solver=cp.CLARABEL, **TIGHT)
    return problem.value


def make_sets(rng, p):
    lower = rng.uniform(0, 0.5 / p, p)
    upper = lower + rng.uniform(0.05, 2.0 / p, p)
    upper *= max(1.0, 1.05 / upper.sum())
    A = rng.normal(size=(3, p))
    b = A @ rng.dirichlet(np.ones(p)) + rng.uniform(0.01, 0.2, 3)  # contains a known point
    prior = rng.dirichlet(np.ones(p) * 2)
    return {
        "simplex": Simplex(p),
        "box": BoxSimplex(lower, upper),
        "polytope": Polytope(A, b),
        "l1": PriorBall(prior, rng.uniform(0.05, 0.8), "l1"),
        "chi2": PriorBall(prior, rng.uniform(0.05, 0.8), "chi2"),
        "kl": PriorBall(prior, rng.uniform(0.02, 0.4), "kl"),
    }


def cvxpy_set(s, x):
    """The constraints of set `s` on variable `x`, written independently of the library."""
    cons = [x >= 0, cp.sum(x) == 1]
    if isinstance(s, BoxSimplex):
        cons += [x >= s.lower, x <= s.upper]
    elif isinstance(s, Polytope):
        cons += [s.A @ x <= s.b]
    elif isinstance(s, PriorBall):
        d = {
            "l1": cp.norm1(x - s.prior),
            "chi2": cp.sum(cp.multiply(1 / s.prior, cp.square(x - s.prior))),
            "kl": cp.sum(cp.rel_entr(x, s.prior)),
        }[s.divergence]
        cons += [d <= s.radius]
    return cons


def exact_lp_max(s, g):
    """max over the set of <λ, g> with HiGHS (a simplex method) for polyhedral sets."""
    p = s.p
    A_ub, b_ub, bounds = None, None, [(0, None)] * p
    if isinstance(s, BoxSimplex):
        bounds = list(zip(s.lower, s.upper, strict=True))
    if isinstance(s, Polytope):
        A_ub, b_ub = s.A, s.b
    if isinstance(s, PriorBall):  # l1 ball: λ = λ0 + d⁺ - d⁻
        c = np.concatenate([-g, g])
        res = linprog(
            c,
            A_ub=np.ones((1, 2 * p)),
            b_ub=[s.radius],
            A_eq=np.concatenate([np.ones((1, p)), -np.ones((1, p))], 1),
            b_eq=[0],
            bounds=[(0, None)] * p + [(0, w) for w in s.prior],
            method="highs",
        )
        assert res.status == 0
        return float(g @ s.prior - res.fun)
    res = linprog(
        -g,
        A_ub=A_ub,
        b_ub=b_ub,
        A_eq=np.ones((1, p)),
        b_eq=[1],
        bounds=bounds,
        method="highs",
        options={"primal_feasibility_tolerance": 1e-10},
    )
    assert res.status == 0
    return float(-res.fun)


NAMES = ["simplex", "box", "polytope", "l1", "chi2", "kl"]


@pytest.mark.parametrize("name", NAMES)
def test_worst_case_is_the_exact_max(rng, name):
    for trial in range(4):
        s = make_sets(np.random.default_rng(trial), 7)[name]
        ell = rng.normal(size=7)
        wc = s.worst_case(ell)
        assert isinstance(wc, WorstCase) and wc.weights.dtype == np.float64
        assert s.contains(wc.weights) and abs(wc.value - wc.weights @ ell) < 1e-12
        if name in ("chi2", "kl"):  # conic reference: cvxpy is good to ~1e-8 here
            x = cp.Variable(7)
            ref = cp.Problem(cp.Maximize(ell @ x), cvxpy_set(s, x))
            assert wc.value == pytest.approx(solve_reference(ref), abs=1e-6)
        else:
            assert wc.value == pytest.approx(exact_lp_max(s, ell), abs=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_projection_is_the_qp_solution(rng, name):
    s = make_sets(np.random.default_rng(3), 6)[name]
    for _ in range(3):
        v = rng.normal(size=6)
        x = s.project(v)
        assert s.contains(x, atol=1e-9)
        np.testing.assert_allclose(s.project(x), x, atol=1e-8)  # idempotent
        # Variational inequality, with the set's own exact linear maximization (independent of
        # the projection code): <v - x, y - x> <= 0 for all y in the set.
        g = v - x
        assert s.worst_case(g).value - g @ x <= 1e-8
        var = cp.Variable(6)
        ref = cp.Problem(cp.Minimize(cp.sum_squares(var - v)), cvxpy_set(s, var))
        solve_reference(ref)
        # cvxpy's conic forms of χ² and KL are accurate to ~1e-6 only; QPs to ~1e-8.
        tol = 1e-5 if name in ("chi2", "kl") else 1e-6
        np.testing.assert_allclose(x, var.value, atol=tol)
        assert np.sum((x - v) ** 2) <= np.sum((var.value - v) ** 2) + 1e-9


def test_polytope_projection_passes_exact_lp_certificate(rng):
    s = make_sets(rng, 8)["polytope"]
    for _ in range(3):
        v = rng.normal(size=8)
        x = s.project(v)
        g = v - x
        assert exact_lp_max(s, g) - g @ x <= 1e-8


def test_polytope_of_box_rows_equals_box_simplex(rng):
    box = make_sets(rng, 5)["box"]
    eye = np.eye(5)
    poly = Polytope(np.vstack([eye, -eye]), np.concatenate([box.upper, -box.lower]))
    v = rng.normal(size=5)
    np.testing.assert_allclose(poly.project(v), box.project(v), atol=1e-7)
    ell = rng.normal(size=5)
    assert poly.worst_case(ell).value == pytest.approx(box.worst_case(ell).value, abs=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_uniform_is_feasible_and_central(rng, name):
    s = make_sets(rng, 5)[name]
    u = s.uniform()
    assert u.shape == (5,) and u.dtype == np.float64 and s.contains(u)
    u[0] = 99.0  # a copy: the set is not changed through it
    assert s.contains(s.uniform())
    if name == "simplex":
        np.testing.assert_allclose(s.uniform(), np.full(5, 0.2))
    if name in ("l1", "chi2", "kl"):
        np.testing.assert_allclose(s.uniform(), s.prior)


def test_contains_rejects_points_off_the_set():
    box = BoxSimplex([0.1, 0.1, 0.1], [0.5, 0.5, 0.5])
    assert box.contains([0.4, 0.3, 0.3])
    assert not box.contains([0.6, 0.3, 0.1]) and not box.contains([0.4, 0.3, 0.2])
    assert not box.contains([np.nan, 0.5, 0.5])
    ball = PriorBall([0.5, 0.5], 0.1, "l1")
    assert ball.contains([0.55, 0.45]) and not ball.contains([0.6, 0.4])
    poly = Polytope([[1.0, -1.0]], [0.0])
    assert poly.contains([0.4, 0.6]) and not poly.contains([0.6, 0.4])
    with pytest.raises(ValueError, match="shape"):
        Simplex(3).contains([0.5, 0.5])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_batched_keeps_type_dtype_device(rng, name, dtype):
    s = make_sets(rng, 4)[name]
    v = rng.normal(size=(2, 3, 4))
    out_np = s.project(v)
    assert out_np.shape == v.shape
    t = torch.tensor(v, dtype=dtype)
    out_t = s.project(t)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == dtype and out_t.device == t.device
    np.testing.assert_allclose(
        out_t.double().numpy(), out_np, atol=1e-5 if dtype == torch.float32 else 1e-7
    )
    for row in out_np.reshape(-1, 4):
        assert s.contains(row, atol=1e-9)
    out32 = s.project(v.astype(np.float32))
    assert out32.dtype == np.float32
    assert s.worst_case(torch.tensor(v[0, 0])).value == pytest.approx(
        s.worst_case(v[0, 0]).value, abs=1e-12
    )


def test_l1_worst_case_closed_form():
    ball = PriorBall([0.5, 0.3, 0.2], radius=0.2)
    # Mass 0.1 moves from the smallest loss (objective 0) to the largest (objective 1).
    np.testing.assert_allclose(ball.worst_case([1.0, 3.0, 2.0]).weights, [0.4, 0.4, 0.2])
    wide = PriorBall([0.5, 0.3, 0.2], radius=2.0)
    np.testing.assert_allclose(wide.worst_case([1.0, 3.0, 2.0]).weights, [0, 1, 0])


def test_chi2_worst_case_closed_form_without_active_bounds():
    prior, r = np.array([0.3, 0.3, 0.4]), 0.01
    ell = np.array([1.0, 2.0, 1.5])
    mean = prior @ ell
    sd = np.sqrt(prior @ (ell - mean) ** 2)
    wc = PriorBall(prior, r, "chi2").worst_case(ell)
    assert wc.value == pytest.approx(mean + np.sqrt(r) * sd, abs=1e-12)


def test_radius_zero_is_the_prior_and_large_radius_is_the_simplex(rng):
    prior = np.array([0.2, 0.3, 0.5])
    v = rng.normal(size=3)
    for div in ("l1", "chi2", "kl"):
        np.testing.assert_allclose(PriorBall(prior, 0.0, div).project(v), prior)
        assert PriorBall(prior, 0.0, div).worst_case(v).value == pytest.approx(prior @ v)
        big = PriorBall(prior, 50.0, div)
        np.testing.assert_allclose(big.project(v), Simplex(3).project(v), atol=1e-9)
        assert big.worst_case(v).value == pytest.approx(v.max(), abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.integers(0, 2**32 - 1), st.sampled_from(NAMES[:2] + NAMES[3:5]))
def test_worst_case_dominates_every_point_it_can_reach(p, seed, name):
    rng = np.random.default_rng(seed)
    s = make_sets(rng, p)[name]
    ell = rng.normal(size=p)
    wc = s.worst_case(ell)
    assert s.contains(wc.weights)
    for _ in range(5):  # projected random points are in the set and never beat the max
        y = s.project(rng.normal(size=p) * 3)
        assert s.contains(y) and y @ ell <= wc.value + 1e-9


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: BoxSimplex([0.5, 0.1], [0.4, 0.9]), "lower"),
        (lambda: BoxSimplex([0.6, 0.6], [0.9, 0.9]), "sum(lower)"),
        (lambda: BoxSimplex([0.1, 0.1], [0.3, 0.3]), "sum(upper)"),
        (lambda: BoxSimplex([0.1, np.nan], [0.9, 0.9]), "lower"),
        (lambda: BoxSimplex([0.1, np.inf], [0.9, np.inf]), "lower"),
        (lambda: BoxSimplex([0.1, 0.1], [np.nan, 0.9]), "upper"),
        (lambda: BoxSimplex([0.1, 0.1], [-np.inf, 0.9]), "upper"),
        (lambda: BoxSimplex([0.1, 0.1], [0.9, 0.9, 0.9]), "upper"),
        (lambda: BoxSimplex([-0.1, 0.1], [0.9, 0.9]), "lower"),
        (lambda: BoxSimplex(0.1, 0.9), "p"),
        (lambda: Polytope([1.0, 1.0], [1.0]), "A"),
        (lambda: Polytope([[1.0, 1.0]], [1.0, 2.0]), "b"),
        (lambda: Polytope([[1.0, np.inf]], [1.0]), "A"),
        (lambda: Polytope([[1.0, 0.0], [0.0, 1.0]], [0.2, 0.2]), "non-empty"),
        (lambda: PriorBall([0.5, 0.6], 0.1), "prior"),
        (lambda: PriorBall([0.5, 0.5], -1.0), "radius"),
        (lambda: PriorBall([0.5, 0.5], np.nan), "radius"),
        (lambda: PriorBall([1.0, 0.0], 0.1, "kl"), "prior"),
        (lambda: PriorBall([0.5, 0.5], 0.1, "tv"), "divergence"),
        (lambda: Simplex(0), "p"),
    ],
)
def test_construction_errors_name_argument_rule_and_fix(make, argument):
    with pytest.raises(ValueError) as info:
        make()
    message = str(info.value)
    assert isinstance(info.value, ALMOValueError)
    assert argument in message and "found" in message and "Fix:" in message


@pytest.mark.parametrize("name", NAMES)
def test_bad_vectors_are_rejected_before_any_work(rng, name):
    s = make_sets(rng, 4)[name]
    with pytest.raises(ValueError, match=r"`v`.*shape"):
        s.project(np.ones(5))
    with pytest.raises(ValueError, match="finite"):
        s.project(np.array([0.1, np.nan, 0.2, 0.3]))
    with pytest.raises(ValueError, match="finite"):
        s.project(torch.tensor([0.1, np.inf, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"`losses`.*shape"):
        s.worst_case(np.ones(3))
    with pytest.raises(NonFiniteLossError, match="objective 2"):
        s.worst_case(np.array([0.1, 0.2, np.nan, 0.3]))


def test_reprs_name_the_set():
    assert repr(Simplex(3)) == "Simplex(p=3)"
    assert repr(BoxSimplex(0.0, 0.5, p=2)).startswith("BoxSimplex(lower=array(")
    assert "divergence='chi2'" in repr(PriorBall([0.5, 0.5], 0.1, "chi2"))
    assert repr(Polytope([[1.0, -1.0]], [0.0])).startswith("Polytope(A=<1x2>")
    assert all(isinstance(s, MixtureSet) for s in make_sets(np.random.default_rng(0), 3).values())


def test_kl_projection_of_huge_vectors_stays_exact():
    """Far-away points (huge ascent steps) are projected without a conic solver failing."""
    ball = PriorBall([0.4, 0.3, 0.2, 0.1], 0.05, divergence="kl")
    for v in ([8162.0, 0.0, 0.0, 48.0], [1e7, -1e7, 3.0, 0.0], [0.0, 0.0, 0.0, 1e-12]):
        x = ball.project(np.array(v))
        assert ball.contains(x, atol=1e-9)
        np.testing.assert_allclose(ball.project(x), x, atol=1e-9)  # idempotent


# -- the KL (Bregman) projection --------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    q=st.lists(st.floats(1e-3, 1.0), min_size=4, max_size=4),
    lo=st.lists(st.floats(0.0, 0.24), min_size=4, max_size=4),
    width=st.floats(0.26, 1.0),
)
def test_box_kl_projection_matches_the_cone_solve(q, lo, width):
    box = BoxSimplex(lo, [min(x + width, 1.0) for x in lo])
    q = np.array(q) / np.sum(q)
    lam = box.kl_project(q)
    assert box.contains(lam, atol=1e-12) and abs(lam.sum() - 1.0) < 1e-12
    reference = reference_kl_projection(box, q)
    if reference is not None:
        np.testing.assert_allclose(lam, reference, atol=1e-4)  # the cone solve: ~1e-5
    # KKT: λ_k/q_k is one constant c on the entries strictly inside their bounds.
    free = (lam > box.lower + 1e-9) & (lam < np.minimum(box.upper, 1.0) - 1e-9) & (q > 0)
    if free.sum() > 1:
        ratios = lam[free] / q[free]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)


def test_box_kl_projection_of_zero_entries_is_the_limit_from_above():
    # q_k → 0+: the zero entries stay at their lower bound until the others are full, then
    # share the rest equally (the limit of clip(c·q, l, u) as the small q_k tend to 0 together).
    box = BoxSimplex([0.0] * 4, [0.5] * 4)
    np.testing.assert_allclose(box.kl_project([0, 0, 0, 1.0]), [1 / 6, 1 / 6, 1 / 6, 0.5])
    lifted = BoxSimplex([0.1, 0.0, 0.0, 0.0], [1.0] * 4)
    np.testing.assert_allclose(lifted.kl_project([0, 0.5, 0.5, 0]), [0.1, 0.45, 0.45, 0.0])


def test_kl_projection_on_other_sets_and_the_simplex():
    q = np.array([0.7, 0.2, 0.05, 0.05])
    np.testing.assert_array_equal(Simplex(4).kl_project(q), q)
    for s in (
        PriorBall([0.25] * 4, 0.2, divergence="l1"),
        PriorBall([0.4, 0.3, 0.2, 0.1], 0.05, divergence="kl"),
        Polytope([[1.0, 1.0, 0.0, 0.0]], [0.6]),
    ):
        lam = s.kl_project(q)
        assert s.contains(lam, atol=1e-9)
        reference = reference_kl_projection(s, q)
        np.testing.assert_allclose(lam, reference, atol=1e-5)
        # Optimal: no other point of the set is closer in KL (the reference's value).
        kl = float(np.sum(lam * np.log(lam / q)))
        ref_kl = float(np.sum(reference * np.log(np.maximum(reference, 1e-300) / q)))
        assert kl <= ref_kl + 1e-6
    point = PriorBall([0.4, 0.3, 0.2, 0.1], 0.0, divergence="l1")  # a single point
    np.testing.assert_allclose(point.kl_project(q), [0.4, 0.3, 0.2, 0.1], atol=1e-12)


@pytest.mark.parametrize("bad", [[0.5, -0.1, 0.3, 0.3], [np.nan, 0.5, 0.25, 0.25], [0, 0, 0, 0]])
def test_kl_projection_refuses_a_point_off_the_simplex(bad):
    for s in (BoxSimplex([0.1] * 4, [0.5] * 4), PriorBall([0.25] * 4, 0.2, divergence="l1")):
        with pytest.raises(ALMOValueError, match="`q`"):
            s.kl_project(bad)
