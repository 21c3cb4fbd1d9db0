"""solve_linear with a λ-dependent penalty Σ_k λ_k c_k ‖W‖_F, against references written here.

The game is min over (w, b) of max over λ ∈ Λ of Σ_k λ_k (L̂_k + c_k ‖w‖) + l2 ‖w‖². The
references are independent cvxpy programs built from the losses' formulas (logistic, squared
hinge, hinge, softmax cross-entropy on the margins or scores) and Λ's description (Simplex:
the largest term; BoxSimplex: the LP dual min over ν of ν + Σ_k [l_k (t_k − ν) + (u_k − l_k)
(t_k − ν)₊]), solved by Clarabel far past its defaults (optimum good to ~1e-8). Exact numpy
evaluations of the same objective check that a lower bound never exceeds the objective of any
model (a check with rounding as its only slack).

Tolerances: the solver is asked for a relative certified gap of 1e-7 with l2 > 0 and 1e-6 (the
default) with l2 = 0, where the conic solver stalls near 1e-7 on these programs (``TOL``); its
value must lie within ``TOL + 1e-7`` (relative) of the reference optimum, its lower bound below the
reference optimum + 1e-7, and for l2 > 0 (unique W) its coefficients within 1e-3 of the
reference's.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import ALMOValueError, BoxSimplex, ObjectiveFamily, Simplex
from almo.mixtures import MixtureSet
from almo.solvers import solve_linear
from almo.solvers._certificate import dual_bound
from almo.solvers._inner import InnerSolver
from almo.solvers._problem import build_problem

TOL = {0.0: 1e-6, 0.02: 1e-7, 0.05: 1e-7}
CLARABEL = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}
SMOOTH = ["log_loss", "squared_hinge"]
BOX = BoxSimplex(lower=[0.05, 0.1, 0.05, 0.1], upper=[0.6, 0.5, 0.6, 0.5])


def _binary(seed: int, n: int = 70, d: int = 3, small: int = 12):
    """Noisy binary data; group 1 holds the last ``small`` rows (a small group)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.8 * rng.normal(size=n) > 0).astype(int)
    groups = np.zeros(n, dtype=int)
    groups[n - small :] = 1
    return X, y, groups


# ---------------------------------------------------------------- the independent reference


def _loss_by_hand(name: str, margin):
    """Per-sample loss of a margin m = (2y − 1) s: numpy arrays or cvxpy expressions."""
    if isinstance(margin, np.ndarray):
        return {
            "log_loss": np.logaddexp(0.0, -margin),
            "squared_hinge": np.maximum(0.0, 1.0 - margin) ** 2,
            "hinge": np.maximum(0.0, 1.0 - margin),
        }[name]
    return {
        "log_loss": cp.logistic(-margin),
        "squared_hinge": cp.square(cp.pos(1.0 - margin)),
        "hinge": cp.pos(1.0 - margin),
    }[name]


def _terms(X, y, groups, losses, c, w, b, scales=None):
    """The p terms L̂_k / s_k + c_k ‖w‖, loss-major over groups 0..G-1 (numpy or cvxpy)."""
    sign = 2.0 * y - 1.0
    numeric = isinstance(w, np.ndarray)
    margin = sign * (X @ w + b) if numeric else cp.multiply(sign, X @ w + b)
    norm = np.linalg.norm(w) if numeric else cp.norm(w, 2)
    out, k = [], 0
    for loss in losses:
        for g in range(int(groups.max()) + 1):
            rows = np.flatnonzero(groups == g)
            per = _loss_by_hand(loss, margin[rows])
            mean = per.mean() if numeric else cp.sum(per) / rows.size
            scale = 1.0 if scales is None else scales[k]
            out.append(mean / scale + c[k] * norm)
            k += 1
    return out


