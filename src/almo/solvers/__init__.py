"""Certified exact solvers for ALMO with linear models and convex losses.

:func:`solve_linear` returns a :class:`LinearSolution` holding an upper bound (the worst case
at the returned model), a lower bound (a Fenchel dual value) and their gap. Two methods: the
cvxpy epigraph formulation, and ``"dual_newton"`` — Newton ascent on the concave dual function
with exact inner Newton solves — for smooth losses with a ridge penalty. ``ConvergenceWarning``
is scikit-learn's (:class:`sklearn.exceptions.ConvergenceWarning`), so one filter covers both.
"""

from almo.solvers.linear import (
    ConvergenceWarning,
    LinearSolution,
    fast_method_certifies,
    solve_linear,
)

__all__ = ["ConvergenceWarning", "LinearSolution", "fast_method_certifies", "solve_linear"]
