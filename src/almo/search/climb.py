r"""Phase 2: CLIMB's iterative bootstrapping of mixture weights with proxies and a predictor.

The search looks for λ on the simplex of the k clusters minimizing the target loss of a proxy
model trained on the λ-mixture (Diao et al. 2025):

1. round 1 trains proxies on mixtures drawn from a Dirichlet centred on the clusters' token
   shares, :math:`λ \sim \mathrm{Dir}(c\,k\,s)` (``concentration`` c; c = 1 with equal shares
   is the uniform distribution on the simplex);
2. each later round fits a predictor λ → score (scikit-learn's
   ``HistGradientBoostingRegressor`` with max depth 4 and ≥ 5 samples per leaf by default,
   LightGBM on request) on **all** (λ, score) pairs so far, predicts the scores of
   ``n_candidates`` fresh Dirichlet draws, and trains proxies on M mixtures drawn at random
   from the predicted top N;
3. the answer is the mixture with the best measured score.

The budget (proxy runs in all) splits over the rounds in the ratios ``rounds`` (4:2:1 by
default), exactly: the number of proxy calls equals the budget. Proxy runs within a round are
independent and run through joblib (``n_jobs``), so a joblib backend (Dask, Ray) spreads them
over a cluster unchanged. Run i of a search gets the seed ``(seed, i)`` whichever worker runs
it, so results do not depend on ``n_jobs``.

With vector-valued proxies (several targets) one predictor is fitted per target and candidates
are ranked by ``aggregate`` of the predicted vector — the worst case over a mixture set Λ of
targets gives the agnostic search (:mod:`almo.search.agnostic`).

Examples
--------
>>> import numpy as np
>>> target = np.array([0.7, 0.2, 0.1])
>>> proxy = lambda w: float(np.sum((w - target) ** 2))
>>> result = climb(proxy, np.full(3, 1 / 3), budget=14, seed=0)
>>> result.proxy_calls, [r.n_runs for r in result.rounds]
(14, [8, 4, 2])
>>> bool(result.best_value < 0.05)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from almo._validation import check_integer, check_number, fail
from almo.search.proxies import call_proxy

__all__ = [
    "ProxyRun",
    "RoundInfo",
    "SearchResult",
    "climb",
    "dirichlet_alpha",
    "make_predictor",
    "run_proxies",
    "split_budget",
]

Aggregate = Callable[[np.ndarray], float]
#: CLIMB's predictor settings (LightGBM in the paper): shallow trees, ≥ 5 samples per leaf.
PREDICTOR_DEFAULTS = {
    "max_depth": 4,
    "min_samples_leaf": 5,
    "l2_regularization": 1.0,
    "learning_rate": 0.1,
    "max_iter": 100,
}


@dataclass(frozen=True)
class ProxyRun:
    """One proxy run: the round, λ, the measured score(s), their aggregate, the prediction."""

    round: int
    weights: np.ndarray
    scores: np.ndarray
    value: float
    predicted: float | None
    seed: int


@dataclass(frozen=True)
class RoundInfo:
    """One round: its runs, the pairs the predictor was fitted on, held-out Spearman ρ."""

    round: int
    n_runs: int
    n_fit: int
    spearman: float | None
    best_value: float


@dataclass
class SearchResult:
    """What a search found: the best λ, every proxy run, per-round summaries.

    ``weights`` is the answer; ``runs`` hold every proxy call in order (``proxy_calls`` of
    them); ``info`` holds method-specific extras (the settings, the fitted predictor...).
    """

    method: str
    weights: np.ndarray
    runs: list[ProxyRun] = field(default_factory=list)
    rounds: list[RoundInfo] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def proxy_calls(self) -> int:
        """Number of proxy runs the search used."""
        return len(self.runs)

    @property
    def values(self) -> np.ndarray:
        """Aggregated measured scores of every run, in order."""
        return np.array([r.value for r in self.runs])

    @property
    def best_value(self) -> float:
        """The best measured score (NaN without runs)."""
        return float(self.values.min()) if self.runs else float("nan")

    def best_after(self) -> list[float]:
        """The best measured score after each round."""
        out, best = [], np.inf
        for info in self.rounds:
            vals = [r.value for r in self.runs if r.round == info.round]
            best = min(best, min(vals))
            out.append(float(best))
        return out

    def best_weights_after(self) -> list[np.ndarray]:
        """The best measured λ after each round."""
        out, best, best_w = [], np.inf, self.weights
        for info in self.rounds:
            for r in self.runs:
                if r.round == info.round and r.value < best:
                    best, best_w = r.value, r.weights
            out.append(best_w)
        return out

    def held_out_spearman(self) -> float | None:
        """Spearman ρ of predictions made before measuring against the measured scores."""
        pairs = [(r.predicted, r.value) for r in self.runs if r.predicted is not None]
        return _spearman([p for p, _ in pairs], [v for _, v in pairs])


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def split_budget(budget: int, ratios: Sequence[float] = (4, 2, 1)) -> list[int]:
    """Split ``budget`` proxy runs over rounds in ``ratios``, exactly, at least one per round.

    Rounds whose share exceeds their runs so far by the most take the runs left over (largest
    remainders, ties going to earlier rounds), so a larger ratio never gets fewer runs.

    Examples
    --------
    >>> split_budget(112), split_budget(10), split_budget(3)
    ([64, 32, 16], [6, 3, 1], [1, 1, 1])
    >>> split_budget(2)
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `budget` must be at least the number of rounds (3)...
    """
    if isinstance(ratios, (str, bytes)) or not isinstance(ratios, Sequence) or not ratios:
        raise fail(
            "rounds",
            "be a non-empty sequence of positive ratios",
            ratios,
            "pass e.g. rounds=(4, 2, 1)",
        )
    r = np.array(
        [
            check_number("rounds", x, "pass e.g. rounds=(4, 2, 1)", low=0, low_open=True)
            for x in ratios
        ]
    )
    budget = check_integer("budget", budget, "pass a number of proxy runs, e.g. budget=112", low=1)
    if budget < r.size:
        raise fail(
            "budget",
            f"be at least the number of rounds ({r.size})",
            budget,
            f"pass budget >= {r.size}, or fewer rounds",
        )
    share = budget * r / r.sum()
    out = np.maximum(np.floor(share).astype(int), 1)
    while out.sum() > budget:  # rounds lifted to one run give theirs back from the largest
        out[int(np.argmax(out))] -= 1
    order = np.argsort(-(share - out), kind="stable")
    out[order[: budget - out.sum()]] += 1
    return [int(x) for x in out]


def dirichlet_alpha(shares: Any, concentration: float = 1.0) -> np.ndarray:
    """The Dirichlet parameters c·k·s centred on the token shares s (floored at 1e-3).

    Examples
    --------
    >>> dirichlet_alpha([0.5, 0.25, 0.25], 2.0).tolist()
    [3.0, 1.5, 1.5]
    """
    s = np.asarray(shares, dtype=float).reshape(-1)
    if s.size < 1 or not np.isfinite(s).all() or np.any(s < 0) or s.sum() <= 0:
        raise fail(
            "shares",
            "be non-negative finite token shares with a positive sum",
            s,
            "pass clusters.shares",
        )
    c = check_number(
        "concentration", concentration, "pass e.g. concentration=1.0", low=0, low_open=True
    )
    return np.maximum(c * s.size * s / s.sum(), 1e-3)


def make_predictor(spec: Any = "hgb", seed: int = 0) -> Any:
    """A fresh regressor: ``"hgb"`` (HistGradientBoosting), ``"lightgbm"``, or a clone of one.

    Examples
    --------
    >>> make_predictor("hgb").max_depth
    4
    """
    if spec == "hgb":
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(
            early_stopping=False,
            random_state=seed,
            **PREDICTOR_DEFAULTS,
        )
    if spec == "lightgbm":
        try:
            import lightgbm  # type: ignore[import-not-found]
        except ImportError:
            raise fail(
                "predictor",
                "name an installed regressor",
                "'lightgbm' (not installed)",
                "pip install lightgbm, or use predictor='hgb'",
            ) from None
        return lightgbm.LGBMRegressor(
            max_depth=4,
            min_child_samples=5,
            reg_alpha=0.1,
            reg_lambda=1.0,
            n_estimators=100,
            learning_rate=0.1,
            random_state=seed,
            verbose=-1,
        )
    if hasattr(spec, "fit") and hasattr(spec, "predict"):
        from sklearn.base import clone

        return clone(spec)
    raise fail(
        "predictor",
        "be 'hgb', 'lightgbm' or a scikit-learn regressor",
        spec,
        "pass predictor='hgb'",
    )


class MultiPredictor:
    """One regressor per score column; ``predict`` returns the (m, n_targets) matrix."""

    def __init__(self, spec: Any, seed: int) -> None:
        self.spec, self.seed = spec, seed
        self.models_: list[Any] = []

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MultiPredictor:
        self.models_ = [
            make_predictor(self.spec, self.seed).fit(X, Y[:, j]) for j in range(Y.shape[1])
        ]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.stack([m.predict(X) for m in self.models_], axis=1)


def run_seed(seed: int, index: int) -> int:
    """The seed of proxy run ``index`` of a search seeded ``seed`` (independent of workers)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def run_proxies(
    proxy: Callable[..., Any],
    W: np.ndarray,
    seeds: Sequence[int],
    n_jobs: int | None = 1,
    verbose: bool = False,
    desc: str = "proxy runs",
) -> list[np.ndarray]:
    """Score each row of ``W`` with ``proxy`` through joblib; results in row order.

    ``n_jobs`` is joblib's (None: the active backend's default, -1: all cores); wrap the call
    in ``joblib.parallel_config(backend="dask")`` (or ``"ray"``) to run on a cluster.

    Examples
    --------
    >>> run_proxies(lambda w, seed: w[0] + seed, np.eye(2), [0, 10])
    [array([1.]), array([10.])]
    """
    from joblib import Parallel, delayed  # type: ignore[import-untyped]
    from tqdm.auto import tqdm

    seeds = list(seeds)
    if len(seeds) != len(W):
        raise fail(
            "seeds",
            f"hold one seed per row of the weights ({len(W)})",
            f"{len(seeds)} seeds",
            f"pass {len(W)} seeds, e.g. range({len(W)})",
        )
    jobs = (delayed(call_proxy)(proxy, w, int(s)) for w, s in zip(W, seeds, strict=True))
    gen = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    return list(tqdm(gen, total=len(W), desc=desc, disable=not verbose, leave=False))


