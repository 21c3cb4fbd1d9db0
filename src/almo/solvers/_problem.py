"""Checked problem data for the linear solvers: design, targets, objectives and scales.

The model scores are ``S = X̃ Θ`` with ``Θ`` of shape (D, C): ``D = d + 1`` when an intercept is
fitted (its row is the last one, and the last column of ``X̃`` is ones), ``C`` the number of
score columns (classes for multiclass models, 1 for binary models and regression). Objective
``k`` is the mean of loss ``ℓ_k`` over its group's rows divided by its scale ``s_k``; the
objectives are laid out loss-major, like :class:`almo.ObjectiveFamily`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from almo._validation import check_positive, fail
from almo.losses import LOSS_KINDS, Loss, ScoreLoss, Targets, resolve_loss

Task = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class Objective:
    """One objective: ``loss`` averaged over ``rows`` and divided by ``scale``."""

    name: str
    loss: ScoreLoss
    rows: np.ndarray
    targets: Targets
    scale: float

    @property
    def weight(self) -> float:
        """The factor 1 / (n_k s_k) turning a sum of per-sample losses into the objective."""
        return 1.0 / (self.rows.size * self.scale)


@dataclass(frozen=True)
class LinearProblem:
    """The data of min over Θ of max over λ of Σ_k λ_k L̂_k(Θ) + l2 ‖W‖²."""

    X: np.ndarray
    n_features: int
    fit_intercept: bool
    task: Task
    n_outputs: int
    objectives: tuple[Objective, ...]
    l2: float
    classes: np.ndarray | None

    @property
    def p(self) -> int:
        return len(self.objectives)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def shape(self) -> tuple[int, int]:
        """Shape (D, C) of Θ."""
        return self.X.shape[1], self.n_outputs

    def penalty(self, theta: np.ndarray) -> float:
        return self.l2 * float(np.sum(theta[: self.n_features] ** 2))

    def losses(self, theta: np.ndarray) -> np.ndarray:
        """The p normalized objectives L̂_k(Θ)."""
        S = self.X @ theta
        return np.array([o.weight * o.loss.value(S[o.rows], o.targets).sum()
                         for o in self.objectives])

    def unit_duals(self, theta: np.ndarray) -> list[np.ndarray]:
        """∇ℓ_k at the scores of each objective's rows: the natural dual candidate."""
        S = self.X @ theta
        return [o.loss.grad(S[o.rows], o.targets) for o in self.objectives]


def build_problem(X: Any, y: Any, losses: Any, groups: Any, l2: float, normalize: Any,
                  fit_intercept: bool) -> LinearProblem:
    """Check the inputs of :func:`almo.solvers.solve_linear` and build the problem."""
    X = _check_X(X)
    n, d = X.shape
    specs = _loss_specs(losses)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise fail("y", f"have shape ({n},), one target per row of X", y.shape,
                   "pass a 1-D array of labels or values")
    task, targets, classes, n_outputs = _targets(y, specs)
    l2 = check_positive("l2", l2, allow_zero=True)
    group_rows, group_names = _groups(groups, n)
    design = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    objectives = []
    for spec in specs:
        loss, label = _convex_form(spec, task), spec.name
        for rows, gname in zip(group_rows, group_names, strict=True):
            objectives.append(Objective(label if gname is None else f"{label}@{gname}", loss,
                                        rows, targets.take(rows), 1.0))
    problem = LinearProblem(design, d, bool(fit_intercept), task, n_outputs, tuple(objectives),
                            l2, classes)
    return _normalized(problem, normalize)


def _check_X(X: Any) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail("X", "be a numeric array of shape (n, d)", type(X).__name__,
                   "pass a 2-D float array") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise fail("X", "be a 2-D array of shape (n, d) with n, d >= 1", arr.shape,
                   "reshape X, e.g. X.reshape(-1, 1) for one feature")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[:3].tolist()
        raise fail("X", "hold finite numbers (no NaN or inf)", f"non-finite entries at {bad}",
                   "impute or drop the missing values before solving")
    return arr


