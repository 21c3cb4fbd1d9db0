"""The regime map: its classification against long runs of the exact recursion, its boundaries
against points on either side, its simulated half against its exact half (4 standard errors),
and its figure against the same numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo.exceptions import ALMOValueError
from almo.sources import risk_curve, zipf
from almo.sources.plots import figure_regime_map
from almo.sources.regimes import REGIMES, regime, regime_boundaries, regime_map, schedules

C = 0.8


def _long_run(a, b, horizon=20_000, alpha0=0.5, n0=5):
    al, ns = schedules(alpha0, n0, a, b)
    return risk_curve(C, al, ns, horizon)


# Sample points well inside each region, and what the exact recursion does there over 20,000
# generations: the reference the classification must agree with.
INSIDE = {
    "consistency": [(0.0, 0.5), (0.5, 1.0), (0.3, 1.8), (0.9, 1.6), (1.0, 1.8)],
    "improvement": [(0.0, 0.0), (0.4, 0.4), (0.7, 0.7)],
    "bounded": [(1.6, 1.6), (2.0, 1.4), (1.4, 2.0)],
    "collapse": [(0.5, 0.0), (0.9, 0.3), (1.5, 0.0), (2.0, 0.8), (1.5, 1.0)],
}


@pytest.mark.parametrize(("expected", "point"), [(k, p) for k, pts in INSIDE.items() for p in pts])
def test_classification_agrees_with_the_long_run_of_the_exact_recursion(expected, point):
    a, b = point
    assert regime(a, b) == expected
    r = _long_run(a, b)
    end, mid = r[-1], r[len(r) // 10]
    if expected == "consistency":
        assert end < 0.5 * mid and end < 0.02 * C  # still falling, toward 0
    elif expected == "collapse":
        assert end > mid and end > 0.5 * C  # rising toward c, the point mass
    else:  # a limit strictly inside (0, c): settled by the end
        assert abs(end - mid) < 0.1 * end
        assert 1e-4 * C < end < 0.5 * C


def test_theory_conditions_at_sample_points():
    # The conditions named by the theory, checked on the schedules themselves.
    for a, b in [(0.5, 1.0), (0.5, 0.5), (1.5, 2.0), (0.5, 0.2), (1.5, 0.5), (1.0, 1.0)]:
        al, ns = schedules(0.5, 10, a, b)
        t = np.array([10**3, 10**5])
        alpha_n = al.fn(t) * ns.fn(t)
        sum_alpha_diverges = a <= 1  # Σ (t+1)^(−a)
        grows = alpha_n[1] > 2 * alpha_n[0]
        constant = np.isclose(alpha_n[1], alpha_n[0])
        got = regime(a, b)
        if sum_alpha_diverges and grows:
            assert got == "consistency"
        elif sum_alpha_diverges and constant:
            assert got == "improvement"
        elif not sum_alpha_diverges and b > 1:
            assert got == "bounded"
        else:
            assert got == "collapse"


@settings(max_examples=60, deadline=None)
@given(s=st.floats(0.01, 0.99), eps=st.floats(0.01, 0.3), far=st.floats(1.01, 3.0))
def test_each_boundary_separates_the_regimes_it_names(s, eps, far):
    lines = {label: (xs, ys) for xs, ys, label in regime_boundaries(3.0, 3.0)}
    assert len(lines) == 3
    # b = a for a in [0, 1]: consistency above, collapse below, improvement on it.
    assert regime(s, s + eps) == "consistency"
    assert regime(s, max(s - eps, 0.0)) == "collapse"
    assert regime(s, s) == "improvement"
    # a = 1 for b >= 1: consistency left, bounded right.
    assert regime(1.0 - eps, far) == "consistency"
    assert regime(1.0 + eps, far) == "bounded"
    # b = 1 for a >= 1: bounded above, collapse below.
    assert regime(far + 0.01, 1.0 + eps) == "bounded"
    assert regime(far + 0.01, 1.0 - eps) == "collapse"
    # The drawn segments are exactly those lines.
    (dx, dy), (vx, vy), (hx, hy) = lines.values()
    assert dx.tolist() == dy.tolist() == [0.0, 1.0]
    assert vx.tolist() == [1.0, 1.0] and vy.tolist() == [1.0, 3.0]
    assert hx.tolist() == [1.0, 3.0] and hy.tolist() == [1.0, 1.0]


def test_boundaries_stop_at_the_map_edges():
    assert len(regime_boundaries(0.5, 2.0)) == 1
    (xs, _ys, _), *_ = regime_boundaries(0.5, 2.0)
    assert xs.tolist() == [0.0, 0.5]


def test_simulated_map_matches_the_exact_map_within_4_standard_errors():
    exps = [0.0, 0.5, 1.0, 1.5]
    m = regime_map(
        zipf(30, 1.1), exps, exps, alpha0=0.5, n0=20, generations=8, replicates=200, seed=2
    )
    assert m.simulated is not None and m.stderr is not None
    z = np.abs(m.simulated - m.exact) / m.stderr
    assert z.max() < 4, z
    # The exact half is the recursion itself, cell by cell (rows b, columns a).
    for i, b in enumerate(exps):
        for j, a in enumerate(exps):
            al, ns = schedules(0.5, 20, a, b)
            r = risk_curve(zipf(30, 1.1), al, ns, 8)
            assert m.exact[i, j] == pytest.approx(np.log(r[-1] / r[0]), rel=1e-12)
            assert m.regimes[i][j] == regime(a, b)
    d = m.to_dict()
    assert d["settings"]["replicates"] == 200 and len(d["exact_log_ratio"]) == 4


def test_figure_shows_the_same_numbers_titles_labels_boundaries_and_regimes():
    exps = [0.0, 1.0, 2.0]
    m = regime_map(0.6, exps, exps, alpha0=0.5, n0=20, generations=5)
    fig = figure_regime_map(m)
    try:
        (ax,) = [a for a in fig.axes if a.get_title()]
        assert ax.get_title() == "exact recursion"
        assert ax.get_xlabel().startswith("a ") and ax.get_ylabel().startswith("b ")
        assert "log(R_T / R_0)" in fig._suptitle.get_text()
        cbar = next(a for a in fig.axes if not a.get_title())
        assert cbar.get_ylabel().startswith("log(R_T / R_0)")
        mesh = ax.collections[0]
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 3), m.exact)
        lines = [(ln.get_xdata().tolist(), ln.get_ydata().tolist()) for ln in ax.get_lines()]
        drawn = [(xs.tolist(), ys.tolist()) for xs, ys, _ in regime_boundaries(2.0, 2.0)]
        assert lines == drawn
        letters = {"collapse": "C", "bounded": "B", "improvement": "I", "consistency": "K"}
        shown = {(tuple(map(float, t.get_position())), t.get_text()) for t in ax.texts}
        expected = {
            ((float(a), float(b)), letters[m.regimes[i][j]])
            for i, b in enumerate(exps)
            for j, a in enumerate(exps)
        }
        assert shown == expected
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend == [label for _, _, label in regime_boundaries(2.0, 2.0)]
    finally:
        plt.close(fig)


def test_figure_with_simulation_has_two_panels_on_one_colour_scale():
    m = regime_map(zipf(10), [0.0, 1.0], [0.0, 1.0], n0=10, generations=3, replicates=20)
    fig = figure_regime_map(m, title="custom")
    try:
        panels = [a for a in fig.axes if a.get_title()]
        assert [a.get_title() for a in panels] == [
            "exact recursion",
            "simulation (R = 20 per cell)",
        ]
        assert fig._suptitle.get_text() == "custom"
        norms = {id(a.collections[0].norm) for a in panels}
        assert len(norms) == 1
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: regime(-0.5, 1.0), "a"),
        (lambda: regime(0.5, float("nan")), "b"),
        (lambda: regime_map(0.5, [-1.0], [0.0]), "a_values"),
        (lambda: regime_map(0.5, [], [0.0]), "a_values"),
        (lambda: regime_map(0.5, [0.0], ["x"]), "b_values"),
        (lambda: regime_map(0.5, [0.0], [0.0], alpha0=1.5), "alpha0"),
        (lambda: regime_map(0.5, [0.0], [0.0], n0=0), "n0"),
        (lambda: regime_map(0.5, [0.0], [0.0], replicates=5), "truth"),
        (lambda: regime_map(0.5, [0.0], [0.0], replicates=-1), "replicates"),
        (lambda: regime_boundaries(-1.0, 1.0), "a_max"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}`"):
        call()


def test_regime_names():
    assert REGIMES == ("collapse", "bounded", "improvement", "consistency")


@settings(max_examples=20, deadline=None)
@given(
    alpha0=st.floats(0.05, 0.95),
    n0=st.integers(2, 200),
    t=st.integers(2, 40),
)
def test_exact_map_improves_with_more_data_and_worsens_with_less_real_data(alpha0, n0, t):
    exps = [0.0, 0.5, 1.0, 1.5]
    m = regime_map(0.7, exps, exps, alpha0=alpha0, n0=n0, generations=t)
    # Rows b: growing n_t lowers the final error; columns a: a faster-vanishing α_t raises it.
    assert np.all(np.diff(m.exact, axis=0) <= 1e-9)
    assert np.all(np.diff(m.exact, axis=1) >= -1e-9)
    assert m.simulated is None and m.stderr is None


def test_single_cell_maps_and_exact_only_figures():
    m = regime_map(0.5, [0.7], [0.2], n0=10, generations=3)
    assert m.exact.shape == (1, 1) and m.regimes == [["collapse"]]
    fig = figure_regime_map(m)
    try:
        panels = [a for a in fig.axes if a.get_title()]
        assert len(panels) == 1
        assert panels[0].get_xlim() == pytest.approx((0.2, 1.2))  # a cell of width 1 at 0.7
    finally:
        plt.close(fig)
