"""solve_linear over a single-point mixture set Λ = {λ}: the fixed-weight problem
min over (W, b) of Σ_k λ_k L̂_k(W, b) + l2 ‖W‖², with hinge among the losses.

There is no step on λ, so the smoothed path is the continuation on the losses alone and each
stage's inner problem must be solved to its minimizer. The reference is an independent cvxpy
program written here from the losses' formulas (Crammer–Singer hinge
``max_j (s_j + [j ≠ y]) − s_y``, softmax cross-entropy ``logsumexp(s) − s_y``), solved by
Clarabel far past its defaults (optimum good to ~1e-8 relative on these sizes). The returned
value must be the exact objective of the returned model (a numpy evaluation), the lower bound
at most the reference optimum (+1e-8 rounding slack), and the certified relative gap ≤ 1e-6.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from almo import BoxSimplex
from almo.exceptions import ConvergenceWarning
from almo.solvers import _dual_newton, solve_linear
from almo.solvers._dual_newton import DualNewtonResult

CLARABEL = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}
LOSSES = ["log_loss", "hinge", "squared"]
L2 = 1e-3


def _data(n: int = 150, d: int = 5, classes: int = 3, seed: int = 0):
    """Three overlapping Gaussian classes (not separable: hinge has support vectors)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(classes, size=n)
    centres = rng.normal(scale=1.5, size=(classes, d))
    X = centres[y] + rng.normal(size=(n, d))
    return X, y


