r"""The agnostic search: the data mixture minimizing the worst case over Λ of several targets.

CLIMB optimizes one target. With T target tasks and a convex set Λ of mixtures over them (a
:class:`~almo.MixtureSet`), the ALMO objective at the level of data mixtures is

.. math:: \min_{λ ∈ Δ_k} \; \max_{μ ∈ Λ} \; \sum_t μ_t \, L_t(λ)

where :math:`L_t(λ)` is target t's loss of a model trained on the λ-mixture of the clusters. One
proxy run trains one model and scores it on every target, so the search is CLIMB with one
predictor per target and candidates ranked by the worst case over Λ of the predicted losses
(``Λ.worst_case``). :func:`agnostic_search` runs it next to the single-target search (target
``single_target`` only) and the uniform-target search (the mean of the targets) at the same
budget, and reports each answer's per-target losses and worst case over Λ — with the larger
model (``evaluate``) when given, else the proxy's measured scores.

Examples
--------
>>> import numpy as np
>>> from almo import Simplex
>>> centres = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
>>> proxy = lambda w: np.sum((w - centres) ** 2, axis=1)  # two targets
>>> report = agnostic_search(proxy, np.full(3, 1 / 3), Simplex(2), budget=21, seed=0)
>>> [r.method for r in report.rows]
['agnostic', 'uniform-target', 'single-target']
>>> worst = {r.method: r.worst_case for r in report.rows}
>>> bool(worst["agnostic"] < worst["single-target"])
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from almo._validation import check_integer, fail
from almo.mixtures import MixtureSet
from almo.search.climb import SearchResult, climb

__all__ = ["AgnosticReport", "AgnosticRow", "agnostic_search"]


@dataclass
class AgnosticRow:
    """One search's answer: λ, per-target losses, worst case over Λ and the worst μ."""

    method: str
    weights: list[float]
    per_target: list[float]
    worst_case: float
    worst_mixture: list[float]
    proxy_calls: int


@dataclass
class AgnosticReport:
    """Rows of :func:`agnostic_search`; ``measured_by`` says which losses they hold."""

    rows: list[AgnosticRow]
    target_names: list[str]
    measured_by: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "format": "almo-search-agnostic/1",
            "targets": self.target_names,
            "measured_by": self.measured_by,
            "settings": self.settings,
            "methods": [asdict(r) for r in self.rows],
        }

    def table(self) -> str:
        """Markdown: worst case over Λ and each target's loss, per search."""
        head = "| search | worst case over Λ | " + " | ".join(self.target_names) + " |"
        lines = [head, "|" + "---|" * (2 + len(self.target_names))]
        for r in self.rows:
            lines.append(
                f"| {r.method} | {r.worst_case:.4f} | "
                + " | ".join(f"{v:.4f}" for v in r.per_target)
                + " |"
            )
        return "\n".join(lines)


#: The options of :func:`~almo.search.climb.climb` that ``agnostic_search`` passes on.
CLIMB_OPTIONS = ("rounds", "concentration", "n_candidates", "top_n", "predictor")


def agnostic_search(
    proxy: Callable[..., Any],
    shares: Any,
    mixture_set: MixtureSet,
    budget: int = 112,
    *,
    evaluate: Callable[[np.ndarray], Any] | None = None,
    single_target: int = 0,
    target_names: Sequence[str] | None = None,
    n_jobs: int | None = 1,
    seed: int = 0,
    verbose: bool = False,
    **climb_options: Any,
) -> AgnosticReport:
    """The agnostic, uniform-target and single-target searches at the same budget.

    Parameters
    ----------
    proxy : callable
        ``weights -> vector of T target losses`` (e.g. ``NGramProxy`` with several targets).
    shares : array (k,)
        The clusters' token shares.
    mixture_set : MixtureSet
        Λ over the T targets.
    budget : int
        Proxy runs of each of the three searches.
    evaluate : callable, optional
        ``weights -> T losses`` of the larger model (e.g. ``NGramProxy.large_loss``).
    single_target : int
        The target the single-target search optimizes.
    **climb_options
        Passed to :func:`~almo.search.climb.climb` (rounds, concentration, predictor...).

    Returns
    -------
    AgnosticReport
    """
    if not isinstance(mixture_set, MixtureSet):
        raise fail(
            "mixture_set",
            "be a MixtureSet over the targets",
            type(mixture_set).__name__,
            "pass e.g. almo.Simplex(n_targets)",
        )
    fixed = sorted(set(climb_options) & {"aggregate", "method", "n_jobs", "seed", "verbose"})
    if fixed:
        raise fail(
            fixed[0],
            "not be among the climb options: the agnostic search sets it for each of its "
            "three searches (aggregate and method) or takes it as its own argument",
            climb_options[fixed[0]],
            f"drop {fixed[0]}=; pass n_jobs, seed and verbose to agnostic_search itself",
        )
    unknown = sorted(set(climb_options) - set(CLIMB_OPTIONS))
    if unknown:
        raise fail(
            "climb_options",
            f"be among {CLIMB_OPTIONS}",
            unknown,
            "drop the unknown options, or check their spelling",
        )
    p = mixture_set.p
    single = check_integer(
        "single_target", single_target, f"pass an index in [0, {p - 1}]", low=0, high=p - 1
    )
    names = list(target_names) if target_names is not None else [f"target{t}" for t in range(p)]
    if len(names) != p:
        raise fail(
            "target_names",
            f"name the {p} targets of mixture_set",
            names,
            "pass one name per target",
        )

    def checked(losses: np.ndarray) -> np.ndarray:
        v = np.asarray(losses, dtype=float).reshape(-1)
        if v.size != p:
            raise fail(
                "proxy",
                f"return {p} target losses (mixture_set.p)",
                f"{v.size} values",
                "score every target in each run, or build Λ over as many targets",
            )
        return v

    aggregates: dict[str, Callable[[np.ndarray], float]] = {
        "agnostic": lambda v: float(mixture_set.worst_case(checked(v)).value),
        "uniform-target": lambda v: float(np.mean(checked(v))),
        "single-target": lambda v: float(checked(v)[single]),
    }
    results: dict[str, SearchResult] = {
        name: climb(
            proxy,
            shares,
            budget,
            aggregate=agg,
            n_jobs=n_jobs,
            seed=seed,
            verbose=verbose,
            method=name,
            **climb_options,
        )
        for name, agg in aggregates.items()
    }
    rows = []
    for name, res in results.items():
        if evaluate is not None:
            losses = checked(evaluate(res.weights))
        else:
            losses = next(r.scores for r in res.runs if r.weights is res.weights)
        wc = mixture_set.worst_case(losses)
        rows.append(
            AgnosticRow(
                name,
                [float(x) for x in res.weights],
                [float(x) for x in losses],
                float(wc.value),
                [float(x) for x in wc.weights],
                res.proxy_calls,
            )
        )
    return AgnosticReport(
        rows,
        names,
        "larger model" if evaluate is not None else "proxy",
        settings={
            "budget": int(budget),
            "seed": seed,
            "single_target": single,
            "mixture_set": repr(mixture_set),
        },
    )
