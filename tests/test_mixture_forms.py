"""Each mixture set's cvxpy forms against its own numpy worst case and projection; user-defined
sets through both solver methods; the conic-solve helper and its SolverError."""

import re
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import almo.solvers
from almo import _cvxpy
from almo.exceptions import SolverError
from almo.mixtures import BoxSimplex, MixtureSet, Polytope, PriorBall, Simplex
from almo.projections import project_box_simplex
from almo.solvers import solve_linear

TIGHT = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}


class HandBox(MixtureSet):
    """{λ ∈ Δ : λ ≤ upper}, written by hand: only the two abstract numpy hooks."""

    def __init__(self, upper):
        self.upper = np.asarray(upper, dtype=np.float64)
        self.p = self.upper.size

    def _project_np(self, v):
        return project_box_simplex(v, 0.0, self.upper)

    def _worst_case_np(self, ell):
        w, left = np.zeros(self.p), 1.0
        for k in np.argsort(-ell, kind="stable"):
            w[k] = min(self.upper[k], left)
            left -= w[k]
        return w

    def _contains_np(self, w, atol):
        return bool(np.all(w <= self.upper + atol))

    def _uniform(self):
        return self.project(np.full(self.p, 1.0 / self.p))


class DescribedBox(HandBox):
    """The same box with a cvxpy description: its support function comes from the base class."""

    def cvxpy_constraints(self, lam):
        return [lam >= 0, cp.sum(lam) == 1, lam <= self.upper]


KINDS = ["simplex", "box", "box_inf", "polytope", "l1", "chi2", "kl", "described"]


def make_set(kind, rng, p):
    lower = rng.uniform(0, 0.5 / p, p)
    upper = lower + rng.uniform(0.05, 2.0 / p, p)
    upper *= max(1.0, 1.05 / upper.sum())
    prior = rng.dirichlet(np.ones(p) * 2)
    if kind == "simplex":
        return Simplex(p)
    if kind == "box":
        return BoxSimplex(lower, upper)
    if kind == "box_inf":  # some objectives without an upper bound
        upper = np.where(rng.random(p) < 0.5, np.inf, np.minimum(upper, 0.9))
        upper[0] = np.inf
        return BoxSimplex(lower, upper)
    if kind == "polytope":
        A = rng.normal(size=(3, p))
        b = A @ rng.dirichlet(np.ones(p)) + rng.uniform(0.01, 0.2, 3)
        return Polytope(A, b)
    if kind in ("l1", "chi2", "kl"):
        radius = rng.uniform(0.02, 0.4) if kind == "kl" else rng.uniform(0.05, 0.8)
        return PriorBall(prior, radius, kind)
    return DescribedBox(np.maximum(upper, 1.05 / p))


def solve_tight(problem):
    _cvxpy.solve(problem, "a reference problem", retry_default=True, **TIGHT)
    return float(problem.value)


