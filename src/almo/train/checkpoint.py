"""Checkpoint files and random-number-generator states.

Four guarantees, needed for "a killed run resumes bitwise identical" and for "a damaged file
never loads silently":

- **Atomic writes.** :func:`save_checkpoint` writes to a temporary file in the target's folder
  (``.<name>.<random>.tmp``), flushes it to disk, then ``os.replace``-s it over the target. A
  crash (even SIGKILL) before the rename leaves the previous checkpoint intact; after it, the
  new one is complete. Temporary files a killed writer left behind are removed by the next
  save and the next load of the same checkpoint (never those of other checkpoints, nor one a
  live process is still writing: the writer holds a lock on it where the system has ``flock``).
- **Verified content.** The file is one header line, ``ALMO-CHECKPOINT/2 sha256=<hex>
  bytes=<n>``, then the payload as :func:`torch.save` writes it. :func:`load_checkpoint`
  checks the length and the SHA-256 digest before reading anything, so a truncated file or a
  single flipped bit anywhere is reported as corrupted instead of loading.
- **No code on load.** The payload is read with ``torch.load(weights_only=True)``: only tensors
  and plain containers are accepted, never pickled objects. Everything the trainer stores is
  therefore converted to tensors, numbers, strings, lists and dicts first (:func:`to_plain` /
  :func:`from_plain` for numpy arrays, :func:`capture_rng` for RNG states), and
  :func:`from_plain` accepts only the numeric dtypes :func:`to_plain` writes.
- **Clear errors.** A path that cannot hold a file (``""``, a folder, a path under a regular
  file) fails with the argument named; an empty file, random bytes, a pickle, a truncated or
  altered file each fails with the path, what was found and what to do.

Runs are bitwise reproducible on resume only with the same number of torch threads (torch's CPU
kernels split reductions by thread); the trainer stores the count and
:func:`check_thread_count` warns with :class:`ReproducibilityWarning` when it differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from almo._validation import fail
from almo.exceptions import ALMOValueError, ReproducibilityWarning

try:  # POSIX: a writer locks its temporary file so that cleanup never removes a live one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ReproducibilityWarning",
    "capture_rng",
    "check_checkpoint_path",
    "check_model_state",
    "check_thread_count",
    "from_plain",
    "load_checkpoint",
    "made_for_another_run",
    "remove_stale_temporaries",
    "restore_rng",
    "save_checkpoint",
    "to_plain",
    "trainer_config",
]

FORMAT = "almo.train.checkpoint/2"
#: The first bytes of every checkpoint file; the header line ends with b"\n".
MAGIC = b"ALMO-CHECKPOINT/"
VERSION = 2
_HEADER = re.compile(rb"ALMO-CHECKPOINT/2 sha256=([0-9a-f]{64}) bytes=([0-9]{1,20})\n")
_HEADER_MAX = 128
#: The numpy dtypes :func:`to_plain` writes and :func:`from_plain` accepts (no object, string,
#: complex or structured arrays: nothing whose conversion could run code or allocate unbounded
#: memory).
DTYPES = frozenset(
    ["bool", "float16", "float32", "float64"]
    + [f"{kind}int{bits}" for kind in ("", "u") for bits in (8, 16, 32, 64)]
)
_FIX_LOAD = (
    "pass a file written by MinimaxTrainer.save_checkpoint or a Checkpoint callback; a damaged "
    "file cannot be repaired: resume from an older copy or restart the run"
)


def _path_error(argument: str, rule: str, found: str, fix: str) -> ALMOValueError:
    # The standard message shape, with the text found given in full: paths are never cut.
    return ALMOValueError(f"`{argument}` must {rule}; found {found}. Fix: {fix}")


def check_checkpoint_path(path: Any, argument: str = "path") -> Path:
    """Return ``Path(path)`` after checking that a checkpoint file can live there.

    Refuses ``""``, a path naming a folder, and a path under a regular file, with ``argument``
    named. Folders that do not exist yet are fine (:func:`save_checkpoint` creates them).

    Examples
    --------
    >>> import tempfile
    >>> check_checkpoint_path(tempfile.mkdtemp() + "/runs/run.pt").name
    'run.pt'
    >>> try:
    ...     check_checkpoint_path("")
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    `path` must name a checkpoint file
    """
    if not isinstance(path, (str, os.PathLike)):
        raise fail(argument, "be a str or Path", type(path).__name__, "pass e.g. 'runs/run.pt'")
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise fail(argument, "name a checkpoint file", text, "pass e.g. 'runs/run.pt'")
    target = Path(text)
    if text.endswith((os.sep, "/")) or target.is_dir():
        raise _path_error(
            argument,
            "name a checkpoint file, not a folder",
            text,
            f"pass a file inside it, e.g. {str(target / 'run.pt')!r}",
        )
    for parent in target.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise _path_error(
                    argument,
                    "lie in a folder",
                    f"{text} (its parent {parent} is a regular file)",
                    "choose a path whose parents are folders, e.g. next to that file",
                )
            break
    return target


def _temporary_pattern(target: Path) -> re.Pattern[str]:
    # ".<name>.<random>.tmp" with a random part free of dots: a checkpoint "run.pt.bak" writes
    # ".run.pt.bak.<random>.tmp", which this pattern for "run.pt" does not match.
    return re.compile(re.escape(f".{target.name}.") + r"[^.]+\.tmp")


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files a killed writer of the checkpoint ``path`` left behind.

    Only files named ``.<name>.<random>.tmp`` next to ``path`` are considered, and a file whose
    writer is still alive (it holds a lock on it) is kept. Returns the removed files.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".run.pt.k1ll3d.tmp").write_bytes(b"partial")
    >>> _ = (d / ".other.pt.x.tmp").write_bytes(b"not ours")
    >>> [p.name for p in remove_stale_temporaries(d / "run.pt")]
    ['.run.pt.k1ll3d.tmp']
    >>> sorted(p.name for p in d.iterdir())
    ['.other.pt.x.tmp']
    """
    target = Path(path)
    pattern = _temporary_pattern(target)
    removed: list[Path] = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in sorted(names):
        if not pattern.fullmatch(name):
            continue
        candidate = target.parent / name
        with contextlib.suppress(OSError):
            fd = os.open(candidate, os.O_RDONLY)
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a live writer holds it
                if os.path.isfile(candidate):
                    os.unlink(candidate)
                    removed.append(candidate)
            finally:
                os.close(fd)
    return removed


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename), with a checksum.

    Parameters
    ----------
    path : str or Path
        Target file; its folder is created if missing. Stale temporary files of the same
        checkpoint (left by a killed write) are removed first.
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
    >>> f.read_bytes()[:25]
    b'ALMO-CHECKPOINT/2 sha256='
    >>> load_checkpoint(f)["w"].tolist()
    [1.0, 1.0]
    """
    target = check_checkpoint_path(path)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    body = buffer.getbuffer()
    digest = hashlib.sha256(body).hexdigest()
    header = f"ALMO-CHECKPOINT/{VERSION} sha256={digest} bytes={body.nbytes}\n".encode()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _path_error(
            "path",
            "be a location where a file can be written",
            f"{path} ({err.strerror or err})",
            "choose a folder you can write to",
        ) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
            handle.write(header)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, target)
    except BaseException:
        # An exception (not a kill) mid-write: remove the partial file, keep the old checkpoint.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        body.release()
    # Make the rename itself durable (a power cut could otherwise revert it).
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target


def _refuse(path: Any, rule: str, found: str) -> ALMOValueError:
    return _path_error("resume_from", rule, f"{found} in {os.fspath(path)}", _FIX_LOAD)


def _describe_foreign(data: bytes) -> str:
    if not data:
        return "an empty file (0 bytes)"
    if data.startswith(b"PK\x03\x04"):
        return "a torch.save file without almo's header (not an almo checkpoint of format 2)"
    if data.startswith(b"\x80"):
        return "a Python pickle (not an almo checkpoint)"
    return f"{len(data)} bytes starting {data[:16]!r} (not an almo checkpoint)"


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`: verified, without running code.

    The header's length and SHA-256 digest are checked before the payload is read, then the
    payload is loaded with ``torch.load(weights_only=True)``. Stale temporary files of the same
    checkpoint are removed (see :func:`remove_stale_temporaries`).

    Raises
    ------
    ALMOValueError
        Naming ``resume_from`` and the path: a missing file, a file that is not an almo
        checkpoint (empty, random bytes, a pickle, a plain ``torch.save`` file), a truncated or
        corrupted one (its digest does not match), or one holding more than tensors and plain
        values.

    Examples
    --------
    >>> import tempfile, torch
    >>> f = save_checkpoint(tempfile.mkdtemp() + "/c.pt", {"step": 3})
    >>> load_checkpoint(f)["step"]
    3
    >>> data = bytearray(f.read_bytes())
    >>> data[-10] ^= 1  # one bit flipped
    >>> _ = f.write_bytes(bytes(data))
    >>> try:
    ...     load_checkpoint(f)
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    `resume_from` must be an intact almo checkpoint
    """
    target = Path(path) if isinstance(path, (str, os.PathLike)) else None
    if target is None or not os.fspath(target) or not target.is_file():
        raise _path_error(
            "resume_from",
            "name an existing checkpoint file",
            repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else repr(path),
            "pass the path a Checkpoint callback or trainer.save_checkpoint wrote",
        )
    remove_stale_temporaries(target)
    try:
        data = target.read_bytes()
    except OSError as err:
        raise _path_error(
            "resume_from",
            "be a readable file",
            f"{path} ({err.strerror or err})",
            "check the file's permissions",
        ) from err
    if not data.startswith(MAGIC):
        raise _refuse(path, "be an almo checkpoint", _describe_foreign(data))
    end = data.find(b"\n", 0, _HEADER_MAX)
    match = _HEADER.fullmatch(data[: end + 1]) if end >= 0 else None
    if match is None:
        version = data[len(MAGIC) : len(MAGIC) + 8].split(b" ")[0]
        if version != str(VERSION).encode() and re.fullmatch(rb"[0-9]+", version):
            raise _refuse(
                path,
                f"be an almo checkpoint of format {VERSION}",
                f"format {version.decode()} (another almo version)",
            )
        raise _refuse(path, "be an intact almo checkpoint", "a corrupted header line")
    digest, size = match.group(1).decode(), int(match.group(2))
    body = memoryview(data)[end + 1 :]
    if body.nbytes != size:
        what = "truncated" if body.nbytes < size else "longer than written"
        raise _refuse(
            path,
            "be an intact almo checkpoint",
            f"a corrupted file: {what}, {body.nbytes} of {size} payload bytes",
        )
    if hashlib.sha256(body).hexdigest() != digest:
        raise _refuse(
            path,
            "be an intact almo checkpoint",
            "a corrupted file: its SHA-256 does not match the one written with it",
        )
    try:
        payload = torch.load(io.BytesIO(body), map_location=map_location, weights_only=True)
    except Exception as err:  # every refusal (unpickling, a torn zip record) reads the same
        text = str(err).strip()
        first = text.splitlines()[0][:160] if text else type(err).__name__
        raise _refuse(
            path,
            "hold only tensors and plain values",
            f"content torch refused ({type(err).__name__}: {first})",
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise _refuse(
            path, f"be an almo trainer checkpoint (format {FORMAT!r})", f"format {found!r}"
        )
    _check_arrays(payload, path)  # before any array is built: no object, complex or huge dtype
    return payload


#: What a trainer checkpoint holds (MinimaxTrainer.save_checkpoint writes each of them).
TRAINER_SECTIONS = (
    "config",
    "model",
    "optimizer",
    "weights",
    "run",
    "family",
    "history",
    "rng",
    "callbacks",
)


def trainer_config(checkpoint: dict[str, Any], path: Any) -> dict[str, Any]:
    """The saved trainer configuration, after checking every section of a trainer checkpoint.

    Examples
    --------
    >>> try:
    ...     trainer_config({"format": FORMAT, "step": 3}, "c.pt")
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    `resume_from` must be a MinimaxTrainer checkpoint
    """
    missing = [k for k in TRAINER_SECTIONS if k not in checkpoint]
    if missing:
        raise _refuse(
            path,
            "be a MinimaxTrainer checkpoint",
            f"an almo file without the trainer's sections {missing} (not a trainer checkpoint)",
        )
    try:
        config = json.loads(checkpoint["config"])
    except (TypeError, ValueError) as err:
        raise _refuse(
            path, "be an intact MinimaxTrainer checkpoint", "an unreadable config"
        ) from err
    if not isinstance(config, dict):
        raise _refuse(
            path, "be an intact MinimaxTrainer checkpoint", f"a config of type {type(config)}"
        )
    return config


def check_model_state(model: torch.nn.Module, state: Any, path: Any) -> None:
    """Refuse a checkpoint whose model parameters do not fit ``model`` (names and shapes).

    Examples
    --------
    >>> import torch
    >>> check_model_state(torch.nn.Linear(3, 2), torch.nn.Linear(3, 2).state_dict(), "c.pt")
    >>> try:
    ...     check_model_state(torch.nn.Linear(3, 2), torch.nn.Linear(4, 2).state_dict(), "c.pt")
    ... except ValueError as err:
    ...     print(str(err).split("; found")[1].split(" in c.pt")[0])
    parameters of another model: weight has shape (2, 4) in the file, (2, 3) in the model
    """
    ours = model.state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise _refuse(path, "hold the model's parameters", "a model entry that is not a state dict")
    problems = [f"{k} is missing" for k in ours if k not in state]
    problems += [f"{k} is not in the model" for k in state if k not in ours]
    problems += [
        f"{k} has shape {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in ours.items()
        if k in state and state[k].shape != v.shape
    ]
    if problems:
        listed = "; ".join(problems[:3]) + (
            f" (and {len(problems) - 3} more)" * (len(problems) > 3)
        )
        raise _path_error(
            "resume_from",
            f"hold parameters for this model ({type(model).__name__})",
            f"parameters of another model: {listed} in {os.fspath(path)}",
            "resume with the model architecture the checkpoint was made for, or restart the run",
        )


def made_for_another_run(path: Any, part: str, err: BaseException) -> ALMOValueError:
    """The error for a verified checkpoint whose ``part`` does not fit this trainer."""
    text = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
    return _path_error(
        "resume_from",
        f"be made for this trainer's {part}",
        f"a {part} state that does not fit ({type(err).__name__}: {text}) in {os.fspath(path)}",
        "resume with the model, optimizer and settings the checkpoint was made for, or "
        "restart the run",
    )


def check_thread_count(checkpoint: dict[str, Any], path: Any) -> None:
    """Warn when the checkpoint was written with another torch thread count than the current.

    Torch's CPU kernels split reductions by thread, so a run resumed with another count
    differs from an uninterrupted one by rounding (about 1e-8), not bitwise.

    Examples
    --------
    >>> import torch, warnings
    >>> check_thread_count({"threads": torch.get_num_threads()}, "run.pt")  # silent
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_thread_count({"threads": torch.get_num_threads() + 1}, "run.pt")
    >>> caught[0].category.__name__
    'ReproducibilityWarning'
    """
    saved, now = checkpoint.get("threads"), torch.get_num_threads()
    if isinstance(saved, int) and saved != now:
        warnings.warn(
            f"{os.fspath(path)} was written with torch.get_num_threads() = {saved}, this "
            f"process uses {now}: the resumed run will differ from an uninterrupted one by "
            f"rounding. Call torch.set_num_threads({saved}) before resuming for a bitwise "
            "identical run",
            ReproducibilityWarning,
            stacklevel=4,  # the caller of fit (through MinimaxTrainer._load)
        )


def to_plain(value: Any) -> Any:
    """Recursively turn numpy arrays into tagged tensors so ``weights_only`` loading accepts them.

    Arrays must hold one of the numeric dtypes in ``DTYPES`` (booleans, integers, floats).

    Examples
    --------
    >>> import numpy as np
    >>> back = from_plain(to_plain({"a": np.arange(3.0), "b": [np.int64(2)], "c": np.array(5)}))
    >>> back["a"].dtype, back["b"], back["c"].shape
    (dtype('float64'), [2], ())
    """
    if isinstance(value, np.ndarray):
        if str(value.dtype) not in DTYPES:
            raise fail(
                "payload",
                "hold numpy arrays of a boolean, integer or float dtype",
                str(value.dtype),
                "convert the array to a numeric dtype before checkpointing it",
            )
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
    """Inverse of :func:`to_plain`; refuses any array dtype :func:`to_plain` does not write.

    Examples
    --------
    >>> import torch
    >>> try:
    ...     from_plain({"__ndarray__": torch.zeros(1), "dtype": "U100000000"})
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    `resume_from` must store arrays of the dtypes almo writes
    """
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _array(value)
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value


def _array(tagged: dict[str, Any]) -> np.ndarray:
    problem = _tag_problem(tagged)
    if problem is not None:
        raise fail("resume_from", problem[0], problem[1], _FIX_DTYPE)
    return tagged["__ndarray__"].cpu().numpy().copy()


_FIX_DTYPE = f"pass a checkpoint almo wrote (arrays of {', '.join(sorted(DTYPES))})"


def _tag_problem(tagged: dict[str, Any]) -> tuple[str, str] | None:
    """(rule, found) when a tagged array is not one :func:`to_plain` writes, else None."""
    tensor, dtype = tagged.get("__ndarray__"), tagged.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        found = repr(dtype) if isinstance(dtype, str) else type(dtype).__name__
        return "store arrays of the dtypes almo writes", f"an array tagged {found}"
    # The stored tensor's dtype must be the one its tag names: nothing is converted on load.
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != _TORCH_DTYPES[dtype]:
        found = str(tensor.dtype) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        return f"store a {dtype} tensor for an array tagged {dtype}", f"a {found} tensor"
    return None


def _check_arrays(value: Any, path: Any) -> None:
    """Refuse, naming the path, any tagged array :func:`from_plain` would refuse."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            problem = _tag_problem(value)
            if problem is not None:
                raise _path_error(
                    "resume_from",
                    problem[0],
                    f"{problem[1]} in {os.fspath(path)}",
                    _FIX_DTYPE,
                )
            return
        for v in value.values():
            _check_arrays(v, path)
    elif isinstance(value, list):
        for v in value:
            _check_arrays(v, path)


_TORCH_DTYPES = {name: torch.from_numpy(np.zeros(0, name)).dtype for name in DTYPES}


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
