"""Phase 1: documents → embeddings → k-means clusters → pruned and merged sources.

CLIMB (Diao et al. 2025) embeds documents, clusters them with k-means, drops low-quality
clusters and merges clusters whose centroids are close; the clusters that remain are the sources
whose mixture weights phase 2 searches. Here:

- **embed**: TF-IDF then a truncated SVD (latent semantic analysis), rows scaled to unit length,
  by default; any feature matrix (n_docs, d) or embedding callable ``texts -> (n_docs, d)`` is
  accepted instead;
- **k-means** (scikit-learn) into ``n_clusters``;
- **pruning** (optional): a quality score per document — a callable ``text -> float`` or the
  built-in :func:`quality_heuristic` — averaged per cluster; clusters below ``min_quality`` are
  dropped (their documents get label -1);
- **merging** (optional): clusters whose centroids lie within ``merge_distance`` (Euclidean, in
  the embedding) are joined, transitively.

The result reports each cluster's documents, tokens, token share, mean quality and top terms
(highest mean TF-IDF).

Examples
--------
>>> from almo.search.corpus import make_corpus
>>> corpus = make_corpus(n_docs=300, n_topics=3, seed=0)
>>> clusters = cluster_documents(corpus.documents, 6, quality="heuristic", seed=0)
>>> clusters.k <= 6, len(clusters.pruned) >= 1  # the junk clusters are gone
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from almo._validation import check_integer, check_number, fail
from almo.search.corpus import STOP_WORDS

__all__ = ["Clusters", "check_texts", "cluster_documents", "embed", "quality_heuristic"]

Embedder = Callable[[Sequence[str]], Any]


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """A non-empty list of strings with at least one token each, or the standard error."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise fail(
            name, "be a sequence of documents (strings)", type(texts).__name__, "pass a list of str"
        )
    if len(texts) == 0:
        raise fail(
            name,
            "hold at least one document",
            "an empty corpus",
            "pass a non-empty list of documents",
        )
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.split():
            raise fail(
                name,
                "hold non-empty strings",
                f"document {i}: {t!r}",
                "drop empty documents before searching",
            )
    return list(texts)


def quality_heuristic(text: str) -> float:
    """A quality score in [0, 1] in the spirit of web-text filters (Gopher's rules).

    Half of the score is for not repeating oneself (the share of distinct tokens, full marks
    from 0.3 up), half for using ordinary function words (the share of stop words, full marks
    from 0.1 up): spam repeats a phrase, gibberish has no stop words.

    Examples
    --------
    >>> quality_heuristic("the cat sat on the mat and the dog sat in the hall")
    1.0
    >>> round(quality_heuristic("buy now buy now buy now buy now buy now"), 3)
    0.333
    """
    tokens = text.split()
    if not tokens:
        return 0.0
    distinct = len(set(tokens)) / len(tokens)
    stop = sum(t.lower() in STOP_WORDS for t in tokens) / len(tokens)
    return 0.5 * min(distinct / 0.3, 1.0) + 0.5 * min(stop / 0.1, 1.0)


def _tfidf(texts: list[str]) -> tuple[Any, np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)
    try:
        matrix = vec.fit_transform(texts)
    except ValueError as err:  # an empty vocabulary
        raise fail(
            "texts",
            "hold words TF-IDF can index",
            str(err),
            "pass documents with word tokens, or a feature matrix",
        ) from None
    return matrix, np.asarray(vec.get_feature_names_out())


