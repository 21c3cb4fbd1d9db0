"""Run every benchmark in this folder and write benchmarks/results/summary.md.

Usage: ``python benchmarks/run_all.py [--tier bench|quick|full] [--only NAME ...]``
(``make bench`` runs the default tier, ``bench``).

Every ``*.py`` in this folder is a benchmark except this script and the ``_``-prefixed helpers,
so a new benchmark is run as soon as it is added. Each runs in its own process, one after the
other (they would otherwise share the two cores and disturb each other's timings), prints its
markdown tables and writes ``benchmarks/results/<name>.json``. This script then writes
``summary.md``: the machine (cores, load average at the start and at the end, versions), one
status row per benchmark with its arguments and wall time, and every benchmark's tables. A
benchmark that fails or runs past its time limit is reported there, not fatal: the others still
run, and the exit status is 1.

Tiers (sizes per benchmark in :data:`TIERS`):

- ``bench`` (default): the sizes that finish in under 15 minutes on 2 cores in all — the full
  sizes where they are cheap (projection, collapse, scaling), each benchmark's ``--quick`` sizes
  elsewhere;
- ``quick``: every benchmark at ``--quick``, a smoke run of a few minutes;
- ``full``: every benchmark at its full sizes (about an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, summary_markdown

HERE = Path(__file__).resolve().parent

#: Arguments per tier; a benchmark not listed gets ``--quick`` in the bench and quick tiers.
TIERS: dict[str, dict[str, list[str]]] = {
    "bench": {
        "projection": [],
        "exact_solver": ["--quick"],
        "trainer_overhead": ["--quick"],
        "collapse": [],
        "convergence": ["--quick"],
        "heldout": ["--quick"],
        "minimax_sources": ["--quick"],
        "scaling": [],
        "search": ["--quick"],
        "estimators": ["--quick"],
    },
    "quick": {},
    "full": {},
}
#: Order of the known benchmarks (the fast and the basic first); unknown ones follow by name.
ORDER = [
    "projection",
    "exact_solver",
    "trainer_overhead",
    "scaling",
    "collapse",
    "minimax_sources",
    "convergence",
    "heldout",
    "estimators",
    "search",
]


def discover(folder: Path = HERE) -> list[str]:
    """Benchmark names in ``folder``: every ``*.py`` but run_all.py and ``_`` helpers."""
    names = [
        p.stem for p in folder.glob("*.py") if p.stem != "run_all" and not p.stem.startswith("_")
    ]
    known = [n for n in ORDER if n in names]
    return known + sorted(n for n in names if n not in ORDER)


def arguments(name: str, tier: str) -> list[str]:
    """The command-line arguments of benchmark ``name`` in ``tier``."""
    if tier == "full":
        return []
    return list(TIERS[tier].get(name, ["--quick"]))


def run_one(name: str, args: list[str], timeout: float, folder: Path = HERE) -> dict:
    """Run one benchmark in a child process; its status, time, stdout and end of stderr."""
    cmd = [sys.executable, str(folder / f"{name}.py"), *args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {
            "name": name,
            "args": args,
            "status": "timed out",
            "seconds": time.perf_counter() - t0,
            "stdout": out,
            "error": f"stopped after {timeout:.0f} s\n{err[-3000:]}",
        }
    status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    return {
        "name": name,
        "args": args,
        "status": status,
        "seconds": time.perf_counter() - t0,
        "stdout": proc.stdout,
        "error": "" if proc.returncode == 0 else proc.stderr[-3000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), default="bench", help="sizes to run")
    parser.add_argument("--quick", action="store_true", help="the same as --tier quick")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed to each benchmark"
    )
    args = parser.parse_args(argv)
    tier = "quick" if args.quick else args.tier
    names = discover()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"--only: no benchmark named {unknown}; choose from {names}")
        names = [n for n in names if n in args.only]
    RESULTS.mkdir(parents=True, exist_ok=True)
    before = machine()
    print(
        f"Running {len(names)} benchmarks ({tier} tier) on {before['cpu_count']} cores, "
        f"load average {before['load_average']}",
        flush=True,
    )
    runs = []
    for name in names:
        bench_args = arguments(name, tier)
        print(f"\n## {name} {' '.join(bench_args)}\n", flush=True)
        run = run_one(name, bench_args, args.timeout)
        print(run["stdout"], end="", flush=True)
        print(f"[{name}: {run['status']}, {run['seconds']:.0f} s]", flush=True)
        if run["status"] != "ok":
            print(run["error"], file=sys.stderr)
        runs.append(run)
    after = machine()
    command = "python benchmarks/run_all.py" + ("" if tier == "bench" else f" --tier {tier}")
    if args.only:
        command += " --only " + " ".join(shlex.quote(n) for n in names)
    (RESULTS / "summary.md").write_text(summary_markdown(runs, before, after, command))
    (RESULTS / "run_all.json").write_text(
        json.dumps(
            {
                "tier": tier,
                "command": command,
                "machine_before": before,
                "machine_after": after,
                "total_seconds": sum(r["seconds"] for r in runs),
                "runs": [{k: r[k] for k in ("name", "args", "status", "seconds")} for r in runs],
            },
            indent=2,
        )
    )
    failed = [r["name"] for r in runs if r["status"] != "ok"]
    total = sum(r["seconds"] for r in runs)
    print(f"\n{len(runs)} benchmarks in {total:.0f} s; wrote benchmarks/results/summary.md")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
