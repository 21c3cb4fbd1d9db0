"""More of phase 1 and the proxies: the synthetic corpus's structure for any size, clusters on
hand-made embeddings (sizes, merging, pruning), the count model's probabilities and losses
against dictionary counts, the torch proxy and DoReMi's bad input."""

import json
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo.exceptions import ALMOValueError
from almo.search import (
    NGramProxy,
    SourceData,
    TorchProxy,
    cluster_documents,
    doremi,
    embed,
    make_corpus,
    quality_heuristic,
)
from almo.search.corpus import STOP_WORDS, sample_documents
from almo.search.proxies import MAX_TABLE
from checks import assert_agree

FEW = settings(max_examples=10, deadline=None)


def words_of(doc):
    return doc.split()


# --- the synthetic corpus -------------------------------------------------------------------


@FEW
@given(
    n_docs=st.integers(40, 150),
    n_topics=st.integers(2, 5),
    low_quality=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_corpus_structure_for_any_size(n_docs, n_topics, low_quality, seed):
    c = make_corpus(
        n_docs=n_docs,
        n_topics=n_topics,
        words_per_topic=6,
        doc_length=8,
        low_quality=low_quality,
        n_target_docs=15,
        seed=seed,
    )
    n_bad = round(low_quality * n_docs)
    assert len(c.documents) == len(c.topics) == n_docs
    assert (c.topics < 0).sum() == n_bad
    assert (c.topics == -1).sum() == (n_bad + 1) // 2  # spam first, then alternating
    assert (c.topics == -2).sum() == n_bad // 2
    # Topic counts: the geometric shares of the good documents, rounded to sum exactly.
    counts = np.bincount(c.topics[c.topics >= 0], minlength=n_topics)
    assert counts.sum() == n_docs - n_bad
    np.testing.assert_allclose(c.topic_shares, counts / counts.sum(), rtol=1e-12)
    ideal = (1 / np.arange(1, n_topics + 1)) / np.sum(1 / np.arange(1, n_topics + 1))
    assert np.all(np.abs(counts - ideal * counts.sum()) <= 1)
    assert np.all(np.diff(counts) <= 0)
    # Every document has at least five tokens; topical ones use stop words and their own topic's
    # words only, junk only junk tokens.
    stop = set(STOP_WORDS)
    for doc, t in zip(c.documents, c.topics, strict=True):
        toks = words_of(doc)
        assert len(toks) >= 5
        if t >= 0:
            assert all(w in stop or w.startswith(f"t{t}w") for w in toks), (t, doc)
        else:
            assert all(w.startswith("zq") for w in toks)
    if n_bad:
        spam = [d for d, t in zip(c.documents, c.topics, strict=True) if t == -1]
        assert all(len(set(words_of(d))) <= 3 for d in spam)
    # The target: a distribution over the topics with n_target_docs documents.
    assert len(c.target) == 15 and c.n_topics == n_topics
    assert c.target_mixture.min() >= 0 and c.target_mixture.sum() == pytest.approx(1.0)
    assert c.vocabulary[: len(STOP_WORDS)] == list(STOP_WORDS)
    assert len(c.vocabulary) == len(STOP_WORDS) + 6 * n_topics
    # Each topic's transition rows are distributions that never emit another topic's words.
    assert c.transitions.shape == (n_topics, len(c.vocabulary) + 1, len(c.vocabulary))
    np.testing.assert_allclose(c.transitions.sum(axis=2), 1.0, atol=1e-12)
    for t in range(n_topics):
        own = np.zeros(len(c.vocabulary), dtype=bool)
        own[: len(STOP_WORDS)] = True
        own[len(STOP_WORDS) + 6 * t : len(STOP_WORDS) + 6 * (t + 1)] = True
        assert np.all(c.transitions[t][:, ~own] == 0)
        np.testing.assert_allclose(c.transitions[t][:, : len(STOP_WORDS)].sum(axis=1), 0.3)


@pytest.mark.parametrize(
    ("n_topics", "expected"),
    [
        (2, [0.6, 0.4]),
        (3, [0, 0.6, 0.4]),
        (5, [0, 0, 0, 0.6, 0.4]),
        (6, [0, 0, 0, 0.5, 0.3, 0.2]),
        (8, [0, 0, 0, 0, 0, 0.5, 0.3, 0.2]),
    ],
)
def test_default_target_is_on_the_least_frequent_topics(n_topics, expected):
    c = make_corpus(n_docs=120, n_topics=n_topics, words_per_topic=4, n_target_docs=5, seed=0)
    np.testing.assert_allclose(c.target_mixture, expected)


def test_a_custom_target_mixture_is_normalized_and_followed():
    c = make_corpus(
        n_docs=60, n_topics=3, target_mixture=[0, 0, 5], n_target_docs=40, seed=2, doc_length=6
    )
    np.testing.assert_allclose(c.target_mixture, [0, 0, 1])
    for doc in c.target:
        assert all(w in STOP_WORDS or w.startswith("t2w") for w in words_of(doc))


def test_seeds_give_different_corpora_and_the_same_seed_the_same():
    a = make_corpus(n_docs=50, n_topics=2, seed=1)
    b = make_corpus(n_docs=50, n_topics=2, seed=1)
    c = make_corpus(n_docs=50, n_topics=2, seed=2)
    assert a.documents == b.documents and a.target == b.target
    np.testing.assert_array_equal(a.transitions, b.transitions)
    assert a.documents != c.documents


def test_topic_and_mixture_targets():
    c = make_corpus(n_docs=60, n_topics=3, doc_length=6, seed=0)
    sets = c.topic_targets(7, seed=1)
    assert [len(s) for s in sets] == [7, 7, 7]
    for t, docs in enumerate(sets):
        for doc in docs:
            assert all(w in STOP_WORDS or w.startswith(f"t{t}w") for w in words_of(doc))
    assert c.topic_targets(7, seed=1) == sets and c.topic_targets(7, seed=2) != sets
    only1 = c.mixture_target(np.array([0.0, 3.0, 0.0]), n_docs=12)
    assert len(only1) == 12
    assert all(w in STOP_WORDS or w.startswith("t1w") for d in only1 for w in words_of(d))
    with pytest.raises(ALMOValueError, match="`n_docs`"):
        c.topic_targets(0)


@pytest.mark.parametrize("mixture", [[1.0, 0.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [[1, 1, 1]]])
def test_mixture_target_bad_mixture(mixture):
    c = make_corpus(n_docs=40, n_topics=3, seed=0)
    with pytest.raises(ALMOValueError, match="`mixture` must be 3 non-negative finite topic"):
        c.mixture_target(np.array(mixture, dtype=float))


@pytest.mark.parametrize(("mixture", "n_docs"), [([np.inf, 1, 1], 5), ([np.nan, 1, 1], 5)])
def test_mixture_target_refuses_non_finite_weights(mixture, n_docs):
    c = make_corpus(n_docs=40, n_topics=3, seed=0)
    with pytest.raises(ALMOValueError, match="`mixture`"):
        c.mixture_target(np.array(mixture), n_docs=n_docs)


def test_mixture_target_refuses_a_negative_count():
    c = make_corpus(n_docs=40, n_topics=3, seed=0)
    with pytest.raises(ALMOValueError, match="`n_docs`"):
        c.mixture_target(c.target_mixture, n_docs=-1)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_docs": 10, "n_topics": 20}, {"n_docs": 10, "n_topics": 2, "low_quality": 0.95}],
)
def test_too_few_documents_for_the_topics_is_a_clear_error(kwargs):
    with pytest.raises(ALMOValueError, match=r"`n_docs`|`n_topics`|`low_quality`"):
        make_corpus(**kwargs)


@pytest.mark.parametrize(
    ("n_topics", "low_quality"), [(2, 0.0), (3, 0.5), (8, 0.1), (20, 0.0), (4, 0.95)]
)
def test_the_document_count_the_error_names_is_exactly_enough(n_topics, low_quality):
    """The fix names the smallest n_docs: with it every topic has a document, one fewer fails."""
    with pytest.raises(ALMOValueError, match=r"Fix: pass n_docs >= \d+") as info:
        make_corpus(n_docs=n_topics, n_topics=n_topics, low_quality=0.5 + low_quality / 2)
    with pytest.raises(ALMOValueError) as info:
        make_corpus(n_docs=1, n_topics=n_topics, low_quality=low_quality)
    need = int(str(info.value).split("n_docs >= ")[1].split(",")[0])
    kw = {"n_topics": n_topics, "low_quality": low_quality, "words_per_topic": 2}
    c = make_corpus(n_docs=need, n_target_docs=3, **kw)
    assert len(c.documents) == need
    assert np.all(np.bincount(c.topics[c.topics >= 0], minlength=n_topics) >= 1)
    assert np.all(c.topic_shares > 0)
    if need > 1:
        with pytest.raises(ALMOValueError, match="`n_docs` must leave every one"):
            make_corpus(n_docs=need - 1, **kw)


def test_no_documents_from_a_chain_is_an_empty_list():
    table = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    assert sample_documents(table, ["a", "b"], 0, 4, np.random.default_rng(0)) == []


@pytest.mark.parametrize("n_docs", [0, 2.5, "3", None])
def test_mixture_target_refuses_a_count_that_is_not_a_positive_integer(n_docs):
    c = make_corpus(n_docs=40, n_topics=3, seed=0)
    with pytest.raises(ALMOValueError, match="`n_docs` must be an integer >= 1"):
        c.mixture_target(c.target_mixture, n_docs=n_docs)


def test_mixture_target_refuses_text_weights():
    c = make_corpus(n_docs=40, n_topics=3, seed=0)
    with pytest.raises(ALMOValueError, match="`mixture`"):
        c.mixture_target(["a", "b", "c"])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_docs": 0}, "n_docs"),
        ({"n_docs": 2.5}, "n_docs"),
        ({"n_docs": "100"}, "n_docs"),
        ({"n_topics": 0}, "n_topics"),
        ({"words_per_topic": 1}, "words_per_topic"),
        ({"doc_length": 4}, "doc_length"),
        ({"low_quality": -0.1}, "low_quality"),
        ({"low_quality": 1.0}, "low_quality"),
        ({"low_quality": float("nan")}, "low_quality"),
        ({"target_mixture": [0.5, 0.5]}, "target_mixture"),
        ({"target_mixture": [-1, 1, 1]}, "target_mixture"),
        ({"target_mixture": [0, 0, 0]}, "target_mixture"),
        ({"target_mixture": [np.nan, 1, 1]}, "target_mixture"),
        ({"target_mixture": [np.inf, 1, 1]}, "target_mixture"),
        ({"n_target_docs": 0}, "n_target_docs"),
        ({"concentration": 0}, "concentration"),
        ({"concentration": -1}, "concentration"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_make_corpus_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ALMOValueError, match=f"`{name}` must") as err:
        make_corpus(**{"n_docs": 40, "n_topics": 3, **kwargs})
    assert "Fix:" in str(err.value)


def test_sample_documents_follows_its_chain_and_mean_length():
    # A deterministic cycle a → b → c → a from the start row: the text is fixed.
    table = np.array([[0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0], [1.0, 0, 0]])
    docs = sample_documents(table, ["a", "b", "c"], 3, 7, np.random.default_rng(0))
    for d in docs:
        toks = words_of(d)
        assert toks == (["a", "b", "c"] * 10)[: len(toks)] and len(toks) >= 5
    # Lengths are 5 + Poisson(L - 5): mean L within four standard errors (variance L - 5).
    many = sample_documents(table, ["a", "b", "c"], 4000, 12, np.random.default_rng(1))
    lengths = np.array([len(words_of(d)) for d in many])
    assert abs(lengths.mean() - 12) < 4 * np.sqrt(7 / 4000)
    assert lengths.min() >= 5


# --- embeddings and quality -----------------------------------------------------------------


def test_embed_shapes_norms_and_identical_documents():
    texts = ["a b c", "a b c", "d e f g", "h i", "a d h"]
    X = embed(texts, n_components=3, seed=0)
    assert X.shape == (5, 3)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(X[0], X[1], atol=1e-12)
    np.testing.assert_array_equal(X, embed(texts, n_components=3, seed=0))
    # d is capped by the documents and terms; one document gives its raw TF-IDF row.
    assert embed(texts, n_components=100).shape == (5, 4)
    one = embed(["x y y"])
    assert one.shape == (1, 2) and np.linalg.norm(one) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("texts", "kwargs", "match"),
    [
        ([], {}, "`texts` must hold at least one document"),
        (["a", "  "], {}, "`texts` must hold non-empty strings"),
        (["a", 3], {}, "`texts` must hold non-empty strings"),
        ("a b", {}, "`texts` must be a sequence"),
        (["!!! ???", "... ,,,"], {}, "`texts` must hold words TF-IDF can index"),
        (["a b", "c d"], {"n_components": 0}, "`n_components`"),
    ],
)
def test_embed_bad_input(texts, kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        embed(texts, **kwargs)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["the", "of", "And", "x", "y", "z", "w", "q"]), min_size=1))
def test_quality_heuristic_closed_form(tokens):
    text = " ".join(tokens)
    distinct = len(set(tokens)) / len(tokens)
    stop = sum(t.lower() in STOP_WORDS for t in tokens) / len(tokens)
    expected = 0.5 * min(distinct / 0.3, 1) + 0.5 * min(stop / 0.1, 1)
    got = quality_heuristic(text)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= got <= 1.0


