"""The exact λ step (active-set QP) against cvxpy, and small problems solved fast."""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import BoxSimplex, Polytope, Simplex
from almo.solvers import solve_linear
from almo.solvers._qp import active_set_argmax


def _reference(L, M, lam, G, h):
    """The same QP by Clarabel, pushed to tight tolerances."""
    p = lam.size
    mu = cp.Variable(p)
    w, V = np.linalg.eigh(M)
    F = np.sqrt(np.maximum(w, 0.0))[:, None] * V.T
    cons = [mu >= 0, cp.sum(mu) == 1]
    if G.size:
        cons.append(G @ mu <= h)
    prob = cp.Problem(cp.Maximize(L @ mu - 0.5 * cp.sum_squares(F @ (mu - lam))), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return float(prob.value)


def _model(L, M, lam, mu):
    return float(L @ mu - 0.5 * (mu - lam) @ M @ (mu - lam))


def _sets(p):
    box = BoxSimplex(lower=0.2 / p, upper=min(1.0, 2.5 / p), p=p)
    A = np.vstack([np.eye(p)[:1] - np.eye(p)[1:2], np.ones((1, p)) * 0.0 + np.eye(p)[-1]])
    poly = Polytope(A, np.array([0.1, 0.6]))
    return [Simplex(p), box, poly]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    p=st.integers(2, 8),
    rank=st.integers(0, 8),
    magnitude=st.sampled_from([1e-6, 1.0, 1e4, 1e8]),
    which=st.integers(0, 2),
)
def test_active_set_matches_cvxpy(seed, p, rank, magnitude, which):
    """Optimal to 1e-9 relative (against Clarabel) for any PSD M, singular ones included."""
    rng = np.random.default_rng(seed)
    mixture_set = _sets(p)[which]
    G, h = mixture_set._rows()
    lam = mixture_set.uniform()
    B = rng.normal(size=(min(rank, p), p)) * np.sqrt(magnitude)
    M = B.T @ B
    L = rng.normal(size=p) * rng.choice([1e-3, 1.0, 1e3])
    mu = active_set_argmax(L, M, lam, G, h)
    assert mixture_set.contains(mu, atol=1e-10)
    best = _reference(L, M, lam, G, h)
    got = _model(L, M, lam, mu)
    scale = max(1.0, abs(best), float(np.abs(L).max()))
    assert got >= best - 1e-7 * scale, (got, best)


def test_vertex_and_interior_answers_are_exact():
    """Closed forms: M = 0 gives a vertex (the worst case), M = I on the simplex the projection."""
    L = np.array([0.3, -0.2, 0.9])
    lam = np.full(3, 1 / 3)
    assert active_set_argmax(L, np.zeros((3, 3)), lam, np.zeros((0, 3)), np.zeros(0)).tolist() == [
        0.0,
        0.0,
        1.0,
    ]
    mu = active_set_argmax(L, np.eye(3), lam, np.zeros((0, 3)), np.zeros(0))
    expected = Simplex(3).project(lam + L)
    assert np.allclose(mu, expected, atol=1e-14)


def test_small_problem_is_fast_and_certified():
    """Diabetes-sized (442 × 10, 4 groups): the λ step no longer dominates — well under 0.3 s."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    groups = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    solve_linear(X, y, "squared", groups=groups, l2=1e-8)  # warm the imports
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sol = solve_linear(X, y, "squared", groups=groups, l2=1e-8)
        times.append(time.perf_counter() - t0)
    assert sol.status == "optimal" and sol.method == "dual_newton"
    assert sol.relative_gap <= 1e-6
    assert min(times) < 0.3, times


@pytest.mark.parametrize("which", [1, 2])
def test_polyhedral_sets_solve_through_the_exact_step(rng, which):
    """BoxSimplex and Polytope certify the same optimum as cvxpy."""
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -1.0, 0.5]) + rng.normal(size=120)
    groups = rng.integers(0, 3, 120)
    mixture_set = _sets(3)[which]
    fast = solve_linear(X, y, "squared", groups=groups, l2=1e-3, mixture_set=mixture_set)
    ref = solve_linear(
        X, y, "squared", groups=groups, l2=1e-3, mixture_set=mixture_set, method="cvxpy"
    )
    assert fast.method == "dual_newton" and fast.status == "optimal"
    assert abs(fast.value - ref.value) <= 1e-6 * max(1.0, abs(ref.value))
    assert fast.lower_bound <= ref.value + 1e-9 and ref.lower_bound <= fast.value + 1e-9
