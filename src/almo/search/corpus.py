"""A synthetic corpus with latent topics, low-quality documents and a known target mixture.

Each of T topics is its own token distribution: a first-order Markov chain over a vocabulary of
shared stop words and the topic's own words (``t3w12`` is word 12 of topic 3). Next to the
topical documents the corpus holds injected low-quality documents: *spam* (one short phrase
repeated) and *gibberish* (random junk tokens ``zq17``, no stop words). The target task is a set
of documents drawn from a known mixture π of the topics, so the best training mixture is known:
the clusters that hold the target's topics, in proportions π, and nothing on the junk.

Documents are strings of space-separated tokens, as a real corpus would give them; clustering
(:mod:`almo.search.cluster`) and the proxies (:mod:`almo.search.proxies`) read only the text.

Examples
--------
>>> corpus = make_corpus(n_docs=200, n_topics=4, seed=0)
>>> len(corpus.documents), corpus.topics.shape, corpus.target_mixture.round(2).tolist()
(200, (200,), [0.0, 0.0, 0.6, 0.4])
>>> int((corpus.topics < 0).sum())  # the injected low-quality documents
20
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from almo._validation import check_integer, check_number, fail

__all__ = ["STOP_WORDS", "SyntheticCorpus", "make_corpus", "sample_documents"]

#: Shared function words: every topical document uses them, junk never does.
STOP_WORDS = ("the", "of", "and", "to", "in", "is", "that", "for", "on", "with")
#: Share of stop words among a topical document's tokens.
STOP_SHARE = 0.3
#: Number of distinct junk tokens gibberish documents draw from.
JUNK_VOCAB = 200


@dataclass(frozen=True)
class SyntheticCorpus:
    """A corpus whose best training mixture for its target is known.

    Attributes
    ----------
    documents : list of str
        The training documents (topical and low-quality, shuffled).
    topics : ndarray of int, shape (n_docs,)
        Each document's topic; -1 for spam, -2 for gibberish.
    target : list of str
        The target task's documents, drawn from ``target_mixture`` over the topics.
    target_mixture : ndarray, shape (T,)
        π: the target's share of each topic.
    topic_shares : ndarray, shape (T,)
        Each topic's share of the topical training documents.
    transitions : ndarray, shape (T, V + 1, V)
        Each topic's next-token table over ``vocabulary`` (row V is the start of a document).
    vocabulary : list of str
        Stop words, then each topic's words (junk tokens are not in it).
    seed : int
        The seed the corpus was drawn with.
    """

    documents: list[str]
    topics: np.ndarray
    target: list[str]
    target_mixture: np.ndarray
    topic_shares: np.ndarray
    transitions: np.ndarray
    vocabulary: list[str]
    doc_length: int
    seed: int

    @property
    def n_topics(self) -> int:
        """T, the number of latent topics."""
        return int(self.target_mixture.size)

    def topic_targets(self, n_docs: int = 100, seed: int = 0) -> list[list[str]]:
        """One target set per topic (``n_docs`` documents each): the agnostic search's targets.

        Examples
        --------
        >>> corpus = make_corpus(n_docs=60, n_topics=3, seed=0)
        >>> [len(t) for t in corpus.topic_targets(5)]
        [5, 5, 5]
        """
        n_docs = check_integer("n_docs", n_docs, "pass e.g. n_docs=100")
        rng = np.random.default_rng([self.seed, 7, seed])
        return [
            sample_documents(self.transitions[t], self.vocabulary, n_docs, self.doc_length, rng)
            for t in range(self.n_topics)
        ]

    def mixture_target(self, mixture: np.ndarray, n_docs: int = 200, seed: int = 0) -> list[str]:
        """A target set of ``n_docs`` documents drawn from ``mixture`` over the topics."""
        try:
            mixture = np.asarray(mixture, dtype=float)
        except (TypeError, ValueError):
            raise fail(
                "mixture",
                f"be {self.n_topics} non-negative finite topic weights",
                mixture,
                "pass e.g. corpus.target_mixture",
            ) from None
        if (
            mixture.shape != (self.n_topics,)
            or not np.isfinite(mixture).all()
            or np.any(mixture < 0)
            or mixture.sum() <= 0
        ):
            raise fail(
                "mixture",
                f"be {self.n_topics} non-negative finite topic weights with a positive sum",
                mixture,
                "pass e.g. corpus.target_mixture",
            )
        n_docs = check_integer("n_docs", n_docs, "pass e.g. n_docs=200")
        rng = np.random.default_rng([self.seed, 11, seed])
        return _mixture_docs(self, mixture / mixture.sum(), n_docs, rng)


def _topic_table(
    topic: int, n_topics: int, words: int, concentration: float, rng: np.random.Generator
) -> np.ndarray:
    """Topic ``topic``'s next-token table (V + 1, V): stop words, then its own words."""
    n_stop = len(STOP_WORDS)
    v = n_stop + n_topics * words
    table = np.zeros((v + 1, v))
    own = slice(n_stop + topic * words, n_stop + (topic + 1) * words)
    # Each previous token has its own sparse row over the topic's words (Markov structure that
    # an order-2 model can learn), mixed with a fixed stop-word distribution.
    table[:, own] = (1 - STOP_SHARE) * rng.dirichlet(np.full(words, concentration), size=v + 1)
    table[:, :n_stop] = STOP_SHARE * rng.dirichlet(np.full(n_stop, 2.0))
    return table


