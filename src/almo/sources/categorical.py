"""The categorical next-token model: a unigram over a vocabulary, fitted by counting.

The maximum-likelihood fit of n draws is their empirical frequency; with ``smoothing`` s > 0 it
is the additive (Laplace/Lidstone) estimate (C + s)/(n + Vs). This is the model of the exact
recursion in :mod:`almo.sources.theory`.

Examples
--------
>>> import numpy as np
>>> model = CategoricalModel(vocab=4)
>>> rng = np.random.default_rng(0)
>>> truth = model.truth_params(zipf(4, 1.0))
>>> data = model.sample(truth, np.array([100, 100]), rng)
>>> fitted = model.fit(data)
>>> fitted.shape, np.allclose(fitted.sum(axis=1), 1.0)
((2, 4), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from almo._validation import check_integer, check_number, fail
from almo.sources.base import tempered
from almo.sources.data import CountData
from almo.sources.metrics import (
    CATEGORICAL_METRICS,
    categorical_metrics,
    check_kl_smoothing,
    check_which,
)

__all__ = ["CategoricalModel", "check_distribution", "zipf"]


def zipf(vocab: int, exponent: float = 1.1) -> np.ndarray:
    """The Zipf distribution p_i ∝ i^(−exponent), i = 1..vocab (float64, sums to 1).

    Examples
    --------
    >>> zipf(3, 1.0).round(4).tolist()
    [0.5455, 0.2727, 0.1818]
    """
    v = check_integer("vocab", vocab, "pass e.g. vocab=1000")
    s = check_number("exponent", exponent, "pass e.g. 1.1 (0 is uniform)", low=0.0)
    w = np.arange(1, v + 1, dtype=float) ** (-s)
    return w / w.sum()


def check_distribution(p: Any, name: str = "truth") -> np.ndarray:
    """Return ``p`` as float64 after checking it is a probability vector (last axis).

    Examples
    --------
    >>> check_distribution([0.5, 0.5]).tolist()
    [0.5, 0.5]
    """
    try:
        arr = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise fail(
            name, "be a probability vector of numbers", p, "pass e.g. zipf(1000, 1.1)"
        ) from None
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise fail(name, "be a probability vector", arr, "pass e.g. zipf(1000, 1.1)")
    if (
        not np.all(np.isfinite(arr))
        or (arr < 0).any()
        or not np.allclose(arr.sum(axis=-1), 1.0, atol=1e-8)
    ):
        raise fail(
            name,
            "be non-negative and sum to 1 along its last axis",
            arr,
            "normalize it: p / p.sum()",
        )
    return arr / arr.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class CategoricalModel:
    """Unigram next-token model over ``vocab`` tokens; parameters are probabilities (R, V).

    Parameters
    ----------
    vocab : int
        Vocabulary size V.
    smoothing : float
        Additive smoothing s >= 0 of the fit, (C + s)/(n + Vs); 0 is the MLE.
    which : sequence of str
        Metrics to compute (see :mod:`almo.sources.metrics`); fewer is faster.
    kl_smoothing : float
        ε of the smoothed KL metric.

    Examples
    --------
    >>> import numpy as np
    >>> CategoricalModel(3).fit(CountData(np.array([[1, 1, 2]]))).tolist()
    [[0.25, 0.25, 0.5]]
    """

    vocab: int
    smoothing: float = 0.0
    which: Sequence[str] = CATEGORICAL_METRICS
    kl_smoothing: float = 1e-6

    def __post_init__(self) -> None:
        check_integer("vocab", self.vocab, "pass e.g. vocab=1000")
        check_number(
            "smoothing",
            self.smoothing,
            "pass 0 for the MLE or e.g. 0.5 for add-½ smoothing",
            low=0.0,
        )
        check_kl_smoothing(self.kl_smoothing)
        check_which(self.which)

    def truth_params(self, truth: np.ndarray) -> np.ndarray:
        """P* as parameters of shape (1, V)."""
        p = check_distribution(truth)
        if p.shape != (self.vocab,):
            raise fail(
                "truth",
                f"have shape ({self.vocab},) to match `vocab`",
                p.shape,
                f"pass a distribution over {self.vocab} tokens",
            )
        return p[None, :]

    def sample(
        self,
        params: np.ndarray,
        n: np.ndarray,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> CountData:
        """Counts of ``n[r]`` i.i.d. draws from row r of ``params`` (tempered, top-k)."""
        q = tempered(params, temperature, top_k)
        n = np.asarray(n, dtype=np.int64)
        if q.shape[0] == 1:
            return CountData(rng.multinomial(n, q[0]))
        return CountData(rng.multinomial(n, q))

    def fit(
        self,
        data: CountData,
        previous: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """(C + s)/(n + Vs) per replicate; replicates without data keep ``previous``."""
        counts = data.counts.astype(float)
        total = counts.sum(axis=1, keepdims=True)
        denom = total + self.vocab * self.smoothing
        with np.errstate(invalid="ignore", divide="ignore"):
            probs = (counts + self.smoothing) / denom
        empty = denom[:, 0] == 0
        if empty.any():
            if previous is None:
                raise fail(
                    "data",
                    "hold at least one sample per replicate",
                    "an empty replicate",
                    "draw n >= 1 samples, or pass the previous estimate",
                )
            probs[empty] = np.broadcast_to(previous, probs.shape)[empty]
        return probs

    def metrics(self, params: np.ndarray, truth_params: np.ndarray) -> dict[str, np.ndarray]:
        """The metrics in ``which`` for each replicate (see :mod:`almo.sources.metrics`)."""
        return categorical_metrics(params, truth_params[0], self.which, self.kl_smoothing)
