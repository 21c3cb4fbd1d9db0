"""Training data of R replicates at once, in the two forms the models use.

- :class:`CountData` — token models need only counts (a sufficient statistic), so data are
  integer count tables of shape (R, ...): joining two data sets adds the tables, and memory does
  not grow with the number of samples.
- :class:`SampleData` — continuous models keep the samples: arrays of shape (R, m, ...) with a
  boolean mask (R, m), because replicates may hold different numbers of samples (the number of
  true draws is random).

Both support ``size()`` (samples per replicate, shape (R,)), ``join(other)`` and
``subsample(m, rng)`` (m samples per replicate, drawn without replacement), which is all the
data policies need.

Examples
--------
>>> import numpy as np
>>> a = CountData(np.array([[2, 1, 0]]))
>>> a.join(a).counts.tolist(), a.size().tolist()
([[4, 2, 0]], [3])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CountData", "SampleData"]


@dataclass(frozen=True)
class CountData:
    """Token counts of R replicates: ``counts`` of shape (R, ...), integer.

    Examples
    --------
    >>> import numpy as np
    >>> CountData(np.array([[1, 3], [0, 2]])).size().tolist()
    [4, 2]
    """

    counts: np.ndarray

    def size(self) -> np.ndarray:
        """Number of samples (tokens or transitions) per replicate, shape (R,)."""
        return self.counts.reshape(len(self.counts), -1).sum(axis=1)

    def join(self, other: CountData) -> CountData:
        """The union of the two data sets (counts add)."""
        return CountData(self.counts + other.counts)

    def subsample(self, m: np.ndarray, rng: np.random.Generator) -> CountData:
        """Keep ``min(m, size)`` samples per replicate, drawn without replacement.

        A multivariate hypergeometric draw per replicate, vectorized over replicates: cell by
        cell, the number kept is hypergeometric given what remains.
        """
        flat = self.counts.reshape(len(self.counts), -1).astype(np.int64)
        remaining_total = flat.sum(axis=1)
        remaining_draw = np.minimum(
            np.broadcast_to(np.asarray(m, np.int64), remaining_total.shape), remaining_total
        ).copy()
        out = np.zeros_like(flat)
        for j in np.flatnonzero(flat.any(axis=0)):
            good = flat[:, j]
            bad = remaining_total - good
            active = remaining_draw > 0
            if not active.any():
                break
            take = np.zeros_like(good)
            take[active] = rng.hypergeometric(good[active], bad[active], remaining_draw[active])
            out[:, j] = take
            remaining_total -= good
            remaining_draw -= take
        return CountData(out.reshape(self.counts.shape))


@dataclass(frozen=True)
class SampleData:
    """Samples of R replicates: ``x`` (R, m, ...), optional ``y`` (R, m), ``mask`` (R, m).

    Only entries with ``mask`` True are data; the others are padding.

    Examples
    --------
    >>> import numpy as np
    >>> d = SampleData(np.zeros((2, 3, 1)), None, np.array([[1, 1, 0], [1, 0, 0]], bool))
    >>> d.size().tolist()
    [2, 1]
    """

    x: np.ndarray
    y: np.ndarray | None
    mask: np.ndarray

    def size(self) -> np.ndarray:
        """Number of samples per replicate, shape (R,)."""
        return self.mask.sum(axis=1)

    def join(self, other: SampleData) -> SampleData:
        """Both data sets side by side (concatenated along the sample axis)."""
        y = None if self.y is None or other.y is None else np.concatenate([self.y, other.y], 1)
        return SampleData(
            np.concatenate([self.x, other.x], 1), y, np.concatenate([self.mask, other.mask], 1)
        )

    def subsample(self, m: np.ndarray, rng: np.random.Generator) -> SampleData:
        """Keep ``min(m, size)`` samples per replicate, drawn uniformly without replacement."""
        r, width = self.mask.shape
        m = np.broadcast_to(np.asarray(m, np.int64), (r,))
        # Random keys, padding last: the first m positions of the sort are a uniform subset.
        keys = np.where(self.mask, rng.random(self.mask.shape), 2.0)
        order = np.argsort(keys, axis=1)
        keep = min(int(m.max()), width)
        idx = order[:, :keep]
        mask = np.take_along_axis(self.mask, idx, 1) & (np.arange(keep) < m[:, None])
        x = np.take_along_axis(self.x, idx.reshape(idx.shape + (1,) * (self.x.ndim - 2)), 1)
        y = None if self.y is None else np.take_along_axis(self.y, idx, 1)
        return SampleData(x, y, mask)
