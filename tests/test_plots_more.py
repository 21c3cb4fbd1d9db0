"""almo.plots, drawn and read back: what each figure draws (positions, heights, error bars,
fronts, markers), its title, axis labels and legend, the log scale switch, bad input, and the
colour rule across every figure of a report (objective k one colour everywhere, ALMO black,
uniform grey, the single-objective ensemble of k in k's colour)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.markers import MarkerStyle

from almo import BoxSimplex
from almo import plots as P
from almo.exceptions import ALMOValueError
from test_compare_more_io import build_report

NAMES = ["log_loss", "hinge", "squared"]


def legend_texts(fig, ax=None):
    legend = (ax.get_legend() if ax is not None else None) or fig.legends[0]
    return [t.get_text() for t in legend.get_texts()], legend.get_title().get_text()


def hexes(colors):
    return [to_hex(c) for c in colors]


def marker_of(collection):
    """The marker a scatter was drawn with, among those the plots use."""
    verts = collection.get_paths()[0].vertices
    for m in ("o", "^", "s", "D"):
        style = MarkerStyle(m)
        ref = style.get_path().transformed(style.get_transform()).vertices
        if ref.shape == verts.shape and np.allclose(ref, verts):
            return m
    return None


# ------------------------------------------------------------------------------ colours
def test_colour_tables():
    from matplotlib import colormaps

    tab20 = [to_hex(colormaps["tab20"](k)) for k in range(20)]
    assert P.objective_colors(15) == tab20[:15]
    many = P.objective_colors(33)
    assert len(set(many)) == 33
    assert P.objective_colors(10) == [to_hex(colormaps["tab10"](k)) for k in range(10)]
    for p in (2, 5, 12):
        for k in range(p):
            assert P.arm_color("single", k, p) == P.objective_colors(p)[k]
    assert P.arm_color("almo") == "#000000" and P.arm_color("uniform") == "#7f7f7f"
    assert P.arm_color("fixed") == "#c7c7c7"


# ------------------------------------------------------------------------------ weights
def test_weights_plot_labels_data_and_custom_text():
    steps = [10, 20, 40]
    w = np.array([[0.2, 0.3, 0.5], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])
    fig = P.plot_weights(steps, w, NAMES, title="my title", xlabel="epoch")
    ax = fig.axes[0]
    assert ax.get_title() == "my title" and ax.get_xlabel() == "epoch"
    assert ax.get_ylim() == pytest.approx((-0.02, 1.02))
    labels, title = legend_texts(fig)
    assert labels == NAMES and title == "objective"
    for k, line in enumerate(ax.get_lines()):
        np.testing.assert_array_equal(line.get_xdata(), steps)
        np.testing.assert_array_equal(line.get_ydata(), w[:, k])
    default = P.plot_weights(steps, w, NAMES).axes[0]
    assert default.get_title() == "ALMO's mixture weights λ over training"
    with pytest.raises(ALMOValueError, match="`weights` must have shape \\(n, 3\\)"):
        P.plot_weights(steps, w[0], NAMES)


def test_weights_plot_many_objectives():
    names = [f"o{k}" for k in range(17)]
    w = np.random.default_rng(0).dirichlet(np.ones(17), size=5)
    ax = P.plot_weights(range(5), w, names).axes[0]
    colours = hexes(line.get_color() for line in ax.get_lines())
    assert colours == P.objective_colors(17) and len(set(colours)) == 17


# ------------------------------------------------------------------------------ epoch losses
def test_epoch_losses_single_held_out_point():
    train = np.array([[1.0, 0.8], [0.7, 0.6], [0.6, 0.5]])
    fig = P.plot_epoch_losses(
        [1, 2, 3], train, [[0.9, 0.7]], ["a", "b"], held_out_epochs=[3], title="T", ylabel="Y"
    )
    ax = fig.axes[0]
    assert ax.get_title() == "T" and ax.get_ylabel() == "Y"
    assert ax.get_xlabel() == "epoch (passes over the training split)"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "a (train)",
        "a (held-out)",
        "b (train)",
        "b (held-out)",
    ]
    held = lines[3]
    np.testing.assert_array_equal(held.get_xdata(), [3.0])
    np.testing.assert_array_equal(held.get_ydata(), [0.7])
    assert held.get_marker() == "D" and held.get_linestyle() == "--"
    assert lines[0].get_marker() == "." and lines[0].get_linestyle() == "-"
    _, title = legend_texts(fig)
    assert title == "solid: training split\n◆: held-out split"
    # several held-out points: a dashed line without the diamond
    many = P.plot_epoch_losses([1, 2, 3], train, train + 0.1, ["a", "b"])
    assert many.axes[0].get_lines()[1].get_marker() in ("None", None, "")
    assert legend_texts(many)[1] == "solid: training split\ndashed: held-out split"


def test_epoch_losses_legend_without_held_out():
    fig = P.plot_epoch_losses([1, 2], [[1.0, 0.5], [0.8, 0.4]], None, ["a", "b"])
    assert len(fig.axes[0].get_lines()) == 2
    assert "held-out" not in legend_texts(fig)[1]


@pytest.mark.parametrize(
    ("train", "held", "name"),
    [(np.ones((2, 3)), None, "train"), (np.ones((2, 2)), np.ones((2, 3)), "held_out")],
)
def test_epoch_losses_bad_shapes(train, held, name):
    with pytest.raises(ALMOValueError, match=f"`{name}`"):
        P.plot_epoch_losses([1, 2], train, held, ["a", "b"])


# ------------------------------------------------------------------------------ by model
def test_objectives_by_model_positions_colours_and_error_bars():
    values = np.array([[0.5, 0.4, 0.45], [0.2, 0.9, 0.3], [0.6, 0.6, 0.1]])
    errors = np.array([[0.01, 0.02, np.nan], [0.0, 0.05, 0.01], [0.02, 0.02, 0.02]])
    worst = [0.5, 0.9, 0.6]
    fig = P.plot_objectives_by_model(["A", "B", "C"], values, NAMES, worst, errors=errors)
    ax = fig.axes[0]
    width = 0.8 / 3
    bars = ax.patches
    assert len(bars) == 9
    bar_containers = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bar_containers) == 3
    colours = P.objective_colors(3)
    for k in range(3):
        for i in range(3):
            bar = bars[3 * k + i]  # drawn objective by objective
            assert bar.get_x() + bar.get_width() / 2 == pytest.approx(i - 0.4 + width * (k + 0.5))
            assert bar.get_width() == pytest.approx(width)
            assert bar.get_height() == pytest.approx(values[i, k])
            assert to_hex(bar.get_facecolor()) == colours[k]
        # error bar half-lengths: the standard errors, NaN drawn as none
        segs = bar_containers[k].errorbar.lines[2][0].get_segments()
        half = [abs(s[1][1] - s[0][1]) / 2 for s in segs]
        np.testing.assert_allclose(half, np.nan_to_num(errors[:, k]), atol=1e-12)
    lines = ax.collections[-1]
    assert hexes(lines.get_colors()) == ["#000000"]
    for i, seg in enumerate(lines.get_segments()):
        assert seg[0][0] == pytest.approx(i - 0.45) and seg[1][0] == pytest.approx(i + 0.45)
        assert seg[0][1] == seg[1][1] == worst[i]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == P.LOSS_LABEL
    assert [t.get_rotation() for t in ax.get_xticklabels()] == [0.0] * 3


def test_objectives_by_model_log_scale_and_rotation():
    values = np.array([[0.01, 1.0], [0.5, 0.6], [0.5, 0.6], [0.5, 0.6], [0.5, 0.6]])
    fig = P.plot_objectives_by_model(list("VWXYZ"), values, ["a", "b"], values.max(1))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"  # 1.0 / 0.01 > 30: one model far off
    assert ax.get_ylabel() == P.LOSS_LABEL + ", log scale"
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {40.0}
    labels, _ = legend_texts(fig, ax)
    assert sorted(labels) == ["a", "b", "worst case over Λ"]


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"worst": [1.0]}, "labels"),
        ({"labels": ["A"]}, "labels"),
        ({"values": np.ones((2, 3))}, "values"),
        ({"errors": np.ones((2, 3))}, "errors"),
    ],
)
def test_objectives_by_model_bad_input(kw, name):
    args = {
        "labels": ["A", "B"],
        "values": np.ones((2, 2)),
        "names": ["a", "b"],
        "worst": [1.0, 1.0],
    }
    args |= kw
    errors = args.pop("errors", None)
    with pytest.raises(ALMOValueError, match=f"`{name}`"):
        P.plot_objectives_by_model(**args, errors=errors)


# ------------------------------------------------------------------------------ Pareto
def brute_front(points):
    pts = np.asarray(points, float)
    keep = [i for i, q in enumerate(pts) if not any(np.all(o <= q) and np.any(o < q) for o in pts)]
    return pts[keep]


@settings(max_examples=60)
@given(
    st.integers(2, 4).flatmap(
        lambda p: st.lists(
            st.lists(st.integers(0, 4), min_size=p, max_size=p), min_size=1, max_size=12
        )
    )
)
def test_pareto_mask_property(points):
    pts = np.array(points, float)
    mask = P.pareto_mask(pts)
    front = brute_front(pts)
    assert sorted(map(tuple, pts[mask])) == sorted(map(tuple, front))
    assert mask.any()  # a finite set always has a non-dominated point


def test_pareto_two_objectives_front_star_and_markers():
    sweep = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.5, 2.5], [1.5, 2.8]])
    kinds = ["uniform", "single:0", "single:1", "fixed", "fixed"]
    fig = P.plot_pareto(
        ["a", "b"],
        {"linear": sweep, "mlp": sweep * 1.1, "mlp(8)": sweep * 1.2},
        {"linear": [1.8, 1.9], "mlp": [2.0, 2.1]},
        kinds={"linear": kinds},
        title="my pareto",
    )
    assert fig.get_suptitle() == "my pareto"
    (ax,) = fig.axes
    assert ax.get_xlabel() == "a (normalized, unitless)"
    assert ax.get_ylabel() == "b (normalized, unitless)"
    assert ax.get_xscale() == ax.get_yscale() == "linear"
    cols = ax.collections
    # per family: the sweep, then its ALMO point (when it has one)
    assert [marker_of(c) for c in cols] == ["o", "o", "^", "^", "s"]
    np.testing.assert_allclose(cols[0].get_offsets(), sweep)
    assert hexes(cols[0].get_facecolors()) == [
        P.ARM_COLORS["uniform"],
        P.objective_colors(2)[0],
        P.objective_colors(2)[1],
        P.ARM_COLORS["fixed"],
        P.ARM_COLORS["fixed"],
    ]
    assert hexes(cols[2].get_facecolors()) == [P.ARM_COLORS["fixed"]] * 5  # default kinds
    np.testing.assert_allclose(cols[1].get_offsets(), [[1.8, 1.9]])
    assert hexes(cols[1].get_facecolors()) == ["#000000"]
    assert cols[1].get_sizes()[0] > cols[0].get_sizes()[0]
    fronts = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(fronts) == 3
    want = brute_front(sweep)
    want = want[np.argsort(want[:, 0])]
    np.testing.assert_allclose(np.c_[fronts[0].get_xdata(), fronts[0].get_ydata()], want)
    labels, title = legend_texts(fig)
    assert labels == [
        "linear: fixed λ",
        "linear: Pareto front of the sweep (the two objectives shown)",
        "linear: ALMO",
        "mlp: fixed λ",
        "mlp: Pareto front of the sweep (the two objectives shown)",
        "mlp: ALMO",
        "mlp(8): fixed λ",
        "mlp(8): Pareto front of the sweep (the two objectives shown)",
    ]
    assert "black: ALMO" in title and "dotted: Pareto front" in title


def test_pareto_three_objectives_panels():
    rng = np.random.default_rng(4)
    sweep = rng.uniform(0.5, 1.5, (7, 3))
    star = np.array([0.9, 1.0, 1.1])
    fig = P.plot_pareto(NAMES, {"mlp": sweep}, {"mlp": star})
    axes = fig.axes
    assert len(axes) == 3
    for ax, (i, j) in zip(axes, [(0, 1), (0, 2), (1, 2)], strict=True):
        assert ax.get_xlabel() == f"{NAMES[i]} (normalized, unitless)"
        assert ax.get_ylabel() == f"{NAMES[j]} (normalized, unitless)"
        np.testing.assert_allclose(ax.collections[0].get_offsets(), sweep[:, [i, j]])
        np.testing.assert_allclose(ax.collections[1].get_offsets(), [star[[i, j]]])
        (front,) = ax.get_lines()
        want = brute_front(sweep[:, [i, j]])
        want = want[np.argsort(want[:, 0])]
        np.testing.assert_allclose(np.c_[front.get_xdata(), front.get_ydata()], want)
        assert marker_of(ax.collections[0]) == "^"


def test_pareto_log_scale_per_axis():
    sweep = np.array([[0.01, 1.0], [1.0, 1.5], [0.5, 2.0]])
    (ax,) = P.plot_pareto(["a", "b"], {"linear": sweep}, {}).axes
    assert ax.get_xscale() == "log" and ax.get_xlabel().endswith(", log scale")
    assert ax.get_yscale() == "linear" and not ax.get_ylabel().endswith("log scale")
    labels, _ = legend_texts(P.plot_pareto(["a", "b"], {"linear": sweep}, {}))
    assert "linear: ALMO" not in labels


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((["a"], {}, {}), "names"),
        ((list("abcd"), {}, {}), "names"),
        ((["a", "b"], {"linear": np.ones((3, 3))}, {}), "sweeps\\['linear'\\]"),
        ((["a", "b"], {"linear": np.ones(2)}, {}), "sweeps\\['linear'\\]"),
    ],
)
def test_pareto_bad_input(args, name):
    with pytest.raises(ALMOValueError, match=f"`{name}`"):
        P.plot_pareto(*args)


@pytest.mark.parametrize(("kind", "name"), [("single", "objective"), ("magic", "kind")])
def test_pareto_bad_kinds(kind, name):
    with pytest.raises(ALMOValueError, match=f"`{name}`"):
        P.plot_pareto(["a", "b"], {"linear": np.ones((1, 2))}, {}, kinds={"linear": [kind]})


# ------------------------------------------------------------------------------ a report's figures
@pytest.fixture(scope="module")
def report():
    return build_report(names=NAMES, seeds=(5, 2), fixed="grid:2")


@pytest.fixture(scope="module")
def figures(report):
    return report.figures()


def test_report_figures_titles_and_data(report, figures):
    assert set(figures) == {"weights_mlp", "epoch_losses_mlp", "objectives_by_model", "pareto"}
    (almo5,) = [r for r in report.runs_of("mlp", "ALMO") if r.seed == 5]
    h = almo5.history  # the first seed's
    ax = figures["weights_mlp"].axes[0]
    assert ax.get_title() == "ALMO's mixture weights λ over training (mlp, seed 5)"
    for k, line in enumerate(ax.get_lines()):
        np.testing.assert_array_equal(line.get_xdata(), h["steps"])
        np.testing.assert_allclose(line.get_ydata(), np.array(h["weights"])[:, k])
    ax = figures["epoch_losses_mlp"].axes[0]
    assert ax.get_title() == "Per-objective loss per epoch, ALMO (mlp, seed 5)"
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), np.array(h["train"])[:, 0])
    np.testing.assert_allclose(lines[1].get_xdata(), h["held_out_epochs"])
    np.testing.assert_allclose(lines[1].get_ydata(), [almo5.held_out.normalized[0]])

    rows = report.summary()
    ax = figures["objectives_by_model"].axes[0]
    assert ax.get_title() == "Held-out loss of each objective, by model (mean over 2 seeds)"
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"{r['model']}: {r['arm']}" for r in rows
    ]
    m = len(rows)
    heights = np.array([b.get_height() for b in ax.patches]).reshape(3, m).T
    np.testing.assert_allclose(heights, [r["normalized"]["mean"] for r in rows])
    worst = [s[0][1] for s in ax.collections[-1].get_segments()]
    np.testing.assert_allclose(worst, [r["worst_case"]["mean"] for r in rows])

    fig = figures["pareto"]
    assert len(fig.axes) == 3
    for family, (sweep, star) in zip(("linear", "mlp"), ((0, 1), (2, 3)), strict=True):
        fam_rows = [r for r in rows if r["model"] == family]
        np.testing.assert_allclose(
            fig.axes[0].collections[sweep].get_offsets(),
            [r["normalized"]["mean"][:2] for r in fam_rows if r["kind"] != "almo"],
        )
        np.testing.assert_allclose(
            fig.axes[0].collections[star].get_offsets(),
            [next(r["normalized"]["mean"][:2] for r in fam_rows if r["kind"] == "almo")],
        )


def test_one_seed_title_is_singular():
    rep = build_report(seeds=(0,), history=False)
    title = rep.figures()["objectives_by_model"].axes[0].get_title()
    assert title.endswith("(mean over 1 seed)")


def test_colours_mean_the_same_in_every_figure(report, figures):
    colours = P.objective_colors(3)
    weights = hexes(line.get_color() for line in figures["weights_mlp"].axes[0].get_lines())
    epochs = hexes(line.get_color() for line in figures["epoch_losses_mlp"].axes[0].get_lines())
    assert weights == colours
    assert epochs == [c for c in colours for _ in range(2)]  # train and held-out per objective
    bars = figures["objectives_by_model"].axes[0]
    m = len(report.summary())
    bar_colours = hexes(b.get_facecolor() for b in bars.patches)
    assert bar_colours == [c for c in colours for _ in range(m)]
    assert hexes(bars.collections[-1].get_colors()) == [P.ARM_COLORS["almo"]]
    for ax in figures["pareto"].axes:
        for family in range(2):
            sweep, star = ax.collections[2 * family], ax.collections[2 * family + 1]
            arms = [a for a in report.arms if a.kind != "almo"]
            want = [
                colours[a.objective] if a.kind == "single" else P.ARM_COLORS[a.kind] for a in arms
            ]
            assert hexes(sweep.get_facecolors()) == want
            assert hexes(star.get_facecolors()) == [P.ARM_COLORS["almo"]]
            assert marker_of(sweep) == marker_of(star) == ("o", "^")[family]


def test_report_with_a_box_set_and_without_history():
    rep = build_report(
        names=["a", "b"], mixture=BoxSimplex(0.2, 0.8, p=2), history=False, seeds=(0, 1)
    )
    figs = rep.figures()
    assert set(figs) == {"objectives_by_model", "pareto"}
    worst = [s[0][1] for s in figs["objectives_by_model"].axes[0].collections[-1].get_segments()]
    lower, upper = 0.2, 0.8
    want = []
    for row in rep.summary():
        per_seed = [
            upper * r.held_out.normalized.max() + lower * r.held_out.normalized.min()
            for r in rep.runs_of(row["model"], row["arm"])
        ]
        want.append(np.mean(per_seed))
    np.testing.assert_allclose(worst, want, rtol=1e-12)
