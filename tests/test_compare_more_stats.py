"""almo.comparison.compare, recomputed from outside: every number of the report against an
independent reference.

The comparison runs with :class:`Stub`, a stand-in estimator whose objective values are a known
closed-form function of (seed, model family, the arm's λ, the size of the split), so each value
of the report can be recomputed here without calling the comparison code: held-out and training
values, the worst case over Λ (HiGHS through ``checks.linear_max``, cvxpy, a greedy closed form
for boxes, brute force over a lattice), mean ± standard error over seeds (numpy), mean ranks
(``scipy.stats.rankdata``), the gap to a certified optimum, and the training curves.
"""

from __future__ import annotations

import math
import statistics
import sys
import zlib
from itertools import product
from types import SimpleNamespace
from typing import ClassVar

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.datasets import load_iris

from almo import BoxSimplex, Simplex
from almo.comparison import (
    ComparisonReport,
    Run,
    compare,
    fixed_arms,
    mean_se,
    resolve_task,
    simplex_lattice,
)
from almo.comparison import run as run_mod
from almo.comparison.arms import SWEEP_SEED, describe_fixed
from almo.comparison.report import Arm
from almo.exceptions import ALMOValueError
from almo.report import ObjectiveReport
from almo.weights import FixedWeights
from checks import assert_worst_case_optimal, linear_max


# ------------------------------------------------------------------------------ the stand-in
def objective_names(losses, n_groups):
    names = [str(loss) for loss in losses]
    if n_groups is None:
        return names
    return [f"{loss}@group{g}" for loss in names for g in range(n_groups)]


def stub_raw(seed, model, weights, n, p):
    """The raw held-out/training values of a model: known, λ-dependent, split-dependent."""
    rng = np.random.default_rng([seed, zlib.crc32(str(model).encode()), n, p])
    base = rng.uniform(0.2, 2.0, size=p)
    if weights is None:  # ALMO
        return base * 0.9 + 0.05
    return base * (1.2 - 0.5 * np.asarray(weights, dtype=np.float64))


def stub_scales(seed, p):
    return np.random.default_rng([seed, 7, p]).uniform(0.5, 2.0, size=p)


def stub_penalty(p):
    return 0.01 * np.arange(1, p + 1)


def stub_score(seed, weights, task):
    w0 = 0.3 if weights is None else float(weights[0])
    return (0.5 if task == "classification" else -0.2) + 0.01 * seed + 0.1 * w0


class Stub:
    """Instant estimator with closed-form objective values (see :func:`stub_raw`)."""

    fits: ClassVar[list[dict]] = []
    history: ClassVar[int] = 0  # recorded steps of an mlp ALMO model's history (0: none)
    certificate: ClassVar[dict | None] = None  # what an exact fit certifies

    def __init__(self, task, **params):
        self.task = task
        self.params = params

    def fit(self, X, y, groups=None):
        p = self.params
        self.n_groups = None if groups is None else int(groups.max()) + 1
        self.names = objective_names(p["losses"], self.n_groups)
        k = len(self.names)
        rule = p["weight_rule"]
        self.lam = np.array(rule.weights) if isinstance(rule, FixedWeights) else None
        norm = p["normalize"]
        if isinstance(norm, np.ndarray):
            self.scales_ = norm.copy()
        elif norm:
            self.scales_ = stub_scales(p["random_state"], k)
        else:
            self.scales_ = np.ones(k)
        self.weights_ = np.full(k, 1.0 / k) if self.lam is None else self.lam
        self.n_iter_ = 7
        self.certificate_ = Stub.certificate if p.get("method") == "exact" else None
        self.history_ = None
        if Stub.history and self.lam is None and p["model"] == "mlp":
            self.history_ = stub_history(p["random_state"], k, Stub.history)
        Stub.fits.append({**p, "task": self.task, "X": X.copy(), "y": y.copy(), "groups": groups})
        return self

    def objective_losses(self, X, y, groups=None):
        p = self.params
        k = len(self.names)
        raw = stub_raw(p["random_state"], p["model"], self.lam, len(X), k)
        return ObjectiveReport.from_values(
            self.names,
            raw,
            self.scales_,
            Simplex(k),
            penalty=stub_penalty(k),
            counts=np.full(k, len(X)),
        )

    def score(self, X, y):
        return stub_score(self.params["random_state"], self.lam, self.task)


