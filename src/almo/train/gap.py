r"""A duality-gap estimate for a pair (θ̄, λ̄): how far the averaged iterates are from the saddle.

For the game L(θ, λ) = Σ_k λ_k (ℓ_k(θ) + r_k(θ)) over a loader's data, the duality gap of a pair
is

.. math:: \operatorname{gap}(θ̄, λ̄) = \max_{λ∈Λ} L(θ̄, λ) - \min_θ L(θ, λ̄)
          \;\ge\; \max_{λ∈Λ} L(θ̄, λ) - L^\star \;\ge\; 0,

where L* = min_θ max_λ L is the minimax value: weak duality puts min_θ L(θ, λ̄) below L*, so
the gap bounds the suboptimality of θ̄'s worst case from above. The first term is one
evaluation pass. The second is the best response of the model to the fixed mixture λ̄, which
:func:`duality_gap` computes with full-batch L-BFGS (strong Wolfe line search) started at θ̄.
On a convex model (a linear model with convex losses) L-BFGS converges to the best response, and
the estimate is the gap up to its tolerance; the gradient norm at the end is reported so the
tolerance can be judged. On a non-convex model the best response is a local one, and the
estimate is a heuristic (it may fall below the true gap).

Examples
--------
>>> import torch
>>> from almo import Simplex
>>> from almo.objectives import ObjectiveFamily
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> x, y = torch.randn(40, 3, dtype=torch.float64), torch.randint(0, 2, (40,))
>>> family = ObjectiveFamily(["log_loss", "squared"])
>>> model = torch.nn.Linear(3, 2).double()
>>> est = duality_gap(model, family, Simplex(2), [0.5, 0.5], [(x, y)])
>>> bool(est.gap >= 0), bool(est.lower <= est.upper)
(True, True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from almo._validation import check_count, fail
from almo.mixtures import MixtureSet
from almo.objectives import ObjectiveFamily
from almo.train.game import call_model, move_to, unpack_batch

__all__ = ["GapEstimate", "duality_gap"]


@dataclass(frozen=True)
class GapEstimate:
    """The two sides of a duality-gap estimate and their difference.

    Attributes
    ----------
    upper : float
        max over Λ of L(θ̄, λ): the averaged model's penalized worst case.
    lower : float
        L(θ_br, λ̄) at the best response θ_br found by L-BFGS: an estimate of min_θ L(θ, λ̄),
        itself a lower bound on the minimax value.
    gap : float
        ``upper - lower`` (clipped at 0).
    relative : float
        ``gap / max(|upper|, 1e-12)``: what ``gap_tol`` is compared with.
    grad_norm : float
        ‖∇_θ L(θ_br, λ̄)‖ where L-BFGS stopped (small: the best response is converged).
    iterations : int
        L-BFGS iterations taken.
    """

    upper: float
    lower: float
    gap: float
    relative: float
    grad_norm: float
    iterations: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain Python, ready for JSON."""
        return {
            "upper": self.upper,
            "lower": self.lower,
            "gap": self.gap,
            "relative": self.relative,
            "grad_norm": self.grad_norm,
            "iterations": self.iterations,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GapEstimate:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(d["upper"]),
            float(d["lower"]),
            float(d["gap"]),
            float(d["relative"]),
            float(d["grad_norm"]),
            int(d["iterations"]),
        )


