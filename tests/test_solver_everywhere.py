"""The certified solver everywhere: l2 = 0 and non-smooth losses through the fast methods,
honest stop messages, and solutions that predict — each against an independent reference
(a direct cvxpy formulation written here, closed forms, finite differences)."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import ObjectiveFamily
from almo._validation import ALMOValueError
from almo.losses import Targets, make_loss
from almo.mixtures import BoxSimplex
from almo.solvers import ConvergenceWarning, solve_linear
from almo.solvers._minimizer import separable_objectives
from almo.solvers._problem import build_problem
from almo.solvers._smoothing import smooth_loss

CLARABEL = dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)


def _grouped_regression(seed, n=150, d=3, G=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    g = rng.integers(0, G, n)
    y = X @ rng.normal(size=d) + (1.0 + g) * rng.standard_t(4, size=n) + 0.3 * g
    return X, y, g


def _direct_groups(X, y, g, per_sample, l2, C=1):
    """min over (W, b) of max over groups and losses of the group mean + l2 ‖W‖², by Clarabel."""
    n, d = X.shape
    W, b = cp.Variable((d, C)), cp.Variable(C)
    S = X @ W + np.ones((n, 1)) @ cp.reshape(b, (1, C), order="C")
    terms = []
    for f in per_sample:
        for k in np.unique(g):
            rows = np.flatnonzero(g == k)
            terms.append(f(S[rows], rows) / rows.size)
    prob = cp.Problem(cp.Minimize(cp.max(cp.hstack(terms)) + l2 * cp.sum_squares(W)))
    with warnings.catch_warnings():  # "inaccurate" at these tight tolerances: still ~1e-8
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        prob.solve(solver=cp.CLARABEL, **CLARABEL)
    return float(prob.value)


def _check(sol, ref, tol=1e-6, slack=1e-7):
    """Certified to tol, and the bracket [lower, value] contains the independent optimum."""
    assert sol.status == "optimal", (sol.gap, sol.method)
    assert sol.gap <= tol * max(1.0, abs(sol.value))
    assert sol.lower_bound <= ref + slack * max(1.0, abs(ref))
    assert sol.value >= ref - slack * max(1.0, abs(ref))


# --------------------------------------------------------------------------- l2 = 0, smooth


@pytest.mark.parametrize("seed", [0, 1])
def test_least_squares_without_ridge_is_fast_and_matches_cvxpy(seed):
    X, y, g = _grouped_regression(seed)
    sol = solve_linear(X, y, "squared", groups=g, l2=0.0)
    assert sol.method == "dual_newton" and sol.n_iter <= 20
    ref = _direct_groups(X, y, g, [lambda S, r: cp.sum_squares(S[:, 0] - y[r])], 0.0)
    _check(sol, ref)


def test_least_squares_without_ridge_on_a_box():
    X, y, g = _grouped_regression(3)
    box = BoxSimplex(lower=0.2, upper=0.5, p=3)
    fast = solve_linear(X, y, "squared", groups=g, l2=0.0, mixture_set=box)
    conic = solve_linear(X, y, "squared", groups=g, l2=0.0, mixture_set=box, method="cvxpy")
    assert fast.method == "dual_newton"
    _check(fast, conic.value, slack=2e-6)


def test_log_loss_without_ridge_on_overlapping_classes():
    """Not separable: the minimizer exists and the fast method certifies it."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(160, 2))
    y = (X[:, 0] + 1.5 * rng.normal(size=160) > 0).astype(int)
    g = (X[:, 1] > 0).astype(int)
    sol = solve_linear(X, y, ["log_loss", "squared"], groups=g, l2=0.0)
    assert sol.method == "dual_newton"
    sign = 2.0 * y - 1.0
    ref = _direct_groups(
        X,
        y,
        g,
        [
            lambda S, r: cp.sum(cp.logistic(-cp.multiply(sign[r], S[:, 0]))),
            lambda S, r: cp.sum_squares(S[:, 0] - sign[r]),
        ],
        0.0,
    )
    _check(sol, ref)


