"""The certified solver's small-problem fast paths give the answers of the general paths.

- the λ step on coordinate-bound sets (simplex, box-simplex) against the general active-set
  method (SVD faces, least-squares multipliers) and against Clarabel;
- the certificate's repair on the stacked design (Cholesky when well conditioned) against a
  straightforward per-objective recomputation with least squares;
- the problem's cached row blocks, one-call-per-loss objectives and early-exit penalty against
  per-objective loops;
- a whole solve on scikit-learn's diabetes against cvxpy.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes

from almo import BoxSimplex, Polytope, Simplex
from almo.solvers import solve_linear
from almo.solvers._certificate import _cholesky_solve, dual_bound
from almo.solvers._inner import InnerSolver
from almo.solvers._problem import build_problem
from almo.solvers._qp import (
    _coordinate_rows,
    _general_argmax,
    _sum_zero_basis,
    active_set_argmax,
)
from almo.solvers._scaling import standardize
from almo.solvers._smoothing import smooth_problem

# the λ step's model and its Clarabel reference, shared with the λ-step tests
from test_solver_qp import _model
from test_solver_qp import _reference as _clarabel

# -- the λ step -------------------------------------------------------------------------------


def _mixture(kind, p, rng):
    if kind == "simplex":
        return Simplex(p)
    if kind == "box":
        return BoxSimplex(lower=0.2 / p, upper=min(1.0, 2.5 / p), p=p)
    if kind == "uneven_box":
        return BoxSimplex(lower=rng.uniform(0, 0.5 / p, p), upper=rng.uniform(1.5 / p, 1.2, p))
    A = np.vstack([np.eye(p)[0] - np.eye(p)[1], np.eye(p)[-1]])
    return Polytope(A, np.array([0.1, 0.6]))


def _qp_case(seed, p, rank, magnitude, kind):
    rng = np.random.default_rng(seed)
    mixture_set = _mixture(kind, p, rng)
    G, h = mixture_set._rows()
    B = rng.normal(size=(min(rank, p), p)) * np.sqrt(magnitude)
    M = B.T @ B
    L = rng.normal(size=p) * rng.choice([1e-3, 1.0, 1e3])
    if rng.random() < 0.5:
        lam = np.asarray(mixture_set.uniform(), dtype=np.float64)
    else:
        lam = np.asarray(mixture_set.project(rng.dirichlet(np.ones(p))), dtype=np.float64)
    return mixture_set, G, h, L, M, lam


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    p=st.integers(2, 9),
    rank=st.integers(0, 9),
    magnitude=st.sampled_from([1e-4, 1.0, 1e4]),
    kind=st.sampled_from(["simplex", "box", "uneven_box"]),
)
def test_coordinate_path_matches_the_general_path(seed, p, rank, magnitude, kind):
    """Same maximizer (1e-9) and model value (1e-12 of its scale) as the SVD-based method, on
    moderately conditioned models of any rank."""
    mixture_set, G, h, L, M, lam = _qp_case(seed, p, rank, magnitude, kind)
    assert _coordinate_rows(G) is not None
    fast = active_set_argmax(L, M, lam, G, h)
    general = _general_argmax(L, M, lam, G, h)
    assert mixture_set.contains(fast, atol=1e-12)
    scale = max(1.0, float(np.abs(L).max()), float(np.abs(M).max()))
    assert _model(L, M, lam, fast) >= _model(L, M, lam, general) - 1e-12 * scale
    if rank >= p - 1:  # a strictly concave model on the face: one maximizer
        assert np.allclose(fast, general, rtol=0.0, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    p=st.integers(2, 8),
    rank=st.integers(0, 8),
    magnitude=st.sampled_from([1e-6, 1.0, 1e4]),
    kind=st.sampled_from(["simplex", "box", "uneven_box", "polytope"]),
)
def test_lambda_step_is_optimal_against_clarabel(seed, p, rank, magnitude, kind):
    """Optimal to 1e-9 of the scale against Clarabel on every set, fast path or not, for PSD
    models singular or not. (With curvature 1e8 and more next to losses of 1e-3, a direction
    of zero curvature whose slope is below 1e-13 of the curvature counts as flat in both
    paths: the step can stop short of the maximum.)"""
    mixture_set, G, h, L, M, lam = _qp_case(seed, p, rank, magnitude, kind)
    assert (_coordinate_rows(G) is None) == (kind == "polytope")
    mu = active_set_argmax(L, M, lam, G, h)
    assert mixture_set.contains(mu, atol=1e-10)
    best = _clarabel(L, M, lam, G, h)
    scale = max(1.0, abs(best), float(np.abs(L).max()))
    assert _model(L, M, lam, mu) >= best - 1e-9 * scale


def test_lambda_step_closed_forms():
    """M = I on the simplex: the Euclidean projection of λ + L; M = 0: the best vertex; a box
    whose upper bound binds: the capped coordinate at its bound, the rest shares the remainder
    by the projection's threshold."""
    lam = np.full(4, 0.25)
    L = np.array([0.3, -0.2, 0.9, 0.1])
    none = (np.zeros((0, 4)), np.zeros(0))
    mu = active_set_argmax(L, np.eye(4), lam, *none)
    assert np.allclose(mu, Simplex(4).project(lam + L), rtol=0.0, atol=1e-15)
    assert active_set_argmax(L, np.zeros((4, 4)), lam, *none).tolist() == [0.0, 0.0, 1.0, 0.0]
    box = BoxSimplex(lower=0.1, upper=0.4, p=4)
    mu = active_set_argmax(L, np.eye(4), lam, *box._rows())
    assert np.allclose(mu, box.project(lam + L), rtol=0.0, atol=1e-14)
    assert mu[2] == pytest.approx(0.4, abs=1e-15)


