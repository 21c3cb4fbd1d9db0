"""The fast method: Newton ascent on the concave dual function g(λ) over Λ.

g(λ) = min over Θ of Σ_k λ_k (L̂_k(Θ) + c_k ‖W‖) + l2 ‖W‖² is concave; with smooth losses and
l2 > 0 its minimizer Θ*(λ) is unique in W and, where W* ≠ 0, g is twice differentiable with

    ∇g(λ) = L̂(Θ*(λ)) + c ‖W*‖                (Danskin)
    ∇²g(λ) = −J H⁻¹ Jᵀ,  J = ∂(L̂ + c ‖W‖)/∂Θ at Θ*,  H = ∇²_Θ F_λ(Θ*)   (implicit functions).

(c = 0 without a λ-dependent penalty. Where W* = 0 the model pins W, see
:mod:`almo.solvers._inner`; the gradient stays exact.)

Each iteration solves the inner problem exactly by Newton (warm-started, quadratic convergence),
then maximizes the quadratic model of g (with the curvature capped along free intercept
directions, see the code) over Λ (accelerated projected gradient with ``mixture_set.project``,
or a small cvxpy QP for sets whose projection is itself a conic solve) and backtracks along
the segment, which stays in Λ. Near the solution the steps converge quadratically, so a relative
gap of 1e-6 or far below takes a handful of iterations, each dominated by 1–3 Newton steps on Θ.

Why this and not projected gradient on λ or cutting planes: the number of objectives p is small
while the data is large, so second-order information on λ is almost free once the inner
Hessian is factorized, and it turns a linearly converging first-order ascent into a few steps.

Certificate: every iterate gives an upper bound — the worst case over Λ of L̂(Θ*(λ)) + c ‖W*‖
plus the ridge penalty, from ``mixture_set.worst_case`` — and a lower bound — the Fenchel dual
value at the losses' gradients (:mod:`almo.solvers._certificate`), valid whatever the inner
accuracy. The method stops when the best upper minus the best lower bound is at most
``tol · max(1, |upper|)``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_solve
from threadpoolctl import ThreadpoolController

from almo._cvxpy import solve
from almo.exceptions import SolverError
from almo.mixtures import MixtureSet
from almo.mixtures._rows import PolyhedralSet
from almo.solvers._certificate import dual_bound
from almo.solvers._inner import InnerSolver
from almo.solvers._problem import LinearProblem
from almo.solvers._qp import active_set_argmax

logger = logging.getLogger(__name__)


@dataclass
class DualNewtonResult:
    theta: np.ndarray
    weights: np.ndarray
    upper: float
    lower: float
    n_iter: int
    newton_steps: int
    #: What ended the loop: "converged" (gap ≤ tol), "max_iter", "line_search" (no step along
    #: the model's direction raised g beyond its rounding: the precision floor of g) or
    #: "no_ascent" (the model's ascent slope is below the rounding of g); on the smoothed path
    #: also "smoothing" (the continuation reached its smallest μ before the gap closed).
    reason: str = "converged"
    #: The last iterate (λ, Θ), a warm start for the next smoothing stage.
    last: tuple[np.ndarray, np.ndarray] | None = None


def solve_dual_newton(
    problem: LinearProblem, mixture_set: MixtureSet, tol: float, max_iter: int
) -> DualNewtonResult:
    D, C = problem.shape
    if D * C > _THREADED_SIZE:
        return _solve(problem, mixture_set, tol, max_iter)
    # The linear algebra here is on matrices of a few hundred rows, where threaded BLAS gains
    # little and, on a machine whose cores are busy, loses up to 100× to spinning threads.
    with _blas().limit(limits=1, user_api="blas"):
        return _solve(problem, mixture_set, tol, max_iter)


_CONTROLLER: list[ThreadpoolController] = []


def _blas() -> ThreadpoolController:
    """One controller per process: finding the BLAS libraries costs milliseconds per call."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


# Hessian sizes (D·C) above which BLAS keeps its threads.
_THREADED_SIZE = 2048