# ------------------------------------------------------------------ forms against numpy


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(KINDS), st.integers(2, 6), st.integers(0, 2**32 - 1), st.floats(0.1, 10))
def test_support_function_is_the_worst_case(kind, p, seed, scale):
    rng = np.random.default_rng(seed)
    s = make_set(kind, rng, p)
    target = rng.normal(size=p) * scale
    t = cp.Variable(p)
    sigma, cons = s.support_function(t)
    value = solve_tight(cp.Problem(cp.Minimize(sigma), [*cons, t == target]))
    assert value == pytest.approx(s.worst_case(target).value, abs=1e-6 * max(1.0, scale))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(KINDS), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_linear_max_over_the_constraints_is_the_worst_case(kind, p, seed):
    rng = np.random.default_rng(seed)
    s = make_set(kind, rng, p)
    g = rng.normal(size=p)
    lam = cp.Variable(p)
    value = solve_tight(cp.Problem(cp.Maximize(g @ lam), s.cvxpy_constraints(lam)))
    assert value == pytest.approx(s.worst_case(g).value, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(KINDS), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_projections_satisfy_the_constraints(kind, p, seed):
    rng = np.random.default_rng(seed)
    s = make_set(kind, rng, p)
    lam = cp.Variable(p)
    cons = s.cvxpy_constraints(lam)
    for v in (rng.normal(size=p) * 3, s.uniform(), s.worst_case(rng.normal(size=p)).weights):
        lam.value = s.project(v)
        for c in cons:
            assert np.max(c.violation()) <= 1e-7, (c, lam.value)


def test_constraints_accept_an_affine_expression_with_parameters():
    # The dual Newton model step writes λ = z + λ_now with λ_now a parameter (DPP).
    ball = PriorBall([0.5, 0.3, 0.2], radius=0.1, divergence="kl")
    z, now = cp.Variable(3), cp.Parameter(3)
    prob = cp.Problem(cp.Maximize(np.array([1.0, 3.0, 2.0]) @ z), ball.cvxpy_constraints(z + now))
    assert prob.is_dcp(dpp=True)
    now.value = ball.prior
    value = solve_tight(prob) + now.value @ np.array([1.0, 3.0, 2.0])
    assert value == pytest.approx(ball.worst_case([1.0, 3.0, 2.0]).value, abs=1e-6)


def test_box_rows_drop_bounds_the_simplex_implies():
    box = BoxSimplex(lower=[0.0, 0.2, 0.1], upper=[np.inf, 0.5, 1.0])
    G, h = box._rows()
    np.testing.assert_array_equal(G, [[0, 1, 0], [0, -1, 0], [0, 0, -1]])
    np.testing.assert_array_equal(h, [0.5, -0.2, -0.1])
    assert box.contains([0.4, 0.5, 0.1]) and not box.contains([0.3, 0.6, 0.1])


def test_infinite_upper_bounds_mean_no_bound(rng):
    free = BoxSimplex(lower=[0.1, 0.0, 0.2], upper=np.inf)
    same = BoxSimplex(lower=[0.1, 0.0, 0.2], upper=1.0)
    for _ in range(5):
        v, ell = rng.normal(size=3) * 2, rng.normal(size=3)
        np.testing.assert_allclose(free.project(v), same.project(v), atol=1e-12)
        assert free.worst_case(ell).value == pytest.approx(same.worst_case(ell).value, abs=1e-12)
    np.testing.assert_allclose(free.uniform(), same.uniform())


# ------------------------------------------------------------------ the base class


def test_the_base_class_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        MixtureSet()

    class NoWorstCase(MixtureSet):
        p = 2

        def _project_np(self, v):
            return v

    with pytest.raises(TypeError, match="_worst_case_np"):
        NoWorstCase()


def test_a_set_without_a_conic_form_says_so():
    s = HandBox([0.5, 0.5, 0.5])
    with pytest.raises(NotImplementedError, match="HandBox has no cvxpy description"):
        s.cvxpy_constraints(cp.Variable(3))
    with pytest.raises(NotImplementedError, match="cvxpy_constraints"):
        s.support_function(cp.Variable(3))


def test_fast_projection_flags():
    assert Simplex.has_fast_projection and BoxSimplex.has_fast_projection
    assert not Polytope.has_fast_projection and not PriorBall.has_fast_projection
    assert not MixtureSet.has_fast_projection  # user-defined sets: assume nothing


def test_solvers_ask_the_set_never_its_class():
    root = Path(almo.solvers.__file__).parent
    pattern = re.compile(r"isinstance\([^)]*(Simplex|BoxSimplex|Polytope|PriorBall)")
    for path in root.glob("*.py"):
        assert not pattern.search(path.read_text()), path.name


# ------------------------------------------------------------------ user-defined sets, solved


def _classification(rng, n=100, d=4):
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.gumbel(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("method", ["cvxpy", "dual_newton"])
def test_user_set_matches_the_same_polytope_smooth(rng, method):
    X, y = _classification(rng)
    losses = ["log_loss", "squared", "squared_hinge"]
    kw = dict(l2=0.05, normalize="initial")
    poly = Polytope(np.eye(3), np.full(3, 0.45))
    ref = solve_linear(X, y, losses, mixture_set=poly, method="cvxpy", **kw)
    sol = solve_linear(X, y, losses, mixture_set=HandBox(np.full(3, 0.45)), method=method, **kw)
    assert ref.status == sol.status == "optimal" and sol.method == method
    assert sol.value == pytest.approx(ref.value, abs=1e-5)
    assert poly.contains(sol.weights, atol=1e-8)
    assert sol.lower_bound <= sol.value + 1e-12


def test_user_set_matches_the_same_polytope_nonsmooth(rng):
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.standard_t(2, size=80)
    groups = (X[:, 0] > 0).astype(int)
    losses = ["squared", "absolute"]  # two losses on two groups: p = 4
    kw = dict(groups=groups, l2=0.01, normalize="initial", method="cvxpy")
    upper = np.array([0.5, 0.4, 0.5, 0.4])
    ref = solve_linear(X, y, losses, mixture_set=Polytope(np.eye(4), upper), **kw)
    sol = solve_linear(X, y, losses, mixture_set=HandBox(upper), **kw)
    assert ref.status == sol.status == "optimal"
    assert sol.value == pytest.approx(ref.value, abs=1e-5)
    assert np.all(sol.weights <= upper + 1e-8)


def test_described_user_set_uses_its_conic_form(rng):
    X, y = _classification(rng, n=60)
    kw = dict(l2=0.05, method="cvxpy")
    ref = solve_linear(X, y, ["log_loss", "hinge"], mixture_set=HandBox([0.7, 0.7]), **kw)
    sol = solve_linear(X, y, ["log_loss", "hinge"], mixture_set=DescribedBox([0.7, 0.7]), **kw)
    assert sol.status == "optimal"
    assert sol.value == pytest.approx(ref.value, abs=1e-5)


# ------------------------------------------------------------------ SolverError


def test_an_infeasible_problem_raises_solver_error():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, cp.sum(x) <= 1])
    with pytest.raises(SolverError) as info:
        _cvxpy.solve(prob, "the toy LP", fix="loosen the constraints")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "the toy LP failed" in message and "'infeasible'" in message
    assert re.search(r"after \d+\.\d+ s", message) and "Fix: loosen the constraints" in message