def stub_history(seed, p, n_steps):
    """A trainer-like history: 3 epochs (the second without evaluations), n_steps λ records."""
    rng = np.random.default_rng([seed, 99])
    epochs = []
    for e in range(3):
        raw = rng.uniform(0.5, 1.5, size=p)
        ev = SimpleNamespace(raw=raw)
        averaged, last = (ev, None) if e == 0 else (None, None) if e == 1 else (None, ev)
        epochs.append(
            SimpleNamespace(
                epoch=e, averaged=averaged, last=last, train_losses=rng.uniform(0.5, 1.5, p)
            )
        )
    weights = rng.dirichlet(np.ones(p), size=n_steps)
    return SimpleNamespace(epochs=epochs, steps=list(range(1, n_steps + 1)), step_weights=weights)


@pytest.fixture
def stub(monkeypatch):
    Stub.fits, Stub.history, Stub.certificate = [], 0, None
    monkeypatch.setattr(run_mod, "_estimator", lambda task, params: Stub(task, **params))
    return Stub


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def run_compare(iris, **kw):
    X, y = iris
    args = {"losses": ["log_loss", "hinge", "squared"], "models": ["linear", "mlp"]}
    args |= {"seeds": 3, "fixed": "grid:2", "certify": False}
    return compare(X, y, **{**args, **kw})


def expected(rep, run, split="held_out"):
    """The stand-in's values for one run, recomputed from the closed forms."""
    p = len(rep.objectives)
    arm = rep.arm(run.arm)
    n = rep.config["n_test"] if split == "held_out" else rep.config["n_train"]
    raw = stub_raw(run.seed, run.model, arm.weights, n, p)
    return raw, raw / stub_scales(run.seed, p)


def greedy_box_max(lower, upper, ell):
    """max ⟨λ, ℓ⟩ over {lower ≤ λ ≤ upper, Σλ = 1}: lower bounds first, then the budget left
    goes to the largest losses up to their upper bounds (an exchange argument)."""
    lam = np.array(lower, dtype=np.float64)
    left = 1.0 - lam.sum()
    for k in np.argsort(-np.asarray(ell), kind="stable"):
        add = min(upper[k] - lam[k], left)
        lam[k] += add
        left -= add
    return float(lam @ ell)


def cvxpy_box_max(lower, upper, ell):
    lam = cp.Variable(len(ell))
    problem = cp.Problem(cp.Maximize(ell @ lam), [lam >= lower, lam <= upper, cp.sum(lam) == 1])
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)


# ------------------------------------------------------------------------------ the values
def test_every_value_matches_the_closed_form(stub, iris):
    rep = run_compare(iris)
    names = rep.objectives
    assert names == ["log_loss", "hinge", "squared"]
    assert rep.config["n_train"] + rep.config["n_test"] == 150
    assert rep.config["n_test"] == 45  # ceil(0.3 · 150)
    assert len(rep.runs) == 2 * 3 * len(rep.arms)
    for run in rep.runs:
        for split, rec in (("held_out", run.held_out), ("train", run.train)):
            raw, normalized = expected(rep, run, split)
            np.testing.assert_allclose(rec.raw, raw, rtol=1e-14)
            np.testing.assert_allclose(rec.normalized, normalized, rtol=1e-14)
            np.testing.assert_allclose(rec.scales, stub_scales(run.seed, 3), rtol=1e-14)
            n = rep.config["n_test" if split == "held_out" else "n_train"]
            assert rec.counts.tolist() == [n] * 3
            assert rec.names == tuple(names)
        np.testing.assert_allclose(run.train.penalty, stub_penalty(3))
        want_score = stub_score(run.seed, rep.arm(run.arm).weights, "classification")
        assert run.score == pytest.approx(want_score)
        assert run.mean_objective == pytest.approx(np.mean(expected(rep, run)[1]), rel=1e-13)
        assert run.n_iter == 7
        arm = rep.arm(run.arm)
        want = np.full(3, 1 / 3) if arm.weights is None else np.array(arm.weights)
        np.testing.assert_allclose(run.weights, want)


def test_worst_case_over_the_simplex_is_the_largest_loss(stub, iris):
    rep = run_compare(iris, seeds=1)
    for run in rep.runs:
        for rec in (run.held_out, run.train):
            ell = rec.normalized
            assert rec.worst_case == pytest.approx(ell.max(), rel=1e-14)
            assert rec.weights.tolist() == np.eye(3)[int(np.argmax(ell))].tolist()
        # held-out values carry no penalty; training values carry the estimator's
        assert not run.held_out.penalty.any()
        assert run.held_out.penalized_worst_case == run.held_out.worst_case
        ell = run.train.normalized + stub_penalty(3)
        assert run.train.penalized_worst_case == pytest.approx(ell.max(), rel=1e-14)


