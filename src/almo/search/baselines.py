"""The peers of CLIMB, at the same proxy budget.

- :func:`fixed_mixture` — uniform (1/k) or token-proportional weights, measured by one proxy run
  (no search);
- :func:`random_search` — the best of ``budget`` Dirichlet draws (CLIMB with a single round);
- :func:`regmix` — RegMix (Liu et al. 2024): one round of ``budget`` proxies, a regressor from
  weights to score, and the average of the ``top_k`` predicted best of many candidates;
- :func:`doremi` — DoReMi (Xie et al. 2023): online reweighting, no target. A reference model is
  trained on the uniform mixture; then a proxy model is trained by almo's
  :class:`~almo.MinimaxTrainer` over the k cluster groups with the per-token excess loss over
  the reference, clipped at 0, and :class:`~almo.weights.ExponentiatedAscent` (η = 1, smoothing
  c = 1e-3); the answer is the time-averaged weights. It uses two training runs of the torch
  proxy, not the proxy callable.

Examples
--------
>>> import numpy as np
>>> proxy = lambda w: float(np.sum((w - [0.7, 0.2, 0.1]) ** 2))
>>> fixed_mixture(proxy, [0.5, 0.3, 0.2], "uniform").weights.round(3).tolist()
[0.333, 0.333, 0.333]
>>> random_search(proxy, np.full(3, 1 / 3), budget=20, seed=0).proxy_calls
20
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from almo._validation import check_integer, fail
from almo.search.climb import (
    Aggregate,
    MultiPredictor,
    ProxyRun,
    RoundInfo,
    SearchResult,
    check_search_args,
    climb,
    dirichlet_alpha,
    run_proxies,
    run_seed,
)

__all__ = ["doremi", "fixed_mixture", "random_search", "regmix"]


def fixed_mixture(
    proxy: Callable[..., Any],
    shares: Any,
    kind: Literal["uniform", "proportional"] = "uniform",
    *,
    aggregate: Aggregate | None = None,
    seed: int = 0,
) -> SearchResult:
    """Uniform or token-proportional weights, scored by one proxy run (seed of run 0)."""
    s, seed, agg = check_search_args(proxy, shares, 1, seed, aggregate)
    if kind not in ("uniform", "proportional"):
        raise fail("kind", "be 'uniform' or 'proportional'", kind, "pass kind='uniform'")
    w = np.full(s.size, 1.0 / s.size) if kind == "uniform" else s
    sc = run_proxies(proxy, w[None, :], [run_seed(seed, 0)])[0]
    result = SearchResult(kind, w, info={"budget": 1})
    result.runs.append(ProxyRun(1, w, sc, agg(sc), None, run_seed(seed, 0)))
    result.rounds.append(RoundInfo(1, 1, 0, None, agg(sc)))
    return result


def random_search(
    proxy: Callable[..., Any],
    shares: Any,
    budget: int = 112,
    *,
    concentration: float = 1.0,
    aggregate: Aggregate | None = None,
    n_jobs: int | None = 1,
    seed: int = 0,
    verbose: bool = False,
) -> SearchResult:
    """The best measured of ``budget`` draws from CLIMB's round-1 Dirichlet."""
    return climb(
        proxy,
        shares,
        budget,
        rounds=(1,),
        concentration=concentration,
        aggregate=aggregate,
        n_jobs=n_jobs,
        seed=seed,
        verbose=verbose,
        method="random",
    )


def regmix(
    proxy: Callable[..., Any],
    shares: Any,
    budget: int = 112,
    *,
    concentration: float = 1.0,
    n_candidates: int = 10_000,
    top_k: int = 100,
    predictor: Any = "hgb",
    aggregate: Aggregate | None = None,
    n_jobs: int | None = 1,
    seed: int = 0,
    verbose: bool = False,
) -> SearchResult:
    """RegMix: one round of ``budget`` proxies, a regressor, the mean of the top-k predicted.

    Examples
    --------
    >>> proxy = lambda w: float(np.sum((w - [0.7, 0.2, 0.1]) ** 2))
    >>> res = regmix(proxy, np.full(3, 1 / 3), budget=30, top_k=20, seed=0)
    >>> res.proxy_calls, bool(np.sum((res.weights - [0.7, 0.2, 0.1]) ** 2) < 0.05)
    (30, True)
    """
    top_k = check_integer("top_k", top_k, "pass e.g. top_k=100")
    n_candidates = check_integer("n_candidates", n_candidates, "pass e.g. n_candidates=10000")
    first = climb(
        proxy,
        shares,
        budget,
        rounds=(1,),
        concentration=concentration,
        predictor=predictor,
        aggregate=aggregate,
        n_jobs=n_jobs,
        seed=seed,
        verbose=verbose,
        method="regmix",
    )
    s, seed, agg = check_search_args(proxy, shares, n_jobs, seed, aggregate)
    X = np.stack([r.weights for r in first.runs])
    Y = np.stack([r.scores for r in first.runs])
    model = MultiPredictor(predictor, seed).fit(X, Y)
    rng = np.random.default_rng([seed, 2])
    cand = rng.dirichlet(dirichlet_alpha(s, concentration), size=n_candidates)
    pred = np.array([agg(row) for row in model.predict(cand)])
    top = np.argsort(pred, kind="stable")[: min(top_k, n_candidates)]
    first.weights = cand[top].mean(axis=0)
    first.info.update(predictor=model, top_k=top_k, predicted=float(pred[top].mean()))
    return first


