"""Retraining with the two sources as one objective family: ALMO per generation.

Instead of pooling the data contamination-agnostically, each generation trains a unigram logits
model with :class:`~almo.train.MinimaxTrainer` on an :class:`~almo.objectives.ObjectiveFamily`
with two groups — the log loss on the true samples (group 0) and on the synthetic samples
(group 1) — against the worst mixture in Λ = {λ : λ_true ≥ α_min} (a
:class:`~almo.mixtures.BoxSimplex`). The baseline is the same trainer with fixed weights
(k/n, 1 − k/n): with k = round(α n) true samples this is exactly the contamination-agnostic
pooled log loss, so both arms share one code path and differ only in how λ moves.

Because the learner is told which samples are true, the composition is fixed (k = round(α n)
true draws per generation). The model is a softmax over V logits; each
generation is fine-tuned from the previous one (generation 0 is trained from zeros on the true
data); its synthetic samples come from softmax(logits) (tempered, top-k).

Examples
--------
>>> from almo.sources import zipf
>>> out = simulate_minimax(
...     zipf(20), alpha=0.1, n=100, generations=2, replicates=1, alpha_min=0.5, epochs=5
... )
>>> sorted(out), out["minimax"].metrics["l2"].shape
(['minimax', 'pooled'], (1, 3))
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from almo._validation import check_positive, fail
from almo.sources.base import tempered
from almo.sources.categorical import check_distribution
from almo.sources.metrics import CATEGORICAL_METRICS, categorical_metrics
from almo.sources.schedules import ScheduleLike, alpha_values, n_values
from almo.sources.simulate import CollapseResult
from almo.sources.softmax import one_thread

if TYPE_CHECKING:
    from almo.mixtures import MixtureSet
    from almo.weights import WeightRule

__all__ = ["UnigramLogits", "simulate_minimax"]

logger = logging.getLogger(__name__)


class UnigramLogits(torch.nn.Module):
    """A next-token distribution softmax(w) that ignores its input: outputs (len(x), V) logits.

    Examples
    --------
    >>> import torch
    >>> UnigramLogits(4)(torch.zeros(3, 1)).shape
    torch.Size([3, 4])
    """

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(vocab))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def simulate_minimax(
    truth: np.ndarray,
    *,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    replicates: int = 3,
    alpha_min: float = 0.5,
    alpha_max: float = 1.0,
    epochs: int = 30,
    batch_size: int | None = None,
    lr: float = 0.1,
    lambda_lr: float = 0.5,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, CollapseResult]:
    """Retrain with ALMO over {true, synthetic} and with fixed pooling weights, side by side.

    Parameters
    ----------
    truth : array of shape (V,)
        P*.
    alpha, n : schedule-like
        True fraction and sample size per generation (generation 0 is all true).
    generations, replicates : int
        T and R (replicates run one after the other: each trains 2·T models).
    alpha_min, alpha_max : float
        Λ = {λ : alpha_min ≤ λ_true ≤ alpha_max} (the default alpha_max = 1 leaves only the
        lower bound). When the true samples' loss is the larger one the adversary moves λ_true
        up to alpha_max, and the model then learns mostly from the few true samples.
    epochs, batch_size, lr : int, int or None, float
        Training of each generation's model: Adam on the logits, warm-started from the previous
        generation (generation 0 from zeros, 3·epochs); full batches by default.
    lambda_lr : float
        Step of the projected-ascent rule on λ.
    temperature, top_k, seed, progress
        As in :func:`~almo.sources.simulate`.

    Returns
    -------
    dict with keys "minimax" and "pooled", each a :class:`~almo.sources.CollapseResult`;
    ``info["mean_weights"]`` holds, for "minimax", each generation's averaged λ (mean over
    replicates, (T + 1) × 2 nested lists).

    Examples
    --------
    See the module docstring.
    """
    from almo.mixtures import BoxSimplex, Simplex
    from almo.objectives import ObjectiveFamily
    from almo.train import MinimaxTrainer
    from almo.weights import FixedWeights, ProjectedAscent

    p_star = check_distribution(truth)
    v = p_star.shape[0]
    a = alpha_values(alpha, generations)
    ns = n_values(n, generations)
    if not 0.0 <= alpha_min <= alpha_max <= 1.0:
        raise fail(
            "alpha_min",
            "satisfy 0 <= alpha_min <= alpha_max <= 1",
            (alpha_min, alpha_max),
            "pass e.g. alpha_min=0.5, alpha_max=1.0",
        )
    batch_size = int(ns.max()) if batch_size is None else batch_size
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("replicates", replicates)):
        if int(value) != value or value < 1:
            raise fail(name, "be an integer >= 1", value, f"pass e.g. {name}=10")
    check_positive("lr", lr)
    check_positive("lambda_lr", lambda_lr)
    rng = np.random.default_rng(seed)
    family = ObjectiveFamily("log_loss", groups=["true", "synthetic"])
    box = BoxSimplex([alpha_min, 1.0 - alpha_max], [alpha_max, 1.0 - alpha_min])
    arms: dict[str, tuple[MixtureSet, str]] = {
        "minimax": (box, "minimax"),
        "pooled": (Simplex(2), "fixed"),
    }
    shape = (replicates, generations + 1)
    metrics = {arm: {k: np.zeros(shape) for k in CATEGORICAL_METRICS} for arm in arms}
    weights = np.zeros((*shape, 2))
    bar = tqdm(total=replicates * (generations + 1), disable=not progress, desc="collapse[almo]")

    def train(
        init: torch.Tensor,
        true_tokens: np.ndarray,
        syn_tokens: np.ndarray,
        mset: MixtureSet,
        rule: WeightRule,
        n_epochs: int,
    ) -> tuple[torch.Tensor, np.ndarray]:
        model = UnigramLogits(v)
        with torch.no_grad():
            model.logits.copy_(init)
        trainer = MinimaxTrainer(
            model,
            family,
            mixture_set=mset,
            weight_rule=rule,
            optimizer=lambda params: torch.optim.Adam(params, lr=lr),
            seed=int(rng.integers(2**31)),
            verbose=False,
            average_model=False,
            device="cpu",
        )
        loader = _batches(true_tokens, syn_tokens, batch_size, rng)
        with one_thread():
            trainer.fit(loader, epochs=n_epochs)
        return model.logits.detach().clone(), trainer.average_weights

    for r in range(replicates):
        # Generation 0: one model for both arms, trained from zeros on true data alone.
        first = rng.choice(v, size=int(ns[0]), p=p_star)
        logits0, _ = train(
            torch.zeros(v),
            first,
            first[:0],
            Simplex(2),
            FixedWeights(np.array([1.0, 0.0])),
            3 * epochs,
        )
        logits = {arm: logits0 for arm in arms}
        for arm in arms:
            _record(metrics[arm], r, 0, _softmax(logits0), p_star)
        weights[r, 0] = (1.0, 0.0)
        bar.update(1)
        for t in range(1, generations + 1):
            k = int(np.rint(a[t] * ns[t]))
            true_tokens = rng.choice(v, size=k, p=p_star)
            for arm, (mset, kind) in arms.items():
                q = tempered(_softmax(logits[arm]), temperature, top_k)
                syn_tokens = rng.choice(v, size=int(ns[t]) - k, p=q)
                rule = (
                    FixedWeights(np.array([k / ns[t], 1.0 - k / ns[t]]))
                    if kind == "fixed"
                    else ProjectedAscent(lr=lambda_lr, schedule="inv_sqrt")
                )
                # Each generation fine-tunes the previous model (warm start), as in practice.
                logits[arm], lam = train(logits[arm], true_tokens, syn_tokens, mset, rule, epochs)
                _record(metrics[arm], r, t, _softmax(logits[arm]), p_star)
                if arm == "minimax":
                    weights[r, t] = lam
            bar.update(1)
    bar.close()
    info = {
        "alpha_min": alpha_min,
        "alpha_max": alpha_max,
        "epochs": epochs,
        "temperature": temperature,
        "top_k": top_k,
    }
    return {
        arm: CollapseResult(
            metrics[arm],
            a,
            ns,
            f"{arm} (fixed composition)",
            int(seed),
            {
                **info,
                **({"mean_weights": weights.mean(axis=0).tolist()} if arm == "minimax" else {}),
            },
        )
        for arm in arms
    }


def _softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), -1).numpy()


def _record(
    store: dict[str, np.ndarray], r: int, t: int, probs: np.ndarray, p_star: np.ndarray
) -> None:
    for k, values in categorical_metrics(probs[None], p_star).items():
        store[k][r, t] = values[0]


def _batches(
    true_tokens: np.ndarray, syn_tokens: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    all_tokens = np.concatenate([true_tokens, syn_tokens])
    all_groups = np.concatenate(
        [np.zeros(len(true_tokens), np.int64), np.ones(len(syn_tokens), np.int64)]
    )
    order = rng.permutation(len(all_tokens))
    tokens, groups = torch.as_tensor(all_tokens[order]), torch.as_tensor(all_groups[order])
    x = torch.zeros(len(tokens), 1)
    return [
        (x[i : i + batch_size], tokens[i : i + batch_size], groups[i : i + batch_size])
        for i in range(0, len(tokens), batch_size)
    ]
