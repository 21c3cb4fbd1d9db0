"""Figures of retraining runs (matplotlib, Agg backend: files only, no display needed).

Each ``figure_*`` function builds and returns a :class:`matplotlib.figure.Figure` (to show or
inspect; close it with ``plt.close(fig)``); each ``plot_*`` function builds the same figure,
saves it as a PNG and closes it. Colours come from :mod:`almo.sources.palette`: one colour per
policy, estimator, arm and α in every file. Curves are means over replicates with a shaded
band of ±2 standard errors of the mean (said so in every legend); bands are drawn as computed,
and on a log axis a band whose lower edge is ≤ 0 runs off the bottom of the plot. Generation
axes have integer ticks.

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
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from almo.sources.palette import BAND_ALPHA, alpha_color, color_of
from almo.sources.simulate import CollapseResult

__all__ = [
    "BAND_LABEL",
    "figure_error_curves",
    "figure_final_heatmap",
    "figure_metric_curves",
    "figure_regime_map",
    "metric_label",
    "plot_error_curves",
    "plot_final_heatmap",
    "plot_metric_curves",
    "plot_regime_map",
]

Label = TypeVar("Label")  # the key of each run: a policy name, an α...

#: The legend entry that explains the shaded bands.
BAND_LABEL = "shaded: ±2 s.e. of the mean over replicates"


def _color(key: Any, label: str) -> Any:
    """α colours for runs keyed by α, named colours otherwise."""
    if label.strip().startswith("α"):
        return alpha_color(float(key))
    return color_of(str(key))


def _band(ax: Any, res: CollapseResult, metric: str, label: str, color: Any) -> list[float]:
    """Mean ± 2 s.e. per generation; returns the positive values that should stay in view."""
    t = np.arange(res.generations + 1)
    mean, se = res.mean(metric), res.stderr(metric)
    ax.plot(t, mean, color=color, lw=1.8, label=label)
    lower, upper = mean - 2 * se, mean + 2 * se
    ax.fill_between(t, lower, upper, color=color, alpha=BAND_ALPHA, lw=0)
    keep = np.concatenate([mean, lower[lower > 0], upper])
    return [float(x) for x in keep[np.isfinite(keep) & (keep > 0)]]


def figure_error_curves(
    results: Mapping[Label, CollapseResult],
    theory: Mapping[Label, np.ndarray] | None = None,
    metric: str = "l2",
    title: str = "Error across generations",
    label: str = "α",
    log: bool = True,
) -> Figure:
    """Mean error per generation (±2 standard errors) per run, theory curves dashed on top.

    Parameters
    ----------
    results : mapping label -> CollapseResult
        One curve per entry (e.g. per α, or per policy or estimator name).
    theory : mapping label -> array of shape (T + 1,), optional
        Exact curves drawn dashed in the same colour.
    metric : str
        Metric to plot.
    title : str
        Title of the figure.
    label : str
        Name of the varied quantity in the legend; ``"α"`` colours the runs by α, anything
        else by name (see :mod:`almo.sources.palette`).
    log : bool
        Logarithmic error axis.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from almo.sources import CategoricalModel, simulate, zipf
    >>> r = simulate(CategoricalModel(20), zipf(20), alpha=0.1, n=20, generations=3, replicates=5)
    >>> fig = figure_error_curves({0.1: r})
    >>> fig.axes[0].get_xlabel()
    'generation t'
    >>> plt.close(fig)
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    keep: list[float] = []
    for key, res in results.items():
        color = _color(key, label)
        name = f"{label} = {key}" if label else str(key)
        keep += _band(ax, res, metric, name, color)
        if theory is not None and key in theory:
            curve = np.asarray(theory[key])
            ax.plot(np.arange(len(curve)), curve, ls="--", color=color, lw=1.2)
            keep += [float(x) for x in curve[curve > 0]]
    extra = [Line2D([], [], ls="--", color="grey", label="exact recursion")] if theory else []
    _finish_generation_axes(ax, metric, title, log, keep, extra)
    last = max((res.generations for res in results.values()), default=0)
    ax.set_xlim(0, max(last, 1))
    return fig


def plot_error_curves(
    results: Mapping[Label, CollapseResult],
    path: str | Path,
    theory: Mapping[Label, np.ndarray] | None = None,
    metric: str = "l2",
    title: str = "Error across generations",
    label: str = "α",
    log: bool = True,
) -> Path:
    """:func:`figure_error_curves` saved to ``path`` (PNG); returns the path.

    Examples
    --------
    See the module docstring.
    """
    return _save(figure_error_curves(results, theory, metric, title, label, log), path)


