"""A small training run with mid-epoch checkpoints, used by the SIGKILL resume test.

Usage: ``python resumable_run.py OUT CKPT [--hang-at STEP --marker FILE] [--resume]``.
With ``--hang-at`` the run stops making progress after step STEP (a later checkpoint is never
written), touches FILE, and sleeps until it is killed. The final parameters, λ, its average and
the per-step history are written to OUT.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from almo.objectives import ObjectiveFamily
from almo.train import Checkpoint, LambdaCallback, MinimaxTrainer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("ckpt")
    parser.add_argument("--hang-at", type=int, default=None)
    parser.add_argument("--marker", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--method", default="sgda")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    torch.manual_seed(123)  # the data and the initial model: identical in every invocation
    x = torch.randn(240, 6)
    y = (x[:, 0] + 0.5 * torch.randn(240) > 0).long() + (x[:, 1] > 0.8).long()
    g = torch.randint(0, 3, (240,))
    loader = DataLoader(TensorDataset(x, y, g), batch_size=20, shuffle=True)  # 12 steps/epoch
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 3)
    )
    family = ObjectiveFamily(["log_loss", "hinge"], groups=3)
    trainer = MinimaxTrainer(
        model,
        family,
        method=args.method,
        verbose=False,
        seed=7,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.01),
    )

    def hang(tr: MinimaxTrainer) -> None:
        if args.hang_at is not None and tr.step == args.hang_at:
            Path(args.marker).write_text(str(tr.step))
            time.sleep(120)  # the test kills us here

    callbacks = [Checkpoint(args.ckpt, every_steps=5), LambdaCallback(on_step_end=hang)]
    history = trainer.fit(
        loader,
        epochs=3,
        eval_loader=DataLoader(TensorDataset(x, y, g), 100),
        callbacks=callbacks,
        resume_from=args.ckpt if args.resume else None,
    )
    torch.save(
        {
            "model": model.state_dict(),
            "weights": torch.from_numpy(trainer.weights),
            "average": torch.from_numpy(trainer.average_weights),
            "step_weights": torch.from_numpy(history.step_weights),
            "step_losses": torch.from_numpy(history.step_losses),
            "worst": torch.tensor(history.worst_case, dtype=torch.float64),
            "step": trainer.step,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
