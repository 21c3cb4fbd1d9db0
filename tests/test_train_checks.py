"""Early, clear failures; atomic and code-free checkpoints; in-process resumes; callbacks."""

import copy
import io
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from almo import Simplex
from almo._validation import ALMOValueError, NonFiniteLossError
from almo.objectives import ObjectiveFamily
from almo.train import (
    Checkpoint,
    EarlyStopping,
    LambdaCallback,
    MinimaxTrainer,
    ProgressBar,
    load_checkpoint,
    save_checkpoint,
)
from almo.train import checkpoint as checkpoint_module
from almo.weights import ExponentiatedAscent


def _setup(n=96, groups=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen)
    y = torch.randint(0, 3, (n,), generator=gen)
    g = torch.randint(0, groups, (n,), generator=gen)
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(8, 3)
    )
    return x, y, g, model


def _family():
    return ObjectiveFamily(["log_loss", "hinge"], groups=3)


class Crash(Exception):
    pass


def _crash_at(step):
    def hook(trainer):
        if trainer.step == step:
            raise Crash

    return LambdaCallback(on_step_end=hook)


# -- early failures ----------------------------------------------------------------------------
def test_mixture_set_size_must_match_the_family():
    with pytest.raises(ALMOValueError, match=r"mixture_set.*p = family.p = 6.*found 4"):
        MinimaxTrainer(torch.nn.Linear(5, 3), _family(), mixture_set=Simplex(4))


@pytest.mark.parametrize("loader", [[], DataLoader(TensorDataset(torch.zeros(0, 5)))])
def test_empty_loader_fails_before_any_step(loader):
    trainer = MinimaxTrainer(torch.nn.Linear(5, 3), _family(), verbose=False)
    with pytest.raises(ALMOValueError, match=r"train_loader.*at least one batch"):
        trainer.fit(loader, epochs=1)
    assert trainer.step == 0


def test_output_shape_mismatch_fails_before_any_step():
    x, y, _g, _ = _setup()
    model = torch.nn.Linear(5, 1)  # one score per sample, but labels in {0, 1, 2}
    before = [q.detach().clone() for q in model.parameters()]
    trainer = MinimaxTrainer(model, ObjectiveFamily("hinge"), verbose=False)
    with pytest.raises(ALMOValueError, match="model"):
        trainer.fit([(x, y)], epochs=1)
    assert trainer.step == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_penalty_of_wrong_length_fails_before_any_step():
    x, y, g, model = _setup()
    trainer = MinimaxTrainer(model, _family(), penalty=lambda m: torch.zeros(2), verbose=False)
    with pytest.raises(ALMOValueError, match=r"penalty.*shape \(6,\)"):
        trainer.fit([(x, y, g)], epochs=1)


def test_non_finite_loss_names_step_and_objectives_and_keeps_checkpoint(tmp_path):
    x, y, g, model = _setup()
    x = x.clone()
    bad = (torch.arange(96) >= 48) & (g == 2)  # the 4th batch of 16 holds NaN in group 2 only
    x[bad & (torch.arange(96) < 64)] = float("nan")
    ckpt = tmp_path / "c.pt"
    trainer = MinimaxTrainer(model, _family(), verbose=False)
    batches = [(x[i : i + 16], y[i : i + 16], g[i : i + 16]) for i in range(0, 96, 16)]
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(batches, epochs=1, callbacks=[Checkpoint(ckpt, every_steps=1)])
    message = str(info.value)
    assert "step 4" in message and "log_loss@group2" in message and "hinge@group2" in message
    assert "group0" not in message and "group1" not in message
    assert load_checkpoint(ckpt)["run"]["step"] == 3
    assert all(torch.isfinite(q).all() for q in model.parameters())
    assert trainer.mixture_set.contains(trainer.weights)


def test_resume_with_another_configuration_is_refused(tmp_path):
    x, y, g, model = _setup()
    trainer = MinimaxTrainer(model, _family(), verbose=False)
    trainer.fit([(x, y, g)], epochs=1, callbacks=[Checkpoint(tmp_path / "c.pt")])
    other = MinimaxTrainer(copy.deepcopy(model), _family(), method="mirror_prox", verbose=False)
    with pytest.raises(ALMOValueError, match=r"same configuration.*method"):
        other.fit([(x, y, g)], epochs=2, resume_from=tmp_path / "c.pt")


