"""Estimators that know which samples are real: weighting and filtration, with exact curves.

Generation 0 fits n_0 true samples. Generation t ≥ 1 draws k_t = round(α_t n_t) true samples
from P* and m_t = n_t − k_t synthetic samples from the previous estimate P̂_{t−1} (fixed
composition, so every estimator below sees exactly the same real-data budget), and estimates
P* with one of:

======================  ====================================================================
``agnostic``            the pooled empirical distribution of all n_t samples — the
                        contamination-agnostic estimator (the labels are not used).
``weighted``            w·T_t/k_t + (1 − w)·S_t/m_t: weight w on the real samples' empirical
                        distribution T_t/k_t, 1 − w on the synthetic one (the weighted estimator
                        of He, Xu & Cheng); w = k_t/n_t is ``agnostic``.
``optimal-weighted``    the same with the weight w_t that minimizes R_t given the exact
                        recursion (:func:`optimal_weights`).
``filter``              the real samples only, T_t/k_t (filtration without memory; a generation
                        without real samples keeps the previous estimate).
``filter-aggregate``    all real samples seen so far, generation 0 included (filtration with
                        aggregation across generations).
======================  ====================================================================

Exact error curves (R_t = E‖P̂_t − P*‖²₂, c = 1 − ‖P*‖²₂, R_0 = c/n_0). Every estimator is
unbiased, so conditionally on P̂_{t−1} the synthetic empirical distribution S_t/m_t has error
(1 − ‖P̂_{t−1}‖²)/m_t around P̂_{t−1}, whose mean is (c − R_{t−1})/m_t; the real part is
independent with error c/k_t. Hence

- weighted:  R_t = w² c/k_t + (1 − w)² (c/m_t + (1 − 1/m_t) R_{t−1});
- agnostic:  the same at w = k_t/n_t, i.e. c/n_t + m_t(m_t − 1)/n_t² R_{t−1};
- filter:  R_t = c/k_t;   filter-aggregate:  R_t = c/(n_0 + k_1 + … + k_t).

For constant α and n the levels are ≈ c/(nα(2−α)) (agnostic), c/(nα) (filter) and
≈ c/Σ_s α_s n_s (aggregate). Minimizing the weighted step over w gives
w_t = B/(A + B) with A = c/k_t and B = c/m_t + (1 − 1/m_t) R_{t−1}; since R_t grows with
R_{t−1}, choosing w_t greedily minimizes every R_t at once. With as many real as synthetic
samples (α = 1/2) and n large the optimal weight tends to 1/φ = (√5 − 1)/2 ≈ 0.618.

Examples
--------
>>> import numpy as np
>>> w, curve = optimal_weights(0.5, alpha=0.5, n=100_000, generations=60)
>>> round(float(w[-1]), 3)
0.618
>>> agn = estimator_curve("agnostic", 0.5, 0.5, 100_000, 60)
>>> bool(curve[-1] < agn[-1])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import binom
from tqdm.auto import tqdm

from almo._validation import check_integer, fail
from almo.sources.categorical import check_distribution
from almo.sources.metrics import CATEGORICAL_METRICS, categorical_metrics, check_which
from almo.sources.schedules import ScheduleLike, alpha_values, n_values
from almo.sources.simulate import CollapseResult
from almo.sources.theory import collision_gap

__all__ = [
    "ESTIMATORS",
    "check_estimator",
    "estimator_curve",
    "filtration_curve",
    "optimal_weight",
    "optimal_weights",
    "real_counts",
    "simulate_estimators",
    "weighted_curve",
]

ESTIMATORS: tuple[str, ...] = (
    "agnostic",
    "weighted",
    "optimal-weighted",
    "filter",
    "filter-aggregate",
)


def check_estimator(name: str) -> str:
    """Return ``name`` after checking it names an estimator of :data:`ESTIMATORS`.

    Examples
    --------
    >>> check_estimator("filter")
    'filter'
    """
    if name not in ESTIMATORS:
        raise fail(
            "estimator", f"be one of {list(ESTIMATORS)}", name, "pass e.g. estimator='weighted'"
        )
    return name


def real_counts(alpha: ScheduleLike, n: ScheduleLike, generations: int) -> np.ndarray:
    """k_t = round(α_t n_t) real samples per generation (k_0 = n_0), shape (T + 1,), int64.

    Examples
    --------
    >>> real_counts(0.25, 10, 2).tolist()
    [10, 2, 2]
    """
    a = alpha_values(alpha, generations)
    ns = n_values(n, generations)
    k = np.rint(a * ns).astype(np.int64)
    k[0] = ns[0]
    return k


def _weights(weight: ScheduleLike | None, generations: int) -> np.ndarray:
    if weight is None:
        raise fail(
            "weight",
            "be given for the weighted estimator",
            None,
            "pass a weight in [0, 1] on the real samples, e.g. weight=0.618",
        )
    return alpha_values(weight, generations, name="weight")


def _steps(
    p_star: np.ndarray | float, alpha: ScheduleLike, n: ScheduleLike, generations: int
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    c = collision_gap(p_star)
    ns = n_values(n, generations).astype(float)
    k = real_counts(alpha, n, generations).astype(float)
    return c, ns, k, ns - k


def weighted_curve(
    p_star: np.ndarray | float,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    weight: ScheduleLike,
) -> np.ndarray:
    """Exact R_t of the weighted estimator w_t·T/k + (1 − w_t)·S/m, t = 0..T.

    A generation without real samples uses the synthetic ones alone (and one without synthetic
    samples the real ones alone), whatever w_t.

    Examples
    --------
    >>> weighted_curve(0.5, alpha=0.5, n=10, generations=1, weight=0.5).round(4).tolist()
    [0.05, 0.06]
    """
    c, ns, k, m = _steps(p_star, alpha, n, generations)
    w = _weights(weight, generations)
    out = np.empty(generations + 1)
    out[0] = c / ns[0]
    for t in range(1, generations + 1):
        syn = c / m[t] + (1.0 - 1.0 / m[t]) * out[t - 1] if m[t] > 0 else np.inf
        if k[t] == 0:
            out[t] = syn
        elif m[t] == 0:
            out[t] = c / k[t]
        else:
            out[t] = w[t] ** 2 * c / k[t] + (1.0 - w[t]) ** 2 * syn
    return out


def optimal_weights(
    p_star: np.ndarray | float, alpha: ScheduleLike, n: ScheduleLike, generations: int
) -> tuple[np.ndarray, np.ndarray]:
    """The weights w_t that minimize every R_t of the weighted estimator, and that curve.

    w_t = B/(A + B) with A = c/k_t, B = c/m_t + (1 − 1/m_t) R_{t−1} (w_0 = 1: generation 0
    is all real; w_t = 0 without real samples, 1 without synthetic ones).

    Examples
    --------
    >>> w, r = optimal_weights(0.5, alpha=0.5, n=10, generations=1)
    >>> round(float(w[1]), 4), round(float(r[1]), 4)
    (0.5833, 0.0583)
    """
    c, ns, k, m = _steps(p_star, alpha, n, generations)
    w = np.ones(generations + 1)
    out = np.empty(generations + 1)
    out[0] = c / ns[0]
    for t in range(1, generations + 1):
        if k[t] == 0:
            w[t] = 0.0
            out[t] = c / m[t] + (1.0 - 1.0 / m[t]) * out[t - 1]
        elif m[t] == 0:
            out[t] = c / k[t]
        else:
            a_, b_ = c / k[t], c / m[t] + (1.0 - 1.0 / m[t]) * out[t - 1]
            w[t] = b_ / (a_ + b_)
            out[t] = a_ * b_ / (a_ + b_)
    return w, out


def optimal_weight(
    p_star: np.ndarray | float,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    grid: int = 201,
) -> float:
    """The constant weight w in [0, 1] of least final R_T (exact recursion).

    A grid of ``grid`` points brackets the minimum, a bounded Brent search refines it.

    Examples
    --------
    >>> round(optimal_weight(0.5, alpha=0.5, n=100_000, generations=200), 3)
    0.618
    """
    check_integer("grid", grid, "pass e.g. grid=201", low=3)
    check_integer("generations", generations, "pass e.g. generations=50", low=1)

    def final(w: float) -> float:
        return float(weighted_curve(p_star, alpha, n, generations, float(w))[-1])

    ws = np.linspace(0.0, 1.0, int(grid))
    values = np.array([final(w) for w in ws])
    j = int(np.argmin(values))
    lo, hi = ws[max(j - 1, 0)], ws[min(j + 1, len(ws) - 1)]
    res = minimize_scalar(final, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
    best = float(res.x) if res.fun <= values[j] else float(ws[j])
    return best


def filtration_curve(
    p_star: np.ndarray | float,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    aggregate: bool = False,
    composition: Literal["fixed", "iid"] = "fixed",
) -> np.ndarray:
    """Exact R_t of real-data filtration: c/k_t, or c/(n_0 + k_1 + … + k_t) with aggregation.

    With ``composition="iid"`` the number of real samples is K_t ~ Binomial(n_t, α_t), as in
    the ``real-only`` and ``real-aggregate`` policies of :func:`~almo.sources.simulate`:
    R_t = c·E[1/K_t; K_t > 0] + P(K_t = 0)·R_{t−1} without memory (a generation without real
    samples keeps its model), and R_t = c·E[1/(n_0 + K_1 + … + K_t)] with aggregation (the
    law of the sum by convolving the binomials).

    Examples
    --------
    >>> filtration_curve(0.5, alpha=0.5, n=10, generations=2).tolist()
    [0.05, 0.1, 0.1]
    >>> filtration_curve(0.5, alpha=0.5, n=10, generations=2, aggregate=True).tolist()
    [0.05, 0.03333333333333333, 0.025]
    >>> filtration_curve(0.5, alpha=1.0, n=10, generations=1, composition="iid").tolist()
    [0.05, 0.05]
    """
    if composition not in ("fixed", "iid"):
        raise fail("composition", "be 'fixed' or 'iid'", composition, "pass composition='fixed'")
    c = collision_gap(p_star)
    if composition == "iid":
        return _filtration_iid(c, alpha, n, generations, aggregate)
    k = real_counts(alpha, n, generations).astype(float)
    if aggregate:
        return c / np.cumsum(k)
    out = np.empty(generations + 1)
    out[0] = c / k[0]
    for t in range(1, generations + 1):
        out[t] = c / k[t] if k[t] > 0 else out[t - 1]
    return out


def _filtration_iid(
    c: float, alpha: ScheduleLike, n: ScheduleLike, generations: int, aggregate: bool
) -> np.ndarray:
    a = alpha_values(alpha, generations)
    ns = n_values(n, generations)
    out = np.empty(generations + 1)
    out[0] = c / ns[0]
    law = np.array([1.0])  # law of K_1 + … + K_t (aggregation)
    for t in range(1, generations + 1):
        pmf = binom.pmf(np.arange(ns[t] + 1), ns[t], a[t])
        if aggregate:
            law = np.convolve(law, pmf)
            total = ns[0] + np.arange(len(law))
            out[t] = c * float(law @ (1.0 / total))
        else:
            k = np.arange(1, ns[t] + 1)
            out[t] = c * float(pmf[1:] @ (1.0 / k)) + pmf[0] * out[t - 1]
    return out


def estimator_curve(
    name: str,
    p_star: np.ndarray | float,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    weight: ScheduleLike | None = None,
) -> np.ndarray:
    """The exact R_t of estimator ``name`` (see the module docstring), t = 0..T.

    Examples
    --------
    >>> estimator_curve("filter-aggregate", 0.5, 0.5, 10, 1).tolist()
    [0.05, 0.03333333333333333]
    """
    check_estimator(name)
    if name == "agnostic":
        ns = n_values(n, generations).astype(float)
        k = real_counts(alpha, n, generations)
        return weighted_curve(p_star, alpha, n, generations, k / ns)
    if name == "weighted":
        return weighted_curve(p_star, alpha, n, generations, _weights(weight, generations))
    if name == "optimal-weighted":
        return optimal_weights(p_star, alpha, n, generations)[1]
    return filtration_curve(p_star, alpha, n, generations, aggregate=name == "filter-aggregate")


def simulate_estimators(
    truth: Any,
    *,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    replicates: int = 100,
    estimators: Sequence[str] = ESTIMATORS,
    weight: ScheduleLike | None = None,
    which: Sequence[str] = CATEGORICAL_METRICS,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, CollapseResult]:
    """Simulate the estimators side by side on the same real samples (fixed composition).

    Each generation draws the k_t real samples once for all estimators (a matched real-data
    budget, and common random numbers); each estimator then draws its m_t synthetic samples
    from its own previous estimate, from its own random stream (so its numbers do not depend
    on the other estimators run beside it). Counts are multinomial draws, all R replicates at once.

    Parameters
    ----------
    truth : array of shape (V,)
        P*.
    alpha, n : schedule-like
        α_t and n_t (k_t = round(α_t n_t) real samples at generation t ≥ 1).
    generations, replicates : int
        T and R.
    estimators : sequence of str
        Names among :data:`ESTIMATORS`.
    weight : schedule-like, optional
        w (or w_t) of the ``weighted`` estimator; required when it is asked for.
    which : sequence of str
        Metrics to record (see :mod:`almo.sources.metrics`).
    seed : int
        Seed of the run.
    progress : bool
        A tqdm progress bar over generations.

    Returns
    -------
    dict name -> :class:`~almo.sources.CollapseResult` (``policy`` is the estimator's name;
    ``info["weights"]`` holds the w_t used by the weighted estimators).

    Examples
    --------
    >>> from almo.sources import zipf
    >>> out = simulate_estimators(
    ...     zipf(20), alpha=0.5, n=50, generations=3, replicates=4, weight=0.6, seed=0
    ... )
    >>> sorted(out) == sorted(ESTIMATORS), out["weighted"].metrics["l2"].shape
    (True, (4, 4))
    """
    p_star = check_distribution(truth)
    if p_star.ndim != 1:
        raise fail("truth", "be one probability vector (V,)", p_star.shape, "pass e.g. zipf(100)")
    names = [check_estimator(e) for e in estimators]
    if not names:
        raise fail("estimators", "name at least one estimator", estimators, "pass ESTIMATORS")
    which = check_which(which)
    replicates = check_integer("replicates", replicates, "pass e.g. replicates=100")
    seed = check_integer("seed", seed, "pass a non-negative integer, e.g. seed=0", low=0)
    a = alpha_values(alpha, generations)
    ns = n_values(n, generations)
    k = real_counts(alpha, n, generations)
    m = ns - k
    w_fixed = _weights(weight, generations) if "weighted" in names else None
    w_opt = optimal_weights(p_star, alpha, n, generations)[0]
    # The real samples come from one stream and each estimator's synthetic samples from its
    # own, so an estimator's run does not depend on which others run beside it.
    rng = np.random.default_rng([int(seed), 0])
    syn_rng = {e: np.random.default_rng([int(seed), 1, ESTIMATORS.index(e)]) for e in names}
    r = int(replicates)
    first = rng.multinomial(int(ns[0]), p_star, size=r)
    start = first / float(ns[0])
    est = {e: start for e in names}
    pool = first.astype(np.int64)
    total = int(ns[0])
    store = {e: {w: np.zeros((r, generations + 1)) for w in which} for e in names}
    for e in names:
        _record(store[e], 0, start, p_star, which)
    bar = tqdm(total=generations, disable=not progress, desc="estimators", unit="generation")
    for t in range(1, generations + 1):
        kt, mt = int(k[t]), int(m[t])
        real = rng.multinomial(kt, p_star, size=r) if kt > 0 else np.zeros((r, len(p_star)))
        if "filter-aggregate" in names:
            pool = pool + real.astype(np.int64)
            total += kt
        for e in names:
            prev = est[e]
            if e == "filter":
                new = real / kt if kt > 0 else prev
            elif e == "filter-aggregate":
                new = pool / float(total)
            else:
                syn = syn_rng[e].multinomial(mt, _normalized(prev)) if mt > 0 else None
                if syn is None:
                    new = real / kt
                elif kt == 0:
                    new = syn / mt
                else:
                    if e == "agnostic":
                        w = kt / ns[t]
                    elif e == "weighted":
                        assert w_fixed is not None
                        w = w_fixed[t]
                    else:
                        w = w_opt[t]
                    new = w * (real / kt) + (1.0 - w) * (syn / mt)
            est[e] = new
            _record(store[e], t, new, p_star, which)
        bar.update(1)
    bar.close()
    out = {}
    for e in names:
        info: dict[str, Any] = {"composition": "fixed", "real_counts": k.tolist()}
        if e == "weighted":
            assert w_fixed is not None
            info["weights"] = w_fixed.tolist()
        elif e == "optimal-weighted":
            info["weights"] = w_opt.tolist()
        out[e] = CollapseResult(store[e], a, ns, e, int(seed), info)
    return out


def _normalized(p: np.ndarray) -> np.ndarray:
    """Rows renormalized against round-off, as multinomial's pvals check demands."""
    q = np.clip(p, 0.0, None)
    return q / q.sum(axis=1, keepdims=True)


def _record(
    store: dict[str, np.ndarray],
    t: int,
    probs: np.ndarray,
    p_star: np.ndarray,
    which: Sequence[str],
) -> None:
    for name, values in categorical_metrics(probs, p_star, which).items():
        store[name][:, t] = values
