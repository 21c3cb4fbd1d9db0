"""The exact error recursion of contaminated retraining against hand computations.

``risk_curve`` is compared with exact rational arithmetic over every possible sample (tiny
vocabularies and sample sizes, two generations deep, both compositions), with its closed forms
(α = 0, α = 1, the stable level, the α_t n_t = const limit), and with the rounding the simulator
itself uses for the fixed composition. Bad inputs must name their argument.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb, factorial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almo._validation import ALMOValueError
from almo.sources import collision_gap, geometric, power_law, risk_curve, stable_level, zipf
from almo.sources.policies import true_counts

P = zipf(10, 1.0)
C = collision_gap(P)


# --------------------------------------------------------------------------- exact enumeration


def binomial_pmf(n: int, q: Fraction) -> list[Fraction]:
    return [comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(n + 1)]


def exact_two_token_risk(p: Fraction, alpha: Fraction, ns: list[int], fixed: bool) -> list:
    """E‖P̂_t − P*‖² for V = 2 by carrying the exact law of P̂_t (rational arithmetic).

    i.i.d.: each of the n_t draws is token 0 with probability α p + (1 − α) P̂_{t−1}(0).
    fixed: k = round(α n_t) true draws ~ Bin(k, p) plus n_t − k synthetic ~ Bin(·, P̂_{t−1}(0)).
    """
    law = {Fraction(k, ns[0]): w for k, w in enumerate(binomial_pmf(ns[0], p))}
    risks = []
    for t, n in enumerate(ns):
        if t > 0:
            new: dict[Fraction, Fraction] = {}
            for phat, w in law.items():
                if fixed:
                    k = round(alpha * n)  # Python and NumPy both round half to even
                    true_part, syn_part = binomial_pmf(k, p), binomial_pmf(n - k, phat)
                    for a, b in itertools.product(range(k + 1), range(n - k + 1)):
                        key = Fraction(a + b, n)
                        new[key] = new.get(key, 0) + w * true_part[a] * syn_part[b]
                else:
                    q = alpha * p + (1 - alpha) * phat
                    for k, wk in enumerate(binomial_pmf(n, q)):
                        new[Fraction(k, n)] = new.get(Fraction(k, n), 0) + w * wk
            law = new
        # Both coordinates of a two-token distribution are off by the same amount.
        risks.append(sum(w * 2 * (phat - p) ** 2 for phat, w in law.items()))
    return risks


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize(
    ("p", "alpha", "ns"),
    [
        (Fraction(3, 10), Fraction(2, 5), [4, 3, 2]),
        (Fraction(1, 2), Fraction(1, 2), [2, 2, 2]),
        (Fraction(1, 5), Fraction(0), [3, 4, 3]),
        (Fraction(7, 10), Fraction(1), [3, 2, 5]),
        (Fraction(1, 3), Fraction(1, 4), [5, 4, 4]),
    ],
)
def test_two_generations_match_exact_enumeration(p, alpha, ns, fixed):
    exact = exact_two_token_risk(p, alpha, ns, fixed)
    truth = np.array([float(p), 1 - float(p)])
    curve = risk_curve(truth, float(alpha), ns, len(ns) - 1, "fixed" if fixed else "iid")
    assert curve.tolist() == pytest.approx([float(r) for r in exact], rel=1e-12, abs=1e-15)


def test_one_generation_over_three_tokens_matches_exact_enumeration():
    # V = 3: sum over every count vector of both multinomial draws.
    p = [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]
    alpha, n0, n1 = Fraction(1, 3), 3, 2

    def multinomial(n, q):
        for a in range(n + 1):
            for b in range(n + 1 - a):
                c = n - a - b
                w = Fraction(factorial(n), factorial(a) * factorial(b) * factorial(c))
                yield (a, b, c), w * q[0] ** a * q[1] ** b * q[2] ** c

    expected = Fraction(0)
    for counts0, w0 in multinomial(n0, p):
        q = [alpha * pi + (1 - alpha) * Fraction(ci, n0) for pi, ci in zip(p, counts0, strict=True)]
        for counts1, w1 in multinomial(n1, q):
            expected += (
                w0
                * w1
                * sum((Fraction(ci, n1) - pi) ** 2 for pi, ci in zip(p, counts1, strict=True))
            )
    curve = risk_curve(np.array([float(x) for x in p]), float(alpha), [n0, n1], 1)
    assert curve[1] == pytest.approx(float(expected), rel=1e-12)
    assert curve[0] == pytest.approx(float(1 - sum(x * x for x in p)) / n0, rel=1e-12)


# --------------------------------------------------------------------------- hand values


def test_hand_computed_values():
    # c = 1/2, α = 1/2, n = 2: R_0 = 1/4, R_1 = 1/4 + ½·¼·¼ = 9/32, R_2 = 1/4 + ⅛·9/32.
    assert risk_curve(0.5, 0.5, 2, 2).tolist() == pytest.approx([1 / 4, 9 / 32, 73 / 256])
    # Fixed composition, n = 4, α = ½: two true and two synthetic, factor m(m − 1)/n² = 1/8.
    assert risk_curve(0.5, 0.5, 4, 1, "fixed").tolist() == pytest.approx([1 / 8, 9 / 64])
    # n = 5, α = ½: round(2.5) = 2 true draws (half to even), m = 3, factor 6/25.
    assert risk_curve(0.5, 0.5, 5, 1, "fixed")[1] == pytest.approx(0.1 + 0.1 * 6 / 25)
    # Generation 0 alone, and c = 0 (a point-mass truth) stays exactly 0.
    assert risk_curve(P, 0.3, 7, 0).tolist() == pytest.approx([C / 7])
    assert np.all(risk_curve(np.array([0.0, 1.0, 0.0]), 0.2, 10, 5) == 0.0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 40])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.25, 0.5, 0.7, 1.0])
def test_fixed_composition_rounds_like_the_simulator(n, alpha):
    # The theory's k = round(α n) is the simulator's number of true draws under "fixed".
    k = int(true_counts("fixed", n, alpha, 1, np.random.default_rng(0))[0])
    m = n - k
    curve = risk_curve(0.5, alpha, n, 1, "fixed")
    assert curve[1] == pytest.approx(0.5 / n + m * (m - 1) / n**2 * curve[0], rel=1e-14)


@settings(max_examples=40, deadline=None)
@given(ns=st.lists(st.integers(1, 200), min_size=1, max_size=30))
def test_closed_forms_without_and_with_only_true_data(ns):
    t = len(ns) - 1
    # α = 0: 1 − R_t/c = Π_{s ≤ t} (1 − 1/n_s) (the point-mass collapse, any n schedule).
    collapse = risk_curve(P, 0.0, ns, t)
    survive = np.cumprod([1 - 1 / n for n in ns])
    assert collapse == pytest.approx(C * (1 - survive), rel=1e-12, abs=1e-15)
    # α = 1: every generation is fresh true data, R_t = c / n_t, in both compositions.
    for composition in ("iid", "fixed"):
        fresh = risk_curve(P, 1.0, ns, t, composition)
        assert fresh == pytest.approx(C / np.array(ns, dtype=float), rel=1e-12)


def test_alpha_zero_is_unused_and_c_can_be_given_directly():
    a = risk_curve(P, [0.9, 0.2, 0.3], [10, 20, 30], 2)
    b = risk_curve(P, [0.0, 0.2, 0.3], [10, 20, 30], 2)
    assert np.array_equal(a, b)
    assert np.array_equal(risk_curve(C, 0.2, 10, 4), risk_curve(P, 0.2, 10, 4))
    # Any schedule form gives the same curve.
    forms = [0.2, [0.2] * 5, lambda t: 0.2, power_law(0.2, 0.0), geometric(0.2, 1.0)]
    curves = [risk_curve(P, form, 10, 4) for form in forms]
    assert all(np.array_equal(curves[0], curve) for curve in curves)


# --------------------------------------------------------------------------- fixed points


@settings(max_examples=60, deadline=None)
@given(alpha=st.floats(0.0, 1.0), n=st.integers(1, 10_000))
def test_stable_level_is_the_fixed_point_and_the_limit(alpha, n):
    for composition in ("iid", "fixed"):
        level = stable_level(P, alpha, n, composition)
        one_step = risk_curve(P, [0.0, alpha], [1, n], 1, composition)  # R_0 overwritten below
        factor = (one_step[1] - C / n) / one_step[0]
        assert C / n + factor * level == pytest.approx(level, rel=1e-12, abs=1e-15)
        assert C / n - 1e-15 <= level <= C + 1e-15
    # Starting from R_0 = c/n ≤ level, the curve climbs monotonically towards the level.
    curve = risk_curve(P, alpha, n, 50)
    assert np.all(np.diff(curve) >= -1e-15) and curve[-1] <= stable_level(P, alpha, n) + 1e-15


@settings(max_examples=60, deadline=None)
@given(
    a1=st.floats(0.0, 1.0), a2=st.floats(0.0, 1.0), n1=st.integers(1, 1000), n2=st.integers(1, 1000)
)
def test_more_true_data_or_more_samples_lower_the_stable_level(a1, a2, n1, n2):
    lo_a, hi_a = sorted((a1, a2))
    lo_n, hi_n = sorted((n1, n2))
    assert stable_level(P, hi_a, lo_n) <= stable_level(P, lo_a, lo_n) * (1 + 1e-12)
    assert stable_level(P, lo_a, hi_n) <= stable_level(P, lo_a, lo_n) * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 500), data=st.data())
def test_fixed_composition_beats_iid_mixing_when_alpha_n_is_whole(n, data):
    # With α n = k exactly, m(m − 1)/n² = (1 − α)² − (1 − α)/n ≤ (1 − 1/n)(1 − α)².
    k = data.draw(st.integers(0, n))
    alpha = k / n
    fixed, iid = risk_curve(P, alpha, n, 30, "fixed"), risk_curve(P, alpha, n, 30)
    assert np.all(fixed <= iid * (1 + 1e-12))
    assert stable_level(P, alpha, n, "fixed") <= stable_level(P, alpha, n) * (1 + 1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.2, 0.5, 0.9])
def test_pooling_beats_real_only_by_two_minus_alpha(alpha):
    # Real-only trains on ≈ α n true draws: error c/(α n). The pooled stable level is
    # c / (1 + (n − 1) α (2 − α)); their ratio tends to 2 − α as n grows.
    n = 10**7
    ratio = (C / (alpha * n)) / stable_level(P, alpha, n)
    assert ratio == pytest.approx(2 - alpha, rel=1e-5)


def test_alpha_n_constant_improves_without_converging():
    # α_t n_t = a with α_t → 0: R_t → c / (1 + 2a) (from R = c/n + (1 − 1/n)(1 − α)² R), below
    # R_0 = c/n_0 but not 0.
    a = 10.0
    curve = risk_curve(P, power_law(1.0, -1.0), power_law(a, 1.0), 20_000)
    assert curve[-1] == pytest.approx(C / (1 + 2 * a), rel=2e-3)
    assert curve[-1] < curve[0]


def test_summable_alpha_with_constant_n_ends_in_collapse():
    # Σ α_t < ∞: the true data stop mattering, and the error tends to c (the α = 0 limit).
    curve = risk_curve(P, geometric(0.5, 0.5), 100, 3000)
    assert curve[-1] == pytest.approx(C, rel=1e-6)
    assert np.all(np.diff(curve[5:]) > 0)


# --------------------------------------------------------------------------- collision gap


@pytest.mark.parametrize("vocab", [1, 2, 5, 100])
def test_collision_gap_closed_forms(vocab):
    assert collision_gap(np.full(vocab, 1 / vocab)) == pytest.approx(1 - 1 / vocab)
    point = np.zeros(vocab)
    point[-1] = 1.0
    assert collision_gap(point) == 0.0
    assert collision_gap(0.25) == 0.25


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: risk_curve(P, 0.1, 10, 3, composition="pooled"), "composition"),
        (lambda: stable_level(P, 0.1, 10, composition="pooled"), "composition"),
        (lambda: risk_curve(P, 1.5, 10, 3), "alpha"),
        (lambda: risk_curve(P, [0.1, 0.2], 10, 3), "alpha"),
        (lambda: risk_curve(P, 0.1, 0, 3), "n"),
        (lambda: risk_curve(P, 0.1, [10, 10, 0.2, 10], 3), "n"),
        (lambda: risk_curve(P, 0.1, 10, -1), "generations"),
        (lambda: risk_curve(P, 0.1, 10, 2.5), "generations"),
        (lambda: stable_level(P, -0.1, 10), "alpha"),
        (lambda: stable_level(P, 0.1, 0), "n"),
        (lambda: collision_gap(1.5), "p_star"),
        (lambda: collision_gap(np.array([2.0, -1.0])), "p_star"),
        (lambda: collision_gap(float("nan")), "p_star"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ALMOValueError) as info:
        call()
    message = str(info.value)
    assert f"`{argument}`" in message and "found" in message and "Fix:" in message


@pytest.mark.parametrize(
    "p_star",
    [
        np.array([0.5, 0.2]),  # 1 − ‖P*‖² = 0.71 lies in [0, 1], yet P* sums to 0.7
        np.array([0.6, 0.6]),
        np.array([0.5, 0.5, np.nan]),
        np.array([[0.5, 0.5], [0.5, 0.5]]),
        ["a", "b"],
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda p: risk_curve(p, 0.1, 10, 3),
        lambda p: stable_level(p, 0.1, 10),
        collision_gap,
    ],
)
def test_a_p_star_off_the_simplex_is_refused(call, p_star):
    with pytest.raises(ALMOValueError, match=r"^`p_star` must"):
        call(p_star)


def test_a_p_star_on_the_simplex_gives_the_collision_gap():
    # c = 1 − ‖P*‖² by hand; a renormalization within the tolerance changes nothing visible.
    assert collision_gap(np.array([0.5, 0.3, 0.2])) == pytest.approx(1 - 0.38, abs=1e-15)
    assert collision_gap(np.array([1.0, 0.0])) == 0.0
    assert risk_curve(np.array([0.5, 0.5]), 0.0, 10, 0)[0] == pytest.approx(0.05, abs=1e-15)
