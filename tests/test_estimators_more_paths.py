"""The trainer path of ALMOClassifier / ALMORegressor: centring the inputs is a
reparametrization (a translated copy of the data gives the same model), ``batch_size="auto"``
is the explicit batch size it names, held-out curves of ``eval_set`` against independent
evaluations, and :class:`FitHistory` through JSON and back.

References: the decision function of a translated data set under the centring map (exact
algebra), ``auto_batch_size`` against its definition ``clip(ceil(n / 16), 16, 128)``, worst
cases over box sets against the LP of tests/checks.py, and the fitted model's own
``objective_losses`` on the same data.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import BoxSimplex
from almo.estimators import ALMOClassifier, ALMORegressor
from almo.estimators._config import auto_batch_size
from almo.estimators._paths import FitHistory, Shift, build_module, linear_coefficients
from checks import linear_max

SHIFT = np.array([40.0, -25.0, 7.5])


def _classes(seed=0, n=150, d=3, n_classes=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    scores = X @ rng.normal(size=(d, n_classes)) + 0.5 * rng.normal(size=(n, n_classes))
    return X, np.argmax(scores, axis=1), np.arange(n) % 3


def _trainer(cls=ALMOClassifier, **kw):
    args = {"method": "trainer", "max_epochs": 4, "random_state": 0, "penalty": "none"}
    return cls(**{**args, **kw})


# -- centring: a reparametrization --------------------------------------------------------------
@pytest.mark.parametrize("model", ["linear", (6,)])
def test_centred_training_is_invariant_to_translating_the_features(model):
    """x ↦ x − mean(x) sees the same inputs for X and X + c: the same run, the same model."""
    X, y, g = _classes(1, n_classes=3)
    a = _trainer(model=model).fit(X, y, groups=g)
    b = _trainer(model=model).fit(X + SHIFT, y, groups=g)
    np.testing.assert_allclose(
        b.decision_function(X + SHIFT), a.decision_function(X), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(b.predict(X + SHIFT), a.predict(X))
    if model == "linear":
        # the same weights; the intercept in raw units moves by −W c
        np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(b.intercept_, a.intercept_ - a.coef_ @ SHIFT, atol=1e-6)


def test_uncentred_training_is_not_translation_invariant():
    """The reference behaviour the test above could fail against: without centring, a far
    translation changes the run (the intercept is coupled to the weights)."""
    X, y, g = _classes(1, n_classes=3)
    a = _trainer(center=False).fit(X, y, groups=g)
    b = _trainer(center=False).fit(X + SHIFT, y, groups=g)
    assert np.max(np.abs(b.decision_function(X + SHIFT) - a.decision_function(X))) > 1e-3


def test_regressor_centring_invariance_in_units_of_y():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 3))
    y = X @ [1.5, -2.0, 0.5] + 0.3 * rng.normal(size=120) + 4.0
    a = _trainer(ALMORegressor, losses=("squared", "absolute")).fit(X, y)
    b = _trainer(ALMORegressor, losses=("squared", "absolute")).fit(X + SHIFT, y)
    np.testing.assert_allclose(b.predict(X + SHIFT), a.predict(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b.score(X + SHIFT, y), a.score(X, y), rtol=1e-8)


def test_shift_then_linear_is_the_linear_map_of_the_raw_features():
    """build_module(center=μ) computes W(x − μ) + b; linear_coefficients gives (W, b − Wμ)."""
    rng = np.random.default_rng(3)
    mu = rng.normal(size=4) * 10
    module = build_module(4, 3, None, center=mu).double()
    assert isinstance(module[0], Shift) and not list(module[0].parameters())
    with torch.no_grad():
        module[1].weight.copy_(torch.from_numpy(rng.normal(size=(3, 4))))
        module[1].bias.copy_(torch.from_numpy(rng.normal(size=3)))
    x = rng.normal(size=(7, 4))
    out = module(torch.from_numpy(x)).detach().numpy()
    W, b = linear_coefficients(module)
    np.testing.assert_allclose(out, x @ W.T + b, rtol=1e-12, atol=1e-12)
    raw_W = module[1].weight.detach().numpy()
    np.testing.assert_allclose(W, raw_W)
    np.testing.assert_allclose(b, module[1].bias.detach().numpy() - raw_W @ mu, rtol=1e-12)


def test_linear_module_starts_at_zero_scores():
    """The scales are the objectives at the zero model: the first layer starts at W = 0, b = 0."""
    module = build_module(5, 2, None, center=np.ones(5))
    x = torch.randn(4, 5, dtype=torch.float64)
    assert float(module.double()(x).detach().abs().max()) == 0.0


# -- batch_size="auto" ---------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**7))
def test_auto_batch_size_is_its_definition(n):
    b = auto_batch_size(n)
    assert b == min(128, max(16, math.ceil(n / 16)))
    assert auto_batch_size(n + 1) >= b  # more rows never mean smaller batches
    if 241 <= n <= 2048:  # the middle range: exactly 16 steps per epoch
        assert math.ceil(n / b) == 16
    if n > 2048:  # large data: batches of 128, more steps
        assert b == 128 and math.ceil(n / b) > 16


@pytest.mark.parametrize("n", [40, 500])
def test_auto_is_the_explicit_batch_size_it_names(n):
    X, y, g = _classes(4, n=n)
    auto = _trainer(max_epochs=2).fit(X, y, groups=g)
    named = _trainer(max_epochs=2, batch_size=auto_batch_size(n)).fit(X, y, groups=g)
    np.testing.assert_array_equal(auto.decision_function(X), named.decision_function(X))
    np.testing.assert_array_equal(auto.weights_, named.weights_)
    steps = math.ceil(n / auto_batch_size(n))
    assert [e.step for e in auto.history_.epochs] == [steps, 2 * steps]
    other = _trainer(max_epochs=2, batch_size=auto_batch_size(n) + 7).fit(X, y, groups=g)
    assert not np.array_equal(other.decision_function(X), auto.decision_function(X))


def test_the_auto_batch_size_is_kept_as_given():
    """scikit-learn's contract: parameters are stored untouched, the choice is made in fit."""
    X, y, g = _classes(4, n=60)
    clf = _trainer(max_epochs=1).fit(X, y, groups=g)
    assert clf.batch_size == "auto" and clf.get_params()["batch_size"] == "auto"