def _solve(
    problem: LinearProblem,
    mixture_set: MixtureSet,
    tol: float,
    max_iter: int,
    original: LinearProblem | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    stage_tol: float = 0.0,
    stage_error: float = math.inf,
) -> DualNewtonResult:
    """Newton ascent on the g of ``problem``; bounds certified on ``original`` (default: the
    same problem). Stops at a certified gap ≤ tol, or — for a smoothing stage — when the smoothed
    problem's own gap is below ``stage_tol`` or a tenth of the original gap; ``start`` is a warm
    start (λ, Θ)."""
    certified = problem if original is None else original
    inner = InnerSolver(problem)
    model = _ModelStep(mixture_set)
    unit = np.array([o.weight for o in problem.objectives])
    if start is None:
        lam, theta0 = np.asarray(mixture_set.uniform(), dtype=np.float64), np.zeros(problem.shape)
    else:
        lam, theta0 = start
    sol = inner.solve(lam * unit, theta0, problem.norm_weight(lam))
    steps = sol.newton_steps
    best_up, best_theta = math.inf, sol.theta
    best_low, best_lam = -math.inf, lam
    # The model of g sees the intercept as if it carried the ridge penalty too. Where the
    # weighted loss leaves some intercept direction free (softmax's common shift when no
    # squared objective has weight, huber with every residual beyond δ), g is not smooth and
    # its exact curvature blows up; the ridge caps it, and elsewhere it perturbs the model only
    # slightly. Values, gradients and certificates stay exact: only the step is affected.
    D, C = problem.shape
    ridge = np.zeros((D, C))
    if problem.fit_intercept:
        ridge[D - 1] = 2.0 * problem.l2
    model_ridge = np.diag(ridge.T.ravel())
    it = 0
    reason = "max_iter"
    for it in range(1, max_iter + 1):
        L = problem.game_losses(sol.theta)
        g = float(lam @ L) + problem.penalty(sol.theta)
        L_cert = L if original is None else certified.game_losses(sol.theta)
        up = mixture_set.worst_case(L_cert).value + certified.penalty(sol.theta)
        if up < best_up:
            best_up, best_theta = up, sol.theta
        low = max(dual_bound(certified, lam, problem.unit_duals(sol.theta)), 0.0)
        if low > best_low:
            best_low, best_lam = low, lam
        logger.debug("iteration %d: upper %.12g lower %.12g", it, best_up, best_low)
        if best_up - best_low <= tol * max(1.0, abs(best_up)):
            reason = "converged"
            break
        if sol.capped and it < max_iter:
            # The inner Newton stopped at its step limit (a smoothed loss with few samples on
            # its curved part converges slowly): g, its gradient and the stage's own gap are
            # those of a minimizer only once it is reached, so the solve continues from there
            # before any step on λ. With a single-point Λ this is the whole method.
            more = inner.solve(lam * unit, sol.theta, problem.norm_weight(lam))
            steps += more.newton_steps
            if more.value < sol.value:
                sol = more
                continue
        if original is not None:
            # A smoothing stage is done once its own gap (worst case minus g, both smoothed)
            # is small next to the original gap, which the smoothing error then dominates.
            own = mixture_set.worst_case(L).value + problem.penalty(sol.theta) - g
            if own <= max(stage_tol, 0.1 * min(best_up - best_low, stage_error)):
                reason = "stage"
                break
        if it == max_iter:
            break
        J = _jacobian(problem, sol.theta)
        sensitivity = cho_solve(InnerSolver.factor(sol.hessian + model_ridge), J.T)  # H⁻¹Jᵀ
        M = J @ sensitivity
        M = 0.5 * (M + M.T)
        target = model.argmax(L, M, lam)
        direction = target - lam
        slope = float(L @ direction)
        if slope <= 1e-16 * max(1.0, abs(g)):
            reason = "no_ascent"  # no ascent direction left within rounding
            break
        t = 1.0
        for _ in range(30):
            trial_lam = lam + t * direction
            # Warm start from the first-order prediction dΘ = −H⁻¹Jᵀ dλ (implicit function).
            guess = sol.theta - (sensitivity @ (t * direction)).reshape(C, D).T
            c_trial, a_trial = trial_lam * unit, problem.norm_weight(trial_lam)
            if inner.value(guess, c_trial, a_trial) > inner.value(sol.theta, c_trial, a_trial):
                guess = sol.theta
            trial = inner.solve(c_trial, guess, a_trial)
            steps += trial.newton_steps
            g_trial = float(trial_lam @ problem.game_losses(trial.theta))
            g_trial += problem.penalty(trial.theta)
            if g_trial >= g + 1e-4 * t * slope - 1e-15 * abs(g):
                break
            t *= 0.5
        else:
            reason = "line_search"
            break
        lam, sol = trial_lam, trial
    result = DualNewtonResult(best_theta, best_lam, best_up, best_low, it, steps, reason)
    result.last = (lam, sol.theta)
    return result


