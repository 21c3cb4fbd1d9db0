"""Reusable property checks for mixture sets and weight rules, with independent references.

Every ``assert_*`` helper raises :class:`AssertionError` with a message that names the set or
rule, the property broken and the size of the violation. References are written here from the
sets' public description (``BoxSimplex.lower/upper``, ``Polytope.A/b``,
``PriorBall.prior/radius/divergence``) and solved independently of the library: exact closed
forms where they exist, :func:`scipy.optimize.linprog` (HiGHS) and OSQP for polyhedral sets,
cvxpy (Clarabel) for the χ² and KL balls, and the one-dimensional dual of the KL worst case.
Nothing here calls a set's own projection, worst case or cvxpy form.

Tolerances are relative to the scale of the data: a check with ``tol`` allows an error of
``tol · max(1, scale)`` where ``scale`` is the largest magnitude of the vector involved
(documented per helper), so one tolerance serves losses of order 1e-9 and 1e8 alike.

Hypothesis strategies: :func:`mixture_sets` draws any set kind of a given dimension;
:func:`loss_vectors` draws loss vectors with tiny, ordinary, huge and negative entries.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import cvxpy as cp
import numpy as np
import torch
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize_scalar
from scipy.special import logsumexp, rel_entr

from almo import BoxSimplex, Polytope, PriorBall, Simplex
from almo.weights import AveragedState, WeightRule, WeightState

__all__ = [
    "KINDS",
    "assert_agree",
    "assert_in_set",
    "assert_projection_optimal",
    "assert_rule_keeps_feasible",
    "assert_worst_case_optimal",
    "constraint_violation",
    "describe",
    "is_conic",
    "kind_of",
    "linear_max",
    "loss_vectors",
    "mixture_sets",
    "reference_projection",
    "to_numpy",
]

KINDS = ("simplex", "box", "polytope", "l1", "chi2", "kl")

# Clarabel pushed well past its defaults; its conic answers are then good to ~1e-8.
_CLARABEL = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}


# --------------------------------------------------------------------------- small utilities


def to_numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy of an array, tensor or sequence (tensors detached, moved to CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    return np.array(x, dtype=np.float64)


def kind_of(mixture_set: Any) -> str:
    """The set's kind among :data:`KINDS` (PriorBall gives its divergence)."""
    if isinstance(mixture_set, PriorBall):
        return str(mixture_set.divergence)
    for cls, name in ((Simplex, "simplex"), (BoxSimplex, "box"), (Polytope, "polytope")):
        if isinstance(mixture_set, cls):
            return name
    raise TypeError(f"no independent description of {type(mixture_set).__name__} in checks.py")


def is_conic(mixture_set: Any) -> bool:
    """Whether the reference needs a conic solver (χ² and KL balls): looser tolerances apply."""
    return kind_of(mixture_set) in ("chi2", "kl")


def describe(mixture_set: Any) -> str:
    """A short description of a set for failure messages (parameters rounded)."""
    with np.printoptions(precision=4, threshold=12):
        kind = kind_of(mixture_set)
        if kind == "simplex":
            return f"Simplex(p={mixture_set.p})"
        if kind == "box":
            return f"BoxSimplex(lower={mixture_set.lower}, upper={mixture_set.upper})"
        if kind == "polytope":
            return f"Polytope(A={mixture_set.A.tolist()}, b={mixture_set.b})"
        return (
            f"PriorBall(prior={mixture_set.prior}, radius={mixture_set.radius:.4g}, "
            f"divergence={kind!r})"
        )


def _rows(x: Any, p: int) -> np.ndarray:
    arr = to_numpy(x)
    if arr.ndim == 0 or arr.shape[-1] != p:
        raise AssertionError(f"expected an array with last axis {p}, got shape {arr.shape}")
    return arr.reshape(-1, p)


def _divergence(w: np.ndarray, prior: np.ndarray, kind: str) -> float:
    if kind == "l1":
        return float(np.abs(w - prior).sum())
    if kind == "chi2":
        return float(((w - prior) ** 2 / prior).sum())
    return float(rel_entr(np.maximum(w, 0.0), prior).sum())


