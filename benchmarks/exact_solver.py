"""Exact solver: time to a certified answer, almo against the peer package ``dro`` and cvxpy.

Rows (each timed side by side in one run; the table gives medians over the repeats):

- ``diabetes``: scikit-learn's diabetes (442 × 10), four groups = quartiles of the target, the
  max over groups of the mean squared residual (``dro``'s GroupDRO ``ols``), intercept free,
  l2 = 0; and the same with the mean absolute residual (``lad``, non-smooth).
- ``synthetic n × 50``: Gaussian features, 20 groups with group-dependent noise and shifts, the
  same least-squares objective at l2 = 0 (n = 20,000 and 100,000; ``--quick``: 5,000).
- ``synthetic lad``: 5,000 and 20,000 × 20 (``--quick``: 2,000), 10 groups, absolute residual
  (non-smooth; almo's linear-programming method).
- ``breast cancer``: 569 × 10 (the "mean" features) standardized, two groups (mean radius
  above its median), the max over groups of the mean binary hinge loss at l2 = 0 (``dro``'s
  ``svm``).
- ``digits``: 1797 × 64 standardized, 10 classes, objectives log_loss and squared on the groups
  {0–4}, {5–9}, normalized at W = 0, l2 = 1e-3; and the product instance with hinge added
  (non-smooth); almo's fast methods, and cvxpy for the smooth instance (not in ``--quick``);
  and fixed weights λ = (0, 1, 0) and (1/3, 2/3, 0) over log_loss, hinge and squared (no
  groups), a single-point mixture set — the fixed-weight ensembles ``almo compare`` trains.

As in ``dro`` the group id is a column of the design (both packages fit on the same X). ``dro``
(PyPI ``dro``) is optional: it is imported here only, from its GroupDRO module alone (its package
``__init__`` imports torch models and tree boosters that are not needed); without it the peer
rows are skipped with a note. Install it for the benchmark without touching torch with
``pip install --no-deps dro`` (GroupDRO needs only numpy, scikit-learn and cvxpy).

Targets (issue): diabetes no slower than dro; synthetic 100,000 × 50 with l2 = 0 the same value
as dro to 1e-6, status optimal, ≥ 50× faster; digits with hinge certified to 1e-6 in ≤ 10 s.
The machine may be shared: ratios are measured side by side in one run, and the load average
before and after is printed with them.

Usage: ``python benchmarks/exact_solver.py [--quick]``; writes
benchmarks/results/exact_solver.json (exact_solver_quick.json with ``--quick``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import statistics
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.preprocessing import StandardScaler

from almo.mixtures import BoxSimplex
from almo.solvers import ConvergenceWarning, solve_linear

TOL = 1e-6
TARGETS = {"diabetes_ratio": 1.0, "synthetic_100k_ratio": 50.0, "digits_hinge_seconds": 10.0}


def load_dro() -> tuple[Any, str]:
    """dro's GroupDRO class and version, or (None, why) when dro is not installed."""
    spec = importlib.util.find_spec("dro")
    if spec is None or not spec.submodule_search_locations:
        return None, "dro is not installed (pip install --no-deps dro): peer rows skipped"
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (("dro", root), ("dro.linear_model", root / "linear_model")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(path)]
            sys.modules[name] = stub
    module = importlib.import_module("dro.linear_model.group_dro")
    return module.GroupDRO, importlib.metadata.version("dro")


def diabetes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    g = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    return np.hstack([X, g[:, None].astype(float)]), y, g


def breast_cancer() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's breast cancer, its ten "mean" features (569 × 10; all 30 separate the
    classes, and the hinge optimum is then 0) standardized; groups: mean radius above its
    median or not, appended as the last column (as dro reads it)."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:, :10])
    g = (X[:, 0] > np.median(X[:, 0])).astype(int)
    return np.hstack([X, g[:, None].astype(float)]), y, g


def synthetic(n: int, d: int, G: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d - 1))
    g = rng.integers(0, G, n)
    y = X @ rng.normal(size=d - 1) + (1.0 + g / 5.0) * rng.normal(size=n) + 0.1 * g
    return np.hstack([X, g[:, None].astype(float)]), y, g