def test_worst_case_over_a_box_against_linprog_cvxpy_and_brute_force(stub, iris):
    lower, upper = np.array([0.1, 0.0, 0.2]), np.array([0.5, 0.7, 0.6])
    box = BoxSimplex(lower, upper)
    rep = run_compare(iris, mixture_set=box, seeds=2)
    assert "BoxSimplex" in rep.config["mixture_set"]
    # brute force: the lattice of step 1/50 inside the box holds every vertex of this box
    grid = simplex_lattice(3, 50)
    grid = grid[np.all((grid >= lower - 1e-12) & (grid <= upper + 1e-12), axis=1)]
    for run in rep.runs:
        for rec in (run.held_out, run.train):
            ell = rec.normalized
            assert_worst_case_optimal(box, ell, (rec.worst_case, rec.weights), tol=1e-9)
            assert rec.worst_case == pytest.approx(greedy_box_max(lower, upper, ell), rel=1e-12)
            assert rec.worst_case == pytest.approx((grid @ ell).max(), rel=1e-12)
        ell = run.train.normalized + run.train.penalty
        assert run.train.penalized_worst_case == pytest.approx(linear_max(box, ell), rel=1e-9)
    # one run against cvxpy directly: Clarabel's answer to the linear program over the box
    ell = rep.runs[0].held_out.normalized
    assert rep.runs[0].held_out.worst_case == pytest.approx(
        cvxpy_box_max(lower, upper, ell), abs=1e-7
    )


def test_fixed_arms_are_measured_over_the_compared_set_not_their_own_lambda(stub, iris):
    rep = run_compare(iris, mixture_set=(0.1, 0.5), seeds=1, models=["linear"])
    lower, upper = np.full(3, 0.1), np.full(3, 0.5)
    for run in rep.runs:
        ell = run.held_out.normalized
        assert run.held_out.worst_case == pytest.approx(greedy_box_max(lower, upper, ell))
        # strictly below the max loss: the box keeps 0.5 of the weight off the worst objective
        assert run.held_out.worst_case < ell.max()
        # and at least the uniform mixture's value (1/3 each lies in the box)
        assert run.held_out.worst_case >= ell.mean() - 1e-12


