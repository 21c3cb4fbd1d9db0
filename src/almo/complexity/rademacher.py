"""Empirical Rademacher complexities: closed forms, a network bound and Monte Carlo estimates.

All complexities here are *empirical* (data-dependent): for a sample S = (x_1..x_m) and a class
F of real functions, R̂_S(F) = E_σ sup_{f∈F} (1/m) Σ_i σ_i f(x_i), σ_i independent signs.

- :func:`linear_rademacher` — {x ↦ w·x : ‖w‖ ≤ W}: the sup is exactly W ‖Σ_i σ_i x_i‖ / m, and
  Jensen gives R̂ ≤ W sqrt(Σ_i ‖x_i‖²) / m (the closed form); Khintchine–Kahane's inequality
  gives R̂ ≥ that bound / √2, so the closed form is tight within √2.
- :func:`mlp_rademacher` — Golowich–Rakhlin–Shamir (2018, Thm. 1) for depth-d networks with
  1-Lipschitz positive-homogeneous activations (ReLU) and no biases:
  R̂ ≤ (√(2 d log 2) + 1) Π_j ‖W_j‖_F sqrt(Σ_i ‖x_i‖²) / m.
- :func:`monte_carlo_rademacher` — mean and confidence interval of sup_f (1/m) Σ σ_i f(x_i) over
  random sign draws, for a finite class given by its values, or for the linear class (exact
  sup), to check the closed forms.
- :func:`objective_statistics` — the per-objective samples S_k of an
  :class:`~almo.ObjectiveFamily` (the whole sample, or one group's rows): m_k, Σ‖x_i‖², max ‖x_i‖.

Examples
--------
>>> import numpy as np
>>> X = np.array([[3.0, 4.0], [0.0, 5.0], [0.0, 0.0], [1.0, 0.0]])
>>> float(linear_rademacher(X, norm=2.0))  # 2 * sqrt(25 + 25 + 0 + 1) / 4
3.570714214271425
>>> est = monte_carlo_rademacher(X=X, norm=2.0, n_draws=4000, seed=0)
>>> bool(3.5707 / np.sqrt(2) <= est.mean <= 3.5707)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from almo._validation import check_count, check_positive, fail

__all__ = [
    "ObjectiveStatistics",
    "RademacherEstimate",
    "grs_depth_factor",
    "linear_rademacher",
    "mlp_rademacher",
    "monte_carlo_rademacher",
    "objective_statistics",
    "weighted_complexity",
]


def _features(X: Any, name: str = "X") -> np.ndarray:
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(
            name, "be a real array of shape (m, d)", type(X).__name__, "pass numbers"
        ) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or not np.all(np.isfinite(arr)):
        raise fail(
            name,
            "be a finite real array of shape (m, d) with m >= 1",
            arr if arr.size <= 8 else f"shape {arr.shape}",
            "drop rows with NaN/inf and pass at least one sample",
        )
    return arr


def linear_rademacher(X: Any, norm: float = 1.0) -> float:
    """Closed-form bound W sqrt(Σ_i ‖x_i‖²) / m on R̂_S({x ↦ w·x : ‖w‖₂ ≤ W}).

    Parameters
    ----------
    X : array of shape (m, d)
        The sample S (append a column of ones to cover an intercept inside the same ball).
    norm : float, default 1
        W, the radius of the weight ball.

    Returns
    -------
    float

    Examples
    --------
    >>> linear_rademacher([[1.0], [1.0], [1.0], [1.0]], norm=3.0)  # 3 * 2 / 4
    1.5
    """
    arr = _features(X)
    w = check_positive("norm", norm, allow_zero=True)
    return float(w * math.sqrt(float(np.sum(arr**2))) / arr.shape[0])


def grs_depth_factor(depth: int) -> float:
    """Golowich–Rakhlin–Shamir's depth constant √(2 d log 2) + 1.

    Examples
    --------
    >>> round(grs_depth_factor(1), 4), round(grs_depth_factor(4), 4)
    (2.1774, 3.3548)
    """
    d = check_count("depth", depth, "pass the number of weight layers, e.g. 2")
    return math.sqrt(2.0 * d * math.log(2.0)) + 1.0


def mlp_rademacher(X: Any, layer_norms: Any) -> float:
    """GRS bound (√(2 d log 2) + 1) Π_j ‖W_j‖_F sqrt(Σ_i ‖x_i‖²) / m for a depth-d network.

    Valid for networks x ↦ W_d φ(W_{d-1} φ(... φ(W_1 x))) with one output, φ 1-Lipschitz and
    positive-homogeneous (ReLU, leaky ReLU), no biases, ‖W_j‖_F ≤ ``layer_norms[j]``.

    Examples
    --------
    >>> X = [[1.0, 0.0], [0.0, 1.0]]
    >>> round(mlp_rademacher(X, [2.0, 0.5]), 4)  # (sqrt(4 log 2) + 1) * 1 * sqrt(2) / 2
    1.8845
    """
    arr = _features(X)
    norms = np.asarray(layer_norms, dtype=np.float64).reshape(-1)
    if norms.size == 0 or not np.all(np.isfinite(norms)) or np.any(norms < 0):
        raise fail(
            "layer_norms",
            "hold one finite norm >= 0 per weight layer",
            norms,
            "pass the Frobenius norms of the layers, e.g. [2.0, 0.5]",
        )
    return float(
        grs_depth_factor(norms.size)
        * float(np.prod(norms))
        * math.sqrt(float(np.sum(arr**2)))
        / arr.shape[0]
    )


@dataclass(frozen=True)
class RademacherEstimate:
    """A Monte Carlo estimate of an empirical Rademacher complexity.

    Attributes
    ----------
    mean : float
        Average of sup_f (1/m) Σ_i σ_i f(x_i) over the sign draws.
    stderr : float
        Standard error of the mean.
    low, high : float
        Normal-approximation confidence interval at ``confidence``.
    n_draws : int
    confidence : float
    """

    mean: float
    stderr: float
    low: float
    high: float
    n_draws: int
    confidence: float

    def covers(self, value: float, slack: float = 0.0) -> bool:
        """Whether ``value`` lies in [low - slack, high + slack]."""
        return bool(self.low - slack <= value <= self.high + slack)


def monte_carlo_rademacher(
    values: Any = None,
    *,
    X: Any = None,
    norm: float = 1.0,
    n_draws: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
    batch: int = 512,
) -> RademacherEstimate:
    """Monte Carlo estimate of R̂_S(F) with a confidence interval.

    Give either ``values`` — the finite class F = {f_1..f_H} as its values f_j(x_i), an array of
    shape (H, m): the sup is max_j (1/m) Σ_i σ_i f_j(x_i) — or ``X`` and ``norm`` for the linear
    class {x ↦ W x : ‖W‖_F ≤ norm}, whose sup is exact: norm ‖Σ_i σ_i x_i‖ / m (one output; for
    C outputs pass X of shape (m, d) and read R̂ of each output).

    Parameters
    ----------
    values : array of shape (H, m), optional
    X : array of shape (m, d), optional
    norm : float, default 1
    n_draws : int, default 2000
        Independent sign vectors σ ∈ {±1}^m.
    seed : int or None, default 0
    confidence : float, default 0.95
        Level of the normal-approximation interval mean ± z·stderr.
    batch : int, default 512
        Sign vectors drawn per matrix product (memory: batch × m).

    Returns
    -------
    RademacherEstimate

    Examples
    --------
    >>> import numpy as np
    >>> F = np.array([[1.0, 1.0], [-1.0, -1.0]])  # sup = |σ1 + σ2| / 2: 1 w.p. 1/2, else 0
    >>> est = monte_carlo_rademacher(F, n_draws=20000, seed=2)
    >>> bool(est.covers(0.5))
    True
    """
    if (values is None) == (X is None):
        raise fail(
            "values / X",
            "be given one at a time",
            "both" if values is not None else "neither",
            "pass values=(H, m) for a finite class, or X=(m, d) with norm= for a linear class",
        )
    n = check_count("n_draws", n_draws, "pass e.g. n_draws=2000")
    size = check_count("batch", batch, "pass e.g. batch=512")
    conf = float(confidence)
    if not 0.0 < conf < 1.0:
        raise fail("confidence", "lie in (0, 1)", confidence, "pass e.g. 0.95")
    if values is not None:
        F = _features(values, "values")  # (H, m): each row one hypothesis
        m = F.shape[1]
    else:
        Xa = _features(X)
        m = Xa.shape[0]
        w = check_positive("norm", norm, allow_zero=True)
    rng = np.random.default_rng(seed)
    sups = np.empty(n)
    for start in range(0, n, size):
        k = min(size, n - start)
        sigma = rng.integers(0, 2, size=(k, m)) * 2.0 - 1.0
        if values is not None:
            sups[start : start + k] = (sigma @ F.T).max(axis=1) / m
        else:
            sups[start : start + k] = w * np.linalg.norm(sigma @ Xa, axis=1) / m
    mean = float(sups.mean())
    stderr = float(sups.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    from scipy.stats import norm as normal

    z = float(normal.ppf(0.5 + conf / 2.0))
    return RademacherEstimate(mean, stderr, mean - z * stderr, mean + z * stderr, n, conf)


def weighted_complexity(weights: Any, lipschitz: Any, complexities: Any) -> float:
    """Σ_k λ_k μ_k R̂_k: the contraction bound on the λ-weighted complexity R(G, λ).

    Examples
    --------
    >>> weighted_complexity([0.5, 0.5], [1.0, 2.0], [0.1, 0.3])
    0.35
    """
    lam = np.asarray(weights, dtype=np.float64).reshape(-1)
    mu = np.asarray(lipschitz, dtype=np.float64).reshape(-1)
    rad = np.asarray(complexities, dtype=np.float64).reshape(-1)
    if not lam.shape == mu.shape == rad.shape:
        raise fail(
            "weights, lipschitz, complexities",
            "have the same length p",
            (lam.shape, mu.shape, rad.shape),
            "pass one entry per objective in each",
        )
    return float(np.sum(lam * mu * rad))


@dataclass(frozen=True)
class ObjectiveStatistics:
    """What the bounds need of each objective's own sample S_k (arrays of shape (p,)).

    Attributes
    ----------
    counts : ndarray
        m_k, the rows behind objective k (all rows, or its group's).
    sum_sq : ndarray
        Σ_{i∈S_k} ‖x_i‖².
    radius : ndarray
        max_{i∈S_k} ‖x_i‖.
    total : int
        m, the number of rows.
    """

    counts: np.ndarray
    sum_sq: np.ndarray
    radius: np.ndarray
    total: int

    def linear(self, norm: float = 1.0) -> np.ndarray:
        """Closed-form R̂_{S_k} of the linear class of radius ``norm``, for each k."""
        return norm * np.sqrt(self.sum_sq) / self.counts


def group_ids(groups: Any, n: int, n_groups: int) -> np.ndarray:
    """Integer ids 0..G-1 of ``n`` rows, checked."""
    if hasattr(groups, "detach"):
        groups = groups.detach().cpu().numpy()
    ids = np.asarray(groups).reshape(-1)
    if (
        ids.shape != (n,)
        or not (np.issubdtype(ids.dtype, np.integer) or ids.dtype == bool)
        or (n and (ids.min() < 0 or ids.max() >= n_groups))
    ):
        raise fail(
            "groups",
            f"hold one integer group id in [0, {n_groups - 1}] per row ({n} rows)",
            f"{ids.dtype} of shape {ids.shape}",
            "pass the same group ids the family's objectives are computed with",
        )
    return ids.astype(np.int64)


def objective_statistics(X: Any, family: Any, groups: Any = None) -> ObjectiveStatistics:
    """m_k, Σ_{i∈S_k} ‖x_i‖² and max ‖x_i‖ on each objective's sample S_k of ``family``.

    S_k is the whole sample for an objective without a group, the group's rows otherwise
    (``family.layout``). A group without rows is an error: its objective has no sample.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import ObjectiveFamily
    >>> fam = ObjectiveFamily.concat([ObjectiveFamily("hinge"), ObjectiveFamily("hinge", groups=2)])
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> st = objective_statistics(X, fam, groups=[0, 0, 1])
    >>> st.counts.tolist(), st.sum_sq.tolist(), st.radius.round(3).tolist()
    ([3.0, 2.0, 1.0], [13.0, 5.0, 8.0], [2.828, 2.0, 2.828])
    """
    arr = _features(X)
    n = arr.shape[0]
    layout = family.layout
    n_groups = max([g + 1 for _, g in layout if g is not None], default=0)
    if n_groups and groups is None:
        raise fail(
            "groups",
            "hold one group id per row: the family has group objectives",
            None,
            "pass the group ids the family's objectives are computed with",
        )
    ids = group_ids(groups, n, n_groups) if n_groups else np.zeros(n, dtype=np.int64)
    n_cells = max(n_groups, 1)
    sq = np.sum(arr**2, axis=1)
    norms = np.sqrt(sq)
    cell_sizes = np.bincount(ids, minlength=n_cells).astype(np.float64)
    cell_sq = np.bincount(ids, weights=sq, minlength=n_cells)
    cell_rad = np.zeros(n_cells)
    np.maximum.at(cell_rad, ids, norms)
    p = len(layout)
    cells = np.zeros((n_cells, p), dtype=bool)
    for k, (_, g) in enumerate(layout):
        if g is None:
            cells[:, k] = True
        else:
            cells[g, k] = True
    counts = cells.T.astype(np.float64) @ cell_sizes
    empty = [name for name, c in zip(family.names, counts, strict=True) if c == 0]
    if empty:
        raise fail(
            "groups",
            "give every group objective at least one row",
            f"no rows for {empty}",
            "drop the empty groups from the family, or add their data",
        )
    sum_sq = cells.T.astype(np.float64) @ cell_sq
    radius = np.array([cell_rad[cells[:, k]].max() for k in range(p)])
    return ObjectiveStatistics(counts, sum_sq, radius, n)
