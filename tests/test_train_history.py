"""History, EpochRecord and ObjectiveReport: round trips (dict, JSON, state_dict through a
checkpoint file), array shapes, and the per-epoch worst case with and without evaluation."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import Simplex
from almo._validation import ALMOValueError
from almo.mixtures import BoxSimplex
from almo.objectives import ObjectiveFamily
from almo.report import ObjectiveReport
from almo.train import EpochRecord, History, MinimaxTrainer
from almo.train.checkpoint import load_checkpoint, save_checkpoint


def _report(raw, scales=None, penalty=None, counts=None, names=("a", "b", "c")):
    p = len(names)
    return ObjectiveReport.from_values(
        names, raw, np.ones(p) if scales is None else scales, Simplex(p), penalty, counts
    )


def _record(epoch, last=None, averaged=None):
    return EpochRecord(
        epoch=epoch,
        step=4 * (epoch + 1),
        train_losses=np.array([0.1, 0.2, 0.3]) + epoch,
        weights=np.array([0.2, 0.3, 0.5]),
        average_weights=np.array([1 / 3, 1 / 3, 1 / 3]),
        last=last,
        averaged=averaged,
        seconds=0.25,
    )


def _history():
    h = History(names=["a", "b", "c"], record_every=2)
    for s in (2, 4, 6):
        h.record_step(s, np.array([0.5, 0.25, 0.25]) * s / 6, np.array([1.0, 2.0, 3.0]) * s)
    h.epochs.append(_record(0, last=_report([0.3, 0.9, 0.1]), averaged=_report([0.2, 0.4, 0.8])))
    h.epochs.append(_record(1, last=_report([0.7, 0.1, 0.1])))
    h.epochs.append(_record(2))
    return h


def _same_report(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a.names == b.names and a.worst_case == b.worst_case
    assert a.penalized_worst_case == b.penalized_worst_case
    for name in ("raw", "scales", "penalty", "weights"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (a.counts is None) == (b.counts is None)


def _same_history(a, b):
    assert a.names == b.names and a.record_every == b.record_every and a.steps == b.steps
    np.testing.assert_array_equal(a.step_weights, b.step_weights)
    np.testing.assert_array_equal(a.step_losses, b.step_losses)
    assert len(a.epochs) == len(b.epochs)
    for x, y in zip(a.epochs, b.epochs, strict=True):
        assert (x.epoch, x.step, x.seconds) == (y.epoch, y.step, y.seconds)
        for name in ("train_losses", "weights", "average_weights"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        _same_report(x.last, y.last)
        _same_report(x.averaged, y.averaged)


def test_worst_case_prefers_averaged_then_last_then_nan():
    wc = _history().worst_case
    # epoch 0: averaged [0.2, 0.4, 0.8] → max 0.8 (not the last iterate's 0.9);
    # epoch 1: only the last iterate [0.7, 0.1, 0.1] → 0.7; epoch 2: nothing evaluated
    assert wc[:2] == pytest.approx([0.8, 0.7], abs=1e-12)
    assert len(wc) == 3 and math.isnan(wc[2])


def test_step_arrays_have_one_row_per_recorded_step():
    h = _history()
    assert h.step_weights.shape == h.step_losses.shape == (3, 3)
    assert h.step_weights.dtype == np.float64
    np.testing.assert_allclose(h.step_losses[:, 2], [6.0, 12.0, 18.0], rtol=0, atol=1e-12)
    empty = History(names=["a", "b"])
    assert empty.step_weights.shape == empty.step_losses.shape == (0, 2)
    assert empty.worst_case == []


def test_dict_json_and_file_round_trips(tmp_path):
    h = _history()
    _same_history(History.from_dict(h.to_dict()), h)
    text = h.to_json(tmp_path / "h.json")
    assert (tmp_path / "h.json").read_text() == text
    d = json.loads(text)
    assert d["steps"] == [2, 4, 6] and d["record_every"] == 2
    assert d["epochs"][2]["last"] is None and d["epochs"][1]["averaged"] is None
    back = History.from_dict(d)
    _same_history(back, h)
    assert back.worst_case[:2] == h.worst_case[:2] and math.isnan(back.worst_case[2])


def test_empty_history_round_trips():
    h = History(names=["x", "y"], record_every=3)
    back = History.from_dict(json.loads(h.to_json()))
    assert back.steps == [] and back.step_weights.shape == (0, 2)
    again = History.from_state_dict(h.state_dict())
    assert again.names == ["x", "y"] and again.record_every == 3
    assert again.step_losses.shape == (0, 2) and again.epochs == []


def test_state_dict_round_trips_through_a_weights_only_checkpoint(tmp_path):
    h = _history()
    state = h.state_dict()
    assert state["steps"].dtype == torch.int64 and state["weights"].dtype == torch.float64
    assert isinstance(state["epochs"], str)
    path = save_checkpoint(tmp_path / "h.pt", {"history": state})
    back = History.from_state_dict(load_checkpoint(path)["history"])
    _same_history(back, h)
    # the restored per-step arrays own their memory: appending does not disturb the tensors
    back.record_step(8, np.zeros(3), np.zeros(3))
    assert back.step_weights.shape == (4, 3) and h.step_weights.shape == (3, 3)


def test_epoch_record_to_dict_is_plain_python():
    rec = _record(0, last=_report([0.3, 0.9, 0.1], counts=[3, 4, 5]))
    d = rec.to_dict()
    json.dumps(d)  # plain values only
    assert d["weights"] == [0.2, 0.3, 0.5] and d["seconds"] == 0.25 and d["averaged"] is None
    assert d["last"]["counts"] == [3.0, 4.0, 5.0]
    back = EpochRecord.from_dict(d)
    assert back.train_losses.dtype == np.float64
    _same_report(back.last, rec.last)
    np.testing.assert_array_equal(back.last.counts, [3.0, 4.0, 5.0])


# -- ObjectiveReport ---------------------------------------------------------------------------
def test_report_hand_values_with_scales_and_penalty():
    rep = ObjectiveReport.from_values(
        ["a", "b", "c"],
        raw=[0.6, 0.9, 0.2],
        scales=[2.0, 3.0, 0.5],
        mixture_set=Simplex(3),
        penalty=[0.0, 0.5, 0.0],
    )
    np.testing.assert_allclose(rep.normalized, [0.3, 0.3, 0.4], rtol=0, atol=1e-15)
    assert rep.worst_case == pytest.approx(0.4, abs=1e-12)
    np.testing.assert_allclose(rep.weights, [0.0, 0.0, 1.0], atol=1e-12)
    # with the penalty b becomes 0.8, the largest
    assert rep.penalized_worst_case == pytest.approx(0.8, abs=1e-12)
    np.testing.assert_allclose(rep.objective, [0.3, 0.8, 0.4], atol=1e-15)
    assert rep.worst_objective == "c" and rep.p == 3
    assert rep.value_at([0.5, 0.5, 0.0]) == pytest.approx(0.3, abs=1e-12)
    assert "with penalty 0.8000" in rep.table()
    assert "worst case 0.4000 (c)" in rep.table()
    assert not rep.raw.flags.writeable


def test_report_over_a_box_fills_the_largest_first():
    box = BoxSimplex([0.1] * 3, [0.6] * 3)
    rep = ObjectiveReport.from_values(["a", "b", "c"], [0.2, 0.9, 0.5], [1.0] * 3, box)
    # λ = (0.1, 0.6, 0.3): 0.02 + 0.54 + 0.15
    assert rep.worst_case == pytest.approx(0.71, abs=1e-9)
    np.testing.assert_allclose(rep.weights, [0.1, 0.6, 0.3], atol=1e-9)
    assert rep.penalized_worst_case == rep.worst_case


@pytest.mark.parametrize("field", ["raw", "scales", "penalty", "counts"])
def test_report_names_the_argument_of_wrong_length(field):
    kwargs = {"raw": [1.0, 2.0], "scales": [1.0, 1.0], "penalty": None, "counts": None}
    kwargs[field] = [1.0, 2.0, 3.0]
    with pytest.raises(ALMOValueError, match=rf"^`{field}` must have shape \(2,\).*found \(3,\)"):
        ObjectiveReport.from_values(["a", "b"], mixture_set=Simplex(2), **kwargs)


def test_report_value_at_checks_the_weights_length():
    rep = _report([0.1, 0.2, 0.3])
    with pytest.raises(ALMOValueError, match=r"^`weights` must have shape \(3,\)"):
        rep.value_at([1.0, 0.0])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6).flatmap(
        lambda raw: st.tuples(
            st.just(raw), st.lists(st.floats(0.1, 5.0), min_size=len(raw), max_size=len(raw))
        )
    )
)
def test_report_on_the_simplex_is_the_max_and_round_trips(pair):
    raw, scales = pair
    names = [f"o{k}" for k in range(len(raw))]
    rep = ObjectiveReport.from_values(names, raw, scales, Simplex(len(raw)))
    expected = np.asarray(raw) / np.asarray(scales)
    assert rep.worst_case == pytest.approx(expected.max(), rel=1e-9, abs=1e-12)
    assert rep.value_at(rep.weights) == pytest.approx(rep.worst_case, rel=1e-7, abs=1e-9)
    back = ObjectiveReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    _same_report(back, rep)
    assert back.worst_objective == names[int(np.argmax(expected))]


# -- a trainer's History -----------------------------------------------------------------------
def _fit(eval_data, average_model=True, epochs=2):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, generator=gen)
    y = torch.randint(0, 2, (24,), generator=gen)
    g = torch.arange(24) % 2
    batches = [(x[i : i + 8], y[i : i + 8], g[i : i + 8]) for i in (0, 8, 16)]
    trainer = MinimaxTrainer(
        torch.nn.Linear(3, 2),
        ObjectiveFamily("log_loss", groups=2),
        verbose=False,
        average_model=average_model,
    )
    h = trainer.fit(batches, epochs=epochs, eval_loader=batches if eval_data else None)
    return trainer, h


def test_trainer_history_without_evaluation_has_nan_worst_cases():
    trainer, h = _fit(eval_data=False)
    assert trainer.history is h and trainer.step == 6
    assert h.steps == [1, 2, 3, 4, 5, 6]
    assert h.step_weights.shape == h.step_losses.shape == (6, 2)
    np.testing.assert_allclose(h.step_weights.sum(axis=1), 1.0, atol=1e-9)
    assert [e.last for e in h.epochs] == [None, None]
    assert len(h.worst_case) == 2 and all(math.isnan(v) for v in h.worst_case)
    # the epoch's train_losses is the mean of the loss vectors the λ steps saw
    np.testing.assert_allclose(h.epochs[1].train_losses, h.step_losses[3:].mean(axis=0), rtol=1e-12)
    assert [e.step for e in h.epochs] == [3, 6]


@pytest.mark.parametrize("average_model", [True, False])
def test_trainer_history_with_evaluation(average_model):
    trainer, h = _fit(eval_data=True, average_model=average_model)
    assert trainer.has_eval_data and trainer.history is h
    for e in h.epochs:
        assert e.last is not None
        assert (e.averaged is not None) == average_model
        ev = e.averaged if average_model else e.last
        assert ev.worst_case == pytest.approx(float(ev.normalized.max()), abs=1e-12)
    assert h.worst_case == [(e.averaged if average_model else e.last).worst_case for e in h.epochs]
    back = History.from_state_dict(h.state_dict())
    _same_history(back, h)
