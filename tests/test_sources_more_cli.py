"""``almo collapse``: the figures it builds (captured before they are saved: titles, labels,
legends, dashed theory lines), the flags no other test drives (--compare-policy, --temperature,
--top-k, --zipf, --seed, --grid-alpha), heatmap cells against direct simulations with their
documented seeds, the estimators' printed numbers against independent formulas, progress bars,
and a one-line error naming the flag for every flag's bad value."""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from almo.cli import main
from almo.sources import (
    CategoricalModel,
    collision_gap,
    optimal_weight,
    risk_curve,
    simulate,
    zipf,
)
from almo.sources import cli as sources_cli
from almo.sources import plots as plots_module
from almo.sources.estimators import ESTIMATORS, estimator_curve, real_counts
from almo.sources.plots import BAND_LABEL, metric_label

SMALL = ["--vocab", "15", "--n", "30", "--generations", "4", "--replicates", "20", "--quiet"]


def _run(argv, tmp_path):
    sub = argparse.ArgumentParser().add_subparsers()
    args = sources_cli.add_parser(sub).parse_args([*argv, "--out", str(tmp_path)])
    assert sources_cli.run(args) == 0
    return args, json.loads((tmp_path / "collapse.json").read_text())


@pytest.fixture
def figures(monkeypatch):
    """What each saved figure shows, by file name, read just before it is written."""
    seen = {}
    original = plots_module._save

    def record(fig, path, tight=True):
        panels = [ax for ax in fig.axes if ax.get_xlabel()]
        ax = panels[0]
        legend = ax.get_legend()
        seen[path.name] = {
            "title": ax.get_title(),
            "suptitle": fig._suptitle.get_text() if fig._suptitle else None,
            "xlabel": ax.get_xlabel(),
            "ylabel": ax.get_ylabel(),
            "legend": [t.get_text() for t in legend.get_texts()] if legend else None,
            "dashed": sum(ln.get_linestyle() == "--" for ln in ax.get_lines()),
            "yscale": ax.get_yscale(),
            "panels": len(panels),
        }
        return original(fig, path, tight)

    monkeypatch.setattr(plots_module, "_save", record)
    return seen


def test_every_figure_has_its_title_labels_legend_and_theory(tmp_path, figures):
    argv = [*SMALL, "--alpha", "0,0.2", "--grid-n", "15,30", "--estimators", "--weight", "0.6"]
    argv += ["--regimes", "--regime-a", "0,1", "--regime-b", "0,1", "--regime-n0", "10"]
    argv += ["--regime-generations", "3", "--regime-replicates", "5"]
    _run(argv, tmp_path)
    assert set(figures) == {
        "error_vs_generation.png",
        "tail_mass.png",
        "policies.png",
        "final_error_heatmap.png",
        "regime_map.png",
        "estimators.png",
    }
    l2 = metric_label("l2")
    err = figures["error_vs_generation.png"]
    assert err["title"] == "categorical: error across generations (replace)"
    assert (err["xlabel"], err["ylabel"], err["yscale"]) == ("generation t", l2, "log")
    assert err["legend"] == ["α = 0.0", "α = 0.2", "exact recursion", BAND_LABEL]
    assert err["dashed"] == 2
    tail = figures["tail_mass.png"]
    assert tail["ylabel"] == metric_label("tail_mass") and tail["dashed"] == 0
    assert tail["legend"] == ["α = 0.0", "α = 0.2", BAND_LABEL]
    pol = figures["policies.png"]
    assert pol["title"] == "Data policies at α = 0.2"
    # Only the policy with an exact curve (replace) has a dashed line.
    assert pol["legend"] == ["replace", "accumulate", "exact recursion", BAND_LABEL]
    assert pol["dashed"] == 1
    heat = figures["final_error_heatmap.png"]
    assert heat["title"] == f"Final {l2} after 4 generations (replace)"
    assert heat["xlabel"] == "samples per generation n" and heat["ylabel"] == "true fraction α"
    est = figures["estimators.png"]
    assert est["title"] == "Agnostic vs weighting vs filtration, α = 0.2 (same real samples)"
    names = ["weighted (w = 0.600)" if e == "weighted" else e for e in ESTIMATORS]
    assert est["legend"] == [*names, "exact recursion", BAND_LABEL]
    assert est["dashed"] == len(ESTIMATORS) and est["yscale"] == "log"
    reg = figures["regime_map.png"]
    assert reg["panels"] == 2 and "T = 3" in reg["suptitle"] and "n_0 = 10" in reg["suptitle"]


