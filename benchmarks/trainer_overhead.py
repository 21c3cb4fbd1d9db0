"""Trainer overhead: what the minimax game costs on top of ordinary training.

Ratios are measured side by side in one run, configurations interleaved within each repeat, and
reported as medians over repeats of CPU time (``time.process_time``, one torch thread):

1. ALMO (3 losses, ProjectedAscent) ÷ the fixed uniform ensemble (same trainer, FixedWeights):
   epoch time, MLP 64-256-256-10 on scikit-learn's digits, batch 128.       Target ≤ 1.05.
2. One loss over p groups (200,000 synthetic rows) ÷ plain single-loss training (a hand-written
   loop): epoch time for p = 10 … 10,000.                                    Target ≤ 1.10, flat.
3. mirror_prox ÷ sgda per step (digits MLP).                                  About 2× expected.
4. Peak memory (resident set growth during training, fresh processes) of ALMO ÷ plain training
   on the grouped data with p = 1,000.                                        Target ≤ 1.05.

Usage: ``python benchmarks/trainer_overhead.py [--quick] [--threads 1]``. Prints a markdown table
and writes ``benchmarks/results/trainer_overhead.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from almo.objectives import ObjectiveFamily
from almo.train import MinimaxTrainer
from almo.weights import FixedWeights, ProjectedAscent

RESULTS = Path(__file__).resolve().parent / "results"
# The grouped ratios measured before the objective layer (ObjectiveBatch, λ wrappers) landed,
# with this benchmark at full size; printed next to the current run.
BEFORE = {"1": 1.18, "10": 1.66, "100": 1.53, "1000": 1.65, "10000": 2.01}


class Batches:
    """Seeded shuffled mini-batches by tensor slicing: cheap, so the loader does not hide the
    trainer's own cost (both sides of every ratio use it)."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        self.tensors, self.batch_size = tensors, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.tensors[0]) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.tensors[0]), generator=self.gen)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield tuple(t[idx] for t in self.tensors)


def mlp(sizes: list[int], seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)


def synthetic(n: int, p: int, d: int = 32, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    y = (x[:, :10].argmax(1) + torch.randint(0, 2, (n,), generator=gen)) % 10
    g = torch.randint(0, p, (n,), generator=gen)
    return x, y, g


# CPU time of this process, not wall time: the benchmark machine may be shared, and waiting for
# a core is not the trainer's cost. With one torch thread the two agree on an idle machine.
clock = time.process_time


def trainer_epoch_seconds(trainer: MinimaxTrainer, loader: Batches, epochs: int) -> float:
    """Mean epoch time of ``fit`` (set-up included, no evaluation)."""
    start = clock()
    trainer.fit(loader, epochs=epochs)
    return (clock() - start) / epochs


def plain_epoch_seconds(
    model: torch.nn.Module, opt: torch.optim.Optimizer, loader: Batches, epochs: int
) -> float:
    """Mean epoch time of the textbook loop: forward, cross-entropy, backward, step."""
    start = clock()
    for _ in range(epochs):
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(batch[0]), batch[1]).backward()
            opt.step()
    return (clock() - start) / epochs


def bench_digits(repeats: int, epochs: int) -> dict:
    x, y = digits()
    loader = Batches(x, y, batch_size=128)
    family = ObjectiveFamily(["log_loss", "hinge", "squared"])

    def make(rule=None, method="sgda"):
        return MinimaxTrainer(
            mlp([64, 256, 256, 10]),
            family,
            weight_rule=rule,
            method=method,
            verbose=False,
            optimizer=lambda ps: torch.optim.Adam(ps, lr=1e-3),
        )

    configs = {
        "almo": lambda: make(ProjectedAscent(lr=0.1)),
        "fixed": lambda: make(FixedWeights(np.full(3, 1 / 3))),
        "mirror_prox": lambda: make(ProjectedAscent(lr=0.1), method="mirror_prox"),
    }
    times: dict[str, list[float]] = {k: [] for k in configs}
    names = list(configs)
    for r in range(repeats):
        # Rotate the order every repeat: whichever runs first pays the warm-up of the allocator
        # and caches, which would otherwise bias one side of each ratio.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(trainer_epoch_seconds(configs[name](), loader, epochs))
    almo_fixed = [a / f for a, f in zip(times["almo"], times["fixed"], strict=True)]
    mp_sgda = [m / a for m, a in zip(times["mirror_prox"], times["almo"], strict=True)]
    return {
        "epoch_seconds": {k: statistics.median(v) for k, v in times.items()},
        "steps_per_epoch": len(loader),
        "almo_over_fixed": statistics.median(almo_fixed),
        "mirror_prox_over_sgda": statistics.median(mp_sgda),
    }


