"""The :class:`Loss` users pass around, and the registry of loss kinds behind the built-ins.

A :class:`LossKind` is one registered loss — ``huber``, say — and holds every form of it: the
torch per-sample function, the Lipschitz data, the parameters with their rules, and the convex
forms per task (numpy value, gradient, Hessian, conjugate, cvxpy expression), or the reason
there are none. :func:`make_loss` turns a kind and parameter values into a :class:`Loss`, whose
``kind`` field leads back to the entry; nothing else parses loss names.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import torch

from almo._validation import fail
from almo.losses._batch import call_loss, prepare_batch
from almo.losses._forms import ScoreLoss

Task = Literal["classification", "regression", "both", "custom"]
#: The tasks of the certified linear solver, which pick a convex form.
SolverTask = Literal["binary", "multiclass", "regression"]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SOLVER_TASKS: dict[str, tuple[str, ...]] = {
    "classification": ("binary", "multiclass"),
    "regression": ("regression",),
    "both": ("binary", "multiclass", "regression"),
}

_KINDS: dict[str, LossKind] = {}
_BUILTIN: dict[str, Loss] = {}

#: The registered loss kinds by name.
LOSS_KINDS: Mapping[str, LossKind] = MappingProxyType(_KINDS)
#: The built-in losses by name (parametrized ones with their default parameters).
LOSSES: Mapping[str, Loss] = MappingProxyType(_BUILTIN)


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
        Lipschitz constant μ in the score vector, ℓ2 norm (see :mod:`almo.losses`); ``inf`` (or
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
    local_lipschitz : callable, optional
        ``radius -> μ`` on scores of ℓ2 norm ≤ radius, for losses not globally Lipschitz.
    kind : str or None
        The registered kind (a key of :data:`LOSS_KINDS`) a built-in loss was made from; None
        for user-defined losses. Set by :func:`make_loss`.

    Examples
    --------
    >>> import torch
    >>> cube = Loss("cube", lambda out, y: (out - y).abs() ** 3)
    >>> cube(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0]))
    tensor([1., 8.])
    >>> make_loss("huber", delta=2.0).kind, cube.kind
    ('huber', None)
    """

    name: str
    fn: LossFn = field(repr=False)
    lipschitz: float | None = math.inf
    differentiable: bool = True
    convex_for_linear: bool = False
    task: Task = "custom"
    params: Mapping[str, float] = field(default_factory=dict)
    local_lipschitz: Callable[[float], float] | None = field(
        default=None, repr=False, compare=False
    )
    kind: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "@" in self.name:
            raise fail(
                "name",
                "be a non-empty string without '@'",
                self.name,
                "name the loss like 'my_loss'; '@' separates loss and group names",
            )
        if not callable(self.fn):
            raise fail(
                "fn",
                "be callable as fn(outputs, targets) -> Tensor (n,)",
                self.fn,
                "pass a function of (outputs, targets)",
            )
        given = math.inf if self.lipschitz is None else self.lipschitz  # None: "unknown"
        object.__setattr__(self, "lipschitz", given)
        try:
            mu = float(given)
        except (TypeError, ValueError):
            mu = math.nan
        if not (mu > 0):  # also rejects NaN
            raise fail(
                "lipschitz",
                "be > 0 (inf when unknown)",
                self.lipschitz,
                "pass a positive constant or leave the default inf",
            )
        if self.kind is not None and self.kind not in _KINDS:
            raise fail(
                "kind",
                f"be a registered loss kind among {sorted(_KINDS)} or None",
                self.kind,
                "leave kind=None for your own loss; make_loss sets it",
            )

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
        return math.inf if self.lipschitz is None else float(self.lipschitz)

    def convex_form(self, task: SolverTask) -> ScoreLoss | None:
        """This loss as a convex function of a linear model's scores on ``task``.

        Parameters
        ----------
        task : {"binary", "multiclass", "regression"}
            The linear model's task: one score per sample (binary, regression) or one per class.

        Returns
        -------
        ScoreLoss or None
            The numpy/cvxpy form the certified solver uses; None for user-defined losses, for
            losses not convex in the scores (``brier``, ``focal``, ``zero_one``) and for tasks
            the loss does not accept.

        Examples
        --------
        >>> LOSSES["hinge"].convex_form("binary")
        BinaryHinge()
        >>> LOSSES["hinge"].convex_form("regression") is None
        True
        >>> LOSSES["focal"].convex_form("multiclass") is None
        True
        """
        if task not in ("binary", "multiclass", "regression"):
            raise fail(
                "task",
                "be 'binary', 'multiclass' or 'regression'",
                task,
                "pass the linear model's task",
            )
        if self.kind is None:
            return None
        form = _KINDS[self.kind].forms.get(task)
        return None if form is None else form(**self.params)


LossSpec = str | Loss | tuple[str, LossFn]


