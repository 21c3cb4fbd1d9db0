"""Proxies: train a small model on a λ-mixture of the clusters, score it on the target set(s).

A proxy is any callable ``train_and_score(weights) -> float`` (lower is better, a loss), or one
returning a vector of losses, one per target. When it accepts a ``seed`` keyword the search
passes each run its own seed, so results do not depend on how runs are spread over workers.
Two are built in, both over the same tokenized sources (:class:`SourceData`):

- :class:`NGramProxy`: an order-2 (or order-1) count model with additive smoothing, trained on
  a sample of ``n_tokens`` tokens drawn as documents from each cluster in proportion to λ, and
  scored by its mean next-token loss (nats) on each target. Its :meth:`~NGramProxy.large_loss`
  is the *larger model*: the same model trained on ``large_tokens`` tokens of expected counts
  (no sampling noise), whose loss is a smooth function of λ with a computable optimum
  (:meth:`~NGramProxy.optimum`) — the reference for regret.
- :class:`TorchProxy`: a small neural bigram model (embedding, linear read-out) trained by Adam
  on the same kind of sample.

Examples
--------
>>> from almo.search.corpus import make_corpus
>>> corpus = make_corpus(n_docs=200, n_topics=3, low_quality=0.0, seed=0)
>>> proxy = NGramProxy(corpus.documents, corpus.topics, corpus.target, n_tokens=2000)
>>> loss = proxy(np.array([0.0, 0.6, 0.4]), seed=0)
>>> bool(loss < proxy(np.array([1.0, 0.0, 0.0]), seed=0))  # the target's topics help
True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from almo._validation import check_integer, check_number, fail
from almo.search.cluster import check_texts

__all__ = ["NGramProxy", "SourceData", "TorchProxy", "call_proxy", "check_weights"]

#: Largest (contexts × vocabulary × sources) table the count model keeps in memory.
MAX_TABLE = 60_000_000


def check_weights(weights: Any, k: int, name: str = "weights") -> np.ndarray:
    """λ as a float vector of ``k`` non-negative entries summing to 1 (within 1e-6)."""
    try:
        w = np.asarray(weights, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise fail(
            name, f"be {k} mixture weights", weights, "pass a vector on the simplex"
        ) from None
    if w.size != k or not np.isfinite(w).all() or np.any(w < -1e-12) or abs(w.sum() - 1) > 1e-6:
        raise fail(
            name, f"be {k} non-negative weights summing to 1", w, "pass e.g. np.full(k, 1 / k)"
        )
    return np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()


def call_proxy(proxy: Callable[..., Any], weights: np.ndarray, seed: int) -> np.ndarray:
    """Run ``proxy`` on ``weights`` (with ``seed=`` when it takes one); a checked float vector.

    Examples
    --------
    >>> call_proxy(lambda w: float(w[0]), np.array([0.25, 0.75]), 0)
    array([0.25])
    """
    out = proxy(weights, seed=seed) if _takes_seed(proxy) else proxy(weights)
    try:
        values = np.asarray(out, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.size == 0 or not np.isfinite(values).all():
        raise fail(
            "proxy",
            "return a finite score (or a vector of them)",
            out,
            "make train_and_score(weights) return a float loss",
        )
    return values


def _takes_seed(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class SourceData:
    """Documents tokenized once: per-document (context, next) pairs, grouped by cluster.

    Contexts are the previous token, or BOS (index V) at a document's start, for ``order=2``;
    the single context 0 for ``order=1``. Documents with label -1 (pruned) are left out.

    Examples
    --------
    >>> data = SourceData(["a b", "b a a"], [0, 1], [["a b"]])
    >>> data.k, data.vocab_size, data.tokens.tolist()
    (2, 2, [2, 3])
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Any,
        targets: Sequence[Sequence[str]],
        order: int = 2,
    ) -> None:
        texts = check_texts(texts)
        labels = np.asarray(labels).reshape(-1)
        if labels.size != len(texts) or not np.issubdtype(labels.dtype, np.integer):
            raise fail(
                "labels",
                f"be one integer cluster id per document ({len(texts)})",
                f"{labels.size} labels of type {labels.dtype}",
                "pass clusters.labels",
            )
        if not np.any(labels >= 0):
            raise fail(
                "labels", "name at least one cluster (ids >= 0)", labels, "pass clusters.labels"
            )
        self.order = check_integer("order", order, "pass order=2 (bigram) or 1", low=1, high=2)
        self.targets = [check_texts(t, "targets") for t in targets]
        vocab: dict[str, int] = {}
        for doc in [*texts, *(d for t in self.targets for d in t)]:
            for tok in doc.split():
                vocab.setdefault(tok, len(vocab))
        self.vocab_size = v = len(vocab)
        self.n_contexts = v + 1 if self.order == 2 else 1
        self.k = int(labels.max()) + 1
        if self.k * self.n_contexts * v > MAX_TABLE:
            raise fail(
                "texts",
                f"have a vocabulary small enough for the count tables "
                f"({self.k} sources × {self.n_contexts} × {v} cells > {MAX_TABLE})",
                v,
                "use fewer clusters, order=1, or your own proxy callable",
            )
        self.doc_pairs: list[list[np.ndarray]] = [[] for _ in range(self.k)]
        for doc, c in zip(texts, labels, strict=True):
            if c >= 0:
                self.doc_pairs[c].append(self.pairs(doc, vocab))
        empty = [c for c in range(self.k) if not self.doc_pairs[c]]
        if empty:
            raise fail(
                "labels",
                "use every id from 0 to max(labels)",
                f"no document in {empty}",
                "number the clusters 0..k-1",
            )
        self.tokens = np.array([sum(p.size for p in ps) for ps in self.doc_pairs])
        self.doc_lengths = [np.array([p.size for p in ps]) for ps in self.doc_pairs]
        self.target_pairs = [
            np.concatenate([self.pairs(d, vocab) for d in t]) for t in self.targets
        ]

    def pairs(self, doc: str, vocab: dict[str, int]) -> np.ndarray:
        """The (context × V + next) indices of one document."""
        ids = np.array([vocab[t] for t in doc.split()], dtype=np.int64)
        if self.order == 1:
            return ids
        prev = np.concatenate([[self.vocab_size], ids[:-1]])
        return prev * self.vocab_size + ids

    def sample(self, weights: np.ndarray, n_tokens: int, rng: np.random.Generator) -> np.ndarray:
        """About ``n_tokens`` pair indices, whole documents drawn from cluster c for λ_c of them."""
        out = []
        for c in np.flatnonzero(weights > 0):
            want = weights[c] * n_tokens / self.doc_lengths[c].mean()
            n = int(np.floor(want) + (rng.random() < want - np.floor(want)))
            if n:
                docs = rng.integers(0, len(self.doc_pairs[c]), size=n)
                out += [self.doc_pairs[c][d] for d in docs]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


