"""A finite run that blows up stops with a DivergenceError naming the objective and the step;
the last checkpoint stays intact and the run resumes from it with a lower learning rate."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from almo.exceptions import ALMOValueError, DivergenceError, NonFiniteLossError
from almo.objectives import ObjectiveFamily
from almo.train import Checkpoint, MinimaxTrainer
from almo.train.checkpoint import from_plain, load_checkpoint
from almo.train.run_state import RunState
from almo.train.steps import Divergence


def _regression(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 3.0 * torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    groups = torch.arange(n) % 2
    batches = [(x[i : i + 16], y[i : i + 16], groups[i : i + 16]) for i in range(0, n, 16)]
    return batches, (x, y, groups)


def _trainer(lr, **kw):
    torch.manual_seed(0)
    family = ObjectiveFamily("squared", groups=2)
    model = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Flatten(0)).double()
    return MinimaxTrainer(
        model,
        family,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=lr),
        verbose=False,
        **kw,
    )


def test_a_diverging_run_stops_naming_the_objective_the_step_and_the_fix():
    batches, _ = _regression()
    trainer = _trainer(lr=0.5)
    with pytest.raises(DivergenceError) as info:
        trainer.fit(batches, epochs=50)
    msg = str(info.value)
    assert "squared@group" in msg
    assert "by step" in msg and "(epoch" in msg
    assert "lower the learning rate" in msg
    # It stopped well before the values overflowed: every parameter is still finite.
    assert all(torch.isfinite(q).all() for q in trainer.model.parameters())
    assert isinstance(info.value, FloatingPointError)


def test_the_step_named_is_the_first_whose_value_passes_the_limit():
    batches, _ = _regression()
    seen = []

    class Spy(Divergence):
        def check(self, vector, present, names, step, epoch):
            seen.append(vector.copy())
            super().check(vector, present, names, step, epoch)

    import almo.train.trainer as trainer_module

    original = trainer_module.Divergence
    trainer_module.Divergence = Spy
    try:
        trainer = _trainer(lr=0.5, divergence_factor=100.0)
        with pytest.raises(DivergenceError) as info:
            trainer.fit(batches, epochs=50)
    finally:
        trainer_module.Divergence = original
    values = np.array(seen)
    first = values[0]
    over = np.flatnonzero((values > 100.0 * first).any(axis=1))
    assert over.size and over[0] == len(values) - 1  # the error came at the first such step
    assert f"by step {len(values)} " in str(info.value)


def test_turned_off_the_run_goes_on_until_the_values_are_not_finite():
    batches, _ = _regression()
    trainer = _trainer(lr=0.5, divergence_factor=None)
    with pytest.raises(NonFiniteLossError):
        trainer.fit(batches, epochs=400)
    assert trainer.step > 20  # far beyond where the default check stops it


def test_a_stable_run_is_never_stopped():
    batches, (x, y, g) = _regression()
    trainer = _trainer(lr=0.005)
    history = trainer.fit(batches, epochs=20, eval_loader=[(x, y, g)])
    assert history.epochs[-1].last.worst_case < history.epochs[0].last.worst_case


def test_the_last_checkpoint_stays_intact_and_resumes_with_a_lower_lr(tmp_path):
    batches, (x, y, g) = _regression()
    path = tmp_path / "run.pt"
    trainer = _trainer(lr=0.12)  # diverges in the second epoch
    with pytest.raises(DivergenceError, match=r"\(epoch [2-9]"):
        trainer.fit(batches, epochs=50, callbacks=[Checkpoint(path)])
    saved = load_checkpoint(path)
    assert saved["run"]["epoch"] == trainer.epoch >= 1  # the last epoch's save, untouched
    assert saved["run"]["step"] == trainer.epoch * len(batches) < trainer.step + 1
    assert all(torch.isfinite(t).all() for t in saved["model"].values())
    reference = from_plain(saved["run"]["arrays"])["loss_reference"]
    assert np.isfinite(reference).all() and (reference > 0).all()

    again = _trainer(lr=0.002)
    history = again.fit(batches, epochs=60, eval_loader=[(x, y, g)], resume_from=str(path))
    assert again.optimizer.param_groups[0]["lr"] == 0.002  # the new setting, not the saved one
    assert again.step == 60 * len(batches)
    worst = [e.last.worst_case for e in history.epochs if e.last is not None]
    assert np.isfinite(worst).all() and worst[-1] < worst[0]
    # The references came back with the run: they are the first run's, not re-learned.
    np.testing.assert_array_equal(again.run.loss_reference, reference)


@pytest.mark.parametrize("bad", [0, 1, 0.5, -3.0, float("nan"), float("inf"), "big"])
def test_bad_divergence_factor_is_refused_naming_the_argument(bad):
    with pytest.raises(ALMOValueError, match="divergence_factor"):
        _trainer(lr=0.1, divergence_factor=bad)


def test_changing_the_factor_does_not_block_a_resume(tmp_path):
    batches, _ = _regression()
    path = tmp_path / "run.pt"
    _trainer(lr=0.005).fit(batches, epochs=1, callbacks=[Checkpoint(path)])
    again = _trainer(lr=0.005, divergence_factor=None)
    again.fit(batches, epochs=2, resume_from=str(path))
    assert again.epoch == 2


# -- the rule itself -------------------------------------------------------------------------
def _check(d, vector, present=None):
    vector = np.asarray(vector, dtype=float)
    present = np.ones(vector.shape, bool) if present is None else np.asarray(present)
    d.check(vector, present, [f"o{k}" for k in range(vector.size)], 0, 0)


@given(
    first=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=5),
    growth=st.floats(1.0, 1e6),
    factor=st.floats(2.0, 1e5),
)
def test_raises_exactly_when_a_value_passes_factor_times_its_floored_reference(
    first, growth, factor
):
    d = Divergence(factor, np.full(len(first), np.nan))
    _check(d, first)
    ref = np.maximum(np.array(first), 1e-3 * max(first))
    later = np.array(first) * growth
    if (later > factor * ref).any():
        with pytest.raises(DivergenceError):
            _check(d, later)
    else:
        _check(d, later)


def test_an_objective_absent_at_first_gets_its_reference_when_it_is_seen():
    d = Divergence(10.0, np.full(2, np.nan))
    _check(d, [1.0, 0.0], present=[True, False])
    assert np.isnan(d.reference[1])
    _check(d, [1.0, 1e6], present=[True, False])  # absent: its 0-filled value is not judged
    _check(d, [1.0, 5.0], present=[True, True])
    assert d.reference[1] == 5.0
    with pytest.raises(DivergenceError, match="o1"):
        _check(d, [1.0, 51.0])


def test_an_objective_starting_near_zero_is_floored_at_the_largest_reference():
    d = Divergence(10.0, np.full(2, np.nan))
    _check(d, [1e-9, 2.0])
    _check(d, [1e-2, 2.0])  # 1e7-fold, but under 10 × 1e-3 × 2.0
    with pytest.raises(DivergenceError, match="o0"):
        _check(d, [0.03, 2.0])


def test_the_reference_is_the_run_states_array_and_round_trips():
    run = RunState.start(p=3, epochs=1)
    d = Divergence(100.0, run.loss_reference)
    _check(d, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(run.loss_reference, [1.0, 2.0, 3.0])
    again = RunState.start(p=3, epochs=1)
    again.load_state_dict(run.state_dict())
    np.testing.assert_array_equal(again.loss_reference, [1.0, 2.0, 3.0])