def _worst_by_hand(terms: np.ndarray, box: BoxSimplex | None) -> float:
    """max over Λ of ⟨λ, t⟩: the largest term, or the greedy fill of a box-simplex."""
    if box is None:
        return float(np.max(terms))
    lower, upper = np.asarray(box.lower, float), np.asarray(box.upper, float)
    lam, left = lower.copy(), 1.0 - lower.sum()
    for k in np.argsort(-terms):
        add = min(upper[k] - lower[k], left)
        lam[k] += add
        left -= add
    return float(lam @ terms)


def objective_by_hand(X, y, groups, losses, c, l2, w, b, box=None, scales=None) -> float:
    """The game's objective at (w, b), evaluated exactly in numpy."""
    terms = np.array(_terms(X, y, groups, losses, c, w, b, scales))
    return _worst_by_hand(terms, box) + l2 * float(w @ w)


def reference(X, y, groups, losses, c, l2, box=None, scales=None):
    """The optimum and an optimal (w, b), by an epigraph program written from the formulas."""
    w, b = cp.Variable(X.shape[1]), cp.Variable()
    terms = _terms(X, y, groups, losses, c, w, b, scales)
    if box is None:
        worst = cp.max(cp.hstack(terms))
    else:
        nu = cp.Variable()
        lower, upper = np.asarray(box.lower, float), np.asarray(box.upper, float)
        worst = nu + sum(
            lo * (t - nu) + (up - lo) * cp.pos(t - nu)
            for t, lo, up in zip(terms, lower, upper, strict=True)
        )
    prob = cp.Problem(cp.Minimize(worst + l2 * cp.sum_squares(w)))
    return _clarabel(prob), np.asarray(w.value), float(b.value)


def _clarabel(prob: cp.Problem) -> float:
    """Solve a reference program; "almost solved" at these tolerances is still ~1e-9 accurate,
    so cvxpy's warning about it is silenced (the test configuration would make it fatal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL", **CLARABEL)
    assert prob.status in ("optimal", "optimal_inaccurate"), prob.status
    return float(prob.value)


def _solve(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an inaccurate solve fails the test
        return solve_linear(*args, **kwargs)


# ---------------------------------------------------------------- penalty=None, zeros


@pytest.mark.parametrize("method", ["auto", "cvxpy"])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_zero_coefficients_are_exactly_no_penalty(method, l2):
    X, y, groups = _binary(0)
    kw = dict(groups=groups, l2=l2, method=method, mixture_set=BOX)
    free = _solve(X, y, SMOOTH, **kw)
    zero = _solve(X, y, SMOOTH, penalty=np.zeros(4), **kw)
    assert zero.value == free.value and zero.lower_bound == free.lower_bound
    assert np.array_equal(zero.coef_, free.coef_) and np.array_equal(zero.weights, free.weights)
    assert np.array_equal(zero.report.penalty, free.report.penalty)
    assert zero.penalty_coefficients.tolist() == free.penalty_coefficients.tolist() == [0.0] * 4


# ---------------------------------------------------------------- agreement with the reference

CASES = {
    "uniform": [0.05, 0.05, 0.05, 0.05],
    "mixed": [0.02, 0.2, 0.0, 0.1],
    "large on the small group": [0.01, 2.0, 0.01, 0.01],
    "large everywhere (W = 0)": [3.0, 3.0, 3.0, 3.0],
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("l2", [0.0, 0.05])
@pytest.mark.parametrize("box", [None, BOX], ids=["simplex", "box"])
def test_agrees_with_the_cvxpy_reference(case, l2, box):
    X, y, groups = _binary(1)
    c = np.array(CASES[case])
    ms = Simplex(4) if box is None else box
    opt, w_ref, b_ref = reference(X, y, groups, SMOOTH, c, l2, box)
    methods = ["auto", "cvxpy"] if l2 > 0 else ["auto"]  # auto is dual_newton for l2 > 0
    for method in methods:
        sol = _solve(
            X,
            y,
            SMOOTH,
            groups=groups,
            l2=l2,
            mixture_set=ms,
            penalty=c,
            tol=TOL[l2],
            method=method,
        )
        assert sol.method == ("dual_newton" if l2 > 0 and method == "auto" else "cvxpy")
        assert abs(sol.value - opt) <= (TOL[l2] + 1e-7) * max(1.0, opt), (method, sol.value, opt)
        # valid bounds: lower ≤ optimum ≤ value, so the reported gap is at least the true gap
        assert sol.lower_bound <= opt + 1e-7
        assert sol.value >= opt - 1e-7
        assert sol.gap <= TOL[l2] * max(1.0, sol.value)
        # the lower bound never beats the objective of any model (rounding the only slack)
        at_ref = objective_by_hand(X, y, groups, SMOOTH, c, l2, w_ref, b_ref, box)
        assert sol.lower_bound <= at_ref + 1e-12
        # value is the exact objective at the returned model
        by_hand = objective_by_hand(
            X, y, groups, SMOOTH, c, l2, sol.coef_[0], sol.intercept_[0], box
        )
        assert sol.value == pytest.approx(by_hand, rel=1e-12, abs=1e-12)
        if l2 > 0:
            assert np.abs(sol.coef_[0] - w_ref).max() <= 1e-3
        if case.endswith("(W = 0)"):
            assert np.abs(w_ref).max() <= 1e-6  # the reference agrees that W* = 0
            if sol.method == "dual_newton":
                assert np.all(sol.coef_ == 0.0)  # found exactly, not approached
            else:
                assert np.abs(sol.coef_).max() <= 1e-6


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_nonsmooth_loss_with_penalty(l2):
    """Hinge goes through smoothing (or, where it stalls, the conic solver's multipliers and,
    with l2 = 0, the ball repair); the certificate is the original problem's either way."""
    X, y, groups = _binary(2)
    c = np.array([0.03, 0.3])
    opt, w_ref, b_ref = reference(X, y, groups, ["hinge"], c, l2)
    sol = _solve(X, y, ["hinge"], groups=groups, l2=l2, penalty=c, tol=TOL[l2])
    assert sol.method in ("smoothed_newton", "cvxpy")
    assert abs(sol.value - opt) <= (TOL[l2] + 1e-7) * max(1.0, opt)
    assert sol.lower_bound <= opt + 1e-7 and sol.gap <= TOL[l2] * max(1.0, sol.value)
    assert sol.lower_bound <= objective_by_hand(X, y, groups, ["hinge"], c, l2, w_ref, b_ref)


