"""Batch plumbing shared by the step functions and evaluation: unpack, move, call the model.

Also :class:`OptimizerSnapshot`, the copy of an optimizer's state that mirror-prox restores
after its look-ahead step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from almo._validation import fail

__all__ = ["OptimizerSnapshot", "call_model", "move_to", "unpack_batch"]


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
    found = (
        f"{type(batch).__name__} of length {len(batch)}"
        if hasattr(batch, "__len__")
        else type(batch).__name__
    )
    raise fail(
        "train_loader",
        "yield (x, y) or (x, y, group) tuples",
        found,
        "wrap the data in a TensorDataset(x, y) or TensorDataset(x, y, group)",
    )


def call_model(model: torch.nn.Module, x: Any) -> torch.Tensor:
    """``model(x)``; tuples are spread as positional and dicts as keyword arguments.

    A model whose input layer does not fit the data (torch's "mat1 and mat2 shapes cannot be
    multiplied" and its kin) fails with the shapes named instead.

    Examples
    --------
    >>> import torch
    >>> try:
    ...     call_model(torch.nn.Linear(4, 2), torch.zeros(8, 3))
    ... except ValueError as err:
    ...     print(str(err).split(". Fix")[0])
    `model` must accept the data's inputs; found 'inputs x of shape (8, 3)'
    """
    try:
        if isinstance(x, dict):
            return model(**x)
        if isinstance(x, (tuple, list)):
            return model(*x)
        return model(x)
    except RuntimeError as err:
        if isinstance(err, torch.OutOfMemoryError) or not any(
            sign in str(err) for sign in _SHAPE_ERRORS
        ):
            raise
        raise _input_mismatch(model, x, err) from err


#: Fragments of torch's messages for inputs whose shape does not fit a layer.
_SHAPE_ERRORS = (
    "shapes cannot be multiplied",
    "size mismatch",
    "must match the size of tensor",
    "expected input",
    "normalized_shape",
)


def _input_mismatch(model: torch.nn.Module, x: Any, err: RuntimeError) -> ValueError:
    def shape(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return tuple(v.shape)
        if isinstance(v, dict):
            return {k: shape(u) for k, u in v.items()}
        if isinstance(v, (list, tuple)):
            return [shape(u) for u in v]
        return type(v).__name__

    first = next((m for m in model.modules() if isinstance(m, torch.nn.Linear)), None)
    fix = "match the model's first layer to the data"
    if isinstance(x, torch.Tensor) and x.ndim >= 1:
        fix += f": x has {x.shape[-1]} features per row"
        if first is not None:
            fix += f", the first Linear takes {first.in_features}"
    torch_says = str(err).strip().splitlines()[0][:200]
    return fail(
        "model",
        "accept the data's inputs",
        f"inputs x of shape {shape(x)}",
        f"{fix} (torch: {torch_says})",
    )


@dataclass
class OptimizerSnapshot:
    """A copy of an optimizer's per-parameter state, restorable in place (for mirror-prox)."""

    state: dict[Any, dict[str, Any]]

    @classmethod
    def take(cls, optimizer: torch.optim.Optimizer) -> OptimizerSnapshot:
        return cls(
            {
                param: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in st.items()}
                for param, st in optimizer.state.items()
            }
        )

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
                if (
                    isinstance(value, torch.Tensor)
                    and isinstance(old, torch.Tensor)
                    and old.shape == value.shape
                ):
                    old.copy_(value)
                else:
                    current[key] = value.clone() if isinstance(value, torch.Tensor) else value
