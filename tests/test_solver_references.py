"""solve_linear against independent references: limit cases, closed forms and invariances.

The solver's convention (read from src/almo/solvers): objective k is the *mean* of its loss
over its rows (divided by its scale, 1 here), plus ``l2 * ||W||^2`` with the intercept free.
scikit-learn's ``C * sum(loss) + 0.5 * ||w||^2`` is then the same problem with
``C = 1 / (2 n l2)``, and Ridge's ``sum(r^2) + alpha ||w||^2`` has ``alpha = n * l2``.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC

from almo.mixtures import BoxSimplex, PriorBall
from almo.solvers import solve_linear


def _binary(rng, n=80, d=3):
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(int)
    return X, y


def _regression(rng, n=80, d=3):
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.3 + rng.normal(size=n)
    return X, y


# --- p = 1: the single-loss regularized model ------------------------------------------------


def test_binary_log_loss_without_intercept_equals_logistic_regression(rng):
    X, y = _binary(rng)
    l2 = 0.02
    sol = solve_linear(X, y, "log_loss", l2=l2, fit_intercept=False, tol=1e-10)
    ref = LogisticRegression(
        C=1 / (2 * len(y) * l2), fit_intercept=False, tol=1e-12, max_iter=10_000
    ).fit(X, y)
    assert np.abs(sol.coef_ - ref.coef_).max() <= 1e-5
    assert np.all(sol.intercept_ == 0.0)
    # The value is the regularized mean log-loss at the reference model (same optimum).
    s = X @ ref.coef_[0]
    ref_value = np.mean(np.logaddexp(0, -(2 * y - 1) * s)) + l2 * np.sum(ref.coef_**2)
    assert abs(sol.value - ref_value) <= 1e-8


def test_squared_on_binary_labels_is_ridge_on_signed_targets(rng):
    """The binary squared loss is (s - y±)^2: ridge regression on ±1 targets."""
    X, y = _binary(rng)
    l2 = 0.05
    sol = solve_linear(X, y, "squared", l2=l2, tol=1e-10)
    ref = Ridge(alpha=len(y) * l2).fit(X, 2.0 * y - 1.0)
    assert sol.coef_.shape == (1, 3)
    assert np.abs(sol.coef_[0] - ref.coef_).max() <= 1e-7
    assert abs(sol.intercept_[0] - ref.intercept_) <= 1e-7


def test_squared_without_intercept_is_ridge_closed_form(rng):
    X, y = _regression(rng)
    n, l2 = len(y), 0.1
    sol = solve_linear(X, y, "squared", l2=l2, fit_intercept=False, tol=1e-10)
    w = np.linalg.solve(X.T @ X + n * l2 * np.eye(X.shape[1]), X.T @ y)
    assert np.abs(sol.coef_ - w).max() <= 1e-8
    assert abs(sol.value - (np.mean((X @ w - y) ** 2) + l2 * w @ w)) <= 1e-9


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_binary_margin_losses_match_linear_svc_objective(rng, loss):
    """LinearSVC (no intercept) minimizes 0.5||w||^2 + C sum loss: compare optimal values."""
    X, y = _binary(rng, n=60)
    n, l2 = len(y), 0.05
    sol = solve_linear(X, y, loss, l2=l2, fit_intercept=False)
    ref = LinearSVC(
        C=1 / (2 * n * l2), loss=loss, fit_intercept=False, dual=True, tol=1e-10, max_iter=200_000
    ).fit(X, y)
    margins = np.maximum(0, 1 - (2 * y - 1) * (X @ ref.coef_[0]))
    per = margins if loss == "hinge" else margins**2
    ref_value = per.mean() + l2 * np.sum(ref.coef_**2)
    assert sol.status == "optimal"
    # ref_value is a primal value: it cannot be below the certified lower bound ...
    assert ref_value >= sol.lower_bound - 1e-9
    # ... and liblinear reaches the optimum to about its own tolerance.
    assert abs(sol.value - ref_value) <= 1e-4 * max(1.0, ref_value)


# --- fixed mixtures: a degenerate set is the weighted problem ---------------------------------


def _weighted_reference(X, y, w, l2):
    """min over (v, b) of w0 mean squared + w1 mean huber(delta=1) + l2 ||v||^2, by BFGS."""
    d = X.shape[1]

    def f(z):
        r = X @ z[:d] + z[d] - y
        a = np.abs(r)
        huber = np.where(a <= 1.0, 0.5 * r**2, a - 0.5)
        return w[0] * np.mean(r**2) + w[1] * np.mean(huber) + l2 * z[:d] @ z[:d]

    res = minimize(f, np.zeros(d + 1), method="BFGS", options={"gtol": 1e-10})
    return res.fun, res.x


@pytest.mark.parametrize("kind", ["ball", "box"])
@pytest.mark.parametrize("w0", [0.2, 0.75])
def test_degenerate_set_equals_weighted_problem(rng, kind, w0):
    X, y = _regression(rng, n=70)
    w = np.array([w0, 1 - w0])
    ms = PriorBall(w, radius=0.0) if kind == "ball" else BoxSimplex(lower=w, upper=w)
    sol = solve_linear(X, y, ["squared", "huber"], mixture_set=ms, l2=0.05, tol=1e-10)
    ref_value, z = _weighted_reference(X, y, w, 0.05)
    assert np.allclose(sol.weights, w, atol=1e-9)
    assert abs(sol.value - ref_value) <= 1e-7
    assert np.abs(sol.coef_ - z[:-1]).max() <= 1e-4
    assert abs(sol.intercept_ - z[-1]) <= 1e-4


# --- worst case over groups vs a cvxpy epigraph written here ---------------------------------


@pytest.mark.parametrize("l2", [0.0, 0.03])
def test_group_worst_case_absolute_matches_epigraph(rng, l2):
    X, y = _regression(rng, n=90)
    groups = rng.integers(0, 3, size=90)
    sol = solve_linear(X, y, "absolute", groups=groups, l2=l2)
    w, b, t = cp.Variable(3), cp.Variable(), cp.Variable()
    cons = [
        cp.sum(cp.abs(X[groups == g] @ w + b - y[groups == g])) / np.sum(groups == g) <= t
        for g in range(3)
    ]
    prob = cp.Problem(cp.Minimize(t + l2 * cp.sum_squares(w)), cons)
    prob.solve(solver=cp.CLARABEL)
    assert sol.names == ("absolute@group0", "absolute@group1", "absolute@group2")
    assert abs(sol.value - prob.value) <= 1e-6 * max(1.0, prob.value)
    # λ are the epigraph's multipliers (unique here up to solver accuracy).
    duals = np.array([c.dual_value for c in cons]).ravel()
    assert np.abs(sol.weights - duals).max() <= 1e-3


def test_group_worst_case_logistic_matches_epigraph(rng):
    X, y = _binary(rng, n=90)
    groups = np.where(X[:, 0] > 0.3, "north", "south")
    l2 = 0.02
    sol = solve_linear(X, y, "log_loss", groups=groups, l2=l2, tol=1e-9)
    sign = 2.0 * y - 1.0
    w, b, t = cp.Variable(3), cp.Variable(), cp.Variable()
    cons = []
    for g in ("north", "south"):
        m = groups == g
        cons.append(cp.sum(cp.logistic(-cp.multiply(sign[m], X[m] @ w + b))) / m.sum() <= t)
    prob = cp.Problem(cp.Minimize(t + l2 * cp.sum_squares(w)), cons)
    prob.solve(solver=cp.CLARABEL)
    assert sol.names == ("log_loss@north", "log_loss@south")
    assert abs(sol.value - prob.value) <= 1e-6
    assert np.abs(sol.coef_[0] - w.value).max() <= 1e-3


# --- invariances ------------------------------------------------------------------------------


def test_duplicated_rows_are_sample_weights(rng):
    X, y = _regression(rng, n=40)
    counts = rng.integers(1, 4, size=40)
    l2 = 0.05
    sol = solve_linear(
        np.repeat(X, counts, axis=0), np.repeat(y, counts), "squared", l2=l2, tol=1e-10
    )
    ref = Ridge(alpha=counts.sum() * l2).fit(X, y, sample_weight=counts)
    assert np.abs(sol.coef_ - ref.coef_).max() <= 1e-7
    assert abs(sol.intercept_ - ref.intercept_) <= 1e-7


def test_duplicating_a_whole_group_changes_nothing(rng):
    """Each group's objective is a mean: repeating all of a group's rows k times keeps it."""
    X, y = _binary(rng, n=60)
    groups = (X[:, 1] > 0).astype(int)
    kw = dict(losses=["log_loss", "squared"], l2=0.05, tol=1e-8)
    base = solve_linear(X, y, groups=groups, **kw)
    reps = np.where(groups == 0, 3, 1)
    dup = solve_linear(
        np.repeat(X, reps, axis=0), np.repeat(y, reps), groups=np.repeat(groups, reps), **kw
    )
    assert abs(base.value - dup.value) <= 1e-8
    assert np.allclose(base.weights, dup.weights, atol=1e-5)
    assert np.allclose(base.losses, dup.losses, atol=1e-8)
    assert np.allclose(base.coef_, dup.coef_, atol=1e-5)
    # but the per-group counts in the report are the repeated ones
    assert dup.report.counts[0] == 3 * base.report.counts[0]


def test_permuting_rows_changes_nothing(rng):
    X = rng.normal(size=(90, 3))
    y = rng.integers(0, 3, size=90)
    groups = rng.integers(0, 2, size=90)
    kw = dict(losses=["log_loss", "squared"], l2=0.05, normalize="initial", tol=1e-8)
    base = solve_linear(X, y, groups=groups, **kw)
    perm = rng.permutation(90)
    other = solve_linear(X[perm], y[perm], groups=groups[perm], **kw)
    assert abs(base.value - other.value) <= 2e-8
    assert np.allclose(base.weights, other.weights, atol=1e-4)
    assert np.allclose(base.coef_, other.coef_, atol=1e-4)


def test_renaming_class_labels_changes_nothing(rng):
    X = rng.normal(size=(90, 3))
    y = rng.integers(0, 3, size=90)
    kw = dict(losses=["log_loss", "squared"], l2=0.05, tol=1e-8)
    base = solve_linear(X, y, **kw)
    names = np.array(["zeta", "alpha", "mu"])  # sorted order differs from 0, 1, 2
    other = solve_linear(X, names[y], **kw)
    assert list(other.classes_) == ["alpha", "mu", "zeta"]
    assert abs(base.value - other.value) <= 2e-8
    assert np.allclose(base.weights, other.weights, atol=1e-4)
    # coef_ rows follow the classes: class "alpha" is the old class 1, etc.
    order = [1, 2, 0]
    assert np.allclose(base.coef_[order], other.coef_, atol=1e-4)


def test_renaming_binary_labels_flips_the_score(rng):
    X, y = _binary(rng)
    base = solve_linear(X, y, "log_loss", l2=0.05, tol=1e-10)
    flipped = solve_linear(X, 1 - y, "log_loss", l2=0.05, tol=1e-10)
    assert abs(base.value - flipped.value) <= 1e-9
    assert np.allclose(base.coef_, -flipped.coef_, atol=1e-6)
    assert np.allclose(base.intercept_, -flipped.intercept_, atol=1e-6)


def test_scaling_columns_is_undone_by_coef_least_squares(rng):
    X, y = _regression(rng, n=60)
    scale = np.array([10.0, 0.1, 3.0])
    sol = solve_linear(X, y, "squared", l2=0.0)
    scaled = solve_linear(X * scale, y, "squared", l2=0.0)
    lstsq, *_ = np.linalg.lstsq(np.hstack([X, np.ones((60, 1))]), y, rcond=None)
    assert np.abs(sol.coef_ - lstsq[:3]).max() <= 1e-6
    assert np.abs(scaled.coef_ * scale - sol.coef_).max() <= 1e-6
    assert abs(scaled.intercept_ - sol.intercept_) <= 1e-6
    assert abs(scaled.value - sol.value) <= 1e-8 * max(1.0, sol.value)
