"""Convergence: the worst-case gap to the certified optimum against epochs, one line per λ rule.

Every rule trains the same model (``torch.nn.Linear``, float64) with the same batch size and the
same θ optimizer — the trainer's default one, read from a trainer built with no arguments, so
the peers follow when the default changes — on the same objective as the certified solver:

    min over (W, b) of max over λ ∈ Δ_p of Σ_k λ_k L̂_k(W, b) + l2 ‖W‖²_F  (intercept free)

with each L̂_k divided by its value at W = 0, b = 0 (the solver's ``normalize="initial"``; the
trainer gets those scales as fixed numbers, so both report on one scale) and the ridge term
passed to the trainer as a penalty equal for every objective. The optimum comes from
``almo.solvers.solve_linear`` (dual Newton, certified gap ≤ 1e-8 relative).

Rules (:func:`rule_list`):

- almo defaults — ``MinimaxTrainer`` with no weight rule, optimizer or method;
- Group DRO — ``ExponentiatedAscent(lr=0.01)``;
- AFL — ``ProjectedAscent()``: constant step γ = 0.1 (the rule's default; the AFL code bases
  leave γ as a parameter, without the trainer's 1/√t schedule);
- DoReMi — ``Averaged(ExponentiatedAscent(lr=1, smoothing=1e-3))``: the exponentiated step
  with DoReMi's smoothing and averaged weights, on the objectives themselves (DoReMi's excess
  loss over a reference model, clipped at 0, has no counterpart on this problem);
- best response — ``BestResponse()``: λ jumps to the worst objective of each batch;
- mirror-prox — almo's defaults with ``method="mirror_prox"`` (two gradients per batch).

The peers get the trainer's default method (the order of the θ and λ steps), the default
iterate averaging and the default optimizer; only the λ rule differs.

Gap = (penalized worst case of the averaged model on the whole training set − optimum) /
optimum, evaluated at the end of every epoch (the table adds the last iterate's final gap).
"Epochs to x" is the first epoch whose gap is ≤ x; the tables give medians over seeds (the
upper median with an even count; "—" when the median seed does not get there).

Instances:

1. digits — the exact-solver benchmark's instance (benchmarks/exact_solver.py): scikit-learn's
   digits standardized, 10 classes, log_loss and squared on {digits 0–4} and {digits 5–9}
   (p = 4), l2 = 1e-3, Λ = simplex, batch 128, 300 epochs.
2. groups20 — synthetic, 3 classes, 10 features, 20 groups of 40 … 300 rows (each with its
   own feature mean and its own perturbation of a shared labelling rule), log_loss per group
   (p = 20), l2 = 1e-3, Λ = simplex, batch 128, 300 epochs.

Targets: on digits, almo's defaults get within 1% of the optimum in ≤ 60 epochs and within
0.1% in ≤ 300 (median of 5 seeds); on both instances they reach 1% in no more epochs than the
best peer (Group DRO, AFL, DoReMi, best response) and reach 0.1%.

Usage: ``python benchmarks/convergence.py [--quick]`` (quick: 20 epochs, 2 seeds). One torch
thread, seeds run one after the other. Writes benchmarks/results/convergence.json and
convergence.png (``convergence_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from almo import ObjectiveFamily
from almo.solvers import ConvergenceWarning, solve_linear
from almo.train import MinimaxTrainer
from almo.weights import (
    Averaged,
    BestResponse,
    ExponentiatedAscent,
    ProjectedAscent,
    WeightRule,
)

RESULTS = Path(__file__).resolve().parent / "results"
L2 = 1e-3
BATCH = 128
SOLVER_TOL = 1e-8
THRESHOLDS = (1e-2, 1e-3)
PEERS = ("Group DRO", "AFL", "DoReMi", "best response")
TARGETS = {"digits_epochs_to_1pct": 60, "digits_epochs_to_0.1pct": 300}


# --- instances ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One problem: features, labels, group ids, the losses (one objective per loss × group)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    losses: tuple[str, ...]
    n_groups: int
    epochs: int
    description: str

    @property
    def n_classes(self) -> int:
        return int(np.unique(self.y).size)

    def family(self, normalize: Any = "initial") -> ObjectiveFamily:
        """The objective family, loss-major names ``"<loss>@group<g>"`` like the solver's."""
        return ObjectiveFamily(list(self.losses), groups=self.n_groups, normalize=normalize)