def test_almo_without_penalty_or_hindsight_has_two_arms(tmp_path, capsys, figures):
    argv = [*SMALL, "--no-grid", "--alpha", "0.3", "--almo", "--almo-generations", "1"]
    argv += ["--almo-replicates", "2", "--almo-penalty", "none", "--almo-hindsight", "0"]
    _, summary = _run(argv, tmp_path)
    almo = summary["almo"]
    assert set(almo) == {"minimax", "pooled", "explanation"}
    text = capsys.readouterr().out
    assert sources_cli.ALMO_EXPLANATION in text and sources_cli.PENALTY_NOTE not in text
    fig = figures["almo_vs_pooling.png"]
    assert fig["legend"] == [
        "pooled (fixed weights k/n, α = 0.3)",
        "minimax (λ_true ≥ 0.5)",
        BAND_LABEL,
    ]
    assert "(R = 2)" in fig["title"] and fig["yscale"] == "log"
    assert len(almo["minimax"]["mean"]["l2"]) == 2


def test_the_same_policy_twice_is_drawn_once(tmp_path, capsys):
    _, summary = _run(
        [*SMALL, "--no-grid", "--alpha", "0.1", "--compare-policy", "replace"], tmp_path
    )
    assert list(summary["policies"]) == ["replace"]
    final = summary["runs"]["0.1"]["mean"]["l2"][-1]
    assert summary["policies"]["replace"]["mean"]["l2"][-1] == final
    assert f"policies at α = 0.1: replace {final:.4g}" in capsys.readouterr().out


def test_a_compared_policy_uses_the_run_seed_and_is_reported(tmp_path, capsys):
    argv = [*SMALL, "--no-grid", "--alpha", "0.1", "--compare-policy", "fixed", "--seed", "3"]
    _, summary = _run(argv, tmp_path)
    ref = simulate(
        CategoricalModel(15),
        zipf(15, 1.1),
        alpha=0.1,
        n=30,
        generations=4,
        replicates=20,
        policy="fixed",
        seed=3,
    )
    np.testing.assert_allclose(summary["policies"]["fixed"]["mean"]["l2"], ref.mean("l2"))
    text = capsys.readouterr().out
    assert f"fixed {ref.mean('l2')[-1]:.4g}" in text


def test_tempered_sampling_has_no_theory_column(tmp_path, capsys, figures):
    argv = [*SMALL, "--no-grid", "--alpha", "0.1", "--temperature", "0.7", "--top-k", "5"]
    _, summary = _run(argv, tmp_path)
    text = capsys.readouterr().out
    assert "theory" not in text.split("\n\n")[1]
    assert "exact recursion" not in figures["error_vs_generation.png"]["legend"]
    info = summary["runs"]["0.1"]["info"]
    assert info["temperature"] == 0.7 and info["top_k"] == 5 and info["method"] == "counts"
    # Top-5 sampling keeps at most 5 tokens from the synthetic part: the support shrinks.
    assert summary["runs"]["0.1"]["mean"]["support"][-1] < 15


def test_a_uniform_truth_prints_its_exact_curve(tmp_path, capsys):
    _, summary = _run([*SMALL, "--no-grid", "--alpha", "0.25", "--zipf", "0"], tmp_path)
    uniform = np.full(15, 1 / 15)
    expected = risk_curve(uniform, 0.25, 30, 4)
    assert f"{expected[-1]:.4g}" in capsys.readouterr().out
    mean = np.array(summary["runs"]["0.25"]["mean"]["l2"])
    se = np.array(summary["runs"]["0.25"]["stderr"]["l2"])
    assert np.all(np.abs(mean - expected) < 4 * se + 1e-12)


