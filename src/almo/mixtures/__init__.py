"""Mixture sets Λ: convex subsets of the probability simplex Δ_p.

Contract shared by every set (other modules rely on it):

- ``p``: number of objectives.
- ``project(v)``: Euclidean projection onto Λ; numpy array or torch tensor in, same type, dtype
  and device out; batched input of shape (..., p).
- ``worst_case(losses) -> WorstCase(value, weights)``: exact max over Λ of ⟨λ, ℓ⟩ and a maximizer
  (numpy float64 weights; value a Python float). ``losses`` of shape (p,), numpy or torch.
- ``contains(weights, atol=1e-9) -> bool``.
- ``uniform()``: a feasible centre point (numpy float64, shape (p,)).
- ``cvxpy_constraints(lam)`` and ``support_function(t)``: the set's conic description, for the
  certified solver (a user-defined set may leave them out).
- ``has_fast_projection``: whether ``project`` is cheap enough to call thousands of times.

Each set owns all of these (:class:`MixtureSet` is the abstract base). :class:`Simplex` and
:class:`BoxSimplex` use the exact kernels of :mod:`almo.projections`; :class:`Polytope` solves a
QP/LP with cvxpy (built once, re-solved); :class:`PriorBall` uses the closed forms and 1-D
searches of :mod:`almo._balls` (Wright-omega bisection for the KL projection).

Examples
--------
>>> from almo.mixtures import BoxSimplex
>>> BoxSimplex(lower=0.1, upper=0.5, p=3).worst_case([0.3, 0.2, 0.1]).weights.round(6).tolist()
[0.5, 0.4, 0.1]
"""

from almo.mixtures.balls import Divergence, PriorBall
from almo.mixtures.base import MixtureSet, WorstCase
from almo.mixtures.polytope import Polytope
from almo.mixtures.simplex import BoxSimplex, Simplex

__all__ = [
    "BoxSimplex",
    "Divergence",
    "MixtureSet",
    "Polytope",
    "PriorBall",
    "Simplex",
    "WorstCase",
]