def digits_instance(epochs: int = 300) -> Instance:
    """The exact-solver benchmark's instance: standardized digits, 2 losses × 2 groups."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return Instance(
        "digits",
        X,
        y,
        (y >= 5).astype(int),  # group 0: digits 0–4, group 1: digits 5–9
        ("log_loss", "squared"),
        2,
        epochs,
        "digits 1797 × 64, 10 classes, log_loss + squared × {0–4, 5–9}",
    )


def groups20_instance(epochs: int = 300, seed: int = 0) -> Instance:
    """20 groups of 40 … 300 rows, 3 classes: each group shifts the features and the rule."""
    rng = np.random.default_rng(seed)
    n_groups, d, n_classes = 20, 10, 3
    sizes = np.round(np.geomspace(40, 300, n_groups)).astype(int)
    shared = rng.normal(size=(d, n_classes))
    xs, ys, gs = [], [], []
    for g, m in enumerate(sizes):
        mean = rng.normal(scale=1.0, size=d)
        rule = shared + rng.normal(scale=0.7, size=(d, n_classes))
        x = mean + rng.normal(size=(m, d))
        logits = x @ rule
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        ys.append((prob.cumsum(axis=1) > rng.random((m, 1))).argmax(axis=1))
        xs.append(x)
        gs.append(np.full(m, g))
    X = StandardScaler().fit_transform(np.concatenate(xs))
    return Instance(
        "groups20",
        X,
        np.concatenate(ys),
        np.concatenate(gs),
        ("log_loss",),
        n_groups,
        epochs,
        f"synthetic {int(sizes.sum())} × {d}, {n_classes} classes, log_loss × 20 groups "
        f"of {sizes.min()}–{sizes.max()} rows",
    )


# --- the certified optimum and the matching trainer objective -----------------------------------


@dataclass(frozen=True)
class Optimum:
    """The solver's answer: optimum (upper bound), lower bound, scales of the objectives."""

    value: float
    lower_bound: float
    scales: np.ndarray
    names: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    seconds: float


def certify(instance: Instance, tol: float = SOLVER_TOL) -> Optimum:
    """The certified optimum, scales calibrated at W = 0, b = 0 (``normalize="initial"``)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # The gap is reported next to the value; a stall just short of tol changes nothing here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = solve_linear(
            instance.X, instance.y, instance.family(), groups=instance.groups, l2=L2, tol=tol
        )
    return Optimum(
        sol.value,
        sol.lower_bound,
        np.array(sol.scales, dtype=np.float64),
        tuple(sol.names),
        np.asarray(sol.coef_, dtype=np.float64),
        np.atleast_1d(np.asarray(sol.intercept_, dtype=np.float64)),
        time.perf_counter() - t0,
    )


def ridge(p: int, l2: float = L2) -> Callable[[torch.nn.Module], torch.Tensor]:
    """The solver's l2 ‖W‖²_F (bias free) as the trainer's per-objective penalty r ∈ R^p."""

    def penalty(model: torch.nn.Module) -> torch.Tensor:
        weight = cast(torch.Tensor, model.weight)
        return l2 * weight.square().sum() * torch.ones(p, dtype=weight.dtype)

    return penalty


def tensors(instance: Instance) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(np.ascontiguousarray(instance.X, dtype=np.float64)),
        torch.from_numpy(instance.y.astype(np.int64)),
        torch.from_numpy(instance.groups.astype(np.int64)),
    )


class Batches:
    """Shuffled minibatches ``(x, y, group)`` drawn from torch's global generator.

    The trainer seeds that generator at the start of ``fit``, so the order is the run's seed's.
    """

    def __init__(self, instance: Instance, batch_size: int = BATCH) -> None:
        self.x, self.y, self.g = tensors(instance)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.y))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x[idx], self.y[idx], self.g[idx]


def linear_model(instance: Instance, seed: int) -> torch.nn.Linear:
    """``Linear(d, classes)`` in float64, PyTorch's default initialization from ``seed``."""
    torch.manual_seed(seed)
    return torch.nn.Linear(instance.X.shape[1], instance.n_classes).double()


