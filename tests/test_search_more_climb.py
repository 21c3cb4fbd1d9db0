"""More of phase 2: budget splits, Dirichlet parameters, every run on the simplex, call counts,
seeds, the predictor's picks, the run records and the small public helpers' bad input."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import dirichlet as scipy_dirichlet
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression

from almo.exceptions import ALMOValueError
from almo.search import (
    SearchResult,
    climb,
    dirichlet_alpha,
    fixed_mixture,
    make_predictor,
    random_search,
    regmix,
    run_proxies,
    split_budget,
)
from almo.search.climb import ProxyRun, RoundInfo, _spearman, run_seed
from almo.search.proxies import call_proxy, check_weights
from checks import assert_agree

FEW = settings(max_examples=12, deadline=None)
COEF = np.array([0.9, 0.1, 0.5, 0.3, 0.7])


def linear(w, seed=0):
    """A noiseless proxy linear in λ: its minimum over the simplex is the vertex of COEF's min."""
    return float(np.asarray(w) @ COEF[: len(w)])


def noisy(w, seed=0):
    """A seeded noisy quadratic: the same (λ, seed) always gives the same score."""
    target = np.linspace(1.0, 2.0, len(w))
    target /= target.sum()
    return float(
        np.sum((np.asarray(w) - target) ** 2) + np.random.default_rng(seed).normal(0, 1e-3)
    )


class Counting:
    """A proxy recording every (λ, seed) it is called with (in-process runs only)."""

    def __init__(self, fn=noisy):
        self.fn, self.calls = fn, []

    def __call__(self, w, seed=0):
        self.calls.append((np.array(w, dtype=float), seed))
        return self.fn(w, seed)


def on_simplex(W, atol=1e-12):
    W = np.atleast_2d(np.asarray(W, dtype=float))
    assert np.all(np.isfinite(W)), W
    assert W.min() >= 0.0, f"negative weight {W.min()}"
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=atol)


# --- split_budget ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 3000),
    st.lists(st.floats(0.01, 100.0, allow_nan=False), min_size=1, max_size=6),
)
def test_split_is_exact_for_any_budget_and_ratios(budget, ratios):
    if budget < len(ratios):
        with pytest.raises(ALMOValueError, match=r"`budget` must be at least the number of rounds"):
            split_budget(budget, ratios)
        return
    sizes = split_budget(budget, ratios)
    assert len(sizes) == len(ratios)
    assert all(isinstance(s, int) for s in sizes)
    assert sum(sizes) == budget
    assert min(sizes) >= 1


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 2000), st.lists(st.integers(1, 50), min_size=1, max_size=5))
def test_split_is_largest_remainder_when_every_round_has_a_full_share(budget, ratios):
    """With every share ≥ 1 no round is lifted: each size is the floor or ceiling of its share."""
    share = budget * np.array(ratios, dtype=float) / sum(ratios)
    if share.min() < 1:
        return
    sizes = np.array(split_budget(budget, ratios))
    assert np.all(sizes >= np.floor(share)) and np.all(sizes <= np.ceil(share))
    # The rounds rounded up are those of largest remainder (ties: earlier rounds first).
    up = np.flatnonzero(sizes > np.floor(share))
    rest = np.setdiff1d(np.arange(len(ratios)), up)
    frac = share - np.floor(share)
    if up.size and rest.size:
        assert frac[up].min() >= frac[rest].max() - 1e-9


@settings(max_examples=60, deadline=None)
@given(
    st.integers(3, 1000),
    st.lists(st.integers(1, 20), min_size=1, max_size=3),
    st.sampled_from([2, 4, 8, 0.5]),
)
def test_split_depends_only_on_the_ratios(budget, ratios, factor):
    if budget < len(ratios):
        return
    scaled = [r * factor for r in ratios]  # powers of two: exact in floating point
    assert split_budget(budget, ratios) == split_budget(budget, scaled)
    assert split_budget(budget, tuple(ratios)) == split_budget(budget, list(ratios))


@pytest.mark.parametrize(
    ("budget", "ratios", "expected"),
    [
        (112, (4, 2, 1), [64, 32, 16]),
        (7, (4, 2, 1), [4, 2, 1]),
        (14, (4, 2, 1), [8, 4, 2]),
        (10, (1, 1, 1), [4, 3, 3]),  # the tie goes to the earliest round
        (11, (1, 1, 1), [4, 4, 3]),
        (5, (1,), [5]),
        (3, (100, 1, 1), [1, 1, 1]),  # the small rounds are lifted to one run
        (9, (0.5, 0.25, 0.25), [5, 2, 2]),
    ],
)
def test_split_examples(budget, ratios, expected):
    assert split_budget(budget, ratios) == expected


