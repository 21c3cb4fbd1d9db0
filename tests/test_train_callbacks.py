"""Callbacks: EarlyStopping against an independent reference rule, its state through a checkpoint
and a resume, Checkpoint's step/epoch schedules, LambdaCallback, hook order and ProgressBar."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo._validation import ALMOValueError
from almo.objectives import ObjectiveFamily
from almo.train import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochRecord,
    LambdaCallback,
    MinimaxTrainer,
    ProgressBar,
    load_checkpoint,
)


def _batches():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, generator=gen)
    y = torch.randint(0, 2, (24,), generator=gen)
    g = torch.arange(24) % 2
    return [(x[i : i + 8], y[i : i + 8], g[i : i + 8]) for i in (0, 8, 16)]


def _trainer(lr=0.1, **kw):
    torch.manual_seed(1)
    return MinimaxTrainer(
        torch.nn.Linear(3, 2),
        ObjectiveFamily("log_loss", groups=2),
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=lr),
        **kw,
    )


def _rec(epoch, last=None, averaged=None):
    def ev(v):
        return None if v is None else SimpleNamespace(worst_case=v)

    z = np.zeros(2)
    return EpochRecord(epoch, epoch + 1, z, z, z, ev(last), ev(averaged))


def _reference_stop(values, patience, min_delta):
    """The epoch index (0-based) after which the run stops, or None; written from the doc."""
    best, wait = float("inf"), 0
    for i, v in enumerate(values):
        if v < best - min_delta:
            best, wait = v, 0
        else:
            wait += 1
            if wait >= patience:
                return i, best, wait
    return None, best, wait


# -- EarlyStopping, unit level -----------------------------------------------------------------
def test_early_stopping_hand_sequence():
    trainer = SimpleNamespace(stop_training=False)
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    # 1.0 improves on inf; 0.95 is within min_delta (no improvement, wait 1); 0.85 improves
    # (0.85 < 1.0 - 0.1), wait 0; 0.80 and 0.79 do not beat 0.75: wait 1, 2 → stop
    for epoch, v in enumerate([1.0, 0.95, 0.85, 0.80]):
        stopper.on_epoch_end(trainer, _rec(epoch, averaged=v, last=100.0))
        assert not trainer.stop_training
    assert stopper.best == 0.85 and stopper.wait == 1
    stopper.on_epoch_end(trainer, _rec(4, averaged=0.79))
    assert trainer.stop_training and stopper.wait == 2 and stopper.best == 0.85


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 2.0), min_size=1, max_size=12),
    st.integers(1, 4),
    st.sampled_from([0.0, 0.01, 0.2]),
    st.sampled_from(["averaged", "last"]),
)
def test_early_stopping_matches_the_reference_rule(values, patience, min_delta, monitor):
    trainer = SimpleNamespace(stop_training=False)
    stopper = EarlyStopping(patience=patience, min_delta=min_delta, monitor=monitor)
    stopped_at = None
    for i, v in enumerate(values):
        other = v + 5.0  # the iterate not monitored carries a different value
        if monitor == "last":
            rec = _rec(i, last=v, averaged=other)
        else:
            rec = _rec(i, last=other, averaged=v)
        stopper.on_epoch_end(trainer, rec)
        if trainer.stop_training:
            stopped_at = i
            break
    ref_at, ref_best, ref_wait = _reference_stop(values, patience, min_delta)
    assert stopped_at == ref_at
    assert stopper.best == ref_best and stopper.wait == ref_wait


def test_early_stopping_falls_back_to_the_last_iterate_without_an_average():
    trainer = SimpleNamespace(stop_training=False)
    stopper = EarlyStopping(patience=1, monitor="averaged")
    stopper.on_epoch_end(trainer, _rec(0, last=1.0, averaged=None))
    assert not trainer.stop_training and stopper.best == 1.0
    stopper.on_epoch_end(trainer, _rec(1, last=1.0, averaged=None))
    assert trainer.stop_training and stopper.wait == 1
    # an epoch with no evaluation at all leaves the counters alone
    quiet = EarlyStopping(patience=1)
    quiet.on_epoch_end(trainer, _rec(0, last=None, averaged=None))
    assert quiet.wait == 0 and quiet.best == float("inf")


def test_early_stopping_state_dict_round_trip():
    a = EarlyStopping(patience=3)
    a.best, a.wait = 0.25, 2
    b = EarlyStopping(patience=3)
    b.load_state_dict(a.state_dict())
    assert (b.best, b.wait) == (0.25, 2)
    assert isinstance(b.best, float) and isinstance(b.wait, int)
    assert (
        repr(a) == "EarlyStopping(patience=3, min_delta=0.0, monitor='averaged', best=0.25, wait=2)"
    )


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"patience": 0}, r"^`patience` must be an integer >= 1; found 0"),
        ({"patience": -2}, r"^`patience` must be an integer >= 1; found -2"),
        ({"monitor": "best"}, r"^`monitor` must be 'averaged' or 'last'; found 'best'"),
    ],
)
def test_early_stopping_bad_arguments(kwargs, pattern):
    with pytest.raises(ALMOValueError, match=pattern):
        EarlyStopping(**kwargs)


def test_early_stopping_without_eval_data_names_callbacks():
    with pytest.raises(ALMOValueError, match=r"^`callbacks` must contain EarlyStopping only"):
        _trainer().fit(_batches(), epochs=1, callbacks=[EarlyStopping()])


def test_early_stopping_on_averaged_without_an_average_watches_the_last_iterate():
    trainer = _trainer(lr=0.0, average_model=False)
    stopper = EarlyStopping(patience=1)
    h = trainer.fit(_batches(), epochs=4, eval_loader=_batches(), callbacks=[stopper])
    assert len(h.epochs) == 2  # lr = 0: no epoch after the first improves


def test_early_stopping_state_survives_a_resume(tmp_path):
    batches = _batches()
    path = tmp_path / "c.pt"
    first = EarlyStopping(patience=10, monitor="last")
    _trainer(lr=0.0).fit(
        batches, epochs=3, eval_loader=batches, callbacks=[first, Checkpoint(path)]
    )
    assert first.wait == 2  # lr = 0: the first epoch sets best, the next two do not improve
    saved = load_checkpoint(path)["callbacks"]
    assert saved["0:EarlyStopping"] == {"best": first.best, "wait": 2}
    again = EarlyStopping(patience=3, monitor="last")
    h = _trainer(lr=0.0).fit(
        batches, epochs=10, eval_loader=batches, callbacks=[again], resume_from=path
    )
    # restored wait = 2; one more epoch without improvement reaches patience 3
    assert len(h.epochs) == 4 and again.wait == 3 and again.best == first.best


# -- Checkpoint schedules ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("every_steps", "every_epochs", "epochs", "expected"),
    [
        (2, None, 2, [2, 4, 6]),
        (None, 1, 2, [3, 6]),
        (None, 2, 3, [6]),
        (3, 1, 2, [3, 3, 6, 6]),
        (4, 3, 2, [4]),
    ],
)
def test_checkpoint_saves_on_schedule(
    tmp_path, monkeypatch, every_steps, every_epochs, epochs, expected
):
    trainer = _trainer()
    saves = []
    real = trainer.save_checkpoint

    def spy(path):
        saves.append(trainer.step)
        real(path)

    monkeypatch.setattr(trainer, "save_checkpoint", spy)
    cb = Checkpoint(tmp_path / "c.pt", every_steps=every_steps, every_epochs=every_epochs)
    trainer.fit(_batches(), epochs=epochs, callbacks=[cb])
    assert saves == expected
    assert load_checkpoint(tmp_path / "c.pt")["run"]["step"] == expected[-1]


def test_checkpoint_that_never_fires_writes_nothing(tmp_path):
    trainer = _trainer()
    trainer.fit(_batches(), epochs=1, callbacks=[Checkpoint(tmp_path / "c.pt", None, None)])
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize("name", ["every_steps", "every_epochs"])
@pytest.mark.parametrize("value", [0, -1])
def test_checkpoint_bad_schedule_names_the_argument(tmp_path, name, value):
    with pytest.raises(
        ALMOValueError, match=rf"^`{name}` must be None or an integer >= 1; found {value}"
    ):
        Checkpoint(tmp_path / "c.pt", **{name: value})


# -- LambdaCallback and order ------------------------------------------------------------------
def test_lambda_callback_sees_each_step_and_each_recorded_epoch():
    trainer = _trainer()
    steps, epochs = [], []

    def on_epoch(tr, record):
        assert tr.history.epochs[-1] is record  # already in the history
        epochs.append((record.epoch, record.step, tr.epoch))

    cb = LambdaCallback(on_step_end=lambda tr: steps.append(tr.step), on_epoch_end=on_epoch)
    trainer.fit(_batches(), epochs=2, callbacks=[cb])
    assert steps == [1, 2, 3, 4, 5, 6]
    assert [e[:2] for e in epochs] == [(0, 3), (1, 6)]


def test_callbacks_run_in_ascending_order_and_ties_keep_the_given_order():
    log = []

    class Spy(Callback):
        def __init__(self, name, order):
            self.name, self.order = name, order

        def on_fit_start(self, trainer):
            log.append(("fit_start", self.name))

        def on_epoch_start(self, trainer, epoch):
            log.append((f"epoch_start{epoch}", self.name))

        def on_step_end(self, trainer):
            log.append((f"step{trainer.step}", self.name))

        def on_epoch_end(self, trainer, record):
            log.append((f"epoch_end{record.epoch}", self.name))

        def on_fit_end(self, trainer, history):
            log.append(("fit_end", self.name))

    spies = [Spy("b", 5), Spy("a", -1), Spy("c", 5), Spy("d", 0)]
    _trainer().fit(_batches()[:2], epochs=2, callbacks=spies)
    names = ["a", "d", "b", "c"]
    events = ["fit_start"]
    for e, steps in ((0, (1, 2)), (1, (3, 4))):
        events += [f"epoch_start{e}", *(f"step{s}" for s in steps), f"epoch_end{e}"]
    events.append("fit_end")
    assert log == [(ev, n) for ev in events for n in names]


def test_fit_refuses_a_non_callback():
    with pytest.raises(
        ALMOValueError, match=r"^`callbacks` must contain Callback instances; found 'function'"
    ):
        _trainer().fit(_batches(), epochs=1, callbacks=[lambda t: None])


# -- ProgressBar -------------------------------------------------------------------------------
class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_on_a_terminal_and_closes(monkeypatch):
    fake = _TTY()
    monkeypatch.setattr("sys.stderr", fake)
    bar = ProgressBar()
    assert bar.enabled and not ProgressBar(verbose=False).enabled
    trainer = _trainer()
    trainer.fit(_batches(), epochs=2, eval_loader=_batches(), callbacks=[bar])
    text = fake.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "λmax" in text and "worst" in text
    assert bar._bar is None  # closed after each epoch


def test_progress_bar_without_eval_has_no_worst(monkeypatch):
    fake = _TTY()
    monkeypatch.setattr("sys.stderr", fake)
    _trainer().fit(_batches(), epochs=1, callbacks=[ProgressBar()])
    text = fake.getvalue()
    assert "λmax" in text and "worst" not in text


def test_progress_bar_disabled_writes_nothing_even_on_a_terminal(monkeypatch):
    fake = _TTY()
    monkeypatch.setattr("sys.stderr", fake)
    bar = ProgressBar(verbose=False)
    _trainer().fit(_batches(), epochs=1, callbacks=[bar])
    assert fake.getvalue() == "" and bar._bar is None