def test_family_with_initial_normalization():
    """The c_k are added to the normalized objectives: scales log 2 (log_loss) and 1 (squared
    hinge) at W = 0, b = 0, by hand."""
    X, y, groups = _binary(3)
    family = ObjectiveFamily(SMOOTH, groups=2, normalize="initial")
    c = np.array([0.05, 0.4, 0.05, 0.4])
    sol = _solve(X, y, family, groups=groups, l2=0.02, penalty=c, tol=TOL[0.02])
    scales = [np.log(2.0)] * 2 + [1.0] * 2
    assert np.allclose(sol.scales, scales, rtol=1e-12)
    opt, _, _ = reference(X, y, groups, SMOOTH, c, 0.02, scales=scales)
    assert abs(sol.value - opt) <= (TOL[0.02] + 1e-7) * max(1.0, opt)


def test_multiclass_against_a_softmax_reference():
    rng = np.random.default_rng(4)
    n, d, C = 60, 3, 3
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ rng.normal(size=(d, C)) + rng.normal(size=(n, C)), axis=1)
    groups = (np.arange(n) >= 45).astype(int)
    c, l2 = np.array([0.05, 0.5]), 0.05
    W, b = cp.Variable((d, C)), cp.Variable(C)
    S = X @ W + np.ones((n, 1)) @ cp.reshape(b, (1, C), order="C")
    terms = []
    for g, ck in enumerate(c):
        rows = np.flatnonzero(groups == g)
        picked = cp.sum(cp.multiply(np.eye(C)[y[rows]], S[rows]), axis=1)
        ce = cp.sum(cp.log_sum_exp(S[rows], axis=1) - picked) / rows.size
        terms.append(ce + ck * cp.norm(W, "fro"))
    prob = cp.Problem(cp.Minimize(cp.max(cp.hstack(terms)) + l2 * cp.sum_squares(W)))
    _clarabel(prob)
    for method in ["dual_newton", "cvxpy"]:
        sol = _solve(
            X, y, ["log_loss"], groups=groups, l2=l2, penalty=c, tol=TOL[l2], method=method
        )
        assert abs(sol.value - prob.value) <= (TOL[l2] + 1e-7) * max(1.0, prob.value)
        assert sol.lower_bound <= prob.value + 1e-7
        assert np.abs(sol.coef_.T - W.value).max() <= 1e-3


