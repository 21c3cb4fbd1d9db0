"""More of the comparison, the agnostic search, the figures and ``almo search``: regret against
a known optimum, calls per method, the worst case over Λ against independent solvers, what the
figures show, and the command's flags, JSON and one-line errors."""

import contextlib
import io
import json
import warnings
from dataclasses import fields

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold

from almo import BoxSimplex, Polytope, PriorBall, Simplex
from almo.cli import main
from almo.exceptions import ALMOValueError
from almo.search import METHODS, SearchResult, agnostic_search, climb, compare_methods
from almo.search.plots import figure_predicted, figure_progress, figure_weights, save_figures
from almo.search.study import MethodRow, cv_spearman
from checks import assert_in_set, linear_max

OPT = np.array([0.5, 0.3, 0.15, 0.05])
CENTRES = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.4, 0.4]])


def exact(w):
    """A noiseless loss with its minimum 0 at OPT: proxy and larger model at once."""
    return float(np.sum((np.asarray(w) - OPT) ** 2))


def noisy(w, seed=0):
    return exact(w) + float(np.random.default_rng(seed).normal(0, 1e-3))


def three_targets(w, seed=0):
    """Three target losses: squared distances to three centres (with seeded noise)."""
    noise = np.random.default_rng(seed).normal(0, 1e-3, size=3)
    return np.sum((np.asarray(w) - CENTRES) ** 2, axis=1) + noise


def three_exact(w):
    return np.sum((np.asarray(w) - CENTRES) ** 2, axis=1)


class Counting:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, w, seed=0):
        self.calls += 1
        return self.fn(w, seed)


SHARES = np.array([0.4, 0.3, 0.2, 0.1])
QUICK = {"n_candidates": 200, "predictor": LinearRegression()}


@pytest.fixture(scope="module")
def compared():
    counter = Counting(lambda w, s: exact(w))
    report, results = compare_methods(
        counter,
        SHARES,
        14,
        methods=("climb", "uniform", "proportional", "random", "regmix"),
        evaluate=exact,
        optimum=(OPT, 0.0),
        seed=2,
        **QUICK,
    )
    return report, results, counter.calls


# --- compare_methods ------------------------------------------------------------------------


def test_every_method_uses_its_budget_of_proxy_calls(compared):
    report, results, calls = compared
    budget = {"climb": 14, "random": 14, "regmix": 14, "uniform": 1, "proportional": 1}
    assert {r.method: r.proxy_calls for r in report.rows} == budget
    assert calls == sum(budget.values())
    assert {m: r.proxy_calls for m, r in results.items()} == budget


def test_regret_is_the_excess_over_the_known_optimum(compared):
    report, results, _ = compared
    assert report.optimum_loss == 0.0 and report.optimum_weights == OPT.tolist()
    for r in report.rows:
        assert r.target_loss == pytest.approx(exact(np.array(r.weights)), abs=0)
        assert r.regret == r.target_loss - 0.0 and r.regret >= 0
        np.testing.assert_array_equal(r.weights, results[r.method].weights)
    rows = {r.method: r for r in report.rows}
    # With a noiseless proxy the best measured weights improve every round: regret never rises.
    climb_regret = rows["climb"].regret_by_round
    assert len(climb_regret) == 3 and climb_regret == sorted(climb_regret, reverse=True)
    assert climb_regret[-1] == pytest.approx(rows["climb"].regret, abs=1e-15)
    assert rows["climb"].gain_round1_to_last >= 0
    after = results["climb"].best_after()
    assert rows["climb"].gain_round1_to_last == pytest.approx(after[0] - after[-1], abs=0)
    assert len(rows["random"].regret_by_round) == 1 and rows["random"].gain_round1_to_last is None
    assert rows["uniform"].regret_by_round is None and rows["uniform"].gain_round1_to_last is None
    np.testing.assert_allclose(rows["uniform"].weights, 0.25)
    np.testing.assert_allclose(rows["proportional"].weights, SHARES)


