"""Figures of the sources study, inspected as matplotlib objects: titles, axis labels, legends
(the band explained), integer generation ticks, one colour per name and per α, bands drawn as
computed, the heatmap's cells and colour bar against its numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from almo.sources import CategoricalModel, CollapseResult, risk_curve, simulate, zipf
from almo.sources.palette import COLORS, alpha_color, color_of
from almo.sources.plots import (
    BAND_LABEL,
    figure_error_curves,
    figure_final_heatmap,
    figure_metric_curves,
    metric_label,
    plot_error_curves,
    plot_final_heatmap,
    plot_metric_curves,
)
from almo.sources.policies import POLICIES


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def _runs(alphas, t=7, seed=0):
    p = zipf(20)
    return {
        a: simulate(CategoricalModel(20), p, alpha=a, n=30, generations=t, replicates=8, seed=seed)
        for a in alphas
    }, p


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_error_curves_have_title_labels_legend_band_and_integer_ticks(close_figures):
    runs, p = _runs([0.0, 0.2])
    theory = {a: risk_curve(p, a, 30, 7) for a in runs}
    fig = figure_error_curves(runs, theory, title="My title")
    ax = fig.axes[0]
    assert ax.get_title() == "My title"
    assert ax.get_xlabel() == "generation t"
    assert ax.get_ylabel() == metric_label("l2") == "E‖P̂ − P*‖²"
    assert _legend(ax) == ["α = 0.0", "α = 0.2", "exact recursion", BAND_LABEL]
    assert "±2 s.e." in BAND_LABEL
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert ax.get_yscale() == "log"


def test_one_colour_per_alpha_whatever_else_is_drawn(close_figures):
    a_runs, _ = _runs([0.0, 0.2])
    b_runs, _ = _runs([0.2, 0.5, 0.9], seed=1)
    f1 = figure_error_curves(a_runs)
    f2 = figure_metric_curves(b_runs, "tail_mass", "Tail", label="α")
    c1 = {ln.get_label(): to_rgba(ln.get_color()) for ln in f1.axes[0].get_lines()}
    c2 = {ln.get_label(): to_rgba(ln.get_color()) for ln in f2.axes[0].get_lines()}
    assert c1["α = 0.2"] == c2["α = 0.2"] == to_rgba(alpha_color(0.2))
    assert c1["α = 0.0"] != c2["α = 0.5"]


def test_one_colour_per_policy_and_arm(close_figures):
    runs, _ = _runs([0.1, 0.2])
    named = {"accumulate": runs[0.1], "replace": runs[0.2]}
    fig = figure_metric_curves(named, "l2", "Policies", log=True)
    colors = {ln.get_label(): to_rgba(ln.get_color()) for ln in fig.axes[0].get_lines()}
    assert colors == {k: to_rgba(COLORS[k]) for k in named}
    assert len({COLORS[p] for p in POLICIES}) == len(POLICIES)
    # Labels with details take their name's colour.
    assert color_of("minimax + penalty (Rademacher, β = 2)") == COLORS["minimax + penalty"]
    assert color_of("pooled (fixed weights k/n, α = 0.05)") == COLORS["pooled"]
    assert color_of("something new") == color_of("something new")


def test_bands_are_drawn_as_computed_even_below_zero(close_figures):
    # Means small against their spread: mean − 2 s.e. is negative at some generations.
    rng = np.random.default_rng(0)
    values = np.abs(rng.normal(0.0, 1.0, size=(4, 6))) * np.array([1, 1, 1, 10, 10, 10])
    values[:, 3:] -= values[:, 3:].mean(axis=0) - 0.5  # mean 0.5, large spread
    res = CollapseResult({"l2": values}, np.zeros(6), np.full(6, 10), "replace", 0)
    lower = res.mean("l2") - 2 * res.stderr("l2")
    assert lower.min() < 0
    fig = figure_metric_curves({"replace": res}, "l2", "Spread", log=True)
    ax = fig.axes[0]
    band = ax.collections[0]
    ys = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
    assert ys.min() == pytest.approx(lower.min())  # not floored at a fraction of the mean
    bottom, top = ax.get_ylim()
    assert 0 < bottom < res.mean("l2").min() and top > res.mean("l2").max()


def test_heatmap_title_colour_bar_and_cells_agree(close_figures):
    final = np.array([[0.5, 0.04], [0.0123456, 0.001]])
    fig = figure_final_heatmap([0.0, 0.5], [10, 100], final, "l2")
    ax, cbar = fig.axes
    label = metric_label("l2")
    assert label in ax.get_title() and cbar.get_ylabel() == f"log10 {label}"
    assert ax.get_xlabel() == "samples per generation n"
    assert ax.get_ylabel() == "true fraction α"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5"]
    cells = {tuple(map(float, t.get_position())): t.get_text() for t in ax.texts}
    for i in range(2):
        for j in range(2):
            assert cells[(float(j), float(i))] == f"{final[i, j]:.4g}"
    np.testing.assert_allclose(ax.images[0].get_array(), np.log10(final))


def test_plot_functions_write_files_and_close_their_figures(tmp_path):
    runs, p = _runs([0.1])
    before = len(plt.get_fignums())
    paths = [
        plot_error_curves(runs, tmp_path / "a.png", theory={0.1: risk_curve(p, 0.1, 30, 7)}),
        plot_metric_curves(runs, tmp_path / "b.png", "support", "Support", label="α"),
        plot_final_heatmap([0.1], [30], np.array([[0.01]]), tmp_path / "c.png"),
    ]
    assert all(path.stat().st_size > 1000 for path in paths)
    assert len(plt.get_fignums()) == before


def test_palette_maps_alpha_through_its_value_and_names_to_fixed_colours():
    from matplotlib import colormaps

    from almo.sources.estimators import ESTIMATORS
    from almo.sources.palette import ALPHA_CMAP

    cmap = colormaps[ALPHA_CMAP]
    assert alpha_color(0.0) == tuple(cmap(0.05)) and alpha_color(1.0) == tuple(cmap(0.9))
    assert alpha_color(-1.0) == alpha_color(0.0) and alpha_color(7.0) == alpha_color(1.0)
    shades = [alpha_color(a) for a in np.linspace(0, 1, 11)]
    assert len(set(shades)) == 11
    # Estimators that are a policy in other words share its colour; the others are distinct.
    assert COLORS["filter"] == COLORS["real-only"]
    assert COLORS["filter-aggregate"] == COLORS["real-aggregate"]
    assert len({COLORS[e] for e in ESTIMATORS}) == len(ESTIMATORS)
    arms = ["pooled", "minimax", "minimax + penalty", "hindsight"]
    assert len({COLORS[a] for a in arms}) == len(arms)
    assert all(to_rgba(c) for c in COLORS.values())