def solve_smoothed(
    problem: LinearProblem, mixture_set: MixtureSet, tol: float, max_iter: int
) -> DualNewtonResult:
    """The fast method for non-smooth losses: dual Newton on Nesterov smoothings with a
    continuation μ = 0.1, then smaller by 10–100× per stage, each stage warm-started from the
    last; every bound is that of the original problem (see :mod:`almo.solvers._smoothing`)."""
    D, C = problem.shape
    if D * C > _THREADED_SIZE:
        return _smoothed(problem, mixture_set, tol, max_iter)
    with _blas().limit(limits=1, user_api="blas"):
        return _smoothed(problem, mixture_set, tol, max_iter)


def _smoothed(
    problem: LinearProblem, mixture_set: MixtureSet, tol: float, max_iter: int
) -> DualNewtonResult:
    from almo.solvers._smoothing import smooth_problem

    score = _score_scale(problem)
    # Classification with a non-smooth loss starts smoother (μ = 1, the margins' scale) and
    # shrinks μ by at most 0.3 per stage: the hinge's curved zone (the rows near a tie) changes
    # little between such stages, so the predicted first step (see :func:`_predicted`) lands
    # near each stage's minimizer, while a 30× jump moves the zone across hundreds of rows and
    # leaves Newton to find them a few per step. Regression keeps 0.1 and 10–30× steps.
    classify = problem.task != "regression" and any(not o.loss.smooth for o in problem.objectives)
    mu, used, steps = (1.0 if classify else 0.1) * score, 0, 0
    start = (np.asarray(mixture_set.uniform(), dtype=np.float64), _initial_theta(problem))
    best: DualNewtonResult | None = None
    reason = "max_iter"
    unit_error = 1.0 / float(problem.scales.min())
    # Smooth losses only (l2 = 0): the prox alone, whose bias vanishes faster (re-centred).
    rough = any(not o.loss.smooth for o in problem.objectives)
    fastest = 0.3 if classify else 0.03 if rough else 0.01
    slowest = 0.3 if classify else 0.1
    old_mu = mu
    # The prox (relative to μ) that keeps the inner minimizers unique: a smoothed hinge is flat
    # away from its margins and needs 1e-2; for the others (regression residuals, smooth
    # losses) a smaller one leaves the repaired dual candidates inside their domains.
    prox = 1e-2 if rough and problem.task != "regression" else 1e-4
    while used < max_iter:
        if mu <= 1e-14 * score:
            reason = "smoothing"  # the continuation ran out of μ before the gap closed
            break
        scale = 1.0 if best is None else max(1.0, abs(best.upper))
        stage_tol = 0.25 * tol * scale
        stage = smooth_problem(problem, mu, prox=prox, center=start[1])
        if best is not None and rough:
            start = (start[0], _predicted(stage, old_mu, start))
        res = _solve(
            stage,
            mixture_set,
            tol,
            max_iter - used,
            original=problem,
            start=start,
            stage_tol=stage_tol,
            stage_error=mu * unit_error,
        )
        used += res.n_iter
        steps += res.newton_steps
        assert res.last is not None
        start = res.last
        if best is None:
            best = res
        else:
            if res.upper < best.upper:
                best.upper, best.theta = res.upper, res.theta
            if res.lower > best.lower:
                best.lower, best.weights = res.lower, res.weights
        logger.debug(
            "smoothing μ = %.3g (%s): upper %.12g lower %.12g",
            mu,
            res.reason,
            best.upper,
            best.lower,
        )
        if best.upper - best.lower <= tol * max(1.0, abs(best.upper)):
            reason = "converged"
            break
        if res.reason in ("line_search", "no_ascent") and mu < 1e-9:
            reason = res.reason
            break
        # The smoothing error is ~ proportional to μ: aim just below the tolerance.
        ratio = 0.5 * tol * max(1.0, abs(best.upper)) / max(best.upper - best.lower, 1e-300)
        old_mu = mu
        mu *= min(slowest, max(fastest, ratio))
    assert best is not None
    best.n_iter, best.newton_steps, best.reason = used, steps, reason
    return best


