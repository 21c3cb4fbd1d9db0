"""Whether the inner problem has a minimizer without a ridge (l2 = 0).

g(λ) = min over Θ of Σ_k λ_k L̂_k(Θ) needs the minimum to be attained for the fast method
(Newton on Θ, Danskin's gradient of g). Without a ridge:

- squared, huber, binary squared_hinge (and the smoothed non-smooth losses) are bounded below
  and piecewise quadratic or quadratic-growth along every direction that changes the scores:
  the minimum is always attained;
- log_loss is attained unless the rows are *weakly separable*: some direction of Θ raises no
  margin's loss and lowers one (binary: y±_i x̃_iᵀ d ≥ 0 for all i, not all 0; multiclass:
  x̃_iᵀ (d_{y_i} − d_c) ≥ 0 for every c ≠ y_i, not all 0). Along it the loss decreases to its
  infimum without reaching it.

If no log_loss objective's rows are weakly separable, no λ can make the inner problem
unbounded: a direction along which Σ_k λ_k L̂_k does not increase must leave every margin of
every weighted log_loss objective unchanged and, by the quadratic growth of the others, every
other weighted score as well — so F is constant along it and the minimum is attained.

The test is one linear program per log_loss objective (HiGHS): margins ≥ 0 and summing to 1.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from almo.solvers._problem import LinearProblem


def separable_objectives(problem: LinearProblem) -> list[str]:
    """Names of the log_loss objectives whose rows are weakly linearly separable.

    Examples
    --------
    >>> import numpy as np
    >>> from almo.solvers._problem import build_problem
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> separable_objectives(
    ...     build_problem(X, np.array([0, 0, 1, 1]), "log_loss", None, 0.0, None, True)
    ... )
    ['log_loss']
    >>> separable_objectives(
    ...     build_problem(X, np.array([0, 1, 0, 1]), "log_loss", None, 0.0, None, True)
    ... )
    []
    """
    found = []
    for o in problem.objectives:
        if o.loss.name != "log_loss":
            continue
        if _weakly_separable(problem.X[o.rows], o.targets.labels, problem.n_outputs):
            found.append(o.name)
    return found


def _weakly_separable(X: np.ndarray, labels: np.ndarray | None, C: int) -> bool:
    assert labels is not None
    m, D = X.shape
    if C == 1:  # binary: margins y± x̃ᵀ d
        margins = sparse.csr_matrix((2.0 * labels - 1.0)[:, None] * X)
    else:  # multiclass: rows (i, c ≠ y_i) of x̃_iᵀ (d_{y_i} − d_c), d stacked class-major
        rows_i = np.repeat(np.arange(m), C - 1)
        other = np.array([[c for c in range(C) if c != y] for y in labels]).ravel()
        own = labels[rows_i]
        cols = np.arange(D)
        r = np.repeat(np.arange(rows_i.size), D)
        data = np.concatenate([X[rows_i].ravel(), -X[rows_i].ravel()])
        col_idx = np.concatenate(
            [(own[:, None] * D + cols).ravel(), (other[:, None] * D + cols).ravel()]
        )
        margins = sparse.csr_matrix(
            (data, (np.concatenate([r, r]), col_idx)), shape=(rows_i.size, C * D)
        )
    total = np.asarray(margins.sum(axis=0)).reshape(1, -1)
    # Scale-free: the sum of the margins is 1, each margin ≥ 0.
    res = cast(Any, linprog)(  # its stubs know no sparse matrices
        np.zeros(margins.shape[1]),
        A_ub=-margins,
        b_ub=np.zeros(margins.shape[0]),
        A_eq=total,
        b_eq=[1.0],
        bounds=(None, None),
        method="highs",
    )
    return bool(res.status == 0)