def data(quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digits instance (quick: its first 600 rows): X standardized, y, groups {0–4}, {5–9}."""
    X, y = load_digits(return_X_y=True)
    if quick:
        X, y = X[:600], y[:600]
    X = StandardScaler().fit_transform(X)
    return X, y, (y >= 5).astype(int)


def time_almo(X, y, g, losses, l2, method="auto", normalize=None, mixture_set=None) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        try:
            sol = solve_linear(
                X,
                y,
                losses,
                groups=g,
                l2=l2,
                tol=TOL,
                method=method,
                normalize=normalize,
                mixture_set=mixture_set,
            )
        except RuntimeError as err:  # a conic solver that gave up: reported with its time
            return {"seconds": time.perf_counter() - t0, "status": "failed", "error": str(err)}
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "value": sol.value,
        "relative_gap": sol.relative_gap,
        "status": sol.status,
        "method": sol.method,
        "n_iter": sol.n_iter,
        "warned": bool(caught),
    }


def time_dro(GroupDRO, X, y, model_type) -> dict:
    model = GroupDRO(input_dim=X.shape[1], group_idx=X.shape[1] - 1, model_type=model_type)
    t0 = time.perf_counter()
    try:
        model.fit(X, y)
    except Exception as err:
        return {"seconds": time.perf_counter() - t0, "status": "failed", "error": str(err)}
    return {
        "seconds": time.perf_counter() - t0,
        "value": float(model.robust_loss_),
        "status": "solved",
        "method": "dro GroupDRO (cvxpy)",
    }


def median_of(runs: list[dict]) -> dict:
    out = dict(runs[-1])
    out["seconds_all"] = [r["seconds"] for r in runs]
    out["seconds"] = statistics.median(out["seconds_all"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    GroupDRO, dro_version = load_dro()
    load_before = os.getloadavg()
    rows: list[dict] = []

    def row(name, X, y, g, losses, l2, dro_type, repeats, peer_repeats, y_peer=None, **kw):
        # almo and the peer alternate, so both see the same load
        ours, theirs = [], []
        peer = dro_type is not None and GroupDRO is not None
        for i in range(max(repeats, peer_repeats if peer else 0)):
            if i < repeats:
                ours.append(time_almo(X, y, g, losses, l2, **kw))
            if peer and i < peer_repeats:
                theirs.append(time_dro(GroupDRO, X, y if y_peer is None else y_peer, dro_type))
        entry = {"problem": name, "n": int(X.shape[0]), "d": int(X.shape[1])}
        entry["almo"] = median_of(ours)
        if theirs:
            entry["dro"] = median_of(theirs)
        rows.append(entry)
        print(f"  {name}: done", flush=True)

    Xd, yd, gd = diabetes()
    row("diabetes, 4 groups, squared", Xd, yd, gd, "squared", 0.0, "ols", 7, 5)
    row("diabetes, 4 groups, absolute", Xd, yd, gd, "absolute", 0.0, "lad", 5, 3)
    sizes = [5_000] if args.quick else [20_000, 100_000]
    for n in sizes:
        Xs, ys, gs = synthetic(n, 50, 20)
        row(f"synthetic {n:,} × 50, 20 groups, squared", Xs, ys, gs, "squared", 0.0, "ols", 3, 1)
    for n in [2_000] if args.quick else [5_000, 20_000]:
        Xl, yl, gl = synthetic(n, 20, 10, seed=1)
        row(f"synthetic {n:,} × 20, 10 groups, absolute", Xl, yl, gl, "absolute", 0.0, "lad", 3, 3)
    Xb, yb, gb = breast_cancer()
    # dro's svm reads labels ±1; almo's binary hinge reads the 0/1 labels as y± = 2y − 1
    row("breast cancer, 2 groups, hinge", Xb, yb, gb, "hinge", 0.0, "svm", 5, 3, 2 * yb - 1)
    Xg, yg, gg = data(quick=False)
    kw = {"normalize": "initial"}
    row("digits, log_loss + squared", Xg, yg, gg, ["log_loss", "squared"], 1e-3, None, 3, 0, **kw)
    row(
        "digits, log_loss + squared + hinge",
        Xg,
        yg,
        gg,
        ["log_loss", "squared", "hinge"],
        1e-3,
        None,
        3,
        0,
        **kw,
    )
    # fixed weights (Λ a single point) with the multiclass hinge: the smoothed path's worst case
    for lam in ([0.0, 1.0, 0.0], [1 / 3, 2 / 3, 0.0]):
        point = BoxSimplex(np.array(lam), np.array(lam))
        row(
            f"digits, fixed λ = ({', '.join(f'{v:.2g}' for v in lam)}), log_loss + hinge + squared",
            Xg,
            yg,
            None,
            ["log_loss", "hinge", "squared"],
            1e-3,
            None,
            3,
            0,
            mixture_set=point,
            **kw,
        )
    if not args.quick:
        ref = time_almo(Xg, yg, gg, ["log_loss", "squared"], 1e-3, method="cvxpy", **kw)
        smooth = next(r for r in rows if r["problem"] == "digits, log_loss + squared")
        smooth["cvxpy"] = median_of([ref])
    load_after = os.getloadavg()

    print(
        f"\nexact solver, tol = {TOL:g}; load average {load_before[0]:.1f} → {load_after[0]:.1f} "
        f"on {os.cpu_count()} cores; dro: {dro_version}\n"
    )
    print(
        "| problem | almo method | almo median s | status | certified rel. gap | peer | peer "
        "median s | value difference | peer s / almo s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for entry in rows:
        a = entry["almo"]
        gap = "—" if a.get("relative_gap") is None else f"{a['relative_gap']:.1e}"
        for peer in ("dro", "cvxpy"):
            if peer not in entry:
                continue
            p = entry[peer]
            diff = (
                f"{abs(a['value'] - p['value']):.1e}"
                if "value" in a and "value" in p
                else p.get("error", "—")[:60]
            )
            ratio = p["seconds"] / a["seconds"]
            entry[f"{peer}_ratio"] = ratio
            print(
                f"| {entry['problem']} | {a.get('method', '—')} | {a['seconds']:.3f} | "
                f"{a['status']} | {gap} | {peer} | {p['seconds']:.2f} | {diff} | {ratio:.1f}× |"
            )
        if "dro" not in entry and "cvxpy" not in entry:
            print(
                f"| {entry['problem']} | {a.get('method', '—')} | {a['seconds']:.3f} | "
                f"{a['status']} | {gap} | — | — | — | — |"
            )
    if GroupDRO is None:
        print(f"\nnote: {dro_version}")
    out = {
        "quick": args.quick,
        "tol": TOL,
        "targets": TARGETS,
        "dro": dro_version,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }
    name = "exact_solver_quick.json" if args.quick else "exact_solver.json"
    path = Path(__file__).parent / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
