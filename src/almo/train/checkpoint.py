"""Checkpoint files and random-number-generator states.

Two guarantees, both needed for "a killed run resumes bitwise identical":

- **Atomic writes.** :func:`save_checkpoint` writes to a temporary file in the target's folder,
  flushes it to disk, then ``os.replace``-s it over the target. A crash (even SIGKILL) before the
  rename leaves the previous checkpoint intact; after it, the new one is complete.
- **No code on load.** :func:`load_checkpoint` uses ``torch.load(weights_only=True)``: only
  tensors and plain containers are accepted, never pickled objects. Everything the trainer
  stores is therefore converted to tensors, numbers, strings, lists and dicts first
  (:func:`to_plain` / :func:`from_plain` for numpy arrays, :func:`capture_rng` for RNG states).
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from almo._validation import fail

__all__ = [
    "capture_rng",
    "from_plain",
    "load_checkpoint",
    "restore_rng",
    "save_checkpoint",
    "to_plain",
]

FORMAT = "almo.train.checkpoint/1"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : str or Path
        Target file; its folder is created if missing.
    payload : dict
        Tensors and plain values only (see :func:`to_plain`).

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile, torch
    >>> d = tempfile.mkdtemp()
    >>> f = save_checkpoint(d + "/run.pt", {"w": torch.ones(2)})
    >>> load_checkpoint(f)["w"].tolist()
    [1.0, 1.0]
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        # An exception (not a kill) mid-write: remove the partial file, keep the old checkpoint.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable (a power cut could otherwise revert it).
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` without executing pickled code.

    Examples
    --------
    >>> import tempfile, torch
    >>> f = save_checkpoint(tempfile.mkdtemp() + "/c.pt", {"step": 3})
    >>> load_checkpoint(f)["step"]
    3
    """
    target = Path(path)
    if not target.is_file():
        raise fail(
            "resume_from",
            "name an existing checkpoint file",
            str(path),
            "pass the path a Checkpoint callback or trainer.save_checkpoint wrote",
        )
    payload = torch.load(target, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise fail(
            "resume_from",
            f"be an almo trainer checkpoint (format {FORMAT!r})",
            found,
            "pass a file written by MinimaxTrainer.save_checkpoint",
        )
    return payload


def to_plain(value: Any) -> Any:
    """Recursively turn numpy arrays into tagged tensors so ``weights_only`` loading accepts them.

    Examples
    --------
    >>> import numpy as np
    >>> back = from_plain(to_plain({"a": np.arange(3.0), "b": [np.int64(2)], "c": np.array(5)}))
    >>> back["a"].dtype, back["b"], back["c"].shape
    (dtype('float64'), [2], ())
    """
    if isinstance(value, np.ndarray):
        return {
            "__ndarray__": torch.from_numpy(np.array(value, order="C", copy=True)),
            "dtype": str(value.dtype),
        }
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def from_plain(value: Any) -> Any:
    """Inverse of :func:`to_plain`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy().astype(value["dtype"], copy=True)
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value


def _loader_generators(loader: Any) -> list[torch.Generator]:
    """The torch generators a DataLoader draws its shuffling from, if any (deduplicated)."""
    found: list[torch.Generator] = []
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = [
        getattr(loader, "generator", None),
        getattr(sampler, "generator", None),
        getattr(getattr(batch_sampler, "sampler", None), "generator", None),
    ]
    for gen in candidates:
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def capture_rng(loader: Any = None) -> dict[str, Any]:
    """States of the torch (CPU and CUDA), numpy and Python generators, as tensors and numbers.

    Generators attached to ``loader`` (``DataLoader(generator=...)`` or a sampler's own) are
    included, so the shuffling order can be replayed on resume.

    Examples
    --------
    >>> import torch
    >>> state = capture_rng()
    >>> a = torch.rand(2)
    >>> restore_rng(state)
    >>> torch.equal(a, torch.rand(2))
    True
    """
    # The legacy global numpy generator is the one user code and libraries draw from.
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    version, py_state, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "loader": [g.get_state() for g in _loader_generators(loader)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any], loader: Any = None) -> None:
    """Put back the generator states captured by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    legacy = ("MT19937", keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    np.random.set_state(legacy)  # noqa: NPY002
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    for gen, saved in zip(_loader_generators(loader), state.get("loader", []), strict=False):
        gen.set_state(saved.cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