# ------------------------------------------------------------------------------ statistics
def test_summary_against_numpy(stub, iris):
    rep = run_compare(iris, seeds=[4, 1, 9])
    rows = rep.summary()
    assert [(r["model"], r["arm"]) for r in rows] == [
        (m, a.name) for m in ("linear", "mlp") for a in rep.arms
    ]
    for row in rows:
        arm = rep.arm(row["arm"])
        assert row["kind"] == arm.kind
        held = np.array([expected(rep, r)[1] for r in rep.runs_of(row["model"], arm.name)])
        raws = np.array([expected(rep, r)[0] for r in rep.runs_of(row["model"], arm.name)])
        assert held.shape == (3, 3)
        wc = held.max(axis=1)
        for key, values in (
            ("worst_case", wc),
            ("mean_objective", held.mean(axis=1)),
            ("score", [stub_score(s, arm.weights, "classification") for s in (4, 1, 9)]),
        ):
            assert row[key]["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
            assert row[key]["se"] == pytest.approx(statistics.stdev(values) / math.sqrt(3))
        train = np.array(
            [expected(rep, r, "train")[1].max() for r in rep.runs_of(row["model"], arm.name)]
        )
        assert row["train_worst_case"]["mean"] == pytest.approx(train.mean(), rel=1e-12)
        np.testing.assert_allclose(row["raw"]["mean"], raws.mean(0), rtol=1e-12)
        np.testing.assert_allclose(row["raw"]["se"], raws.std(0, ddof=1) / math.sqrt(3))
        np.testing.assert_allclose(row["normalized"]["mean"], held.mean(0), rtol=1e-12)
        np.testing.assert_allclose(row["normalized"]["se"], held.std(0, ddof=1) / math.sqrt(3))
        assert row["worst_objective"] == rep.objectives[int(np.argmax(held.mean(0)))]
        assert math.isnan(row["gap_to_optimum"]["mean"])  # no certificate


def test_ranks_against_rankdata(stub, iris):
    rep = run_compare(iris, seeds=3)
    rows = rep.summary()
    keys = [(r["model"], r["arm"]) for r in rows]
    per_seed = []
    for seed in range(3):
        wc = [
            expected(rep, next(r for r in rep.runs_of(m, a) if r.seed == seed))[1].max()
            for m, a in keys
        ]
        per_seed.append(rankdata(wc, method="average"))
    want = np.mean(per_seed, axis=0)
    np.testing.assert_allclose([r["rank"] for r in rows], want, rtol=1e-12)


def _hand_report(worst_by_seed, models=("linear",)):
    """A report whose held-out worst cases are given per seed, (model, arm) rows in order."""
    n_rows = len(worst_by_seed[0])
    arms = [Arm("ALMO", "almo")] + [
        Arm(f"fixed{i}", "fixed", (0.5, 0.5)) for i in range(n_rows // len(models) - 1)
    ]
    runs = []
    for seed, values in enumerate(worst_by_seed):
        it = iter(values)
        for m in models:
            for a in arms:
                v = float(next(it))
                rec = ObjectiveReport.from_values("ab", [v, v / 2], [1.0, 1.0], Simplex(2))
                runs.append(Run(m, a.name, seed, rec, rec, 0.5, (0.5, 0.5)))
    return ComparisonReport({"objectives": ["a", "b"], "score": "accuracy"}, arms, runs)


def test_ranks_with_ties_are_averaged():
    rep = _hand_report([[1.0, 1.0, 3.0, 0.5], [2.0, 1.0, 1.0, 1.0]], models=("linear", "mlp"))
    ranks = [r["rank"] for r in rep.summary()]
    # seed 0: ranks 2.5, 2.5, 4, 1; seed 1: 4, 2, 2, 2
    assert ranks == [3.25, 2.25, 3.0, 1.5]


@settings(max_examples=40)
@given(
    st.integers(1, 4).flatmap(
        lambda n_seeds: st.integers(2, 6).flatmap(
            lambda n_rows: st.lists(
                st.lists(
                    st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.5]),
                    min_size=n_rows,
                    max_size=n_rows,
                ),
                min_size=n_seeds,
                max_size=n_seeds,
            )
        )
    )
)
def test_ranks_property(worst_by_seed):
    rep = _hand_report(worst_by_seed)
    ranks = np.array([r["rank"] for r in rep.summary()])
    want = np.mean([rankdata(v) for v in worst_by_seed], axis=0)
    np.testing.assert_allclose(ranks, want, rtol=1e-12)
    n = len(worst_by_seed[0])
    assert ranks.sum() == pytest.approx(n * (n + 1) / 2)
    assert np.all((ranks >= 1) & (ranks <= n))
    # worst-case mean and se: numpy's
    wc = np.array(worst_by_seed)
    means = [r["worst_case"]["mean"] for r in rep.summary()]
    np.testing.assert_allclose(means, wc.mean(axis=0), rtol=1e-12)
    if len(wc) > 1:
        ses = [r["worst_case"]["se"] for r in rep.summary()]
        np.testing.assert_allclose(ses, wc.std(axis=0, ddof=1) / math.sqrt(len(wc)), atol=1e-15)


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=30))
def test_mean_se_property(values):
    m, s = mean_se(values)
    assert m == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    assert s == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)), rel=1e-7, abs=1e-6)


def test_mean_se_edge_cases():
    assert all(math.isnan(v) for v in mean_se([]))
    m, s = mean_se(np.array([2.5]))
    assert m == 2.5 and math.isnan(s)
    assert mean_se([3.0, 3.0, 3.0]) == (3.0, 0.0)


# ------------------------------------------------------------------------------ regression, groups
def test_regression_task_scores_r2_and_does_not_stratify(stub):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=60)
    rep = compare(X, y, losses=["squared", "absolute"], models=["linear"], seeds=2, fixed="grid:2")
    assert rep.config["task"] == "regression" and rep.config["score"] == "r2"
    assert {f["task"] for f in Stub.fits} == {"regression"}
    assert rep.objectives == ["squared", "absolute"]
    assert rep.config["n_test"] == 18
    for run in rep.runs:
        want_score = stub_score(run.seed, rep.arm(run.arm).weights, "regression")
        assert run.score == pytest.approx(want_score)
    table = rep.table()
    assert "| R² |" in table.splitlines()[0] and "accuracy" not in table
    # y is continuous: the split is the plain random split of train_test_split
    from sklearn.model_selection import train_test_split

    tr, _ = train_test_split(np.arange(60), test_size=0.3, random_state=0)
    np.testing.assert_array_equal(Stub.fits[0]["y"], y[np.sort(tr)])


