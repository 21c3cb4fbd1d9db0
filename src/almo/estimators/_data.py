"""Data checks shared by ``fit`` and the evaluation methods: finite X, group ids, the scales."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from almo._validation import fail
from almo.losses import Loss
from almo.objectives import ObjectiveFamily


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Refuse NaN or inf in a numeric array, saying how many rows hold them."""
    if X.dtype.kind in "fc" and not np.all(np.isfinite(X)):
        rows = ~np.all(np.isfinite(X.reshape(X.shape[0], -1)), axis=1)
        first = int(np.flatnonzero(rows)[0])
        raise fail(
            name,
            "hold finite numbers (no NaN or inf)",
            f"NaN or inf in {int(rows.sum())} of {X.shape[0]} rows (the first is row {first})",
            "drop those rows or impute them (e.g. sklearn.impute.SimpleImputer in a Pipeline)",
        )


def group_names(labels: np.ndarray) -> list[str]:
    """Objective-name suffixes for the sorted group labels: ``group<id>`` for numbers."""
    if labels.dtype.kind in "iub":
        names = [f"group{int(v)}" for v in labels]
    elif labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        names = [f"group{int(v)}" for v in labels]
    else:
        names = [str(v) for v in labels]
    if len(set(names)) != len(names) or any(not n or "@" in n for n in names):
        names = [f"group{i}" for i in range(len(labels))]
    return names


def encode_groups(
    groups: Any, n: int, known: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(sorted labels, ids 0..G-1 per row); with ``known`` labels, map onto those."""
    arr = np.asarray(groups)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n:
        raise fail(
            "groups",
            f"hold one group label per row of X ({n} rows)",
            f"shape {arr.shape}",
            "pass a 1-d array of group labels as long as y, or groups=None",
        )
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise fail(
            "groups",
            "hold finite labels",
            f"{int((~np.isfinite(arr)).sum())} NaN or inf labels",
            "give every row a group label",
        )
    if arr.dtype.kind not in "iubfUSO":
        raise fail("groups", "hold numbers or strings", arr.dtype, "pass integer or string labels")
    if known is None:
        labels, ids = np.unique(arr, return_inverse=True)
        return labels, ids.astype(np.int64)
    pos = np.searchsorted(known, arr)
    pos = np.clip(pos, 0, len(known) - 1)
    unknown = known[pos] != arr
    if unknown.any():
        raise fail(
            "groups",
            f"hold only the groups seen in fit ({known.tolist()[:8]})",
            f"unseen labels {np.unique(arr[unknown]).tolist()[:8]}",
            "evaluate on groups the model was trained on",
        )
    return known, pos.astype(np.int64)


def make_family(
    losses: Sequence[Loss], names: list[str] | None, scales: np.ndarray | None
) -> ObjectiveFamily:
    """The objective family: losses × groups, with fixed scales (or none)."""
    return ObjectiveFamily(list(losses), groups=names, normalize=scales)


def targets_tensor(y: np.ndarray) -> torch.Tensor:
    """Class ids as int64, regression targets as float64."""
    return torch.from_numpy(np.array(y))  # a copy: y may be read-only


def zero_model_scales(
    losses: Sequence[Loss],
    names: list[str] | None,
    y: np.ndarray,
    ids: np.ndarray | None,
    n_outputs: int,
) -> np.ndarray:
    """Each objective's raw value for the model whose every score is 0 (W = 0, b = 0).

    The same numbers on every path (solver, trainer, any model, any seed), so objectives of
    different models trained on the same data are on one scale. An objective that is 0 there
    (a regression group whose targets are all 0) keeps the scale 1.
    """
    family = make_family(losses, names, None)
    shape = (len(y),) if n_outputs == 1 else (len(y), n_outputs)
    outputs = torch.zeros(shape, dtype=torch.float64)
    groups = None if ids is None else torch.from_numpy(ids)
    raw = family.batch(outputs, targets_tensor(y), groups).means(normalized=False)
    raw = np.asarray(raw, dtype=np.float64)
    return np.where(np.isfinite(raw) & (raw > 0), raw, 1.0)