def test_quality_heuristic_examples():
    assert quality_heuristic("") == 0.0
    assert quality_heuristic("   ") == 0.0
    assert quality_heuristic("zq1 zq2 zq3 zq4") == 0.5  # distinct, but no stop words
    assert quality_heuristic("THE x y z w v u t s r") == 1.0  # case-insensitive stop words
    assert quality_heuristic("the the the the") == pytest.approx(0.5 + 0.5 * (1 / 4) / 0.3)


# --- clusters on hand-made embeddings -------------------------------------------------------


def blobs(sizes, gap=10.0, seed=0, junk=()):
    """Documents with their own words per blob, and features at well-separated points."""
    rng = np.random.default_rng(seed)
    texts, feats, blob = [], [], []
    for b, n in enumerate(sizes):
        for i in range(n):
            words = [f"b{b}w{j}" for j in rng.integers(0, 5, size=3 + (i % 4))]
            kind = "junk" if b in junk else "the"
            texts.append(" ".join([kind, *words]))
            feats.append(np.array([gap * b, gap * (b % 2)]) + rng.normal(0, 0.1, size=2))
            blob.append(b)
    order = rng.permutation(len(texts))
    return [texts[i] for i in order], np.array(feats)[order], np.array(blob)[order]


def same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@FEW
@given(st.lists(st.integers(2, 12), min_size=1, max_size=5), st.integers(0, 2**16))
def test_clusters_recover_blobs_and_add_up(sizes, seed):
    texts, X, blob = blobs(sizes, seed=seed)
    c = cluster_documents(texts, len(sizes), features=X, seed=seed)
    assert c.k == len(sizes) and same_partition(c.labels, blob)
    n_tok = np.array([len(words_of(t)) for t in texts])
    assert c.sizes.sum() == len(texts)
    assert c.sizes.tolist() == np.bincount(c.labels, minlength=c.k).tolist()
    assert c.tokens.tolist() == [int(n_tok[c.labels == i].sum()) for i in range(c.k)]
    assert_agree(c.shares, c.tokens / n_tok.sum(), rtol=1e-12, what="shares")
    assert c.shares.sum() == pytest.approx(1.0, abs=1e-12)
    # Clusters are numbered in the order their first document appears.
    firsts = [int(np.argmax(c.labels == i)) for i in range(c.k)]
    assert firsts == sorted(firsts) and c.labels[0] == 0
    for i in range(c.k):
        np.testing.assert_allclose(c.centroids[i], X[c.labels == i].mean(axis=0), atol=1e-12)
        b = blob[c.labels == i][0]
        assert all(t.startswith(f"b{b}w") or t == "the" for t in c.top_terms[i])
        assert len(c.top_terms[i]) <= 5
    assert np.all(np.isnan(c.quality)) and c.pruned == []
    assert c.merged_from == [[m] for g in c.merged_from for m in g]


