"""Phase 1 (corpus, clusters), the proxies, the baselines, the comparison, the agnostic search."""

import re
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from almo import BoxSimplex, Simplex
from almo.exceptions import ALMOValueError
from almo.search import (
    NGramProxy,
    TorchProxy,
    agnostic_search,
    cluster_documents,
    compare_methods,
    doremi,
    embed,
    fixed_mixture,
    make_corpus,
    quality_heuristic,
    random_search,
    regmix,
)
from almo.search.plots import figure_predicted, figure_progress, figure_weights, save_figures


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(n_docs=400, n_topics=4, doc_length=30, seed=0)


@pytest.fixture(scope="module")
def clusters(corpus):
    return cluster_documents(corpus.documents, 6, quality="heuristic", seed=0)


@pytest.fixture(scope="module")
def proxy(corpus, clusters):
    return NGramProxy(corpus.documents, clusters.labels, corpus.target, n_tokens=3000)


# --- the synthetic corpus ------------------------------------------------------------------


def test_corpus_has_its_topics_junk_and_target(corpus):
    assert len(corpus.documents) == 400
    assert (corpus.topics < 0).sum() == 40
    np.testing.assert_allclose(corpus.target_mixture, [0, 0, 0.6, 0.4])
    # Topical documents use only their topic's words and stop words.
    for doc, t in zip(corpus.documents, corpus.topics, strict=True):
        words = {w for w in doc.split() if w.startswith("t")}
        if t >= 0:
            assert all(
                w.startswith(f"t{t}w") for w in words if w != "to" and w != "the" and w != "that"
            )
        else:
            assert all(w.startswith("zq") for w in doc.split())


def test_target_topics_follow_the_mixture():
    """Target documents' topics are a multinomial sample of π (chi-square style bound)."""
    c = make_corpus(
        n_docs=50, n_topics=3, target_mixture=[0.2, 0.3, 0.5], n_target_docs=2000, seed=1
    )

    def topic(doc):
        return next(w for w in doc.split() if re.fullmatch(r"t\d+w\d+", w))[1]

    topic_of = Counter(topic(d) for d in c.target)
    freq = np.array([topic_of[str(t)] for t in range(3)]) / 2000
    se = np.sqrt(np.array([0.2, 0.3, 0.5]) * np.array([0.8, 0.7, 0.5]) / 2000)
    assert np.all(np.abs(freq - [0.2, 0.3, 0.5]) < 4 * se)


