"""A softmax next-token model: bigram logits trained by minibatch SGD in torch.

Same data, sampling and metrics as the bigram :class:`~almo.sources.ngram.NGramModel` (order 2,
contexts = previous token or BOS), but the fit is gradient-based: logits W of shape (R, V+1, V),
p(next | prev) = softmax(W[prev]), trained on the cross-entropy of the training transitions. Each
step draws ``batch`` transitions per replicate from the training counts (an unbiased minibatch of
the empirical risk); replicates own disjoint parameters, so one summed loss trains all R models
at once. With a finite number of steps the fit never reaches the MLE's zeros: probabilities stay
positive (``support`` stays V per context) and unseen tokens fade gradually, like smoothing.

Examples
--------
>>> import numpy as np
>>> from almo.sources.ngram import random_markov
>>> model = SoftmaxBigramModel(vocab=3, length=5, steps=50)
>>> truth = model.truth_params(random_markov(3, seed=0))
>>> rng = np.random.default_rng(0)
>>> fitted = model.fit(model.sample(truth, np.array([20]), rng), rng=rng)
>>> fitted.shape, bool(np.allclose(fitted.sum(-1), 1.0))
((1, 4, 3), True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from almo._validation import check_integer, check_number, fail
from almo.sources.data import CountData
from almo.sources.ngram import NGramModel

__all__ = ["SoftmaxBigramModel"]


@dataclass(frozen=True)
class SoftmaxBigramModel(NGramModel):
    """Bigram logits trained by SGD; parameters are the softmax tables (R, V+1, V).

    Parameters
    ----------
    vocab, length, which, kl_smoothing
        As in :class:`~almo.sources.ngram.NGramModel` (``order`` is fixed at 2).
    steps : int
        SGD steps per generation.
    lr : float
        Initial learning rate of SGD with momentum 0.9, decayed linearly to 0.
    batch : int
        Transitions per replicate and step.
    warm_start : bool
        Start each generation from the previous logits (log of the previous table) instead of
        zeros (the uniform distribution).

    Examples
    --------
    >>> SoftmaxBigramModel(vocab=10).contexts
    11
    """

    # vocab, order, length, smoothing, which and kl_smoothing are NGramModel's fields.
    steps: int = 300
    lr: float = 5.0
    batch: int = 256
    warm_start: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.order, bool) or self.order != 2:
            raise fail(
                "order",
                "be 2 for the softmax bigram model",
                self.order,
                "use NGramModel for longer contexts",
            )
        super().__post_init__()
        for name in ("steps", "batch"):
            check_integer(name, getattr(self, name), f"pass e.g. {name}=200")
        check_number(
            "lr", self.lr, "pass a positive learning rate, e.g. lr=5.0", low=0.0, low_open=True
        )

    def fit(
        self,
        data: CountData,
        previous: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """``steps`` SGD steps from zeros (or the previous logits) on minibatches of ``data``."""
        counts = torch.as_tensor(data.counts, dtype=torch.float64)
        r, k, v = counts.shape
        empty = counts.reshape(r, k * v).sum(dim=1) == 0
        if bool(empty.any()) and previous is None:
            raise fail(
                "data",
                "hold at least one sequence per replicate",
                "an empty replicate",
                "draw n >= 1 sequences, or pass the previous estimate",
            )
        seed = int((rng or np.random.default_rng()).integers(2**62))
        gen = torch.Generator().manual_seed(seed)
        if self.warm_start and previous is not None:
            init = torch.log(
                torch.as_tensor(np.broadcast_to(previous, (r, k, v)).copy()).clamp_min(1e-12)
            )
        else:
            init = torch.zeros(r, k, v, dtype=torch.float64)
        with one_thread():
            logits = self._sgd(init.requires_grad_(True), counts.reshape(r, k * v), empty, gen)
        probs = torch.softmax(logits.detach(), dim=-1).numpy()
        if bool(empty.any()):
            assert previous is not None  # an empty replicate without `previous` raised above
            keep = empty.numpy()
            probs[keep] = np.broadcast_to(previous, probs.shape)[keep]
        return probs

    def _sgd(
        self,
        logits: torch.Tensor,
        flat_counts: torch.Tensor,
        empty: torch.Tensor,
        gen: torch.Generator,
    ) -> torch.Tensor:
        # Heavy-ball SGD written out (velocity ← 0.9·velocity + g; θ ← θ − lr_t·velocity):
        # the same update as torch.optim.SGD(momentum=0.9) without its one-off import cost.
        r, kv = flat_counts.shape
        weights = torch.where(empty[:, None], torch.ones_like(flat_counts), flat_counts)
        velocity = torch.zeros_like(logits)
        for step in range(self.steps):
            idx = torch.multinomial(weights, self.batch, replacement=True, generator=gen)
            # Normalize the whole table once (R, K·V), then pick the sampled transitions.
            logp = torch.log_softmax(logits, dim=-1).reshape(r, kv)
            nll = -logp.gather(1, idx)
            # Sum over replicates of each replicate's mean: independent fits in one backward.
            loss = (nll.mean(dim=1) * (~empty)).sum()
            (grad,) = torch.autograd.grad(loss, logits)
            with torch.no_grad():
                velocity.mul_(0.9).add_(grad)
                # Linear decay to 0: the last iterates average out the minibatch noise.
                logits -= self.lr * (1.0 - step / self.steps) * velocity
        return logits.detach()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one intra-op torch thread (restored on exit)."""
    # The tensors are tiny: a second intra-op thread only adds wake-up latency, which on a
    # loaded machine costs milliseconds per operation. Restored on exit.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