def test_merging_with_distance_zero_or_tiny_changes_nothing():
    texts, X, _ = blobs([5, 6, 7, 4])
    plain = cluster_documents(texts, 4, features=X, seed=0)
    for distance in (0.0, 1e-9):
        merged = cluster_documents(texts, 4, features=X, merge_distance=distance, seed=0)
        np.testing.assert_array_equal(merged.labels, plain.labels)
        assert merged.k == 4 and merged.merged_from == plain.merged_from


def test_merging_with_a_huge_distance_gives_one_cluster():
    texts, X, _ = blobs([5, 6, 7, 4])
    merged = cluster_documents(texts, 4, features=X, merge_distance=1e6, seed=0)
    assert merged.k == 1 and merged.sizes.tolist() == [22]
    assert sorted(merged.merged_from[0]) == [0, 1, 2, 3]
    assert np.all(merged.labels == 0) and merged.shares.tolist() == [1.0]


def test_merging_is_transitive():
    """Centroids on a line at 0, 1 and 2: distance 1 joins 0-1 and 1-2, hence all three,
    though 0 and 2 are 2 apart; distance 0.9 joins nothing."""
    texts = [f"w{i} x{i}" for i in range(9)]
    X = np.repeat(np.array([[0.0], [1.0], [2.0]]), 3, axis=0)
    assert cluster_documents(texts, 3, features=X, merge_distance=1.0).k == 1
    assert cluster_documents(texts, 3, features=X, merge_distance=0.9).k == 3
    far = np.repeat(np.array([[0.0], [1.0], [5.0]]), 3, axis=0)
    two = cluster_documents(texts, 3, features=far, merge_distance=1.0)
    assert two.k == 2 and sorted(two.sizes.tolist()) == [3, 6]


