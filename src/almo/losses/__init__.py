"""Per-sample losses and their registry: each loss defined once, in every form it is used.

A :class:`Loss` maps model outputs and targets of ``n`` samples to a tensor of ``n`` per-sample
losses. The built-in losses are registered by name in :data:`LOSSES`; parametrized ones are built
with :func:`make_loss`; a user passes any ``Loss(name, fn)`` or a ``(name, fn)`` pair.

The registry
------------
Each built-in comes from one :class:`LossKind` in :data:`LOSS_KINDS`, which holds all its forms:

- ``loss.fn`` — the torch per-sample function (what :class:`ObjectiveFamily` calls);
- ``loss.lipschitz`` / ``loss.lipschitz_within(R)`` — its Lipschitz data;
- ``loss.convex_form(task)`` — a :class:`ScoreLoss` for ``task`` in {"binary", "multiclass",
  "regression"}: numpy value, gradient, Hessian, conjugate with its domain (``clip``, ``room``)
  and ``cvxpy(S, t)``, the sum of the losses as a DCP expression; None when the loss is not
  convex in the scores (``LOSS_KINDS[loss.kind].not_convex`` says why) or is user-defined;
- ``loss.kind`` — the registry key (``"huber"`` for ``make_loss("huber", delta=2)``, whose name
  is ``"huber(delta=2)"``); None for user-defined losses.

Conventions
-----------
Integer (or bool) targets are class labels; floating targets are regression targets.

- Classification: ``outputs`` are scores/logits of shape (n, C), C ≥ 2, with labels in
  [0, C). Binary models may give one score per sample, shape (n,) or (n, 1), with labels in
  {0, 1}; such a score ``s`` is read as the two logits ``(0, s)``, so ``s > 0`` predicts class 1
  and every softmax-based loss equals its two-column form. Two losses have their own binary form:
  ``squared`` uses the margin form ``(s - y±)²`` with ``y± = 2y - 1``, and ``brier`` uses
  ``(σ(s) - y)²`` (scikit-learn's binary Brier score; the multiclass Brier score sums over the
  classes, so two logit columns give twice this value).
- Regression: ``outputs`` of shape (n,) or (n, 1), floating targets of shape (n,) or (n, 1).

Lipschitz constants μ
---------------------
``Loss.lipschitz`` is a Lipschitz constant of the per-sample loss in the model's score vector
(one row of ``outputs``) in the ℓ2 norm, for any fixed target — for regression the score is the
scalar prediction. It is valid for every output layout above (multiclass, binary score,
regression). Losses that are not globally Lipschitz (``squared``, ``squared_hinge``) and
``zero_one`` (discontinuous) report ``inf``; :meth:`Loss.lipschitz_within` gives a finite constant
on scores of ℓ2 norm ≤ R (and, in regression, targets with ``|y| ≤ R``).

Examples
--------
>>> import numpy as np
>>> import torch
>>> from almo.losses import LOSSES, Targets, make_loss
>>> scores = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
>>> LOSSES["hinge"](scores, torch.tensor([0, 0]))
tensor([0., 2.])
>>> loss = make_loss("pinball", tau=0.9)
>>> loss.name, loss.kind
('pinball(tau=0.9)', 'pinball')
>>> form = loss.convex_form("regression")
>>> form.value(np.array([[0.0]]), Targets.of_values(np.array([1.0]))).round(6).tolist()
[0.9]
"""

from almo.losses import _margin, _residual, _softmax  # noqa: F401  (they register the kinds)
from almo.losses._batch import call_loss, prepare_batch
from almo.losses._forms import ScoreLoss, Targets
from almo.losses._loss import (
    LOSS_KINDS,
    LOSSES,
    Loss,
    LossFn,
    LossKind,
    LossSpec,
    Param,
    SolverTask,
    Task,
    make_loss,
    resolve_loss,
)

__all__ = [
    "LOSSES",
    "LOSS_KINDS",
    "Loss",
    "LossFn",
    "LossKind",
    "LossSpec",
    "Param",
    "ScoreLoss",
    "SolverTask",
    "Targets",
    "Task",
    "call_loss",
    "make_loss",
    "prepare_batch",
    "resolve_loss",
]