class CappedSet(MixtureSet):
    """λ ≤ 0.5 on the simplex, known to the solver only by its methods (no conic form)."""

    def __init__(self, p):
        self.p = p
        self._box = BoxSimplex(lower=np.zeros(p), upper=np.full(p, 0.5))

    def _project_np(self, v):
        return self._box.project(v)

    def _worst_case_np(self, ell):
        return self._box.worst_case(ell).weights

    def _contains_np(self, w, atol):
        return self._box.contains(w[0] if w.ndim == 2 else w, atol)

    def _uniform(self):
        return np.full(self.p, 1.0 / self.p)


@pytest.mark.parametrize("method", ["dual_newton", "cvxpy"])
def test_a_set_without_conic_form(method):
    """cvxpy then runs Kelley's cutting planes on the penalized terms; dual Newton projects."""
    X, y, groups = _binary(11)
    c = np.array([0.02, 0.4, 0.02, 0.1])
    box = BoxSimplex(lower=np.zeros(4), upper=np.full(4, 0.5))
    opt, _, _ = reference(X, y, groups, SMOOTH, c, 0.05, box)
    sol = _solve(
        X, y, SMOOTH, groups=groups, l2=0.05, penalty=c, mixture_set=CappedSet(4), method=method
    )
    assert sol.method == method
    assert abs(sol.value - opt) <= (1e-6 + 1e-7) * max(1.0, opt)
    assert sol.lower_bound <= opt + 1e-7


# ---------------------------------------------------------------- W = 0 and the inner solver


def _intercept_only_threshold(X, y, lam):
    """‖∇_w Σ_k λ_k L̂_k‖ at w = 0 and the best intercept, for log_loss on groups 0/1 (by hand:
    the best b makes the λ-weighted mean residual zero; the gradient is X̄ᵀ residuals)."""
    groups = (np.arange(len(y)) >= len(y) - 12).astype(int)
    weights = np.array([lam[g] / np.sum(groups == g) for g in groups])
    sign = 2.0 * y - 1.0

    def residual(b):
        return -sign / (1.0 + np.exp(sign * b))  # d/ds of log(1 + exp(−m)) at s = b

    lo, hi = -20.0, 20.0
    for _ in range(200):  # bisection on Σ_i w_i r_i(b) = 0 (increasing in b)
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if weights @ residual(mid) < 0 else (lo, mid)
    return float(np.linalg.norm(X.T @ (weights * residual(0.5 * (lo + hi)))))


@pytest.mark.parametrize("factor", [1.02, 0.98])
def test_inner_solver_finds_w_zero_exactly_at_the_threshold(factor):
    X, y, groups = _binary(5)
    lam = np.array([0.3, 0.7])
    a_star = _intercept_only_threshold(X, y, lam)
    problem = build_problem(X, y, ["log_loss"], groups, 0.05, None, True)
    unit = np.array([o.weight for o in problem.objectives])
    sol = InnerSolver(problem).solve(lam * unit, np.zeros(problem.shape), factor * a_star)
    w = sol.theta[:3, 0]
    if factor > 1:
        assert np.all(w == 0.0)  # exactly, not approximately
    else:
        assert np.linalg.norm(w) > 0
    # against the reference minimum of F_λ (c spread so that Σ λ_k c_k = factor · a*)
    c = np.full(2, factor * a_star)
    w_v, b_v = cp.Variable(3), cp.Variable()
    t = _terms(X, y, groups, ["log_loss"], c, w_v, b_v)
    prob = cp.Problem(cp.Minimize(lam @ cp.hstack(t) + 0.05 * cp.sum_squares(w_v)))
    _clarabel(prob)
    assert sol.value == pytest.approx(prob.value, abs=1e-7)
    assert np.abs(w - w_v.value).max() <= 1e-4