def test_pruning_removes_the_injected_junk():
    texts, X, blob = blobs([6, 8, 5, 7], junk=(1, 3))

    def score(text):
        return 0.0 if text.startswith("junk") else 1.0

    c = cluster_documents(texts, 4, features=X, quality=score, seed=0)
    junk = np.isin(blob, [1, 3])
    assert np.all(c.labels[junk] == -1) and np.all(c.labels[~junk] >= 0)
    assert c.k == 2 and c.sizes.sum() == (~junk).sum()
    assert sum(p["documents"] for p in c.pruned) == junk.sum()
    for p in c.pruned:
        assert set(p) == {"kmeans_id", "documents", "quality", "top_terms"}
        assert p["quality"] == 0.0 and "junk" in p["top_terms"]
    np.testing.assert_allclose(c.quality, 1.0)
    # The heuristic scores junk 0.5 (distinct tokens, no stop word) and the rest 1.0 (one stop
    # word "the" in at most 8 tokens): a threshold of 0.5 keeps both, 0.75 prunes the junk.
    h = cluster_documents(texts, 4, features=X, quality="heuristic", seed=0)
    assert h.k == 4 and h.pruned == []
    assert sorted(h.quality.tolist()) == [0.5, 0.5, 1.0, 1.0]
    h = cluster_documents(texts, 4, features=X, quality="heuristic", min_quality=0.75, seed=0)
    np.testing.assert_array_equal(h.labels >= 0, ~junk)


def test_pruning_threshold_is_strict_and_quality_is_the_cluster_mean():
    texts, X, blob = blobs([4, 4])
    values = {t: 0.25 + 0.5 * (b == 1) for t, b in zip(texts, blob, strict=True)}
    keep = cluster_documents(texts, 2, features=X, quality=values.get, min_quality=0.25)
    assert keep.k == 2 and keep.pruned == []  # a mean equal to the threshold is kept
    assert sorted(keep.quality.tolist()) == [0.25, 0.75]
    cut = cluster_documents(texts, 2, features=X, quality=values.get, min_quality=0.5)
    assert cut.k == 1 and cut.quality.tolist() == [0.75]
    assert cut.pruned[0]["quality"] == 0.25 and cut.pruned[0]["documents"] == 4


