"""Saving and restoring the full state of a run (mixed into :class:`~almo.train.MinimaxTrainer`).

A checkpoint holds the model, the optimizer, the weight rule's state (λ, its average, the inner
rule's state), the loop counters and accumulators, the averaged parameters, the history, the
callbacks' states, the family's normalization, the RNG states (torch, numpy, Python and the
loader's generators, both now and at the start of the epoch, so a mid-epoch resume replays the
same shuffled order) and the configuration. It is written atomically and read back without
unpickling (:mod:`almo.train.checkpoint`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch

from almo._validation import fail
from almo.train.checkpoint import (
    capture_rng,
    from_plain,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    to_plain,
)
from almo.train.history import History

__all__ = ["CheckpointState"]

logger = logging.getLogger("almo.train")


class CheckpointState:
    """Mixin of :class:`~almo.train.MinimaxTrainer`: ``config``, ``save_checkpoint``, resume."""

    def config(self) -> dict[str, Any]:
        """The run's configuration as plain values (stored in checkpoints)."""
        return {"p": self.p, "names": self.names, "method": self.method,
                "lambda_every": self.lambda_every, "seed": self.seed,
                "mixture_set": type(self.mixture_set).__name__,
                "weight_rule": repr(self.weight_rule),
                "optimizer": type(self.optimizer).__name__,
                "average_model": self.average_model, "history_every": self.history_every,
                "penalty": self.penalty is not None}

    def save_checkpoint(self, path: Any) -> None:
        """Write the full training state to ``path`` atomically (rank 0 only).

        Holds the model, the optimizer, the weight-rule state (λ and its average), step and
        epoch counters, the accumulators, the averaged parameters, the history, the callbacks'
        states, the RNG states (torch, numpy, Python, the loader's generators) and the
        configuration. Load it with ``fit(..., resume_from=path)``. Under torch.distributed
        the RNG states are rank 0's.

        Examples
        --------
        >>> import tempfile, torch
        >>> from almo.objectives import ObjectiveFamily
        >>> from almo.train import MinimaxTrainer
        >>> data = [(torch.randn(8, 3), torch.randint(0, 2, (8,)))] * 4
        >>> path = tempfile.mkdtemp() + "/run.pt"
        >>> def make():
        ...     torch.manual_seed(0)
        ...     return MinimaxTrainer(torch.nn.Linear(3, 2), ObjectiveFamily(["log_loss", "hinge"]),
        ...                           verbose=False)
        >>> first = make()
        >>> _ = first.fit(data, epochs=1)
        >>> first.save_checkpoint(path)
        >>> again = make()
        >>> _ = again.fit(data, epochs=2, resume_from=path)  # continues with epoch 2
        >>> again.step, len(again.history.epochs)
        (8, 2)
        """
        if not self._ctx.is_main:
            return
        payload = {
            "config": json.dumps(self.config()),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "weights": to_plain(self.state.to_arrays()),
            "loop": {"step": self.step, "epoch": self.epoch, "epochs": self.epochs,
                     "batch_in_epoch": self.batch_in_epoch, "acc_n": self._acc_n,
                     "epoch_n": self._epoch_n, "avg_n": self._avg_n,
                     "stop_training": self.stop_training},
            "arrays": to_plain({"last_seen": self._last_seen, "acc": self._acc,
                                "epoch_sum": self._epoch_sum, "last_losses": self.last_losses}),
            "family": self.family.state_dict() if isinstance(self.family, torch.nn.Module)
            else None,
            "average_params": self._avg_params,
            "history": self.history.state_dict(),
            "rng": {"current": capture_rng(self._train_loader), "epoch_start": self._epoch_rng},
            "callbacks": {f"{i}:{type(c).__name__}": c.state_dict()
                          for i, c in enumerate(self._callbacks)},
        }
        save_checkpoint(path, payload)

    def _load(self, path: Any) -> None:
        ck = load_checkpoint(path)
        saved, now = json.loads(ck["config"]), self.config()
        diff = {k: (saved.get(k), v) for k, v in now.items() if k != "seed" and saved.get(k) != v}
        if diff:
            raise fail("resume_from", "come from a run with the same configuration",
                       f"differences (checkpoint, now): {diff}",
                       "resume with the trainer settings the checkpoint was written with")
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.state = self.weight_rule.restore(from_plain(ck["weights"]), self.mixture_set)
        loop, arrays = ck["loop"], from_plain(ck["arrays"])
        self.step, self.epoch = int(loop["step"]), int(loop["epoch"])
        self.batch_in_epoch, self._acc_n = int(loop["batch_in_epoch"]), int(loop["acc_n"])
        self._epoch_n, self._avg_n = int(loop["epoch_n"]), int(loop["avg_n"])
        self.stop_training = bool(loop["stop_training"])
        self._last_seen, self._acc = arrays["last_seen"], arrays["acc"]
        self._epoch_sum, self.last_losses = arrays["epoch_sum"], arrays["last_losses"]
        if ck["family"] is not None and isinstance(self.family, torch.nn.Module):
            self.family.load_state_dict(ck["family"])  # the normalization scale, if any
            self._scale_cache()
        if ck["average_params"] is not None:
            self._avg_params = [t.to(self.device) for t in ck["average_params"]]
        self.history = History.from_state_dict(ck["history"])
        for i, c in enumerate(self._callbacks):
            state = ck["callbacks"].get(f"{i}:{type(c).__name__}")
            if state:
                c.load_state_dict(state)
        self._resume_rng = ck["rng"]
        if self.batch_in_epoch == 0:  # an epoch boundary: just continue the generators
            restore_rng(ck["rng"]["current"], self._train_loader)
            self._resume_rng = None
        logger.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step)