def _finish_generation_axes(
    ax: Any, metric: str, title: str, log: bool, keep: list[float], extra: list[Any]
) -> None:
    """Labels, scale, integer ticks, grid and the legend (band explained) of a generation plot."""
    if log:
        ax.set_yscale("log")
        if keep:
            # The view holds every mean, theory value and positive band edge; a band whose
            # lower edge is <= 0 runs off the bottom (its true extent), nothing is clipped.
            ax.set_ylim(min(keep) / 1.5, max(keep) * 1.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation t")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    handles, _ = ax.get_legend_handles_labels()
    band = Patch(facecolor="grey", alpha=BAND_ALPHA + 0.1, label=BAND_LABEL)
    ax.legend(handles=[*handles, *extra, band], fontsize=8)


def figure_metric_curves(
    results: Mapping[Label, CollapseResult],
    metric: str,
    title: str,
    label: str = "",
    log: bool = False,
    theory: Mapping[Label, np.ndarray] | None = None,
) -> Figure:
    """Any metric per generation for several runs (policies, α, ALMO vs pooling...).

    Runs keyed by α take α colours when ``label`` starts with "α"; others take their name's
    colour. ``theory`` adds exact curves, dashed.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from almo.sources import CategoricalModel, simulate, zipf
    >>> r = simulate(CategoricalModel(20), zipf(20), alpha=0.0, n=20, generations=3, replicates=5)
    >>> fig = figure_metric_curves({"replace": r}, "tail_mass", "Tail")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][0]
    'replace'
    >>> plt.close(fig)
    """
    return figure_error_curves(results, theory, metric, title, label, log)


def plot_metric_curves(
    results: Mapping[Label, CollapseResult],
    path: str | Path,
    metric: str,
    title: str,
    label: str = "",
    log: bool = False,
    theory: Mapping[Label, np.ndarray] | None = None,
) -> Path:
    """:func:`figure_metric_curves` saved to ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from almo.sources import CategoricalModel, simulate, zipf
    >>> r = simulate(CategoricalModel(20), zipf(20), alpha=0.0, n=20, generations=3, replicates=5)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "tail.png"
    >>> plot_metric_curves({"replace": r}, out, "tail_mass", "Tail").exists()
    True
    """
    return _save(figure_metric_curves(results, metric, title, label, log, theory), path)


def figure_final_heatmap(
    alphas: Sequence[float],
    ns: Sequence[int],
    final: np.ndarray,
    metric: str = "l2",
    title: str | None = None,
) -> Figure:
    """Heatmap of the final error (log10 colour scale) over a grid: rows α, columns n.

    Each cell prints the value it is coloured by (the same array the caller prints as a
    table). The default title names the same quantity as the colour bar.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig = figure_final_heatmap([0.0, 0.5], [10, 100], np.array([[0.5, 0.4], [0.01, 0.001]]))
    >>> fig.axes[0].get_title()
    'Final E‖P̂ − P*‖² (log10 colour scale)'
    >>> plt.close(fig)
    """
    values = np.asarray(final, dtype=float)
    logs = np.log10(np.maximum(values, 1e-300))
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * len(ns), 1.6 + 0.55 * len(alphas)))
    im = ax.imshow(logs, aspect="auto", cmap="magma_r", origin="lower")
    ax.set_xticks(range(len(ns)), [str(n) for n in ns])
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_xlabel("samples per generation n")
    ax.set_ylabel("true fraction α")
    for i in range(len(alphas)):
        for j in range(len(ns)):
            ax.text(
                j,
                i,
                f"{values[i, j]:.4g}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if logs[i, j] > np.median(logs) else "black",
            )
    fig.colorbar(im, ax=ax, label=f"log10 {metric_label(metric)}")
    ax.set_title(title or f"Final {metric_label(metric)} (log10 colour scale)", fontsize=10)
    return fig


