"""MinimaxTrainer: train a torch model against the worst mixture λ ∈ Λ of p objectives.

The game is min_θ max_{λ∈Λ} Σ_k λ_k (ℓ_k(θ) + r_k(θ)). Each step computes ℓ from one forward
pass through an :class:`~almo.ObjectiveFamily`, moves θ with any torch optimizer on ⟨λ, ℓ + r⟩
and moves λ with a pure weight rule on the detached ℓ + r. A fixed-weight ensemble is this same
trainer with :class:`~almo.weights.FixedWeights`: baselines share the code path by construction.

Methods (``method=``)
---------------------
``"sgda"`` (default)
    Stochastic gradient descent-ascent as in Agnostic Federated Learning: θ steps on
    ⟨λ_t, ℓ_t + r_t⟩, then λ steps on the same forward pass's ℓ_t + r_t. Both players respond to
    (θ_t, λ_t); one forward and one backward pass per step.
``"simultaneous"``
    Both moves come from the same forward pass too, but the adversary moves first and the
    learner answers the new mixture: λ_{t+1} from ℓ_t, then θ steps on ⟨λ_{t+1}, ℓ_t + r_t⟩
    (the order of Group DRO's algorithm). Same cost as ``"sgda"``.
``"mirror_prox"``
    Extragradient: from (θ_t, λ_t) a look-ahead step gives (θ½, λ½); the gradients at (θ½, λ½)
    on the same batch then update (θ_t, λ_t). The look-ahead uses the optimizer itself; its
    state (Adam's moments, momentum buffers) is snapshotted before and restored after, so only
    the final step changes it. About twice the cost of ``"sgda"`` per step.

With ``lambda_every=k`` λ steps once every k θ steps, on the mean of the k loss vectors seen.
"""

from __future__ import annotations

import json
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
from almo.train.checkpoint import (
    capture_rng,
    from_plain,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    to_plain,
)
from almo.train.distributed import DistributedContext
from almo.train.game import (
    BatchTerms,
    OptimizerSnapshot,
    batch_terms,
    call_model,
    hold_absent,
    move_to,
    theta_loss,
    unpack_batch,
)
from almo.train.history import EpochRecord, Evaluation, History
from almo.weights import Averaged, ProjectedAscent, WeightRule

__all__ = ["MinimaxTrainer"]

logger = logging.getLogger("almo.train")
Method = Literal["sgda", "simultaneous", "mirror_prox"]
METHODS = ("sgda", "simultaneous", "mirror_prox")