def constraint_violation(mixture_set: Any, lam: Any) -> float:
    """Largest violation of the set's own constraints by one vector (≤ 0 inside the set).

    Computed from the public description only: bounds, ``A λ ≤ b`` or ``D(λ, λ0) ≤ r``. The
    simplex constraints (λ ≥ 0, Σλ = 1) are checked separately by :func:`assert_in_set`.
    """
    w = to_numpy(lam)
    kind = kind_of(mixture_set)
    if kind == "simplex":
        return -np.inf
    if kind == "box":
        return float(max((mixture_set.lower - w).max(), (w - mixture_set.upper).max()))
    if kind == "polytope":
        return float((mixture_set.A @ w - mixture_set.b).max())
    return _divergence(w, mixture_set.prior, kind) - float(mixture_set.radius)


# --------------------------------------------------------------------------- membership


def assert_in_set(mixture_set: Any, lam: Any, atol: float = 1e-9) -> None:
    """Assert that ``lam`` (shape (p,) or (..., p), numpy or torch) lies in the set.

    Each row must be finite, have entries ≥ −atol, sum to 1 within atol, satisfy
    ``mixture_set.contains(row, atol)`` and violate the set's constraints, recomputed here from
    its public description, by at most atol.
    """
    rows = _rows(lam, mixture_set.p)
    name = describe(mixture_set)
    for i, row in enumerate(rows):
        at = f"row {i} of {rows.shape[0]}" if rows.shape[0] > 1 else "λ"
        if not np.all(np.isfinite(row)):
            raise AssertionError(f"{at} = {row} is not finite (set {name})")
        if row.min() < -atol:
            raise AssertionError(
                f"{at} = {row} has a negative entry {row.min():.3g} < -{atol:g} (set {name})"
            )
        if abs(row.sum() - 1.0) > atol:
            raise AssertionError(
                f"{at} = {row} sums to 1 + {row.sum() - 1.0:.3g}, off by more than {atol:g} "
                f"(set {name})"
            )
        if not mixture_set.contains(row, atol=atol):
            raise AssertionError(f"{name}.contains({at} = {row}, atol={atol:g}) is False")
        excess = constraint_violation(mixture_set, row)
        if excess > atol:
            raise AssertionError(
                f"{at} = {row} violates the constraints of {name} by {excess:.3g} > {atol:g} "
                "(independent check)"
            )


# --------------------------------------------------------------------------- references


def _cvxpy_constraints(mixture_set: Any, x: cp.Variable) -> list[Any]:
    """The set's constraints on ``x``, written from its public attributes."""
    cons = [x >= 0, cp.sum(x) == 1]
    kind = kind_of(mixture_set)
    if kind == "box":
        finite = np.isfinite(mixture_set.upper)
        cons += [x >= mixture_set.lower]
        if finite.any():
            cons += [x[np.flatnonzero(finite)] <= mixture_set.upper[finite]]
    elif kind == "polytope":
        cons += [mixture_set.A @ x <= mixture_set.b]
    elif kind != "simplex":
        prior = mixture_set.prior
        d = {
            "l1": lambda: cp.norm1(x - prior),
            "chi2": lambda: cp.sum(cp.multiply(1.0 / prior, cp.square(x - prior))),
            "kl": lambda: cp.sum(cp.rel_entr(x, prior)),
        }[kind]()
        cons += [d <= mixture_set.radius]
    return cons


def _scaled_ball(mixture_set: Any) -> tuple[cp.Variable, float, list[Any]]:
    """A χ² or KL ball written around its prior at its own scale: λ = λ0 + s·y, s = √r.

    The constraint then reads D(λ0 + s y, λ0)/r ≤ 1 with every term of order one (KL as
    Σ kl_div, whose terms are non-negative, instead of Σ rel_entr, whose terms cancel), so the
    conic solve keeps its accuracy on balls of any radius, tiny ones included.
    """
    prior, r = mixture_set.prior, float(mixture_set.radius)
    s = float(np.sqrt(r))
    y = cp.Variable(mixture_set.p)
    x = prior + s * y
    if kind_of(mixture_set) == "chi2":
        d = cp.sum(cp.multiply(1.0 / prior, cp.square(y)))
    else:
        d = cp.sum(cp.kl_div(x, prior)) / r
    return y, s, [x >= 0, cp.sum(y) == 0, d <= 1]


def _solve(problem: cp.Problem) -> None:
    with warnings.catch_warnings():
        # Against tolerances this tight Clarabel sometimes reports "almost solved" (still
        # accurate to ~1e-9); cvxpy then warns, which the test configuration would make fatal.
        warnings.simplefilter("ignore")
        try:
            problem.solve(solver=cp.CLARABEL, **_CLARABEL)
        except cp.SolverError:
            problem.solve(solver=cp.CLARABEL)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise AssertionError(f"reference cvxpy solve failed with status {problem.status!r}")