class NGramProxy:
    """Count-model proxy: train on a λ-mixture sample, return the loss on each target.

    Parameters
    ----------
    texts : sequence of str
        The training documents.
    labels : array of int (n_docs,)
        Cluster of each document (``Clusters.labels``); -1 leaves a document out.
    targets : sequence of str, or a sequence of them
        One target set (a list of documents), or several (the proxy then returns a vector).
    n_tokens : int
        Training tokens per proxy run.
    order : {1, 2}
        Unigram or bigram model.
    smoothing : float
        Additive smoothing s > 0 per (context, token).
    large_tokens : int, optional
        Training tokens of the larger model (default 20 × ``n_tokens``).

    Examples
    --------
    >>> proxy = NGramProxy(["a b a b", "c c c"], [0, 1], ["a b a"], n_tokens=20)
    >>> proxy.k, proxy.n_targets
    (2, 1)
    >>> bool(proxy.large_loss([1.0, 0.0]) < proxy.large_loss([0.0, 1.0]))
    True
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Any,
        targets: Sequence[str] | Sequence[Sequence[str]],
        n_tokens: int = 20_000,
        order: int = 2,
        smoothing: float = 0.1,
        large_tokens: int | None = None,
    ) -> None:
        self.multi = bool(targets) and not isinstance(targets[0], str)
        sets = list(targets) if self.multi else [targets]
        self.data = SourceData(texts, labels, sets, order)  # type: ignore[arg-type]
        self.n_tokens = check_integer("n_tokens", n_tokens, "pass e.g. n_tokens=20000")
        self.smoothing = check_number(
            "smoothing", smoothing, "pass e.g. smoothing=0.1", low=0, low_open=True
        )
        self.large_tokens = check_integer(
            "large_tokens",
            20 * self.n_tokens if large_tokens is None else large_tokens,
            "pass e.g. large_tokens=400000",
        )
        v = self.data.vocab_size
        # Expected count tables at the targets' pairs and contexts, per cluster and token.
        self._at_pairs, self._at_ctx, self._pair_w, self._ctx_w = [], [], [], []
        for tp in self.data.target_pairs:
            uniq, cnt = np.unique(tp, return_counts=True)
            ctx_u, ctx_cnt = np.unique(uniq // v, return_counts=False), None
            del ctx_cnt
            ctx_w = np.bincount(np.searchsorted(ctx_u, uniq // v), weights=cnt)
            self._at_pairs.append(np.zeros((self.k, uniq.size)))
            self._at_ctx.append(np.zeros((self.k, ctx_u.size)))
            self._pair_w.append(cnt / cnt.sum())
            self._ctx_w.append(ctx_w / cnt.sum())
            for c in range(self.k):
                allp = np.concatenate(self.data.doc_pairs[c])
                counts = np.bincount(allp, minlength=self.data.n_contexts * v) / allp.size
                self._at_pairs[-1][c] = counts[uniq]
                self._at_ctx[-1][c] = counts.reshape(self.data.n_contexts, v).sum(axis=1)[ctx_u]
        self._targets_uniq = [np.unique(tp) for tp in self.data.target_pairs]

    @property
    def k(self) -> int:
        """Number of sources (clusters)."""
        return self.data.k

    @property
    def n_targets(self) -> int:
        """Number of target sets."""
        return len(self.data.targets)

    def _out(self, losses: list[float]) -> Any:
        return np.array(losses) if self.multi else float(losses[0])

    def __call__(self, weights: Any, seed: int = 0) -> Any:
        """Train on a sample of the λ-mixture (seeded), return each target's mean loss."""
        w = check_weights(weights, self.k)
        rng = np.random.default_rng(seed)
        v, s = self.data.vocab_size, self.smoothing
        counts = np.bincount(
            self.data.sample(w, self.n_tokens, rng), minlength=self.data.n_contexts * v
        ).astype(float)
        rows = counts.reshape(self.data.n_contexts, v).sum(axis=1)
        out = []
        for tp in self.data.target_pairs:
            logp = np.log(counts[tp] + s) - np.log(rows[tp // v] + v * s)
            out.append(float(-logp.mean()))
        return self._out(out)

    def large_loss(self, weights: Any) -> Any:
        """The larger model's target loss(es): trained on ``large_tokens`` expected tokens."""
        w = check_weights(weights, self.k)
        return self._out([float(v) for v in self._large(w[None, :])[0]])

    def _large(self, W: np.ndarray) -> np.ndarray:
        """Losses (m, n_targets) of the larger model for m weight vectors."""
        n, v, s = self.large_tokens, self.data.vocab_size, self.smoothing
        cols = []
        for t in range(self.n_targets):
            num = np.log(n * W @ self._at_pairs[t] + s) @ self._pair_w[t]
            den = np.log(n * W @ self._at_ctx[t] + v * s) @ self._ctx_w[t]
            cols.append(den - num)
        return np.stack(cols, axis=1)

    def _large_grad(self, w: np.ndarray, t: int) -> np.ndarray:
        n, v, s = self.large_tokens, self.data.vocab_size, self.smoothing
        a, b = self._at_pairs[t], self._at_ctx[t]
        g_num = a @ (self._pair_w[t] / (n * w @ a + s))
        g_den = b @ (self._ctx_w[t] / (n * w @ b + v * s))
        return n * (g_den - g_num)

    def optimum(
        self,
        aggregate: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
        starts: Sequence[np.ndarray] = (),
    ) -> tuple[np.ndarray, float]:
        """The λ minimizing the larger model's (aggregated) target loss, and that loss.

        Found by SLSQP over the simplex from several starts (uniform, each ``start``, the best
        of 2000 Dirichlet draws); ``aggregate(losses) -> (value, target weights)`` turns the
        per-target losses into one number (default: the single target's loss, or the mean).
        The loss is smooth but not convex in λ: the result is the best optimum found.
        """
        from scipy.optimize import minimize

        k = self.k

        def agg(losses: np.ndarray) -> tuple[float, np.ndarray]:
            if aggregate is not None:
                return aggregate(losses)
            mu = np.full(losses.size, 1.0 / losses.size)
            return float(losses @ mu), mu

        def f(x: np.ndarray) -> tuple[float, np.ndarray]:
            x = np.clip(x, 0, None)
            x = x / x.sum() if x.sum() > 0 else np.full(k, 1.0 / k)
            value, mu = agg(self._large(x[None, :])[0])
            grad = sum(mu[t] * self._large_grad(x, t) for t in range(self.n_targets))
            return value, np.asarray(grad)

        rng = np.random.default_rng(0)
        draws = rng.dirichlet(np.ones(k), size=2000)
        vals = np.array([agg(row)[0] for row in self._large(draws)])
        inits = [np.full(k, 1.0 / k), draws[int(np.argmin(vals))], *starts]
        best_w, best = inits[0], np.inf
        for x0 in inits:
            res = minimize(  # type: ignore[call-overload]
                f,
                np.asarray(x0, dtype=float),
                jac=True,
                method="SLSQP",
                bounds=[(0.0, 1.0)] * k,
                constraints=[
                    {"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}
                ],
                options={"maxiter": 300, "ftol": 1e-12},
            )
            x = np.clip(res.x, 0, None)
            x /= x.sum()
            value = f(x)[0]
            if value < best:
                best_w, best = x, value
        return best_w, float(best)


class TorchProxy:
    """A small torch model as the proxy: a neural bigram (embedding → linear read-out).

    Trained by Adam for ``steps`` steps of ``batch_size`` (context, next token) pairs from a
    sample of the λ-mixture, scored by its mean next-token loss on each target.

    Examples
    --------
    >>> proxy = TorchProxy(["a b a b", "c c c"], [0, 1], ["a b a"], n_tokens=20, steps=20)
    >>> bool(proxy([1.0, 0.0], seed=0) < proxy([0.0, 1.0], seed=0))
    True
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Any,
        targets: Sequence[str] | Sequence[Sequence[str]],
        n_tokens: int = 20_000,
        steps: int = 200,
        batch_size: int = 256,
        dim: int = 16,
        lr: float = 0.05,
    ) -> None:
        self.multi = bool(targets) and not isinstance(targets[0], str)
        sets = list(targets) if self.multi else [targets]
        self.data = SourceData(texts, labels, sets, order=2)  # type: ignore[arg-type]
        self.n_tokens = check_integer("n_tokens", n_tokens, "pass e.g. n_tokens=20000")
        self.steps = check_integer("steps", steps, "pass e.g. steps=200")
        self.batch_size = check_integer("batch_size", batch_size, "pass e.g. batch_size=256")
        self.dim = check_integer("dim", dim, "pass e.g. dim=16")
        self.lr = check_number("lr", lr, "pass e.g. lr=0.05", low=0, low_open=True)

    @property
    def k(self) -> int:
        """Number of sources (clusters)."""
        return self.data.k

    def model(self) -> Any:
        """A fresh, untrained network (contexts → next-token logits)."""
        import torch

        return torch.nn.Sequential(
            torch.nn.Embedding(self.data.n_contexts, self.dim),
            torch.nn.Linear(self.dim, self.data.vocab_size),
        )

    def train(self, pairs: np.ndarray, seed: int) -> Any:
        """A model trained on the pair indices ``pairs`` (seeded)."""
        import torch

        torch.manual_seed(seed)
        net = self.model()
        if pairs.size == 0:
            return net
        v = self.data.vocab_size
        x = torch.as_tensor(pairs // v)
        y = torch.as_tensor(pairs % v)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        for _ in range(self.steps):
            idx = torch.randint(0, x.numel(), (min(self.batch_size, x.numel()),), generator=gen)
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return net

    def score(self, net: Any) -> list[float]:
        """Mean next-token loss of ``net`` on each target."""
        import torch

        v = self.data.vocab_size
        with torch.no_grad():
            return [
                float(
                    torch.nn.functional.cross_entropy(
                        net(torch.as_tensor(tp // v)), torch.as_tensor(tp % v)
                    )
                )
                for tp in self.data.target_pairs
            ]

    def __call__(self, weights: Any, seed: int = 0) -> Any:
        """Train on a sample of the λ-mixture (seeded), return each target's mean loss."""
        w = check_weights(weights, self.k)
        rng = np.random.default_rng(seed)
        out = self.score(self.train(self.data.sample(w, self.n_tokens, rng), seed))
        return np.array(out) if self.multi else out[0]