# -- eval_set against independent evaluations ---------------------------------------------------
def test_eval_set_equal_to_the_training_data_retraces_the_training_curve():
    """Both curves evaluate the same model on the same rows at each epoch's end."""
    X, y, g = _classes(5, n=120, n_classes=3)
    clf = _trainer(max_epochs=3).fit(X, y, groups=g, eval_set=(X, y, g))
    h = clf.history_
    np.testing.assert_allclose(h.held_out_curve(), h.train_curve(), rtol=1e-9)
    np.testing.assert_allclose(
        h.held_out_curve(normalized=False), h.train_curve(normalized=False), rtol=1e-9
    )


def test_held_out_worst_case_over_a_box_against_the_lp():
    X, y, g = _classes(6, n=160)
    box = BoxSimplex(0.1, 0.5, p=6)
    Xa, ya, ga, Xb, yb, gb = X[:110], y[:110], g[:110], X[110:], y[110:], g[110:]
    clf = _trainer(max_epochs=3, mixture_set=box).fit(Xa, ya, groups=ga, eval_set=(Xb, yb, gb))
    h = clf.history_
    for rep, worst in zip(h.held_out, h.held_out_worst_case, strict=True):
        assert worst == pytest.approx(linear_max(box, rep.normalized), rel=1e-7, abs=1e-9)
    final = clf.objective_losses(Xb, yb, gb)
    np.testing.assert_allclose(h.held_out_curve()[-1], final.normalized, rtol=1e-9)


def test_normalized_curves_are_the_raw_curves_over_the_fitted_scales():
    X, y, g = _classes(7, n=100)
    clf = _trainer(max_epochs=3).fit(
        X[:70], y[:70], groups=g[:70], eval_set=(X[70:], y[70:], g[70:])
    )
    h = clf.history_
    np.testing.assert_allclose(h.train_curve(False) / clf.scales_, h.train_curve(), rtol=1e-12)
    np.testing.assert_allclose(
        h.held_out_curve(False) / clf.scales_, h.held_out_curve(), rtol=1e-12
    )


# -- FitHistory through JSON --------------------------------------------------------------------
def _round_trip(h):
    return FitHistory.from_dict(json.loads(json.dumps(h.to_dict())))


def test_history_without_eval_set_round_trips():
    X, y, g = _classes(8, n=80)
    h = _trainer(max_epochs=2).fit(X, y, groups=g).history_
    back = _round_trip(h)
    assert isinstance(back, FitHistory) and back.held_out == []
    assert back.held_out_curve().shape == (0, len(h.names))
    assert list(back.names) == list(h.names)
    np.testing.assert_allclose(back.train_curve(), h.train_curve(), rtol=1e-12)
    assert list(back.steps) == list(h.steps)
    np.testing.assert_allclose(back.step_weights, h.step_weights, rtol=1e-12)
    assert [e.step for e in back.epochs] == [e.step for e in h.epochs]


def test_history_from_a_dict_without_held_out():
    """A document written by the plain trainer's History reads back with no held-out part."""
    X, y, g = _classes(9, n=80)
    h = _trainer(max_epochs=2).fit(X, y, groups=g, eval_set=(X, y, g)).history_
    d = json.loads(json.dumps(h.to_dict()))
    assert len(d["held_out"]) == 2
    del d["held_out"]
    back = FitHistory.from_dict(d)
    assert back.held_out == [] and back.held_out_worst_case == []
    np.testing.assert_allclose(back.train_curve(), h.train_curve(), rtol=1e-12)


def test_history_with_eval_set_round_trips_every_report():
    X, y, g = _classes(10, n=120, n_classes=3)
    clf = _trainer(max_epochs=3, mixture_set=(0.05, 0.6))
    h = clf.fit(X[:80], y[:80], groups=g[:80], eval_set=(X[80:], y[80:], g[80:])).history_
    back = _round_trip(h)
    assert len(back.held_out) == 3
    for a, b in zip(h.held_out, back.held_out, strict=True):
        assert a.names == b.names
        np.testing.assert_allclose(b.raw, a.raw, rtol=1e-12)
        np.testing.assert_allclose(b.scales, a.scales, rtol=1e-12)
        assert b.worst_case == pytest.approx(a.worst_case, rel=1e-12)
    assert _round_trip(back).to_dict() == back.to_dict()  # a fixed point