# --- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """One line of the comparison.

    ``weight_rule`` None: the trainer's default rule; ``peer_optimizer``: pass the default
    optimizer explicitly (the peers), else leave it to the trainer; ``method`` None: the
    trainer's default method.
    """

    name: str
    description: str
    weight_rule: Callable[[], WeightRule] | None = None
    method: str | None = None
    peer_optimizer: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def rule_list() -> list[RuleSpec]:
    """The rules compared, almo's defaults first (rebuilt on every call: defaults may change)."""
    return [
        RuleSpec("almo defaults", "MinimaxTrainer(): default rule, optimizer and method"),
        RuleSpec(
            "Group DRO",
            "ExponentiatedAscent(lr=0.01)",
            lambda: ExponentiatedAscent(lr=0.01),
            peer_optimizer=True,
        ),
        RuleSpec(
            "AFL",
            "ProjectedAscent(): constant γ = 0.1",
            lambda: ProjectedAscent(),
            peer_optimizer=True,
        ),
        RuleSpec(
            "DoReMi",
            "Averaged(ExponentiatedAscent(lr=1, smoothing=1e-3)) on the plain objectives "
            "(no reference model: no excess loss)",
            lambda: Averaged(ExponentiatedAscent(lr=1.0, smoothing=1e-3)),
            peer_optimizer=True,
        ),
        RuleSpec("best response", "BestResponse()", lambda: BestResponse(), peer_optimizer=True),
        RuleSpec(
            "mirror-prox",
            "MinimaxTrainer(method='mirror_prox'): default rule and optimizer",
            method="mirror_prox",
        ),
    ]


def default_optimizer(
    model: torch.nn.Module, family: ObjectiveFamily
) -> Callable[[Any], torch.optim.Optimizer]:
    """A factory for the optimizer a default trainer builds: same class, same settings."""
    probe = MinimaxTrainer(
        copy.deepcopy(model), family, verbose=False, device="cpu", seed=None
    ).optimizer
    kind, settings = type(probe), dict(probe.defaults)
    return lambda params: kind(params, **settings)


def make_trainer(spec: RuleSpec, instance: Instance, optimum: Optimum, seed: int) -> MinimaxTrainer:
    """The trainer of one run: same model, data, scales and penalty for every rule."""
    model = linear_model(instance, seed)
    family = instance.family(normalize=optimum.scales.copy())
    kwargs: dict[str, Any] = dict(spec.extra)
    if spec.weight_rule is not None:
        kwargs["weight_rule"] = spec.weight_rule()
    if spec.peer_optimizer:
        kwargs["optimizer"] = default_optimizer(model, family)
        # ... with the default optimizer's step-size schedule too (a passed optimizer keeps
        # its own step size unless told otherwise).
        kwargs["lr_schedule"] = MinimaxTrainer(
            copy.deepcopy(model), family, verbose=False, device="cpu", seed=None
        ).lr_schedule
    if spec.method is not None:
        kwargs["method"] = spec.method
    return MinimaxTrainer(
        model,
        family,
        penalty=ridge(family.p),
        device="cpu",
        seed=seed,
        verbose=False,
        **kwargs,
    )