# -- checkpoint files --------------------------------------------------------------------------
def test_crash_mid_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1, "w": torch.arange(3.0)})
    real_save = torch.save

    def torn(obj, f):
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[:100])  # half a file, then the "crash"
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", torn)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    back = load_checkpoint(path)
    assert back["step"] == 1 and torch.equal(back["w"], torch.arange(3.0))
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def test_loading_never_executes_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint_module.FORMAT, "x": _Evil()}, path)
    with pytest.raises(ALMOValueError, match="without almo's header"):
        load_checkpoint(path)  # refused before torch.load sees the pickle
    save_checkpoint(tmp_path / "ok.pt", {"x": 1})
    with pytest.raises(ALMOValueError, match="resume_from"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_holds_everything_listed():
    x, y, g, model = _setup()
    trainer = MinimaxTrainer(model, _family(), verbose=False)
    buf = []
    trainer.fit(
        [(x, y, g)], epochs=1, callbacks=[LambdaCallback(on_step_end=lambda t: buf.append(1))]
    )
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "c.pt")
    trainer.save_checkpoint(path)
    ck = load_checkpoint(path)
    assert {"model", "optimizer", "weights", "run", "rng", "config", "history"} <= set(ck)
    assert {"torch", "numpy", "python"} <= set(ck["rng"]["current"])
    # λ's state: HoldAbsent(Averaged(rule)) — held values, the average, the inner iterate.
    assert {"last_seen", "held", "inner.average", "inner.inner.weights"} <= set(ck["weights"])


# -- in-process resume (every method, mid-epoch, shuffled loader with its own generator) ---------
@pytest.mark.parametrize(
    "method,lambda_every", [("sgda", 1), ("simultaneous", 2), ("mirror_prox", 1)]
)
def test_resume_mid_epoch_is_bitwise_identical(tmp_path, method, lambda_every):
    x, y, g, model = _setup()
    data = TensorDataset(x, y, g)

    def run(crash=None, resume=None, m=None):
        loader = DataLoader(
            data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(5)
        )
        m = m if m is not None else copy.deepcopy(model)
        tr = MinimaxTrainer(
            m,
            _family(),
            method=method,
            lambda_every=lambda_every,
            weight_rule=ExponentiatedAscent(lr=0.5),
            verbose=False,
        )
        cbs = [Checkpoint(tmp_path / f"{method}.pt", every_steps=4), EarlyStopping(patience=9)]
        if crash:
            cbs.append(_crash_at(crash))
        tr.fit(
            loader,
            epochs=3,
            eval_loader=DataLoader(data, batch_size=50),
            callbacks=cbs,
            resume_from=resume,
        )
        return tr

    ref = run()
    with pytest.raises(Crash):
        run(crash=10)  # mid-epoch 2 (6 steps per epoch); last checkpoint at step 8
    resumed = run(resume=tmp_path / f"{method}.pt", m=copy.deepcopy(model))
    for a, b in zip(ref.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(ref.weights, resumed.weights)
    assert np.array_equal(ref.history.step_weights, resumed.history.step_weights)
    assert ref.history.worst_case == resumed.history.worst_case
    assert resumed.step == 18


# -- callbacks ---------------------------------------------------------------------------------
def test_early_stopping_stops_after_patience_epochs_without_improvement():
    x, y, g, model = _setup()
    trainer = MinimaxTrainer(
        model, _family(), verbose=False, optimizer=lambda ps: torch.optim.SGD(ps, lr=0.0)
    )
    stopper = EarlyStopping(patience=2, monitor="last")
    h = trainer.fit([(x, y, g)], epochs=10, eval_loader=[(x, y, g)], callbacks=[stopper])
    assert len(h.epochs) == 3 and stopper.wait == 2
    with pytest.raises(ALMOValueError, match="EarlyStopping"):
        trainer.fit([(x, y, g)], epochs=2, callbacks=[EarlyStopping()])


def test_progress_bar_is_quiet_off_a_terminal(capsys):
    x, y, g, model = _setup()
    trainer = MinimaxTrainer(model, _family(), verbose=True)
    trainer.fit([(x, y, g)], epochs=1, eval_loader=[(x, y, g)], callbacks=[ProgressBar()])
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert not ProgressBar(verbose=True).enabled  # pytest's stderr is not a terminal


def test_checkpoint_every_epoch_and_callbacks_order(tmp_path):
    x, y, g, model = _setup()
    order = []

    class Spy(LambdaCallback):
        order = 200  # after the checkpoint

        def on_epoch_end(self, trainer, record):
            order.append((record.epoch, load_checkpoint(tmp_path / "e.pt")["run"]["epoch"]))

    trainer = MinimaxTrainer(model, _family(), verbose=False)
    trainer.fit([(x, y, g)], epochs=2, callbacks=[Spy(), Checkpoint(tmp_path / "e.pt")])
    assert order == [(0, 1), (1, 2)]
    assert "Checkpoint(" in repr(Checkpoint(tmp_path / "e.pt"))
    assert "MinimaxTrainer(" in repr(trainer)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_run_matches_cpu():
    x, y, g, _ = _setup()
    model = torch.nn.Linear(5, 3)  # no dropout: the CPU and CUDA generators differ
    results = []
    for device in ("cpu", "cuda"):
        m = copy.deepcopy(model)
        tr = MinimaxTrainer(m, _family(), device=device, verbose=False)
        h = tr.fit([(x, y, g)] * 5, epochs=1, eval_loader=[(x, y, g)])
        assert next(m.parameters()).device.type == device
        results.append((tr.weights, h.epochs[0].last.losses))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)