def _hinge(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    margin = S + 1.0
    margin[np.arange(len(y)), y] -= 1.0
    return margin.max(axis=1) - S[np.arange(len(y)), y]


def _log_loss(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    top = S.max(axis=1)
    return top + np.log(np.exp(S - top[:, None]).sum(axis=1)) - S[np.arange(len(y)), y]


def _objective(X, y, lam, W, b) -> float:
    """The fixed-weight objective in numpy (log_loss and hinge weights only)."""
    S = X @ W + b
    return float(lam[0] * _log_loss(S, y).mean() + lam[1] * _hinge(S, y).mean() + L2 * np.sum(W**2))


def _reference(X, y, lam) -> float:
    n, d = X.shape
    C = int(y.max()) + 1
    W, b = cp.Variable((d, C)), cp.Variable(C)
    S = X @ W + np.ones((n, 1)) @ cp.reshape(b, (1, C), order="C")
    Y = np.eye(C)[y]
    true = cp.sum(cp.multiply(Y, S), axis=1)
    hinge = cp.max(S + (1.0 - Y), axis=1) - true
    terms = [lam[1] * cp.sum(hinge) / n]
    if lam[0] > 0:
        terms.append(lam[0] * cp.sum(cp.log_sum_exp(S, axis=1) - true) / n)
    prob = cp.Problem(cp.Minimize(sum(terms) + L2 * cp.sum_squares(W)))
    prob.solve(solver=cp.CLARABEL, **CLARABEL)
    assert prob.status == "optimal"
    return float(prob.value)


def _solve(X, y, lam, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return solve_linear(X, y, LOSSES, mixture_set=BoxSimplex(lower=lam, upper=lam), l2=L2, **kw)


@pytest.mark.parametrize("lam", [(0.0, 1.0, 0.0), (1 / 3, 2 / 3, 0.0)])
@pytest.mark.parametrize("method", ["smoothed_newton", "auto"])
def test_single_point_certifies_the_fixed_weight_problem(lam, method):
    X, y = _data()
    lam = np.array(lam)
    sol = _solve(X, y, lam, method=method)
    ref = _reference(X, y, lam)
    assert sol.status == "optimal"
    assert sol.method == "smoothed_newton"  # "auto" no longer hands it to the conic solver
    np.testing.assert_allclose(sol.weights, lam, atol=1e-12)
    # the upper bound is the exact objective of the returned model on the original problem
    exact = _objective(X, y, lam, sol.coef_.T, sol.intercept_)
    assert sol.value == pytest.approx(exact, rel=1e-9)
    # a valid lower bound: never above the optimum; a gap within tol
    assert sol.lower_bound <= ref + 1e-8 * max(1.0, ref)
    assert sol.value >= ref - 1e-8 * max(1.0, ref)
    assert sol.gap <= 1e-6 * max(1.0, sol.value)
    # the solver's tolerance is absolute below 1 (tol · max(1, |value|))
    assert abs(sol.value - ref) <= 1e-6 * max(1.0, ref) + 1e-8


def test_single_point_is_a_few_newton_stages():
    """Hinge alone (an SVM): a handful of outer iterations, not a crawl down the continuation."""
    X, y = _data(n=200, seed=1)
    lam = np.array([0.0, 1.0, 0.0])
    sol = _solve(X, y, lam, method="smoothed_newton", max_iter=1000)
    assert sol.status == "optimal"
    assert sol.n_iter <= 30


def test_a_point_inside_the_simplex_matches_the_simplex_solve_there():
    """At the minimax weights of the full simplex, the single-point problem has the same value
    (the game's saddle point is a minimizer of the fixed-weight problem at λ*)."""
    X, y = _data(n=120, seed=2)
    full = solve_linear(X, y, LOSSES[:2], l2=L2, method="smoothed_newton")
    assert full.status == "optimal"
    lam = np.clip(full.weights, 0.0, None)
    lam = lam / lam.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixed = solve_linear(
            X,
            y,
            LOSSES[:2],
            mixture_set=BoxSimplex(lower=lam, upper=lam),
            l2=L2,
            method="smoothed_newton",
        )
    assert fixed.status == "optimal"
    # g(λ*) = the game's value: both certified to 1e-6 relative
    assert abs(fixed.value - full.value) <= 2e-6 * max(1.0, full.value) + 1e-8


def test_iteration_limit_names_the_limit_passed():
    X, y = _data(n=100, seed=3)
    lam = np.array([0.0, 1.0, 0.0])
    with pytest.warns(ConvergenceWarning, match=r"iteration limit was reached.*\(it was 1\)"):
        sol = solve_linear(
            X,
            y,
            LOSSES,
            mixture_set=BoxSimplex(lower=lam, upper=lam),
            l2=L2,
            method="smoothed_newton",
            max_iter=1,
        )
    assert sol.status == "inaccurate"
    assert sol.n_iter == 1


def test_a_continuation_that_runs_out_of_smoothing_is_not_called_an_iteration_limit(monkeypatch):
    """Stages that never close the gap, with iterations to spare: the path ends at its smallest
    μ, and the warning says so instead of asking for a larger max_iter."""
    X, y = _data(n=80, seed=4)
    real = _dual_newton._solve

    def stuck(problem, mixture_set, tol, max_iter, **kw):
        res = real(problem, mixture_set, tol, 1, **kw)
        res.lower = 0.0  # no certificate from any stage
        return DualNewtonResult(
            res.theta, res.weights, res.upper, 0.0, 1, res.newton_steps, "stage", res.last
        )

    monkeypatch.setattr(_dual_newton, "_solve", stuck)
    lam = np.array([0.0, 1.0, 0.0])
    with pytest.warns(ConvergenceWarning) as record:
        sol = solve_linear(
            X,
            y,
            LOSSES,
            mixture_set=BoxSimplex(lower=lam, upper=lam),
            l2=L2,
            method="smoothed_newton",
            max_iter=1000,
        )
    message = str(record[0].message)
    assert sol.status == "inaccurate"
    assert sol.n_iter < 1000
    assert "iteration limit" not in message
    assert "smallest smoothing level" in message


def test_separable_digits_hinge_alone_certifies_against_cvxpy():
    """100 digits, 64 standardized pixels, 10 classes: linearly separable, so the hinge's
    support vectors are few and each smoothed stage's inner Newton needs more than its usual
    step budget; the stages must still end at their minimizers and certify."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[:100]), y[:100]
    lam = np.array([0.0, 1.0, 0.0])
    sol = _solve(X, y, lam, method="smoothed_newton", max_iter=1000)
    ref = _reference(X, y, lam)
    assert sol.status == "optimal"
    assert sol.n_iter <= 30
    exact = _objective(X, y, lam, sol.coef_.T, sol.intercept_)
    assert sol.value == pytest.approx(exact, rel=1e-9)
    assert sol.lower_bound <= ref + 1e-8 * max(1.0, ref)
    assert abs(sol.value - ref) <= 1e-6 * max(1.0, ref) + 1e-8
