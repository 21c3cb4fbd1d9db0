"""Estimators that know the real samples: exact curves against Monte Carlo and enumeration.

References: the simulator (within 4 standard errors at every generation), an exact enumeration
of every outcome over two tokens (independent of the recursions), the existing fixed-composition
recursion of :func:`risk_curve`, closed forms (c/k, c/Σk, the 1/φ optimum) and brute-force
searches over w.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from almo.exceptions import ALMOValueError
from almo.sources import power_law, risk_curve, zipf
from almo.sources.estimators import (
    ESTIMATORS,
    estimator_curve,
    filtration_curve,
    optimal_weight,
    optimal_weights,
    real_counts,
    simulate_estimators,
    weighted_curve,
)
from almo.sources.theory import collision_gap

GOLDEN = (math.sqrt(5) - 1) / 2


def _assert_within(res, curve, what, k=4.0):
    mean, se = res.mean("l2"), res.stderr("l2")
    assert np.all(se > 0), what
    z = np.abs(mean - curve) / se
    assert z.max() < k, f"{what}: generation {int(z.argmax())} is {z.max():.2f} s.e. off"


@pytest.mark.parametrize(
    ("alpha", "n", "weight"),
    [
        (0.3, 60, 0.6),
        (0.5, 40, GOLDEN),
        (power_law(0.6, -0.5), power_law(30, 0.5), 0.4),
    ],
)
def test_every_estimator_matches_its_exact_curve_by_monte_carlo(alpha, n, weight):
    p = zipf(25, 1.1)
    out = simulate_estimators(
        p, alpha=alpha, n=n, generations=6, replicates=600, weight=weight, which=("l2",), seed=3
    )
    assert set(out) == set(ESTIMATORS)
    for name, res in out.items():
        _assert_within(res, estimator_curve(name, p, alpha, n, 6, weight), name)


def test_edge_compositions_without_real_or_without_synthetic_samples():
    p = zipf(10, 1.0)
    # α = 0: no real samples after generation 0 — weighting has nothing to weight, filtration
    # keeps its estimate; α = 1: no synthetic samples, every estimator is the real one.
    for alpha in (0.0, 1.0):
        out = simulate_estimators(
            p, alpha=alpha, n=30, generations=4, replicates=800, weight=0.5, which=("l2",), seed=1
        )
        for name, res in out.items():
            _assert_within(res, estimator_curve(name, p, alpha, 30, 4, 0.5), f"{name} α={alpha}")
    c = collision_gap(p)
    assert np.allclose(filtration_curve(p, 0.0, 30, 4), c / 30)  # kept from generation 0
    assert np.allclose(estimator_curve("weighted", p, 1.0, 30, 4, 0.2)[1:], c / 30)


def _enumerate_two_tokens(p1, n0, k, m, steps, rule):
    """Exact E‖P̂_t − P*‖² over two tokens by enumerating every count (no recursion used).

    ``rule(real_share, syn_share, prev)`` gives the new estimate of token 1's probability;
    the state is the distribution of (estimate, aggregated real count).
    """
    state = {}
    for c0 in range(n0 + 1):
        key = (c0 / n0, c0)
        state[key] = state.get(key, 0.0) + binom.pmf(c0, n0, p1)
    out = [sum(w * 2 * (q - p1) ** 2 for (q, _), w in state.items())]
    for t in range(1, steps + 1):
        new = {}
        for (q, agg), w in state.items():
            for cr, cs in itertools.product(range(k + 1), range(m + 1)):
                pr = binom.pmf(cr, k, p1) * binom.pmf(cs, m, q)
                if pr == 0:
                    continue
                value = rule(cr / k, cs / m, q, agg + cr, n0 + t * k)
                key = (round(value, 12), agg + cr)
                new[key] = new.get(key, 0.0) + w * pr
        state = new
        out.append(sum(w * 2 * (q - p1) ** 2 for (q, _), w in state.items()))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.35, GOLDEN, 1.0])
def test_weighted_recursion_equals_exact_enumeration(weight):
    p1, n0, k, m = 0.3, 4, 2, 3
    exact = _enumerate_two_tokens(
        p1, n0, k, m, 2, lambda r, s, q, agg, tot: weight * r + (1 - weight) * s
    )
    curve = weighted_curve(np.array([p1, 1 - p1]), [1.0, 0.4, 0.4], [n0, 5, 5], 2, weight)
    assert real_counts([1.0, 0.4, 0.4], [n0, 5, 5], 2).tolist() == [n0, k, k]
    np.testing.assert_allclose(curve, exact, rtol=1e-10)


def test_filtration_and_aggregation_equal_exact_enumeration():
    p1, n0, k, m = 0.2, 3, 2, 2
    p = np.array([p1, 1 - p1])
    only = _enumerate_two_tokens(p1, n0, k, m, 2, lambda r, s, q, agg, tot: r)
    agg = _enumerate_two_tokens(p1, n0, k, m, 2, lambda r, s, q, a, tot: a / tot)
    np.testing.assert_allclose(filtration_curve(p, 0.5, [n0, 4, 4], 2), only, rtol=1e-10)
    np.testing.assert_allclose(
        filtration_curve(p, 0.5, [n0, 4, 4], 2, aggregate=True), agg, rtol=1e-10
    )


def test_agnostic_is_the_fixed_composition_recursion():
    p = zipf(50, 1.2)
    for alpha, n in [(0.2, 100), (0.05, 1000), (power_law(0.5, -0.3), power_law(50, 1.0))]:
        np.testing.assert_allclose(
            estimator_curve("agnostic", p, alpha, n, 30),
            risk_curve(p, alpha, n, 30, composition="fixed"),
            rtol=1e-12,
        )


def test_theory_levels_of_the_issue():
    c, n, alpha, t = 0.7, 10_000, 0.2, 400
    agn = estimator_curve("agnostic", c, alpha, n, t)[-1]
    assert agn == pytest.approx(c / (n * alpha * (2 - alpha)), rel=2e-3)
    assert estimator_curve("filter", c, alpha, n, t)[-1] == pytest.approx(c / (n * alpha))
    agg = estimator_curve("filter-aggregate", c, alpha, n, t)[-1]
    assert agg == pytest.approx(c / (n + t * alpha * n))
    # Pooling beats filtration by ≈ (2 − α); aggregation beats both.
    assert estimator_curve("filter", c, alpha, n, t)[-1] / agn == pytest.approx(2 - alpha, 2e-3)
    assert agg < agn


@settings(max_examples=25, deadline=None)
@given(
    alpha=st.floats(0.05, 0.95),
    n=st.integers(4, 400),
    t=st.integers(1, 12),
    w=st.floats(0.0, 1.0),
)
def test_optimal_weights_beat_every_weight_at_every_generation(alpha, n, t, w):
    _, best = optimal_weights(0.6, alpha, n, t)
    for weight in (w, 0.0, 1.0, GOLDEN):
        other = weighted_curve(0.6, alpha, n, t, weight)
        assert np.all(best <= other * (1 + 1e-12) + 1e-15)
    # Its weights, fed back as a schedule, give its curve.
    ws, _ = optimal_weights(0.6, alpha, n, t)
    np.testing.assert_allclose(weighted_curve(0.6, alpha, n, t, ws), best, rtol=1e-12)


def test_optimal_weight_tends_to_one_over_phi_with_equal_real_and_synthetic_samples():
    ws, _ = optimal_weights(0.5, 0.5, 1_000_000, 80)
    assert ws[-1] == pytest.approx(GOLDEN, abs=1e-4)
    assert optimal_weight(0.5, 0.5, 1_000_000, 300) == pytest.approx(GOLDEN, abs=2e-3)


def test_optimal_constant_weight_beats_a_dense_grid():
    p, alpha, n, t = zipf(30), 0.1, 200, 15
    w = optimal_weight(p, alpha, n, t)
    best = weighted_curve(p, alpha, n, t, w)[-1]
    grid = [weighted_curve(p, alpha, n, t, g)[-1] for g in np.linspace(0, 1, 1001)]
    assert best <= min(grid) * (1 + 1e-9)
    assert 0.0 < w < 1.0


def test_weights_are_recorded_and_real_samples_are_shared():
    out = simulate_estimators(
        zipf(12), alpha=0.25, n=40, generations=3, replicates=5, weight=0.3, seed=0
    )
    assert out["weighted"].info["weights"][1:] == [0.3] * 3
    assert (
        out["optimal-weighted"].info["weights"]
        == optimal_weights(zipf(12), 0.25, 40, 3)[0].tolist()
    )
    assert out["filter"].info["real_counts"] == [40, 10, 10, 10]
    # Generation 0 is one draw shared by all estimators; so is every real sample: filtration
    # without memory is then the same for any set of estimators run beside it.
    alone = simulate_estimators(
        zipf(12), alpha=0.25, n=40, generations=3, replicates=5, estimators=["filter"], seed=0
    )
    np.testing.assert_array_equal(alone["filter"].metrics["l2"], out["filter"].metrics["l2"])
    for res in out.values():
        np.testing.assert_array_equal(res.metrics["l2"][:, 0], out["agnostic"].metrics["l2"][:, 0])


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: estimator_curve("median", 0.5, 0.1, 10, 2), "estimator"),
        (lambda: estimator_curve("weighted", 0.5, 0.1, 10, 2), "weight"),
        (lambda: weighted_curve(0.5, 0.1, 10, 2, 1.5), "weight"),
        (lambda: weighted_curve(0.5, 1.5, 10, 2, 0.5), "alpha"),
        (lambda: filtration_curve(0.5, 0.1, 0, 2), "n"),
        (lambda: optimal_weight(0.5, 0.1, 10, 0), "generations"),
        (lambda: optimal_weight(0.5, 0.1, 10, 3, grid=2), "grid"),
        (
            lambda: simulate_estimators(zipf(5), alpha=0.1, n=10, generations=2, replicates=0),
            "replicates",
        ),
        (
            lambda: simulate_estimators(
                zipf(5), alpha=0.1, n=10, generations=2, estimators=["weighted"]
            ),
            "weight",
        ),
        (
            lambda: simulate_estimators(zipf(5), alpha=0.1, n=10, generations=2, estimators=[]),
            "estimators",
        ),
        (lambda: simulate_estimators([0.5, 0.6], alpha=0.1, n=10, generations=2), "truth"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}"):
        call()


@pytest.mark.parametrize(
    ("policy", "aggregate", "alpha", "n"),
    [
        ("real-only", False, 0.1, 10),  # P(no real sample) ≈ 0.35: the model is often kept
        ("real-only", False, 0.4, 25),
        ("real-aggregate", True, 0.1, 10),
        ("real-aggregate", True, power_law(0.5, -0.5), power_law(8, 0.5)),
    ],
)
def test_iid_filtration_curves_match_the_simulators_policies(policy, aggregate, alpha, n):
    from almo.sources import CategoricalModel, simulate

    p = zipf(15, 1.0)
    res = simulate(
        CategoricalModel(15, which=("l2",)),
        p,
        alpha=alpha,
        n=n,
        generations=6,
        replicates=3000,
        policy=policy,
        seed=5,
    )
    curve = filtration_curve(p, alpha, n, 6, aggregate=aggregate, composition="iid")
    _assert_within(res, curve, policy)


def test_iid_filtration_closed_forms():
    c = 0.6
    # α = 1: every sample is real, the two compositions agree.
    for aggregate in (False, True):
        np.testing.assert_allclose(
            filtration_curve(c, 1.0, 12, 4, aggregate, "iid"),
            filtration_curve(c, 1.0, 12, 4, aggregate, "fixed"),
            rtol=1e-12,
        )
    # One generation without memory, by hand: E[1/K; K > 0] + P(K = 0)·R_0 over Binomial(3, ½).
    by_hand = c * (3 / 8 * 1 + 3 / 8 / 2 + 1 / 8 / 3) + 1 / 8 * (c / 5)
    assert filtration_curve(c, 0.5, [5, 3], 1, composition="iid")[1] == pytest.approx(by_hand)
    # With aggregation after two generations: E[c/(n_0 + K_1 + K_2)], K_1 + K_2 ~ Bin(4, ½).
    law = binom.pmf(np.arange(5), 4, 0.5)
    expected = c * float(law @ (1 / (2 + np.arange(5))))
    got = filtration_curve(c, 0.5, [2, 2, 2], 2, aggregate=True, composition="iid")[2]
    assert got == pytest.approx(expected)
    # Jensen: the random number of real samples costs error against its fixed mean.
    iid = filtration_curve(c, 0.5, 40, 5, composition="iid")
    fixed = filtration_curve(c, 0.5, 40, 5)
    assert np.all(iid[1:] > fixed[1:])
    with pytest.raises(ALMOValueError, match="`composition`"):
        filtration_curve(c, 0.5, 40, 5, composition="random")


@settings(max_examples=30, deadline=None)
@given(
    c=st.floats(0.01, 1.0),
    alpha=st.floats(0.0, 1.0),
    n=st.integers(1, 300),
    t=st.integers(0, 10),
    w=st.floats(0.0, 1.0),
)
def test_every_exact_curve_is_linear_in_c_and_starts_at_c_over_n0(c, alpha, n, t, w):
    for name in ESTIMATORS:
        one = estimator_curve(name, 1.0, alpha, n, t, w)
        np.testing.assert_allclose(estimator_curve(name, c, alpha, n, t, w), c * one, rtol=1e-12)
        assert one[0] == pytest.approx(1.0 / n)
        assert np.all(np.isfinite(one)) and np.all(one > 0)
    # Filtration without memory never beats the aggregate of the same real samples.
    assert np.all(
        filtration_curve(c, alpha, n, t, aggregate=True)
        <= filtration_curve(c, alpha, n, t) * (1 + 1e-12)
    )


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.02, 0.98), n=st.integers(2, 500), t=st.integers(1, 15))
def test_weight_one_is_filtration_and_weight_zero_is_synthetic_only(alpha, n, t):
    k = real_counts(alpha, n, t)
    m = n - k[1:]
    if np.any(k[1:] == 0) or np.any(m == 0):
        return  # the identities concern generations with both kinds of samples
    np.testing.assert_allclose(
        weighted_curve(0.9, alpha, n, t, 1.0), filtration_curve(0.9, alpha, n, t), rtol=1e-12
    )
    # w = 0 ignores the real samples: the α = 0 recursion with n_t = m_t synthetic samples.
    expected = risk_curve(0.9, 0.0, [n, *m.tolist()], t)
    np.testing.assert_allclose(weighted_curve(0.9, alpha, n, t, 0.0), expected, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.0, 1.0), n=st.integers(1, 300), t=st.integers(1, 20))
def test_aggregation_only_improves_and_optimal_weighting_beats_pooling(alpha, n, t):
    agg = filtration_curve(0.5, alpha, n, t, aggregate=True)
    assert np.all(np.diff(agg) <= 1e-15)
    best = estimator_curve("optimal-weighted", 0.5, alpha, n, t)
    agn = estimator_curve("agnostic", 0.5, alpha, n, t)
    assert np.all(best <= agn * (1 + 1e-12))


@settings(max_examples=15, deadline=None)
@given(
    alpha=st.floats(0.0, 1.0),
    n=st.integers(1, 60),
    t=st.integers(0, 4),
    r=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_simulated_metrics_are_those_of_valid_distributions(alpha, n, t, r, seed):
    out = simulate_estimators(
        zipf(8), alpha=alpha, n=n, generations=t, replicates=r, weight=0.5, seed=seed
    )
    for res in out.values():
        assert res.metrics["l2"].shape == (r, t + 1)
        assert np.all(res.metrics["l2"] >= 0) and np.all(res.metrics["l2"] <= 2)
        assert np.all((res.metrics["tv"] >= -1e-12) & (res.metrics["tv"] <= 1 + 1e-12))
        assert np.all((res.metrics["support"] >= 1) & (res.metrics["support"] <= 8))
        np.testing.assert_array_equal(res.alpha[1:], alpha)
    # The same seed reproduces every number.
    again = simulate_estimators(
        zipf(8), alpha=alpha, n=n, generations=t, replicates=r, weight=0.5, seed=seed
    )
    for name in out:
        np.testing.assert_array_equal(out[name].metrics["kl"], again[name].metrics["kl"])


def test_progress_bar_counts_generations(capsys):
    simulate_estimators(
        zipf(8), alpha=0.5, n=20, generations=3, replicates=2, weight=0.5, progress=True
    )
    assert "estimators" in capsys.readouterr().err