def test_coordinate_rows_are_recognized():
    """Rows with one nonzero each give (coordinate, coefficient); any other row, None."""
    coord, coef = _coordinate_rows(np.array([[0.0, 2.0, 0.0], [-1.0, 0.0, 0.0]]))
    assert coord.tolist() == [1, 0] and coef.tolist() == [2.0, -1.0]
    assert _coordinate_rows(np.array([[1.0, -1.0, 0.0]])) is None
    assert _coordinate_rows(np.zeros((1, 3))) is None
    coord, coef = _coordinate_rows(np.zeros((0, 3)))
    assert coord.size == 0 and coef.size == 0


@settings(max_examples=50, deadline=None)
@given(free=st.lists(st.booleans(), min_size=1, max_size=12))
def test_sum_zero_basis_spans_the_face(free):
    """Orthonormal, supported on the free coordinates, orthogonal to 1, of dimension m − 1 —
    the face's null space that SVD would give, up to rotation."""
    mask = np.array(free)
    Z = _sum_zero_basis(mask)
    m = int(mask.sum())
    assert Z.shape == (mask.size, max(m - 1, 0))
    assert np.allclose(Z.T @ Z, np.eye(Z.shape[1]), atol=1e-14)
    assert np.allclose(Z.sum(axis=0), 0.0, atol=1e-14)
    assert not np.any(Z[~mask])
    if m >= 2:  # same projector as an SVD null space of [1; e_i for the fixed i]
        E = np.vstack([np.ones(mask.size), np.eye(mask.size)[~mask]])
        _, s, Vt = np.linalg.svd(E)
        N = Vt[int((s > 1e-12).sum()) :].T
        assert np.allclose(Z @ Z.T, N @ N.T, atol=1e-13)


# -- the certificate ---------------------------------------------------------------------------


