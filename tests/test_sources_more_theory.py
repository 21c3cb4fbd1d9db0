"""The exact recursions on random schedules: bounds, monotonicity, linearity in c, the closed
forms of PAPERS.md (α = 0, α = 1, constant α and n), Monte Carlo of schedules given as
callables, sequences and geometric laws, and the schedules' own shapes and refusals.

References are written here: the closed forms are derived in the docstrings of each test from
R_t = c/n_t + (1 − 1/n_t)(1 − α_t)² R_{t−1} (i.i.d. mixing) and
R_t = c/n_t + m_t(m_t − 1)/n_t² R_{t−1} (fixed composition), never read from the library.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo.exceptions import ALMOValueError
from almo.sources import (
    CategoricalModel,
    Schedule,
    as_schedule,
    collision_gap,
    constant,
    geometric,
    power_law,
    risk_curve,
    simulate,
    stable_level,
    zipf,
)
from almo.sources.estimators import real_counts
from almo.sources.policies import true_counts
from almo.sources.schedules import alpha_values, n_values

COMPOSITIONS = ("iid", "fixed")


@st.composite
def schedules(draw, max_t=12, max_n=300):
    """(c, α sequence, n sequence, T) with every α_t in [0, 1] and n_t >= 1."""
    t = draw(st.integers(1, max_t))
    alphas = draw(st.lists(st.floats(0.0, 1.0), min_size=t + 1, max_size=t + 1))
    ns = draw(st.lists(st.integers(1, max_n), min_size=t + 1, max_size=t + 1))
    c = draw(st.floats(0.0, 1.0))
    return c, np.array(alphas), np.array(ns), t


def _reference(c, alphas, ns, composition):
    """The recursion of the module docstring, written out with Python floats."""
    out = [c / ns[0]]
    for t in range(1, len(ns)):
        n = float(ns[t])
        if composition == "iid":
            factor = (1 - 1 / n) * (1 - float(alphas[t])) ** 2
        else:
            m = n - round(float(alphas[t]) * n)
            factor = m * (m - 1) / n**2
        out.append(c / n + factor * out[-1])
    return np.array(out)


# --------------------------------------------------------------------------- invariants


@settings(max_examples=40, deadline=None)
@given(case=schedules(), composition=st.sampled_from(COMPOSITIONS))
def test_error_lies_between_fresh_data_and_the_point_mass(case, composition):
    """c/n_t <= R_t <= c: the fresh draws always add c/n_t; nothing is worse than a point mass."""
    c, alphas, ns, t = case
    curve = risk_curve(c, alphas, ns, t, composition=composition)
    assert curve.shape == (t + 1,)
    assert curve[0] == pytest.approx(c / ns[0], rel=1e-12, abs=1e-300)
    assert np.all(curve >= c / ns - 1e-15)
    assert np.all(curve <= c + 1e-12)


@settings(max_examples=40, deadline=None)
@given(case=schedules(), composition=st.sampled_from(COMPOSITIONS))
def test_recursion_equals_the_written_out_reference(case, composition):
    c, alphas, ns, t = case
    np.testing.assert_allclose(
        risk_curve(c, alphas, ns, t, composition=composition),
        _reference(c, alphas, ns, composition),
        rtol=1e-12,
        atol=1e-15,
    )


@settings(max_examples=40, deadline=None)
@given(case=schedules(), s=st.integers(1, 12), extra=st.floats(0.01, 1.0))
def test_more_true_data_at_one_generation_lowers_every_later_error(case, s, extra):
    """R_t is non-decreasing in R_{t−1} and non-increasing in α_t, so raising α_s lowers R_t for
    every t >= s and leaves t < s alone (both compositions: round(α n) is monotone in α)."""
    c, alphas, ns, t = case
    s = min(s, t)
    more = alphas.copy()
    more[s] = min(1.0, more[s] + extra)
    for composition in COMPOSITIONS:
        base = risk_curve(c, alphas, ns, t, composition=composition)
        new = risk_curve(c, more, ns, t, composition=composition)
        np.testing.assert_array_equal(new[:s], base[:s])
        assert np.all(new[s:] <= base[s:] * (1 + 1e-12) + 1e-300)


@settings(max_examples=40, deadline=None)
@given(case=schedules(), s=st.integers(0, 12), factor=st.integers(2, 5))
def test_more_samples_at_one_generation_lowers_every_later_error(case, s, factor):
    """∂R_t/∂n_t = ((1 − α_t)² R_{t−1} − c)/n_t² <= 0 since R_{t−1} <= c (i.i.d. mixing)."""
    c, alphas, ns, t = case
    s = min(s, t)
    more = ns.copy()
    more[s] *= factor
    base = risk_curve(c, alphas, ns, t)
    new = risk_curve(c, alphas, more, t)
    np.testing.assert_array_equal(new[:s], base[:s])
    assert np.all(new[s:] <= base[s:] * (1 + 1e-12) + 1e-300)


@settings(max_examples=30, deadline=None)
@given(case=schedules(), composition=st.sampled_from(COMPOSITIONS))
def test_error_is_linear_in_c(case, composition):
    _, alphas, ns, t = case
    unit = risk_curve(1.0, alphas, ns, t, composition=composition)
    for c in (0.0, 0.25, 0.9):
        np.testing.assert_allclose(
            risk_curve(c, alphas, ns, t, composition=composition), c * unit, rtol=1e-12
        )


@settings(max_examples=20, deadline=None)
@given(vocab=st.integers(1, 60), exponent=st.floats(0.0, 3.0))
def test_a_distribution_and_its_collision_gap_give_the_same_curve(vocab, exponent):
    p = zipf(vocab, exponent)
    c = 1.0 - float(np.sum(p**2))
    assert collision_gap(p) == pytest.approx(c, abs=1e-14)
    np.testing.assert_allclose(
        risk_curve(p, 0.3, 50, 6), risk_curve(c, 0.3, 50, 6), rtol=1e-12, atol=1e-16
    )


# --------------------------------------------------------------------------- closed forms


@settings(max_examples=40, deadline=None)
@given(
    ns=st.lists(st.integers(1, 500), min_size=2, max_size=15),
    c=st.floats(0.01, 1.0),
    composition=st.sampled_from(COMPOSITIONS),
)
def test_without_true_data_the_distance_to_the_point_mass_shrinks_geometrically(ns, c, composition):
    """α = 0: c − R_t = (1 − 1/n_t)(c − R_{t−1}), so R_t = c (1 − Π_{s<=t} (1 − 1/n_s)) for any
    n schedule (PAPERS.md gives the constant-n case c (1 − (1 − 1/n)^(t+1)))."""
    ns = np.array(ns)
    t = len(ns) - 1
    expected = c * (1.0 - np.cumprod(1.0 - 1.0 / ns))
    np.testing.assert_allclose(
        risk_curve(c, 0.0, ns, t, composition=composition), expected, rtol=1e-10, atol=1e-15
    )


@settings(max_examples=20, deadline=None)
@given(ns=st.lists(st.integers(1, 500), min_size=2, max_size=15), c=st.floats(0.0, 1.0))
def test_only_true_data_is_the_error_of_fresh_samples(ns, c):
    ns = np.array(ns)
    for composition in COMPOSITIONS:
        np.testing.assert_allclose(
            risk_curve(c, 1.0, ns, len(ns) - 1, composition=composition), c / ns, rtol=1e-12
        )


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.0, 1.0), n=st.integers(1, 2000), t=st.integers(0, 60))
def test_constant_schedules_approach_the_stable_level_geometrically(alpha, n, t):
    """R_t = L + (R_0 − L) q^t with q = (1 − 1/n)(1 − α)² and L = c/(1 + (n − 1)α(2 − α))."""
    c = 0.7
    q = (1 - 1 / n) * (1 - alpha) ** 2
    level = c / (1 + (n - 1) * alpha * (2 - alpha))
    expected = level + (c / n - level) * q ** np.arange(t + 1)
    np.testing.assert_allclose(risk_curve(c, alpha, n, t), expected, rtol=1e-9, atol=1e-15)
    assert stable_level(c, alpha, n) == pytest.approx(level, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.001, 1.0), n=st.integers(2, 10**6))
def test_stable_level_against_the_large_n_approximation(alpha, n):
    """L = c/(1 + (n − 1)x) with x = α(2 − α) and c/(n x) differ by the factor
    1 − (1 − x)/(1 + (n − 1)x): an identity, and a relative error below 1/((n − 1)x)."""
    c = 0.5
    x = alpha * (2 - alpha)
    level = stable_level(c, alpha, n)
    approx = c / (n * x)
    assert level / approx == pytest.approx(1 - (1 - x) / (1 + (n - 1) * x), rel=1e-9)
    assert level <= approx * (1 + 1e-12)
    assert (approx - level) / approx <= 1 / ((n - 1) * x) + 1e-12


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.0, 1.0), n=st.integers(1, 5000))
def test_fixed_composition_level_is_the_fixed_point_of_its_recursion(alpha, n):
    c = 0.6
    m = n - round(alpha * n)
    level = stable_level(c, alpha, n, composition="fixed")
    assert level == pytest.approx(c / n + m * (m - 1) / n**2 * level, rel=1e-10)
    assert c / n * (1 - 1e-12) <= level <= c * (1 + 1e-12)


def test_stable_levels_of_pooling_and_of_the_issue():
    """PAPERS.md: pooling beats the fresh real part alone (c/(nα)) by about (2 − α)."""
    c, n = 0.9, 100_000
    for alpha in (0.05, 0.2, 0.5, 0.9):
        level = stable_level(c, alpha, n)
        assert level * n * alpha / c == pytest.approx(1 / (2 - alpha), rel=1e-3)


# --------------------------------------------------------------------------- Monte Carlo


def _within(res, curve, what, k=4.0):
    mean, se = res.mean("l2"), res.stderr("l2")
    assert np.all(se[1:] > 0), what
    z = np.abs(mean - curve) / np.where(se > 0, se, np.inf)
    assert z.max() < k, f"{what}: generation {int(z.argmax())} is {z.max():.2f} s.e. off"


@pytest.mark.parametrize("method", ["counts", "tokens"])
@pytest.mark.parametrize(
    ("alpha", "n", "what"),
    [
        (lambda t: 0.6 / (t + 1), [20, 25, 30, 35, 40, 45], "callable α, sequence n"),
        (geometric(0.9, 0.5), 30, "geometric α"),
        ([1.0, 0.0, 0.5, 1.0, 0.0, 0.25], power_law(10, 0.5), "α hitting 0 and 1"),
    ],
)
def test_monte_carlo_matches_the_recursion_for_every_kind_of_schedule(alpha, n, what, method):
    p = zipf(8, 1.0)
    res = simulate(
        CategoricalModel(8, which=("l2",)),
        p,
        alpha=alpha,
        n=n,
        generations=5,
        replicates=800,
        seed=11,
        method=method,
    )
    _within(res, risk_curve(p, alpha, n, 5), f"{what} ({method})")
    np.testing.assert_array_equal(res.alpha, alpha_values(alpha, 5))
    np.testing.assert_array_equal(res.n, n_values(n, 5))


def test_monte_carlo_of_fixed_composition_with_a_sequence_of_fractions():
    p = zipf(6, 0.5)
    alphas = [1.0, 0.1, 0.45, 0.0, 0.9, 0.3]
    res = simulate(
        CategoricalModel(6, which=("l2",)),
        p,
        alpha=alphas,
        n=[12, 20, 20, 11, 30, 17],
        generations=5,
        replicates=800,
        policy="fixed",
        seed=5,
    )
    _within(res, risk_curve(p, alphas, [12, 20, 20, 11, 30, 17], 5, "fixed"), "fixed")


# --------------------------------------------------------------------------- schedules


@settings(max_examples=30, deadline=None)
@given(value=st.floats(-5, 5), t=st.integers(0, 20))
def test_constant_schedules_repeat_their_value(value, t):
    values = constant(value).values(t)
    assert values.shape == (t + 1,) and values.dtype == np.float64
    assert np.all(values == value)
    np.testing.assert_array_equal(as_schedule(value).values(t), values)


@settings(max_examples=30, deadline=None)
@given(
    scale=st.floats(0.1, 10),
    exponent=st.floats(-2, 2),
    offset=st.floats(0.5, 3),
    t=st.integers(0, 20),
)
def test_power_laws_with_an_offset_follow_their_formula(scale, exponent, offset, t):
    s = power_law(scale, exponent, offset)
    ts = np.arange(t + 1)
    np.testing.assert_allclose(s.values(t), scale * (ts + offset) ** exponent, rtol=1e-12)
    assert repr(s).startswith("Schedule(") and f"{offset:g}" in s.label


@settings(max_examples=30, deadline=None)
@given(t=st.integers(0, 30), frac=st.floats(0.0, 1.0), n=st.integers(1, 400))
def test_real_counts_round_like_the_fixed_policy(t, frac, n):
    """k_t = round(α_t n_t) the same way in the estimators, the fixed policy and the theory."""
    k = real_counts(frac, n, t)
    assert k[0] == n and k.dtype == np.int64
    drawn = true_counts("fixed", n, frac, 3, np.random.default_rng(0))
    assert np.all(k[1:] == drawn[0]) and np.all(drawn == drawn[0])
    assert 0 <= drawn[0] <= n


@settings(max_examples=30, deadline=None)
@given(t=st.integers(1, 15), data=st.data())
def test_the_first_bad_fraction_is_reported_with_its_generation(t, data):
    bad_at = data.draw(st.integers(0, t))
    bad = data.draw(st.sampled_from([-0.1, 1.5, math.nan, math.inf]))
    values = [0.5] * (t + 1)
    values[bad_at] = bad
    with pytest.raises(ALMOValueError, match=f"at generation {bad_at}") as info:
        alpha_values(values, t, name="my_alpha")
    assert "`my_alpha`" in str(info.value)


@settings(max_examples=30, deadline=None)
@given(t=st.integers(1, 15), data=st.data())
def test_the_first_bad_size_is_reported_with_its_generation(t, data):
    bad_at = data.draw(st.integers(0, t))
    bad = data.draw(st.sampled_from([0.0, 0.49, -3.0, math.nan]))
    values = [10.0] * (t + 1)
    values[bad_at] = bad
    with pytest.raises(ALMOValueError, match=f"at generation {bad_at}"):
        n_values(values, t)


def test_sizes_round_to_the_nearest_integer():
    np.testing.assert_array_equal(n_values([0.6, 1.4, 2.6, 99.5], 3), [1, 1, 3, 100])
    assert n_values([0.6, 1.4, 2.6, 99.5], 3).dtype == np.int64


def test_a_callable_is_checked_value_by_value():
    def bad(t):
        return "0.1" if t == 2 else 0.1

    with pytest.raises(ALMOValueError, match="at generation 2") as info:
        alpha_values(bad, 4)
    assert "`alpha`" in str(info.value)
    with pytest.raises(ALMOValueError, match="`n`"):
        n_values(lambda t: None, 3)


def test_a_schedule_object_is_passed_through_unchanged():
    s = power_law(0.5, -1.0)
    assert as_schedule(s) is s
    seq = as_schedule((0.1, 0.2, 0.3))
    np.testing.assert_array_equal(seq.values(2), [0.1, 0.2, 0.3])
    with pytest.raises(ALMOValueError, match="length 3"):
        seq.values(5)
    with pytest.raises(ALMOValueError, match="`schedule`"):
        as_schedule([[0.1, 0.2]])
    with pytest.raises(ALMOValueError, match="`schedule`"):
        as_schedule("0.1")


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: power_law(float("nan"), 1.0), "scale"),
        (lambda: power_law(1.0, float("inf")), "exponent"),
        (lambda: power_law(1.0, -1.0, offset=0.0), "offset"),
        (lambda: geometric(1.0, float("nan")), "ratio"),
        (lambda: geometric("x", 0.5), "scale"),
        (lambda: constant(float("nan")), "value"),
        (lambda: risk_curve(0.5, 0.5, 10, 2, composition="mixed"), "composition"),
        (lambda: risk_curve(1.5, 0.5, 10, 2), "p_star"),
        (lambda: risk_curve(0.5, 0.5, 10, -1), "generations"),
        (lambda: risk_curve(0.5, 0.5, 0, 2), "n"),
        (lambda: stable_level(0.5, 1.2, 10), "alpha"),
        (lambda: stable_level(0.5, 0.2, 0), "n"),
        (lambda: stable_level([0.5, 0.6], 0.2, 10), "p_star"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}`"):
        call()


def test_a_custom_schedule_of_the_wrong_length_is_refused_by_name():
    s = Schedule(lambda t: np.array([0.1, 0.2]), "two values")
    with pytest.raises(
        ALMOValueError, match=r"`fn` must return one value per generation 0\.\.4"
    ) as err:
        s.values(4)
    message = str(err.value)
    assert "found (2,)" in message and "'two values'" in message and "Fix:" in message
    # a single value is a constant schedule; one per generation passes through
    assert Schedule(lambda t: np.array([0.3]), "one").values(2).tolist() == [0.3, 0.3, 0.3]
    assert Schedule(lambda t: 0.1 * t, "linear").values(2).tolist() == [0.0, 0.1, 0.2]
    with pytest.raises(ALMOValueError, match="`fn` must return numbers"):
        Schedule(lambda t: ["a"] * len(t), "words").values(2)
    with pytest.raises(ALMOValueError, match="`generations`"):
        s.values(-1)
