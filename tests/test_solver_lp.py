"""The certified solver's linear-programming method (``method="lp"``, :mod:`almo.solvers._lp`).

Checked against references written here from the problem's definition, not from the
library's code:

- the loss forms' ``pieces``: the max of the affine pieces against ``value`` on drawn scores;
- ``solve_linear(method="lp" / "auto")`` without a ridge: the minimax value against cvxpy,
  where the worst case over Λ is the max over Λ's vertices (enumerated here from the set's
  public ``lower``/``upper`` or ``A``/``b``), and the objectives are written directly as cvxpy
  expressions; the upper bound recomputed by hand from ``coef_``/``intercept_``;
- the certificate: the lower bound against the LP dual of the least-absolute-deviations
  minimax problem (solved in cvxpy), against g(λ) at the returned λ and against the worst case
  at other models (weak duality);
- both engines of :func:`solve_lp` on 1,000 rows, and their multipliers inside the losses'
  dual domains;
- the errors of ``method="lp"`` where the problem is not one LP, raised before any solving;
- the fallbacks when Clarabel or HiGHS fails.
"""

from __future__ import annotations

import itertools
import re
import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linprog

import almo.solvers._lp as lp_module
import almo.solvers.linear as linear_module
from almo import BoxSimplex, Polytope, PriorBall, Simplex
from almo.exceptions import ALMOValueError, ConvergenceWarning, SolverError
from almo.losses import LOSS_KINDS, Targets, make_loss
from almo.solvers import solve_linear
from almo.solvers._lp import lp_applies, lp_preferred, solve_lp
from almo.solvers._problem import build_problem
from checks import assert_agree, assert_in_set, describe, mixture_sets

EPS = np.finfo(np.float64).eps
REF_RTOL = 1e-7  # solver value against the independent LP / conic reference
TOL = 1e-6  # solve_linear's default target gap (relative)
EXAMPLES = settings(max_examples=60, deadline=None)


# --------------------------------------------------------------------------- loss references


def _loss_np(kind, S, labels_or_y, n_classes=None):
    """Per-sample loss from its textbook definition. ``kind``: "absolute", ("pinball", τ),
    "hinge" (binary when the scores have one column, Crammer–Singer otherwise)."""
    if kind == "absolute":
        return np.abs(labels_or_y - S[:, 0])
    if isinstance(kind, tuple):
        tau = kind[1]
        r = labels_or_y - S[:, 0]
        return np.where(r >= 0, tau * r, (tau - 1.0) * r)
    if S.shape[1] == 1:
        sign = 2.0 * labels_or_y - 1.0
        return np.maximum(0.0, 1.0 - sign * S[:, 0])
    m = S.shape[0]
    others = S + 1.0
    others[np.arange(m), labels_or_y] -= 1.0
    return others.max(axis=1) - S[np.arange(m), labels_or_y]


def _loss_cp(kind, S, labels_or_y):
    """The same loss summed over the rows, as a cvxpy expression of the scores S (m, C)."""
    if kind == "absolute":
        return cp.sum(cp.abs(labels_or_y - S[:, 0]))
    if isinstance(kind, tuple):
        tau = kind[1]
        r = labels_or_y - S[:, 0]
        return cp.sum(cp.maximum(tau * r, (tau - 1.0) * r))
    if S.shape[1] == 1:
        sign = 2.0 * labels_or_y - 1.0
        return cp.sum(cp.pos(1.0 - cp.multiply(sign, S[:, 0])))
    onehot = np.eye(S.shape[1])[labels_or_y]
    return cp.sum(cp.max(S + 1.0 - onehot, axis=1) - cp.sum(cp.multiply(onehot, S), axis=1))


def _name(kind):
    """The objective's loss name: a parameter at its default (τ = 0.5) is left out."""
    if not isinstance(kind, tuple):
        return kind
    return "pinball" if kind[1] == 0.5 else f"pinball(tau={kind[1]:g})"


def _loss_arg(kind):
    return make_loss("pinball", tau=kind[1]) if isinstance(kind, tuple) else kind


# --------------------------------------------------------------------------- Λ's vertices


def _vertices(mixture_set):
    """The vertices of Λ = {λ ≥ 0, Σλ = 1, lower ≤ λ ≤ upper, Aλ ≤ b}, enumerated from the
    set's public description: every choice of p − 1 active inequalities with Σλ = 1."""
    p = mixture_set.p
    rows, rhs = [-np.eye(p)], [np.zeros(p)]
    if isinstance(mixture_set, BoxSimplex):
        rows.append(-np.eye(p))
        rhs.append(-np.asarray(mixture_set.lower, dtype=float))
        upper = np.asarray(mixture_set.upper, dtype=float)
        finite = np.isfinite(upper)
        rows.append(np.eye(p)[finite])
        rhs.append(upper[finite])
    elif isinstance(mixture_set, Polytope):
        rows.append(np.asarray(mixture_set.A, dtype=float))
        rhs.append(np.asarray(mixture_set.b, dtype=float))
    else:
        assert isinstance(mixture_set, Simplex)
    A, b = np.vstack(rows), np.concatenate(rhs)
    found: list[np.ndarray] = []
    for active in itertools.combinations(range(A.shape[0]), p - 1):
        M = np.vstack([A[list(active)], np.ones((1, p))])
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        v = np.linalg.solve(M, np.concatenate([b[list(active)], [1.0]]))
        v = np.where(np.abs(v) < 1e-14, 0.0, v)  # signed zeros of rounding size break DCP
        if np.all(A @ v <= b + 1e-11) and all(np.abs(v - w).max() > 1e-13 for w in found):
            found.append(np.maximum(v, 0.0))
    assert found, "the set has no vertex (empty?)"
    return np.array(found)


# --------------------------------------------------------------------------- the reference


