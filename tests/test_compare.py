"""almo.comparison.compare and its report: arms, shared split/scales/seeds, statistics, JSON schema,
CSV and markdown.

Most tests run compare with a small stand-in estimator (a ridge fit whose weights depend on λ,
exact and instant) patched in place of the scikit-learn estimators, so they check the
comparison's own plumbing: what each arm receives, how the report aggregates, what it writes.
The real estimators are exercised in test_compare_estimators.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import ClassVar

import jsonschema
import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris

from almo import BoxSimplex, ObjectiveFamily, Simplex
from almo.comparison import REPORT_SCHEMA, ComparisonReport, compare, fixed_arms, mean_se
from almo.comparison import run as run_mod
from almo.comparison.arms import simplex_lattice
from almo.exceptions import ALMOValueError
from almo.report import ObjectiveReport
from almo.weights import FixedWeights

LOSSES = ["log_loss", "squared"]


class FakeEstimator:
    """Ridge on one-hot targets, its weights shrunk by λ_0: exact, instant, λ-dependent."""

    fits: ClassVar[list[dict]] = []

    def __init__(self, **params):
        self.params = params

    def fit(self, X, y, groups=None):
        p = self.params
        rng = np.random.default_rng(p["random_state"])
        self.classes_ = np.unique(y)
        codes = np.searchsorted(self.classes_, y)
        Y = np.eye(len(self.classes_))[codes]
        Xb = np.c_[X, np.ones(len(X))]
        W = np.linalg.solve(Xb.T @ Xb + np.eye(Xb.shape[1]), Xb.T @ Y)
        rule = p["weight_rule"]
        n_obj = len(p["losses"]) * (1 if groups is None else int(groups.max()) + 1)
        lam = rule.weights if isinstance(rule, FixedWeights) else np.full(n_obj, 1.0 / n_obj)
        self.W = W * (1.0 + 2.0 * lam[0]) + 0.01 * rng.normal(size=W.shape)
        self.n_groups = None if groups is None else int(groups.max()) + 1
        family = ObjectiveFamily(p["losses"], groups=self.n_groups)
        if isinstance(p["normalize"], np.ndarray):
            self.scales_ = p["normalize"].copy()
        elif p["normalize"]:
            zero = torch.zeros(len(y), len(self.classes_), dtype=torch.float64)
            raw = family.evaluate(zero, torch.as_tensor(codes), _t(groups)).raw
            self.scales_ = raw.numpy() + 0.1 * rng.random(len(raw))  # seed-dependent
        else:
            self.scales_ = np.ones(family.p)
        self.family = family
        self.weights_ = lam
        self.history_ = None
        self.n_iter_ = 1
        self.certificate_ = None
        FakeEstimator.fits.append(
            {**p, "X": X.copy(), "y": y.copy(), "groups": None if groups is None else groups}
        )
        return self

    def objective_losses(self, X, y, groups=None):
        codes = np.searchsorted(self.classes_, y)
        scores = torch.as_tensor(np.c_[X, np.ones(len(X))] @ self.W)
        raw = self.family.evaluate(scores, torch.as_tensor(codes), _t(groups)).raw.numpy()
        return ObjectiveReport.from_values(
            self.family.names, raw, self.scales_, Simplex(len(raw)), penalty=np.full(len(raw), 0.01)
        )

    def score(self, X, y):
        codes = np.searchsorted(self.classes_, y)
        return float(np.mean((np.c_[X, np.ones(len(X))] @ self.W).argmax(1) == codes))


def _t(groups):
    return None if groups is None else torch.as_tensor(groups)


@pytest.fixture
def fake(monkeypatch):
    FakeEstimator.fits = []
    monkeypatch.setattr(run_mod, "_estimator", lambda task, params: FakeEstimator(**params))
    return FakeEstimator


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def _compare(iris, **kw):
    X, y = iris
    args = {
        "losses": LOSSES,
        "models": ["linear", "mlp"],
        "seeds": 2,
        "fixed": "grid:3",
        "certify": False,
    }
    return compare(X, y, **{**args, **kw})


# -- arms ------------------------------------------------------------------------------------
def test_simplex_lattice_counts_and_membership():
    from math import comb

    for p, r in [(2, 1), (2, 4), (3, 3), (4, 2), (5, 3)]:
        pts = simplex_lattice(p, r)
        assert pts.shape == (comb(r + p - 1, p - 1), p)
        assert np.allclose(pts.sum(1), 1.0) and (pts >= 0).all()
        assert np.allclose(pts * r, np.round(pts * r))
        assert len(np.unique(pts, axis=0)) == len(pts)


def test_fixed_arms_order_and_dedup():
    arms = fixed_arms(["a", "b", "c"], "grid:3")
    kinds = [a.kind for a in arms]
    assert kinds[:5] == ["almo", "uniform", "single", "single", "single"]
    # the lattice of step 1/3 has 10 points: 3 vertices and the centre are already arms
    assert kinds.count("fixed") == 6 and len(arms) == 11
    assert [a.objective for a in arms if a.kind == "single"] == [0, 1, 2]
    assert len({a.name for a in arms}) == len(arms)
    d1 = fixed_arms(["a", "b", "c", "d"], "dirichlet:5")
    d2 = fixed_arms(["a", "b", "c", "d"], "dirichlet:5")
    assert [a.weights for a in d1] == [a.weights for a in d2]  # drawn from a fixed seed
    assert sum(a.kind == "fixed" for a in d1) == 5
    given = fixed_arms(["a", "b"], np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert [a.name for a in given] == ["ALMO", "uniform", "only a", "only b", "λ=(0.20, 0.80)"]


@pytest.mark.parametrize(
    "bad", ["grid:x", "grid:0", "mesh", "dirichlet:-1", np.ones((2, 3)), [[0.5, 0.6]], "grid:60"]
)
def test_fixed_arms_refuses(bad):
    with pytest.raises(ALMOValueError, match="`fixed`"):
        fixed_arms(
            ["a", "b"] if not isinstance(bad, str) or bad != "grid:60" else list("abcdef"), bad
        )


def test_mean_se_matches_definition():
    rng = np.random.default_rng(0)
    v = rng.normal(size=7)
    m, s = mean_se(v)
    assert m == pytest.approx(v.sum() / 7, rel=1e-12)
    assert s == pytest.approx(math.sqrt(((v - v.mean()) ** 2).sum() / 6 / 7), rel=1e-12)
    assert math.isnan(mean_se([1.0])[1])


# -- compare with the stand-in --------------------------------------------------------------
def test_arms_share_split_scales_and_seed(fake, iris):
    rep = _compare(iris)
    n_arms = len(fixed_arms(rep.objectives, "grid:3"))
    assert len(fake.fits) == 2 * 2 * n_arms == len(rep.runs)
    by_seed: dict[int, list[dict]] = {}
    for f in fake.fits:
        by_seed.setdefault(f["random_state"], []).append(f)
    assert sorted(by_seed) == [0, 1]
    for seed, fits in by_seed.items():
        first = fits[0]
        assert first["normalize"] is True  # the first ALMO fit calibrates
        for f in fits[1:]:
            np.testing.assert_array_equal(f["X"], first["X"])  # same split, same scaling
            np.testing.assert_array_equal(f["y"], first["y"])
            assert isinstance(f["normalize"], np.ndarray)  # the calibrated scales, reused
        scales = fits[1]["normalize"]
        for f in fits[1:]:
            np.testing.assert_array_equal(f["normalize"], scales)
        for r in rep.runs:
            if r.seed == seed:
                np.testing.assert_array_equal(r.held_out.scales, scales)
                np.testing.assert_array_equal(r.train.scales, scales)
    # a new split per seed
    assert not np.array_equal(by_seed[0][0]["X"], by_seed[1][0]["X"])
    # standardized on the training split
    X0 = by_seed[0][0]["X"]
    np.testing.assert_allclose(X0.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X0.std(0), 1.0, rtol=1e-12)


def test_fixed_arms_get_their_lambda_and_almo_gets_the_set(fake, iris):
    box = BoxSimplex(0.2, 0.8, p=2)
    rep = _compare(iris, mixture_set=box, seeds=1, models=["linear"])
    for f, r in zip(fake.fits, rep.runs, strict=True):
        arm = rep.arm(r.arm)
        if arm.kind == "almo":
            assert f["mixture_set"] is box
            assert f["weight_rule"] == "auto"
        else:
            assert f["mixture_set"] == "simplex"
            np.testing.assert_array_equal(f["weight_rule"].weights, arm.weights)


def test_worst_case_is_over_the_compared_set(fake, iris):
    box = BoxSimplex(0.2, 0.8, p=2)
    rep = _compare(iris, mixture_set=box, seeds=1)
    for r in rep.runs:
        ell = r.held_out.normalized
        # on a box [0.2, 0.8] of two objectives the worst case puts 0.8 on the larger loss
        assert r.held_out.worst_case == pytest.approx(0.8 * ell.max() + 0.2 * ell.min(), rel=1e-9)
        np.testing.assert_allclose(r.held_out.normalized, r.held_out.raw / r.held_out.scales)
        assert r.mean_objective == pytest.approx(ell.mean(), rel=1e-12)


def test_reproducible_from_seeds(fake, iris):
    a = _compare(iris, seeds=[3, 5])
    b = _compare(iris, seeds=[3, 5])
    assert a.seeds == [3, 5]
    for ra, rb in zip(a.runs, b.runs, strict=True):
        assert (ra.model, ra.arm, ra.seed) == (rb.model, rb.arm, rb.seed)
        np.testing.assert_array_equal(ra.held_out.raw, rb.held_out.raw)
        assert ra.score == rb.score
    c = _compare(iris, seeds=[4, 5])
    assert not np.array_equal(a.runs[0].held_out.raw, c.runs[0].held_out.raw)


def test_summary_statistics_and_ranks(fake, iris):
    rep = _compare(iris, seeds=3)
    rows = rep.summary()
    assert len(rows) == 2 * len(rep.arms)
    for row in rows:
        runs = rep.runs_of(row["model"], row["arm"])
        wc = [r.held_out.worst_case for r in runs]
        assert row["worst_case"]["mean"] == pytest.approx(np.mean(wc), rel=1e-12)
        assert row["worst_case"]["se"] == pytest.approx(np.std(wc, ddof=1) / math.sqrt(3))
        acc = [r.score for r in runs]
        assert row["score"]["mean"] == pytest.approx(np.mean(acc))
        raw = np.array([r.held_out.raw for r in runs])
        np.testing.assert_allclose(row["raw"]["mean"], raw.mean(0))
    # ranks: a permutation of 1..R per seed, so their means average to (R + 1) / 2
    n = len(rows)
    assert np.mean([r["rank"] for r in rows]) == pytest.approx((n + 1) / 2)
    best = min(rows, key=lambda r: r["rank"])
    for seed in rep.seeds:
        seed_runs = [r for r in rep.runs if r.seed == seed]
        lowest = min(seed_runs, key=lambda r: r.held_out.worst_case)
        if best["rank"] == 1.0:
            assert (lowest.model, lowest.arm) == (best["model"], best["arm"])


def test_json_validates_and_round_trips(fake, iris):
    rep = _compare(iris, seeds=2)
    data = json.loads(rep.to_json())
    jsonschema.validate(data, REPORT_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    again = ComparisonReport.from_json(rep.to_json())
    assert again.table() == rep.table()
    assert again.to_csv() == rep.to_csv()


def test_json_with_one_seed_has_null_standard_errors(fake, iris):
    rep = _compare(iris, seeds=1)
    data = json.loads(rep.to_json())
    jsonschema.validate(data, REPORT_SCHEMA)
    assert all(row["worst_case"]["se"] is None for row in data["summary"])
    assert "±" not in rep.table()


def test_schema_rejects_broken_reports(fake, iris):
    data = json.loads(_compare(iris, seeds=1, models=["linear"]).to_json())
    for breaking in (
        lambda d: d.update(format="other/1"),
        lambda d: d["runs"][0].pop("held_out"),
        lambda d: d["runs"][0]["held_out"].update(worst_case="high"),
        lambda d: d["arms"][0].update(kind="magic"),
        lambda d: d["summary"][0]["worst_case"].update(extra=1),
    ):
        broken = json.loads(json.dumps(data))
        breaking(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, REPORT_SCHEMA)


def test_csv_rows_and_columns(fake, iris):
    rep = _compare(iris, seeds=2)
    rows = list(csv.DictReader(io.StringIO(rep.to_csv())))
    per_seed = [r for r in rows if r["seed"] not in ("mean", "se")]
    assert len(per_seed) == len(rep.runs)
    assert len(rows) == len(rep.runs) + 2 * len(rep.summary())
    names = rep.objectives
    for r, run in zip(per_seed, rep.runs, strict=True):
        assert float(r["worst_case"]) == run.held_out.worst_case
        assert [float(r[f"raw:{n}"]) for n in names] == run.held_out.raw.tolist()
        assert [float(r[f"lambda_star:{n}"]) for n in names] == run.held_out.weights.tolist()
    means = [r for r in rows if r["seed"] == "mean"]
    for r, s in zip(means, rep.summary(), strict=True):
        assert float(r["worst_case"]) == pytest.approx(s["worst_case"]["mean"])


def test_markdown_and_table(fake, iris):
    rep = _compare(iris, seeds=2)
    md = rep.to_markdown()
    assert md.startswith("# ALMO against fixed-weight ensembles")
    for arm in rep.arms:
        assert f"| {arm.name} |" in md
    table = rep.table().splitlines()
    assert table[0].startswith("| model | arm | held-out worst case")
    assert len(table) == 2 + len(rep.summary())
    assert "accuracy" in table[0]


def test_gap_to_certified_optimum(fake, iris, monkeypatch):
    orig_fit = FakeEstimator.fit

    def fit(self, X, y, groups=None):
        orig_fit(self, X, y, groups)
        if not isinstance(self.params["weight_rule"], FixedWeights):
            self.certificate_ = {"value": 0.3, "lower_bound": 0.25, "gap": 0.05}
        return self

    monkeypatch.setattr(FakeEstimator, "fit", fit)
    rep = _compare(iris, seeds=1, models=["linear"])
    for r in rep.runs:
        assert r.gap_to_optimum == pytest.approx(r.train.penalized_worst_case - 0.25)
        assert (r.certificate is not None) == (r.arm == "ALMO")
    assert "gap to optimum" in rep.table()


def test_groups_give_objectives_per_group(fake, iris):
    X, y = iris
    rep = compare(X, y, y, losses=["log_loss"], models=["linear"], seeds=1, fixed="dirichlet:2")
    assert rep.objectives == ["log_loss@group0", "log_loss@group1", "log_loss@group2"]
    assert rep.config["groups"] == ["0", "1", "2"]
    assert sum(a.kind == "single" for a in rep.arms) == 3
    # stratified on (group, class): each class keeps its share on both sides
    f = fake.fits[0]
    assert np.bincount(f["y"]).tolist() == [35, 35, 35]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"seeds": 0}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"models": []}, "models"),
        ({"mixture_set": "cube"}, "mixture_set"),
        ({"mixture_set": Simplex(5)}, "mixture_set"),
        ({"task": "ranking"}, "task"),
        ({"fixed": "mesh"}, "fixed"),
    ],
)
def test_bad_arguments_name_themselves(fake, iris, kwargs, name):
    with pytest.raises(ALMOValueError, match=f"`{name}`"):
        _compare(iris, **kwargs)


def test_bad_data(fake):
    X = np.ones((10, 2))
    with pytest.raises(ALMOValueError, match=r"`X`.*finite"):
        compare(np.where(np.eye(10, 2) > 0, np.nan, 1.0), np.arange(10) % 2)
    with pytest.raises(ALMOValueError, match="`y`"):
        compare(X, np.arange(9))
    with pytest.raises(ALMOValueError, match="2 classes"):
        compare(X, np.zeros(10))


def test_certify_solves_the_linear_game_once_per_seed(fake, iris, monkeypatch):
    orig_fit = FakeEstimator.fit

    def fit(self, X, y, groups=None):
        orig_fit(self, X, y, groups)
        if self.params.get("method") == "exact":
            self.certificate_ = {"value": 0.31, "lower_bound": 0.3, "gap": 0.01}
        return self

    monkeypatch.setattr(FakeEstimator, "fit", fit)
    rep = _compare(iris, certify=True, estimator_params={"method": "trainer"})
    exact = [f for f in fake.fits if f["method"] == "exact"]
    assert len(exact) == 2  # one per seed, linear only
    assert all(f["model"] == "linear" and f["weight_rule"] == "auto" for f in exact)
    assert all(isinstance(f["normalize"], np.ndarray) for f in exact)  # the shared scales
    for r in rep.runs:
        if r.model == "linear":
            assert r.gap_to_optimum == pytest.approx(r.train.penalized_worst_case - 0.3)
        else:
            assert r.gap_to_optimum is None
    assert len(rep.runs) == len(fake.fits) - 2
