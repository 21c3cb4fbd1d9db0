"""The contract every generative model of the simulator follows, and tempered sampling.

A model is a small configuration object; its fitted parameters are plain arrays with a leading
replicate axis R (the truth P* has R = 1 and broadcasts). The simulator only calls:

- ``model.truth_params(truth)`` — the true distribution in the model's parameter form;
- ``model.sample(params, n, rng, temperature=1.0, top_k=None)`` — ``n[r]`` draws for each
  replicate r, returned as :class:`~almo.sources.data.CountData` or
  :class:`~almo.sources.data.SampleData`;
- ``model.fit(data, previous, rng)`` — the estimate from ``data`` (replicates without data keep
  ``previous``; ``rng`` seeds stochastic fits);
- ``model.metrics(params, truth_params)`` — a dict of per-replicate metric arrays (R,).

Examples
--------
>>> import numpy as np
>>> tempered(np.array([[0.5, 0.3, 0.2]]), temperature=0.5, top_k=2).round(4).tolist()
[[0.7353, 0.2647, 0.0]]
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from almo._validation import check_integer, check_number

__all__ = ["GenerativeModel", "tempered"]


@runtime_checkable
class GenerativeModel(Protocol):
    """What :func:`~almo.sources.simulate` needs from a model (see the module docstring)."""

    def truth_params(self, truth: Any) -> Any: ...

    def sample(
        self,
        params: Any,
        n: np.ndarray,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> Any: ...

    def fit(
        self, data: Any, previous: Any = None, rng: np.random.Generator | None = None
    ) -> Any: ...

    def metrics(self, params: Any, truth_params: Any) -> dict[str, np.ndarray]: ...


def tempered(probs: np.ndarray, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """The sampling distribution ∝ P^(1/τ) restricted to the k most likely entries (last axis).

    Temperature below 1 sharpens the distribution and top-k cuts the tail, so rare tokens
    vanish first when a model is retrained on its own samples. Ties at the k-th value are
    broken by position. Rows stay normalized; zero entries stay zero.

    Examples
    --------
    >>> import numpy as np
    >>> tempered(np.array([0.25, 0.25, 0.5]), temperature=2.0).round(4).tolist()
    [0.2929, 0.2929, 0.4142]
    """
    temperature = check_temperature(temperature)
    p = np.asarray(probs, dtype=float)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logp = np.log(p) / temperature
        logp -= logp.max(axis=-1, keepdims=True)
        p = np.exp(logp)
    if top_k is not None:
        k = check_top_k(top_k, p.shape[-1])
        if k < p.shape[-1]:
            # Keep exactly k entries: the k largest (stable order breaks ties by position).
            order = np.argsort(-p, axis=-1, kind="stable")
            drop = order[..., k:]
            p = p.copy()
            np.put_along_axis(p, drop, 0.0, axis=-1)
    return p / p.sum(axis=-1, keepdims=True)


def check_temperature(temperature: float) -> float:
    """Return ``float(temperature)`` after checking it is finite and > 0."""
    return check_number(
        "temperature",
        temperature,
        "pass 1.0 for plain sampling, < 1 to sharpen, > 1 to flatten",
        low=0.0,
        low_open=True,
    )


def check_top_k(top_k: int, vocab: int | None = None) -> int:
    """Return ``int(top_k)`` after checking 1 <= top_k (values above the vocabulary keep all).

    ``vocab``, when known, only shapes the suggested fix and caps the result.

    Examples
    --------
    >>> check_top_k(50, 10)
    10
    """
    if vocab is None:
        fix = "pass None to keep every token, or a number of tokens such as top_k=50"
    else:
        fix = f"pass None to keep all {vocab} tokens, or e.g. top_k={max(1, vocab // 2)}"
    k = check_integer("top_k", top_k, fix, low=1)
    return k if vocab is None else min(k, vocab)