def _linprog_max(mixture_set: Any, g: np.ndarray) -> float:
    """max ⟨g, λ⟩ over a polyhedral set with HiGHS (g already normalized to [-1, 1])."""
    p = mixture_set.p
    kind = kind_of(mixture_set)
    opts = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    if kind == "l1":
        # Variables (λ, d): |λ - λ0| ≤ d, Σd ≤ r, λ ≥ 0, Σλ = 1.
        eye = np.eye(p)
        a_ub = np.block([[eye, -eye], [-eye, -eye], [np.zeros((1, p)), np.ones((1, p))]])
        prior = mixture_set.prior
        b_ub = np.concatenate([prior, -prior, [mixture_set.radius]])
        a_eq = np.concatenate([np.ones((1, p)), np.zeros((1, p))], axis=1)
        res = linprog(
            np.concatenate([-g, np.zeros(p)]),
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=a_eq,
            b_eq=[1.0],
            bounds=[(0, None)] * (2 * p),
            method="highs",
            options=opts,
        )
    else:
        a_ub = b_ub = None
        bounds: list[tuple[float, float | None]] = [(0.0, None)] * p
        if kind == "box":
            bounds = list(zip(mixture_set.lower, mixture_set.upper, strict=True))
        if kind == "polytope":
            a_ub, b_ub = mixture_set.A, mixture_set.b
        res = linprog(
            -g,
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=np.ones((1, p)),
            b_eq=[1.0],
            bounds=bounds,
            method="highs",
            options=opts,
        )
    if res.status != 0:
        raise AssertionError(f"reference LP over {describe(mixture_set)} failed: {res.message}")
    return float(-res.fun)


def _kl_dual_max(mixture_set: Any, g: np.ndarray) -> float:
    """max ⟨g, λ⟩ over the KL ball by its one-dimensional dual (Donsker–Varadhan).

    ``max {⟨g, λ⟩ : KL(λ ‖ λ0) ≤ r} = min_{β>0} β r + β log Σ λ0_i exp(g_i / β)``, a convex
    function of β; minimized over log β by bounded Brent search. Exact where a conic solver
    struggles (tiny radii, nearly degenerate priors), and independent of the library's primal
    exponential-tilt search.
    """
    prior, r = mixture_set.prior, float(mixture_set.radius)
    support = prior > 0
    logp, gs = np.log(prior[support]), g[support]

    def dual(log_beta: float) -> float:
        beta = float(np.exp(log_beta))
        return beta * r + beta * float(logsumexp(gs / beta + logp))

    res = minimize_scalar(
        dual, bounds=(-40.0, 40.0), method="bounded", options={"xatol": 1e-12, "maxiter": 2000}
    )
    # The minimum may sit at β → 0 (the ball reaches the best face): the bracket's end then
    # approximates it to about e^-40.
    return float(min(res.fun, dual(-40.0)))


def linear_max(mixture_set: Any, g: Any) -> float:
    """Independent ``max_{λ∈Λ} ⟨g, λ⟩`` (the support function of the set at ``g``).

    The simplex uses the closed form max(g) and a ball of radius 0 ⟨g, λ0⟩; polyhedral sets
    use HiGHS; the χ² ball uses cvxpy on the rescaled ball; the KL ball its one-dimensional
    dual. ``g`` is first shifted and scaled to [-1, 1] (exact: Σλ = 1 makes the max
    move by the shift, and it is positively homogeneous), so huge and tiny vectors are solved
    as accurately as ordinary ones.
    """
    g = to_numpy(g)
    if g.shape != (mixture_set.p,):
        raise AssertionError(f"linear_max: g has shape {g.shape}, expected ({mixture_set.p},)")
    hi, lo = float(g.max()), float(g.min())
    centre, half = 0.5 * (hi + lo), 0.5 * (hi - lo)
    if half == 0.0 or kind_of(mixture_set) == "simplex":
        return hi if kind_of(mixture_set) == "simplex" else centre
    unit = (g - centre) / half
    if isinstance(mixture_set, PriorBall) and mixture_set.radius == 0.0:
        return float(g @ mixture_set.prior)  # the ball is the single point λ0
    if not is_conic(mixture_set):
        return centre + half * _linprog_max(mixture_set, unit)
    if kind_of(mixture_set) == "kl":
        return centre + half * _kl_dual_max(mixture_set, unit)
    y, s, constraints = _scaled_ball(mixture_set)  # χ²: max ⟨g, λ0⟩ + s·max ⟨g, y⟩
    problem = cp.Problem(cp.Maximize(unit @ y), constraints)
    _solve(problem)
    return centre + half * float(unit @ mixture_set.prior + s * problem.value)