def test_cluster_reports_are_json_ready_and_tabulated():
    texts, X, _ = blobs([3, 4, 5])
    c = cluster_documents(texts, 3, features=X, n_top_terms=2)
    d = json.loads(json.dumps(c.to_dict()))
    assert set(d) == {
        "k",
        "names",
        "sizes",
        "tokens",
        "shares",
        "quality",
        "top_terms",
        "merged_from",
        "pruned",
    }
    assert d["k"] == 3 and d["quality"] == [None, None, None] and sum(d["sizes"]) == 12
    assert all(len(t) <= 2 for t in d["top_terms"])
    for i, name in enumerate(c.names):
        assert name == f"c{i}:" + "/".join(c.top_terms[i][:2])
    lines = c.table().splitlines()
    assert lines[0].startswith("| cluster | docs | tokens | share | quality |")
    assert len(lines) == 2 + 3 and all(" - |" in line for line in lines[2:])


def test_duplicate_points_give_fewer_clusters_not_a_crash():
    texts = ["a b"] * 4 + ["c d"] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn notes the duplicate points
        c = cluster_documents(texts, 3, seed=0)
    assert c.k == 2 and sorted(c.sizes.tolist()) == [3, 4] and c.sizes.sum() == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 0}, "`n_clusters`"),
        ({"n_clusters": 1.5}, "`n_clusters`"),
        ({"n_clusters": 7}, r"`n_clusters` must be at most the number of documents \(6\)"),
        ({"seed": -1}, "`seed`"),
        ({"merge_distance": -0.1}, "`merge_distance`"),
        ({"merge_distance": float("nan")}, "`merge_distance`"),
        ({"n_top_terms": 0}, "`n_top_terms`"),
        ({"min_quality": float("nan")}, "`min_quality`"),
        ({"quality": 3}, "`quality` must be None, 'heuristic' or a callable"),
        ({"features": np.ones((6, 0))}, "`features`"),
        ({"features": np.ones(6)}, "`features`"),
        ({"features": np.full((6, 2), np.nan)}, "`features`"),
        ({"features": [["a", "b"]] * 6}, "`features` must be a numeric matrix"),
        ({"features": lambda texts: np.ones((2, 2))}, "`features`"),
        ({"quality": lambda t: float("nan")}, "`quality` must return finite scores"),
        ({"quality": lambda t: 0.0}, "`min_quality` must leave at least one cluster"),
    ],
)
def test_cluster_documents_bad_input(kwargs, match):
    texts = ["a b", "b c", "c d", "x y", "y z", "z w"]
    with pytest.raises(ALMOValueError, match=match):
        cluster_documents(texts, **{"n_clusters": 2, **kwargs})


def test_a_quality_callable_returning_text_is_named():
    with pytest.raises(ALMOValueError, match="`quality`"):
        cluster_documents(["a b", "c d"], 1, quality=lambda t: "good")


@pytest.mark.parametrize("value", [None, "0.5", [0.5], complex(1, 1)])
def test_a_quality_callable_returning_no_real_number_is_named(value):
    with pytest.raises(ALMOValueError, match=r"`quality` must return a real number"):
        cluster_documents(["a b", "c d"], 1, quality=lambda t: value)


def test_a_quality_callable_returning_numpy_scalars_or_bools_is_taken():
    res = cluster_documents(["a b", "c d"], 1, quality=lambda t: np.float32(0.75))
    assert res.quality.tolist() == [0.75]
    res = cluster_documents(["a b", "c d"], 1, quality=lambda t: t == "a b", min_quality=0.5)
    assert res.quality.tolist() == [0.5]


# --- tokenized sources ----------------------------------------------------------------------


TEXTS = ["a b c a", "b b a", "c a b c c", "a a b", "d d a"]
LABELS = [0, 1, 0, 1, 2]
TARGET = ["a b c", "c c a", "d a"]


