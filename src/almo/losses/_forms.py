"""Convex forms: a loss as a convex function of a linear model's scores, in float64 numpy.

A :class:`ScoreLoss` is what the certified solver needs of one loss on one task: the value, a
(sub)gradient and a (generalized) Hessian in the scores, the convex conjugate ``f*`` with its
domain (``clip``, ``room``), which the dual certificate uses, and the same sum as a cvxpy
expression. Scores are always 2-D, ``S`` of shape (m, C): C ≥ 3 for multiclass models, C = 1
for binary models (one score ``s`` read as the logits ``(0, s)``, as in :mod:`almo.losses`) and
for regression. Each loss's forms live next to its torch function; this module holds the shared
base, the targets and the two kinds of dual domain.

Conjugates are stated for the unit weight (``(c f)*(α) = c f*(α / c)``). ``room(u)`` (m, C) is
how far each coordinate of ``u`` may move without leaving the domain — by moves that keep
``Σ_c u_c`` fixed when ``sum_zero`` is set; the certificate uses it to restore the dual's linear
constraints exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from almo.projections import project_simplex


@dataclass(frozen=True)
class Targets:
    """Targets of m samples in the forms the losses read.

    ``labels`` (m,) int class index (classification); ``onehot`` (m, C) for multiclass;
    ``sign`` (m,) y± in {−1, +1} for binary; ``value`` (m,) float regression target (and y± for
    binary models, which the margin form of ``squared`` reads).

    Examples
    --------
    >>> Targets.of_labels(np.array([0, 1, 1]), n_classes=2).sign.tolist()
    [-1.0, 1.0, 1.0]
    >>> Targets.of_labels(np.array([2, 0]), n_classes=3).onehot.tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    labels: np.ndarray | None = None
    onehot: np.ndarray | None = None
    sign: np.ndarray | None = None
    value: np.ndarray | None = None

    @classmethod
    def of_labels(cls, labels: np.ndarray, n_classes: int) -> Targets:
        """Class indices in [0, n_classes): binary (n_classes = 2) or multiclass targets."""
        labels = np.asarray(labels)
        if n_classes == 2:
            sign = 2.0 * labels - 1.0
            return cls(labels=labels, sign=sign, value=sign)
        return cls(labels=labels, onehot=np.eye(n_classes)[labels])

    @classmethod
    def of_values(cls, values: np.ndarray) -> Targets:
        """Regression targets (m,)."""
        return cls(value=np.asarray(values, dtype=np.float64))

    def take(self, rows: np.ndarray) -> Targets:
        """The targets of the samples ``rows``."""
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return Targets(pick(self.labels), pick(self.onehot), pick(self.sign), pick(self.value))


class ScoreLoss:
    """One loss, convex in the scores S (m, C), on one task (see the module notes).

    Obtained from a loss with :meth:`almo.losses.Loss.convex_form`; parametrized forms keep
    their parameters as attributes (``delta`` for huber, ``tau`` for pinball).

    Examples
    --------
    >>> from almo.losses import make_loss
    >>> form = make_loss("huber", delta=2.0).convex_form("regression")
    >>> form
    Huber(delta=2.0)
    >>> form.value(np.array([[3.0]]), Targets.of_values(np.array([0.0]))).tolist()
    [4.0]
    """

    name: ClassVar[str]
    #: Twice differentiable almost everywhere with a useful (generalized) Hessian: the fast
    #: dual Newton method may use it.
    smooth: ClassVar[bool] = True
    #: Domain moves must keep the class sum of u (multiclass simplex-type domains).
    sum_zero: ClassVar[bool] = False

    def value(self, S: np.ndarray, t: Targets) -> np.ndarray:
        """Per-sample losses (m,)."""
        raise NotImplementedError

    def grad(self, S: np.ndarray, t: Targets) -> np.ndarray:
        """A (sub)gradient in the scores, (m, C)."""
        raise NotImplementedError

    def hess(self, S: np.ndarray, t: Targets) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-sample Hessian ``diag(d_i) − v_i v_iᵀ`` as ``(d, v)`` of shape (m, C)."""
        raise NotImplementedError(f"{type(self).__name__} gives no Hessian (not smooth)")

    def conj(self, U: np.ndarray, t: Targets) -> np.ndarray:
        """The conjugate ``f*(u_i)`` of each sample's loss at a point of its domain, (m,)."""
        raise NotImplementedError

    def clip(self, U: np.ndarray, t: Targets) -> np.ndarray:
        """A point of the conjugate's domain near ``U`` (the Euclidean projection)."""
        return U

    def room(self, U: np.ndarray, t: Targets) -> np.ndarray:
        """How far each coordinate of ``U`` may move and stay in the domain, (m, C)."""
        return np.full(U.shape, np.inf)

    def cvxpy(self, S: Any, t: Targets) -> Any:
        """``Σ_i ℓ(S_i, y_i)`` as a convex (DCP) cvxpy expression of S (m, C)."""
        raise NotImplementedError

    def pieces(self, t: Targets) -> tuple[np.ndarray, np.ndarray] | None:
        """The loss as a max of affine pieces, ``ℓ(s_i) = max_m ⟨G[i, m], s_i⟩ + h[i, m]``.

        ``G`` has shape (m, M, C) and ``h`` (m, M); None for a loss that is not piecewise
        linear in the scores. The certified solver's linear-programming method reads it.
        """
        return None

    @property
    def has_hessian(self) -> bool:
        """Whether :meth:`hess` is given."""
        return type(self).hess is not ScoreLoss.hess

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class SimplexDomain(ScoreLoss):
    """Shared domain of the softmax and Crammer–Singer duals: q = u + e_y in the simplex."""

    sum_zero = True

    def clip(self, U, t):
        return project_simplex(U + t.onehot) - t.onehot

    def room(self, U, t):
        # |δ_c| ≤ q_c with Σ δ = 0 keeps q + δ in the simplex.
        return np.maximum(U + t.onehot, 0.0)


class IntervalDomain(ScoreLoss):
    """Scalar losses whose dual lies in an interval [lo, hi] (per sample)."""

    def bounds(self, t: Targets) -> tuple[np.ndarray, np.ndarray]:
        """The interval's ends, each (m,)."""
        raise NotImplementedError

    def clip(self, U, t):
        lo, hi = self.bounds(t)
        return np.clip(U[:, 0], lo, hi)[:, None]

    def room(self, U, t):
        lo, hi = self.bounds(t)
        return np.maximum(np.minimum(U[:, 0] - lo, hi - U[:, 0]), 0.0)[:, None]


class UnitMarginDomain(IntervalDomain):
    """Binary duals with a = −y± u ∈ [0, 1] (logistic and hinge)."""

    def bounds(self, t):
        return np.minimum(0.0, -t.sign), np.maximum(0.0, -t.sign)