def test_a_seed_reproduces_the_whole_summary(tmp_path):
    argv = [*SMALL, "--alpha", "0,0.3", "--grid-n", "15", "--seed", "5"]
    _, one = _run(argv, tmp_path / "a")
    _, two = _run(argv, tmp_path / "b")
    _, other = _run([*argv[:-1], "6"], tmp_path / "c")
    for key in ("runs", "policies", "grid"):
        assert one[key] == two[key]
    assert one["runs"] != other["runs"]
    assert one["args"]["seed"] == 5 and one["args"]["out"] == str(tmp_path / "a")
    assert "func" not in one["args"] and "flag_aliases" not in one["args"]


def test_heatmap_cells_off_the_table_are_simulations_with_their_seeds(tmp_path, capsys):
    argv = [*SMALL, "--alpha", "0.1", "--grid-alpha", "0.1,0.4", "--grid-n", "15,30"]
    argv += ["--grid-replicates", "6", "--seed", "2"]
    _, summary = _run(argv, tmp_path)
    grid = summary["grid"]
    assert grid["alpha"] == [0.1, 0.4] and grid["n"] == [15, 30]
    assert grid["replicates"] == [[6, 20], [6, 6]]  # the (0.1, 30) cell is the table's run
    for i, alpha in enumerate(grid["alpha"]):
        for j, n in enumerate(grid["n"]):
            if (alpha, n) == (0.1, 30):
                assert grid["final"][i][j] == summary["runs"]["0.1"]["mean"]["l2"][-1]
                continue
            res = simulate(
                CategoricalModel(15),
                zipf(15, 1.1),
                alpha=alpha,
                n=n,
                generations=4,
                replicates=6,
                seed=2 + 1000 + i * 2 + j,
            )
            assert grid["final"][i][j] == res.mean("l2")[-1]
            assert grid["stderr"][i][j] == res.stderr("l2")[-1]
    text = capsys.readouterr().out
    row = "     0.4 " + " ".join(f"{v:>10.4g}" for v in grid["final"][1])
    assert row in text


def test_estimators_print_their_numbers_and_the_issue_approximations(tmp_path, capsys):
    _, summary = _run([*SMALL, "--no-grid", "--alpha", "0,0.3,0.6", "--estimators"], tmp_path)
    est = summary["estimators"]
    p, alpha, n = zipf(15, 1.1), 0.3, 30
    weight = optimal_weight(p, alpha, n, 4)
    assert est["alpha"] == alpha and est["weight"] == pytest.approx(weight, rel=1e-12)
    assert est["real_counts"] == real_counts(alpha, n, 4).tolist() == [30, 9, 9, 9, 9]
    text = capsys.readouterr().out
    assert f"weight w = {weight:.4f} (optimal constant w, exact recursion)" in text
    for name in ESTIMATORS:
        exact = estimator_curve(name, p, alpha, n, 4, weight)
        np.testing.assert_allclose(est["exact"][name], exact, rtol=1e-12)
        final = est["runs"][name]["mean"]["l2"][-1]
        assert f"{name:>18} {final:>10.4g}" in text
    c = collision_gap(p)
    assert f"agnostic ≈ c/(nα(2−α)) = {c / (n * alpha * (2 - alpha)):.4g}" in text
    assert f"filter ≈ c/(nα) = {c / (n * alpha):.4g}" in text
    assert f"filter-aggregate ≈ c/Σ α_s n_s = {c / (30 + 4 * 9):.4g}" in text