def test_regression_from_an_integer_target_needs_the_task_or_a_regression_loss(stub):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = rng.integers(0, 5, size=40)
    assert resolve_task(y, ["squared"]) == "classification"
    rep = compare(X, y, losses=["squared"], models=["linear"], seeds=1, task="regression")
    assert rep.config["task"] == "regression"
    assert resolve_task(y.astype(float) + 0.5, ["squared"]) == "regression"
    assert resolve_task(np.arange(60), ["squared"]) == "regression"  # > 50 distinct integers
    assert resolve_task(np.array(["a", "b"]), ["squared"]) == "classification"
    assert resolve_task(np.array([0.5, 1.5]), ["log_loss", "squared"]) == "classification"
    assert resolve_task(np.array([0, 1]), ["absolute"]) == "regression"


def test_groups_from_a_column_of_strings(stub, iris):
    X, y = iris
    groups = np.where(X[:, 0] > 5.8, "tall", "short")
    rep = compare(
        X, y, groups, losses=["log_loss", "hinge"], models=["linear"], seeds=2, fixed="grid:2"
    )
    assert rep.config["groups"] == ["short", "tall"]
    assert rep.objectives == [
        "log_loss@group0",
        "log_loss@group1",
        "hinge@group0",
        "hinge@group1",
    ]
    assert sum(a.kind == "single" for a in rep.arms) == 4
    # stratified on (group, class): each stratum keeps its share on the training side
    strata = {(g, c): 0 for g in ("short", "tall") for c in range(3)}
    for g, c in zip(groups, y, strict=True):
        strata[(g, c)] += 1
    for fit in Stub.fits[:1]:
        train_groups = fit["groups"]
        for (g, c), total in strata.items():
            code = ["short", "tall"].index(g)
            got = int(np.sum((train_groups == code) & (fit["y"] == c)))
            assert abs(got - 0.7 * total) <= 1.0, (g, c, got, total)
    for run in rep.runs:
        np.testing.assert_allclose(run.held_out.normalized, expected(rep, run)[1], rtol=1e-14)


def test_groups_of_the_wrong_length_are_refused(stub, iris):
    X, y = iris
    with pytest.raises(ALMOValueError, match="`groups`"):
        compare(X, y, np.zeros(10), models=["linear"], seeds=1)


# ------------------------------------------------------------------------------ training curves
def test_history_in_shared_units_and_subsampled(stub, iris):
    Stub.history = 1000
    rep = run_compare(iris, seeds=1, losses=["log_loss", "squared"])
    (almo_mlp,) = rep.runs_of("mlp", "ALMO")
    h = almo_mlp.history
    assert all(r.history is None for r in rep.runs if r is not almo_mlp)
    fit = next(f for f in Stub.fits if f["model"] == "mlp" and f["weight_rule"] == "auto")
    ref = stub_history(0, 2, 1000)
    scales = stub_scales(0, 2)
    assert h["epochs"] == [1, 2, 3]
    # epoch 0: the averaged iterate; epoch 1: no evaluation, the λ steps' mean losses, which
    # the estimator normalized with its own scales (here the shared ones); epoch 2: the last
    np.testing.assert_allclose(h["train"][0], ref.epochs[0].averaged.raw / scales, rtol=1e-14)
    np.testing.assert_allclose(h["train"][1], ref.epochs[1].train_losses, rtol=1e-14)
    np.testing.assert_allclose(h["train"][2], ref.epochs[2].last.raw / scales, rtol=1e-14)
    np.testing.assert_allclose(h["held_out"], [almo_mlp.held_out.normalized], rtol=1e-14)
    assert h["held_out_epochs"] == [3]
    assert isinstance(fit["normalize"], np.ndarray)
    # at most MAX_CURVE_POINTS steps, first and last kept, in order, with their own λ
    assert len(h["steps"]) == run_mod.MAX_CURVE_POINTS
    assert h["steps"][0] == 1 and h["steps"][-1] == 1000
    assert h["steps"] == sorted(set(h["steps"]))
    for s, w in zip(h["steps"], h["weights"], strict=True):
        np.testing.assert_allclose(w, ref.step_weights[s - 1], rtol=1e-14)


