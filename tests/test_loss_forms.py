"""Each registered loss's forms agree: torch, numpy (value, gradient, Hessian, conjugate), cvxpy.

The cases are generated from the registry, so a newly registered kind is checked in all its forms
without editing this file — and a kind registered without forms must say why, or a test here
fails.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo._validation import ALMOValueError
from almo.losses import LOSS_KINDS, LOSSES, Loss, LossKind, Targets, make_loss, resolve_loss
from almo.losses._loss import SOLVER_TASKS, register
from almo.solvers.cvxpy_form import loss_expression

TOL = 1e-10  # float64 agreement of the forms
FY_TOL = 1e-8  # Fenchel–Young equality
EXAMPLES = settings(max_examples=25, deadline=None)

# Parameter values to check beyond the defaults (a new parametrized kind is checked at its
# defaults until it gets a line here).
EXTRA_PARAMS: dict[str, list[dict[str, float]]] = {
    "huber": [{"delta": 0.3}, {"delta": 2.5}],
    "pinball": [{"tau": 0.1}, {"tau": 0.85}],
    "focal": [{"gamma": 0.5}, {"gamma": 5.0}],
}
# The kinds that are known not to be convex in the scores (no convex form, a reason instead).
NOT_CONVEX = {"brier", "focal", "zero_one"}


def _variants(name: str) -> list[dict[str, float]]:
    return [LOSS_KINDS[name].defaults, *EXTRA_PARAMS.get(name, [])]


def _case_id(case):
    name, task, params = case
    args = ",".join(f"{k}={v:g}" for k, v in params.items())
    return f"{name}({args})-{task}" if args else f"{name}-{task}"


CASES = [
    (name, task, params)
    for name, kind in LOSS_KINDS.items()
    for task in kind.forms
    for params in _variants(name)
]


def _sample(task, rng, m, scale, n_classes):
    """Scores S (m, C), their Targets, and the same batch as torch tensors for the Loss."""
    if task == "multiclass":
        labels = rng.integers(0, n_classes, m)
        S = rng.normal(scale=scale, size=(m, n_classes))
        return S, Targets.of_labels(labels, n_classes), torch.tensor(S), torch.tensor(labels)
    S = rng.normal(scale=scale, size=(m, 1))
    if task == "binary":
        labels = rng.integers(0, 2, m)
        return S, Targets.of_labels(labels, 2), torch.tensor(S[:, 0]), torch.tensor(labels)
    y = S[:, 0] + rng.normal(scale=2.0 * scale, size=m)
    return S, Targets.of_values(y), torch.tensor(S[:, 0]), torch.tensor(y)


draws = dict(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 9),
    scale=st.sampled_from([0.3, 1.0, 4.0]),
    n_classes=st.integers(3, 5),
)


def _setup(case, seed, m, scale, n_classes):
    name, task, params = case
    loss = make_loss(name, **params)
    form = loss.convex_form(task)
    assert form is not None
    rng = np.random.default_rng(seed)
    return (loss, form, rng, *_sample(task, rng, m, scale, n_classes))


# --- the forms against each other --------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@EXAMPLES
@given(**draws)
def test_numpy_value_and_gradient_equal_torch(case, seed, m, scale, n_classes):
    loss, form, _, S, t, out, y = _setup(case, seed, m, scale, n_classes)
    x = out.clone().requires_grad_(True)
    values = loss(x, y)
    (grad,) = torch.autograd.grad(values.sum(), x)
    np.testing.assert_allclose(form.value(S, t), values.detach().numpy(), rtol=1e-12, atol=TOL)
    np.testing.assert_allclose(form.grad(S, t), grad.numpy().reshape(S.shape), rtol=1e-12, atol=TOL)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if make_loss(c[0], **c[2]).convex_form(c[1]).has_hessian],
    ids=_case_id,
)
@EXAMPLES
@given(**draws)
def test_numpy_hessian_equals_torch_double_backward(case, seed, m, scale, n_classes):
    loss, form, _, S, t, out, y = _setup(case, seed, m, scale, n_classes)
    H = torch.autograd.functional.hessian(lambda x: loss(x, y).sum(), out).numpy()
    H = H.reshape(m, S.shape[1], m, S.shape[1])
    d, v = form.hess(S, t)
    for i in range(m):
        ref = np.diag(d[i]) - (0.0 if v is None else np.outer(v[i], v[i]))
        np.testing.assert_allclose(ref, H[i, :, i, :], rtol=1e-12, atol=TOL)
    # the loss is separable over samples: no cross-sample curvature
    off = H.copy()
    off[np.arange(m), :, np.arange(m), :] = 0.0
    assert np.all(off == 0.0)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@EXAMPLES
@given(**draws)
def test_conjugate_satisfies_fenchel_young(case, seed, m, scale, n_classes):
    """ℓ(s) + ℓ*(u) ≥ ⟨s, u⟩ on the domain, with equality at u = ∇ℓ(s)."""
    _, form, rng, S, t, _, _ = _setup(case, seed, m, scale, n_classes)
    U = form.grad(S, t)
    np.testing.assert_allclose(form.clip(U, t), U, rtol=0, atol=1e-12)  # ∇ℓ is in the domain
    gap = form.value(S, t) + form.conj(U, t) - (U * S).sum(axis=1)
    np.testing.assert_allclose(gap, 0.0, rtol=0, atol=FY_TOL)
    for _ in range(3):
        V = form.clip(rng.normal(scale=2.0, size=S.shape), t)
        np.testing.assert_allclose(form.clip(V, t), V, rtol=0, atol=1e-12)  # clip is idempotent
        S2 = rng.normal(scale=3.0 * scale, size=S.shape)
        gap = form.value(S2, t) + form.conj(V, t) - (V * S2).sum(axis=1)
        assert np.all(gap >= -FY_TOL)
        room = form.room(V, t)
        assert room.shape == V.shape and np.all(room >= 0)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@EXAMPLES
@given(**draws)
def test_cvxpy_expression_equals_numpy(case, seed, m, scale, n_classes):
    _, form, _, S, t, _, _ = _setup(case, seed, m, scale, n_classes)
    scores = cp.Variable(S.shape)
    expr = form.cvxpy(scores, t)
    assert expr.is_dcp() and expr.is_convex() and expr.size == 1
    scores.value = S
    np.testing.assert_allclose(float(expr.value), form.value(S, t).sum(), rtol=1e-9, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_cvxpy_minimum_over_a_shift_matches_numpy(rng, case):
    """Solving a one-variable problem through the expression lands on the numpy minimum."""
    name, task, params = case
    form = make_loss(name, **params).convex_form(task)
    S, t, _, _ = _sample(task, rng, 6, 1.0, 3)
    while task == "binary" and np.unique(t.labels).size < 2:  # else the minimum is at infinity
        S, t, _, _ = _sample(task, rng, 6, 1.0, 3)
    shift = cp.Variable()
    problem = cp.Problem(cp.Minimize(loss_expression(form, task, S + shift, t)))
    problem.solve()
    grid = np.linspace(-10.0, 10.0, 4001)
    best = min(form.value(S + c, t).sum() for c in grid)
    assert problem.value <= best + 1e-6
    assert problem.value >= best - 0.05  # the grid step bounds how much lower it may go


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gradients_respect_the_lipschitz_data(rng, case):
    name, task, params = case
    loss = make_loss(name, **params)
    form = loss.convex_form(task)
    S, t, _, _ = _sample(task, rng, 400, 3.0, 4)
    norms = np.linalg.norm(form.grad(S, t), axis=1)
    radius = float(np.linalg.norm(S, axis=1).max())
    if task == "regression":
        radius = max(radius, float(np.abs(t.value).max()))
    assert norms.max() <= loss.lipschitz_within(radius) + 1e-12
    if math.isfinite(loss.lipschitz):
        assert loss.lipschitz_within(radius) == loss.lipschitz


# --- the registry ------------------------------------------------------------------------------


def test_every_kind_has_its_forms_or_says_why_not():
    for name, kind in LOSS_KINDS.items():
        loss = LOSSES[name]
        assert loss.kind == name and loss.task == kind.task
        assert loss.convex_for_linear == bool(kind.forms)
        if kind.forms:
            assert set(kind.forms) == set(SOLVER_TASKS[kind.task]), name
            for task in kind.forms:
                assert {c[:2] for c in CASES} >= {(name, task)}
        else:
            assert name in NOT_CONVEX, f"{name} was registered without a convex form"
            assert kind.not_convex and all(
                loss.convex_form(task) is None for task in ("binary", "multiclass", "regression")
            )
    assert set(LOSS_KINDS) == set(LOSSES)
    assert {name for name, kind in LOSS_KINDS.items() if not kind.forms} == NOT_CONVEX


@pytest.mark.parametrize("name", sorted(NOT_CONVEX))
def test_kinds_without_forms_are_indeed_not_convex(rng, name):
    """A midpoint where convexity fails, found on random segments of scores."""
    loss = LOSSES[name]
    a = rng.normal(scale=4.0, size=(4000, 3))
    b = rng.normal(scale=4.0, size=(4000, 3))
    y = torch.tensor(rng.integers(0, 3, 4000))
    f = [loss(torch.tensor(s), y).numpy() for s in (a, b, (a + b) / 2)]
    assert np.any(f[2] > (f[0] + f[1]) / 2 + 1e-6)


def test_kind_of_builtins_and_variants():
    assert {name: loss.kind for name, loss in LOSSES.items()} == {n: n for n in LOSS_KINDS}
    huber = make_loss("huber", delta=2.0)
    assert (huber.name, huber.kind, huber.params) == ("huber(delta=2)", "huber", {"delta": 2.0})
    assert make_loss("pinball", tau=0.25).kind == "pinball"
    assert make_loss("focal", gamma=0.5).kind == "focal"
    assert make_loss("huber", delta=1.0).kind == "huber"
    assert resolve_loss("squared_hinge").kind == "squared_hinge"
    assert resolve_loss(("cube", lambda out, y: (out - y).abs() ** 3)).kind is None
    assert Loss("mine", lambda out, y: out - y).convex_form("regression") is None


@pytest.mark.parametrize(("name", "params"), [(n, p) for n in EXTRA_PARAMS for p in _variants(n)])
def test_parameters_reach_every_form(name, params):
    loss = make_loss(name, **params)
    kind = LOSS_KINDS[name]
    assert loss.lipschitz == kind.lipschitz_of(params)
    assert loss.fn.keywords == params  # the torch function gets them
    for task in kind.forms:
        form = loss.convex_form(task)
        assert {k: getattr(form, k) for k in params} == params
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        assert repr(form) == f"{type(form).__name__}({args})"


def test_convex_form_per_task():
    assert type(LOSSES["log_loss"].convex_form("multiclass")).__name__ == "MultiLogLoss"
    assert type(LOSSES["log_loss"].convex_form("binary")).__name__ == "BinaryLogLoss"
    assert LOSSES["log_loss"].convex_form("regression") is None
    assert LOSSES["huber"].convex_form("binary") is None
    assert LOSSES["squared"].convex_form("regression") is not None
    assert repr(LOSSES["hinge"].convex_form("multiclass")) == "MultiHinge()"
    with pytest.raises(ALMOValueError, match=r"`task` must be 'binary'.*'classification'"):
        LOSSES["hinge"].convex_form("classification")


def test_registration_fails_loudly():
    with pytest.raises(ALMOValueError, match="not_convex say why"):
        LossKind("cube", lambda out, y: out, "regression")
    with pytest.raises(ALMOValueError, match=r"cover exactly the tasks \('binary', 'multi"):
        LossKind(
            "half",
            lambda out, y: out,
            "classification",
            forms={"binary": type(LOSSES["log_loss"].convex_form("binary"))},
        )
    with pytest.raises(ALMOValueError, match="task"):
        LossKind("odd", lambda out, y: out, "custom", not_convex="unknown")  # type: ignore
    with pytest.raises(ALMOValueError, match="new to the registry"):
        register(LOSS_KINDS["hinge"])
    with pytest.raises(ALMOValueError, match="registered loss kind"):
        Loss("mine", lambda out, y: out, kind="cube")
    assert "cube" not in LOSS_KINDS and "half" not in LOSSES
