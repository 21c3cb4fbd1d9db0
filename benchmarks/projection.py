"""Projection speed: Simplex.project and BoxSimplex.project against numpy.sort, and against cvxpy.

For each size p and input kind, the projections and ``numpy.sort`` of the same vector are timed
side by side (interleaved, in one run) and the ratio of the medians is reported, so the numbers
mean the same on a fast or a slow, idle or loaded machine. A ratio below 1 means the projection
is cheaper than sorting its input once.

Inputs: "gaussian" (standard normal); "close" (all entries within 1e-3 of each other: the cheap
bounds on τ then discard nothing); "tight" (within 1e-5: about half of the entries stay active,
the hardest case found for the simplex kernel). The box is lower = 0.5/p, upper = 10/p for every
entry; "box (varied)" draws per-entry bounds instead (no scalar fast path).

Peer: POT's ``ot.utils.proj_simplex`` (Python Optimal Transport, the sort-based projection of
Duchi et al.), timed in the same rounds; the table gives its time over almo's Simplex
projection (above 1: almo is faster) and the largest difference of the two results. POT is
imported only here; without it the column says so. It installs without pulling any other torch:
``pip install --no-deps POT`` (its only requirements are numpy and scipy).

Usage: ``python benchmarks/projection.py [--quick]``; writes benchmarks/results/projection.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from almo.mixtures import BoxSimplex, Simplex

TARGETS = {  # at p = 10^6, ratio to one numpy.sort
    ("simplex", "gaussian"): 0.5,
    ("simplex", "hardest"): 1.5,
    ("box", "gaussian"): 1.0,
    ("box", "hardest"): 3.0,
}


def pot_projection() -> tuple[object | None, str]:
    """POT's simplex projection, or None and the reason it is missing."""
    try:
        from ot.utils import proj_simplex
    except ImportError as exc:
        return None, f"POT not installed ({exc}); pip install --no-deps POT"
    import ot

    return proj_simplex, f"POT {ot.__version__}"


def inputs(rng: np.random.Generator, p: int) -> dict[str, np.ndarray]:
    return {
        "gaussian": rng.normal(size=p),
        "close": 1.0 + 1e-3 * rng.random(p),
        "tight": 1e-5 * rng.random(p),
    }


def interleaved(funcs: dict[str, object], repeats: int) -> dict[str, float]:
    """Median seconds of each callable, timed round-robin so that load hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in funcs}
    for f in funcs.values():  # warm-up (allocations, imports)
        f()
    for _ in range(repeats):
        for name, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def cvxpy_speedup(p: int, repeats: int, rng: np.random.Generator) -> dict[str, float]:
    import cvxpy as cp

    v_par, x = cp.Parameter(p), cp.Variable(p)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - v_par)), [x >= 0, cp.sum(x) == 1])
    simplex = Simplex(p)
    v = rng.normal(size=p)

    def with_cvxpy() -> None:
        v_par.value = v
        problem.solve(solver=cp.CLARABEL)

    med = interleaved({"cvxpy": with_cvxpy, "almo": lambda: simplex.project(v)}, repeats)
    error = float(np.abs(simplex.project(v) - x.value).max())
    return {
        "cvxpy_s": med["cvxpy"],
        "almo_s": med["almo"],
        "speedup": med["cvxpy"] / med["almo"],
        "max_abs_diff": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    sizes = [10**3, 10**5] if args.quick else [10**3, 10**5, 10**6]
    repeats = 5 if args.quick else 21
    rng = np.random.default_rng(0)
    pot, pot_note = pot_projection()
    rows = []
    for p in sizes:
        simplex = Simplex(p)
        box = BoxSimplex(0.5 / p, 10.0 / p, p=p)
        lo = rng.uniform(0.0, 1.0 / p, p)
        varied = BoxSimplex(lo, lo + rng.uniform(0.0, 20.0 / p, p))
        for kind, v in inputs(rng, p).items():
            funcs = {
                "sort": lambda v=v: np.sort(v),
                "simplex": lambda v=v, s=simplex: s.project(v),
                "box": lambda v=v, s=box: s.project(v),
                "box_varied": lambda v=v, s=varied: s.project(v),
            }
            if pot is not None:
                funcs["pot"] = lambda v=v: pot(v)  # type: ignore[operator]
            med = interleaved(funcs, repeats)
            row = {
                "p": p,
                "input": kind,
                "sort_ms": 1e3 * med["sort"],
                "simplex_ms": 1e3 * med["simplex"],
                **{f"{k}_ratio": med[k] / med["sort"] for k in ("simplex", "box", "box_varied")},
            }
            if pot is not None:
                row["pot_ms"] = 1e3 * med["pot"]
                row["pot_over_almo"] = med["pot"] / med["simplex"]
                diff = np.abs(np.asarray(pot(v)) - simplex.project(v)).max()  # type: ignore[operator]
                row["pot_max_abs_diff"] = float(diff)
            rows.append(row)
    cvx = cvxpy_speedup(10**3, 5 if args.quick else 11, rng)

    print(
        "| p | input | sort (ms) | Simplex / sort | BoxSimplex / sort | BoxSimplex varied / sort |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['p']:.0e} | {r['input']} | {r['sort_ms']:.2f} | {r['simplex_ratio']:.2f} "
            f"| {r['box_ratio']:.2f} | {r['box_varied_ratio']:.2f} |"
        )
    print(f"\nPeer: {pot_note}, ot.utils.proj_simplex against almo's Simplex.project\n")
    if pot is None:
        print("(skipped)")
    else:
        print("| p | input | almo (ms) | POT (ms) | POT / almo | max abs difference |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['p']:.0e} | {r['input']} | {r['simplex_ms']:.3f} | {r['pot_ms']:.3f} "
                f"| {r['pot_over_almo']:.2f} | {r['pot_max_abs_diff']:.1e} |"
            )
    print(
        f"\nSimplex at p=1e3 vs cvxpy (Clarabel, problem built once): "
        f"{cvx['speedup']:.0f}x faster ({1e3 * cvx['almo_s']:.3f} ms vs "
        f"{1e3 * cvx['cvxpy_s']:.1f} ms), max |difference| {cvx['max_abs_diff']:.1e}"
    )

    largest = max(sizes)
    checks = {}
    for (kernel, kind), target in TARGETS.items():
        at_p = [r for r in rows if r["p"] == largest]
        vals = (
            [r[f"{kernel}_ratio"] for r in at_p if r["input"] != "gaussian"]
            if kind == "hardest"
            else [r[f"{kernel}_ratio"] for r in at_p if r["input"] == "gaussian"]
        )
        checks[f"{kernel}/{kind}"] = {
            "ratio": max(vals),
            "target": target,
            "met": max(vals) <= target,
        }
    checks["cvxpy_speedup_p1e3"] = {
        "ratio": cvx["speedup"],
        "target": 100.0,
        "met": cvx["speedup"] >= 100.0,
    }
    print(f"\nTargets at p={largest:.0e}:")
    for name, c in checks.items():
        print(f"- {name}: {c['ratio']:.2f} (target {c['target']}) {'ok' if c['met'] else 'MISSED'}")

    out = Path(__file__).parent / "results" / "projection.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "cvxpy": cvx,
                "targets": checks,
                "quick": args.quick,
                "repeats": repeats,
                "peer": pot_note,
                "cpu_count": os.cpu_count(),
                "load_average": list(os.getloadavg()),
            },
            indent=2,
        )
    )
    print("\nwrote benchmarks/results/projection.json")


if __name__ == "__main__":
    main()