def test_short_history_kept_whole(stub, iris):
    Stub.history = 5
    rep = run_compare(iris, seeds=1, models=["mlp"], losses=["log_loss", "squared"])
    h = rep.runs_of("mlp", "ALMO")[0].history
    assert h["steps"] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(h["weights"], stub_history(0, 2, 5).step_weights)


# ------------------------------------------------------------------------------ certificates
@pytest.mark.parametrize(
    ("cert", "lower"),
    [
        ({"value": 0.4, "lower_bound": 0.35, "gap": 0.05}, 0.35),
        ({"value": 0.4, "lower_bound": 0.3}, 0.3),  # gap derived
        ({"value": 0.4}, 0.4),  # no lower bound: the value
        (SimpleNamespace(value=0.5, lower_bound=0.45, gap=0.05), 0.45),  # attributes
    ],
)
def test_gap_to_the_certified_optimum(stub, iris, cert, lower):
    Stub.certificate = cert
    rep = run_compare(iris, seeds=2, certify=True, estimator_params={"method": "trainer"})
    exact = [f for f in Stub.fits if f.get("method") == "exact"]
    assert [f["random_state"] for f in exact] == [0, 1]
    assert all(f["model"] == "linear" for f in exact)
    for run in rep.runs:
        if run.model != "linear":
            assert run.gap_to_optimum is None and run.certificate is None
            continue
        _, ell = expected(rep, run, "train")
        penalized = (ell + stub_penalty(3)).max()
        assert run.gap_to_optimum == pytest.approx(penalized - lower, rel=1e-12)
        if run.arm == "ALMO":
            value = cert["value"] if isinstance(cert, dict) else cert.value
            assert run.certificate["value"] == value
            assert run.certificate["lower_bound"] == lower
            assert run.certificate["gap"] == pytest.approx(value - lower)
        else:
            assert run.certificate is None
    rows = {(r["model"], r["arm"]): r for r in rep.summary()}
    gaps = [r.gap_to_optimum for r in rep.runs_of("linear", "uniform")]
    assert rows[("linear", "uniform")]["gap_to_optimum"]["mean"] == pytest.approx(np.mean(gaps))
    assert math.isnan(rows[("mlp", "uniform")]["gap_to_optimum"]["mean"])
    assert "gap to optimum (train)" in rep.table()


def test_no_certify_no_extra_fit(stub, iris):
    Stub.certificate = {"value": 0.4, "lower_bound": 0.3}
    rep = run_compare(iris, seeds=1, certify=False, estimator_params={"method": "trainer"})
    assert not [f for f in Stub.fits if f.get("method") == "exact"]
    assert all(r.gap_to_optimum is None for r in rep.runs)
    assert "gap to optimum" not in rep.table()


# ------------------------------------------------------------------------------ what each fit gets
def test_parameters_reach_every_fit(stub, iris):
    rule = object()
    rep = run_compare(
        iris,
        seeds=[2, 5],
        models=["linear", (16, 8)],
        weight_rule=rule,
        penalty="none",
        estimator_params={"alpha": 0.5, "max_epochs": 3},
    )
    assert rep.models == ["linear", "mlp(16,8)"]
    assert rep.config["models"] == ["linear", "mlp(16,8)"]
    assert rep.config["estimator_params"] == {"alpha": "0.5", "max_epochs": "3"}
    assert rep.config["penalty"] == "'none'"
    assert len(Stub.fits) == 2 * 2 * len(rep.arms)
    for f in Stub.fits:
        assert f["alpha"] == 0.5 and f["max_epochs"] == 3 and f["penalty"] == "none"
        assert f["verbose"] is False and f["random_state"] in (2, 5)
        assert f["model"] in ("linear", (16, 8))
        if isinstance(f["weight_rule"], FixedWeights):
            assert f["mixture_set"] == "simplex"
        else:
            assert f["weight_rule"] is rule
    # arms run in order, ALMO first, for each (seed, model)
    names = [a.name for a in rep.arms]
    assert [(r.seed, r.model, r.arm) for r in rep.runs] == [
        (s, m, a) for s in (2, 5) for m in ("linear", "mlp(16,8)") for a in names
    ]


def test_without_normalization_values_are_raw(stub, iris):
    rep = run_compare(iris, seeds=1, normalize=False)
    assert rep.config["normalize"] is False
    assert all(f["normalize"] is False for f in Stub.fits)
    for run in rep.runs:
        raw, _ = expected(rep, run)
        np.testing.assert_array_equal(run.held_out.scales, np.ones(3))
        np.testing.assert_allclose(run.held_out.normalized, raw, rtol=1e-14)
        assert run.held_out.worst_case == pytest.approx(raw.max())


