"""Metrics of the contaminated-sources simulator against closed forms and inequalities.

Token metrics (l2, TV, smoothed KL, entropy, support, tail coverage) are checked on cases whose
values are known by hand (point masses, uniform and two-token distributions), against the
documented ε of the KL, against inequalities that hold between them (Pinsker, Cauchy–Schwarz,
entropy ≤ log support), for permutation invariance, and for the count-table fast path. Gaussian
W2² is checked against its closed forms: 1-D, commuting covariances, collapsed covariances.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from almo.sources import categorical_metrics, gaussian_metrics, random_markov, tail_tokens, zipf
from almo.sources.metrics import CATEGORICAL_METRICS, conditional_metrics, count_metrics
from almo.sources.ngram import context_weights
from checks import assert_agree

EPS_KL = 1e-6  # the documented default smoothing of the KL metric


def distributions(v_min=1, v_max=12, zeros=True):
    """Probability vectors of length v_min..v_max (exact zeros allowed or not; no subnormals)."""
    low = 0.0 if zeros else 1e-3
    weights = st.lists(st.floats(low, 1.0), min_size=v_min, max_size=v_max)
    return (
        weights.map(lambda w: np.where(np.array(w) < 1e-12, 0.0, w))
        .filter(lambda w: w.sum() > 0)
        .map(lambda w: w / w.sum())
    )


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("vocab", [1, 2, 7, 10, 25])
@pytest.mark.parametrize("where", ["first", "last"])
def test_point_mass_against_the_uniform_truth(vocab, where):
    j = 0 if where == "first" else vocab - 1
    fitted = np.zeros((1, vocab))
    fitted[0, j] = 1.0
    truth = np.full(vocab, 1.0 / vocab)
    m = categorical_metrics(fitted, truth)
    assert set(m) == set(CATEGORICAL_METRICS)
    assert m["l2"][0] == pytest.approx(1 - 1 / vocab, abs=1e-15)
    assert m["tv"][0] == pytest.approx(1 - 1 / vocab, abs=1e-15)
    # KL(u ‖ (e_j + ε)/(1 + Vε)): one token at (1 + ε)/(1 + Vε), the others at ε/(1 + Vε).
    z = 1 + vocab * EPS_KL
    kl = (np.log(1 / vocab) - np.log((1 + EPS_KL) / z)) / vocab + (vocab - 1) / vocab * (
        np.log(1 / vocab) - np.log(EPS_KL / z)
    )
    assert m["kl"][0] == pytest.approx(kl, rel=1e-12, abs=1e-15)
    assert m["entropy"][0] == 0.0 and m["support"][0] == 1.0
    # The tail of a uniform truth: the ⌈V/10⌉ lowest indices (ties broken by position).
    k = int(np.ceil(vocab / 10))
    assert m["tail_mass"][0] == pytest.approx(1 / k if j < k else 0.0)


@settings(max_examples=60, deadline=None)
@given(p=distributions())
def test_a_perfect_model_has_only_the_smoothing_error(p):
    m = categorical_metrics(p[None], p)
    assert m["l2"][0] == 0.0 and m["tv"][0] == 0.0
    # KL(P* ‖ (P* + ε)/(1 + Vε)) = log(1 + Vε) − Σ p* log(1 + ε/p*), tiny but not 0.
    pos = p > 0
    kl = np.log1p(p.size * EPS_KL) - p[pos] @ np.log1p(EPS_KL / p[pos])
    # (The metric computes const − Σ p* log(P̂ + ε): round-off of ~1e-15 on a tiny value.)
    assert m["kl"][0] == pytest.approx(kl, rel=1e-6, abs=1e-13)
    assert m["entropy"][0] == pytest.approx(-(p[pos] @ np.log(p[pos])), abs=1e-12)
    assert m["support"][0] == np.count_nonzero(p)
    assert m["tail_mass"][0] == pytest.approx(1.0)  # zeros of P* are no tail


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.0, 1.0), b=st.floats(1e-9, 1.0 - 1e-9))
def test_two_token_distributions(a, b):
    m = categorical_metrics(np.array([[a, 1 - a]]), np.array([b, 1 - b]))
    assert m["l2"][0] == pytest.approx(2 * (a - b) ** 2, abs=1e-15)
    assert m["tv"][0] == pytest.approx(abs(a - b), abs=1e-15)
    binary_entropy = -sum(x * np.log(x) for x in (a, 1 - a) if x > 0)
    assert m["entropy"][0] == pytest.approx(binary_entropy, abs=1e-12)
    assert m["support"][0] == (a > 0) + (1 - a > 0)
    # The tail is the less likely token (the first one on a tie): covered or not.
    rare = 0 if b <= 1 - b else 1
    assert m["tail_mass"][0] == float([a, 1 - a][rare] > 0)


def test_each_lost_token_costs_about_p_log_p_over_epsilon():
    # Documented: KL uses P̂_ε = (P̂ + ε)/(1 + Vε), so a lost token j costs ≈ p*_j log(p*_j/ε).
    # Changing ε from 1e-6 to 1e-9 then adds p*_j log(1000) per lost token, and almost
    # nothing for the kept ones.
    truth = zipf(20, 1.0)
    fitted = truth.copy()
    lost = [15, 19]
    fitted[0] += fitted[lost].sum()
    fitted[lost] = 0.0
    coarse = categorical_metrics(fitted[None], truth, ["kl"], kl_smoothing=1e-6)["kl"][0]
    fine = categorical_metrics(fitted[None], truth, ["kl"], kl_smoothing=1e-9)["kl"][0]
    assert fine - coarse == pytest.approx(truth[lost].sum() * np.log(1000.0), rel=1e-3)
    # And with the tokens kept the KL is the ordinary one, whatever ε.
    kept = categorical_metrics(truth[None] * 0 + truth, truth, ["kl"], kl_smoothing=1e-9)
    assert kept["kl"][0] == pytest.approx(0.0, abs=1e-7)


def test_only_the_requested_metrics_are_computed():
    truth = zipf(5, 1.0)
    fitted = np.array([[0.5, 0.5, 0.0, 0.0, 0.0]])
    for which in (["l2"], ["tv", "support"], ["kl", "entropy", "tail_mass"]):
        assert set(categorical_metrics(fitted, truth, which)) == set(which)
        assert set(count_metrics(np.array([[1, 1, 0, 0, 0]]), 2, truth, which)) == set(which)


# --------------------------------------------------------------------------- inequalities


@st.composite
def fitted_and_truth(draw, replicates=(1, 4)):
    vocab = draw(st.integers(1, 10))
    r = draw(st.integers(*replicates))
    rows = [draw(distributions(vocab, vocab)) for _ in range(r)]
    return np.stack(rows), draw(distributions(vocab, vocab, zeros=False))


@settings(max_examples=80, deadline=None)
@given(case=fitted_and_truth())
def test_metrics_obey_their_ranges_and_the_classical_inequalities(case):
    fitted, truth = case
    vocab = truth.size
    m = categorical_metrics(fitted, truth)
    for name in CATEGORICAL_METRICS:
        assert m[name].shape == (fitted.shape[0],) and np.all(np.isfinite(m[name])), name
    tv, l2 = m["tv"], m["l2"]
    assert np.all((tv >= 0) & (tv <= 1 + 1e-12)) and np.all((l2 >= 0) & (l2 <= 2 + 1e-12))
    # ‖d‖² ≤ ‖d‖₁·‖d‖_∞ ≤ 2 TV and ‖d‖₁² ≤ V ‖d‖² (Cauchy–Schwarz).
    assert np.all(l2 <= 2 * tv + 1e-12) and np.all((2 * tv) ** 2 <= vocab * l2 + 1e-12)
    # Pinsker on the smoothed model, which is within Vε/(1 + Vε) of the model in TV.
    assert np.all(tv <= np.sqrt(np.maximum(m["kl"], 0) / 2) + vocab * EPS_KL + 1e-9)
    assert np.all(m["kl"] >= -1e-12)
    support = m["support"]
    assert np.all((support >= 1) & (support <= vocab))
    assert np.all(m["entropy"] >= -1e-15) and np.all(m["entropy"] <= np.log(support) + 1e-12)
    assert np.all((m["tail_mass"] >= 0) & (m["tail_mass"] <= 1 + 1e-12))


@settings(max_examples=60, deadline=None)
@given(case=fitted_and_truth(), seed=st.integers(0, 2**16))
def test_metrics_are_per_row_and_ignore_a_common_relabelling(case, seed):
    fitted, truth = case
    m = categorical_metrics(fitted, truth)
    for r in range(fitted.shape[0]):  # a batch is its rows one by one
        row = categorical_metrics(fitted[r : r + 1], truth)
        for name in CATEGORICAL_METRICS:
            assert row[name][0] == pytest.approx(m[name][r], rel=1e-14, abs=1e-15), name
    perm = np.random.default_rng(seed).permutation(truth.size)
    shuffled = categorical_metrics(fitted[:, perm], truth[perm])
    for name in ("l2", "tv", "kl", "entropy", "support"):
        assert_agree(shuffled[name], m[name], rtol=1e-12, atol=1e-14, what=f"{name} relabelled")
    if np.unique(truth).size == truth.size:  # without ties the tail is the same tokens
        assert_agree(
            shuffled["tail_mass"],
            m["tail_mass"],
            rtol=1e-12,
            atol=1e-14,
            what="tail_mass relabelled",
        )


@settings(max_examples=60, deadline=None)
@given(
    vocab=st.integers(1, 12),
    total=st.integers(1, 40),
    replicates=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    which=st.sets(st.sampled_from(CATEGORICAL_METRICS), min_size=1),
)
def test_count_tables_give_the_metrics_of_their_frequencies(vocab, total, replicates, seed, which):
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.ones(vocab))
    counts = rng.multinomial(total, rng.dirichlet(np.ones(vocab) * 0.3), size=replicates)
    slow = categorical_metrics(counts / total, truth, sorted(which))
    work = np.full((replicates, vocab), np.nan)  # a dirty buffer must not leak into results
    for buffer in (None, work, work):
        fast = count_metrics(counts, total, truth, sorted(which), work=buffer)
        assert set(fast) == which
        for name in which:
            assert_agree(fast[name], slow[name], rtol=1e-9, atol=1e-12, what=f"count {name}")


# --------------------------------------------------------------------------- tails and contexts


@settings(max_examples=60, deadline=None)
@given(p=distributions(1, 30), fraction=st.floats(0.01, 1.0))
def test_tail_tokens_are_the_least_likely_with_ties_by_position(p, fraction):
    tail = tail_tokens(p, fraction)
    k = max(1, int(np.ceil(fraction * p.size)))
    assert tail.size == k and np.all(np.diff(tail) > 0)  # sorted, distinct
    rest = np.setdiff1d(np.arange(p.size), tail)
    if rest.size:
        assert p[tail].max() <= p[rest].min()
        # Ties at the boundary: the lower index is in the tail.
        boundary = p[tail].max()
        tied_out = rest[p[rest] == boundary]
        tied_in = tail[p[tail] == boundary]
        assert tied_out.size == 0 or tied_in.max() < tied_out.min()


def test_conditional_metrics_weight_contexts_and_sum_support(rng):
    truth = rng.dirichlet(np.ones(4), size=3)
    fitted = np.stack([rng.dirichlet(np.ones(4), size=3) for _ in range(2)])
    fitted[0, 1] = [1.0, 0.0, 0.0, 0.0]  # a collapsed context
    weights = np.array([0.2, 0.5, 0.3])
    m = conditional_metrics(fitted, truth, weights)
    for r in range(2):
        per = [categorical_metrics(fitted[r, c][None], truth[c]) for c in range(3)]
        for name in CATEGORICAL_METRICS:
            values = np.array([x[name][0] for x in per])
            expected = values.sum() if name == "support" else values @ weights
            assert m[name][r] == pytest.approx(expected, rel=1e-12, abs=1e-15), name
    assert m["support"][0] == 4 + 1 + 4


@settings(max_examples=30, deadline=None)
@given(
    vocab=st.integers(1, 4),
    order=st.integers(2, 3),
    length=st.integers(1, 12),
    seed=st.integers(0, 1000),
)
def test_context_visits_add_up_to_the_sequence_length(vocab, order, length, seed):
    table = random_markov(vocab, order, seed=seed)
    w = context_weights(table, order, length)
    assert w.shape == ((vocab + 1) ** (order - 1),) and np.all(w >= -1e-15)
    assert w.sum() == pytest.approx(length, rel=1e-12)  # one context per generated token
    assert w[-1] == pytest.approx(1.0)  # the all-BOS context opens every sequence, once


def test_context_visits_of_a_deterministic_chain():
    # V = 2, bigram: BOS → 0 → 1 → 0 → 1 ... visits contexts BOS, 0, 1, 0, 1 for length 5.
    table = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # rows: context 0, 1, BOS
    assert context_weights(table, 2, 5).tolist() == [2.0, 2.0, 1.0]


# --------------------------------------------------------------------------- Gaussians


@settings(max_examples=60, deadline=None)
@given(mu=st.floats(-5, 5), mu0=st.floats(-5, 5), s=st.floats(0, 3), s0=st.floats(0.01, 3))
def test_one_dimensional_w2_is_the_distance_of_means_and_sds(mu, mu0, s, s0):
    m = gaussian_metrics(
        np.array([[mu]]), np.array([[[s**2]]]), np.array([mu0]), np.array([[s0**2]])
    )
    assert m["mean_error"][0] == pytest.approx((mu - mu0) ** 2, abs=1e-12)
    assert m["var_error"][0] == pytest.approx((s**2 - s0**2) ** 2, rel=1e-12, abs=1e-12)
    assert m["w2"][0] == pytest.approx((mu - mu0) ** 2 + (s - s0) ** 2, rel=1e-9, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_w2_for_commuting_covariances_and_its_symmetries(d, seed):
    rng = np.random.default_rng(seed)
    q = ortho_group.rvs(d, random_state=seed) if d > 1 else np.ones((1, 1))
    a, b = rng.uniform(0.0, 3.0, d), rng.uniform(0.01, 3.0, d)
    cov, cov0 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T  # same eigenvectors
    mu, mu0 = rng.normal(size=d), rng.normal(size=d)
    expected = ((mu - mu0) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    m = gaussian_metrics(mu[None], cov[None], mu0, cov0)
    assert m["w2"][0] == pytest.approx(expected, rel=1e-8, abs=1e-9)
    # Symmetric, and invariant under a common rotation and translation.
    back = gaussian_metrics(mu0[None], cov0[None], mu, cov)
    assert back["w2"][0] == pytest.approx(m["w2"][0], rel=1e-8, abs=1e-9)
    r = ortho_group.rvs(d, random_state=seed + 1) if d > 1 else -np.ones((1, 1))
    shift = rng.normal(size=d)
    moved = gaussian_metrics(
        (r @ mu + shift)[None], (r @ cov @ r.T)[None], r @ mu0 + shift, r @ cov0 @ r.T
    )
    assert moved["w2"][0] == pytest.approx(m["w2"][0], rel=1e-8, abs=1e-9)


def test_w2_of_collapsed_and_identical_gaussians(rng):
    cov0 = np.array([[2.0, 0.3], [0.3, 1.0]])
    mu0 = np.array([1.0, -1.0])
    means = np.stack([mu0, mu0 + np.array([3.0, 4.0]), mu0])
    covs = np.stack([cov0, np.zeros((2, 2)), np.zeros((2, 2))])
    m = gaussian_metrics(means, covs, mu0, cov0)
    # Identical: 0. A point mass: ‖μ − μ*‖² + tr Σ*. Rows of a batch are independent.
    assert m["w2"].tolist() == pytest.approx([0.0, 25.0 + 3.0, 3.0], abs=1e-9)
    assert m["mean_error"].tolist() == [0.0, 25.0, 0.0]
    assert m["var_error"][1] == pytest.approx((cov0**2).sum())


def test_tail_mass_of_a_truth_with_impossible_tokens_is_defined():
    # Tokens with p* = 0 are no tail: D is the rarest decile of P*'s support. Here the support
    # is {2, 3, 4}, ⌈3/10⌉ = 1, so D = {2} (p* = 0.05) whatever the model does on tokens 0, 1.
    truth = np.array([0.0, 0.0, 0.05, 0.15, 0.8])
    fitted = np.array([[0.0, 0.0, 0.1, 0.1, 0.8], [0.3, 0.3, 0.0, 0.2, 0.2], [0.0] * 4 + [1.0]])
    m = categorical_metrics(fitted, truth)
    assert m["tail_mass"].tolist() == [1.0, 0.0, 0.0]
    counts = np.array([[0, 0, 1, 1, 8], [3, 3, 0, 2, 2], [0, 0, 0, 0, 10]])
    assert count_metrics(counts, 10, truth)["tail_mass"].tolist() == [1.0, 0.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(
    p=distributions(1, 12, zeros=False),
    zeros=st.lists(st.integers(0, 12), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_zero_probability_tokens_do_not_change_the_tail_mass(p, zeros, seed):
    # Reference: the metric of the support alone (no zeros, the plain definition). Inserting
    # tokens that P* never emits, with any fitted mass on them, must give the same number.
    rng = np.random.default_rng(seed)
    fitted = rng.dirichlet(np.full(p.size, 0.3), size=3)
    fitted[fitted < 0.05] = 0.0
    fitted /= fitted.sum(axis=1, keepdims=True)
    reference = categorical_metrics(fitted, p, ["tail_mass"])["tail_mass"]
    truth, model = p, fitted
    for pos in zeros:
        pos = min(pos, truth.size)
        truth = np.insert(truth, pos, 0.0)
        model = np.insert(model, pos, rng.random(), axis=1)
    model /= model.sum(axis=1, keepdims=True)
    got = categorical_metrics(model, truth, ["tail_mass"])["tail_mass"]
    assert np.all(np.isfinite(got))
    assert_agree(got, reference, rtol=0, atol=1e-15, what="tail_mass with zero tokens")