def _loss_specs(losses: Any) -> list[Loss]:
    items = [losses] if isinstance(losses, (str, Loss)) else list(losses) \
        if isinstance(losses, Sequence) else None
    if not items:
        raise fail("losses", "be a loss name or a non-empty list of them", losses,
                   'pass e.g. ["log_loss", "squared"]')
    known = sorted(name for name, kind in LOSS_KINDS.items() if kind.forms)
    specs: list[Loss] = []
    for item in items:
        loss = resolve_loss(item)
        kind = LOSS_KINDS[loss.kind] if loss.kind is not None else None
        if kind is not None and not kind.forms:
            raise fail("losses", "hold losses convex in the weights of a linear model",
                       loss.name, f"drop {loss.name!r} ({kind.not_convex}); use one of "
                       f"{known}, or train it with MinimaxTrainer")
        if kind is None:
            raise fail("losses", f"be built-in convex losses among {known}", loss.name,
                       "use a built-in name or make_loss(...); custom losses need "
                       "MinimaxTrainer")
        specs.append(loss)
    names = [loss.name for loss in specs]
    if len(set(names)) != len(names):
        raise fail("losses", "have distinct entries", names,
                   "drop the duplicate loss")
    return specs


def _targets(y: np.ndarray, losses: list[Loss]) -> tuple[Task, Targets, np.ndarray | None, int]:
    is_labels = y.dtype.kind in "biuUSO"
    classification = [loss.name for loss in losses if loss.task == "classification"]
    regression = [loss.name for loss in losses if loss.task == "regression"]
    if classification and regression:
        raise fail("losses", "be all classification or all regression losses",
                   {"classification": classification, "regression": regression},
                   "solve the two tasks separately")
    if is_labels and regression:
        raise fail("y", f"hold floating regression targets for {regression}", y.dtype,
                   "pass y.astype(float), or use classification losses")
    if not is_labels:
        if classification:
            raise fail("y", f"hold integer class labels for {classification}", y.dtype,
                       "pass y.astype(int) (floating targets mean regression)")
        if not np.all(np.isfinite(y)):
            raise fail("y", "hold finite regression targets", "NaN or inf values",
                       "drop or impute the missing targets")
        return "regression", Targets.of_values(y), None, 1
    classes, labels = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise fail("y", "hold at least two classes", classes.tolist(),
                   "check the labels: a classifier needs two classes or more")
    task: Task = "binary" if classes.size == 2 else "multiclass"
    n_outputs = 1 if task == "binary" else classes.size
    return task, Targets.of_labels(labels, classes.size), classes, n_outputs


def _convex_form(loss: Loss, task: Task) -> ScoreLoss:
    form = loss.convex_form(task)
    if form is None:  # _loss_specs and _targets leave only losses with a form for the task
        raise fail("losses", f"be convex in the scores of a {task} linear model", loss.name,
                   "use a loss with a convex form for this task")
    return form


def _groups(groups: Any, n: int) -> tuple[list[np.ndarray], list[str | None]]:
    if groups is None:
        return [np.arange(n)], [None]
    g = np.asarray(groups)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g[:, 0]
    if g.shape != (n,) or g.dtype.kind not in "iuUSO":
        raise fail("groups", f"hold one integer or string group id per sample, shape ({n},)",
                   f"{g.dtype} of shape {g.shape}", "pass e.g. groups=(y >= 5).astype(int)")
    values = np.unique(g)
    names = [f"group{v}" if g.dtype.kind in "iu" else str(v) for v in values]
    return [np.flatnonzero(g == v) for v in values], list(names)


def _normalized(problem: LinearProblem, normalize: Any) -> LinearProblem:
    if normalize is None:
        return problem
    p = problem.p
    if isinstance(normalize, str):
        if normalize != "initial":
            raise fail("normalize", "be None, 'initial' or p positive scales", normalize,
                       "use normalize='initial' or a vector of positive numbers")
        scales = problem.losses(np.zeros(problem.shape))
        bad = ~(np.isfinite(scales) & (scales > 0))
        if bad.any():
            found = {problem.names[i]: float(scales[i]) for i in np.flatnonzero(bad)}
            raise fail("initial objective values", "be finite and > 0 to normalize by", found,
                       "pass fixed scales as normalize=[...] instead")
    else:
        try:
            scales = np.asarray(normalize, dtype=np.float64)
        except (TypeError, ValueError):
            scales = np.array([np.nan])
        if scales.shape != (p,) or not np.all(np.isfinite(scales)) or not np.all(scales > 0):
            raise fail("normalize", f"hold {p} finite positive scales (one per objective)",
                       normalize, f"pass {p} numbers > 0; objective k is divided by entry k")
    objectives = tuple(Objective(o.name, o.loss, o.rows, o.targets, float(s))
                       for o, s in zip(problem.objectives, scales, strict=True))
    return LinearProblem(problem.X, problem.n_features, problem.fit_intercept, problem.task,
                         problem.n_outputs, objectives, problem.l2, problem.classes)