def plot_final_heatmap(
    alphas: Sequence[float],
    ns: Sequence[int],
    final: np.ndarray,
    path: str | Path,
    metric: str = "l2",
    title: str | None = None,
) -> Path:
    """:func:`figure_final_heatmap` saved to ``path``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "grid.png"
    >>> plot_final_heatmap(
    ...     [0.0, 0.5], [10, 100], np.array([[0.5, 0.4], [0.01, 0.001]]), out
    ... ).exists()
    True
    """
    return _save(figure_final_heatmap(alphas, ns, final, metric, title), path)


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around grid values (midpoints; half a step beyond the ends)."""
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]])


def figure_regime_map(regime_map: Any, title: str | None = None) -> Figure:
    """The regime map: log(R_T/R_0) over (a, b), exact and simulated side by side.

    The colour scale (diverging, white at 0: no change from generation 0) is shared by both
    panels; the theory's boundaries (:func:`~almo.sources.regimes.regime_boundaries`) are drawn
    on each, and every cell names its regime's initial (C collapse, B bounded, I improvement
    without consistency, K consistency).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from almo.sources.regimes import regime_map
    >>> fig = figure_regime_map(regime_map(0.5, [0, 1, 2], [0, 1, 2], n0=20, generations=5))
    >>> fig.axes[0].get_xlabel()
    'a  (α_t = α_0 (t+1)^−a)'
    >>> plt.close(fig)
    """
    from almo.sources.regimes import regime_boundaries

    m = regime_map
    panels = [("exact recursion", m.exact)]
    if m.simulated is not None:
        r = m.settings.get("replicates", "?")
        panels.append((f"simulation (R = {r} per cell)", m.simulated))
    everything = np.concatenate([np.ravel(p) for _, p in panels])
    # White at 0 (no change); each side stretched to its own extreme for contrast.
    norm = TwoSlopeNorm(
        vcenter=0.0,
        vmin=min(float(np.min(everything)), -1e-6),
        vmax=max(float(np.max(everything)), 1e-6),
    )
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.2 * len(panels) + 1.2, 5.2), squeeze=False, sharey=True
    )
    fig.subplots_adjust(bottom=0.25, top=0.86, left=0.08, right=0.86, wspace=0.08)
    a_edges, b_edges = _edges(m.a), _edges(m.b)
    styles = ["-", "--", ":"]
    initials = {"collapse": "C", "bounded": "B", "improvement": "I", "consistency": "K"}
    mesh = None
    for ax, (name, values) in zip(axes[0], panels, strict=True):
        mesh = ax.pcolormesh(a_edges, b_edges, values, cmap="RdBu_r", norm=norm)
        for i, b in enumerate(m.b):
            for j, a in enumerate(m.a):
                ax.text(a, b, initials[m.regimes[i][j]], ha="center", va="center", fontsize=7)
        for (xs, ys, label), ls in zip(
            # A map of shrinking sizes (every b < 0) shows no boundary: the axis limits clip them.
            regime_boundaries(float(m.a.max()), max(float(m.b.max()), 0.0)),
            styles,
            strict=False,
        ):
            ax.plot(xs, ys, color="black", lw=1.6, ls=ls, label=label)
        ax.set_xlim(a_edges[0], a_edges[-1])
        ax.set_ylim(b_edges[0], b_edges[-1])
        ax.set_xlabel("a  (α_t = α_0 (t+1)^−a)")
        ax.set_title(name, fontsize=10)
    axes[0][0].set_ylabel("b  (n_t = n_0 (t+1)^b)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=3,
        fontsize=8,
        title="theory's boundaries; cells: C collapse, B bounded, "
        "I improvement without consistency, K consistency",
        title_fontsize=8,
    )
    s = m.settings
    fig.suptitle(
        title
        or f"log(R_T / R_0) after T = {s.get('generations')} generations "
        f"(α_0 = {s.get('alpha0')}, n_0 = {s.get('n0')})",
        fontsize=11,
    )
    assert mesh is not None
    cax = fig.add_axes((0.88, 0.25, 0.02, 0.61))
    fig.colorbar(mesh, cax=cax, label="log(R_T / R_0)  (< 0: better than gen. 0)")
    return fig


def plot_regime_map(regime_map: Any, path: str | Path, title: str | None = None) -> Path:
    """:func:`figure_regime_map` saved to ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from almo.sources.regimes import regime_map
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "regimes.png"
    >>> plot_regime_map(regime_map(0.5, [0, 1], [0, 1], n0=20, generations=3), out).exists()
    True
    """
    return _save(figure_regime_map(regime_map, title), path, tight=False)


def metric_label(metric: str) -> str:
    """The axis label of a metric (with its unit where it has one).

    Examples
    --------
    >>> metric_label("entropy")
    'entropy (nats)'
    """
    return {
        "l2": "E‖P̂ − P*‖²",
        "tv": "total variation",
        "kl": "KL(P* ‖ P̂) (nats)",
        "tail_mass": "tail covered (rarest decile)",
        "support": "support size (tokens)",
        "entropy": "entropy (nats)",
        "w2": "W2²",
        "mean_error": "‖μ̂ − μ*‖²",
        "test_mse": "test MSE",
    }.get(metric, metric)


_metric_label = metric_label  # the former private name


def _save(fig: Figure, path: str | Path, tight: bool = True) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
