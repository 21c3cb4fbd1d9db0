"""Fast path for the categorical MLE: resample last generation's tokens instead of counts.

The unsmoothed categorical MLE P̂_{t−1} is the empirical distribution of the previous
generation's tokens, so a draw from P̂_{t−1} is a uniformly chosen token of that sample. Keeping
the tokens (R, n) and drawing synthetic ones by random indices costs O(n) per replicate, against
O(V + n) for a multinomial of the counts, and vectorizes over replicates as one gather. True
draws come from the inverse CDF of P*. The per-generation counts (for the metrics) are one
``bincount`` with a row offset. Memory holds two token arrays and one count table, whatever T.

Examples
--------
>>> import numpy as np
>>> from almo.sources import CategoricalModel, simulate, zipf
>>> res = simulate(
...     CategoricalModel(30),
...     zipf(30),
...     alpha=0.1,
...     n=50,
...     generations=3,
...     replicates=4,
...     method="tokens",
... )
>>> res.info["method"]
'tokens'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from almo.sources.categorical import CategoricalModel
from almo.sources.metrics import count_metrics

__all__ = ["alias_table", "simulate_tokens"]


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table of a distribution: (acceptance (V,), alias (V,)).

    Column i is drawn with probability 1/V; it yields i with probability ``accept[i]`` and
    ``alias[i]`` otherwise, which reproduces ``p`` exactly (up to float round-off).

    Examples
    --------
    >>> import numpy as np
    >>> accept, alias = alias_table(np.array([0.5, 0.25, 0.25]))
    >>> implied = accept / 3 + np.bincount(alias, (1 - accept) / 3, minlength=3)
    >>> implied.round(6).tolist()
    [0.5, 0.25, 0.25]
    """
    v = len(p)
    scaled = np.asarray(p, dtype=float) * v / np.sum(p)
    accept = np.ones(v)
    alias = np.arange(v)
    small = [i for i in range(v) if scaled[i] < 1.0]
    large = [i for i in range(v) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # Leftovers are 1 up to round-off: they always accept themselves.
    return accept, alias


# Replicates are simulated in blocks whose arrays (block × max(n, V) int64) stay within about
# 512 KiB, so that every pass runs in cache; whole-R arrays of several MiB made each pass
# memory-bound (and slow on a shared machine). The block size depends only on n and V, so a
# seed still reproduces a run exactly.
BLOCK_BYTES = 2**19


def simulate_tokens(
    model: CategoricalModel,
    truth: np.ndarray,
    a: np.ndarray,
    ns: np.ndarray,
    replicates: int,
    policy: str,
    rng: np.random.Generator,
    tick: Callable[[float], object],
) -> dict[str, np.ndarray]:
    """Run the ``replace`` / ``fixed`` loop on token arrays; return the metrics (R, T + 1)."""
    p_star = truth[0]
    v = p_star.shape[0]
    accept, alias = alias_table(p_star)
    block = max(1, BLOCK_BYTES // (8 * max(int(ns.max()), v)))
    metrics: dict[str, np.ndarray] = {}
    for lo in range(0, replicates, block):
        rows = min(block, replicates - lo)
        part = _simulate_block(model, p_star, accept, alias, a, ns, rows, policy, rng)
        for k, values in part.items():
            metrics.setdefault(k, np.zeros((replicates, len(a))))[lo : lo + rows] = values
        tick(rows)  # progress counted in replicates: blocks run all generations
    return metrics


def _simulate_block(
    model: CategoricalModel,
    p_star: np.ndarray,
    accept: np.ndarray,
    alias: np.ndarray,
    a: np.ndarray,
    ns: np.ndarray,
    r: int,
    policy: str,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    v = p_star.shape[0]

    def draw_true(shape: tuple[int, ...]) -> np.ndarray:
        # Walker's alias method: one uniform picks a column (integer part) and decides between
        # it and its alias (fractional part); O(1) per draw where inverse-CDF search is O(log V).
        x = rng.random(shape) * v
        col = np.minimum(x.astype(np.int64), v - 1)
        return np.where(x - col < accept[col], col, alias[col])

    width = int(ns.max())
    # Preallocated flat buffers, reused every generation.
    token_bufs = [np.empty(r * width, np.int64), np.empty(r * width, np.int64)]
    counts_work = np.empty((r, v))
    # Tokens are stored with their replicate's offset r·V added, so that one bincount of the
    # flat array gives every replicate's counts.
    row_offsets = (np.arange(r, dtype=np.int64) * v)[:, None]
    metrics: dict[str, np.ndarray] = {}
    cache: dict[str, Any] = {}  # what the metrics need from P* alone, computed once

    def record(t: int, tokens: np.ndarray) -> None:
        counts = np.bincount(tokens.ravel(), minlength=r * v).reshape(r, v)
        values = count_metrics(
            counts,
            tokens.shape[1],
            p_star,
            model.which,
            model.kl_smoothing,
            work=counts_work,
            cache=cache,
        )
        for k, val in values.items():
            metrics.setdefault(k, np.zeros((r, len(a))))[:, t] = val

    tokens = token_bufs[0][: r * ns[0]].reshape(r, int(ns[0]))
    np.add(draw_true(tokens.shape), row_offsets, out=tokens)
    record(0, tokens)
    for t in range(1, len(a)):
        nt, prev = int(ns[t]), tokens.shape[1]
        if policy == "fixed":
            k = np.full(r, int(np.rint(a[t] * nt)), dtype=np.int64)
        else:
            k = rng.binomial(nt, a[t], size=r) if a[t] > 0 else np.zeros(r, np.int64)
        new = token_bufs[t % 2][: r * nt].reshape(r, nt)
        # Synthetic draws everywhere: uniform positions in each replicate's previous sample,
        # as flat indices position + row·prev.
        idx = rng.integers(0, prev, size=new.shape)
        idx += np.arange(r, dtype=np.int64)[:, None] * prev
        # mode="clip": the indices are valid by construction, and numpy buffers `out` in the
        # default mode="raise", which costs several times the gather itself.
        np.take(tokens.ravel(), idx, out=new, mode="clip")
        total_true = int(k.sum())
        if total_true:
            # Then the first k_r positions of row r become true draws. Positions carry no
            # meaning (counts are exchangeable), so this is the mixture with k_r true draws.
            rows = np.repeat(np.arange(r, dtype=np.int64), k)
            starts = np.repeat(np.cumsum(k) - k, k)
            pos = rows * nt + (np.arange(total_true) - starts)
            new.ravel()[pos] = draw_true((total_true,)) + rows * v
        tokens = new
        record(t, tokens)
    return metrics
