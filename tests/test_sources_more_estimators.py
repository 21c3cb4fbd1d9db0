"""Estimators that know the real samples: fixed points in closed form, bounds that hold for
any schedule, the optimal weight's limits, Monte Carlo with time-varying weights, and the
simulator's common random numbers.

Closed forms used as references (A = c/k, B = c/m + (1 − 1/m) R, γ = c/m, β = 1 − 1/m):

- weighted step: R' = w² A + (1 − w)² B, minimized at w = B/(A + B) with value AB/(A + B);
- its lower bound: w² c/k + (1 − w)² c/m >= c/(k + m) = c/n, so no estimator that uses only
  generation t's n_t samples beats n_t fresh samples;
- the optimal-weighted fixed point solves β R² + (A/m + γ) R − A γ = 0;
- for n → ∞ this is R² + γ R − A γ = 0 (α = 1/2 gives R = A/φ and w = 1/φ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo.exceptions import ALMOValueError
from almo.sources import (
    ESTIMATORS,
    estimator_curve,
    filtration_curve,
    optimal_weight,
    optimal_weights,
    power_law,
    simulate_estimators,
    stable_level,
    weighted_curve,
    zipf,
)
from almo.sources.estimators import check_estimator, real_counts

GOLDEN = (math.sqrt(5) - 1) / 2


@st.composite
def budgets(draw, max_t=10):
    """(c, α sequence, n sequence, T) with every generation holding real and synthetic samples
    (1 <= round(α_t n_t) <= n_t − 2, so that m_t >= 2)."""
    t = draw(st.integers(1, max_t))
    ns = draw(st.lists(st.integers(4, 300), min_size=t + 1, max_size=t + 1))
    alphas = [1.0]
    for n in ns[1:]:
        k = draw(st.integers(1, n - 2))
        alphas.append(k / n)
    return draw(st.floats(0.05, 1.0)), np.array(alphas), np.array(ns), t


# --------------------------------------------------------------------------- bounds


@settings(max_examples=40, deadline=None)
@given(case=budgets(), w=st.floats(0.0, 1.0))
def test_no_estimator_of_one_generation_beats_its_fresh_samples(case, w):
    c, alphas, ns, t = case
    for name in ("agnostic", "optimal-weighted", "filter"):
        curve = estimator_curve(name, c, alphas, ns, t)
        assert np.all(curve >= c / ns * (1 - 1e-12)), name
    assert np.all(weighted_curve(c, alphas, ns, t, w) >= c / ns * (1 - 1e-12))
    # Aggregation is the exception: it uses every real sample so far, more than n_t.
    agg = estimator_curve("filter-aggregate", c, alphas, ns, t)
    np.testing.assert_allclose(agg, c / np.cumsum(real_counts(alphas, ns, t)), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(case=budgets(), weights=st.lists(st.floats(0.0, 1.0), min_size=11, max_size=11))
def test_optimal_weights_beat_any_weight_sequence_pooling_and_filtration(case, weights):
    c, alphas, ns, t = case
    w, best = optimal_weights(c, alphas, ns, t)
    other = weighted_curve(c, alphas, ns, t, [1.0, *weights[:t]])
    tol = 1e-12
    assert np.all(best <= other * (1 + tol))
    assert np.all(best <= estimator_curve("agnostic", c, alphas, ns, t) * (1 + tol))
    assert np.all(best <= estimator_curve("filter", c, alphas, ns, t) * (1 + tol))
    # The greedy weights are the curve's own: the weighted recursion at w_t gives it back.
    np.testing.assert_allclose(weighted_curve(c, alphas, ns, t, w), best, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(case=budgets())
def test_the_optimal_weight_never_gives_real_data_less_than_its_share(case):
    """w_t = B/(A + B) >= (c/m)/(c/k + c/m) = k/n, with equality only if R_{t−1} = 0."""
    c, alphas, ns, t = case
    w, _ = optimal_weights(c, alphas, ns, t)
    k = real_counts(alphas, ns, t)
    assert w[0] == 1.0
    assert np.all(w[1:] >= k[1:] / ns[1:] - 1e-12)
    assert np.all(w[1:] < 1.0)


@settings(max_examples=40, deadline=None)
@given(c=st.floats(0.01, 1.0), n=st.integers(4, 500), n0=st.integers(1, 500), data=st.data())
def test_first_generation_is_a_quadratic_in_the_weight(c, n, n0, data):
    """R_1(w) = w² c/k + (1 − w)² (c/m + (1 − 1/m) c/n_0)."""
    k = data.draw(st.integers(1, n - 1))
    w = data.draw(st.floats(0.0, 1.0))
    alpha, ns = [1.0, k / n], [n0, n]
    m = n - k
    expected = w**2 * c / k + (1 - w) ** 2 * (c / m + (1 - 1 / m) * c / n0)
    assert weighted_curve(c, alpha, ns, 1, w)[1] == pytest.approx(expected, rel=1e-12)
    a_, b_ = c / k, c / m + (1 - 1 / m) * c / n0
    ws, best = optimal_weights(c, alpha, ns, 1)
    assert ws[1] == pytest.approx(b_ / (a_ + b_), rel=1e-12)
    assert best[1] == pytest.approx(a_ * b_ / (a_ + b_), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.05, 0.95), n=st.integers(4, 400), t=st.integers(2, 40))
def test_constant_budgets_make_the_error_and_the_weight_grow_monotonically(alpha, n, t):
    """R_1 >= c/n = R_0 and the step map is increasing in R: R_t (and so w_t) never falls."""
    if not 1 <= round(alpha * n) <= n - 1:
        return
    for name in ("agnostic", "optimal-weighted"):
        curve = estimator_curve(name, 0.8, alpha, n, t)
        assert np.all(np.diff(curve) >= -1e-15), name
    w, _ = optimal_weights(0.8, alpha, n, t)
    assert np.all(np.diff(w[1:]) >= -1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 200), t=st.integers(1, 8), data=st.data())
def test_iid_aggregation_is_worse_than_a_fixed_budget_by_jensen(n, t, data):
    """E[1/(n_0 + Σ K_s)] >= 1/(n_0 + Σ E K_s) when E K_s = α n is the fixed budget."""
    k = data.draw(st.integers(1, n))
    alpha = k / n
    fixed = filtration_curve(0.5, alpha, n, t, aggregate=True)
    iid = filtration_curve(0.5, alpha, n, t, aggregate=True, composition="iid")
    assert np.all(iid >= fixed * (1 - 1e-12))
    assert iid[0] == fixed[0]


# --------------------------------------------------------------------------- fixed points


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.1, 0.9), n=st.integers(10, 2000), c=st.floats(0.1, 1.0))
def test_long_runs_reach_the_closed_form_levels(alpha, n, c):
    k = round(alpha * n)
    m = n - k
    if not (1 <= k and m >= 2):
        return
    t = 400
    # Agnostic: the fixed-composition level c n/(n² − m(m − 1)).
    agn = estimator_curve("agnostic", c, alpha, n, t)
    assert agn[-1] == pytest.approx(stable_level(c, alpha, n, "fixed"), rel=1e-9)
    assert agn[-1] == pytest.approx(c * n / (n**2 - m * (m - 1)), rel=1e-9)
    # Optimal weighting: the positive root of β R² + (A/m + γ) R − A γ = 0.
    a_, g_, b_ = c / k, c / m, 1 - 1 / m
    lin = a_ / m + g_
    root = (-lin + math.sqrt(lin**2 + 4 * b_ * a_ * g_)) / (2 * b_)
    w, opt = optimal_weights(c, alpha, n, t)
    assert opt[-1] == pytest.approx(root, rel=1e-9)
    big_b = g_ + b_ * root
    assert w[-1] == pytest.approx(big_b / (a_ + big_b), rel=1e-9)
    # Filtration: c/k at once; aggregation: c/(n + t k) exactly.
    assert np.all(estimator_curve("filter", c, alpha, n, t)[1:] == c / k)
    agg = estimator_curve("filter-aggregate", c, alpha, n, t)
    np.testing.assert_allclose(agg, c / (n + k * np.arange(t + 1)), rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.8])
def test_the_optimal_weight_for_large_n_solves_the_limit_quadratic(alpha):
    """n → ∞: R² + γR − Aγ = 0 in units of c/n with A = 1/α, γ = 1/(1 − α)."""
    n = 10**6
    w, curve = optimal_weights(1.0, alpha, n, 200)
    a_, g_ = 1 / alpha, 1 / (1 - alpha)
    r = (-g_ + math.sqrt(g_**2 + 4 * a_ * g_)) / 2
    assert curve[-1] * n == pytest.approx(r, rel=1e-4)
    assert w[-1] == pytest.approx((g_ + r) / (a_ + g_ + r), rel=1e-4)
    if alpha == 0.5:
        assert w[-1] == pytest.approx(GOLDEN, abs=1e-4)
        assert r == pytest.approx(2 * GOLDEN, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.02, 0.98), n=st.integers(50, 100_000))
def test_issue_approximations_with_their_error_terms(alpha, n):
    """Agnostic c n/(n² − m(m−1)) = c/(n x + m/n) with x = α'(2 − α'), α' = k/n: within a
    relative 1/(n x) of c/(nα'(2−α')); filtration exactly c/k = c/(nα')."""
    k = round(alpha * n)
    if k < 1 or k > n - 1:
        return
    a_ = k / n
    x = a_ * (2 - a_)
    level = estimator_curve("agnostic", 1.0, alpha, n, 3000)[-1]
    approx = 1 / (n * x)
    assert level <= approx * (1 + 1e-9)
    assert (approx - level) / approx <= 1 / (n * x) + 1e-9
    assert estimator_curve("filter", 1.0, alpha, n, 2)[-1] == pytest.approx(1 / (n * a_))


@settings(max_examples=12, deadline=None)
@given(alpha=st.floats(0.1, 0.9), n=st.integers(6, 300), t=st.integers(1, 12))
def test_the_best_constant_weight_beats_a_grid_and_loses_to_the_greedy_sequence(alpha, n, t):
    k = round(alpha * n)
    if not 1 <= k <= n - 1:
        return
    w = optimal_weight(0.6, alpha, n, t, grid=21)
    assert 0.0 <= w <= 1.0
    best = weighted_curve(0.6, alpha, n, t, w)[-1]
    grid = [weighted_curve(0.6, alpha, n, t, v)[-1] for v in np.linspace(0, 1, 101)]
    assert best <= min(grid) * (1 + 1e-9)
    assert best >= optimal_weights(0.6, alpha, n, t)[1][-1] * (1 - 1e-12)


# --------------------------------------------------------------------------- Monte Carlo


def _within(res, curve, what, k=4.0):
    mean, se = res.mean("l2"), res.stderr("l2")
    assert np.all(se > 0), what
    z = np.abs(mean - curve) / se
    assert z.max() < k, f"{what}: generation {int(z.argmax())} is {z.max():.2f} s.e. off"


@pytest.mark.parametrize(
    ("alpha", "n", "weight"),
    [
        ([1.0, 0.5, 0.2, 0.8, 0.5], [30, 20, 25, 10, 40], [1.0, 0.9, 0.1, 0.5, 0.618]),
        (lambda t: 0.7 / (t + 1) ** 0.5, power_law(15, 0.7), lambda t: 1 / (t + 1)),
        # Generations without real samples (k = 0) and with one synthetic sample (m = 1).
        ([1.0, 0.0, 0.95, 0.0, 0.5], [20, 20, 20, 20, 20], 0.7),
    ],
)
def test_time_varying_weights_and_budgets_match_their_exact_curves(alpha, n, weight):
    p = zipf(12, 0.9)
    out = simulate_estimators(
        p, alpha=alpha, n=n, generations=4, replicates=700, weight=weight, which=("l2",), seed=9
    )
    for name, res in out.items():
        _within(res, estimator_curve(name, p, alpha, n, 4, weight), name)
    np.testing.assert_array_equal(out["weighted"].n, [int(v) for v in out["weighted"].n])


# --------------------------------------------------------------------------- common numbers


SUBSETS = st.lists(st.sampled_from(ESTIMATORS), min_size=1, max_size=5, unique=True)


@settings(max_examples=12, deadline=None)
@given(subset=SUBSETS, seed=st.integers(0, 2**31))
def test_an_estimator_does_not_depend_on_the_others_run_beside_it(subset, seed):
    kw = dict(alpha=0.3, n=25, generations=3, replicates=6, weight=0.4, seed=seed)
    full = simulate_estimators(zipf(9), **kw)
    part = simulate_estimators(zipf(9), estimators=subset, **kw)
    assert list(part) == subset
    for name in subset:
        for metric, values in part[name].metrics.items():
            np.testing.assert_array_equal(values, full[name].metrics[metric], err_msg=name)
        assert part[name].info == full[name].info
        assert part[name].policy == name and part[name].seed == seed


def test_a_seed_reproduces_every_number_and_another_seed_changes_them():
    kw = dict(alpha=0.4, n=30, generations=3, replicates=5, weight=0.5)
    a = simulate_estimators(zipf(10), seed=3, **kw)
    b = simulate_estimators(zipf(10), seed=3, **kw)
    c = simulate_estimators(zipf(10), seed=4, **kw)
    for name in ESTIMATORS:
        for metric in a[name].metrics:
            np.testing.assert_array_equal(a[name].metrics[metric], b[name].metrics[metric])
        assert not np.array_equal(a[name].metrics["l2"], c[name].metrics["l2"])


def test_weight_one_is_filtration_sample_for_sample():
    """With w = 1 the weighted estimator is T_t/k_t, the real samples filtration uses."""
    out = simulate_estimators(
        zipf(10), alpha=0.3, n=20, generations=4, replicates=7, weight=1.0, seed=2
    )
    for metric, values in out["weighted"].metrics.items():
        np.testing.assert_array_equal(values, out["filter"].metrics[metric], err_msg=metric)


def test_results_carry_their_schedules_and_budgets():
    alpha, n = power_law(0.8, -0.5), power_law(20, 0.5)
    out = simulate_estimators(
        zipf(10), alpha=alpha, n=n, generations=3, replicates=3, weight=0.5, seed=0
    )
    k = real_counts(alpha, n, 3)
    for name, res in out.items():
        np.testing.assert_array_equal(res.alpha, alpha.values(3))
        np.testing.assert_array_equal(res.n, np.rint(n.values(3)))
        assert res.info["real_counts"] == k.tolist() and res.info["composition"] == "fixed"
        assert ("weights" in res.info) == (name in ("weighted", "optimal-weighted"))
        assert res.generations == 3 and res.replicates == 3
    assert out["weighted"].info["weights"] == [0.5] * 4


def test_check_estimator_accepts_each_name_and_nothing_else():
    for name in ESTIMATORS:
        assert check_estimator(name) == name
    for bad in ("Agnostic", "filter_aggregate", "", "optimal"):
        with pytest.raises(ALMOValueError, match="`estimator`"):
            check_estimator(bad)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: weighted_curve([0.3, 0.3], 0.5, 10, 2, 0.5), "p_star"),
        (lambda: weighted_curve(0.5, 0.5, 10, 2, [0.5, 0.5]), "weight"),
        (lambda: weighted_curve(0.5, 0.5, 10, 2, None), "weight"),
        (lambda: filtration_curve(0.5, 0.5, 10, 2, composition="random"), "composition"),
        (lambda: filtration_curve(0.5, -0.5, 10, 2, composition="iid"), "alpha"),
        (lambda: optimal_weights(2.0, 0.5, 10, 2), "p_star"),
        (lambda: optimal_weights(0.5, 0.5, 10, -2), "generations"),
        (lambda: optimal_weight(0.5, 0.5, 10, 3, grid=3.5), "grid"),
        (lambda: real_counts(0.5, 0.2, 2), "n"),
        (lambda: estimator_curve("filter", 0.5, 0.5, [10, 10], 2), "n"),
        (
            lambda: simulate_estimators(zipf(5), alpha=0.1, n=10, generations=2, seed=-1),
            "seed",
        ),
        (
            lambda: simulate_estimators(
                zipf(5), alpha=0.1, n=10, generations=2, estimators=["agnostic", "mean"]
            ),
            "estimator",
        ),
        (
            lambda: simulate_estimators(
                [0.5, float("nan")], alpha=0.1, n=10, generations=2, weight=0.5
            ),
            "truth",
        ),
        (
            lambda: simulate_estimators(zipf(5), alpha=0.1, n=10, generations=2, weight=2.0),
            "weight",
        ),
    ],
)
def test_more_bad_input_names_the_argument(call, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}`"):
        call()


@pytest.mark.parametrize(
    ("which", "found"), [(("l2", "bogus"), "['bogus']"), ("l2", "'l2'"), (None, "None")]
)
def test_unknown_metrics_are_refused_by_name(which, found):
    with pytest.raises(ALMOValueError, match="`which` must ") as e:
        simulate_estimators(
            zipf(5), alpha=0.5, n=10, generations=1, replicates=2, weight=0.5, which=which
        )
    assert f"found {found}. Fix:" in str(e.value)


def test_only_the_metrics_asked_for_are_recorded():
    out = simulate_estimators(
        zipf(5), alpha=0.5, n=10, generations=1, replicates=2, weight=0.5, which=["tv"]
    )
    assert all(set(res.metrics) == {"tv"} for res in out.values())
