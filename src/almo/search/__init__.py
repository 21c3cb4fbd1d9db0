"""Data-mixture search over the clusters of a corpus (CLIMB), its peers, and the agnostic search.

Phase 1 (:mod:`~almo.search.cluster`) embeds and clusters documents into sources; phase 2
(:mod:`~almo.search.climb`) searches their mixture weights with proxy runs
(:mod:`~almo.search.proxies`) and a predictor. :mod:`~almo.search.baselines` holds the peers
at the same budget (uniform, token-proportional, random search, RegMix, DoReMi),
:mod:`~almo.search.study` runs them side by side, :mod:`~almo.search.agnostic` searches the
worst case over a mixture set of targets, and :mod:`~almo.search.corpus` draws a synthetic
corpus whose best mixture is known.

Examples
--------
>>> from almo.search import NGramProxy, climb, cluster_documents, make_corpus
>>> corpus = make_corpus(n_docs=300, n_topics=3, seed=0)
>>> clusters = cluster_documents(corpus.documents, 4, quality="heuristic", seed=0)
>>> proxy = NGramProxy(corpus.documents, clusters.labels, corpus.target, n_tokens=2000)
>>> result = climb(proxy, clusters.shares, budget=14, seed=0)
>>> result.proxy_calls
14
"""

from almo.search.agnostic import AgnosticReport, agnostic_search
from almo.search.baselines import doremi, fixed_mixture, random_search, regmix
from almo.search.climb import (
    SearchResult,
    climb,
    dirichlet_alpha,
    make_predictor,
    run_proxies,
    split_budget,
)
from almo.search.cluster import Clusters, cluster_documents, embed, quality_heuristic
from almo.search.corpus import SyntheticCorpus, make_corpus
from almo.search.proxies import NGramProxy, SourceData, TorchProxy
from almo.search.study import METHODS, SearchReport, compare_methods

__all__ = [
    "METHODS",
    "AgnosticReport",
    "Clusters",
    "NGramProxy",
    "SearchReport",
    "SearchResult",
    "SourceData",
    "SyntheticCorpus",
    "TorchProxy",
    "agnostic_search",
    "climb",
    "cluster_documents",
    "compare_methods",
    "dirichlet_alpha",
    "doremi",
    "embed",
    "fixed_mixture",
    "make_corpus",
    "make_predictor",
    "quality_heuristic",
    "random_search",
    "regmix",
    "run_proxies",
    "split_budget",
]
