"""Per-sample losses and their registry.

A :class:`Loss` maps model outputs and targets of ``n`` samples to a tensor of ``n`` per-sample
losses. The built-in losses are registered by name in :data:`LOSSES`; parametrized ones are built
with :func:`make_loss`; a user passes any ``Loss(name, fn)`` or a ``(name, fn)`` pair.

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
>>> import torch
>>> from almo.losses import LOSSES, make_loss
>>> scores = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
>>> LOSSES["hinge"](scores, torch.tensor([0, 0]))
tensor([0., 2.])
>>> make_loss("pinball", tau=0.9).name
'pinball(tau=0.9)'
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from almo._validation import fail

__all__ = ["LOSSES", "Loss", "LossSpec", "make_loss", "resolve_loss"]

Task = Literal["classification", "regression", "both", "custom"]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    """A named per-sample loss ``fn(outputs, targets) -> Tensor (n,)``.

    Parameters
    ----------
    name : str
        Name used in objective names and reports (no ``@``: it separates loss and group).
    fn : callable
        ``fn(outputs, targets)`` returning the n per-sample losses as a tensor of shape (n,).
    lipschitz : float or None, default inf
        Lipschitz constant μ in the score vector, ℓ2 norm (see the module notes); ``inf`` (or
        None) when unknown or unbounded.
    differentiable : bool, default True
        False for evaluation-only losses (``zero_one``): their gradient is zero, never useful.
    convex_for_linear : bool, default False
        True when the loss is convex in the scores, hence convex in the weights of a linear model
        (what the exact solver requires).
    task : {"classification", "regression", "both", "custom"}
        Which targets the loss accepts; ``"custom"`` losses receive outputs and targets unchanged.
    params : mapping
        Parameters of a parametrized loss (``{"delta": 1.0}`` for huber).

    Examples
    --------
    >>> import torch
    >>> cube = Loss("cube", lambda out, y: (out - y).abs() ** 3)
    >>> cube(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0]))
    tensor([1., 8.])
    """

    name: str
    fn: LossFn = field(repr=False)
    lipschitz: float | None = math.inf
    differentiable: bool = True
    convex_for_linear: bool = False
    task: Task = "custom"
    params: Mapping[str, float] = field(default_factory=dict)
    local_lipschitz: Callable[[float], float] | None = field(default=None, repr=False,
                                                            compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "@" in self.name:
            raise fail("name", "be a non-empty string without '@'", self.name,
                       "name the loss like 'my_loss'; '@' separates loss and group names")
        if not callable(self.fn):
            raise fail("fn", "be callable as fn(outputs, targets) -> Tensor (n,)", self.fn,
                       "pass a function of (outputs, targets)")
        if self.lipschitz is None:  # "unknown" spelled as None
            object.__setattr__(self, "lipschitz", math.inf)
        try:
            mu = float(self.lipschitz)
        except (TypeError, ValueError):
            mu = math.nan
        if not (mu > 0):  # also rejects NaN
            raise fail("lipschitz", "be > 0 (inf when unknown)", self.lipschitz,
                       "pass a positive constant or leave the default inf")

    def __call__(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """Per-sample losses (n,) after the same input checks as :class:`ObjectiveFamily`."""
        outputs, targets = prepare_batch(outputs, targets, [self])
        return call_loss(self, outputs, targets)

    def lipschitz_within(self, radius: float) -> float:
        """Lipschitz constant on scores with ℓ2 norm ≤ ``radius`` (and ``|y| ≤ radius``).

        Examples
        --------
        >>> LOSSES["squared"].lipschitz_within(3.0)
        12.0
        >>> LOSSES["absolute"].lipschitz_within(3.0)
        1.0
        """
        if not (float(radius) >= 0 and math.isfinite(radius)):
            raise fail("radius", "be finite and >= 0", radius, "pass a bound on the scores")
        if self.local_lipschitz is not None:
            return float(self.local_lipschitz(float(radius)))
        return float(self.lipschitz)


LossSpec = str | Loss | tuple[str, LossFn]


# --- the per-sample losses -------------------------------------------------------------------
# Each receives outputs and targets already checked by `prepare_batch`: classification targets
# are int64 labels and outputs (n,) binary scores or (n, C) logits; regression outputs and
# targets are (n,) of one floating dtype.


def _logits(outputs: torch.Tensor) -> torch.Tensor:
    """(n,) binary scores -> (n, 2) logits (0, s); (n, C) logits unchanged."""
    if outputs.ndim == 1:
        return torch.stack((torch.zeros_like(outputs), outputs), dim=1)
    return outputs


def _is_labels(targets: torch.Tensor) -> bool:
    return not (targets.is_floating_point() or targets.is_complex())


def _log_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(_logits(outputs), targets, reduction="none")


def _margin_violation(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 + max_{c≠y} s_c − s_y: positive exactly when the Crammer–Singer hinge is active."""
    scores = _logits(outputs)
    index = targets.unsqueeze(1)
    true = scores.gather(1, index).squeeze(1)
    other = scores.scatter(1, index, -math.inf).amax(dim=1)
    return 1.0 + other - true


