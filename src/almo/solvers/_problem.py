"""Checked problem data for the linear solvers: design, targets, objectives and scales.

The model scores are ``S = X̃ Θ`` with ``Θ`` of shape (D, C): ``D = d + 1`` when an intercept is
fitted (its row is the last one, and the last column of ``X̃`` is ones), ``C`` the number of
score columns (classes for multiclass models, 1 for binary models and regression). Objective
``k`` is the mean of loss ``ℓ_k`` over its group's rows divided by its scale ``s_k``; the
objectives are laid out loss-major, like :class:`almo.ObjectiveFamily`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np

from almo._validation import check_positive, fail
from almo.losses import LOSS_KINDS, Loss, ScoreLoss, Targets, resolve_loss
from almo.objective_batch import ObjectiveBatch
from almo.objectives import ObjectiveFamily

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
    """The data of min over Θ of max over λ of Σ_k λ_k (L̂_k(Θ) + c_k ‖W‖) + l2 ‖W‖².

    ``family`` is the :class:`~almo.ObjectiveFamily` the objectives come from: the problem has
    its names, its p and its scales, so a solution and a trainer on the same family report the
    same objectives. ``norm_coef`` holds the c_k of the λ-dependent penalty (None when there is
    none, or when every c_k is 0: then every path runs exactly as without a penalty).
    """

    X: np.ndarray
    n_features: int
    fit_intercept: bool
    task: Task
    n_outputs: int
    objectives: tuple[Objective, ...]
    l2: float
    classes: np.ndarray | None
    family: ObjectiveFamily
    norm_coef: np.ndarray | None = None
    #: A ridge prox ‖Θ‖² on all of Θ, intercept included: 0 for the problem as stated; the
    #: smoothed problems of the non-smooth path set it (∝ μ) so that every inner minimizer is
    #: unique and g is smooth. Certificates are always computed on the problem without it.
    prox: float = 0.0
    #: The centre Θ₀ of the prox term ``prox ‖Θ − Θ₀‖²`` (None: 0). The continuation of the
    #: smoothed path centres each stage at the last one's model (a proximal-point step), so the
    #: prox biases the stages less and less.
    prox_center: np.ndarray | None = None

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
        """The ridge term l2 ‖W‖², common to every objective (λ sums to 1 over Λ), plus the
        ``prox`` term of a smoothed problem."""
        if not self.l2 and not self.prox:
            return 0.0
        ridge = self.l2 * _squared_norm(theta[: self.n_features]) if self.l2 else 0.0
        if not self.prox:
            return ridge
        shift = theta if self.prox_center is None else theta - self.prox_center
        return ridge + self.prox * _squared_norm(shift)

    def coef_norm(self, theta: np.ndarray) -> float:
        """‖W‖_F, the intercept left out."""
        return float(np.linalg.norm(theta[: self.n_features]))

    def norm_weight(self, weights: np.ndarray) -> float:
        """a(λ) = Σ_k λ_k c_k: the weight of ‖W‖ in the game at λ (0 without a penalty)."""
        if self.norm_coef is None:
            return 0.0
        return float(np.maximum(np.asarray(weights, dtype=np.float64), 0.0) @ self.norm_coef)

    def game_losses(self, theta: np.ndarray) -> np.ndarray:
        """The p terms the adversary weighs: L̂_k(Θ) + c_k ‖W‖ (L̂_k without a penalty)."""
        losses = self.losses(theta)
        if self.norm_coef is None:
            return losses
        return losses + self.norm_coef * self.coef_norm(theta)

    def batch(self, theta: np.ndarray) -> ObjectiveBatch:
        """Per-objective loss sums and counts at Θ, as the trainer's family would give them."""
        return ObjectiveBatch(self.loss_sums(theta), self._counts.copy(), self.scales)

    def losses(self, theta: np.ndarray) -> np.ndarray:
        """The p normalized objectives L̂_k(Θ).

        Examples
        --------
        >>> import numpy as np
        >>> X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 4.0])
        >>> problem = build_problem(X, y, "squared", np.array([0, 0, 1]), 0.0, None, True)
        >>> problem.losses(np.array([[2.0], [0.0]])).tolist()  # scores 0, 2, 4: (0 + 1) / 2, 0
        [0.5, 0.0]
        """
        # the arithmetic of ObjectiveBatch.means, without building the batch
        return self.loss_sums(theta) / np.maximum(self._counts, 1.0) / self._scales

    def unit_duals(self, theta: np.ndarray) -> list[np.ndarray]:
        """∇ℓ_k at the scores of each objective's rows: the natural dual candidate."""
        S = self.X @ theta
        duals: list[np.ndarray] = []
        for run in self._runs:
            U = run.loss.grad(S[run.rows], run.targets)
            duals.extend(U[a:b] for a, b in run.segments)
        return duals

    @property
    def scales(self) -> np.ndarray:
        """The objectives' scales s_k (p,), a fresh array."""
        return self._scales.copy()

    @cached_property
    def _scales(self) -> np.ndarray:
        return _frozen(np.array([o.scale for o in self.objectives], dtype=np.float64))

    @cached_property
    def stacked_rows(self) -> np.ndarray:
        """The objectives' rows one after the other (Σ_k n_k,): objective k holds
        ``stacked_rows[offsets[k]:offsets[k + 1]]``."""
        return _frozen(np.concatenate([o.rows for o in self.objectives]))

    @cached_property
    def offsets(self) -> np.ndarray:
        """Where each objective's rows start in :attr:`stacked_rows` (p + 1,)."""
        return _frozen(np.cumsum([0, *(o.rows.size for o in self.objectives)]))

    def stacked_design(self) -> np.ndarray:
        """``X̃[stacked_rows]``: the design of every objective's rows, stacked (Σ_k n_k, D).

        Kept with the problem when it is small (at most 64 MiB), so the certificate's repair
        reads it once per problem; rebuilt on each call otherwise.
        """
        cached = self.__dict__.get("_stacked_design")
        if cached is not None:
            return cast(np.ndarray, cached)
        B = self.X[self.stacked_rows]
        if B.nbytes <= _CACHE_BYTES:
            object.__setattr__(self, "_stacked_design", _frozen(B))
        return B

    def gram(self) -> np.ndarray:
        """``Bᵀ B`` of :meth:`stacked_design` (D, D), computed once per problem."""
        cached = self.__dict__.get("_gram")
        if cached is None:
            B = self.stacked_design()
            cached = _frozen(B.T @ B)
            object.__setattr__(self, "_gram", cached)
        return cast(np.ndarray, cached)

    def row_blocks(self) -> list[np.ndarray]:
        """``X̃[rows_k]`` for each objective: views into :meth:`stacked_design`."""
        B, off = self.stacked_design(), self.offsets
        return [B[off[k] : off[k + 1]] for k in range(self.p)]

    @cached_property
    def _counts(self) -> np.ndarray:
        return _frozen(np.array([float(o.rows.size) for o in self.objectives]))

    @cached_property
    def _runs(self) -> tuple[_Run, ...]:
        """The objectives grouped into runs of consecutive objectives sharing one loss object,
        so each run's loss is evaluated in one call on the run's stacked rows."""
        runs: list[_Run] = []
        start = 0
        objectives, off = self.objectives, self.offsets
        while start < len(objectives):
            stop = start + 1
            while stop < len(objectives) and objectives[stop].loss is objectives[start].loss:
                stop += 1
            base = int(off[start])
            runs.append(
                _Run(
                    objectives[start].loss,
                    self.stacked_rows[base : off[stop]],
                    _concat_targets([o.targets for o in objectives[start:stop]]),
                    tuple((int(off[k]) - base, int(off[k + 1]) - base) for k in range(start, stop)),
                )
            )
            start = stop
        return tuple(runs)

    def loss_sums(self, theta: np.ndarray) -> np.ndarray:
        """Σ_i ℓ_k over each objective's rows: one loss call per run, each objective's sum over
        its own contiguous slice (the same summation as on its rows alone)."""
        S = self.X @ theta
        sums = np.empty(self.p)
        k = 0
        for run in self._runs:
            values = run.loss.value(S[run.rows], run.targets)
            for a, b in run.segments:
                sums[k] = values[a:b].sum()
                k += 1
        return sums


