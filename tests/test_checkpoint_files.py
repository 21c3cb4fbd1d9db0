"""Checkpoint helpers: to_plain/from_plain round trips, RNG capture/restore (torch, numpy, Python,
a DataLoader's shuffle), load errors and the atomic write."""

import hashlib
import io
import os
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch.utils.data import DataLoader, TensorDataset

from almo._validation import ALMOValueError
from almo.train import checkpoint as checkpoint_module
from almo.train.checkpoint import (
    FORMAT,
    capture_rng,
    from_plain,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    to_plain,
)


def _through_file(tmp_path, value):
    """to_plain → an actual weights_only checkpoint file → from_plain."""
    path = save_checkpoint(tmp_path / "v.pt", {"v": to_plain(value)})
    return from_plain(load_checkpoint(path)["v"])


@pytest.mark.parametrize(
    "dtype", ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]
)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3)])
def test_arrays_keep_dtype_shape_and_values(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    arr = np.asarray(rng.normal(size=shape) * 50).astype(dtype)
    back = _through_file(tmp_path, arr)
    assert isinstance(back, np.ndarray)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, arr)


def test_non_contiguous_array_round_trips(tmp_path):
    arr = np.arange(12.0).reshape(3, 4).T[:, ::2]  # neither C- nor F-contiguous
    assert not arr.flags.c_contiguous
    back = _through_file(tmp_path, arr)
    np.testing.assert_array_equal(back, arr)
    assert back.flags.c_contiguous


def test_to_plain_copies_so_later_mutation_does_not_leak():
    arr = np.zeros(3)
    plain = to_plain(arr)
    arr[0] = 9.0
    assert plain["__ndarray__"].tolist() == [0.0, 0.0, 0.0]
    back = from_plain(plain)
    back[1] = 5.0
    assert plain["__ndarray__"].tolist() == [0.0, 0.0, 0.0]


def test_nested_containers_and_numpy_scalars(tmp_path):
    value = {
        "a": [np.arange(3, dtype=np.int32), {"b": np.float32(1.5), "c": (np.int64(7), "s")}],
        "d": None,
        "e": 2.5,
        "f": {"g": np.bool_(True), "h": np.array([[1.0, 2.0]])},
    }
    plain = to_plain(value)
    # numpy scalars become Python numbers, tuples become lists
    assert type(plain["a"][1]["b"]) is float and plain["a"][1]["b"] == 1.5
    assert type(plain["a"][1]["c"][0]) is int and plain["a"][1]["c"] == [7, "s"]
    assert plain["f"]["g"] is True
    back = _through_file(tmp_path, value)
    assert back["d"] is None and back["e"] == 2.5
    assert back["a"][0].dtype == np.int32 and back["a"][0].tolist() == [0, 1, 2]
    assert back["a"][1] == {"b": 1.5, "c": [7, "s"]}
    assert back["f"]["g"] is True
    np.testing.assert_array_equal(back["f"]["h"], [[1.0, 2.0]])


@settings(max_examples=25, deadline=None)
@given(
    st.recursive(
        arrays(
            st.sampled_from([np.float64, np.float32, np.int64, np.int8]),
            st.tuples(st.integers(0, 3), st.integers(1, 3)),
        ),
        lambda kids: (
            st.lists(kids, max_size=3)
            | st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), kids, max_size=3)
        ),
        max_leaves=6,
    )
)
def test_to_plain_from_plain_is_the_identity_on_nested_arrays(value):
    def same(a, b):
        if isinstance(a, np.ndarray):
            assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)  # NaN == NaN here
        elif isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                same(a[k], b[k])
        else:
            assert isinstance(b, list) and len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                same(x, y)

    same(value, from_plain(to_plain(value)))


# -- random number generators ------------------------------------------------------------------
def _draws(loader=None):
    out = {
        "torch": torch.rand(4).tolist(),
        "normal": torch.randn(3).tolist(),
        "numpy": np.random.rand(4).tolist(),  # noqa: NPY002
        "numpy_gauss": float(np.random.standard_normal()),  # noqa: NPY002
        "python": [random.random() for _ in range(4)],
        "python_gauss": random.gauss(0.0, 1.0),
    }
    if loader is not None:
        out["order"] = [b[0].tolist() for b in loader]
    return out


