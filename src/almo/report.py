"""One vocabulary for results: per-objective values, the penalty, the worst case over Λ and λ*.

Every path that measures a model — :meth:`MinimaxTrainer.evaluate <almo.MinimaxTrainer.evaluate>`,
each epoch record of a training :class:`~almo.History`, and :class:`~almo.LinearSolution` —
returns an :class:`ObjectiveReport`, so any two results compare directly (same names, same
scales, same definitions):

- ``raw[k]``: mean of objective k's per-sample loss over the data;
- ``normalized[k] = raw[k] / scales[k]`` — the ℓ_k the game plays on;
- ``penalty[k]``: the complexity term r_k added to ℓ_k in training (zeros without a penalty);
- ``worst_case = max over λ ∈ Λ of ⟨λ, normalized⟩`` and ``weights`` a maximizing λ*: the
  worst-case objective of the model on this data;
- ``penalized_worst_case = max over λ ∈ Λ of ⟨λ, normalized + penalty⟩``: the training
  objective (equal to ``worst_case`` without a penalty).

Measured on the training data, the worst case says how well the model was optimized; measured
on held-out data, how well it learned.

Examples
--------
>>> import numpy as np
>>> from almo import Simplex
>>> rep = ObjectiveReport.from_values(
...     ["a", "b"], raw=[0.4, 0.9], scales=[1.0, 3.0], mixture_set=Simplex(2)
... )
>>> rep.normalized.tolist(), rep.worst_case, rep.weights.tolist(), rep.worst_objective
([0.4, 0.3], 0.4, [1.0, 0.0], 'a')
>>> ObjectiveReport.from_dict(rep.to_dict()).worst_case
0.4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from almo._validation import fail

__all__ = ["ObjectiveReport"]


def _vector(name: str, value: Any, p: int) -> np.ndarray:
    arr = np.array(value, dtype=np.float64).reshape(-1)
    if arr.shape != (p,):
        raise fail(
            name,
            f"have shape ({p},), one entry per objective",
            arr.shape,
            f"pass {p} values in the order of `names`",
        )
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)  # array fields: compare reports through their values
class ObjectiveReport:
    """Per-objective values of one model on one data set, and its worst case over Λ.

    Attributes
    ----------
    names : tuple of str
        Objective names, in the family's (loss-major) order.
    raw : ndarray (p,)
        Mean per-sample loss of each objective.
    scales : ndarray (p,)
        What each objective is divided by (ones unless normalized).
    penalty : ndarray (p,)
        The complexity term r_k of each objective (zeros without a penalty).
    worst_case : float
        max over λ ∈ Λ of ⟨λ, normalized⟩.
    weights : ndarray (p,)
        λ* attaining ``worst_case``.
    penalized_worst_case : float
        max over λ ∈ Λ of ⟨λ, normalized + penalty⟩.
    counts : ndarray (p,) or None
        Number of samples behind each objective, when known.
    """

    names: tuple[str, ...]
    raw: np.ndarray
    scales: np.ndarray
    penalty: np.ndarray
    worst_case: float
    weights: np.ndarray
    penalized_worst_case: float
    counts: np.ndarray | None = None

    @classmethod
    def from_values(
        cls,
        names: Sequence[str],
        raw: Any,
        scales: Any,
        mixture_set: Any,
        penalty: Any = None,
        counts: Any = None,
    ) -> ObjectiveReport:
        """Build the report of raw values: normalize, add the penalty, take both worst cases.

        ``mixture_set`` is the Λ the worst case runs over (any :class:`~almo.MixtureSet`).
        """
        names = tuple(str(n) for n in names)
        p = len(names)
        raw_v, scale_v = _vector("raw", raw, p), _vector("scales", scales, p)
        pen = _vector("penalty", np.zeros(p) if penalty is None else penalty, p)
        normalized = raw_v / scale_v
        wc = mixture_set.worst_case(normalized)
        weights = _vector("weights", wc.weights, p)
        if pen.any():
            penalized = float(mixture_set.worst_case(normalized + pen).value)
        else:
            penalized = float(wc.value)
        return cls(
            names,
            raw_v,
            scale_v,
            pen,
            float(wc.value),
            weights,
            penalized,
            None if counts is None else _vector("counts", counts, p),
        )

    # -- derived values -----------------------------------------------------------------------
    @property
    def p(self) -> int:
        """Number of objectives."""
        return len(self.names)

    @property
    def normalized(self) -> np.ndarray:
        """``raw / scales``: the loss vector ℓ."""
        return self.raw / self.scales

    @property
    def losses(self) -> np.ndarray:
        """Same as :attr:`normalized` (the loss vector ℓ)."""
        return self.normalized

    @property
    def objective(self) -> np.ndarray:
        """``normalized + penalty``: the vector the training game plays on."""
        return self.normalized + self.penalty

    @property
    def worst_weights(self) -> np.ndarray:
        """Same as :attr:`weights` (λ* of the worst case)."""
        return self.weights

    @property
    def worst_objective(self) -> str:
        """Name of the objective with the largest normalized value."""
        return self.names[int(np.argmax(self.normalized))]

    def value_at(self, weights: Any) -> float:
        """⟨λ, normalized⟩ for a given mixture λ (e.g. a fixed-weight ensemble's)."""
        return float(np.dot(_vector("weights", weights, self.p), self.normalized))

    # -- output -------------------------------------------------------------------------------
    def table(self, digits: int = 4) -> str:
        """A plain-text table: one row per objective (raw, normalized, penalty, λ*).

        Examples
        --------
        >>> from almo import Simplex
        >>> rep = ObjectiveReport.from_values(["a", "b"], [0.4, 0.9], [1.0, 3.0], Simplex(2))
        >>> print(rep.table(digits=2))
        objective  raw normalized penalty   λ*
        a         0.40       0.40    0.00 1.00
        b         0.90       0.30    0.00 0.00
        worst case 0.40 (a)
        """
        width = max(9, *(len(n) for n in self.names))
        cols = [
            ("raw", self.raw),
            ("normalized", self.normalized),
            ("penalty", self.penalty),
            ("λ*", self.weights),
        ]
        size = [max(len(h), digits + 3) for h, _ in cols]
        rows = [
            " ".join(
                [
                    f"{'objective':<{width}}",
                    *(f"{h:>{w}}" for (h, _), w in zip(cols, size, strict=True)),
                ]
            )
        ]
        for k, name in enumerate(self.names):
            cells = (f"{v[k]:>{w}.{digits}f}" for (_, v), w in zip(cols, size, strict=True))
            rows.append(" ".join([f"{name:<{width}}", *cells]))
        rows.append(f"worst case {self.worst_case:.{digits}f} ({self.worst_objective})")
        if self.penalty.any():
            rows.append(f"with penalty {self.penalized_worst_case:.{digits}f}")
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (lists, floats, strings), ready for JSON."""
        return {
            "names": list(self.names),
            "raw": self.raw.tolist(),
            "normalized": self.normalized.tolist(),
            "scales": self.scales.tolist(),
            "penalty": self.penalty.tolist(),
            "worst_case": float(self.worst_case),
            "weights": self.weights.tolist(),
            "penalized_worst_case": float(self.penalized_worst_case),
            "counts": None if self.counts is None else self.counts.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectiveReport:
        """Inverse of :meth:`to_dict`."""
        names = tuple(data["names"])
        p = len(names)
        counts = data.get("counts")
        return cls(
            names,
            _vector("raw", data["raw"], p),
            _vector("scales", data["scales"], p),
            _vector("penalty", data["penalty"], p),
            float(data["worst_case"]),
            _vector("weights", data["weights"], p),
            float(data["penalized_worst_case"]),
            None if counts is None else _vector("counts", counts, p),
        )

    def __repr__(self) -> str:
        return (
            f"ObjectiveReport(p={self.p}, worst_case={self.worst_case:.6g}, "
            f"worst_objective={self.worst_objective!r}, "
            f"penalized_worst_case={self.penalized_worst_case:.6g})"
        )
