"""The estimators' held-out target: ALMO against the uniform fixed-weight ensemble.

Settings: scikit-learn's breast cancer (2 classes) and digits (10), the classes as the groups,
so that each of the estimators' default losses (log_loss, squared) gives one objective per class
(p = 4 and p = 20). For each seed 0, 1, 2: a 70/30 split stratified on the class, features
standardized on the training split (``StandardScaler``), then two estimators with default
parameters, fitted on the training split with ``groups=y``:

- ``ALMO``: ``ALMOClassifier(random_state=seed)`` — the worst mixture over the simplex, with the
  default Rademacher penalty;
- ``uniform``: the same estimator with ``weight_rule=FixedWeights(1/p)`` — the fixed-weight
  ensemble with the same scales, penalty and model.

Reported per setting and model (mean ± standard error over the seeds): the held-out worst case
over the simplex (``worst_case_loss`` on the test split, the target), the training worst case,
held-out accuracy and worst-class accuracy, on how many seeds ALMO's held-out worst case is the
lower, and the seconds per fit. With default parameters a linear model is solved exactly
(certified); the full run adds ``model="mlp"`` (the torch trainer, default epochs), which
``--quick`` leaves out.

Target (issue 11): ALMO's mean held-out worst case is below uniform's on both data sets, with
default parameters.

Usage: ``python benchmarks/estimators.py [--quick]``; writes benchmarks/results/estimators.json
and prints the markdown table.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from almo import FixedWeights
from almo.estimators import ALMOClassifier

SETTINGS: dict[str, Callable[..., Any]] = {
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}
SEEDS = (0, 1, 2)
TEST_SIZE = 0.3
ARMS = ("ALMO", "uniform")


def mean_se(values: list[float]) -> dict[str, float]:
    """Mean and standard error (NaN with one value)."""
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return {"mean": m, "se": se}


def one_seed(name: str, seed: int, model: str) -> dict[str, dict[str, float]]:
    """Both arms on one split: held-out and training worst case, accuracies, seconds."""
    X, y = SETTINGS[name](return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=TEST_SIZE, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(Xa)
    Xa, Xb = scaler.transform(Xa), scaler.transform(Xb)
    out: dict[str, dict[str, float]] = {}
    p: int | None = None
    for arm in ARMS:
        params: dict[str, Any] = {"random_state": seed, "model": model}
        if arm == "uniform":
            assert p is not None
            params["weight_rule"] = FixedWeights(np.full(p, 1.0 / p))
        start = time.perf_counter()
        est = ALMOClassifier(**params).fit(Xa, ya, groups=ya)
        seconds = time.perf_counter() - start
        p = len(est.objective_names_)
        pred = est.predict(Xb)
        per_class = [float(np.mean(pred[yb == c] == c)) for c in np.unique(yb)]
        out[arm] = {
            "held_out_worst_case": est.worst_case_loss(Xb, yb, yb),
            "train_worst_case": est.worst_case_loss(Xa, ya, ya),
            "accuracy": float(np.mean(pred == yb)),
            "worst_class_accuracy": min(per_class),
            "seconds": seconds,
            "path": 0.0 if est.method_ == "exact" else 1.0,
        }
    return out


def summarize(runs: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Mean ± s.e. per arm and metric, and on how many seeds ALMO is lower held out."""
    summary: dict[str, Any] = {}
    for arm in ARMS:
        summary[arm] = {
            key: mean_se([r[arm][key] for r in runs]) for key in runs[0][arm] if key != "path"
        }
    almo = [r["ALMO"]["held_out_worst_case"] for r in runs]
    uniform = [r["uniform"]["held_out_worst_case"] for r in runs]
    summary["almo_lower_on"] = sum(a < u for a, u in zip(almo, uniform, strict=True))
    summary["difference"] = mean_se([a - u for a, u in zip(almo, uniform, strict=True)])
    summary["target_met"] = statistics.fmean(almo) < statistics.fmean(uniform)
    return summary


def table(results: dict[str, dict[str, Any]], n_seeds: int) -> str:
    """The markdown table of the summaries."""

    def fmt(s: dict[str, float], digits: int = 4) -> str:
        se = "n/a" if math.isnan(s["se"]) else f"{s['se']:.{digits}f}"
        return f"{s['mean']:.{digits}f} ± {se}"

    lines = [
        f"Held-out worst case over the simplex, mean ± s.e. over {n_seeds} seeds "
        "(70/30 stratified split, StandardScaler, default parameters, the classes as groups).",
        "",
        "| data | model | arm | held-out worst case | training worst case | accuracy "
        "| worst-class accuracy | s per fit | ALMO lower on |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, summary in results.items():
        name, model = key.split("/")
        for arm in ARMS:
            s = summary[arm]
            lower = f"{summary['almo_lower_on']}/{n_seeds}" if arm == "ALMO" else ""
            lines.append(
                f"| {name} | {model} | {arm} | {fmt(s['held_out_worst_case'])} "
                f"| {fmt(s['train_worst_case'])} | {fmt(s['accuracy'], 3)} "
                f"| {fmt(s['worst_class_accuracy'], 3)} | {s['seconds']['mean']:.2f} | {lower} |"
            )
    met = all(bool(s["target_met"]) for k, s in results.items() if k.endswith("/linear"))
    verdict = "met" if met else "MISSED"
    lines += ["", f"Target (linear, both data sets: ALMO below uniform): {verdict}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="linear models only (the exact path, the target)"
    )
    args = parser.parse_args()
    models = ("linear",) if args.quick else ("linear", "mlp")
    t0 = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        for name in SETTINGS:
            for model in models:
                key = f"{name}/{model}"
                runs[key] = [one_seed(name, seed, model) for seed in SEEDS]
                results[key] = summarize(runs[key])
    path = write_result(
        "estimators",
        {
            "settings": list(SETTINGS),
            "models": list(models),
            "seeds": list(SEEDS),
            "test_size": TEST_SIZE,
            "quick": args.quick,
            "seconds": time.perf_counter() - t0,
            "summary": results,
            "runs": runs,
        },
    )
    print(table(results, len(SEEDS)))
    print(f"\n{time.perf_counter() - t0:.0f} s; results in {path.name}")


if __name__ == "__main__":
    main()