def doremi(
    texts: Sequence[str],
    labels: Any,
    *,
    n_tokens: int = 20_000,
    steps: int = 300,
    batch_size: int = 256,
    lr: float = 1.0,
    smoothing: float = 1e-3,
    seed: int = 0,
    verbose: bool = False,
) -> SearchResult:
    """DoReMi's domain weights over the clusters (Xie et al. 2023), by almo's trainer.

    Parameters
    ----------
    texts, labels
        The documents and their clusters (-1: left out).
    n_tokens : int
        Training tokens of the reference run and of the reweighting run (each a uniform
        mixture sample, as DoReMi samples its domains).
    steps : int
        Optimizer steps of each run (batches of ``batch_size`` tokens).
    lr, smoothing : float
        η and c of :class:`~almo.weights.ExponentiatedAscent` (DoReMi's 1 and 1e-3).

    Returns
    -------
    SearchResult
        ``weights``: the time-averaged λ; no proxy calls (``info["training_runs"] = 2``).

    Examples
    --------
    >>> res = doremi(["a b a b", "c c c d", "a c b d"], [0, 1, 1], n_tokens=40, steps=10)
    >>> res.weights.shape, bool(np.isclose(res.weights.sum(), 1.0))
    ((2,), True)
    """
    import torch

    from almo.objectives import ObjectiveFamily
    from almo.search.proxies import TorchProxy
    from almo.train.trainer import MinimaxTrainer
    from almo.weights import Averaged, ExponentiatedAscent

    seed = check_integer("seed", seed, "pass e.g. seed=0", low=0)
    steps = check_integer("steps", steps, "pass e.g. steps=300")
    torch_proxy = TorchProxy(
        texts, labels, [texts[0]], n_tokens=n_tokens, steps=steps, batch_size=batch_size
    )
    data, k, v = torch_proxy.data, torch_proxy.k, torch_proxy.data.vocab_size
    uniform = np.full(k, 1.0 / k)
    rng = np.random.default_rng([seed, 1])
    reference = torch_proxy.train(data.sample(uniform, n_tokens, rng), seed)
    # The reweighting run's data: a uniform-mixture sample with each token's cluster.
    parts, groups = [], []
    for c in range(k):
        want = n_tokens / k / data.doc_lengths[c].mean()
        docs = rng.integers(0, len(data.doc_pairs[c]), size=max(1, round(want)))
        part = np.concatenate([data.doc_pairs[c][d] for d in docs])
        parts.append(part)
        groups.append(np.full(part.size, c))
    pairs, group = np.concatenate(parts), np.concatenate(groups)
    x, y = torch.as_tensor(pairs // v), torch.as_tensor(pairs % v)
    with torch.no_grad():
        ref_loss = torch.nn.functional.cross_entropy(reference(x), y, reduction="none")
    targets = torch.stack([y.double(), ref_loss.double()], dim=1)

    def excess(outputs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ce = torch.nn.functional.cross_entropy(outputs, t[:, 0].long(), reduction="none")
        return torch.clamp(ce - t[:, 1].to(ce.dtype), min=0.0)

    family = ObjectiveFamily([("excess", excess)], groups=k)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.numel(), generator=gen)
    n_batches = max(1, x.numel() // batch_size)
    batches = [
        (x[idx], targets[idx], torch.as_tensor(group)[idx])
        for idx in (order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches))
    ]
    torch.manual_seed(seed)
    trainer = MinimaxTrainer(
        torch_proxy.model(),
        family,
        weight_rule=Averaged(ExponentiatedAscent(lr=lr, smoothing=smoothing), power=0.0),
        optimizer=lambda params: torch.optim.Adam(params, lr=torch_proxy.lr),
        seed=seed,
        verbose=verbose,
        average_model=False,
        device="cpu",
    )
    trainer.fit(batches, epochs=max(1, int(np.ceil(steps / n_batches))))
    weights = np.asarray(trainer.average_weights, dtype=float)
    return SearchResult(
        "doremi",
        weights / weights.sum(),
        info={
            "training_runs": 2,
            "steps": steps,
            "lr": lr,
            "smoothing": smoothing,
            "last_weights": trainer.weights.tolist(),
        },
    )
