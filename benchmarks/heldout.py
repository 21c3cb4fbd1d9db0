"""Held-out worst case: ALMO with the Rademacher penalty against the uniform fixed-weight ensemble.

Settings: scikit-learn's breast cancer (2 classes), wine (3) and digits (10), the classes as the
groups; objectives log_loss and squared on each group (``ObjectiveFamily(["log_loss",
"squared"], groups=G)``, p = 2G), each normalized by its value at W = 0, b = 0 (log C and 1).
For each of 5 seeds: a 70/30 stratified split, features standardized on the training split, a
linear model (softmax scores; one score for binary labels) solved exactly by
``almo.solve_linear``:

- ``almo_rademacher``: min over (W, b) of max over the simplex of Σ_k λ_k (L̂_k + c_k ‖W‖)
  + 1e-4 ‖W‖², with ``RademacherPenalty(beta=β)``: c_k = β μ_k sqrt(Σ_{S_k} ‖x‖²) / m_k, larger
  on small groups and steep losses. β is chosen by ``almo.complexity.cross_validated_beta`` on
  the training split over β_bound · {0, 1e-3, 1e-2, 1e-1, 1} (β_bound = 2κ, the bound's own
  constant; β = 0 is plain ALMO). The fixed 1e-4 ridge only keeps the fast certified method
  applicable; it is not tuned.
- ``uniform_l2``: the fixed-weight ensemble — the same solver with Λ the single point
  λ = 1/p (``BoxSimplex(1/p, 1/p)``), i.e. min of the uniform average + l2 ‖W‖², l2 chosen
  over L2S.
- ``almo_l2`` (for reference): ALMO over the simplex without the penalty, l2 chosen over L2S —
  the minimax alone, so the penalty's share of a difference can be read off.

Same tuning budget for every method: 5 candidates, the same 3 stratified folds of the training
split (``StratifiedKFold(3, shuffle=True, random_state=seed)`` over the groups, as
``cross_validated_beta`` draws them) and the same criterion, the mean validation worst case over
the simplex (``almo.complexity.held_out_worst_case``). The test split is used once, by the
chosen candidate refitted on the whole training split.

Reported per setting and method (means over seeds): the held-out worst case over the simplex
(the target), its difference to uniform and on how many seeds ALMO is lower, the training worst
case (how well it optimized, not how well it learned), held-out accuracy and worst-class
accuracy, the largest certified relative gap of the refits, and the chosen values.

Target (issue 10): ``almo_rademacher`` has a lower mean held-out worst case than ``uniform_l2``
in all three settings, and is lower on ≥ 4 of 5 seeds in at least two of them.

Usage: ``python benchmarks/heldout.py [--quick]`` (quick: one seed, 3 candidates, 2 folds,
600 rows of digits); writes benchmarks/results/heldout.json (heldout_quick.json with
``--quick``) and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from almo import BoxSimplex, ObjectiveFamily, Simplex, solve_linear
from almo.complexity import RademacherPenalty, cross_validated_beta, held_out_worst_case
from almo.solvers import ConvergenceWarning

LOSSES = ["log_loss", "squared"]
SETTINGS: dict[str, Callable[..., Any]] = {
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "digits": load_digits,
}
SEEDS = (0, 1, 2, 3, 4)
BETA_FRACTIONS = (0.0, 1e-3, 1e-2, 1e-1, 1.0)  # of β_bound
L2S = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
ALMO_L2 = 1e-4  # ridge floor under the Rademacher penalty (not tuned)
FOLDS = 3
TEST_SIZE = 0.3
QUICK_ROWS = 600  # digits rows in the smoke run


# ------------------------------------------------------------------------------ evaluation


def family_for(y_train: np.ndarray) -> ObjectiveFamily:
    """The objective family, calibrated at the zero model (log C for log_loss, 1 for squared)."""
    n_groups = int(y_train.max()) + 1
    family = ObjectiveFamily(LOSSES, groups=n_groups, normalize="initial")
    shape = (len(y_train),) if n_groups == 2 else (len(y_train), n_groups)
    family.calibrate(
        torch.zeros(shape, dtype=torch.float64),
        torch.as_tensor(y_train),
        torch.as_tensor(y_train),
    )
    return family


def objectives(family: ObjectiveFamily, sol: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The p normalized objectives of a solution on (X, y), groups = classes, via the family."""
    scores = X @ np.asarray(sol.coef_).T + np.asarray(sol.intercept_)
    if scores.shape[1] == 1:  # binary: one score per sample (the family's margin form)
        scores = scores[:, 0]
    y_t = torch.as_tensor(y)
    batch = family.batch(torch.as_tensor(scores, dtype=torch.float64), y_t, y_t)
    return np.asarray(batch.means(), dtype=np.float64)