@dataclass(frozen=True)
class Param:
    """A loss parameter: its default and the rule a value must satisfy.

    Examples
    --------
    >>> delta = Param(1.0, lambda v: v > 0, "be finite and > 0", 1.0)
    >>> delta.check("huber", "delta", 2)
    2.0
    """

    default: float
    valid: Callable[[float], bool] = field(repr=False)
    rule: str
    example: float

    def check(self, loss: str, key: str, value: Any) -> float:
        """``float(value)`` after checking it obeys the rule."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise fail(
                key, "be a real number", value, f"pass a number, e.g. {key}={self.example}"
            ) from None
        if not self.valid(v):
            raise fail(
                f"{loss}.{key}",
                self.rule,
                value,
                f"pass e.g. make_loss({loss!r}, {key}={self.example})",
            )
        return v


@dataclass(frozen=True)
class LossKind:
    """One registered loss and all its forms: torch, Lipschitz data, convex forms per task.

    Parameters
    ----------
    name : str
        The key in :data:`LOSS_KINDS` and :data:`LOSSES`, and ``Loss.kind``.
    fn : callable
        Torch per-sample function ``fn(outputs, targets, **params) -> Tensor (n,)`` on batches
        already checked by :func:`prepare_batch`.
    task : {"classification", "regression", "both"}
        The targets it accepts.
    lipschitz : float or callable, default inf
        μ in the score vector (ℓ2), or ``lipschitz(**params) -> μ`` for parametrized kinds.
    local_lipschitz : callable, optional
        ``radius -> μ`` on bounded scores, for kinds that are not globally Lipschitz.
    differentiable : bool, default True
        False for evaluation-only kinds.
    params : mapping of str to Param
        The parameters, their defaults and rules.
    forms : mapping of solver task to ScoreLoss class
        The convex forms, built as ``form(**params)``: one per solver task the kind accepts
        (``binary`` and ``multiclass`` for classification, ``regression``), or none at all.
    not_convex : str, optional
        Why there are no forms (required exactly when ``forms`` is empty).

    Examples
    --------
    >>> kind = LOSS_KINDS["huber"]
    >>> kind.task, sorted(kind.forms), kind.lipschitz_of({"delta": 2.0})
    ('regression', ['regression'], 2.0)
    >>> LOSS_KINDS["brier"].not_convex
    'it composes the squared error with the softmax, which is not convex in the scores'
    """

    name: str
    fn: Callable[..., torch.Tensor] = field(repr=False)
    task: Literal["classification", "regression", "both"]
    lipschitz: float | Callable[..., float] = field(default=math.inf, repr=False)
    local_lipschitz: Callable[[float], float] | None = field(default=None, repr=False)
    differentiable: bool = True
    params: Mapping[str, Param] = field(default_factory=dict, repr=False)
    forms: Mapping[str, type[ScoreLoss]] = field(default_factory=dict, repr=False)
    not_convex: str | None = None

    def __post_init__(self) -> None:
        if self.task not in SOLVER_TASKS:
            raise fail(
                f"LossKind {self.name!r} task",
                f"be one of {sorted(SOLVER_TASKS)}",
                self.task,
                "say which targets the loss accepts",
            )
        tasks = SOLVER_TASKS[self.task]
        if self.forms and (set(self.forms) != set(tasks) or self.not_convex):
            raise fail(
                f"LossKind {self.name!r} forms",
                f"cover exactly the tasks {tasks} (and come without a not_convex reason)",
                sorted(self.forms),
                "give one convex form per task, or none and a not_convex reason",
            )
        if not self.forms and not self.not_convex:
            raise fail(
                f"LossKind {self.name!r} forms",
                "be given, or not_convex say why not",
                self.forms,
                "add the convex forms or the reason there are none",
            )

    @property
    def defaults(self) -> dict[str, float]:
        """The default parameter values."""
        return {k: p.default for k, p in self.params.items()}

    def lipschitz_of(self, params: Mapping[str, float]) -> float:
        """μ for the parameter values ``params``."""
        mu = self.lipschitz
        return float(mu(**params)) if callable(mu) else float(mu)

    def build(self, params: Mapping[str, float]) -> Loss:
        """The :class:`Loss` of this kind with checked parameter values ``params``."""
        params = dict(params)
        changed = [f"{k}={v:g}" for k, v in params.items() if v != self.params[k].default]
        name = f"{self.name}({','.join(changed)})" if changed else self.name
        fn = functools.partial(self.fn, **params) if params else self.fn
        return Loss(
            name,
            fn,
            lipschitz=self.lipschitz_of(params),
            differentiable=self.differentiable,
            convex_for_linear=bool(self.forms),
            task=self.task,
            params=params,
            local_lipschitz=self.local_lipschitz,
            kind=self.name,
        )


def register(kind: LossKind) -> LossKind:
    """Add ``kind`` to the registry and its default-parameter loss to :data:`LOSSES`."""
    if kind.name in _KINDS:
        raise fail("LossKind name", "be new to the registry", kind.name, "pick another name")
    _KINDS[kind.name] = kind
    _BUILTIN[kind.name] = kind.build(kind.defaults)
    return kind


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
        Named ``"huber"`` with default parameters, ``"huber(delta=2)"`` otherwise; its ``kind``
        is ``"huber"`` either way.

    Examples
    --------
    >>> make_loss("huber", delta=2.0).name
    'huber(delta=2)'
    >>> make_loss("focal").params
    {'gamma': 2.0}
    """
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise fail(
            "losses",
            f"be one of {sorted(_KINDS)}",
            name,
            "pick a known name, or pass Loss(name, fn) for your own loss",
        )
    unknown = sorted(set(params) - set(kind.params))
    if unknown:
        allowed = sorted(kind.params) or "no parameters"
        raise fail(
            f"{name} parameters",
            f"be among {allowed}",
            unknown,
            f"drop {unknown}" if not kind.params else f"use {sorted(kind.params)}",
        )
    if not params:
        return _BUILTIN[name]
    return kind.build(
        {k: p.check(name, k, params.get(k, p.default)) for k, p in kind.params.items()}
    )


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
    raise fail(
        "losses",
        "hold loss names, Loss objects or (name, fn) pairs",
        spec,
        f"use a name among {sorted(_KINDS)}, make_loss(...) or Loss(name, fn)",
    )