@pytest.mark.parametrize(
    ("budget", "ratios"), [(6, (4, 2, 1)), (4, (1, 2, 2)), (13, (6.6, 5.5, 0.9))]
)
def test_a_larger_ratio_never_gets_fewer_runs(budget, ratios):
    sizes = split_budget(budget, ratios)
    share = budget * np.array(ratios) / sum(ratios)
    for i in range(len(ratios)):
        assert sizes[i] <= max(1, int(np.ceil(share[i]))), (sizes, share)
        for j in range(len(ratios)):
            if ratios[i] > ratios[j]:
                assert sizes[i] >= sizes[j], (sizes, ratios)


@pytest.mark.parametrize(
    ("budget", "ratios", "match"),
    [
        (0, (4, 2, 1), "`budget` must be an integer >= 1"),
        (-3, (4, 2, 1), "`budget`"),
        (7.5, (4, 2, 1), "`budget`"),
        ("7", (4, 2, 1), "`budget`"),
        (True, (4, 2, 1), "`budget`"),
        (None, (4, 2, 1), "`budget`"),
        (2, (4, 2, 1), r"at least the number of rounds \(3\)"),
        (7, (), "`rounds` must be a non-empty sequence"),
        (7, "4,2,1", "`rounds` must be a non-empty sequence"),
        (7, None, "`rounds`"),
        (7, (4, 0, 1), "`rounds`"),
        (7, (4, -2, 1), "`rounds`"),
        (7, (4, float("nan"), 1), "`rounds`"),
        (7, (4, float("inf"), 1), "`rounds`"),
        (7, (4, "x", 1), "`rounds`"),
    ],
)
def test_split_bad_input_names_the_argument(budget, ratios, match):
    with pytest.raises(ALMOValueError, match=match) as err:
        split_budget(budget, ratios)
    assert "Fix:" in str(err.value)


# --- dirichlet_alpha ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.05, 50.0), min_size=2, max_size=10),
    st.floats(0.01, 100.0),
)
def test_alpha_is_c_k_times_the_normalized_shares(shares, c):
    s = np.array(shares)
    alpha = dirichlet_alpha(s, c)
    expected = np.maximum(c * s.size * s / s.sum(), 1e-3)
    assert_agree(alpha, expected, rtol=1e-12, what="dirichlet_alpha")
    # Unnormalized shares give the same parameters as normalized ones.
    assert_agree(dirichlet_alpha(s * 7.0, c), alpha, rtol=1e-12, what="scale invariance")
    if expected.min() > 1e-3:
        assert alpha.sum() == pytest.approx(c * s.size, rel=1e-12)
        # The Dirichlet's mean is then exactly the normalized shares.
        assert_agree(scipy_dirichlet.mean(alpha), s / s.sum(), rtol=1e-12, what="mean")


def test_alpha_floor_keeps_a_zero_share_drawable():
    alpha = dirichlet_alpha([1.0, 0.0], 1.0)
    assert alpha.tolist() == [2.0, 1e-3]
    W = np.random.default_rng(0).dirichlet(alpha, size=200)
    on_simplex(W)


@pytest.mark.parametrize(
    ("shares", "c", "match"),
    [
        ([], 1.0, "`shares`"),
        ([0.0, 0.0], 1.0, "`shares`"),
        ([1.0, -0.1], 1.0, "`shares`"),
        ([1.0, np.inf], 1.0, "`shares`"),
        ([1.0, np.nan], 1.0, "`shares`"),
        ([0.5, 0.5], 0.0, "`concentration`"),
        ([0.5, 0.5], -1.0, "`concentration`"),
        ([0.5, 0.5], np.inf, "`concentration`"),
        ([0.5, 0.5], "big", "`concentration`"),
    ],
)
def test_alpha_bad_input(shares, c, match):
    with pytest.raises(ALMOValueError, match=match):
        dirichlet_alpha(shares, c)


# --- climb: invariants over random settings -------------------------------------------------


