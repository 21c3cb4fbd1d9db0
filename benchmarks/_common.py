"""Shared pieces of the benchmarks: the machine's description, timing, slopes, the summary.

- :func:`machine` — core count, load average, library versions: recorded with every result, so
  a number can be read against the machine and the load it was measured under;
- :func:`interleaved` — medians of callables timed round-robin (one repeat of each in turn), so
  that a change of load hits them all alike and their ratios stay meaningful;
- :func:`loglog_slope` — the least-squares slope of log(time) against log(size): 1 is linear,
  0 is flat;
- :func:`write_result` — ``benchmarks/results/<name>.json`` with the machine added;
- :func:`summary_markdown` — the ``summary.md`` that ``run_all.py`` writes: one status row per
  benchmark, then each benchmark's own table.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (NaN where the system does not tell)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return [math.nan] * 3


def machine() -> dict[str, Any]:
    """Cores, load, Python and the versions of the libraries the numbers depend on."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    for name in ("numpy", "torch", "almo"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        info[name] = getattr(module, "__version__", "?")
    return info


def interleaved(
    funcs: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each call, ``repeats`` rounds of one call of each callable in turn.

    Examples
    --------
    >>> times = interleaved({"a": lambda: None, "b": lambda: None}, repeats=5)
    >>> sorted(times), len(times["a"])
    (['a', 'b'], 5)
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}; pass e.g. repeats=5")
    for _ in range(warmup):
        for f in funcs.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in funcs}
    for _ in range(repeats):
        for name, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return times


def median(values: Sequence[float]) -> float:
    """The median, as a float."""
    return float(statistics.median(values))


def loglog_slope(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(sizes).

    Examples
    --------
    >>> round(loglog_slope([1, 10, 100], [2.0, 20.0, 200.0]), 6)
    1.0
    >>> round(loglog_slope([1, 10, 100], [3.0, 3.0, 3.0]), 6)
    0.0
    """
    if len(sizes) != len(seconds) or len(sizes) < 2:
        raise ValueError(
            f"need >= 2 (size, seconds) pairs of equal length, got {len(sizes)} and "
            f"{len(seconds)}; measure at two sizes at least"
        )
    if min(sizes) <= 0 or min(seconds) <= 0:
        raise ValueError("sizes and seconds must be > 0 for a log-log fit")
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("sizes must not all be equal")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def write_result(name: str, data: dict[str, Any], folder: Path | None = None) -> Path:
    """Write ``<folder>/<name>.json`` (default benchmarks/results) with the machine added."""
    out = RESULTS if folder is None else Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=float))
    return path


def summary_markdown(
    runs: Sequence[dict[str, Any]],
    before: dict[str, Any],
    after: dict[str, Any],
    command: str,
) -> str:
    """The summary of one ``run_all.py`` run.

    Parameters
    ----------
    runs : sequence of dict
        One per benchmark: ``name``, ``args`` (list of str), ``status`` ("ok", "failed",
        "timed out" or "skipped"), ``seconds``, ``stdout`` and optionally ``error`` (the end of
        its stderr) and ``note``.
    before, after : dict
        :func:`machine` at the start and at the end of the run.
    command : str
        The command that reproduces the run.

    Examples
    --------
    >>> m = {"cpu_count": 2, "load_average": [0.5, 0.4, 0.3]}
    >>> runs = [{"name": "a", "args": [], "status": "ok", "seconds": 1.0, "stdout": "| x |"}]
    >>> text = summary_markdown(runs, m, m, "make bench")
    >>> "| a |  | ok | 1 |" in text
    True
    """
    total = sum(float(r.get("seconds", 0.0)) for r in runs)
    failed = [r["name"] for r in runs if r["status"] not in ("ok", "skipped")]
    lines = [
        "# Benchmark summary",
        "",
        f"Command: `{command}`. Machine: {before.get('cpu_count')} cores, "
        f"{before.get('platform', '')}, Python {before.get('python', '?')}, "
        f"torch {before.get('torch', '?')}, numpy {before.get('numpy', '?')}; "
        f"{before.get('date', '')}.",
        f"Load average (1, 5, 15 min): {before.get('load_average')} at the start, "
        f"{after.get('load_average')} at the end. Ratios inside each benchmark are measured "
        "side by side in one run (interleaved), so they hold under load better than the "
        "absolute times do.",
        "",
        f"Total {total:.0f} s; " + (f"failed: {', '.join(failed)}." if failed else "all ran."),
        "",
        "| benchmark | arguments | status | seconds |",
        "|---|---|---|---:|",
    ]
    for r in runs:
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| {r['name']} | {' '.join(r.get('args', []))} | {r['status']}{note} "
            f"| {float(r.get('seconds', 0.0)):.0f} |"
        )
    for r in runs:
        lines += ["", f"## {r['name']}", ""]
        if r.get("stdout", "").strip():
            lines.append(r["stdout"].rstrip())
        if r["status"] not in ("ok", "skipped"):
            lines += ["", f"**{r['status']}**:", "", "```", r.get("error", "").rstrip(), "```"]
    return "\n".join(lines) + "\n"