def test_source_data_pairs_decode_to_the_bigrams():
    data = SourceData(TEXTS, LABELS, [TARGET])
    v = data.vocab_size
    assert v == 4 and data.k == 3 and data.n_contexts == 5
    assert data.tokens.tolist() == [9, 6, 3]
    vocab = {}
    for doc in TEXTS + TARGET:
        for w in doc.split():
            vocab.setdefault(w, len(vocab))
    for c in range(3):
        docs = [d for d, lab in zip(TEXTS, LABELS, strict=True) if lab == c]
        for doc, pairs in zip(docs, data.doc_pairs[c], strict=True):
            ids = [vocab[w] for w in doc.split()]
            assert (pairs // v).tolist() == [v, *ids[:-1]] and (pairs % v).tolist() == ids
    uni = SourceData(TEXTS, LABELS, [TARGET], order=1)
    assert uni.n_contexts == 1 and uni.doc_pairs[0][0].tolist() == [0, 1, 2, 0]
    pruned = SourceData(TEXTS, [0, -1, 0, 1, -1], [TARGET])
    assert pruned.k == 2 and pruned.tokens.tolist() == [9, 3]


def test_source_data_sample_draws_only_the_weighted_clusters_and_the_expected_tokens():
    """Documents of equal length L: ⌊λN/L⌋ or one more, so the expected size is λN exactly."""
    texts = ["a b c d", "b c d a", "x y z w", "y z w x"]
    data = SourceData(texts, [0, 0, 1, 1], [["a b"]])
    w = np.array([0.3, 0.7])
    sizes, from0 = [], []
    docs0 = {tuple(p) for p in data.doc_pairs[0]}
    for seed in range(600):
        s = data.sample(w, 50, np.random.default_rng(seed))
        assert s.size % 4 == 0
        chunks = {tuple(s[i : i + 4]) for i in range(0, s.size, 4)}
        from0.append(sum(ch in docs0 for ch in chunks) > 0)
        sizes.append(s.size)
    # Expected λN = 50 tokens; each cluster's count is a shifted Bernoulli (variance ≤ 1/4).
    assert abs(np.mean(sizes) - 50) < 4 * 4 * np.sqrt(2 * 0.25 / 600)
    only1 = data.sample(np.array([0.0, 1.0]), 40, np.random.default_rng(0))
    assert only1.size == 40 and not set(only1.tolist()) & {p for d in docs0 for p in d}


@pytest.mark.parametrize(
    ("labels", "targets", "kwargs", "match"),
    [
        ([0, 1, 0, 1], [TARGET], {}, r"`labels` must be one integer cluster id per document"),
        ([0.0, 1.0, 0.0, 1.0, 2.0], [TARGET], {}, "`labels` must be one integer"),
        ([-1] * 5, [TARGET], {}, "`labels` must name at least one cluster"),
        ([0, 2, 0, 2, 3], [TARGET], {}, r"`labels` must use every id"),
        (LABELS, [[]], {}, "`targets` must hold at least one document"),
        (LABELS, [["a", ""]], {}, "`targets` must hold non-empty strings"),
        (LABELS, [TARGET], {"order": 3}, "`order`"),
        (LABELS, [TARGET], {"order": 0}, "`order`"),
    ],
)
def test_source_data_bad_input(labels, targets, kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        SourceData(TEXTS, labels, targets, **kwargs)


def test_a_vocabulary_too_large_for_the_tables_is_named():
    v = int(np.sqrt(MAX_TABLE / 2)) + 2
    texts = [" ".join(f"w{i}" for i in range(v)), "w0 w1"]
    with pytest.raises(ALMOValueError, match="`texts` must have a vocabulary small enough"):
        SourceData(texts, [0, 1], [["w0"]])
    assert SourceData(texts, [0, 1], [["w0"]], order=1).vocab_size == v


# --- the count model: probabilities and losses ----------------------------------------------


def counts_of(docs, order=2):
    pair, ctx = Counter(), Counter()
    for d in docs:
        prev = "<s>"
        for w in d.split():
            key = prev if order == 2 else ""
            pair[(key, w)] += 1
            ctx[key] += 1
            prev = w
    return pair, ctx


def reference_large_loss(texts, labels, target, weights, n, s, order=2):
    """The larger model's loss from dictionaries: expected counts N Σ_c λ_c count_c / tokens_c."""
    vocab = {w for d in [*texts, *target] for w in d.split()}
    pair, ctx = Counter(), Counter()
    for c, lam in enumerate(weights):
        docs = [d for d, lab in zip(texts, labels, strict=True) if lab == c]
        pc, cc = counts_of(docs, order)
        total = sum(cc.values())
        for key, val in pc.items():
            pair[key] += n * lam * val / total
        for key, val in cc.items():
            ctx[key] += n * lam * val / total
    losses = []
    for d in target:
        prev = "<s>"
        for w in d.split():
            key = prev if order == 2 else ""
            losses.append(-np.log((pair[(key, w)] + s) / (ctx[key] + len(vocab) * s)))
            prev = w
    return float(np.mean(losses))


@FEW
@given(
    raw=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda x: sum(x) > 0.01),
    s=st.floats(0.01, 2.0),
    n=st.integers(5, 10_000),
    order=st.sampled_from([1, 2]),
)
def test_large_loss_matches_dictionary_counts(raw, s, n, order):
    w = np.array(raw) / sum(raw)
    proxy = NGramProxy(TEXTS, LABELS, TARGET, n_tokens=5, order=order, smoothing=s, large_tokens=n)
    expected = reference_large_loss(TEXTS, LABELS, TARGET, w, n, s, order)
    assert proxy.large_loss(w) == pytest.approx(expected, rel=1e-10)


@FEW
@given(
    raw=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda x: sum(x) > 0.01),
    seed=st.integers(0, 2**16),
    s=st.floats(0.01, 1.0),
)
def test_next_token_probabilities_sum_to_one(raw, seed, s):
    """Single-token targets give −log p(w | start); two-token targets "x w" give the mean of
    −log p(x | start) and −log p(w | x): both conditional distributions sum to 1 over V."""
    w = np.array(raw) / sum(raw)
    vocab = ["a", "b", "c", "d"]
    first = NGramProxy(TEXTS, LABELS, [[t] for t in vocab], n_tokens=30, smoothing=s)
    p_start = np.exp(-first(w, seed=seed))
    assert p_start.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.exp(-first.large_loss(w)).sum() == pytest.approx(1.0, abs=1e-12)
    for x_i, x in enumerate(vocab):
        pairs = NGramProxy(TEXTS, LABELS, [[f"{x} {t}"] for t in vocab], n_tokens=30, smoothing=s)
        lx = -np.log(p_start[x_i])
        p_next = np.exp(-(2 * pairs(w, seed=seed) - lx))
        assert p_next.sum() == pytest.approx(1.0, abs=1e-10)
    uni = NGramProxy(TEXTS, LABELS, [[t] for t in vocab], n_tokens=30, order=1, smoothing=s)
    assert np.exp(-uni(w, seed=seed)).sum() == pytest.approx(1.0, abs=1e-12)


