"""Figures of a mixture search: score vs proxy runs, predicted vs measured, weights found.

Each ``figure_*`` function returns a pyplot Figure (shown by ``plt.show()`` in a notebook;
close it with ``plt.close(fig)``); :func:`save_figures` writes the three as PNG files and
closes them. The command line draws them with the Agg backend (files only).

Examples
--------
>>> import numpy as np
>>> from almo.search.climb import climb
>>> res = climb(lambda w: float(w[0]), np.full(3, 1 / 3), budget=14, seed=0)
>>> fig = figure_progress({"climb": res})
>>> fig.axes[0].get_xlabel()
'proxy runs'
>>> import matplotlib.pyplot as plt
>>> plt.close(fig)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from almo._validation import fail
from almo.search.climb import SearchResult

__all__ = ["figure_predicted", "figure_progress", "figure_weights", "save_figures"]


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), layout="constrained")


def _legend(ax: Any, empty: str, **options: Any) -> None:
    """A legend when something is labelled; otherwise ``empty`` written across the axes."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)
    else:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center", color="gray")


def figure_progress(results: Mapping[str, SearchResult]) -> Any:
    """Best measured proxy score (loss, nats) against proxy runs used, one line per method."""
    fig, ax = _figure()
    for name, res in results.items():
        if not res.runs:
            continue
        v = res.values
        x = np.arange(1, v.size + 1)
        line = ax.step(x, np.minimum.accumulate(v), where="post", label=f"{name} (best so far)")
        ax.plot(x, v, ".", alpha=0.3, color=line[0].get_color())
    ax.set_xlabel("proxy runs")
    ax.set_ylabel("proxy target loss (nats per token)")
    ax.set_title("Search progress: best measured proxy score vs proxy runs")
    _legend(ax, "no method made proxy runs", fontsize="small")
    return fig


def figure_predicted(result: SearchResult) -> Any:
    """Predicted against measured proxy scores of the runs the predictor chose (held out)."""
    fig, ax = _figure(5.0, 4.5)
    runs = [r for r in result.runs if r.predicted is not None]
    if runs:
        pred = np.array([r.predicted for r in runs], dtype=float)
        meas = np.array([r.value for r in runs])
        for rnd in sorted({r.round for r in runs}):
            sel = np.array([r.round == rnd for r in runs])
            ax.plot(pred[sel], meas[sel], "o", label=f"round {rnd}")
        lo, hi = min(pred.min(), meas.min()), max(pred.max(), meas.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
    rho = result.held_out_spearman()
    ax.set_title(
        "Predictor on held-out proxy runs" + ("" if rho is None else f" (Spearman ρ = {rho:.2f})")
    )
    ax.set_xlabel("predicted proxy loss (nats per token)")
    ax.set_ylabel("measured proxy loss (nats per token)")
    _legend(ax, "no predicted runs (a single round has no predictor)", fontsize="small")
    return fig


def figure_weights(
    weights: Mapping[str, Sequence[float]],
    names: Sequence[str] | None = None,
    optimum: Sequence[float] | None = None,
) -> Any:
    """Grouped bars: each method's weight on each cluster (and the optimum, hatched)."""
    series = dict(weights)
    if optimum is not None:
        series = {"optimum": list(optimum), **series}
    if not series:
        raise fail(
            "weights",
            "map at least one method to its weights",
            weights,
            "pass e.g. {'climb': result.weights}",
        )
    k = len(next(iter(series.values())))
    fig, ax = _figure(max(7.0, 0.5 * k + 3), 4.0)
    width = 0.8 / len(series)
    x = np.arange(k)
    for i, (name, w) in enumerate(series.items()):
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            w,
            width,
            label=name,
            hatch="//" if name == "optimum" else None,
            edgecolor="black" if name == "optimum" else None,
        )
    ax.set_xticks(
        x,
        names if names is not None else [f"c{i}" for i in range(k)],
        rotation=45,
        ha="right",
        fontsize="small",
    )
    ax.set_xlabel("cluster")
    ax.set_ylabel("mixture weight λ (share of training tokens)")
    ax.set_title("Mixture weights found, per method")
    _legend(ax, "no weights", fontsize="small", ncols=2)
    return fig


def save_figures(
    results: Mapping[str, SearchResult],
    out: Path,
    names: Sequence[str] | None = None,
    optimum: Sequence[float] | None = None,
) -> list[Path]:
    """Write progress.png, predicted.png (when CLIMB ran) and weights.png to folder ``out``."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    figs = {"progress": figure_progress(results)}
    if "climb" in results:
        figs["predicted"] = figure_predicted(results["climb"])
    figs["weights"] = figure_weights(
        {m: list(r.weights) for m, r in results.items()}, names, optimum
    )
    for name, fig in figs.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
