"""Certified minimax solutions for linear models with convex losses: :func:`solve_linear`."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

import numpy as np

from almo._validation import check_positive, fail
from almo.exceptions import ConvergenceWarning, SolverError
from almo.losses import SolverTask, Targets
from almo.mixtures import MixtureSet, Simplex
from almo.objectives import ObjectiveFamily
from almo.report import ObjectiveReport
from almo.solvers._certificate import dual_bound
from almo.solvers._dual_newton import DualNewtonResult, solve_dual_newton, solve_smoothed
from almo.solvers._inner import InnerSolver
from almo.solvers._lp import Engine, lp_applies, lp_preferred, solve_lp
from almo.solvers._minimizer import separable_objectives
from almo.solvers._problem import LinearProblem, _check_X, _group_array, build_problem
from almo.solvers._scaling import standardizable, standardize
from almo.solvers._smoothing import needs_smoothing, smoothable

logger = logging.getLogger(__name__)

Method = Literal["auto", "cvxpy", "dual_newton", "smoothed_newton", "lp"]


@dataclass(frozen=True, eq=False)  # array fields: identity comparison, like a fitted model
class LinearSolution:
    """A certified solution of min over (W, b) of max over λ ∈ Λ of Σ_k λ_k (L̂_k + c_k ‖W‖)
    + l2 ‖W‖² (c_k = 0 without a ``penalty``).

    Attributes
    ----------
    value : float
        Worst case over Λ of the objectives plus their penalties c_k ‖W‖ at the returned model,
        plus l2 ‖W‖²: an upper bound on the optimum (exact evaluation,
        ``mixture_set.worst_case``).
    lower_bound : float
        A Fenchel dual value g(λ) ≤ the optimum at ``weights`` (valid up to rounding).
    gap : float
        ``value - lower_bound`` ≥ 0: the certified suboptimality of ``coef_``, ``intercept_``.
    weights : np.ndarray of shape (p,)
        λ, inside the mixture set.
    coef_ : np.ndarray
        (n_classes, d) for multiclass, (1, d) for binary (scikit-learn's layout), (d,) for
        regression.
    intercept_ : np.ndarray or float
        (n_classes,) or (1,) for classification, a float for regression (0 without intercept).
    report : ObjectiveReport
        The returned model on the training data in the library's one vocabulary: raw and
        normalized objectives, the penalty r_k = c_k ‖W‖ + l2 ‖W‖² of each objective (the
        ridge part is the same for every objective, as λ sums to 1), the worst case over Λ
        with its λ* (``report.penalized_worst_case == value`` up to rounding).
    status : {"optimal", "inaccurate"}
        "optimal" when ``gap <= tol * max(1, |value|)``.
    method : {"cvxpy", "dual_newton", "smoothed_newton", "lp"}
        The method that ran.
    n_iter : int
        Outer iterations (dual_newton, smoothed_newton), interior-point iterations (cvxpy) or
        simplex iterations (lp).
    seconds : float
        Wall-clock time, certification included.
    classes_ : np.ndarray or None
        Class labels of a classifier, in score-column order.
    penalty_coefficients : np.ndarray of shape (p,) or None
        The c_k of the λ-dependent penalty Σ_k λ_k c_k ‖W‖_F (zeros without ``penalty``; None
        only for a solution built by hand).

    Examples
    --------
    >>> import numpy as np
    >>> from almo.solvers import solve_linear
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    >>> sol = solve_linear(X, y, ["log_loss", "squared"], l2=0.1)
    >>> sol.status, sol.method, bool(sol.gap <= 1e-6)
    ('optimal', 'dual_newton', True)
    >>> bool(sol.lower_bound <= sol.value), sol.coef_.shape
    (True, (1, 3))
    """

    value: float
    lower_bound: float
    gap: float
    weights: np.ndarray
    coef_: np.ndarray
    intercept_: np.ndarray | float
    report: ObjectiveReport
    status: Literal["optimal", "inaccurate"]
    method: Literal["cvxpy", "dual_newton", "smoothed_newton", "lp"]
    n_iter: int
    seconds: float
    classes_: np.ndarray | None = None
    penalty_coefficients: np.ndarray | None = None
    family: ObjectiveFamily | None = None
    mixture_set: MixtureSet | None = None
    l2: float = 0.0

    # -- prediction ---------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """Scores ``X W + b``: (n, n_classes) multiclass, (n,) binary (the logit of
        ``classes_[1]``) and regression (the prediction).

        Examples
        --------
        >>> import numpy as np
        >>> from almo.solvers import solve_linear
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> sol = solve_linear(X, np.array([1.0, 3.0, 5.0, 7.0]), "squared")
        >>> sol.decision_function(np.array([[10.0]])).round(6).tolist()
        [21.0]
        """
        Xc = _check_X(X)
        coef = np.asarray(self.coef_, dtype=np.float64)
        width = coef.shape[-1]
        if Xc.shape[1] != width:
            raise fail(
                "X",
                f"have {width} columns, as the data the solution was fitted on",
                Xc.shape,
                "pass the same features, in the same order",
            )
        if coef.ndim == 1:
            return Xc @ coef + float(np.asarray(self.intercept_).reshape(-1)[0])
        scores = Xc @ coef.T + np.asarray(self.intercept_, dtype=np.float64)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (the arg-max score; binary: ``classes_[1]`` when the score is > 0) or,
        for regression, the predictions ``X w + b``.

        Examples
        --------
        >>> import numpy as np
        >>> from almo.solvers import solve_linear
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]])
        >>> sol = solve_linear(X, np.array([0, 0, 1, 1, 0, 1]), "log_loss", l2=0.1)
        >>> sol.predict(np.array([[-3.0], [3.0]])).tolist()
        [0, 1]
        """
        scores = self.decision_function(X)
        if self.classes_ is None:
            return scores
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def evaluate(self, X: Any, y: Any, groups: Any = None) -> ObjectiveReport:
        """The fitted model on new data, in the library's report vocabulary: each objective's
        raw mean loss, normalized by the FITTED scales, its penalty r_k (which depends on W
        only), and the worst case over the same Λ.

        ``groups`` as in :func:`solve_linear`: integer ids 0..G-1, or the group labels the
        family was built with. Every objective needs at least one row of the new data.

        Examples
        --------
        >>> import numpy as np
        >>> from almo.solvers import solve_linear
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 2))
        >>> y = X @ np.array([1.0, -1.0]) + rng.normal(size=200)
        >>> g = (X[:, 0] > 0).astype(int)
        >>> sol = solve_linear(X[:100], y[:100], "squared", groups=g[:100], l2=0.01)
        >>> train = sol.evaluate(X[:100], y[:100], groups=g[:100])
        >>> bool(abs(train.penalized_worst_case - sol.value) < 1e-9)
        True
        >>> sol.evaluate(X[100:], y[100:], groups=g[100:]).names
        ('squared@group0', 'squared@group1')
        """
        if self.family is None or self.mixture_set is None:
            raise fail(
                "solution",
                "come from solve_linear (it records the objective family and Λ)",
                "a solution built by hand",
                "solve again with solve_linear",
            )
        return _evaluate(self, X, y, groups)

    @property
    def losses(self) -> np.ndarray:
        """The normalized objectives L̂_k at the returned model (``report.normalized``)."""
        return self.report.normalized

    @property
    def names(self) -> tuple[str, ...]:
        """Objective names, loss-major (``"log_loss@group1"``), as in the ObjectiveFamily."""
        return self.report.names

    @property
    def scales(self) -> np.ndarray:
        """What each objective was divided by (ones unless normalized)."""
        return self.report.scales

    @property
    def relative_gap(self) -> float:
        """``gap / max(1, |value|)``, what ``tol`` is compared with."""
        return self.gap / max(1.0, abs(self.value))


def fast_method_certifies(problem: LinearProblem) -> bool:
    """True when the dual Newton method applies: every loss smooth for the task, and l2 > 0 or
    an inner minimizer for every λ (with l2 = 0: always for squared, huber and binary
    squared_hinge; for log_loss when no objective's rows are linearly separable). Non-smooth
    losses go through ``method="smoothed_newton"`` instead.

    Examples
    --------
    >>> import numpy as np
    >>> from almo.solvers._problem import build_problem
    >>> X, y = np.eye(4), np.array([0, 1, 0, 1])
    >>> fast_method_certifies(build_problem(X, y, "log_loss", None, 0.1, None, True))
    True
    >>> fast_method_certifies(build_problem(X, y, "hinge", None, 0.1, None, True))
    False
    """
    return not needs_smoothing(problem) and _fast_path(problem)[0]


def solve_linear(
    X: Any,
    y: Any,
    losses: Any,
    groups: Any = None,
    mixture_set: MixtureSet | None = None,
    l2: float = 0.0,
    normalize: Literal["initial"] | Any | None = None,
    fit_intercept: bool = True,
    tol: float = 1e-6,
    max_iter: int | None = None,
    method: Method = "auto",
    penalty: Any = None,
) -> LinearSolution:
    """Solve min over (W, b) of max over λ ∈ Λ of Σ_k λ_k (L̂_k(W, b) + c_k ‖W‖_F) + l2 ‖W‖²_F,
    certified (c = 0 unless ``penalty`` is given).

    The model is linear: scores ``X W + b`` (softmax scores for multiclass, one score read as
    the logits (0, s) for binary labels, a prediction for regression). Objective k is a convex
    loss averaged over all samples or over one group, divided by its scale; the layout and the
    names follow :class:`almo.ObjectiveFamily` (loss-major, ``"<loss>@group<g>"``). The
    intercept is not penalized.

    Parameters
    ----------
    X : array of shape (n, d)
        Features, finite.
    y : array of shape (n,)
        Integer (or string) class labels for classification losses, floats for regression.
    losses : ObjectiveFamily, or str, Loss or sequence of them
        The objectives: an :class:`~almo.ObjectiveFamily` (the same object a
        :class:`~almo.MinimaxTrainer` takes, so both report the same names, p and scales), or
        the shorthand it is built from — loss names among log_loss, hinge, squared_hinge,
        squared (classification); squared, absolute, huber, pinball (regression);
        parametrized ones via ``almo.losses.make_loss``.
    groups : array of shape (n,), optional
        Group id of each sample: each loss then gives one objective per group. With a family,
        integer ids 0..G-1 of its groups; with the shorthand, integer ids (groups
        ``group0`` … ``group<max id>``) or string labels (sorted). A declared group without
        rows is an error.
    mixture_set : MixtureSet, optional
        Λ; the whole simplex by default.
    l2 : float, default 0
        Ridge penalty on W (not on the intercept).
    normalize : None, "initial" or array of shape (p,)
        Shorthand only (a family holds its own): divide each objective by its value for the
        initial model over all the data — here W = 0, b = 0 — or by the given numbers. A
        family with ``normalize="initial"`` that is not yet calibrated is calibrated that way
        (in place), so a trainer given the same family afterwards uses the same scales.
    fit_intercept : bool, default True
    tol : float, default 1e-6
        Target certified gap, relative: ``gap <= tol * max(1, |value|)``.
    max_iter : int, optional
        Outer iterations of dual_newton (default 100) and smoothed_newton (default 200), or
        interior-point iterations of cvxpy (solver default); the lp method runs to the end.
    method : {"auto", "dual_newton", "smoothed_newton", "lp", "cvxpy"}
        ``"dual_newton"``: Newton ascent on the dual function with exact inner Newton solves
        (see :mod:`almo.solvers._dual_newton`); smooth losses (log_loss, squared, huber,
        binary squared_hinge) with l2 > 0, or l2 = 0 where the inner problem has a minimizer.
        ``"smoothed_newton"``: the same on Nesterov-smoothed non-smooth losses (hinge,
        squared_hinge, absolute, pinball) with a continuation, certified on the original
        problem (:mod:`almo.solvers._smoothing`). ``"lp"``: one linear program solved by
        HiGHS when every loss is piecewise linear (absolute, pinball, hinge), l2 = 0, there
        is no penalty and Λ is polyhedral (:mod:`almo.solvers._lp`); "auto" takes it for the
        scalar losses (absolute, pinball, binary hinge), not for the multiclass hinge.
        ``"cvxpy"``: the epigraph formulation (:mod:`almo.solvers.cvxpy_form`), any convex
        loss and l2 ≥ 0, any mixture set. ``"auto"`` takes lp, then dual_newton or
        smoothed_newton where they apply, cvxpy otherwise (and when a Newton method stalls far
        from ``tol``).
    penalty : None, array of shape (p,), or an object with ``linear_coefficients``
        A λ-dependent complexity penalty r_k(W) = c_k ‖W‖_F added to objective k (in the
        units of the normalized objectives), so the adversary pays for weight on the objectives
        with large c_k — ALMO's regularized game with the Rademacher bound
        r_k = β μ_k R̂_{S_k}(W) of a norm-bounded linear class, whose R̂ is linear in ‖W‖.
        Give the c_k (finite, ≥ 0, in the order of the objective names) or an object whose
        ``linear_coefficients(X, family, groups=None, y=None)`` returns them; it is called with
        the features, the (calibrated) family, the rows' integer group ids 0..G-1 and y. Both
        methods handle the penalty exactly (it is non-smooth at W = 0) and the certificate
        covers it. None (or all c_k = 0) solves the unpenalized game.

    Returns
    -------
    LinearSolution
        With ``value`` (upper bound), ``lower_bound``, ``gap`` and λ. A
        :class:`sklearn.exceptions.ConvergenceWarning` is issued when the gap exceeds ``tol``.

    Raises
    ------
    ALMOValueError
        Bad input: NaN in X, a loss that is not convex for linear models (brier, focal,
        zero_one), y of the wrong kind, a mixture set of the wrong size, an unknown method,
        penalty coefficients that are negative, non-finite or not one per objective.

    Notes
    -----
    Certification: ``value`` is an exact evaluation at the returned model; ``lower_bound`` is a
    Fenchel dual value (:mod:`almo.solvers._certificate`), valid for any dual candidate, so it
    does not depend on how accurately an inner problem was solved. With non-smooth losses and
    ``l2 = 0`` the dual candidates come from the conic solver's multipliers; when none can be
    made exactly feasible the bound falls back to 0 (all losses are non-negative) and the
    solution is reported "inaccurate".

    Examples
    --------
    >>> import numpy as np
    >>> from almo.solvers import solve_linear
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2))
    >>> y = X @ np.array([1.0, -2.0]) + rng.standard_t(2, size=80)
    >>> sol = solve_linear(
    ...     X, y, ["squared", "absolute"], normalize="initial", l2=0.01, method="cvxpy"
    ... )
    >>> sol.names, sol.status
    (('squared', 'absolute'), 'optimal')

    A penalty c_k ‖W‖ per objective: here the objectives of the small group pay ten times
    more for the norm of W, which shrinks the model, and the report carries r_k = c_k ‖W‖
    (plus the ridge term) next to each objective.

    >>> groups = (X[:, 0] > 1.0).astype(int)  # group 1 is small
    >>> c = [0.01, 0.1, 0.01, 0.1]  # squared@group0, squared@group1, absolute@...
    >>> pen = solve_linear(
    ...     X, y, ["squared", "absolute"], groups=groups, l2=0.01, normalize="initial", penalty=c
    ... )
    >>> free = solve_linear(
    ...     X, y, ["squared", "absolute"], groups=groups, l2=0.01, normalize="initial"
    ... )
    >>> pen.status, bool(np.linalg.norm(pen.coef_) < np.linalg.norm(free.coef_))
    ('optimal', True)
    >>> bool(abs(pen.report.penalized_worst_case - pen.value) < 1e-9)
    True
    >>> pen.penalty_coefficients.tolist()
    [0.01, 0.1, 0.01, 0.1]
    """
    start = time.perf_counter()
    problem = build_problem(X, y, losses, groups, l2, normalize, fit_intercept, penalty)
    if mixture_set is None:
        mixture_set = Simplex(problem.p)
    if not isinstance(mixture_set, MixtureSet) or mixture_set.p != problem.p:
        raise fail(
            "mixture_set",
            f"be a MixtureSet over p = {problem.p} objectives ({problem.names})",
            getattr(mixture_set, "p", mixture_set),
            f"build it for {problem.p} objectives, e.g. Simplex({problem.p})",
        )
    tol = check_positive("tol", tol)
    if max_iter is not None and (
        isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1
    ):
        raise fail("max_iter", "be a positive integer or None", max_iter, "pass e.g. 200")
    if method not in ("auto", "cvxpy", "dual_newton", "smoothed_newton", "lp"):
        raise fail(
            "method",
            'be "auto", "dual_newton", "smoothed_newton", "lp" or "cvxpy"',
            method,
            'use method="auto"',
        )
    linear, why_not_linear = lp_applies(problem, mixture_set)
    if method == "lp" and not linear:
        raise fail(
            "method",
            "be 'lp' only for piecewise-linear losses (absolute, pinball, hinge) with l2 = 0, "
            "no penalty and a polyhedral mixture set",
            {"reason": why_not_linear},
            "pass method='auto' (it picks the method that applies)",
        )
    fast, why_not = _fast_path(problem)
    smoothing = needs_smoothing(problem)
    if method == "dual_newton" and (smoothing or not fast):
        rough = [o.name for o in problem.objectives if not o.loss.smooth]
        if smoothing:
            raise fail(
                "method",
                "be 'smoothed_newton', 'cvxpy' or 'auto' for non-smooth losses",
                {"non-smooth objectives": rough},
                "pass method='auto' (it smooths them, with a certificate of the original "
                "problem) or method='smoothed_newton'",
            )
        raise fail(
            "method",
            "be 'cvxpy' or 'auto' unless l2 > 0 or the inner problem has a minimizer",
            {"l2": problem.l2, "reason": why_not},
            "set l2 > 0 (e.g. l2=1e-6), or pass method='auto' (it picks cvxpy here)",
        )
    if method == "smoothed_newton" and not (fast or smoothing):
        raise fail(
            "method",
            "be 'cvxpy' or 'auto' unless l2 > 0 or the inner problem has a minimizer",
            {"l2": problem.l2, "reason": why_not},
            "set l2 > 0 (e.g. l2=1e-6), or pass method='auto'",
        )
    if method == "auto":
        chosen = "cvxpy" if not fast else ("smoothed_newton" if smoothing else "dual_newton")
    else:
        chosen = method
    if chosen == "smoothed_newton" and not smoothing:
        chosen = "dual_newton"  # nothing to smooth: the same method
    hint = "" if fast else why_not
    newton: tuple[np.ndarray, np.ndarray, float, float, int] | None = None
    reason = newton_reason = "converged"
    if method == "lp" or (method == "auto" and linear and lp_preferred(problem)):
        best: tuple[np.ndarray, np.ndarray, float, float, int] | None = None
        for engine in ("screened", "highs"):
            # the interior-point answer screens the samples first (fast on many rows); the
            # whole LP by the simplex when that certificate falls short of tol
            try:
                found = _lp_certified(problem, mixture_set, engine)
            except SolverError:
                logger.info("the linear program (%s) failed", engine)
                continue
            if best is None or found[2] - found[3] < best[2] - best[3]:
                best = found
            if best[2] - best[3] <= tol * max(1.0, abs(best[2])):
                break
        if best is None and method == "lp":
            raise SolverError(
                "the linear program of the minimax problem failed with Clarabel and HiGHS; "
                "rescale X or the targets, or try method='cvxpy'"
            )
        if best is not None and (
            method == "lp" or best[2] - best[3] <= tol * max(1.0, abs(best[2]))
        ):
            theta, lam, upper, lower, n_iter = best
            chosen = reason = "lp"  # the Newton and conic paths below are skipped
        else:
            logger.info("the linear program certifies no answer within tol: trying %s", chosen)
    fallback = chosen
    if chosen in ("dual_newton", "smoothed_newton"):
        solver = solve_smoothed if chosen == "smoothed_newton" else solve_dual_newton
        default_iter = 200 if chosen == "smoothed_newton" else 100
        res = _newton(solver, problem, mixture_set, tol, int(max_iter or default_iter))
        theta, lam, upper, lower, n_iter = res.theta, res.weights, res.upper, res.lower, res.n_iter
        newton = (theta, lam, float(upper), float(lower), int(n_iter))
        reason = newton_reason = res.reason
        stalled = upper - lower > (1e3 if chosen == "dual_newton" else 1.0) * tol * max(
            1.0, abs(upper)
        )
        floor = res.reason in ("line_search", "no_ascent") and upper - lower <= 1e-10 * max(
            1.0, abs(upper)
        )  # a float64 precision floor: the conic solver would certify no better
        if method == "auto" and max_iter is None and stalled and not floor:
            # Newton on the dual can stall where g(λ) is flat (a penalty pinning W at 0), far
            # from tol (not a precision floor): "auto" promises a certified answer, so the
            # conic form takes over, and the better certificate of the two is kept.
            logger.info(
                "%s stopped with gap %.3g > tol after %d iterations: trying cvxpy",
                chosen,
                upper - lower,
                n_iter,
            )
            fallback = chosen
            chosen = "cvxpy"
    if chosen == "cvxpy":
        from almo.solvers.cvxpy_form import solve_cvxpy

        smooth_l2 = fast and not smoothing and problem.l2 > 0
        try:
            res_c = solve_cvxpy(problem, mixture_set, tol, max_iter, score_variables=not smooth_l2)
        except SolverError:
            if newton is None:
                raise
            logger.info("cvxpy failed: keeping the %s certificate", fallback)
            theta, lam, upper, lower, n_iter = newton
            chosen, reason = fallback, newton_reason
        else:
            theta, n_iter = res_c.theta, res_c.n_iter
            lam = np.asarray(mixture_set.project(np.maximum(res_c.weights, 0.0)), dtype=np.float64)
            upper = mixture_set.worst_case(problem.game_losses(theta)).value + problem.penalty(
                theta
            )
            candidates = [
                0.0,
                dual_bound(problem, lam, res_c.unit_duals),
                dual_bound(problem, lam, problem.unit_duals(theta)),
            ]
            if fast and not smoothing:
                # g(λ) to high accuracy: an exact inner Newton solve from the cvxpy point.
                unit = np.array([o.weight for o in problem.objectives])
                inner = InnerSolver(problem).solve(lam * unit, theta, problem.norm_weight(lam))
                candidates.append(dual_bound(problem, lam, problem.unit_duals(inner.theta)))
            lower = max(candidates)
            reason = "cvxpy"
            if newton is not None and upper - lower > newton[2] - newton[3]:
                theta, lam, upper, lower, n_iter = newton
                chosen = fallback
                reason = newton_reason
    return _solution(
        problem,
        mixture_set,
        theta,
        lam,
        upper,
        lower,
        tol,
        chosen,
        n_iter,
        time.perf_counter() - start,
        reason=reason,
        hint=hint,
        max_iter=max_iter,
    )


def _lp_certified(
    problem: LinearProblem, mixture_set: MixtureSet, engine: Engine
) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    """The LP's model with its certificate: (Θ, λ, upper, lower, iterations)."""
    res = solve_lp(problem, mixture_set, engine)
    raw = np.maximum(res.weights, 0.0)
    lam = np.asarray(mixture_set.project(raw), dtype=np.float64)
    # The projection onto Λ (HiGHS's λ meets Λ's bounds to its tolerance only) rescales each
    # objective's duals by λ_k / raw_k and breaks Σ x̃ α = 0; shrinking every unit dual by
    # s raw_k / λ_k (s = min λ/raw ≤ 1) keeps the LP's balance exact and each dual in its
    # domain (the domains are intervals or simplices around 0, star-shaped about it).
    pos = raw > 0
    s = min(1.0, float((lam[pos] / raw[pos]).min(initial=np.inf)))
    factors = [s * r / ll if ll > 0 else 0.0 for r, ll in zip(raw, lam, strict=True)]
    candidates = [[U * f for U, f in zip(res.unit_duals, factors, strict=True)]]
    if any(f != 1.0 for f in factors):  # otherwise the same duals as the scaled ones
        candidates.append(res.unit_duals)
    candidates.append(problem.unit_duals(res.theta))
    upper = float(mixture_set.worst_case(problem.game_losses(res.theta)).value)
    # every piecewise-linear loss is ≥ 0, so 0 is a lower bound too
    lower = max([0.0, *(dual_bound(problem, lam, U) for U in candidates)])
    return res.theta, lam, upper, float(lower), res.n_iter


def _newton(
    solver: Any, problem: LinearProblem, mixture_set: MixtureSet, tol: float, max_iter: int
) -> DualNewtonResult:
    """Run a Newton method, on standardized features where that leaves the problem unchanged
    (:mod:`almo.solvers._scaling`); the model is mapped back and certified again on the
    original problem, keeping the better of the two valid lower bounds."""
    if not standardizable(problem):
        return cast(DualNewtonResult, solver(problem, mixture_set, tol, max_iter))
    z = standardize(problem)
    if solver is solve_dual_newton and problem.p > 1:
        # Without a ridge, g is not smooth where an objective's rows alone leave Θ* undetermined
        # (a group whose rows make columns collinear: a constant column next to the intercept),
        # and Newton on λ crawls towards such faces. A vanishing, re-centred prox on Θ
        # (the smoothed path's continuation, with nothing to smooth in the losses) keeps the
        # early iterates away from them; the certificate is that of the problem as stated.
        solver = solve_smoothed
    res = cast(DualNewtonResult, solver(z.problem, mixture_set, tol, max_iter))
    theta = z.to_original(res.theta)
    upper = mixture_set.worst_case(problem.game_losses(theta)).value + problem.penalty(theta)
    lower = max(res.lower, dual_bound(problem, res.weights, problem.unit_duals(theta)))
    return replace(res, theta=theta, upper=float(upper), lower=float(lower))


def _fast_path(problem: LinearProblem) -> tuple[bool, str]:
    """Whether the Newton methods apply, and why not: every loss smooth or smoothable, and l2 > 0
    or an inner minimizer for every λ (see :mod:`almo.solvers._minimizer`)."""
    rough = [o.name for o in problem.objectives if not o.loss.smooth and not smoothable(o.loss)]
    if rough:
        return False, f"no smoothing for {rough}"
    if problem.l2 > 0:
        return True, ""
    separable = separable_objectives(problem)
    if separable:
        return False, (
            f"the rows of {separable} are linearly separable, so log_loss has no minimizer "
            "without a ridge (the weights grow without bound); set l2 > 0, e.g. l2=1e-6"
        )
    return True, ""


_ADVICE = {
    "max_iter": "the iteration limit was reached; raise max_iter",
    "smoothing": (
        "the smoothing continuation reached its smallest smoothing level (1e-14 of the "
        "scores' scale) without closing the gap, so more iterations would not help; loosen "
        "tol, rescale X, or try method='cvxpy'"
    ),
    "line_search": (
        "the line search found no increase of the dual function above its rounding error "
        "(the precision floor of float64 at this scale), so a smaller gap cannot be certified "
        "here; loosen tol, normalize the objectives (normalize='initial'), rescale X, or try "
        "method='cvxpy'"
    ),
    "no_ascent": (
        "the model of the dual function predicts no ascent above its rounding error (the "
        "precision floor of float64 at this scale); loosen tol, normalize the objectives "
        "(normalize='initial'), rescale X, or try method='cvxpy'"
    ),
    "lp": (
        "the linear program's multipliers certify no better (HiGHS stops at its feasibility "
        "tolerance 1e-9); normalize the objectives (normalize='initial'), rescale X or the "
        "targets, or try method='smoothed_newton'"
    ),
    "cvxpy": (
        "the conic solver's answer certifies no better; raise max_iter, normalize the "
        "objectives (normalize='initial'), rescale X, or try method='auto'"
    ),
}


def _solution(
    problem: LinearProblem,
    mixture_set: MixtureSet,
    theta: np.ndarray,
    lam: np.ndarray,
    upper: float,
    lower: float,
    tol: float,
    method: Any,
    n_iter: int,
    seconds: float,
    reason: str = "cvxpy",
    hint: str = "",
    max_iter: int | None = None,
) -> LinearSolution:
    gap = max(upper - lower, 0.0)
    status: Literal["optimal", "inaccurate"] = (
        "optimal" if gap <= tol * max(1.0, abs(upper)) else "inaccurate"
    )
    if status == "inaccurate":
        advice = _ADVICE.get(reason, _ADVICE["cvxpy"])
        if reason == "max_iter":
            advice += f" (it was {max_iter if max_iter is not None else n_iter})"
        if hint:
            advice += f"; note: {hint}"
        warnings.warn(
            f"solve_linear ({method}) stopped with a certified gap of {gap:.3g} "
            f"(relative {gap / max(1.0, abs(upper)):.3g}; value {upper:.10g}, lower bound "
            f"{lower:.10g}) above tol={tol:g} after {n_iter} iterations: {advice}",
            ConvergenceWarning,
            stacklevel=3,
        )
    d = problem.n_features
    W, b = theta[:d], (theta[d] if problem.fit_intercept else np.zeros(problem.n_outputs))
    intercept: np.ndarray | float
    if problem.task == "regression":
        coef, intercept = W[:, 0].copy(), float(b[0])
    else:
        coef, intercept = W.T.copy(), b.copy()
    logger.info("solve_linear %s: value %.10g, gap %.3g, %d iterations", method, upper, gap, n_iter)
    batch = problem.batch(theta)
    penalty = np.full(problem.p, problem.penalty(theta))
    coefficients = np.zeros(problem.p)
    if problem.norm_coef is not None:
        coefficients = problem.norm_coef.copy()
        penalty = penalty + coefficients * problem.coef_norm(theta)
    report = ObjectiveReport.from_values(
        problem.names,
        batch.means(normalized=False),
        problem.scales,
        mixture_set,
        penalty=penalty,
        counts=batch.total_counts,
    )
    return LinearSolution(
        value=float(upper),
        lower_bound=float(lower),
        gap=float(gap),
        weights=np.asarray(lam, dtype=np.float64),
        coef_=coef,
        intercept_=intercept,
        report=report,
        status=status,
        method=method,
        n_iter=int(n_iter),
        seconds=float(seconds),
        classes_=problem.classes,
        penalty_coefficients=coefficients,
        family=problem.family,
        mixture_set=mixture_set,
        l2=problem.l2,
    )


def _evaluate(sol: LinearSolution, X: Any, y: Any, groups: Any) -> ObjectiveReport:
    family, mixture_set = sol.family, sol.mixture_set
    assert family is not None and mixture_set is not None
    scores = sol.decision_function(X)
    n = scores.shape[0]
    S = scores.reshape(n, -1)
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    if y_arr.shape != (n,):
        raise fail("y", f"have shape ({n},), one target per row of X", y_arr.shape, "pass 1-D y")
    task: SolverTask
    if sol.classes_ is None:
        task = "regression"
        if y_arr.dtype.kind not in "fiu" or not np.all(np.isfinite(y_arr)):
            raise fail("y", "hold finite regression targets", y_arr.dtype, "pass floats")
        targets = Targets.of_values(y_arr.astype(np.float64))
    else:
        classes = sol.classes_
        index = np.searchsorted(classes, y_arr)
        known = (index < classes.size) & (classes[np.minimum(index, classes.size - 1)] == y_arr)
        if not np.all(known):
            raise fail(
                "y",
                f"hold the fitted classes {classes.tolist()}",
                np.unique(y_arr[~known])[:5].tolist(),
                "drop the rows of unseen classes",
            )
        task = "binary" if classes.size == 2 else "multiclass"
        targets = Targets.of_labels(index, classes.size)
    ids = _group_ids(family, groups, n)
    raw, counts = [], []
    for loss, g in family.layout:
        rows = np.arange(n) if g is None else np.flatnonzero(ids == g)
        if rows.size == 0:
            raise fail(
                "groups",
                "give every group of the family at least one row",
                f"no rows for group {g}",
                "evaluate on data covering every group",
            )
        form = loss.convex_form(task)
        assert form is not None
        raw.append(float(form.value(S[rows], targets.take(rows)).mean()))
        counts.append(float(rows.size))
    coef = np.asarray(sol.coef_, dtype=np.float64)
    size = float(np.linalg.norm(coef))
    penalty = np.full(family.p, sol.l2 * size * size)
    if sol.penalty_coefficients is not None:
        penalty = penalty + sol.penalty_coefficients * size
    return ObjectiveReport.from_values(
        family.names, raw, sol.scales, mixture_set, penalty=penalty, counts=counts
    )


def _group_ids(family: ObjectiveFamily, groups: Any, n: int) -> np.ndarray | None:
    names = family.group_names
    if names is None:
        if groups is not None:
            raise fail("groups", "be None for a family without groups", "group ids", "drop groups")
        return None
    g = _group_array(groups, n)
    if g.dtype.kind in "iu":
        ids = g.astype(np.int64)
    else:
        lookup = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in g} - set(lookup))
        if unknown:
            raise fail(
                "groups",
                f"hold the family's group labels {names} (or ids 0..{len(names) - 1})",
                unknown[:5],
                "map the labels to the fitted groups",
            )
        ids = np.array([lookup[str(v)] for v in g], dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= len(names)):
        raise fail(
            "groups",
            f"lie in [0, {len(names) - 1}]",
            [int(ids.min()), int(ids.max())],
            "pass the group ids used when fitting",
        )
    return ids


__all__ = ["ConvergenceWarning", "LinearSolution", "fast_method_certifies", "solve_linear"]