def test_progress_bars_show_unless_quiet(tmp_path, capsys):
    argv = [a for a in SMALL if a != "--quiet"]
    argv += ["--alpha", "0.2", "--grid-n", "15", "--estimators", "--weight", "0.5"]
    argv += ["--regimes", "--regime-a", "0", "--regime-b", "0", "--regime-generations", "2"]
    argv += ["--regime-replicates", "2", "--regime-n0", "10"]
    _run(argv, tmp_path)
    err = capsys.readouterr().err
    for desc in ("collapse[replace]", "α × n grid", "estimators", "regime map"):
        assert desc in err, desc
    _run([*argv, "--quiet"], tmp_path)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--vocab", "0"], "--vocab"),
        (["--zipf", "-1"], "--zipf"),
        (["--order", "1"], "--order"),
        (["--model", "softmax", "--order", "3"], "--order"),
        (["--model", "ngram", "--vocab", "200", "--order", "4"], "--order"),
        (["--length", "0"], "--length"),
        (["--dim", "0"], "--dim"),
        (["--alpha", "0.2,1.5"], "--alpha"),
        (["--alpha", "0.5", "--alpha-exponent", "1"], "--alpha-exponent"),
        (["--n", "10", "--n-exponent", "-3"], "--n-exponent"),
        (["--grid-alpha", "-0.1"], "--grid-alpha"),
        (["--grid-n", "10,0"], "--grid-n"),
        (["--grid-replicates", "0"], "--grid-replicates"),
        (["--n", "0"], "--n"),
        (["--temperature", "0"], "--temperature"),
        (["--top-k", "0"], "--top-k"),
        (["--model", "gaussian", "--top-k", "3"], "--top-k"),
        (["--seed", "-1"], "--seed"),
        (["--alpha-min", "1.5"], "--alpha-min"),
        (["--almo-generations", "0"], "--almo-generations"),
        (["--almo-replicates", "0"], "--almo-replicates"),
        (["--model", "ngram", "--estimators"], "--estimators"),
        (["--model", "softmax", "--regimes"], "--regimes"),
    ],
)
def test_every_flag_refuses_bad_values_in_one_line(argv, flag, capsys, tmp_path):
    full = ["collapse", "--generations", "2", "--replicates", "2", *argv]
    status = main([*full, "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("almo collapse: error:"), err
    assert f"`{flag}`" in lines[0] or flag in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "collapse.json").exists()


def test_generation_and_replicate_counts_are_refused_by_flag(capsys, tmp_path):
    for argv, flag in (
        (["--generations", "-1"], "--generations"),
        (["--replicates", "0"], "--replicates"),
    ):
        status = main(["collapse", *argv, "--no-grid", "--quiet", "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert status == 2 and flag in err and len(err.strip().splitlines()) == 1


def test_an_output_path_that_is_a_file_is_refused(capsys, tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    status = main(
        [
            "collapse",
            "--generations",
            "1",
            "--replicates",
            "2",
            "--quiet",
            "--no-grid",
            "--out",
            str(target),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "--out" in err and len(err.strip().splitlines()) == 1


def test_fixed_composition_prints_its_own_curve_and_stable_level(tmp_path, capsys):
    from almo.sources import stable_level

    _run([*SMALL, "--no-grid", "--alpha", "0.3", "--policy", "fixed"], tmp_path)
    text = capsys.readouterr().out
    p = zipf(15, 1.1)
    assert f"{risk_curve(p, 0.3, 30, 4, composition='fixed')[-1]:.4g}" in text
    assert f"{stable_level(p, 0.3, 30, 'fixed'):.4g}" in text
    assert "almo collapse — model categorical, policy fixed, n = 30, T = 4, R = 20" in text


def test_decaying_schedules_print_the_exact_curve_and_no_stable_level(tmp_path, capsys):
    from almo.sources import power_law

    argv = [*SMALL, "--no-grid", "--alpha", "0.4", "--alpha-exponent", "-1"]
    _, summary = _run([*argv, "--n-exponent", "0.5"], tmp_path)
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("     0.4 "))
    expected = risk_curve(zipf(15, 1.1), power_law(0.4, -1), power_law(30, 0.5), 4)[-1]
    assert f"{expected:.4g}" in row and "nan" in row
    run = summary["runs"]["0.4"]
    np.testing.assert_allclose(run["alpha"], 0.4 / np.arange(1, 6))
    assert run["n"] == np.rint(30 * np.sqrt(np.arange(1, 6))).astype(int).tolist()
