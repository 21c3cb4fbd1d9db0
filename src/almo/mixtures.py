"""Mixture sets Λ: convex subsets of the probability simplex Δ_p.

(SKELETON — the mixture-sets helper completes this module: BoxSimplex, Polytope, PriorBall,
fast kernels in ``projections.py``.)

Contract shared by every set (other modules rely on it):

- ``p``: number of objectives.
- ``project(v)``: Euclidean projection onto Λ; numpy array or torch tensor in, same type, dtype
  and device out; batched input of shape (..., p).
- ``worst_case(losses) -> WorstCase(value, weights)``: exact max over Λ of ⟨λ, ℓ⟩ and a maximizer
  (numpy float64 weights; value a Python float). ``losses`` of shape (p,), numpy or torch.
- ``contains(weights, atol=1e-9) -> bool``.
- ``uniform()``: a feasible centre point (numpy float64, shape (p,)).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class WorstCase(NamedTuple):
    """Result of :meth:`MixtureSet.worst_case`: the max of ⟨λ, ℓ⟩ over Λ and a maximizer."""

    value: float
    weights: np.ndarray


class MixtureSet:
    """Base class of the mixture sets (convex subsets of the simplex)."""

    p: int

    def project(self, v: Any) -> Any:
        raise NotImplementedError

    def worst_case(self, losses: Any) -> WorstCase:
        raise NotImplementedError

    def contains(self, weights: Any, atol: float = 1e-9) -> bool:
        raise NotImplementedError

    def uniform(self) -> np.ndarray:
        raise NotImplementedError


class Simplex(MixtureSet):
    """The whole probability simplex Δ_p (placeholder implementation)."""

    def __init__(self, p: int) -> None:
        self.p = int(p)

    def project(self, v: Any) -> Any:
        import torch

        if isinstance(v, torch.Tensor):
            u, _ = torch.sort(v, dim=-1, descending=True)
            css = torch.cumsum(u, dim=-1) - 1
            k = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
            cond = u - css / k > 0
            rho = cond.to(v.dtype).cumsum(-1).argmax(-1, keepdim=True)
            tau = css.gather(-1, rho) / (rho + 1).to(v.dtype)
            return torch.clamp(v - tau, min=0)
        v = np.asarray(v)
        u = -np.sort(-v, axis=-1)
        css = np.cumsum(u, axis=-1) - 1
        k = np.arange(1, v.shape[-1] + 1)
        cond = u - css / k > 0
        rho = np.cumsum(cond, axis=-1).argmax(-1)[..., None]
        tau = np.take_along_axis(css, rho, -1) / (rho + 1)
        return np.maximum(v - tau, 0).astype(v.dtype, copy=False)

    def worst_case(self, losses: Any) -> WorstCase:
        ell = np.asarray(losses.detach().cpu() if hasattr(losses, "detach") else losses, float)
        k = int(np.argmax(ell))
        w = np.zeros(self.p)
        w[k] = 1.0
        return WorstCase(float(ell[k]), w)

    def contains(self, weights: Any, atol: float = 1e-9) -> bool:
        w = np.asarray(weights, float)
        return bool(w.shape == (self.p,) and (w >= -atol).all() and abs(w.sum() - 1) <= atol)

    def uniform(self) -> np.ndarray:
        return np.full(self.p, 1.0 / self.p)
