"""The duality-gap estimate: an upper bound on the averaged model's distance to the certified
minimax value (computed by solve_linear) on a convex problem, recorded each epoch, and a stopping
rule that ends the run when it falls below ``gap_tol``."""

import numpy as np
import pytest
import torch

import almo
from almo.exceptions import ALMOValueError
from almo.objectives import ObjectiveFamily
from almo.train import MinimaxTrainer
from almo.train.gap import GapEstimate, duality_gap
from almo.weights import FixedWeights, ProjectedAscent
from checks import grouped_classification

L2 = 1e-2


def _instance(n=120, d=3, seed=0):
    return grouped_classification(n, d, share=0.35, noise=1.2, seed=seed)


def _family(scales=None):
    return ObjectiveFamily(["log_loss", "squared"], groups=2, normalize=scales)


def _optimum(x, y, g):
    family = _family("initial")
    sol = almo.solve_linear(x, y, family, groups=g, l2=L2, tol=1e-8)
    return sol, np.asarray(family.scale_array)


def _penalty(model):
    return L2 * (model.weight**2).sum() * torch.ones(4, dtype=torch.float64)


def _data(x, y, g):
    return (torch.tensor(x), torch.tensor(y), torch.tensor(g))


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 3).double()


@pytest.fixture(scope="module")
def problem():
    x, y, g = _instance()
    sol, scales = _optimum(x, y, g)
    return x, y, g, sol, scales


def _estimate(model, scales, weights, batch):
    return duality_gap(model, _family(list(scales)), almo.Simplex(4), weights, [batch], _penalty)


def test_the_estimate_bounds_the_true_gap_at_every_epoch(problem, one_thread):
    x, y, g, sol, scales = problem
    batch = _data(x, y, g)
    trainer = MinimaxTrainer(
        _model(),
        _family(list(scales)),
        penalty=_penalty,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.3),
        weight_rule=ProjectedAscent(lr=0.3),
        gap_tol=1e-12,  # computed every epoch, never reached
        verbose=False,
    )
    history = trainer.fit([batch] * 10, epochs=8, eval_loader=[batch])
    for record in history.epochs:
        est = record.gap
        true_gap = record.averaged.penalized_worst_case - sol.value
        assert est.upper == pytest.approx(record.averaged.penalized_worst_case, rel=1e-12)
        assert true_gap >= -1e-9  # no model beats the certified optimum
        assert est.gap >= true_gap - 1e-8
        # L-BFGS found the best response: its value is below the minimax value.
        assert est.lower <= sol.value + 1e-8
        assert est.grad_norm < 1e-5
    relative = history.gap
    assert relative[-1] < relative[0]
    assert len(relative) == 8 and np.isfinite(relative).all()


def test_at_the_saddle_point_the_estimate_is_zero(problem):
    x, y, g, sol, scales = problem
    model = _model()
    with torch.no_grad():
        model.weight.copy_(torch.tensor(sol.coef_))
        model.bias.copy_(torch.tensor(sol.intercept_))
    est = _estimate(model, scales, sol.weights, _data(x, y, g))
    assert est.upper == pytest.approx(sol.value, rel=1e-9)
    assert est.gap == pytest.approx(0.0, abs=1e-7)
    assert est.lower == pytest.approx(sol.value, rel=1e-7)


def test_against_a_fixed_mixture_the_lower_side_is_the_weighted_optimum(problem):
    """With λ̄ fixed, min_θ L(θ, λ̄) is a weighted problem: the solver on the one-point set."""
    x, y, g, _, scales = problem
    lam = np.array([0.1, 0.2, 0.3, 0.4])
    family = _family(list(scales))
    point = almo.BoxSimplex(lam, lam)
    ref = almo.solve_linear(x, y, family, groups=g, l2=L2, mixture_set=point, tol=1e-8)
    est = _estimate(_model(), scales, lam, _data(x, y, g))
    assert est.lower == pytest.approx(ref.value, rel=1e-7)