class Case:
    """A problem written out: data, the objectives (loss-major, then group) and Λ."""

    def __init__(
        self, X, y, kinds, groups=None, mixture_set=None, normalize=None, fit_intercept=True
    ):
        self.X, self.y, self.kinds = np.asarray(X, float), np.asarray(y), list(kinds)
        self.groups, self.normalize, self.fit_intercept = groups, normalize, fit_intercept
        self.classification = "hinge" in self.kinds
        n = self.X.shape[0]
        if self.classification:
            self.classes = np.unique(self.y)
            self.target = np.searchsorted(self.classes, self.y)
            self.C = 1 if self.classes.size == 2 else self.classes.size
        else:
            self.target = self.y.astype(float)
            self.C = 1
        group_rows = (
            [np.arange(n)]
            if groups is None
            else [np.flatnonzero(groups == g) for g in range(int(np.max(groups)) + 1)]
        )
        self.objectives = [(kind, rows) for kind in self.kinds for rows in group_rows]
        if groups is None:
            self.names = [_name(kind) for kind in self.kinds]
        else:
            self.names = [
                f"{_name(kind)}@group{g}" for kind in self.kinds for g in range(len(group_rows))
            ]
        zero = np.zeros((n, self.C))
        self.scales = np.array(
            [
                _loss_np(kind, zero[rows], self.target[rows]).mean() if normalize else 1.0
                for kind, rows in self.objectives
            ]
        )
        self.p = len(self.objectives)
        self.mixture_set = Simplex(self.p) if mixture_set is None else mixture_set

    def __repr__(self):
        n, d = self.X.shape
        return (
            f"Case(n={n}, d={d}, kinds={self.kinds}, p={self.p}, set={describe(self.mixture_set)}, "
            f"normalize={self.normalize!r}, fit_intercept={self.fit_intercept}, "
            f"|y|max={np.abs(self.target).max():.3g})"
        )

    def solve(self, **kwargs):
        losses = [_loss_arg(kind) for kind in self.kinds]
        return solve_linear(
            self.X,
            self.y,
            losses if len(losses) > 1 else losses[0],
            groups=self.groups,
            mixture_set=self.mixture_set,
            normalize=self.normalize,
            fit_intercept=self.fit_intercept,
            **kwargs,
        )

    def losses_at(self, W, b):
        """The normalized objectives at scores X W + b, by hand."""
        S = (self.X @ W + b).reshape(self.X.shape[0], -1)
        return np.array(
            [
                _loss_np(kind, S[rows], self.target[rows]).mean() / s
                for (kind, rows), s in zip(self.objectives, self.scales, strict=True)
            ]
        )

    def model_of(self, sol):
        """(W (d, C), b (C,)) from a solution's scikit-learn layout."""
        coef = np.asarray(sol.coef_, dtype=float)
        W = coef.reshape(-1, 1) if coef.ndim == 1 else coef.T
        b = np.asarray(sol.intercept_, dtype=float).reshape(-1)
        return W, b

    def worst_case(self, W, b, vertices=None):
        """max over Λ's vertices of ⟨λ, L̂(W, b)⟩: the value of a model, by hand."""
        vertices = _vertices(self.mixture_set) if vertices is None else vertices
        return float((vertices @ self.losses_at(W, b)).max())

    def reference(self, weights=None, solver=cp.CLARABEL):
        """min over (W, b) of the worst case over Λ's vertices (or of ⟨weights, L̂⟩), in cvxpy.

        Solved on unit-sized data, exactly equivalent: columns of X divided by their largest
        entry (W absorbs it), regression targets by theirs (absolute and pinball are
        positively homogeneous: ℓ(c y, c s) = c ℓ(y, s)), and the objective divided by the
        worst case at the zero model — so the conic solver sees numbers of order one at any
        scale of the data.
        """
        d = self.X.shape[1]
        cols = np.abs(self.X).max(axis=0)
        cols[cols == 0.0] = 1.0
        Xs = self.X / cols
        c = 1.0
        if not self.classification:
            c = float(np.abs(self.target).max()) or 1.0
        target = self.target / c if not self.classification else self.target
        vertices = _vertices(self.mixture_set) if weights is None else None
        at_zero = self.losses_at(np.zeros((d, self.C)), np.zeros(self.C))
        v0 = float(at_zero @ weights) if weights is not None else float((vertices @ at_zero).max())
        v0 = v0 if v0 > 0 else 1.0
        W = cp.Variable((d, self.C))
        b = cp.Variable(self.C) if self.fit_intercept else np.zeros(self.C)
        S = Xs @ W + (cp.reshape(b, (1, self.C), order="C") if self.fit_intercept else 0.0)
        L = cp.hstack(
            [
                _loss_cp(kind, S[rows], target[rows]) * (c / (rows.size * s * v0))
                for (kind, rows), s in zip(self.objectives, self.scales, strict=True)
            ]
        )
        if weights is not None:
            problem = cp.Problem(cp.Minimize(np.asarray(weights) @ L))
        else:
            t = cp.Variable()
            problem = cp.Problem(cp.Minimize(t), [vertices @ L <= t])
        _solve(problem, solver)
        return v0 * float(problem.value)


