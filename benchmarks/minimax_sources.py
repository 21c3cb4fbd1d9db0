"""The true/synthetic mixture as one objective family: minimax (with and without the Rademacher
penalty) against fixed-weight pooling over 20 generations of contaminated retraining.

Setting: P* = Zipf(1.1) over V = 1000 tokens, α = 0.05, n = 1000 (k = 50 true and 950 synthetic
samples per generation), 20 generations, Λ = {λ_true ≥ 0.5}, the unigram logits model of
``almo.sources.simulate_minimax`` with its defaults (30 epochs of Adam(0.1) per generation, warm
started). Arms, all on the same true samples and the same generation-0 model:

- ``pooled``: fixed weights (k/n, 1 − k/n), the contamination-agnostic pooled log loss;
- ``minimax``: projected ascent on λ over Λ, no penalty;
- ``minimax + rademacher``: the game Σ_k λ_k (ℓ_k + r_k) with r_k = β·2‖w‖₂/√m_k, the
  Rademacher bound of the log loss of the class {‖w‖₂ ≤ W} on the source's own m_k samples, at
  the bound's constant β = 2 (``penalty="rademacher"``);
- ``minimax + rademacher (from w_{t−1})``: the same bound for the class {‖w − w_{t−1}‖₂ ≤ W}
  around the warm start (``penalty_center="previous"``), a choice made from the model (each
  generation fine-tunes the previous one), not from the evaluation metric;
- ``hindsight (oracle)``: fixed weights (w, 1 − w) on an 11-point grid of w in [0, 1], the w of
  least mean final l2 — it reads P*, so no learner can match it; a reference line only.

Reported at generation 20, mean ± sd over replicates: every metric of ``simulate_minimax`` (l2 =
‖P̂ − P*‖²₂, tv, kl, entropy, support, tail_mass) and λ_true (final generation, and the mean over
generations 1–20). Target (issue 10): ``minimax + penalty`` no worse than ``pooled`` in l2.

Twenty replicates by default (enough for a stable band; about 30 minutes with two jobs at the
full size): the table gives mean ± sd and the standard error of each mean, and ends with the
sentence ``almo collapse --almo`` prints on why the unpenalized minimax arm loses to pooling.

Each (configuration, replicate) is one call with seed = replicate, so the pooled arms of the
three configurations are the same run (checked). Runs are spread over ``--jobs`` processes.

Usage: ``python benchmarks/minimax_sources.py [--quick] [--jobs J]`` (quick: V = 200, n = 400,
5 generations, 2 replicates, 5 grid points); writes benchmarks/results/minimax_sources.json
(minimax_sources_quick.json with ``--quick``) and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from almo.sources import zipf
from almo.sources.cli import ALMO_EXPLANATION, PENALTY_NOTE
from almo.sources.metrics import CATEGORICAL_METRICS
from almo.sources.minimax import simulate_minimax

FULL = {"vocab": 1000, "n": 1000, "generations": 20, "replicates": 20, "grid": 11}
QUICK = {"vocab": 200, "n": 400, "generations": 5, "replicates": 2, "grid": 5}
ALPHA, ALPHA_MIN, ZIPF = 0.05, 0.5, 1.1
CONFIGS: dict[str, dict[str, Any]] = {
    "base": {"penalty": None},
    "rademacher": {"penalty": "rademacher"},
    "rademacher_prev": {"penalty": "rademacher", "penalty_center": "previous"},
}
LABELS = {
    "pooled": "pooled (fixed k/n)",
    "minimax": "minimax",
    "rademacher": "minimax + rademacher (β = 2)",
    "rademacher_prev": "minimax + rademacher (β = 2, from w_{t−1})",
    "hindsight": "hindsight best fixed w (oracle)",
}


def run_one(config: str, seed: int, size: dict[str, int]) -> dict[str, Any]:
    """One configuration, one replicate: final metrics and λ_true of each arm it returns."""
    kwargs = dict(CONFIGS[config])
    if config == "base":
        kwargs["hindsight"] = size["grid"]
    start = time.perf_counter()
    out = simulate_minimax(
        zipf(size["vocab"], ZIPF),
        alpha=ALPHA,
        n=size["n"],
        generations=size["generations"],
        replicates=1,
        alpha_min=ALPHA_MIN,
        seed=seed,
        **kwargs,
    )
    seconds = time.perf_counter() - start
    arms: dict[str, Any] = {}
    for arm, res in out.items():
        name = arm if config == "base" or arm != "minimax" else config
        if config != "base" and arm == "pooled":
            name = f"pooled@{config}"
        row: dict[str, Any] = {m: float(res.metrics[m][0, -1]) for m in CATEGORICAL_METRICS}
        row["l2_curve"] = res.metrics["l2"][0].tolist()
        if "mean_weights" in res.info:
            lam = np.array(res.info["mean_weights"])[1:, 0]
            row["lambda_true_final"] = float(lam[-1])
            row["lambda_true_mean"] = float(lam.mean())
        if arm == "hindsight":
            row["best_weight"] = res.info["best_weight"]
            row["grid"] = res.info["grid"]
            row["grid_final"] = res.info["grid_final"]
        arms[name] = row
    return {"config": config, "seed": seed, "seconds": seconds, "arms": arms}


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and sd over replicates of each arm's final metrics and λ_true."""
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for arm, row in run["arms"].items():
            by_arm.setdefault(arm, []).append(row)
    table: dict[str, dict[str, Any]] = {}
    for arm, rows in by_arm.items():
        keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
        entry: dict[str, Any] = {}
        for k in keys:
            vals = np.array([r[k] for r in rows])
            entry[k] = {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1) or 0.0)}
        entry["replicates"] = len(rows)
        if arm == "hindsight":
            # One w for all replicates: the least mean final l2 over the grid (each run chose
            # its own w on one replicate, a stronger oracle, kept as best_weight_per_replicate).
            grid_l2 = np.mean([r["grid_final"]["l2"] for r in rows], axis=0)
            best = int(np.argmin(grid_l2))
            for m in CATEGORICAL_METRICS:
                vals = np.array([r["grid_final"][m][best] for r in rows])
                entry[m] = {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1) or 0.0)}
            entry["best_weight"] = rows[0]["grid"][best]
            entry["best_weight_per_replicate"] = [r["best_weight"] for r in rows]
            entry["grid"] = rows[0]["grid"]
            entry["grid_final_l2_mean"] = grid_l2.tolist()
        table[arm] = entry
    return table