def test_config_is_complete(stub, iris):
    from almo.comparison import REPORT_SCHEMA

    rep = run_compare(iris, seeds=2, dataset="iris", test_size=0.2)
    required = REPORT_SCHEMA["properties"]["config"]["required"]
    assert set(required) <= set(rep.config)
    c = rep.config
    assert c["dataset"] == "iris" and c["task"] == "classification" and c["score"] == "accuracy"
    assert c["losses"] == ["log_loss", "hinge", "squared"] and c["groups"] is None
    assert c["n_train"] == 120 and c["n_test"] == 30 and c["n_features"] == 4
    assert c["seeds"] == [0, 1] and c["test_size"] == 0.2 and c["certify"] is False
    assert c["fixed"] == describe_fixed("grid:2", 3)
    assert c["mixture_set"] == repr(Simplex(3))
    assert rep.seconds > 0
    assert repr(rep) == (
        "ComparisonReport(dataset='iris', p=3, models=['linear', 'mlp'], arms=8, seeds=2)"
    )


# ------------------------------------------------------------------------------ progress
def test_progress_one_line_per_fit_without_a_terminal(stub, iris, capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    rep = run_compare(iris, seeds=2, models=["linear"], verbose=True)
    err = capsys.readouterr().err.splitlines()
    total = len(rep.runs)
    assert len(err) == total
    for i, (line, run) in enumerate(zip(err, rep.runs, strict=True), start=1):
        head = f"compare [{i}/{total}] seed {run.seed} · {run.model} · {run.arm}: "
        assert line.startswith(head + "held-out worst case "), line
        value = float(line[len(head) :].split()[3])
        assert value == pytest.approx(run.held_out.worst_case, rel=1e-3)


def test_progress_is_quiet_when_not_verbose(stub, iris, capsys):
    run_compare(iris, seeds=1, models=["linear"])
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_progress_bar_in_a_terminal(stub, iris, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    rep = run_compare(iris, seeds=1, models=["linear"], verbose=True)
    err = capsys.readouterr().err
    assert "compare" in err and f"{len(rep.runs)}/{len(rep.runs)}" in err
    assert "compare [1/" not in err  # the bar, not the log lines


# ------------------------------------------------------------------------------ arms
def test_simplex_lattice_against_brute_force():
    for p, r in [(2, 5), (3, 4), (4, 3)]:
        want = {
            c for c in product(range(r + 1), repeat=p) if sum(c) == r
        }  # every composition of r into p parts
        got = {tuple(int(v) for v in np.round(row * r)) for row in simplex_lattice(p, r)}
        assert got == want


def test_dirichlet_sweep_is_the_seeded_draw():
    arms = fixed_arms(list("abcd"), "dirichlet:6")
    draws = np.random.default_rng(SWEEP_SEED).dirichlet(np.ones(4), size=6)
    fixed = [a for a in arms if a.kind == "fixed"]
    np.testing.assert_allclose([a.weights for a in fixed], draws, rtol=1e-15)
    assert fixed[0].name == "λ=(" + ", ".join(f"{v:.2f}" for v in draws[0]) + ")"
    five = fixed_arms(list("abcde"), "dirichlet:1")[-1]
    assert five.name.endswith(", ...)") and five.name.count(",") == 3


@pytest.mark.parametrize(
    ("p", "fixed", "n_arms"),
    [
        (2, "auto", 1 + 1 + 2 + 2),  # grid:3 → 4 points, 2 of them vertices
        (3, "auto", 1 + 1 + 3 + 6),  # grid:3 → 10 points: 3 vertices, the centre
        (4, "auto", 1 + 1 + 4 + 4),  # dirichlet:4
        (2, "grid", 1 + 1 + 2 + 2),  # grid alone: grid:3
        (3, "dirichlet", 1 + 1 + 3 + 4),
        (3, "grid:1", 1 + 1 + 3),
        (2, "dirichlet:0", 1 + 1 + 2),
    ],
)
def test_sweep_sizes(p, fixed, n_arms):
    arms = fixed_arms([f"o{k}" for k in range(p)], fixed)
    assert len(arms) == n_arms
    for a in arms[1:]:
        assert np.isclose(sum(a.weights), 1.0) and min(a.weights) >= 0.0


def test_given_sweep_is_cleaned_and_deduplicated():
    given_w = np.array([[0.5, 0.5], [1.0, 0.0], [-1e-13, 1.0 + 1e-13], [0.3, 0.7], [0.3, 0.7]])
    arms = fixed_arms(["a", "b"], given_w)
    assert [a.name for a in arms] == ["ALMO", "uniform", "only a", "only b", "λ=(0.30, 0.70)"]
    assert describe_fixed(given_w, 2).endswith("5 given λ")
    assert "simplex lattice with step 1/4" in describe_fixed("grid:4", 3)


@pytest.mark.parametrize(
    "bad", [np.array([[0.5, np.nan]]), np.array([[0.2, 0.2]]), np.ones(2) / 2, "grid:-3", ""]
)
def test_bad_sweeps_name_fixed(bad):
    with pytest.raises(ALMOValueError, match="`fixed`"):
        fixed_arms(["a", "b"], bad)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"seeds": -1}, "seeds"),
        ({"seeds": True}, "seeds"),
        ({"seeds": [0, -2]}, "seeds"),
        ({"seeds": "abc"}, "seeds"),
        ({"seeds": []}, "seeds"),
        ({"mixture_set": (0.1, 0.2, 0.3)}, "mixture_set"),
        ({"mixture_set": 3}, "mixture_set"),
        ({"test_size": 0.0}, "test_size"),
    ],
)
def test_bad_arguments(stub, iris, kwargs, name):
    with pytest.raises(ALMOValueError, match=f"`{name}`"):
        run_compare(iris, **kwargs)