def _solve(problem, solver):
    """Clarabel pushed to 1e-11 (its answers then hold to ~1e-9 relative), or another solver."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "almost solved" at these tolerances is still accurate
        if solver == cp.CLARABEL:
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
        else:
            problem.solve(solver=solver)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status


def _linprog_reference(case):
    """The regression minimax problem (absolute and pinball objectives, any polyhedral Λ) as an
    explicit LP for :func:`scipy.optimize.linprog` (HiGHS's simplex, a vertex answer),
    variables (Θ, e, t), one e per (objective, row):

        min t  s.t.  e_ki ≥ slope·(x̃_iᵀΘ − y_i) for both slopes of loss k,
                     Σ_k v_k Σ_{i∈k} e_ki / (n_k s_k) ≤ t  for every vertex v of Λ.

    On unit-sized data as in :meth:`Case.reference` (columns and targets divided by their
    largest entries; e and t in units of the targets' scale).
    """
    assert not case.classification
    n = case.X.shape[0]
    A = np.hstack([case.X, np.ones((n, 1))]) if case.fit_intercept else case.X
    cols = np.abs(A).max(axis=0)
    cols[cols == 0.0] = 1.0
    A = A / cols
    c = float(np.abs(case.target).max()) or 1.0
    y = case.target / c
    D = A.shape[1]
    sizes = [rows.size for _, rows in case.objectives]
    n_e = sum(sizes)
    width = D + n_e + 1
    blocks, rhs, sums = [], [], []
    first = D
    for (kind, rows), s in zip(case.objectives, case.scales, strict=True):
        tau = 0.5 if kind == "absolute" else kind[1]
        slopes = (-1.0, 1.0) if kind == "absolute" else (-tau, 1.0 - tau)
        e = np.zeros((rows.size, width))
        e[np.arange(rows.size), first + np.arange(rows.size)] = -1.0
        for a in slopes:  # a (x̃Θ − y) − e ≤ 0
            block = e.copy()
            block[:, :D] = a * A[rows]
            blocks.append(block)
            rhs.append(a * y[rows])
        row = np.zeros(width)
        row[first : first + rows.size] = c / (rows.size * s)
        sums.append(row)
        first += rows.size
    vertices = _vertices(case.mixture_set)
    objective_rows = vertices @ np.array(sums)
    objective_rows[:, -1] = -1.0
    cost = np.zeros(width)
    cost[-1] = 1.0
    res = linprog(
        cost,
        A_ub=np.vstack([*blocks, objective_rows]),
        b_ub=np.concatenate([*rhs, np.zeros(len(vertices))]),
        bounds=[(None, None)] * D + [(0, None)] * n_e + [(None, None)],
        method="highs-ds",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    assert res.status == 0, res.message
    return float(res.fun)


def _assert_certified(case, sol, ref, *, method="lp"):
    """The LP solution against the reference value and the hand-computed upper bound."""
    scale = max(1.0, abs(ref))
    assert sol.method == method
    assert sol.status == "optimal", (sol.value, sol.lower_bound)
    assert 0.0 <= sol.gap <= TOL * max(1.0, abs(sol.value)), sol.gap
    assert tuple(sol.names) == tuple(case.names)
    assert abs(sol.value - ref) <= REF_RTOL * scale, (sol.value, ref)
    assert sol.lower_bound <= ref + 1e-9 * scale, (sol.lower_bound, ref)
    assert_in_set(case.mixture_set, sol.weights, atol=1e-9)
    assert case.mixture_set.contains(sol.weights, atol=1e-9)
    # value is the worst case of the objectives at the returned model, recomputed by hand
    W, b = case.model_of(sol)
    by_hand = case.worst_case(W, b)
    assert abs(sol.value - by_hand) <= 1e-10 * max(1.0, abs(by_hand)), (sol.value, by_hand)
    assert_agree(sol.losses, case.losses_at(W, b), rtol=1e-10, atol=1e-12, what="sol.losses")


# --------------------------------------------------------------------------- data


def _regression(rng, n=150, d=3, heavy=True):
    X = rng.normal(size=(n, d))
    noise = rng.standard_t(2, size=n) if heavy else rng.normal(size=n)
    return X, X @ np.linspace(1.0, -1.0, d) + 0.5 + noise


def _binary(rng, n=150, d=3):
    X = rng.normal(size=(n, d))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.6 * rng.normal(size=n) > 0).astype(int)
    return X, y


def _multiclass(rng, n=90, d=3, C=3):
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ rng.normal(size=(d, C)) + rng.normal(size=(n, C)), axis=1)
    return X, y


# =========================================================================== pieces


def _form(name, task, **params):
    return make_loss(name, **params).convex_form(task)


def _pieces_max(form, S, t):
    G, h = form.pieces(t)
    m, C = S.shape
    assert G.ndim == 3 and G.shape[0] == m and G.shape[2] == C, G.shape
    assert h.shape == G.shape[:2], (h.shape, G.shape)
    return (np.einsum("imc,ic->im", G, S) + h).max(axis=1)


finite = dict(allow_nan=False, allow_infinity=False)
magnitudes = st.sampled_from([1e-3, 1.0, 1e3])


@st.composite
def regression_batches(draw):
    m = draw(st.integers(1, 12))
    scale = draw(magnitudes)
    S = draw(hnp.arrays(np.float64, (m, 1), elements=st.floats(-1, 1, **finite))) * scale
    y = draw(hnp.arrays(np.float64, m, elements=st.floats(-1, 1, **finite))) * scale
    ties = draw(hnp.arrays(np.bool_, m))
    y = np.where(ties, S[:, 0], y)  # samples exactly at the kink
    return S, Targets.of_values(y)


@EXAMPLES
@given(batch=regression_batches())
def test_absolute_pieces_reproduce_value_exactly(batch):
    """|y − s| = max(s − y, y − s): bit for bit (both pieces are one rounding each)."""
    S, t = batch
    form = _form("absolute", "regression")
    got = _pieces_max(form, S, t)
    assert np.array_equal(got, form.value(S, t)), (got, form.value(S, t))
    assert np.array_equal(got, np.abs(t.value - S[:, 0]))
    G, _ = form.pieces(t)
    assert G.shape[1] == 2 and np.all(np.sort(G[:, :, 0], axis=1) == [-1.0, 1.0])


@EXAMPLES
@given(batch=regression_batches(), tau=st.sampled_from([0.01, 0.2, 0.5, 0.9, 0.99]))
def test_pinball_pieces_reproduce_value(batch, tau):
    """max(τ(y − s), (τ − 1)(y − s)) to rounding (a few ulps of the residual's scale), and the
    slopes −τ and 1 − τ (the ends of the dual interval)."""
    S, t = batch
    form = _form("pinball", "regression", tau=tau)
    got = _pieces_max(form, S, t)
    scale = np.abs(S[:, 0]) + np.abs(t.value)
    assert np.all(np.abs(got - form.value(S, t)) <= 4 * EPS * scale), (got, form.value(S, t))
    reference = _loss_np(("pinball", tau), S, t.value)
    assert np.all(np.abs(got - reference) <= 4 * EPS * scale)
    G, _ = form.pieces(t)
    assert_agree(np.sort(G[:, :, 0], axis=1)[0], [-tau, 1.0 - tau], rtol=0, atol=0, what="slopes")


@EXAMPLES
@given(
    S=hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.just(1)), elements=st.floats(-3, 3)),
    data=st.data(),
)
def test_binary_hinge_pieces_reproduce_value_exactly(S, data):
    """max(0, 1 − y± s) bit for bit, labels 0/1 as y± = ∓1; margins exactly at 1 included."""
    m = S.shape[0]
    labels = data.draw(hnp.arrays(np.int64, m, elements=st.integers(0, 1)))
    at_kink = data.draw(hnp.arrays(np.bool_, m))
    S = np.where(at_kink[:, None], (2.0 * labels - 1.0)[:, None], S)  # y± s = 1 exactly
    t = Targets.of_labels(labels, 2)
    form = _form("hinge", "binary")
    got = _pieces_max(form, S, t)
    assert np.array_equal(got, form.value(S, t))
    assert np.array_equal(got, _loss_np("hinge", S, labels))
    assert np.all(got[at_kink] == 0.0)


@EXAMPLES
@given(
    C=st.integers(2, 6),
    m=st.integers(1, 10),
    scale=magnitudes,
    data=st.data(),
)
def test_multiclass_hinge_pieces_reproduce_value(C, m, scale, data):
    """Crammer–Singer: max_c (s_c + 1[c ≠ y]) − s_y from C pieces (e_c − e_y, 1[c ≠ y]), to a
    few ulps (the two forms round s_c − s_y + 1 in different orders); ties included."""
    S = data.draw(hnp.arrays(np.float64, (m, C), elements=st.floats(-1, 1))) * scale
    if data.draw(st.booleans()):
        S = np.round(S)  # many exact ties between classes
    labels = data.draw(hnp.arrays(np.int64, m, elements=st.integers(0, C - 1)))
    t = Targets.of_labels(labels, C)
    form = _form("hinge", "multiclass") if C > 2 else None
    if form is None:  # two classes take the binary form; the multiclass form still applies
        form = LOSS_KINDS["hinge"].forms["multiclass"]()
        t = Targets(labels=labels, onehot=np.eye(C)[labels])
    got = _pieces_max(form, S, t)
    allowed = 4 * EPS * (1.0 + 2 * np.abs(S).max(axis=1))
    assert np.all(np.abs(got - form.value(S, t)) <= allowed)
    assert np.all(np.abs(got - _loss_np("hinge", S, labels)) <= allowed)
    assert np.all(got >= 0.0)
    G, _ = form.pieces(t)
    assert G.shape == (m, C, C) and np.all(G.sum(axis=2) == 0.0)  # Σ_c of each slope is 0


@pytest.mark.parametrize(
    ("name", "task"),
    [
        (name, task)
        for name in ("squared", "log_loss", "huber", "squared_hinge")
        for task in LOSS_KINDS[name].forms
    ],
)
def test_smooth_forms_have_no_pieces(name, task):
    """Curved losses are not a max of affine pieces: ``pieces`` is None, so no LP."""
    form = LOSS_KINDS[name].forms[task]()
    labels = np.array([0, 1, 1])
    t = Targets.of_values(np.array([0.5, -1.0, 2.0])) if task == "regression" else None
    if task == "binary":
        t = Targets.of_labels(labels, 2)
    if task == "multiclass":
        t = Targets.of_labels(labels, 3)
    assert form.pieces(t) is None


def test_every_registered_form_with_pieces_matches_its_value(rng):
    """Registry sweep: each form either has no pieces or pieces that reproduce ``value`` —
    and exactly absolute, pinball and hinge have them."""
    with_pieces = set()
    for name, kind in LOSS_KINDS.items():
        for task, cls in kind.forms.items():
            form = cls()
            C = {"regression": 1, "binary": 1, "multiclass": 4}[task]
            S = rng.normal(size=(30, C)) * 2.0
            if task == "regression":
                t = Targets.of_values(rng.normal(size=30) * 2.0)
            else:
                t = Targets.of_labels(rng.integers(0, 2 if task == "binary" else 4, 30), C + 1)
                if task == "multiclass":
                    t = Targets.of_labels(t.labels, C)
            if form.pieces(t) is None:
                continue
            with_pieces.add(name)
            got = _pieces_max(form, S, t)
            assert_agree(got, form.value(S, t), rtol=1e-14, atol=1e-14, what=name)
    assert with_pieces == {"absolute", "pinball", "hinge"}


def test_lp_preferred_takes_scalar_losses_only(rng):
    """One equality row per sample for the two-piece scalar losses; not the Crammer–Singer
    hinge (C rows per sample)."""
    X, y = _regression(rng, n=20)
    assert lp_preferred(build_problem(X, y, "absolute", None, 0.0, None, True))
    pin = [make_loss("pinball", tau=0.2), "absolute"]
    assert lp_preferred(build_problem(X, y, pin, None, 0.0, None, True))
    Xb, yb = _binary(rng, n=20)
    assert lp_preferred(build_problem(Xb, yb, "hinge", None, 0.0, None, True))
    Xm, ym = _multiclass(rng, n=20)
    problem = build_problem(Xm, ym, "hinge", None, 0.0, None, True)
    assert not lp_preferred(problem)
    assert lp_applies(problem, Simplex(1)) == (True, "")


def test_lp_applies_names_each_reason(rng):
    X, y = _regression(rng, n=20)
    g = np.arange(20) % 2
    ok = build_problem(X, y, "absolute", g, 0.0, None, True)
    assert lp_applies(ok, Simplex(2)) == (True, "")
    assert lp_applies(ok, BoxSimplex([0.2, 0.2], [0.8, 0.8])) == (True, "")
    assert lp_applies(ok, Polytope([[1.0, -1.0]], [0.3])) == (True, "")
    applies, why = lp_applies(ok, PriorBall([0.5, 0.5], 0.2, "chi2"))
    assert not applies and "PriorBall" in why
    applies, why = lp_applies(build_problem(X, y, "absolute", g, 0.1, None, True), Simplex(2))
    assert not applies and "l2 = 0.1" in why
    mixed = build_problem(X, y, ["absolute", "huber"], None, 0.0, None, True)
    applies, why = lp_applies(mixed, Simplex(2))
    assert not applies and "huber" in why and "absolute" not in why
    pen = build_problem(X, y, "absolute", g, 0.0, None, True, penalty=[0.1, 0.2])
    applies, why = lp_applies(pen, Simplex(2))
    assert not applies and "penalty" in why


# =========================================================================== against cvxpy


def _groups(n, G, rng):
    g = rng.integers(0, G, n)
    g[:G] = np.arange(G)  # every group has rows
    return g


def test_absolute_with_groups_auto_takes_lp(rng):
    X, y = _regression(rng)
    case = Case(X, y, ["absolute"], groups=_groups(150, 3, rng))
    sol = case.solve()  # auto
    _assert_certified(case, sol, case.reference())
    # the same answer by method="lp" explicitly, and by an explicit LP for HiGHS
    explicit = case.solve(method="lp")
    assert abs(explicit.value - sol.value) <= 1e-9 * max(1.0, sol.value)
    assert abs(_linprog_reference(case) - sol.value) <= 1e-9 * max(1.0, sol.value)


@pytest.mark.parametrize("normalize", [None, "initial"])
def test_pinball_levels_mixed_with_absolute(rng, normalize):
    """Six objectives sharing rows (three losses on two groups): the product layout."""
    X, y = _regression(rng, n=160)
    case = Case(
        X,
        y,
        ["absolute", ("pinball", 0.2), ("pinball", 0.9)],
        groups=_groups(160, 2, rng),
        normalize=normalize,
    )
    sol = case.solve(method="lp" if normalize else "auto")
    _assert_certified(case, sol, case.reference())
    if normalize:
        assert_agree(sol.scales, case.scales, rtol=1e-12, what="initial scales")


def test_pinball_alone_is_the_quantile_regression_minimax(rng):
    """Without groups and p = 1, pinball(τ) is quantile regression: the LP optimum is the
    cvxpy one, and about τ of the residuals lie below the fit (at most d + 1 interpolated)."""
    X, y = _regression(rng, n=200, heavy=False)
    case = Case(X, y, [("pinball", 0.2)])
    sol = case.solve()
    _assert_certified(case, sol, case.reference())
    r = y - (X @ sol.coef_ + sol.intercept_)
    below = np.sum(r < -1e-9)
    at = np.sum(np.abs(r) <= 1e-9)
    # the τ-quantile's optimality condition: at most τn residuals below the fit, at least τn
    # at or below it (r = y − s < 0 means the fit is above y)
    assert below <= 0.2 * 200 <= below + at, (below, at)


def test_binary_hinge_classification(rng):
    X, y = _binary(rng)
    labels = np.array(["no", "yes"])[y]  # string labels map to classes in sorted order
    case = Case(X, labels, ["hinge"], groups=_groups(150, 2, rng))
    sol = case.solve()
    _assert_certified(case, sol, case.reference())
    assert sol.coef_.shape == (1, 3) and list(sol.classes_) == ["no", "yes"]


def test_multiclass_hinge_lp_explicit_and_auto_keeps_smoothed_newton(rng):
    X, y = _multiclass(rng)
    case = Case(X, y, ["hinge"], groups=_groups(90, 2, rng))
    ref = case.reference()
    sol = case.solve(method="lp")
    _assert_certified(case, sol, ref)
    assert sol.coef_.shape == (3, 3)
    auto = case.solve()
    assert auto.method == "smoothed_newton" and auto.status == "optimal"
    assert auto.lower_bound <= ref + 1e-9 * max(1.0, ref) <= auto.value + 2e-9
    assert abs(auto.value - sol.value) <= 2 * TOL * max(1.0, ref)


def test_box_simplex_with_bounds(rng):
    X, y = _regression(rng)
    box = BoxSimplex([0.1, 0.2, 0.0], [0.5, 0.7, 0.6])
    case = Case(X, y, ["absolute"], groups=_groups(150, 3, rng), mixture_set=box)
    _assert_certified(case, case.solve(method="lp"), case.reference())
    # with "auto" too, and an infinite upper bound
    box2 = BoxSimplex([0.3, 0.0, 0.1], [np.inf, 0.5, np.inf])
    case2 = Case(X, y, ["absolute"], groups=case.groups, mixture_set=box2)
    _assert_certified(case2, case2.solve(), case2.reference())


def test_single_point_box_is_the_fixed_weight_problem(rng):
    """Λ = {λ}: the minimax problem is min ⟨λ, L̂⟩, solved directly in cvxpy."""
    X, y = _regression(rng)
    lam = np.array([0.2, 0.5, 0.3])
    case = Case(X, y, ["absolute"], groups=_groups(150, 3, rng), mixture_set=BoxSimplex(lam, lam))
    ref = case.reference(weights=lam)
    sol = case.solve(method="lp")
    _assert_certified(case, sol, ref)
    assert_agree(sol.weights, lam, rtol=0, atol=1e-12, what="the only λ")
    W, b = case.model_of(sol)
    assert abs(lam @ case.losses_at(W, b) - ref) <= REF_RTOL * max(1.0, ref)


def test_polytope(rng):
    X, y = _regression(rng)
    # λ0 ≤ λ1 + 0.1 and λ2 ≤ 0.45, λ1 ≤ 0.6
    A = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    poly = Polytope(A, np.array([0.1, 0.45, 0.6]))
    case = Case(X, y, ["absolute"], groups=_groups(150, 3, rng), mixture_set=poly)
    assert len(_vertices(poly)) >= 3
    _assert_certified(case, case.solve(), case.reference())


def test_polytope_on_pinball_binding_faces(rng):
    """A polytope that caps the worst objective, so the optimum mixes objectives (an interior
    face of Λ), with two pinball levels."""
    X, y = _regression(rng, n=120)
    A = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    poly = Polytope(A, np.array([0.6, 0.3]))
    case = Case(
        X, y, [("pinball", 0.3), ("pinball", 0.7)], groups=_groups(120, 2, rng), mixture_set=poly
    )
    _assert_certified(case, case.solve(method="lp"), case.reference())


def test_fit_intercept_false(rng):
    X, y = _regression(rng)
    case = Case(X, y + 2.0, ["absolute"], groups=_groups(150, 2, rng), fit_intercept=False)
    sol = case.solve(method="lp")
    _assert_certified(case, sol, case.reference())
    assert sol.intercept_ == 0.0
    Xb, yb = _binary(rng)
    case_b = Case(Xb, yb, ["hinge"], fit_intercept=False)
    sol_b = case_b.solve()
    _assert_certified(case_b, sol_b, case_b.reference())
    assert np.all(sol_b.intercept_ == 0.0)


@pytest.mark.parametrize("n", [3, 5])
def test_tiny_problems_interpolate(rng, n):
    """n ≤ d: a linear model fits every target, so the optimum is 0 (a degenerate LP)."""
    X = rng.normal(size=(n, 5))
    y = rng.normal(size=n)
    case = Case(X, y, ["absolute", ("pinball", 0.3)], groups=np.arange(n) % 2)
    sol = case.solve()
    assert case.reference() <= 1e-9
    _assert_certified(case, sol, 0.0)
    assert sol.value <= 1e-9


def test_duplicate_rows(rng):
    X, y = _regression(rng, n=40)
    X, y = np.vstack([X, X, X[:10]]), np.concatenate([y, y, y[:10]])
    case = Case(X, y, ["absolute", ("pinball", 0.75)], groups=_groups(90, 2, rng))
    _assert_certified(case, case.solve(), case.reference())
    Xb, yb = _binary(rng, n=40)
    Xb, yb = np.vstack([Xb] * 3), np.concatenate([yb] * 3)
    case_b = Case(Xb, yb, ["hinge"])
    _assert_certified(case_b, case_b.solve(), case_b.reference())


def test_constant_target(rng):
    """y ≡ 3: the intercept fits it and every objective is 0; without an intercept the
    optimum is positive and still matches cvxpy."""
    X = rng.normal(size=(60, 2))
    y = np.full(60, 3.0)
    case = Case(X, y, ["absolute"], groups=_groups(60, 2, rng), normalize="initial")
    sol = case.solve(method="lp")
    _assert_certified(case, sol, 0.0)
    assert sol.value <= 1e-12 and abs(sol.intercept_ - 3.0) <= 1e-9
    no_b = Case(X, y, ["absolute"], groups=case.groups, fit_intercept=False)
    _assert_certified(no_b, no_b.solve(), no_b.reference())


def test_large_target_scale(rng):
    """Targets × 1e4: the tolerances are relative, and the LP certifies to them."""
    X, y = _regression(rng)
    case = Case(X, 1e4 * y, ["absolute", ("pinball", 0.2)], groups=_groups(150, 2, rng))
    ref = case.reference()
    assert ref > 1e3
    _assert_certified(case, case.solve(), ref)


def test_badly_scaled_columns(rng):
    """Columns 1e-3 … 1e3 apart: the LP's certificate does not rest on a well-scaled X."""
    X, y = _regression(rng, d=4)
    Xs = X * np.array([1e-3, 1.0, 1e2, 1e3])
    case = Case(Xs, y, ["absolute"], groups=_groups(150, 3, rng))
    _assert_certified(case, case.solve(), case.reference())
    Xb, yb = _binary(rng, d=3)
    case_b = Case(Xb * np.array([1e-3, 1.0, 1e3]), yb, ["hinge"], groups=_groups(150, 2, rng))
    _assert_certified(case_b, case_b.solve(), case_b.reference())


# =========================================================================== the certificate


def _lad_dual(case):
    """The LP dual of min_Θ max_k (1/(n_k s_k)) Σ_{i∈k} |y_i − x̃_iᵀΘ| over the simplex:
    max Σ_i α_i y_i  s.t. |α_i| ≤ λ_k/(n_k s_k) (i in objective k), Σ_i α_i x̃_i = 0, λ ∈ Δ.
    Each row in exactly one objective (absolute loss on a partition into groups)."""
    n = case.X.shape[0]
    design = np.hstack([case.X, np.ones((n, 1))]) if case.fit_intercept else case.X
    lam = cp.Variable(case.p, nonneg=True)
    alpha = cp.Variable(n)
    cap = []
    order = np.concatenate([rows for _, rows in case.objectives])
    assert np.array_equal(np.sort(order), np.arange(n)), "objectives must partition the rows"
    for k, (_, rows) in enumerate(case.objectives):
        cap.append(cp.abs(alpha[rows]) <= lam[k] / (rows.size * case.scales[k]))
    problem = cp.Problem(
        cp.Maximize(alpha @ case.target), [cp.sum(lam) == 1, design.T @ alpha == 0, *cap]
    )
    _solve(problem, cp.CLARABEL)
    return float(problem.value), np.asarray(lam.value)


def test_certificate_against_the_lp_dual_and_weak_duality(rng):
    X, y = _regression(rng, n=200, d=4)
    case = Case(X, y, ["absolute"], groups=_groups(200, 3, rng), normalize="initial")
    sol = case.solve(method="lp")
    primal = case.reference()
    dual, _ = _lad_dual(case)
    scale = max(1.0, abs(primal))
    assert abs(primal - dual) <= REF_RTOL * scale  # strong duality of the reference itself
    # the library's lower bound is a dual value: below the dual optimum, and within the gap
    assert sol.lower_bound <= dual + 1e-9 * scale
    assert sol.lower_bound >= dual - TOL * scale
    # g(λ) = min_Θ ⟨λ, L̂(Θ)⟩ at the returned λ bounds the lower bound (it is a dual value at λ)
    g_lam = case.reference(weights=sol.weights)
    assert sol.lower_bound <= g_lam + 1e-9 * scale
    assert g_lam <= primal + 1e-9 * scale
    # weak duality: the lower bound is below the worst case of any model
    W, b = case.model_of(sol)
    vertices = _vertices(case.mixture_set)
    for step in (1e-6, 1e-3, 1.0):
        for _ in range(10):
            other = case.worst_case(
                W + step * rng.normal(size=W.shape), b + step * rng.normal(size=b.shape), vertices
            )
            assert sol.lower_bound <= other + 1e-12 * scale
    # the upper bound is the worst case at the model, computed by hand from coef_/intercept_
    r = y - X @ sol.coef_ - sol.intercept_
    by_group = [
        np.abs(r[rows]).mean() / s
        for (_, rows), s in zip(case.objectives, case.scales, strict=True)
    ]
    assert abs(sol.value - max(by_group)) <= 1e-12 * scale
    assert sol.gap == pytest.approx(sol.value - sol.lower_bound, abs=1e-15)


def test_certificate_on_a_box_against_fixed_weight_optimum(rng):
    """On a box simplex the lower bound is at most g(λ) at the returned λ, which is at most the
    minimax value; all three agree to the tolerance."""
    X, y = _regression(rng, n=120)
    box = BoxSimplex([0.2, 0.2], [0.7, 0.7])
    case = Case(X, y, ["absolute", ("pinball", 0.8)], mixture_set=box)
    sol = case.solve(method="lp")
    ref = case.reference()
    g_lam = case.reference(weights=sol.weights)
    scale = max(1.0, ref)
    assert sol.lower_bound <= g_lam + 1e-9 * scale <= ref + 2e-9 * scale
    assert ref - sol.lower_bound <= TOL * scale


# =========================================================================== engines


@pytest.fixture(scope="module")
def big_problem():
    rng = np.random.default_rng(7)
    n, d = 1000, 5
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + rng.standard_t(3, size=n)
    g = rng.integers(0, 2, n)
    losses = ["absolute", make_loss("pinball", tau=0.3)]
    return build_problem(X, y, losses, g, 0.0, None, True), (X, y, g)


def _domain(problem, k):
    name = problem.objectives[k].name
    if name.startswith("absolute"):
        return -1.0, 1.0
    tau = problem.objectives[k].loss.tau
    return -tau, 1.0 - tau


def test_engines_agree_on_a_thousand_rows(big_problem):
    problem, (X, y, g) = big_problem
    simplex = Simplex(problem.p)
    results = {engine: solve_lp(problem, simplex, engine) for engine in ("highs", "screened")}
    values = {e: float(problem.losses(r.theta).max()) for e, r in results.items()}
    assert abs(values["highs"] - values["screened"]) <= 1e-8 * max(1.0, values["highs"]), values
    # and both against the direct cvxpy formulation
    case = Case(X, y, ["absolute", ("pinball", 0.3)], groups=g)
    ref = case.reference()
    for engine, value in values.items():
        assert abs(value - ref) <= REF_RTOL * max(1.0, ref), (engine, value, ref)
    for res in results.values():
        assert res.theta.shape == problem.shape
        assert abs(res.weights.sum() - 1.0) <= 1e-8 and res.weights.min() >= -1e-9
        assert res.n_iter > 0 and res.seconds > 0.0


def test_screened_engine_duals_lie_in_the_dual_domains(big_problem):
    """α_i/(λ_k w_k) ∈ [−1, 1] for absolute, [−τ, 1 − τ] for pinball; and Σ_i x̃_i α_i = 0."""
    problem, _ = big_problem
    res = solve_lp(problem, Simplex(problem.p), "screened")
    lam = np.maximum(res.weights, 0.0)
    moment = np.zeros(problem.X.shape[1])
    for k, (o, U) in enumerate(zip(problem.objectives, res.unit_duals, strict=True)):
        lo, hi = _domain(problem, k)
        assert U.shape == (o.rows.size, 1)
        assert U.min() >= lo - 1e-9 and U.max() <= hi + 1e-9, (o.name, U.min(), U.max())
        moment += lam[k] * o.weight * (problem.X[o.rows].T @ U[:, 0])
    assert np.abs(moment).max() <= 1e-8, moment
    # the HiGHS engine gives a vertex with the same properties
    res_h = solve_lp(problem, Simplex(problem.p), "highs")
    for k, U in enumerate(res_h.unit_duals):
        lo, hi = _domain(problem, k)
        assert U.min() >= lo - 1e-9 and U.max() <= hi + 1e-9


def test_solve_lp_refuses_a_ball(big_problem):
    problem, _ = big_problem
    with pytest.raises(TypeError, match="polyhedral"):
        solve_lp(problem, PriorBall(np.full(problem.p, 1 / problem.p), 0.1, "l1"))


# =========================================================================== errors


class _Sentinel(Exception):
    pass


@pytest.fixture
def no_solving(monkeypatch):
    """Every solver entry point raises: an error seen instead was raised before any solving."""

    def boom(*args, **kwargs):
        raise _Sentinel("a solver ran")

    import almo.solvers.cvxpy_form as cvxpy_form

    for module, name in [
        (lp_module, "_clarabel"),
        (lp_module, "_highs"),
        (linear_module, "solve_lp"),
        (linear_module, "solve_smoothed"),
        (linear_module, "solve_dual_newton"),
        (cvxpy_form, "solve_cvxpy"),
    ]:
        monkeypatch.setattr(module, name, boom)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"l2": 0.1}, "l2 = 0.1 > 0"),
        ({"losses": "squared"}, "['squared'] are not piecewise linear"),
        ({"losses": ["absolute", "huber"]}, "['huber'] are not piecewise linear"),
        ({"penalty": [0.1, 0.2]}, "norm penalty"),
        ({"mixture_set": PriorBall([0.5, 0.5], 0.2, "l1")}, "PriorBall is not a polyhedral"),
        ({"mixture_set": PriorBall([0.4, 0.6], 0.1, "kl")}, "PriorBall is not a polyhedral"),
    ],
)
def test_lp_errors_name_method_and_reason(rng, no_solving, kwargs, reason):
    X, y = _regression(rng, n=30)
    args = {"losses": "absolute", "groups": np.arange(30) % 2, **kwargs}
    if args["losses"] != "absolute":
        args["groups"] = None
        args.pop("penalty", None)
    with pytest.raises(ALMOValueError) as info:
        solve_linear(X, y, method="lp", **args)
    message = str(info.value)
    assert "`method`" in message and reason in message, message
    assert "method='auto'" in message  # the fix


