"""The regime map: collapse, boundedness, improvement or consistency over (a, b).

With α_t = α_0 (t+1)^(−a) real data and n_t = n_0 (t+1)^b samples per generation, the exact
recursion R_t = c/n_t + (1 − 1/n_t)(1 − α_t)² R_{t−1} (:mod:`almo.sources.theory`) has four
limits, read from two conditions — whether Σ α_t diverges (a ≤ 1) and how α_t n_t behaves
(it grows when b > a, stays at α_0 n_0 when b = a, vanishes when b < a):

===============================  ==========================================================
``consistency``                  Σ α_t = ∞ and α_t n_t → ∞ (a ≤ 1, b > a): R_t → 0, P* is
                                 recovered; R_t ≈ c/(α_t n_t (2 − α_t)) once α_t is small.
``improvement``                  Σ α_t = ∞ and α_t n_t → α_0 n_0 (a ≤ 1, b = a): R_t settles
                                 at a level in (0, c) — c/(1 + (n−1)α(2−α)) for constant α, n
                                 — improvement over collapse without consistency.
``bounded``                      Σ α_t < ∞ and Σ 1/n_t < ∞ (a > 1, b > 1): the estimate
                                 freezes at a random limit; R_t stays in (0, c).
``collapse``                     otherwise (α_t n_t → 0, or Σ α_t < ∞ with Σ 1/n_t = ∞):
                                 R_t → c, the error of a point mass.
===============================  ==========================================================

The boundaries in the (a, b) plane are the segment b = a for 0 ≤ a ≤ 1 (the improvement
line between collapse below and consistency above), the half-line a = 1, b ≥ 1 (consistency
left, bounded right) and the half-line b = 1, a ≥ 1 (bounded above, collapse below).

:func:`regime_map` computes log(R_T/R_0) on a grid of (a, b), exactly and by simulation, in
one computation that the heatmap and the printed table both read.

Examples
--------
>>> regime(0.5, 1.0), regime(0.5, 0.5), regime(1.5, 2.0), regime(0.5, 0.0)
('consistency', 'improvement', 'bounded', 'collapse')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from almo._validation import check_integer, check_number, fail
from almo.sources.categorical import CategoricalModel, check_distribution
from almo.sources.schedules import Schedule, power_law
from almo.sources.simulate import simulate
from almo.sources.theory import collision_gap, risk_curve

__all__ = ["REGIMES", "RegimeMap", "regime", "regime_boundaries", "regime_map", "schedules"]

REGIMES: tuple[str, ...] = ("collapse", "bounded", "improvement", "consistency")


def regime(a: float, b: float, tol: float = 1e-12) -> str:
    """The theory's regime for α_t ∝ (t+1)^(−a), n_t ∝ (t+1)^b (a ≥ 0; see the module).

    ``tol`` decides when b = a counts as equal.

    Examples
    --------
    >>> regime(0.0, 0.0), regime(1.0, 1.0), regime(2.0, 1.0), regime(1.0, 1.5)
    ('improvement', 'improvement', 'collapse', 'consistency')
    """
    a = check_number("a", a, "pass a decay exponent >= 0, e.g. a=0.5", low=0.0)
    b = check_number("b", b, "pass a growth exponent, e.g. b=1.0")
    tol = check_number("tol", tol, "pass a tolerance >= 0, e.g. the default tol=1e-12", low=0.0)
    if a <= 1.0 + tol:  # Σ α_t = ∞
        if b > a + tol:
            return "consistency"
        if abs(b - a) <= tol:
            return "improvement"
        return "collapse"
    return "bounded" if b > 1.0 + tol else "collapse"


def regime_boundaries(a_max: float, b_max: float) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The boundary segments within [0, a_max] × [0, b_max]: (a values, b values, label).

    Examples
    --------
    >>> [label for _, _, label in regime_boundaries(2, 2)]
    ['b = a (α_t n_t constant)', 'a = 1 (Σ α_t converges)', 'b = 1 (Σ 1/n_t converges)']
    """
    a_max = check_number("a_max", a_max, "pass the largest a of the map", low=0.0)
    b_max = check_number("b_max", b_max, "pass the largest b of the map", low=0.0)
    top = min(1.0, a_max, b_max)
    out = [(np.array([0.0, top]), np.array([0.0, top]), "b = a (α_t n_t constant)")]
    if a_max >= 1.0 and b_max >= 1.0:
        out.append((np.array([1.0, 1.0]), np.array([1.0, b_max]), "a = 1 (Σ α_t converges)"))
        out.append((np.array([1.0, a_max]), np.array([1.0, 1.0]), "b = 1 (Σ 1/n_t converges)"))
    return out


def schedules(alpha0: float, n0: int, a: float, b: float) -> tuple[Schedule, Schedule]:
    """(α_t, n_t) = (α_0 (t+1)^(−a), n_0 (t+1)^b) as schedules.

    Examples
    --------
    >>> al, n = schedules(0.5, 10, 1.0, 1.0)
    >>> al.values(2).round(3).tolist(), n.values(2).tolist()
    ([0.5, 0.25, 0.167], [10.0, 20.0, 30.0])
    """
    return power_law(alpha0, -a), power_law(n0, b)


