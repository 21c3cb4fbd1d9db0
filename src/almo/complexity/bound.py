"""The generalization certificate: an upper bound on the population worst case over Λ.

:func:`generalization_bound` returns a :class:`BoundReport` whose value holds, with probability
≥ 1 − δ over the sample, for the model it certifies (derivation in :mod:`almo.complexity`):

    max_{λ∈Λ} L(h, λ) ≤ L̂_Λ(h) + 2 max_{λ∈Λ} Σ_k λ_k ρ_k + M ε
                         + a sqrt( max_{λ∈Λ} Σ_k λ_k M_k² / m_k · log(N(ε) / δ') / 2 )

with ρ_k the empirical Rademacher complexity of objective k's loss class on its sample S_k,
M_k a bound on its loss, M = max_k M_k, N(ε) = (1 + 4/ε)^(p−1) the size of an ε-cover of Λ in ℓ1,
a = 3 for empirical complexities (1 when the ρ_k are expected complexities) and δ' = δ shared
out over the grids the bound is minimized over. Writing m̄_k = m_k / m and M_k = M, the last term
is M sqrt(s log(N/δ') / (2m)) with s = max_λ Σ_k λ_k / m̄_k, which equals AFL's skewness
max_λ Σ_k λ_k² / m̄_k on the whole simplex (both are maximal at a vertex).

Examples
--------
>>> rep = generalization_bound(
...     [0.30, 0.45], complexities=[0.02, 0.05], loss_bound=1.0, sample_sizes=[800, 200]
... )
>>> [t.name for t in rep.terms]
['empirical worst case', 'complexity', 'cover', 'concentration']
>>> bool(rep.value > 0.45 + 2 * 0.05), rep.term("empirical worst case")
(True, 0.45)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from almo._validation import check_positive, fail
from almo.mixtures import MixtureSet, Simplex

__all__ = ["BoundReport", "BoundTerm", "cover_log_size", "generalization_bound"]

#: ε is minimized over 2^0, 2^-1, ..., 2^-(EPSILON_GRID - 1) (δ shared out over them).
EPSILON_GRID = 30


@dataclass(frozen=True)
class BoundTerm:
    """One named term of a bound: its value and the formula it evaluates."""

    name: str
    value: float
    formula: str


@dataclass(frozen=True, eq=False)
class BoundReport:
    """An upper bound on the population worst case over Λ, term by term.

    Attributes
    ----------
    value : float
        The certificate: the sum of the terms.
    terms : tuple of BoundTerm
        ``empirical worst case``, ``complexity``, ``cover``, ``concentration``.
    assumptions : tuple of str
        What the bound assumes (loss range, feature radius, the model class...).
    delta, epsilon : float
        Failure probability and the cover radius used.
    names : tuple of str
        Objective names.
    empirical : ndarray (p,)
        L̂_k, the normalized training objectives (NaN when only the worst case was given).
    complexity : ndarray (p,)
        ρ_k, the Rademacher complexity of each objective's (normalized) loss class.
    loss_bound : ndarray (p,)
        M_k, the bound on each normalized loss.
    counts : ndarray (p,)
        m_k, the sample size behind each objective.
    weights : ndarray (p,)
        λ ∈ Λ attaining the complexity term's max.
    parameters : dict
        M, s, m (all rows), log N(ε), δ', the constant a, and what the model class was
        (radius, κ_k...).
    """

    value: float
    terms: tuple[BoundTerm, ...]
    assumptions: tuple[str, ...]
    delta: float
    epsilon: float
    names: tuple[str, ...]
    empirical: np.ndarray
    complexity: np.ndarray
    loss_bound: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)

    def term(self, name: str) -> float:
        """The value of the term called ``name``."""
        for t in self.terms:
            if t.name == name:
                return t.value
        raise fail("name", f"be one of {[t.name for t in self.terms]}", name, "pick a term")

    def table(self, digits: int = 4) -> str:
        """Markdown: the terms and their sum, the assumptions, then one row per objective.

        Examples
        --------
        >>> rep = generalization_bound(
        ...     [0.3], complexities=[0.1], loss_bound=1.0, sample_sizes=[100], epsilon=0.5
        ... )
        >>> print(rep.table(digits=3).splitlines()[2])
        | empirical worst case | L̂_Λ = max_λ Σ_k λ_k L̂_k | 0.300 |
        """
        f = f"{{:.{digits}f}}"
        lines = ["| term | formula | value |", "|---|---|---:|"]
        lines += [f"| {t.name} | {t.formula} | {f.format(t.value)} |" for t in self.terms]
        lines.append(
            f"| **bound** | sum, with probability ≥ {1 - self.delta:g} | "
            f"**{f.format(self.value)}** |"
        )
        lines += ["", "Assumptions:", *(f"- {a}" for a in self.assumptions), ""]
        lines += ["| objective | m_k | L̂_k | ρ_k | M_k | λ |", "|---|---:|---:|---:|---:|---:|"]
        for k, name in enumerate(self.names):
            cells = [self.empirical[k], self.complexity[k], self.loss_bound[k], self.weights[k]]
            lines.append(
                f"| {name} | {int(self.counts[k])} | "
                + " | ".join(f.format(c) for c in cells)
                + " |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (lists, floats, strings), ready for JSON."""
        return {
            "value": float(self.value),
            "terms": [{"name": t.name, "value": t.value, "formula": t.formula} for t in self.terms],
            "assumptions": list(self.assumptions),
            "delta": self.delta,
            "epsilon": self.epsilon,
            "names": list(self.names),
            "empirical": [None if math.isnan(v) else float(v) for v in self.empirical],
            "complexity": self.complexity.tolist(),
            "loss_bound": self.loss_bound.tolist(),
            "counts": self.counts.tolist(),
            "weights": self.weights.tolist(),
            "parameters": {k: _plain(v) for k, v in self.parameters.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoundReport:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(data["value"]),
            tuple(BoundTerm(t["name"], float(t["value"]), t["formula"]) for t in data["terms"]),
            tuple(data["assumptions"]),
            float(data["delta"]),
            float(data["epsilon"]),
            tuple(data["names"]),
            np.array([np.nan if v is None else v for v in data["empirical"]], dtype=float),
            np.asarray(data["complexity"], dtype=float),
            np.asarray(data["loss_bound"], dtype=float),
            np.asarray(data["counts"], dtype=float),
            np.asarray(data["weights"], dtype=float),
            dict(data.get("parameters", {})),
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{t.name}={t.value:.4g}" for t in self.terms)
        return f"BoundReport(value={self.value:.6g}, {parts}, delta={self.delta:g})"


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def cover_log_size(p: int, epsilon: float) -> float:
    """log N(ε) with N(ε) = (1 + 4/ε)^(p−1): an ε-cover in ℓ1 of any Λ ⊆ Δ_p, centres in Λ.

    Examples
    --------
    >>> cover_log_size(1, 0.1), round(cover_log_size(3, 1.0), 4)  # 2 log 5
    (0.0, 3.2189)
    """
    eps = check_positive("epsilon", epsilon)
    return (p - 1) * math.log1p(4.0 / eps)


def _vector(name: str, value: Any, p: int, *, positive: bool = False) -> np.ndarray:
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (p,)).copy()
    except (TypeError, ValueError):
        raise fail(name, f"be a number or {p} numbers", value, f"pass {p} values") from None
    ok = np.all(np.isfinite(arr)) and (np.all(arr > 0) if positive else np.all(arr >= 0))
    if not ok:
        rule = "be finite and > 0" if positive else "be finite and >= 0"
        raise fail(name, rule, arr, "pass non-negative finite values, one per objective")
    return arr


def assemble(
    names: Sequence[str],
    empirical: np.ndarray,
    worst: float,
    complexity: np.ndarray,
    loss_bound: np.ndarray,
    counts: np.ndarray,
    mixture_set: MixtureSet,
    delta: float,
    epsilon: float | None,
    *,
    constant: float,
    log_weight: float = 0.0,
    total: float | None = None,
    assumptions: Sequence[str] = (),
    parameters: dict[str, Any] | None = None,
) -> BoundReport:
    """Sum the four terms; ε minimized over the grid unless given (``log_weight`` = log 1/w of
    a union over model classes, added to log(1/δ); ``total`` = m, the rows in all, which only
    scales how s is reported)."""
    p = len(names)
    comp = mixture_set.worst_case(2.0 * complexity)
    M = float(loss_bound.max())
    spread = float(mixture_set.worst_case(loss_bound**2 / counts).value)
    m = float(counts.max() if total is None else total)
    if epsilon is None:
        grid = [2.0**-j for j in range(EPSILON_GRID)]
        extra = math.log(EPSILON_GRID)
    else:
        grid, extra = [check_positive("epsilon", epsilon)], 0.0
    base = math.log(1.0 / delta) + log_weight + extra

    def cost(eps: float) -> tuple[float, float, float]:
        log_n = cover_log_size(p, eps)
        conc = constant * math.sqrt(spread * (log_n + base) / 2.0)
        return M * eps + conc, conc, log_n

    eps = min(grid, key=lambda e: cost(e)[0])
    _, conc, log_n = cost(eps)
    s = spread * m / M**2 if M > 0 else 0.0
    a = f"{constant:g} " if constant != 1.0 else ""
    terms = (
        BoundTerm("empirical worst case", float(worst), "L̂_Λ = max_λ Σ_k λ_k L̂_k"),
        BoundTerm("complexity", float(comp.value), "2 max_λ Σ_k λ_k μ_k R̂_{S_k}(H)"),
        BoundTerm("cover", M * eps, "M ε"),
        BoundTerm("concentration", conc, f"{a}M sqrt(s log(N(ε)/δ') / (2m))"),
    )
    params = {
        "M": M,
        "s": s,
        "m": m,
        "log_cover": log_n,
        "log_1_over_delta_prime": base,
        "constant": constant,
        **(parameters or {}),
    }
    return BoundReport(
        value=float(sum(t.value for t in terms)),
        terms=terms,
        assumptions=tuple(assumptions),
        delta=float(delta),
        epsilon=float(eps),
        names=tuple(names),
        empirical=empirical,
        complexity=complexity,
        loss_bound=loss_bound,
        counts=counts,
        weights=np.asarray(comp.weights, dtype=np.float64),
        parameters=params,
    )


def generalization_bound(
    source: Any,
    complexities: Any = None,
    *,
    X: Any = None,
    y: Any = None,
    family: Any = None,
    groups: Any = None,
    loss_bound: Any = None,
    sample_sizes: Any = None,
    shared: bool = False,
    mixture_set: MixtureSet | None = None,
    delta: float = 0.05,
    epsilon: float | None = None,
    expected: bool = False,
    fit_intercept: bool = True,
    feature_radius: float | None = None,
    target_radius: float | None = None,
    norm_radius: float | None = None,
) -> BoundReport:
    """An upper bound on the population worst case over Λ, with each term named and valued.

    Two forms:

    - **a linear model**: ``source`` is a :class:`~almo.LinearSolution` (or anything with
      ``coef_``, ``intercept_`` and an ObjectiveReport ``report``), with its training data
      ``X``, ``y``, ``groups`` and the ``family`` it was solved with (an
      :class:`~almo.ObjectiveFamily`, or the loss shorthand given to ``solve_linear``). The
      complexities, loss bounds and sample sizes come from the data and the model class
      {‖[W b]‖_F ≤ B} (B the first power of 2 above the model's norm unless ``norm_radius``).
    - **generic**: ``source`` is the vector of normalized training objectives L̂_k (or an
      ObjectiveReport, or the empirical worst case as a float) and ``complexities`` the ρ_k of
      the loss classes (e.g. μ_k · :func:`mlp_rademacher` / scale_k), with ``loss_bound`` (M_k)
      and ``sample_sizes`` (m_k; ``shared=True`` when every objective uses the same sample).

    Parameters
    ----------
    source : LinearSolution, ObjectiveReport, array of shape (p,) or float
    complexities : array of shape (p,), optional
        Generic form only: ρ_k, empirical unless ``expected=True``.
    X, y, groups, family :
        Linear form only: the training data and objectives of the solution.
    loss_bound : float or array of shape (p,), optional
        M_k, bounds on the normalized losses (required in the generic form; in the linear form
        the default is ℓ_k(0, y) + μ_k R on scores of norm ≤ R, divided by the scale).
    sample_sizes : array of shape (p,), optional
        Generic form: m_k.
    shared : bool, default False
        Generic form: all objectives on one sample of size max m_k (e.g. several losses).
    mixture_set : MixtureSet, optional
        Λ (the whole simplex by default).
    delta : float, default 0.05
        The bound holds with probability ≥ 1 − δ.
    epsilon : float, optional
        Cover radius; by default the best of 1, 1/2, ..., 2^-29 (δ shared out over the grid).
    expected : bool, default False
        The complexities are expected (not empirical) Rademacher complexities: the
        concentration constant is then 1 instead of 3.
    fit_intercept : bool, default True
        Linear form: the model has an intercept (inside the norm ball, as a feature of ones).
    feature_radius, target_radius : float, optional
        Linear form: bounds on ‖x‖ and |y| over the population (default: the sample's max, an
        assumption the report states).
    norm_radius : float, optional
        Linear form: B fixed in advance (must be ≥ the model's norm).

    Returns
    -------
    BoundReport

    Examples
    --------
    >>> import numpy as np
    >>> from almo import ObjectiveFamily, solve_linear
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(400, 3))
    >>> y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    >>> g = (X[:, 1] > 0.5).astype(int)
    >>> fam = ObjectiveFamily("log_loss", groups=2)
    >>> sol = solve_linear(X, y, fam, groups=g, l2=0.01)
    >>> rep = generalization_bound(sol, X=X, y=y, family=fam, groups=g)
    >>> bool(rep.value > sol.report.worst_case), rep.names
    (True, ('log_loss@group0', 'log_loss@group1'))
    """
    d = check_positive("delta", delta)
    if not d < 1:
        raise fail("delta", "lie in (0, 1)", delta, "pass e.g. delta=0.05")
    if hasattr(source, "coef_") and hasattr(source, "report"):
        from almo.complexity._linear import linear_bound

        return linear_bound(
            source,
            X=X,
            y=y,
            family=family,
            groups=groups,
            mixture_set=mixture_set,
            delta=d,
            epsilon=epsilon,
            loss_bound=loss_bound,
            fit_intercept=fit_intercept,
            feature_radius=feature_radius,
            target_radius=target_radius,
            norm_radius=norm_radius,
        )
    return _generic(
        source, complexities, loss_bound, sample_sizes, shared, mixture_set, d, epsilon, expected
    )


def _generic(
    source: Any,
    complexities: Any,
    loss_bound: Any,
    sample_sizes: Any,
    shared: bool,
    mixture_set: MixtureSet | None,
    delta: float,
    epsilon: float | None,
    expected: bool,
) -> BoundReport:
    if complexities is None or loss_bound is None or sample_sizes is None:
        raise fail(
            "complexities, loss_bound, sample_sizes",
            "be given in the generic form (source not a LinearSolution)",
            {
                "complexities": complexities is not None,
                "loss_bound": loss_bound is not None,
                "sample_sizes": sample_sizes is not None,
            },
            "pass the ρ_k, M and m_k, or a LinearSolution with X, y, family, groups",
        )
    rho = np.asarray(complexities, dtype=np.float64).reshape(-1)
    p = rho.size
    rho = _vector("complexities", rho, p)
    names: tuple[str, ...] = tuple(f"objective{k}" for k in range(p))
    given_worst = False
    if hasattr(source, "normalized") and hasattr(source, "names"):
        names, empirical = tuple(source.names), np.asarray(source.normalized, dtype=float)
    elif np.ndim(source) == 0:
        given_worst = True
        empirical = np.full(p, np.nan)
    else:
        empirical = np.asarray(source, dtype=np.float64).reshape(-1)
    if empirical.shape != (p,):
        raise fail(
            "source",
            f"hold one training objective per complexity ({p})",
            empirical.shape,
            "pass L̂_k in the order of the complexities",
        )
    mset = Simplex(p) if mixture_set is None else mixture_set
    if not isinstance(mset, MixtureSet) or mset.p != p:
        raise fail("mixture_set", f"be a MixtureSet over {p} objectives", mset, f"Simplex({p})")
    if given_worst:
        worst = float(source)
    else:
        if not np.all(np.isfinite(empirical)):
            raise fail("source", "be finite", empirical, "pass measured training objectives")
        worst = float(mset.worst_case(empirical).value)
    M = _vector("loss_bound", loss_bound, p)
    counts = _vector("sample_sizes", sample_sizes, p, positive=True)
    total = float(counts.sum())
    if shared:
        counts = np.full(p, counts.max())
        total = float(counts.max())
    how = "one shared sample" if shared else "each objective its own independent sample S_k"
    assumptions = (
        f"objective k's normalized loss lies in [0, M_k], M = {M.max():.6g}",
        f"samples: {how}, drawn i.i.d.",
        "the complexities ρ_k are "
        + ("expected" if expected else "empirical (on S_k)")
        + " Rademacher complexities of the loss classes, fixed before seeing the data",
    )
    return assemble(
        names,
        empirical,
        worst,
        rho,
        M,
        counts,
        mset,
        delta,
        epsilon,
        constant=1.0 if expected else 3.0,
        assumptions=assumptions,
        total=total,
    )
