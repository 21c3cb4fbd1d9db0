"""The λ-dependent complexity penalty r_k(θ) = c_k Ĉ(θ) of ALMO's regularized game.

:class:`RademacherPenalty` turns the Rademacher bound of objective k — μ_k R̂_{S_k} of the
model class, with μ_k the loss's Lipschitz constant and S_k the objective's own sample — into
a penalty linear in λ: the game becomes Σ_k λ_k (ℓ_k + r_k), so the adversary pays for weight on
objectives whose bound is large (small groups, steep losses). Fitted on the data, it gives

    c_k = β μ_k sqrt(Σ_{i∈S_k} ‖x_i‖²) / m_k        (per unit of model complexity)

with μ_k divided by the family's scale for a normalized family, and r_k(θ) = c_k Ĉ(θ), where
Ĉ is ‖W‖_F for a linear model (bias left out), the GRS factor (√(2 d log 2) + 1) Π_j ‖W_j‖_F
for a network of d linear layers, or a user's ``bound(model)``. The same object is the
trainer's penalty (``MinimaxTrainer(..., penalty=pen)``) and the certified solver's
(``solve_linear(..., penalty=pen)``, which reads :meth:`RademacherPenalty.linear_coefficients`).

Choosing β
----------
``beta="bound"`` takes the constant of the bound itself: β = 2κ, the 2 of the 2·R(G, λ) term
of :func:`almo.complexity.generalization_bound` times the vector-contraction factor κ of the
model's outputs (1 for one score per sample and for two logit columns read through their
difference, √(2C) for C > 2 score columns; see :mod:`almo.complexity`). With it, Σ_k λ_k r_k
is the complexity term of the bound at the model's own norm, so the regularized game
minimizes the bound's first two terms. It is usually too large to predict well on small data
sets (the bound is loose); :func:`almo.complexity.cross_validated_beta` picks β by the held-out
worst case instead.

Losses that are not Lipschitz
-----------------------------
``squared`` and ``squared_hinge`` have no global μ; they get μ on the score ball of radius
``clip`` (``loss.lipschitz_within(clip)``), by default the targets' range — max |y| (at least
1) for regression targets, 1 for class labels. ``zero_one`` and user losses of unknown μ
cannot be penalized through contraction: fitting refuses them.

Examples
--------
>>> import numpy as np, torch
>>> from almo import ObjectiveFamily
>>> X = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
>>> family = ObjectiveFamily("absolute", groups=2)
>>> pen = RademacherPenalty(beta=1.0).fit(X, family, groups=[0, 0, 1])
>>> pen.coefficients_.round(4).tolist()  # mu = 1: sqrt(26)/2 and sqrt(1)/1
[2.5495, 1.0]
>>> model = torch.nn.Linear(2, 1)
>>> with torch.no_grad():
...     _ = model.weight.copy_(torch.tensor([[0.6, 0.8]]))
>>> pen(model)
tensor([2.5495, 1.0000], grad_fn=<MulBackward0>)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from almo._validation import check_positive, fail
from almo.complexity.rademacher import ObjectiveStatistics, grs_depth_factor, objective_statistics

__all__ = ["RademacherPenalty", "contraction_factors", "objective_lipschitz"]

BoundKind = Literal["linear", "mlp"]


def objective_lipschitz(family: Any, radius: float) -> np.ndarray:
    """μ_k (p,) of each raw objective: the registry's constant, or on scores of norm ≤ radius.

    Losses with a global constant keep it; ``squared`` and ``squared_hinge`` take
    ``lipschitz_within(radius)``; losses with neither (``zero_one``, user losses without
    ``lipschitz``) are an error naming them.

    Examples
    --------
    >>> from almo import ObjectiveFamily
    >>> objective_lipschitz(ObjectiveFamily(["hinge", "squared"]), 2.0).round(4).tolist()
    [1.4142, 8.0]
    """
    radius = check_positive("radius", radius, allow_zero=True)
    mu = []
    bad = []
    for name, (loss, _) in zip(family.names, family.layout, strict=True):
        value = float(loss.lipschitz)
        if not math.isfinite(value):
            value = loss.lipschitz_within(radius)
        if not math.isfinite(value):
            bad.append(name)
        mu.append(value)
    if bad:
        raise fail(
            "family",
            "hold losses with a Lipschitz constant (globally or on bounded scores)",
            f"no finite constant for {bad}",
            "drop evaluation-only losses such as zero_one, or give your Loss a lipschitz=",
        )
    return np.array(mu, dtype=np.float64)


def contraction_factors(family: Any, n_outputs: int) -> np.ndarray:
    """κ_k (p,): the vector-contraction factor of each objective for ``n_outputs`` scores.

    One score: 1 (Ledoux–Talagrand). C > 2 scores: √(2C) (Maurer 2016: for ℓ μ-Lipschitz in
    the score vector, R̂(ℓ∘H) ≤ √2 μ E sup Σ_{i,c} σ_ic h_c(x_i), and for ‖W‖_F ≤ B that sup is
    at most B sqrt(C Σ ‖x_i‖²)). Two columns: 1 for a built-in classification loss other than
    ``squared`` — each depends on s_1 − s_0 only, as f(s_1 − s_0) with μ = √2 Lip(f), and
    ‖w_1 − w_0‖ ≤ √2 ‖W‖_F — and 2 = √(2·2) otherwise.

    Examples
    --------
    >>> from almo import ObjectiveFamily
    >>> fam = ObjectiveFamily(["log_loss", "squared"])
    >>> contraction_factors(fam, 1).tolist(), contraction_factors(fam, 2).tolist()
    ([1.0, 1.0], [1.0, 2.0])
    >>> contraction_factors(fam, 8).round(3).tolist()
    [4.0, 4.0]
    """
    c = int(n_outputs)
    out = []
    for loss, _ in family.layout:
        if c <= 1:
            out.append(1.0)
        elif c == 2 and loss.kind is not None and loss.kind != "squared":
            out.append(1.0)
        else:
            out.append(math.sqrt(2.0 * c))
    return np.array(out, dtype=np.float64)


def _outputs_from_targets(y: Any) -> int:
    """Score columns of a linear model for targets ``y`` (the solver's layout)."""
    if y is None:
        return 1
    arr = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    if arr.dtype.kind in "fc":
        return 1
    classes = np.unique(arr).size
    return 1 if classes <= 2 else classes


def _target_radius(y: Any) -> float:
    """Default score radius for non-Lipschitz losses: the targets' range."""
    if y is None:
        return 1.0
    arr = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    if arr.dtype.kind in "fc" and arr.size:
        return max(1.0, float(np.max(np.abs(arr))))
    return 1.0


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``model`` in registration order."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


class RademacherPenalty:
    """r_k(θ) = c_k Ĉ(θ) with c_k = β μ_k sqrt(Σ_{i∈S_k} ‖x_i‖²) / m_k (see the module notes).

    Parameters
    ----------
    beta : float or "bound", default "bound"
        β ≥ 0; ``"bound"`` takes 2κ, the generalization bound's own constant (β = 0 gives
        exactly the unpenalized game).
    bound : {"linear", "mlp"} or callable, default "linear"
        Ĉ(θ): ``"linear"`` — ‖W‖_F of the model's single ``nn.Linear`` (bias excluded);
        ``"mlp"`` — (√(2 d log 2) + 1) Π_j ‖W_j‖_F over its d ``nn.Linear`` layers (GRS, biases
        excluded; the theorem assumes ReLU-like activations); a callable
        ``bound(model) -> scalar tensor``.
    clip : float, optional
        Score radius on which ``squared`` and ``squared_hinge`` get their μ (default: the
        targets' range).
    n_outputs : int, optional
        Score columns of the model, for κ (default: from ``y`` in the solver's layout — one
        score for binary labels and regression, one per class otherwise).

    Attributes
    ----------
    coefficients_ : ndarray (p,)
        c_k in the family's normalized units (read at the family's current scales).
    raw_coefficients_ : ndarray (p,)
        c_k before division by the scales.
    beta_ : float
        The β used.
    lipschitz_ : ndarray (p,)
        μ_k of the raw losses.
    contraction_ : float
        κ = max_k κ_k (what ``beta="bound"`` multiplies 2 by).
    statistics_ : ObjectiveStatistics
        m_k, Σ‖x_i‖² and max ‖x_i‖ on each S_k.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import ObjectiveFamily
    >>> X = np.ones((4, 1))
    >>> RademacherPenalty().fit(X, ObjectiveFamily("hinge"), y=[0, 1, 0, 1]).coefficients_
    array([1.41421356])
    """

    def __init__(
        self,
        beta: float | str = "bound",
        bound: BoundKind | Callable[[nn.Module], torch.Tensor] = "linear",
        *,
        clip: float | None = None,
        n_outputs: int | None = None,
    ) -> None:
        if isinstance(beta, str):
            if beta != "bound":
                raise fail("beta", "be a number >= 0 or 'bound'", beta, "pass beta='bound'")
        else:
            check_positive("beta", beta, allow_zero=True)
        if not (callable(bound) or bound in ("linear", "mlp")):
            raise fail(
                "bound",
                "be 'linear', 'mlp' or a callable bound(model) -> scalar tensor",
                bound,
                "pass bound='linear' for a linear model",
            )
        if clip is not None:
            check_positive("clip", clip)
        if n_outputs is not None and (isinstance(n_outputs, bool) or int(n_outputs) < 1):
            raise fail("n_outputs", "be an integer >= 1 or None", n_outputs, "pass e.g. 3")
        self.beta = beta
        self.bound = bound
        self.clip = clip
        self.n_outputs = n_outputs

    def __repr__(self) -> str:
        bound = self.bound if isinstance(self.bound, str) else getattr(self.bound, "__name__", "fn")
        fitted = "" if not hasattr(self, "raw_coefficients_") else f", p={self.family_.p}"
        return f"RademacherPenalty(beta={self.beta!r}, bound={bound!r}{fitted})"

    # --- fitting -------------------------------------------------------------------------
    def fit(self, X: Any, family: Any, groups: Any = None, y: Any = None) -> RademacherPenalty:
        """Compute the per-objective statistics on each S_k and the coefficients c_k.

        Parameters
        ----------
        X : array of shape (n, d)
            The training features (for ``"mlp"``, the network's inputs).
        family : ObjectiveFamily
            The objectives; its scales are read when the coefficients are (a family with
            ``normalize="initial"`` may be calibrated later, before the first use).
        groups : array of shape (n,), optional
            Integer group ids 0..G-1, required when the family has group objectives.
        y : array of shape (n,), optional
            Targets: the default ``clip`` radius and ``n_outputs`` come from them.
        """
        from almo.objectives import ObjectiveFamily

        if not isinstance(family, ObjectiveFamily):
            raise fail(
                "family",
                "be an ObjectiveFamily",
                type(family).__name__,
                "build it, e.g. ObjectiveFamily('log_loss', groups=G)",
            )
        stats = objective_statistics(X, family, groups)
        radius = self.clip if self.clip is not None else _target_radius(y)
        mu = objective_lipschitz(family, radius)
        outputs = self.n_outputs or _outputs_from_targets(y)
        kappa = float(contraction_factors(family, outputs).max())
        beta = 2.0 * kappa if self.beta == "bound" else float(self.beta)
        self.family_ = family
        self.statistics_: ObjectiveStatistics = stats
        self.lipschitz_ = mu
        self.contraction_ = kappa
        self.radius_ = float(radius)
        self.beta_ = beta
        raw = beta * mu * np.sqrt(stats.sum_sq) / stats.counts
        raw.setflags(write=False)
        self.raw_coefficients_ = raw
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "raw_coefficients_"):
            raise fail(
                "RademacherPenalty",
                "be fitted before use",
                "an unfitted penalty",
                "call pen.fit(X, family, groups, y) with the training data first "
                "(solve_linear fits it itself)",
            )

    @property
    def coefficients_(self) -> np.ndarray:
        """c_k (p,) in normalized units: ``raw_coefficients_ / family.scale_array``."""
        self._check_fitted()
        if self.family_.needs_calibration:
            raise fail(
                "family",
                "be calibrated before the penalty's coefficients are read",
                "a family with normalize='initial' and no scales yet",
                "calibrate it (family.calibrate(...), or let the trainer/solver do it) first",
            )
        return np.asarray(self.raw_coefficients_ / self.family_.scale_array)

    def linear_coefficients(
        self, X: Any, family: Any, groups: Any = None, y: Any = None
    ) -> np.ndarray:
        """Fit, then return c_k: the penalty c_k ‖W‖_F of :func:`almo.solve_linear`."""
        return self.fit(X, family, groups, y).coefficients_.copy()

    # --- the model's complexity -----------------------------------------------------------
    def complexity(self, model: nn.Module) -> torch.Tensor:
        """Ĉ(θ), a differentiable scalar: ‖W‖_F, the GRS product, or ``bound(model)``."""
        if callable(self.bound):
            value = self.bound(model)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise fail(
                    "bound",
                    "return a scalar tensor (the model's complexity)",
                    type(value).__name__
                    if not isinstance(value, torch.Tensor)
                    else tuple(value.shape),
                    "return e.g. torch.linalg.norm(model.weight)",
                )
            return value.reshape(())
        layers = linear_layers(model)
        if not layers or (self.bound == "linear" and len(layers) != 1):
            raise fail(
                "model",
                f"hold {'exactly one' if self.bound == 'linear' else 'at least one'} "
                f"nn.Linear layer for bound={self.bound!r}",
                f"{len(layers)} nn.Linear layers in {type(model).__name__}",
                "use bound='mlp' for a network of linear layers, or pass a callable bound",
            )
        norms = [torch.linalg.vector_norm(layer.weight) for layer in layers]
        if self.bound == "linear":
            return norms[0]
        return grs_depth_factor(len(norms)) * torch.stack(norms).prod()

    def __call__(self, model: nn.Module) -> torch.Tensor:
        """r(θ) = c · Ĉ(θ), shape (p,), differentiable in the model's parameters."""
        coef = self.coefficients_
        comp = self.complexity(model)
        return torch.as_tensor(coef, dtype=comp.dtype, device=comp.device) * comp
