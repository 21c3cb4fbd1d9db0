"""Generative models, data containers and metrics of ``almo.sources`` against references."""

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from almo._validation import ALMOValueError
from almo.sources import (
    CategoricalModel,
    CountData,
    GaussianModel,
    NGramModel,
    RidgeModel,
    SampleData,
    SoftmaxBigramModel,
    categorical_metrics,
    gaussian_metrics,
    random_markov,
    simulate,
    tail_tokens,
    tempered,
    zipf,
)
from almo.sources.metrics import CATEGORICAL_METRICS, count_metrics
from almo.sources.ngram import context_weights
from almo.sources.tokens import alias_table

counts_strategy = st.lists(st.integers(0, 30), min_size=2, max_size=12).filter(lambda c: sum(c))


@settings(max_examples=40, deadline=None)
@given(c=counts_strategy, seed=st.integers(0, 1000))
def test_metrics_match_direct_formulas(c, seed):
    counts = np.array([c])
    n = counts.sum()
    q = np.random.default_rng(seed).dirichlet(np.ones(len(c)))
    p = counts / n
    m = categorical_metrics(p, q, kl_smoothing=1e-6)
    assert m["l2"][0] == pytest.approx(((p - q) ** 2).sum(), abs=1e-12)
    assert m["tv"][0] == pytest.approx(0.5 * np.abs(p - q).sum(), abs=1e-12)
    smoothed = (p[0] + 1e-6) / (1 + len(c) * 1e-6)
    assert m["kl"][0] == pytest.approx(scipy.stats.entropy(q, smoothed), rel=1e-9, abs=1e-12)
    assert m["entropy"][0] == pytest.approx(scipy.stats.entropy(p[0]), abs=1e-12)
    assert m["support"][0] == np.count_nonzero(c)
    tail = tail_tokens(q)
    assert m["tail_mass"][0] == pytest.approx(q[tail][p[0, tail] > 0].sum() / q[tail].sum())
    # The count-table version used by the fast path agrees with the direct one.
    fast = count_metrics(counts, int(n), q)
    for name in CATEGORICAL_METRICS:
        assert fast[name][0] == pytest.approx(m[name][0], rel=1e-9, abs=1e-12), name


def test_tail_tokens_are_the_rarest_decile():
    p = zipf(25, 1.0)
    assert tail_tokens(p).tolist() == [22, 23, 24]  # ⌈25/10⌉ = 3 least likely


def test_gaussian_metrics_against_scipy_sqrtm(rng):
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    cov, cov0 = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
    mu, mu0 = rng.normal(size=3), rng.normal(size=3)
    root0 = scipy.linalg.sqrtm(cov0).real
    w2 = ((mu - mu0) ** 2).sum() + np.trace(
        cov + cov0 - 2 * scipy.linalg.sqrtm(root0 @ cov @ root0).real
    )
    m = gaussian_metrics(mu[None], cov[None], mu0, cov0)
    assert m["w2"][0] == pytest.approx(w2, rel=1e-8)
    assert m["var_error"][0] == pytest.approx(((cov - cov0) ** 2).sum())


@settings(max_examples=30, deadline=None)
@given(
    probs=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=10).filter(lambda x: sum(x) > 0),
    temperature=st.floats(0.2, 5.0),
    k=st.integers(1, 10),
)
def test_tempered_top_k(probs, temperature, k):
    p = np.array(probs) / sum(probs)
    q = tempered(p[None], temperature, k)[0]
    assert q.sum() == pytest.approx(1.0)
    assert np.count_nonzero(q) <= min(k, np.count_nonzero(p))
    assert np.all(q[p == 0] == 0)
    kept = q > 0
    ref = p[kept] ** (1 / temperature)
    assert np.allclose(q[kept], ref / ref.sum())
    # The kept tokens are the most likely ones.
    if kept.any() and (~kept & (p > 0)).any():
        assert p[kept].min() >= p[~kept].max()


def test_alias_table_reproduces_the_distribution():
    p = zipf(37, 1.3)
    accept, alias = alias_table(p)
    implied = accept / 37 + np.bincount(alias, (1 - accept) / 37, minlength=37)
    np.testing.assert_allclose(implied, p, atol=1e-12)


def test_categorical_fit_and_smoothing():
    data = CountData(np.array([[3, 1, 0], [0, 0, 0]]))
    with pytest.raises(ALMOValueError, match="at least one sample"):
        CategoricalModel(3).fit(data)
    prev = np.array([[0.2, 0.3, 0.5]])
    fitted = CategoricalModel(3, smoothing=1.0).fit(data, previous=prev)
    np.testing.assert_allclose(fitted[0], [4 / 7, 2 / 7, 1 / 7])
    np.testing.assert_allclose(fitted[1], [1 / 3, 1 / 3, 1 / 3])  # smoothing alone
    fitted = CategoricalModel(3).fit(data, previous=prev)
    np.testing.assert_allclose(fitted[1], prev[0])  # no data: keep the previous model
    with pytest.raises(ALMOValueError, match="which"):
        CategoricalModel(3, which=("l2", "bogus"))