class MinimaxTrainer:
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
        self._lam_dev = self._to_device(self.state.weights)
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

    # -- one step -----------------------------------------------------------------------------
    def _forward(self, batch: Any) -> BatchTerms:
        x, y, group = unpack_batch(batch)
        x, y, group = move_to(x, self.device), move_to(y, self.device), move_to(group, self.device)
        outputs = call_model(self._net, x)
        if getattr(self.family, "needs_calibration", False):
            # normalize="initial": objectives seen for the first time set their scale now.
            with torch.no_grad():
                self.family(outputs.detach(), y, group)
            self._scale_cache()
        terms = batch_terms(self.family, outputs, y, group, self.penalty, self.model, self._ctx,
                            self._scale_np, check=not self._checked)
        self._checked = True
        vec = terms.means if terms.penalty_host is None else terms.means + terms.penalty_host
        if not np.isfinite(vec).all():
            check_finite_losses(vec, self.names,
                                where=f"step {self.step + 1} (epoch {self.epoch + 1})")
        return terms

    def _lambda_view(self, terms: BatchTerms) -> np.ndarray:
        held = hold_absent(terms.means, terms.present, self._last_seen)
        return held if terms.penalty_host is None else held + terms.penalty_host

    def _theta_step(self, terms: BatchTerms, lam: torch.Tensor, step: bool = True) -> None:
        loss = theta_loss(terms, lam, self._scale_dev, self._ctx.world_size)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step:
            self.optimizer.step()

    def _lambda_due(self) -> bool:
        return self._acc_n + 1 >= self.lambda_every

    def _observe(self, vec: np.ndarray) -> None:
        """Feed one loss vector to λ: accumulate, and step when ``lambda_every`` are in."""
        self.last_losses = vec
        self._epoch_sum += vec
        self._epoch_n += 1
        if self.lambda_every == 1:
            self.state = self.weight_rule.update(self.state, vec)
        else:
            self._acc += vec
            self._acc_n += 1
            if self._acc_n < self.lambda_every:
                return
            self.state = self.weight_rule.update(self.state, self._acc / self._acc_n)
            self._acc, self._acc_n = np.zeros(self.p), 0
        self._lam_dev = self._to_device(self.state.weights)

    def _train_step(self, batch: Any) -> None:
        terms = self._forward(batch)
        if self.method == "sgda":
            vec = self._lambda_view(terms)
            self._theta_step(terms, self._lam_dev)
            self._observe(vec)
        elif self.method == "simultaneous":
            vec = self._lambda_view(terms)
            self._observe(vec)
            self._theta_step(terms, self._lam_dev)
        else:
            vec = self._mirror_prox(batch, terms)
        self.step += 1
        if self._avg_params is not None:
            self._avg_n += 1
            torch._foreach_lerp_(self._avg_params, [q.detach() for q in self._params],
                                 1.0 / (self._avg_n + 1))
        if self.step % self.history_every == 0:
            self.history.record_step(self.step, self.state.weights, vec)

    def _mirror_prox(self, batch: Any, terms: BatchTerms) -> np.ndarray:
        saved = [q.detach().clone() for q in self._params]
        snapshot = OptimizerSnapshot.take(self.optimizer)
        vec = self._lambda_view(terms)
        self._theta_step(terms, self._lam_dev)  # θ½
        lam_half = self.state.weights
        if self._lambda_due():  # λ½: the rule's step from the same state (pure: nothing kept)
            mean = (self._acc + vec) / (self._acc_n + 1)
            lam_half = self.weight_rule.update(self.state, mean).weights
        half = self._forward(batch)
        vec_half = self._lambda_view(half)
        self._theta_step(half, self._to_device(lam_half), step=False)  # gradients at θ½, λ½
        with torch.no_grad():
            torch._foreach_copy_(self._params, saved)
        snapshot.restore(self.optimizer)
        self.optimizer.step()
        self._observe(vec_half)
        return vec_half

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
        dtype = next((q.dtype for q in self.model.parameters()), torch.float32)
        self._dtype = dtype if dtype.is_floating_point else torch.float32
        self._scale_dev = torch.as_tensor(self._scale_np, dtype=self._dtype, device=self.device)
        return self._scale_np

    def _to_device(self, w: np.ndarray) -> torch.Tensor:
        return torch.tensor(w, dtype=self._dtype, device=self.device)

    def config(self) -> dict[str, Any]:
        """The run's configuration as plain values (stored in checkpoints)."""
        return {"p": self.p, "names": self.names, "method": self.method,
                "lambda_every": self.lambda_every, "seed": self.seed,
                "mixture_set": type(self.mixture_set).__name__,
                "weight_rule": repr(self.weight_rule),
                "optimizer": type(self.optimizer).__name__,
                "average_model": self.average_model, "history_every": self.history_every,
                "penalty": self.penalty is not None}

    def __repr__(self) -> str:
        return (f"MinimaxTrainer(model={type(self.model).__name__}, p={self.p}, "
                f"mixture_set={type(self.mixture_set).__name__}, weight_rule={self.weight_rule!r}"
                f", method={self.method!r}, lambda_every={self.lambda_every})")

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, path: Any) -> None:
        """Write the full training state to ``path`` atomically (rank 0 only).

        Holds the model, the optimizer, the weight-rule state (λ and its average), step and
        epoch counters, the accumulators, the averaged parameters, the history, the callbacks'
        states, the RNG states (torch, numpy, Python, the loader's generators) and the
        configuration. Load it with ``fit(..., resume_from=path)``.
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
