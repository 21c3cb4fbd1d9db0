"""Invariants of the retraining simulator: data policies, simplex, seeds, replicates, blocks.

A recording model (it delegates to :class:`CategoricalModel`) shows exactly what each data
policy draws and trains on, generation by generation. The rest checks what must hold whatever
the numbers: fitted distributions stay on the simplex, a seed reproduces a run, replicates are
independent and every one of them is simulated (whatever the block size of the token path),
generations trained on fresh true data only have the error of fresh data, and data containers
keep their sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import almo.sources.tokens as tokens_module
from almo.sources import (
    POLICIES,
    CategoricalModel,
    CollapseResult,
    CountData,
    GaussianModel,
    NGramModel,
    RidgeModel,
    SampleData,
    SoftmaxBigramModel,
    collision_gap,
    random_markov,
    risk_curve,
    simulate,
    tempered,
    zipf,
)
from checks import assert_agree

P = zipf(12, 1.1)
C = collision_gap(P)


class RecordingModel:
    """A categorical model that records every draw and every training set of a simulation."""

    def __init__(self, vocab: int) -> None:
        self.inner = CategoricalModel(vocab)
        self.truth = None
        self.true_draws: list[np.ndarray] = []
        self.synthetic_draws: list[np.ndarray] = []
        self.train_sizes: list[np.ndarray] = []

    def truth_params(self, truth):
        self.truth = self.inner.truth_params(truth)
        return self.truth

    def sample(self, params, n, rng, temperature=1.0, top_k=None):
        drawn = self.true_draws if params is self.truth else self.synthetic_draws
        drawn.append(np.array(n, dtype=np.int64))
        return self.inner.sample(params, n, rng, temperature, top_k)

    def fit(self, data, previous=None, rng=None):
        self.train_sizes.append(data.size())
        return self.inner.fit(data, previous, rng)

    def metrics(self, params, truth_params):
        return self.inner.metrics(params, truth_params)


ALPHA = [0.0, 0.5, 0.3, 1.0, 0.0]
N = [6, 9, 4, 7, 5]


def record(policy: str, replicates: int = 50, seed: int = 0) -> tuple[RecordingModel, object]:
    model = RecordingModel(12)
    res = simulate(
        model, P, alpha=ALPHA, n=N, generations=4, replicates=replicates, policy=policy, seed=seed
    )
    return model, res


# --------------------------------------------------------------------------- data policies


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_draws_and_trains_on_the_documented_data(policy):
    model, res = record(policy)
    true = np.array(model.true_draws)  # (generations + 1, R): generation 0 first
    sizes = np.array(model.train_sizes)
    assert true.shape == sizes.shape == (5, 50)
    assert np.all(true[0] == N[0]) and np.all(sizes[0] == N[0])  # generation 0: n_0 true
    n = np.array(N)[:, None]
    if policy == "fixed":
        expected = np.rint(np.array(ALPHA) * np.array(N)).astype(int)
        assert np.all(true[1:] == expected[1:, None])
    else:
        assert np.all((true >= 0) & (true <= n))
        assert np.all(true[4] == 0) and np.all(true[3] == N[3])  # α = 0 and α = 1
    if policy in ("real-only", "real-aggregate"):
        assert model.synthetic_draws == []  # the synthetic part is never even drawn
    else:
        assert np.array_equal(np.array(model.synthetic_draws), n[1:] - true[1:])
    expected_sizes = {
        "replace": np.broadcast_to(n, true.shape),
        "fixed": np.broadcast_to(n, true.shape),
        "accumulate": np.cumsum(np.broadcast_to(n, true.shape), axis=0),
        "accumulate-subsample": np.broadcast_to(n, true.shape),  # the pool always holds ≥ n_t
        "real-only": true,
        "real-aggregate": np.cumsum(true, axis=0),
    }[policy]
    assert np.array_equal(sizes, expected_sizes)
    assert res.policy == policy and res.alpha.tolist() == ALPHA and res.n.tolist() == N


@pytest.mark.parametrize("policy", ["replace", "accumulate", "real-only"])
def test_random_compositions_are_binomial(policy):
    model, _ = record(policy, replicates=2000, seed=3)
    true = np.array(model.true_draws)
    for t in (1, 2):
        k, n, a = true[t], N[t], ALPHA[t]
        se = np.sqrt(n * a * (1 - a) / k.size)
        assert abs(k.mean() - n * a) < 4 * se
        assert k.var() == pytest.approx(n * a * (1 - a), rel=0.15)


def test_a_replicate_without_data_keeps_its_model():
    # real-only with few true draws: replicates that drew none keep the previous model, so
    # every metric of that generation repeats the previous one exactly.
    model = RecordingModel(12)
    res = simulate(
        model, P, alpha=0.1, n=8, generations=6, replicates=200, policy="real-only", seed=1
    )
    true = np.array(model.true_draws)
    kept = true[1:] == 0  # (generations, R)
    assert kept.any() and (~kept).any()
    for name, values in res.metrics.items():
        same = values[:, 1:] == values[:, :-1]
        assert np.all(same[kept.T]), name


# --------------------------------------------------------------------------- the simplex


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.lists(st.integers(0, 20), min_size=5, max_size=5), min_size=1, max_size=4),
    smoothing=st.sampled_from([0.0, 1e-3, 0.5, 2.0]),
)
def test_categorical_fits_are_probability_vectors(counts, smoothing):
    counts = np.array(counts)
    previous = np.full((1, 5), 0.2)
    fitted = CategoricalModel(5, smoothing).fit(CountData(counts), previous=previous)
    assert fitted.shape == counts.shape
    assert np.all(fitted >= 0) and np.allclose(fitted.sum(axis=1), 1.0, atol=1e-12)
    seen = counts.sum(axis=1) > 0
    expected = (counts[seen] + smoothing) / (counts[seen].sum(1, keepdims=True) + 5 * smoothing)
    assert_agree(fitted[seen], expected, rtol=1e-14, atol=0, what="(C + s)/(n + Vs)")
    if smoothing == 0:
        assert np.all(fitted[~seen] == 0.2)  # empty replicates keep the previous model


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(0, 6), smoothing=st.sampled_from([0, 0.5]))
def test_ngram_fits_are_next_token_distributions_even_for_unseen_contexts(seed, n, smoothing):
    model = NGramModel(3, order=2, length=3, smoothing=smoothing)
    rng = np.random.default_rng(seed)
    truth = model.truth_params(random_markov(3, 2, seed=seed))
    data = model.sample(truth, np.array([n, 4]), rng)
    fitted = model.fit(data, previous=np.full((1, 4, 3), 1 / 3))
    assert fitted.shape == (2, 4, 3)
    assert np.all(fitted >= 0) and np.allclose(fitted.sum(axis=-1), 1.0, atol=1e-12)
    # A context never seen uses the replicate's pooled next-token frequencies.
    counts = data.counts[1].astype(float)
    pooled = (counts.sum(axis=0) + smoothing) / (counts.sum() + 3 * smoothing)
    for c in np.flatnonzero(counts.sum(axis=1) + 3 * smoothing == 0):
        assert_agree(fitted[1, c], pooled, rtol=1e-14, atol=0, what="unseen context")


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4), min_size=1, max_size=3
    ).filter(lambda r: all(sum(x) > 0 for x in r)),
    temperature=st.floats(0.05, 20.0),
    top_k=st.one_of(st.none(), st.integers(1, 6)),
)
def test_tempered_rows_stay_on_the_simplex(rows, temperature, top_k):
    p = np.array(rows) / np.array(rows).sum(axis=1, keepdims=True)
    q = tempered(p, temperature, top_k)
    assert q.shape == p.shape and np.all(q >= 0)
    assert np.allclose(q.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(q[p == 0] == 0)  # zero stays zero
    for r in range(p.shape[0]):  # rows are independent
        assert_agree(
            tempered(p[r], temperature, top_k), q[r], rtol=1e-12, atol=1e-15, what="tempered row"
        )


def test_tempered_limits():
    p = np.array([0.1, 0.4, 0.1, 0.4])
    assert tempered(p, 1.0).tolist() == pytest.approx(p.tolist())
    assert tempered(p, 1.0, top_k=1).tolist() == [0.0, 1.0, 0.0, 0.0]  # tie: first position
    assert tempered(p, 1.0, top_k=10).tolist() == pytest.approx(p.tolist())
    assert tempered(p, 1e-3).tolist() == pytest.approx([0.0, 0.5, 0.0, 0.5])  # argmax set
    assert tempered(p, 1e6).tolist() == pytest.approx([0.25] * 4, abs=1e-5)  # flat


def test_softmax_bigram_fits_are_next_token_distributions(rng):
    model = SoftmaxBigramModel(3, length=4, steps=20, batch=32)
    truth = model.truth_params(random_markov(3, seed=4))
    fitted = model.fit(model.sample(truth, np.array([6, 6]), rng), rng=rng)
    assert fitted.shape == (2, 4, 3) and np.all(fitted > 0)
    assert np.allclose(fitted.sum(axis=-1), 1.0, atol=1e-12)


# --------------------------------------------------------------------------- seeds and replicates


@pytest.mark.parametrize(
    ("model", "truth", "kw"),
    [
        (CategoricalModel(12), P, {"policy": "fixed", "method": "counts"}),
        (CategoricalModel(12), P, {"policy": "real-aggregate"}),
        (CategoricalModel(12, smoothing=0.5), P, {"temperature": 0.7, "top_k": 6}),
        (NGramModel(3, order=2, length=4), random_markov(3, seed=1), {"policy": "accumulate"}),
        (GaussianModel(2), (np.zeros(2), np.eye(2)), {"temperature": 1.3}),
        (RidgeModel(2, ridge=0.1), (np.ones(2), 0.5), {"policy": "real-only"}),
    ],
)
def test_a_seed_reproduces_every_number(model, truth, kw):
    run = dict(alpha=0.3, n=12, generations=3, replicates=6, **kw)
    a, b = simulate(model, truth, seed=5, **run), simulate(model, truth, seed=5, **run)
    other = simulate(model, truth, seed=6, **run)
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        assert np.array_equal(a.metrics[name], b.metrics[name]), name
    assert any(not np.array_equal(a.metrics[k], other.metrics[k]) for k in a.metrics)
    assert a.seed == 5 and a.info == b.info


@pytest.mark.parametrize("block_rows", [1, 3, 7, None])
def test_token_path_simulates_every_replicate_independently(monkeypatch, block_rows):
    # The token path runs replicates in blocks; whatever the block size, every cell is
    # simulated (support ≥ 1 where an unwritten cell would hold 0), replicates differ, and
    # neighbours are uncorrelated.
    n, vocab = 30, 12
    if block_rows is not None:
        monkeypatch.setattr(tokens_module, "BLOCK_BYTES", 8 * max(n, vocab) * block_rows)
    res = simulate(
        CategoricalModel(vocab),
        P,
        alpha=0.2,
        n=n,
        generations=6,
        replicates=1000,
        seed=9,
        method="tokens",
    )
    assert res.info["method"] == "tokens"
    assert np.all(res.metrics["support"] >= 1)
    l2 = res.metrics["l2"]
    assert np.unique(l2, axis=0).shape[0] > 990  # no replicate is a copy of another
    corr = np.corrcoef(l2[:-1, -1], l2[1:, -1])[0, 1]
    assert abs(corr) < 4 / np.sqrt(1000)
    # And the mean still follows the exact recursion.
    z = (res.mean("l2") - risk_curve(P, 0.2, n, 6)) / res.stderr("l2")
    assert np.all(np.abs(z) < 4), z


@pytest.mark.parametrize(
    ("method", "policy"),
    [
        ("tokens", "replace"),
        ("tokens", "fixed"),
        ("counts", "replace"),
        ("counts", "fixed"),
        ("counts", "real-only"),
    ],
)
def test_fresh_true_data_every_generation_has_the_error_of_fresh_data(method, policy):
    # α = 1: generation t is n_t fresh true draws whatever the policy: E l2 = c / n_t.
    n = [20, 40, 10, 25]
    res = simulate(
        CategoricalModel(12),
        P,
        alpha=1.0,
        n=n,
        generations=3,
        replicates=1500,
        seed=2,
        policy=policy,
        method=method,
    )
    z = (res.mean("l2") - C / np.array(n)) / res.stderr("l2")
    assert np.all(np.abs(z) < 4), z


def test_counts_and_tokens_agree_on_fixed_composition():
    kw = dict(alpha=0.3, n=25, generations=5, replicates=1500, policy="fixed")
    by_tokens = simulate(CategoricalModel(12), P, seed=1, method="tokens", **kw)
    by_counts = simulate(CategoricalModel(12), P, seed=2, method="counts", **kw)
    theory = risk_curve(P, 0.3, 25, 5, "fixed")
    for res in (by_tokens, by_counts):
        assert np.all(np.abs(res.mean("l2") - theory) < 4 * res.stderr("l2"))
    se = np.hypot(by_tokens.stderr("support"), by_counts.stderr("support"))
    assert np.all(np.abs(by_tokens.mean("support") - by_counts.mean("support")) < 4 * se)


# --------------------------------------------------------------------------- results


def test_collapse_result_summaries():
    res = simulate(
        CategoricalModel(12), P, alpha=0.2, n=[5, 6, 7], generations=2, replicates=4, seed=0
    )
    assert res.generations == 2 and res.replicates == 4
    assert res.n.tolist() == [5, 6, 7] and res.n.dtype == np.int64
    d = res.to_dict()
    for name, values in res.metrics.items():
        assert values.shape == (4, 3)
        assert d["mean"][name] == pytest.approx(values.mean(axis=0).tolist())
        assert d["stderr"][name] == pytest.approx((values.std(axis=0, ddof=1) / 2).tolist())
    one = simulate(CategoricalModel(12), P, alpha=0.2, n=5, generations=2, replicates=1)
    assert one.stderr("l2").tolist() == [0.0, 0.0, 0.0]
    empty = CollapseResult({"l2": np.zeros((2, 1))}, np.zeros(1), np.ones(1), "replace", 0)
    assert empty.generations == 0 and empty.to_dict()["info"] == {}


# --------------------------------------------------------------------------- continuous models


def test_gaussian_sampling_scales_the_covariance_by_the_temperature(rng):
    model = GaussianModel(2)
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    truth = model.truth_params((np.array([1.0, -2.0]), cov))
    for tau in (0.25, 1.0, 3.0):
        x = model.sample(truth, np.array([40_000]), rng, temperature=tau).x[0]
        assert_agree(
            np.cov(x.T),
            tau * cov,
            rtol=0.05,
            atol=0.02 * tau,
            what=f"sample covariance at τ = {tau}",
        )
    # A collapsed covariance samples its mean exactly, and fits back to it.
    point = model.truth_params((np.array([3.0, 4.0]), np.zeros((2, 2))))
    data = model.sample(point, np.array([5, 3]), rng)
    assert np.all(data.x[data.mask] == [3.0, 4.0])
    fitted = model.fit(data)
    assert np.all(fitted.cov == 0) and np.all(fitted.mean == [3.0, 4.0])


def test_ridge_metrics_are_exact_and_synthetic_noise_is_kept(rng):
    model = RidgeModel(3, synthetic_noise=0.7)
    truth = model.truth_params((np.array([1.0, -1.0, 0.5]), 0.25))
    fitted = model.fit(model.sample(truth, np.array([50, 80]), rng))
    assert np.all(fitted.noise == 0.7)
    m = model.metrics(fitted, truth)
    err = ((fitted.weights - truth.weights) ** 2).sum(axis=1)
    assert_agree(m["weight_error"], err, rtol=1e-15, atol=0, what="weight error")
    assert_agree(m["test_mse"], err + 0.25, rtol=1e-15, atol=0, what="test MSE = err + σ²")
    # The exact test MSE agrees with a Monte Carlo estimate on fresh true data.
    fresh = model.sample(truth, np.array([200_000]), rng)
    mc = ((fresh.x[0] @ fitted.weights[0] - fresh.y[0]) ** 2).mean()
    assert mc == pytest.approx(m["test_mse"][0], rel=0.02)


# --------------------------------------------------------------------------- data containers


@settings(max_examples=50, deadline=None)
@given(
    a=st.lists(st.lists(st.integers(0, 6), min_size=4, max_size=4), min_size=3, max_size=3),
    b=st.lists(st.lists(st.integers(0, 6), min_size=4, max_size=4), min_size=3, max_size=3),
    m=st.integers(0, 30),
    seed=st.integers(0, 2**16),
)
def test_count_data_join_and_subsample_keep_sizes(a, b, m, seed):
    x, y = CountData(np.array(a)), CountData(np.array(b))
    both = x.join(y)
    assert np.array_equal(both.size(), x.size() + y.size())
    sub = both.subsample(np.int64(m), np.random.default_rng(seed))
    assert np.array_equal(sub.size(), np.minimum(m, both.size()))
    assert np.all((sub.counts >= 0) & (sub.counts <= both.counts))


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), min_size=2, max_size=2),
    more=st.lists(st.integers(0, 5), min_size=2, max_size=2),
    m=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_sample_data_join_and_subsample_keep_sizes_and_values(sizes, more, m, seed):
    def block(counts, start):
        width = max(max(counts), 1)
        mask = np.arange(width)[None, :] < np.array(counts)[:, None]
        x = start + np.arange(2 * width, dtype=float).reshape(2, width, 1)
        return SampleData(x, x[..., 0] * 10, mask)

    first, second = block(sizes, 0.0), block(more, 100.0)
    both = first.join(second)
    assert both.size().tolist() == [s + t for s, t in zip(sizes, more, strict=True)]
    sub = both.subsample(np.int64(m), np.random.default_rng(seed))
    assert sub.size().tolist() == [min(m, s + t) for s, t in zip(sizes, more, strict=True)]
    for r in range(2):
        kept = set(sub.x[r][sub.mask[r], 0])
        assert kept <= set(both.x[r][both.mask[r], 0])  # only real samples, never padding
        assert len(kept) == sub.size()[r]  # without replacement
    assert np.array_equal(sub.y[sub.mask], sub.x[..., 0][sub.mask] * 10)  # labels follow


# --------------------------------------------------------------------------- sampling


@settings(max_examples=40, deadline=None)
@given(
    n=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    top_k=st.one_of(st.none(), st.integers(1, 12)),
    seed=st.integers(0, 2**16),
)
def test_categorical_samples_have_the_requested_sizes_and_support(n, top_k, seed):
    model = CategoricalModel(12)
    rng = np.random.default_rng(seed)
    fitted = rng.dirichlet(np.ones(12), size=len(n))
    data = model.sample(fitted, np.array(n), rng, temperature=0.8, top_k=top_k)
    assert data.counts.shape == (len(n), 12) and data.size().tolist() == n
    allowed = tempered(fitted, 0.8, top_k) > 0
    assert np.all(data.counts[~allowed] == 0)  # only the top-k tokens are ever drawn


@settings(max_examples=25, deadline=None)
@given(
    n=st.lists(st.integers(0, 8), min_size=1, max_size=3),
    order=st.integers(2, 3),
    length=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_ngram_samples_count_transitions_and_sequence_starts(n, order, length, seed):
    model = NGramModel(3, order=order, length=length)
    truth = model.truth_params(random_markov(3, order, seed=seed))
    data = model.sample(truth, np.array(n), np.random.default_rng(seed))
    assert data.counts.shape == (len(n), model.contexts, 3)
    assert data.size().tolist() == [k * length for k in n]  # one transition per token
    # Every sequence starts in the all-BOS context, exactly once.
    assert data.counts[:, -1].sum(axis=-1).tolist() == n
    # Contexts the truth never reaches are never visited.
    from almo.sources.ngram import context_weights

    unreachable = context_weights(truth[0], order, length) == 0
    assert np.all(data.counts[:, unreachable] == 0)


# --------------------------------------------------------------------------- schedules


@settings(max_examples=50, deadline=None)
@given(
    scale=st.floats(0.1, 1000.0),
    exponent=st.floats(-2.0, 2.0),
    ratio=st.floats(0.1, 2.0),
    generations=st.integers(1, 30),
)
def test_schedules_follow_their_laws(scale, exponent, ratio, generations):
    from almo.sources import geometric, power_law
    from almo.sources.schedules import n_values

    t = np.arange(generations + 1)
    law = power_law(scale, exponent).values(generations)
    assert law.shape == (generations + 1,) and law.dtype == np.float64
    # Log-log slope = exponent, against log(t + offset).
    slopes = np.diff(np.log(law)) / np.diff(np.log(t + 1.0))
    assert np.allclose(slopes, exponent, rtol=1e-9, atol=1e-9)
    geo = geometric(scale, ratio).values(generations)
    assert geo[0] == pytest.approx(scale) and np.allclose(geo[1:] / geo[:-1], ratio, rtol=1e-12)
    # Sample sizes are the nearest integers (ties to even), as int64, never below 1.
    if law.min() > 0.5:
        sizes = n_values(power_law(scale, exponent), generations)
        assert sizes.dtype == np.int64 and np.all(np.abs(sizes - law) <= 0.5)
        assert np.array_equal(sizes, np.rint(law))


def test_schedule_callables_get_python_ints_and_sequences_are_copied():
    from almo.sources import as_schedule

    seen = []

    def alpha(t):
        seen.append(type(t))
        return 0.1 * t

    assert as_schedule(alpha).values(3).tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert set(seen) == {int}
    values = [0.5, 0.4, 0.3]
    schedule = as_schedule(values)
    values[0] = 99.0  # later edits of the caller's list do not leak into the schedule
    assert schedule.values(2).tolist() == [0.5, 0.4, 0.3]
    assert as_schedule(schedule) is schedule
    assert as_schedule(np.float32(0.25)).values(1).tolist() == [0.25, 0.25]


@pytest.mark.parametrize("ddof", [0, 1])
def test_gaussian_fit_has_the_documented_bias(rng, ddof):
    # E Σ̂ = (n − 1)/(n − ddof) · Σ: the MLE (ddof = 0) shrinks, ddof = 1 is unbiased. The
    # sample mean is unbiased either way.
    model = GaussianModel(2, ddof=ddof)
    cov = np.array([[1.5, -0.4], [-0.4, 0.8]])
    truth = model.truth_params((np.array([0.5, 2.0]), cov))
    n, r = 5, 20_000
    fitted = model.fit(model.sample(truth, np.full(r, n), rng))
    expected = (n - 1) / (n - ddof) * cov
    se = fitted.cov.std(axis=0) / np.sqrt(r)
    assert np.all(np.abs(fitted.cov.mean(axis=0) - expected) < 4 * se)
    se_mean = fitted.mean.std(axis=0) / np.sqrt(r)
    assert np.all(np.abs(fitted.mean.mean(axis=0) - [0.5, 2.0]) < 4 * se_mean)


def test_ridge_fit_is_least_squares_or_minimum_norm(rng):
    x = rng.normal(size=(1, 3, 5))  # fewer samples than features
    y = rng.normal(size=(1, 3))
    fitted = RidgeModel(5).fit(SampleData(x, y, np.ones((1, 3), bool)))
    # Underdetermined: the minimum-norm interpolant, X⁺ y.
    assert_agree(
        fitted.weights[0],
        np.linalg.pinv(x[0]) @ y[0],
        rtol=1e-9,
        atol=1e-12,
        what="minimum-norm least squares",
    )
    assert_agree(x[0] @ fitted.weights[0], y[0], rtol=1e-9, atol=1e-12, what="interpolates")
    assert fitted.noise[0] == pytest.approx(0.0, abs=1e-20)
    # Padding is ignored: the same data with masked junk rows gives the same fit.
    junk = np.concatenate([x, 1e6 * np.ones((1, 2, 5))], axis=1)
    mask = np.array([[True, True, True, False, False]])
    padded = RidgeModel(5).fit(SampleData(junk, np.concatenate([y, [[7.0, 7.0]]], 1), mask))
    assert_agree(padded.weights, fitted.weights, rtol=1e-9, atol=1e-12, what="masked padding")
