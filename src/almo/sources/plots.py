"""Figures of retraining runs (matplotlib, Agg backend: files only, no display needed).

Examples
--------
>>> import tempfile, pathlib
>>> from almo.sources import CategoricalModel, risk_curve, simulate, zipf
>>> p = zipf(30)
>>> res = {0.1: simulate(CategoricalModel(30), p, alpha=0.1, n=50, generations=5, replicates=10)}
>>> out = pathlib.Path(tempfile.mkdtemp()) / "err.png"
>>> plot_error_curves(res, out, theory={0.1: risk_curve(p, 0.1, 50, 5)}).exists()
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np

from almo.sources.simulate import CollapseResult

__all__ = ["plot_error_curves", "plot_final_heatmap", "plot_metric_curves"]

Label = TypeVar("Label")  # the key of each run: a policy name, an α...


def _band(ax: plt.Axes, res: CollapseResult, metric: str, label: str, color: str) -> None:
    t = np.arange(res.generations + 1)
    mean, se = res.mean(metric), res.stderr(metric)
    ax.plot(t, mean, color=color, lw=1.8, label=label)
    # Floor the band at a tenth of the mean so that log axes keep their range.
    lower = np.maximum(mean - 2 * se, 0.1 * np.abs(mean))
    ax.fill_between(t, lower, mean + 2 * se, color=color, alpha=0.2, lw=0)


def plot_error_curves(
    results: Mapping[Label, CollapseResult],
    path: str | Path,
    theory: Mapping[Label, np.ndarray] | None = None,
    metric: str = "l2",
    title: str = "Error across generations",
    label: str = "α",
    log: bool = True,
) -> Path:
    """Mean error per generation (±2 standard errors) per run, theory curves dashed on top.

    Parameters
    ----------
    results : mapping label -> CollapseResult
        One curve per entry (e.g. per α).
    path : str or Path
        Output PNG.
    theory : mapping label -> array of shape (T + 1,), optional
        Exact curves drawn dashed in the same colour.
    metric : str
        Metric to plot.
    label : str
        Name of the varied quantity in the legend.
    log : bool
        Logarithmic error axis.

    Examples
    --------
    See the module docstring.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(results)))
    for (key, res), color in zip(results.items(), colors, strict=True):
        _band(ax, res, metric, f"{label} = {key}", color)
        if theory is not None and key in theory:
            ax.plot(np.arange(len(theory[key])), theory[key], ls="--", color=color, lw=1.2)
    if theory:
        ax.plot([], [], ls="--", color="grey", label="exact recursion")
    return _finish_generation_axes(fig, ax, metric, title, log, path)


def _finish_generation_axes(
    fig: Any, ax: Any, metric: str, title: str, log: bool, path: str | Path
) -> Path:
    """Labels, scale, grid and legend shared by the per-generation plots; saves the figure."""
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("generation t")
    ax.set_ylabel(_metric_label(metric))
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_metric_curves(
    results: Mapping[Label, CollapseResult],
    path: str | Path,
    metric: str,
    title: str,
    label: str = "",
    log: bool = False,
) -> Path:
    """Any metric per generation for several runs (policies, α, ALMO vs pooling...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from almo.sources import CategoricalModel, simulate, zipf
    >>> r = simulate(CategoricalModel(20), zipf(20), alpha=0.0, n=20, generations=3, replicates=5)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "tail.png"
    >>> plot_metric_curves({"replace": r}, out, "tail_mass", "Tail").exists()
    True
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.tab10(np.arange(len(results)) % 10)  # one colour per run
    for (key, res), color in zip(results.items(), colors, strict=True):
        _band(ax, res, metric, f"{label}{key}", color)
    return _finish_generation_axes(fig, ax, metric, title, log, path)


def plot_final_heatmap(
    alphas: Sequence[float],
    ns: Sequence[int],
    final: np.ndarray,
    path: str | Path,
    metric: str = "l2",
    title: str = "Final error over α and n",
) -> Path:
    """Heatmap of the final error (log10 colour scale) over a grid: rows α, columns n.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "grid.png"
    >>> plot_final_heatmap(
    ...     [0.0, 0.5], [10, 100], np.array([[0.5, 0.4], [0.01, 0.001]]), out
    ... ).exists()
    True
    """
    values = np.log10(np.maximum(np.asarray(final, dtype=float), 1e-300))
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(ns), 1.4 + 0.55 * len(alphas)))
    im = ax.imshow(values, aspect="auto", cmap="magma_r", origin="lower")
    ax.set_xticks(range(len(ns)), [str(n) for n in ns])
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_xlabel("samples per generation n")
    ax.set_ylabel("true fraction α")
    for i in range(len(alphas)):
        for j in range(len(ns)):
            ax.text(
                j,
                i,
                f"{final[i][j]:.2g}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if values[i, j] > np.median(values) else "black",
            )
    fig.colorbar(im, ax=ax, label=f"log10 {_metric_label(metric)}")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def _metric_label(metric: str) -> str:
    return {
        "l2": "E‖P̂ − P*‖²",
        "tv": "total variation",
        "kl": "KL(P* ‖ P̂)",
        "tail_mass": "tail covered (rarest decile)",
        "support": "support size",
        "entropy": "entropy (nats)",
        "w2": "W2²",
        "mean_error": "‖μ̂ − μ*‖²",
        "test_mse": "test MSE",
    }.get(metric, metric)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
