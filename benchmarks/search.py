"""Mixture search: CLIMB against uniform, random search and the other peers at equal budget.

Setting: for each seed, a synthetic corpus (``almo.search.make_corpus``: 8 latent topics with
1/t shares, 10% injected spam and gibberish, a target that is 0.5/0.3/0.2 of the three rarest
topics), clustered with ``cluster_documents`` (TF-IDF + SVD, k-means k = 16, heuristic quality
pruning), the count-model proxy ``NGramProxy`` (a bigram model on 5,000 tokens of the λ-mixture,
scored on the target set) and its *larger model* (the same model on 100,000 expected tokens),
whose optimum over the simplex is computed (SLSQP, several starts). Every method gets the same
budget of proxy runs and the same per-run seeds (paired), and is judged by the regret of the
larger model trained on the λ it returns: its target loss minus the best known.

Reported: per method the mean regret over seeds; the paired differences CLIMB − uniform and
CLIMB − random search (mean, standard error over seeds, seeds where CLIMB is lower) and whether
the win exceeds the seed noise (mean difference below −2 standard errors); CLIMB's regret after
rounds 1, 2 and 3 and on how many seeds it shrank from round 1 to 3; the predictor's held-out
and cross-validated Spearman ρ.

Target (issue 14): CLIMB beats uniform and random search by more than the seed noise, and its
regret shrinks from round 1 to round 3. Where it does not, the table says so.

Usage: ``python benchmarks/search.py [--quick]`` (quick: 5 seeds, 1,000 documents, budget 56,
no DoReMi; full: 10 seeds, 2,000 documents, budget 112, with RegMix and DoReMi); writes
benchmarks/results/search.json (search_quick.json with ``--quick``) and prints the tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from almo.search import NGramProxy, cluster_documents, compare_methods, make_corpus


def one_seed(seed: int, docs: int, budget: int, methods: tuple[str, ...]) -> dict[str, Any]:
    corpus = make_corpus(n_docs=docs, n_topics=8, seed=seed)
    clusters = cluster_documents(corpus.documents, 16, quality="heuristic", seed=seed)
    proxy = NGramProxy(corpus.documents, clusters.labels, corpus.target, n_tokens=5000)
    optimum = proxy.optimum()
    started = time.perf_counter()
    report, _ = compare_methods(
        proxy,
        clusters.shares,
        budget,
        methods=methods,
        evaluate=proxy.large_loss,
        optimum=optimum,
        doremi_data=(corpus.documents, clusters.labels),
        doremi_options={"n_tokens": 5000, "steps": 300},
        seed=seed,
    )
    return {
        "seed": seed,
        "clusters": clusters.k,
        "pruned": len(clusters.pruned),
        "optimum_loss": report.optimum_loss,
        "seconds": time.perf_counter() - started,
        "methods": {
            r.method: {
                "regret": r.regret,
                "target_loss": r.target_loss,
                "regret_by_round": r.regret_by_round,
                "spearman_held_out": r.spearman_held_out,
                "spearman_cv": r.spearman_cv,
                "proxy_calls": r.proxy_calls,
            }
            for r in report.rows
        },
    }


def paired(runs: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    diffs = [r["methods"][a]["regret"] - r["methods"][b]["regret"] for r in runs]
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / np.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    return {
        "pair": f"{a} − {b}",
        "mean": mean,
        "se": se,
        "wins": sum(d < 0 for d in diffs),
        "seeds": len(diffs),
        "beyond_noise": bool(mean < -2 * se),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds, small corpus, budget 56")
    parser.add_argument("--seeds", type=int, default=None, help="number of paired seeds")
    args = parser.parse_args()
    seeds = args.seeds or (5 if args.quick else 10)
    docs, budget = (1000, 56) if args.quick else (2000, 112)
    methods = ("climb", "uniform", "proportional", "random", "regmix")
    if not args.quick:
        methods += ("doremi",)
    started = time.perf_counter()
    runs = [one_seed(s, docs, budget, methods) for s in range(seeds)]
    pairs = [
        paired(runs, "climb", "uniform"),
        paired(runs, "climb", "random"),
        paired(runs, "climb", "regmix"),
    ]
    rounds = np.array([r["methods"]["climb"]["regret_by_round"] for r in runs])
    shrank = int(np.sum(rounds[:, -1] < rounds[:, 0]))
    mean_regret = {m: statistics.fmean(r["methods"][m]["regret"] for r in runs) for m in methods}
    se_regret = {
        m: statistics.stdev(r["methods"][m]["regret"] for r in runs) / np.sqrt(seeds)
        for m in methods
    }
    rho_h = [r["methods"]["climb"]["spearman_held_out"] for r in runs]
    rho_cv = [r["methods"]["climb"]["spearman_cv"] for r in runs]

    print(
        f"## Mixture search — {seeds} paired seeds, {docs} documents, budget {budget} proxy "
        f"runs, regret of the larger model (nats per token)\n"
    )
    print("| method | proxy calls | mean regret | s.e. |\n|---|---|---|---|")
    for m in methods:
        print(
            f"| {m} | {runs[0]['methods'][m]['proxy_calls']} | {mean_regret[m]:.4f} | "
            f"{se_regret[m]:.4f} |"
        )
    print("\n| paired difference of regret | mean | s.e. | CLIMB lower on | beyond 2 s.e.? |")
    print("|---|---|---|---|---|")
    for p in pairs:
        print(
            f"| {p['pair']} | {p['mean']:+.4f} | {p['se']:.4f} | {p['wins']}/{p['seeds']} | "
            f"{'yes' if p['beyond_noise'] else 'NO'} |"
        )
    print("\n| CLIMB regret after round | 1 | 2 | 3 |\n|---|---|---|---|")
    print("| mean | " + " | ".join(f"{v:.4f}" for v in rounds.mean(axis=0)) + " |")
    print(
        f"\nRegret shrank from round 1 to 3 on {shrank}/{seeds} seeds. Predictor Spearman ρ "
        f"(median over seeds): held-out {np.nanmedian(np.array(rho_h, dtype=float)):.2f}, "
        f"5-fold CV {np.nanmedian(np.array(rho_cv, dtype=float)):.2f}."
    )
    path = write_result(
        "search_quick" if args.quick else "search",
        {
            "settings": {
                "seeds": seeds,
                "documents": docs,
                "budget": budget,
                "topics": 8,
                "clusters": 16,
                "proxy_tokens": 5000,
                "methods": list(methods),
            },
            "mean_regret": mean_regret,
            "se_regret": se_regret,
            "paired": pairs,
            "climb_regret_by_round_mean": rounds.mean(axis=0).tolist(),
            "climb_regret_shrank_seeds": shrank,
            "runs": runs,
            "seconds": time.perf_counter() - started,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
