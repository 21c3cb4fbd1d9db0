"""Rademacher complexities, the λ-dependent penalty and the generalization certificate.

What is proved here
-------------------
Objective k is a loss ℓ_k averaged over its own sample S_k of size m_k (the whole sample of
size m, or one group's rows), divided by its scale s_k; L_k is its population value and
L(h, λ) = Σ_k λ_k L_k(h). Assume ℓ_k/s_k ∈ [0, M_k] on the model class H and the samples of
the groups independent (i.i.d. within a group).

1. *Symmetrization, per objective.* sup_h Σ_k λ_k (L_k − L̂_k)(h) ≤ Σ_k λ_k sup_h (L_k − L̂_k)(h),
   and E sup_h (L_k − L̂_k) ≤ 2 E R̂_{S_k}(ℓ_k∘H)/s_k, so the λ-weighted complexity satisfies
   R(G, λ) ≤ Σ_k λ_k ρ_k with ρ_k = R̂_{S_k}(ℓ_k∘H)/s_k.
2. *Contraction.* For a scalar score and ℓ_k μ_k-Lipschitz, R̂(ℓ_k∘H) ≤ μ_k R̂(H)
   (Ledoux–Talagrand). For C score columns and ℓ_k μ_k-Lipschitz in the score vector (ℓ2) —
   the registry's ``lipschitz`` (softmax log loss: √2, hinge: √2) — Maurer's vector
   contraction gives R̂(ℓ_k∘H) ≤ √2 μ_k E sup_h (1/m) Σ_{i,c} σ_ic h_c(x_i), and for
   {‖W‖_F ≤ B} that sup is B ‖Σ_i σ_i x_iᵀ‖_F ≤ B sqrt(C Σ_i ‖x_i‖²) in expectation: a factor
   κ = √(2C). Two columns of a loss depending on s_1 − s_0 only (every built-in classification
   loss but ``squared``) need no factor: ℓ = f(s_1 − s_0) has μ = √2 Lip(f), and
   ‖w_1 − w_0‖ ≤ √2 ‖W‖_F. Losses without a global μ (``squared``, ``squared_hinge``) use
   ``lipschitz_within(R)`` on the score ball they live on; ``zero_one`` is refused.
3. *Closed forms.* {x ↦ w·x : ‖w‖ ≤ W}: sup = W ‖Σ σ_i x_i‖/m exactly, and by Jensen
   R̂_{S_k} ≤ W sqrt(Σ_{i∈S_k} ‖x_i‖²)/m_k (Khintchine–Kahane: at least that over √2). An
   intercept is a feature of ones inside the same ball. Networks: Golowich–Rakhlin–Shamir,
   (√(2 d log 2) + 1) Π_j ‖W_j‖_F sqrt(Σ ‖x_i‖²)/m (one output, ReLU, no biases).
4. *Concentration with skewness.* Fix λ. Changing one row i changes
   Φ = sup_h [L − L̂](h, λ) − 2 Σ_k λ_k ρ_k by at most 3 c_i, c_i = Σ_{k: i∈S_k} λ_k M_k / m_k
   (the sup by c_i, each ρ_k by M_k/m_k). McDiarmid: Φ ≤ 3 sqrt(Σ_i c_i² log(1/δ)/2), and
   Σ_i c_i² ≤ Σ_k λ_k M_k²/m_k (Jensen, λ ∈ Δ), which is M² s(λ)/m with s = Σ_k λ_k/m̄_k,
   m̄_k = m_k/m: for disjoint groups it is AFL's skewness Σ_k λ_k²/m̄_k at the vertices, where
   both are largest. With expected instead of empirical complexities the 3 becomes 1.
5. *Uniform over Λ.* An ε-cover Λ_ε ⊂ Λ in ℓ1 has at most N(ε) = (1 + 4/ε)^(p−1) points (a
   maximal ε-separated set; its ε/2-balls fit in the (p−1)-dimensional slice of λ_0 +
   (2 + ε/2)·B_1). |[L − L̂](h, λ) − [L − L̂](h, λ')| ≤ max_k M_k ‖λ − λ'‖_1, hence with
   probability ≥ 1 − δ, for every h and λ ∈ Λ:
   L(h, λ) ≤ L̂_Λ(h) + 2 max_λ Σ_k λ_k ρ_k + M ε + 3 sqrt(max_λ Σ_k λ_k M_k²/m_k · log(N(ε)/δ)/2).
   ε minimized over a grid of 30 values and the model's norm B over powers of 2 are paid for
   by sharing δ out (``bound.py``, ``_linear.py``).

The penalty
-----------
With ρ_k = κ μ_k B sqrt(Σ_{S_k} ‖x_i‖²)/(m_k s_k) linear in the model's norm B, the complexity
term 2 Σ_k λ_k ρ_k is Σ_k λ_k r_k with r_k = c_k ‖W‖_F, c_k = β μ_k sqrt(Σ_{S_k}‖x_i‖²)/(m_k s_k)
and β = 2κ: :class:`RademacherPenalty` with ``beta="bound"``. Small groups get larger c_k.

Examples
--------
>>> import numpy as np
>>> from almo import ObjectiveFamily, solve_linear
>>> from almo.complexity import RademacherPenalty, generalization_bound
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(-1, 1, size=(300, 4))
>>> y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=300) > 0).astype(int)
>>> g = (X[:, 2] > 0.6).astype(int)  # a small group
>>> fam = ObjectiveFamily("log_loss", groups=2)
>>> pen = RademacherPenalty(beta=0.1)
>>> sol = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=pen)
>>> bool(pen.coefficients_[1] > pen.coefficients_[0])  # the small group pays more
True
>>> rep = generalization_bound(sol, X=X, y=y, family=fam, groups=g)
>>> [t.name for t in rep.terms]
['empirical worst case', 'complexity', 'cover', 'concentration']
"""

from almo.complexity.bound import BoundReport, BoundTerm, cover_log_size, generalization_bound
from almo.complexity.penalty import RademacherPenalty, contraction_factors, objective_lipschitz
from almo.complexity.rademacher import (
    ObjectiveStatistics,
    RademacherEstimate,
    grs_depth_factor,
    linear_rademacher,
    mlp_rademacher,
    monte_carlo_rademacher,
    objective_statistics,
    weighted_complexity,
)
from almo.complexity.selection import BetaSelection, cross_validated_beta, held_out_worst_case

__all__ = [
    "BetaSelection",
    "BoundReport",
    "BoundTerm",
    "ObjectiveStatistics",
    "RademacherEstimate",
    "RademacherPenalty",
    "contraction_factors",
    "cover_log_size",
    "cross_validated_beta",
    "generalization_bound",
    "grs_depth_factor",
    "held_out_worst_case",
    "linear_rademacher",
    "mlp_rademacher",
    "monte_carlo_rademacher",
    "objective_lipschitz",
    "objective_statistics",
    "weighted_complexity",
]
