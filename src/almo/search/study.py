"""Run CLIMB and its peers at the same proxy budget and report them side by side.

Per method: the λ found, the proxy calls used, the best measured proxy score, the target loss of
the *larger model* trained on λ (``evaluate``), the regret against the best known optimum, the
predictor's Spearman ρ with measured scores on held-out proxy runs (runs it predicted before
they were measured; and 5-fold cross-validated over all runs), and the gain from round 1 to the
last round (of the best measured score, and of the larger model's regret).

Examples
--------
>>> import numpy as np
>>> target = np.array([0.6, 0.3, 0.1])
>>> proxy = lambda w, seed=0: float(np.sum((w - target) ** 2))
>>> report, _ = compare_methods(
...     proxy,
...     np.full(3, 1 / 3),
...     budget=14,
...     methods=("climb", "uniform", "random"),
...     optimum=(target, 0.0),
... )
>>> [row.method for row in report.rows], [row.proxy_calls for row in report.rows]
(['climb', 'uniform', 'random'], [14, 1, 14])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from almo._validation import check_integer, fail
from almo.search.baselines import doremi, fixed_mixture, random_search, regmix
from almo.search.climb import SearchResult, _spearman, climb, make_predictor, split_budget

__all__ = ["METHODS", "MethodRow", "SearchReport", "compare_methods", "cv_spearman"]

METHODS = ("climb", "uniform", "proportional", "random", "regmix", "doremi")


@dataclass
class MethodRow:
    """One method's numbers (None where they do not apply)."""

    method: str
    weights: list[float]
    proxy_calls: int
    best_proxy_score: float | None
    target_loss: float | None
    regret: float | None
    spearman_held_out: float | None
    spearman_cv: float | None
    gain_round1_to_last: float | None
    regret_by_round: list[float] | None
    seconds: float


@dataclass
class SearchReport:
    """The rows of :func:`compare_methods`, the optimum, the settings; JSON and markdown."""

    rows: list[MethodRow]
    optimum_weights: list[float] | None
    optimum_loss: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    clusters: dict[str, Any] | None = None

    def row(self, method: str) -> MethodRow:
        """The row of ``method``."""
        for r in self.rows:
            if r.method == method:
                return r
        raise fail(
            "method",
            f"be one of {[r.method for r in self.rows]}",
            method,
            "pass a method that was run",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "format": "almo-search/1",
            "settings": self.settings,
            "optimum": {"weights": self.optimum_weights, "target_loss": self.optimum_loss},
            "clusters": self.clusters,
            "methods": [asdict(r) for r in self.rows],
        }

    def table(self) -> str:
        """A markdown table, one row per method."""

        def f(x: float | None, d: int = 4) -> str:
            return "-" if x is None else f"{x:.{d}f}"

        lines = [
            "| method | proxy calls | best proxy score | target loss (larger model) | "
            "regret | Spearman held-out | Spearman CV | gain round 1→last |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.method} | {r.proxy_calls} | {f(r.best_proxy_score)} | "
                f"{f(r.target_loss)} | {f(r.regret)} | {f(r.spearman_held_out, 2)} | "
                f"{f(r.spearman_cv, 2)} | {f(r.gain_round1_to_last)} |"
            )
        return "\n".join(lines)


def cv_spearman(
    result: SearchResult, predictor: Any = "hgb", seed: int = 0, folds: int = 5
) -> float | None:
    """Spearman ρ of out-of-fold predictions with measured scores over all of ``result``'s runs.

    Examples
    --------
    >>> import numpy as np
    >>> res = climb(lambda w: float(w[0]), np.full(3, 1 / 3), budget=40, seed=0)
    >>> cv_spearman(res) > 0.8
    True
    """
    if result.proxy_calls < max(folds, 3):
        return None
    from sklearn.model_selection import KFold

    X = np.stack([r.weights for r in result.runs])
    y = result.values
    pred = np.empty_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(X):
        pred[test] = make_predictor(predictor, seed).fit(X[train], y[train]).predict(X[test])
    return _spearman(list(pred), list(y))


