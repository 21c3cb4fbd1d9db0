"""MinimaxTrainer: train a torch model against the worst mixture λ ∈ Λ of p objectives.

The game is min_θ max_{λ∈Λ} Σ_k λ_k (ℓ_k(θ) + r_k(θ)). Each step computes ℓ from one forward
pass through an :class:`~almo.ObjectiveFamily`, moves θ with any torch optimizer on ⟨λ, ℓ + r⟩
and moves λ with a pure weight rule on the detached ℓ + r. A fixed-weight ensemble is this same
trainer with :class:`~almo.weights.FixedWeights`: baselines share the code path by construction.

``method`` picks the update scheme: ``"sgda"`` (θ then λ, both from (θ_t, λ_t)),
``"simultaneous"`` (λ first, θ answers λ_{t+1}) or ``"mirror_prox"`` (extragradient, about twice
the cost per step); see :mod:`almo.train.steps`. With ``lambda_every=k`` λ steps once every
k θ steps, on the mean of the k loss vectors seen.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from almo._validation import check_finite_losses, fail
from almo.mixtures import MixtureSet, Simplex
from almo.train.callbacks import Callback, ProgressBar
from almo.train.checkpoint import capture_rng, restore_rng
from almo.train.distributed import DistributedContext
from almo.train.game import call_model, move_to, unpack_batch
from almo.train.history import EpochRecord, Evaluation, History
from almo.train.persistence import CheckpointState
from almo.train.steps import GameSteps
from almo.weights import Averaged, ProjectedAscent, WeightRule

__all__ = ["MinimaxTrainer"]

logger = logging.getLogger("almo.train")
Method = Literal["sgda", "simultaneous", "mirror_prox"]
METHODS = ("sgda", "simultaneous", "mirror_prox")


class MinimaxTrainer(GameSteps, CheckpointState):
    r"""Train ``model`` on the worst mixture of ``family``'s objectives over ``mixture_set``.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; its outputs must suit the family's losses.
    family : ObjectiveFamily
        Turns outputs and targets into the p per-objective losses (``sums_counts``).
    mixture_set : MixtureSet, optional
        Λ; the whole simplex ``Simplex(p)`` by default.
    weight_rule : WeightRule, optional
        How λ moves. Default ``ProjectedAscent(lr=sqrt(2/p), schedule="inv_sqrt")``: the
        anytime online-gradient step γ_t = D / (G √t) with D = √2 the diameter of the simplex
        and G = √p a bound on ‖ℓ‖₂ for losses of order one (normalize the family), whose regret
        is at most (3/2) D G √T. The rule is wrapped in ``Averaged`` (if not already) so the
        running mean of λ is kept.
    optimizer : torch.optim.Optimizer or callable, optional
        An optimizer over ``model``'s parameters, or a factory ``params -> optimizer``.
        Default ``torch.optim.Adam(lr=1e-3)``.
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
        Keep the running mean of the parameters (one extra copy) and evaluate it each epoch.
    history_every : int, optional
        Record λ and ℓ every this many steps; default ``max(1, p // 100)``.

    Examples
    --------
    >>> import torch
    >>> from almo.objectives import ObjectiveFamily
    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> data = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    >>> family = ObjectiveFamily(["log_loss", "hinge"])
    >>> trainer = MinimaxTrainer(torch.nn.Linear(3, 2), family, verbose=False)
    >>> history = trainer.fit(data, epochs=2, eval_loader=data)
    >>> len(history.epochs), history.step_weights.shape
    (2, (8, 2))
    >>> trainer.mixture_set.contains(trainer.weights)
    True
    """

    def __init__(self, model: torch.nn.Module, family: Any, mixture_set: MixtureSet | None = None,
                 weight_rule: WeightRule | None = None,
                 optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer]
                 | None = None,
                 penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None,
                 method: Method = "sgda", lambda_every: int = 1,
                 device: str | torch.device | None = None, seed: int | None = 0,
                 verbose: bool = True, average_model: bool = True,
                 history_every: int | None = None) -> None:
        if not isinstance(model, torch.nn.Module):
            raise fail("model", "be a torch.nn.Module", type(model).__name__,
                       "wrap the network in a torch.nn.Module")
        for attr in ("p", "names", "sums_counts"):
            if not hasattr(family, attr):
                raise fail("family", f"be an ObjectiveFamily (it has no `{attr}`)",
                           type(family).__name__, "pass almo.ObjectiveFamily(losses=[...])")
        self.p = int(family.p)
        self.names = list(family.names)
        self.mixture_set = Simplex(self.p) if mixture_set is None else mixture_set
        if not isinstance(self.mixture_set, MixtureSet):
            raise fail("mixture_set", "be a MixtureSet", type(mixture_set).__name__,
                       "pass e.g. almo.Simplex(family.p)")
        if self.mixture_set.p != self.p:
            raise fail("mixture_set", f"have p = family.p = {self.p} objectives",
                       self.mixture_set.p, "build the set for the family's objectives "
                       f"({', '.join(self.names[:4])}{', ...' if self.p > 4 else ''})")
        if method not in METHODS:
            raise fail("method", f"be one of {METHODS}", method, "pass method='sgda'")
        if int(lambda_every) < 1:
            raise fail("lambda_every", "be an integer >= 1", lambda_every, "pass 1")
        if history_every is not None and int(history_every) < 1:
            raise fail("history_every", "be None or an integer >= 1", history_every, "pass 1")
        if penalty is not None and not callable(penalty):
            raise fail("penalty", "be callable: model -> Tensor (p,)", type(penalty).__name__,
                       "pass a function of the model, or None")
        rule = weight_rule if weight_rule is not None else \
            ProjectedAscent(lr=math.sqrt(2.0 / self.p), schedule="inv_sqrt")
        if not isinstance(rule, WeightRule):
            raise fail("weight_rule", "be a WeightRule", type(rule).__name__,
                       "pass e.g. almo.weights.ProjectedAscent(lr=0.1)")
        self.weight_rule = rule if isinstance(rule, Averaged) else Averaged(rule)
        self.device = torch.device(device if device is not None else
                                   ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device)
        self.optimizer = _build_optimizer(optimizer, self.model)
        self.family, self.penalty, self.method = family, penalty, method
        self.lambda_every, self.seed, self.verbose = int(lambda_every), seed, bool(verbose)
        self.average_model = bool(average_model)
        self.history_every = int(history_every) if history_every else max(1, self.p // 100)
        self.state = self.weight_rule.init(self.mixture_set)
        self._reset_run()

    # -- public state -------------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """λ now (the last iterate), float64 (p,)."""
        return self.state.weights

    @property
    def average_weights(self) -> np.ndarray:
        """The running mean of λ, float64 (p,)."""
        return self.state.average

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (always in a single process)."""
        return self._ctx.is_main

    @property
    def has_eval_data(self) -> bool:
        """Whether the current ``fit`` evaluates each epoch."""
        return self._eval_loader is not None

    def _reset_run(self) -> None:
        self.step = self.epoch = self.batch_in_epoch = 0
        self.epochs: int = 0
        self.stop_training = False
        self.history = History(self.names, self.history_every)
        self.last_losses = np.full(self.p, np.nan)
        self._last_seen = np.full(self.p, np.nan)
        self._acc, self._acc_n = np.zeros(self.p), 0
        self._epoch_sum, self._epoch_n = np.zeros(self.p), 0
        self._avg_params: list[torch.Tensor] | None = None
        self._avg_n = 0
        self._ctx = DistributedContext.detect()
        self._eval_loader: Any = None
        self._train_loader: Any = None
        self._epoch_rng: dict[str, Any] | None = None
        self._resume_rng: dict[str, Any] | None = None
        self._checked = False
        self.steps_per_epoch: int | None = None

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, train_loader: Iterable[Any], epochs: int,
            eval_loader: Iterable[Any] | None = None, callbacks: Sequence[Callback] | None = None,
            resume_from: str | None = None) -> History:
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
            Evaluated at the end of each epoch (last and averaged iterates).
        callbacks : sequence of Callback, optional
            A :class:`ProgressBar` is added unless one is given.
        resume_from : str or Path, optional
            A checkpoint of an interrupted ``fit`` with the same configuration and data.

        Returns
        -------
        History
            Also stored as ``trainer.history``.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise fail("epochs", "be an integer >= 1", epochs, "pass e.g. epochs=10")
        n_batches = _length(train_loader)
        if n_batches == 0:
            raise fail("train_loader", "yield at least one batch", "an empty loader",
                       "check the dataset size, batch_size and drop_last")
        if eval_loader is not None and _length(eval_loader) == 0:
            raise fail("eval_loader", "yield at least one batch", "an empty loader",
                       "pass None or a non-empty loader")
        cbs = list(callbacks or [])
        if not any(isinstance(c, ProgressBar) for c in cbs):
            cbs.append(ProgressBar(self.verbose))
        for c in cbs:
            if not isinstance(c, Callback):
                raise fail("callbacks", "contain Callback instances", type(c).__name__,
                           "subclass almo.train.Callback or use LambdaCallback")
        cbs.sort(key=lambda c: c.order)
        self._callbacks = cbs
        self._reset_run()
        self.epochs, self.steps_per_epoch = int(epochs), n_batches
        self._train_loader, self._eval_loader = train_loader, eval_loader
        self._net = self._ctx.wrap(self.model, self.device)
        self._params = [q for q in self.model.parameters() if q.requires_grad]
        self._param_views = [q.detach() for q in self._params]  # share storage: no per-step copy
        self._scale_cache()
        if resume_from is not None:
            self._load(resume_from)
        else:
            self.state = self.weight_rule.init(self.mixture_set)
            if self.seed is not None:
                torch.manual_seed(self.seed)
                np.random.seed(self.seed)  # noqa: NPY002 -- the global state user code draws from
                random.seed(self.seed)
            if self.average_model:
                self._avg_params = [q.detach().clone() for q in self._params]
        for c in cbs:
            c.on_fit_start(self)
        step_cbs = [c for c in cbs if type(c).on_step_end is not Callback.on_step_end]
        self.model.train()
        while self.epoch < self.epochs and not self.stop_training:
            self._run_epoch(train_loader, step_cbs)
        for c in cbs:
            c.on_fit_end(self, self.history)
        return self.history

    def _run_epoch(self, loader: Any, step_cbs: list[Callback]) -> None:
        resume = self._resume_rng
        if resume is not None and self.batch_in_epoch > 0:
            restore_rng(resume["epoch_start"], loader)  # replay this epoch's shuffling
        self._epoch_rng = capture_rng(loader)
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        for c in self._callbacks:
            c.on_epoch_start(self, self.epoch)
        started = time.perf_counter()
        it = iter(loader)
        if resume is not None:
            for _ in range(self.batch_in_epoch):  # skip the batches consumed before the kill
                if next(it, None) is None:
                    raise fail("train_loader", "yield as many batches as when the checkpoint "
                               "was written", "fewer batches", "resume with the same data")
            restore_rng(resume["current"], loader)
            self._resume_rng = None
        for batch in it:
            self._train_step(batch)
            self.batch_in_epoch += 1
            for c in step_cbs:
                c.on_step_end(self)
        if self.batch_in_epoch == 0:
            raise fail("train_loader", "yield at least one batch", "an empty epoch",
                       "check the dataset size, batch_size and drop_last")
        self._end_epoch(time.perf_counter() - started)

    def _end_epoch(self, seconds: float) -> None:
        last = averaged = None
        if self._eval_loader is not None:
            last = self.evaluate(self._eval_loader)
            if self._avg_params is not None:
                with self._averaged_parameters():
                    averaged = self.evaluate(self._eval_loader)
        train = self._epoch_sum / max(self._epoch_n, 1)
        record = EpochRecord(self.epoch, self.step, train, self.state.weights.copy(),
                             self.state.average.copy(), last, averaged, seconds)
        self.history.epochs.append(record)
        self.epoch += 1
        self.batch_in_epoch = 0
        self._epoch_sum, self._epoch_n = np.zeros(self.p), 0
        ev = averaged or last
        logger.info("epoch %d/%d: step %d, worst case %s, max λ %.3f (%s)", self.epoch,
                    self.epochs, self.step, "n/a" if ev is None else f"{ev.worst_case:.5g}",
                    float(self.state.weights.max()), self.names[int(self.state.weights.argmax())])
        for c in self._callbacks:
            c.on_epoch_end(self, record)

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, loader: Iterable[Any]) -> Evaluation:
        """Per-objective means over a full pass of ``loader`` (no grad) and the worst case.

        Under torch.distributed the sums and counts of every rank are added first. The
        penalty is not included: these are the objectives themselves.

        Examples
        --------
        >>> import torch
        >>> from almo.objectives import ObjectiveFamily
        >>> data = [(torch.randn(8, 3), torch.randint(0, 2, (8,)))]
        >>> trainer = MinimaxTrainer(torch.nn.Linear(3, 2), ObjectiveFamily(["log_loss", "hinge"]))
        >>> ev = trainer.evaluate(data)
        >>> ev.names, bool(ev.worst_case == ev.losses.max())
        (['log_loss', 'hinge'], True)
        """
        was_training = self.model.training
        self.model.eval()
        sums = torch.zeros(self.p, dtype=torch.float64, device=self.device)
        counts = torch.zeros(self.p, dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for batch in loader:
                x, y, group = (move_to(v, self.device) for v in unpack_batch(batch))
                s, c = self.family.sums_counts(call_model(self.model, x), y, group)
                sums += s.double()
                counts += c.double()
        self.model.train(was_training)
        stats = DistributedContext.detect().all_reduce_sum(torch.cat((sums, counts))).cpu()
        s_np, c_np = stats[:self.p].numpy(), stats[self.p:].numpy()
        if not (c_np > 0).all():
            missing = [self.names[k] for k in np.flatnonzero(c_np <= 0)]
            raise fail("eval_loader", "contain samples for every objective",
                       f"no samples for {missing}", "include every group in the eval data")
        means = s_np / c_np / self._scale_cache()
        check_finite_losses(means, self.names, where="evaluation")
        wc = self.mixture_set.worst_case(means)
        return Evaluation(means, list(self.names), float(wc.value),
                          np.asarray(wc.weights, np.float64))

    def _averaged_parameters(self) -> Any:
        return _SwapParameters(self._params, self._avg_params or [])

    # -- helpers ------------------------------------------------------------------------------
    def _scale_cache(self) -> np.ndarray:
        scale = getattr(self.family, "scale", None)
        arr = np.ones(self.p) if scale is None else np.asarray(
            scale.detach().cpu() if isinstance(scale, torch.Tensor) else scale, np.float64)
        self._scale_np = arr.reshape(self.p)
        return self._scale_np

    def __repr__(self) -> str:
        return (f"MinimaxTrainer(model={type(self.model).__name__}, p={self.p}, "
                f"mixture_set={type(self.mixture_set).__name__}, weight_rule={self.weight_rule!r}"
                f", method={self.method!r}, lambda_every={self.lambda_every})")

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
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        built = optimizer(model.parameters())
        if isinstance(built, torch.optim.Optimizer):
            return built
    raise fail("optimizer", "be a torch optimizer or a factory params -> optimizer",
               type(optimizer).__name__, "pass e.g. lambda ps: torch.optim.SGD(ps, lr=0.1)")


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