def _reference_bound(problem, weights, unit_duals):
    """dual_bound recomputed in the plain way: per-objective blocks X[rows], the least-norm
    correction by least squares, the same exactness check. Without a norm penalty."""
    X = problem.X
    cs = [max(float(w), 0.0) * o.weight for o, w in zip(problem.objectives, weights, strict=True)]
    alphas, rooms = [], []
    for o, c, U in zip(problem.objectives, cs, unit_duals, strict=True):
        if c <= 0.0:
            alphas.append(np.zeros_like(U))
            rooms.append(np.zeros_like(U))
            continue
        U = o.loss.clip(U, o.targets)
        alphas.append(c * U)
        rooms.append(c * o.loss.room(U, o.targets))
    cols = [X.shape[1] - 1] if problem.l2 > 0 else list(range(X.shape[1]))
    blocks = [X[o.rows][:, cols] for o in problem.objectives]
    R = sum(B.T @ A for B, A in zip(blocks, alphas, strict=True))
    if np.any(R):
        free = [bool(np.isinf(r).all() and r.size) for r in rooms]
        if any(free):
            omegas = [np.full_like(r, float(f)) for r, f in zip(rooms, free, strict=True)]
        else:
            omegas = [
                np.where(np.isfinite(r), r, max(1.0, float(r[np.isfinite(r)].max(initial=1.0))))
                for r in rooms
            ]
        sums = [o.loss.sum_zero for o in problem.objectives]
        zs = [z and not f for z, f in zip(sums, free, strict=True)]
        q, C = R.shape
        K = np.zeros((C * q, C * q))
        for B, Om, z in zip(blocks, omegas, zs, strict=True):
            for i in range(B.shape[0]):
                outer = np.outer(B[i], B[i])
                s = Om[i].sum()
                for c in range(C):
                    K[c * q : (c + 1) * q, c * q : (c + 1) * q] += Om[i, c] * outer
                    if z and C > 1 and s > 0:
                        for c2 in range(C):
                            K[c * q : (c + 1) * q, c2 * q : (c2 + 1) * q] -= (
                                Om[i, c] * Om[i, c2] / s * outer
                            )
        Z = np.linalg.lstsq(K, R.T.ravel(), rcond=None)[0].reshape(C, q).T
        for k, (B, Om, z) in enumerate(zip(blocks, omegas, zs, strict=True)):
            BZ = B @ Z
            step = -Om * BZ
            if z and C > 1:
                s = Om.sum(axis=1, keepdims=True)
                step += Om * (Om * BZ).sum(axis=1, keepdims=True) / np.where(s > 0, s, 1.0)
            if not free[k] and np.any(np.abs(step) > rooms[k]):
                return -np.inf
            alphas[k] = alphas[k] + step
        after = sum(B.T @ A for B, A in zip(blocks, alphas, strict=True))
        if np.abs(after).max() > 1e-12 * max(1.0, float(np.abs(R).max())):
            return -np.inf
    conj = sum(
        c * float(o.loss.conj(A / c, o.targets).sum())
        for o, c, A in zip(problem.objectives, cs, alphas, strict=True)
        if c > 0
    )
    if problem.l2 == 0:
        return -conj
    Gd = sum(
        X[o.rows][:, : problem.n_features].T @ A
        for o, A in zip(problem.objectives, alphas, strict=True)
    )
    return -conj - float(np.sum(Gd**2)) / (4.0 * problem.l2)


SETUPS = [
    ("regression", ["squared"]),
    ("regression", ["huber", "absolute"]),
    ("binary", ["log_loss", "hinge"]),
    ("multiclass", ["log_loss", "squared"]),
    ("multiclass", ["log_loss"]),
]