@dataclass(frozen=True)
class Curves:
    """Relative gaps after each epoch: the measured model's and the last iterate's."""

    gaps: list[float]  # the averaged model's (the last iterate's if the trainer keeps none)
    last: list[float]  # the last iterate's
    model: str  # "averaged" or "last": what ``gaps`` measures


def gap_curve(
    spec: RuleSpec, instance: Instance, optimum: Optimum, seed: int, epochs: int
) -> Curves:
    """Relative gaps to the optimum after each epoch of one run."""
    trainer = make_trainer(spec, instance, optimum, seed)
    whole = [tensors(instance)]
    history = trainer.fit(Batches(instance), epochs=epochs, eval_loader=whole)

    def rel(report: Any) -> float:
        return (report.penalized_worst_case - optimum.value) / optimum.value

    last = [rel(record.last) for record in history.epochs]
    if all(record.averaged is not None for record in history.epochs):
        return Curves([rel(record.averaged) for record in history.epochs], last, "averaged")
    return Curves(last, last, "last")


def epochs_to(gaps: list[float], threshold: float) -> float:
    """The first epoch (1-based) whose gap is ≤ threshold; inf when none is."""
    for i, gap in enumerate(gaps):
        if gap <= threshold:
            return float(i + 1)
    return math.inf


