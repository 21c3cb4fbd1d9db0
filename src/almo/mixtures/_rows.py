"""Polyhedral sets {λ ≥ 0, Σλ = 1, Gλ ≤ h}: their cvxpy description and support function.

Shared by :class:`~almo.mixtures.BoxSimplex` (rows ±I) and :class:`~almo.mixtures.Polytope`
(rows A). By LP duality,

    σ_Λ(t) = max {⟨λ, t⟩ : λ ≥ 0, Σλ = 1, Gλ ≤ h} = min {τ + hᵀμ : μ ≥ 0, τ 1 + Gᵀμ ≥ t},

which keeps the certified solver's epigraph problem linear in the mixture part.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import numpy as np

from almo.mixtures.base import MixtureSet

if TYPE_CHECKING:
    import cvxpy as cp


class PolyhedralSet(MixtureSet):
    """A mixture set given by inequality rows (G, h) on top of the simplex (private base)."""

    @abc.abstractmethod
    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(G, h), float64 and finite, with Λ = {λ ≥ 0, Σλ = 1, Gλ ≤ h}."""

    def cvxpy_constraints(self, lam: cp.Expression) -> list[cp.Constraint]:
        """λ ≥ 0, Σλ = 1 and Gλ ≤ h (see :meth:`MixtureSet.cvxpy_constraints`)."""
        import cvxpy as cp

        G, h = self._rows()
        cons = [lam >= 0, cp.sum(lam) == 1]
        return [*cons, G @ lam <= h] if G.shape[0] else cons

    def support_function(self, t: cp.Expression) -> tuple[cp.Expression, list[cp.Constraint]]:
        """The LP dual ``τ + hᵀμ`` with ``μ ≥ 0``, ``τ 1 + Gᵀμ ≥ t`` (see the module notes)."""
        import cvxpy as cp

        G, h = self._rows()
        if not G.shape[0]:
            return cp.max(t), []
        tau, mu = cp.Variable(), cp.Variable(G.shape[0], nonneg=True)
        return tau + h @ mu, [tau + G.T @ mu >= t]