def test_separable_log_loss_has_a_clear_message():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ALMOValueError, match="separable") as info:
        solve_linear(X, y, "log_loss", l2=0.0, method="dual_newton")
    assert "l2=1e-6" in str(info.value)
    # auto takes the conic form, and the squared loss keeps the minimax bounded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = solve_linear(X, y, ["log_loss", "squared"], l2=0.0)
    assert sol.method == "cvxpy"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [([0, 1, 2, 0, 1, 2], []), ([0, 0, 1, 1, 2, 2], ["log_loss"])],
)
def test_multiclass_separability(labels, expected):
    """Points on a line: sorted labels are separable by a softmax model, interleaved ones not."""
    X = np.arange(6.0)[:, None]
    problem = build_problem(X, np.array(labels), "log_loss", None, 0.0, None, True)
    assert separable_objectives(problem) == expected


# --------------------------------------------------------------------------- smoothing

SMOOTHABLE = [
    ("multiclass", "hinge"),
    ("multiclass", "squared_hinge"),
    ("binary", "hinge"),
    ("regression", "absolute"),
    ("regression", "pinball"),
]


def _targets(task, rng, m, C=4):
    if task == "multiclass":
        return Targets.of_labels(rng.integers(0, C, m), C)
    if task == "binary":
        return Targets.of_labels(rng.integers(0, 2, m), 2)
    return Targets.of_values(rng.normal(size=m))


@pytest.mark.parametrize(("task", "name"), SMOOTHABLE)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), mu=st.sampled_from([1e-4, 1e-2, 0.3]))
def test_smoothed_losses(task, name, seed, mu):
    """f − μ-sized ≤ f_μ ≤ f; ∇f_μ lies in the original dual domain and matches finite
    differences; the generalized Hessian matches finite differences of ∇f_μ."""
    rng = np.random.default_rng(seed)
    params = {"tau": 0.3} if name == "pinball" else {}
    base = make_loss(name, **params).convex_form(task)
    form = smooth_loss(base, mu)
    t = _targets(task, rng, 30)
    C = 4 if task == "multiclass" else 1
    S = rng.normal(size=(30, C)) * 2
    f, fm = base.value(S, t), form.value(S, t)
    h = base.value(S, t) ** 0.5 if name == "squared_hinge" else 1.0
    assert np.all(fm <= f + 1e-12)
    assert np.all(fm >= f - mu * (0.5 + 2.0 * h) - 1e-12)
    U = form.grad(S, t)
    assert np.allclose(base.clip(U, t), U, atol=1e-12)
    eps = 1e-4 * mu
    for c in range(C):
        E = np.zeros_like(S)
        E[:, c] = eps
        num = (form.value(S + E, t) - form.value(S - E, t)) / (2 * eps)
        # exact up to rounding, except for the rare sample within eps of a kink of ∇f_μ
        good = np.isclose(num, U[:, c], rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(U).max())))
        assert good.mean() >= 0.9
    d, v = form.hess(S, t)
    plus = form.hess_plus(S, t) if hasattr(form, "hess_plus") else None
    direction = rng.normal(size=S.shape)
    Hd = d * direction
    if v is not None:
        Hd -= v * (v * direction).sum(axis=1, keepdims=True)
    if plus is not None:
        Hd += plus * (plus * direction).sum(axis=1, keepdims=True)
    step = 1e-9 * mu
    num = (form.grad(S + step * direction, t) - form.grad(S - step * direction, t)) / (2 * step)
    # the generalized Hessian is exact away from the kinks of ∇f_μ (a measure-zero set)
    close = np.isclose(num, Hd, rtol=1e-4, atol=1e-4 / mu).all(axis=1)
    assert close.mean() >= 0.9


