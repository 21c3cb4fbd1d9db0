"""Schedules for α_t and n_t, the exact recursion, and the errors bad inputs raise."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo._validation import ALMOValueError
from almo.sources import (
    CategoricalModel,
    as_schedule,
    constant,
    geometric,
    power_law,
    risk_curve,
    simulate,
    stable_level,
    zipf,
)
from almo.sources.schedules import alpha_values, n_values

P = zipf(10, 1.0)


def test_schedule_values():
    assert constant(0.3).values(2).tolist() == [0.3, 0.3, 0.3]
    assert power_law(2.0, -1.0).values(3).tolist() == [2.0, 1.0, 2 / 3, 0.5]
    assert power_law(1.0, 0.5, offset=0).values(2).tolist() == [0.0, 1.0, np.sqrt(2)]
    assert geometric(1.0, 0.5).values(2).tolist() == [1.0, 0.5, 0.25]
    assert as_schedule(lambda t: t / 10).values(2).tolist() == [0.0, 0.1, 0.2]
    assert n_values(power_law(10.4, 1.0), 2).tolist() == [10, 21, 31]  # rounded
    assert n_values(7, 1).dtype == np.int64
    assert "0.5" in repr(power_law(0.5, -0.5))


@pytest.mark.parametrize(
    ("alpha", "match"),
    [
        (1.2, "alpha.*\\[0, 1\\].*generation 0"),
        (lambda t: 0.5 - 0.2 * t, "generation 3"),
        ([0.1, 0.2, float("nan"), 0.1], "generation 2"),
        ([0.1, 0.2], "one value per generation"),
        ([[0.1, 0.2]], "one-dimensional"),
        ("0.1", "number, a Schedule"),
        (geometric(2.0, 0.5), "generation 0"),
    ],
)
def test_bad_alpha_schedules_raise_clear_errors(alpha, match):
    with pytest.raises(ALMOValueError, match=match):
        simulate(CategoricalModel(10), P, alpha=alpha, n=10, generations=3, replicates=2)


@pytest.mark.parametrize(
    ("n", "match"),
    [
        (0, "n.*>= 1.*generation 0"),
        (0.4, "after rounding"),
        (power_law(10, -5.0), "generation"),
        ([10, 10, 10], "length 4.*length 3|one value per generation"),
        (-3, "sample size"),
    ],
)
def test_bad_n_schedules_raise_clear_errors(n, match):
    with pytest.raises(ALMOValueError, match=match):
        simulate(CategoricalModel(10), P, alpha=0.1, n=n, generations=3, replicates=2)


def test_other_bad_arguments_raise_clear_errors():
    kw = dict(alpha=0.1, n=10, generations=2)
    with pytest.raises(ALMOValueError, match="policy"):
        simulate(CategoricalModel(10), P, policy="mix", **kw)
    with pytest.raises(ALMOValueError, match="replicates"):
        simulate(CategoricalModel(10), P, replicates=0, **kw)
    with pytest.raises(ALMOValueError, match="method"):
        simulate(CategoricalModel(10), P, method="tokens", top_k=3, **kw)
    with pytest.raises(ALMOValueError, match="temperature"):
        simulate(CategoricalModel(10), P, temperature=0.0, **kw)
    with pytest.raises(ALMOValueError, match="top_k"):
        simulate(CategoricalModel(10), P, top_k=0, **kw)
    with pytest.raises(ALMOValueError, match="truth"):
        simulate(CategoricalModel(10), np.ones(10), **kw)
    with pytest.raises(ALMOValueError, match="generations"):
        simulate(CategoricalModel(10), P, alpha=0.1, n=10, generations=-1)
    with pytest.raises(ALMOValueError, match="offset"):
        power_law(1.0, -1.0, offset=0)


def test_recursion_against_a_direct_expectation():
    # One generation from P̂_0 with V = 2 can be computed exactly by enumerating both draws.
    from math import comb

    def pmf(k, n, q):
        return comb(n, k) * q**k * (1 - q) ** (n - k)

    p, n0, n1, a = 0.3, 4, 3, 0.4
    exact = 0.0
    for k0 in range(n0 + 1):
        phat = k0 / n0
        q = a * p + (1 - a) * phat
        for k1 in range(n1 + 1):
            err = 2 * (k1 / n1 - p) ** 2  # both coordinates of the 2-token distribution
            exact += pmf(k0, n0, p) * pmf(k1, n1, q) * err
    curve = risk_curve(np.array([p, 1 - p]), alpha=a, n=[n0, n1], generations=1)
    assert curve[1] == pytest.approx(exact, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.0, 1.0), n=st.integers(2, 500))
def test_recursion_converges_to_the_stable_level(alpha, n):
    # A linear recursion: the gap to its fixed point shrinks by exactly its factor each step.
    t = 1000
    m = n - np.rint(alpha * n)
    for composition, factor in [
        ("iid", (1 - 1 / n) * (1 - alpha) ** 2),
        ("fixed", m * (m - 1) / n**2),
    ]:
        curve = risk_curve(P, alpha, n, t, composition=composition)
        level = stable_level(P, alpha, n, composition)
        assert curve[-1] - level == pytest.approx(factor**t * (curve[0] - level), abs=1e-12)
    # Every R_t lies between the generation-0 error c/n and c.
    c = 1 - P @ P
    assert np.all(curve >= c / n - 1e-15) and np.all(curve <= c + 1e-15)
    assert stable_level(P, alpha, n) == pytest.approx(c / (1 + (n - 1) * alpha * (2 - alpha)))


def test_recursion_rates():
    # α constant with n_t ∝ t: R_t ∝ 1/t. α_t ∝ t^(−1/2) with n_t ∝ t: R_t ∝ t^(−1/2).
    t = np.arange(1, 4001)
    r1 = risk_curve(P, 0.3, power_law(10, 1.0), 4000)
    r2 = risk_curve(P, power_law(0.9, -0.5), power_law(10, 1.0), 4000)
    slope1 = np.polyfit(np.log(t[1000:]), np.log(r1[1001:]), 1)[0]
    slope2 = np.polyfit(np.log(t[1000:]), np.log(r2[1001:]), 1)[0]
    assert slope1 == pytest.approx(-1.0, abs=0.02)
    assert slope2 == pytest.approx(-0.5, abs=0.05)


def test_alpha_values_accept_a_full_sequence():
    assert alpha_values([1.0, 0.5, 0.0], 2).tolist() == [1.0, 0.5, 0.0]
