"""Choosing β of :class:`~almo.complexity.RademacherPenalty` by cross-validation.

The bound's own constant (``beta="bound"``) makes the regularized game minimize an upper bound
on the population worst case, which is loose on small samples and over-regularizes.
:func:`cross_validated_beta` instead scores each β on a grid by the **held-out worst case** of
the certified linear solution: k folds (stratified by group, so every group objective has rows
in every fold), ``solve_linear(..., penalty=RademacherPenalty(beta=β))`` on k − 1 of them, the
worst case over Λ of the normalized objectives on the held-out one, averaged over folds. The
default grid is β_bound · {0, 10⁻³, ..., 1} (β_bound = 2κ, see the penalty), so β = 0
(unpenalized ALMO) and the bound's constant are always among the candidates.

Examples
--------
>>> import numpy as np
>>> from almo import ObjectiveFamily
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(120, 5))
>>> y = (X[:, 0] + rng.normal(size=120) > 0).astype(int)
>>> g = (rng.random(120) < 0.2).astype(int)
>>> sel = cross_validated_beta(
...     X, y, ObjectiveFamily("log_loss", groups=2), groups=g, betas=[0.0, 0.5], n_splits=3, l2=1e-3
... )
>>> sel.beta in (0.0, 0.5), sel.scores.shape
(True, (2,))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from almo._validation import check_count, fail
from almo.complexity.penalty import RademacherPenalty
from almo.mixtures import MixtureSet, Simplex

__all__ = ["BetaSelection", "cross_validated_beta", "held_out_worst_case"]


@dataclass(frozen=True, eq=False)
class BetaSelection:
    """The β chosen by :func:`cross_validated_beta` and how every candidate scored.

    Attributes
    ----------
    beta : float
        The candidate with the lowest mean held-out worst case.
    betas : ndarray (n,)
        The candidates.
    scores : ndarray (n,)
        Mean held-out worst case of each candidate.
    fold_scores : ndarray (n, n_splits)
        Held-out worst case per candidate and fold.
    """

    beta: float
    betas: np.ndarray
    scores: np.ndarray
    fold_scores: np.ndarray

    @property
    def stderr(self) -> np.ndarray:
        """Standard error of each mean score over the folds."""
        k = self.fold_scores.shape[1]
        return self.fold_scores.std(axis=1, ddof=1) / np.sqrt(k)


def held_out_worst_case(
    solution: Any, X: Any, y: Any, family: Any, groups: Any = None, mixture_set: Any = None
) -> float:
    """Worst case over Λ of the normalized objectives of a linear solution on data (X, y).

    The scores X W + b go through ``family`` (same losses, same scales), so the number is the
    solver's own worst case had (X, y) been its training data.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import ObjectiveFamily, solve_linear
    >>> X, y = np.array([[1.0], [-1.0], [2.0], [-2.0]]), np.array([1, 0, 1, 0])
    >>> fam = ObjectiveFamily("log_loss")
    >>> sol = solve_linear(X, y, fam, l2=0.1)
    >>> bool(abs(held_out_worst_case(sol, X, y, fam) - sol.report.worst_case) < 1e-9)
    True
    """
    Xa = np.asarray(X, dtype=np.float64)
    coef = np.asarray(solution.coef_, dtype=np.float64)
    scores = Xa @ np.atleast_2d(coef).T + np.asarray(solution.intercept_, dtype=np.float64)
    classes = getattr(solution, "classes_", None)
    if classes is not None:
        target = torch.as_tensor(np.searchsorted(classes, np.asarray(y)))
    else:
        target = torch.as_tensor(np.asarray(y, dtype=np.float64))
        scores = scores[:, 0]
    g = None if groups is None else torch.as_tensor(np.asarray(groups))
    values = family.evaluate(torch.as_tensor(scores), target, g).normalized
    mset = Simplex(family.p) if mixture_set is None else mixture_set
    return float(mset.worst_case(values.numpy()).value)


def _calibrate(family: Any, y: np.ndarray, groups: np.ndarray | None) -> None:
    """Calibrate like the solver: each objective's value at W = 0, b = 0 on all the data."""
    n = y.shape[0]
    g = None if groups is None else torch.as_tensor(groups)
    if y.dtype.kind in "fc":
        family.calibrate(torch.zeros(n, dtype=torch.float64), torch.as_tensor(y), g)
        return
    classes, labels = np.unique(y, return_inverse=True)
    shape = (n,) if classes.size <= 2 else (n, classes.size)
    family.calibrate(torch.zeros(shape, dtype=torch.float64), torch.as_tensor(labels), g)


