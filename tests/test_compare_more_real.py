"""compare with the real estimators at tiny sizes: regression over a box of mixtures with
certified linear models, and an MLP's training curves drawn from its recorded history."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

from almo import BoxSimplex
from almo.comparison import REPORT_SCHEMA, compare
from checks import assert_worst_case_optimal

pytest.importorskip("almo.estimators")


def test_regression_over_a_box_with_certified_linear_models():
    X, y = load_diabetes(return_X_y=True)
    rep = compare(
        X[:120],
        y[:120],
        losses=["squared", "absolute"],
        models=["linear"],
        mixture_set=(0.2, 0.8),
        seeds=2,
        fixed="grid:4",
        estimator_params={"method": "exact"},
    )
    jsonschema.validate(json.loads(rep.to_json()), REPORT_SCHEMA)
    assert rep.config["task"] == "regression" and rep.config["score"] == "r2"
    box = BoxSimplex(0.2, 0.8, p=2)
    for run in rep.runs:
        assert run.score <= 1.0
        for rec in (run.held_out, run.train):
            assert_worst_case_optimal(box, rec.normalized, (rec.worst_case, rec.weights), 1e-9)
    for seed in rep.seeds:
        runs = {r.arm: r for r in rep.runs if r.seed == seed}
        gaps = {arm: r.gap_to_optimum for arm, r in runs.items()}
        # the certified lower bound is below every linear model's training objective, and the
        # ALMO model attains it
        assert all(g >= -1e-6 for g in gaps.values()), gaps
        assert gaps["ALMO"] <= runs["ALMO"].certificate["gap"] + 1e-6
        assert gaps["ALMO"] <= min(gaps.values()) + 1e-6
        # ALMO's final λ lies in the box
        w = np.asarray(runs["ALMO"].weights)
        assert np.all(w >= 0.2 - 1e-6) and np.all(w <= 0.8 + 1e-6)


def test_mlp_history_and_figures():
    X, y = load_iris(return_X_y=True)
    rep = compare(
        X,
        y,
        y,
        losses=["log_loss"],
        models=["mlp"],
        seeds=1,
        fixed="grid:1",
        estimator_params={"max_epochs": 3},
    )
    (almo,) = rep.runs_of("mlp", "ALMO")
    h = almo.history
    assert h["epochs"] == [1, 2, 3]
    w = np.array(h["weights"])
    assert w.shape[1] == 3 and np.allclose(w.sum(1), 1.0) and (w >= -1e-9).all()
    assert np.array(h["train"]).shape == (3, 3)
    assert h["held_out_epochs"][-1] == 3
    # the last held-out point is the fitted model's held-out value
    np.testing.assert_allclose(h["held_out"][-1], almo.held_out.normalized, rtol=1e-5)
    figs = rep.figures()
    assert set(figs) == {"weights_mlp", "epoch_losses_mlp", "objectives_by_model", "pareto"}
    lines = figs["epoch_losses_mlp"].axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_xdata(), h["held_out_epochs"])
    jsonschema.validate(json.loads(rep.to_json()), REPORT_SCHEMA)
