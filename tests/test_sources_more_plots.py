"""Figures and palette of the sources study, inspected as matplotlib objects: the colour of each
α through its formula, names through their longest known prefix (the same in a fresh process),
theory lines in their run's colour, both band edges, axis limits and scales, the heatmap's tick
labels and cell text colours, and the regime map's panels, norm, limits and boundary styles."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import colormaps
from matplotlib.colors import to_rgba

from almo.exceptions import ALMOValueError
from almo.sources import CollapseResult, regime_boundaries, regime_map, zipf
from almo.sources.palette import ALPHA_CMAP, BAND_ALPHA, COLORS, alpha_color, color_of
from almo.sources.plots import (
    BAND_LABEL,
    figure_error_curves,
    figure_final_heatmap,
    figure_metric_curves,
    figure_regime_map,
    metric_label,
    plot_regime_map,
)


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


def _result(mean, spread, seed=0, replicates=6):
    """A CollapseResult whose l2 has the given per-generation mean (exactly) and spread."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(replicates, len(mean)))
    noise -= noise.mean(axis=0)
    values = np.asarray(mean)[None, :] + spread * noise
    t = len(mean)
    return CollapseResult({"l2": values}, np.zeros(t), np.full(t, 10), "replace", seed)


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --------------------------------------------------------------------------- palette


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.0, 1.0))
def test_alpha_colour_is_the_documented_point_of_the_colour_map(alpha):
    x = math.log1p(50 * alpha) / math.log(51)
    assert alpha_color(alpha) == tuple(colormaps[ALPHA_CMAP](0.05 + 0.85 * x))


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_alpha_colours_differ_when_the_alphas_differ_visibly(a, b):
    if abs(a - b) >= 0.02:
        assert alpha_color(a) != alpha_color(b)
    assert (alpha_color(a) == alpha_color(b)) == (alpha_color(b) == alpha_color(a))


def test_the_small_alphas_that_matter_get_well_separated_colours():
    shades = [np.array(alpha_color(a)[:3]) for a in (0.0, 0.01, 0.05, 0.2, 1.0)]
    for i in range(len(shades)):
        for j in range(i + 1, len(shades)):
            assert np.linalg.norm(shades[i] - shades[j]) > 0.1, (i, j)


def test_named_colours_are_hex_and_aliases_share_them():
    for name, hexcode in COLORS.items():
        assert len(hexcode) == 7 and hexcode.startswith("#"), name
        int(hexcode[1:], 16)
    assert COLORS["agnostic"] == COLORS["replace"] == COLORS["pooled"]
    assert 0 < BAND_ALPHA < 1


def _longest_known_prefix(label):
    known = [k for k in COLORS if label.startswith(k)]
    return max(known, key=len) if known else None


@settings(max_examples=30, deadline=None)
@given(key=st.sampled_from(sorted(COLORS)), suffix=st.text(max_size=12))
def test_a_label_takes_the_colour_of_its_longest_known_prefix(key, suffix):
    label = key + suffix
    assert color_of(label) == COLORS[_longest_known_prefix(label)]


@settings(max_examples=25, deadline=None)
@given(label=st.text(min_size=1, max_size=20))
def test_unknown_labels_get_a_stable_valid_colour(label):
    if _longest_known_prefix(label) is not None:
        return
    first = color_of(label)
    color_of("replace"), color_of("something else")  # other calls in between change nothing
    assert color_of(label) == first
    assert to_rgba(first)


def test_colours_do_not_depend_on_the_process():
    """The fallback colour comes from the label's bytes, not from Python's salted hash: a fresh
    interpreter with another hash seed gives the same colours (the module is loaded alone)."""
    import almo.sources.palette as palette

    names = ["zeta arm", "β-run", "replace", "minimax + penalty (β = 3)", "θ"]
    here = [color_of(n) for n in names]
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('palette', {palette.__file__!r}); "
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); "
        f"print('|'.join(mod.color_of(n) for n in {names!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip().split("|") == here


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), "half", None])
def test_a_nan_alpha_is_refused(alpha):
    # NaN would be drawn in the colour map's transparent "bad" colour; it is refused by name.
    with pytest.raises(ALMOValueError, match=r"`alpha` must be a finite number; found .*Fix:"):
        alpha_color(alpha)