def _predicted(
    stage: LinearProblem, old_mu: float, start: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """The stage's first model: the last one, or the continuation's predicted step from it
    when that lowers the stage's inner objective (see
    :func:`almo.solvers._smoothing.predicted_start`)."""
    from almo.solvers._smoothing import predicted_start

    lam, theta = start
    unit = np.array([o.weight for o in stage.objectives])
    c, a = lam * unit, stage.norm_weight(lam)
    try:
        guess = predicted_start(stage, old_mu, c, theta)
    except np.linalg.LinAlgError:
        return theta
    inner = InnerSolver(stage)
    return guess if inner.value(guess, c, a) < inner.value(theta, c, a) else theta


def _initial_theta(problem: LinearProblem) -> np.ndarray:
    """The first model of the smoothed path: 0, with the intercept of a regression at the
    targets' median (the best constant for the absolute loss, near it for the others)."""
    theta = np.zeros(problem.shape)
    if problem.task == "regression" and problem.fit_intercept:
        values = np.concatenate(
            [o.targets.value for o in problem.objectives if o.targets.value is not None]
        )
        theta[-1] = float(np.median(values))
    return theta


def _score_scale(problem: LinearProblem) -> float:
    """The size of the residuals at the start: the median absolute deviation of regression
    targets (at least 1); 1 for classification, whose margins are of order 1."""
    if problem.task != "regression":
        return 1.0
    values = np.concatenate(
        [o.targets.value for o in problem.objectives if o.targets.value is not None]
    )
    return max(1.0, float(np.median(np.abs(values - np.median(values)))))


def _jacobian(problem: LinearProblem, theta: np.ndarray) -> np.ndarray:
    """∂(L̂_k + c_k ‖W‖)/∂Θ, one row per objective, in the (class, feature) ordering of the
    Hessian (the norm's part taken as 0 at W = 0, where the model pins W)."""
    rows = []
    size = problem.coef_norm(theta) if problem.norm_coef is not None else 0.0
    blocks, duals = problem.row_blocks(), problem.unit_duals(theta)
    for k, (o, B, U) in enumerate(zip(problem.objectives, blocks, duals, strict=True)):
        gk = o.weight * (B.T @ U)
        if problem.norm_coef is not None and size > 0:
            gk[: problem.n_features] += problem.norm_coef[k] * theta[: problem.n_features] / size
        rows.append(gk.T.ravel())
    return np.array(rows)


class _ModelStep:
    """argmax over Λ of the quadratic model ⟨L, μ⟩ − ½ (μ − λ)ᵀ M (μ − λ).

    Polyhedral sets (Simplex, BoxSimplex, Polytope: λ ≥ 0, Σλ = 1, Gλ ≤ h) get the exact
    active-set method of :mod:`almo.solvers._qp` (finite, no iteration cap to hit). Other sets
    with a fast projection (sort-based, microseconds each) and sets without a conic
    description use FISTA on ``project``; the others (projections that are themselves
    iterative) get the small QP on their ``cvxpy_constraints``, built once with cvxpy
    parameters and re-solved tightly, then projected for exact feasibility. Should the QP fail,
    the step falls back to FISTA.
    """

    def __init__(self, mixture_set: MixtureSet) -> None:
        self.mixture_set = mixture_set
        self._rows: tuple[np.ndarray, np.ndarray] | None = None
        self._qp = None
        if isinstance(mixture_set, PolyhedralSet):
            G, h = mixture_set._rows()
            self._rows = (np.asarray(G, dtype=np.float64), np.asarray(h, dtype=np.float64))
        elif not mixture_set.has_fast_projection:
            self._qp = self._build_qp()

    def _build_qp(self) -> tuple[Any, ...] | None:
        import cvxpy as cp

        p = self.mixture_set.p
        L, F, lam0, z = cp.Parameter(p), cp.Parameter((p, p)), cp.Parameter(p), cp.Variable(p)
        try:
            cons = self.mixture_set.cvxpy_constraints(z + lam0)
        except NotImplementedError:
            return None
        prob = cp.Problem(cp.Maximize(L @ z - 0.5 * cp.sum_squares(F @ z)), cons)
        return prob, L, F, lam0, z

    def argmax(self, L: np.ndarray, M: np.ndarray, lam: np.ndarray) -> np.ndarray:
        if self._rows is not None:
            return active_set_argmax(L, M, lam, *self._rows)
        if self._qp is None:
            return _fista_argmax(L, M, lam, self.mixture_set)
        prob, Lp, Fp, lam0, z = self._qp
        evals, evecs = np.linalg.eigh(M)
        Fp.value = np.sqrt(np.maximum(evals, 0.0))[:, None] * evecs.T  # FᵀF = M
        Lp.value, lam0.value = L, lam
        try:
            solve(
                prob,
                "the quadratic model step",
                fix="none needed: FISTA takes over",
                tol_gap_abs=1e-13,
                tol_gap_rel=1e-13,
                tol_feas=1e-13,
                tol_ktratio=1e-10,
            )
        except SolverError:
            return _fista_argmax(L, M, lam, self.mixture_set)
        if z.value is None:
            return _fista_argmax(L, M, lam, self.mixture_set)
        target = np.asarray(z.value, dtype=np.float64) + lam
        if self.mixture_set.contains(target, atol=0.0):
            return target
        return np.asarray(self.mixture_set.project(target), dtype=np.float64)


def _fista_argmax(
    L: np.ndarray, M: np.ndarray, lam: np.ndarray, mixture_set: MixtureSet, max_iter: int = 3000
) -> np.ndarray:
    """argmax over Λ of ⟨L, μ⟩ − ½ (μ − λ)ᵀ M (μ − λ), by FISTA with gradient restart.

    Near the solution the model's values are at the rounding level of g while its gradient is
    still accurate, so restarts use the gradient test (O'Donoghue & Candès) and termination the
    length of the steps, never model values.
    """
    norm = float(np.linalg.eigvalsh(M)[-1]) if M.size else 0.0
    if norm <= 1e-14 * max(1.0, float(np.abs(L).max())):
        return np.asarray(mixture_set.worst_case(L).weights, dtype=np.float64)
    eta = 1.0 / norm
    x, y, tk = lam.copy(), lam.copy(), 1.0
    first = None
    for _ in range(max_iter):
        grad = L - M @ (y - lam)
        x_new = np.asarray(mixture_set.project(y + eta * grad), dtype=np.float64)
        moved = float(np.abs(x_new - x).max())
        first = moved if first is None else first
        if grad @ (x_new - x) < 0:  # momentum points downhill: restart from x
            y, tk = x, 1.0
            continue
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
        y = x_new + (tk - 1.0) / t_new * (x_new - x)
        x, tk = x_new, t_new
        if moved <= max(1e-11 * first, 1e-18):
            break
    return x
