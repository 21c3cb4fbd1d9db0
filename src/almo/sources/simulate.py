"""The retraining loop: R replicates × T generations as array operations.

Generation 0 fits n_0 true samples. Generation t ≥ 1 draws true samples from P* and synthetic
samples from the previous model P̂_{t−1} (tempered, top-k), assembles the training data with the
data policy (:mod:`almo.sources.policies`) and refits. All R replicates move together: a model's
parameters carry a leading replicate axis, so each generation costs a few array operations.
Only the current state (and, for the accumulate policies, the kept data) is held; the metrics
are stored per generation and replicate.

Examples
--------
>>> import numpy as np
>>> from almo.sources import CategoricalModel, simulate, zipf
>>> res = simulate(
...     CategoricalModel(50), zipf(50), alpha=0.0, n=100, generations=20, replicates=50, seed=0
... )
>>> res.metrics["l2"].shape, bool(res.mean("support")[-1] < res.mean("support")[0])
((50, 21), True)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from almo._validation import check_integer, fail
from almo.sources.base import GenerativeModel, check_temperature, check_top_k
from almo.sources.categorical import CategoricalModel
from almo.sources.policies import (
    Policy,
    check_policy,
    next_training_data,
    true_counts,
    uses_synthetic,
)
from almo.sources.schedules import ScheduleLike, alpha_values, n_values
from almo.sources.tokens import simulate_tokens

__all__ = ["CollapseResult", "simulate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollapseResult:
    """Metrics of a retraining simulation.

    Attributes
    ----------
    metrics : dict[str, np.ndarray]
        Each of shape (replicates, generations + 1); column t is generation t.
    alpha, n : np.ndarray
        The schedules used, shape (generations + 1,).
    policy : str
        The data policy.
    seed : int
        The seed that reproduces the run.
    info : dict
        Model and sampling settings (strings and numbers).

    Examples
    --------
    >>> import numpy as np
    >>> r = CollapseResult({"l2": np.ones((4, 3))}, np.zeros(3), np.full(3, 10), "replace", 0)
    >>> r.mean("l2").tolist(), r.generations, r.replicates
    ([1.0, 1.0, 1.0], 2, 4)
    """

    metrics: dict[str, np.ndarray]
    alpha: np.ndarray
    n: np.ndarray
    policy: str
    seed: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def generations(self) -> int:
        """T, the number of generations after generation 0."""
        return len(self.alpha) - 1

    @property
    def replicates(self) -> int:
        """R, the number of independent replicates."""
        return next(iter(self.metrics.values())).shape[0]

    def mean(self, name: str) -> np.ndarray:
        """Mean over replicates of metric ``name`` per generation, shape (T + 1,)."""
        return self._get(name).mean(axis=0)

    def stderr(self, name: str) -> np.ndarray:
        """Standard error of :meth:`mean` per generation (0 with one replicate)."""
        values = self._get(name)
        if values.shape[0] < 2:
            return np.zeros(values.shape[1])
        return values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: schedules, settings, per-generation means and standard errors."""
        return {
            "policy": self.policy,
            "seed": self.seed,
            "info": self.info,
            "alpha": self.alpha.tolist(),
            "n": self.n.tolist(),
            "mean": {k: self.mean(k).tolist() for k in self.metrics},
            "stderr": {k: self.stderr(k).tolist() for k in self.metrics},
        }

    def _get(self, name: str) -> np.ndarray:
        if name not in self.metrics:
            raise fail(
                "name",
                f"be a recorded metric, one of {sorted(self.metrics)}",
                name,
                "pick a metric the model computes",
            )
        return self.metrics[name]