@FEW
@given(
    k=st.integers(2, 5),
    budget=st.integers(3, 16),
    concentration=st.floats(0.2, 5.0),
    seed=st.integers(0, 2**20),
    raw=st.lists(st.floats(0.05, 1.0), min_size=5, max_size=5),
)
def test_climb_invariants(k, budget, concentration, seed, raw):
    shares = np.array(raw[:k])
    counter = Counting()
    res = climb(
        counter,
        shares,
        budget,
        concentration=concentration,
        n_candidates=60,
        predictor=LinearRegression(),
        seed=seed,
    )
    sizes = split_budget(budget)
    # Exactly `budget` proxy calls, each recorded once, in rounds of the split's sizes.
    assert len(counter.calls) == res.proxy_calls == budget
    assert [r.n_runs for r in res.rounds] == sizes
    assert [r.round for r in res.runs] == [i + 1 for i, m in enumerate(sizes) for _ in range(m)]
    # Every λ proxied, and the answer, lie on the simplex.
    on_simplex(np.stack([w for w, _ in counter.calls]))
    on_simplex(res.weights)
    for (w, s), run in zip(counter.calls, res.runs, strict=True):
        np.testing.assert_array_equal(w, run.weights)
        assert s == run.seed
        assert run.value == pytest.approx(noisy(w, s), abs=0)
    assert [s for _, s in counter.calls] == [run_seed(seed, i) for i in range(budget)]
    # The answer is the best measured run, and per-round bests never get worse.
    assert res.best_value == min(res.values)
    np.testing.assert_array_equal(res.weights, res.runs[int(np.argmin(res.values))].weights)
    bests = [r.best_value for r in res.rounds]
    assert bests == sorted(bests, reverse=True) and bests == res.best_after()
    # The predictor was fitted on every earlier run, and predicted only later rounds.
    assert [r.n_fit for r in res.rounds] == list(np.cumsum([0, *sizes[:-1]]))
    assert all((r.predicted is None) == (r.round == 1) for r in res.runs)
    assert res.info["rounds"] == sizes and res.info["budget"] == budget


@FEW
@given(seed=st.integers(0, 2**31 - 1), budget=st.integers(3, 12))
def test_climb_is_reproducible_from_its_seed(seed, budget):
    kw = {"n_candidates": 50, "predictor": LinearRegression(), "seed": seed}
    a = climb(noisy, np.full(3, 1 / 3), budget, **kw)
    b = climb(noisy, np.full(3, 1 / 3), budget, **kw)
    np.testing.assert_array_equal(
        np.stack([r.weights for r in a.runs]), [r.weights for r in b.runs]
    )
    np.testing.assert_array_equal(a.values, b.values)
    assert [r.seed for r in a.runs] == [r.seed for r in b.runs]


def test_different_seeds_draw_different_mixtures():
    a = climb(noisy, np.full(3, 1 / 3), 7, n_candidates=50, seed=0)
    b = climb(noisy, np.full(3, 1 / 3), 7, n_candidates=50, seed=1)
    assert not np.allclose(a.runs[0].weights, b.runs[0].weights)
    assert a.runs[0].seed != b.runs[0].seed


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 10_000))
def test_run_seeds_are_valid_and_distinct(seed, index):
    s = run_seed(seed, index)
    assert isinstance(s, int) and 0 <= s < 2**32
    assert s == run_seed(seed, index)
    assert s != run_seed(seed, index + 1)


def test_later_rounds_pick_from_the_predicted_top():
    """An exact predictor (linear regression of a linear proxy) and top_n = M: the runs of rounds
    2 and 3 are the predicted best of 2000 candidates, so their scores sit in the lowest 2% of
    scores of independent draws from the same Dirichlet (a run outside it is a 1e-9 event)."""
    shares = np.array([0.4, 0.3, 0.2, 0.1])
    res = climb(
        linear, shares, 21, n_candidates=2000, top_n=3, predictor=LinearRegression(), seed=3
    )
    draws = np.random.default_rng(99).dirichlet(dirichlet_alpha(shares), size=20000)
    cutoff = np.quantile(draws @ COEF[:4], 0.02)
    later = [r for r in res.runs if r.round > 1]
    assert later and all(r.value <= cutoff for r in later)
    # The exact predictor's stored predictions are the measured scores of the same runs.
    for r in later:
        assert r.predicted == pytest.approx(r.value, abs=1e-9)
    # Round 1 draws are spread: they are not all that good.
    assert max(r.value for r in res.runs if r.round == 1) > cutoff


