"""ObjectiveBatch: the one place where per-objective sums become the loss vector ℓ.

An :class:`ObjectiveBatch` holds, for p objectives, the sum of the raw per-sample losses, the
number of samples each sum covers, and the scales the objectives are divided by. Everything that
reads ℓ — the trainer's θ and λ steps, calibration, evaluation, the certified solver, the
reports — reads it from here, so a number means the same on every path:

.. math:: ℓ_k = \\frac{S_k}{\\max(N_k, 1)\\, s_k}

(``S_k`` the sum, ``N_k`` the count, ``s_k`` the scale; an objective with no sample has ℓ_k = 0
and is marked absent by :attr:`ObjectiveBatch.present`).

Batches add up (``a + b``) to exact means over a pass; under torch.distributed,
:meth:`ObjectiveBatch.all_reduce` adds every rank's sums and counts in one collective while
keeping this rank's differentiable sums for the θ loss.

Examples
--------
>>> import numpy as np, torch
>>> b = ObjectiveBatch(torch.tensor([3.0, 0.0]), torch.tensor([2.0, 0.0]), np.array([1.5, 1.0]))
>>> b.means().tolist(), b.present.tolist()
([1.0, 0.0], [True, False])
>>> b.theta_loss(np.array([0.5, 0.5]))  # ⟨λ, ℓ⟩ as a differentiable scalar
tensor(0.5000)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from almo._validation import fail

__all__ = ["ObjectiveBatch", "SampleRows", "reduce_rows"]

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


class SampleRows(NamedTuple):
    """The per-sample side of a batch: losses (n, L) with gradients and the group ids."""

    losses: torch.Tensor  # (n, L), one column per loss
    ids: torch.Tensor | None  # (n,) int64 group ids, or None without groups
    n_groups: int  # G (1 without groups)


def reduce_rows(
    per: torch.Tensor, ids: torch.Tensor | None, n_groups: int, differentiable: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-objective sums and counts (p = L × G, loss-major) of per-sample losses (n, L).

    One ``index_add`` and one ``bincount`` whatever the number of groups; differentiable in
    ``per``. With ``differentiable=False`` (sums for the λ side) one loss is summed per group
    by a weighted ``bincount`` instead.

    Examples
    --------
    >>> per = torch.tensor([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    >>> reduce_rows(per, torch.tensor([0, 1, 1]), 2)
    (tensor([ 1.,  6., 10., 60.]), tensor([1., 2., 1., 2.]))
    """
    if ids is None:
        n = torch.full((per.shape[1],), float(per.shape[0]), dtype=per.dtype, device=per.device)
        return per.sum(dim=0), n
    if not differentiable and per.shape[1] == 1:
        sums1 = torch.bincount(ids, weights=per[:, 0], minlength=n_groups)
        return sums1, torch.bincount(ids, minlength=n_groups).to(sums1.dtype)
    sums = per.new_zeros(n_groups, per.shape[1]).index_add(0, ids, per)
    counts = torch.bincount(ids, minlength=n_groups).to(per.dtype)
    if per.shape[1] == 1:  # one loss: (G, 1) is already the layout, no copies needed
        return sums[:, 0], counts
    return sums.t().reshape(-1), counts.repeat(per.shape[1])  # (G, L) -> loss-major (L·G,)


