"""Plots of a comparison between ALMO and fixed-weight ensembles, from plain arrays.

Four figures, each a :class:`matplotlib.figure.Figure` a reader understands without the code
(title, axis labels with units, legend):

- :func:`plot_weights` — the mixture weights λ over training;
- :func:`plot_epoch_losses` — each objective's training and held-out loss per epoch;
- :func:`plot_objectives_by_model` — held-out per-objective losses of each model, its worst
  case over Λ marked;
- :func:`plot_pareto` — for p = 2 or 3 objectives, the fixed-λ sweep's losses, its Pareto
  front and the ALMO model.

Colours mean the same thing in every figure: objective k always has
:func:`objective_colors`\\ ``[k]``; a model trained by ALMO is black, the uniform ensemble grey,
the ensemble trained on objective k alone has objective k's colour, and the other fixed-λ
ensembles are light grey. Model families are told apart by the marker (``MODEL_MARKERS``).

The functions only draw; they use the Agg backend's :class:`~matplotlib.figure.Figure`
directly (no pyplot state), so they work headless and in notebooks alike
(``display(fig)``, or ``fig.savefig(path)``).

Examples
--------
>>> import numpy as np
>>> fig = plot_weights([1, 2, 3], np.array([[0.5, 0.5], [0.6, 0.4], [0.7, 0.3]]), ["a", "b"])
>>> ax = fig.axes[0]
>>> ax.get_xlabel(), ax.get_ylabel()
('training step (mini-batches)', 'weight λ_k (unitless; the weights sum to 1)')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from almo._validation import fail

__all__ = [
    "ARM_COLORS",
    "LOSS_LABEL",
    "MODEL_MARKERS",
    "arm_color",
    "objective_colors",
    "pareto_mask",
    "plot_epoch_losses",
    "plot_objectives_by_model",
    "plot_pareto",
    "plot_weights",
]

#: Colour of each kind of model that is not tied to one objective.
ARM_COLORS = {"almo": "#000000", "uniform": "#7f7f7f", "fixed": "#c7c7c7"}
#: Marker of each model family (others get "s").
MODEL_MARKERS = {"linear": "o", "mlp": "^"}
#: The y-axis label of normalized losses.
LOSS_LABEL = "normalized loss (raw / scale, unitless)"
_WEIGHT_LABEL = "weight λ_k (unitless; the weights sum to 1)"


def objective_colors(p: int) -> list[str]:
    """One colour per objective, as hex strings: tab10 up to 10 objectives, tab20 up to 20,
    evenly spaced hues beyond.

    Examples
    --------
    >>> objective_colors(2)
    ['#1f77b4', '#ff7f0e']
    """
    from matplotlib import colormaps

    if p <= 10:
        cmap, n = colormaps["tab10"], 10
    elif p <= 20:
        cmap, n = colormaps["tab20"], 20
    else:
        cmap, n = colormaps["hsv"], p + 1
    return [to_hex(cmap(k / n if n > 20 else k)) for k in range(p)]


def arm_color(kind: str, objective: int | None = None, p: int | None = None) -> str:
    """The colour of a model of ``kind`` ("almo", "uniform", "fixed" or "single").

    A "single" model (trained on one objective) takes the colour of ``objective`` among ``p``.

    Examples
    --------
    >>> arm_color("almo"), arm_color("single", objective=1, p=3)
    ('#000000', '#ff7f0e')
    """
    if kind == "single":
        if objective is None or p is None:
            raise fail("objective", "be given for a single-objective model", objective, "pass p")
        return objective_colors(p)[objective]
    if kind not in ARM_COLORS:
        raise fail("kind", f"be one of {[*ARM_COLORS, 'single']}", kind, "pass kind='fixed'")
    return ARM_COLORS[kind]


def _matrix(name: str, value: Any, p: int | None = None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or (p is not None and arr.shape[1] != p):
        want = "(n, p)" if p is None else f"(n, {p})"
        raise fail(name, f"have shape {want}", arr.shape, "pass one row per point")
    return arr


def plot_weights(
    steps: Sequence[float],
    weights: Any,
    names: Sequence[str],
    *,
    title: str = "ALMO's mixture weights λ over training",
    xlabel: str = "training step (mini-batches)",
) -> Figure:
    """λ_k against the training step, one line per objective in its colour.

    Parameters
    ----------
    steps : sequence of n numbers
        The step (or epoch) of each row of ``weights``.
    weights : array (n, p)
        λ at those steps.
    names : sequence of p str
        Objective names (the legend).
    """
    w = _matrix("weights", weights, len(names))
    x = np.asarray(steps, dtype=np.float64)
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for k, (name, color) in enumerate(zip(names, objective_colors(len(names)), strict=True)):
        ax.plot(x, w[:, k], color=color, label=name, lw=1.5)
    ax.set(title=title, xlabel=xlabel, ylabel=_WEIGHT_LABEL, ylim=(-0.02, 1.02))
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside right upper",
        title="objective",
        fontsize="small",
        ncols=1 + len(names) // 16,
    )
    ax.grid(alpha=0.3)
    return fig


def _split_legend_title(held_out: np.ndarray | None, held_out_epochs: np.ndarray) -> str:
    """The legend title that says how each split is drawn (only the splits drawn)."""
    if held_out is None:
        return "solid: training split"
    held = "dashed: held-out split" if len(held_out_epochs) > 1 else "◆: held-out split"
    return "solid: training split\n" + held


def plot_epoch_losses(
    epochs: Sequence[float],
    train: Any,
    held_out: Any | None,
    names: Sequence[str],
    *,
    held_out_epochs: Sequence[float] | None = None,
    title: str = "Per-objective loss per epoch (ALMO)",
    ylabel: str = LOSS_LABEL,
) -> Figure:
    """Each objective's training loss (solid) and held-out loss (dashed) per epoch.

    Both curves are the same model (the one training returns at that epoch) evaluated on the
    two splits, so the distance between a solid line and the dashed line of its colour is the
    objective's generalization gap, epoch by epoch.

    Parameters
    ----------
    epochs : sequence of n numbers
    train : array (n, p)
        Each objective's loss on the training split at the end of each epoch.
    held_out : array (m, p) or None
        Each objective's loss on the held-out split at the end of epochs ``held_out_epochs``
        (None: training losses only).
    names : sequence of p str
    held_out_epochs : sequence of m numbers, optional
        Epochs of the rows of ``held_out`` (default: ``epochs``); a held-out curve of a single
        point (only the final model evaluated) is drawn as a marker.

    Examples
    --------
    >>> fig = plot_epoch_losses([1, 2], [[1.0, 0.5], [0.8, 0.4]], [[1.1, 0.6], [0.9, 0.5]], "ab")
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['a (train)', 'a (held-out)', 'b (train)', 'b (held-out)']
    """
    tr = _matrix("train", train, len(names))
    ho = None if held_out is None else _matrix("held_out", held_out, len(names))
    x = np.asarray(epochs, dtype=np.float64)
    x_ho = x if held_out_epochs is None else np.asarray(held_out_epochs, dtype=np.float64)
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for k, (name, color) in enumerate(zip(names, objective_colors(len(names)), strict=True)):
        ax.plot(x, tr[:, k], color=color, lw=1.5, marker=".", label=f"{name} (train)")
        if ho is not None:
            ax.plot(
                x_ho,
                ho[:, k],
                color=color,
                lw=1.5,
                ls="--",
                marker="D" if len(x_ho) == 1 else None,
                label=f"{name} (held-out)",
            )
    ax.set(title=title, xlabel="epoch (passes over the training split)", ylabel=ylabel)
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside right upper",
        title=_split_legend_title(ho, x_ho),
        fontsize="small",
        ncols=1 + len(names) // 12,
    )
    ax.grid(alpha=0.3)
    return fig


def plot_objectives_by_model(
    labels: Sequence[str],
    values: Any,
    names: Sequence[str],
    worst: Sequence[float],
    *,
    errors: Any | None = None,
    title: str = "Held-out loss of each objective, by model",
    ylabel: str = LOSS_LABEL,
) -> Figure:
    """Grouped bars: for each model (x axis) one bar per objective in its colour, the model's
    worst case over Λ marked by a black bar across the group.

    Parameters
    ----------
    labels : sequence of m str
        Model names (x tick labels).
    values : array (m, p)
        Held-out normalized loss of each objective for each model.
    names : sequence of p str
        Objective names.
    worst : sequence of m float
        Each model's held-out worst case over Λ.
    errors : array (m, p), optional
        Standard errors (error bars).

    Examples
    --------
    >>> fig = plot_objectives_by_model(["ALMO", "uniform"], [[1, 2], [0.5, 3]], "ab", [2, 3])
    >>> fig.axes[0].get_title()
    'Held-out loss of each objective, by model'
    """
    v = _matrix("values", values, len(names))
    m, p = v.shape
    if len(labels) != m or len(worst) != m:
        raise fail("labels", f"have one entry per row of values ({m})", len(labels), "align them")
    err = None if errors is None else _matrix("errors", errors, p)
    fig = Figure(figsize=(min(16.0, max(6.0, 0.18 * m * (p + 1) + 2.0)), 5.0), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / p
    x = np.arange(m, dtype=np.float64)
    for k, (name, color) in enumerate(zip(names, objective_colors(p), strict=True)):
        ax.bar(
            x - 0.4 + width * (k + 0.5),
            v[:, k],
            width,
            color=color,
            label=name,
            yerr=None if err is None else np.nan_to_num(err[:, k]),
            capsize=2 if err is not None else 0,
        )
    ax.hlines(
        np.asarray(worst, np.float64),
        x - 0.45,
        x + 0.45,
        colors="black",
        lw=2.0,
        label="worst case over Λ",
    )
    ax.set_xticks(x, list(labels), rotation=40 if m > 4 else 0, ha="right" if m > 4 else "center")
    positive = v[np.isfinite(v) & (v > 0)]
    if positive.size and positive.max() > 30 * positive.min():
        ax.set_yscale("log")  # a model far off on one objective would flatten the others
        ylabel = f"{ylabel}, log scale"
    ax.set(title=title, xlabel="model (trained on the training split)", ylabel=ylabel)
    ax.legend(fontsize="small", ncols=1 + p // 8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def pareto_mask(points: Any) -> np.ndarray:
    """Boolean mask of the points no other point dominates (all losses ≤, one <).

    Examples
    --------
    >>> pareto_mask([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]).tolist()
    [True, True, False]
    """
    pts = _matrix("points", points)
    keep = np.ones(len(pts), dtype=bool)
    for i, q in enumerate(pts):
        dominated = np.all(pts <= q, axis=1) & np.any(pts < q, axis=1)
        keep[i] = not dominated.any()
    return keep


def plot_pareto(
    names: Sequence[str],
    sweeps: Mapping[str, Any],
    almo: Mapping[str, Any],
    *,
    kinds: Mapping[str, Sequence[str]] | None = None,
    title: str = "Fixed-λ sweep, its Pareto front and ALMO (held-out)",
) -> Figure:
    """For p = 2 or 3 objectives: held-out losses of the fixed-λ ensembles, the Pareto front
    of the sweep, and the ALMO model, one panel per pair of objectives.

    Parameters
    ----------
    names : sequence of p str (p = 2 or 3)
    sweeps : mapping model family -> array (K, p)
        Held-out normalized losses of the family's K fixed-λ ensembles.
    almo : mapping model family -> array (p,)
        Held-out normalized losses of the family's ALMO model.
    kinds : mapping model family -> K str, optional
        What each row of the sweep is (its colour): "uniform", "fixed", or "single:k" for the
        ensemble trained on objective k alone. Default: all "fixed".

    Examples
    --------
    >>> fig = plot_pareto("ab", {"linear": [[1, 2], [2, 1], [1.5, 1.5]]}, {"linear": [1.4, 1.4]})
    >>> fig.axes[0].get_xlabel()
    'a (normalized, unitless)'
    """
    p = len(names)
    if p not in (2, 3):
        raise fail("names", "have 2 or 3 objectives", p, "plot the Pareto front for p = 2 or 3")
    pairs = list(combinations(range(p), 2))
    fig = Figure(figsize=(4.2 * len(pairs) + 0.5, 5.2), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for family, sweep in sweeps.items():
        pts = _matrix(f"sweeps[{family!r}]", sweep, p)
        marker = MODEL_MARKERS.get(family, "s")
        row_kinds = list(kinds[family]) if kinds and family in kinds else ["fixed"] * len(pts)
        colors = []
        for kind in row_kinds:
            base, _, index = kind.partition(":")
            colors.append(arm_color(base, int(index) if index else None, p))
        star = np.asarray(almo[family], np.float64) if family in almo else None
        for ax, (i, j) in zip(axes, pairs, strict=True):
            ax.scatter(
                pts[:, i],
                pts[:, j],
                c=colors,
                marker=marker,
                edgecolors="#404040",
                linewidths=0.5,
                s=36,
                zorder=2,
                label=f"{family}: fixed λ",
            )
            # the front of the two objectives shown (a p = 3 front does not project to one)
            front = pareto_mask(pts[:, [i, j]])
            order = np.argsort(pts[front, i])
            ax.plot(
                pts[front, i][order],
                pts[front, j][order],
                color="#404040",
                ls=":",
                lw=1.0,
                zorder=1,
                label=f"{family}: Pareto front of the sweep (the two objectives shown)",
            )
            if star is not None:
                ax.scatter(
                    [star[i]],
                    [star[j]],
                    marker=marker,
                    s=170,
                    c=ARM_COLORS["almo"],
                    edgecolors="white",
                    linewidths=1.0,
                    zorder=3,
                    label=f"{family}: ALMO",
                )
    for ax, (i, j) in zip(axes, pairs, strict=True):
        ax.set(
            xlabel=f"{names[i]} (normalized, unitless)",
            ylabel=f"{names[j]} (normalized, unitless)",
        )
        for axis, k in (("x", i), ("y", j)):
            values = [np.asarray(v, np.float64)[..., k].ravel() for v in [*sweeps.values()]]
            both = np.concatenate(values) if values else np.zeros(0)
            both = both[np.isfinite(both) & (both > 0)]
            if both.size and both.max() > 30 * both.min():
                getattr(ax, f"set_{axis}scale")("log")
                label = getattr(ax, f"get_{axis}label")()
                getattr(ax, f"set_{axis}label")(f"{label}, log scale")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=min(3, max(1, len(labels))),
        fontsize="small",
        title="black: ALMO · light grey: fixed λ · grey: uniform · coloured: that objective "
        "alone · dotted: Pareto front",
        title_fontsize="small",
    )
    fig.suptitle(title)
    return fig
