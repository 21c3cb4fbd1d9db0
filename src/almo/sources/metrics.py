"""Per-replicate distances between fitted models and the truth P*.

Token distributions (rows of ``probs``, shape (R, V), against ``p_star`` of shape (V,)):

- ``l2`` — squared Euclidean error ‖P̂ − P*‖²₂ (the R_t of the theory);
- ``tv`` — total variation ½‖P̂ − P*‖₁;
- ``kl`` — KL(P* ‖ P̂_ε) with P̂_ε = (P̂ + ε)/(1 + Vε), ε = ``kl_smoothing`` (1e-6 by default):
  the smoothing keeps it finite when the model has lost tokens, each lost token then costing
  about p*·log(p*/ε);
- ``entropy`` — H(P̂) in nats;
- ``support`` — the number of tokens with P̂ > 0;
- ``tail_mass`` — the share of P*'s rarest decile the model still covers:
  Σ_{i∈D} p*_i·[P̂_i > 0] / P*(D), for D the ⌈V⁺/10⌉ least likely tokens among the V⁺ that
  P* can emit (tokens with p*_i = 0 are no tail: they would make P*(D) = 0). 1 while every
  tail token keeps some probability, 0 once the whole tail has vanished. (The ratio
  P̂(D)/P*(D) would be useless here: P̂ is unbiased, so its mean over replicates stays 1.)

Gaussians (means (R, d), covariances (R, d, d)): ``mean_error`` ‖μ̂ − μ*‖², ``var_error``
‖Σ̂ − Σ*‖²_F, ``w2`` the squared 2-Wasserstein distance. Regression: ``test_mse`` (see
:mod:`almo.sources.continuous`).

Examples
--------
>>> import numpy as np
>>> m = categorical_metrics(np.array([[0.5, 0.5, 0.0]]), np.array([0.5, 0.25, 0.25]))
>>> round(float(m["l2"][0]), 4), round(float(m["tv"][0]), 4), int(m["support"][0])
(0.125, 0.25, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.special import entr

from almo._validation import check_number, fail

__all__ = [
    "CATEGORICAL_METRICS",
    "categorical_metrics",
    "check_kl_smoothing",
    "check_which",
    "conditional_metrics",
    "count_metrics",
    "gaussian_metrics",
    "tail_tokens",
]

CATEGORICAL_METRICS = ("l2", "tv", "kl", "entropy", "support", "tail_mass")


def tail_tokens(p_star: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Indices of the ⌈fraction·V⌉ least likely tokens under ``p_star`` (ties: lower index first).

    Examples
    --------
    >>> tail_tokens(np.array([0.4, 0.1, 0.3, 0.2]), 0.5).tolist()
    [1, 3]
    """
    frac = check_number(
        "fraction",
        fraction,
        "pass the share of the vocabulary to keep, e.g. fraction=0.1",
        low=0.0,
        high=1.0,
    )
    p = np.asarray(p_star, dtype=float)
    k = max(1, int(np.ceil(frac * p.shape[-1])))
    return np.sort(np.argsort(p, kind="stable")[:k])


def check_kl_smoothing(kl_smoothing: float) -> float:
    """Return ``float(kl_smoothing)`` after checking it is finite and > 0.

    The KL metric takes log(P̂ + ε): ε = 0 is infinite for a lost token, ε < 0 is NaN.

    Examples
    --------
    >>> check_kl_smoothing(1e-6)
    1e-06
    """
    return check_number(
        "kl_smoothing",
        kl_smoothing,
        "pass a small positive ε such as the default kl_smoothing=1e-6",
        low=0.0,
        low_open=True,
    )


def check_which(which: Sequence[str]) -> tuple[str, ...]:
    """Return ``which`` as a tuple after checking it names known token metrics.

    Examples
    --------
    >>> check_which(["l2", "kl"])
    ('l2', 'kl')
    """
    fix = f"pass a list of names among {list(CATEGORICAL_METRICS)}, e.g. which=('l2', 'kl')"
    if isinstance(which, (str, bytes)) or not isinstance(which, Iterable):
        raise fail("which", "be a sequence of metric names", which, fix)
    names = tuple(which)
    unknown = [name for name in names if name not in CATEGORICAL_METRICS]
    if unknown:
        raise fail(
            "which",
            f"name metrics among {list(CATEGORICAL_METRICS)}",
            sorted(map(str, unknown)),
            "drop the unknown names",
        )
    return names


def _support_tail(p_star: np.ndarray) -> np.ndarray:
    """:func:`tail_tokens` among the tokens P* can emit (all of them if it emits none)."""
    support = np.flatnonzero(p_star > 0)
    if support.size == 0 or support.size == p_star.shape[-1]:
        return tail_tokens(p_star)
    return support[tail_tokens(p_star[support])]