def bench_groups(n: int, ps: list[int], repeats: int, epochs: int, batch: int) -> dict:
    """p = 1 means no groups at all: the trainer's own cost without the group bookkeeping."""
    out = {}
    for p in ps:
        x, y, g = synthetic(n, max(p, 1))
        family = ObjectiveFamily("log_loss", groups=p if p > 1 else None)
        data = (x, y, g) if p > 1 else (x, y)
        ratios, t_almo, t_plain = [], [], []
        for r in range(repeats):
            model = mlp([32, 64, 10], seed=r)
            plain = plain_epoch_seconds(
                model,
                torch.optim.Adam(model.parameters(), 1e-3),
                Batches(x, y, batch_size=batch),
                epochs,
            )
            trainer = MinimaxTrainer(mlp([32, 64, 10], seed=r), family, verbose=False)
            almo = trainer_epoch_seconds(trainer, Batches(*data, batch_size=batch), epochs)
            ratios.append(almo / plain)
            t_almo.append(almo)
            t_plain.append(plain)
        steps = -(-n // batch)
        out[str(p)] = {
            "ratio": statistics.median(ratios),
            "almo_s": statistics.median(t_almo),
            "plain_s": statistics.median(t_plain),
            **breakdown(
                family,
                trainer,
                data,
                batch,
                statistics.median(t_almo) / steps,
                statistics.median(t_plain) / steps,
            ),
        }
    return out


def _cpu_us(fn, n: int = 50) -> float:
    """Best of 3 mean CPU times of ``fn`` over n calls, in microseconds."""
    fn()
    best = float("inf")
    for _ in range(3):
        start = clock()
        for _ in range(n):
            fn()
        best = min(best, (clock() - start) / n)
    return best * 1e6


def breakdown(
    family, trainer: MinimaxTrainer, data, batch: int, almo_step: float, plain_step: float
) -> dict:
    """Where a step's extra time goes: the family's per-objective losses (forward + backward,
    against the fused ``F.cross_entropy``), the weight rule's λ update, and the rest (the
    trainer's own bookkeeping, by difference), all in microseconds per step."""
    outputs = torch.randn(batch, 10, requires_grad=True)
    y = data[1][:batch]
    group = data[2][:batch] if len(data) == 3 else None
    fam = _cpu_us(lambda: family.sums_counts(outputs, y, group)[0].sum().backward())
    fused = _cpu_us(lambda: F.cross_entropy(outputs, y, reduction="sum").backward())
    losses = trainer.last_losses
    rule = _cpu_us(lambda: trainer.lambda_rule.update(trainer.state, losses))
    extra = (almo_step - plain_step) * 1e6
    return {
        "plain_step_us": plain_step * 1e6,
        "extra_us": extra,
        "family_extra_us": fam - fused,
        "rule_us": rule,
        "rest_us": extra - (fam - fused) - rule,
    }


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _memory_child(kind: str, n: int, p: int, batch: int) -> None:
    """Run in a fresh process: print the peak resident set (KiB) during one epoch of training
    and its growth over the resident set before it (data and model already built)."""
    torch.set_num_threads(1)
    x, y, g = synthetic(n, p)
    model = mlp([32, 64, 10])
    try:  # Linux: reset the high-water mark so the peak is the training's own
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        peak = lambda: _status_kib("VmHWM")  # noqa: E731
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    if kind == "plain":
        plain_epoch_seconds(
            model, torch.optim.Adam(model.parameters(), 1e-3), Batches(x, y, batch_size=batch), 1
        )
    else:
        MinimaxTrainer(model, ObjectiveFamily("log_loss", groups=p), verbose=False).fit(
            Batches(x, y, g, batch_size=batch), epochs=1
        )
    after = peak()
    print(json.dumps({"growth_kib": after - before, "peak_kib": after}))


def bench_memory(n: int, p: int, batch: int, repeats: int) -> dict:
    res: dict[str, list[dict]] = {"plain": [], "almo": []}
    for _ in range(repeats):
        for kind in res:
            cmd = [sys.executable, __file__, "--memory-child", kind, str(n), str(p), str(batch)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            res[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    peak = {k: statistics.median(r["peak_kib"] for r in v) for k, v in res.items()}
    growth = {k: statistics.median(r["growth_kib"] for r in v) for k, v in res.items()}
    return {
        "peak_kib": peak,
        "growth_kib": growth,
        "peak_ratio": peak["almo"] / peak["plain"],
        "growth_ratio": growth["almo"] / max(growth["plain"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        kind, n, p, batch = args.memory_child
        _memory_child(kind, int(n), int(p), int(batch))
        return
    torch.set_num_threads(args.threads)
    quick = args.quick
    repeats = 5
    n = 20_000 if quick else 200_000
    ps = [1, 10, 1000] if quick else [1, 10, 100, 1000, 10_000]
    start = time.perf_counter()
    load_before = os.getloadavg()
    dig = bench_digits(2 * repeats + 1, epochs=2 if quick else 20)
    groups = bench_groups(n, ps, repeats, epochs=1 if quick else 2, batch=1024)
    # The same p = 1000 run with 4x larger batches: the per-step costs of the λ side amortize.
    large = bench_groups(n, [1000], repeats, epochs=1 if quick else 2, batch=4096)["1000"]
    mem = bench_memory(n, 1000, 1024, repeats=1 if quick else 3)
    result = {
        "quick": quick,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "seconds": time.perf_counter() - start,
        "torch": torch.__version__,
        "digits": dig,
        "groups": groups,
        "groups_p1000_batch4096": large,
        "memory": mem,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trainer_overhead.json").write_text(json.dumps(result, indent=2))
    print(
        f"Trainer overhead ({'quick, ' if quick else ''}{args.threads} thread(s), "
        f"load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}; medians of "
        f"{repeats} repeats)\n"
    )
    print("| measure | ratio | before | target |\n|---|---|---|---|")
    print(
        f"| ALMO ÷ fixed uniform ensemble, digits MLP epoch | {dig['almo_over_fixed']:.3f} "
        "| 1.012 | ≤ 1.05 |"
    )
    for p, r in groups.items():
        what = "no groups (p = 1)" if p == "1" else f"p = {p} groups"
        print(
            f"| one loss, {what} ÷ plain training, {n:,} rows | {r['ratio']:.3f} "
            f"| {BEFORE.get(p, float('nan')):.2f} | {'—' if p == '1' else '≤ 1.10'} |"
        )
    print(
        f"| one loss, p = 1000 groups, batch 4096 ÷ plain training | {large['ratio']:.3f} "
        "| 1.33 | — |"
    )
    print(
        "\nPer-step CPU time (µs) of the grouped runs: plain step, ALMO's extra, and the extra "
        "split into the family's losses (vs fused cross-entropy), the λ update, the rest "
        "(trainer bookkeeping, by difference):\n"
    )
    print("| p | plain step | extra | family | λ update | rest |\n|---|---|---|---|---|---|")
    for p, r in groups.items():
        print(
            f"| {p} | {r['plain_step_us']:.0f} | {r['extra_us']:.0f} | "
            f"{r['family_extra_us']:.0f} | {r['rule_us']:.0f} | {r['rest_us']:.0f} |"
        )
    print()
    print("| measure | ratio | target |\n|---|---|---|")
    print(f"| mirror_prox ÷ sgda per step | {dig['mirror_prox_over_sgda']:.2f} | ≈ 2 |")
    print(f"| peak resident memory, ALMO ÷ plain (p = 1000) | {mem['peak_ratio']:.3f} | ≤ 1.05 |")
    print(
        f"| resident-memory growth while training, ALMO ÷ plain | {mem['growth_ratio']:.2f} | — |"
    )
    secs = dig["epoch_seconds"]
    print(
        f"\nDigits epoch ({dig['steps_per_epoch']} steps): ALMO {secs['almo'] * 1e3:.1f} ms, "
        f"fixed {secs['fixed'] * 1e3:.1f} ms, mirror_prox {secs['mirror_prox'] * 1e3:.1f} ms."
    )


if __name__ == "__main__":
    main()
