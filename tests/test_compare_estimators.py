"""compare with the real scikit-learn estimators: reproducible from seeds, the certified linear
optimum below every linear model's training worst case, the report valid against its schema."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from sklearn.datasets import load_iris

from almo.comparison import REPORT_SCHEMA, compare

pytest.importorskip("almo.estimators")


@pytest.fixture(scope="module")
def small():
    X, y = load_iris(return_X_y=True)
    kw = dict(
        losses=["log_loss", "squared"],
        models=["linear", "mlp"],
        seeds=2,
        fixed="grid:2",
        estimator_params={"max_epochs": 2},
        dataset="iris",
    )
    return X, y, kw, compare(X, y, **kw)


def test_schema_and_shape(small):
    _, _, _, rep = small
    jsonschema.validate(json.loads(rep.to_json()), REPORT_SCHEMA)
    assert len(rep.runs) == 2 * 2 * len(rep.arms)
    assert rep.objectives == ["log_loss", "squared"]


def test_reproducible_from_seeds(small):
    X, y, kw, rep = small
    again = compare(X, y, **{**kw, "models": ["mlp"], "seeds": [1]})
    for r in again.runs:
        (ref,) = [q for q in rep.runs_of("mlp", r.arm) if q.seed == 1]
        np.testing.assert_allclose(r.held_out.raw, ref.held_out.raw, rtol=1e-10)


def test_linear_gap_to_certified_optimum(small):
    _, _, _, rep = small
    for r in rep.runs:
        if r.model != "linear":
            assert r.gap_to_optimum is None
            continue
        # the certified lower bound is below every linear model's training objective
        assert r.gap_to_optimum >= -1e-6, (r.arm, r.gap_to_optimum)
        if r.arm == "ALMO":
            assert r.certificate is not None
            assert r.gap_to_optimum <= r.certificate["gap"] + 1e-6