def markdown(table: dict[str, dict[str, Any]], size: dict[str, int]) -> str:
    def cell(entry: dict[str, Any], key: str, fmt: str) -> str:
        if key not in entry:
            return "—"
        return f"{entry[key]['mean']:{fmt}} ± {entry[key]['sd']:{fmt}}"

    head = (
        f"Generation {size['generations']}, α = {ALPHA}, n = {size['n']}, V = {size['vocab']}, "
        f"Λ = {{λ_true ≥ {ALPHA_MIN}}}; mean ± sd over {size['replicates']} replicates "
        "(s.e. of the l2 mean = sd/√R).\n\n"
        "| arm | l2 | s.e. l2 | tv | kl | entropy | support | tail_mass | λ_true (final) | "
        "λ_true (mean) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for arm in ("pooled", "minimax", "rademacher", "rademacher_prev", "hindsight"):
        e = table[arm]
        lines.append(
            f"| {LABELS[arm]} | {cell(e, 'l2', '.5f')} | "
            f"{e['l2']['sd'] / np.sqrt(e['replicates']):.5f} | {cell(e, 'tv', '.4f')} | "
            f"{cell(e, 'kl', '.4f')} | {cell(e, 'entropy', '.3f')} | {cell(e, 'support', '.0f')} | "
            f"{cell(e, 'tail_mass', '.3f')} | {cell(e, 'lambda_true_final', '.3f')} | "
            f"{cell(e, 'lambda_true_mean', '.3f')} |"
        )
    h = table["hindsight"]
    grid = ", ".join(
        f"{w:g}: {v:.4f}" for w, v in zip(h["grid"], h["grid_final_l2_mean"], strict=True)
    )
    pooled = table["pooled"]["l2"]["mean"]
    ratios = ", ".join(
        f"{LABELS[a]} {table[a]['l2']['mean'] / pooled:.2f}×"
        for a in ("minimax", "rademacher", "rademacher_prev", "hindsight")
    )
    return (
        head
        + "\n".join(lines)
        + f"\n\nFinal l2 relative to pooling: {ratios}.\n"
        + f"Hindsight grid (w: mean final l2 over replicates): {grid}; "
        + f"best w {h['best_weight']:g} (per replicate: {h['best_weight_per_replicate']}).\n\n"
        + f"{ALMO_EXPLANATION}\n{PENALTY_NOTE}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="V = 200, 5 generations, 2 reps")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--replicates", type=int, default=None, help="override the replicates")
    args = parser.parse_args()
    size = dict(QUICK if args.quick else FULL)
    if args.replicates is not None:
        size["replicates"] = args.replicates
    # The hindsight configuration is the longest (grid + 2 arms): submit it first.
    tasks = [(c, s) for c in CONFIGS for s in range(size["replicates"])]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, c, s, size) for c, s in tasks]
        runs = [f.result() for f in futures]
    wall = time.perf_counter() - start
    # Pooling does not depend on the minimax arm's penalty: the same seed, the same run.
    for run in runs:
        for arm, row in run["arms"].items():
            if arm.startswith("pooled@"):
                base = next(r for r in runs if r["config"] == "base" and r["seed"] == run["seed"])
                assert row["l2_curve"] == base["arms"]["pooled"]["l2_curve"], arm
    table = summarize(runs)
    text = markdown(table, size)
    print(text)
    result = {
        "settings": {**size, "alpha": ALPHA, "alpha_min": ALPHA_MIN, "zipf": ZIPF},
        "quick": args.quick,
        "wall_seconds": wall,
        "summary": {k: v for k, v in table.items() if not k.startswith("pooled@")},
        "runs": runs,
        "markdown": text,
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / ("minimax_sources_quick.json" if args.quick else "minimax_sources.json")
    path.write_text(json.dumps(result, indent=1))
    print(f"wall {wall:.0f} s; wrote {path.name}")


if __name__ == "__main__":
    main()
