"""The solver's loss math and its Fenchel dual certificate, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo.losses import LOSSES, make_loss
from almo.solvers._certificate import dual_bound
from almo.solvers._inner import InnerSolver
from almo.solvers._losses import Targets, score_loss
from almo.solvers._problem import build_problem

CASES = (
    [("multiclass", n) for n in ("log_loss", "hinge", "squared_hinge", "squared")]
    + [("binary", n) for n in ("log_loss", "hinge", "squared_hinge", "squared")]
    + [("regression", n) for n in ("squared", "absolute", "huber", "pinball")]
)


def _targets(task, rng, m, C=4):
    if task == "multiclass":
        labels = rng.integers(0, C, m)
        return Targets(labels=labels, onehot=np.eye(C)[labels]), labels
    if task == "binary":
        labels = rng.integers(0, 2, m)
        sign = 2.0 * labels - 1.0
        return Targets(labels=labels, sign=sign, value=sign), labels
    value = rng.normal(size=m) * 2
    return Targets(value=value), value


def _loss(task, name):
    params = {"huber": {"delta": 0.7}, "pinball": {"tau": 0.3}}.get(name, {})
    return score_loss(name, task, params), params


@pytest.mark.parametrize(("task", "name"), CASES)
def test_values_match_the_torch_losses(rng, task, name):
    """The numpy losses equal almo.losses (the ObjectiveFamily conventions)."""
    loss, params = _loss(task, name)
    t, raw = _targets(task, rng, 50)
    S = rng.normal(size=(50, 4 if task == "multiclass" else 1)) * 2
    ref_loss = make_loss(name, **params) if params else LOSSES[name]
    out = torch.tensor(S if task == "multiclass" else S[:, 0])
    target = torch.tensor(raw) if task == "regression" else torch.tensor(raw, dtype=torch.long)
    ref = ref_loss(out, target).numpy()
    assert np.allclose(loss.value(S, t), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("task", "name"), CASES)
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fenchel_young(task, name, seed):
    """f(s) + f*(u) ≥ ⟨u, s⟩ on the domain, with equality at u = ∇f(s): f* is the conjugate."""
    rng = np.random.default_rng(seed)
    loss, _ = _loss(task, name)
    t, _ = _targets(task, rng, 40)
    C = 4 if task == "multiclass" else 1
    S = rng.normal(size=(40, C)) * 3
    U = loss.grad(S, t)
    assert np.allclose(loss.clip(U, t), U, atol=1e-12)  # the gradient lies in the domain
    fy = loss.value(S, t) + loss.conj(U, t) - (U * S).sum(axis=1)
    assert np.allclose(fy, 0.0, atol=1e-9)
    V = loss.clip(rng.normal(size=(40, C)) * 2, t)
    S2 = rng.normal(size=(40, C)) * 3
    assert np.all(loss.value(S2, t) + loss.conj(V, t) - (V * S2).sum(axis=1) >= -1e-9)
    # Moves within the reported room keep the point in the domain.
    room = loss.room(V, t)
    step = np.where(np.isfinite(room), room, 1.0) * rng.uniform(-1, 1, size=V.shape)
    if loss.sum_zero:
        step = 0.0 * step  # zero-sum moves are covered by the certificate tests
    assert np.allclose(loss.clip(V + step, t), V + step, atol=1e-12)


def _problem(seed, task, losses, l2):
    rng = np.random.default_rng(seed)
    n = 60
    X = rng.normal(size=(n, 3))
    if task == "regression":
        y = X @ rng.normal(size=3) + rng.normal(size=n)
    else:
        y = rng.integers(0, 3 if task == "multiclass" else 2, n)
    groups = rng.integers(0, 2, n)
    return build_problem(X, y, losses, groups, l2, "initial", True), rng


SETUPS = [
    ("multiclass", ["log_loss", "squared"]),
    ("multiclass", ["log_loss"]),
    ("multiclass", ["hinge", "squared_hinge"]),
    ("binary", ["log_loss", "hinge"]),
    ("regression", ["absolute", "huber", "pinball"]),
]


@pytest.mark.parametrize(("task", "losses"), SETUPS)
@pytest.mark.parametrize("l2", [0.0, 0.05])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_dual_bound_is_below_every_primal_value(task, losses, l2, seed):
    """Weak duality: D(λ, α) ≤ F_λ(Θ) for any λ, any dual candidate and any Θ."""
    problem, rng = _problem(seed, task, losses, l2)
    lam = rng.dirichlet(np.ones(problem.p))
    lam[rng.integers(problem.p)] = 0.0
    lam /= lam.sum()
    c = lam * np.array([o.weight for o in problem.objectives])
    inner = InnerSolver(problem)
    finite = 0
    for scale in (0.03, 0.3, 1.0):
        theta_dual = scale * rng.normal(size=problem.shape)
        bound = dual_bound(problem, lam, problem.unit_duals(theta_dual))
        finite += np.isfinite(bound)
        for theta in (theta_dual, rng.normal(size=problem.shape), np.zeros(problem.shape)):
            assert bound <= inner.value(theta, c) + 1e-10
    # Squared objectives absorb any residual, so their candidates always give a finite bound.
    if "squared" in losses:
        assert finite == 3


@pytest.mark.parametrize("losses", [["log_loss", "squared"], ["log_loss"]])
def test_dual_bound_is_tight_at_the_inner_optimum(losses):
    problem, rng = _problem(3, "multiclass", losses, 0.05)
    lam = rng.dirichlet(np.ones(problem.p))
    c = lam * np.array([o.weight for o in problem.objectives])
    sol = InnerSolver(problem).solve(c, np.zeros(problem.shape))
    bound = dual_bound(problem, lam, problem.unit_duals(sol.theta))
    # F(Θ*) ≥ g(λ) ≥ D: the two agree to rounding at the optimum.
    assert -1e-12 <= sol.value - bound <= 1e-10