def test_bad_arrays(stub):
    with pytest.raises(ALMOValueError, match=r"`X` must be a 2-D array"):
        compare(np.ones(10), np.arange(10) % 2)
    with pytest.raises(ALMOValueError, match=r"`X` must be a 2-D array"):
        compare(np.ones((3, 2)), np.arange(3) % 2)
    X = np.ones((8, 2))
    X[[1, 4], 0] = np.inf
    with pytest.raises(ALMOValueError, match=r"2 rows with NaN or inf"):
        compare(X, np.arange(8) % 2)
    assert not Stub.fits


def test_seed_count_may_be_a_numpy_integer(stub, iris):
    rep = run_compare(iris, seeds=np.int64(2), models=["linear"])
    assert rep.seeds == [0, 1]


class EvalStub(Stub):
    """A stand-in that takes ``eval_set`` and records held-out values per epoch."""

    def fit(self, X, y, groups=None, eval_set=None):
        super().fit(X, y, groups)
        Stub.fits[-1]["eval_set"] = eval_set
        if self.history_ is not None:
            rng = np.random.default_rng(11)
            self.history_.held_out = [
                SimpleNamespace(raw=rng.uniform(0.5, 1.5, len(self.names))) for _ in range(3)
            ]
        return self


def test_held_out_curves_per_epoch_through_eval_set(iris, monkeypatch):
    Stub.fits, Stub.history, Stub.certificate = [], 5, None
    monkeypatch.setattr(run_mod, "_estimator", lambda task, params: EvalStub(task, **params))
    X, y = iris
    groups = (X[:, 1] > 3.0).astype(int)
    rep = compare(
        X, y, groups, losses=["log_loss"], models=["mlp"], seeds=1, fixed="grid:2", certify=False
    )
    fit = Stub.fits[0]
    X_te, y_te, g_te = fit["eval_set"]  # the held-out split, standardized like the training one
    assert len(y_te) == rep.config["n_test"] and X_te.shape == (rep.config["n_test"], 4)
    np.testing.assert_array_equal(np.sort(np.r_[fit["y"], y_te]), np.sort(y))
    assert np.bincount(np.r_[fit["groups"], g_te]).tolist() == np.bincount(groups).tolist()
    assert all(f["eval_set"][1] is not None for f in Stub.fits)
    h = rep.runs_of("mlp", "ALMO")[0].history
    want = np.random.default_rng(11).uniform(0.5, 1.5, (3, 2)) / stub_scales(0, 2)
    np.testing.assert_allclose(h["held_out"], want, rtol=1e-14)
    assert h["held_out_epochs"] == h["epochs"] == [1, 2, 3]
    fig = rep.figures()["epoch_losses_mlp"]
    held_line = fig.axes[0].get_lines()[1]
    np.testing.assert_allclose(held_line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(held_line.get_ydata(), want[:, 0], rtol=1e-14)
