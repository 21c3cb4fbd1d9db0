"""The abstract mixture set: input checks, numpy/torch handling, and the cvxpy interface.

A set implements two numpy hooks — ``_project_np`` and ``_worst_case_np`` — and may describe
itself to cvxpy (``cvxpy_constraints``, ``support_function``). The solvers ask the set, never
its class: a user-defined set with only the two hooks works everywhere (the certified solver
reaches it through ``worst_case`` and ``project``).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import torch

from almo._validation import check_finite_losses, fail

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = ["MixtureSet", "WorstCase"]


class WorstCase(NamedTuple):
    """Result of :meth:`MixtureSet.worst_case`: the max of ⟨λ, ℓ⟩ over Λ and a maximizer.

    Examples
    --------
    >>> from almo.mixtures import Simplex
    >>> Simplex(2).worst_case([0.1, 0.7]).value
    0.7
    """

    value: float
    weights: np.ndarray


class MixtureSet(abc.ABC):
    """Abstract base of the mixture sets Λ (convex subsets of the simplex Δ_p).

    The public methods check inputs once and convert between numpy and torch, so every set
    treats bad input and tensors alike. A subclass sets ``p`` and implements:

    - ``_project_np(v)``: the Euclidean projection of the rows of a float64 array of shape
      (n, p), same shape out (abstract);
    - ``_worst_case_np(ell)``: a maximizer of ⟨λ, ℓ⟩ over Λ for a finite float64 ℓ of shape
      (p,) (abstract);
    - optionally ``_contains_np(w, atol)`` (the set's own constraints, checked after λ ≥ 0 and
      Σλ = 1; default: none), ``_uniform()`` (a feasible centre; default: the uniform
      mixture, which must then lie in Λ), and the cvxpy description below.

    cvxpy interface, used by the certified solver :func:`almo.solve_linear`:

    - :meth:`cvxpy_constraints` describes Λ as constraints on a cvxpy vector. The base class
      raises ``NotImplementedError``: the set has no conic description, and the solvers fall
      back to what every set has — the cvxpy method runs a cutting-plane loop on
      ``worst_case``, the dual Newton method projects with ``project``.
    - :meth:`support_function` gives σ_Λ(t) = max over λ ∈ Λ of ⟨λ, t⟩ as a convex cvxpy
      expression. The base class derives it from :meth:`cvxpy_constraints` by conic duality
      (cvxpy's ``SuppFunc``); the library's sets write their dual by hand, which gives the
      solver a smaller problem.
    - ``has_fast_projection``: True when ``project`` is a closed form or a sort (microseconds),
      so a solver may call it thousands of times; False sends the solvers to the set's conic
      description where it has one.

    Examples
    --------
    A box written by hand, known to the solvers only through its two hooks:

    >>> import numpy as np
    >>> from almo.mixtures import BoxSimplex
    >>> class Capped(MixtureSet):  # λ ≤ 0.5 on the simplex
    ...     def __init__(self, p):
    ...         self.p, self._box = p, BoxSimplex(0.0, 0.5, p=p)
    ...
    ...     def _project_np(self, v):
    ...         return self._box.project(v)
    ...
    ...     def _worst_case_np(self, ell):
    ...         return self._box.worst_case(ell).weights
    >>> Capped(3).worst_case([0.3, 0.1, 0.2]).weights.tolist()
    [0.5, 0.0, 0.5]
    >>> Capped(3).project(np.array([1.0, 0.0, 0.0])).tolist()
    [0.5, 0.25, 0.25]
    """

    p: int
    has_fast_projection: ClassVar[bool] = False

    # ------------------------------------------------------------------ public contract
    def project(self, v: Any) -> Any:
        """Euclidean projection of ``v`` (shape (..., p), numpy or torch) onto the set.

        Returns the same type, dtype (float32 or float64) and device as ``v``.

        Examples
        --------
        >>> import numpy as np
        >>> from almo.mixtures import Simplex
        >>> Simplex(2).project(np.array([1.0, 0.5])).tolist()
        [0.75, 0.25]
        """
        v = self._check_points(v)
        if isinstance(v, torch.Tensor):
            return self._project_torch(v)
        arr = v
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        work = arr.astype(np.float64, copy=False).reshape(-1, self.p)
        return self._project_np(work).reshape(arr.shape).astype(dtype, copy=False)

    def worst_case(self, losses: Any) -> WorstCase:
        """Exact ``max_{λ∈Λ} ⟨λ, ℓ⟩`` and a maximizer, for a loss vector of shape (p,).

        Examples
        --------
        >>> import numpy as np
        >>> from almo.mixtures import Simplex
        >>> Simplex(3).worst_case(np.array([0.2, 0.9, 0.4])).weights.tolist()
        [0.0, 1.0, 0.0]
        """
        ell = _as_float64(losses, "losses")
        if ell.shape != (self.p,):
            raise fail(
                "losses",
                f"have shape ({self.p},), one loss per objective",
                f"shape {ell.shape}",
                f"pass {self.p} losses",
            )
        check_finite_losses(ell, where=f"{type(self).__name__}.worst_case")
        weights = np.asarray(self._worst_case_np(ell), dtype=np.float64)
        return WorstCase(float(weights @ ell), weights)

    def contains(self, weights: Any, atol: float = 1e-9) -> bool:
        """Whether ``weights`` (shape (p,)) lies in the set, up to ``atol``.

        Examples
        --------
        >>> from almo.mixtures import Simplex
        >>> Simplex(2).contains([0.3, 0.7]), Simplex(2).contains([0.3, 0.6])
        (True, False)
        """
        w = _as_float64(weights, "weights")
        if w.shape != (self.p,):
            raise fail(
                "weights", f"have shape ({self.p},)", f"shape {w.shape}", f"pass {self.p} weights"
            )
        if not np.all(np.isfinite(w)) or w.min() < -atol or abs(w.sum() - 1.0) > atol:
            return False
        return bool(self._contains_np(w, atol))

    def uniform(self) -> np.ndarray:
        """A feasible centre point of the set (float64, shape (p,)).

        Examples
        --------
        >>> from almo.mixtures import Simplex
        >>> Simplex(4).uniform().tolist()
        [0.25, 0.25, 0.25, 0.25]
        """
        return np.array(self._uniform(), dtype=np.float64)

    def kl_project(self, q: Any) -> np.ndarray:
        """The KL (Bregman) projection argmin over λ ∈ Λ of KL(λ ‖ q), for q in the simplex.

        The map-back of entropic mirror steps (:class:`~almo.weights.ExponentiatedAscent`):
        with it the mirror step on Λ is mirror descent proper, whose iterates converge to the
        worst case, where a Euclidean map-back can stall at a point that is not. The base class
        solves it with cvxpy (exponential cone) on :meth:`cvxpy_constraints`; sets with a closed
        form override it (:class:`Simplex`: q itself; :class:`BoxSimplex`: clip(c·q, l, u));
        a set without a conic description, or one on which the cone solver fails (a single
        point, say), falls back to its Euclidean projection.

        Parameters
        ----------
        q : array of shape (p,)
            Non-negative weights summing to 1 (entries 0 allowed: λ_k is then as small as the
            set allows).

        Returns
        -------
        ndarray (p,), float64, in Λ.

        Examples
        --------
        >>> from almo.mixtures import PriorBall
        >>> ball = PriorBall([0.5, 0.3, 0.2], radius=0.1, divergence="l1")
        >>> lam = ball.kl_project([0.9, 0.05, 0.05])
        >>> bool(ball.contains(lam, atol=1e-7)), lam.round(3).tolist()
        (True, [0.55, 0.25, 0.2])
        """
        q = _vector("q", q, self.p)
        if np.any(q < 0) or not np.isfinite(q).all() or q.sum() <= 0:
            raise fail(
                "q", "be finite, non-negative and not all 0", q, "pass a point of the simplex"
            )
        q = q / q.sum()
        if self.contains(q, atol=1e-12):
            return q
        try:
            import cvxpy as cp

            lam = cp.Variable(self.p, nonneg=True)
            cons = self.cvxpy_constraints(lam)
        except NotImplementedError:
            return np.asarray(self.project(q), dtype=np.float64)
        from almo._cvxpy import solve
        from almo.exceptions import SolverError

        floor = np.maximum(q, 1e-12)  # below it the cone solver loses its footing
        objective = cp.Minimize(cp.sum(cp.kl_div(lam, floor)))
        try:
            solve(cp.Problem(objective, cons), "the KL projection onto the mixture set")
        except SolverError:  # degenerate sets (a single point, say): the Euclidean map-back
            return np.asarray(self.project(q), dtype=np.float64)
        out = np.maximum(np.asarray(lam.value, dtype=np.float64), 0.0)
        return np.asarray(self.project(out), dtype=np.float64)  # polish onto Λ to 1e-12

    # ------------------------------------------------------------------ cvxpy interface
    def cvxpy_constraints(self, lam: cp.Expression) -> list[cp.Constraint]:
        """Constraints stating ``lam ∈ Λ``, λ ≥ 0 and Σλ = 1 included.

        ``lam`` is an affine cvxpy expression of shape (p,) (a variable, or a variable plus a
        parameter); the constraints follow cvxpy's DCP (and DPP) rules.

        Raises
        ------
        NotImplementedError
            In the base class: the set has no conic description (see the class notes for what
            the solvers do instead).

        Examples
        --------
        >>> import cvxpy as cp
        >>> from almo.mixtures import BoxSimplex
        >>> lam = cp.Variable(2)
        >>> cons = BoxSimplex(lower=[0.2, 0.0], upper=[1.0, 1.0]).cvxpy_constraints(lam)
        >>> round(float(cp.Problem(cp.Maximize(lam[1]), cons).solve(solver=cp.CLARABEL)), 6)
        0.8
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no cvxpy description: override `cvxpy_constraints` to "
            "give one; without it the solvers use the set's `worst_case` and `project` only"
        )

    def support_function(self, t: cp.Expression) -> tuple[cp.Expression, list[cp.Constraint]]:
        """σ_Λ(t) = max over λ ∈ Λ of ⟨λ, t⟩ as a convex expression plus auxiliary constraints.

        σ_Λ is convex and, Λ lying in the non-negative orthant, nondecreasing in ``t`` (an
        affine cvxpy expression of shape (p,)); minimizing it, or bounding it from above, is
        DCP. The base class dualizes :meth:`cvxpy_constraints` with cvxpy's ``SuppFunc``.

        Returns
        -------
        (expression, constraints)
            σ_Λ(t) is the minimum of ``expression`` over the auxiliary variables subject to
            ``constraints`` (an empty list when the expression needs none).

        Raises
        ------
        NotImplementedError
            When the set has no :meth:`cvxpy_constraints`.

        Examples
        --------
        >>> import cvxpy as cp
        >>> import numpy as np
        >>> from almo.mixtures import PriorBall
        >>> ball = PriorBall([0.5, 0.3, 0.2], radius=0.2)
        >>> t = cp.Variable(3)
        >>> sigma, cons = ball.support_function(t)
        >>> prob = cp.Problem(cp.Minimize(sigma), [*cons, t == np.array([1.0, 3.0, 2.0])])
        >>> round(float(prob.solve(solver=cp.CLARABEL)), 6), ball.worst_case([1, 3, 2]).value
        (2.0, 2.0)
        """
        import cvxpy as cp
        from cvxpy.transforms.suppfunc import SuppFunc

        lam = cp.Variable(self.p)
        return SuppFunc(lam, self.cvxpy_constraints(lam))(t), []

    # ------------------------------------------------------------------ hooks and helpers
    @abc.abstractmethod
    def _project_np(self, v: np.ndarray) -> np.ndarray:
        """Project the rows of ``v`` (float64, shape (n, p)) onto the set."""

    @abc.abstractmethod
    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        """A maximizer over the set of ⟨λ, ell⟩ (ell finite float64 of shape (p,))."""

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        return True

    def _uniform(self) -> np.ndarray:
        return np.full(self.p, 1.0 / self.p)

    def _project_torch(self, v: torch.Tensor) -> torch.Tensor:
        # Sets solved on the CPU in float64 (cvxpy, nested searches) go through numpy.
        work = v.detach().to("cpu", torch.float64).numpy().reshape(-1, self.p)
        out = self._project_np(work).reshape(tuple(v.shape))
        return torch.as_tensor(out).to(device=v.device, dtype=v.dtype)

    def _check_points(self, v: Any) -> Any:
        """``v`` as a real array or tensor (integers become floats), or a clear error."""
        if isinstance(v, torch.Tensor):
            if v.is_complex():
                raise _not_real("v", str(v.dtype))
            if not v.dtype.is_floating_point:  # integers: project their float values
                v = v.to(torch.get_default_dtype())
        else:
            v = _real_array("v", v)
        shape = tuple(v.shape)
        if len(shape) == 0 or shape[-1] != self.p:
            raise fail(
                "v",
                f"have shape (..., {self.p}), one entry per objective last",
                f"shape {shape}",
                f"pass an array whose last axis has {self.p} entries",
            )
        if isinstance(v, torch.Tensor):
            finite = bool(torch.isfinite(v).all())
        else:
            # One sum is cheaper than an isfinite pass and is finite whenever all entries are.
            with np.errstate(over="ignore", invalid="ignore"):
                finite = bool(np.isfinite(v.sum())) or bool(np.isfinite(v).all())
        if not finite:
            raise fail(
                "v",
                "be finite (no NaN or inf)",
                "a non-finite entry",
                "check the update that produced it, e.g. lower the step size",
            )
        return v