@pytest.mark.parametrize("l2", [0.0, 0.02])
def test_absolute_and_pinball_against_cvxpy(l2):
    X, y, g = _grouped_regression(7, n=120, G=2)
    losses = ["absolute", make_loss("pinball", tau=0.8)]
    sol = solve_linear(X, y, losses, groups=g, l2=l2)
    assert sol.method == ("lp" if l2 == 0 else "smoothed_newton")
    ref = _direct_groups(
        X,
        y,
        g,
        [
            lambda S, r: cp.norm1(S[:, 0] - y[r]),
            lambda S, r: cp.sum(cp.maximum(0.8 * (y[r] - S[:, 0]), -0.2 * (y[r] - S[:, 0]))),
        ],
        l2,
    )
    _check(sol, ref)


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_multiclass_hinge_and_squared_hinge_against_cvxpy(l2):
    rng = np.random.default_rng(11)
    n, d, C = 120, 3, 3
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ rng.normal(size=(d, C)) + 1.5 * rng.gumbel(size=(n, C)), axis=1)
    g = (X[:, 0] > 0).astype(int)
    onehot = np.eye(C)[y]

    def margin(S, r):
        return cp.max(S + 1.0 - onehot[r], axis=1) - cp.sum(cp.multiply(onehot[r], S), axis=1)

    sol = solve_linear(X, y, ["hinge", "squared_hinge"], groups=g, l2=l2)
    assert sol.method == "smoothed_newton"
    ref = _direct_groups(
        X,
        y,
        g,
        [lambda S, r: cp.sum(margin(S, r)), lambda S, r: cp.sum_squares(cp.pos(margin(S, r)))],
        l2,
        C=C,
    )
    _check(sol, ref)


def test_binary_hinge_with_a_smooth_loss_against_cvxpy():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=100) > 0).astype(int)
    g = (X[:, 2] > 0).astype(int)
    sign = 2.0 * y - 1.0
    sol = solve_linear(X, y, ["hinge", "log_loss"], groups=g, l2=0.01, normalize="initial")
    assert sol.method == "smoothed_newton"
    # scales at W = 0, b = 0: hinge 1, log_loss log 2
    ref = _direct_groups(
        X,
        y,
        g,
        [
            lambda S, r: cp.sum(cp.pos(1 - cp.multiply(sign[r], S[:, 0]))),
            lambda S, r: cp.sum(cp.logistic(-cp.multiply(sign[r], S[:, 0]))) / np.log(2.0),
        ],
        0.01,
    )
    _check(sol, ref)


def test_smoothed_method_is_refused_where_nothing_applies():
    X = np.arange(6.0)[:, None]
    with pytest.raises(ALMOValueError, match="`method` must"):
        solve_linear(X, np.array([0, 0, 0, 1, 1, 1]), "log_loss", method="smoothed_newton")
    with pytest.raises(ALMOValueError, match="smoothed_newton"):
        solve_linear(X, np.array([0, 1, 0, 1, 1, 0]), "hinge", l2=0.1, method="dual_newton")


# --------------------------------------------------------------------------- stop messages


def test_iteration_limit_message_names_max_iter():
    X, y, g = _grouped_regression(1)
    with pytest.warns(ConvergenceWarning, match="iteration limit was reached; raise max_iter"):
        solve_linear(X, y, "squared", groups=g, l2=0.01, max_iter=1)


def test_precision_floor_message_does_not_ask_for_more_iterations():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + rng.normal(size=80) > 0).astype(int)
    g = (X[:, 1] > 0).astype(int)
    with pytest.warns(ConvergenceWarning) as record:
        sol = solve_linear(X, y, ["log_loss", "squared"], groups=g, l2=1e-3, tol=1e-15)
    message = str(record[0].message)
    assert "precision floor" in message and "raise max_iter" not in message
    assert sol.relative_gap <= 1e-10  # the floor is at rounding level, not far from tol


# --------------------------------------------------------------------------- prediction


