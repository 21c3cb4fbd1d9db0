"""One batch of the game: the loss vector ℓ (+ r), the θ loss ⟨λ, ℓ + r⟩, and λ's view of ℓ.

The trainer's step functions call :func:`batch_terms` once per forward pass. It returns the
differentiable pieces (per-objective sums, global counts, penalty) and, after a single
device-to-host copy of 2p (or 3p) numbers, the float64 vector the λ step sees. Under
torch.distributed the sums and counts are all-reduced first (see :mod:`almo.train.distributed`).

Absent objectives
-----------------
A group absent from a batch has count 0: its mean is 0 with no gradient, which must not tell the
adversary "this objective is solved". The λ step therefore sees such an objective at its **last
observed value** (held, detached). Before its first observation it is filled with the mean of the
objectives present in the same batch, which leaves the projected-ascent step on the simplex
unchanged (adding a constant to every coordinate does not move Π_Δ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from almo._validation import fail

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}

__all__ = ["BatchTerms", "OptimizerSnapshot", "hold_absent", "move_to", "unpack_batch"]


class BatchTerms(NamedTuple):
    """Differentiable terms of one forward pass and their float64 host copy."""

    sums: torch.Tensor  # (p,) per-objective sums over this process's samples (with grad)
    penalty: torch.Tensor | None  # (p,) r(θ) (with grad) or None
    counts: np.ndarray  # (p,) float64 global sample counts (all ranks)
    means: np.ndarray  # (p,) float64 global means (0 where absent), penalty excluded
    present: np.ndarray  # (p,) bool, count > 0
    penalty_host: np.ndarray | None  # (p,) float64 copy of r


def move_to(value: Any, device: torch.device) -> Any:
    """Move tensors (possibly nested in tuples, lists, dicts) to ``device``."""
    if isinstance(value, torch.Tensor):
        # Comparing devices is far cheaper than a no-op ``.to`` dispatch (every step, 3 times).
        return value if value.device == device else value.to(device, non_blocking=True)
    if isinstance(value, (list, tuple)):
        return type(value)(move_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: move_to(v, device) for k, v in value.items()}
    return value


def unpack_batch(batch: Any) -> tuple[Any, Any, Any]:
    """``(x, y)`` or ``(x, y, group)`` → ``(x, y, group or None)``, with a clear error otherwise."""
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    found = f"{type(batch).__name__} of length {len(batch)}" if hasattr(batch, "__len__") \
        else type(batch).__name__
    raise fail("train_loader", "yield (x, y) or (x, y, group) tuples", found,
               "wrap the data in a TensorDataset(x, y) or TensorDataset(x, y, group)")


def call_model(model: torch.nn.Module, x: Any) -> torch.Tensor:
    """``model(x)``; tuples are spread as positional and dicts as keyword arguments."""
    if isinstance(x, dict):
        return model(**x)
    if isinstance(x, (tuple, list)):
        return model(*x)
    return model(x)


def hold_absent(means: np.ndarray, present: np.ndarray, last_seen: np.ndarray) -> np.ndarray:
    """λ's view of ℓ: absent objectives at their last observed value (updates ``last_seen``).

    Examples
    --------
    >>> import numpy as np
    >>> last = np.array([np.nan, 0.7, np.nan])
    >>> hold_absent(np.array([0.2, 0.0, 0.0]), np.array([True, False, False]), last).tolist()
    [0.2, 0.7, 0.2]
    >>> last.tolist()  # the present objective is remembered, the never-seen one is not
    [0.2, 0.7, nan]
    """
    if present.all():
        last_seen[:] = means
        return means
    last_seen[present] = means[present]
    held = last_seen.copy()
    unseen = np.isnan(held)
    if unseen.any():
        # Never observed yet: the present objectives' mean, a neutral value for the λ step.
        held[unseen] = means[present].mean() if present.any() else 0.0
    return held


def batch_terms(family: Any, outputs: torch.Tensor, y: Any, group: Any, penalty_fn: Any,
                model: torch.nn.Module, ctx: Any, scale: np.ndarray,
                check: bool) -> BatchTerms:
    """Compute the terms of one forward pass (see :class:`BatchTerms`).

    ``check=True`` (first step of a run) validates the shapes the family and penalty return,
    so a mismatch fails before any parameter moves.
    """
    p = scale.shape[0]
    if check:
        try:
            sums, counts = family.sums_counts(outputs, y, group)
        except (ValueError, RuntimeError, IndexError, TypeError) as err:
            shape = tuple(outputs.shape) if hasattr(outputs, "shape") else type(outputs)
            yshape = tuple(y.shape) if hasattr(y, "shape") else type(y)
            raise fail("model", "return outputs the objective family accepts",
                       f"outputs of shape {shape} with targets of shape {yshape}",
                       f"match the model's output layer to the family's losses ({err})") from err
        for name, t in (("sums", sums), ("counts", counts)):
            if tuple(t.shape) != (p,):
                raise fail("family", f"return per-objective {name} of shape ({p},)",
                           f"shape {tuple(t.shape)}", "check family.p and its losses/groups")
    else:
        sums, counts = family.sums_counts(outputs, y, group)
    r = None
    if penalty_fn is not None:
        r = penalty_fn(model)
        if check and (not isinstance(r, torch.Tensor) or tuple(r.shape) != (p,)):
            found = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
            raise fail("penalty", f"return a tensor of shape ({p},), one term per objective",
                       found, "return r_k for every objective, e.g. beta * mu * complexity")
    if (sums.device.type == "cpu" and not ctx.active and sums.dtype in _NUMPY_DTYPES
            and counts.dtype in _NUMPY_DTYPES):
        # The common CPU case: numpy views of the tensors, converted by numpy (no dispatch).
        s = sums.detach().numpy().astype(np.float64)
        c = counts.detach().numpy().astype(np.float64)
        r_host = None if r is None else r.detach().numpy().astype(np.float64)
    else:
        # One collective over ranks (sums and counts) and one device-to-host copy per step.
        stats = ctx.all_reduce_sum(torch.cat((sums.detach(), counts.to(sums.dtype))).double())
        if r is not None:
            stats = torch.cat((stats, r.detach().double()))
        host = stats.cpu().numpy()
        s, c = host[:p], host[p:2 * p]
        r_host = host[2 * p:] if r is not None else None
    present = c > 0
    means = s / np.maximum(c, 1.0) / scale  # the family's normalization: raw / scale
    return BatchTerms(sums, r, c, means, present, r_host)


def theta_loss(terms: BatchTerms, lam: np.ndarray, scale: np.ndarray,
               world_size: int) -> torch.Tensor:
    """⟨λ, ℓ + r⟩ for this process as one dot product with the differentiable sums.

    The coefficients λ_k · W / (N_k · scale_k) are computed on the host (N_k the global count,
    W the world size: DDP averages gradients over ranks, so the update is the global mean's).
    """
    coef = lam * (world_size / (np.maximum(terms.counts, 1.0) * scale))
    sums = terms.sums
    if sums.device.type == "cpu" and sums.dtype in _NUMPY_DTYPES:
        weights = torch.from_numpy(coef.astype(_NUMPY_DTYPES[sums.dtype]))
    else:
        weights = torch.from_numpy(coef).to(device=sums.device, dtype=sums.dtype)
    loss = torch.dot(weights, sums)
    if terms.penalty is not None:
        pen = terms.penalty
        loss = loss + torch.dot(torch.from_numpy(lam).to(device=pen.device, dtype=pen.dtype), pen)
    return loss


@dataclass
class OptimizerSnapshot:
    """A copy of an optimizer's per-parameter state, restorable in place (for mirror-prox)."""

    state: dict[Any, dict[str, Any]]

    @classmethod
    def take(cls, optimizer: torch.optim.Optimizer) -> OptimizerSnapshot:
        return cls({param: {k: v.clone() if isinstance(v, torch.Tensor) else v
                            for k, v in st.items()} for param, st in optimizer.state.items()})

    def restore(self, optimizer: torch.optim.Optimizer) -> None:
        for param in list(optimizer.state):
            if param not in self.state:
                del optimizer.state[param]  # created lazily by the look-ahead step
        for param, saved in self.state.items():
            current = optimizer.state[param]
            for key in [k for k in current if k not in saved]:
                del current[key]
            for key, value in saved.items():
                old = current.get(key)
                if isinstance(value, torch.Tensor) and isinstance(old, torch.Tensor) \
                        and old.shape == value.shape:
                    old.copy_(value)
                else:
                    current[key] = value.clone() if isinstance(value, torch.Tensor) else value