def embed(texts: Sequence[str], n_components: int = 64, seed: int = 0) -> np.ndarray:
    """TF-IDF + truncated SVD embeddings (n_docs, d), rows of unit length.

    ``d = min(n_components, n_terms - 1, n_docs - 1)`` (the raw TF-IDF rows when that is < 1).

    Examples
    --------
    >>> X = embed(["a b c", "a b d", "x y z"], n_components=2)
    >>> X.shape, np.allclose(np.linalg.norm(X, axis=1), 1)
    ((3, 2), True)
    """
    texts = check_texts(texts)
    n_components = check_integer("n_components", n_components, "pass e.g. n_components=64")
    matrix, _ = _tfidf(texts)
    d = min(n_components, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if d < 1:
        X = matrix.toarray()
    else:
        from sklearn.decomposition import TruncatedSVD

        X = TruncatedSVD(d, random_state=seed).fit_transform(matrix)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.asarray(X / np.where(norms > 0, norms, 1.0))


@dataclass
class Clusters:
    """The sources phase 2 searches: clusters after pruning and merging.

    Attributes
    ----------
    labels : ndarray of int, shape (n_docs,)
        Each document's cluster in 0..k-1; -1 for documents of pruned clusters.
    k : int
        Number of clusters kept.
    sizes, tokens : ndarray of int, shape (k,)
        Documents and tokens per cluster.
    shares : ndarray, shape (k,)
        Token shares (sum to 1): the centre of round 1's Dirichlet.
    quality : ndarray, shape (k,)
        Mean document quality per cluster (NaN without a quality score).
    top_terms : list of list of str
        The terms of highest mean TF-IDF in each cluster.
    merged_from : list of list of int
        The k-means clusters each cluster was merged from.
    pruned : list of dict
        The dropped k-means clusters: id, documents, quality, top terms.
    centroids : ndarray, shape (k, d)
        Mean embedding of each cluster.
    """

    labels: np.ndarray
    k: int
    sizes: np.ndarray
    tokens: np.ndarray
    shares: np.ndarray
    quality: np.ndarray
    top_terms: list[list[str]]
    merged_from: list[list[int]]
    pruned: list[dict[str, Any]] = field(default_factory=list)
    centroids: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def names(self) -> list[str]:
        """``"c0:t3w1/t3w7"``: the cluster id and its two top terms."""
        return [f"c{i}:{'/'.join(t[:2])}" for i, t in enumerate(self.top_terms)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no per-document labels)."""
        return {
            "k": self.k,
            "names": self.names,
            "sizes": self.sizes.tolist(),
            "tokens": self.tokens.tolist(),
            "shares": self.shares.tolist(),
            "quality": [None if np.isnan(q) else float(q) for q in self.quality],
            "top_terms": self.top_terms,
            "merged_from": self.merged_from,
            "pruned": self.pruned,
        }

    def table(self) -> str:
        """A markdown table: one row per cluster."""
        rows = [
            "| cluster | docs | tokens | share | quality | top terms |",
            "|---|---|---|---|---|---|",
        ]
        for i in range(self.k):
            q = "-" if np.isnan(self.quality[i]) else f"{self.quality[i]:.2f}"
            rows.append(
                f"| {i} | {self.sizes[i]} | {self.tokens[i]} | {self.shares[i]:.3f} | {q} | "
                f"{', '.join(self.top_terms[i])} |"
            )
        return "\n".join(rows)


def _features(texts: list[str], features: Any, n_components: int, seed: int) -> np.ndarray:
    if features is None:
        return embed(texts, n_components, seed)
    X = features(texts) if callable(features) else features
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise fail(
            "features",
            "be a numeric matrix (n_docs, d) or a callable returning one",
            type(X).__name__,
            "pass e.g. embed(texts)",
        ) from None
    if X.ndim != 2 or X.shape[0] != len(texts) or X.shape[1] < 1 or not np.isfinite(X).all():
        raise fail(
            "features",
            f"be a finite matrix with one row per document ({len(texts)})",
            f"shape {X.shape}",
            "pass one embedding row per document",
        )
    return X


def _merge(centroids: np.ndarray, distance: float) -> list[list[int]]:
    """Groups of cluster ids joined transitively when their centroids are within ``distance``."""
    k = len(centroids)
    parent = list(range(k))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    d = np.linalg.norm(centroids[:, None, :] - centroids[None, :, :], axis=2)
    for i, j in zip(*np.nonzero(np.triu(d <= distance, 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(k):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _score(score: Callable[[str], float], text: str) -> float:
    """One document's quality as a float; a score that is not a real number names ``quality``."""
    value = score(text)
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise fail(
            "quality",
            "return a real number for every document",
            value,
            "make the callable return a float score, e.g. quality_heuristic(text)",
        ) from None


def cluster_documents(
    texts: Sequence[str],
    n_clusters: int = 16,
    *,
    features: np.ndarray | Embedder | None = None,
    n_components: int = 64,
    quality: str | Callable[[str], float] | None = None,
    min_quality: float = 0.5,
    merge_distance: float = 0.0,
    n_top_terms: int = 5,
    seed: int = 0,
) -> Clusters:
    """Cluster documents into the sources of a mixture search (phase 1 of CLIMB).

    Parameters
    ----------
    texts : sequence of str
        The documents (space-separated tokens).
    n_clusters : int
        K of k-means, at most the number of documents.
    features : array (n_docs, d) or callable, optional
        Embeddings, or ``texts -> embeddings``; default :func:`embed` (TF-IDF + SVD).
    n_components : int
        SVD dimensions of the default embedding.
    quality : "heuristic" or callable, optional
        Per-document quality score; clusters whose mean is below ``min_quality`` are pruned.
        None keeps every cluster.
    min_quality : float
        The pruning threshold.
    merge_distance : float
        Join clusters whose centroids are within this distance (0: no merging).
    n_top_terms : int
        Top terms reported per cluster.
    seed : int
        Seeds the SVD and k-means.

    Returns
    -------
    Clusters

    Examples
    --------
    >>> texts = ["a b a b", "a a b b", "x y x y", "y y x x"]
    >>> c = cluster_documents(texts, 2, features=[[1, 0], [1, 0.1], [0, 1], [0.1, 1]])
    >>> c.labels.tolist(), c.sizes.tolist(), c.shares.tolist()
    ([0, 0, 1, 1], [2, 2], [0.5, 0.5])
    >>> cluster_documents(texts, 5)
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `n_clusters` must be at most the number of documents (4)...
    """
    texts = check_texts(texts)
    n = len(texts)
    k = check_integer("n_clusters", n_clusters, "pass e.g. n_clusters=16")
    if k > n:
        raise fail(
            "n_clusters",
            f"be at most the number of documents ({n})",
            k,
            f"pass n_clusters <= {n}, or add documents",
        )
    seed = check_integer("seed", seed, "pass e.g. seed=0", low=0)
    merge_distance = check_number("merge_distance", merge_distance, "pass e.g. 0.3", low=0)
    n_top = check_integer("n_top_terms", n_top_terms, "pass e.g. n_top_terms=5")
    if quality is not None and quality != "heuristic" and not callable(quality):
        raise fail(
            "quality",
            "be None, 'heuristic' or a callable text -> float",
            quality,
            "pass quality='heuristic'",
        )
    min_quality = check_number("min_quality", min_quality, "pass e.g. min_quality=0.5")
    X = _features(texts, features, n_components, seed)
    from sklearn.cluster import KMeans

    raw = KMeans(k, n_init=3, random_state=seed).fit_predict(X)
    tfidf, terms = _tfidf(texts)
    n_tokens = np.array([len(t.split()) for t in texts])
    if quality is None:
        doc_q = np.full(n, np.nan)
    else:
        score = quality_heuristic if isinstance(quality, str) else quality
        doc_q = np.array([_score(score, t) for t in texts])
        if not np.isfinite(doc_q).all():
            raise fail(
                "quality",
                "return finite scores",
                doc_q[~np.isfinite(doc_q)][:3],
                "make the callable return a real number for every document",
            )

    def top(mask: np.ndarray) -> list[str]:
        mean = np.asarray(tfidf[mask].mean(axis=0)).ravel()
        return [str(terms[i]) for i in np.argsort(-mean, kind="stable")[:n_top]]

    ids = [c for c in range(k) if np.any(raw == c)]
    pruned, kept = [], []
    for c in ids:
        q = float(doc_q[raw == c].mean())
        if quality is not None and q < min_quality:
            pruned.append(
                {
                    "kmeans_id": c,
                    "documents": int((raw == c).sum()),
                    "quality": q,
                    "top_terms": top(raw == c),
                }
            )
        else:
            kept.append(c)
    if not kept:
        raise fail(
            "min_quality",
            "leave at least one cluster",
            min_quality,
            "lower min_quality, or pass quality=None",
        )
    centroids = np.stack([X[raw == c].mean(axis=0) for c in kept])
    groups = (
        _merge(centroids, merge_distance) if merge_distance > 0 else [[i] for i in range(len(kept))]
    )
    # Clusters are numbered in the order their first document appears: stable across seeds
    # of k-means that find the same partition.
    first = {c: int(np.argmax(raw == c)) for c in kept}
    groups.sort(key=lambda g: min(first[kept[i]] for i in g))
    labels = np.full(n, -1, dtype=np.int64)
    merged_from = []
    for new, group in enumerate(groups):
        members = [kept[i] for i in group]
        labels[np.isin(raw, members)] = new
        merged_from.append(members)
    kk = len(groups)
    sizes = np.bincount(labels[labels >= 0], minlength=kk)
    tokens = np.bincount(labels[labels >= 0], weights=n_tokens[labels >= 0], minlength=kk)
    tokens = tokens.astype(np.int64)
    return Clusters(
        labels=labels,
        k=kk,
        sizes=sizes,
        tokens=tokens,
        shares=tokens / tokens.sum(),
        quality=np.array([doc_q[labels == c].mean() for c in range(kk)]),
        top_terms=[top(labels == c) for c in range(kk)],
        merged_from=merged_from,
        pruned=pruned,
        centroids=np.stack([X[labels == c].mean(axis=0) for c in range(kk)]),
    )
