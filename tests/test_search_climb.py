"""CLIMB's phase 2: the Dirichlet draws, the budget split, the predictor, seeds and workers."""

from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import dirichlet as scipy_dirichlet
from sklearn.linear_model import Ridge

from almo.exceptions import ALMOValueError
from almo.search import climb, dirichlet_alpha, make_predictor, run_proxies, split_budget
from almo.search.climb import run_seed
from almo.search.proxies import call_proxy, check_weights

TARGET = np.array([0.6, 0.25, 0.1, 0.05])


def quadratic(w, seed=0):
    """A proxy with a known optimum (TARGET) and seeded noise."""
    noise = np.random.default_rng(seed).normal(0, 1e-3)
    return float(np.sum((np.asarray(w) - TARGET) ** 2) + noise)


class Counter:
    """A proxy that counts its calls (in-process only: n_jobs=1)."""

    def __init__(self):
        self.calls = []

    def __call__(self, w, seed=0):
        self.calls.append((np.array(w), seed))
        return quadratic(w, seed)


class SpyRegressor(Ridge):
    """A regressor that records the size of every data set it is fitted on."""

    sizes: ClassVar[list[int]] = []

    def fit(self, X, y, sample_weight=None):
        SpyRegressor.sizes.append(len(X))
        return super().fit(X, y, sample_weight)


# --- Dirichlet draws and the budget --------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.01, 10.0), min_size=2, max_size=12),
    st.floats(0.1, 20.0),
    st.integers(0, 2**31 - 1),
)
def test_draws_lie_on_the_simplex(shares, concentration, seed):
    alpha = dirichlet_alpha(np.array(shares), concentration)
    W = np.random.default_rng(seed).dirichlet(alpha, size=50)
    assert np.all(W >= 0)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    # Dir(c·k·s) unless the 1e-3 floor lifts a tiny entry: the floor only ever adds mass.
    exact = concentration * len(shares) * np.array(shares) / np.sum(shares)
    np.testing.assert_allclose(alpha, np.maximum(exact, 1e-3), rtol=1e-12)


def test_dirichlet_is_centred_on_the_shares():
    """The mean of Dir(c·k·s) is s; Monte Carlo within 4 standard errors."""
    s = np.array([0.5, 0.3, 0.15, 0.05])
    alpha = dirichlet_alpha(s, 2.0)
    W = np.random.default_rng(0).dirichlet(alpha, size=20000)
    se = np.sqrt(scipy_dirichlet.var(alpha) / len(W))
    assert np.all(np.abs(W.mean(axis=0) - s) < 4 * se)


def test_climb_runs_lie_on_the_simplex_and_in_rounds():
    res = climb(quadratic, np.full(4, 0.25), budget=21, seed=3)
    W = np.stack([r.weights for r in res.runs])
    assert np.all(W >= 0)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    assert [r.round for r in res.runs] == [1] * 12 + [2] * 6 + [3] * 3


@settings(max_examples=50, deadline=None)
@given(st.integers(3, 500), st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_budget_split_is_exact(budget, ratios):
    if budget < len(ratios):
        return
    sizes = split_budget(budget, ratios)
    assert sum(sizes) == budget
    assert min(sizes) >= 1
    ideal = budget * np.array(ratios) / sum(ratios)
    assert np.all(np.abs(np.array(sizes) - ideal) < 1 + 1e-9)


def test_default_split_is_climbs():
    assert split_budget(112) == [64, 32, 16]
    assert split_budget(7) == [4, 2, 1]


@pytest.mark.parametrize("budget", [3, 7, 10, 23])
def test_proxy_calls_equal_the_budget(budget):
    counter = Counter()
    res = climb(counter, np.full(4, 0.25), budget=budget, n_candidates=200, seed=0)
    assert len(counter.calls) == budget == res.proxy_calls
    assert sum(r.n_runs for r in res.rounds) == budget


# --- the predictor -------------------------------------------------------------------------


def test_predictor_refits_on_all_pairs_so_far():
    SpyRegressor.sizes = []
    res = climb(quadratic, np.full(4, 0.25), budget=28, predictor=SpyRegressor(), seed=0)
    assert SpyRegressor.sizes == [16, 24]
    assert [r.n_fit for r in res.rounds] == [0, 16, 24]


def test_later_rounds_pick_from_the_predicted_top():
    """With an exact predictor of a smooth proxy, rounds 2-3 beat round 1 on average."""
    res = climb(quadratic, np.full(4, 0.25), budget=70, seed=1)
    first = np.mean([r.value for r in res.runs if r.round == 1])
    later = np.mean([r.value for r in res.runs if r.round > 1])
    assert later < 0.5 * first
    rho = res.held_out_spearman()
    assert rho is not None and -1 <= rho <= 1
    assert res.best_after() == sorted(res.best_after(), reverse=True)


def test_hgb_settings_are_climbs():
    model = make_predictor("hgb", seed=0)
    assert (model.max_depth, model.min_samples_leaf) == (4, 5)


def test_lightgbm_missing_is_a_clear_error():
    pytest.importorskip("sklearn")
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        with pytest.raises(ALMOValueError, match="pip install lightgbm"):
            make_predictor("lightgbm")
    else:  # pragma: no cover - only where LightGBM is installed
        assert make_predictor("lightgbm").max_depth == 4


def test_vector_proxies_get_one_predictor_per_target():
    def two(w, seed=0):
        return np.array([quadratic(w, seed), float(w[0])])

    res = climb(two, np.full(4, 0.25), budget=14, aggregate=max, seed=0)
    assert len(res.info["predictor"].models_) == 2
    assert all(r.value == max(r.scores) for r in res.runs)


# --- seeds and workers ---------------------------------------------------------------------


def test_seeds_reproduce_and_differ():
    a = climb(quadratic, np.full(4, 0.25), budget=14, seed=5)
    b = climb(quadratic, np.full(4, 0.25), budget=14, seed=5)
    c = climb(quadratic, np.full(4, 0.25), budget=14, seed=6)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.values, c.values)