def default_aggregate(scores: np.ndarray) -> float:
    """The score of a run: the single target's loss, or the mean over targets."""
    return float(np.mean(scores))


def check_search_args(
    proxy: Any, shares: Any, n_jobs: Any, seed: Any, aggregate: Any
) -> tuple[np.ndarray, int, Aggregate]:
    """Shared checks of the searches; returns the shares, the seed and the aggregate."""
    if not callable(proxy):
        raise fail(
            "proxy",
            "be callable: train_and_score(weights) -> float",
            type(proxy).__name__,
            "pass a function or NGramProxy(...)",
        )
    s = np.asarray(shares, dtype=float).reshape(-1)
    dirichlet_alpha(s)
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0
    ):
        raise fail(
            "n_jobs",
            "be None or a non-zero integer (joblib's)",
            n_jobs,
            "pass n_jobs=1, or -1 for all cores",
        )
    seed = check_integer("seed", seed, "pass e.g. seed=0", low=0)
    if aggregate is not None and not callable(aggregate):
        raise fail(
            "aggregate", "be a callable scores -> float", aggregate, "pass None, or e.g. max"
        )
    return s / s.sum(), seed, aggregate or default_aggregate


def climb(
    proxy: Callable[..., Any],
    shares: Any,
    budget: int = 112,
    *,
    rounds: Sequence[float] = (4, 2, 1),
    concentration: float = 1.0,
    n_candidates: int = 10_000,
    top_n: int | None = None,
    predictor: Any = "hgb",
    aggregate: Aggregate | None = None,
    n_jobs: int | None = 1,
    seed: int = 0,
    verbose: bool = False,
    method: str = "climb",
) -> SearchResult:
    """CLIMB's search of mixture weights over k sources with ``budget`` proxy runs.

    Parameters
    ----------
    proxy : callable
        ``train_and_score(weights) -> float`` (a loss: lower is better), or returning a vector
        of target losses; given ``seed=`` when it accepts it.
    shares : array (k,)
        The clusters' token shares: the centre of the Dirichlet.
    budget : int
        Proxy runs in all (at least one per round).
    rounds : sequence of float
        Ratios of the budget per round (4:2:1: 64, 32 and 16 of 112).
    concentration : float
        c of the Dirichlet Dir(c·k·s): larger concentrates the draws near the shares.
    n_candidates : int
        Fresh Dirichlet draws the predictor scores in each later round.
    top_n : int, optional
        N, the predicted best from which the round's M runs are drawn; default 2·M.
    predictor : "hgb", "lightgbm" or a scikit-learn regressor
        Refitted on all pairs so far before each later round.
    aggregate : callable, optional
        Turns a vector of target losses into the score to minimize (default: the mean).
    n_jobs : int or None
        joblib workers for the proxy runs of a round.
    seed : int
        Seeds the draws and each run (run i gets ``run_seed(seed, i)``).
    verbose : bool
        Progress bars.

    Returns
    -------
    SearchResult
        ``weights`` (best measured), ``runs``, ``rounds`` (with ``n_fit``, the pairs the
        predictor saw, and its held-out Spearman ρ on the round's runs), ``info["predictor"]``
        (the last fitted one).
    """
    s, seed, agg = check_search_args(proxy, shares, n_jobs, seed, aggregate)
    sizes = split_budget(budget, rounds)
    alpha = dirichlet_alpha(s, concentration)
    n_candidates = check_integer("n_candidates", n_candidates, "pass e.g. n_candidates=10000")
    if top_n is not None:
        top_n = check_integer("top_n", top_n, "pass None (2·M) or e.g. top_n=64")
    make_predictor(predictor, seed)  # refuse a bad predictor before any proxy runs
    from tqdm.auto import tqdm

    result = SearchResult(
        method,
        np.full(s.size, 1.0 / s.size),
        info={"budget": int(budget), "rounds": sizes, "concentration": float(concentration)},
    )
    model: MultiPredictor | None = None
    for r, m in enumerate(tqdm(sizes, desc=method, disable=not verbose), start=1):
        rng = np.random.default_rng([seed, r])
        predicted: np.ndarray | None = None
        n_fit = len(result.runs)
        if r == 1:
            W = rng.dirichlet(alpha, size=m)
        else:
            X = np.stack([run.weights for run in result.runs])
            Y = np.stack([run.scores for run in result.runs])
            model = MultiPredictor(predictor, seed).fit(X, Y)
            cand = rng.dirichlet(alpha, size=max(n_candidates, m))
            pred = np.array([agg(row) for row in model.predict(cand)])
            n_top = min(top_n if top_n is not None else 2 * m, cand.shape[0])
            n_top = max(n_top, m)
            best = np.argsort(pred, kind="stable")[:n_top]
            pick = rng.choice(best, size=m, replace=False)
            W, predicted = cand[pick], pred[pick]
        start = len(result.runs)
        seeds = [run_seed(seed, start + i) for i in range(m)]
        scores = run_proxies(proxy, W, seeds, n_jobs, verbose, f"round {r}")
        for i, (w, sc) in enumerate(zip(W, scores, strict=True)):
            result.runs.append(
                ProxyRun(
                    r, w, sc, agg(sc), None if predicted is None else float(predicted[i]), seeds[i]
                )
            )
        vals = [run.value for run in result.runs[start:]]
        rho = None if predicted is None else _spearman(list(predicted), vals)
        result.rounds.append(RoundInfo(r, m, n_fit, rho, float(min(v.value for v in result.runs))))
    result.weights = result.runs[int(np.argmin(result.values))].weights
    result.info["predictor"] = model
    return result