def test_top_n_larger_than_the_candidates_is_capped():
    res = climb(noisy, np.full(3, 1 / 3), 7, n_candidates=5, top_n=1000, seed=0)
    assert res.proxy_calls == 7
    on_simplex(np.stack([r.weights for r in res.runs]))


def test_custom_aggregate_is_the_value_of_each_run():
    def two(w, seed=0):
        return np.array([linear(w), 1.0 - float(w[0])])

    res = climb(two, np.full(3, 1 / 3), 7, n_candidates=40, aggregate=min, seed=0)
    for r in res.runs:
        assert r.scores.shape == (2,)
        assert r.value == min(r.scores)
    res_mean = climb(two, np.full(3, 1 / 3), 7, n_candidates=40, seed=0)
    for r in res_mean.runs:
        assert r.value == pytest.approx(r.scores.mean(), abs=1e-15)


def test_round_spearman_matches_scipy():
    res = climb(noisy, np.full(4, 0.25), 28, n_candidates=300, seed=2)
    for info in res.rounds[1:]:
        runs = [r for r in res.runs if r.round == info.round]
        pred = [r.predicted for r in runs]
        meas = [r.value for r in runs]
        if info.spearman is None:
            assert len(runs) < 3 or np.ptp(pred) == 0 or np.ptp(meas) == 0
        else:
            assert info.spearman == pytest.approx(spearmanr(pred, meas).statistic, abs=1e-12)
    held = [(r.predicted, r.value) for r in res.runs if r.predicted is not None]
    expected = spearmanr([p for p, _ in held], [v for _, v in held]).statistic
    assert res.held_out_spearman() == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=0, max_size=15),
    st.integers(0, 2**16),
)
def test_spearman_helper_against_scipy(a, seed):
    b = list(np.random.default_rng(seed).normal(size=len(a)) + 0.5 * np.array(a))
    got = _spearman(a, b)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        assert got is None
    else:
        assert got == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
        assert -1.0 <= got <= 1.0


# --- n_jobs does not change any result ------------------------------------------------------


def test_every_search_gives_the_same_results_with_one_or_two_workers():
    """Run through joblib's threading backend (the way a Dask or Ray backend is plugged in,
    and without the start-up of worker processes): results are those of one worker."""
    from joblib import parallel_config

    shares = np.array([0.5, 0.3, 0.2])
    kw = {"n_candidates": 100, "seed": 11}
    for search in (
        functools.partial(climb, noisy, shares, 7, **kw),
        functools.partial(random_search, noisy, shares, 6, seed=11),
        functools.partial(regmix, noisy, shares, 8, top_k=5, **kw),
    ):
        one = search(n_jobs=1)
        with parallel_config(backend="threading"):
            two = search(n_jobs=2)
        np.testing.assert_array_equal(one.values, two.values)
        np.testing.assert_array_equal(one.weights, two.weights)
        assert [r.seed for r in one.runs] == [r.seed for r in two.runs]


# --- SearchResult and its records -----------------------------------------------------------


def _result(values, rounds):
    res = SearchResult("hand", np.array([1.0, 0.0]))
    for i, (v, r) in enumerate(zip(values, rounds, strict=True)):
        w = np.array([i / 10, 1 - i / 10])
        res.runs.append(ProxyRun(r, w, np.array([v]), v, None if r == 1 else v + 0.1, i))
    for r in sorted(set(rounds)):
        res.rounds.append(RoundInfo(r, rounds.count(r), 0, None, 0.0))
    return res


def test_best_after_each_round_by_hand():
    res = _result([3.0, 2.0, 5.0, 1.5, 4.0, 9.0], [1, 1, 2, 2, 3, 3])
    assert res.best_after() == [2.0, 1.5, 1.5]
    after = res.best_weights_after()
    np.testing.assert_allclose(after[0], [0.1, 0.9])
    np.testing.assert_allclose(after[1], [0.3, 0.7])
    np.testing.assert_allclose(after[2], [0.3, 0.7])
    assert res.proxy_calls == 6 and res.best_value == 1.5
    np.testing.assert_array_equal(res.values, [3.0, 2.0, 5.0, 1.5, 4.0, 9.0])
    # Predictions are (value + 0.1) on rounds 2 and 3: perfectly rank-correlated.
    assert res.held_out_spearman() == pytest.approx(1.0)