def reference_projection(mixture_set: Any, v: Any) -> np.ndarray:
    """Euclidean projection of one vector onto the set, solved by cvxpy from its description.

    A point of the set is returned as it is (Π(v) = v there, exactly). Otherwise: polyhedral
    sets use OSQP with solution polishing (an active-set solve of the KKT system), exact to
    ~1e-12 at vertices and edges where interior-point answers stop at ~1e-6; χ² and KL balls
    use Clarabel on the ball rescaled to unit size, accurate to ~1e-7 (χ²) and ~1e-5 (KL, on
    tiny radii). ``v`` is centred first (Π(v + c·1) = Π(v) on any subset of Σλ = 1).
    """
    v = to_numpy(v)
    if isinstance(mixture_set, PriorBall) and mixture_set.radius == 0.0:
        return mixture_set.prior.copy()  # the ball is the single point λ0
    if v.min() >= 0 and v.sum() == 1.0 and constraint_violation(mixture_set, v) <= 0:
        return v.copy()
    v = v - v.mean()
    if is_conic(mixture_set):
        y, s, constraints = _scaled_ball(mixture_set)
        target = (v - mixture_set.prior) / s
        _solve(cp.Problem(cp.Minimize(cp.sum_squares(y - target)), constraints))
        return np.asarray(mixture_set.prior + s * y.value, dtype=np.float64)
    x = cp.Variable(mixture_set.p)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - v)), _cvxpy_constraints(mixture_set, x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(
            solver=cp.OSQP, eps_abs=1e-12, eps_rel=1e-12, polishing=True, max_iter=200_000
        )
    if problem.status != "optimal":
        _solve(problem)
    return np.asarray(x.value, dtype=np.float64)


# --------------------------------------------------------------------------- optimality


def assert_projection_optimal(mixture_set: Any, v: Any, proj: Any, tol: float = 1e-7) -> None:
    """Assert that ``proj`` is the Euclidean projection of ``v`` onto the set.

    Checks π ∈ Λ and the variational inequality ``max_{λ∈Λ} ⟨v − π, λ − π⟩ ≤ slack``, the max
    computed by :func:`linear_max` (an LP or conic solve independent of the library). Works on one
    vector or on matching batches (rows checked one by one); numpy or torch.

    Tolerances: π is known only up to the round-off of representing v in float64, about
    ``δ = 16·p·ε·‖v‖_∞`` (the projection is 1-Lipschitz), so membership is checked with atol
    ``tol + δ`` and the inequality with ``slack = (tol + δ)·max(1, ‖v − π‖_∞)``. For ‖v‖ ≲ 1e4
    the round-off term is negligible and ``tol`` alone decides.
    """
    vs, ps = _rows(v, mixture_set.p), _rows(proj, mixture_set.p)
    if vs.shape != ps.shape:
        raise AssertionError(f"projection has shape {ps.shape}, input {vs.shape}")
    for i, (vi, pi) in enumerate(zip(vs, ps, strict=True)):
        round_off = 16 * mixture_set.p * np.finfo(np.float64).eps * float(np.abs(vi).max())
        assert_in_set(mixture_set, pi, atol=tol + round_off)
        g = vi - pi
        slack = (tol + round_off) * max(1.0, float(np.abs(g).max()))
        gap = linear_max(mixture_set, g) - float(g @ pi)
        if gap > slack:
            raise AssertionError(
                f"projection of row {i} onto {describe(mixture_set)} is not optimal: "
                f"max over Λ of <v - π, λ - π> = {gap:.3g} > allowed {slack:.3g}\n"
                f"  v = {vi}\n  π = {pi}"
            )


def assert_worst_case_optimal(mixture_set: Any, ell: Any, result: Any, tol: float = 1e-7) -> None:
    """Assert that ``result = (value, weights)`` is the worst case of ``ell`` over the set.

    Checks: ``weights`` lies in Λ (atol ``tol``); ``value = ⟨weights, ℓ⟩``; and ``value``
    equals the independent maximum :func:`linear_max`; both within
    ``tol · max(1, ‖ℓ‖_∞)``.
    """
    ell = to_numpy(ell)
    value, weights = float(result[0]), to_numpy(result[1])
    if weights.shape != (mixture_set.p,):
        raise AssertionError(f"worst-case weights have shape {weights.shape}")
    assert_in_set(mixture_set, weights, atol=tol)
    scale = max(1.0, float(np.abs(ell).max()))
    attained = float(weights @ ell)
    if abs(value - attained) > tol * scale:
        raise AssertionError(
            f"worst-case value {value!r} differs from <weights, ℓ> = {attained!r} by "
            f"{abs(value - attained):.3g} > {tol:g}·{scale:.3g} ({describe(mixture_set)})"
        )
    reference = linear_max(mixture_set, ell)
    if abs(value - reference) > tol * scale:
        raise AssertionError(
            f"worst-case value {value!r} differs from the independent maximum {reference!r} by "
            f"{abs(value - reference):.3g} > {tol:g}·{scale:.3g}\n"
            f"  set = {describe(mixture_set)}\n  ℓ = {ell}\n  weights = {weights}"
        )


# --------------------------------------------------------------------------- agreement


def assert_agree(a: Any, b: Any, *, rtol: float = 1e-7, atol: float = 0.0, what: str) -> None:
    """Assert that two implementations give the same array: shape and values.

    Values agree when ``|a − b| ≤ atol + rtol·|b|`` entrywise (``b`` is the reference). Accepts
    numpy arrays, torch tensors (any dtype and device), sequences and scalars. The message names
    ``what`` and the largest discrepancy with its index.
    """
    x, y = to_numpy(a), to_numpy(b)
    if x.shape != y.shape:
        raise AssertionError(f"{what}: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return
    same_nan = np.isnan(x) & np.isnan(y)
    same_inf = np.isinf(x) & (x == y)
    diff = np.where(same_nan | same_inf, 0.0, np.abs(x - y))
    diff = np.where(np.isnan(diff), np.inf, diff)
    allowed = atol + rtol * np.where(np.isfinite(y), np.abs(y), 0.0)
    excess = diff - allowed
    if np.any(excess > 0):
        idx = np.unravel_index(int(np.argmax(excess)), x.shape)
        raise AssertionError(
            f"{what}: {int(np.sum(excess > 0))} of {x.size} entries disagree; largest "
            f"discrepancy {diff[idx]:.3g} at index {tuple(int(i) for i in idx)} "
            f"({x[idx]!r} vs {y[idx]!r}; allowed {allowed[idx]:.3g} = atol {atol:g} + "
            f"rtol {rtol:g}·|reference|)"
        )


# --------------------------------------------------------------------------- weight rules


def assert_rule_keeps_feasible(
    rule: WeightRule,
    mixture_set: Any,
    loss_sequence: Iterable[Any],
    atol: float = 1e-9,
) -> tuple[WeightState, list[np.ndarray]]:
    """Run a weight rule over ``loss_sequence`` and assert every iterate stays in the set.

    Checks after ``init`` and after each update: ``state.weights`` is in Λ (and
    ``state.average`` for :class:`~almo.weights.Averaged`), ``state.step`` counts 0, 1, 2, …,
    the state keeps the set, and the previous state is left untouched (updates are pure).

    Returns
    -------
    (final state, iterates)
        ``iterates`` holds λ_0 (from init), λ_1, …, as float64 copies.
    """
    state = rule.init(mixture_set)
    name = f"{rule!r} on {describe(mixture_set)}"
    iterates = [to_numpy(state.weights)]

    def check(state: WeightState, t: int, ell: Any) -> None:
        at = f"{name}, step {t}" + ("" if ell is None else f", ℓ = {to_numpy(ell)}")
        if state.step != t:
            raise AssertionError(f"{at}: state.step is {state.step}, expected {t}")
        if state.mixture_set is not mixture_set:
            raise AssertionError(f"{at}: the state lost its mixture set")
        try:
            assert_in_set(mixture_set, state.weights, atol)
            if isinstance(state, AveragedState):
                assert_in_set(mixture_set, state.average, atol)
        except AssertionError as err:
            raise AssertionError(f"{at}: {err}") from None

    check(state, 0, None)
    for t, ell in enumerate(loss_sequence, start=1):
        before = to_numpy(state.weights)
        new = rule.update(state, ell)
        if not np.array_equal(to_numpy(state.weights), before):
            raise AssertionError(f"{name}, step {t}: update mutated the previous state")
        check(new, t, ell)
        state = new
        iterates.append(to_numpy(state.weights))
    return state, iterates


# --------------------------------------------------------------------------- strategies


def _probability_vector(draw: Any, p: int, min_entry: float) -> np.ndarray:
    raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=p, max_size=p)))
    if raw.sum() <= 0:
        raw = np.ones(p)
    w = raw / raw.sum()
    return (1.0 - p * min_entry) * w + min_entry if min_entry > 0 else w