def categorical_metrics(
    probs: np.ndarray,
    p_star: np.ndarray,
    which: Sequence[str] = CATEGORICAL_METRICS,
    kl_smoothing: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Distances between each row of ``probs`` (R, V) and ``p_star`` (V,), each of shape (R,).

    Examples
    --------
    >>> import numpy as np
    >>> m = categorical_metrics(np.array([[0.25, 0.75]]), np.array([0.5, 0.5]), ["l2", "kl"])
    >>> round(float(m["l2"][0]), 4), round(float(m["kl"][0]), 4)
    (0.125, 0.1438)
    """
    check_kl_smoothing(kl_smoothing)
    which = check_which(which)
    p = np.asarray(probs, dtype=float)
    q = np.asarray(p_star, dtype=float)
    if p.ndim != 2:
        raise fail(
            "probs",
            "be a 2-d array of shape (replicates, vocabulary)",
            p.shape,
            "pass one distribution per row, e.g. probs[None] for a single one",
        )
    if q.shape != p.shape[1:]:
        raise fail(
            "p_star",
            f"be a 1-d array with one entry per column of `probs` ({p.shape[1]})",
            q.shape,
            "pass the true distribution over the same vocabulary as `probs`",
        )
    out: dict[str, np.ndarray] = {}
    if "l2" in which or "tv" in which:
        diff = p - q
        if "l2" in which:
            out["l2"] = np.einsum("rv,rv->r", diff, diff)
        if "tv" in which:
            out["tv"] = 0.5 * np.abs(diff).sum(axis=1)
    if "kl" in which:
        eps = float(kl_smoothing)
        v = q.shape[-1]
        mask = q > 0
        # Σ p* log p* − Σ p* log(P̂ + ε) + log(1 + Vε): only the middle term depends on P̂.
        const = float(q[mask] @ np.log(q[mask])) + np.log1p(v * eps)
        out["kl"] = const - np.log(p[:, mask] + eps) @ q[mask]
    if "entropy" in which:
        out["entropy"] = entr(p).sum(axis=1)
    if "support" in which:
        out["support"] = np.count_nonzero(p > 0, axis=1).astype(float)
    if "tail_mass" in which:
        tail = _support_tail(q)
        out["tail_mass"] = (p[:, tail] > 0) @ q[tail] / q[tail].sum()
    return out


def count_metrics(
    counts: np.ndarray,
    total: int,
    p_star: np.ndarray,
    which: Sequence[str] = CATEGORICAL_METRICS,
    kl_smoothing: float = 1e-6,
    work: np.ndarray | None = None,
    cache: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`categorical_metrics` of the empirical distributions ``counts / total``, faster.

    ``counts`` (R, V) are non-negative integers summing to ``total`` per row. The logarithms
    of entropy and KL are looked up in tables indexed by the count (at most ``total + 1``
    distinct values) instead of being computed R·V times, and every (R, V) intermediate is
    written into ``work`` (a float64 buffer of the same shape, allocated if None): fresh large
    arrays each generation would cost more in page faults than the arithmetic. ``cache``, a
    dict the caller keeps across calls with the same ``p_star`` and ``kl_smoothing``, holds
    what depends only on them and on ``total`` (the tail tokens, the KL constant, the tables).

    Examples
    --------
    >>> import numpy as np
    >>> c, p = np.array([[2, 2, 0]]), np.array([0.5, 0.25, 0.25])
    >>> fast = count_metrics(c, 4, p)
    >>> slow = categorical_metrics(c / 4, p)
    >>> all(np.allclose(fast[k], slow[k]) for k in CATEGORICAL_METRICS)
    True
    """
    c = np.asarray(counts)
    q = np.asarray(p_star, dtype=float)
    n = float(total)
    buf = np.empty(c.shape) if work is None else work
    memo: dict[str, Any] = {} if cache is None else cache
    out: dict[str, np.ndarray] = {}
    if "l2" in which or "tv" in which:
        np.copyto(buf, c)
        if "l2" in which:
            out["l2"] = (np.einsum("rv,rv->r", c, c) - 2 * n * (buf @ q)) / n**2 + q @ q
        if "tv" in which:
            # ½‖P̂ − P*‖₁ = 1 − Σ min(P̂, P*) for two distributions.
            out["tv"] = 1.0 - np.minimum(buf, n * q, out=buf).sum(axis=1) / n
    if "kl" in which or "entropy" in which:
        levels = np.arange(int(total) + 1, dtype=float)
        if "kl" in which:
            eps = float(kl_smoothing)
            if "kl_const" not in memo:
                pos = q > 0
                memo["kl_const"] = float(q[pos] @ np.log(q[pos])) + np.log1p(q.shape[-1] * eps)
            key = f"kl_table_{int(total)}"
            if key not in memo:
                memo[key] = np.log(levels / n + eps)
            # mode="clip" (counts are valid indices): the default mode buffers `out`, slowly.
            np.take(memo[key], c, out=buf, mode="clip")
            out["kl"] = memo["kl_const"] - buf @ q  # tokens with p* = 0 weigh 0 in the product
        if "entropy" in which:
            # H = log n − (1/n) Σ C log C, and entr(C) = −C log C.
            key = f"entr_table_{int(total)}"
            if key not in memo:
                memo[key] = entr(levels)
            np.take(memo[key], c, out=buf, mode="clip")
            out["entropy"] = np.log(n) + buf.sum(axis=1) / n
    if "support" in which:
        out["support"] = np.count_nonzero(c, axis=1).astype(float)
    if "tail_mass" in which:
        if "tail" not in memo:
            tail = _support_tail(q)
            memo["tail"] = (tail, q[tail], q[tail].sum())
        tail, q_tail, mass = memo["tail"]
        out["tail_mass"] = (c[:, tail] > 0) @ q_tail / mass
    return out


def conditional_metrics(
    probs: np.ndarray,
    p_star: np.ndarray,
    weights: np.ndarray,
    which: Sequence[str] = CATEGORICAL_METRICS,
    kl_smoothing: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Context-conditioned metrics: per-context distances averaged with ``weights`` over contexts.

    ``probs`` (R, K, V) and ``p_star`` (K, V) are next-token distributions per context;
    ``weights`` (K,) are the true context frequencies. ``support`` counts the transitions kept
    (all contexts summed); ``tail_mass`` uses each context's own rarest decile.

    Examples
    --------
    >>> import numpy as np
    >>> p_star = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> m = conditional_metrics(p_star[None], p_star, np.array([0.5, 0.5]), ["l2", "support"])
    >>> float(m["l2"][0]), float(m["support"][0])
    (0.0, 4.0)
    """
    p = np.asarray(probs, dtype=float)
    q = np.asarray(p_star, dtype=float)
    w = np.asarray(weights, dtype=float)
    r, k = p.shape[:2]
    per = {name: np.zeros((r, k)) for name in which}
    for c in range(k):
        m = categorical_metrics(p[:, c], q[c], which, kl_smoothing)
        for name in which:
            per[name][:, c] = m[name]
    out = {name: per[name] @ w for name in which if name != "support"}
    if "support" in which:
        out["support"] = per["support"].sum(axis=1)
    return out


def gaussian_metrics(
    means: np.ndarray, covs: np.ndarray, true_mean: np.ndarray, true_cov: np.ndarray
) -> dict[str, np.ndarray]:
    """Mean error, covariance error and squared W2 of fitted Gaussians (R replicates).

    W2² = ‖μ̂ − μ*‖² + tr(Σ̂ + Σ* − 2 (Σ*^½ Σ̂ Σ*^½)^½), the matrix square roots taken by
    symmetric eigendecomposition (negative round-off eigenvalues clipped at 0).

    Examples
    --------
    >>> import numpy as np
    >>> m = gaussian_metrics(np.array([[1.0]]), np.array([[[4.0]]]), np.zeros(1), np.eye(1))
    >>> float(m["mean_error"][0]), float(m["var_error"][0]), float(m["w2"][0])
    (1.0, 9.0, 2.0)
    """
    mu = np.asarray(means, dtype=float)
    cov = np.asarray(covs, dtype=float)
    mu0 = np.asarray(true_mean, dtype=float)
    cov0 = np.asarray(true_cov, dtype=float)
    _check_gaussian_shapes(mu, cov, mu0, cov0)
    mean_error = ((mu - mu0) ** 2).sum(axis=-1)
    var_error = ((cov - cov0) ** 2).sum(axis=(-2, -1))
    root0 = _sqrtm_psd(cov0)
    cross = _sqrtm_psd(root0 @ cov @ root0)
    bures = (
        np.trace(cov, axis1=-2, axis2=-1) + np.trace(cov0) - 2 * np.trace(cross, axis1=-2, axis2=-1)
    )
    return {
        "mean_error": mean_error,
        "var_error": var_error,
        "w2": mean_error + np.maximum(bures, 0.0),
    }


def _check_gaussian_shapes(
    mu: np.ndarray, cov: np.ndarray, mu0: np.ndarray, cov0: np.ndarray
) -> None:
    """Refuse by name the shapes that would otherwise fail inside numpy broadcasting."""
    if mu0.ndim != 1:
        raise fail("true_mean", "be a 1-d array (d,)", mu0.shape, "pass μ* as a vector")
    d = mu0.shape[0]
    r = mu.shape[0] if mu.ndim == 2 else None
    checks = [
        ("true_cov", cov0.shape == (d, d), f"({d}, {d})", "pass Σ* as a (d, d) matrix"),
        ("means", r is not None and mu.shape[1] == d, f"(R, {d})", "pass one mean per row"),
        ("covs", cov.shape == (r, d, d), f"({r}, {d}, {d})", "pass one (d, d) matrix per mean"),
    ]
    for name, ok, shape, fix in checks:
        if not ok:
            found = {"true_cov": cov0, "means": mu, "covs": cov}[name].shape
            raise fail(
                name,
                f"have shape {shape} to match `true_mean` of dimension d = {d}",
                found,
                fix,
            )


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    sym = 0.5 * (a + np.swapaxes(a, -1, -2))
    vals, vecs = np.linalg.eigh(sym)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]) @ np.swapaxes(vecs, -1, -2)