def test_the_model_passed_is_not_modified(problem):
    x, y, g, _, scales = problem
    model = _model()
    before = [q.detach().clone() for q in model.parameters()]
    _estimate(model, scales, np.full(4, 0.25), _data(x, y, g))
    for a, b in zip(before, model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_gap_tol_stops_the_run_once_reached(problem, one_thread):
    x, y, g, _, scales = problem
    batch = _data(x, y, g)

    def make(gap_tol):
        return MinimaxTrainer(
            _model(),
            _family(list(scales)),
            penalty=_penalty,
            optimizer=lambda ps: torch.optim.SGD(ps, lr=0.3),
            weight_rule=ProjectedAscent(lr=0.3),
            gap_tol=gap_tol,
            verbose=False,
        )

    free = make(1e-12).fit([batch] * 10, epochs=12, eval_loader=[batch])
    tol = sorted(free.gap)[len(free.gap) // 2]  # reached part way through
    first = next(i for i, v in enumerate(free.gap) if v <= tol)
    stopped = make(tol).fit([batch] * 10, epochs=12, eval_loader=[batch])
    assert len(stopped.epochs) == first + 1
    assert stopped.gap[-1] <= tol
    assert stopped.gap == free.gap[: first + 1]  # the estimate itself changes nothing


def test_the_gap_pass_draws_no_random_numbers(problem):
    x, y, g, _, scales = problem
    batch = _data(x, y, g)

    def run(gap_tol):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(3, 3)).double()
        trainer = MinimaxTrainer(
            model,
            _family(list(scales)),
            gap_tol=gap_tol,
            verbose=False,
            weight_rule=FixedWeights(np.full(4, 0.25)),
        )
        trainer.fit([batch] * 3, epochs=2, eval_loader=[batch])
        return [q.detach().clone() for q in model.parameters()]

    for a, b in zip(run(None), run(1e-12), strict=True):
        assert torch.equal(a, b)


def test_the_record_round_trips_through_the_history(problem):
    x, y, g, _, scales = problem
    batch = _data(x, y, g)
    trainer = MinimaxTrainer(_model(), _family(list(scales)), gap_tol=1e-12, verbose=False)
    history = trainer.fit([batch] * 2, epochs=2, eval_loader=[batch])
    again = almo.train.History.from_dict(history.to_dict())
    assert again.gap == history.gap
    assert isinstance(again.epochs[0].gap, GapEstimate)
    assert again.epochs[0].gap == history.epochs[0].gap


def test_gap_tol_needs_eval_data_and_a_positive_value(problem):
    x, y, g, _, scales = problem
    batch = _data(x, y, g)
    trainer = MinimaxTrainer(_model(), _family(list(scales)), gap_tol=1e-3, verbose=False)
    with pytest.raises(ALMOValueError, match="eval_loader"):
        trainer.fit([batch], epochs=1)
    for bad in (0, -1e-3, float("nan"), "small"):
        with pytest.raises(ALMOValueError, match="gap_tol"):
            MinimaxTrainer(_model(), _family(list(scales)), gap_tol=bad)


def test_bad_weights_and_empty_loaders_are_refused(problem):
    x, y, g, _, scales = problem
    batch = _data(x, y, g)
    with pytest.raises(ALMOValueError, match="weights"):
        _estimate(_model(), scales, np.full(3, 1 / 3), batch)
    with pytest.raises(ALMOValueError, match="weights"):
        _estimate(_model(), scales, [0.5, np.nan, 0.25, 0.25], batch)
    with pytest.raises(ALMOValueError, match="loader"):
        duality_gap(_model(), _family(list(scales)), almo.Simplex(4), np.full(4, 0.25), [])
    x0, y0, g0 = batch
    only0 = (x0[g0 == 0], y0[g0 == 0], g0[g0 == 0])
    with pytest.raises(ALMOValueError, match="group1"):
        _estimate(_model(), scales, np.full(4, 0.25), only0)