def test_regret_is_measured_against_the_best_loss_anyone_reached():
    """An 'optimum' worse than what the methods found: the best found becomes the reference, so
    the best method has regret 0 and every regret is ≥ 0."""
    report, _ = compare_methods(
        noisy, SHARES, 7, methods=("climb", "uniform", "random"), evaluate=exact,
        optimum=(np.full(4, 0.25), 10.0), seed=0, **QUICK,
    )  # fmt: skip
    found = [r.target_loss for r in report.rows]
    found += [v + report.optimum_loss for r in report.rows for v in r.regret_by_round or []]
    assert report.optimum_loss == pytest.approx(min(found), abs=1e-15)
    assert min(r.regret for r in report.rows) >= 0
    assert min(min([r.regret, *(r.regret_by_round or [])]) for r in report.rows) == 0.0


def test_without_evaluate_there_is_no_regret():
    report, _ = compare_methods(noisy, SHARES, 7, methods=("climb", "random"), seed=0, **QUICK)
    for r in report.rows:
        assert r.target_loss is None and r.regret is None and r.regret_by_round is None
        assert r.best_proxy_score is not None
    assert report.optimum_loss is None and report.optimum_weights is None
    assert "| - |" in report.table()


def test_held_out_and_cross_validated_spearman(compared):
    report, results, _ = compared
    rows = {r.method: r for r in report.rows}
    assert rows["climb"].spearman_held_out == results["climb"].held_out_spearman()
    assert rows["random"].spearman_held_out is None and rows["random"].spearman_cv is None
    assert rows["uniform"].spearman_cv is None
    # cv_spearman: out-of-fold predictions of a fresh predictor, ranked by scipy.
    res = results["regmix"]
    X = np.stack([r.weights for r in res.runs])
    y = res.values
    pred = np.empty_like(y)
    for train, test in KFold(5, shuffle=True, random_state=2).split(X):
        pred[test] = LinearRegression().fit(X[train], y[train]).predict(X[test])
    expected = spearmanr(pred, y).statistic
    assert cv_spearman(res, LinearRegression(), seed=2) == pytest.approx(expected, abs=1e-12)
    assert rows["regmix"].spearman_cv == pytest.approx(expected, abs=1e-12)
    assert cv_spearman(results["uniform"]) is None  # one run: nothing to cross-validate


def test_methods_share_the_proxy_seeds_of_their_runs(compared):
    _, results, _ = compared
    seeds = [r.seed for r in results["climb"].runs]
    assert [r.seed for r in results["random"].runs] == seeds
    assert [r.seed for r in results["regmix"].runs] == seeds
    assert results["uniform"].runs[0].seed == seeds[0]


def test_report_json_structure(compared):
    report, _, _ = compared
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"format", "settings", "optimum", "clusters", "methods"}
    assert data["format"] == "almo-search/1" and data["clusters"] is None
    assert data["optimum"] == {"weights": OPT.tolist(), "target_loss": 0.0}
    assert data["settings"]["budget"] == 14 and data["settings"]["rounds"] == [4, 2, 1]
    assert data["settings"]["seed"] == 2 and data["settings"]["predictor"].startswith("Linear")
    names = {f.name for f in fields(MethodRow)}
    for m in data["methods"]:
        assert set(m) == names
        assert np.sum(m["weights"]) == pytest.approx(1.0, abs=1e-9)
    assert [m["method"] for m in data["methods"]] == [r.method for r in report.rows]


def test_report_table_and_row_lookup(compared):
    report, _, _ = compared
    lines = report.table().splitlines()
    assert lines[0].startswith("| method | proxy calls | best proxy score | target loss")
    assert len(lines) == 2 + len(report.rows)
    assert lines[3].startswith("| uniform | 1 |")
    assert report.row("random").method == "random"
    with pytest.raises(ALMOValueError, match="`method` must be one of"):
        report.row("doremi")


