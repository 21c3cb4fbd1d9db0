"""Scaling: time per epoch of MinimaxTrainer against n and p, and the simulator against V and R.

1. Rows n: a linear model (16 features, 2 classes) trained by ``MinimaxTrainer`` on one loss
   over 10 groups, batches of 4,096 rows, n = 10^4 … 10^6. Target: linear in n (log-log slope
   within [0.9, 1.1]): the per-step cost does not grow with the data.
2. Groups p: the same model and batch size, n fixed, p = 2 … 10^4 groups (one objective per
   group). Target: flat in p (|slope| ≤ 0.1): the family, the λ step and the projection are
   cheap next to the forward and backward passes at this batch size.
3. The contaminated-retraining simulator (``almo.sources.simulate``, categorical model, Zipf(1.1)
   truth, α = 0.2, n = 1,000 per generation, 10 generations) against the vocabulary V and the
   replicates R.

Each trainer configuration runs one ``fit`` of ``repeats + 1`` epochs; the first epoch is
warm-up and the median of the others is reported (``EpochRecord.seconds``, wall clock, one torch
thread). Simulator configurations are timed round-robin, median of ``repeats``. Slopes are
least-squares fits of log(seconds) on log(size).

Usage: ``python benchmarks/scaling.py [--quick]`` (quick: n up to 10^6 with fewer points,
p up to 10^4 at n = 10^5, V up to 10^4); writes benchmarks/results/scaling.json
(scaling_quick.json with ``--quick``) and prints the markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, load_average, loglog_slope, median, write_result
from almo import MinimaxTrainer, ObjectiveFamily
from almo.sources import CategoricalModel, simulate

FEATURES = 16
BATCH = 4096
N_SLOPE = (0.9, 1.1)
P_SLOPE = 0.1


def batches(n: int, p: int, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """Pre-built batches (x, y, group): the loader costs nothing, the trainer is what is timed."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=gen)
    y = (x[:, 0] + 0.5 * torch.randn(n, generator=gen) > 0).long()
    g = torch.randint(0, p, (n,), generator=gen)
    g[:p] = torch.arange(min(p, n))  # every group present at least once
    return [(x[i : i + BATCH], y[i : i + BATCH], g[i : i + BATCH]) for i in range(0, n, BATCH)]


def epoch_seconds(n: int, p: int, repeats: int) -> dict[str, float]:
    """Median seconds per epoch over ``repeats`` epochs after one warm-up epoch."""
    data = batches(n, p)
    torch.manual_seed(0)
    trainer = MinimaxTrainer(
        torch.nn.Linear(FEATURES, 2), ObjectiveFamily("log_loss", groups=p), verbose=False, seed=0
    )
    history = trainer.fit(data, epochs=repeats + 1)
    secs = [r.seconds for r in history.epochs[1:]]
    return {"n": n, "p": p, "steps": len(data), "seconds": median(secs), "all": secs}


def zipf(V: int) -> np.ndarray:
    w = 1.0 / np.arange(1, V + 1) ** 1.1
    return w / w.sum()


def simulator_seconds(configs: list[tuple[int, int]], repeats: int) -> list[dict[str, float]]:
    def run(V: int, R: int) -> None:
        simulate(
            CategoricalModel(V), zipf(V), alpha=0.2, n=1000, generations=10, replicates=R, seed=0
        )

    funcs = {f"{V},{R}": (lambda V=V, R=R: run(V, R)) for V, R in configs}
    times = interleaved(funcs, repeats)
    return [{"V": V, "R": R, "seconds": median(times[f"{V},{R}"])} for V, R in configs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes, smaller p-sweep n")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs / runs per size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = max(1, args.repeats)
    t_start, load_before = time.perf_counter(), load_average()

    ns = [10**4, 10**5, 10**6] if args.quick else [10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6]
    ps = [2, 100, 10**4] if args.quick else [2, 10, 100, 1000, 10**4]
    n_for_p = 10**5 if args.quick else 2 * 10**5
    Vs = [100, 1000, 10**4] if args.quick else [100, 1000, 10**4, 10**5]
    Rs = [10, 100, 1000]

    by_n = [epoch_seconds(n, 10, repeats) for n in ns]
    by_p = [epoch_seconds(n_for_p, p, repeats) for p in ps]
    sim_v = simulator_seconds([(V, 100) for V in Vs], repeats)
    sim_r = simulator_seconds([(1000, R) for R in Rs], repeats)

    slopes = {
        "trainer_n": loglog_slope(ns, [r["seconds"] for r in by_n]),
        "trainer_p": loglog_slope(ps, [r["seconds"] for r in by_p]),
        "simulator_V": loglog_slope(Vs, [r["seconds"] for r in sim_v]),
        "simulator_R": loglog_slope(Rs, [r["seconds"] for r in sim_r]),
    }
    targets = {
        "trainer_n": {
            "target": f"slope in [{N_SLOPE[0]}, {N_SLOPE[1]}]",
            "met": N_SLOPE[0] <= slopes["trainer_n"] <= N_SLOPE[1],
        },
        "trainer_p": {
            "target": f"abs(slope) <= {P_SLOPE}",
            "met": abs(slopes["trainer_p"]) <= P_SLOPE,
        },
    }
    load_after = load_average()

    print(
        f"Scaling ({'quick, ' if args.quick else ''}1 torch thread, medians of {repeats} "
        f"epochs/runs; load average {load_before[0]} → {load_after[0]})\n"
    )
    print(f"MinimaxTrainer, linear model, batch {BATCH}, one loss over p groups:\n")
    print("| n rows | p groups | steps/epoch | s/epoch | µs/step |")
    print("|---:|---:|---:|---:|---:|")
    for r in by_n + by_p:
        print(
            f"| {r['n']:,} | {r['p']:,} | {r['steps']} | {r['seconds']:.3f} "
            f"| {1e6 * r['seconds'] / r['steps']:.0f} |"
        )
    print("\nSimulator (categorical, n = 1,000, T = 10 generations):\n")
    print("| V | R | s/run |")
    print("|---:|---:|---:|")
    for r in sim_v + sim_r:
        print(f"| {r['V']:,} | {r['R']:,} | {r['seconds']:.3f} |")
    print("\n| fitted log-log slope | value | target |")
    print("|---|---:|---|")
    labels = {
        "trainer_n": "trainer, s/epoch vs n",
        "trainer_p": f"trainer, s/epoch vs p (n = {n_for_p:,})",
        "simulator_V": "simulator, s/run vs V (R = 100)",
        "simulator_R": "simulator, s/run vs R (V = 1,000)",
    }
    for key, value in slopes.items():
        t = targets.get(key)
        target = "—" if t is None else f"{t['target']}: {'ok' if t['met'] else 'MISSED'}"
        print(f"| {labels[key]} | {value:.2f} | {target} |")

    name = "scaling_quick" if args.quick else "scaling"
    path = write_result(
        name,
        {
            "quick": args.quick,
            "repeats": repeats,
            "batch": BATCH,
            "features": FEATURES,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "seconds_total": time.perf_counter() - t_start,
            "trainer_by_n": by_n,
            "trainer_by_p": by_p,
            "simulator_by_V": sim_v,
            "simulator_by_R": sim_r,
            "slopes": slopes,
            "targets": targets,
        },
    )
    print(f"\nwrote benchmarks/results/{path.name} ({time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
