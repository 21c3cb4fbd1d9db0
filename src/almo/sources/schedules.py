"""Schedules for the true-data fraction α_t and the sample size n_t of each generation.

A schedule turns a generation index t = 0, 1, ..., T into a value. Generation 0 is always fitted
on true data alone, so α_0 is never used; n_0 is its sample size. Any of these is accepted where
the simulator asks for a schedule (see :func:`as_schedule`):

- a number: the constant schedule;
- a :class:`Schedule` (:func:`constant`, :func:`power_law`, :func:`geometric`);
- a callable ``f(t) -> value`` (called on each generation index);
- a sequence of T + 1 values, one per generation 0..T.

Values are checked when the schedule is evaluated for a run of T generations: α_t must lie in
[0, 1], n_t must be an integer >= 1 (power laws and geometric schedules are rounded to the
nearest integer first).

Examples
--------
>>> from almo.sources import power_law, as_schedule
>>> power_law(0.5, -0.5).values(3).round(4).tolist()
[0.5, 0.3536, 0.2887, 0.25]
>>> as_schedule([1.0, 0.5, 0.2], "alpha").values(2).tolist()
[1.0, 0.5, 0.2]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from almo._validation import check_integer, check_number, fail

__all__ = [
    "Schedule",
    "ScheduleLike",
    "alpha_values",
    "as_schedule",
    "constant",
    "geometric",
    "n_values",
    "power_law",
]


@dataclass(frozen=True)
class Schedule:
    """A value per generation, ``values(T) -> np.ndarray`` of shape (T + 1,).

    Parameters
    ----------
    fn : callable
        ``fn(t)`` with ``t`` an integer array of generation indices 0..T, returning the values.
    label : str
        A short description used in reprs and plot legends.

    Examples
    --------
    >>> Schedule(lambda t: 0.1 + 0 * t, "0.1").values(2).tolist()
    [0.1, 0.1, 0.1]
    """

    fn: Callable[[np.ndarray], np.ndarray]
    label: str

    def values(self, generations: int) -> np.ndarray:
        """The values for generations 0..``generations`` (float64, shape (generations + 1,)).

        ``fn`` may return one value per generation or a single value (used for all of them);
        anything else is refused by name rather than left to numpy's broadcasting.

        Examples
        --------
        >>> Schedule(lambda t: 2.0, "two").values(2).tolist()
        [2.0, 2.0, 2.0]
        """
        generations = check_integer("generations", generations, "pass e.g. generations=50", low=0)
        t = np.arange(generations + 1)
        fix = (
            "make fn map the array t = 0..T of generation indices to an array of the same "
            "shape, e.g. Schedule(lambda t: 0.5 / (t + 1), '0.5/(t+1)')"
        )
        raw = self.fn(t)
        try:
            out = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise fail("fn", f"return numbers (schedule {self.label!r})", raw, fix) from None
        if out.shape not in ((), (1,), t.shape):
            raise fail(
                "fn",
                f"return one value per generation 0..{generations}, shape {t.shape}, or a "
                f"single value (schedule {self.label!r})",
                out.shape,
                fix,
            )
        return np.broadcast_to(out, t.shape).astype(float)

    def __repr__(self) -> str:
        return f"Schedule({self.label})"


def constant(value: float) -> Schedule:
    """The constant schedule ``value`` at every generation.

    Examples
    --------
    >>> constant(0.2).values(2).tolist()
    [0.2, 0.2, 0.2]
    """
    v = check_number("value", value, "pass a number, e.g. constant(0.2)")
    return Schedule(lambda t: np.full(t.shape, v), f"{v:g}")


def power_law(scale: float, exponent: float, offset: float = 1.0) -> Schedule:
    """The power law ``scale · (t + offset)^exponent``.

    The default ``offset = 1`` keeps generation 0 defined for negative exponents and for
    n_t ∝ t: ``power_law(100, 1)`` gives n = 100, 200, 300, ...

    Examples
    --------
    >>> power_law(100, 1.0).values(3).tolist()
    [100.0, 200.0, 300.0, 400.0]
    """
    c = check_number("scale", scale, "pass a number, e.g. power_law(0.5, -0.5)")
    a = check_number("exponent", exponent, "pass a number, e.g. power_law(0.5, -0.5)")
    o = check_number("offset", offset, "keep the default offset=1")
    if o <= 0 and a < 0:
        raise fail(
            "offset",
            "be > 0 when the exponent is negative",
            offset,
            "keep the default offset=1 so that generation 0 is defined",
        )
    return Schedule(lambda t: c * (t + o) ** a, f"{c:g}·(t+{o:g})^{a:g}")


def geometric(scale: float, ratio: float) -> Schedule:
    """The geometric schedule ``scale · ratio^t``.

    Examples
    --------
    >>> geometric(0.8, 0.5).values(3).tolist()
    [0.8, 0.4, 0.2, 0.1]
    """
    c = check_number("scale", scale, "pass a number, e.g. geometric(0.8, 0.5)")
    r = check_number("ratio", ratio, "pass a number, e.g. geometric(0.8, 0.5)")
    return Schedule(lambda t: c * r ** t.astype(float), f"{c:g}·{r:g}^t")


ScheduleLike = float | int | Schedule | Callable[[int], float] | Sequence[float] | np.ndarray


def as_schedule(spec: ScheduleLike, name: str = "schedule") -> Schedule:
    """Turn a number, :class:`Schedule`, callable or sequence into a :class:`Schedule`.

    A sequence must hold one value per generation 0..T; its length is checked when the schedule
    is evaluated. A callable is called with each generation index (a Python int).

    Examples
    --------
    >>> as_schedule(0.3).values(1).tolist()
    [0.3, 0.3]
    >>> as_schedule(lambda t: 1 / (t + 1)).values(2).round(3).tolist()
    [1.0, 0.5, 0.333]
    """
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        # Not constant(): a NaN or out-of-range number is reported under `name`, with the
        # generation, when the schedule is evaluated.
        v = float(spec)
        return Schedule(lambda t: np.full(t.shape, v), f"{v:g}")
    if callable(spec):
        f = spec

        def from_callable(t: np.ndarray) -> np.ndarray:
            out = np.empty(len(t))
            for j, i in enumerate(t):
                value = f(int(i))
                try:
                    # Strings are refused even when they parse: "0.1" is a caller's mistake.
                    if isinstance(value, (str, bytes)):
                        raise TypeError
                    out[j] = float(value)
                except (TypeError, ValueError):
                    raise fail(
                        name,
                        "return a number at every generation (when given as a callable)",
                        f"{value!r} at generation {int(i)}",
                        "make the callable return a float for each generation index",
                    ) from None
            return out

        return Schedule(from_callable, getattr(f, "__name__", "callable"))
    if isinstance(spec, (str, bytes)):
        raise fail(
            name,
            "be a number, a Schedule, a callable or a sequence of numbers",
            spec,
            "pass e.g. 0.2, power_law(0.5, -0.5) or a list with one value per generation",
        )
    try:
        arr = np.asarray(spec, dtype=float)
    except (TypeError, ValueError):
        raise fail(
            name,
            "be a number, a Schedule, a callable or a sequence of numbers",
            spec,
            "pass e.g. 0.2, power_law(0.5, -0.5) or a list of numbers",
        ) from None
    if arr.ndim != 1:
        raise fail(
            name,
            "be one-dimensional when given as a sequence",
            arr,
            "pass one value per generation 0..T",
        )
    values = arr.copy()

    def from_sequence(t: np.ndarray) -> np.ndarray:
        if len(values) != len(t):
            raise fail(
                name,
                f"hold one value per generation 0..{len(t) - 1} (length {len(t)})",
                f"a sequence of length {len(values)}",
                f"pass {len(t)} values or change `generations` to {len(values) - 1}",
            )
        return values

    return Schedule(from_sequence, "sequence")


def alpha_values(spec: ScheduleLike, generations: int, name: str = "alpha") -> np.ndarray:
    """Evaluate an α schedule for generations 0..T and check every value is in [0, 1].

    Examples
    --------
    >>> alpha_values(0.25, 2).tolist()
    [0.25, 0.25, 0.25]
    """
    return _checked(spec, generations, name, "alpha")


def n_values(spec: ScheduleLike, generations: int, name: str = "n") -> np.ndarray:
    """Evaluate a sample-size schedule for generations 0..T: rounded integers >= 1 (int64).

    Examples
    --------
    >>> n_values(power_law(10, 1.0), 3).tolist()
    [10, 20, 30, 40]
    """
    return _checked(spec, generations, name, "n").astype(np.int64)


def _checked(
    spec: ScheduleLike, generations: int, name: str, kind: Literal["alpha", "n"]
) -> np.ndarray:
    generations = check_integer("generations", generations, "pass e.g. generations=50", low=0)
    values = as_schedule(spec, name).values(generations)
    bad = ~np.isfinite(values)
    if kind == "alpha":
        bad |= (values < 0) | (values > 1)
        if bad.any():
            t = int(np.flatnonzero(bad)[0])
            raise fail(
                name,
                "lie in [0, 1] at every generation (a fraction of true data)",
                f"{values[t]!r} at generation {t}",
                "clip the schedule, e.g. power_law(0.5, -0.5) stays in [0, 0.5]",
            )
        return values
    rounded = np.rint(np.where(bad, 0, values))
    bad |= rounded < 1
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        raise fail(
            name,
            "be a sample size >= 1 at every generation (after rounding)",
            f"{values[t]!r} at generation {t}",
            "use a positive scale, e.g. power_law(100, 1.0) for n_t = 100·(t+1)",
        )
    return rounded
