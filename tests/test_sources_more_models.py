"""Models, metrics and the minimax arm: the tempered family's entropy and order, Zipf's ratios,
a metric cache shared across sample sizes, results that do not alias the work buffer, the
collapse of a model without true data seen through every metric at once, the minimax arms'
records, and refusals of bad input by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import entr

from almo.exceptions import ALMOValueError
from almo.sources import (
    CategoricalModel,
    CollapseResult,
    CountData,
    UnigramLogits,
    categorical_metrics,
    gaussian_metrics,
    random_markov,
    simulate,
    simulate_minimax,
    tail_tokens,
    tempered,
    zipf,
)
from almo.sources.metrics import CATEGORICAL_METRICS, count_metrics


@st.composite
def distributions(draw, low=2, high=25):
    v = draw(st.integers(low, high))
    w = np.array(draw(st.lists(st.floats(0.01, 10.0), min_size=v, max_size=v)))
    return w / w.sum()


def _entropy(p):
    return float(entr(p).sum())


# --------------------------------------------------------------------------- tempered sampling


@settings(max_examples=40, deadline=None)
@given(p=distributions(), t1=st.floats(0.1, 5.0), t2=st.floats(0.1, 5.0))
def test_hotter_sampling_has_more_entropy_and_keeps_the_order(p, t1, t2):
    """P^(1/τ) normalized: its entropy grows with τ (a Gibbs family) and the ranking of tokens
    never changes."""
    lo, hi = sorted((t1, t2))
    q_lo, q_hi = tempered(p, lo), tempered(p, hi)
    assert _entropy(q_lo) <= _entropy(q_hi) + 1e-9
    assert q_lo.max() >= q_hi.max() - 1e-12
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q_lo[order]) >= -1e-15) and np.all(np.diff(q_hi[order]) >= -1e-15)
    # log q = log p / τ + const: the log-ratios scale by 1/τ exactly.
    i, j = int(np.argmax(p)), int(np.argmin(p))
    assert np.log(q_lo[i] / q_lo[j]) == pytest.approx(np.log(p[i] / p[j]) / lo, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(p=distributions(), k=st.integers(1, 30))
def test_top_k_renormalizes_the_k_most_likely_tokens(p, k):
    q = tempered(p, 1.0, k)
    kept = np.flatnonzero(q)
    assert kept.size == min(k, p.size)
    if kept.size < p.size:
        assert p[kept].min() >= np.delete(p, kept).max() - 1e-15
    np.testing.assert_allclose(q[kept], p[kept] / p[kept].sum(), rtol=1e-12)


# --------------------------------------------------------------------------- truths


@settings(max_examples=30, deadline=None)
@given(vocab=st.integers(1, 200), exponent=st.floats(0.0, 3.0), data=st.data())
def test_zipf_ratios_follow_the_power_law(vocab, exponent, data):
    p = zipf(vocab, exponent)
    assert p.shape == (vocab,) and p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(p) <= 1e-18)
    i, j = data.draw(st.integers(1, vocab)), data.draw(st.integers(1, vocab))
    assert p[i - 1] / p[j - 1] == pytest.approx((j / i) ** exponent, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(vocab=st.integers(2, 6), order=st.integers(2, 3), seed=st.integers(0, 1000))
def test_random_markov_tables_are_reproducible_rows_of_distributions(vocab, order, seed):
    t = random_markov(vocab, order, seed=seed)
    assert t.shape == ((vocab + 1) ** (order - 1), vocab)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(t, random_markov(vocab, order, seed=seed))
    assert not np.array_equal(t, random_markov(vocab, order, seed=seed + 1))


def test_small_concentrations_make_peaked_rows():
    peaked = random_markov(20, 2, concentration=0.05, seed=0)
    flat = random_markov(20, 2, concentration=50.0, seed=0)
    assert np.mean([_entropy(r) for r in peaked]) < np.mean([_entropy(r) for r in flat]) - 1.0


# --------------------------------------------------------------------------- metrics


@settings(max_examples=25, deadline=None)
@given(
    p=distributions(3, 20),
    totals=st.lists(st.integers(1, 60), min_size=2, max_size=4),
    seed=st.integers(0, 10_000),
)
def test_one_cache_serves_every_sample_size(p, totals, seed):
    """count_metrics keeps tables per total in its cache: mixing totals must not mix tables."""
    rng = np.random.default_rng(seed)
    cache: dict = {}
    for total in totals:
        counts = rng.multinomial(total, p, size=3)
        fast = count_metrics(counts, total, p, CATEGORICAL_METRICS, cache=cache)
        slow = categorical_metrics(counts / total, p)
        for name in CATEGORICAL_METRICS:
            np.testing.assert_allclose(fast[name], slow[name], rtol=1e-9, atol=1e-12)


def test_results_do_not_alias_the_work_buffer():
    p = zipf(6)
    counts = np.array([[3, 1, 0, 0, 1, 1], [0, 0, 6, 0, 0, 0]])
    work = np.empty((2, 6))
    out = count_metrics(counts, 6, p, CATEGORICAL_METRICS, work=work)
    kept = {k: v.copy() for k, v in out.items()}
    work[...] = np.nan
    count_metrics(counts[::-1], 6, p, CATEGORICAL_METRICS, work=work)
    for name, values in out.items():
        np.testing.assert_array_equal(values, kept[name], err_msg=name)


@settings(max_examples=30, deadline=None)
@given(p=distributions(2, 20), seed=st.integers(0, 10_000))
def test_metrics_of_the_truth_itself_are_the_truths(p, seed):
    m = categorical_metrics(p[None], p)
    assert m["l2"][0] == 0.0 and m["tv"][0] == 0.0
    assert m["support"][0] == p.size and m["tail_mass"][0] == 1.0
    assert m["entropy"][0] == pytest.approx(_entropy(p), rel=1e-12)
    assert abs(m["kl"][0]) < 1e-4  # only the ε smoothing


def test_without_true_data_every_metric_shows_collapse():
    """α = 0: the support shrinks, the tail dies first, entropy falls and the errors grow."""
    res = simulate(
        CategoricalModel(30), zipf(30, 1.0), alpha=0.0, n=40, generations=40, replicates=40, seed=1
    )
    first, last = 0, -1
    assert res.mean("support")[last] < 0.5 * res.mean("support")[first]
    assert res.mean("tail_mass")[last] < 0.2
    assert res.mean("tail_mass")[last] < res.mean("support")[last] / 30
    assert res.mean("entropy")[last] < res.mean("entropy")[first] - 0.5
    for name in ("l2", "tv", "kl"):
        assert res.mean(name)[last] > 2 * res.mean(name)[first], name
    # The support never grows back without true data: it is non-increasing replicate by replicate.
    assert np.all(np.diff(res.metrics["support"], axis=1) <= 0)


def test_fresh_true_data_restores_the_support():
    res = simulate(
        CategoricalModel(20), zipf(20, 0.5), alpha=1.0, n=400, generations=5, replicates=10, seed=2
    )
    assert np.all(res.metrics["support"] >= 19)


def test_collapse_results_are_json_ready_and_name_missing_metrics():
    values = np.arange(12.0).reshape(4, 3)
    res = CollapseResult({"tv": values}, np.array([0, 0.2, 0.2]), np.array([5, 5, 5]), "fixed", 9)
    np.testing.assert_allclose(res.mean("tv"), values.mean(axis=0))
    np.testing.assert_allclose(res.stderr("tv"), values.std(axis=0, ddof=1) / 2)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["policy"] == "fixed" and d["seed"] == 9 and d["alpha"] == [0, 0.2, 0.2]
    with pytest.raises(ALMOValueError, match="`name`") as info:
        res.mean("l2")
    assert "['tv']" in str(info.value)


def test_count_data_subsample_never_takes_more_than_there_is(rng):
    data = CountData(np.array([[2, 0, 1], [5, 5, 0]]))
    out = data.subsample(np.array([10, 4]), rng)
    assert out.size().tolist() == [3, 4]
    assert np.all(out.counts <= data.counts)


# --------------------------------------------------------------------------- minimax arms


def test_minimax_arms_record_their_box_and_share_generation_zero(one_thread):
    out = simulate_minimax(
        zipf(8),
        alpha=0.25,
        n=24,
        generations=2,
        replicates=2,
        alpha_min=0.4,
        alpha_max=0.9,
        epochs=3,
        seed=4,
    )
    assert set(out) == {"minimax", "pooled"}
    mm, pooled = out["minimax"], out["pooled"]
    np.testing.assert_array_equal(mm.metrics["l2"][:, 0], pooled.metrics["l2"][:, 0])
    lam = np.array(mm.info["mean_weights"])
    assert lam.shape == (3, 2) and lam[0].tolist() == [1.0, 0.0]
    assert np.all(lam[1:, 0] >= 0.4 - 1e-9) and np.all(lam[1:, 0] <= 0.9 + 1e-9)
    np.testing.assert_allclose(lam.sum(axis=1), 1.0, atol=1e-9)
    assert mm.info["alpha_min"] == 0.4 and mm.info["alpha_max"] == 0.9
    assert mm.policy == "minimax (fixed composition)" and mm.info["penalty"] is None
    for res in out.values():
        assert set(res.metrics) == set(CATEGORICAL_METRICS)
        assert np.all(res.metrics["support"] == 8)  # softmax never reaches a zero


def test_unigram_logits_ignore_their_input():
    m = UnigramLogits(5)
    with torch.no_grad():
        m.logits.copy_(torch.arange(5.0))
    x = torch.randn(3, 7)
    out = m(x)
    assert out.shape == (3, 5) and torch.equal(out[0], out[2]) and torch.equal(out[1], m.logits)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"alpha_min": 0.8, "alpha_max": 0.5}, "alpha_min"),
        ({"epochs": 0}, "epochs"),
        ({"replicates": 1.5}, "replicates"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"lambda_lr": 0.0}, "lambda_lr"),
        ({"hindsight": 1}, "hindsight"),
        ({"hindsight": [0.5, 1.5]}, "hindsight"),
        ({"penalty": "l2"}, "penalty"),
        ({"penalty": -1.0}, "penalty"),
        ({"penalty": 1.0, "penalty_center": "origin"}, "penalty_center"),
        ({"alpha": 1.2}, "alpha"),
        ({"n": 0}, "n"),
    ],
)
def test_minimax_refuses_bad_input_by_name(kwargs, argument):
    base = dict(alpha=0.5, n=20, generations=1, replicates=1, epochs=1)
    with pytest.raises(ALMOValueError, match=f"`{argument}`"):
        simulate_minimax(zipf(5), **{**base, **kwargs})


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("fraction", "found"), [(float("nan"), "nan"), (-0.5, "-0.5"), (1.5, "1.5"), ("0.1", "'0.1'")]
)
def test_tail_tokens_refuses_a_bad_fraction(fraction, found):
    with pytest.raises(
        ALMOValueError, match=r"`fraction` must be a finite number in \[0, 1\]"
    ) as e:
        tail_tokens(zipf(10), fraction)
    assert f"found {found}. Fix:" in str(e.value)


def test_tail_tokens_at_the_ends_of_the_fraction_range():
    p = zipf(10)
    assert tail_tokens(p, 0.0).tolist() == [9]  # at least one token: the rarest
    assert tail_tokens(p, 1.0).tolist() == list(range(10))


@pytest.mark.parametrize(
    ("args", "argument", "found"),
    [
        ((np.full((1, 4), 0.25), zipf(4), ["l2", "bogus"]), "which", "['bogus']"),
        ((np.full((1, 4), 0.25), zipf(4), "l2"), "which", "'l2'"),
        ((np.full((2, 3), 1 / 3), zipf(4)), "p_star", "(4,)"),
        ((np.full(4, 0.25), zipf(4)), "probs", "(4,)"),
    ],
)
def test_categorical_metrics_refuse_bad_input_by_name(args, argument, found):
    with pytest.raises(ALMOValueError, match=f"`{argument}` must ") as e:
        categorical_metrics(*args)
    assert f"found {found}. Fix:" in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"epochs": None}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": "all"}, "batch_size"),
        ({"replicates": 2.5}, "replicates"),
        ({"alpha_min": "half"}, "alpha_min"),
        ({"alpha_min": float("nan")}, "alpha_min"),
        ({"alpha_max": 1.5}, "alpha_max"),
        ({"alpha_min": 0.8, "alpha_max": 0.6}, "alpha_min"),
    ],
)
def test_minimax_refuses_bad_seeds_and_types_by_name(kwargs, argument):
    base = dict(alpha=0.5, n=20, generations=1, replicates=1, epochs=1)
    with pytest.raises(ALMOValueError, match=f"`{argument}` must .*; found .*Fix:"):
        simulate_minimax(zipf(5), **{**base, **kwargs})


@pytest.mark.parametrize("vocab", [-1, 0, 2.5, "3", None, True])
def test_unigram_logits_refuse_a_bad_vocabulary(vocab):
    with pytest.raises(ALMOValueError, match=r"`vocab` must be an integer >= 1; found .*Fix:"):
        UnigramLogits(vocab)


def test_unigram_logits_take_an_integral_float():
    model = UnigramLogits(3.0)
    assert model.logits.shape == (3,) and torch.all(model.logits == 0)


@pytest.mark.parametrize(
    ("means", "covs", "mean0", "cov0", "argument", "found"),
    [
        (np.zeros((1, 2)), np.zeros((1, 3, 3)), np.zeros(2), np.eye(2), "covs", "(1, 3, 3)"),
        (np.zeros((2, 2)), np.zeros((1, 2, 2)), np.zeros(2), np.eye(2), "covs", "(1, 2, 2)"),
        (np.zeros((1, 3)), np.zeros((1, 2, 2)), np.zeros(2), np.eye(2), "means", "(1, 3)"),
        (np.zeros(2), np.zeros((1, 2, 2)), np.zeros(2), np.eye(2), "means", "(2,)"),
        (np.zeros((1, 2)), np.zeros((1, 2, 2)), np.zeros(2), np.eye(3), "true_cov", "(3, 3)"),
        (np.zeros((1, 2)), np.zeros((1, 2, 2)), np.zeros((1, 2)), np.eye(2), "true_mean", "(1, 2)"),
    ],
)
def test_gaussian_metrics_refuse_mismatched_dimensions(means, covs, mean0, cov0, argument, found):
    with pytest.raises(ALMOValueError, match=f"`{argument}` must ") as e:
        gaussian_metrics(means, covs, mean0, cov0)
    assert f"found {found}. Fix:" in str(e.value)
