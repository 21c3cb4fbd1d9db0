"""The trainer's defaults converge: on a small convex problem a trainer built with nothing but
the model and the objectives ends within 0.5% of the certified optimum (solve_linear); the
step-size schedule and the averages behave as documented."""

import numpy as np
import pytest
import torch

import almo
from almo.exceptions import ALMOValueError
from almo.objectives import ObjectiveFamily
from almo.train import Checkpoint, LambdaCallback, MinimaxTrainer
from checks import grouped_classification

L2 = 1e-3


def _instance(n=600, d=5, seed=0):
    return grouped_classification(n, d, share=0.3, noise=1.5, seed=seed)


def _penalty(model):
    return L2 * (model.weight**2).sum() * torch.ones(4, dtype=torch.float64)


def _loader(x, y, g, batch_size=32, seed=0):
    data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y), torch.tensor(g))
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=gen)


@pytest.fixture(scope="module")
def problem():
    x, y, g = _instance()
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize="initial")
    sol = almo.solve_linear(x, y, family, groups=g, l2=L2, tol=1e-7)
    return x, y, g, sol, list(family.scale_array)


def _default_trainer(scales, seed=0, **kw):
    torch.manual_seed(seed)
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize=scales)
    model = torch.nn.Linear(5, 3).double()
    return MinimaxTrainer(model, family, penalty=_penalty, verbose=False, **kw)


def test_the_defaults_reach_the_certified_optimum(problem, one_thread):
    x, y, g, sol, scales = problem
    full = [(torch.tensor(x), torch.tensor(y), torch.tensor(g))]
    trainer = _default_trainer(scales)
    history = trainer.fit(_loader(x, y, g), epochs=200, eval_loader=full)
    final = history.epochs[-1].averaged.penalized_worst_case
    assert sol.value * (1 - 1e-9) <= final <= sol.value * 1.005
    # λ's average is near the solver's worst-case mixture.
    np.testing.assert_allclose(trainer.average_weights, sol.weights, atol=0.05)


def test_the_default_optimizer_steps_decay_as_the_polyak_ruppert_power(problem):
    x, y, g, _, scales = problem
    seen = []
    trainer = _default_trainer(scales)
    base = trainer.optimizer.param_groups[0]["lr"]
    loader = _loader(x, y, g)
    cb = LambdaCallback(on_step_end=lambda tr: seen.append(tr.optimizer.param_groups[0]["lr"]))
    trainer.fit(loader, epochs=3, callbacks=[cb])
    horizon = 3 * len(loader)
    expected = [base * (1 + t / horizon) ** -0.75 for t in range(len(seen))]
    np.testing.assert_allclose(seen, expected, rtol=1e-15)
    assert trainer.lr_schedule == "poly"


def test_an_optimizer_passed_in_is_left_alone_unless_asked(problem):
    x, y, g, _, scales = problem
    loader = _loader(x, y, g)

    def lrs(**kw):
        seen = []
        trainer = _default_trainer(scales, optimizer=lambda ps: torch.optim.SGD(ps, lr=0.05), **kw)
        cb = LambdaCallback(on_step_end=lambda tr: seen.append(tr.optimizer.param_groups[0]["lr"]))
        trainer.fit(loader, epochs=1, callbacks=[cb])
        return np.array(seen)

    assert (lrs() == 0.05).all()
    halving = lrs(lr_schedule=lambda t: 0.5**t)
    np.testing.assert_allclose(halving, 0.05 * 0.5 ** np.arange(len(halving)), rtol=1e-15)
    inv = lrs(lr_schedule="inv_sqrt")
    assert inv[0] == 0.05 and (np.diff(inv) < 0).all()
    horizon = 3 * len(loader)
    np.testing.assert_allclose(inv, 0.05 / np.sqrt(1 + np.arange(len(inv)) / horizon), rtol=1e-15)
    poly = lrs(lr_schedule="poly")
    assert (poly[1:] < inv[1:]).all()  # the faster decay


@pytest.mark.parametrize("bad", ["cosine", 3, None])
def test_bad_lr_schedule_is_refused(problem, bad):
    *_, scales = problem
    with pytest.raises(ALMOValueError, match="lr_schedule"):
        _default_trainer(scales, lr_schedule=bad)


def test_a_resumed_run_continues_the_schedule_and_the_averages(problem, tmp_path):
    x, y, g, _, scales = problem
    loader = _loader(x, y, g)
    whole = _default_trainer(scales)
    whole.fit(loader, epochs=4)
    path = tmp_path / "run.pt"
    first = _default_trainer(scales)
    first.fit(_loader(x, y, g), epochs=2, callbacks=[Checkpoint(path)])
    again = _default_trainer(scales)
    again.fit(_loader(x, y, g), epochs=4, resume_from=str(path))
    for a, b in zip(whole.model.parameters(), again.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for a, b in zip(
        whole.averaged_model().parameters(), again.averaged_model().parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(whole.average_weights, again.average_weights, atol=1e-14)
    assert again.optimizer.param_groups[0]["lr"] == whole.optimizer.param_groups[0]["lr"]
