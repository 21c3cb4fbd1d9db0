"""The fixed-weight ensembles ALMO is compared with: uniform λ, each objective alone, a sweep.

:func:`fixed_arms` turns a ``fixed`` specification into the list of :class:`Arm` every model
family trains — ALMO first, then the uniform mixture, each single objective, and the rest of
the sweep: the points of the simplex lattice with denominator R (``"grid:R"``) or K draws of a
flat Dirichlet (``"dirichlet:K"``, drawn once from a fixed seed so every seed of a comparison
trains the same λ), or λ given as an array.

Examples
--------
>>> [a.name for a in fixed_arms(["a", "b"], "grid:2")]
['ALMO', 'uniform', 'only a', 'only b']
>>> [a.name for a in fixed_arms(["a", "b"], "grid:4")]
['ALMO', 'uniform', 'only a', 'only b', 'λ=(0.75, 0.25)', 'λ=(0.25, 0.75)']
>>> simplex_lattice(3, 2).tolist()  # doctest: +NORMALIZE_WHITESPACE
[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5],
 [0.0, 1.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from almo._validation import fail
from almo.comparison.report import Arm

__all__ = ["SWEEP_SEED", "check_fixed", "describe_fixed", "fixed_arms", "simplex_lattice"]

#: Seed of the Dirichlet sweep: the same λ for every seed of a comparison.
SWEEP_SEED = 20240601
#: Largest lattice a grid sweep may have (the number of models to train grows as C(R+p-1, p-1)).
MAX_GRID = 200
_FIX = "pass e.g. 'grid:3', 'dirichlet:8', 'auto', or an array of shape (K, p)"


def simplex_lattice(p: int, resolution: int) -> np.ndarray:
    """All λ in the simplex whose entries are multiples of 1/``resolution``, shape (K, p).

    K = C(resolution + p - 1, p - 1); rows in lexicographic order of decreasing λ_1.
    """
    rows = []
    for combo in combinations_with_replacement(range(p), resolution):
        rows.append(np.bincount(np.array(combo, dtype=np.int64), minlength=p) / resolution)
    return np.array(rows, dtype=np.float64).reshape(-1, p)


def _parse(
    fixed: Any, p: int, name: str = "fixed", fix: str = _FIX
) -> tuple[str, int | np.ndarray]:
    if isinstance(fixed, str):
        kind, _, count = fixed.partition(":")
        if kind == "auto" and not count:
            return ("grid", 3) if p <= 3 else ("dirichlet", 4)
        if kind in ("grid", "dirichlet"):
            default = 3 if kind == "grid" else 4
            try:
                n = int(count) if count else default
            except ValueError:
                n = -1
            if n < (1 if kind == "grid" else 0):
                raise fail(name, f"give a whole count after '{kind}:'", fixed, fix)
            return kind, n
        raise fail(name, "be 'auto', 'grid[:R]', 'dirichlet[:K]' or an array", fixed, fix)
    arr = np.asarray(fixed, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != p:
        raise fail(name, f"have shape (K, {p}), one λ per row", arr.shape, fix)
    ok = np.all(arr >= -1e-12) and np.allclose(arr.sum(axis=1), 1.0, atol=1e-9)
    if not ok or not np.all(np.isfinite(arr)):
        raise fail(name, "hold rows in the simplex (≥ 0, summing to 1)", arr, fix)
    return "array", np.clip(arr, 0.0, None)


def check_fixed(
    fixed: Any,
    p: int,
    *,
    name: str = "fixed",
    fix: str = _FIX,
    fix_large: str = "pass 'dirichlet:K' for many objectives, e.g. 'dirichlet:8'",
) -> tuple[str, int | np.ndarray]:
    """Check a ``fixed`` specification for ``p`` objectives before anything is trained.

    Returns ``(kind, count or λ array)``; a bad specification, or a lattice of more than
    :data:`MAX_GRID` points, raises the standard error naming ``name`` with the fix ``fix``
    (``fix_large`` for a lattice too large).

    Examples
    --------
    >>> check_fixed("auto", 3), check_fixed("dirichlet:8", 3)
    (('grid', 3), ('dirichlet', 8))
    >>> check_fixed("mesh", 3)
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `fixed` must be 'auto', 'grid[:R]', 'dirichlet[:K]' or an \
array; found 'mesh'. Fix: pass e.g. 'grid:3', 'dirichlet:8', 'auto', or an array of shape (K, p)
    """
    kind, n = _parse(fixed, p, name, fix)
    if kind == "grid":
        from math import comb

        assert isinstance(n, int)
        if comb(n + p - 1, p - 1) > MAX_GRID:
            raise fail(
                name,
                f"give at most {MAX_GRID} lattice points (C(R+p-1, p-1))",
                f"{fixed!r} with p = {p}: {comb(n + p - 1, p - 1)} points",
                fix_large,
            )
    return kind, n


def describe_fixed(fixed: Any, p: int) -> str:
    """A short description of the sweep, for reports ("grid:3", "dirichlet:4 (seed ...)").

    Examples
    --------
    >>> describe_fixed("auto", 5)
    'uniform, each objective alone, and 4 Dirichlet(1) draws (seed 20240601)'
    """
    kind, n = _parse(fixed, p)
    head = "uniform, each objective alone, and "
    if kind == "grid":
        return head + f"the simplex lattice with step 1/{n}"
    if kind == "dirichlet":
        return head + f"{n} Dirichlet(1) draws (seed {SWEEP_SEED})"
    return head + f"{len(np.asarray(n))} given λ"


def _name(w: np.ndarray) -> str:
    if len(w) <= 4:
        return "λ=(" + ", ".join(f"{v:.2f}" for v in w) + ")"
    return "λ=(" + ", ".join(f"{v:.2f}" for v in w[:3]) + ", ...)"


def fixed_arms(names: Sequence[str], fixed: Any = "auto") -> list[Arm]:
    """ALMO and the fixed-weight arms for objectives ``names``.

    Parameters
    ----------
    names : sequence of p str
        Objective names.
    fixed : str or array (K, p), default "auto"
        The sweep beyond uniform and single objectives: "grid:R" (simplex lattice with step
        1/R), "dirichlet:K" (K flat Dirichlet draws), "auto" ("grid:3" for p ≤ 3, else
        "dirichlet:4"), or the λ themselves. Duplicates of uniform or a single objective are
        dropped.
    """
    p = len(names)
    kind, n = check_fixed(fixed, p)
    if kind == "grid":
        assert isinstance(n, int)
        sweep = simplex_lattice(p, n)
    elif kind == "dirichlet":
        assert isinstance(n, int)
        sweep = np.random.default_rng(SWEEP_SEED).dirichlet(np.ones(p), size=n).reshape(-1, p)
    else:
        sweep = np.asarray(n)
    uniform = np.full(p, 1.0 / p)
    arms = [Arm("ALMO", "almo"), Arm("uniform", "uniform", tuple(uniform.tolist()))]
    eye = np.eye(p)
    arms += [Arm(f"only {nm}", "single", tuple(eye[k].tolist()), k) for k, nm in enumerate(names)]
    seen = [uniform, *eye]
    for w in sweep:
        if any(np.allclose(w, s, atol=1e-9) for s in seen):
            continue
        seen.append(w)
        arms.append(Arm(_name(w), "fixed", tuple(float(v) for v in w)))
    return arms