def test_lp_error_for_multiclass_hinge_with_ridge(rng, no_solving):
    X, y = _multiclass(rng, n=30)
    with pytest.raises(ALMOValueError, match=re.escape("l2 = 0.01 > 0")):
        solve_linear(X, y, "hinge", l2=0.01, method="lp")


def test_auto_skips_the_lp_where_it_does_not_apply(rng, monkeypatch):
    """l2 > 0 or a smooth loss: "auto" never calls the LP."""

    def boom(*args, **kwargs):
        raise _Sentinel("the LP ran")

    monkeypatch.setattr(linear_module, "solve_lp", boom)
    X, y = _regression(rng, n=40)
    sol = solve_linear(X, y, "absolute", l2=0.01)
    assert sol.method == "smoothed_newton" and sol.status == "optimal"
    assert solve_linear(X, y, "squared").method != "lp"


# =========================================================================== fallbacks


def _fails(label):
    def run(*args, **kwargs):
        raise SolverError(f"{label} failed on purpose")

    return run


def test_without_clarabel_auto_certifies_through_highs(rng, monkeypatch):
    X, y = _regression(rng)
    case = Case(X, y, ["absolute", ("pinball", 0.9)], groups=_groups(150, 2, rng))
    calls = []
    real_highs = lp_module._highs

    def counting_highs(*args, **kwargs):
        calls.append(1)
        return real_highs(*args, **kwargs)

    monkeypatch.setattr(lp_module, "_clarabel", _fails("Clarabel"))
    monkeypatch.setattr(lp_module, "_highs", counting_highs)
    sol = case.solve()
    _assert_certified(case, sol, case.reference())
    assert calls, "the whole LP by HiGHS should have run"
    explicit = case.solve(method="lp")
    assert explicit.method == "lp" and explicit.status == "optimal"


