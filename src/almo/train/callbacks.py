"""Callbacks: hooks the trainer calls around epochs and steps.

Every hook is a no-op on :class:`Callback`; subclass it and override what you need. The trainer
exposes its progress as attributes the hooks read: ``trainer.step`` (θ steps taken),
``trainer.epoch``, ``trainer.weights`` (λ, numpy), ``trainer.average_weights``,
``trainer.last_losses`` (the loss vector the last λ step saw), ``trainer.history``; setting
``trainer.stop_training = True`` ends the run after the current epoch.

At each hook the trainer calls callbacks in ascending ``order`` (ties keep the given order).
:class:`Checkpoint` has the highest order, so it saves the state the other callbacks just
updated (the early-stopping counters, for instance).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from almo._validation import check_count, fail
from almo.train.checkpoint import check_checkpoint_path

if TYPE_CHECKING:
    from almo.train.history import EpochRecord, History
    from almo.train.trainer import MinimaxTrainer

__all__ = ["Callback", "Checkpoint", "EarlyStopping", "LambdaCallback", "ProgressBar"]


class Callback:
    """Base class with no-op hooks.

    Examples
    --------
    >>> class CountSteps(Callback):
    ...     def __init__(self):
    ...         self.n = 0
    ...
    ...     def on_step_end(self, trainer):
    ...         self.n += 1
    >>> CountSteps().n
    0
    """

    order: int = 0

    def on_fit_start(self, trainer: MinimaxTrainer) -> None:
        """Called once before the first step (after a resume has restored the state)."""

    def on_epoch_start(self, trainer: MinimaxTrainer, epoch: int) -> None:
        """Called before the first batch of every epoch (0-based ``epoch``)."""

    def on_step_end(self, trainer: MinimaxTrainer) -> None:
        """Called after every θ step (and the λ step, when one was due)."""

    def on_epoch_end(self, trainer: MinimaxTrainer, record: EpochRecord) -> None:
        """Called after the epoch's evaluation; ``record`` is already in ``trainer.history``."""

    def on_fit_end(self, trainer: MinimaxTrainer, history: History) -> None:
        """Called once when ``fit`` returns normally."""

    def state_dict(self) -> dict[str, Any]:
        """Plain values to store in checkpoints (override for stateful callbacks)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class LambdaCallback(Callback):
    """A callback from plain functions, for quick user hooks.

    Examples
    --------
    >>> seen = []
    >>> cb = LambdaCallback(on_epoch_end=lambda trainer, record: seen.append(record.epoch))
    >>> cb.on_step_end(None)  # hooks not given stay no-ops
    """

    def __init__(
        self,
        on_step_end: Callable[[Any], None] | None = None,
        on_epoch_end: Callable[[Any, Any], None] | None = None,
    ) -> None:
        self._step = on_step_end
        self._epoch = on_epoch_end

    def on_step_end(self, trainer: MinimaxTrainer) -> None:
        if self._step is not None:
            self._step(trainer)

    def on_epoch_end(self, trainer: MinimaxTrainer, record: EpochRecord) -> None:
        if self._epoch is not None:
            self._epoch(trainer, record)


class ProgressBar(Callback):
    """A tqdm bar per epoch: steps, then the epoch's worst case and a λ summary.

    Quiet when ``verbose=False`` or when stderr is not a terminal (logs, CI), and on ranks other
    than 0 in distributed runs. The bar updates every step at the cost of one integer increment;
    tqdm redraws at most 10 times a second.

    Examples
    --------
    >>> ProgressBar(verbose=False).enabled
    False
    """

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose
        self._bar: Any = None

    @property
    def enabled(self) -> bool:
        """Whether a bar will be drawn."""
        return bool(self.verbose) and sys.stderr.isatty()

    def on_epoch_start(self, trainer: MinimaxTrainer, epoch: int) -> None:
        if not self.enabled or not trainer.is_main_process:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=trainer.steps_per_epoch,
            desc=f"epoch {epoch + 1}/{trainer.epochs}",
            leave=False,
            mininterval=0.1,
            dynamic_ncols=True,
        )

    def on_step_end(self, trainer: MinimaxTrainer) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, trainer: MinimaxTrainer, record: EpochRecord) -> None:
        if self._bar is None:
            return
        lam = record.weights
        k = int(np.argmax(lam))
        post = {"λmax": f"{lam[k]:.3f}@{trainer.names[k]}"}
        ev = record.averaged or record.last
        if ev is not None:
            post["worst"] = f"{ev.worst_case:.4g}"
        self._bar.set_postfix(post, refresh=True)
        self._bar.close()
        self._bar = None

    def on_fit_end(self, trainer: MinimaxTrainer, history: History) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EarlyStopping(Callback):
    """Stop when the evaluation worst case has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int
        Epochs without improvement tolerated (≥ 1).
    min_delta : float
        An improvement must lower the worst case by more than this.
    monitor : {"averaged", "last"}
        Which iterate's worst case to watch: the averaged parameters or the last ones. A
        trainer that keeps no average (``average_model=False``) is watched on its last
        iterate either way.

    Examples
    --------
    >>> EarlyStopping(patience=2).best
    inf
    """

    def __init__(
        self,
        patience: int = 5,
        min_delta: float = 0.0,
        monitor: Literal["averaged", "last"] = "averaged",
    ) -> None:
        if int(patience) < 1:
            raise fail("patience", "be an integer >= 1", patience, "pass e.g. patience=5")
        if monitor not in ("averaged", "last"):
            raise fail("monitor", "be 'averaged' or 'last'", monitor, "pass monitor='averaged'")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.monitor = monitor
        self.best = float("inf")
        self.wait = 0

    def on_fit_start(self, trainer: MinimaxTrainer) -> None:
        if not trainer.has_eval_data:
            raise fail(
                "callbacks",
                "contain EarlyStopping only when evaluation data is given",
                "eval_loader=None",
                "pass eval_loader=... to fit, or drop EarlyStopping",
            )

    def on_epoch_end(self, trainer: MinimaxTrainer, record: EpochRecord) -> None:
        ev = record.averaged if self.monitor == "averaged" else record.last
        if ev is None:  # no averaged parameters kept: the last iterate is the model
            ev = record.last
        if ev is None:
            return
        if ev.worst_case < self.best - self.min_delta:
            self.best, self.wait = float(ev.worst_case), 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])


class Checkpoint(Callback):
    """Save the full training state to ``path`` every k steps and/or every k epochs.

    The file is replaced atomically each time, so it always holds the latest complete state;
    resume with ``trainer.fit(..., resume_from=path)``. Only rank 0 writes.

    Parameters
    ----------
    path : str or Path
        The checkpoint file; ``""``, a folder or a path under a regular file is refused here.
    every_steps : int or None
        Save after every ``every_steps`` θ steps (mid-epoch saves resume mid-epoch).
    every_epochs : int or None
        Save after every ``every_epochs`` epochs (after the evaluation).

    Examples
    --------
    >>> Checkpoint("run.pt", every_steps=100).every_epochs
    1
    """

    order = 100

    def __init__(
        self, path: str | Path, every_steps: int | None = None, every_epochs: int | None = 1
    ) -> None:
        every = []
        for name, val in (("every_steps", every_steps), ("every_epochs", every_epochs)):
            rule = "be None or an integer >= 1"
            fix = f"pass {name}=None or an integer >= 1"
            every.append(None if val is None else check_count(name, val, fix, rule=rule))
        self.every_steps, self.every_epochs = every
        # A path that cannot hold a file fails here, not at the first save hours later.
        self.path = check_checkpoint_path(path, "path")

    def on_step_end(self, trainer: MinimaxTrainer) -> None:
        if self.every_steps is not None and trainer.step % self.every_steps == 0:
            trainer.save_checkpoint(self.path)

    def on_epoch_end(self, trainer: MinimaxTrainer, record: EpochRecord) -> None:
        if self.every_epochs is not None and (record.epoch + 1) % self.every_epochs == 0:
            trainer.save_checkpoint(self.path)