def _not_real(name: str, found: str) -> Exception:
    return fail(
        name,
        "hold real numbers (float or integer)",
        f"dtype {found}",
        f"pass a float array for `{name}`; take .real of complex values only if that is meant",
    )


def _real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a numpy array of real numbers (bool, int or float), or a clear error."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise fail(
            name, "be an array of numbers", value, f"pass a rectangular float array for `{name}`"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise _not_real(name, str(arr.dtype))
    return arr


def _as_float64(x: Any, name: str = "v") -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise _not_real(name, str(x.dtype))
        x = x.detach().cpu()
    return _real_array(name, x).astype(np.float64, copy=False)


def _vector(name: str, value: Any, p: int | None = None, *, allow_inf: bool = False) -> np.ndarray:
    """A float64 vector (scalars broadcast to length ``p``), finite or +inf, or a clear error."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(name, "be an array of numbers", value, "pass a 1-D float array") from None
    if arr.ndim == 0 and p is not None:
        arr = np.full(p, float(arr))
    if arr.ndim != 1 or arr.size == 0:
        raise fail(
            name,
            "be a non-empty 1-D array",
            f"shape {arr.shape}",
            f"pass one value per objective, e.g. np.full(p, {name}_value)",
        )
    ok = np.isfinite(arr) | (allow_inf & (arr == np.inf))
    if not np.all(ok):
        rule = "be finite or +inf (no NaN or -inf)" if allow_inf else "be finite (no NaN or inf)"
        raise fail(name, rule, arr, f"replace the NaN/inf in `{name}`")
    return arr
