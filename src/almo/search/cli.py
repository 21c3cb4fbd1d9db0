"""``almo search``: cluster a corpus, search its mixture weights, compare with the peers.

Examples::

    almo search --out search-out                       # the synthetic corpus, every method
    almo search --budget 56 --methods climb,random,uniform --n-jobs 2 --agnostic --out out
    almo search --texts corpus.txt --target target.txt --clusters 20 --out out

Without ``--texts`` the built-in synthetic corpus is used (latent topics, injected low-quality
documents, a target that is a known topic mixture), so each method's regret is known. With
``--texts FILE`` (one document per line) and ``--target FILE`` the user's corpus is clustered and
searched; no optimum is known then. The command prints the clusters, the methods' table (and,
with ``--agnostic``, the worst case over the topics' targets of the agnostic, uniform-target and
single-target searches), and writes to ``--out``: ``search.json``, ``progress.png``,
``predicted.png`` and ``weights.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from almo._cli import check_writable_dir
from almo._validation import check_integer, check_number, fail
from almo.exceptions import ALMOValueError

__all__ = ["add_parser", "check_args", "run"]

METHOD_NAMES = ("climb", "uniform", "proportional", "random", "regmix", "doremi")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``search`` and its arguments on ``subparsers``; returns the parser.

    Examples
    --------
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> args = add_parser(sub).parse_args(["--budget", "28"])
    >>> args.budget, args.rounds, args.methods
    (28, '4,2,1', 'climb,uniform,proportional,random,regmix,doremi')
    """
    p = subparsers.add_parser(
        "search",
        help="search the mixture weights of a corpus's clusters (CLIMB) against its peers",
        description="Cluster documents (TF-IDF + SVD, k-means, quality pruning, merging), then "
        "search the clusters' mixture weights with proxy runs and a predictor (CLIMB), next to "
        "uniform, token-proportional, random search, RegMix and DoReMi at the same budget.",
    )
    data = p.add_argument_group("corpus")
    data.add_argument(
        "--texts",
        type=Path,
        help="training documents, one per line (default: the built-in synthetic corpus)",
    )
    data.add_argument(
        "--target", type=Path, help="target documents, one per line (required with --texts)"
    )
    data.add_argument("--docs", type=int, default=2000, help="synthetic corpus: documents")
    data.add_argument("--topics", type=int, default=8, help="synthetic corpus: latent topics")
    data.add_argument(
        "--low-quality",
        type=float,
        default=0.1,
        help="synthetic corpus: share of injected low-quality documents",
    )
    clu = p.add_argument_group("phase 1: clusters")
    clu.add_argument("--clusters", type=int, default=16, help="k of k-means")
    clu.add_argument(
        "--quality",
        choices=("heuristic", "none"),
        default="heuristic",
        help="prune clusters by the built-in quality score, or keep all",
    )
    clu.add_argument(
        "--min-quality",
        type=float,
        default=0.5,
        help="prune clusters whose mean quality is below this",
    )
    clu.add_argument(
        "--merge-distance",
        type=float,
        default=0.0,
        help="merge clusters whose centroids are this close (0: no merging)",
    )
    srch = p.add_argument_group("phase 2: search")
    srch.add_argument(
        "--proxy",
        choices=("ngram", "torch"),
        default="ngram",
        help="the proxy model trained on each mixture",
    )
    srch.add_argument(
        "--proxy-tokens", type=int, default=5000, help="training tokens of each proxy run"
    )
    srch.add_argument("--budget", type=int, default=112, help="proxy runs of each search")
    srch.add_argument("--rounds", default="4,2,1", help="ratios of the budget per round")
    srch.add_argument(
        "--concentration",
        type=float,
        default=1.0,
        help="Dirichlet concentration around the token shares",
    )
    srch.add_argument(
        "--candidates",
        type=int,
        default=10000,
        help="Dirichlet candidates the predictor scores per round",
    )
    srch.add_argument(
        "--predictor",
        choices=("hgb", "lightgbm"),
        default="hgb",
        help="HistGradientBoostingRegressor, or LightGBM when installed",
    )
    srch.add_argument(
        "--methods", default=",".join(METHOD_NAMES), help="comma-separated methods to run"
    )
    srch.add_argument(
        "--agnostic",
        action="store_true",
        help="also search the worst case over the topics' targets (synthetic corpus only)",
    )
    p.add_argument("--n-jobs", type=int, default=1, help="joblib workers for the proxy runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the corpus, clusters and search")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("search-out"),
        help="folder for search.json and the figures",
    )
    p.add_argument("--json", action="store_true", help="print the JSON instead of the tables")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(
        func=run,
        flag_aliases={
            "n_clusters": "--clusters",
            "budget": "--budget",
            "n_tokens": "--proxy-tokens",
            "texts": "--texts",
        },
    )
    return p


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METHOD_NAMES]
    if not names or bad:
        raise fail(
            "--methods",
            f"be a comma-separated list from {','.join(METHOD_NAMES)}",
            text,
            "pass e.g. --methods climb,uniform,random",
        )
    return list(dict.fromkeys(names))