@pytest.mark.parametrize("alpha", [-0.5, 1.5])
def test_finite_alphas_outside_the_unit_interval_are_clipped(alpha):
    assert alpha_color(alpha) == alpha_color(min(max(alpha, 0.0), 1.0))


# --------------------------------------------------------------------------- curves


def test_theory_lines_are_dashed_in_their_runs_colour_and_in_view():
    runs = {
        0.05: _result([0.02, 0.03, 0.05, 0.06], 0.002),
        0.5: _result([0.02, 0.015, 0.012, 0.011], 0.001),
    }
    theory = {0.05: np.array([0.02, 0.031, 0.049, 0.2]), 0.5: np.array([0.02, 0.014, 0.012, 0.01])}
    fig = figure_error_curves(runs, theory)
    ax = fig.axes[0]
    lines = ax.get_lines()
    solid = [ln for ln in lines if ln.get_linestyle() == "-"]
    dashed = [ln for ln in lines if ln.get_linestyle() == "--"]
    assert len(solid) == 2 and len(dashed) == 2
    for sol, das, key in zip(solid, dashed, runs, strict=True):
        assert to_rgba(sol.get_color()) == to_rgba(das.get_color()) == alpha_color(key)
        np.testing.assert_allclose(das.get_ydata(), theory[key])
        np.testing.assert_allclose(sol.get_ydata(), runs[key].mean("l2"))
    lo, hi = ax.get_ylim()
    assert lo < 0.01 and hi > 0.2  # the theory's own extremes stay in view
    assert ax.get_xlim() == (0.0, 3.0)


def test_both_band_edges_are_two_standard_errors_from_the_mean():
    res = _result([0.5, 0.4, 0.3, 0.35, 0.2], 0.05, seed=3)
    fig = figure_metric_curves({"accumulate": res}, "l2", "Band", log=False)
    ax = fig.axes[0]
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    mean, se = res.mean("l2"), res.stderr("l2")
    for edge in (mean - 2 * se, mean + 2 * se):
        for value in edge:
            assert np.min(np.abs(ys - value)) < 1e-12
    assert to_rgba(band.get_facecolor()[0])[:3] == to_rgba(COLORS["accumulate"])[:3]
    assert band.get_alpha() == pytest.approx(BAND_ALPHA)
    assert ax.get_yscale() == "linear"
    assert _legend(ax) == ["accumulate", BAND_LABEL]


def test_legends_follow_the_order_of_the_runs_and_the_label_given():
    runs = {k: _result([0.1, 0.2], 0.01, seed=i) for i, k in enumerate(["zeta", "replace", "a"])}
    ax = figure_metric_curves(runs, "l2", "Order").axes[0]
    assert _legend(ax) == ["zeta", "replace", "a", BAND_LABEL]
    ax = figure_metric_curves(runs, "l2", "Order", label="policy").axes[0]
    assert _legend(ax) == ["policy = zeta", "policy = replace", "policy = a", BAND_LABEL]
    colours = [to_rgba(ln.get_color()) for ln in ax.get_lines()]
    assert colours[1] == to_rgba(COLORS["replace"])
    # "exact recursion" appears only when there is a theory to draw.
    assert "exact recursion" not in _legend(ax)


def test_a_single_generation_still_has_a_unit_axis_and_integer_ticks():
    res = _result([0.3], 0.01)
    fig = figure_error_curves({0.2: res})
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.0, 1.0)
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 0 <= t <= 1]
    assert ticks and all(float(t).is_integer() for t in ticks)


@pytest.mark.parametrize(
    ("metric", "label"),
    [
        ("l2", "E‖P̂ − P*‖²"),
        ("tv", "total variation"),
        ("kl", "KL(P* ‖ P̂) (nats)"),
        ("entropy", "entropy (nats)"),
        ("support", "support size (tokens)"),
        ("tail_mass", "tail covered (rarest decile)"),
        ("w2", "W2²"),
        ("mean_error", "‖μ̂ − μ*‖²"),
        ("test_mse", "test MSE"),
        ("weight_error", "weight_error"),
    ],
)
def test_metric_labels_reach_the_y_axis(metric, label):
    assert metric_label(metric) == label
    values = np.abs(np.random.default_rng(0).normal(size=(3, 3))) + 0.1
    res = CollapseResult({metric: values}, np.zeros(3), np.full(3, 5), "replace", 0)
    ax = figure_metric_curves({"replace": res}, metric, "M").axes[0]
    assert ax.get_ylabel() == label


