"""One rank of a 2-process gloo run (launched with torchrun-like environment variables).

Usage: ``RANK=r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=... python ddp_run.py OUT``.
Each rank reads its half of every global batch; the final parameters, λ and evaluations of each
method are written to ``OUT.<rank>``. ``make_run`` also serves the single-process reference.
"""

from __future__ import annotations

import sys

import torch

from almo.objectives import ObjectiveFamily
from almo.train import MinimaxTrainer, init_distributed
from almo.weights import ProjectedAscent

GLOBAL_BATCH, METHODS = 16, ("sgda", "mirror_prox")


def data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 5, generator=gen)
    y = torch.randint(0, 3, (96,), generator=gen)
    g = torch.randint(0, 3, (96,), generator=gen)
    return x, y, g


def batches(rank: int | None, world: int):
    """Global batches in order; with a rank, only that rank's contiguous share of each."""
    x, y, g = data()
    out = []
    for i in range(0, len(x), GLOBAL_BATCH):
        lo, hi = i, i + GLOBAL_BATCH
        if rank is not None:
            share = GLOBAL_BATCH // world
            lo, hi = i + rank * share, i + (rank + 1) * share
        out.append((x[lo:hi], y[lo:hi], g[lo:hi]))
    return out


def make_run(method: str, rank: int | None, world: int) -> dict:
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    trainer = MinimaxTrainer(
        model,
        ObjectiveFamily(["log_loss", "hinge"], groups=3),
        weight_rule=ProjectedAscent(lr=0.5),
        method=method,
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.2, momentum=0.5),
    )
    history = trainer.fit(batches(rank, world), epochs=2, eval_loader=batches(rank, world))
    return {
        "params": [q.detach().clone() for q in model.parameters()],
        "weights": torch.from_numpy(trainer.weights.copy()),
        "average": torch.from_numpy(trainer.average_weights.copy()),
        "step_weights": torch.from_numpy(history.step_weights),
        "eval": torch.from_numpy(history.epochs[-1].averaged.losses.copy()),
    }


def main() -> None:
    torch.set_num_threads(1)
    ctx = init_distributed("gloo")
    result = {m: make_run(m, ctx.rank, ctx.world_size) for m in METHODS}
    torch.save(result, f"{sys.argv[1]}.{ctx.rank}")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