def test_count_subsample_is_hypergeometric(rng):
    counts = np.tile([5, 0, 3, 2], (4000, 1))
    sub = CountData(counts).subsample(np.int64(4), rng).counts
    assert np.all(sub.sum(axis=1) == 4) and np.all(sub <= counts)
    # Mean of a hypergeometric draw: m·C_j/N.
    se = sub.std(axis=0) / np.sqrt(len(sub)) + 1e-12
    assert np.all(np.abs(sub.mean(axis=0) - 4 * counts[0] / 10) < 3 * se + 1e-9)
    # Asking for more than there is keeps everything.
    np.testing.assert_array_equal(
        CountData(counts[:2]).subsample(np.int64(50), rng).counts, counts[:2]
    )


def test_sample_subsample_keeps_valid_samples(rng):
    x = np.arange(12, dtype=float).reshape(2, 6, 1)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]], bool)
    sub = SampleData(x, x[..., 0] * 10, mask).subsample(np.int64(3), rng)
    assert sub.size().tolist() == [3, 2]
    assert set(sub.x[0][sub.mask[0], 0]) <= {0.0, 1.0, 2.0, 3.0}
    assert set(sub.x[1][sub.mask[1], 0]) == {6.0, 7.0}
    np.testing.assert_array_equal(sub.y, sub.x[..., 0] * 10)


def test_ngram_fit_recovers_the_table_and_weights_count_visits(rng):
    table = random_markov(4, order=2, concentration=1.0, seed=3)
    model = NGramModel(4, order=2, length=6)
    truth = model.truth_params(table)
    fitted = model.fit(model.sample(truth, np.array([20000]), rng))
    w = context_weights(table, 2, 6)
    assert w.sum() == pytest.approx(6.0) and w[-1] == pytest.approx(1.0)  # BOS once per sequence
    seen = w > 0
    assert np.abs(fitted[0, seen] - table[seen]).max() < 0.02
    m = model.metrics(fitted, truth)
    assert m["l2"][0] < 1e-3 and m["support"][0] == seen.sum() * 4


def test_trigram_contexts_and_collapse(rng):
    model = NGramModel(3, order=3, length=8)
    table = random_markov(3, order=3, seed=0)
    res = simulate(model, table, alpha=0.0, n=20, generations=30, replicates=30, seed=0)
    assert res.mean("support")[-1] < res.mean("support")[0]
    assert res.mean("l2")[-1] > 2 * res.mean("l2")[0]


def test_softmax_bigram_sgd_approaches_the_count_mle(rng):
    table = random_markov(4, order=2, concentration=2.0, seed=1)
    counting = NGramModel(4, length=8)
    data = counting.sample(counting.truth_params(table), np.array([200, 200]), rng)
    mle = counting.fit(data)
    sgd = SoftmaxBigramModel(4, length=8, steps=400, batch=512).fit(data, rng=rng)
    visited = data.counts.sum(axis=-1) > 30
    assert np.abs(sgd - mle)[visited].max() < 0.05
    assert np.all(sgd > 0)  # a softmax never reaches the MLE's zeros
    with pytest.raises(ALMOValueError, match="order"):
        SoftmaxBigramModel(4, order=3)


def test_softmax_bigram_in_the_loop_is_reproducible():
    table = random_markov(3, order=2, seed=2)
    model = SoftmaxBigramModel(3, length=5, steps=30, batch=64)
    kw = dict(alpha=0.2, n=20, generations=2, replicates=4, seed=5)
    a, b = simulate(model, table, **kw), simulate(model, table, **kw)
    np.testing.assert_array_equal(a.metrics["l2"], b.metrics["l2"])


def test_gaussian_and_ridge_fits_against_numpy(rng):
    x = rng.normal(size=(1, 50, 2)) @ np.array([[1.0, 0.5], [0.0, 2.0]])
    fitted = GaussianModel(2, ddof=1).fit(SampleData(x, None, np.ones((1, 50), bool)))
    np.testing.assert_allclose(fitted.cov[0], np.cov(x[0].T), rtol=1e-12)
    xr = rng.normal(size=(1, 40, 3))
    y = xr[0] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=40)
    ridge = RidgeModel(3, ridge=2.0).fit(SampleData(xr, y[None], np.ones((1, 40), bool)))
    ref = np.linalg.solve(xr[0].T @ xr[0] + 2.0 * np.eye(3), xr[0].T @ y)
    np.testing.assert_allclose(ridge.weights[0], ref, rtol=1e-10)
    with pytest.raises(ALMOValueError, match="top_k"):
        GaussianModel(1).sample(fitted, np.array([3]), rng, top_k=2)