def _radii(largest: float) -> st.SearchStrategy[float]:
    # Radius 0 (a single point) or at least 1e-6: radii of round-off size are tested apart.
    return st.one_of(st.just(0.0), st.floats(1e-6, largest))


def projectable(mixture_set: Any) -> bool:
    """Whether property tests may project onto the set: every kind now, the KL ball of radius
    0 included (its projection is the prior); kept as the one place to exclude a set again."""
    return True


@st.composite
def mixture_sets(draw: Any, p: int, kinds: Sequence[str] = KINDS) -> Any:
    """A mixture set of dimension ``p``, of a kind drawn from ``kinds`` (see :data:`KINDS`).

    - ``box``: random lower bounds with Σ lower ≤ 1 and upper bounds with Σ upper ≥ 1; some
      entries unbounded (upper bound inf, or 1 or 3, inactive on the simplex), some bounded; the
      set may shrink to a single point.
    - ``polytope``: one to three random rows A, with b chosen so a random interior point has
      slack in each row.
    - ``l1``: prior on the simplex (zeros allowed), radius 0 or in [1e-6, 2.2].
    - ``chi2``, ``kl``: prior with every entry ≥ 0.02/p, radius 0 or in [1e-6, 2].
    """
    kind = draw(st.sampled_from(list(kinds)))
    if kind == "simplex":
        return Simplex(p)
    if kind == "box":
        share = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=p, max_size=p)))
        total_lower = draw(st.floats(0.0, 1.0))
        lower = total_lower * share / max(share.sum(), 1.0) if share.sum() > 0 else share
        unbounded = draw(st.lists(st.booleans(), min_size=p, max_size=p))
        width = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=p, max_size=p)))
        upper = np.where(unbounded, draw(st.sampled_from([1.0, 3.0, np.inf])), lower + width)
        if upper.sum() < 1.0:  # widen every finite bound until a mixture fits
            room = np.where(unbounded, 0.0, 1.0)
            if room.sum() == 0:
                room = np.ones(p)
            upper = upper + room * (1.0 - upper.sum()) / room.sum() + 1e-9
        return BoxSimplex(lower, upper)
    if kind == "polytope":
        m = draw(st.integers(1, 3))
        a = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=m * p, max_size=m * p)))
        a = np.where(np.abs(a) < 1e-6, 0.0, a).reshape(m, p)  # no entries of round-off size
        inside = _probability_vector(draw, p, 0.0)
        slack = np.array(draw(st.lists(st.floats(0.01, 0.5), min_size=m, max_size=m)))
        return Polytope(a, a @ inside + slack)
    if kind == "l1":
        prior = _probability_vector(draw, p, 0.0)
        return PriorBall(prior, draw(_radii(2.2)), "l1")
    prior = _probability_vector(draw, p, 0.02 / p)
    return PriorBall(prior, draw(_radii(2.0)), kind)


