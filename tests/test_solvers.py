"""solve_linear: the two methods against each other, against scikit-learn, and its certificate."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from almo._validation import ALMOValueError
from almo.losses import make_loss
from almo.mixtures import BoxSimplex, MixtureSet, Polytope, PriorBall, Simplex
from almo.solvers import ConvergenceWarning, LinearSolution, solve_linear


def _classification(rng, n=120, d=4, classes=3):
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, classes))
    y = np.argmax(X @ W + 1.5 * rng.gumbel(size=(n, classes)), axis=1)
    return X, y


def _regression(rng, n=120, d=4):
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.5 + rng.standard_t(3, size=n)
    return X, y


def _set(index, p):
    """Built on demand: Polytope compiles cvxpy problems when constructed."""
    return [
        lambda: Simplex(p),
        lambda: BoxSimplex(lower=np.full(p, 0.1), upper=np.full(p, 0.6)),
        lambda: Polytope(A=np.eye(p)[:1] - np.eye(p)[1:2], b=[0.0]),  # λ_0 ≤ λ_1
        lambda: PriorBall(np.full(p, 1.0 / p), radius=0.3, divergence="l1"),
        lambda: PriorBall(np.full(p, 1.0 / p), radius=0.2, divergence="chi2"),
        lambda: PriorBall(np.full(p, 1.0 / p), radius=0.1, divergence="kl"),
    ][index]()


def _assert_certified(sol: LinearSolution, mixture_set, tol=1e-6):
    assert sol.status == "optimal"
    assert sol.lower_bound <= sol.value + 1e-12
    assert sol.gap <= tol * max(1.0, abs(sol.value))
    assert mixture_set.contains(sol.weights, atol=1e-8)
    # `value` is the exact worst case at the returned model.
    worst = mixture_set.worst_case(sol.losses).value
    penalty = sol.value - worst
    assert penalty >= -1e-12


@pytest.mark.parametrize("set_index", range(6))
def test_methods_agree_multiclass_groups(rng, set_index):
    X, y = _classification(rng)
    groups = (X[:, 3] > 0).astype(int)
    ms = _set(set_index, 4)
    kw = dict(groups=groups, mixture_set=ms, l2=0.02, normalize="initial")
    fast = solve_linear(X, y, ["log_loss", "squared"], method="dual_newton", **kw)
    ref = solve_linear(X, y, ["log_loss", "squared"], method="cvxpy", **kw)
    for sol in (fast, ref):
        _assert_certified(sol, ms)
    assert fast.names == ("log_loss@group0", "log_loss@group1", "squared@group0", "squared@group1")
    assert abs(fast.value - ref.value) <= 1e-5
    assert np.abs(fast.coef_ - ref.coef_).max() <= 1e-3  # strongly convex: W is unique


@pytest.mark.parametrize("losses", [["log_loss", "squared", "squared_hinge"], ["squared", "huber"]])
def test_methods_agree_binary_and_regression(rng, losses):
    if "huber" in losses:
        X, y = _regression(rng)
    else:
        X, y = _classification(rng, classes=2)
    ms = BoxSimplex(lower=np.full(len(losses), 0.1), upper=np.full(len(losses), 0.8))
    kw = dict(mixture_set=ms, l2=0.05, normalize="initial")
    fast = solve_linear(X, y, losses, **kw)
    ref = solve_linear(X, y, losses, method="cvxpy", **kw)
    assert fast.method == "dual_newton" and ref.method == "cvxpy"
    _assert_certified(fast, ms)
    _assert_certified(ref, ms)
    assert abs(fast.value - ref.value) <= 1e-5
    assert np.abs(fast.weights - ref.weights).max() <= 1e-3


def test_complementary_slackness(rng):
    X, y = _classification(rng, n=150)
    groups = rng.integers(0, 3, size=150)
    # tol 1e-7: at 1e-8 the dual Newton method sits at its precision floor on this instance
    sol = solve_linear(
        X, y, ["log_loss", "squared"], groups=groups, l2=0.01, normalize="initial", tol=1e-7
    )
    worst = sol.losses.max()
    active = sol.weights > 1e-6
    assert active.sum() >= 2
    # Objectives carrying weight sit at the worst case (Simplex: max); gap-sized slack.
    assert np.all(sol.losses[active] >= worst - 1e-5)
    assert np.isclose(sol.weights @ sol.losses, worst, atol=1e-6)


@pytest.mark.parametrize("classes", [2, 3])
def test_log_loss_equals_logistic_regression(rng, classes):
    X, y = _classification(rng, n=150, classes=classes)
    l2 = 0.01
    sol = solve_linear(X, y, "log_loss", l2=l2, tol=1e-10)
    # sklearn: C Σ_i log-loss + ½‖W‖²  ⇔  (1/n) Σ log-loss + l2 ‖W‖² with C = 1 / (2 n l2).
    ref = LogisticRegression(C=1.0 / (2 * len(y) * l2), tol=1e-12, max_iter=10_000).fit(X, y)
    assert sol.coef_.shape == ref.coef_.shape
    assert np.abs(sol.coef_ - ref.coef_).max() <= 1e-4
    # Softmax scores are invariant to a common intercept shift: compare centred intercepts.
    centre = (lambda b: b - b.mean()) if classes > 2 else (lambda b: b)
    assert np.abs(centre(sol.intercept_) - centre(ref.intercept_)).max() <= 1e-4
    assert np.array_equal(sol.classes_, ref.classes_)


def test_squared_equals_ridge(rng):
    X, y = _regression(rng)
    l2 = 0.03
    sol = solve_linear(X, y, "squared", l2=l2, tol=1e-10)
    ref = Ridge(alpha=len(y) * l2).fit(X, y)  # ‖y − Xw − b‖² + α‖w‖²
    assert np.abs(sol.coef_ - ref.coef_).max() <= 1e-8
    assert abs(sol.intercept_ - ref.intercept_) <= 1e-8


def _direct_cvxpy(X, y, losses_expr, l2):
    """An independent reference for Simplex: min max_k L_k + l2 ‖w‖² written directly."""
    n, d = X.shape
    w, b = cp.Variable(d), cp.Variable()
    s = X @ w + b
    objs = [f(s, y) / n for f in losses_expr]
    prob = cp.Problem(cp.Minimize(cp.maximum(*objs) + l2 * cp.sum_squares(w)))
    prob.solve(solver=cp.CLARABEL)
    return prob.value


@pytest.mark.parametrize("l2", [0.0, 0.02])
def test_nonsmooth_regression_matches_direct_formulation(rng, l2):
    X, y = _regression(rng, n=100, d=3)
    sol = solve_linear(X, y, ["absolute", make_loss("pinball", tau=0.8), "huber"], l2=l2)
    assert sol.method == "smoothed_newton"
    _assert_certified(sol, Simplex(3))
    ref = _direct_cvxpy(
        X,
        y,
        [
            lambda s, t: cp.norm1(s - t),
            lambda s, t: cp.sum(cp.maximum(0.8 * (t - s), -0.2 * (t - s))),
            lambda s, t: 0.5 * cp.sum(cp.huber(s - t, 1.0)),
        ],
        l2,
    )
    assert abs(sol.value - ref) <= 1e-6
    assert sol.names == ("absolute", "pinball(tau=0.8)", "huber")


@pytest.mark.parametrize("classes", [2, 3])
def test_hinge_is_certified(rng, classes):
    X, y = _classification(rng, n=100, d=3, classes=classes)
    for l2 in (0.0, 0.01):
        sol = solve_linear(
            X, y, ["hinge", "squared_hinge", "log_loss"], l2=l2, groups=(X[:, 0] > 0).astype(int)
        )
        # smoothed unless the log_loss rows are separable without a ridge (then the conic form)
        assert sol.method in ("smoothed_newton", "cvxpy")
        assert sol.method == "smoothed_newton" or l2 == 0
        _assert_certified(sol, Simplex(6))


def test_binary_hinge_matches_direct_formulation(rng):
    X, y = _classification(rng, n=100, d=3, classes=2)
    sol = solve_linear(X, y, ["hinge", "squared"], l2=0.01)
    sign = 2.0 * y - 1.0
    ref = _direct_cvxpy(
        X,
        sign,
        [lambda s, t: cp.sum(cp.pos(1 - cp.multiply(t, s))), lambda s, t: cp.sum_squares(s - t)],
        0.01,
    )
    assert abs(sol.value - ref) <= 1e-6


def test_normalization(rng):
    X, y = _classification(rng, n=90, classes=3)
    sol = solve_linear(X, y, ["log_loss", "hinge", "squared"], l2=0.1, normalize="initial")
    # At W = 0, b = 0: log C, the Crammer–Singer margin 1, and ‖e_y‖² = 1.
    assert np.allclose(sol.scales, [np.log(3), 1.0, 1.0])
    fixed = solve_linear(
        X, y, ["log_loss", "hinge", "squared"], l2=0.1, normalize=[np.log(3), 1.0, 1.0]
    )
    assert abs(sol.value - fixed.value) <= 1e-6
    plain = solve_linear(X, y, ["log_loss", "squared"], l2=0.1)
    assert np.allclose(plain.scales, 1.0)


def test_convergence_warning(rng):
    X, y = _classification(rng, n=100, classes=3)
    with pytest.warns(ConvergenceWarning, match="certified gap"):
        sol = solve_linear(
            X, y, ["log_loss", "squared"], groups=rng.integers(0, 2, 100), l2=0.01, max_iter=1
        )
    assert sol.status == "inaccurate"
    assert sol.lower_bound <= sol.value  # still a valid bracket


def test_solution_is_frozen(rng):
    X, y = _regression(rng, n=40, d=2)
    sol = solve_linear(X, y, "squared", l2=0.1, fit_intercept=False)
    with pytest.raises(AttributeError):
        sol.value = 0.0  # type: ignore[misc]
    assert sol.intercept_ == 0.0 and sol.coef_.shape == (2,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            dict(X=np.array([[np.nan, 1.0], [0.0, 1.0]]), y=np.array([0, 1]), losses="log_loss"),
            "`X` must hold finite",
        ),
        (dict(losses="brier"), "convex in the weights"),
        (dict(losses=["log_loss", "zero_one"]), "convex in the weights"),
        (dict(losses="focal"), "convex in the weights"),
        (dict(y=np.linspace(0, 1, 6), losses="log_loss"), "integer class labels"),
        (dict(losses="absolute"), "floating regression targets"),
        (dict(losses=["log_loss", "absolute"]), "all classification or all regression"),
        (dict(y=np.zeros(6, dtype=int)), "at least two classes"),
        (dict(y=np.array([0, 1, 0])), r"shape \(6,\)"),
        (dict(mixture_set=Simplex(3)), "MixtureSet over p = 1"),
        (dict(method="fast"), "`method` must"),
        (dict(losses="hinge", method="dual_newton", l2=0.1), "non-smooth objectives"),
        (dict(method="dual_newton", l2=0.0, y=np.array([0, 0, 0, 1, 1, 1])), "separable"),
        (dict(normalize=[1.0, -1.0]), "positive scales"),
        (dict(groups=np.array([0.5] * 6)), "group id"),
        (dict(losses=["log_loss", "log_loss"]), "distinct"),
        (dict(tol=0.0), "`tol` must"),
    ],
)
def test_bad_input(kwargs, match):
    base = dict(
        X=np.arange(12.0).reshape(6, 2), y=np.array([0, 1, 0, 1, 1, 0]), losses="log_loss", l2=0.1
    )
    base.update(kwargs)
    with pytest.raises(ALMOValueError, match=match):
        solve_linear(**base)


def test_initial_normalization_rejects_zero(rng):
    X = rng.normal(size=(10, 2))
    with pytest.raises(ALMOValueError, match="finite and > 0"):
        solve_linear(X, np.zeros(10), "squared", normalize="initial", l2=0.1)


class _CappedSet(MixtureSet):
    """A user-defined set (λ ≤ 0.5 on the simplex), known to the solver only by its methods."""

    def __init__(self, p):
        self.p = p
        self._box = BoxSimplex(lower=np.zeros(p), upper=np.full(p, max(0.5, 1.0 / p)))

    def _project_np(self, v):
        return self._box.project(v)

    def _worst_case_np(self, ell):
        return self._box.worst_case(ell).weights

    def _contains_np(self, w, atol):
        return self._box.contains(w[0] if w.ndim == 2 else w, atol)

    def _uniform(self):
        return np.full(self.p, 1.0 / self.p)


def test_any_mixture_set_with_the_fast_method(rng):
    X, y = _classification(rng, n=100, classes=2)
    kw = dict(l2=0.05, normalize="initial")
    custom = solve_linear(
        X, y, ["log_loss", "squared", "squared_hinge"], mixture_set=_CappedSet(3), **kw
    )
    box = BoxSimplex(lower=np.zeros(3), upper=np.full(3, 0.5))
    ref = solve_linear(
        X, y, ["log_loss", "squared", "squared_hinge"], mixture_set=box, method="cvxpy", **kw
    )
    assert custom.method == "dual_newton"
    _assert_certified(custom, box)
    assert abs(custom.value - ref.value) <= 1e-5
    # A set with no conic form also goes through the cvxpy method (cutting planes).
    via_cvxpy = solve_linear(
        X,
        y,
        ["log_loss", "squared", "squared_hinge"],
        mixture_set=_CappedSet(3),
        method="cvxpy",
        **kw,
    )
    assert abs(via_cvxpy.value - ref.value) <= 1e-5