@settings(max_examples=12)
@given(
    seed=st.integers(0, 10_000),
    l2=st.sampled_from([0.0, 0.05]),
    loss=st.sampled_from(["log_loss", "hinge"]),
)
def test_any_dual_candidate_bounds_g_from_below(seed, l2, loss):
    """dual_bound at the gradients of any model is ≤ g(λ) = min F_λ (solved by cvxpy here)."""
    X, y, groups = _binary(seed % 7, n=40, small=10)
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.0, 0.5, size=2) * rng.integers(0, 2, size=2)
    lam = rng.dirichlet(np.ones(2))
    problem = build_problem(X, y, [loss], groups, l2, None, True, c)
    theta = rng.normal(scale=rng.choice([0.01, 1.0, 5.0]), size=problem.shape)
    lower = dual_bound(problem, lam, problem.unit_duals(theta))
    w_v, b_v = cp.Variable(3), cp.Variable()
    t = _terms(X, y, groups, [loss], c, w_v, b_v)
    prob = cp.Problem(cp.Minimize(lam @ cp.hstack(t) + l2 * cp.sum_squares(w_v)))
    _clarabel(prob)
    assert lower <= prob.value + 1e-8


# ---------------------------------------------------------------- report and properties


def test_report_carries_the_per_objective_penalty():
    X, y, groups = _binary(6)
    c = np.array([0.02, 0.3, 0.02, 0.1])
    sol = _solve(X, y, SMOOTH, groups=groups, l2=0.05, penalty=c, mixture_set=BOX)
    norm = np.linalg.norm(sol.coef_)
    assert np.allclose(sol.report.penalty, 0.05 * norm**2 + c * norm, rtol=1e-12, atol=0)
    assert sol.report.penalized_worst_case == pytest.approx(sol.value, abs=1e-12)
    assert sol.report.worst_case < sol.report.penalized_worst_case
    assert sol.penalty_coefficients.tolist() == c.tolist()
    assert "with penalty" in sol.report.table()


@settings(max_examples=8)
@given(base=st.floats(0.01, 0.3), step=st.floats(0.01, 0.5), l2=st.sampled_from([0.0, 0.05]))
def test_larger_uniform_coefficient_never_grows_the_model(base, step, l2):
    """With c_k = c for every k the penalty is c ‖W‖ whatever λ. For ε-optimal models of the
    games with c₁ < c₂ (ε the certified gaps), F₁(W₁) ≤ F₁(W₂) + ε₁ and F₂(W₂) ≤ F₂(W₁) + ε₂
    with F₂ = F₁ + (c₂ − c₁) ‖W‖ give ‖W₂‖ ≤ ‖W₁‖ + (ε₁ + ε₂) / (c₂ − c₁). With unequal c_k
    there is no such law: scaling c up can move λ* to an objective whose fit needs a larger W,
    and ‖W‖ then grows (both methods agree on such instances)."""
    X, y, groups = _binary(7)
    small = _solve(X, y, SMOOTH, groups=groups, l2=l2, penalty=[base] * 4, tol=TOL[l2])
    large = _solve(X, y, SMOOTH, groups=groups, l2=l2, penalty=[base + step] * 4, tol=TOL[l2])
    slack = (small.gap + large.gap) / step + 1e-9
    assert np.linalg.norm(large.coef_) <= np.linalg.norm(small.coef_) + slack
    assert large.value >= small.lower_bound  # a larger objective everywhere