def test_a_proxy_run_with_whole_documents_matches_a_hand_count():
    """Clusters of one document each (lengths 4 and 3) and N = 24 at λ = (.5, .5): the run
    trains on exactly 3 copies of the first and 4 of the second, whatever the seed."""
    texts, target = ["a b c a", "c c b"], ["a b", "c a c"]
    proxy = NGramProxy(texts, [0, 1], target, n_tokens=24, smoothing=0.3)
    pair, ctx = counts_of([texts[0]] * 3 + [texts[1]] * 4)
    expected = []
    for d in target:
        prev = "<s>"
        for w in d.split():
            expected.append(-np.log((pair[(prev, w)] + 0.3) / (ctx[prev] + 3 * 0.3)))
            prev = w
    for seed in (0, 1, 123):
        assert proxy([0.5, 0.5], seed=seed) == pytest.approx(np.mean(expected), rel=1e-12)


def test_an_empty_sample_gives_the_uniform_model():
    proxy = NGramProxy(["a b c d e f g h"], [0], ["a b"], n_tokens=1)
    # One document of 8 tokens and a quota of 1/8 of it: usually no document at all.
    losses = [proxy([1.0], seed=s) for s in range(40)]
    assert min(losses) < max(losses)
    assert max(losses) == pytest.approx(np.log(8), rel=1e-12)


def test_multi_target_proxy_equals_single_target_proxies():
    t1, t2 = ["a b c"], ["c a", "b b"]
    multi = NGramProxy(TEXTS, LABELS, [t1, t2], n_tokens=40)
    assert multi.multi and multi.n_targets == 2
    w = np.array([0.2, 0.5, 0.3])
    for i, t in enumerate((t1, t2)):
        single = NGramProxy(TEXTS, LABELS, t, n_tokens=40)
        assert not single.multi and single.n_targets == 1
        assert multi(w, seed=4)[i] == pytest.approx(single(w, seed=4), rel=1e-12)
        assert multi.large_loss(w)[i] == pytest.approx(single.large_loss(w), rel=1e-12)
    assert isinstance(NGramProxy(TEXTS, LABELS, t1, n_tokens=40)(w), float)


def test_optimum_has_no_regret_against_random_mixtures():
    corpus = make_corpus(n_docs=120, n_topics=3, words_per_topic=8, low_quality=0.0, seed=3)
    proxy = NGramProxy(corpus.documents, corpus.topics, corpus.target, n_tokens=500)
    w_opt, best = proxy.optimum()
    assert w_opt.min() >= 0 and w_opt.sum() == pytest.approx(1.0, abs=1e-12)
    assert proxy.large_loss(w_opt) == pytest.approx(best, rel=1e-12)
    draws = np.random.default_rng(7).dirichlet(np.full(3, 0.5), size=500)
    regrets = np.array([proxy.large_loss(w) for w in draws]) - best
    assert regrets.min() >= -1e-9
    for vertex in np.eye(3):
        assert proxy.large_loss(vertex) >= best - 1e-9
    # The target is topics 1 and 2 (0.6/0.4): topic 0 gets little weight.
    assert w_opt[0] < 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_tokens": 0}, "`n_tokens`"),
        ({"n_tokens": 2.5}, "`n_tokens`"),
        ({"smoothing": 0}, "`smoothing`"),
        ({"smoothing": -1}, "`smoothing`"),
        ({"smoothing": float("inf")}, "`smoothing`"),
        ({"large_tokens": 0}, "`large_tokens`"),
        ({"order": 3}, "`order`"),
    ],
)
def test_ngram_proxy_bad_input(kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        NGramProxy(TEXTS, LABELS, TARGET, **kwargs)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.5, 0.5, 0.5], [1.2, -0.1, -0.1], "uniform"])
def test_ngram_proxy_refuses_bad_weights(weights):
    proxy = NGramProxy(TEXTS, LABELS, TARGET, n_tokens=10)
    with pytest.raises(ALMOValueError, match="`weights`"):
        proxy(weights)
    with pytest.raises(ALMOValueError, match="`weights`"):
        proxy.large_loss(weights)


# --- the torch proxy and DoReMi -------------------------------------------------------------


