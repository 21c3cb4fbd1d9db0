"""RunState: the epoch's loss accumulator and the parameter running mean against hand-computed
references, and a state_dict round trip through an actual checkpoint file."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from almo.train.checkpoint import load_checkpoint, save_checkpoint
from almo.train.run_state import RunState


def test_start_is_a_fresh_run():
    run = RunState.start(p=3, epochs=4)
    assert (run.p, run.epochs, run.step, run.epoch, run.batch_in_epoch) == (3, 4, 0, 0, 0)
    assert run.epoch_n == 0 and not run.stop_training and run.avg_params is None
    np.testing.assert_array_equal(run.epoch_sum, np.zeros(3))
    assert run.last_losses.shape == (3,) and np.isnan(run.last_losses).all()
    # no loss vector yet: the mean is the zero vector, not a division by zero
    np.testing.assert_array_equal(run.epoch_mean(), np.zeros(3))


@settings(max_examples=25, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 4)),
        elements=st.floats(-1e3, 1e3, allow_nan=False),
    )
)
def test_epoch_mean_is_the_mean_of_the_recorded_vectors(rows):
    run = RunState.start(p=rows.shape[1], epochs=1)
    for r in rows:
        run.record(r.copy())
    assert run.epoch_n == len(rows)
    np.testing.assert_allclose(run.epoch_mean(), rows.mean(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(run.last_losses, rows[-1])


def test_next_epoch_resets_the_accumulators_but_keeps_last_losses():
    run = RunState.start(p=2, epochs=3)
    run.record(np.array([1.0, 2.0]))
    run.record(np.array([3.0, 6.0]))
    run.batch_in_epoch = 2
    np.testing.assert_allclose(run.epoch_mean(), [2.0, 4.0], rtol=0, atol=1e-15)
    run.next_epoch()
    assert (run.epoch, run.batch_in_epoch, run.epoch_n) == (1, 0, 0)
    np.testing.assert_array_equal(run.epoch_sum, [0.0, 0.0])
    np.testing.assert_array_equal(run.last_losses, [3.0, 6.0])
    run.record(np.array([5.0, -1.0]))
    np.testing.assert_allclose(run.epoch_mean(), [5.0, -1.0], rtol=0, atol=1e-15)


def test_average_parameters_is_the_running_mean_of_all_iterates():
    gen = torch.Generator().manual_seed(3)
    thetas = [[torch.randn(2, 3, generator=gen), torch.randn(4, generator=gen)] for _ in range(7)]
    run = RunState.start(p=1, epochs=1)
    run.avg_params = [t.clone() for t in thetas[0]]  # the mean of θ_0 alone
    for t, theta in enumerate(thetas[1:], start=1):
        run.average_parameters(theta)
        assert run.avg_n == t
        for k in range(2):
            expected = torch.stack([th[k] for th in thetas[: t + 1]]).mean(dim=0)
            torch.testing.assert_close(run.avg_params[k], expected, rtol=1e-6, atol=1e-6)


def test_average_parameters_is_a_no_op_without_an_average():
    run = RunState.start(p=1, epochs=1)
    run.average_parameters([torch.ones(2)])
    assert run.avg_params is None and run.avg_n == 0


def test_average_of_two_hand_values():
    run = RunState.start(p=1, epochs=1)
    run.avg_params = [torch.tensor([0.0, 4.0], dtype=torch.float64)]
    run.average_parameters([torch.tensor([2.0, 0.0], dtype=torch.float64)])
    run.average_parameters([torch.tensor([4.0, 2.0], dtype=torch.float64)])
    # (0 + 2 + 4) / 3 = 2, (4 + 0 + 2) / 3 = 2
    torch.testing.assert_close(
        run.avg_params[0], torch.tensor([2.0, 2.0], dtype=torch.float64), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("with_avg", [False, True])
def test_state_dict_round_trips_through_a_checkpoint_file(tmp_path, with_avg):
    run = RunState.start(p=3, epochs=5)
    run.step, run.epoch, run.batch_in_epoch, run.stop_training = 11, 2, 3, True
    run.record(np.array([0.5, 1.5, 2.5]))
    run.record(np.array([1.0, 1.0, 1.0]))
    if with_avg:
        run.avg_params = [torch.arange(6.0).reshape(2, 3), torch.tensor([7.0])]
        run.avg_n = 9
    path = save_checkpoint(tmp_path / "r.pt", {"run": run.state_dict()})
    back = RunState.start(p=3, epochs=1)
    back.load_state_dict(load_checkpoint(path)["run"])
    for name in ("epochs", "step", "epoch", "batch_in_epoch", "stop_training", "epoch_n"):
        assert getattr(back, name) == getattr(run, name), name
    assert back.avg_n == run.avg_n
    np.testing.assert_array_equal(back.epoch_sum, [1.5, 2.5, 3.5])
    assert back.epoch_sum.dtype == np.float64
    np.testing.assert_array_equal(back.last_losses, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(back.epoch_mean(), [0.75, 1.25, 1.75], rtol=0, atol=1e-15)
    if with_avg:
        assert len(back.avg_params) == 2
        for a, b in zip(back.avg_params, run.avg_params, strict=True):
            assert torch.equal(a, b)
    else:
        assert back.avg_params is None
    # the loaded accumulator is a copy: recording into it leaves the original alone
    back.record(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(run.epoch_sum, [1.5, 2.5, 3.5])


def test_load_state_dict_moves_parameters_to_device():
    run = RunState.start(p=1, epochs=1)
    run.avg_params = [torch.ones(2)]
    back = RunState.start(p=1, epochs=1)
    back.load_state_dict(run.state_dict(), device="cpu")
    assert back.avg_params[0].device.type == "cpu"
    assert torch.equal(back.avg_params[0], torch.ones(2))
