"""Standardized features for the fast methods: the same problem, better conditioned.

Without a ridge and without a norm penalty (``l2 = 0``, no c_k), the game depends on Θ only
through the scores ``S = X̃ Θ``, so any invertible change of the model's coordinates leaves it
unchanged. The fast methods therefore run on the columns of X centred (when an intercept absorbs
the means) and divided by their standard deviations:

    Z = [(X − m) / s, 1],   Θ_z = (W_z, b_z)  ↦  W = W_z / s,  b = b_z − m · W,

which gives the same scores, the same objectives, the same dual function g(λ) and the same dual
constraint ``Σ_j x̃_i α_jᵀ = 0`` (Z = X̃ T with T invertible), so every bound computed on the
standardized problem is a bound on the original one. Features of size 0.05 next to weights in
the thousands (scikit-learn's diabetes) otherwise make the inner Newton systems and the
smoothing's prox term (‖Θ‖², which should be of the size of the scores) badly scaled.

The solution is mapped back and certified again on the original problem
(:func:`almo.solvers.linear.solve_linear` keeps the better of the two lower bounds, both valid).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from almo.solvers._problem import LinearProblem


@dataclass(frozen=True)
class Standardized:
    """The standardized problem and the column means and scales that map Θ_z back."""

    problem: LinearProblem
    mean: np.ndarray
    scale: np.ndarray

    def to_original(self, theta: np.ndarray) -> np.ndarray:
        """Θ of the original problem with the same scores as ``theta`` (standardized).

        Examples
        --------
        >>> import numpy as np
        >>> from almo.solvers._problem import build_problem
        >>> X = np.array([[0.0, 100.0], [1.0, 300.0], [2.0, 200.0], [4.0, 0.0]])
        >>> y = np.array([1.0, 2.0, 0.0, 3.0])
        >>> problem = build_problem(X, y, "absolute", None, 0.0, None, True)
        >>> z = standardize(problem)
        >>> theta_z = np.array([[1.0], [-2.0], [0.5]])
        >>> theta = z.to_original(theta_z)
        >>> bool(np.allclose(problem.X @ theta, z.problem.X @ theta_z))
        True
        """
        d = self.problem.n_features
        out = np.array(theta, dtype=np.float64, copy=True)
        out[:d] = theta[:d] / self.scale[:, None]
        if self.problem.fit_intercept:
            out[d] = theta[d] - self.mean @ out[:d]
        return out

    def to_standardized(self, theta: np.ndarray) -> np.ndarray:
        """The inverse map of :meth:`to_original`."""
        d = self.problem.n_features
        out = np.array(theta, dtype=np.float64, copy=True)
        if self.problem.fit_intercept:
            out[d] = theta[d] + self.mean @ theta[:d]
        out[:d] = theta[:d] * self.scale[:, None]
        return out


def standardizable(problem: LinearProblem) -> bool:
    """Whether the change of coordinates leaves the problem unchanged: no ridge on W and no
    norm penalty (both would become weighted norms of W_z)."""
    return problem.l2 == 0 and problem.norm_coef is None and problem.prox == 0


def standardize(problem: LinearProblem) -> Standardized:
    """The problem on standardized columns (see the module notes); constant columns keep
    scale 1 (and, with an intercept, become 0: the intercept carries them)."""
    d = problem.n_features
    X = problem.X[:, :d]
    if problem.fit_intercept:
        mean = X.mean(axis=0)
        spread = X.std(axis=0)
    else:
        mean = np.zeros(d)
        spread = np.sqrt(np.mean(X * X, axis=0))
    scale = np.where(spread > 1e-12 * max(1.0, float(np.abs(X).max())), spread, 1.0)
    Z = np.empty_like(problem.X)
    Z[:, :d] = (X - mean) / scale
    if problem.fit_intercept:
        Z[:, d] = 1.0
    return Standardized(replace(problem, X=Z), mean, scale)


__all__ = ["Standardized", "standardizable", "standardize"]
