"""The library's error and warning types, in one place.

- :class:`ALMOValueError` (a :class:`ValueError`): an argument breaks a documented rule; the
  message names the argument, the rule, the value found and a fix.
- :class:`NonFiniteLossError` (also a :class:`FloatingPointError`): a loss vector holds NaN or
  inf.
- :class:`DivergenceError` (also a :class:`FloatingPointError`): finite losses that grow by
  orders of magnitude, a run that is diverging.
- :class:`SolverError` (a :class:`RuntimeError`): a conic or numerical solver failed.
- :class:`ConvergenceWarning`: scikit-learn's own class, so that one warnings filter covers
  almo and scikit-learn alike.
- :class:`ReproducibilityWarning` (a :class:`UserWarning`): a resumed run will not be bitwise
  identical to an uninterrupted one (another torch thread count, say).

Examples
--------
>>> import warnings
>>> from almo.exceptions import ConvergenceWarning, DivergenceError
>>> issubclass(DivergenceError, ValueError), issubclass(DivergenceError, FloatingPointError)
(True, True)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", ConvergenceWarning)  # silences sklearn's too
...     warnings.warn("gap above tol", ConvergenceWarning)
"""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "ALMOValueError",
    "ConvergenceWarning",
    "DivergenceError",
    "NonFiniteLossError",
    "ReproducibilityWarning",
    "SolverError",
]


class ALMOValueError(ValueError):
    """A value breaks a documented rule; the message names the argument, rule, value and fix.

    Built by ``almo._validation.fail`` so every message has the same shape.

    Examples
    --------
    >>> from almo import Simplex
    >>> try:
    ...     Simplex(0)
    ... except ALMOValueError as err:
    ...     print(err)
    `p` must be an integer >= 1; found 0. Fix: pass the number of objectives
    """


class NonFiniteLossError(ALMOValueError, FloatingPointError):
    """A loss vector holds NaN or inf; the message names the objectives concerned.

    Raised before the loss reaches λ, so the weights stay finite.

    Examples
    --------
    >>> from almo import Simplex
    >>> try:
    ...     Simplex(2).worst_case([0.1, float("nan")])
    ... except NonFiniteLossError as err:
    ...     print("objective 1" in str(err))
    True
    """


class DivergenceError(ALMOValueError, FloatingPointError):
    """Finite losses that grew by orders of magnitude: the run is diverging.

    Raised with the step and the objectives concerned, before the losses overflow to inf; the
    usual fix is a smaller learning rate or normalized objectives.

    Examples
    --------
    >>> err = DivergenceError("losses grew 1e6-fold by step 40. Fix: lower the learning rate")
    >>> isinstance(err, ALMOValueError), isinstance(err, FloatingPointError)
    (True, True)
    """


class SolverError(RuntimeError):
    """A conic or numerical solver failed.

    The message says what was being solved, the status the solver returned, the time it took,
    and a fix (rescale the data, drop redundant constraints, try the other method...).

    Examples
    --------
    >>> import cvxpy as cp
    >>> from almo._cvxpy import solve
    >>> x = cp.Variable()
    >>> try:
    ...     solve(cp.Problem(cp.Minimize(x), [x >= 1, x <= 0]), "a toy LP", fix="loosen it")
    ... except SolverError as err:
    ...     print(str(err).split(" after")[0])
    a toy LP failed: cvxpy (Clarabel) returned status 'infeasible'
    """


class ReproducibilityWarning(UserWarning):
    """A resumed run will not be bitwise identical to an uninterrupted one (and why).

    Examples
    --------
    >>> issubclass(ReproducibilityWarning, UserWarning)
    True
    """
