"""A zoo of bad inputs to the trainer and its checkpoints: each gets one clear, documented error.

Every case asserts an error type of :mod:`almo.exceptions` and a message that names the argument
(and, for files, the path). Checkpoint files are attacked the ways they break in practice:
empty, random bytes, pickles, plain torch files, truncation, a flipped bit at every offset,
foreign array dtypes behind a valid checksum, parameters of another model, and the temporary
files a killed writer leaves behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from almo.exceptions import ALMOValueError
from almo.objectives import ObjectiveFamily
from almo.train import Checkpoint, MinimaxTrainer
from almo.train.checkpoint import (
    DTYPES,
    ReproducibilityWarning,
    from_plain,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    to_plain,
)

METHODS = ("sgda", "simultaneous", "mirror_prox")


def _data(n: int = 32, d: int = 3, batch: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, d, generator=gen), torch.randint(0, 2, (n,), generator=gen)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def _trainer(model: torch.nn.Module | None = None, **kwargs) -> MinimaxTrainer:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2) if model is None else model
    return MinimaxTrainer(model, ObjectiveFamily(["log_loss", "hinge"]), verbose=False, **kwargs)


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> bytes:
    """The bytes of a trainer checkpoint written mid-run (Linear(3, 2), 1 epoch of 4 steps)."""
    path = tmp_path_factory.mktemp("real") / "run.pt"
    trainer = _trainer()
    trainer.fit(_data(), epochs=1, callbacks=[Checkpoint(path, every_steps=2)])
    return path.read_bytes()


def _evil_pickle() -> bytes:
    return pickle.dumps(_Evil())


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def _header(body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"ALMO-CHECKPOINT/2 sha256={digest} bytes={len(body)}\n".encode() + body


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _repacked(real: bytes, tmp_path: Path, change) -> bytes:
    """The real checkpoint, loaded, altered by ``change``, written again with a valid digest."""
    source = tmp_path / "source.pt"
    source.write_bytes(real)
    ck = load_checkpoint(source)
    change(ck)
    ck.pop("format")
    return save_checkpoint(tmp_path / "repacked.pt", ck).read_bytes()


def _set_dtype(dtype):
    def change(ck):
        ck["weights"]["inner.average"]["dtype"] = dtype

    return change


# -- resume_from: files that are not (intact) almo checkpoints ------------------------------------
RESUME_FILES = {
    "empty file": (lambda real, tmp: b"", "empty file"),
    "one byte": (lambda real, tmp: b"\x00", "not an almo checkpoint"),
    "random bytes 64": (
        lambda real, tmp: np.random.default_rng(1).bytes(64),
        "not an almo checkpoint",
    ),
    "random bytes 4096": (
        lambda real, tmp: np.random.default_rng(2).bytes(4096),
        "not an almo checkpoint",
    ),
    "text file": (lambda real, tmp: b"step: 3\nweights: [0.5, 0.5]\n", "not an almo checkpoint"),
    "malicious pickle": (lambda real, tmp: _evil_pickle(), "Python pickle"),
    "plain pickle of a dict": (lambda real, tmp: pickle.dumps({"step": 3}), "Python pickle"),
    "torch file with a malicious pickle": (
        lambda real, tmp: _torch_bytes({"format": "almo.train.checkpoint/2", "x": _Evil()}),
        "without almo's header",
    ),
    "torch file of an almo payload without header": (
        lambda real, tmp: real.split(b"\n", 1)[1],
        "without almo's header",
    ),
    "header only": (lambda real, tmp: real.split(b"\n", 1)[0] + b"\n", "truncated"),
    "header without newline": (lambda real, tmp: real.split(b"\n", 1)[0], "corrupted header"),
    "another format version": (
        lambda real, tmp: real.replace(b"ALMO-CHECKPOINT/2", b"ALMO-CHECKPOINT/7", 1),
        "format 7",
    ),
    "digest not hex": (
        lambda real, tmp: real.replace(b"sha256=", b"sha256=zz", 1),
        "corrupted header",
    ),
    "truncated to 10%": (lambda real, tmp: real[: len(real) // 10], "truncated"),
    "truncated to half": (lambda real, tmp: real[: len(real) // 2], "truncated"),
    "truncated by one byte": (lambda real, tmp: real[:-1], "truncated"),
    "trailing bytes": (lambda real, tmp: real + b"\x00", "longer than written"),
    "payload replaced, same length": (
        lambda real, tmp: real[: real.index(b"\n") + 1] + bytes(len(real) - real.index(b"\n") - 1),
        "SHA-256 does not match",
    ),
    "malicious pickle behind a valid header": (
        lambda real, tmp: _header(
            _torch_bytes({"format": "almo.train.checkpoint/2", "x": _Evil()})
        ),
        "content torch refused",
    ),
    "random bytes behind a valid header": (
        lambda real, tmp: _header(np.random.default_rng(3).bytes(500)),
        "content torch refused",
    ),
    "another program's payload behind a valid header": (
        lambda real, tmp: _header(_torch_bytes({"format": "other/1", "step": 3})),
        "format 'other/1'",
    ),
    "an almo file without the trainer's sections": (
        lambda real, tmp: save_checkpoint(tmp / "bare.pt", {"step": 3}).read_bytes(),
        "not a trainer checkpoint",
    ),
    "a trainer checkpoint without config": (
        lambda real, tmp: _repacked(real, tmp, lambda ck: ck.pop("config")),
        "['config']",
    ),
    "a config that is not JSON": (
        lambda real, tmp: _repacked(real, tmp, lambda ck: ck.update(config="{not json")),
        "unreadable config",
    ),
    "a config that is not a dict": (
        lambda real, tmp: _repacked(real, tmp, lambda ck: ck.update(config="[1, 2]")),
        "config of type",
    ),
    "array tagged object": (lambda real, tmp: _repacked(real, tmp, _set_dtype("object")), "object"),
    "array tagged complex128": (
        lambda real, tmp: _repacked(real, tmp, _set_dtype("complex128")),
        "complex128",
    ),
    "array tagged U100000000": (
        lambda real, tmp: _repacked(real, tmp, _set_dtype("U100000000")),
        "U100000000",
    ),
    "array tagged with a number": (
        lambda real, tmp: _repacked(real, tmp, _set_dtype(7)),
        "tagged int",
    ),
    "array whose tensor is not its tag": (
        lambda real, tmp: _repacked(real, tmp, _set_dtype("int64")),
        "int64 tensor for an array tagged int64",
    ),
    "model parameters of another model": (
        lambda real, tmp: _repacked(
            real, tmp, lambda ck: ck.update(model=torch.nn.Linear(4, 2).state_dict())
        ),
        "parameters of another model",
    ),
    "model without a bias": (
        lambda real, tmp: _repacked(real, tmp, lambda ck: ck["model"].pop("bias")),
        "bias is missing",
    ),
    "model entry that is not a state dict": (
        lambda real, tmp: _repacked(real, tmp, lambda ck: ck.update(model=[1, 2])),
        "not a state dict",
    ),
    "optimizer state of another optimizer": (
        lambda real, tmp: _repacked(
            real, tmp, lambda ck: ck.update(optimizer={"state": {}, "param_groups": []})
        ),
        "optimizer state that does not fit",
    ),
}


@pytest.mark.parametrize("case", list(RESUME_FILES))
def test_resume_from_a_bad_file_names_it_and_says_what_is_wrong(real_checkpoint, tmp_path, case):
    make, expected = RESUME_FILES[case]
    path = tmp_path / "bad.pt"
    path.write_bytes(make(real_checkpoint, tmp_path))
    trainer = _trainer()
    before = [q.detach().clone() for q in trainer.model.parameters()]
    with pytest.raises(ALMOValueError) as info:
        trainer.fit(_data(), epochs=2, resume_from=path)
    message = str(info.value)
    assert message.startswith("`resume_from` must"), message
    assert str(path) in message and expected in message, message
    assert "Fix:" in message
    # Nothing was loaded into the model.
    for a, b in zip(before, trainer.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_malicious_pickles_never_run(tmp_path, monkeypatch):
    files = [
        RESUME_FILES[make][0](b"", tmp_path)
        for make in ("malicious pickle", "malicious pickle behind a valid header")
    ]
    ran = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    for data in files:
        path = tmp_path / "evil.pt"
        path.write_bytes(data)
        with pytest.raises(ALMOValueError, match="resume_from"):
            load_checkpoint(path)
    assert ran == []


@pytest.mark.parametrize(
    "value", ["missing.pt", "", "folder", 123], ids=["missing", "empty", "folder", "int"]
)
def test_resume_from_a_path_that_is_no_file(tmp_path, value):
    (tmp_path / "folder").mkdir()
    arg = str(tmp_path / value) if value in ("missing.pt", "folder") else value
    with pytest.raises(ALMOValueError, match=r"`resume_from` must name an existing checkpoint"):
        _trainer().fit(_data(), epochs=1, resume_from=arg)


# -- bit flips anywhere, truncation at every length ----------------------------------------------
def test_a_flipped_bit_anywhere_is_detected(real_checkpoint, tmp_path):
    # Every byte of the header line, then about 1200 offsets spread evenly over the payload
    # (zip records, tensor data, the RNG arrays, the end-of-archive directory) and its last 64.
    path = tmp_path / "flip.pt"
    path.write_bytes(real_checkpoint)
    assert load_checkpoint(path)["run"]["step"] == 4  # the control loads
    size, header = len(real_checkpoint), real_checkpoint.index(b"\n") + 1
    offsets = sorted(
        {*range(header + 1), *range(header, size, max(1, size // 1200)), *range(size - 64, size)}
    )
    undetected = []
    for offset in offsets:
        data = bytearray(real_checkpoint)
        data[offset] ^= 1 << (offset % 8)
        path.write_bytes(bytes(data))
        try:
            load_checkpoint(path)
        except ALMOValueError as err:
            assert str(path) in str(err)
        else:
            undetected.append(offset)
    assert size > 2000 and len(offsets) > 1000 and undetected == []


def test_every_truncation_is_detected(real_checkpoint, tmp_path):
    path = tmp_path / "cut.pt"
    lengths = sorted({*range(0, 200), *range(0, len(real_checkpoint), 97)})
    for n in lengths:
        path.write_bytes(real_checkpoint[:n])
        with pytest.raises(ALMOValueError, match=r"`resume_from` must") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


# -- foreign dtypes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dtype",
    ["object", "complex64", "complex128", "U100000000", "S8", "V16", "datetime64[ns]", "float128"],
)
def test_from_plain_refuses_dtypes_almo_does_not_write(dtype):
    tagged = {"__ndarray__": torch.zeros(2), "dtype": dtype}
    with pytest.raises(ALMOValueError, match=r"`resume_from` must store arrays of the dtypes"):
        from_plain({"nested": [tagged]})


@pytest.mark.parametrize(
    "array",
    [np.array([1 + 2j]), np.array(["a", "b"]), np.array([object()], dtype=object)],
    ids=["complex", "str", "object"],
)
def test_to_plain_refuses_arrays_it_cannot_store_faithfully(array):
    with pytest.raises(ALMOValueError, match=r"`payload` must hold numpy arrays"):
        to_plain({"a": array})


def test_every_accepted_dtype_round_trips_exactly(tmp_path):
    for dtype in sorted(DTYPES):
        arr = (np.arange(6) % 2 if dtype == "bool" else np.arange(6)).astype(dtype).reshape(2, 3)
        path = save_checkpoint(tmp_path / "d.pt", {"a": to_plain(arr)})
        back = from_plain(load_checkpoint(path)["a"])
        assert back.dtype == arr.dtype and np.array_equal(back, arr), dtype


# -- checkpoint paths -----------------------------------------------------------------------------
def _bad_paths(tmp_path: Path) -> dict[str, object]:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a regular file")
    (tmp_path / "folder").mkdir(exist_ok=True)
    return {
        "empty": "",
        "blank": "   ",
        "a folder": tmp_path / "folder",
        "a trailing slash": str(tmp_path / "new") + "/",
        "under a regular file": blocker / "run.pt",
        "deep under a regular file": blocker / "a" / "b" / "run.pt",
        "an int": 3,
        "None": None,
    }


PATH_CASES = [
    "empty",
    "blank",
    "a folder",
    "a trailing slash",
    "under a regular file",
    "deep under a regular file",
    "an int",
    "None",
]


@pytest.mark.parametrize("case", PATH_CASES)
@pytest.mark.parametrize("where", ["Checkpoint", "trainer.save_checkpoint"])
def test_a_checkpoint_path_that_cannot_hold_a_file(tmp_path, case, where):
    bad = _bad_paths(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ALMOValueError) as info:
        if where == "Checkpoint":
            Checkpoint(bad)
        else:
            trainer = _trainer()
            trainer.fit(_data(), epochs=1)
            trainer.save_checkpoint(bad)
    message = str(info.value)
    assert message.startswith("`path` must"), message
    if isinstance(bad, Path):
        assert str(bad) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing was created


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
@pytest.mark.parametrize("name", ["every_steps", "every_epochs"])
def test_checkpoint_frequencies_must_be_positive_integers(tmp_path, name, value):
    with pytest.raises(ALMOValueError, match=rf"`{name}` must be None or an integer >= 1"):
        Checkpoint(tmp_path / "run.pt", **{name: value})


# -- empty batches and a model that does not fit the data ----------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("position", [0, 2])
def test_an_empty_batch_is_refused_and_not_counted(method, position):
    batches = _data()
    x, y = batches[0]
    batches.insert(position, (x[:0], y[:0]))
    trainer = _trainer(method=method)
    with pytest.raises(ALMOValueError, match=r"`train_loader` must yield batches holding") as info:
        trainer.fit(batches, epochs=1)
    assert f"step {position + 1} (epoch 1)" in str(info.value)
    assert trainer.step == position  # the empty batch was not counted as a step


def test_an_empty_grouped_batch_is_refused():
    family = ObjectiveFamily(["log_loss"], groups=2)
    x, y, g = torch.randn(8, 3), torch.randint(0, 2, (8,)), torch.randint(0, 2, (8,))
    trainer = MinimaxTrainer(torch.nn.Linear(3, 2), family, verbose=False)
    with pytest.raises(ALMOValueError, match="`train_loader`"):
        trainer.fit([(x, y, g), (x[:0], y[:0], g[:0])], epochs=1)
    assert trainer.step == 1


@pytest.mark.parametrize("call", ["forward", "evaluate"])
def test_the_family_refuses_an_empty_batch(call):
    family = ObjectiveFamily(["log_loss", "hinge"], normalize=[1.0, 1.0])
    with pytest.raises(ALMOValueError, match=r"`outputs` must hold at least one sample"):
        getattr(family, call)(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


WIDTH_MODELS = {
    "too wide": (lambda: torch.nn.Linear(4, 2), "the first Linear takes 4"),
    "too narrow": (lambda: torch.nn.Linear(2, 2), "the first Linear takes 2"),
    "a network": (
        lambda: torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)),
        "the first Linear takes 5",
    ),
    "a layer norm first": (
        lambda: torch.nn.Sequential(torch.nn.LayerNorm(6), torch.nn.Linear(6, 2)),
        "x has 3 features per row",
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(WIDTH_MODELS))
def test_a_model_that_does_not_fit_the_data_names_the_shapes(case, method):
    make, expected = WIDTH_MODELS[case]
    trainer = _trainer(make(), method=method)
    with pytest.raises(ALMOValueError) as info:
        trainer.fit(_data(), epochs=1)
    message = str(info.value)
    assert message.startswith("`model` must accept the data's inputs"), message
    assert "(8, 3)" in message and expected in message, message
    assert trainer.step == 0


@pytest.mark.parametrize("where", ["calibration", "evaluate"])
def test_a_width_mismatch_outside_the_steps_is_named_too(where):
    if where == "calibration":
        family = ObjectiveFamily(["log_loss", "hinge"], normalize="initial")
        trainer = MinimaxTrainer(torch.nn.Linear(4, 2), family, verbose=False)
        run = lambda: trainer.fit(_data(), epochs=1)  # noqa: E731
    else:
        trainer = _trainer(torch.nn.Linear(4, 2))
        run = lambda: trainer.evaluate(_data())  # noqa: E731
    with pytest.raises(ALMOValueError, match=r"`model` must accept.*\(8, 3\)"):
        run()


# -- stale temporary files ------------------------------------------------------------------------
OURS = [".run.pt.k1ll3d.tmp", ".run.pt.abcd_123.tmp", ".run.pt.x.tmp"]
THEIRS = [
    ".other.pt.k1ll3d.tmp",  # another checkpoint's
    ".run.pt.bak.abcd1234.tmp",  # checkpoint "run.pt.bak"'s
    "run.pt.abcd1234.tmp",  # no leading dot: not written by almo
    ".run.pt.tmp",  # no random part
    ".run.pt.abcd1234.tmp.keep",
    "run.pt.bak",
]


def _litter(folder: Path) -> None:
    for name in OURS + THEIRS:
        (folder / name).write_bytes(b"partial" * 1000)


@pytest.mark.parametrize("when", ["save", "Checkpoint callback", "resume", "load_checkpoint"])
def test_stale_temporaries_of_the_same_checkpoint_are_removed(tmp_path, when):
    path = tmp_path / "run.pt"
    first = _trainer()
    first.fit(_data(), epochs=1, callbacks=[Checkpoint(path)])
    _litter(tmp_path)
    if when == "save":
        first.save_checkpoint(path)
    elif when == "Checkpoint callback":
        _trainer().fit(_data(), epochs=1, callbacks=[Checkpoint(path)])
    elif when == "resume":
        _trainer().fit(_data(), epochs=2, resume_from=path)
    else:
        load_checkpoint(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.pt", *THEIRS])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX flock and SIGKILL")
def test_a_temporary_file_a_live_writer_holds_is_kept_until_it_dies(tmp_path):
    tmp = tmp_path / ".run.pt.live1234.tmp"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            "f = open(sys.argv[1], 'wb'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "f.write(b'half'); f.flush(); print('locked', flush=True); time.sleep(60)",
            str(tmp),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert remove_stale_temporaries(tmp_path / "run.pt") == []  # a live write is left alone
        assert tmp.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    assert remove_stale_temporaries(tmp_path / "run.pt") == [tmp]  # killed: stale, removed
    assert not tmp.exists()


def test_a_write_killed_with_sigkill_is_cleaned_by_the_next_save(tmp_path):
    # A real writer killed mid-write: it leaves its temporary file behind, and the old checkpoint
    # stays loadable; the next save removes the leftover.
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"step": 1})
    # torch.save writes into memory first; the write to the file stalls before its fsync.
    script = (
        "import os, sys, time\n"
        "from almo.train import checkpoint as c\n"
        "def stall(fd):\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "c.os.fsync = stall\n"
        "c.save_checkpoint(sys.argv[1], {'step': 2})\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"writing"
        deadline = time.monotonic() + 30
        while not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=30)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run.pt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".run.pt.")
    assert (tmp_path / leftovers[0]).stat().st_size > 0
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint is intact
    assert not (tmp_path / leftovers[0]).exists()  # ... and loading it removed the leftover
    save_checkpoint(path, {"step": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


# -- thread count ---------------------------------------------------------------------------------
def test_resuming_with_another_thread_count_warns(tmp_path):
    path = tmp_path / "run.pt"
    threads = torch.get_num_threads()
    _trainer().fit(_data(), epochs=1, callbacks=[Checkpoint(path)])
    assert load_checkpoint(path)["threads"] == threads
    _trainer().fit(_data(), epochs=2, resume_from=path)  # same count: silent (warnings are errors)
    torch.set_num_threads(threads + 1)
    try:
        with pytest.warns(ReproducibilityWarning, match=rf"torch.set_num_threads\({threads}\)"):
            _trainer().fit(_data(), epochs=2, resume_from=path)
    finally:
        torch.set_num_threads(threads)
