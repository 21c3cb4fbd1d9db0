"""Context-conditioned next-token models: the n-gram (Markov) table, fitted by counting.

A data unit is a sequence of ``length`` tokens. Contexts are the previous ``order − 1`` symbols
from the vocabulary plus a begin-of-sequence symbol BOS (index V), so there are
K = (V + 1)^(order − 1) contexts and every sequence starts in the all-BOS context. Parameters
are next-token tables of shape (R, K, V). Data are the transition counts (R, K, V).

The fit is one categorical per context: (C + s)/(N_c + Vs). A context never seen in training
has no MLE; the model then uses the replicate's pooled next-token frequencies (its unigram), so
that sampling never stalls.

Metrics average the per-context distances of :func:`~almo.sources.metrics.categorical_metrics`
with the expected number of visits of each context per true sequence (exact, by propagating the
context distribution of P*); ``support`` counts kept transitions.

Examples
--------
>>> import numpy as np
>>> model = NGramModel(vocab=3, order=2, length=5)
>>> truth = model.truth_params(random_markov(3, order=2, seed=0))
>>> data = model.sample(truth, np.array([10, 10]), np.random.default_rng(0))
>>> data.counts.shape, data.size().tolist()
((2, 4, 3), [50, 50])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from almo._validation import check_integer, check_number, fail
from almo.sources.base import tempered
from almo.sources.categorical import check_distribution
from almo.sources.data import CountData
from almo.sources.metrics import (
    CATEGORICAL_METRICS,
    check_kl_smoothing,
    check_which,
    conditional_metrics,
)

__all__ = ["NGramModel", "context_weights", "random_markov"]


def random_markov(
    vocab: int, order: int = 2, concentration: float = 0.5, seed: int = 0
) -> np.ndarray:
    """A random true next-token table (K, V): each context's row ~ Dirichlet(concentration).

    Small concentrations give peaked rows with long tails. K = (V + 1)^(order − 1).

    Examples
    --------
    >>> random_markov(4, order=2, seed=1).shape
    (5, 4)
    """
    vocab, order = _check_order(vocab, order)
    a = check_number(
        "concentration",
        concentration,
        "pass a Dirichlet concentration > 0, e.g. 0.5 (smaller is more peaked)",
        low=0.0,
        low_open=True,
    )
    seed = check_integer("seed", seed, "pass a non-negative integer, e.g. seed=0", low=0)
    rng = np.random.default_rng(seed)
    k = (vocab + 1) ** (order - 1)
    return rng.dirichlet(np.full(vocab, a), size=k)


def context_weights(table: np.ndarray, order: int, length: int) -> np.ndarray:
    """Expected visits of each context per sequence of ``length`` tokens drawn from ``table``.

    Examples
    --------
    >>> t = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    >>> context_weights(t, 2, 3).tolist()
    [1.0, 1.0, 1.0]
    """
    k, v = table.shape
    dist = np.zeros(k)
    dist[k - 1] = 1.0  # the all-BOS context has the largest index (BOS = V in base V + 1)
    visits = np.zeros(k)
    for _ in range(length):
        visits += dist
        nxt = np.zeros(k)
        # New context: drop the oldest symbol, append the token.
        new_ctx = _next_context(np.arange(k)[:, None], np.arange(v)[None, :], v, order)
        np.add.at(nxt, new_ctx.ravel(), (dist[:, None] * table).ravel())
        dist = nxt
    return visits


def _next_context(ctx: np.ndarray, token: np.ndarray, vocab: int, order: int) -> np.ndarray:
    return (ctx * (vocab + 1) + token) % ((vocab + 1) ** (order - 1))


def _check_order(vocab: int, order: int) -> tuple[int, int]:
    vocab = check_integer("vocab", vocab, "pass e.g. vocab=20")
    order = check_integer(
        "order", order, "pass order=2 (a bigram), or use CategoricalModel for a unigram", low=2
    )
    if (vocab + 1) ** (order - 1) * vocab > 5_000_000:
        raise fail(
            "order",
            "keep the table (V + 1)^(order − 1) × V below 5 million cells",
            order,
            "lower the order or the vocabulary",
        )
    return vocab, order


@dataclass(frozen=True)
class NGramModel:
    """n-gram next-token table over ``vocab`` tokens, one categorical per context.

    Parameters
    ----------
    vocab : int
        Vocabulary size V.
    order : int
        n of the n-gram (2 = bigram, contexts of one token).
    length : int
        Tokens per sampled sequence (one data unit).
    smoothing : float
        Additive smoothing s >= 0 per context; 0 is the MLE.
    which : sequence of str
        Metrics to compute.

    Examples
    --------
    >>> NGramModel(vocab=5, order=3).contexts
    36
    """

    vocab: int
    order: int = 2
    length: int = 20
    smoothing: float = 0.0
    which: Sequence[str] = CATEGORICAL_METRICS
    kl_smoothing: float = 1e-6

    def __post_init__(self) -> None:
        _check_order(self.vocab, self.order)
        check_integer("length", self.length, "pass e.g. length=20")
        check_number("smoothing", self.smoothing, "pass 0 for the MLE or e.g. 0.5", low=0.0)
        check_kl_smoothing(self.kl_smoothing)
        check_which(self.which)

    @property
    def contexts(self) -> int:
        """Number of contexts K = (V + 1)^(order − 1)."""
        return (self.vocab + 1) ** (self.order - 1)

    def truth_params(self, truth: np.ndarray) -> np.ndarray:
        """The true table as parameters of shape (1, K, V)."""
        table = check_distribution(truth)
        if table.shape != (self.contexts, self.vocab):
            raise fail(
                "truth",
                f"have shape ({self.contexts}, {self.vocab}) (contexts × vocab)",
                table.shape,
                "build it with random_markov(vocab, order)",
            )
        return table[None]

    def sample(
        self,
        params: np.ndarray,
        n: np.ndarray,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> CountData:
        """Transition counts of ``n[r]`` sequences of ``length`` tokens per replicate."""
        n = np.asarray(n, dtype=np.int64)
        r = n.shape[0]
        k, v = self.contexts, self.vocab
        cdf = np.cumsum(tempered(params, temperature, top_k), axis=-1)
        width = int(n.max()) if r else 0
        counts = np.zeros(r * k * v, dtype=np.int64)
        if width == 0:
            return CountData(counts.reshape(r, k, v))
        valid = np.arange(width)[None, :] < n[:, None]
        rows = np.broadcast_to(np.arange(r)[:, None], (r, width)) if cdf.shape[0] > 1 else 0
        ctx = np.full((r, width), k - 1, dtype=np.int64)
        base = (np.arange(r)[:, None] * k) * v
        for _ in range(self.length):
            u = rng.random((r, width))
            token = (cdf[rows, ctx] < u[..., None]).sum(axis=-1)
            np.minimum(token, v - 1, out=token)  # guards against round-off in the last cell
            flat = (base + ctx * v + token)[valid]
            counts += np.bincount(flat, minlength=r * k * v)
            ctx = _next_context(ctx, token, v, self.order)
        return CountData(counts.reshape(r, k, v))

    def fit(
        self,
        data: CountData,
        previous: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Per-context (C + s)/(N_c + Vs); unseen contexts use the pooled next-token counts."""
        counts = data.counts.astype(float)
        total = counts.sum(axis=-1, keepdims=True)
        pooled = counts.sum(axis=1, keepdims=True)
        pooled_total = pooled.sum(axis=-1, keepdims=True)
        s, v = self.smoothing, self.vocab
        with np.errstate(invalid="ignore", divide="ignore"):
            probs = (counts + s) / (total + v * s)
            fallback = (pooled + s) / (pooled_total + v * s)
        probs = np.where(total + v * s > 0, probs, fallback)
        empty = pooled_total[:, 0, 0] + v * s == 0
        if empty.any():
            if previous is None:
                raise fail(
                    "data",
                    "hold at least one sequence per replicate",
                    "an empty replicate",
                    "draw n >= 1 sequences, or pass the previous estimate",
                )
            probs[empty] = np.broadcast_to(previous, probs.shape)[empty]
        return probs

    def metrics(self, params: np.ndarray, truth_params: np.ndarray) -> dict[str, np.ndarray]:
        """Visit-weighted per-context metrics (see the module docstring)."""
        w = context_weights(truth_params[0], self.order, self.length)
        keep = w > 0
        return conditional_metrics(
            params[:, keep], truth_params[0][keep], w[keep] / w.sum(), self.which, self.kl_smoothing
        )
