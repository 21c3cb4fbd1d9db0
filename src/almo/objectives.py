"""Objective families: a batch of model outputs -> a loss vector ℓ ∈ R^p in one forward pass.

An :class:`ObjectiveFamily` holds L per-sample losses (see :mod:`almo.losses`) and optionally G
groups. Its p = L × G objectives are laid out **loss-major**: objective ``k = l * G + g`` is loss
``l`` averaged over group ``g`` and is named ``"<loss>@<group>"`` (``"hinge@group3"``); without
groups, p = L and the names are the loss names.

Each per-sample loss is computed once per batch, giving an (n, L) matrix; group sums come from one
``index_add_`` and counts from one ``bincount``, so the cost does not grow with the number of
groups and no Python loop runs over samples or groups.

Absent groups
-------------
A group with no sample in the batch has count 0; its mean is defined as 0, with zero gradient, so
it never drives the model step. :meth:`ObjectiveFamily.present` gives the mask of objectives seen
in the batch: the trainer holds the λ step of absent objectives on their last seen values instead
of treating the 0 as a loss.

Normalization
-------------
``normalized = raw / scale``. ``normalize=None`` keeps ``scale = 1``; a vector of p positive
numbers is used as the scale directly; ``"initial"`` sets each entry to the objective's value on
a reference batch (:meth:`ObjectiveFamily.calibrate`), or — for objectives still uncalibrated —
on the first batch in which ``family(...)`` sees them. A zero or non-finite initial value is an
error. :meth:`ObjectiveFamily.evaluate` returns raw and normalized values side by side.

Examples
--------
>>> import torch
>>> from almo.objectives import ObjectiveFamily
>>> family = ObjectiveFamily(["log_loss", "zero_one"], groups=2)
>>> family.names
['log_loss@group0', 'log_loss@group1', 'zero_one@group0', 'zero_one@group1']
>>> scores = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
>>> family(scores, torch.tensor([0, 0, 1]), groups=torch.tensor([0, 0, 0]))
tensor([1.4603, 0.0000, 0.6667, 0.0000])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from almo._validation import check_finite_losses, fail
from almo.losses import Loss, LossSpec, call_loss, prepare_batch, resolve_loss
from almo.objective_batch import ObjectiveBatch, SampleRows, reduce_rows

__all__ = ["ConcatenatedFamily", "ObjectiveBatch", "ObjectiveFamily", "ObjectiveValues"]


class ObjectiveValues(NamedTuple):
    """Per-objective means of a batch, raw and normalized (detached tensors of shape (p,))."""

    raw: torch.Tensor
    normalized: torch.Tensor


class ObjectiveFamily(nn.Module):
    """p = losses × groups objectives computed from one forward pass.

    Parameters
    ----------
    losses : loss spec or sequence of loss specs, default ("log_loss", "hinge", "squared")
        Names from :data:`almo.losses.LOSSES`, :class:`almo.losses.Loss` objects (parametrized
        ones via :func:`almo.losses.make_loss`, e.g. ``make_loss("huber", delta=2.0)``) or
        ``(name, fn)`` pairs with ``fn(outputs, targets) -> Tensor (n,)``.
    groups : None, int or sequence of str, default None
        None: no groups (p = number of losses). An int G: groups with ids 0..G-1, named
        ``"group0"``...; a sequence of names: one group per name, ids in that order.
    normalize : None, "initial" or array-like of shape (p,), default None
        How to bring objectives to a common scale (see the module notes).

    Attributes
    ----------
    scale : Tensor (p,)
        Buffer dividing raw means (ones unless normalized); saved in ``state_dict``.
    calibrated : Tensor (p,) of bool
        Buffer: which entries of ``scale`` are set.

    Examples
    --------
    >>> import torch
    >>> family = ObjectiveFamily(["log_loss", "hinge"], normalize="initial")
    >>> scores, labels = torch.tensor([[1.0, -1.0], [0.0, 0.5]]), torch.tensor([0, 1])
    >>> _ = family.calibrate(scores, labels)
    >>> family(scores, labels)
    tensor([1., 1.])
    >>> family.evaluate(scores, labels).raw
    tensor([0.3005, 0.2500])
    """

    scale: torch.Tensor
    calibrated: torch.Tensor

    def __init__(
        self,
        losses: LossSpec | Sequence[LossSpec] = ("log_loss", "hinge", "squared"),
        groups: int | Sequence[str] | None = None,
        normalize: Literal["initial"] | Sequence[float] | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self._losses = tuple(resolve_loss(s) for s in _as_spec_list(losses))
        loss_names = [loss.name for loss in self._losses]
        if len(set(loss_names)) != len(loss_names):
            raise fail(
                "losses",
                "have distinct names",
                loss_names,
                "drop the duplicate, or give parametrized variants different parameters",
            )
        self._group_names = _group_names(groups)
        if self._group_names is None:
            self._names = loss_names
        else:
            self._names = [f"{loss}@{g}" for loss in loss_names for g in self._group_names]
        p = len(self._names)
        scale, calibrated = torch.ones(p, dtype=torch.float64), torch.zeros(p, dtype=torch.bool)
        if isinstance(normalize, str):
            if normalize != "initial":
                raise fail(
                    "normalize",
                    "be None, 'initial' or p positive scales",
                    normalize,
                    "use normalize='initial' or a vector of positive numbers",
                )
        elif normalize is not None:
            scale = _positive_vector(normalize, p)
            calibrated[:] = True
        elif normalize is None:
            calibrated[:] = True
        self.normalize: Any = normalize
        self.register_buffer("scale", scale)
        self.register_buffer("calibrated", calibrated)
        self._all_calibrated = bool(calibrated.all())
        self._scale_host: np.ndarray | None = None
        # Keep the Python-side flag (which spares a device sync per step) in line with buffers
        # restored from a checkpoint.
        self.register_load_state_dict_post_hook(_refresh_flag)

    # --- description ----------------------------------------------------------------------
    @property
    def p(self) -> int:
        """Number of objectives, losses × groups."""
        return len(self._names)

    @property
    def names(self) -> list[str]:
        """Objective names in layout order (loss-major), e.g. ``"hinge@group3"``."""
        return list(self._names)

    @property
    def losses(self) -> tuple[Loss, ...]:
        """The per-sample losses, in order."""
        return self._losses

    @property
    def group_names(self) -> list[str] | None:
        """Group names in id order, or None without groups."""
        return None if self._group_names is None else list(self._group_names)

    @property
    def n_groups(self) -> int:
        """G, or 1 without groups (each loss then gives one objective)."""
        return 1 if self._group_names is None else len(self._group_names)

    @property
    def layout(self) -> list[tuple[Loss, int | None]]:
        """Objective k as (loss, group id or None for the whole sample), in layout order.

        Examples
        --------
        >>> [(loss.name, g) for loss, g in ObjectiveFamily("hinge", groups=2).layout]
        [('hinge', 0), ('hinge', 1)]
        """
        if self._group_names is None:
            return [(loss, None) for loss in self._losses]
        return [(loss, g) for loss in self._losses for g in range(len(self._group_names))]

    def _per_objective(self, values: Sequence[Any]) -> np.ndarray:
        return np.repeat(np.asarray(values), self.n_groups)

    @property
    def lipschitz(self) -> np.ndarray:
        """μ_k (p,) float64: Lipschitz constant of each raw loss in the score vector, ℓ2 norm.

        ``inf`` where the loss is not globally Lipschitz (see :mod:`almo.losses`). Means over
        groups keep the constant; a normalized objective has ``lipschitz / scale``.
        """
        return self._per_objective([loss.lipschitz for loss in self._losses]).astype(float)

    def lipschitz_within(self, radius: float) -> np.ndarray:
        """μ_k (p,) on scores of ℓ2 norm ≤ ``radius`` (finite for every built-in but zero_one)."""
        return self._per_objective([loss.lipschitz_within(radius) for loss in self._losses])

    @property
    def differentiable(self) -> np.ndarray:
        """Bool (p,): False for evaluation-only objectives (zero_one), whose gradient is 0."""
        return self._per_objective([loss.differentiable for loss in self._losses]).astype(bool)

    @property
    def convex_for_linear(self) -> np.ndarray:
        """Bool (p,): the loss is convex in the weights of a linear model."""
        return self._per_objective([loss.convex_for_linear for loss in self._losses]).astype(bool)

    @property
    def needs_calibration(self) -> bool:
        """True while some entry of an ``"initial"`` scale is not set yet."""
        return not self._all_calibrated

    def extra_repr(self) -> str:
        groups = None if self._group_names is None else len(self._group_names)
        norm = (
            self.normalize
            if self.normalize is None or isinstance(self.normalize, str)
            else "scales"
        )
        return f"losses={[loss.name for loss in self._losses]}, groups={groups}, normalize={norm!r}"

    # --- computation ----------------------------------------------------------------------
    def per_sample(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """Per-sample raw losses, shape (n, L), one column per loss, one pass over the batch."""
        outputs, targets = prepare_batch(outputs, targets, self._losses)
        columns = [call_loss(loss, outputs, targets) for loss in self._losses]
        return columns[0].unsqueeze(1) if len(columns) == 1 else torch.stack(columns, dim=1)

    def sums_counts(
        self, outputs: torch.Tensor, targets: Any, groups: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-objective sums of raw per-sample losses and sample counts, both (p,).

        ``sums`` is differentiable; ``counts`` is a float tensor, 0 where a group is absent.
        :meth:`batch` wraps them, with the scales, in an :class:`ObjectiveBatch`.
        """
        per, ids = self._rows(outputs, targets, groups)
        return reduce_rows(per, ids, self.n_groups if ids is not None else 1)

    def batch(self, outputs: torch.Tensor, targets: Any, groups: Any = None) -> ObjectiveBatch:
        """The :class:`ObjectiveBatch` of one forward pass: sums, counts and the scales.

        The batch keeps the per-sample losses (with their gradients) and the group ids, so its
        θ loss is one weighted sum over the samples; its sums and counts are detached.

        Examples
        --------
        >>> family = ObjectiveFamily(["log_loss", "hinge"], normalize=[2.0, 1.0])
        >>> b = family.batch(torch.tensor([[1.0, -1.0], [0.0, 0.5]]), torch.tensor([0, 1]))
        >>> b.means(normalized=False).round(4).tolist(), b.means().round(4).tolist()
        ([0.3005, 0.25], [0.1503, 0.25])
        """
        # The group ids' range is checked by the counts' length (one op fewer per step).
        per, ids = self._rows(outputs, targets, groups, check_range=False)
        n_groups = self.n_groups if ids is not None else 1
        try:
            sums, counts = reduce_rows(per.detach(), ids, n_groups, differentiable=False)
        except RuntimeError:  # bincount refuses negative ids
            self._group_ids(groups, outputs)  # raises the standard message
            raise
        if counts.shape[0] != per.shape[1] * n_groups:  # an id >= G lengthened the bincount
            self._group_ids(groups, outputs)
        return ObjectiveBatch(sums, counts, self.scale_array, rows=SampleRows(per, ids, n_groups))

    def _rows(
        self, outputs: torch.Tensor, targets: Any, groups: Any, check_range: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-sample losses (n, L) with gradients, and the checked group ids (or None)."""
        ids = self._group_ids(groups, outputs, check_range)
        per = self.per_sample(outputs, targets)
        if per.shape[0] == 0:
            raise fail(
                "outputs",
                "hold at least one sample",
                "an empty batch (0 rows)",
                "drop empty batches (DataLoader(..., drop_last=...)) or check the data",
            )
        return per, ids

    @property
    def scale_array(self) -> np.ndarray:
        """The scales as a read-only float64 numpy vector (p,) (kept in step with ``scale``)."""
        if self._scale_host is None:
            host = self.scale.detach().cpu().numpy().astype(np.float64)
            host.setflags(write=False)
            self._scale_host = host
        return self._scale_host

    def reduce(
        self, sums: torch.Tensor, counts: torch.Tensor, normalized: bool = True
    ) -> torch.Tensor:
        """Means ``sums / counts`` (0 with zero gradient where a count is 0), divided by ``scale``.

        Shorthand for ``ObjectiveBatch(sums, counts, family.scale_array).values(normalized)``.

        Examples
        --------
        >>> family = ObjectiveFamily("absolute", groups=2)
        >>> family.reduce(torch.tensor([3.0, 0.0]), torch.tensor([2.0, 0.0]))
        tensor([1.5000, 0.0000])
        """
        return ObjectiveBatch(sums, counts, self.scale_array).values(normalized)

    @staticmethod
    def present(counts: torch.Tensor) -> torch.Tensor:
        """Bool mask (p,) of objectives with at least one sample in the batch."""
        return counts > 0

    def forward(self, outputs: torch.Tensor, targets: Any, groups: Any = None) -> torch.Tensor:
        """Normalized per-objective means (p,), differentiable; 0 for absent groups.

        With ``normalize="initial"`` the family must be calibrated first (:meth:`calibrate`;
        :class:`~almo.MinimaxTrainer` does it on the whole training data before its first step).
        Values are not checked for NaN/inf here (the trainer does, naming the step).
        """
        batch = self.batch(outputs, targets, groups)  # bad input is reported first
        self._require_calibrated()
        return batch.values()

    def evaluate(self, outputs: torch.Tensor, targets: Any, groups: Any = None) -> ObjectiveValues:
        """Raw and normalized means (detached), checked finite; does not calibrate."""
        with torch.no_grad():
            b = self.batch(outputs, targets, groups)
            raw = b.values(normalized=False)
        check_finite_losses(raw, self._names, where="ObjectiveFamily.evaluate")
        return ObjectiveValues(raw, b.values())

    def calibrate(self, outputs: torch.Tensor, targets: Any, groups: Any = None) -> ObjectiveFamily:
        """Set the ``"initial"`` scale to the raw means of a batch; returns self.

        The library's meaning of ``normalize="initial"``: the raw value of each objective for
        the initial model over the whole training data. Pass the outputs of that model on all
        of it (or use :meth:`calibrate_batch` with batches summed by :class:`ObjectiveBatch`).
        Objectives absent from the data keep their previous scale (and stay uncalibrated).
        """
        with torch.no_grad():
            b = self.batch(outputs, targets, groups)
        return self.calibrate_batch(b)

    def calibrate_batch(self, batch: ObjectiveBatch) -> ObjectiveFamily:
        """Set the ``"initial"`` scale from an :class:`ObjectiveBatch` (e.g. a full pass).

        Examples
        --------
        >>> family = ObjectiveFamily(["log_loss", "hinge"], normalize="initial")
        >>> scores, labels = torch.tensor([[1.0, -1.0], [0.0, 0.5]]), torch.tensor([0, 1])
        >>> half = [family.batch(scores[i : i + 1], labels[i : i + 1]) for i in range(2)]
        >>> family.calibrate_batch(half[0] + half[1]).scale_array.round(4).tolist()
        [0.3005, 0.25]
        """
        if self.normalize != "initial":
            raise fail(
                "normalize",
                "be 'initial' to calibrate",
                self.normalize,
                "construct ObjectiveFamily(..., normalize='initial')",
            )
        raw = batch.means(normalized=False)
        self._set_scale(torch.from_numpy(raw), torch.from_numpy(batch.total_counts))
        return self

    @classmethod
    def concat(cls, families: Sequence[ObjectiveFamily]) -> ObjectiveFamily:
        """One family whose objectives are those of ``families``, one after the other.

        The usual case: one loss over the whole sample next to the same loss per group, so the
        adversary can weigh the average against each group's. Names must stay distinct; each
        member keeps its own normalization (scales concatenate).

        Examples
        --------
        >>> both = ObjectiveFamily.concat(
        ...     [ObjectiveFamily("log_loss"), ObjectiveFamily("log_loss", groups=2)]
        ... )
        >>> both.names, both.p
        (['log_loss', 'log_loss@group0', 'log_loss@group1'], 3)
        >>> scores = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
        >>> both(scores, torch.tensor([0, 1, 1]), groups=torch.tensor([0, 0, 1]))
        tensor([0.7936, 0.1269, 2.1269])
        """
        return ConcatenatedFamily(families)

    # --- internals ------------------------------------------------------------------------
    def _require_calibrated(self) -> None:
        if not self._all_calibrated:
            missing = [
                n for n, c in zip(self.names, self.calibrated.tolist(), strict=True) if not c
            ]
            raise fail(
                "family",
                "be calibrated before use with normalize='initial'",
                f"no scale yet for {missing}",
                "call family.calibrate(outputs, y, groups) with the initial model's "
                "outputs on the training data, or pass fixed scales normalize=[...]",
            )

    def _set_scale(self, raw: torch.Tensor, counts: torch.Tensor) -> None:
        """Scale := raw value for every objective with samples; the others keep theirs."""
        mask = (counts > 0).cpu()
        values = raw.detach().cpu().double()
        bad = mask & ~(torch.isfinite(values) & (values > 0))
        if bad.any():
            idx = torch.nonzero(bad).flatten().tolist()
            raise fail(
                "initial objective values",
                "be finite and > 0 to normalize by",
                {self._names[i]: float(values[i]) for i in idx},
                "calibrate on a batch where the model errs on every objective, or pass "
                "fixed scales as normalize=[...]",
            )
        with torch.no_grad():
            self.scale[mask.to(self.scale.device)] = values[mask].to(self.scale)
            self.calibrated |= mask.to(self.calibrated.device)
        self._all_calibrated = bool(self.calibrated.all())
        self._scale_host = None

    def _group_ids(
        self, groups: Any, outputs: torch.Tensor, check_range: bool = True
    ) -> torch.Tensor | None:
        if self._group_names is None:
            if groups is not None:
                raise fail(
                    "groups",
                    "be None for a family built without groups",
                    "group ids",
                    "build ObjectiveFamily(..., groups=G) to get per-group objectives",
                )
            return None
        if groups is None:
            raise fail(
                "groups",
                f"hold one group id per sample (family has {len(self._group_names)} groups)",
                None,
                "pass group ids, e.g. family(outputs, y, groups=g)",
            )
        ids = torch.as_tensor(groups, device=outputs.device)
        if ids.ndim == 2 and ids.shape[1] == 1:
            ids = ids[:, 0]
        n = outputs.shape[0] if outputs.ndim else -1
        if (
            ids.is_floating_point()
            or ids.is_complex()
            or ids.dtype == torch.bool
            or tuple(ids.shape) != (n,)
        ):
            raise fail(
                "groups",
                f"be integer group ids of shape ({n},)",
                f"{ids.dtype} of shape {tuple(ids.shape)}",
                "pass g.long() of length n",
            )
        g = len(self._group_names)
        if not check_range:
            return ids if ids.dtype == torch.int64 else ids.long()
        if ids.numel():
            lo, hi = (int(v) for v in torch.aminmax(ids))  # one pass, one host sync
        if ids.numel() and (lo < 0 or hi >= g):
            raise fail(
                "groups",
                f"lie in [0, {g - 1}]",
                [lo, hi],
                f"map group labels to ids 0..{g - 1} or build the family with more groups",
            )
        return ids.long()


class ConcatenatedFamily(ObjectiveFamily):
    """The objectives of several families side by side (built by :meth:`ObjectiveFamily.concat`).

    Each member computes its own objectives from the same outputs, targets and group ids
    (members without groups ignore the ids); the scales and calibration state are the members'
    concatenated, and ``calibrate`` reaches every member.
    """

    def __init__(self, families: Sequence[ObjectiveFamily]) -> None:
        members = list(families) if isinstance(families, Sequence) else None
        if not members or not all(isinstance(f, ObjectiveFamily) for f in members):
            raise fail(
                "families",
                "be a non-empty sequence of ObjectiveFamily",
                families,
                "pass e.g. [ObjectiveFamily('log_loss'), ObjectiveFamily('log_loss', groups=4)]",
            )
        names = [n for f in members for n in f.names]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise fail(
                "families",
                "give distinct objective names",
                dup,
                "name the groups differently, or drop the repeated family",
            )
        nn.Module.__init__(self)
        self.members = nn.ModuleList(members)  # registered: state_dict and .to() reach them
        self._parts: list[ObjectiveFamily] = members
        self._losses = tuple(loss for f in members for loss in f.losses)
        self._group_names = None
        self._names = names
        self.normalize = "members"  # each member keeps its own normalization
        self._scale_host = None
        self._all_calibrated = True

    # Buffers live in the members; these views keep ObjectiveFamily's interface.
    @property
    def scale(self) -> torch.Tensor:  # type: ignore[override]
        return torch.cat([f.scale.to(torch.float64).cpu() for f in self._parts])

    @property
    def calibrated(self) -> torch.Tensor:  # type: ignore[override]
        return torch.cat([f.calibrated.cpu() for f in self._parts])

    @property
    def scale_array(self) -> np.ndarray:
        return np.concatenate([f.scale_array for f in self._parts])

    @property
    def needs_calibration(self) -> bool:
        return any(f.needs_calibration for f in self._parts)

    @property
    def n_groups(self) -> int:
        return 1

    @property
    def layout(self) -> list[tuple[Loss, int | None]]:
        return [item for f in self._parts for item in f.layout]

    def _per_objective(self, values: Sequence[Any]) -> np.ndarray:
        it = iter(values)
        return np.concatenate(
            [np.repeat(np.asarray([next(it) for _ in f.losses]), f.n_groups) for f in self._parts]
        )

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def sums_counts(
        self, outputs: torch.Tensor, targets: Any, groups: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [
            f.sums_counts(outputs, targets, groups if f.group_names else None) for f in self._parts
        ]
        return torch.cat([s for s, _ in parts]), torch.cat([c for _, c in parts])

    def batch(self, outputs: torch.Tensor, targets: Any, groups: Any = None) -> ObjectiveBatch:
        sums, counts = self.sums_counts(outputs, targets, groups)
        return ObjectiveBatch(sums, counts, self.scale_array)

    def _require_calibrated(self) -> None:
        for f in self._parts:
            f._require_calibrated()

    def calibrate_batch(self, batch: ObjectiveBatch) -> ObjectiveFamily:
        start = 0
        for f in self._parts:
            part = slice(start, start + f.p)
            if f.normalize == "initial":
                f.calibrate_batch(
                    ObjectiveBatch(batch.total_sums[part], batch.total_counts[part], f.scale_array)
                )
            start += f.p
        return self


def _refresh_flag(module: nn.Module, _incompatible: Any) -> None:
    # (called with the family being loaded; setattr keeps nn.Module's typing out of the way)
    setattr(module, "_all_calibrated", bool(getattr(module, "calibrated").all()))  # noqa: B010, B009
    setattr(module, "_scale_host", None)  # noqa: B010


def _as_spec_list(losses: Any) -> list[LossSpec]:
    if isinstance(losses, (str, Loss)):
        return [losses]
    if (
        isinstance(losses, tuple)
        and len(losses) == 2
        and isinstance(losses[0], str)
        and callable(losses[1])
    ):
        return [losses]
    try:
        specs = list(losses)
    except TypeError:
        raise fail(
            "losses",
            "be a loss spec or a sequence of them",
            losses,
            'pass e.g. ["log_loss", "hinge"]',
        ) from None
    if not specs:
        raise fail("losses", "hold at least one loss", specs, 'pass e.g. ["log_loss"]')
    return specs


def _group_names(groups: Any) -> list[str] | None:
    if groups is None:
        return None
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        if groups < 1:
            raise fail(
                "groups",
                "be a positive number of groups",
                groups,
                "pass groups=None for no groups, or G >= 1",
            )
        return [f"group{i}" for i in range(int(groups))]
    if isinstance(groups, str) or not isinstance(groups, Sequence):
        raise fail(
            "groups",
            "be None, a number of groups or a list of group names",
            groups,
            'pass e.g. groups=3 or groups=["north", "south"]',
        )
    names = [str(g) for g in groups]
    if not names or len(set(names)) != len(names) or any(not g or "@" in g for g in names):
        raise fail(
            "groups",
            "name distinct non-empty groups without '@'",
            names,
            "give each group its own name",
        )
    return names


def _positive_vector(values: Any, p: int) -> torch.Tensor:
    try:
        arr = np.asarray(
            values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=float
        )
    except (TypeError, ValueError):
        raise fail(
            "normalize",
            f"be None, 'initial' or {p} positive scales",
            values,
            "pass normalize='initial' or a list of positive numbers",
        ) from None
    if arr.shape != (p,) or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise fail(
            "normalize",
            f"hold {p} finite positive scales (one per objective)",
            arr,
            f"pass {p} numbers > 0, each objective is divided by its entry",
        )
    return torch.as_tensor(arr, dtype=torch.float64)