def duality_gap(
    model: torch.nn.Module,
    family: ObjectiveFamily,
    mixture_set: MixtureSet,
    weights: Any,
    loader: Iterable[Any],
    penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    *,
    max_iter: int = 200,
    device: torch.device | str | None = None,
) -> GapEstimate:
    """Estimate the duality gap of (``model``, ``weights``) on ``loader``'s data.

    Parameters
    ----------
    model : torch.nn.Module
        θ̄, typically ``trainer.averaged_model()``; it is not modified (a copy is optimized).
    family : ObjectiveFamily
        The objectives (calibrated, when it normalizes).
    mixture_set : MixtureSet
        Λ, for the worst case of θ̄.
    weights : array-like (p,)
        λ̄, typically ``trainer.average_weights``.
    loader : iterable of batches
        ``(x, y)`` or ``(x, y, group)``; passed over once per L-BFGS function evaluation, so
        keep it to data that fits a few dozen passes.
    penalty : callable, optional
        ``model -> Tensor (p,)``, as the trainer's.
    max_iter : int
        L-BFGS iterations for the best response.
    device : torch.device or str, optional
        Where the batches go; default the model's device.

    Returns
    -------
    GapEstimate
    """
    max_iter = check_count("max_iter", max_iter, "pass e.g. 200")
    lam = np.asarray(weights, dtype=np.float64)
    if lam.shape != (family.p,) or not np.isfinite(lam).all():
        raise fail(
            "weights",
            f"be a finite vector of length p = {family.p}",
            lam.shape if lam.shape != (family.p,) else lam.tolist(),
            "pass trainer.average_weights",
        )
    params = [q for q in model.parameters() if q.requires_grad]
    if device is None:
        device = params[0].device if params else torch.device("cpu")
    device = torch.device(device)
    batches = [tuple(move_to(v, device) for v in unpack_batch(b)) for b in loader]
    if not batches:
        raise fail("loader", "yield at least one batch", "an empty loader", "pass the eval data")

    def totals(net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        sums = torch.zeros(family.p, dtype=torch.float64, device=device)
        counts = torch.zeros(family.p, dtype=torch.float64, device=device)
        for x, y, group in batches:
            s, c = family.sums_counts(call_model(net, x), y, group)
            sums = sums + s.double()
            counts = counts + c.double()
        return sums, counts

    scale = torch.tensor(np.array(family.scale_array, dtype=np.float64), device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            sums, counts = totals(model)
            pen0 = _penalty(penalty, model, family.p, device)
        if (counts <= 0).any():
            missing = [family.names[k] for k in torch.nonzero(counts <= 0).flatten().tolist()]
            raise fail(
                "loader",
                "contain samples for every objective",
                f"no samples for {missing}",
                "include every group in the eval data",
            )
        values = (sums / counts / scale + pen0).cpu().numpy()
        upper = float(mixture_set.worst_case(values).value)

        best = copy.deepcopy(model)
        best.eval()
        bparams = [q for q in best.parameters() if q.requires_grad]
        coef = torch.as_tensor(lam, device=device) / (counts * scale)
        lam_t = torch.as_tensor(lam, device=device)
        evaluations = [0]

        def objective() -> torch.Tensor:
            s, _ = totals(best)
            value = (coef * s).sum()
            if penalty is not None:
                value = value + (lam_t * _penalty(penalty, best, family.p, device)).sum()
            return value

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            value = objective()
            value.backward()
            evaluations[0] += 1
            return value

        opt = torch.optim.LBFGS(
            bparams,
            lr=1.0,
            max_iter=max_iter,
            max_eval=2 * max_iter,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            history_size=20,
            line_search_fn="strong_wolfe",
        )
        opt.step(closure)
        state = opt.state[opt._params[0]]
        iterations = int(state.get("n_iter", 0))
        opt.zero_grad(set_to_none=True)
        value = objective()
        grads = torch.autograd.grad(value, bparams, allow_unused=True)
        grad_norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads if g is not None))
        lower = min(float(value.detach()), float(np.dot(lam, values)))
    finally:
        model.train(was_training)
    gap = max(upper - lower, 0.0)
    return GapEstimate(upper, lower, gap, gap / max(abs(upper), 1e-12), grad_norm, iterations)


def _penalty(
    penalty: Callable[[torch.nn.Module], torch.Tensor] | None,
    model: torch.nn.Module,
    p: int,
    device: torch.device,
) -> torch.Tensor:
    if penalty is None:
        return torch.zeros(p, dtype=torch.float64, device=device)
    return penalty(model).to(device, torch.float64)