#: Largest stacked design (bytes) a problem keeps between certificate calls.
_CACHE_BYTES = 1 << 26


@dataclass(frozen=True)
class _Run:
    """Consecutive objectives sharing one loss: their stacked rows and targets, and each
    objective's slice ``segments[j] = (a, b)`` of them."""

    loss: ScoreLoss
    rows: np.ndarray
    targets: Targets
    segments: tuple[tuple[int, int], ...]


def _concat_targets(parts: list[Targets]) -> Targets:
    if len(parts) == 1:
        return parts[0]
    values = {}
    for f in fields(Targets):
        pieces = [getattr(t, f.name) for t in parts]
        values[f.name] = None if pieces[0] is None else np.concatenate(pieces)
    return Targets(**values)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _squared_norm(a: np.ndarray) -> float:
    """‖a‖² in one BLAS dot."""
    v = a.ravel()
    return float(v @ v)


def build_problem(
    X: Any,
    y: Any,
    losses: Any,
    groups: Any,
    l2: float,
    normalize: Any,
    fit_intercept: bool,
    penalty: Any = None,
) -> LinearProblem:
    """Check the inputs of :func:`almo.solvers.solve_linear` and build the problem.

    ``losses`` is an :class:`~almo.ObjectiveFamily` or the shorthand the family is built from
    (loss names, with ``groups`` giving integer ids 0..G-1 or string labels, and
    ``normalize``). A family with ``normalize="initial"`` that is not calibrated yet is
    calibrated here, at the solver's initial model W = 0, b = 0, on all of X. ``penalty`` gives
    the coefficients c_k (see :func:`penalty_coefficients`); it is resolved after the
    calibration, so an object computing them sees the family's final scales.
    """
    X = _check_X(X)
    n, d = X.shape
    family, ids = _family(losses, groups, normalize, n)
    # the family's losses, checked convex (members of a concatenation may repeat a loss)
    specs = _loss_specs(list({loss.name: loss for loss in family.losses}.values()))
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise fail(
            "y",
            f"have shape ({n},), one target per row of X",
            y.shape,
            "pass a 1-D array of labels or values",
        )
    task, targets, classes, n_outputs = _targets(y, specs)
    l2 = check_positive("l2", l2, allow_zero=True)
    rows_of: dict[int | None, np.ndarray] = {None: np.arange(n)}
    if ids is not None:
        rows_of.update({g: np.flatnonzero(ids == g) for _, g in family.layout if g is not None})
    layout = list(zip(family.names, family.layout, strict=True))
    empty = [name for name, (_, g) in layout if rows_of[g].size == 0]
    if empty:
        raise fail(
            "groups",
            "give every declared group at least one row (an objective "
            "averaged over no sample is undefined)",
            f"no rows for {empty}",
            "drop the empty groups from the family, or add their data",
        )
    design = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    forms = {spec.name: _convex_form(spec, task) for spec in specs}
    objectives = [
        Objective(name, forms[loss.name], rows_of[g], targets.take(rows_of[g]), 1.0)
        for name, (loss, g) in layout
    ]
    problem = LinearProblem(
        design, d, bool(fit_intercept), task, n_outputs, tuple(objectives), l2, classes, family
    )
    if family.needs_calibration:
        family.calibrate_batch(problem.batch(np.zeros(problem.shape)))
    problem = _with_scales(problem, family.scale_array)
    coef = penalty_coefficients(penalty, X, y, family, ids)
    if coef is None or not coef.any():
        return problem
    return replace(problem, norm_coef=coef)