def test_predict_and_decision_function_by_hand():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 3))
    Xn = rng.normal(size=(7, 3))
    # multiclass with string labels
    labels = np.array(["a", "b", "c"])[np.argmax(X @ rng.normal(size=(3, 3)), axis=1)]
    sol = solve_linear(X, labels, "log_loss", l2=0.1)
    scores = Xn @ sol.coef_.T + sol.intercept_
    assert np.allclose(sol.decision_function(Xn), scores, atol=1e-14)
    assert sol.predict(Xn).tolist() == sol.classes_[np.argmax(scores, axis=1)].tolist()
    # binary: one score, the logit of classes_[1]
    yb = (X[:, 0] > 0).astype(int) * 5 + 2  # labels 2 and 7
    sol_b = solve_linear(X, yb, "log_loss", l2=0.1)
    s = Xn @ sol_b.coef_[0] + sol_b.intercept_[0]
    assert np.allclose(sol_b.decision_function(Xn), s, atol=1e-14)
    assert sol_b.predict(Xn).tolist() == np.where(s > 0, 7, 2).tolist()
    # regression
    yr = X @ np.array([1.0, 2.0, -1.0]) + 0.5
    sol_r = solve_linear(X, yr, "squared", l2=0.0)
    assert np.allclose(sol_r.predict(Xn), Xn @ np.array([1.0, 2.0, -1.0]) + 0.5, atol=1e-8)
    with pytest.raises(ALMOValueError, match="`X` must have 3 columns"):
        sol_r.predict(np.ones((2, 4)))


def test_evaluate_reproduces_the_training_report_and_computes_new_data():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 2))
    y = np.argmax(X @ rng.normal(size=(2, 3)) + rng.gumbel(size=(200, 3)), axis=1)
    g = np.where(X[:, 0] > 0, "right", "left")
    sol = solve_linear(
        X[:120], y[:120], ["log_loss", "squared"], groups=g[:120], l2=0.01, normalize="initial"
    )
    train = sol.evaluate(X[:120], y[:120], groups=g[:120])
    assert train.names == sol.names
    assert np.allclose(train.raw, sol.report.raw, rtol=1e-12)
    assert abs(train.penalized_worst_case - sol.value) <= 1e-10
    new = sol.evaluate(X[120:], y[120:], groups=g[120:])
    # by hand: the fitted scales, the softmax cross-entropy of the left group
    S = X[120:] @ sol.coef_.T + sol.intercept_
    left = g[120:] == "left"
    logp = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(80), y[120:]][left].mean()
    assert new.names[0] == "log_loss@left"
    assert np.isclose(new.raw[0], ce, rtol=1e-12)
    assert np.allclose(new.scales, sol.scales)
    assert np.allclose(new.normalized, new.raw / sol.scales)
    # group ids work as well as labels (sorted: left = 0, right = 1)
    ids = (g[120:] == "right").astype(int)
    assert np.allclose(sol.evaluate(X[120:], y[120:], groups=ids).raw, new.raw)


def test_evaluate_refuses_bad_input():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 2))
    y = X[:, 0] + rng.normal(size=60)
    g = (X[:, 1] > 0).astype(int)
    sol = solve_linear(X, y, ObjectiveFamily("squared", groups=2), groups=g, l2=0.01)
    with pytest.raises(ALMOValueError, match="`groups` must give every group"):
        sol.evaluate(X[g == 0], y[g == 0], groups=g[g == 0])
    with pytest.raises(ALMOValueError, match="`groups` must hold the family's group labels"):
        sol.evaluate(X, y, groups=np.array(["x"] * 60))
    clf = solve_linear(X, (y > 0).astype(int), "log_loss", l2=0.1)
    with pytest.raises(ALMOValueError, match="`y` must hold the fitted classes"):
        clf.evaluate(X, np.full(60, 3))
    with pytest.raises(ALMOValueError, match="`groups` must be None"):
        clf.evaluate(X, (y > 0).astype(int), groups=g)
