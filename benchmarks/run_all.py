"""Run every benchmark in this folder, one after the other, and collect their JSON results.

Usage: ``python benchmarks/run_all.py [--quick]``. Each benchmark prints its own markdown table
and writes ``benchmarks/results/<name>.json``; this script writes ``benchmarks/results/summary.md``
with every table, in order.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "projection.py",
    "exact_solver.py",
    "trainer_overhead.py",
    "collapse.py",
    "convergence.py",
    "heldout.py",
    "minimax_sources.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    (HERE / "results").mkdir(exist_ok=True)
    sections, failed = [], []
    for name in BENCHMARKS:
        cmd = [sys.executable, str(HERE / name)] + (["--quick"] if args.quick else [])
        print(f"\n## {name}\n", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        print(proc.stdout, end="")
        if proc.returncode != 0:
            failed.append(name)
            print(proc.stderr, file=sys.stderr)
        sections.append(f"## {name}\n\n{proc.stdout}")
    (HERE / "results" / "summary.md").write_text("\n".join(sections))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