def _folds(n: int, groups: Any, y: Any, n_splits: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if groups is not None:
        strata = np.asarray(groups)
        if np.bincount(strata.astype(np.int64)).min(initial=n) < n_splits:
            raise fail(
                "n_splits",
                "be at most the size of the smallest group (every fold needs each group)",
                n_splits,
                "lower n_splits or merge small groups",
            )
        split = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        return [test for _, test in split.split(np.zeros(n), strata)]
    plain = KFold(n_splits, shuffle=True, random_state=seed)
    return [test for _, test in plain.split(np.zeros(n))]


def cross_validated_beta(
    X: Any,
    y: Any,
    family: Any,
    groups: Any = None,
    *,
    betas: Sequence[float] | None = None,
    n_splits: int = 5,
    mixture_set: MixtureSet | None = None,
    l2: float = 1e-4,
    bound: Any = "linear",
    seed: int = 0,
    **solver_options: Any,
) -> BetaSelection:
    """β minimizing the k-fold held-out worst case of ``solve_linear`` with the penalty.

    Parameters
    ----------
    X, y : arrays of shape (n, d), (n,)
    family : ObjectiveFamily
        The objectives (a family with ``normalize="initial"`` is calibrated once on all of
        the data, so every fold plays on the same scales).
    groups : array of shape (n,), optional
        Integer group ids 0..G-1 (folds are stratified by group).
    betas : sequence of float, optional
        Candidates; default β_bound · [0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1].
    n_splits : int, default 5
    mixture_set : MixtureSet, optional
    l2 : float, default 1e-4
        Ridge term of every solve (a little keeps the fast certified method available).
    bound : passed to :class:`RademacherPenalty`
    seed : int, default 0
        Fold shuffling.
    **solver_options
        Passed to :func:`almo.solve_linear` (``method``, ``tol``, ``fit_intercept``...).

    Returns
    -------
    BetaSelection
    """
    from almo.objectives import ObjectiveFamily
    from almo.solvers import solve_linear

    if not isinstance(family, ObjectiveFamily):
        raise fail(
            "family", "be an ObjectiveFamily", type(family).__name__, "build ObjectiveFamily(...)"
        )
    k = check_count("n_splits", n_splits, "pass e.g. n_splits=5")
    if k < 2:
        raise fail("n_splits", "be at least 2", n_splits, "pass e.g. n_splits=5")
    Xa = np.asarray(X, dtype=np.float64)
    y_arr = np.asarray(y)
    g = None if groups is None else np.asarray(groups)
    n = Xa.shape[0]
    if family.needs_calibration:
        _calibrate(family, y_arr, g)
    if betas is None:
        ref = RademacherPenalty("bound", bound).fit(Xa, family, g, y_arr).beta_
        betas = [ref * f for f in (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)]
    grid = np.asarray(list(betas), dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise fail("betas", "be a non-empty list of finite β >= 0", betas, "pass e.g. [0, 0.1, 1]")
    folds = _folds(n, g, y_arr, k, seed)
    scores = np.empty((grid.size, k))
    for j, test in enumerate(folds):
        train = np.setdiff1d(np.arange(n), test)
        gt = None if g is None else g[train]
        for i, beta in enumerate(grid):
            pen = RademacherPenalty(float(beta), bound)
            sol = solve_linear(
                Xa[train],
                y_arr[train],
                family,
                groups=gt,
                mixture_set=mixture_set,
                l2=l2,
                penalty=pen,
                **solver_options,
            )
            scores[i, j] = held_out_worst_case(
                sol, Xa[test], y_arr[test], family, None if g is None else g[test], mixture_set
            )
    mean = scores.mean(axis=1)
    best = int(np.argmin(mean))
    return BetaSelection(float(grid[best]), grid, mean, scores)