@dataclass(frozen=True)
class RegimeMap:
    """log(R_T/R_0) over a grid of (a, b): rows b, columns a.

    Attributes
    ----------
    a, b : np.ndarray
        The exponents (columns and rows).
    exact : np.ndarray of shape (len(b), len(a))
        log(R_T/R_0) of the exact recursion (natural logarithm).
    simulated, stderr : np.ndarray of the same shape, or None
        The same from the simulation (log of the ratio of the means over replicates) and its
        standard error (delta method over replicates); None when no replicates were run.
    regimes : list of list of str
        :func:`regime` of each cell; ``collapse`` everywhere when α_0 = 0 (no real data at
        all, so R_t → c whatever a and b).
    settings : dict
        α_0, n_0, T, R, the seed and c.

    Examples
    --------
    >>> m = regime_map(0.5, [0.0, 1.0], [0.0, 1.0], alpha0=0.5, n0=20, generations=5)
    >>> m.exact.shape, m.regimes[1][0]
    ((2, 2), 'consistency')
    """

    a: np.ndarray
    b: np.ndarray
    exact: np.ndarray
    simulated: np.ndarray | None
    stderr: np.ndarray | None
    regimes: list[list[str]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "a": self.a.tolist(),
            "b": self.b.tolist(),
            "exact_log_ratio": self.exact.tolist(),
            "simulated_log_ratio": None if self.simulated is None else self.simulated.tolist(),
            "stderr": None if self.stderr is None else self.stderr.tolist(),
            "regimes": self.regimes,
            "settings": self.settings,
        }


def regime_map(
    truth: np.ndarray | float,
    a_values: Sequence[float],
    b_values: Sequence[float],
    *,
    alpha0: float = 0.5,
    n0: int = 100,
    generations: int = 30,
    replicates: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> RegimeMap:
    """log(R_T/R_0) for every (a, b), exactly and (with ``replicates`` > 0) by simulation.

    Parameters
    ----------
    truth : array of shape (V,) or float
        P* (c = 1 − ‖P*‖² for the exact map; a float is c itself and allows no simulation).
    a_values, b_values : sequence of float
        Decay exponents a ≥ 0 of α_t and growth exponents b of n_t.
    alpha0, n0 : float, int
        α_0 in [0, 1] and n_0 ≥ 1. With α_0 = 0 there is no real data after generation 0:
        every cell collapses, and is labelled so.
    generations : int
        T.
    replicates : int
        R replicates of the simulation per cell (0: exact map only). Each cell simulates the
        categorical MLE with ``replace`` (the counts path, l2 only).
    seed : int
        Cell (i, j) uses seed + i·len(a) + j.
    progress : bool
        A tqdm bar over cells.

    Returns
    -------
    RegimeMap

    Examples
    --------
    >>> from almo.sources import zipf
    >>> m = regime_map(zipf(20), [0.0], [1.0], n0=20, generations=4, replicates=50)
    >>> bool(abs(m.simulated[0, 0] - m.exact[0, 0]) < 4 * m.stderr[0, 0])
    True
    """
    a_arr = _exponents("a_values", a_values, low=0.0)
    b_arr = _exponents("b_values", b_values, low=None)
    alpha0 = check_number("alpha0", alpha0, "pass a fraction, e.g. alpha0=0.5", low=0.0, high=1.0)
    n0 = check_integer("n0", n0, "pass e.g. n0=100")
    generations = check_integer("generations", generations, "pass e.g. generations=30")
    replicates = check_integer("replicates", replicates, "pass e.g. replicates=50", low=0)
    seed = check_integer("seed", seed, "pass e.g. seed=0", low=0)
    c = collision_gap(truth)
    p = None
    if replicates > 0:
        if np.ndim(truth) == 0:
            raise fail(
                "truth",
                "be a distribution when replicates > 0 (the simulation draws from it)",
                truth,
                "pass e.g. zipf(100, 1.1), or replicates=0",
            )
        p = check_distribution(truth)
    shape = (len(b_arr), len(a_arr))
    exact = np.zeros(shape)
    sim = np.zeros(shape) if p is not None else None
    se = np.zeros(shape) if p is not None else None
    bar = tqdm(total=exact.size, disable=not progress, desc="regime map", unit="cell")
    for i, b in enumerate(b_arr):
        for j, a in enumerate(a_arr):
            al, ns = schedules(alpha0, n0, float(a), float(b))
            curve = risk_curve(c, al, ns, generations)
            exact[i, j] = np.log(curve[-1] / curve[0])
            if p is not None and sim is not None and se is not None:
                res = simulate(
                    CategoricalModel(len(p), which=("l2",)),
                    p,
                    alpha=al,
                    n=ns,
                    generations=generations,
                    replicates=replicates,
                    seed=seed + i * len(a_arr) + j,
                    method="counts",
                )
                x0, xt = res.metrics["l2"][:, 0], res.metrics["l2"][:, -1]
                m0, mt = x0.mean(), xt.mean()
                sim[i, j] = np.log(mt / m0)
                # Delta method: log(mean_T) − log(mean_0) varies like mean(x_T/m_T − x_0/m_0).
                d = xt / mt - x0 / m0
                se[i, j] = d.std(ddof=1) / np.sqrt(replicates) if replicates > 1 else 0.0
            bar.update(1)
    bar.close()
    if alpha0 == 0.0:  # α_t = 0 for every t: pure resampling, R_t → c whatever (a, b)
        regimes = [["collapse"] * len(a_arr) for _ in b_arr]
    else:
        regimes = [[regime(float(a), float(b)) for a in a_arr] for b in b_arr]
    settings = {
        "alpha0": alpha0,
        "n0": n0,
        "generations": generations,
        "replicates": replicates,
        "seed": seed,
        "c": c,
    }
    return RegimeMap(a_arr, b_arr, exact, sim, se, regimes, settings)


def _exponents(name: str, values: Sequence[float], low: float | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    bad = arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr))
    if not bad and low is not None:
        bad = bool(np.any(arr < low))
    if bad:
        rule = "be a non-empty list of finite numbers" + ("" if low is None else f" >= {low:g}")
        raise fail(name, rule, values, f"pass e.g. {name}=[0, 0.5, 1, 1.5]")
    return arr