def accuracy(sol: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Overall accuracy and the lowest per-class accuracy (the worst group's)."""
    scores = X @ np.asarray(sol.coef_).T + np.asarray(sol.intercept_)
    pred = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(axis=1)
    per_class = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return float(np.mean(pred == y)), min(per_class)


# ------------------------------------------------------------------------------ the methods


def fit(method: str, value: float, family: ObjectiveFamily, X: np.ndarray, y: np.ndarray) -> Any:
    """One certified solve of ``method`` with its tuning parameter ``value`` (β or l2)."""
    p = family.p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the gap is reported instead
        if method == "almo_rademacher":
            return solve_linear(
                X,
                y,
                family,
                groups=y,
                l2=ALMO_L2,
                mixture_set=Simplex(p),
                penalty=RademacherPenalty(beta=value),
            )
        if method == "almo_l2":
            return solve_linear(X, y, family, groups=y, l2=value, mixture_set=Simplex(p))
        uniform = np.full(p, 1.0 / p)
        return solve_linear(
            X, y, family, groups=y, l2=value, mixture_set=BoxSimplex(uniform, uniform)
        )


METHODS = ("almo_rademacher", "uniform_l2", "almo_l2")


def tune_l2(
    method: str,
    grid: tuple[float, ...],
    family: ObjectiveFamily,
    X: np.ndarray,
    y: np.ndarray,
    folds: int,
    seed: int,
) -> tuple[float, list[float]]:
    """The l2 with the lowest mean validation worst case, on the folds cross_validated_beta
    draws for the same seed (stratified by group; here the groups are the classes)."""
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    tests = [test for _, test in split.split(np.zeros(len(y)), y)]
    scores = []
    for value in grid:
        worst = []
        for test in tests:
            train = np.setdiff1d(np.arange(len(y)), test)
            sol = fit(method, value, family, X[train], y[train])
            worst.append(held_out_worst_case(sol, X[test], y[test], family, y[test]))
        scores.append(float(np.mean(worst)))
    return grid[int(np.argmin(scores))], scores


def tune(
    method: str,
    grid: tuple[float, ...],
    family: ObjectiveFamily,
    X: np.ndarray,
    y: np.ndarray,
    folds: int,
    seed: int,
) -> tuple[float, list[float]]:
    if method != "almo_rademacher":
        return tune_l2(method, grid, family, X, y, folds, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sel = cross_validated_beta(
            X, y, family, groups=y, betas=grid, n_splits=folds, l2=ALMO_L2, seed=seed
        )
    return sel.beta, sel.scores.tolist()


def load(name: str, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    X, y = SETTINGS[name](return_X_y=True)
    if quick and len(y) > QUICK_ROWS:
        X, y = X[:QUICK_ROWS], y[:QUICK_ROWS]
    return X.astype(np.float64), y


def run_split(
    name: str,
    seed: int,
    fractions: tuple[float, ...],
    l2s: tuple[float, ...],
    folds: int,
    quick: bool,
) -> dict:
    X, y = load(name, quick)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    family = family_for(y_tr)
    beta_bound = RademacherPenalty("bound").fit(X_tr, family, y_tr, y_tr).beta_
    grids = {
        "almo_rademacher": tuple(beta_bound * f for f in fractions),
        "uniform_l2": l2s,
        "almo_l2": l2s,
    }
    out: dict[str, Any] = {
        "seed": seed,
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "beta_bound": beta_bound,
    }
    for method in METHODS:
        t0 = time.perf_counter()
        chosen, cv_scores = tune(method, grids[method], family, X_tr, y_tr, folds, seed)
        sol = fit(method, chosen, family, X_tr, y_tr)
        train = objectives(family, sol, X_tr, y_tr)
        # the family's evaluation and the solver's own report must agree on the training data
        assert np.allclose(train, sol.report.normalized, rtol=1e-9, atol=1e-12)
        test = objectives(family, sol, X_te, y_te)
        acc, worst_acc = accuracy(sol, X_te, y_te)
        out[method] = {
            "grid": list(grids[method]),
            "chosen": chosen,
            "cv_worst_case": cv_scores,
            "heldout_worst_case": float(test.max()),
            "heldout_worst_objective": family.names[int(test.argmax())],
            "heldout_objectives": test.tolist(),
            "train_worst_case": float(train.max()),
            "heldout_accuracy": acc,
            "heldout_worst_class_accuracy": worst_acc,
            "value": sol.value,
            "lower_bound": sol.lower_bound,
            "relative_gap": sol.relative_gap,
            "status": sol.status,
            "coef_norm": float(np.linalg.norm(sol.coef_)),
            "penalty_coefficients": np.asarray(sol.penalty_coefficients).tolist(),
            "weights": sol.weights.tolist(),
            "seconds": time.perf_counter() - t0,
        }
    return out


# ------------------------------------------------------------------------------ summary


def summarize(runs: dict[str, list[dict]], methods: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, seeds in runs.items():
        rows: dict[str, Any] = {}
        base = [r["uniform_l2"]["heldout_worst_case"] for r in seeds]
        for method in methods:
            vals = [r[method]["heldout_worst_case"] for r in seeds]
            diffs = [v - b for v, b in zip(vals, base, strict=True)]
            rows[method] = {
                "heldout_worst_case_mean": statistics.fmean(vals),
                "heldout_worst_case_std": statistics.pstdev(vals),
                "difference_to_uniform_mean": statistics.fmean(diffs),
                "lower_than_uniform": sum(d < 0 for d in diffs),
                "train_worst_case_mean": statistics.fmean(
                    r[method]["train_worst_case"] for r in seeds
                ),
                "heldout_accuracy_mean": statistics.fmean(
                    r[method]["heldout_accuracy"] for r in seeds
                ),
                "heldout_worst_class_accuracy_mean": statistics.fmean(
                    r[method]["heldout_worst_class_accuracy"] for r in seeds
                ),
                "max_relative_gap": max(r[method]["relative_gap"] for r in seeds),
                "chosen": [r[method]["chosen"] for r in seeds],
            }
        summary[name] = rows
    almo = {name: rows["almo_rademacher"] for name, rows in summary.items()}
    n_seeds = len(next(iter(runs.values())))
    lower_mean = [name for name, r in almo.items() if r["difference_to_uniform_mean"] < 0]
    most = [name for name, r in almo.items() if r["lower_than_uniform"] >= 0.8 * n_seeds]
    summary["target"] = {
        "mean_lower_in": lower_mean,
        "lower_on_4_of_5_seeds_in": most,
        "met": len(lower_mean) == len(almo) and len(most) >= 2,
    }
    return summary


def table(summary: dict[str, Any], methods: list[str], n_seeds: int) -> str:
    head = (
        "| setting | method | held-out worst case | Δ vs uniform | lower on | train worst case "
        "| accuracy | worst-class acc. | max rel. gap | chosen |"
    )
    lines = [head, "|" + "---|" * 10]
    for name, rows in summary.items():
        if name == "target":
            continue
        for method in methods:
            r = rows[method]
            chosen = ", ".join(f"{v:g}" for v in r["chosen"])
            param = "β" if method == "almo_rademacher" else "l2"
            lower = "" if method == "uniform_l2" else f"{r['lower_than_uniform']}/{n_seeds}"
            delta = "" if method == "uniform_l2" else f"{r['difference_to_uniform_mean']:+.4f}"
            lines.append(
                f"| {name} | {method} | {r['heldout_worst_case_mean']:.4f} ± "
                f"{r['heldout_worst_case_std']:.4f} | {delta} | {lower} "
                f"| {r['train_worst_case_mean']:.4f} | {r['heldout_accuracy_mean']:.4f} "
                f"| {r['heldout_worst_class_accuracy_mean']:.4f} | {r['max_relative_gap']:.1e} "
                f"| {param} = {chosen} |"
            )
    target = summary["target"]
    lines.append("")
    lines.append(
        f"Target (mean held-out worst case of almo_rademacher below uniform_l2 in every setting, "
        f"and on ≥ 4/5 seeds in at least two): {'met' if target['met'] else 'NOT met'} — "
        f"mean lower in {target['mean_lower_in'] or 'none'}; ≥ 4/5 seeds in "
        f"{target['lower_on_4_of_5_seeds_in'] or 'none'}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="one seed, 3 candidates, 2 folds, 600 digits rows"
    )
    args = parser.parse_args()
    seeds = SEEDS[:1] if args.quick else SEEDS
    fractions = (0.0, 1e-2, 1.0) if args.quick else BETA_FRACTIONS
    l2s = (1e-5, 1e-3, 1e-1) if args.quick else L2S
    folds = 2 if args.quick else FOLDS
    methods = list(METHODS)
    t0 = time.perf_counter()
    runs = {
        name: [run_split(name, seed, fractions, l2s, folds, args.quick) for seed in seeds]
        for name in SETTINGS
    }
    summary = summarize(runs, methods)
    result = {
        "settings": list(SETTINGS),
        "losses": LOSSES,
        "seeds": list(seeds),
        "beta_fractions": list(fractions),
        "l2s": list(l2s),
        "almo_l2": ALMO_L2,
        "folds": folds,
        "test_size": TEST_SIZE,
        "quick": args.quick,
        "seconds": time.perf_counter() - t0,
        "summary": summary,
        "runs": runs,
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / ("heldout_quick.json" if args.quick else "heldout.json")
    path.write_text(json.dumps(result, indent=1))
    print(table(summary, methods, len(seeds)))
    print(f"\n{time.perf_counter() - t0:.0f} s; results in {path.name}")


if __name__ == "__main__":
    main()
