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


def _number_rule(
    low: float | None, high: float | None, low_open: bool, high_open: bool, integer: bool
) -> str:
    kind = "an integer" if integer else "a finite number"
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return f"be {kind} in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"be {kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"be {kind} {'<' if high_open else '<='} {high:g}"
    return f"be {kind}"


def check_number(
    name: str,
    value: Any,
    fix: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``float(value)`` after checking it is a finite real number within the bounds.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``. Strings, bools, None and
    other non-numbers are refused with the same message shape as a value out of range, so a
    caller never sees a bare ``float()`` error.

    Examples
    --------
    >>> check_number("temperature", 0.5, "pass 1.0", low=0, low_open=True)
    0.5
    >>> check_number("temperature", "hot", "pass 1.0", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `temperature` must be a finite number > 0; found 'hot'...
    """
    rule = _number_rule(low, high, low_open, high_open, integer=False)
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise fail(name, rule, value, fix)
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise fail(name, rule, value, fix) from None
    ok = bool(np.isfinite(v))
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise fail(name, rule, value, fix)
    return v


def check_integer(
    name: str, value: Any, fix: str, *, low: int | None = 1, high: int | None = None
) -> int:
    """Return ``int(value)`` after checking it is a whole number within ``[low, high]``.

    Integral floats such as ``3.0`` are taken as the integer; fractions, NaN, strings, bools
    and None are refused (never truncated).

    Examples
    --------
    >>> check_integer("vocab", 3.0, "pass e.g. vocab=1000")
    3
    >>> check_integer("vocab", None, "pass e.g. vocab=1000")
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `vocab` must be an integer >= 1; found None. Fix: ...
    """
    rule = _number_rule(low, high, False, False, integer=True)
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise fail(name, rule, value, fix)
    try:
        as_float = float(value)
        whole = bool(np.isfinite(as_float)) and as_float == int(as_float)
    except (TypeError, ValueError, OverflowError):
        raise fail(name, rule, value, fix) from None
    if not whole:
        raise fail(name, rule, value, fix)
    v = int(value) if isinstance(value, (int, np.integer)) else int(as_float)
    if (low is not None and v < low) or (high is not None and v > high):
        raise fail(name, rule, value, fix)
    return v
