"""almo.plots: each figure has its title, axis labels with units, legend, and the data drawn;
colours mean the same objective / kind of model in every figure; the report writes PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from almo import Simplex
from almo import plots as P
from almo.comparison import Arm, ComparisonReport, Run
from almo.exceptions import ALMOValueError
from almo.report import ObjectiveReport

NAMES = ["log_loss", "hinge", "squared"]


def _legend_labels(ax):
    legend = ax.get_legend() or (ax.figure.legends[0] if ax.figure.legends else None)
    assert legend is not None, "no legend"
    return [t.get_text() for t in legend.get_texts()]


def test_objective_colors_distinct_and_stable():
    for p in (1, 3, 10, 12, 20, 35):
        colors = P.objective_colors(p)
        assert len(colors) == p and len(set(colors)) == p
        assert P.objective_colors(p) == colors
    assert P.objective_colors(3) == P.objective_colors(10)[:3]
    assert P.arm_color("single", 2, 3) == P.objective_colors(3)[2]
    assert len({P.arm_color(k) for k in ("almo", "uniform", "fixed")}) == 3
    with pytest.raises(ALMOValueError, match="`kind`"):
        P.arm_color("other")
    with pytest.raises(ALMOValueError, match="`objective`"):
        P.arm_color("single")


def test_weights_plot():
    steps = np.arange(1, 6)
    w = np.array([[1 / 3] * 3, [0.4, 0.3, 0.3], [0.5, 0.3, 0.2], [0.6, 0.2, 0.2], [0.7, 0.2, 0.1]])
    fig = P.plot_weights(steps, w, NAMES)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "λ" in ax.get_title()
    assert ax.get_xlabel() == "training step (mini-batches)"
    assert "unitless" in ax.get_ylabel()
    assert _legend_labels(ax) == NAMES
    lines = ax.get_lines()
    for k, line in enumerate(lines):
        np.testing.assert_array_equal(line.get_ydata(), w[:, k])
        assert to_hex(line.get_color()) == P.objective_colors(3)[k]
    with pytest.raises(ALMOValueError, match="`weights`"):
        P.plot_weights(steps, w[:, :2], NAMES)


def test_epoch_losses_plot_train_and_held_out():
    train = np.array([[1.0, 0.8, 0.5], [0.7, 0.6, 0.4]])
    held = train + 0.1
    fig = P.plot_epoch_losses([1, 2], train, held, NAMES)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("epoch")
    assert ax.get_ylabel() == P.LOSS_LABEL
    labels = _legend_labels(ax)
    assert labels == [f"{n} ({s})" for n in NAMES for s in ("train", "held-out")]
    lines = ax.get_lines()
    assert [line.get_linestyle() for line in lines[:2]] == ["-", "--"]
    np.testing.assert_array_equal(lines[1].get_ydata(), held[:, 0])
    assert to_hex(lines[2].get_color()) == to_hex(lines[3].get_color()) == P.objective_colors(3)[1]
    only_train = P.plot_epoch_losses([1, 2], train, None, NAMES).axes[0]
    assert len(only_train.get_lines()) == 3


def test_objectives_by_model_marks_the_worst_case():
    values = np.array([[0.5, 0.4, 0.45], [0.2, 0.9, 0.3]])
    worst = values.max(axis=1)
    fig = P.plot_objectives_by_model(["ALMO", "uniform"], values, NAMES, worst, errors=values * 0.1)
    ax = fig.axes[0]
    assert ax.get_ylabel() == P.LOSS_LABEL and ax.get_xlabel().startswith("model")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ALMO", "uniform"]
    assert sorted(_legend_labels(ax)) == sorted([*NAMES, "worst case over Λ"])
    heights = sorted(round(b.get_height(), 12) for b in ax.patches)
    assert heights == sorted(values.ravel().round(12).tolist())
    segs = ax.collections[-1].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segs], worst)
    with pytest.raises(ALMOValueError, match="`labels`"):
        P.plot_objectives_by_model(["ALMO"], values, NAMES, worst)


def test_pareto_mask_against_brute_force():
    rng = np.random.default_rng(1)
    pts = rng.random((40, 3))
    mask = P.pareto_mask(pts)
    for i, q in enumerate(pts):
        dominated = any(np.all(o <= q) and np.any(o < q) for o in pts)
        assert mask[i] == (not dominated)
    assert P.pareto_mask([[1.0, 1.0], [1.0, 1.0]]).tolist() == [True, True]  # ties dominate none


@pytest.mark.parametrize("p", [2, 3])
def test_pareto_plot_panels_and_points(p):
    names = NAMES[:p]
    sweep = np.random.default_rng(0).random((6, p))
    kinds = ["uniform", *(f"single:{k}" for k in range(p)), *["fixed"] * (6 - 1 - p)]
    fig = P.plot_pareto(
        names,
        {"linear": sweep, "mlp": sweep + 0.1},
        {"linear": np.full(p, 0.5)},
        kinds={"linear": kinds},
    )
    axes = fig.axes
    assert len(axes) == (1 if p == 2 else 3)
    assert fig.get_suptitle().startswith("Fixed-λ sweep")
    assert axes[0].get_xlabel().startswith(f"{names[0]} (normalized, unitless)")
    assert axes[0].get_ylabel().startswith(f"{names[1]} (normalized, unitless)")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "linear: ALMO" in labels and "mlp: fixed λ" in labels
    assert "linear: Pareto front of the sweep (the two objectives shown)" in labels
    scatter = axes[0].collections[0]
    np.testing.assert_allclose(scatter.get_offsets(), sweep[:, :2])
    colors = [to_hex(c) for c in scatter.get_facecolors()]
    assert colors[0] == P.ARM_COLORS["uniform"] and colors[1] == P.objective_colors(p)[0]
    with pytest.raises(ALMOValueError, match="`names`"):
        P.plot_pareto([*NAMES, "x"], {}, {})


def _report(p=3, with_history=True):
    names = NAMES[:p]
    arms = [Arm("ALMO", "almo"), Arm("uniform", "uniform", tuple([1 / p] * p))]
    arms += [Arm(f"only {n}", "single", tuple(np.eye(p)[k]), k) for k, n in enumerate(names)]
    rng = np.random.default_rng(0)
    runs = []
    for seed in (0, 1):
        for model in ("linear", "mlp"):
            for a in arms:
                raw = rng.random(p) + 0.1
                rep = ObjectiveReport.from_values(names, raw, np.ones(p), Simplex(p))
                hist = None
                if with_history and a.kind == "almo" and model == "mlp":
                    hist = {
                        "epochs": [1, 2, 3],
                        "train": rng.random((3, p)).tolist(),
                        "held_out": rng.random((3, p)).tolist(),
                        "steps": [1, 2, 3, 4],
                        "weights": np.full((4, p), 1 / p).tolist(),
                    }
                runs.append(Run(model, a.name, seed, rep, rep, 0.9, [1 / p] * p, history=hist))
    return ComparisonReport({"objectives": names, "score": "accuracy"}, arms, runs)


def test_report_figures_and_png_files(tmp_path):
    rep = _report()
    figs = rep.figures()
    assert set(figs) == {"weights_mlp", "epoch_losses_mlp", "objectives_by_model", "pareto"}
    for fig in figs.values():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        assert any(ax.get_title() for ax in fig.axes) or fig.get_suptitle()
    bars = figs["objectives_by_model"].axes[0]
    assert len(bars.get_xticklabels()) == 2 * len(rep.arms)
    assert "mean over 2 seeds" in bars.get_title()
    paths = rep.save(tmp_path)
    for name in figs:
        data = paths[name].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert {"json", "csv", "markdown"} <= set(paths)


def test_report_figures_without_history_or_pareto():
    figs = _report(p=2, with_history=False).figures()
    assert set(figs) == {"objectives_by_model", "pareto"}
    rep4 = ComparisonReport(
        {"objectives": list("abcd"), "score": "r2"},
        [Arm("ALMO", "almo")],
        [
            Run(
                "linear",
                "ALMO",
                0,
                ObjectiveReport.from_values("abcd", [1, 2, 3, 4], np.ones(4), Simplex(4)),
                ObjectiveReport.from_values("abcd", [1, 2, 3, 4], np.ones(4), Simplex(4)),
                0.5,
                [0.25] * 4,
            )
        ],
    )
    assert set(rep4.figures()) == {"objectives_by_model"}
    assert "R²" in rep4.table()