def _rounds(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise fail(
            "--rounds", "be comma-separated positive ratios", text, "pass e.g. --rounds 4,2,1"
        )
    return values


def check_args(args: argparse.Namespace) -> None:
    """Check the flags of ``almo search`` before any work; errors name the flag.

    Examples
    --------
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> check_args(add_parser(sub).parse_args(["--budget", "0"]))
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `--budget` must be an integer >= 1; found 0. Fix: ...
    """
    check_integer("--budget", args.budget, "pass e.g. --budget 112")
    rounds = _rounds(args.rounds)
    if args.budget < len(rounds):
        raise fail(
            "--budget",
            f"be at least the number of rounds ({len(rounds)})",
            args.budget,
            f"pass --budget {max(len(rounds), 7)} or more",
        )
    _methods(args.methods)
    check_integer("--docs", args.docs, "pass e.g. --docs 2000", low=10)
    check_integer("--topics", args.topics, "pass e.g. --topics 8", low=2)
    check_number(
        "--low-quality",
        args.low_quality,
        "pass e.g. --low-quality 0.1",
        low=0,
        high=1,
        high_open=True,
    )
    check_integer("--clusters", args.clusters, "pass e.g. --clusters 16")
    check_number("--min-quality", args.min_quality, "pass e.g. --min-quality 0.5")
    check_number("--merge-distance", args.merge_distance, "pass e.g. --merge-distance 0.3", low=0)
    check_integer("--proxy-tokens", args.proxy_tokens, "pass e.g. --proxy-tokens 5000")
    check_number(
        "--concentration", args.concentration, "pass e.g. --concentration 1", low=0, low_open=True
    )
    check_integer("--candidates", args.candidates, "pass e.g. --candidates 10000")
    if args.n_jobs == 0:
        raise fail(
            "--n-jobs",
            "be a non-zero integer (joblib's: -1 for all cores)",
            0,
            "pass e.g. --n-jobs 1",
        )
    check_integer("--seed", args.seed, "pass e.g. --seed 0", low=0)
    if (args.texts is None) != (args.target is None):
        raise fail(
            "--target" if args.texts is not None else "--texts",
            "be given together with the other (--texts and --target)",
            None,
            "pass both --texts FILE and --target FILE, or neither",
        )
    if args.agnostic and args.texts is not None:
        raise fail(
            "--agnostic",
            "be used with the synthetic corpus (its topics are the targets)",
            str(args.texts),
            "drop --agnostic, or --texts",
        )
    for flag, path in (("--texts", args.texts), ("--target", args.target)):
        if path is not None and not Path(path).is_file():
            raise fail(
                flag,
                "name a readable text file (one document per line)",
                str(path),
                f"pass an existing file to {flag}",
            )
    check_writable_dir("--out", args.out)


def _read(flag: str, path: Path) -> list[str]:
    docs = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not docs:
        raise fail(
            flag,
            "hold at least one non-empty line (a document)",
            str(path),
            "pass a file with one document per line",
        )
    return docs


def run(args: argparse.Namespace) -> int:
    """Run ``almo search`` with parsed arguments; prints the tables, returns 0."""
    check_args(args)
    import matplotlib

    matplotlib.use("Agg")  # files only
    from almo.search.agnostic import agnostic_search
    from almo.search.cluster import cluster_documents
    from almo.search.corpus import make_corpus
    from almo.search.plots import save_figures
    from almo.search.proxies import NGramProxy, TorchProxy
    from almo.search.study import compare_methods

    verbose = not args.quiet
    corpus = None
    if args.texts is not None:
        texts, target = _read("--texts", args.texts), _read("--target", args.target)
    else:
        corpus = make_corpus(args.docs, args.topics, low_quality=args.low_quality, seed=args.seed)
        texts, target = corpus.documents, corpus.target
    if args.clusters > len(texts):
        raise fail(
            "--clusters",
            f"be at most the number of documents ({len(texts)})",
            args.clusters,
            f"pass --clusters {min(16, len(texts))}",
        )
    try:
        clusters = cluster_documents(
            texts,
            args.clusters,
            quality=None if args.quality == "none" else "heuristic",
            min_quality=args.min_quality,
            merge_distance=args.merge_distance,
            seed=args.seed,
        )
    except ALMOValueError as err:
        if not str(err).startswith("`min_quality`"):
            raise
        raise fail(
            "--min-quality",
            "leave at least one cluster (clusters whose mean quality is below it are pruned)",
            args.min_quality,
            "lower --min-quality, or pass --quality none",
        ) from None
    ngram = NGramProxy(texts, clusters.labels, target, n_tokens=args.proxy_tokens)
    proxy: Any = (
        ngram
        if args.proxy == "ngram"
        else TorchProxy(texts, clusters.labels, target, n_tokens=args.proxy_tokens)
    )
    optimum = ngram.optimum() if corpus is not None else None
    report, results = compare_methods(
        proxy,
        clusters.shares,
        args.budget,
        methods=_methods(args.methods),
        evaluate=ngram.large_loss,
        optimum=optimum,
        doremi_data=(texts, clusters.labels),
        doremi_options={"n_tokens": args.proxy_tokens},
        rounds=_rounds(args.rounds),
        concentration=args.concentration,
        n_candidates=args.candidates,
        predictor=args.predictor,
        n_jobs=args.n_jobs,
        seed=args.seed,
        verbose=verbose,
    )
    report.clusters = clusters.to_dict()
    report.settings.update(
        proxy=args.proxy,
        proxy_tokens=args.proxy_tokens,
        corpus="synthetic" if corpus is not None else str(args.texts),
    )
    data = report.to_dict()
    if corpus is not None:
        data["corpus"] = {
            "documents": len(texts),
            "topics": corpus.n_topics,
            "target_mixture": corpus.target_mixture.tolist(),
            "low_quality": args.low_quality,
        }
    agnostic = None
    if args.agnostic and corpus is not None:
        from almo.mixtures import Simplex

        targets = corpus.topic_targets(100, seed=args.seed)
        multi = NGramProxy(texts, clusters.labels, targets, n_tokens=args.proxy_tokens)
        agnostic = agnostic_search(
            multi,
            clusters.shares,
            Simplex(len(targets)),
            args.budget,
            evaluate=multi.large_loss,
            target_names=[f"topic{t}" for t in range(len(targets))],
            rounds=_rounds(args.rounds),
            concentration=args.concentration,
            n_candidates=args.candidates,
            predictor=args.predictor,
            n_jobs=args.n_jobs,
            seed=args.seed,
            verbose=verbose,
        )
        data["agnostic"] = agnostic.to_dict()
    (args.out / "search.json").write_text(json.dumps(data, indent=1, default=float))
    save_figures(results, args.out, clusters.names, None if optimum is None else list(optimum[0]))
    if args.json:
        print(json.dumps(data, indent=1, default=float))
        return 0
    print(
        f"almo search — {len(texts)} documents, {clusters.k} clusters kept "
        f"({len(clusters.pruned)} pruned), budget {args.budget} proxy runs per method\n"
    )
    print(clusters.table())
    print()
    print(report.table())
    if report.optimum_loss is not None:
        print(f"\nregret against the best known larger-model target loss {report.optimum_loss:.4f}")
    if agnostic is not None:
        print("\nagnostic over the topics' targets (larger-model losses, Λ = the simplex):\n")
        print(agnostic.table())
    print(f"\nwrote {args.out / 'search.json'} and the figures in {args.out}")
    return 0
