"""Batch checks shared by every loss: canonical shapes in, a checked (n,) tensor out.

Classification targets become int64 labels with outputs (n,) binary scores or (n, C) logits;
regression outputs and targets become (n,) of one floating dtype; custom losses receive outputs
and targets unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from almo._validation import fail

if TYPE_CHECKING:
    from almo.losses._loss import Loss


def logits(outputs: torch.Tensor) -> torch.Tensor:
    """(n,) binary scores -> (n, 2) logits (0, s); (n, C) logits unchanged."""
    if outputs.ndim == 1:
        return torch.stack((torch.zeros_like(outputs), outputs), dim=1)
    return outputs


def is_labels(targets: torch.Tensor) -> bool:
    """Integer (or bool) targets are class labels; floating targets are regression targets."""
    return not (targets.is_floating_point() or targets.is_complex())


def prepare_batch(
    outputs: Any, targets: Any, losses: list[Loss] | tuple[Loss, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check outputs and targets against the losses and bring them to canonical shapes.

    Classification: outputs (n,) or (n, C≥2), int64 labels (n,). Regression: outputs and targets
    (n,) of the outputs' dtype. Custom losses only: both returned as given (targets as a tensor).

    Examples
    --------
    >>> from almo.losses import LOSSES
    >>> out, y = prepare_batch(torch.zeros(3, 1), [[0.5], [1.0], [2.0]], [LOSSES["absolute"]])
    >>> tuple(out.shape), y.dtype
    ((3,), torch.float32)
    """
    if not isinstance(outputs, torch.Tensor) or not outputs.is_floating_point():
        raise fail(
            "outputs",
            "be a floating torch tensor of scores or predictions",
            type(outputs).__name__ if not isinstance(outputs, torch.Tensor) else outputs.dtype,
            "pass the model's raw outputs (logits), e.g. model(x)",
        )
    targets = torch.as_tensor(targets, device=outputs.device)
    n_targets = targets.shape[0] if targets.ndim else -1
    if outputs.ndim not in (1, 2) or outputs.shape[0] != n_targets:
        raise fail(
            "outputs",
            "have shape (n,) or (n, C) with n = len(targets)",
            f"outputs {tuple(outputs.shape)}, targets {tuple(targets.shape)}",
            "pass one row of outputs per target",
        )
    if all(loss.task == "custom" for loss in losses):
        return outputs, targets
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim != 1:
        raise fail(
            "targets",
            "have shape (n,) or (n, 1)",
            tuple(targets.shape),
            "pass one label or value per sample",
        )
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        outputs = outputs[:, 0]
    labels = is_labels(targets)
    needs: dict[str, list[str]] = {"classification": [], "regression": []}
    for loss in losses:
        if loss.task in needs:
            needs[loss.task].append(loss.name)
    if labels and needs["regression"]:
        raise fail(
            "targets",
            f"be floating for the regression losses {needs['regression']}",
            targets.dtype,
            "pass float targets, e.g. y.float()",
        )
    if not labels and needs["classification"]:
        raise fail(
            "targets",
            f"be integer class labels for {needs['classification']}",
            targets.dtype,
            "pass labels as a long tensor, e.g. y.long()",
        )
    if not labels:
        if outputs.ndim != 1:
            raise fail(
                "outputs",
                "have shape (n,) or (n, 1) for regression losses",
                tuple(outputs.shape),
                "predict one value per sample",
            )
        return outputs, targets.to(outputs.dtype)
    targets = targets.long()
    n_classes = 2 if outputs.ndim == 1 else outputs.shape[1]
    if targets.numel():
        lo, hi = (int(v) for v in torch.aminmax(targets))  # one pass, one host sync
    if targets.numel() and (lo < 0 or hi >= n_classes):
        found = [lo, hi]
        raise fail(
            "targets",
            f"be class labels in [0, {n_classes - 1}] for outputs of shape {tuple(outputs.shape)}",
            f"labels ranging over {found}",
            "give one output column per class (binary scores take labels 0/1)",
        )
    return outputs, targets


def call_loss(loss: Loss, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``loss.fn(outputs, targets)`` with its result checked to be a floating (n,) tensor.

    Examples
    --------
    >>> from almo.losses import LOSSES
    >>> call_loss(LOSSES["absolute"], torch.tensor([1.0, -1.0]), torch.zeros(2))
    tensor([1., 1.])
    """
    values = loss.fn(outputs, targets)
    n = outputs.shape[0]
    if not (
        isinstance(values, torch.Tensor)
        and values.is_floating_point()
        and tuple(values.shape) == (n,)
    ):
        found = (
            f"{type(values).__name__} of shape {tuple(values.shape)}"
            if isinstance(values, torch.Tensor)
            else type(values).__name__
        )
        raise fail(
            f"loss {loss.name!r}",
            f"return a floating tensor of shape ({n},)",
            found,
            "return one loss per sample, without reduction",
        )
    return values