def penalty_coefficients(
    penalty: Any, X: np.ndarray, y: Any, family: ObjectiveFamily, ids: np.ndarray | None
) -> np.ndarray | None:
    """The c_k of ``penalty``: None, an array (p,), or ``penalty.linear_coefficients(...)``.

    An object is called as ``linear_coefficients(X, family, groups=ids, y=y)`` with the
    checked features (n, d), the calibrated family, the rows' integer group ids 0..G-1 in the
    family's group order (None without groups) and the targets; its answer is checked like an
    array.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import ObjectiveFamily
    >>> family = ObjectiveFamily("log_loss", groups=2)
    >>> penalty_coefficients([0.1, 0.0], np.eye(2), None, family, np.array([0, 1])).tolist()
    [0.1, 0.0]
    >>> class Half:
    ...     def linear_coefficients(self, X, family, groups=None, y=None):
    ...         return np.bincount(groups) / 2.0
    >>> penalty_coefficients(Half(), np.eye(3), None, family, np.array([0, 1, 1])).tolist()
    [0.5, 1.0]
    """
    if penalty is None:
        return None
    p = family.p
    source = "penalty"
    if hasattr(penalty, "linear_coefficients"):
        source = f"penalty.linear_coefficients(...) of {type(penalty).__name__}"
        penalty = penalty.linear_coefficients(X, family, groups=ids, y=y)
    elif callable(penalty) or isinstance(penalty, (str, bytes, dict)):
        raise fail(
            "penalty",
            "be None, p non-negative coefficients c_k, or an object with "
            "linear_coefficients(X, family, groups=None, y=None)",
            type(penalty).__name__,
            "pass the coefficients, e.g. penalty=[0.1] * p (a function of the model is the "
            "trainer's form of a penalty; the solver needs the c_k of Σ_k λ_k c_k ‖W‖)",
        )
    if hasattr(penalty, "detach"):  # a torch tensor
        penalty = penalty.detach().cpu().numpy()
    try:
        coef = np.array(penalty, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise fail(
            source,
            f"give {p} real coefficients c_k, one per objective",
            type(penalty).__name__,
            f"pass a sequence of {p} non-negative numbers in the order of {family.names}",
        ) from None
    if coef.shape != (p,) or np.ndim(penalty) > 1:
        raise fail(
            source,
            f"give {p} coefficients c_k, one per objective ({family.names})",
            f"shape {np.shape(penalty)}",
            f"pass a 1-D array of length {p}",
        )
    if not np.all(np.isfinite(coef)) or np.any(coef < 0):
        raise fail(
            source,
            "give finite coefficients c_k >= 0 (the penalty Σ_k λ_k c_k ‖W‖ must be convex)",
            coef,
            "replace NaN, inf and negative entries, e.g. by 0 for no penalty",
        )
    coef.setflags(write=False)
    return coef


def _family(
    losses: Any, groups: Any, normalize: Any, n: int
) -> tuple[ObjectiveFamily, np.ndarray | None]:
    """The objective family and each row's group id (None without groups)."""
    if isinstance(losses, ObjectiveFamily):
        if normalize is not None:
            raise fail(
                "normalize",
                "be None when `losses` is an ObjectiveFamily (the family holds its normalization)",
                normalize,
                "build the family with ObjectiveFamily(..., normalize=...)",
            )
        family = losses
        n_groups = 1 + max((g for _, g in family.layout if g is not None), default=-1)
        if n_groups == 0:
            if groups is not None:
                raise fail(
                    "groups",
                    "be None for a family built without groups",
                    "group ids",
                    "build ObjectiveFamily(..., groups=G) to get per-group objectives",
                )
            return family, None
        ids = _group_array(groups, n)
        if ids.dtype.kind not in "iu":
            raise fail(
                "groups",
                f"hold integer group ids 0..{n_groups - 1} for the family's groups",
                ids.dtype,
                "map group labels to ids first",
            )
        if ids.size and (ids.min() < 0 or ids.max() >= n_groups):
            raise fail(
                "groups",
                f"lie in [0, {n_groups - 1}]",
                [int(ids.min()), int(ids.max())],
                "map group labels to ids or build the family with more groups",
            )
        return family, ids.astype(np.int64)
    norm = normalize
    if groups is None:
        return ObjectiveFamily(_loss_specs(losses), normalize=norm), None
    g = _group_array(groups, n)
    if g.dtype.kind in "iu":
        if g.min() < 0:
            raise fail(
                "groups",
                "hold non-negative integer ids (or string labels)",
                int(g.min()),
                "pass ids 0..G-1",
            )
        declared: int | list[str] = int(g.max()) + 1
        ids = g.astype(np.int64)
    else:
        labels, ids = np.unique(g.astype(str), return_inverse=True)
        declared = [str(v) for v in labels]
    return ObjectiveFamily(_loss_specs(losses), groups=declared, normalize=norm), ids


def _group_array(groups: Any, n: int) -> np.ndarray:
    if groups is None:
        raise fail(
            "groups",
            "hold one group id per sample for a family with groups",
            None,
            "pass groups=ids, an integer array of shape (n,)",
        )
    g = np.asarray(groups)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g[:, 0]
    if g.shape != (n,) or g.dtype.kind not in "iuUSO":
        raise fail(
            "groups",
            f"hold one integer or string group id per sample, shape ({n},)",
            f"{g.dtype} of shape {g.shape}",
            "pass e.g. groups=(y >= 5).astype(int)",
        )
    return g


def _check_X(X: Any) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(
            "X", "be a numeric array of shape (n, d)", type(X).__name__, "pass a 2-D float array"
        ) from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise fail(
            "X",
            "be a 2-D array of shape (n, d) with n, d >= 1",
            arr.shape,
            "reshape X, e.g. X.reshape(-1, 1) for one feature",
        )
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[:3].tolist()
        raise fail(
            "X",
            "hold finite numbers (no NaN or inf)",
            f"non-finite entries at {bad}",
            "impute or drop the missing values before solving",
        )
    return arr


def _loss_specs(losses: Any) -> list[Loss]:
    items = (
        [losses]
        if isinstance(losses, (str, Loss))
        else list(losses)
        if isinstance(losses, Sequence)
        else None
    )
    if not items:
        raise fail(
            "losses",
            "be a loss name or a non-empty list of them",
            losses,
            'pass e.g. ["log_loss", "squared"]',
        )
    known = sorted(name for name, kind in LOSS_KINDS.items() if kind.forms)
    specs: list[Loss] = []
    for item in items:
        loss = resolve_loss(item)
        kind = LOSS_KINDS[loss.kind] if loss.kind is not None else None
        if kind is not None and not kind.forms:
            raise fail(
                "losses",
                "hold losses convex in the weights of a linear model",
                loss.name,
                f"drop {loss.name!r} ({kind.not_convex}); use one of "
                f"{known}, or train it with MinimaxTrainer",
            )
        if kind is None:
            raise fail(
                "losses",
                f"be built-in convex losses among {known}",
                loss.name,
                "use a built-in name or make_loss(...); custom losses need MinimaxTrainer",
            )
        specs.append(loss)
    names = [loss.name for loss in specs]
    if len(set(names)) != len(names):
        raise fail("losses", "have distinct entries", names, "drop the duplicate loss")
    return specs


def _targets(y: np.ndarray, losses: list[Loss]) -> tuple[Task, Targets, np.ndarray | None, int]:
    is_labels = y.dtype.kind in "biuUSO"
    classification = [loss.name for loss in losses if loss.task == "classification"]
    regression = [loss.name for loss in losses if loss.task == "regression"]
    if classification and regression:
        raise fail(
            "losses",
            "be all classification or all regression losses",
            {"classification": classification, "regression": regression},
            "solve the two tasks separately",
        )
    if is_labels and regression:
        raise fail(
            "y",
            f"hold floating regression targets for {regression}",
            y.dtype,
            "pass y.astype(float), or use classification losses",
        )
    if not is_labels:
        if classification:
            raise fail(
                "y",
                f"hold integer class labels for {classification}",
                y.dtype,
                "pass y.astype(int) (floating targets mean regression)",
            )
        if not np.all(np.isfinite(y)):
            raise fail(
                "y",
                "hold finite regression targets",
                "NaN or inf values",
                "drop or impute the missing targets",
            )
        return "regression", Targets.of_values(y), None, 1
    classes, labels = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise fail(
            "y",
            "hold at least two classes",
            classes.tolist(),
            "check the labels: a classifier needs two classes or more",
        )
    task: Task = "binary" if classes.size == 2 else "multiclass"
    n_outputs = 1 if task == "binary" else classes.size
    return task, Targets.of_labels(labels, classes.size), classes, n_outputs


def _convex_form(loss: Loss, task: Task) -> ScoreLoss:
    form = loss.convex_form(task)
    if form is None:  # _loss_specs and _targets leave only losses with a form for the task
        raise fail(
            "losses",
            f"be convex in the scores of a {task} linear model",
            loss.name,
            "use a loss with a convex form for this task",
        )
    return form


def _with_scales(problem: LinearProblem, scales: np.ndarray) -> LinearProblem:
    objectives = tuple(
        Objective(o.name, o.loss, o.rows, o.targets, float(s))
        for o, s in zip(problem.objectives, scales, strict=True)
    )
    return replace(problem, objectives=objectives)