def test_without_any_lp_solver_auto_falls_back_and_lp_raises(rng, monkeypatch):
    X, y = _regression(rng, n=100)
    case = Case(X, y, ["absolute"], groups=_groups(100, 2, rng))
    ref = case.reference()
    monkeypatch.setattr(lp_module, "_clarabel", _fails("Clarabel"))
    monkeypatch.setattr(lp_module, "_highs", _fails("HiGHS"))
    sol = case.solve()
    assert sol.method == "smoothed_newton" and sol.status == "optimal"
    scale = max(1.0, ref)
    assert sol.lower_bound <= ref + 1e-9 * scale <= sol.value + 2e-9 * scale
    assert sol.value - ref <= TOL * scale
    with pytest.raises(SolverError) as info:
        case.solve(method="lp")
    message = str(info.value)
    assert "Clarabel" in message and "HiGHS" in message, message
    assert "method='cvxpy'" in message


def test_solve_lp_wraps_the_engine_error(big_problem, monkeypatch):
    """A failing LP solver surfaces as SolverError with the LP's size and a fix."""
    problem, _ = big_problem
    monkeypatch.setattr(lp_module, "_highs", _fails("HiGHS"))
    with pytest.raises(SolverError, match=r"rows, \d+ columns\) failed .*HiGHS failed on purpose"):
        solve_lp(problem, Simplex(problem.p), "highs")