def test_capture_restore_replays_torch_numpy_and_python(tmp_path):
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    random.seed(5)
    # leave a cached Gaussian in numpy's and Python's state: it must come back too
    np.random.standard_normal()  # noqa: NPY002
    random.gauss(0.0, 1.0)
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng()})
    first = _draws()
    _draws()  # move every generator further on
    restore_rng(load_checkpoint(path)["rng"])
    assert _draws() == first


def test_capture_restore_replays_a_dataloader_shuffle(tmp_path):
    ds = TensorDataset(torch.arange(20))
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1))
    next(iter(loader))  # advance the loader's generator off its seed
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng(loader)})
    assert len(load_checkpoint(path)["rng"]["loader"]) == 1
    first = _draws(loader)
    second = _draws(loader)
    assert first["order"] != second["order"]  # the shuffle does move on
    assert sorted(i for batch in first["order"] for i in batch) == list(range(20))
    restore_rng(load_checkpoint(path)["rng"], loader)
    assert _draws(loader) == first


def test_loader_with_a_seeded_sampler_generator_is_captured_once():
    gen = torch.Generator().manual_seed(2)
    ds = TensorDataset(torch.arange(10))
    sampler = torch.utils.data.RandomSampler(ds, generator=gen)
    loader = DataLoader(ds, batch_size=5, sampler=sampler, generator=gen)
    state = capture_rng(loader)
    assert len(state["loader"]) == 1  # the same generator reached twice is stored once
    order = [b[0].tolist() for b in loader]
    restore_rng(state, loader)
    assert [b[0].tolist() for b in loader] == order


def test_plain_iterable_has_no_loader_generators():
    assert capture_rng([1, 2, 3])["loader"] == []
    assert capture_rng()["loader"] == []


# -- loading and writing -----------------------------------------------------------------------
def test_missing_file_names_resume_from(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(ALMOValueError, match=r"`resume_from` must name an existing.*nope\.pt"):
        load_checkpoint(missing)
    with pytest.raises(ALMOValueError, match="resume_from"):
        load_checkpoint(tmp_path)  # a folder is not a checkpoint file


def _with_header(body: bytes) -> bytes:
    """A file in almo's layout (header line with a valid digest) around any payload bytes."""
    digest = hashlib.sha256(body).hexdigest()
    return f"ALMO-CHECKPOINT/2 sha256={digest} bytes={len(body)}\n".encode() + body


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        ({"step": 1}, "format None"),
        ({"format": "other/2", "step": 1}, "format 'other/2'"),
        ([1, 2, 3], "format 'list'"),
        (torch.ones(2), "format 'Tensor'"),
    ],
)
def test_foreign_payload_is_refused_with_what_was_found(tmp_path, payload, found):
    # A valid header and digest around a torch file that almo did not write.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = tmp_path / "foreign.pt"
    path.write_bytes(_with_header(buffer.getvalue()))
    with pytest.raises(ALMOValueError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert msg.startswith("`resume_from` must be an almo trainer checkpoint")
    assert FORMAT in msg and f"found {found} in {path}. Fix:" in msg


def test_plain_torch_file_is_not_an_almo_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"format": FORMAT, "step": 1}, path)  # right content, no header or digest
    with pytest.raises(ALMOValueError, match=r"torch\.save file without almo's header"):
        load_checkpoint(path)


def test_save_adds_the_header_the_format_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "c.pt"
    out = save_checkpoint(str(target), {"x": torch.arange(2), "s": "text", "n": [1, {"k": 2.0}]})
    assert out == target and target.is_file()
    header, body = target.read_bytes().split(b"\n", 1)
    digest, size = header.decode().split(" ")[1:]
    assert digest == "sha256=" + hashlib.sha256(body).hexdigest() and size == f"bytes={len(body)}"
    raw = torch.load(io.BytesIO(body), weights_only=True)
    assert raw["format"] == FORMAT and raw["s"] == "text" and raw["n"] == [1, {"k": 2.0}]
    assert os.listdir(target.parent) == ["c.pt"]


def test_save_overwrites_the_previous_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1})
    save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 2
    assert os.listdir(tmp_path) == ["c.pt"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch, error):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1, "w": torch.arange(3.0)})
    before = path.read_bytes()

    def failing_save(obj, f):
        f.write(b"partial")
        raise error

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    with pytest.raises(type(error)):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]
    assert load_checkpoint(path)["step"] == 1


def test_failed_first_write_leaves_no_file(tmp_path, monkeypatch):
    def failing_save(obj, f):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "new.pt", {"step": 1})
    assert os.listdir(tmp_path) == []