def compare_methods(
    proxy: Callable[..., Any],
    shares: Any,
    budget: int = 112,
    *,
    methods: Sequence[str] = METHODS,
    evaluate: Callable[[np.ndarray], float] | None = None,
    optimum: tuple[np.ndarray, float] | None = None,
    doremi_data: tuple[Sequence[str], Any] | None = None,
    doremi_options: dict[str, Any] | None = None,
    rounds: Sequence[float] = (4, 2, 1),
    concentration: float = 1.0,
    n_candidates: int = 10_000,
    predictor: Any = "hgb",
    n_jobs: int | None = 1,
    seed: int = 0,
    verbose: bool = False,
) -> tuple[SearchReport, dict[str, SearchResult]]:
    """Run each of ``methods`` with ``budget`` proxy runs and report them.

    Parameters
    ----------
    proxy, shares, budget, rounds, concentration, n_candidates, predictor, n_jobs, seed
        As in :func:`~almo.search.climb.climb`; every method shares the seed, so run i of
        each search uses the same proxy seed (paired comparisons).
    methods : sequence of str
        Among ``climb``, ``uniform``, ``proportional``, ``random``, ``regmix``, ``doremi``.
    evaluate : callable, optional
        λ → target loss of the larger model (e.g. ``NGramProxy.large_loss``); without it the
        target loss and regret columns are None.
    optimum : (weights, loss), optional
        The known optimum of ``evaluate``; regret is measured against the smaller of its loss
        and the best target loss any method reached.
    doremi_data : (texts, labels), optional
        Needed by ``doremi`` (it trains its own torch models on the clusters).

    Returns
    -------
    (SearchReport, dict of SearchResult)
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise fail(
            "methods",
            f"be a non-empty list from {METHODS}",
            list(methods),
            "pass e.g. methods=('climb', 'uniform', 'random')",
        )
    if "doremi" in methods and doremi_data is None:
        raise fail(
            "doremi_data",
            "be (texts, labels) when 'doremi' is among the methods",
            None,
            "pass doremi_data=(texts, clusters.labels), or drop 'doremi'",
        )
    if evaluate is not None and not callable(evaluate):
        raise fail(
            "evaluate", "be a callable weights -> float", evaluate, "pass e.g. proxy.large_loss"
        )
    # The budget is checked before any method runs, even by those that spend one proxy run.
    if "climb" in methods:
        budget = sum(split_budget(budget, rounds))
    else:
        budget = check_integer(
            "budget", budget, "pass a number of proxy runs, e.g. budget=112", low=1
        )
    common: dict[str, Any] = {"n_jobs": n_jobs, "seed": seed, "verbose": verbose}
    results: dict[str, SearchResult] = {}
    seconds: dict[str, float] = {}
    for m in methods:
        started = time.perf_counter()
        if m == "climb":
            res = climb(
                proxy,
                shares,
                budget,
                rounds=rounds,
                concentration=concentration,
                n_candidates=n_candidates,
                predictor=predictor,
                **common,
            )
        elif m in ("uniform", "proportional"):
            res = fixed_mixture(proxy, shares, m, seed=seed)  # type: ignore[arg-type]
        elif m == "random":
            res = random_search(proxy, shares, budget, concentration=concentration, **common)
        elif m == "regmix":
            res = regmix(
                proxy,
                shares,
                budget,
                concentration=concentration,
                n_candidates=n_candidates,
                predictor=predictor,
                **common,
            )
        else:
            assert doremi_data is not None
            res = doremi(
                doremi_data[0], doremi_data[1], seed=seed, verbose=verbose, **(doremi_options or {})
            )
        results[m], seconds[m] = res, time.perf_counter() - started
    losses = {
        m: None if evaluate is None else float(evaluate(r.weights)) for m, r in results.items()
    }
    by_round = {
        m: None
        if evaluate is None or not r.rounds or m in ("uniform", "proportional")
        else [float(evaluate(w)) for w in r.best_weights_after()]
        for m, r in results.items()
    }
    best_known = None
    if evaluate is not None:
        found = [v for v in losses.values() if v is not None]
        found += [v for lst in by_round.values() if lst for v in lst]
        best_known = min(found + ([float(optimum[1])] if optimum is not None else []))
    rows = []
    for m, r in results.items():
        loss = losses[m]
        after = r.best_after() if r.runs else []
        rows.append(
            MethodRow(
                method=m,
                weights=[float(x) for x in r.weights],
                proxy_calls=r.proxy_calls,
                best_proxy_score=r.best_value if r.runs else None,
                target_loss=loss,
                regret=None if loss is None or best_known is None else loss - best_known,
                spearman_held_out=r.held_out_spearman() if m == "climb" else None,
                spearman_cv=cv_spearman(r, predictor, seed) if m in ("climb", "regmix") else None,
                gain_round1_to_last=after[0] - after[-1] if len(after) > 1 else None,
                regret_by_round=None
                if by_round[m] is None or best_known is None
                else [v - best_known for v in by_round[m]],  # type: ignore[union-attr]
                seconds=seconds[m],
            )
        )
    report = SearchReport(
        rows,
        None if optimum is None else [float(x) for x in optimum[0]],
        best_known,
        settings={
            "budget": int(budget),
            "rounds": list(rounds),
            "seed": seed,
            "concentration": concentration,
            "n_candidates": n_candidates,
            "predictor": predictor if isinstance(predictor, str) else repr(predictor),
        },
    )
    return report, results
