"""The two ways an estimator trains: the certified solver and the minimax trainer.

Both receive the same checked data (features, integer class ids or float targets, group ids,
the family with its fixed scales, Λ) and return a :class:`FitResult` in the same layout, so the
estimator behaves the same whichever path ran.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from almo.complexity import RademacherPenalty
from almo.mixtures import BoxSimplex, MixtureSet
from almo.objectives import ObjectiveFamily
from almo.solvers import LinearSolution, solve_linear
from almo.train import History, MinimaxTrainer
from almo.weights import FixedWeights, WeightRule


class Certificate(NamedTuple):
    """What the certified solver proves about the fitted linear model.

    ``value`` is the penalized worst case over Λ on the training data at the returned model
    (an upper bound on the optimum), ``lower_bound`` a dual value below the optimum, ``gap``
    their difference. For a fixed-weight model (``weight_rule=FixedWeights(λ)``) the game is
    the λ-weighted objective, so the certificate is that problem's.
    """

    value: float
    lower_bound: float
    gap: float
    status: str
    method: str


@dataclass
class FitResult:
    """What either path hands back to the estimator."""

    weights: np.ndarray
    n_iter: int
    coef: np.ndarray | None = None
    intercept: np.ndarray | float | None = None
    module: nn.Module | None = None  # the network, for models that are not linear
    history: History | None = None
    certificate: Certificate | None = None
    solution: LinearSolution | None = None
    penalty_coefficients: np.ndarray | None = None
    penalty: np.ndarray | None = None  # r_k of the fitted model (Rademacher term + ridge)


@dataclass(frozen=True)
class Problem:
    """The checked training data and game of one fit."""

    X: np.ndarray  # (n, d) float64
    y: np.ndarray  # class ids int64 or targets float64
    ids: np.ndarray | None  # group ids 0..G-1
    family: ObjectiveFamily  # fixed scales
    mixture_set: MixtureSet  # the user's Λ
    rule: WeightRule | None  # None: the default (exact: the optimal λ)
    n_outputs: int  # 1 for regression and binary, C for multiclass


def fit_exact(problem: Problem, penalty: RademacherPenalty | None, alpha: float) -> FitResult:
    """Certified solve (:func:`almo.solve_linear`); a FixedWeights λ is Λ = {λ}."""
    solve_set = problem.mixture_set
    if isinstance(problem.rule, FixedWeights):
        lam = np.asarray(problem.rule.weights, dtype=np.float64)
        solve_set = BoxSimplex(lower=lam, upper=lam)
    sol = solve_linear(
        problem.X,
        problem.y,
        problem.family,
        groups=problem.ids,
        mixture_set=solve_set,
        l2=alpha,
        penalty=penalty,
    )
    cert = Certificate(
        float(sol.value), float(sol.lower_bound), float(sol.gap), sol.status, sol.method
    )
    return FitResult(
        weights=np.asarray(sol.weights, dtype=np.float64).copy(),
        n_iter=int(sol.n_iter),
        coef=np.asarray(sol.coef_, dtype=np.float64),
        intercept=sol.intercept_,
        certificate=cert,
        solution=sol,
        penalty_coefficients=None
        if sol.penalty_coefficients is None
        else np.asarray(sol.penalty_coefficients, dtype=np.float64),
        penalty=np.asarray(sol.report.penalty, dtype=np.float64).copy(),
    )


def build_module(d: int, n_outputs: int, hidden: tuple[int, ...] | None) -> nn.Module:
    """A linear layer (zeros, the point the scales are taken at) or a ReLU network."""
    if hidden is None:
        layer = nn.Linear(d, n_outputs)
        with torch.no_grad():
            layer.weight.zero_()
            layer.bias.zero_()
        return layer
    sizes = (d, *hidden)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_outputs))
    return nn.Sequential(*layers)


class GamePenalty:
    """r_k(θ) = Rademacher term c_k Ĉ(θ) + alpha Σ_j ‖W_j‖²_F (the solver's penalty)."""

    def __init__(self, p: int, penalty: RademacherPenalty | None, alpha: float) -> None:
        self.p, self.rademacher, self.alpha = p, penalty, alpha

    def __call__(self, model: nn.Module) -> torch.Tensor:
        weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
        ridge = self.alpha * sum(w.pow(2).sum() for w in weights)
        if self.rademacher is None:
            return torch.zeros(self.p, dtype=weights[0].dtype, device=weights[0].device) + ridge
        return self.rademacher(model) + ridge


def fit_trainer(
    problem: Problem,
    penalty: RademacherPenalty | None,
    alpha: float,
    hidden: tuple[int, ...] | None,
    *,
    max_epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    verbose: bool,
    device: Any,
) -> FitResult:
    """Train with :class:`almo.MinimaxTrainer`; the averaged model and λ are kept.

    The global random generators (torch, numpy, Python) are restored afterwards: fitting an
    estimator does not reseed the user's program.
    """
    saved = (torch.get_rng_state(), np.random.get_state(), random.getstate())  # noqa: NPY002
    try:
        return _train(
            problem,
            penalty,
            alpha,
            hidden,
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            verbose=verbose,
            device=device,
        )
    finally:
        torch.set_rng_state(saved[0])
        np.random.set_state(saved[1])  # noqa: NPY002
        random.setstate(saved[2])


def _train(
    problem: Problem,
    penalty: RademacherPenalty | None,
    alpha: float,
    hidden: tuple[int, ...] | None,
    *,
    max_epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    verbose: bool,
    device: Any,
) -> FitResult:
    torch.manual_seed(seed)
    n, d = problem.X.shape
    module = build_module(d, problem.n_outputs, hidden).double()
    # Copies: the caller's arrays may be read-only (memory maps), which torch refuses to wrap.
    X = torch.from_numpy(np.array(problem.X, dtype=np.float64))
    y = torch.from_numpy(np.array(problem.y))
    tensors = [X, y] if problem.ids is None else [X, y, torch.from_numpy(np.array(problem.ids))]
    dataset = torch.utils.data.TensorDataset(*tensors)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=min(batch_size, n),
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    full = [tuple(tensors)]  # one batch: each epoch's evaluation on the training data
    if penalty is not None:
        penalty.fit(problem.X, problem.family, problem.ids, problem.y)
    trainer = MinimaxTrainer(
        module,
        problem.family,
        mixture_set=problem.mixture_set,
        weight_rule=problem.rule,
        optimizer=lambda params: torch.optim.Adam(params, lr=learning_rate),
        penalty=GamePenalty(problem.family.p, penalty, alpha),
        device=device,
        seed=seed,
        verbose=verbose,
        lr_schedule="poly",
    )
    history = trainer.fit(loader, epochs=max_epochs, eval_loader=full)
    model = trainer.averaged_model().to("cpu").eval()
    for q in model.parameters():
        q.requires_grad_(False)
    with torch.no_grad():
        r = GamePenalty(problem.family.p, penalty, alpha)(model)
    result = FitResult(
        weights=np.asarray(trainer.average_weights, dtype=np.float64).copy(),
        n_iter=int(trainer.epoch),
        history=history,
        penalty_coefficients=None if penalty is None else penalty.coefficients_.copy(),
        penalty=r.detach().cpu().numpy().astype(np.float64),
    )
    if hidden is None:
        assert isinstance(model, nn.Linear)
        W = model.weight.detach().numpy().astype(np.float64)
        b = model.bias.detach().numpy().astype(np.float64)
        result.coef, result.intercept = W, b
    else:
        result.module = model
    return result