def _hinge(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.relu(_margin_violation(outputs, targets))


def _squared_hinge(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.relu(_margin_violation(outputs, targets)).square()


def _squared(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if not _is_labels(targets):
        return (outputs - targets).square()
    if outputs.ndim == 1:  # margin form against y± in {-1, +1}
        return (outputs - (2.0 * targets - 1.0).to(outputs.dtype)).square()
    one_hot = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
    return (outputs - one_hot).square().sum(dim=1)


def _brier(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if outputs.ndim == 1:
        return (torch.sigmoid(outputs) - targets.to(outputs.dtype)).square()
    one_hot = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
    return (torch.softmax(outputs, dim=1) - one_hot).square().sum(dim=1)


def _focal(outputs: torch.Tensor, targets: torch.Tensor, *, gamma: float) -> torch.Tensor:
    log_pt = -F.cross_entropy(_logits(outputs), targets, reduction="none")
    # 1 - p_t through expm1 keeps precision when p_t ≈ 1; the floor keeps the gradient of
    # q**gamma finite for gamma < 1 (clamp passes no gradient where it binds).
    q = (-torch.expm1(log_pt)).clamp_min(torch.finfo(outputs.dtype).tiny)
    return -(q**gamma) * log_pt


def _zero_one(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # Computed without autograd: the 0-1 loss has zero gradient almost everywhere.
    with torch.no_grad():
        predicted = _logits(outputs).argmax(dim=1)  # ties go to the lowest class (s = 0 -> 0)
        return (predicted != targets).to(outputs.dtype)


def _absolute(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs - targets).abs()


def _huber(outputs: torch.Tensor, targets: torch.Tensor, *, delta: float) -> torch.Tensor:
    r = outputs - targets
    a = r.abs()
    return torch.where(a <= delta, 0.5 * r.square(), delta * (a - 0.5 * delta))


def _pinball(outputs: torch.Tensor, targets: torch.Tensor, *, tau: float) -> torch.Tensor:
    r = targets - outputs
    return torch.maximum(tau * r, (tau - 1.0) * r)


def _focal_lipschitz(gamma: float) -> float:
    """√2 · sup_p g(p), g(p) = γ q^γ p|log p| + q^(γ+1), q = 1 − p.

    With p = p_t, ∇_s focal = f'(p) ∇p and ∇p = p (e_y − softmax), ‖e_y − softmax‖ ≤ √2 q, so
    ‖∇_s focal‖ ≤ √2 g(p). The sup over a dense grid is inflated by 1e-3 (g is smooth).
    """
    p = np.unique(np.concatenate([np.logspace(-12, 0, 20001), np.linspace(0.0, 1.0, 20001)]))
    p = p[p > 0]
    q = 1.0 - p
    g = gamma * q**gamma * p * np.abs(np.log(p)) + q ** (gamma + 1.0)
    return math.sqrt(2.0) * float(g.max()) * (1.0 + 1e-3)


SQRT2 = math.sqrt(2.0)

# Defaults of the parametrized losses; `make_loss` names a loss "huber(delta=2)" only when a
# parameter differs from these, so "huber" always means the default.
_DEFAULTS: dict[str, dict[str, float]] = {
    "huber": {"delta": 1.0},
    "pinball": {"tau": 0.5},
    "focal": {"gamma": 2.0},
}


def _check_param(loss: str, key: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise fail(key, "be a real number", value, f"pass a number, e.g. {key}=1.0") from None
    rules = {
        ("focal", "gamma"): (v >= 0 and math.isfinite(v), "be finite and >= 0", "gamma=2.0"),
        ("huber", "delta"): (v > 0 and math.isfinite(v), "be finite and > 0", "delta=1.0"),
        ("pinball", "tau"): (0 < v < 1, "lie in the open interval (0, 1)", "tau=0.9"),
    }
    ok, rule, example = rules[(loss, key)]
    if not ok:
        raise fail(f"{loss}.{key}", rule, value, f"pass e.g. make_loss({loss!r}, {example})")
    return v


def _build(name: str, params: dict[str, float]) -> Loss:
    if name == "huber":
        d = params["delta"]
        return Loss(name, functools.partial(_huber, delta=d), lipschitz=d,
                    convex_for_linear=True, task="regression", params=params)
    if name == "pinball":
        t = params["tau"]
        return Loss(name, functools.partial(_pinball, tau=t), lipschitz=max(t, 1.0 - t),
                    convex_for_linear=True, task="regression", params=params)
    g = params["gamma"]
    return Loss(name, functools.partial(_focal, gamma=g), lipschitz=_focal_lipschitz(g),
                task="classification", params=params)


def _squared_hinge_local(radius: float) -> float:
    # ‖∇‖ = 2·relu(1 + s_c − s_y)·‖e_c − e_y‖ and s_c − s_y ≤ √2 R when ‖s‖ ≤ R.
    return 2.0 * SQRT2 * (1.0 + SQRT2 * radius)


def _squared_local(radius: float) -> float:
    # Classification: 2‖s − e_y‖ ≤ 2(R + 1); regression: 2|ŷ − y| ≤ 4R.
    return 2.0 * (radius + max(1.0, radius))


_BUILTIN: dict[str, Loss] = {
    "log_loss": Loss("log_loss", _log_loss, lipschitz=SQRT2, convex_for_linear=True,
                     task="classification"),
    "hinge": Loss("hinge", _hinge, lipschitz=SQRT2, convex_for_linear=True,
                  task="classification"),
    "squared_hinge": Loss("squared_hinge", _squared_hinge, convex_for_linear=True,
                          task="classification", local_lipschitz=_squared_hinge_local),
    "squared": Loss("squared", _squared, convex_for_linear=True, task="both",
                    local_lipschitz=_squared_local),
    # ∇ = 2 J (p − e_y) with ‖J‖₂ ≤ 1/2 for the softmax Jacobian and ‖p − e_y‖ ≤ √2.
    "brier": Loss("brier", _brier, lipschitz=SQRT2, task="classification"),
    "zero_one": Loss("zero_one", _zero_one, differentiable=False, task="classification"),
    "absolute": Loss("absolute", _absolute, lipschitz=1.0, convex_for_linear=True,
                     task="regression"),
}
for _name, _params in _DEFAULTS.items():
    _BUILTIN[_name] = _build(_name, dict(_params))

#: The built-in losses by name (parametrized ones with their default parameters).
LOSSES: Mapping[str, Loss] = MappingProxyType(_BUILTIN)


def make_loss(name: str, **params: float) -> Loss:
    """A built-in loss by name, with parameters for ``huber``, ``pinball`` and ``focal``.

    Parameters
    ----------
    name : str
        A key of :data:`LOSSES`.
    **params : float
        ``delta`` (huber, > 0, default 1), ``tau`` (pinball, in (0, 1), default 0.5) or
        ``gamma`` (focal, ≥ 0, default 2).

    Returns
    -------
    Loss
        Named ``"huber"`` with default parameters, ``"huber(delta=2)"`` otherwise.

    Examples
    --------
    >>> make_loss("huber", delta=2.0).name
    'huber(delta=2)'
    >>> make_loss("focal").params
    {'gamma': 2.0}
    """
    if name not in _BUILTIN:
        raise fail("losses", f"be one of {sorted(_BUILTIN)}", name,
                   "pick a known name, or pass Loss(name, fn) for your own loss")
    defaults = _DEFAULTS.get(name, {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = sorted(defaults) or "no parameters"
        raise fail(f"{name} parameters", f"be among {allowed}", unknown,
                   f"drop {unknown}" if not defaults else f"use {sorted(defaults)}")
    if not params:
        return _BUILTIN[name]
    merged = {k: _check_param(name, k, params.get(k, v)) for k, v in defaults.items()}
    loss = _build(name, merged)
    changed = [f"{k}={v:g}" for k, v in merged.items() if v != defaults[k]]
    if changed:
        loss = Loss(f"{name}({','.join(changed)})", loss.fn, loss.lipschitz, loss.differentiable,
                    loss.convex_for_linear, loss.task, loss.params, loss.local_lipschitz)
    return loss


def resolve_loss(spec: LossSpec) -> Loss:
    """Turn a loss spec — a name, a :class:`Loss` or a ``(name, fn)`` pair — into a Loss.

    Examples
    --------
    >>> resolve_loss("hinge").convex_for_linear
    True
    >>> resolve_loss(("gap", lambda out, y: out - y)).task
    'custom'
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str):
        return make_loss(spec)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return Loss(spec[0], spec[1])
    raise fail("losses", "hold loss names, Loss objects or (name, fn) pairs", spec,
               f"use a name among {sorted(_BUILTIN)}, make_loss(...) or Loss(name, fn)")


def prepare_batch(outputs: Any, targets: Any, losses: list[Loss] | tuple[Loss, ...]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Check outputs and targets against the losses and bring them to canonical shapes.

    Classification: outputs (n,) or (n, C≥2), int64 labels (n,). Regression: outputs and targets
    (n,) of the outputs' dtype. Custom losses only: both returned as given (targets as a tensor).
    """
    if not isinstance(outputs, torch.Tensor) or not outputs.is_floating_point():
        raise fail("outputs", "be a floating torch tensor of scores or predictions",
                   type(outputs).__name__ if not isinstance(outputs, torch.Tensor)
                   else outputs.dtype, "pass the model's raw outputs (logits), e.g. model(x)")
    targets = torch.as_tensor(targets, device=outputs.device)
    n_targets = targets.shape[0] if targets.ndim else -1
    if outputs.ndim not in (1, 2) or outputs.shape[0] != n_targets:
        raise fail("outputs", "have shape (n,) or (n, C) with n = len(targets)",
                   f"outputs {tuple(outputs.shape)}, targets {tuple(targets.shape)}",
                   "pass one row of outputs per target")
    if all(loss.task == "custom" for loss in losses):
        return outputs, targets
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim != 1:
        raise fail("targets", "have shape (n,) or (n, 1)", tuple(targets.shape),
                   "pass one label or value per sample")
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        outputs = outputs[:, 0]
    labels = _is_labels(targets)
    needs = {"classification": [], "regression": []}
    for loss in losses:
        if loss.task in needs:
            needs[loss.task].append(loss.name)
    if labels and needs["regression"]:
        raise fail("targets", f"be floating for the regression losses {needs['regression']}",
                   targets.dtype, "pass float targets, e.g. y.float()")
    if not labels and needs["classification"]:
        raise fail("targets", f"be integer class labels for {needs['classification']}",
                   targets.dtype, "pass labels as a long tensor, e.g. y.long()")
    if not labels:
        if outputs.ndim != 1:
            raise fail("outputs", "have shape (n,) or (n, 1) for regression losses",
                       tuple(outputs.shape), "predict one value per sample")
        return outputs, targets.to(outputs.dtype)
    targets = targets.long()
    n_classes = 2 if outputs.ndim == 1 else outputs.shape[1]
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n_classes):
        found = [int(targets.min()), int(targets.max())]
        raise fail("targets", f"be class labels in [0, {n_classes - 1}] for outputs of shape "
                   f"{tuple(outputs.shape)}", f"labels ranging over {found}",
                   "give one output column per class (binary scores take labels 0/1)")
    return outputs, targets


def call_loss(loss: Loss, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``loss.fn(outputs, targets)`` with its result checked to be a floating (n,) tensor."""
    values = loss.fn(outputs, targets)
    n = outputs.shape[0]
    if not (isinstance(values, torch.Tensor) and values.is_floating_point()
            and tuple(values.shape) == (n,)):
        found = (f"{type(values).__name__} of shape {tuple(values.shape)}"
                 if isinstance(values, torch.Tensor) else type(values).__name__)
        raise fail(f"loss {loss.name!r}", f"return a floating tensor of shape ({n},)", found,
                   "return one loss per sample, without reduction")
    return values
