"""MinimaxTrainer: train a torch model against the worst mixture λ ∈ Λ of p objectives.

The game is min_θ max_{λ∈Λ} Σ_k λ_k (ℓ_k(θ) + r_k(θ)). Each step computes ℓ from one forward
pass through an :class:`~almo.ObjectiveFamily` (its :class:`~almo.ObjectiveBatch`), moves θ with
any torch optimizer on ⟨λ, ℓ + r⟩ and moves λ with a pure weight rule on the detached ℓ + r. A
fixed-weight ensemble is this same trainer with :class:`~almo.weights.FixedWeights`: baselines
share the code path by construction.

``fit`` reads top to bottom: check the arguments, start (or resume) the run, calibrate the
family's ``"initial"`` scales on the whole training data at the initial model, then loop over
epochs — each batch goes through one step function of :mod:`almo.train.steps` chosen by
``method`` — and evaluate at the end of each epoch. The λ state lives in one place: the weight
rule wrapped in :class:`~almo.weights.HoldAbsent` (absent groups) and
:class:`~almo.weights.EveryK` (``lambda_every``); the loop's counters and the averaged
parameters in a :class:`~almo.train.run_state.RunState`.

Which model a number comes from: ``trainer.model`` holds the last iterate θ_T;
``trainer.averaged_model()`` returns the running average of the parameters (the iterate with the
minimax guarantee on convex problems). Each epoch record evaluates both (``last``, ``averaged``).
Evaluation passes and the calibration pass leave every random generator as they found it, so
passing ``eval_loader`` does not change the training run.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from almo._validation import (
    check_count,
    check_finite_losses,
    check_instance,
    check_positive,
    fail,
)
from almo.mixtures import MixtureSet, Simplex
from almo.objective_batch import ObjectiveBatch
from almo.objectives import ObjectiveFamily
from almo.report import ObjectiveReport
from almo.train.callbacks import Callback, ProgressBar
from almo.train.checkpoint import (
    capture_rng,
    check_model_state,
    check_thread_count,
    from_plain,
    load_checkpoint,
    made_for_another_run,
    restore_rng,
    save_checkpoint,
    to_plain,
    trainer_config,
)
from almo.train.distributed import DistributedContext
from almo.train.game import call_model, move_to, unpack_batch
from almo.train.gap import GapEstimate, duality_gap
from almo.train.history import EpochRecord, History
from almo.train.run_state import RunState
from almo.train.steps import STEPS, Divergence, Game
from almo.weights import Averaged, EveryK, HoldAbsent, ProjectedAscent, WeightRule, WeightState

__all__ = ["MinimaxTrainer"]

logger = logging.getLogger("almo.train")
Method = Literal["sgda", "simultaneous", "mirror_prox"]
METHODS = ("sgda", "simultaneous", "mirror_prox")
#: The default θ optimizer's step size: Adam's, before the (1 + t/T)^(-3/4) schedule.
DEFAULT_LR = 1e-2
#: T of the step-size schedules, in epochs.
DECAY_EPOCHS = 3.0
#: The decaying schedules: lr_t = lr · (1 + t/T)^(-power).
LR_SCHEDULES = {"constant": 0.0, "poly": 0.75, "inv_sqrt": 0.5}


class MinimaxTrainer:
    r"""Train ``model`` on the worst mixture of ``family``'s objectives over ``mixture_set``.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; its outputs must suit the family's losses.
    family : ObjectiveFamily
        Turns outputs and targets into the p per-objective losses. With
        ``normalize="initial"`` it is calibrated at the start of ``fit``: each objective's raw
        value for the initial model over the whole training data (one extra pass, no
        gradient). Pass fixed scales (``normalize=[...]``) to compare runs from different
        initial models on the same scale.
    mixture_set : MixtureSet, optional
        Λ; the whole simplex ``Simplex(p)`` by default.
    weight_rule : WeightRule, optional
        How λ moves. Default ``ProjectedAscent(lr=sqrt(2/p), schedule="inv_sqrt")``: the
        anytime online-gradient step γ_t = D / (G √t) with D = √2 the diameter of the simplex
        and G = √p a bound on ‖ℓ‖₂ for losses of order one (normalize the family), whose regret
        is at most (3/2) D G √T. The rule is wrapped in ``Averaged`` (if not already) so the
        running mean of λ is kept, then in ``EveryK`` (for ``lambda_every``) and ``HoldAbsent``
        (a group absent from a batch enters the λ step at its last observed value); the whole
        chain is ``trainer.lambda_rule``.
    optimizer : torch.optim.Optimizer or callable, optional
        An optimizer over ``model``'s parameters, or a factory ``params -> optimizer``.
        Default ``torch.optim.Adam(lr=1e-2)`` with the ``"poly"`` step-size schedule (see
        ``lr_schedule`` and the convergence notes below).
    penalty : callable, optional
        ``penalty(model) -> Tensor (p,)``: the game becomes Σ_k λ_k (ℓ_k + r_k).
    method : {"sgda", "simultaneous", "mirror_prox"}
        The update scheme (see the module notes).
    lambda_every : int
        One λ step every ``lambda_every`` θ steps.
    device : str or torch.device, optional
        Default CUDA when available, else CPU.
    seed : int or None
        Seeds torch, numpy and Python's generators at the start of ``fit``; None leaves them.
    verbose : bool
        Show a progress bar (only on a terminal, only on rank 0).
    average_model : bool
        Keep the running average of the parameters (one extra copy) and evaluate it each epoch.
    average_power : float
        η ≥ 0 of the polynomial-decay averages of θ and of λ: iterate s of t weighs about
        (s/t)^η, so the early transient is forgotten while the average still spans the last
        part of the run; 0 is the plain mean. Default 7 (see the convergence notes below).
    lr_schedule : {"auto", "constant", "poly", "inv_sqrt"} or callable
        How θ's step size moves: ``"poly"`` multiplies each parameter group's ``lr`` by
        (1 + t/T)^(-3/4) at θ step t (Polyak–Ruppert's range of exponents, between 1/2 and 1,
        where averaging attains the optimal rate), ``"inv_sqrt"`` by (1 + t/T)^(-1/2), with T
        three epochs of steps (1000 when the loader has no length); a callable
        ``step -> factor`` multiplies it by its value; ``"constant"`` leaves the optimizer
        alone. ``"auto"`` (default) is ``"poly"`` with the default optimizer and
        ``"constant"`` with one you pass.
    history_every : int, optional
        Record λ and ℓ every this many steps; default ``max(1, p // 100)``.
    divergence_factor : float or None
        Stop with :class:`~almo.exceptions.DivergenceError` when an objective's batch value
        (ℓ_k + r_k) exceeds this many times its value at the first step (each reference floored
        at 1e-3 × the largest one): a finite run blowing up is stopped before it overflows,
        naming the objective and the step, and checkpoints already written stay intact.
        Default 1e4; None turns the check off.
    gap_tol : float or None
        Stop when the relative duality-gap estimate of (averaged θ, averaged λ) on
        ``eval_loader`` falls to ``gap_tol`` (e.g. 1e-3). The estimate, computed at the end of
        each epoch when set (an L-BFGS best response of θ to the averaged λ, see
        :func:`almo.train.gap.duality_gap`), is stored in each epoch record (``record.gap``,
        ``history.gap``). On convex models it bounds the worst case's distance to the minimax
        value from above. Costs a few dozen passes over the evaluation data per epoch.

    Notes
    -----
    **Why these defaults** (measured on convex problems against :func:`almo.solve_linear`'s
    certified optimum; ``benchmarks/convergence.py`` has the full comparison). The gap of the
    averaged model has three sources, and each default answers one:

    - *The early transient.* A plain running mean starts at the initial parameters, whose worst
      case is several times the optimum, and those iterates keep weighing on it (digits,
      batch 128: 15.8% above the optimum after 60 epochs with the former Adam(1e-3) and plain
      means). Polynomial-decay averaging with η = 7 forgets them at rate (s/t)^7 while still
      averaging over about half of the run.
    - *Too few steps.* Adam moves each coordinate by about ``lr`` per step, so a small constant
      step size cannot reach an optimum far from the initial model within a few thousand steps:
      with Adam(3e-3) a 240-row problem ended 4.6% above the optimum after 150 epochs, with
      Adam(1e-2) 0.5%.
    - *Gradient noise.* A constant step size leaves the iterates in a noise ball whose size
      scales with the step (digits, Adam(1e-2), constant: the average stalls near 0.8%). The
      step size (1 + t/T)^(-3/4), T = 3 epochs, shrinks it while the total distance Σ lr_t
      keeps growing (like t^(1/4)); with averaging, exponents between 1/2 and 1 give the
      optimal rate (Polyak–Ruppert). On digits (median of two seeds) the exponent 1/2 reached
      1% after 31 epochs but stalled at 0.3–0.4%; 3/4 reached 1% after 46 and 0.1% after
      about 300; 1 reached 1% only after 79.

    Larger λ steps hurt (constant 0.1–1: 7–11% after 100 epochs on digits), so λ keeps the
    anytime √(2/p)/√t rule. Stopping on the duality gap (``gap_tol``) ends a run once the
    averaged pair is certified close, on convex models.

    Examples
    --------
    >>> import torch
    >>> from almo.objectives import ObjectiveFamily
    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> data = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    >>> family = ObjectiveFamily(["log_loss", "hinge"])
    >>> trainer = MinimaxTrainer(torch.nn.Linear(3, 2), family, verbose=False)
    >>> history = trainer.fit(data, epochs=2, eval_loader=data)
    >>> len(history.epochs), history.step_weights.shape
    (2, (8, 2))
    >>> trainer.mixture_set.contains(trainer.weights)
    True
    """

    def __init__(
        self,
        model: torch.nn.Module,
        family: ObjectiveFamily,
        mixture_set: MixtureSet | None = None,
        weight_rule: WeightRule | None = None,
        optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer] | None = None,
        penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
        method: Method = "sgda",
        lambda_every: int = 1,
        device: str | torch.device | None = None,
        seed: int | None = 0,
        verbose: bool = True,
        average_model: bool = True,
        history_every: int | None = None,
        divergence_factor: float | None = 1e4,
        gap_tol: float | None = None,
        average_power: float = 7.0,
        lr_schedule: str | Callable[[int], float] = "auto",
    ) -> None:
        check_instance(
            "model",
            model,
            torch.nn.Module,
            "be a torch.nn.Module",
            "wrap the network in a torch.nn.Module",
        )
        check_instance(
            "family",
            family,
            ObjectiveFamily,
            "be an ObjectiveFamily",
            "pass almo.ObjectiveFamily(losses=[...], groups=...)",
        )
        self.p = int(family.p)
        self.names = list(family.names)
        self.mixture_set = Simplex(self.p) if mixture_set is None else mixture_set
        if not isinstance(self.mixture_set, MixtureSet):
            raise fail(
                "mixture_set",
                "be a MixtureSet",
                type(mixture_set).__name__,
                "pass e.g. almo.Simplex(family.p)",
            )
        if self.mixture_set.p != self.p:
            raise fail(
                "mixture_set",
                f"have p = family.p = {self.p} objectives",
                self.mixture_set.p,
                "build the set for the family's objectives "
                f"({', '.join(self.names[:4])}{', ...' if self.p > 4 else ''})",
            )
        if method not in METHODS:
            raise fail("method", f"be one of {METHODS}", method, "pass method='sgda'")
        lambda_every = check_count("lambda_every", lambda_every, "pass e.g. 1 or 4")
        if history_every is not None:
            history_every = check_count(
                "history_every", history_every, "pass 1", rule="be None or an integer >= 1"
            )
        if divergence_factor is not None:
            divergence_factor = check_positive("divergence_factor", divergence_factor)
            if divergence_factor <= 1:
                raise fail(
                    "divergence_factor",
                    "be > 1 (a growth factor) or None",
                    divergence_factor,
                    "pass e.g. 1e4",
                )
        self.divergence_factor = divergence_factor
        self.gap_tol = None if gap_tol is None else check_positive("gap_tol", gap_tol)
        if penalty is not None and not callable(penalty):
            raise fail(
                "penalty",
                "be callable: model -> Tensor (p,)",
                type(penalty).__name__,
                "pass a function of the model, or None",
            )
        rule = (
            weight_rule
            if weight_rule is not None
            else ProjectedAscent(lr=math.sqrt(2.0 / self.p), schedule="inv_sqrt")
        )
        check_instance(
            "weight_rule",
            rule,
            WeightRule,
            "be a WeightRule",
            "pass e.g. almo.weights.ProjectedAscent(lr=0.1)",
        )
        self.average_power = check_positive("average_power", average_power, allow_zero=True)
        self.weight_rule = (
            rule if isinstance(rule, Averaged) else Averaged(rule, power=self.average_power)
        )
        every = (
            self.weight_rule
            if int(lambda_every) == 1
            else EveryK(self.weight_rule, int(lambda_every))
        )
        self.lambda_rule = HoldAbsent(every)
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.model = model.to(self.device)
        self.family = family.to(self.device)
        self.optimizer = _build_optimizer(optimizer, self.model)
        if lr_schedule == "auto":
            lr_schedule = "poly" if optimizer is None else "constant"
        if not (callable(lr_schedule) or lr_schedule in LR_SCHEDULES):
            raise fail(
                "lr_schedule",
                "be 'auto', 'constant', 'poly', 'inv_sqrt' or a callable step -> factor",
                lr_schedule,
                "pass lr_schedule='poly'",
            )
        self.lr_schedule = lr_schedule
        self._base_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        self.penalty, self.method = penalty, method
        self.lambda_every, self.seed, self.verbose = int(lambda_every), seed, bool(verbose)
        self.average_model = bool(average_model)
        self.history_every = int(history_every) if history_every else max(1, self.p // 100)
        self.state: WeightState = self.lambda_rule.init(self.mixture_set)
        self.run = RunState.start(self.p, 0)
        self.history = History(self.names, self.history_every)
        self.steps_per_epoch: int | None = None
        self._ctx = DistributedContext.detect()
        self._callbacks: list[Callback] = []
        self._train_loader: Any = None
        self._eval_loader: Any = None
        self._epoch_rng: dict[str, Any] | None = None
        self._resume_rng: dict[str, Any] | None = None
        self._params: list[torch.Tensor] = [q for q in self.model.parameters() if q.requires_grad]

    # -- public state -------------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """λ now (the last iterate), float64 (p,)."""
        return self.state.weights

    @property
    def average_weights(self) -> np.ndarray:
        """The running mean of λ over its steps, float64 (p,)."""
        return self.state.mean_weights

    @property
    def step(self) -> int:
        """θ steps taken in this run."""
        return self.run.step

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self.run.epoch

    @property
    def epochs(self) -> int:
        """Epochs the current ``fit`` runs to."""
        return self.run.epochs

    @property
    def batch_in_epoch(self) -> int:
        """Batches consumed in the current epoch."""
        return self.run.batch_in_epoch

    @property
    def stop_training(self) -> bool:
        """Set to True (from a callback) to end the run after the current epoch."""
        return self.run.stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self.run.stop_training = bool(value)

    @property
    def last_losses(self) -> np.ndarray:
        """The loss vector (ℓ + r, absent objectives held) the last λ step saw."""
        return self.run.last_losses

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (always in a single process)."""
        return self._ctx.is_main

    @property
    def has_eval_data(self) -> bool:
        """Whether the current ``fit`` evaluates each epoch."""
        return self._eval_loader is not None

    def averaged_model(self) -> torch.nn.Module:
        """A copy of the model holding the running average of the parameters θ_0 … θ_t.

        This is the model every epoch's ``averaged`` evaluation and :class:`EarlyStopping`
        measure (``trainer.model`` is the last iterate). Without ``average_model=True`` or
        before ``fit``, the copy holds the current parameters.

        Examples
        --------
        >>> import torch
        >>> from almo.objectives import ObjectiveFamily
        >>> data = [(torch.randn(8, 3), torch.randint(0, 2, (8,)))] * 3
        >>> trainer = MinimaxTrainer(
        ...     torch.nn.Linear(3, 2), ObjectiveFamily(["log_loss", "hinge"]), verbose=False
        ... )
        >>> _ = trainer.fit(data, epochs=1)
        >>> avg = trainer.averaged_model()
        >>> bool(torch.equal(avg.weight, trainer.model.weight)), avg is trainer.model
        (False, False)
        """
        clone = copy.deepcopy(self.model)
        if self.run.avg_params is not None:
            params: list[torch.Tensor] = [q for q in clone.parameters() if q.requires_grad]
            with torch.no_grad():
                torch._foreach_copy_(params, self.run.avg_params)
        return clone

    # -- fit ----------------------------------------------------------------------------------
    def fit(
        self,
        train_loader: Iterable[Any],
        epochs: int,
        eval_loader: Iterable[Any] | None = None,
        callbacks: Sequence[Callback] | None = None,
        resume_from: str | None = None,
    ) -> History:
        """Train for ``epochs`` epochs (in total, counting the resumed ones); return the History.

        Parameters
        ----------
        train_loader : iterable of batches
            Re-iterable (a DataLoader, a list); batches ``(x, y)`` or ``(x, y, group)``. Its
            order must be reproducible from the RNG state for exact resumes (DataLoader with
            or without shuffle, optionally with a seeded ``generator``).
        epochs : int
            Number of epochs of the run.
        eval_loader : iterable of batches, optional
            Evaluated at the end of each epoch (last and averaged iterates); the evaluation
            draws no random numbers from the training run's generators.
        callbacks : sequence of Callback, optional
            A :class:`ProgressBar` is added unless one is given.
        resume_from : str or Path, optional
            A checkpoint of an interrupted ``fit`` with the same configuration and data. The
            optimizer's state comes from the checkpoint and its settings (``lr``, ...) from the
            optimizer this trainer holds, so a run stopped by a
            :class:`~almo.exceptions.DivergenceError` can resume from its last checkpoint with
            a lower learning rate.

        Returns
        -------
        History
            Also stored as ``trainer.history``.
        """
        # 1. Check the arguments before anything moves.
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise fail("epochs", "be an integer >= 1", epochs, "pass e.g. epochs=10")
        n_batches = _length(train_loader)
        if n_batches == 0:
            raise fail(
                "train_loader",
                "yield at least one batch",
                "an empty loader",
                "check the dataset size, batch_size and drop_last",
            )
        if self.gap_tol is not None and eval_loader is None:
            raise fail(
                "eval_loader",
                "be given when gap_tol is set (the gap is measured on it)",
                None,
                "pass eval_loader=<the training data without shuffling>, or gap_tol=None",
            )
        if eval_loader is not None and _length(eval_loader) == 0:
            raise fail(
                "eval_loader",
                "yield at least one batch",
                "an empty loader",
                "pass None or a non-empty loader",
            )
        cbs = list(callbacks or [])
        for c in cbs:
            if not isinstance(c, Callback):
                raise fail(
                    "callbacks",
                    "contain Callback instances",
                    type(c).__name__,
                    "subclass almo.train.Callback or use LambdaCallback",
                )
        if not any(isinstance(c, ProgressBar) for c in cbs):
            cbs.append(ProgressBar(self.verbose))
        self._callbacks = sorted(cbs, key=lambda c: c.order)

        # 2. Start the run, or put it back where the checkpoint left it.
        self.run = RunState.start(self.p, int(epochs))
        self.run.avg_power = self.average_power
        self.history = History(self.names, self.history_every)
        self.steps_per_epoch = n_batches
        self._train_loader, self._eval_loader = train_loader, eval_loader
        self._ctx = DistributedContext.detect()
        self._params = [q for q in self.model.parameters() if q.requires_grad]
        self._resume_rng = None
        if resume_from is not None:
            self._load(resume_from)
        else:
            self.state = self.lambda_rule.init(self.mixture_set)
            if self.seed is not None:
                torch.manual_seed(self.seed)
                np.random.seed(self.seed)  # noqa: NPY002 -- the global state user code draws from
                random.seed(self.seed)
            if self.family.needs_calibration:
                self._calibrate(train_loader)
            if self.average_model:
                self.run.avg_params = [q.detach().clone() for q in self._params]
        game = Game(
            self._ctx.wrap(self.model, self.device),
            self.model,
            self.optimizer,
            self.family,
            self.penalty,
            self.lambda_rule,
            self._ctx,
            self.device,
            self._params,
            divergence=None
            if self.divergence_factor is None
            else Divergence(self.divergence_factor, self.run.loss_reference),
        )
        for c in self._callbacks:
            c.on_fit_start(self)

        # 3. The epochs: one step function per batch, an evaluation at the end of each.
        step_fn = STEPS[self.method]
        lr_factor = self._lr_factor(n_batches)
        groups = list(zip(self.optimizer.param_groups, self._base_lrs, strict=True))
        step_cbs = [c for c in self._callbacks if type(c).on_step_end is not Callback.on_step_end]
        param_views = [q.detach() for q in self._params]  # share storage: no per-step copy
        self.model.train()
        while self.run.epoch < self.run.epochs and not self.run.stop_training:
            started = time.perf_counter()
            for batch in self._epoch_batches(train_loader):
                if lr_factor is not None:
                    factor = lr_factor(self.run.step)
                    for group, base in groups:
                        group["lr"] = base * factor
                self.state = step_fn(game, self.state, batch, self.run.step, self.run.epoch)
                run = self.run
                run.step += 1
                run.batch_in_epoch += 1
                held = self.state.held  # type: ignore[attr-defined]  # HoldAbsentState
                run.record(held)
                run.average_parameters(param_views)
                if run.step % self.history_every == 0:
                    self.history.record_step(run.step, self.state.weights, held)
                for c in step_cbs:
                    c.on_step_end(self)
            if self.run.batch_in_epoch == 0:
                raise fail(
                    "train_loader",
                    "yield at least one batch",
                    "an empty epoch",
                    "check the dataset size, batch_size and drop_last",
                )
            self._end_epoch(time.perf_counter() - started)
        for c in self._callbacks:
            c.on_fit_end(self, self.history)
        return self.history

    def _lr_factor(self, n_batches: int | None) -> Callable[[int], float] | None:
        """The θ step-size multiplier as a function of the step, or None for "constant"."""
        if callable(self.lr_schedule):
            return self.lr_schedule
        if self.lr_schedule == "constant":
            return None
        horizon = DECAY_EPOCHS * n_batches if n_batches else 1000.0
        power = LR_SCHEDULES[self.lr_schedule]
        return lambda t: (1.0 + t / horizon) ** -power

    def _calibrate(self, loader: Iterable[Any]) -> None:
        """normalize="initial": each objective's raw value at the initial model, all data."""
        total = self._full_pass(self.model, loader)
        absent = [self.names[k] for k in np.flatnonzero(~total.present)]
        if absent:
            raise fail(
                "train_loader",
                "contain samples of every objective to calibrate normalize='initial'",
                f"no samples for {absent}",
                "drop the empty groups from the family, or pass fixed scales normalize=[...]",
            )
        self.family.calibrate_batch(total)
        logger.info("calibrated the initial scales on %d samples", int(total.total_counts.max()))

    def _epoch_batches(self, loader: Any) -> Iterable[Any]:
        """This epoch's batches; after a mid-epoch resume, the ones not yet consumed."""
        resume = self._resume_rng
        if resume is not None and self.run.batch_in_epoch > 0:
            restore_rng(resume["epoch_start"], loader)  # replay this epoch's shuffling
        self._epoch_rng = capture_rng(loader)
        set_epoch = getattr(getattr(loader, "sampler", None), "set_epoch", None)
        if set_epoch is not None:
            set_epoch(self.run.epoch)
        for c in self._callbacks:
            c.on_epoch_start(self, self.run.epoch)
        it = iter(loader)
        if resume is not None:
            for _ in range(self.run.batch_in_epoch):  # skip the batches consumed before
                if next(it, None) is None:
                    raise fail(
                        "train_loader",
                        "yield as many batches as when the checkpoint was written",
                        "fewer batches",
                        "resume with the same data",
                    )
            restore_rng(resume["current"], loader)
            self._resume_rng = None
        return it

    def _end_epoch(self, seconds: float) -> None:
        last = averaged = None
        if self._eval_loader is not None:
            last = self.evaluate(self._eval_loader)
            if self.run.avg_params is not None:
                with _SwapParameters(self._params, self.run.avg_params):
                    averaged = self.evaluate(self._eval_loader)
        gap = None
        if self.gap_tol is not None and self._eval_loader is not None:
            gap = self.duality_gap(self._eval_loader)
            if gap.relative <= self.gap_tol:
                self.run.stop_training = True
                logger.info("relative gap %.3g <= gap_tol: stopping", gap.relative)
        record = EpochRecord(
            self.run.epoch,
            self.run.step,
            self.run.epoch_mean(),
            self.state.weights.copy(),
            self.state.mean_weights.copy(),
            last,
            averaged,
            seconds,
            gap,
        )
        self.history.epochs.append(record)
        self.run.next_epoch()
        ev = averaged or last
        logger.info(
            "epoch %d/%d: step %d, worst case %s, max λ %.3f (%s)",
            self.run.epoch,
            self.run.epochs,
            self.run.step,
            "n/a" if ev is None else f"{ev.worst_case:.5g}",
            float(self.state.weights.max()),
            self.names[int(self.state.weights.argmax())],
        )
        for c in self._callbacks:
            c.on_epoch_end(self, record)

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(
        self, loader: Iterable[Any], model: torch.nn.Module | None = None
    ) -> ObjectiveReport:
        """Per-objective values over a full pass of ``loader`` (no grad), and the worst case.

        Returns an :class:`~almo.report.ObjectiveReport`: raw and normalized means, the
        penalty r(θ) of the model (zeros without one), the worst case over Λ with its λ*.
        Under torch.distributed every rank's sums and counts are added first. The pass leaves
        every random generator as it found it.

        Parameters
        ----------
        loader : iterable of batches
            ``(x, y)`` or ``(x, y, group)``; every objective needs at least one sample.
        model : torch.nn.Module, optional
            The model to evaluate; default ``trainer.model`` (the last iterate). Pass
            ``trainer.averaged_model()`` for the averaged one.

        Examples
        --------
        >>> import torch
        >>> from almo.objectives import ObjectiveFamily
        >>> data = [(torch.randn(8, 3), torch.randint(0, 2, (8,)))]
        >>> trainer = MinimaxTrainer(torch.nn.Linear(3, 2), ObjectiveFamily(["log_loss", "hinge"]))
        >>> ev = trainer.evaluate(data)
        >>> ev.names, bool(ev.worst_case == ev.normalized.max())
        (('log_loss', 'hinge'), True)
        """
        model = self.model if model is None else model
        total = self._full_pass(model, loader)
        if not total.present.all():
            missing = [self.names[k] for k in np.flatnonzero(~total.present)]
            raise fail(
                "eval_loader",
                "contain samples for every objective",
                f"no samples for {missing}",
                "include every group in the eval data",
            )
        raw = total.means(normalized=False)
        check_finite_losses(raw, self.names, where="evaluation")
        penalty = None
        if self.penalty is not None:
            with torch.no_grad():
                penalty = self.penalty(model).detach().to("cpu", torch.float64).numpy()
        return ObjectiveReport.from_values(
            self.names,
            raw,
            total.scale,
            self.mixture_set,
            penalty=penalty,
            counts=total.total_counts,
        )

    def duality_gap(self, loader: Iterable[Any], max_iter: int = 200) -> GapEstimate:
        """Duality-gap estimate of (averaged θ, averaged λ) on ``loader``; RNG untouched.

        The averaged model's penalized worst case minus the value of θ's best response (full
        batch L-BFGS from the averaged model) to the averaged λ: an upper bound on how far the
        averaged model's worst case is from the minimax value, on convex models. See
        :mod:`almo.train.gap`.

        Examples
        --------
        >>> import torch
        >>> from almo.objectives import ObjectiveFamily
        >>> data = [(torch.randn(32, 3), torch.randint(0, 2, (32,)))]
        >>> trainer = MinimaxTrainer(
        ...     torch.nn.Linear(3, 2), ObjectiveFamily(["log_loss", "hinge"]), verbose=False
        ... )
        >>> _ = trainer.fit(data, epochs=3)
        >>> est = trainer.duality_gap(data)
        >>> bool(est.lower <= est.upper), bool(est.relative >= 0)
        (True, True)
        """
        rng = capture_rng(loader)
        try:
            return duality_gap(
                self.averaged_model(),
                self.family,
                self.mixture_set,
                self.state.mean_weights,
                loader,
                self.penalty,
                max_iter=max_iter,
                device=self.device,
            )
        finally:
            restore_rng(rng, loader)

    def _full_pass(self, model: torch.nn.Module, loader: Iterable[Any]) -> ObjectiveBatch:
        """Sums and counts of every objective over ``loader`` (all ranks), RNG untouched."""
        rng = capture_rng(loader)
        was_training = model.training
        model.eval()
        sums = torch.zeros(self.p, dtype=torch.float64, device=self.device)
        counts = torch.zeros(self.p, dtype=torch.float64, device=self.device)
        try:
            with torch.no_grad():
                for batch in loader:
                    x, y, group = (move_to(v, self.device) for v in unpack_batch(batch))
                    s, c = self.family.sums_counts(call_model(model, x), y, group)
                    sums += s.double()
                    counts += c.double()
        finally:
            model.train(was_training)
            restore_rng(rng, loader)
        return ObjectiveBatch(sums, counts, self.family.scale_array).all_reduce(self._ctx)

    # -- checkpoints --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The run's configuration as plain values (stored in checkpoints)."""
        return {
            "p": self.p,
            "names": self.names,
            "method": self.method,
            "lambda_every": self.lambda_every,
            "seed": self.seed,
            "mixture_set": type(self.mixture_set).__name__,
            "weight_rule": repr(self.weight_rule),
            "optimizer": type(self.optimizer).__name__,
            "average_model": self.average_model,
            "average_power": self.average_power,
            "lr_schedule": self.lr_schedule
            if isinstance(self.lr_schedule, str)
            else repr(self.lr_schedule),
            "history_every": self.history_every,
            "penalty": self.penalty is not None,
            "divergence_factor": self.divergence_factor,
            "gap_tol": self.gap_tol,
        }

    def save_checkpoint(self, path: Any) -> None:
        """Write the full training state to ``path`` atomically (rank 0 only).

        Holds the model, the optimizer, the λ state (λ, its average, held values, the
        ``lambda_every`` accumulator), the run state (counters, the epoch's accumulator, the
        averaged parameters), the family's scales, the history, the callbacks' states, the RNG
        states (torch, numpy, Python, the loader's generators) and the configuration. Load it
        with ``fit(..., resume_from=path)``. Under torch.distributed the RNG states are rank 0's.

        Examples
        --------
        >>> import tempfile, torch
        >>> from almo.objectives import ObjectiveFamily
        >>> data = [(torch.randn(8, 3), torch.randint(0, 2, (8,)))] * 4
        >>> path = tempfile.mkdtemp() + "/run.pt"
        >>> def make():
        ...     torch.manual_seed(0)
        ...     return MinimaxTrainer(
        ...         torch.nn.Linear(3, 2), ObjectiveFamily(["log_loss", "hinge"]), verbose=False
        ...     )
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
            "run": self.run.state_dict(),
            "family": self.family.state_dict(),
            "history": self.history.state_dict(),
            "rng": {"current": capture_rng(self._train_loader), "epoch_start": self._epoch_rng},
            "callbacks": {
                f"{i}:{type(c).__name__}": c.state_dict() for i, c in enumerate(self._callbacks)
            },
            "threads": torch.get_num_threads(),  # a bitwise resume needs the same count
        }
        save_checkpoint(path, payload)

    def _load(self, path: Any) -> None:
        ck = load_checkpoint(path)  # verified: intact, almo's format, no pickled objects
        saved, now = trainer_config(ck, path), self.config()
        check_thread_count(ck, path)
        free = ("seed", "divergence_factor", "gap_tol", "lr_schedule")  # may change on resume
        diff = {k: (saved.get(k), v) for k, v in now.items() if k not in free and saved.get(k) != v}
        if diff:
            raise fail(
                "resume_from",
                "come from a run with the same configuration",
                f"differences (checkpoint, now): {diff}",
                "resume with the trainer settings the checkpoint was written with",
            )
        if "run" not in ck:
            raise fail(
                "resume_from",
                "be a checkpoint of this version of the trainer",
                "an older layout without a run state",
                "restart the run from scratch",
            )
        check_model_state(self.model, ck["model"], path)
        # The optimizer's state (moments, buffers) comes from the checkpoint, its settings (lr,
        # betas, ...) from the optimizer passed now: a diverged run resumes with a lower lr.
        settings = [
            {k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups
        ]
        try:
            self.optimizer.load_state_dict(ck["optimizer"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
            raise made_for_another_run(path, "optimizer", err) from err
        for group, setting in zip(self.optimizer.param_groups, settings, strict=True):
            group.update(setting)
        self.model.load_state_dict(ck["model"])  # after the optimizer: a refusal leaves θ as is
        self.state = self.lambda_rule.restore(from_plain(ck["weights"]), self.mixture_set)
        epochs = self.run.epochs
        self.run.load_state_dict(ck["run"], self.device)
        self.run.epochs = epochs  # the resumed fit may ask for more epochs than the first
        self.family.load_state_dict(ck["family"])  # the normalization scales
        self.history = History.from_state_dict(ck["history"])
        for i, c in enumerate(self._callbacks):
            state = ck["callbacks"].get(f"{i}:{type(c).__name__}")
            if state:
                c.load_state_dict(state)
        self._resume_rng = ck["rng"]
        if self.run.batch_in_epoch == 0:  # an epoch boundary: just continue the generators
            restore_rng(ck["rng"]["current"], self._train_loader)
            self._resume_rng = None
        logger.info("resumed from %s at epoch %d, step %d", path, self.run.epoch, self.run.step)

    def __repr__(self) -> str:
        return (
            f"MinimaxTrainer(model={type(self.model).__name__}, p={self.p}, "
            f"mixture_set={type(self.mixture_set).__name__}, weight_rule={self.weight_rule!r}"
            f", method={self.method!r}, lambda_every={self.lambda_every})"
        )


class _SwapParameters:
    """Context manager: put other values into the parameters, then restore them."""

    def __init__(self, params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
        self.params, self.values = params, values

    def __enter__(self) -> None:
        with torch.no_grad():
            self.saved = [q.detach().clone() for q in self.params]
            torch._foreach_copy_(self.params, self.values)

    def __exit__(self, *exc: Any) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.saved)


def _build_optimizer(optimizer: Any, model: torch.nn.Module) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.Adam(model.parameters(), lr=DEFAULT_LR)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        built = optimizer(model.parameters())
        if isinstance(built, torch.optim.Optimizer):
            return built
    raise fail(
        "optimizer",
        "be a torch optimizer or a factory params -> optimizer",
        type(optimizer).__name__,
        "pass e.g. lambda ps: torch.optim.SGD(ps, lr=0.1)",
    )


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