def test_compare_methods_is_reproducible():
    kw = {"methods": ("climb", "random"), "evaluate": exact, "seed": 4, **QUICK}
    a, _ = compare_methods(noisy, SHARES, 7, **kw)
    b, _ = compare_methods(noisy, SHARES, 7, **kw)
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert ra.weights == rb.weights and ra.target_loss == rb.target_loss
        assert ra.best_proxy_score == rb.best_proxy_score


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": ()}, "`methods` must be a non-empty list"),
        ({"methods": ("climb", "grid")}, "`methods`"),
        ({"methods": "climb"}, "`methods`"),
        ({"methods": ("doremi",)}, "`doremi_data`"),
        ({"evaluate": "large"}, "`evaluate` must be a callable"),
        ({"budget": 0}, "`budget`"),
        ({"rounds": ()}, "`rounds`"),
        ({"n_jobs": 0}, "`n_jobs`"),
    ],
)
def test_compare_methods_bad_input(kwargs, match):
    counter = Counting(noisy)
    with pytest.raises(ALMOValueError, match=match):
        compare_methods(counter, SHARES, **{"budget": 7, "methods": ("climb", "random"), **kwargs})
    assert counter.calls == 0


def test_a_zero_budget_is_refused_whatever_the_methods():
    with pytest.raises(ALMOValueError, match="`budget`"):
        compare_methods(noisy, SHARES, 0, methods=("uniform",))


@pytest.mark.parametrize(
    ("budget", "methods", "match"),
    [
        (0, ("uniform", "proportional"), "`budget` must be an integer >= 1; found 0"),
        ("7", ("uniform",), "`budget` must be an integer >= 1; found '7'"),
        (2.5, ("proportional",), "`budget` must be an integer >= 1; found 2.5"),
        (2, ("uniform", "climb"), r"`budget` must be at least the number of rounds \(3\)"),
    ],
)
def test_the_budget_is_checked_before_any_method_runs(budget, methods, match):
    counter = Counting(noisy)
    with pytest.raises(ALMOValueError, match=match):
        compare_methods(counter, SHARES, budget, methods=methods)
    assert counter.calls == 0


def test_a_budget_below_the_rounds_is_fine_without_climb():
    """The rounds split only CLIMB's budget: random search spends two runs as asked."""
    counter = Counting(noisy)
    report, results = compare_methods(counter, SHARES, 2, methods=("uniform", "random"))
    assert results["random"].proxy_calls == 2 and counter.calls == 3
    assert report.settings["budget"] == 2


# --- the agnostic search --------------------------------------------------------------------


@pytest.mark.parametrize(
    "mixture_set",
    [
        Simplex(3),
        BoxSimplex([0.1, 0.1, 0.1], [0.6, 0.6, 0.6]),
        Polytope([[1.0, -1.0, 0.0]], [0.2]),
        PriorBall([0.5, 0.3, 0.2], 0.3, "l1"),
        PriorBall([1 / 3] * 3, 0.1, "kl"),
    ],
    ids=["simplex", "box", "polytope", "l1", "kl"],
)
def test_worst_case_equals_an_independent_max_over_lambda(mixture_set):
    counter = Counting(three_targets)
    report = agnostic_search(counter, SHARES, mixture_set, 7, seed=1, **QUICK)
    assert counter.calls == 3 * 7
    assert [r.method for r in report.rows] == ["agnostic", "uniform-target", "single-target"]
    tol = 1e-6 if isinstance(mixture_set, PriorBall) else 1e-9
    for r in report.rows:
        assert r.proxy_calls == 7
        ref = linear_max(mixture_set, np.array(r.per_target))
        assert r.worst_case == pytest.approx(ref, abs=tol)
        assert_in_set(mixture_set, r.worst_mixture, atol=1e-7)
        assert np.dot(r.worst_mixture, r.per_target) == pytest.approx(r.worst_case, abs=tol)
        assert np.sum(r.weights) == pytest.approx(1.0, abs=1e-12)
    assert report.measured_by == "proxy"


def test_each_search_is_climb_with_its_aggregate():
    """Λ = the simplex: the agnostic search is CLIMB on max over targets, the uniform-target one
    CLIMB on their mean, the single-target one CLIMB on target 1 — same seed, same budget."""
    report = agnostic_search(three_targets, SHARES, Simplex(3), 7, single_target=1, seed=3, **QUICK)
    rows = {r.method: r for r in report.rows}
    for name, agg in [("agnostic", max), ("uniform-target", np.mean), ("single-target", None)]:
        res = climb(
            three_targets,
            SHARES,
            7,
            aggregate=agg or (lambda v: float(v[1])),
            seed=3,
            **QUICK,
        )
        np.testing.assert_allclose(rows[name].weights, res.weights, rtol=0, atol=1e-12)
        best = res.runs[int(np.argmin(res.values))]
        np.testing.assert_allclose(rows[name].per_target, best.scores, rtol=1e-12)
    assert rows["agnostic"].worst_case <= max(rows["single-target"].per_target) + 1e-12