# =========================================================================== more edge cases


def _edge_cases():
    rng = np.random.default_rng(2024)
    X, y = _regression(rng, n=60)
    g2, g3 = _groups(60, 2, rng), _groups(60, 3, rng)
    Xb = rng.normal(size=(80, 2))
    yb = (Xb[:, 0] > 0).astype(int)
    Xm = rng.normal(size=(60, 2))
    ym = np.argmax(Xm @ rng.normal(size=(2, 3)), axis=1)
    return {
        "zero design, no intercept": (
            Case(np.zeros((60, 2)), y, ["absolute"], groups=g2, fit_intercept=False),
            {},
        ),
        "a zero column": (Case(np.hstack([X, np.zeros((60, 1))]), y, ["absolute"], g2), {}),
        "a constant column next to the intercept": (
            Case(np.hstack([X, np.ones((60, 1))]), y, ["absolute", ("pinball", 0.3)], g2),
            {},
        ),
        "one row": (Case(rng.normal(size=(1, 2)), np.array([2.0]), ["absolute"]), {}),
        "one row per group": (
            Case(rng.normal(size=(2, 2)), np.array([2.0, -1.0]), ["absolute"], np.array([0, 1])),
            {},
        ),
        "two rows, no intercept": (
            Case(
                rng.normal(size=(2, 1)),
                np.array([2.0, -1.0]),
                ["absolute", ("pinball", 0.1)],
                np.array([0, 1]),
                fit_intercept=False,
            ),
            {},
        ),
        "an objective the box excludes": (
            Case(X, y, ["absolute"], g3, mixture_set=BoxSimplex([0, 0, 0], [0, 1, 1])),
            {},
        ),
        "separable binary hinge": (Case(Xb, yb, ["hinge"], _groups(80, 2, rng)), {}),
        "separable multiclass hinge": (
            Case(Xm, ym, ["hinge"], _groups(60, 2, rng)),
            {"method": "lp"},
        ),
        "targets × 1e8": (Case(X, 1e8 * y, ["absolute"], g2), {}),
        "targets × 1e-8": (Case(X, 1e-8 * y, ["absolute"], g2), {}),
        "X × 1e-6": (Case(X * 1e-6, y, ["absolute"], g2), {}),
        "targets × 1e4, normalized": (
            Case(X, 1e4 * y, ["absolute", ("pinball", 0.9)], g2, normalize="initial"),
            {},
        ),
    }


