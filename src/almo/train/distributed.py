"""torch.distributed helpers: one λ on every rank, θ synchronized by DistributedDataParallel.

Under ``torchrun`` each rank sees its own shard of every global batch. Two things keep the ranks
in lock-step and equal to one process reading the whole global batch:

- The per-objective loss **sums and counts** of the shard are all-reduced (one collective of
  2p numbers per step) before the λ step, so every rank feeds the same global means to the
  same pure weight rule and holds the same λ.
- The θ loss on a rank is ``world_size · Σ_k λ_k s_k^{rank} / N_k`` with N_k the global count.
  DDP averages gradients over ranks, so the update uses ∇ Σ_k λ_k (Σ_ranks s_k) / N_k: the
  global per-objective mean, even when a group is unevenly spread over the shards.

Examples
--------
>>> ctx = DistributedContext.detect()
>>> ctx.world_size, ctx.rank, ctx.active
(1, 0, False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "init_distributed"]


@dataclass(frozen=True)
class DistributedContext:
    """Rank and world size of the current process (world size 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0: the rank that writes checkpoints and shows progress."""
        return self.rank == 0

    @classmethod
    def detect(cls) -> DistributedContext:
        """Read rank and world size from an initialized default process group, if any."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place (no-op in a single process) and return it."""
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """Wrap ``model`` in DistributedDataParallel when distributed (once)."""
        if not self.active or isinstance(model, torch.nn.parallel.DistributedDataParallel):
            return model
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.active:
            dist.barrier()


def init_distributed(backend: Literal["auto", "gloo", "nccl"] = "auto") -> DistributedContext:
    """Initialize the default process group from ``torchrun``'s environment variables.

    Parameters
    ----------
    backend : {"auto", "gloo", "nccl"}
        ``"auto"`` picks nccl when CUDA is available, gloo otherwise.

    Returns
    -------
    DistributedContext
        Rank and world size; a single-process context when ``WORLD_SIZE`` is not set.

    Examples
    --------
    >>> init_distributed().world_size  # not launched by torchrun: nothing to set up
    1
    """
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        chosen = backend
        if chosen == "auto":
            chosen = "nccl" if torch.cuda.is_available() else "gloo"
        if chosen == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=chosen)
    return DistributedContext.detect()


def unwrap(model: Any) -> torch.nn.Module:
    """The user's module inside a DistributedDataParallel wrapper (or the module itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