def simulate(
    model: GenerativeModel,
    truth: Any,
    *,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    replicates: int = 100,
    policy: Policy = "replace",
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    method: Literal["auto", "counts", "tokens"] = "auto",
    progress: bool = False,
) -> CollapseResult:
    """Simulate iterative retraining on data contaminated by the model's own samples.

    Parameters
    ----------
    model : GenerativeModel
        :class:`~almo.sources.CategoricalModel`, :class:`~almo.sources.NGramModel`,
        :class:`~almo.sources.SoftmaxBigramModel`, :class:`~almo.sources.GaussianModel`,
        :class:`~almo.sources.RidgeModel`, or any object with the same four methods.
    truth : Any
        P* in the model's form (a probability vector, a next-token table, (mean, cov),
        (weights, noise variance)).
    alpha, n : schedule-like
        Fraction of true data α_t and sample size n_t (number, Schedule, callable, or sequence
        of T + 1 values); n_0 is generation 0's size, α_0 is unused.
    generations : int
        T, the number of retraining generations.
    replicates : int
        R independent runs, simulated together.
    policy : str
        Data policy (see :mod:`almo.sources.policies`).
    temperature, top_k : float, int or None
        Synthetic sampling: ∝ P̂^(1/τ) on the k most likely tokens (temperature rescales the
        covariance of continuous models; top-k applies to token models only).
    seed : int
        Seed of the run; the same seed and settings reproduce every number.
    method : {"auto", "counts", "tokens"}
        "tokens" resamples the previous generation's tokens (exact for the unsmoothed
        categorical MLE at τ = 1 without top-k, under ``replace`` or ``fixed``, and fastest);
        "counts" draws multinomial counts; "auto" takes "tokens" where it is exact.
    progress : bool
        Show a tqdm progress bar over generations.

    Returns
    -------
    CollapseResult

    Examples
    --------
    >>> from almo.sources import CategoricalModel, simulate, zipf
    >>> res = simulate(
    ...     CategoricalModel(20), zipf(20), alpha=0.5, n=200, generations=5, replicates=10, seed=1
    ... )
    >>> res.mean("l2").shape
    (6,)
    """
    check_policy(policy)
    a = alpha_values(alpha, generations)
    ns = n_values(n, generations)
    replicates = check_integer("replicates", replicates, "pass e.g. replicates=100")
    seed = check_integer("seed", seed, "pass a non-negative integer, e.g. seed=0", low=0)
    temperature = check_temperature(temperature)
    if top_k is not None:
        vocab = getattr(model, "vocab", None)
        check_top_k(top_k, vocab if isinstance(vocab, int) else None)
    # The model when the token path is exact for it, else None.
    token_model = (
        model
        if isinstance(model, CategoricalModel)
        and model.smoothing == 0
        and temperature == 1.0
        and top_k is None
        and policy in ("replace", "fixed")
        else None
    )
    if method not in ("auto", "counts", "tokens"):
        raise fail("method", "be 'auto', 'counts' or 'tokens'", method, "pass method='auto'")
    if method == "tokens" and token_model is None:
        raise fail(
            "method",
            "be 'tokens' only for the unsmoothed CategoricalModel at "
            "temperature 1 without top_k under 'replace' or 'fixed'",
            method,
            "pass method='auto'",
        )
    if method == "counts":
        token_model = None
    rng = np.random.default_rng(seed)
    info = {
        "model": repr(model),
        "temperature": temperature,
        "top_k": top_k,
        "method": "counts" if token_model is None else "tokens",
    }
    tokens = token_model is not None  # the token path runs blocks of replicates at once
    bar = tqdm(
        total=int(replicates) if tokens else generations + 1,
        disable=not progress,
        desc=f"collapse[{policy}]",
        unit="replicate" if tokens else "generation",
    )
    if token_model is not None:
        metrics = simulate_tokens(
            token_model,
            token_model.truth_params(truth),
            a,
            ns,
            int(replicates),
            policy,
            rng,
            bar.update,
        )
    else:
        metrics = _simulate_counts(
            model, truth, a, ns, int(replicates), policy, temperature, top_k, rng, bar.update
        )
    bar.close()
    logger.info(
        "simulated %d generations × %d replicates (%s, %s)",
        generations,
        replicates,
        policy,
        info["method"],
    )
    return CollapseResult(metrics, a, ns, policy, int(seed), info)


def _simulate_counts(
    model: GenerativeModel,
    truth: Any,
    a: np.ndarray,
    ns: np.ndarray,
    replicates: int,
    policy: str,
    temperature: float,
    top_k: int | None,
    rng: np.random.Generator,
    tick: Any,
) -> dict[str, np.ndarray]:
    truth_p = model.truth_params(truth)
    first = model.sample(truth_p, np.full(replicates, ns[0]), rng)
    est = model.fit(first, rng=rng)
    pool = first  # all data (accumulate policies) or true data (real-aggregate)
    metrics = _allocate(model.metrics(est, truth_p), len(a))
    tick(1)
    for t in range(1, len(a)):
        k = true_counts(policy, int(ns[t]), float(a[t]), replicates, rng)
        fresh_true = model.sample(truth_p, k, rng)
        fresh_syn = None
        if uses_synthetic(policy):
            fresh_syn = model.sample(est, ns[t] - k, rng, temperature, top_k)
        train, pool = next_training_data(policy, fresh_true, fresh_syn, pool, int(ns[t]), rng)
        est = model.fit(train, previous=est, rng=rng)
        for name, values in model.metrics(est, truth_p).items():
            metrics[name][:, t] = values
        tick(1)
    return metrics


def _allocate(first: dict[str, np.ndarray], columns: int) -> dict[str, np.ndarray]:
    out = {}
    for name, values in first.items():
        out[name] = np.zeros((len(values), columns))
        out[name][:, 0] = values
    return out