def test_with_evaluate_the_rows_hold_the_larger_models_losses():
    report = agnostic_search(
        three_targets, SHARES, Simplex(3), 7, evaluate=three_exact, seed=0, **QUICK
    )
    assert report.measured_by == "larger model"
    for r in report.rows:
        np.testing.assert_allclose(r.per_target, three_exact(np.array(r.weights)), rtol=1e-12)
        assert r.worst_case == pytest.approx(max(r.per_target), abs=1e-15)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**16), st.integers(3, 9))
def test_agnostic_rows_are_on_the_simplex_for_any_seed(seed, budget):
    report = agnostic_search(
        three_targets, SHARES, Simplex(3), budget, rounds=(2, 1), seed=seed, **QUICK
    )
    for r in report.rows:
        w = np.array(r.weights)
        assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
        assert r.proxy_calls == budget and r.worst_case == pytest.approx(max(r.per_target))


def test_agnostic_report_json_and_table():
    report = agnostic_search(
        three_targets, SHARES, Simplex(3), 3, rounds=(1,), target_names=["x", "y", "z"], seed=0
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"format", "targets", "measured_by", "settings", "methods"}
    assert data["format"] == "almo-search-agnostic/1" and data["targets"] == ["x", "y", "z"]
    assert data["settings"]["budget"] == 3 and data["settings"]["single_target"] == 0
    assert "Simplex" in data["settings"]["mixture_set"]
    for m in data["methods"]:
        assert set(m) == {
            "method",
            "weights",
            "per_target",
            "worst_case",
            "worst_mixture",
            "proxy_calls",
        }
        assert len(m["per_target"]) == 3 and len(m["weights"]) == 4
    lines = report.table().splitlines()
    assert lines[0] == "| search | worst case over Λ | x | y | z |"
    assert lines[1] == "|---|---|---|---|---|" and len(lines) == 5
    default = agnostic_search(three_targets, SHARES, Simplex(3), 3, rounds=(1,))
    assert default.target_names == ["target0", "target1", "target2"]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((Simplex(2),), {}, r"`proxy` must return 2 target losses \(mixture_set.p\)"),
        (([1 / 3] * 3,), {}, "`mixture_set` must be a MixtureSet"),
        ((Simplex(3),), {"single_target": 3}, "`single_target`"),
        ((Simplex(3),), {"single_target": -1}, "`single_target`"),
        ((Simplex(3),), {"target_names": ["a", "b"]}, "`target_names` must name the 3 targets"),
        ((Simplex(3),), {"budget": 0}, "`budget`"),
        ((Simplex(3),), {"n_jobs": 0}, "`n_jobs`"),
        ((Simplex(3),), {"evaluate": lambda w: [1.0, 2.0]}, "`proxy` must return 3"),
    ],
)
def test_agnostic_bad_input(args, kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        agnostic_search(three_targets, SHARES, *args, **{"budget": 3, "rounds": (1,), **kwargs})


def test_agnostic_refuses_an_aggregate_option_clearly():
    with pytest.raises(ALMOValueError, match="`aggregate`"):
        agnostic_search(three_targets, SHARES, Simplex(3), 3, aggregate=max)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "mine"}, "`method` must not be among the climb options"),
        ({"aggregate": max, "method": "x"}, "`aggregate` must not be among the climb options"),
        ({"round": (1,)}, r"`climb_options` must be among \('rounds'.*found \['round'\]"),
        ({"rounds": (1,), "n_candidate": 9}, r"`climb_options` must be among"),
    ],
)
def test_agnostic_refuses_options_it_sets_or_does_not_know(options, match):
    counter = Counting(three_targets)
    with pytest.raises(ALMOValueError, match=match):
        agnostic_search(counter, SHARES, Simplex(3), 3, **options)
    assert counter.calls == 0