def test_an_empty_result():
    res = SearchResult("none", np.array([0.5, 0.5]))
    assert res.proxy_calls == 0 and np.isnan(res.best_value)
    assert res.values.size == 0 and res.best_after() == [] and res.best_weights_after() == []
    assert res.held_out_spearman() is None


# --- the baselines' invariants --------------------------------------------------------------


@FEW
@given(budget=st.integers(1, 15), seed=st.integers(0, 2**20), k=st.integers(2, 5))
def test_random_search_is_climb_with_one_round(budget, seed, k):
    shares = np.linspace(1.0, 2.0, k)
    counter = Counting()
    res = random_search(counter, shares, budget, seed=seed)
    assert len(counter.calls) == res.proxy_calls == budget
    assert res.method == "random" and len(res.rounds) == 1
    assert all(r.round == 1 and r.predicted is None for r in res.runs)
    on_simplex(np.stack([r.weights for r in res.runs]))
    assert res.best_value == min(res.values)
    one_round = climb(noisy, shares, budget, rounds=(1,), seed=seed)
    np.testing.assert_array_equal(res.values, one_round.values)


@FEW
@given(
    budget=st.integers(2, 14),
    top_k=st.integers(1, 30),
    seed=st.integers(0, 2**20),
    k=st.integers(2, 5),
)
def test_regmix_invariants(budget, top_k, seed, k):
    shares = np.linspace(2.0, 1.0, k)
    counter = Counting(lambda w, s: linear(w, s))
    res = regmix(
        counter,
        shares,
        budget,
        top_k=top_k,
        n_candidates=50,
        predictor=LinearRegression(),
        seed=seed,
    )
    assert len(counter.calls) == res.proxy_calls == budget
    assert res.method == "regmix" and res.info["top_k"] == top_k
    on_simplex(res.weights, atol=1e-9)
    # The predictor is exact on a linear proxy, and the answer is an average of candidates:
    # the prediction reported is the proxy's value at the answer.
    assert res.info["predicted"] == pytest.approx(linear(res.weights), abs=1e-7)


def test_regmix_with_top_1_is_the_predicted_best_candidate():
    res = regmix(
        linear, np.full(5, 0.2), 12, top_k=1, n_candidates=3000, predictor=LinearRegression()
    )
    # The best of 3000 Dir(1,...,1) draws on a linear proxy sits close to the best vertex (e_1).
    assert res.weights[1] > 0.6
    assert linear(res.weights) <= min(res.values) + 1e-12


@pytest.mark.parametrize("kind", ["uniform", "proportional"])
def test_fixed_mixtures_use_one_run_with_run_zero_seed(kind):
    counter = Counting()
    res = fixed_mixture(counter, [2.0, 1.0, 1.0], kind, seed=5)
    expected = [1 / 3] * 3 if kind == "uniform" else [0.5, 0.25, 0.25]
    np.testing.assert_allclose(res.weights, expected, rtol=1e-12)
    assert len(counter.calls) == res.proxy_calls == 1
    assert counter.calls[0][1] == run_seed(5, 0) == res.runs[0].seed
    assert res.method == kind and res.best_value == res.runs[0].value
    res_max = fixed_mixture(lambda w: [1.0, 3.0], [1.0, 1.0], kind, aggregate=max)
    assert res_max.best_value == 3.0


def test_fixed_mixture_bad_input():
    for kwargs, match in [
        ({"kind": "best"}, "`kind` must be 'uniform' or 'proportional'"),
        ({"seed": -1}, "`seed`"),
        ({"aggregate": "max"}, "`aggregate`"),
    ]:
        with pytest.raises(ALMOValueError, match=match):
            fixed_mixture(noisy, [0.5, 0.5], **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "`top_k`"),
        ({"top_k": 2.5}, "`top_k`"),
        ({"n_candidates": 0}, "`n_candidates`"),
        ({"budget": 0}, "`budget`"),
        ({"concentration": -1}, "`concentration`"),
        ({"predictor": "forest"}, "`predictor`"),
        ({"n_jobs": 0}, "`n_jobs`"),
        ({"n_jobs": 1.5}, "`n_jobs`"),
        ({"n_jobs": True}, "`n_jobs`"),
        ({"aggregate": 3}, "`aggregate`"),
        ({"seed": 0.5}, "`seed`"),
    ],
)
def test_regmix_and_random_search_refuse_bad_input_before_any_run(kwargs, match):
    counter = Counting()
    with pytest.raises(ALMOValueError, match=match):
        regmix(counter, np.full(3, 1 / 3), **{"budget": 6, **kwargs})
    rs_kwargs = {k: v for k, v in kwargs.items() if k not in ("top_k", "n_candidates", "predictor")}
    if rs_kwargs:
        with pytest.raises(ALMOValueError, match=match):
            random_search(counter, np.full(3, 1 / 3), **{"budget": 6, **rs_kwargs})
    assert counter.calls == []