# --------------------------------------------------------------------------- heatmap


def test_heatmap_ticks_text_colours_and_default_title_of_another_metric():
    alphas, ns = [0.0, 0.05, 0.2], [10, 100, 1000, 3000]
    final = np.array([[0.9, 0.8, 0.7, 0.6], [0.3, 0.1, 0.03, 0.01], [0.1, 0.01, 1e-3, 3e-4]])
    fig = figure_final_heatmap(alphas, ns, final, metric="tv")
    ax, cbar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "100", "1000", "3000"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.05", "0.2"]
    assert ax.get_title() == "Final total variation (log10 colour scale)"
    assert cbar.get_ylabel() == "log10 total variation"
    logs = np.log10(final)
    median = np.median(logs)
    for text in ax.texts:
        j, i = (round(float(v)) for v in text.get_position())
        expected = "white" if logs[i, j] > median else "black"
        assert text.get_color() == expected
        assert text.get_text() == f"{final[i, j]:.4g}"
    assert len(ax.texts) == final.size


def test_heatmap_with_a_zero_cell_and_a_custom_title():
    final = np.array([[0.0, 0.5]])
    fig = figure_final_heatmap([0.0], [10, 20], final, title="Mine")
    ax = fig.axes[0]
    assert ax.get_title() == "Mine"
    assert np.all(np.isfinite(ax.images[0].get_array()))
    assert [t.get_text() for t in ax.texts] == ["0", "0.5"]


# --------------------------------------------------------------------------- regime map


def test_regime_map_panels_norm_limits_and_boundary_styles():
    a_vals, b_vals = [0.0, 0.5, 1.0, 2.0], [0.0, 1.0, 1.5]
    m = regime_map(zipf(8), a_vals, b_vals, alpha0=0.3, n0=12, generations=3, replicates=10)
    fig = figure_regime_map(m)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2
    everything = np.concatenate([m.exact.ravel(), m.simulated.ravel()])
    for ax, values in zip(panels, (m.exact, m.simulated), strict=True):
        mesh = ax.collections[0]
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(values.shape), values)
        norm = mesh.norm
        assert norm.vcenter == 0.0
        assert norm.vmin == pytest.approx(min(everything.min(), -1e-6))
        assert norm.vmax == pytest.approx(max(everything.max(), 1e-6))
        # Cell edges: midpoints, half a step beyond the ends (steps of 0.5/1.0 and 1.0/0.5).
        assert ax.get_xlim() == pytest.approx((-0.25, 2.5))
        assert ax.get_ylim() == pytest.approx((-0.5, 1.75))
        styles = [ln.get_linestyle() for ln in ax.get_lines()]
        assert styles == ["-", "--", ":"]
        assert ax.get_xlabel() == "a  (α_t = α_0 (t+1)^−a)"
    assert panels[0].get_ylabel() == "b  (n_t = n_0 (t+1)^b)"
    title = fig._suptitle.get_text()
    assert "T = 3" in title and "α_0 = 0.3" in title and "n_0 = 12" in title
    legend = fig.legends[0]
    assert "C collapse" in legend.get_title().get_text()
    assert [t.get_text() for t in legend.get_texts()] == [
        label for _, _, label in regime_boundaries(2.0, 1.5)
    ]


def test_a_map_that_only_worsens_keeps_white_at_zero():
    m = regime_map(0.5, [1.5, 2.0], [0.0, 0.5], alpha0=0.1, n0=50, generations=10)
    assert np.all(m.exact > 0)
    fig = figure_regime_map(m)
    (ax,) = [a for a in fig.axes if a.get_title()]
    norm = ax.collections[0].norm
    assert norm.vmin == -1e-6 and norm.vmax == pytest.approx(m.exact.max())
    assert [ln.get_linestyle() for ln in ax.get_lines()] == ["-"]  # b_max < 1: one boundary


def test_plot_regime_map_writes_a_png_and_closes_it(tmp_path):
    m = regime_map(0.5, [0.0, 1.0], [0.0, 1.0], n0=10, generations=2)
    before = plt.get_fignums()
    out = plot_regime_map(m, tmp_path / "sub" / "map.png", title="T")
    assert out == tmp_path / "sub" / "map.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert plt.get_fignums() == before