DEFAULT_MAGNITUDES = (1e-9, 1.0, 1e3, 1e8)


@st.composite
def loss_vectors(draw: Any, p: int, magnitudes: Sequence[float] = DEFAULT_MAGNITUDES) -> np.ndarray:
    """A float64 loss vector of length ``p``: entries in [-1, 1] times a magnitude each.

    Each entry's magnitude is drawn from ``magnitudes`` (by default tiny 1e-9, ordinary 1,
    large 1e3 and huge 1e8), so vectors mix signs and scales; exact ties and zeros occur too.
    Unit parts below 1e-12 are flushed to 0, so no entry is subnormal.
    """
    unit = st.one_of(st.floats(-1.0, 1.0), st.sampled_from([0.0, 1.0, -1.0, 0.5]))
    values = np.array(draw(st.lists(unit, min_size=p, max_size=p)), dtype=np.float64)
    values[np.abs(values) < 1e-12] = 0.0
    scales = draw(st.lists(st.sampled_from(list(magnitudes)), min_size=p, max_size=p))
    return values * np.array(scales, dtype=np.float64)


def poly_weights(n: int, power: float) -> np.ndarray:
    """Weights of iterates 0..n-1 in the polynomial-decay average with exponent ``power``.

    Unrolled from its definition: iterate s enters with rate r_s = (η+1)/(s+η+1) (r_0 = 1) and
    every later step keeps a share 1 − r_u of it; η = 0 gives the plain mean 1/n.
    """
    rates = np.array([1.0] + [(power + 1.0) / (s + power + 1.0) for s in range(1, n)])
    keep = np.concatenate([np.cumprod((1.0 - rates[1:])[::-1])[::-1], [1.0]])
    return rates * keep


