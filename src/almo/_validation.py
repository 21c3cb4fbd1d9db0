"""Input checks shared by every module.

Every message names the argument, the rule it breaks, the value found and a fix, so that a user
can correct the call without reading the source. The error types live in
:mod:`almo.exceptions`; they are imported here too, where the checks raise them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from almo.exceptions import ALMOValueError, NonFiniteLossError


def fail(argument: str, rule: str, found: Any, fix: str) -> ALMOValueError:
    """Build the standard error: ``argument`` must satisfy ``rule``; found ``found``; ``fix``."""
    return ALMOValueError(f"`{argument}` must {rule}; found {_short(found)}. Fix: {fix}")


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=8, precision=6)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_instance(
    name: str, value: Any, kind: type | tuple[type, ...], rule: str, fix: str
) -> None:
    """Raise the standard error unless ``value`` is an instance of ``kind``.

    ``rule`` completes "must ...", e.g. ``"be a WeightRule"``; the value's type name is reported.
    """
    if not isinstance(value, kind):
        raise fail(name, rule, type(value).__name__, fix)


def check_count(name: str, value: Any, fix: str, *, rule: str = "be an integer >= 1") -> int:
    """Return ``int(value)`` after checking it is an integer >= 1 (numpy integers too).

    Bools, floats and strings are refused rather than truncated.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise fail(name, rule, value, fix)
    return int(value)


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` after checking it is finite and > 0 (or >= 0)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise fail(name, "be a real number", value, f"pass a number for `{name}`") from None
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        rule = "be finite and >= 0" if allow_zero else "be finite and > 0"
        raise fail(
            name,
            rule,
            value,
            f"pass a {'non-negative' if allow_zero else 'positive'} finite `{name}`, e.g. 0.1",
        )
    return v


def check_finite_losses(losses: Any, names: list[str] | None = None, *, where: str = "") -> None:
    """Raise :class:`NonFiniteLossError` naming the objectives whose loss is NaN or inf."""
    arr = np.asarray(losses.detach().cpu() if hasattr(losses, "detach") else losses, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad.reshape(-1) if arr.ndim else bad.reshape(1))
        labels = [names[i] if names and i < len(names) else f"objective {i}" for i in idx]
        values = arr.reshape(-1)[idx]
        at = f" at {where}" if where else ""
        raise NonFiniteLossError(
            f"`losses` must be finite{at}; found {values.tolist()} for {labels}. Fix: lower the "
            "learning rate, normalize the objectives, or check the data for NaN/inf."
        )