def test_climb_aggregate_must_be_callable():
    with pytest.raises(ALMOValueError, match="`aggregate` must be a callable"):
        climb(noisy, np.full(3, 1 / 3), 7, aggregate="max")


# --- the small helpers ----------------------------------------------------------------------


class SeededModel:
    def __call__(self, w, seed):
        return float(seed)


def test_call_proxy_passes_seeds_when_accepted():
    w = np.array([0.25, 0.75])
    assert call_proxy(lambda w, **kw: kw["seed"], w, 7).tolist() == [7.0]
    assert call_proxy(SeededModel(), w, 4).tolist() == [4.0]
    assert call_proxy(functools.partial(lambda w, seed, c: seed + c, c=1), w, 2).tolist() == [3.0]
    assert call_proxy(max, w, 9).tolist() == [0.75]  # a builtin with no signature
    assert call_proxy(lambda w: [1, 2, 3], w, 0).tolist() == [1.0, 2.0, 3.0]
    assert call_proxy(lambda w: np.float32(0.5), w, 0).dtype == np.float64


@pytest.mark.parametrize("out", [float("nan"), float("inf"), [], "low", None, [1.0, np.nan]])
def test_call_proxy_refuses_non_finite_or_non_numbers(out):
    with pytest.raises(ALMOValueError, match="`proxy` must return a finite score"):
        call_proxy(lambda w: out, np.array([0.5, 0.5]), 0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**20), st.floats(0.05, 5.0))
def test_check_weights_accepts_every_dirichlet_draw(k, seed, a):
    w = np.random.default_rng(seed).dirichlet(np.full(k, a))
    got = check_weights(w, k)
    on_simplex(got)
    assert_agree(got, w, rtol=1e-12, atol=1e-15, what="check_weights")
    assert_agree(check_weights(w.reshape(1, -1), k), w, rtol=1e-12, atol=1e-15, what="2-D")
    assert_agree(check_weights(list(w), k), w, rtol=1e-12, atol=1e-15, what="list")


def test_check_weights_clips_rounding_noise_and_refuses_the_rest():
    got = check_weights([1.0 + 1e-13, -1e-13], 2)
    assert got.min() >= 0 and got.sum() == pytest.approx(1.0, abs=1e-15)
    for bad in ([0.5, 0.5 + 1e-5], [0.5, 0.5, 0.0], [np.nan, 1.0], [2.0, -1.0], [[0.5, 0.5]] * 2):
        with pytest.raises(ALMOValueError, match="`weights` must be 2 non-negative"):
            check_weights(bad, 2)
    with pytest.raises(ALMOValueError, match="`lam`"):
        check_weights(object(), 2, name="lam")


def test_run_proxies_in_row_order_with_their_seeds():
    W = np.random.default_rng(0).dirichlet(np.ones(3), size=5)
    seeds = [run_seed(1, i) for i in range(5)]
    out = run_proxies(noisy, W, seeds)
    assert [o.tolist() for o in out] == [[noisy(w, s)] for w, s in zip(W, seeds, strict=True)]
    assert run_proxies(noisy, np.zeros((0, 3)), []) == []


def test_run_proxies_names_a_seed_count_mismatch():
    with pytest.raises(ALMOValueError, match="`seeds`"):
        run_proxies(noisy, np.eye(3), [0, 1])


def test_make_predictor_clones_and_refuses():
    base = LinearRegression(fit_intercept=False)
    made = make_predictor(base)
    assert made is not base and made.get_params() == base.get_params()
    hgb = make_predictor("hgb", seed=7)
    assert hgb.random_state == 7 and hgb.min_samples_leaf == 5 and not hgb.early_stopping
    for bad in ("HGB", "xgboost", object(), None, 3):
        with pytest.raises(ALMOValueError, match="`predictor` must be 'hgb', 'lightgbm'"):
            make_predictor(bad)