def sample_documents(
    table: np.ndarray,
    vocabulary: list[str],
    n_docs: int,
    length: int,
    rng: np.random.Generator,
) -> list[str]:
    """``n_docs`` documents from the Markov chain ``table`` (V + 1, V); lengths ~ 5 + Poisson.

    Examples
    --------
    >>> table = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # a b a b ... from the start
    >>> sample_documents(table, ["a", "b"], 1, 4, np.random.default_rng(0))[0].split()[:4]
    ['a', 'b', 'a', 'b']
    """
    v = table.shape[1]
    if n_docs == 0:
        return []
    lengths = 5 + rng.poisson(max(length - 5, 0), size=n_docs)
    cdf = np.cumsum(table, axis=1)
    cdf /= cdf[:, -1:]
    tokens = np.empty((n_docs, int(lengths.max())), dtype=np.int64)
    prev = np.full(n_docs, v)
    for j in range(tokens.shape[1]):
        u = rng.random(n_docs)
        nxt = np.minimum((cdf[prev] < u[:, None]).sum(axis=1), v - 1)
        tokens[:, j] = nxt
        prev = nxt
    words = np.asarray(vocabulary)
    return [" ".join(words[tokens[i, : lengths[i]]]) for i in range(n_docs)]


def _mixture_docs(
    corpus: SyntheticCorpus, mixture: np.ndarray, n_docs: int, rng: np.random.Generator
) -> list[str]:
    counts = rng.multinomial(n_docs, mixture)
    docs: list[str] = []
    for t, c in enumerate(counts):
        if c:
            docs += sample_documents(
                corpus.transitions[t], corpus.vocabulary, int(c), corpus.doc_length, rng
            )
    order = rng.permutation(len(docs))
    return [docs[i] for i in order]