def test_runs_get_their_own_seed():
    counter = Counter()
    climb(counter, np.full(4, 0.25), budget=7, seed=2)
    assert [s for _, s in counter.calls] == [run_seed(2, i) for i in range(7)]
    assert len({s for _, s in counter.calls}) == 7


def test_n_jobs_one_and_two_give_identical_results():
    a = climb(quadratic, np.full(4, 0.25), budget=14, n_candidates=500, seed=4, n_jobs=1)
    b = climb(quadratic, np.full(4, 0.25), budget=14, n_candidates=500, seed=4, n_jobs=2)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(
        np.stack([r.weights for r in a.runs]), np.stack([r.weights for r in b.runs])
    )


def test_run_proxies_keeps_row_order():
    W = np.eye(3)
    out = run_proxies(lambda w, seed: float(np.argmax(w)) + seed, W, [0, 10, 20], n_jobs=2)
    assert [float(v[0]) for v in out] == [0.0, 11.0, 22.0]


def test_proxies_without_a_seed_are_called_plainly():
    assert call_proxy(lambda w: float(w[1]), np.array([0.2, 0.8]), 3).tolist() == [0.8]


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": 0}, "`budget` must be an integer >= 1"),
        ({"budget": 2}, "at least the number of rounds"),
        ({"rounds": ()}, "`rounds` must be a non-empty"),
        ({"rounds": (4, -1)}, "`rounds`"),
        ({"concentration": 0}, "`concentration`"),
        ({"n_jobs": 0}, "`n_jobs`"),
        ({"seed": -1}, "`seed`"),
        ({"predictor": "xgb"}, "`predictor`"),
        ({"n_candidates": 0}, "`n_candidates`"),
        ({"top_n": 0}, "`top_n`"),
    ],
)
def test_bad_arguments_fail_early(kwargs, match):
    counter = Counter()
    with pytest.raises(ALMOValueError, match=match):
        climb(counter, np.full(4, 0.25), **{"budget": 7, **kwargs})
    assert counter.calls == []


@pytest.mark.parametrize("shares", [[], [0.5, -0.5], [0.0, 0.0], [np.nan, 1.0]])
def test_bad_shares(shares):
    with pytest.raises(ALMOValueError, match="`shares`"):
        climb(quadratic, np.array(shares), budget=7)


def test_proxy_must_be_callable_and_finite():
    with pytest.raises(ALMOValueError, match="`proxy` must be callable"):
        climb("not a function", np.full(2, 0.5), budget=3)
    with pytest.raises(ALMOValueError, match="`proxy` must return a finite score"):
        climb(lambda w: float("nan"), np.full(2, 0.5), budget=3)


def test_check_weights():
    np.testing.assert_allclose(check_weights([0.25, 0.75], 2), [0.25, 0.75])
    for bad in ([0.5, 0.6], [1.0], [-0.1, 1.1], "x"):
        with pytest.raises(ALMOValueError, match="`weights`"):
            check_weights(bad, 2)