def _host(x: Any) -> np.ndarray:
    """A float64 numpy copy of a (p,) tensor or array, detached."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES:
            return x.numpy().astype(np.float64)  # a numpy view converted by numpy: no dispatch
        return x.to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


class ObjectiveBatch:
    """Per-objective loss sums and sample counts of a batch (or a whole pass), with the scales.

    Parameters
    ----------
    sums : Tensor or ndarray of shape (p,)
        Sums of the raw per-sample losses; a tensor may carry gradients (the θ loss uses them).
    counts : Tensor or ndarray of shape (p,)
        Number of samples in each sum (0 for an objective absent from the batch).
    scale : ndarray of shape (p,)
        What each mean is divided by (ones without normalization).
    world_size : int
        Number of processes whose samples the totals cover (set by :meth:`all_reduce`).
    total_sums, total_counts : ndarray of shape (p,), optional
        Sums and counts over every process (default: this process's own).
    rows : SampleRows, optional
        The per-sample losses (with gradients) and group ids behind ``sums``; when given,
        :meth:`theta_loss` and :meth:`values` differentiate through them and ``sums`` may be
        detached (what :meth:`ObjectiveFamily.batch <almo.ObjectiveFamily.batch>` builds).

    Attributes
    ----------
    total_sums, total_counts : ndarray of shape (p,)
        float64 host copies of the sums and counts over every process (computed once).
    """

    __slots__ = ("_total_counts", "_total_sums", "counts", "rows", "scale", "sums", "world_size")

    def __init__(
        self,
        sums: Any,
        counts: Any,
        scale: Any,
        *,
        world_size: int = 1,
        total_sums: np.ndarray | None = None,
        total_counts: np.ndarray | None = None,
        rows: SampleRows | None = None,
    ) -> None:
        self.sums, self.counts, self.rows = sums, counts, rows
        self.scale = np.asarray(scale, dtype=np.float64)
        p = self.scale.shape[0] if self.scale.ndim == 1 else -1
        for name, value in (("sums", sums), ("counts", counts)):
            if tuple(getattr(value, "shape", ())) != (p,):
                raise fail(
                    name,
                    f"have shape ({p},), one entry per objective",
                    f"shape {tuple(getattr(value, 'shape', ()))}",
                    "pass per-objective vectors of the family's length p",
                )
        self.world_size = int(world_size)
        self._total_sums = total_sums
        self._total_counts = total_counts

    # -- totals (host side) -------------------------------------------------------------------
    @property
    def p(self) -> int:
        """Number of objectives."""
        return int(self.scale.shape[0])

    @property
    def total_sums(self) -> np.ndarray:
        if self._total_sums is None:
            self._total_sums = _host(self.sums)
        return self._total_sums

    @property
    def total_counts(self) -> np.ndarray:
        if self._total_counts is None:
            self._total_counts = _host(self.counts)
        return self._total_counts

    @property
    def present(self) -> np.ndarray:
        """Bool (p,): objectives with at least one sample (over every process)."""
        return self.total_counts > 0

    def means(self, normalized: bool = True) -> np.ndarray:
        """ℓ as float64 (p,): total sums / total counts (0 where absent), over the scales.

        Examples
        --------
        >>> b = ObjectiveBatch(np.array([4.0, 3.0]), np.array([2.0, 3.0]), np.array([2.0, 1.0]))
        >>> b.means().tolist(), b.means(normalized=False).tolist()
        ([1.0, 1.0], [2.0, 1.0])
        """
        means = self.total_sums / np.maximum(self.total_counts, 1.0)
        return means / self.scale if normalized else means

    # -- differentiable side ------------------------------------------------------------------
    def values(self, normalized: bool = True) -> torch.Tensor:
        """This process's means as a tensor (p,), differentiable through ``sums``.

        An absent objective gives 0 with zero gradient.
        """
        sums = torch.as_tensor(self.sums)
        if self.rows is not None:
            sums = reduce_rows(*self.rows)[0]
        means = sums / torch.as_tensor(self.counts, device=sums.device).clamp_min(1.0)
        if normalized:
            means = means / torch.tensor(self.scale, device=means.device, dtype=means.dtype)
        return means

    def coefficients(self, weights: Any) -> np.ndarray:
        """c_k = λ_k · W / (N_k · s_k): ⟨λ, ℓ⟩ = Σ_k c_k S_k on this process (W the world size).

        DDP averages gradients over the W ranks, so each rank's loss is scaled by W to give the
        gradient of the global mean.
        """
        lam = np.asarray(weights, dtype=np.float64)
        return lam * (self.world_size / (np.maximum(self.total_counts, 1.0) * self.scale))

    def theta_loss(self, weights: Any) -> torch.Tensor:
        """⟨λ, ℓ⟩ as one dot product with the differentiable sums (a scalar tensor).

        The coefficients are computed on the host from the totals (:meth:`coefficients`).
        """
        coef = self.coefficients(weights)
        if self.rows is not None:
            return _weighted_rows(self.rows, coef)
        sums = self.sums
        if not isinstance(sums, torch.Tensor):
            return torch.as_tensor(float(np.dot(coef, sums)))
        if sums.device.type == "cpu" and sums.dtype in _NUMPY_DTYPES:
            w = torch.from_numpy(coef.astype(_NUMPY_DTYPES[sums.dtype]))
        else:
            w = torch.from_numpy(coef).to(device=sums.device, dtype=sums.dtype)
        return torch.dot(w, sums)

    # -- combining ----------------------------------------------------------------------------
    def all_reduce(self, ctx: Any) -> ObjectiveBatch:
        """Totals over every rank of ``ctx`` (one collective of 2p numbers); no-op alone.

        The returned batch keeps this rank's differentiable ``sums`` for :meth:`theta_loss`.
        """
        if not getattr(ctx, "active", False):
            return self
        sums = torch.as_tensor(self.sums)
        stats = torch.cat((sums.detach(), torch.as_tensor(self.counts).to(sums))).double()
        host = ctx.all_reduce_sum(stats).cpu().numpy()
        p = self.p
        return ObjectiveBatch(
            self.sums,
            self.counts,
            self.scale,
            world_size=ctx.world_size,
            total_sums=host[:p].copy(),
            total_counts=host[p:].copy(),
            rows=self.rows,
        )

    def detach(self) -> ObjectiveBatch:
        """The same numbers without gradients (float64 host arrays)."""
        return ObjectiveBatch(self.total_sums, self.total_counts, self.scale)

    def __add__(self, other: ObjectiveBatch) -> ObjectiveBatch:
        """Sums and counts of two batches added (detached): exact means over both."""
        if not isinstance(other, ObjectiveBatch):
            return NotImplemented
        if other.p != self.p or not np.array_equal(other.scale, self.scale):
            raise fail(
                "other",
                "have the same objectives and scales",
                f"p = {other.p}",
                "add batches of one family only",
            )
        return ObjectiveBatch(
            self.total_sums + other.total_sums, self.total_counts + other.total_counts, self.scale
        )

    def __repr__(self) -> str:
        means = np.array2string(self.means(), precision=4, threshold=6)
        counts = np.array2string(self.total_counts, threshold=6)
        return f"ObjectiveBatch(p={self.p}, means={means}, counts={counts})"


def _weighted_rows(rows: SampleRows, coef: np.ndarray) -> torch.Tensor:
    """Σ_k c_k S_k written per sample: Σ_i Σ_l c_{l, g_i} ℓ_l(x_i) (one fused weighted sum)."""
    per = rows.losses
    if per.device.type == "cpu" and per.dtype in _NUMPY_DTYPES:
        c = torch.from_numpy(coef.astype(_NUMPY_DTYPES[per.dtype]))
    else:
        c = torch.from_numpy(coef).to(device=per.device, dtype=per.dtype)
    if rows.ids is None:  # p = L: every sample weighs c_l on loss l
        return torch.dot(per.sum(dim=0), c)
    if per.shape[1] == 1:
        return torch.dot(per[:, 0], c[rows.ids])
    return (per * c.view(per.shape[1], rows.n_groups)[:, rows.ids].t()).sum()
