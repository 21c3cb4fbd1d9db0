"""Retraining simulator: R replicates × T generations of the categorical model, against a loop.

Problem: P* = Zipf(1.1) over V = 1,000 tokens, n = 1,000 samples per generation, R = 1,000
replicates, T = 100 generations, policy ``replace``, α ∈ {0, 0.2}. Methods, run interleaved
(one repeat of each in turn) so that they share the machine's load:

- ``simulate`` (tokens): ``almo.sources.simulate`` as users call it — the token-resampling path,
  all six metrics per generation and replicate;
- ``simulate`` (tokens, l2): the same, squared-L2 error only;
- ``simulate`` (counts, l2): the multinomial-counts path (one 2-D ``Generator.multinomial`` per
  generation), l2 only;
- plain loop: for each generation and replicate, ``Generator.multinomial(n, α·P* + (1−α)·P̂)``,
  then the l2 error — the reference the target is set against.

Memory: peak traced allocation (tracemalloc) of ``simulate`` at T = 25 and T = 100; the only
part that grows with T is the metrics record itself, R × (T + 1) × 6 float64.

Target: ≤ 3 s for the full problem on 2 cores (α = 0.2 included); the table gives medians of the
wall time and of the process's CPU time (what a method costs when other work shares the
cores), and ratios to the loop.

Usage: ``python benchmarks/collapse.py [--quick]`` (quick: R = 200, T = 30, one repeat);
writes benchmarks/results/collapse.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from almo.sources import CategoricalModel, simulate, zipf

V, N = 1000, 1000
TARGET_SECONDS = 3.0


def plain_loop(p: np.ndarray, alpha: float, replicates: int, generations: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    probs = np.empty((replicates, V))
    for r in range(replicates):
        probs[r] = rng.multinomial(N, p) / N
    for _ in range(generations):
        mix = alpha * p + (1 - alpha) * probs
        for r in range(replicates):
            probs[r] = rng.multinomial(N, mix[r]) / N
        err = ((probs - p) ** 2).sum(axis=1)
    return float(err.mean())


def ours(
    p: np.ndarray,
    alpha: float,
    replicates: int,
    generations: int,
    seed: int,
    method: str,
    which: tuple[str, ...] | None,
) -> float:
    model = CategoricalModel(V) if which is None else CategoricalModel(V, which=which)
    res = simulate(
        model,
        p,
        alpha=alpha,
        n=N,
        generations=generations,
        replicates=replicates,
        seed=seed,
        method=method,
    )
    return float(res.mean("l2")[-1])


def timed(fn, *args) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, value): on a shared machine the CPU time is
    what the method costs, the wall time also counts waiting for a core."""
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, value


def peak_memory(p: np.ndarray, replicates: int, generations: int) -> float:
    tracemalloc.start()
    simulate(
        CategoricalModel(V),
        p,
        alpha=0.2,
        n=N,
        generations=generations,
        replicates=replicates,
        seed=0,
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="R = 200, T = 30, one repeat")
    args = parser.parse_args()
    replicates, generations, repeats = (200, 30, 1) if args.quick else (1000, 100, 3)
    p = zipf(V, 1.1)
    methods = {
        "simulate (tokens, all metrics)": lambda a, s: ours(
            p, a, replicates, generations, s, "tokens", None
        ),
        "simulate (tokens, l2)": lambda a, s: ours(
            p, a, replicates, generations, s, "tokens", ("l2",)
        ),
        "simulate (counts, l2)": lambda a, s: ours(
            p, a, replicates, generations, s, "counts", ("l2",)
        ),
        "plain multinomial loop (l2)": lambda a, s: plain_loop(p, a, replicates, generations, s),
    }
    load_before = os.getloadavg()
    results: dict[str, dict[str, dict]] = {}
    for alpha in (0.0, 0.2):
        seconds = {name: [] for name in methods}
        cpu = {name: [] for name in methods}
        finals = {}
        for rep in range(repeats):
            for name, fn in methods.items():
                s, c, value = timed(fn, alpha, rep)
                seconds[name].append(s)
                cpu[name].append(c)
                finals[name] = value
        results[str(alpha)] = {
            name: {
                "seconds": statistics.median(seconds[name]),
                "seconds_all": seconds[name],
                "cpu_seconds": statistics.median(cpu[name]),
                "cpu_seconds_all": cpu[name],
                "final_l2": finals[name],
            }
            for name in methods
        }
    memory = {t: peak_memory(p, replicates, t) for t in (generations // 4, generations)}
    load_after = os.getloadavg()

    print(
        f"categorical, V = {V}, n = {N}, R = {replicates}, T = {generations}, replace; "
        f"median of {repeats}; load average {load_before[0]:.1f} → {load_after[0]:.1f} "
        f"on {os.cpu_count()} cores (shared machine)\n"
    )
    print("| α | method | median s | median CPU s | loop / method | final mean l2 |")
    print("|---|---|---|---|---|---|")
    for alpha, rows in results.items():
        loop = rows["plain multinomial loop (l2)"]["seconds"]
        for name, r in rows.items():
            r["ratio_to_loop"] = loop / r["seconds"]
            print(
                f"| {alpha} | {name} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
                f"{r['ratio_to_loop']:.2f}× | "
                f"{r['final_l2']:.5f} |"
            )
    record = {t: replicates * (t + 1) * 6 * 8 / 2**20 for t in memory}
    print("\n| T | peak traced MiB | of which the metrics record |")
    print("|---|---|---|")
    for t, mib in memory.items():
        print(f"| {t} | {mib:.1f} | {record[t]:.1f} |")
    best = min(results[a]["simulate (tokens, all metrics)"]["seconds"] for a in results)
    worst = max(results[a]["simulate (tokens, all metrics)"]["seconds"] for a in results)
    cpu_worst = max(results[a]["simulate (tokens, all metrics)"]["cpu_seconds"] for a in results)
    print(
        f"\nsimulate with all metrics: {best:.2f}–{worst:.2f} s wall, at most {cpu_worst:.2f} s "
        f"CPU (target ≤ {TARGET_SECONDS:g} s for the full problem"
        f"{'; quick sizes here' if args.quick else ''})"
    )
    out = {
        "quick": args.quick,
        "V": V,
        "n": N,
        "replicates": replicates,
        "generations": generations,
        "repeats": repeats,
        "target_seconds": TARGET_SECONDS,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpu_count": os.cpu_count(),
        "results": results,
        "peak_memory_mib": {str(t): m for t, m in memory.items()},
        "metrics_record_mib": {str(t): m for t, m in record.items()},
    }
    path = Path(__file__).parent / "results" / "collapse.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