def _problem(seed, task, losses, l2, n=50, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.choice([0.05, 1.0, 30.0], size=d)
    if task == "regression":
        y = X @ rng.normal(size=d) + rng.normal(size=n)
    else:
        y = rng.integers(0, 3 if task == "multiclass" else 2, n)
    groups = rng.integers(0, 3, n)
    groups[:3] = [0, 1, 2]
    return build_problem(X, y, losses, groups, l2, "initial", True), rng


@pytest.mark.parametrize(("task", "losses"), SETUPS)
@pytest.mark.parametrize("l2", [0.0, 0.05])
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_dual_bound_matches_the_plain_recomputation(task, losses, l2, seed):
    """The stacked repair gives the plain per-objective bound to 1e-9 of its scale (both
    -inf together), at the inner minimizer and at a perturbed model, and stays below F_λ."""
    problem, rng = _problem(seed, task, losses, l2)
    smooth = smooth_problem(problem, 1e-3)
    lam = rng.dirichlet(np.ones(problem.p))
    if rng.random() < 0.3:
        lam[rng.integers(problem.p)] = 0.0
        lam /= lam.sum()
    c = lam * np.array([o.weight for o in problem.objectives])
    theta = InnerSolver(smooth).solve(c, np.zeros(problem.shape), 0.0).theta
    for point in (theta, theta + 0.01 * rng.normal(size=theta.shape)):
        duals = smooth.unit_duals(point)
        got = dual_bound(problem, lam, duals)
        ref = _reference_bound(problem, lam, [u.copy() for u in duals])
        if not np.isfinite(ref):
            assert got == -np.inf
            continue
        assert np.isfinite(got)
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-9)
        primal = float(lam @ problem.losses(point)) + problem.penalty(point)
        assert got <= primal + 1e-9 * max(1.0, abs(primal))


def test_ill_conditioned_repair_falls_back_to_least_squares():
    """Duplicated columns make the repair's system singular: Cholesky declines, least squares
    repairs, and the bound is the plain one and below the primal value."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 2))
    X = np.hstack([base, base[:, :1]])  # a repeated column
    y = base @ np.array([1.0, -2.0]) + rng.normal(size=40)
    problem = build_problem(X, y, "squared", rng.integers(0, 2, 40), 0.0, None, True)
    K = problem.gram()
    assert _cholesky_solve(K, np.ones(K.shape[0])) is None
    lam = np.array([0.3, 0.7])
    theta = rng.normal(size=problem.shape)
    duals = problem.unit_duals(theta)
    got = dual_bound(problem, lam, duals)
    assert got == pytest.approx(_reference_bound(problem, lam, duals), rel=1e-9)
    assert got <= float(lam @ problem.losses(theta))


def test_cholesky_solve_agrees_with_least_squares_when_well_conditioned():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 6))
    K, r = A.T @ A, rng.normal(size=6)
    z = _cholesky_solve(K, r)
    assert z is not None
    assert np.allclose(z, np.linalg.lstsq(K, r, rcond=None)[0], rtol=1e-12, atol=1e-14)
    assert _cholesky_solve(-K, r) is None  # not positive definite


def test_dual_bound_with_a_norm_penalty_stays_a_lower_bound():
    """With c_k ‖W‖ and l2 = 0 the second repair (onto the ball) runs on the stacked design:
    the bound is finite at the inner minimizer and below F_λ at random models."""
    problem, rng = _problem(5, "regression", ["squared"], 0.0)
    problem = replace(problem, norm_coef=np.full(problem.p, 0.5))
    lam = np.full(problem.p, 1.0 / problem.p)
    c = lam * np.array([o.weight for o in problem.objectives])
    sol = InnerSolver(problem).solve(c, np.ones(problem.shape), problem.norm_weight(lam))
    bound = dual_bound(problem, lam, problem.unit_duals(sol.theta))
    assert np.isfinite(bound)
    assert bound == pytest.approx(sol.value, rel=1e-6)
    for _ in range(5):
        theta = rng.normal(size=problem.shape)
        primal = float(lam @ problem.game_losses(theta))
        assert bound <= primal + 1e-9


# -- the problem's cached blocks -----------------------------------------------------------------


@pytest.mark.parametrize(("task", "losses"), SETUPS)
def test_losses_and_duals_equal_the_per_objective_loops(task, losses):
    """One loss call per run of objectives gives exactly the per-objective sums (the same
    summation) and gradients; the stacked design is X̃ on each objective's rows."""
    problem, rng = _problem(11, task, losses, 0.0)
    for _ in range(3):
        theta = rng.normal(size=problem.shape)
        S = problem.X @ theta
        sums = np.array([o.loss.value(S[o.rows], o.targets).sum() for o in problem.objectives])
        counts = np.array([o.rows.size for o in problem.objectives], dtype=float)
        expected = sums / counts / problem.scales
        assert problem.losses(theta).tolist() == expected.tolist()
        assert problem.batch(theta).means().tolist() == expected.tolist()
        for o, u in zip(problem.objectives, problem.unit_duals(theta), strict=True):
            assert np.array_equal(u, o.loss.grad(S[o.rows], o.targets))
    for o, B in zip(problem.objectives, problem.row_blocks(), strict=True):
        assert np.array_equal(B, problem.X[o.rows])
    B = problem.stacked_design()
    assert np.allclose(problem.gram(), B.T @ B, rtol=1e-14)