def poly_average(iterates: Any, power: float) -> Any:
    """The polynomial-decay average of a list of arrays or tensors, by its weights."""
    w = poly_weights(len(iterates), power)
    return sum(float(wi) * it for wi, it in zip(w, iterates, strict=True))


def grouped_classification(
    n: int, d: int, *, share: float, noise: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes from a noisy linear rule, and a minority group (about ``share`` of the
    rows) whose labels lean to class 2: a small convex instance with two groups that disagree."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    g = (rng.random(n) < share).astype(int)
    w = rng.normal(size=(d, 3))
    y = np.argmax(x @ w + noise * rng.normal(size=(n, 3)) + g[:, None] * [0.0, 0.0, 1.0], axis=1)
    return x, y, g


# --------------------------------------------------------------------------- any magnitude


EXTREME_MAGNITUDES = (1e-300, 1e-9, 1.0, 1e3, 1e8, 1e300)


def assert_projection_exact(mixture_set: Any, v: Any, proj: Any, tol: float = 1e-7) -> None:
    """Assert that ``proj`` is the projection of ``v`` at any magnitude of ``v`` (1e-300 … 1e300).

    Unlike :func:`assert_projection_optimal`, membership is checked with an absolute 1e-9
    (relative to the set, whose entries are at most 1), not widened by ``‖v‖``; and the
    variational inequality is checked on the direction ``u = (v − π)/G``, ``G = max(1, ‖v − π‖_∞)``:
    ``max_{λ∈Λ} ⟨u, λ − π⟩ ≤ tol + 16·p·ε·‖v‖_∞/G``, where the last term is the rounding of
    forming ``v − π`` (about ε when v is huge, negligible when it is small). No step overflows.
    """
    vs, ps = _rows(v, mixture_set.p), _rows(proj, mixture_set.p)
    if vs.shape != ps.shape:
        raise AssertionError(f"projection has shape {ps.shape}, input {vs.shape}")
    eps = np.finfo(np.float64).eps
    for i, (vi, pi) in enumerate(zip(vs, ps, strict=True)):
        if not np.all(np.isfinite(pi)):
            raise AssertionError(f"projection of row {i} is not finite: {pi}")
        assert_in_set(mixture_set, pi, atol=1e-9)
        with np.errstate(over="ignore"):
            g = vi - pi
        size = max(1.0, float(np.abs(g).max()))
        u = vi / size - pi / size
        allowed = tol + 16 * mixture_set.p * eps * float(np.abs(vi).max()) / size
        gap = linear_max(mixture_set, u) - float(u @ pi)
        if gap > allowed:
            raise AssertionError(
                f"projection of row {i} onto {describe(mixture_set)} is not optimal: "
                f"max over Λ of <u, λ - π> = {gap:.3g} > allowed {allowed:.3g}\n"
                f"  v = {vi}\n  π = {pi}"
            )


def reference_kl_projection(mixture_set: Any, q: Any) -> np.ndarray | None:
    """argmin over the set of KL(x ‖ q), solved by cvxpy (Clarabel) from the set's description
    as this module writes it; None when the cone solver fails (degenerate sets). Good to ~1e-6."""
    q = np.maximum(to_numpy(q), 1e-12)
    x = cp.Variable(mixture_set.p, nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.sum(cp.kl_div(x, q))), _cvxpy_constraints(mixture_set, x))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem.solve(solver=cp.CLARABEL)
    except cp.error.SolverError:
        return None
    if problem.status not in ("optimal", "optimal_inaccurate") or x.value is None:
        return None
    return np.asarray(x.value, dtype=np.float64)