def test_corpus_is_reproducible(corpus):
    again = make_corpus(n_docs=400, n_topics=4, doc_length=30, seed=0)
    assert again.documents == corpus.documents and again.target == corpus.target


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_docs": 0}, "n_docs"),
        ({"low_quality": 1.0}, "low_quality"),
        ({"target_mixture": [1, 2]}, "target_mixture"),
        ({"doc_length": 2}, "doc_length"),
    ],
)
def test_corpus_bad_input(kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        make_corpus(**kwargs)


# --- phase 1 -------------------------------------------------------------------------------


def test_clusters_recover_topics_and_prune_junk(corpus, clusters):
    kept = clusters.labels >= 0
    # Every kept cluster is topic-pure, and every junk document is pruned.
    for c in range(clusters.k):
        assert len(set(corpus.topics[clusters.labels == c].tolist())) == 1
    assert np.all(~kept[corpus.topics < 0])
    assert np.all(kept[corpus.topics >= 0])
    assert clusters.pruned and all(p["quality"] < 0.5 for p in clusters.pruned)
    np.testing.assert_allclose(clusters.shares.sum(), 1.0)
    tokens = [
        sum(
            len(d.split()) for d, l in zip(corpus.documents, clusters.labels, strict=True) if l == c
        )
        for c in range(clusters.k)
    ]
    assert clusters.tokens.tolist() == tokens
    assert clusters.sizes.sum() == kept.sum()
    assert "| cluster |" in clusters.table() and clusters.to_dict()["k"] == clusters.k


def test_top_terms_are_the_cluster_topic(corpus, clusters):
    for c in range(clusters.k):
        t = corpus.topics[clusters.labels == c][0]
        assert sum(term.startswith(f"t{t}w") for term in clusters.top_terms[c]) >= 3


def test_merging_joins_clusters_of_one_topic(corpus):
    split = cluster_documents(corpus.documents, 12, quality="heuristic", seed=0)
    merged = cluster_documents(
        corpus.documents, 12, quality="heuristic", merge_distance=0.6, seed=0
    )
    assert merged.k < split.k
    assert sorted(i for g in merged.merged_from for i in g) == sorted(
        i for g in split.merged_from for i in g
    )
    for c in range(merged.k):
        assert len(set(corpus.topics[merged.labels == c].tolist())) == 1


def test_features_and_embedder_are_accepted(corpus):
    X = embed(corpus.documents, 8)
    assert X.shape == (400, 8)
    a = cluster_documents(corpus.documents, 5, features=X, seed=0)
    b = cluster_documents(corpus.documents, 5, features=lambda texts: embed(texts, 8), seed=0)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_quality_heuristic_separates_junk(corpus):
    scores = np.array([quality_heuristic(d) for d in corpus.documents])
    assert scores[corpus.topics >= 0].min() > scores[corpus.topics < 0].max()


@pytest.mark.parametrize(
    ("texts", "kwargs", "match"),
    [
        ([], {}, "an empty corpus"),
        (["a b", "c d"], {"n_clusters": 3}, "at most the number"),
        (["a b", ""], {"n_clusters": 1}, "non-empty strings"),
        ("a b", {}, "sequence of documents"),
        (["a b", "c d"], {"n_clusters": 1, "features": np.ones((3, 2))}, "one row per document"),
        (["a b", "c d"], {"n_clusters": 1, "quality": "great"}, "`quality`"),
        (
            ["a b", "c d"],
            {"n_clusters": 1, "quality": "heuristic", "min_quality": 2},
            "leave at least one cluster",
        ),
    ],
)
def test_cluster_bad_input(texts, kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        cluster_documents(texts, **{"n_clusters": 2, **kwargs})


# --- proxies -------------------------------------------------------------------------------


def reference_bigram_loss(train_docs, target_docs, vocab, s):
    """Additive-smoothing bigram loss computed from dictionaries (independent of the code)."""
    pair, ctx = Counter(), Counter()
    for d in train_docs:
        prev = "<s>"
        for w in d.split():
            pair[(prev, w)] += 1
            ctx[prev] += 1
            prev = w
    total, n = 0.0, 0
    for d in target_docs:
        prev = "<s>"
        for w in d.split():
            total -= np.log((pair[(prev, w)] + s) / (ctx[prev] + len(vocab) * s))
            n += 1
            prev = w
    return total / n


def test_ngram_proxy_matches_a_dictionary_count():
    texts = ["a b c a", "b b a", "c a b c c", "a a b"]
    labels = [0, 1, 0, 1]
    target = ["a b c", "c c a"]
    vocab = {w for d in texts + target for w in d.split()}
    # The larger model at λ = e_0 with large_tokens = 9 (cluster 0's own 9 tokens) has
    # exactly cluster 0's counts.
    big = NGramProxy(texts, labels, target, n_tokens=1, smoothing=0.5, large_tokens=9)
    assert big.large_loss([1.0, 0.0]) == pytest.approx(
        reference_bigram_loss([texts[0], texts[2]], target, vocab, 0.5), rel=1e-12
    )
    # A proxy run on a one-document cluster with a quota of that document's length trains on
    # exactly that document.
    one = NGramProxy(["a b c a", "b b a"], [0, 1], target, n_tokens=4, smoothing=0.5)
    vocab1 = {w for d in ["a b c a", "b b a", *target] for w in d.split()}
    assert one([1.0, 0.0], seed=3) == pytest.approx(
        reference_bigram_loss(["a b c a"], target, vocab1, 0.5), rel=1e-12
    )
    unigram = NGramProxy(["a b c a", "b b a"], [0, 1], target, n_tokens=4, order=1, smoothing=1.0)
    # Unigram: counts a=2, b=1, c=1 over 4 tokens, V = 3: p = (count + 1) / 7.
    expected = -np.mean(np.log(np.array([3, 2, 2, 2, 2, 3]) / 7))
    assert unigram([1.0, 0.0], seed=0) == pytest.approx(expected, rel=1e-12)


def test_large_loss_gradient_and_optimum(proxy, corpus, clusters):
    w = np.random.default_rng(0).dirichlet(np.ones(proxy.k))
    g = proxy._large_grad(w, 0)
    eps = 1e-6
    for c in range(proxy.k):
        e = np.zeros(proxy.k)
        e[c] = eps
        num = (proxy._large((w + e)[None])[0, 0] - proxy._large((w - e)[None])[0, 0]) / (2 * eps)
        assert g[c] == pytest.approx(num, rel=1e-4, abs=1e-6)
    opt_w, opt = proxy.optimum()
    draws = np.random.default_rng(1).dirichlet(np.ones(proxy.k), size=3000)
    assert opt <= proxy._large(draws)[:, 0].min() + 1e-9
    # The optimum puts most weight on the target's topics, near π = (0, 0, .6, .4): not
    # exactly, as the target set is a sample of 200 documents (s.e. of a topic's share about
    # 0.035) and stop words are shared by every topic.
    topic_of = [corpus.topics[clusters.labels == c][0] for c in range(clusters.k)]
    by_topic = np.bincount(topic_of, weights=opt_w, minlength=4)
    assert by_topic[2:].sum() > 0.85
    np.testing.assert_allclose(by_topic, corpus.target_mixture, atol=0.12)


def test_proxy_is_seeded_and_noisy(proxy):
    w = np.full(proxy.k, 1 / proxy.k)
    assert proxy(w, seed=3) == proxy(w, seed=3)
    assert proxy(w, seed=3) != proxy(w, seed=4)


def test_multi_target_proxy_returns_a_vector(corpus, clusters):
    targets = corpus.topic_targets(20)
    multi = NGramProxy(corpus.documents, clusters.labels, targets, n_tokens=2000)
    w = np.full(multi.k, 1 / multi.k)
    assert multi(w, seed=0).shape == (4,) and multi.large_loss(w).shape == (4,)


def test_torch_proxy_prefers_the_target_topics(corpus, clusters):
    torch_proxy = TorchProxy(
        corpus.documents, clusters.labels, corpus.target, n_tokens=2000, steps=60
    )
    topic_of = np.array([corpus.topics[clusters.labels == c][0] for c in range(clusters.k)])
    good = np.isin(topic_of, [2, 3]).astype(float)
    bad = 1.0 - good
    assert torch_proxy(good / good.sum(), seed=0) < torch_proxy(bad / bad.sum(), seed=0)
    assert torch_proxy(good / good.sum(), seed=1) == torch_proxy(good / good.sum(), seed=1)


def test_proxy_bad_input(corpus, clusters):
    with pytest.raises(ALMOValueError, match="`labels`"):
        NGramProxy(corpus.documents, clusters.labels[:5], corpus.target)
    with pytest.raises(ALMOValueError, match="`labels`"):
        NGramProxy(corpus.documents, -np.ones(400, dtype=int), corpus.target)
    with pytest.raises(ALMOValueError, match="`order`"):
        NGramProxy(corpus.documents, clusters.labels, corpus.target, order=3)
    with pytest.raises(ALMOValueError, match="`targets`"):
        NGramProxy(corpus.documents, clusters.labels, [])
    with pytest.raises(ALMOValueError, match="`weights`"):
        NGramProxy(corpus.documents, clusters.labels, corpus.target)([1.0])


# --- baselines -----------------------------------------------------------------------------


def test_fixed_mixtures(proxy, clusters):
    u = fixed_mixture(proxy, clusters.shares, "uniform")
    p = fixed_mixture(proxy, clusters.shares, "proportional")
    np.testing.assert_allclose(u.weights, 1 / clusters.k)
    np.testing.assert_allclose(p.weights, clusters.shares)
    assert u.proxy_calls == p.proxy_calls == 1
    with pytest.raises(ALMOValueError, match="`kind`"):
        fixed_mixture(proxy, clusters.shares, "best")


def test_random_search_is_the_best_draw(proxy, clusters):
    res = random_search(proxy, clusters.shares, budget=12, seed=0)
    assert res.proxy_calls == 12 and res.best_value == min(res.values)
    assert res.weights is res.runs[int(np.argmin(res.values))].weights


def test_regmix_averages_the_top_predicted(proxy, clusters):
    res = regmix(proxy, clusters.shares, budget=20, top_k=10, n_candidates=300, seed=0)
    assert res.proxy_calls == 20
    np.testing.assert_allclose(res.weights.sum(), 1.0)
    assert res.info["top_k"] == 10


def test_doremi_runs_almos_trainer_and_returns_averaged_weights(corpus, clusters):
    res = doremi(corpus.documents, clusters.labels, n_tokens=2000, steps=30, seed=0)
    assert res.proxy_calls == 0 and res.info["training_runs"] == 2
    assert np.all(res.weights > 0) and res.weights.sum() == pytest.approx(1.0)
    # Smoothing c = 1e-3 keeps every weight at least c / k in every iterate.
    assert np.all(res.weights >= 1e-3 / clusters.k - 1e-12)
    again = doremi(corpus.documents, clusters.labels, n_tokens=2000, steps=30, seed=0)
    np.testing.assert_allclose(res.weights, again.weights)
    torch.manual_seed(0)


# --- comparison, agnostic search, plots ----------------------------------------------------


def test_compare_methods_reports_every_method(proxy, corpus, clusters, tmp_path):
    optimum = proxy.optimum()
    report, results = compare_methods(
        proxy,
        clusters.shares,
        21,
        methods=("climb", "uniform", "proportional", "random", "regmix", "doremi"),
        evaluate=proxy.large_loss,
        optimum=optimum,
        doremi_data=(corpus.documents, clusters.labels),
        doremi_options={"n_tokens": 1500, "steps": 20},
        n_candidates=500,
        seed=0,
    )
    rows = {r.method: r for r in report.rows}
    assert rows["climb"].proxy_calls == rows["random"].proxy_calls == rows["regmix"].proxy_calls
    for r in report.rows:
        assert r.regret >= -1e-12
        assert r.target_loss == pytest.approx(proxy.large_loss(np.array(r.weights)))
    assert len(rows["climb"].regret_by_round) == 3
    assert rows["climb"].regret_by_round == sorted(rows["climb"].regret_by_round, reverse=True)
    assert rows["climb"].spearman_cv is not None
    data = report.to_dict()
    assert data["format"] == "almo-search/1" and len(data["methods"]) == 6
    assert "| climb |" in report.table()
    paths = save_figures(results, tmp_path, clusters.names, optimum[0])
    assert sorted(p.name for p in paths) == ["predicted.png", "progress.png", "weights.png"]


def test_compare_methods_bad_input(proxy, clusters):
    with pytest.raises(ALMOValueError, match="`methods`"):
        compare_methods(proxy, clusters.shares, 7, methods=("climb", "gridsearch"))
    with pytest.raises(ALMOValueError, match="`doremi_data`"):
        compare_methods(proxy, clusters.shares, 7, methods=("doremi",))


def test_agnostic_search_lowers_the_worst_case(corpus, clusters):
    targets = corpus.topic_targets(30)
    multi = NGramProxy(corpus.documents, clusters.labels, targets, n_tokens=2000)
    report = agnostic_search(
        multi, clusters.shares, Simplex(4), 21, evaluate=multi.large_loss, n_candidates=1000, seed=0
    )
    rows = {r.method: r for r in report.rows}
    assert rows["agnostic"].worst_case <= rows["single-target"].worst_case
    for r in report.rows:
        assert r.worst_case == pytest.approx(max(r.per_target))  # Λ = the simplex
        assert r.proxy_calls == 21
    assert report.to_dict()["measured_by"] == "larger model"
    box = agnostic_search(
        multi, clusters.shares, BoxSimplex([0.1] * 4, [0.7] * 4), 7, n_candidates=200, seed=0
    )
    for r in box.rows:
        assert r.worst_case <= max(r.per_target) + 1e-12
    with pytest.raises(ALMOValueError, match="return 3 target losses"):
        agnostic_search(multi, clusters.shares, Simplex(3), 7)
    with pytest.raises(ALMOValueError, match="`mixture_set`"):
        agnostic_search(multi, clusters.shares, [0.5, 0.5], 7)


def test_figures_have_titles_labels_legends(proxy, clusters):
    res = random_search(proxy, clusters.shares, budget=8, seed=0)
    from almo.search import climb

    cl = climb(proxy, clusters.shares, budget=14, n_candidates=300, seed=0)
    for fig in (
        figure_progress({"climb": cl, "random": res}),
        figure_predicted(cl),
        figure_weights({"climb": cl.weights}, clusters.names, cl.weights),
    ):
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
        plt.close(fig)
    fig = figure_progress({"climb": cl})
    best = fig.axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(best, np.minimum.accumulate(cl.values))
    plt.close(fig)