def _failing_solve(calls):
    def solve(self, *args, **kwargs):
        calls.append(kwargs)
        raise cp.SolverError("Solver 'CLARABEL' failed.")

    return solve


def test_a_crashing_solver_raises_solver_error_with_its_cause(monkeypatch):
    calls = []
    monkeypatch.setattr(cp.Problem, "solve", _failing_solve(calls))
    x = cp.Variable()
    with pytest.raises(SolverError, match=r"stopped with an error.*CLARABEL.*Fix:") as info:
        _cvxpy.solve(cp.Problem(cp.Minimize(x), [x >= 0]), "the toy LP", tol_feas=1e-12)
    assert isinstance(info.value.__cause__, cp.SolverError)
    assert calls == [{"solver": cp.CLARABEL, "tol_feas": 1e-12}]


def test_retry_default_solves_again_without_the_options(monkeypatch):
    original, calls = cp.Problem.solve, []

    def solve(self, *args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise cp.SolverError("too tight")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", solve)
    x = cp.Variable()
    prob = cp.Problem(cp.Minimize(x), [x >= 2])
    _cvxpy.solve(prob, "the toy LP", retry_default=True, tol_feas=1e-14)
    assert calls == [{"solver": cp.CLARABEL, "tol_feas": 1e-14}, {"solver": cp.CLARABEL}]
    assert prob.value == pytest.approx(2.0)


def test_solver_errors_reach_the_caller(rng, monkeypatch):
    poly = Polytope([[1.0, -1.0, 0.0]], [0.0])
    X, y = _classification(rng, n=40, d=2)
    monkeypatch.setattr(cp.Problem, "solve", _failing_solve([]))
    with pytest.raises(SolverError, match=r"Polytope projection QP.*rescale A and b"):
        poly.project(np.array([1.0, 0.0, 0.0]))
    with pytest.raises(SolverError, match=r"the epigraph problem failed.*dual_newton"):
        solve_linear(X, y, ["log_loss", "hinge"], l2=0.1, method="cvxpy")


def test_model_step_falls_back_to_projections_when_its_qp_fails(rng, monkeypatch):
    # A set with a conic form and no fast projection: the model step is a QP, then FISTA.
    X, y = _classification(rng, n=60)
    box = DescribedBox([0.45, 0.45, 0.45])
    kw = dict(mixture_set=box, l2=0.05, normalize="initial", method="dual_newton")
    ref = solve_linear(X, y, ["log_loss", "squared", "squared_hinge"], **kw)
    monkeypatch.setattr(cp.Problem, "solve", _failing_solve([]))
    sol = solve_linear(X, y, ["log_loss", "squared", "squared_hinge"], **kw)
    assert ref.status == sol.status == "optimal"
    assert sol.value == pytest.approx(ref.value, abs=1e-5)
