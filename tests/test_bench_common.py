"""The benchmark runner's pieces: slopes, timing, discovery, failure handling and the summary.

``benchmarks/run_all.py`` (``make bench``) must run every benchmark, survive one that fails or
hangs, and write a summary that says so; ``benchmarks/_common.py`` fits the scaling slopes.
These tests run the runner on tiny throw-away benchmarks in a temporary folder.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # run_all imports _common as a sibling
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


common = _load("_common")
run_all = _load("run_all")


@pytest.mark.parametrize("slope", [0.0, 0.5, 1.0, 2.0, -1.0])
def test_loglog_slope_recovers_a_power_law(slope):
    sizes = np.geomspace(10, 1e6, 6)
    seconds = 3e-4 * sizes**slope
    assert common.loglog_slope(sizes, seconds) == pytest.approx(slope, abs=1e-12)


def test_loglog_slope_matches_numpy_polyfit_on_noisy_data(rng):
    sizes = np.geomspace(1e4, 1e6, 5)
    seconds = 1e-6 * sizes * np.exp(rng.normal(scale=0.2, size=5))
    reference = np.polyfit(np.log(sizes), np.log(seconds), 1)[0]
    assert common.loglog_slope(sizes, seconds) == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize(
    ("sizes", "seconds", "match"),
    [([1.0], [1.0], "at least|>= 2"), ([1, 2], [1.0], "equal length"), ([0, 1], [1, 1], "> 0")],
)
def test_loglog_slope_refuses_bad_input(sizes, seconds, match):
    with pytest.raises(ValueError, match=match):
        common.loglog_slope(sizes, seconds)


def test_interleaved_runs_each_callable_round_robin():
    order: list[str] = []
    times = common.interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=5, warmup=1
    )
    assert order == ["a", "b"] * 6  # one warm-up round, then five timed rounds in turn
    assert [len(times["a"]), len(times["b"])] == [5, 5]
    assert all(t >= 0 for t in times["a"] + times["b"])
    with pytest.raises(ValueError, match="repeats"):
        common.interleaved({"a": lambda: None}, repeats=0)


def test_machine_records_cores_and_load():
    info = common.machine()
    assert info["cpu_count"] >= 1
    assert len(info["load_average"]) == 3
    assert info["torch"] and info["numpy"]  # the versions the numbers depend on


def test_write_result_adds_the_machine(tmp_path):
    path = common.write_result("tiny", {"value": 1.5}, folder=tmp_path)
    import json

    data = json.loads(path.read_text())
    assert path.name == "tiny.json" and data["value"] == 1.5
    assert data["machine"]["cpu_count"] >= 1


def test_summary_lists_every_run_and_reports_failures():
    m = {"cpu_count": 2, "load_average": [1.0, 0.5, 0.25], "python": "3.x"}
    runs = [
        {"name": "alpha", "args": ["--quick"], "status": "ok", "seconds": 2.4, "stdout": "| t |"},
        {
            "name": "beta",
            "args": [],
            "status": "failed (exit 1)",
            "seconds": 0.6,
            "stdout": "",
            "error": "ValueError: boom",
        },
    ]
    text = common.summary_markdown(runs, m, {**m, "load_average": [2.0, 1.0, 0.5]}, "make bench")
    assert "| alpha | --quick | ok | 2 |" in text
    assert "| beta |  | failed (exit 1) | 1 |" in text
    assert "failed: beta." in text and "ValueError: boom" in text
    assert "2 cores" in text and "[1.0, 0.5, 0.25]" in text and "[2.0, 1.0, 0.5]" in text
    assert text.index("## alpha") < text.index("## beta")
    assert "Total 3 s" in text


def test_discover_finds_every_benchmark_but_helpers(tmp_path):
    for name in ("projection", "zeta", "_helper", "run_all", "alpha"):
        (tmp_path / f"{name}.py").write_text("")
    assert run_all.discover(tmp_path) == ["projection", "alpha", "zeta"]


def test_the_repository_lists_the_required_benchmarks():
    names = run_all.discover()
    required = {
        "exact_solver",
        "collapse",
        "minimax_sources",
        "convergence",
        "heldout",
        "projection",
        "trainer_overhead",
        "scaling",
    }
    assert required <= set(names)
    if (BENCH / "search.py").exists():
        assert "search" in names


def test_arguments_per_tier():
    assert run_all.arguments("projection", "bench") == []
    assert run_all.arguments("heldout", "bench") == ["--quick"]
    assert run_all.arguments("something_new", "bench") == ["--quick"]
    assert run_all.arguments("projection", "quick") == ["--quick"]
    assert run_all.arguments("heldout", "full") == []


def test_run_one_reports_success_failure_and_timeout(tmp_path):
    (tmp_path / "good.py").write_text("import sys\nprint('| a |', sys.argv[1:])\n")
    (tmp_path / "bad.py").write_text("raise SystemExit('bad input: x')\n")
    (tmp_path / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(30)\n")
    good = run_all.run_one("good", ["--quick"], 60, folder=tmp_path)
    assert good["status"] == "ok" and "['--quick']" in good["stdout"]
    bad = run_all.run_one("bad", [], 60, folder=tmp_path)
    assert bad["status"] == "failed (exit 1)" and "bad input: x" in bad["error"]
    slow = run_all.run_one("slow", [], 1.5, folder=tmp_path)
    assert slow["status"] == "timed out" and "stopped after 2 s" in slow["error"]
    assert 1.0 < slow["seconds"] < 20


def test_main_refuses_an_unknown_benchmark(capsys):
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--only", "no_such_benchmark"])
    assert exc.value.code == 2
    assert "no_such_benchmark" in capsys.readouterr().err


def test_slopes_helper_is_finite_on_timings_of_one_size_pair():
    assert math.isfinite(common.loglog_slope([1e4, 1e6], [0.01, 1.0]))