def upper_median(values: list[float]) -> float:
    """The middle value (the upper of the two middle ones with an even count); inf counts."""
    return sorted(values)[len(values) // 2]


# --- the run -----------------------------------------------------------------------------------


def run_instance(instance: Instance, seeds: list[int]) -> dict[str, Any]:
    optimum = certify(instance)
    out: dict[str, Any] = {
        "description": instance.description,
        "n": int(instance.X.shape[0]),
        "p": len(optimum.names),
        "epochs": instance.epochs,
        "batch_size": BATCH,
        "l2": L2,
        "optimum": optimum.value,
        "lower_bound": optimum.lower_bound,
        "certified_relative_gap": (optimum.value - optimum.lower_bound) / optimum.value,
        "solver_seconds": optimum.seconds,
        "scales": optimum.scales.tolist(),
        "names": list(optimum.names),
        "rules": {},
    }
    for spec in rule_list():
        curves, lasts, seconds, which = [], [], [], set()
        for seed in seeds:
            t0 = time.perf_counter()
            run = gap_curve(spec, instance, optimum, seed, instance.epochs)
            seconds.append(time.perf_counter() - t0)
            curves.append(run.gaps)
            lasts.append(run.last)
            which.add(run.model)
        reached = {f"{t:g}": [epochs_to(c, t) for c in curves] for t in THRESHOLDS}  # per seed
        out["rules"][spec.name] = {
            "description": spec.description,
            "model_evaluated": sorted(which),
            "gaps": curves,
            "epochs_to": {k: [_finite(v) for v in vals] for k, vals in reached.items()},
            "median_epochs_to": {k: _finite(upper_median(v)) for k, v in reached.items()},
            "median_final_gap": upper_median([c[-1] for c in curves]),
            "last_iterate_gaps": lasts,
            "median_final_gap_last_iterate": upper_median([c[-1] for c in lasts]),
            "seconds_per_run": seconds,
        }
        print(
            f"  {instance.name} / {spec.name}: {sum(seconds):.1f} s for {len(seeds)} seeds",
            flush=True,
        )
    return out


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def _epochs(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def table(result: dict[str, Any]) -> str:
    rows = [
        "| rule | epochs to 1% | epochs to 0.1% | final gap | final gap, last iterate "
        "| s per run |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["rules"].items():
        med = r["median_epochs_to"]
        rows.append(
            f"| {name} | {_epochs(med['0.01'])} | {_epochs(med['0.001'])} | "
            f"{r['median_final_gap']:.2e} | {r['median_final_gap_last_iterate']:.2e} | "
            f"{np.median(r['seconds_per_run']):.1f} |"
        )
    return "\n".join(rows)


def check_targets(results: dict[str, dict[str, Any]], full: bool) -> dict[str, Any]:
    """The issue's targets, each with the numbers it was judged on."""
    checks: dict[str, Any] = {}
    digits = results.get("digits")
    if digits is not None and full:
        med = digits["rules"]["almo defaults"]["median_epochs_to"]
        for key, limit, label in (
            ("0.01", TARGETS["digits_epochs_to_1pct"], "digits: defaults within 1%"),
            ("0.001", TARGETS["digits_epochs_to_0.1pct"], "digits: defaults within 0.1%"),
        ):
            got = med[key]
            checks[f"{label} in ≤ {limit} epochs"] = {
                "epochs": got,
                "met": got is not None and got <= limit,
            }
    for name, res in results.items():
        rules = res["rules"]
        ours = rules["almo defaults"]["median_epochs_to"]["0.01"]
        peers = {p: rules[p]["median_epochs_to"]["0.01"] for p in PEERS if p in rules}
        best = min((v for v in peers.values() if v is not None), default=None)
        best_name = [p for p, v in peers.items() if v == best and v is not None]
        checks[f"{name}: defaults reach 1% no later than the best peer"] = {
            "defaults": ours,
            "best_peer": best,
            "best_peer_rules": best_name,
            # When nobody gets there, the final gaps still say who is ahead.
            "defaults_final_gap": round(rules["almo defaults"]["median_final_gap"], 6),
            "best_peer_final_gap": round(min(rules[p]["median_final_gap"] for p in peers), 6),
            "met": ours is not None and (best is None or ours <= best),
        }
        reached = rules["almo defaults"]["median_epochs_to"]["0.001"]
        checks[f"{name}: defaults reach 0.1%"] = {"epochs": reached, "met": reached is not None}
    return checks


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        for rule, r in res["rules"].items():
            curves = np.asarray(r["gaps"], dtype=np.float64)
            median = np.median(curves, axis=0)
            epochs = np.arange(1, median.size + 1)
            # A gap at or below 0 (the optimum reached to rounding) is drawn at the floor.
            ax.plot(epochs, np.maximum(median, 1e-7), label=rule, lw=1.5)
        for t in THRESHOLDS:
            ax.axhline(t, color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("relative gap of the averaged model")
        ax.set_title(f"{name} (p = {res['p']}), median over seeds")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 epochs, 2 seeds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    epochs = 20 if args.quick else 300
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    instances = [digits_instance(epochs), groups20_instance(epochs)]
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = {inst.name: run_instance(inst, seeds) for inst in instances}
    total = time.perf_counter() - started
    checks = check_targets(results, full=not args.quick)
    print()
    for name, res in results.items():
        print(
            f"### {name}: {res['description']}; optimum {res['optimum']:.10f} "
            f"(certified rel. gap {res['certified_relative_gap']:.1e}), batch {BATCH}, "
            f"{res['epochs']} epochs, medians over {len(seeds)} seeds\n"
        )
        print(table(res))
        print()
    print("Rules:")
    for spec in rule_list():
        print(f"- {spec.name}: {spec.description}")
    print("\nTargets:")
    for label, c in checks.items():
        print(f"- {label}: {'met' if c['met'] else 'NOT met'} ({_describe(c)})")
    print(
        f"\n{total:.0f} s in all, one torch thread; load average {load_before[0]:.1f} → "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    stem = "convergence_quick" if args.quick else "convergence"
    plot(results, RESULTS / f"{stem}.png")
    out = {
        "quick": args.quick,
        "seeds": seeds,
        "thresholds": list(THRESHOLDS),
        "targets": TARGETS,
        "checks": checks,
        "seconds": total,
        "instances": results,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))


def _describe(check: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in check.items() if k != "met")


if __name__ == "__main__":
    main()
