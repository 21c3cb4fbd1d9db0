"""The certificate of a linear model: complexities, loss bounds and sample sizes from the data.

The class is H_B = {x ↦ Θᵀ x̃ : ‖Θ‖_F ≤ B}, x̃ = (x, 1) with an intercept. The model's norm is
only known after training, so B runs over the grid 2^j (j ∈ Z) with weights
w_j = 2 / (3 (|j| + 1)(|j| + 2)) (Σ_j w_j = 1): the bound at B_j holds with probability
1 − w_j δ, all of them together with 1 − δ, and the model is certified at the first B_j ≥ its
norm. On H_B, with ‖x̃‖ ≤ r, every score vector has ‖s‖ ≤ B r =: R, so:

- ρ_k = κ_k μ_k(R) B sqrt(Σ_{i∈S_k} ‖x̃_i‖²) / (m_k s_k)   (contraction, closed form);
- M_k = (max_y ℓ_k(0, y) + μ_k(R) R) / s_k                (Lipschitz on the score ball),

with μ_k(R) the registry's constant, or ``lipschitz_within(max(R, y_max))`` for the losses that
are not globally Lipschitz, and s_k the objective's scale.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from almo._validation import check_positive, fail
from almo.complexity.bound import BoundReport, assemble
from almo.complexity.penalty import contraction_factors, objective_lipschitz
from almo.complexity.rademacher import objective_statistics
from almo.mixtures import MixtureSet, Simplex

__all__ = ["linear_bound", "loss_at_zero", "norm_grid"]


def norm_grid(norm: float) -> tuple[float, float]:
    """(B, log 1/w): the first 2^j ≥ ``norm`` and the log-weight of its level.

    Examples
    --------
    >>> norm_grid(3.0)[0], norm_grid(0.25)[0]
    (4.0, 0.25)
    """
    j = max(math.ceil(math.log2(norm)), -60) if norm > 0 else -60
    return 2.0**j, math.log(1.5 * (abs(j) + 1) * (abs(j) + 2))


def loss_at_zero(loss: Any, n_outputs: int, task: str, target_radius: float) -> float:
    """max over targets of ℓ(0, y): class labels 0..C−1, or y = ±target_radius (convex in y).

    Examples
    --------
    >>> from almo.losses import LOSSES
    >>> round(loss_at_zero(LOSSES["log_loss"], 3, "multiclass", 1.0), 4)  # log 3
    1.0986
    >>> loss_at_zero(LOSSES["squared"], 1, "regression", 2.0)
    4.0
    """
    if task == "regression":
        y = torch.tensor([-target_radius, 0.0, target_radius], dtype=torch.float64)
        out = torch.zeros(3, dtype=torch.float64)
    else:
        classes = max(n_outputs, 2)
        y = torch.arange(classes)
        out = torch.zeros(classes if n_outputs == 1 else (classes, n_outputs), dtype=torch.float64)
    return float(loss(out, y).max())


def linear_bound(
    solution: Any,
    *,
    X: Any,
    y: Any,
    family: Any,
    groups: Any,
    mixture_set: MixtureSet | None,
    delta: float,
    epsilon: float | None,
    loss_bound: Any,
    fit_intercept: bool,
    feature_radius: float | None,
    target_radius: float | None,
    norm_radius: float | None,
) -> BoundReport:
    """:func:`almo.complexity.generalization_bound` for a linear solution (see the module)."""
    from almo.objectives import ObjectiveFamily

    if X is None or y is None or family is None:
        raise fail(
            "X, y, family",
            "be given with a LinearSolution (its training data and objectives)",
            {"X": X is not None, "y": y is not None, "family": family is not None},
            "pass generalization_bound(sol, X=X, y=y, family=family, groups=groups)",
        )
    ids = groups
    if not isinstance(family, ObjectiveFamily):
        ids, n_groups = _group_ids(groups)
        family = ObjectiveFamily(family, groups=n_groups)
    names = tuple(solution.report.names)
    if tuple(family.names) != names:
        raise fail(
            "family",
            f"give the solution's objectives {list(names)}",
            family.names,
            "pass the family (or losses) and groups the solution was solved with",
        )
    Xa = np.asarray(X, dtype=np.float64)
    coef = np.atleast_2d(np.asarray(solution.coef_, dtype=np.float64))
    n_outputs = coef.shape[0]
    theta = coef
    if fit_intercept:
        Xa = np.hstack([Xa, np.ones((Xa.shape[0], 1))])
        theta = np.hstack([coef, np.asarray(solution.intercept_, dtype=float).reshape(-1, 1)])
    stats = objective_statistics(Xa, family, ids)
    known = solution.report.counts
    if known is not None and not np.array_equal(np.asarray(known), stats.counts):
        raise fail(
            "X, groups",
            "be the solution's training data (its objectives' sample sizes)",
            {"solution": np.asarray(known).tolist(), "given": stats.counts.tolist()},
            "pass the X and groups solve_linear was given",
        )
    y_arr = np.asarray(y)
    task = _task(y_arr, n_outputs)
    y_max = float(np.max(np.abs(y_arr))) if task == "regression" else 1.0
    y_max = y_max if target_radius is None else check_positive("target_radius", target_radius)
    r = float(stats.radius.max())
    r = r if feature_radius is None else check_positive("feature_radius", feature_radius)
    norm = float(np.linalg.norm(theta))
    if norm_radius is None:
        B, log_weight = norm_grid(norm)
    else:
        B, log_weight = check_positive("norm_radius", norm_radius), 0.0
        if norm > B * (1 + 1e-12):
            raise fail(
                "norm_radius",
                "be at least the model's norm ‖[W b]‖_F",
                {"norm_radius": B, "model norm": norm},
                "leave norm_radius=None to use the grid of powers of 2",
            )
    R = B * r
    mu = objective_lipschitz(family, max(R, y_max))
    kappa = contraction_factors(family, n_outputs)
    scales = np.asarray(solution.report.scales, dtype=np.float64)
    rho = kappa * mu * B * np.sqrt(stats.sum_sq) / stats.counts / scales
    if loss_bound is None:
        zero = np.array([loss_at_zero(loss, n_outputs, task, y_max) for loss, _ in family.layout])
        M = (zero + mu * R) / scales
    else:
        M = np.broadcast_to(np.asarray(loss_bound, dtype=np.float64), rho.shape).copy()
    mset = Simplex(len(names)) if mixture_set is None else mixture_set
    empirical = np.asarray(solution.report.normalized, dtype=np.float64)
    worst = float(mset.worst_case(empirical).value)
    grid = "fixed in advance" if norm_radius is not None else "the first power of 2 above it"
    assumptions = (
        "(x, y) i.i.d. within each objective's population (a group's rows from its group)",
        f"‖x̃‖ ≤ r = {r:.6g} for x̃ = (x{', 1' if fit_intercept else ''}) over the population"
        + (" (the sample's max)" if feature_radius is None else ""),
        *([f"|y| ≤ {y_max:.6g} over the population"] if task == "regression" else []),
        f"model class ‖[W b]‖_F ≤ B = {B:.6g} (model norm {norm:.6g}; B {grid})",
        f"losses bounded on scores of norm ≤ R = B r = {R:.6g}: M_k = ℓ_k(0, y) + μ_k R"
        if loss_bound is None
        else "losses bounded by the given M_k",
        "μ_k of squared / squared_hinge taken on that score ball (they are not Lipschitz)",
        f"vector contraction: κ_k = {sorted(set(np.round(kappa, 4).tolist()))} "
        f"for {n_outputs} score column(s)",
    )
    return assemble(
        names,
        empirical,
        worst,
        rho,
        M,
        stats.counts,
        mset,
        delta,
        epsilon,
        constant=3.0,
        log_weight=log_weight,
        assumptions=assumptions,
        total=stats.total,
        parameters={
            "norm": norm,
            "norm_radius": B,
            "log_weight": log_weight,
            "feature_radius": r,
            "score_radius": R,
            "lipschitz": mu,
            "contraction": kappa,
        },
    )


def _task(y: np.ndarray, n_outputs: int) -> str:
    if y.dtype.kind in "fc":
        return "regression"
    return "multiclass" if n_outputs > 1 else "binary"


def _group_ids(groups: Any) -> tuple[np.ndarray | None, int | list[str] | None]:
    """solve_linear's shorthand: integer ids (groups 0..max) or labels (sorted, named)."""
    if groups is None:
        return None, None
    arr = np.asarray(groups).reshape(-1)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64), int(arr.max()) + 1
    labels, ids = np.unique(arr, return_inverse=True)
    return ids.astype(np.int64), [str(v) for v in labels]
