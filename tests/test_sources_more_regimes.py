"""The regime map on random exponents: the classification against the long run of the exact
recursion away from the boundaries, the improvement line's level in closed form, every change
of regime along a scan line lying on a drawn boundary, and the map's cells against direct
simulations with the documented per-cell seeds (bitwise) and the delta-method standard error.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from almo.exceptions import ALMOValueError
from almo.sources import (
    REGIMES,
    CategoricalModel,
    RegimeMap,
    collision_gap,
    power_law,
    regime,
    regime_boundaries,
    regime_map,
    risk_curve,
    simulate,
    stable_level,
    zipf,
)
from almo.sources.plots import figure_regime_map

C = 0.8
HORIZON = 20_000


def _distance_to_boundaries(a, b):
    """Distance from (a, b) to the three boundaries of the module docstring."""
    d = []
    if a <= 1:
        d.append(abs(b - a) / np.sqrt(2))
    d.append(abs(a - 1) if b >= 1 else np.hypot(a - 1, b - 1))
    d.append(abs(b - 1) if a >= 1 else np.hypot(a - 1, b - 1))
    return min(d)


def _expected(a, b, tol=1e-12):
    """The theory's conditions, read off the series: Σ α_t = ∞ iff a <= 1 (a p-series);
    α_t n_t ∝ (t+1)^(b − a) grows, stays or vanishes; Σ 1/n_t < ∞ iff b > 1 (equalities
    within the documented tolerance)."""
    sum_alpha_diverges = a <= 1 + tol
    growth = 0 if abs(b - a) <= tol else np.sign(b - a)
    if sum_alpha_diverges and growth > 0:
        return "consistency"
    if sum_alpha_diverges and growth == 0:
        return "improvement"
    if not sum_alpha_diverges and b > 1 + tol:
        return "bounded"
    return "collapse"


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.0, 4.0), b=st.floats(-1.0, 4.0))
def test_classification_is_the_theorys_conditions(a, b):
    assert regime(a, b) == _expected(a, b)
    assert regime(a, b) in REGIMES


@settings(max_examples=25, deadline=None)
@given(
    a=st.floats(0.0, 2.5),
    b=st.floats(0.0, 2.5),
    alpha0=st.floats(0.3, 0.7),
    n0=st.integers(5, 50),
)
def test_away_from_the_boundaries_the_long_run_does_what_the_regime_says(a, b, alpha0, n0):
    assume(_distance_to_boundaries(a, b) >= 0.3)
    r = risk_curve(C, power_law(alpha0, -a), power_law(n0, b), HORIZON)
    end, mid, half = r[-1], r[HORIZON // 10], r[HORIZON // 2]
    name = regime(a, b)
    if name == "consistency":
        assert end < 0.7 * mid, (mid, end)  # still falling toward 0
    elif name == "collapse":
        assert end > mid, (mid, end)  # rising toward c
    else:  # bounded: settled at a level strictly inside (0, c)
        assert abs(end - half) <= 0.05 * end and end < C


@settings(max_examples=20, deadline=None)
@given(a=st.floats(0.1, 0.5), alpha0=st.floats(0.2, 0.8), n0=st.integers(5, 40))
def test_on_the_improvement_line_the_error_follows_the_stable_level(a, alpha0, n0):
    """b = a < 1: α_t n_t ≈ α_0 n_0 while α_t → 0 slowly (relaxation time 1/(2α_t) ≪ t), so
    R_t tracks the stable level of the current (α_t, n_t), c/(1 + (n_t − 1)α_t(2 − α_t)),
    which stays near c/(1 + 2 α_0 n_0): neither 0 (consistency) nor c (collapse)."""
    assert regime(a, a) == "improvement"
    al, ns = power_law(alpha0, -a), power_law(n0, a)
    r = risk_curve(C, al, ns, HORIZON)
    a_t, n_t = al.values(HORIZON)[-1], round(ns.values(HORIZON)[-1])
    assert r[-1] == pytest.approx(stable_level(C, a_t, n_t), rel=0.05)
    assert 0.5 < r[-1] * (1 + 2 * alpha0 * n0) / C < 2.0


def test_at_a_equals_b_equals_zero_the_level_is_the_stable_level():
    r = risk_curve(C, power_law(0.3, 0.0), power_law(20, 0.0), 2000)
    assert regime(0.0, 0.0) == "improvement"
    assert r[-1] == pytest.approx(stable_level(C, 0.3, 20), rel=1e-12)


def test_the_equality_tolerance():
    assert regime(0.5, 0.5 + 1e-13) == "improvement"
    assert regime(0.5, 0.5 + 1e-9) == "consistency"
    assert regime(0.5, 0.5 + 1e-9, tol=1e-6) == "improvement"
    assert regime(1.0 + 1e-13, 2.0) == "consistency"  # a = 1 within tol: Σ α_t diverges
    assert regime(1.0 + 1e-9, 2.0) == "bounded"


# --------------------------------------------------------------------------- boundaries


def _crossings(segments, level, axis):
    """Where each boundary segment crosses the line b = level (axis 0) or a = level (axis 1)."""
    out = []
    for xs, ys, _ in segments:
        along, across = (xs, ys) if axis == 0 else (ys, xs)
        lo, hi = sorted(across)
        if across[0] != across[1] and lo <= level <= hi:
            frac = (level - across[0]) / (across[1] - across[0])
            out.append(along[0] + frac * (along[1] - along[0]))
    return out


@settings(max_examples=40, deadline=None)
@given(
    a_max=st.floats(0.1, 3.0),
    b_max=st.floats(0.1, 3.0),
    level=st.floats(0.01, 3.0),
    axis=st.sampled_from([0, 1]),
)
def test_every_change_of_regime_along_a_line_is_on_a_drawn_boundary(a_max, b_max, level, axis):
    assume(abs(level - 1.0) > 1e-3)
    segments = regime_boundaries(a_max, b_max)
    for xs, ys, _ in segments:
        assert np.all((xs >= 0) & (xs <= a_max + 1e-12) & (ys >= 0) & (ys <= b_max + 1e-12))
    end = a_max if axis == 0 else b_max
    assume(level <= (b_max if axis == 0 else a_max))
    grid = np.linspace(0.0, end, 301)
    names = [regime(g, level) if axis == 0 else regime(level, g) for g in grid]
    crossings = _crossings(segments, level, axis)
    step = grid[1] - grid[0]
    for i in range(len(grid) - 1):
        if names[i] != names[i + 1]:
            assert any(grid[i] - 1e-9 <= x <= grid[i + 1] + 1e-9 for x in crossings), (
                f"{names[i]} -> {names[i + 1]} between {grid[i]:.4f} and {grid[i + 1]:.4f} "
                f"with no boundary (crossings {crossings})"
            )
    # Conversely, the regime differs on the two sides of every crossing inside the range.
    for x in crossings:
        if step < x < end - step:
            pair = (x - step / 2, x + step / 2)
            left, right = (
                (regime(p, level) for p in pair) if axis == 0 else (regime(level, p) for p in pair)
            )
            assert left != right, (x, level, axis)


@settings(max_examples=30, deadline=None)
@given(a_max=st.floats(0.0, 3.0), b_max=st.floats(0.0, 3.0))
def test_boundaries_are_one_segment_or_three(a_max, b_max):
    segs = regime_boundaries(a_max, b_max)
    top = min(1.0, a_max, b_max)
    assert segs[0][0].tolist() == [0.0, top] and segs[0][1].tolist() == [0.0, top]
    assert len(segs) == (3 if a_max >= 1 and b_max >= 1 else 1)
    labels = [label for _, _, label in segs]
    assert labels[0].startswith("b = a")
    if len(segs) == 3:
        assert segs[1][0].tolist() == [1.0, 1.0] and segs[1][1].tolist() == [1.0, b_max]
        assert segs[2][0].tolist() == [1.0, a_max] and segs[2][1].tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- the map


def test_cells_are_direct_simulations_with_the_documented_seeds():
    p = zipf(12, 1.0)
    a_vals, b_vals = [0.0, 0.8, 1.5], [0.0, 1.2]
    m = regime_map(p, a_vals, b_vals, alpha0=0.4, n0=15, generations=4, replicates=30, seed=7)
    assert m.simulated is not None and m.stderr is not None
    for i, b in enumerate(b_vals):
        for j, a in enumerate(a_vals):
            al, ns = power_law(0.4, -a), power_law(15, b)
            res = simulate(
                CategoricalModel(12, which=("l2",)),
                p,
                alpha=al,
                n=ns,
                generations=4,
                replicates=30,
                seed=7 + i * len(a_vals) + j,
                method="counts",
            )
            x0, xt = res.metrics["l2"][:, 0], res.metrics["l2"][:, -1]
            assert m.simulated[i, j] == np.log(xt.mean() / x0.mean())
            d = xt / xt.mean() - x0 / x0.mean()
            assert m.stderr[i, j] == pytest.approx(d.std(ddof=1) / np.sqrt(30), rel=1e-12)
            curve = risk_curve(p, al, ns, 4)
            assert m.exact[i, j] == pytest.approx(np.log(curve[-1] / curve[0]), rel=1e-12)
            assert m.regimes[i][j] == regime(a, b)


def test_the_delta_method_error_is_the_spread_of_the_log_ratio_over_seeds():
    """The standard error must describe how much log(R̂_T/R̂_0) moves from seed to seed."""
    p = zipf(10)
    values, errors = [], []
    for seed in range(12):
        m = regime_map(p, [0.5], [0.5], n0=20, generations=3, replicates=60, seed=seed)
        values.append(m.simulated[0, 0])
        errors.append(m.stderr[0, 0])
    spread = np.std(values, ddof=1)
    assert 0.5 * np.mean(errors) < spread < 2.0 * np.mean(errors)
    exact = regime_map(p, [0.5], [0.5], n0=20, generations=3).exact[0, 0]
    assert abs(np.mean(values) - exact) < 4 * spread / np.sqrt(12)


@settings(max_examples=15, deadline=None)
@given(vocab=st.integers(2, 40), exponent=st.floats(0.0, 2.5), alpha0=st.floats(0.0, 1.0))
def test_the_exact_map_depends_on_the_truth_through_c_alone(vocab, exponent, alpha0):
    p = zipf(vocab, exponent)
    exps = [0.0, 0.7, 1.4]
    by_p = regime_map(p, exps, exps, alpha0=alpha0, n0=10, generations=6)
    by_c = regime_map(collision_gap(p), exps, exps, alpha0=alpha0, n0=10, generations=6)
    np.testing.assert_allclose(by_p.exact, by_c.exact, rtol=1e-12, atol=1e-12)
    assert by_p.settings["c"] == pytest.approx(collision_gap(p))


def test_the_map_is_json_ready_and_keeps_its_settings():
    m = regime_map(zipf(8), [0.0, 1.0], [0.5], n0=10, generations=3, replicates=5, seed=2)
    assert isinstance(m, RegimeMap)
    d = json.loads(json.dumps(m.to_dict()))
    assert d["a"] == [0.0, 1.0] and d["b"] == [0.5]
    assert np.array(d["exact_log_ratio"]).shape == (1, 2)
    np.testing.assert_array_equal(d["simulated_log_ratio"], m.simulated)
    np.testing.assert_array_equal(d["stderr"], m.stderr)
    assert d["regimes"] == [["consistency", "collapse"]]
    assert d["settings"] == {
        "alpha0": 0.5,
        "n0": 10,
        "generations": 3,
        "replicates": 5,
        "seed": 2,
        "c": collision_gap(zipf(8)),
    }
    exact_only = regime_map(0.5, [0.0], [0.0], n0=10, generations=2).to_dict()
    assert exact_only["simulated_log_ratio"] is None and exact_only["stderr"] is None


def test_one_replicate_has_no_standard_error_and_the_bar_counts_cells(capsys):
    m = regime_map(zipf(6), [0.0, 1.0], [0.0, 1.0], n0=8, generations=2, replicates=1)
    assert np.all(m.stderr == 0.0) and np.all(np.isfinite(m.simulated))
    regime_map(0.5, [0.0, 1.0], [0.0, 1.0], n0=8, generations=2, progress=True)
    err = capsys.readouterr().err
    assert "regime map" in err and "4/4" in err


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: regime("x", 1.0), "a"),
        (lambda: regime(float("inf"), 1.0), "a"),
        (lambda: regime(0.5, None), "b"),
        (lambda: regime_boundaries(1.0, float("nan")), "b_max"),
        (lambda: regime_map(0.5, [[0.0, 1.0]], [0.0]), "a_values"),
        (lambda: regime_map(0.5, [0.0], [float("inf")]), "b_values"),
        (lambda: regime_map(0.5, [0.0], []), "b_values"),
        (lambda: regime_map(0.5, [0.0], [0.0], generations=0), "generations"),
        (lambda: regime_map(0.5, [0.0], [0.0], seed=-3), "seed"),
        (lambda: regime_map(0.5, [0.0], [0.0], alpha0=float("nan")), "alpha0"),
        (lambda: regime_map(1.5, [0.0], [0.0]), "p_star"),
        (lambda: regime_map([0.2, 0.2], [0.0], [0.0], replicates=2), "p_star"),
    ],
)
def test_more_bad_input_names_the_argument(call, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}`"):
        call()


@pytest.mark.parametrize(("tol", "found"), [(float("nan"), "nan"), (-1e-3, "-0.001"), ("0", "'0'")])
def test_a_bad_tolerance_is_refused(tol, found):
    with pytest.raises(ALMOValueError, match=r"`tol` must be a finite number >= 0") as e:
        regime(0.5, 0.5, tol=tol)
    assert f"found {found}. Fix:" in str(e.value)


def test_a_zero_tolerance_still_sees_equal_exponents():
    assert regime(0.5, 0.5, tol=0.0) == "improvement"
    assert regime(0.5, 0.5 + 1e-9, tol=0.0) == "consistency"


def test_without_true_data_every_cell_collapses():
    m = regime_map(0.5, [0.0, 0.5], [1.0, 2.0], alpha0=0.0, n0=20, generations=20)
    assert np.all(m.exact > 0)  # the exact recursion: the error grows in every cell
    assert {r for row in m.regimes for r in row} == {"collapse"}
    # the same exponents with some true data are consistent (b > a, a <= 1): the error falls
    with_data = regime_map(0.5, [0.0, 0.5], [1.0, 2.0], alpha0=0.5, n0=20, generations=20)
    assert np.all(with_data.exact < 0)
    assert {r for row in with_data.regimes for r in row} == {"consistency"}


def test_a_map_of_shrinking_sample_sizes_can_be_drawn():
    m = regime_map(0.5, [0.0, 1.0], [-1.0, -0.5], n0=50, generations=3)
    fig = figure_regime_map(m)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["C"] * 4
    lo, hi = ax.get_ylim()
    assert hi <= 0.0 and lo < -1.0  # the view stays on the map's own (negative) b
    assert ax.get_ylabel().startswith("b")
    plt.close(fig)