# --- round 1's Dirichlet, progress bars -----------------------------------------------------


@pytest.mark.parametrize("concentration", [0.5, 4.0])
def test_round_one_draws_are_centred_on_the_shares(concentration):
    """Random search's runs are round 1's draws: Monte Carlo mean within 4 standard errors of
    the normalized shares, and variances those of Dir(c·k·s) (scipy) within 15%."""
    shares = np.array([4.0, 2.0, 1.0, 1.0])
    res = random_search(lambda w: 0.0, shares, 1500, concentration=concentration, seed=0)
    W = np.stack([r.weights for r in res.runs])
    on_simplex(W)
    alpha = dirichlet_alpha(shares, concentration)
    var = scipy_dirichlet.var(alpha)
    se = np.sqrt(var / len(W))
    assert np.all(np.abs(W.mean(axis=0) - shares / shares.sum()) < 4 * se)
    np.testing.assert_allclose(W.var(axis=0), var, rtol=0.15)


def test_progress_bars_only_when_verbose(capsys):
    climb(noisy, np.full(3, 1 / 3), 7, n_candidates=30, seed=0, verbose=False)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    climb(noisy, np.full(3, 1 / 3), 7, n_candidates=30, seed=0, verbose=True)
    err = capsys.readouterr().err
    assert "climb" in err and "round 1" in err and "round 3" in err


@FEW
@given(budget=st.integers(3, 12), n_rounds=st.integers(1, 3), seed=st.integers(0, 99))
def test_compare_methods_spends_the_budget_in_every_search(budget, n_rounds, seed):
    from almo.search import compare_methods

    counter = Counting(lambda w, s: linear(w, s))
    rounds = (4, 2, 1)[:n_rounds]
    report, results = compare_methods(
        counter,
        np.full(4, 0.25),
        budget,
        methods=("climb", "uniform", "proportional", "random", "regmix"),
        rounds=rounds,
        n_candidates=30,
        predictor=LinearRegression(),
        seed=seed,
    )
    calls = {r.method: r.proxy_calls for r in report.rows}
    assert calls == {"climb": budget, "random": budget, "regmix": budget, "uniform": 1,
                     "proportional": 1}  # fmt: skip
    assert len(counter.calls) == 3 * budget + 2
    assert [r.n_runs for r in results["climb"].rounds] == split_budget(budget, rounds)
    for res in results.values():
        on_simplex(res.weights, atol=1e-9)
        on_simplex(np.stack([r.weights for r in res.runs]))


def test_larger_ratios_never_get_fewer_runs_on_a_grid():
    """Every budget 3..60 and integer ratios 1..6 over three rounds: exact, at least one run
    each, monotone in the ratios, and never more than the share rounded up."""
    for budget in range(3, 61):
        for ratios in np.ndindex(6, 6, 6):
            r = np.array(ratios) + 1
            sizes = np.array(split_budget(budget, tuple(r.tolist())))
            share = budget * r / r.sum()
            assert sizes.sum() == budget and sizes.min() >= 1
            assert np.all(sizes <= np.maximum(1, np.ceil(share - 1e-9))), (budget, r, sizes)
            bigger = r[:, None] > r[None, :]
            assert np.all(sizes[:, None] >= sizes[None, :], where=bigger), (budget, r, sizes)


@FEW
@given(
    st.integers(3, 119),
    st.lists(st.floats(0.05, 11.0, allow_nan=False), min_size=2, max_size=5),
)
def test_split_is_monotone_in_the_ratios(budget, ratios):
    if budget < len(ratios):
        return
    sizes = np.array(split_budget(budget, ratios))
    r = np.array(ratios)
    assert sizes.sum() == budget
    assert np.all(sizes[:, None] >= sizes[None, :], where=r[:, None] > r[None, :])


def test_a_budget_of_six_over_4_2_1_follows_the_ratios():
    assert split_budget(6) == [3, 2, 1]
    assert split_budget(4, (1, 2, 2)) == [1, 2, 1]


@pytest.mark.parametrize("seeds", [[], [0, 1, 2, 3]])
def test_run_proxies_names_too_few_or_too_many_seeds(seeds):
    with pytest.raises(ALMOValueError, match=r"`seeds` must hold one seed per row .*\(3\)"):
        run_proxies(noisy, np.eye(3), seeds)
