"""The one place where almo hands a cvxpy problem to a conic solver (Clarabel).

Every conic solve in the library — the projection QP and worst-case LP of
:class:`almo.Polytope`, the epigraph problem of the certified solver, its quadratic model step —
goes through :func:`solve`, so that all of them treat inaccurate statuses alike and fail with
the same :class:`almo.exceptions.SolverError`. cvxpy is imported on first use only: importing
almo does not pay for it.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from almo.exceptions import SolverError

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = ["solve"]

_ACCEPTED = ("optimal", "optimal_inaccurate")


def solve(
    problem: cp.Problem,
    what: str,
    *,
    fix: str = "rescale the data",
    retry_default: bool = False,
    **options: Any,
) -> float:
    """Solve ``problem`` with Clarabel and return the seconds it took; raise on failure.

    "optimal_inaccurate" is accepted without cvxpy's warning: callers ask for tolerances well
    below what they need and check the result themselves (a certified gap, a feasibility
    repair), so the status adds nothing they would act on.

    Parameters
    ----------
    problem : cvxpy.Problem
        The problem, built (and possibly parametrized) by the caller.
    what : str
        What is being solved, for the error message (e.g. "the Polytope projection QP").
    fix : str
        What the user can do when the solve fails, for the error message.
    retry_default : bool, default False
        When Clarabel stops with an error under ``options``, solve again with its default
        settings before giving up (for tolerances that are tighter than a problem allows).
    **options
        Clarabel settings (``tol_gap_abs``, ``tol_feas``, ``max_iter``...).

    Returns
    -------
    float
        Wall-clock seconds of the solve, retries included.

    Raises
    ------
    SolverError
        Naming ``what``, the status or the solver's error, the seconds taken, and ``fix``.

    Examples
    --------
    >>> import cvxpy as cp
    >>> x = cp.Variable(2)
    >>> prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1.0)), [cp.sum(x) == 1])
    >>> seconds = solve(prob, "a toy QP", tol_gap_abs=1e-10, tol_gap_rel=1e-10)
    >>> prob.status, x.value.round(6).tolist()
    ('optimal', [0.5, 0.5])
    """
    import cvxpy as cp

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        try:
            try:
                problem.solve(solver=cp.CLARABEL, **options)
            except cp.SolverError:
                if not retry_default:
                    raise
                problem.solve(solver=cp.CLARABEL)
        except cp.SolverError as err:
            seconds = time.perf_counter() - start
            raise SolverError(
                f"{what} failed: cvxpy (Clarabel) stopped with an error after {seconds:.2f} s "
                f"({err}). Fix: {fix}"
            ) from err
    seconds = time.perf_counter() - start
    if problem.status not in _ACCEPTED:
        raise SolverError(
            f"{what} failed: cvxpy (Clarabel) returned status {problem.status!r} after "
            f"{seconds:.2f} s. Fix: {fix}"
        )
    return seconds