def test_caches_follow_a_replaced_problem():
    """dataclasses.replace gives a new problem whose blocks and losses come from its own data
    (standardize swaps X; smoothing swaps the losses)."""
    problem, rng = _problem(2, "regression", ["squared", "absolute"], 0.0)
    theta = rng.normal(size=problem.shape)
    before = problem.losses(theta)
    problem.gram()
    z = standardize(problem)
    assert np.array_equal(z.problem.stacked_design(), z.problem.X[z.problem.stacked_rows])
    assert not np.allclose(z.problem.gram(), problem.gram())
    assert np.allclose(z.problem.losses(z.to_standardized(theta)), before, rtol=1e-12)
    smooth = smooth_problem(problem, 0.5)
    assert not np.allclose(smooth.losses(theta), before)  # the smoothed absolute loss
    assert problem.losses(theta).tolist() == before.tolist()


def test_penalty_early_exit_and_values():
    """0 without ridge and prox; otherwise l2 ‖W‖² + prox ‖Θ − Θ₀‖² as written out."""
    problem, rng = _problem(4, "regression", ["squared"], 0.0)
    theta = rng.normal(size=problem.shape)
    assert problem.penalty(theta) == 0.0
    d = problem.n_features
    ridge = replace(problem, l2=0.3)
    assert ridge.penalty(theta) == pytest.approx(0.3 * np.sum(theta[:d] ** 2), rel=1e-14)
    center = rng.normal(size=theta.shape)
    prox = replace(ridge, prox=0.2, prox_center=center)
    expected = 0.3 * np.sum(theta[:d] ** 2) + 0.2 * np.sum((theta - center) ** 2)
    assert prox.penalty(theta) == pytest.approx(expected, rel=1e-14)


def test_public_arrays_stay_writable():
    """scales and the batch's arrays are fresh copies: callers may change them."""
    problem, _ = _problem(6, "binary", ["log_loss"], 0.0)
    scales = problem.scales
    scales *= 2.0
    assert not np.allclose(problem.scales, scales)
    batch = problem.batch(np.zeros(problem.shape))
    assert batch.total_counts.flags.writeable and batch.scale.flags.writeable


# -- a whole small solve --------------------------------------------------------------------------


def test_diabetes_quartile_groups_against_cvxpy():
    """scikit-learn's diabetes, 4 groups at the target's quartiles, squared loss, l2 = 0:
    the fast method certifies the value cvxpy finds, within the tolerance."""
    X, y = load_diabetes(return_X_y=True)
    groups = np.searchsorted(np.quantile(y, [0.25, 0.5, 0.75]), y, side="right")
    fast = solve_linear(X, y, "squared", groups=groups, l2=0.0, tol=1e-6)
    assert fast.method in ("dual_newton", "smoothed_newton")
    assert fast.gap <= 1e-6 * max(1.0, abs(fast.value))
    ref = solve_linear(X, y, "squared", groups=groups, l2=0.0, tol=1e-6, method="cvxpy")
    assert fast.value == pytest.approx(ref.value, rel=1e-5)
    assert fast.lower_bound <= ref.value * (1 + 1e-6)