def _low_quality(n: int, length: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Spam (a short phrase repeated, kind -1) and gibberish (junk tokens, kind -2)."""
    docs, kinds = [], np.empty(n, dtype=np.int64)
    for i in range(n):
        size = 5 + int(rng.poisson(max(length - 5, 0)))
        if i % 2 == 0:
            phrase = [f"zq{k}" for k in rng.integers(0, JUNK_VOCAB, size=3)]
            docs.append(" ".join((phrase * size)[:size]))
            kinds[i] = -1
        else:
            docs.append(" ".join(f"zq{k}" for k in rng.integers(0, JUNK_VOCAB, size=size)))
            kinds[i] = -2
    return docs, kinds


def _default_target(n_topics: int) -> np.ndarray:
    """π: the two (or three) least frequent topics, so token shares are a poor guess."""
    pi = np.zeros(n_topics)
    if n_topics == 1:
        pi[0] = 1.0
    elif n_topics < 6:
        pi[-2:] = [0.6, 0.4]
    else:
        pi[-3:] = [0.5, 0.3, 0.2]
    return pi


def _topic_counts(shares: np.ndarray, n_good: int) -> np.ndarray:
    """Topical documents per topic: floors of ``shares * n_good``, the rest to earlier topics."""
    counts = np.floor(shares * n_good).astype(int)
    counts[: n_good - counts.sum()] += 1
    return counts


def _docs_needed(shares: np.ndarray, low_quality: float) -> int:
    """The smallest ``n_docs`` that leaves every topic at least one topical document."""
    good = shares.size
    while _topic_counts(shares, good).min() < 1:
        good += 1
    # n - round(low_quality * n) grows by 0 or 1 per document and is <= n (1 - low_quality) + 1/2.
    n = max(good, int((good - 0.5) / (1 - low_quality)) - 1)
    while n - round(low_quality * n) < good:
        n += 1
    return n


def make_corpus(
    n_docs: int = 2000,
    n_topics: int = 8,
    words_per_topic: int = 30,
    doc_length: int = 40,
    low_quality: float = 0.1,
    target_mixture: np.ndarray | None = None,
    n_target_docs: int = 200,
    concentration: float = 0.3,
    seed: int = 0,
) -> SyntheticCorpus:
    """Draw a synthetic corpus with latent topics, junk documents and a known target mixture.

    Parameters
    ----------
    n_docs : int
        Training documents in all (topical and low-quality).
    n_topics : int
        T, the latent topics.
    words_per_topic : int
        Each topic's own words (next to the shared stop words).
    doc_length : int
        Mean tokens per document (at least 5).
    low_quality : float in [0, 1)
        Share of injected low-quality documents (half spam, half gibberish).
    target_mixture : array of shape (T,), optional
        π, the target's topic mixture; default 0.5/0.3/0.2 on the three least frequent topics
        (0.6/0.4 on the last two when T < 6).
    n_target_docs : int
        Documents of the target set.
    concentration : float
        Dirichlet concentration of each topic's next-token rows (smaller: more predictable).
    seed : int
        Seeds everything.

    Returns
    -------
    SyntheticCorpus

    Examples
    --------
    >>> corpus = make_corpus(n_docs=100, n_topics=3, low_quality=0.0, seed=1)
    >>> sorted(set(corpus.topics.tolist())), corpus.topic_shares.round(2).tolist()
    ([0, 1, 2], [0.55, 0.27, 0.18])
    """
    n_docs = check_integer("n_docs", n_docs, "pass e.g. n_docs=2000")
    n_topics = check_integer("n_topics", n_topics, "pass e.g. n_topics=8")
    words = check_integer("words_per_topic", words_per_topic, "pass e.g. words_per_topic=30", low=2)
    doc_length = check_integer("doc_length", doc_length, "pass e.g. doc_length=40", low=5)
    low_quality = check_number(
        "low_quality", low_quality, "pass e.g. low_quality=0.1", low=0, high=1, high_open=True
    )
    n_target = check_integer("n_target_docs", n_target_docs, "pass e.g. n_target_docs=200")
    concentration = check_number(
        "concentration", concentration, "pass e.g. concentration=0.3", low=0, low_open=True
    )
    seed = check_integer("seed", seed, "pass e.g. seed=0", low=0)
    if target_mixture is None:
        pi = _default_target(n_topics)
    else:
        pi = np.asarray(target_mixture, dtype=float)
        if pi.shape != (n_topics,) or np.any(pi < 0) or not np.isfinite(pi).all() or pi.sum() <= 0:
            raise fail(
                "target_mixture",
                f"be {n_topics} non-negative finite topic weights with a positive sum",
                target_mixture,
                "pass e.g. np.ones(n_topics) / n_topics",
            )
        pi = pi / pi.sum()
    # Topic shares decay as 1, 1/2, 1/3, ... (normalized): unequal on purpose.
    shares = 1.0 / np.arange(1, n_topics + 1)
    shares /= shares.sum()
    n_good = n_docs - round(low_quality * n_docs)
    counts = _topic_counts(shares, n_good)
    if counts.min() < 1:
        need = _docs_needed(shares, low_quality)
        raise fail(
            "n_docs",
            f"leave every one of the {n_topics} topics at least one document (topics share "
            "the documents 1 : 1/2 : ... : 1/T, after the low-quality ones)",
            n_docs,
            f"pass n_docs >= {need}, fewer n_topics, or a lower low_quality",
        )
    rng = np.random.default_rng(seed)
    vocabulary = list(STOP_WORDS) + [f"t{t}w{j}" for t in range(n_topics) for j in range(words)]
    tables = np.stack(
        [_topic_table(t, n_topics, words, concentration, rng) for t in range(n_topics)]
    )
    n_bad = n_docs - n_good
    docs: list[str] = []
    topics: list[int] = []
    for t in range(n_topics):
        docs += sample_documents(tables[t], vocabulary, int(counts[t]), doc_length, rng)
        topics += [t] * int(counts[t])
    bad_docs, kinds = _low_quality(n_bad, doc_length, rng)
    docs += bad_docs
    topic_arr = np.concatenate([np.asarray(topics, dtype=np.int64), kinds])
    order = rng.permutation(len(docs))
    corpus = SyntheticCorpus(
        documents=[docs[i] for i in order],
        topics=topic_arr[order],
        target=[],
        target_mixture=pi,
        topic_shares=counts / max(n_good, 1),
        transitions=tables,
        vocabulary=vocabulary,
        doc_length=doc_length,
        seed=seed,
    )
    target = _mixture_docs(corpus, pi, n_target, np.random.default_rng([seed, 3]))
    object.__setattr__(corpus, "target", target)
    return corpus