# --- figures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searched():
    cl = climb(noisy, SHARES, 14, seed=0, **QUICK)
    rs = climb(noisy, SHARES, 6, rounds=(1,), seed=0, method="random")
    return cl, rs


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_progress_figure_shows_the_best_so_far_of_each_method(searched):
    cl, rs = searched
    empty = SearchResult("doremi", np.full(4, 0.25))
    fig = figure_progress({"climb": cl, "random": rs, "doremi": empty})
    ax = fig.axes[0]
    assert ax.get_title() == "Search progress: best measured proxy score vs proxy runs"
    assert ax.get_xlabel() == "proxy runs" and "nats" in ax.get_ylabel()
    assert legend_texts(ax) == ["climb (best so far)", "random (best so far)"]
    lines = ax.get_lines()
    assert len(lines) == 4  # a step line and the run dots per method with runs
    for (step, dots), res in zip([lines[0:2], lines[2:4]], [cl, rs], strict=True):
        np.testing.assert_array_equal(step.get_xdata(), np.arange(1, res.proxy_calls + 1))
        np.testing.assert_allclose(step.get_ydata(), np.minimum.accumulate(res.values))
        np.testing.assert_allclose(dots.get_ydata(), res.values)
        assert step.get_color() == dots.get_color()
    plt.close(fig)


def test_predicted_figure_plots_each_later_round_against_the_diagonal(searched):
    cl, _ = searched
    fig = figure_predicted(cl)
    ax = fig.axes[0]
    rho = cl.held_out_spearman()
    assert ax.get_title() == f"Predictor on held-out proxy runs (Spearman ρ = {rho:.2f})"
    assert ax.get_xlabel() == "predicted proxy loss (nats per token)"
    assert ax.get_ylabel() == "measured proxy loss (nats per token)"
    assert legend_texts(ax) == ["round 2", "round 3", "predicted = measured"]
    for rnd, line in zip((2, 3), ax.get_lines()[:2], strict=True):
        runs = [r for r in cl.runs if r.round == rnd]
        np.testing.assert_allclose(line.get_xdata(), [r.predicted for r in runs])
        np.testing.assert_allclose(line.get_ydata(), [r.value for r in runs])
    diag = ax.get_lines()[2]
    np.testing.assert_array_equal(diag.get_xdata(), diag.get_ydata())
    plt.close(fig)


def test_weights_figure_bars_are_the_weights(searched):
    cl, rs = searched
    fig = figure_weights({"climb": cl.weights, "random": rs.weights}, ["a", "b", "c", "d"], OPT)
    ax = fig.axes[0]
    assert ax.get_title() == "Mixture weights found, per method"
    assert ax.get_xlabel() == "cluster" and "mixture weight" in ax.get_ylabel()
    assert legend_texts(ax) == ["optimum", "climb", "random"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [*OPT, *cl.weights, *rs.weights])
    assert all(p.get_hatch() == "//" for p in ax.patches[:4])
    assert all(not p.get_hatch() for p in ax.patches[4:])
    plt.close(fig)
    fig = figure_weights({"climb": cl.weights})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["c0", "c1", "c2", "c3"]
    plt.close(fig)