EDGE = _edge_cases()


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_cases_match_cvxpy(name):
    """Degenerate LPs (free columns, interpolation, zero optima, an excluded objective) and
    extreme scales: "auto" takes the LP and certifies the cvxpy optimum."""
    case, kwargs = EDGE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: certified within tol
        sol = case.solve(**kwargs)
    _assert_certified(case, sol, case.reference())
    if name.startswith("separable") or ("row" in name and "no intercept" not in name):
        assert sol.value <= 1e-9  # a perfect fit exists


@pytest.mark.parametrize(
    "scale",
    [
        pytest.param(np.full(3, 1e6), id="X × 1e6"),
        pytest.param(np.array([1e-6, 1.0, 1e6]), id="columns 1e-6 … 1e6"),
    ],
)
def test_lp_certifies_large_columns(rng, scale):
    X, y = _regression(rng, n=60)
    case = Case(X * scale, y, ["absolute"], groups=_groups(60, 2, rng))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = case.solve(method="lp")
    ref = case.reference()
    assert abs(sol.value - ref) <= REF_RTOL * max(1.0, ref)  # the LP's model is optimal...
    assert sol.status == "optimal", (sol.value, sol.lower_bound)  # ...and certified


@pytest.mark.parametrize("seed", [14, 45])
def test_lp_certifies_tiny_normalized_targets(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, 2))
    y = 1e-3 * (X @ rng.normal(size=2) + rng.standard_t(2, size=4) + 1.0)
    case = Case(
        X,
        y,
        ["absolute", ("pinball", 0.8)],
        np.array([0, 1, 0, 1]),
        normalize="initial",
        fit_intercept=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = case.solve(method="lp")
    exact = _linprog_reference(case)
    assert abs(sol.value - exact) <= REF_RTOL * max(1.0, exact)
    assert sol.status == "optimal", sol.lower_bound


def test_lp_model_is_optimal_at_large_columns_even_uncertified(rng):
    """The part of the case above that holds today: the LP's model is the optimum (its upper
    bound equals the cvxpy value), whatever its certificate."""
    X, y = _regression(rng, n=60)
    case = Case(X * 1e6, y, ["absolute"], groups=_groups(60, 2, rng))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = case.solve(method="lp")
    ref = case.reference()
    assert sol.method == "lp"
    assert abs(sol.value - ref) <= REF_RTOL * max(1.0, ref)
    W, b = case.model_of(sol)
    assert abs(case.worst_case(W, b) - sol.value) <= 1e-10 * max(1.0, ref)


def test_lp_certifies_boxes_with_tiny_lower_bounds():
    box = BoxSimplex([4.9e-10, 2.4e-10, 8.7e-10, 4e-10], [np.inf, np.inf, 0.4383, 0.2])
    failed = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(10, 2))
        y = X @ rng.normal(size=2) + rng.standard_t(2, size=10) + 1.0
        case = Case(X, y, ["absolute", ("pinball", 0.1)], _groups(10, 2, rng), box)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = case.solve(method="lp")
        exact = _linprog_reference(case)
        assert abs(sol.value - exact) <= REF_RTOL * max(1.0, exact)  # the model is optimal
        if sol.status != "optimal":
            failed.append((seed, sol.lower_bound))
    assert not failed, failed