def test_torch_proxy_scores_its_network_by_cross_entropy():
    proxy = TorchProxy(TEXTS, LABELS, [TARGET, ["a b"]], n_tokens=30, steps=5, batch_size=8, dim=4)
    assert proxy.k == 3
    net = proxy.model()
    x = torch.arange(proxy.data.n_contexts)
    assert net(x).shape == (proxy.data.n_contexts, proxy.data.vocab_size)
    # score(): the mean next-token cross-entropy on each target, recomputed from the pairs.
    v = proxy.data.vocab_size
    got = proxy.score(net)
    for value, tp in zip(got, proxy.data.target_pairs, strict=True):
        logits = net(torch.as_tensor(tp // v)).detach()
        logp = torch.log_softmax(logits, dim=1)[torch.arange(tp.size), torch.as_tensor(tp % v)]
        assert value == pytest.approx(float(-logp.mean()), rel=1e-6)
    w = np.array([0.2, 0.3, 0.5])
    out = proxy(w, seed=2)
    assert out.shape == (2,) and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, proxy(w, seed=2))
    # An untrained network (no data) is what train returns for an empty sample.
    torch.manual_seed(0)
    empty = proxy.train(np.zeros(0, dtype=np.int64), seed=0)
    torch.manual_seed(0)
    assert torch.equal(empty[0].weight, proxy.model()[0].weight)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "`steps`"),
        ({"batch_size": 0}, "`batch_size`"),
        ({"dim": 0}, "`dim`"),
        ({"lr": 0}, "`lr`"),
        ({"lr": -0.1}, "`lr`"),
        ({"n_tokens": 0}, "`n_tokens`"),
    ],
)
def test_torch_proxy_bad_input(kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        TorchProxy(TEXTS, LABELS, TARGET, **kwargs)


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (LABELS, {"steps": 0}, "`steps`"),
        (LABELS, {"seed": -1}, "`seed`"),
        (LABELS, {"lr": -1.0}, "`lr`"),
        (LABELS, {"smoothing": 2.0}, "`smoothing`"),
        (LABELS, {"n_tokens": 0}, "`n_tokens`"),
        (LABELS, {"batch_size": 0}, "`batch_size`"),
        (LABELS[:3], {}, "`labels`"),
    ],
)
def test_doremi_bad_input(labels, kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        doremi(TEXTS, labels, **{"n_tokens": 30, "steps": 2, **kwargs})


def test_doremi_weights_are_a_smoothed_distribution_over_the_clusters():
    res = doremi(TEXTS, LABELS, n_tokens=60, steps=8, batch_size=16, smoothing=0.1, seed=1)
    assert res.method == "doremi" and res.weights.shape == (3,)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    # Every iterate mixes in c/k, so the average does too.
    assert res.weights.min() >= 0.1 / 3 - 1e-12
    last = np.array(res.info["last_weights"])
    assert last.sum() == pytest.approx(1.0, abs=1e-9) and last.min() >= 0.1 / 3 - 1e-12
    assert res.info["steps"] == 8 and res.info["smoothing"] == 0.1
    assert res.proxy_calls == 0 and res.rounds == []


@FEW
@given(
    raw=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda x: sum(x) > 0.01),
    seed=st.integers(0, 2**16),
    s=st.floats(0.01, 2.0),
    n=st.integers(1, 60),
)
def test_a_proxy_run_is_the_smoothed_count_model_of_its_seeded_sample(raw, seed, s, n):
    """The run's loss recomputed by hand from the sample it trains on (SourceData.sample with the
    run's seed), decoded into (previous token, token) pairs and counted in dictionaries."""
    w = np.array(raw) / sum(raw)
    proxy = NGramProxy(TEXTS, LABELS, TARGET, n_tokens=n, smoothing=s)
    sample = proxy.data.sample(w, n, np.random.default_rng(seed))
    v = proxy.data.vocab_size
    pair = Counter(zip((sample // v).tolist(), (sample % v).tolist(), strict=True))
    ctx = Counter((sample // v).tolist())
    vocab = {}
    for doc in TEXTS + TARGET:
        for tok in doc.split():
            vocab.setdefault(tok, len(vocab))
    losses = []
    for doc in TARGET:
        prev = v
        for tok in doc.split():
            i = vocab[tok]
            losses.append(-np.log((pair[(prev, i)] + s) / (ctx[prev] + v * s)))
            prev = i
    assert proxy(w, seed=seed) == pytest.approx(np.mean(losses), rel=1e-12)
    # Only clusters with weight contribute documents to the sample.
    allowed = {int(p) for c in np.flatnonzero(w > 0) for d in proxy.data.doc_pairs[c] for p in d}
    assert set(sample.tolist()) <= allowed


def test_torch_proxy_runs_differ_by_seed_and_prefer_the_target_cluster():
    texts = ["a b a b a b", "b a b a", "c d c d c d", "d c d c"]
    proxy = TorchProxy(texts, [0, 0, 1, 1], ["a b a b"], n_tokens=40, steps=40, batch_size=16)
    good = proxy([1.0, 0.0], seed=0)
    assert good < proxy([0.0, 1.0], seed=0)
    assert good != proxy([1.0, 0.0], seed=1)
    assert good == proxy([1.0, 0.0], seed=0)