def test_save_figures_writes_pngs_and_closes_them(searched, tmp_path):
    cl, rs = searched
    before = set(plt.get_fignums())
    paths = save_figures({"climb": cl, "random": rs}, tmp_path / "a" / "b", optimum=OPT)
    assert [p.name for p in paths] == ["progress.png", "predicted.png", "weights.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(plt.get_fignums()) == before
    only = save_figures({"random": rs}, tmp_path / "c")
    assert [p.name for p in only] == ["progress.png", "weights.png"]


@pytest.mark.parametrize("which", ["predicted", "progress"])
def test_figures_of_searches_without_predictions_draw_without_warnings(searched, which):
    _, rs = searched
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if which == "predicted":
            fig = figure_predicted(rs)
        else:
            fig = figure_progress({"doremi": SearchResult("doremi", np.full(4, 0.25))})
    assert fig.axes[0].get_title()
    plt.close(fig)


def test_a_figure_without_labelled_artists_says_why(searched):
    _, rs = searched
    fig = figure_predicted(rs)
    ax = fig.axes[0]
    assert ax.get_legend() is None
    assert [t.get_text() for t in ax.texts] == [
        "no predicted runs (a single round has no predictor)"
    ]
    plt.close(fig)
    fig = figure_progress({"doremi": SearchResult("doremi", np.full(4, 0.25))})
    assert fig.axes[0].get_legend() is None
    assert [t.get_text() for t in fig.axes[0].texts] == ["no method made proxy runs"]
    plt.close(fig)


def test_a_figure_with_runs_keeps_its_legend_and_writes_no_note(searched):
    cl, _ = searched
    fig = figure_predicted(cl)
    assert "predicted = measured" in legend_texts(fig.axes[0]) and not fig.axes[0].texts
    plt.close(fig)


def test_weights_figure_of_no_methods_is_a_clear_error():
    with pytest.raises(ALMOValueError, match="`weights` must map at least one method"):
        figure_weights({})
    fig = figure_weights({}, optimum=[0.5, 0.5])  # the optimum alone still draws
    assert legend_texts(fig.axes[0]) == ["optimum"]
    plt.close(fig)


# --- almo search ----------------------------------------------------------------------------


SMALL = [
    "--docs", "120", "--topics", "3", "--clusters", "4", "--budget", "4", "--rounds", "2,1,1",
    "--candidates", "100", "--proxy-tokens", "600", "--quiet",
]  # fmt: skip


def run_cli(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(["search", *args])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cli_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("search-json")
    status, text, err = run_cli(
        [*SMALL, "--methods", "climb,uniform,random", "--seed", "3", "--json", "--out", str(out)]
    )
    return status, text, err, out


def test_json_flag_prints_the_report_written_to_out(cli_json):
    status, text, err, out = cli_json
    assert status == 0 and err == ""
    data = json.loads(text)
    assert data == json.loads((out / "search.json").read_text())
    assert set(data) == {"format", "settings", "optimum", "clusters", "methods", "corpus"}
    s = data["settings"]
    assert (s["budget"], s["rounds"], s["seed"]) == (4, [2.0, 1.0, 1.0], 3)
    assert (s["proxy"], s["proxy_tokens"], s["corpus"]) == ("ngram", 600, "synthetic")
    assert (s["n_candidates"], s["predictor"]) == (100, "hgb")
    assert data["corpus"]["documents"] == 120 and data["corpus"]["topics"] == 3
    assert data["corpus"]["target_mixture"] == [0.0, 0.6, 0.4]
    k = data["clusters"]["k"]
    assert 1 <= k <= 4 and len(data["optimum"]["weights"]) == k
    assert np.sum(data["optimum"]["weights"]) == pytest.approx(1.0, abs=1e-9)
    assert [m["method"] for m in data["methods"]] == ["climb", "uniform", "random"]
    assert [m["proxy_calls"] for m in data["methods"]] == [4, 1, 4]
    for m in data["methods"]:
        assert len(m["weights"]) == k and m["regret"] >= 0
    assert "agnostic" not in data
    for name in ("progress.png", "predicted.png", "weights.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_text_output_and_the_options_that_shape_phase_1(tmp_path):
    status, text, err = run_cli(
        [*SMALL, "--methods", "uniform", "--quality", "none", "--merge-distance", "100",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert status == 0 and err == ""
    assert text.startswith("almo search — 120 documents, 1 clusters kept (0 pruned)")
    assert "| cluster | docs |" in text and "| uniform | 1 |" in text
    assert "regret against the best known larger-model target loss" in text
    assert f"wrote {tmp_path / 'search.json'}" in text
    data = json.loads((tmp_path / "search.json").read_text())
    assert data["clusters"]["k"] == 1 and data["clusters"]["pruned"] == []
    assert data["clusters"]["sizes"] == [120]  # nothing pruned, everything merged
    assert data["methods"][0]["weights"] == [1.0]


def test_the_torch_proxy_from_the_command_line(tmp_path):
    status, text, err = run_cli(
        [*SMALL, "--proxy", "torch", "--methods", "uniform", "--json", "--out", str(tmp_path)]
    )
    assert status == 0, err
    data = json.loads(text)
    assert data["settings"]["proxy"] == "torch" and data["methods"][0]["proxy_calls"] == 1


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--proxy-tokens", "0"], "`--proxy-tokens`"),
        (["--candidates", "0"], "`--candidates`"),
        (["--merge-distance", "-1"], "`--merge-distance`"),
        (["--min-quality", "nan"], "`--min-quality`"),
        (["--topics", "1"], "`--topics`"),
        (["--rounds", "4,0"], "`--rounds`"),
        (["--rounds", ","], "`--rounds`"),
        (["--rounds", "inf"], "`--rounds`"),
        (["--methods", ""], "`--methods`"),
        (["--low-quality", "-0.1"], "`--low-quality`"),
        (["--budget", "x"], "--budget"),
        (["--quality", "great"], "--quality"),
        (["--proxy", "gpt"], "--proxy"),
        (["--min-quality", "2"], "`--min-quality`"),
    ],
)
def test_more_bad_flags_are_one_line_errors(args, flag, tmp_path):
    status, text, err = run_cli([*SMALL, *args, "--out", str(tmp_path / "o")])
    assert status == 2 and text == ""
    err = err.strip()
    assert err.startswith("almo search: error:") and flag in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_agnostic_needs_the_synthetic_corpus(tmp_path):
    (tmp_path / "t.txt").write_text("a b\nc d\n")
    status, _, err = run_cli(
        ["--texts", str(tmp_path / "t.txt"), "--target", str(tmp_path / "t.txt"), "--agnostic",
         "--quiet", "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert status == 2 and "`--agnostic`" in err and len(err.strip().splitlines()) == 1


def test_a_missing_lightgbm_is_named_by_its_flag(tmp_path):
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        status, _, err = run_cli([*SMALL, "--predictor", "lightgbm", "--out", str(tmp_path)])
        assert status == 2 and "`--predictor`" in err and "pip install lightgbm" in err
    else:  # pragma: no cover - only where LightGBM is installed
        pytest.skip("LightGBM is installed")


def test_the_min_quality_fix_is_a_valid_command_line(tmp_path):
    _, _, err = run_cli([*SMALL, "--min-quality", "2", "--out", str(tmp_path)])
    assert "--quality none" in err and "min_quality" not in err


def test_the_min_quality_error_is_one_line_and_its_fix_works(tmp_path):
    status, _, err = run_cli([*SMALL, "--min-quality", "2", "--out", str(tmp_path / "a")])
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("almo search: error: `--min-quality` must leave at least one cluster")
    assert "found 2.0" in err
    fix = ["--min-quality", "2", "--quality", "none", "--methods", "uniform"]
    status, _, err = run_cli([*SMALL, *fix, "--out", str(tmp_path / "b")])
    assert status == 0, err


def test_one_round_from_the_command_line_runs_cleanly(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status, _, err = run_cli(
            [*SMALL[:8], "--rounds", "1", *SMALL[10:], "--methods", "climb", "--out", str(tmp_path)]
        )
    assert status == 0, err
    assert (tmp_path / "predicted.png").is_file()


def test_methods_list_matches_the_library():
    assert set(METHODS) == {"climb", "uniform", "proportional", "random", "regmix", "doremi"}
    status, text, _ = run_cli(["--help"])
    assert status == 0 and ",".join(METHODS) in text.replace("\n", "").replace(" ", "")


def test_agnostic_search_is_independent_of_the_workers():
    from joblib import parallel_config

    kw = {"rounds": (2, 1), "seed": 5, **QUICK}
    one = agnostic_search(three_targets, SHARES, Simplex(3), 6, n_jobs=1, **kw)
    with parallel_config(backend="threading"):
        two = agnostic_search(three_targets, SHARES, Simplex(3), 6, n_jobs=2, **kw)
    assert [r.weights for r in one.rows] == [r.weights for r in two.rows]
    assert [r.per_target for r in one.rows] == [r.per_target for r in two.rows]


def test_without_quiet_the_command_shows_progress(tmp_path):
    status, _, err = run_cli([*SMALL[:-1], "--methods", "climb", "--json", "--out", str(tmp_path)])
    assert status == 0 and "round 1" in err