def test_lp_lower_bound_falls_back_to_zero(rng, monkeypatch):
    X, y = _regression(rng, n=60)
    monkeypatch.setattr(linear_module, "dual_bound", lambda *args, **kwargs: -np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_linear(X, y, "absolute", method="lp")
    assert sol.lower_bound == 0.0 and np.isfinite(sol.gap)


# =========================================================================== random problems


@st.composite
def lp_problems(draw):
    """Small random LP problems: absolute and pinball levels, one or two groups, any
    polyhedral Λ (simplex, box, polytope, from the shared strategy), with or without an
    intercept and normalization, data at several scales."""
    kinds = draw(
        st.lists(
            st.sampled_from(["absolute", ("pinball", 0.1), ("pinball", 0.5), ("pinball", 0.8)]),
            min_size=1,
            max_size=2,
            unique=True,
        )
    )
    n_groups = draw(st.integers(1, 2))
    p = len(kinds) * n_groups
    mixture_set = draw(mixture_sets(p, kinds=("simplex", "box", "polytope")))
    seed = draw(st.integers(0, 2**31))
    n = draw(st.integers(2 * n_groups, 40))
    d = draw(st.integers(1, 4))
    y_scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    fit_intercept = draw(st.booleans())
    normalize = draw(st.sampled_from([None, "initial"]))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.choice([0.1, 1.0, 10.0], size=d)
    y = y_scale * (X @ rng.normal(size=d) + rng.standard_t(2, size=n) + 1.0)
    groups = None if n_groups == 1 else _groups(n, 2, rng)
    return Case(X, y, kinds, groups, mixture_set, normalize, fit_intercept)


@settings(max_examples=25, deadline=None)
@given(case=lp_problems())
def test_random_lp_problems_match_cvxpy(case):
    """Against two references: cvxpy (Clarabel) and an explicit LP for HiGHS's simplex; the
    model is optimal and certified (no ConvergenceWarning)."""
    sol = case.solve(method="lp")
    exact = _linprog_reference(case)
    assert abs(case.reference() - exact) <= REF_RTOL * max(1.0, abs(exact))
    _assert_certified(case, sol, exact)


# =========================================================================== screening


def test_screen_and_release_give_rows_back(big_problem):
    """_Block.screen keeps rows only near a kink (and at least D·C + 1 of them); release frees
    the fixed samples whose piece no longer leads at a new model, and only those."""
    problem, _ = big_problem
    o = problem.objectives[0]
    block = lp_module._Block.of(o, problem.X, problem.n_outputs)
    assert block.split and block.n_vars == 2 * block.m
    theta = solve_lp(problem, Simplex(problem.p), "highs").theta
    block.screen(theta)
    D = problem.X.shape[1]
    assert D + 1 <= block.n_free < block.m
    residual = o.targets.value - problem.X[o.rows] @ theta[:, 0]
    fixed = ~block.free
    # a fixed sample's leading piece is the sign of its residual (s − y for s > y)
    assert np.all(block.side[fixed] == np.where(residual[fixed] < 0, 0, 1))
    assert not block.release(theta)  # nothing changed
    # move the model: every fixed sample whose residual changes sign must be released
    moved = theta.copy()
    moved[-1, 0] += 0.5  # the intercept
    flips = fixed & (
        np.sign(o.targets.value - problem.X[o.rows] @ moved[:, 0]) != np.sign(residual)
    )
    assert flips.any()
    assert block.release(moved)
    assert np.all(block.free[flips])
    assert not block.release(moved)


def test_screened_engine_survives_an_inaccurate_interior_point(big_problem, monkeypatch):
    problem, _ = big_problem
    real = lp_module._clarabel
    n_theta = int(np.prod(problem.shape))

    def off(*args, **kwargs):
        x, dual_ub, dual_eq, n_iter = real(*args, **kwargs)
        x = x.copy()
        x[:n_theta] += 0.02 * np.random.default_rng(0).normal(size=n_theta)
        return x, dual_ub, dual_eq, n_iter

    monkeypatch.setattr(lp_module, "_clarabel", off)
    exact = solve_lp(problem, Simplex(problem.p), "highs")
    res = solve_lp(problem, Simplex(problem.p), "screened")
    best = float(problem.losses(exact.theta).max())
    assert abs(float(problem.losses(res.theta).max()) - best) <= 1e-8 * max(1.0, best)


def test_auto_survives_an_inaccurate_interior_point(rng, monkeypatch):
    """solve_linear runs the whole LP by HiGHS when the screened engine fails."""
    X, y = _regression(rng, n=300)
    case = Case(X, y, ["absolute", ("pinball", 0.3)], groups=_groups(300, 2, rng))
    real = lp_module._clarabel

    def off(*args, **kwargs):
        x, dual_ub, dual_eq, n_iter = real(*args, **kwargs)
        x = x.copy()
        x[:8] += 0.05 * np.random.default_rng(0).normal(size=8)
        return x, dual_ub, dual_eq, n_iter

    monkeypatch.setattr(lp_module, "_clarabel", off)
    _assert_certified(case, case.solve(), case.reference())


# =========================================================================== hinge engines


def test_engines_agree_on_a_thousand_hinge_rows():
    """Binary hinge (split form, slopes 0 and −y±) on 1,000 rows and badly scaled columns:
    both engines reach the same optimum, and the duals lie in {u : y± u ∈ [−1, 0]}."""
    rng = np.random.default_rng(11)
    n = 1000
    X = rng.normal(size=(n, 4)) * np.array([1e-3, 1.0, 1e3, 1.0])
    y = X / np.array([1e-3, 1.0, 1e3, 1.0]) @ [1.0, -1.0, 0.5, 0.0] + rng.normal(size=n) > 0
    groups = rng.integers(0, 3, n)
    problem = build_problem(X, y.astype(int), "hinge", groups, 0.0, None, True)
    res = {e: solve_lp(problem, Simplex(3), e) for e in ("highs", "screened")}
    values = {e: float(problem.losses(r.theta).max()) for e, r in res.items()}
    assert abs(values["highs"] - values["screened"]) <= 1e-8 * max(1.0, values["highs"])
    for r in res.values():
        for o, U in zip(problem.objectives, r.unit_duals, strict=True):
            margin = o.targets.sign * U[:, 0]
            assert margin.min() >= -1.0 - 1e-9 and margin.max() <= 1e-9
    sol = solve_linear(X, y.astype(int), "hinge", groups=groups)
    assert sol.method == "lp" and sol.status == "optimal"
    assert abs(sol.value - values["highs"]) <= 1e-8 * max(1.0, values["highs"])
