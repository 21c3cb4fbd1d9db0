"""``almo collapse`` studies: the regime map, the estimators, the honest ALMO report, the
heatmap and tables from one computation, and the errors of the new flags."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from almo.cli import main
from almo.sources import cli as sources_cli
from almo.sources import zipf
from almo.sources.estimators import ESTIMATORS, estimator_curve, optimal_weight
from almo.sources.regimes import regime_map

SMALL = ["--vocab", "20", "--n", "40", "--generations", "4", "--replicates", "30", "--quiet"]


def _run(argv, tmp_path):
    sub = argparse.ArgumentParser().add_subparsers()
    args = sources_cli.add_parser(sub).parse_args([*argv, "--out", str(tmp_path)])
    assert sources_cli.run(args) == 0
    return args, json.loads((tmp_path / "collapse.json").read_text())


def test_heatmap_uses_the_alpha_asked_for_and_the_tables_numbers(tmp_path, capsys):
    _, summary = _run([*SMALL, "--alpha", "0,0.1,0.3", "--grid-n", "20,40"], tmp_path)
    grid = summary["grid"]
    assert grid["alpha"] == [0.0, 0.1, 0.3] and grid["n"] == [20, 40]
    text = capsys.readouterr().out
    for i, alpha in enumerate(grid["alpha"]):
        run = summary["runs"][str(alpha)]
        # The n = --n column is the table's own runs: the same numbers, the same replicates.
        assert grid["final"][i][1] == run["mean"]["l2"][-1]
        assert grid["replicates"][i] == [30, 30]
        assert f"{run['mean']['l2'][-1]:.4g}" in text
    assert "the heatmap's numbers" in text and "two standard errors" in text
    assert (tmp_path / "final_error_heatmap.png").stat().st_size > 1000


def test_grid_replicates_apply_off_the_n_column(tmp_path):
    _, summary = _run(
        [*SMALL, "--alpha", "0.2", "--grid-n", "20,40", "--grid-replicates", "7"], tmp_path
    )
    assert summary["grid"]["replicates"] == [[7, 30]]


def test_regimes_write_the_map_and_print_the_same_numbers(tmp_path, capsys):
    argv = [*SMALL, "--no-grid", "--regimes", "--regime-a", "0,1", "--regime-b", "0,1.5"]
    argv += ["--regime-n0", "20", "--regime-generations", "5", "--regime-replicates", "20"]
    _, summary = _run(argv, tmp_path)
    reg = summary["regimes"]
    ref = regime_map(zipf(20, 1.1), [0, 1], [0, 1.5], alpha0=0.5, n0=20, generations=5)
    np.testing.assert_allclose(reg["exact_log_ratio"], ref.exact)
    assert reg["regimes"] == ref.regimes
    text = capsys.readouterr().out
    assert "regime map" in text
    for row in reg["exact_log_ratio"]:
        for value in row:
            assert f"{value:.3f}" in text
    assert (tmp_path / "regime_map.png").stat().st_size > 1000


def test_estimators_report_exact_and_simulated_curves(tmp_path, capsys):
    _, summary = _run([*SMALL, "--no-grid", "--alpha", "0.25", "--estimators"], tmp_path)
    est = summary["estimators"]
    p = zipf(20, 1.1)
    w = optimal_weight(p, 0.25, 40, 4)
    assert est["weight"] == pytest.approx(w)
    assert set(est["runs"]) == set(ESTIMATORS) == set(est["exact"])
    for name in ESTIMATORS:
        np.testing.assert_allclose(est["exact"][name], estimator_curve(name, p, 0.25, 40, 4, w))
    text = capsys.readouterr().out
    assert "c/(nα(2−α))" in text and "filter-aggregate" in text
    assert (tmp_path / "estimators.png").stat().st_size > 1000
    # A given weight is used as is.
    _, again = _run(
        [*SMALL, "--no-grid", "--alpha", "0.25", "--estimators", "--weight", "0.4"], tmp_path
    )
    assert again["estimators"]["weight"] == 0.4


def test_almo_reports_penalty_hindsight_and_why(tmp_path, capsys):
    argv = [*SMALL, "--no-grid", "--alpha", "0.25", "--almo", "--almo-generations", "1"]
    argv += ["--almo-replicates", "2", "--almo-hindsight", "2"]
    _, summary = _run(argv, tmp_path)
    almo = summary["almo"]
    assert {"minimax", "pooled", "hindsight", "minimax + penalty"} <= set(almo)
    assert almo["explanation"] == sources_cli.ALMO_EXPLANATION
    assert "chases the small true sample" in almo["explanation"]
    text = capsys.readouterr().out
    assert sources_cli.ALMO_EXPLANATION in text and sources_cli.PENALTY_NOTE in text
    assert "final / gen. 0" in text and almo["penalty_note"] == sources_cli.PENALTY_NOTE
    assert "minimax + penalty" in text and "hindsight (best fixed w" in text
    assert "2 replicates" in text


def test_almo_defaults_are_large_enough_for_a_band():
    sub = argparse.ArgumentParser().add_subparsers()
    args = sources_cli.add_parser(sub).parse_args([])
    assert args.almo_replicates >= 20
    assert args.almo_penalty == "rademacher" and args.almo_hindsight >= 2
    assert args.grid_alpha is None and args.grid_replicates is None


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--model", "gaussian", "--regimes"], "--regimes"),
        (["--model", "ridge", "--estimators"], "--estimators"),
        (["--regime-a", "-1"], "--regime-a"),
        (["--regime-b", "0,nan"], "--regime-b"),
        (["--regime-alpha0", "2"], "--regime-alpha0"),
        (["--regime-n0", "0"], "--regime-n0"),
        (["--regime-generations", "0"], "--regime-generations"),
        (["--regime-replicates", "-1"], "--regime-replicates"),
        (["--regimes", "--regime-b", "9", "--regime-generations", "100"], "--regime-b"),
        (["--weight", "1.5"], "--weight"),
        (["--almo-hindsight", "1"], "--almo-hindsight"),
        (["--almo-hindsight", "-2"], "--almo-hindsight"),
        (["--almo", "--alpha", "0"], "--almo-penalty"),
        (["--almo-penalty", "huge"], "--almo-penalty"),
    ],
)
def test_bad_study_flags_end_in_one_line_naming_the_flag(argv, flag, capsys, tmp_path):
    full = ["collapse", *argv, "--generations", "2", "--replicates", "2", "--no-grid"]
    try:
        status = main([*full, "--quiet", "--out", str(tmp_path)])
    except SystemExit as stop:  # argparse's own refusals (a choice) exit from the parser
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("almo collapse: error:"), err
    assert flag in lines[0] and "Traceback" not in err


@pytest.mark.parametrize(("policy", "aggregate"), [("real-only", False), ("real-aggregate", True)])
def test_filtration_policies_print_their_exact_curve(policy, aggregate, tmp_path, capsys):
    from almo.sources.estimators import filtration_curve

    argv = [*SMALL, "--no-grid", "--alpha", "0.3", "--policy", policy, "--temperature", "0.7"]
    _, summary = _run(argv, tmp_path)
    expected = filtration_curve(zipf(20, 1.1), 0.3, 40, 4, aggregate, composition="iid")[-1]
    text = capsys.readouterr().out
    assert "theory" in text and f"{expected:.4g}" in text
    assert set(summary["policies"]) == {policy, "accumulate"}


def test_exact_only_regime_map_and_estimators_under_schedules(tmp_path, capsys):
    argv = [*SMALL, "--no-grid", "--alpha", "0.5", "--alpha-exponent", "-0.5", "--n-exponent"]
    argv += ["0.5", "--regimes", "--regime-replicates", "0", "--regime-a", "0,1"]
    argv += ["--regime-b", "0,1", "--regime-generations", "4", "--estimators", "--weight", "0.6"]
    _, summary = _run(argv, tmp_path)
    assert summary["regimes"]["simulated_log_ratio"] is None
    est = summary["estimators"]
    from almo.sources import power_law

    a, m = power_law(0.5, -0.5), power_law(40, 0.5)
    for name in ESTIMATORS:
        np.testing.assert_allclose(
            est["exact"][name], estimator_curve(name, zipf(20, 1.1), a, m, 4, 0.6)
        )
    assert est["n"] == [40, 57, 69, 80, 89]
    text = capsys.readouterr().out
    assert "weight w = 0.6000" in text and "(optimal constant w" not in text
