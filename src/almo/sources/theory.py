"""Exact error recursions of the categorical model under contaminated retraining.

With P̂_t the empirical distribution of generation t's n_t samples, R_t = E‖P̂_t − P*‖²₂ and
c = 1 − ‖P*‖²₂ (the variance of one draw), R_0 = c/n_0 and:

- i.i.d. mixture sampling (each draw true with probability α_t, the contamination-agnostic
  default):  R_t = c/n_t + (1 − 1/n_t)(1 − α_t)² R_{t−1};
- fixed composition (k_t = round(α_t n_t) true draws, m_t = n_t − k_t synthetic):
  R_t = c/n_t + m_t(m_t − 1)/n_t² · R_{t−1}.

Derivation (both): P̂_{t−1} is unbiased for P*, so conditionally on it the fresh draws add their
multinomial variance and the synthetic part carries (1 − α)² (resp. (m/n)²) of the previous
error; averaging 1 − ‖Q‖² over P̂_{t−1} gives the −R_{t−1}/n_t (resp. −m/n² R_{t−1}) terms.

With α and n constant the i.i.d. recursion settles at c / (1 + (n − 1) α (2 − α)).

Examples
--------
>>> import numpy as np
>>> from almo.sources import zipf
>>> curve = risk_curve(zipf(100, 1.1), alpha=0.2, n=1000, generations=200)
>>> bool(np.isclose(curve[-1], stable_level(zipf(100, 1.1), 0.2, 1000)))
True
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from almo._validation import check_number, fail
from almo.sources.categorical import check_distribution
from almo.sources.schedules import ScheduleLike, alpha_values, n_values

__all__ = ["collision_gap", "risk_curve", "stable_level"]


def collision_gap(p_star: np.ndarray | float) -> float:
    """c = 1 − ‖P*‖²₂ (a float ``p_star`` is taken as c itself).

    Examples
    --------
    >>> collision_gap(np.array([0.5, 0.5]))
    0.5
    """
    fix = "pass the true distribution, e.g. zipf(1000, 1.1), or c in [0, 1]"
    if np.ndim(p_star) == 0:
        return check_number("p_star", p_star, fix, low=0.0, high=1.0)
    p = check_distribution(p_star, "p_star")
    if p.ndim != 1:
        raise fail("p_star", "be one probability vector (V,)", p.shape, fix)
    # Clipped: for a near point mass round-off can give ‖P*‖² a hair above 1.
    return float(np.clip(1.0 - p @ p, 0.0, 1.0))


def risk_curve(
    p_star: np.ndarray | float,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    composition: Literal["iid", "fixed"] = "iid",
) -> np.ndarray:
    """E‖P̂_t − P*‖²₂ for t = 0..``generations`` under any α and n schedules.

    Parameters
    ----------
    p_star : array of shape (V,) or float
        The true distribution, or c = 1 − ‖P*‖² directly.
    alpha, n : schedule-like
        α_t and n_t (see :func:`~almo.sources.as_schedule`); α_0 is unused.
    generations : int
        T, the number of retraining generations after generation 0.
    composition : {"iid", "fixed"}
        Each draw true with probability α_t, or exactly round(α_t n_t) true draws.

    Returns
    -------
    np.ndarray of shape (generations + 1,)

    Examples
    --------
    >>> risk_curve(0.5, alpha=0.0, n=10, generations=2).round(4).tolist()
    [0.05, 0.095, 0.1355]
    """
    c = collision_gap(p_star)
    a = alpha_values(alpha, generations)
    m_n = n_values(n, generations).astype(float)
    if composition not in ("iid", "fixed"):
        raise fail("composition", "be 'iid' or 'fixed'", composition, "pass composition='iid'")
    out = np.empty(generations + 1)
    out[0] = c / m_n[0]
    for t in range(1, generations + 1):
        nt = m_n[t]
        if composition == "iid":
            factor = (1.0 - 1.0 / nt) * (1.0 - a[t]) ** 2
        else:
            m = nt - np.rint(a[t] * nt)
            factor = m * (m - 1.0) / nt**2
        out[t] = c / nt + factor * out[t - 1]
    return out


def stable_level(
    p_star: np.ndarray | float, alpha: float, n: int, composition: Literal["iid", "fixed"] = "iid"
) -> float:
    """The fixed point of the recursion for constant α and n.

    i.i.d.: c / (1 + (n − 1) α (2 − α)); fixed composition: c n / (n² − m(m − 1)) with
    m = n − round(α n). At α = 0 both equal c (collapse to a point mass).

    Examples
    --------
    >>> stable_level(0.5, 0.0, 100)
    0.5
    >>> round(stable_level(0.5, 1.0, 100), 6)
    0.005
    """
    c = collision_gap(p_star)
    a = float(alpha_values(alpha, 0)[0])
    nn = float(n_values(n, 0)[0])
    if composition == "iid":
        return c / (1.0 + (nn - 1.0) * a * (2.0 - a))
    if composition == "fixed":
        m = nn - np.rint(a * nn)
        return float(c * nn / (nn**2 - m * (m - 1.0)))
    raise fail("composition", "be 'iid' or 'fixed'", composition, "pass composition='iid'")