@settings(max_examples=8)
@given(scale=st.floats(1.05, 4.0), seed=st.integers(0, 1000), lam0=st.floats(0.1, 0.9))
def test_larger_coefficients_shrink_the_model_at_a_fixed_mixture(scale, seed, lam0):
    """Λ a single point (a box with lower = upper): a(λ) = Σ λ_k c_k is fixed, so scaling c by
    s > 1 cannot grow ‖W‖ beyond the same certified slack (ε₁ + ε₂) / ((s − 1) a)."""
    X, y, groups = _binary(8)
    lam = np.array([lam0, 1.0 - lam0])
    point = BoxSimplex(lam, lam)
    c = np.random.default_rng(seed).uniform(0.01, 0.3, size=2)
    kw = dict(groups=groups, l2=0.02, mixture_set=point, tol=1e-8)
    one = _solve(X, y, ["log_loss"], penalty=c, **kw)
    two = _solve(X, y, ["log_loss"], penalty=scale * c, **kw)
    slack = (one.gap + two.gap) / ((scale - 1.0) * float(lam @ c)) + 1e-9
    assert np.linalg.norm(two.coef_) <= np.linalg.norm(one.coef_) + slack
    assert float(lam @ c) * np.linalg.norm(one.coef_) < one.value  # the penalty is in the value


# ---------------------------------------------------------------- penalty objects


class Recorder:
    """A stand-in for a complexity penalty: c_k = β · (rows of objective k's group)^(−1/2)."""

    def __init__(self, beta: float) -> None:
        self.beta = beta
        self.calls: list[tuple] = []

    def linear_coefficients(self, X, family, groups=None, y=None):
        self.calls.append((X, family, groups, y))
        counts = np.bincount(groups, minlength=family.n_groups)
        per_group = self.beta / np.sqrt(counts)
        return np.tile(per_group, len(family.losses))


def test_penalty_object_is_called_once_and_matches_its_array():
    X, y, groups = _binary(9)
    labels = np.where(groups == 1, "small", "large")  # string labels: ids follow sorted names
    rec = Recorder(0.5)
    sol = _solve(X, y, SMOOTH, groups=labels, l2=0.05, penalty=rec)
    assert len(rec.calls) == 1
    X_seen, family, ids, y_seen = rec.calls[0]
    assert family.names == list(sol.names)
    assert np.array_equal(X_seen, X) and np.array_equal(y_seen, y)
    assert np.array_equal(ids, (labels == "small").astype(int))  # "large" < "small"
    expected = np.tile(0.5 / np.sqrt([58.0, 12.0]), 2)
    assert np.allclose(sol.penalty_coefficients, expected, rtol=1e-15)
    by_array = _solve(X, y, SMOOTH, groups=labels, l2=0.05, penalty=expected)
    assert by_array.value == sol.value and np.array_equal(by_array.coef_, sol.coef_)


# ---------------------------------------------------------------- bad input


class Returns:
    def __init__(self, value):
        self.value = value

    def linear_coefficients(self, X, family, groups=None, y=None):
        return self.value


@pytest.mark.parametrize(
    ("penalty", "match"),
    [
        ([0.1, 0.1, 0.1], "coefficients c_k, one per objective"),
        (np.ones((4, 1)), "coefficients c_k, one per objective"),
        ([0.1, -0.1, 0.1, 0.1], "finite coefficients c_k >= 0"),
        ([0.1, np.nan, 0.1, 0.1], "finite coefficients c_k >= 0"),
        ([0.1, np.inf, 0.1, 0.1], "finite coefficients c_k >= 0"),
        ("rademacher", "be None, p non-negative coefficients"),
        (lambda model: model, "be None, p non-negative coefficients"),
        ([0.1, "a", 0.1, 0.1], "real coefficients"),
        (Returns([0.1, 0.2]), "linear_coefficients"),
        (Returns([0.1, -1.0, 0.0, 0.0]), "linear_coefficients"),
    ],
)
def test_bad_penalty_is_named(penalty, match):
    X, y, groups = _binary(10)
    with pytest.raises(ALMOValueError, match="penalty") as err:
        solve_linear(X, y, SMOOTH, groups=groups, l2=0.05, penalty=penalty)
    assert match in str(err.value)
    assert "Fix:" in str(err.value)
