"""ALMOClassifier / ALMORegressor: invariants on random problems (hypothesis) and independent
references — the objective values recomputed by hand, the worst case by linear programming,
the fixed-weight arm against the solver with Λ = {λ}, the trainer against the certified optimum.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from almo import BoxSimplex, FixedWeights, ObjectiveFamily, Simplex, solve_linear
from almo.estimators import ALMOClassifier, ALMORegressor
from checks import assert_in_set, linear_max

FAST = settings(max_examples=12, deadline=None)


def _binary(seed: int, n: int = 60, d: int = 3, n_groups: int = 2):
    """A noisy linear binary problem with group labels; features of varied means and scales."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = (X @ w + 0.8 * rng.normal(size=n) > 0).astype(int)
    y[:2] = [0, 1]  # both classes, always
    g = rng.integers(0, n_groups, size=n)
    g[: n_groups * 2] = np.repeat(np.arange(n_groups), 2)  # every group has rows
    return X, y, g


def _multiclass(seed: int, n: int = 90, d: int = 3, n_classes: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, n_classes))
    y = np.argmax(X @ W + 0.5 * rng.normal(size=(n, n_classes)), axis=1)
    y[:n_classes] = np.arange(n_classes)
    return X, y


def _regression(seed: int, n: int = 60, d: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = 5.0 + X @ rng.normal(size=d) * 3.0 + rng.standard_t(3, size=n)
    return X, y


def _binary_losses(scores: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample binary losses written out by hand (y± = 2y − 1)."""
    ypm = 2.0 * y - 1.0
    return {
        "log_loss": np.logaddexp(0.0, -ypm * scores),
        "squared": (scores - ypm) ** 2,
        "hinge": np.maximum(0.0, 1.0 - ypm * scores),
    }


# -- fitted λ, probabilities, decisions ---------------------------------------------------------
@FAST
@given(seed=st.integers(0, 10_000), beta=st.sampled_from([0.0, 0.1]))
def test_weights_lie_in_the_mixture_set_and_probabilities_are_consistent(seed, beta):
    X, y, g = _binary(seed)
    clf = ALMOClassifier(beta=beta).fit(X, y, groups=g)
    assert clf.weights_.shape == (4,)
    assert_in_set(Simplex(4), clf.weights_, atol=1e-7)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert np.all((proba >= 0) & (proba <= 1))
    s = clf.decision_function(X)
    # the decision, the probability and the prediction tell the same story
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(s > 0).astype(int)])
    np.testing.assert_allclose(proba[:, 1], 1.0 / (1.0 + np.exp(-s)), rtol=1e-12)
    np.testing.assert_allclose(s, X @ clf.coef_[0] + clf.intercept_[0], rtol=1e-12, atol=1e-12)


@FAST
@given(seed=st.integers(0, 10_000))
def test_multiclass_probabilities_softmax_and_argmax(seed):
    X, y = _multiclass(seed)
    clf = ALMOClassifier(losses=("log_loss", "hinge")).fit(X, y)
    s = clf.decision_function(X)
    assert s.shape == (len(y), 3)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, e / e.sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(s, axis=1)])
    np.testing.assert_array_equal(np.argmax(proba, axis=1), np.argmax(s, axis=1))
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(X) == y))


@FAST
@given(
    seed=st.integers(0, 10_000),
    box=st.sampled_from([(0.05, 0.6), (0.1, 0.4), (0.2, 0.3)]),
)
def test_box_bounds_hold_for_the_fitted_weights(seed, box):
    X, y, g = _binary(seed)
    lower, upper = box
    clf = ALMOClassifier(mixture_set=(lower, upper)).fit(X, y, groups=g)
    assert isinstance(clf.mixture_set_, BoxSimplex)
    assert_in_set(BoxSimplex(lower, upper, p=4), clf.weights_, atol=1e-7)
    rep = clf.objective_losses(X, y, g)
    assert_in_set(clf.mixture_set_, rep.weights, atol=1e-7)


# -- the objective report against values computed independently ---------------------------------
@FAST
@given(seed=st.integers(0, 10_000), beta=st.sampled_from([0.0, 0.1]))
def test_objective_losses_recomputed_by_hand(seed, beta):
    X, y, g = _binary(seed)
    clf = ALMOClassifier(losses=("log_loss", "squared", "hinge"), beta=beta).fit(X, y, groups=g)
    s = clf.decision_function(X)
    per_sample = _binary_losses(s, y)
    raw = np.array(
        [
            per_sample[loss][g == k].mean()
            for loss in ("log_loss", "squared", "hinge")
            for k in (0, 1)
        ]
    )
    rep = clf.objective_losses(X, y, g)
    assert rep.names == clf.objective_names_
    np.testing.assert_allclose(rep.raw, raw, rtol=1e-10)
    np.testing.assert_allclose(rep.normalized, raw / clf.scales_, rtol=1e-10)
    # the scales are the values at the zero model: log 2, 1 and 1 for every group
    np.testing.assert_allclose(clf.scales_, [np.log(2)] * 2 + [1.0] * 4, rtol=1e-12)
    counts = np.bincount(g, minlength=2)
    np.testing.assert_array_equal(rep.counts, np.tile(counts, 3))


@FAST
@given(seed=st.integers(0, 10_000), lower=st.sampled_from([0.0, 0.05, 0.12]))
def test_worst_case_is_the_linear_programs_max(seed, lower):
    X, y, g = _binary(seed)
    mixture = BoxSimplex(lower, 0.5, p=4) if lower > 0 else Simplex(4)
    clf = ALMOClassifier(mixture_set=mixture).fit(X, y, groups=g)
    Xh, yh, gh = _binary(seed + 1)  # other data: a held-out evaluation
    rep = clf.objective_losses(Xh, yh, gh)
    ref = linear_max(mixture, rep.normalized)
    assert clf.worst_case_loss(Xh, yh, gh) == pytest.approx(ref, rel=1e-7, abs=1e-10)
    assert float(rep.weights @ rep.normalized) == pytest.approx(ref, rel=1e-7, abs=1e-10)
    assert rep.penalized_worst_case == pytest.approx(
        linear_max(mixture, rep.normalized + rep.penalty), rel=1e-7, abs=1e-10
    )
    # MixtureSet.worst_case agrees with the independent linear program
    assert float(mixture.worst_case(rep.normalized).value) == pytest.approx(ref, rel=1e-7)


def test_worst_case_of_the_simplex_is_the_largest_objective():
    X, y, g = _binary(3)
    clf = ALMOClassifier().fit(X, y, groups=g)
    rep = clf.objective_losses(X, y, g)
    assert rep.worst_case == pytest.approx(rep.normalized.max(), rel=1e-12)
    assert rep.weights[np.argmax(rep.normalized)] == pytest.approx(1.0)


# -- the exact path is the solver; the fixed arm is the solver on Λ = {λ} --------------------------
@FAST
@given(seed=st.integers(0, 10_000), alpha=st.sampled_from([1e-3, 1e-2]))
def test_exact_path_equals_solve_linear(seed, alpha):
    X, y, g = _binary(seed)
    clf = ALMOClassifier(alpha=alpha, penalty="none").fit(X, y, groups=g)
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize=clf.scales_)
    sol = solve_linear(X, y, family, groups=g, mixture_set=Simplex(4), l2=alpha)
    np.testing.assert_allclose(clf.coef_.ravel(), np.ravel(sol.coef_), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_.ravel(), np.ravel(sol.intercept_), atol=1e-8)
    np.testing.assert_allclose(clf.weights_, sol.weights, atol=1e-6)
    assert clf.certificate_.value == pytest.approx(float(sol.value), rel=1e-8)
    assert clf.certificate_.gap <= 1e-6 * max(1.0, abs(clf.certificate_.value))
    assert clf.certificate_.lower_bound <= clf.certificate_.value + 1e-9


@FAST
@given(seed=st.integers(0, 10_000), a=st.floats(0.05, 0.95))
def test_fixed_weights_is_the_solver_on_a_single_point(seed, a):
    X, y, g = _binary(seed)
    lam = np.array([a, 1 - a]) / 2
    lam = np.concatenate([lam, lam])
    clf = ALMOClassifier(weight_rule=FixedWeights(lam), penalty="none").fit(X, y, groups=g)
    np.testing.assert_allclose(clf.weights_, lam, atol=1e-9)
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize=clf.scales_)
    sol = solve_linear(
        X, y, family, groups=g, mixture_set=BoxSimplex(lower=lam, upper=lam), l2=1e-3
    )
    np.testing.assert_allclose(clf.coef_.ravel(), np.ravel(sol.coef_), rtol=1e-6, atol=1e-8)
    # and that model minimizes the λ-weighted objective: a gradient of zero by finite differences
    w0 = np.r_[clf.coef_.ravel(), clf.intercept_]

    def objective(w):
        per = _binary_losses(X @ w[:-1] + w[-1], y)
        vals = [per[loss][g == k].mean() for loss in ("log_loss", "squared") for k in (0, 1)]
        return float(lam @ (np.array(vals) / clf.scales_) + 1e-3 * w[:-1] @ w[:-1])

    eps = 1e-6
    grad = [
        (objective(w0 + eps * e) - objective(w0 - eps * e)) / (2 * eps) for e in np.eye(len(w0))
    ]
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)


def test_almo_minimizes_the_worst_case_that_fixed_arms_only_bound():
    X, y, g = _binary(11, n=120)
    almo = ALMOClassifier(penalty="none").fit(X, y, groups=g)
    best = almo.objective_losses(X, y, g).penalized_worst_case
    rng = np.random.default_rng(0)
    for lam in rng.dirichlet(np.ones(4), size=5):
        fixed = ALMOClassifier(weight_rule=FixedWeights(lam), penalty="none").fit(X, y, groups=g)
        assert fixed.objective_losses(X, y, g).penalized_worst_case >= best - 1e-6


# -- the trainer path against the certified optimum ---------------------------------------------
@pytest.mark.parametrize("center", [True, False])
def test_trainer_reaches_the_certified_optimum_on_a_small_convex_problem(center):
    X, y, g = _binary(5, n=160)
    X = X * [1.0, 3.0, 0.5] + [4.0, -2.0, 10.0]  # features with means far from zero
    exact = ALMOClassifier(penalty="none", alpha=1e-2).fit(X, y, groups=g)
    opt = exact.certificate_.lower_bound
    trained = ALMOClassifier(
        penalty="none", alpha=1e-2, method="trainer", max_epochs=60, random_state=0, center=center
    ).fit(X, y, groups=g)
    value = trained.objective_losses(X, y, g).penalized_worst_case
    assert value >= opt - 1e-9  # the certified lower bound holds for any model
    assert value <= opt * (1.03 if center else 1.5)
    assert trained.method_ == "trainer" and trained.certificate_ is None
    assert_in_set(Simplex(4), trained.weights_, atol=1e-6)


def test_centring_is_a_reparametrization_of_the_linear_model():
    X, y, g = _binary(6, n=160)
    X = X + np.array([50.0, -20.0, 5.0])
    kw = dict(penalty="none", alpha=1e-2, method="trainer", max_epochs=40, random_state=1)
    centred = ALMOClassifier(**kw).fit(X, y, groups=g)
    plain = ALMOClassifier(**kw, center=False).fit(X, y, groups=g)
    # coef_ and intercept_ are in the units of X either way: the decision is X @ coef + b
    for clf in (centred, plain):
        np.testing.assert_allclose(
            clf.decision_function(X), X @ clf.coef_[0] + clf.intercept_[0], rtol=1e-10
        )
    # the centred run gets much closer to the optimum on these shifted features
    opt = ALMOClassifier(penalty="none", alpha=1e-2).fit(X, y, groups=g).certificate_.value
    gap_c = centred.objective_losses(X, y, g).penalized_worst_case - opt
    gap_p = plain.objective_losses(X, y, g).penalized_worst_case - opt
    assert gap_c < 0.5 * gap_p
    assert gap_c < 0.1 * opt


# -- reproducibility, parameters, clone ----------------------------------------------------------
@FAST
@given(seed=st.integers(0, 2**31 - 1))
def test_trainer_reproducible_from_random_state(seed):
    X, y, g = _binary(1)
    kw = dict(method="trainer", max_epochs=2, random_state=seed, model=(4,))
    a = ALMOClassifier(**kw).fit(X, y, groups=g)
    b = ALMOClassifier(**kw).fit(X, y, groups=g)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    np.testing.assert_array_equal(a.weights_, b.weights_)


def test_trainer_leaves_the_global_generators_alone():
    X, y, g = _binary(2)
    torch.manual_seed(123)
    np.random.seed(7)  # noqa: NPY002 -- the state a user's program draws from
    expected_t, expected_n = torch.rand(3), np.random.rand(3)  # noqa: NPY002
    torch.manual_seed(123)
    np.random.seed(7)  # noqa: NPY002
    ALMOClassifier(method="trainer", max_epochs=1, random_state=0).fit(X, y, groups=g)
    np.testing.assert_array_equal(torch.rand(3), expected_t)
    np.testing.assert_array_equal(np.random.rand(3), expected_n)  # noqa: NPY002


PARAMS = st.fixed_dictionaries(
    {
        "alpha": st.sampled_from([0.0, 1e-3, 0.5]),
        "beta": st.sampled_from([0.0, 0.1, "bound"]),
        "max_epochs": st.integers(1, 500),
        "batch_size": st.one_of(st.just("auto"), st.integers(1, 512)),
        "learning_rate": st.floats(1e-4, 1.0),
        "method": st.sampled_from(["auto", "exact", "trainer"]),
        "center": st.booleans(),
        "random_state": st.one_of(st.none(), st.integers(0, 1000)),
        "mixture_set": st.sampled_from(["simplex", (0.0, 0.5)]),
    }
)


@settings(max_examples=25, deadline=None)
@given(params=PARAMS, regressor=st.booleans())
def test_get_set_params_and_clone_round_trip(params, regressor):
    cls = ALMORegressor if regressor else ALMOClassifier
    est = cls(**params)
    got = est.get_params()
    for key, value in params.items():
        assert got[key] == value
    other = cls().set_params(**params)
    assert other.get_params() == got
    twin = clone(est)
    assert twin is not est and twin.get_params() == got
    assert not hasattr(twin, "weights_")


def test_clone_of_a_fitted_estimator_is_unfitted_and_refits_the_same():
    X, y, g = _binary(4)
    clf = ALMOClassifier(beta=0.05).fit(X, y, groups=g)
    twin = clone(clf)
    assert not hasattr(twin, "coef_")
    twin.fit(X, y, groups=g)
    np.testing.assert_allclose(twin.coef_, clf.coef_, rtol=1e-10)


# -- regression: units of y ----------------------------------------------------------------------
@FAST
@given(
    seed=st.integers(0, 10_000),
    shift=st.floats(-1e4, 1e4),
    unit=st.floats(1e-3, 1e3),
)
def test_regression_predicts_in_the_units_of_y(seed, shift, unit):
    X, y = _regression(seed)
    base = ALMORegressor().fit(X, y)
    moved = ALMORegressor().fit(X, shift + unit * y)
    # the losses see standardized targets: the fit is equivariant to the units of y
    np.testing.assert_allclose(
        moved.predict(X), shift + unit * base.predict(X), rtol=1e-6, atol=1e-6 * unit * np.std(y)
    )
    np.testing.assert_allclose(moved.weights_, base.weights_, atol=1e-6)
    np.testing.assert_allclose(moved.coef_, unit * base.coef_, rtol=1e-6, atol=1e-9 * unit)
    np.testing.assert_allclose(
        moved.predict(X),
        X @ moved.coef_ + moved.intercept_,
        rtol=1e-10,
        atol=1e-10 * max(1.0, abs(shift)),
    )
    rep_a = base.objective_losses(X, y)
    rep_b = moved.objective_losses(X, shift + unit * y)
    np.testing.assert_allclose(rep_b.raw, rep_a.raw, rtol=1e-6, atol=1e-9)


def test_regression_objectives_are_in_standard_deviations_of_y():
    X, y = _regression(7)
    reg = ALMORegressor().fit(X, y)
    r = (y - reg.predict(X)) / np.std(y)
    rep = reg.objective_losses(X, y)
    np.testing.assert_allclose(rep.raw, [np.mean(r**2), np.mean(np.abs(r))], rtol=1e-8)
    # the zero model predicts the mean: scales are 1 (variance) and the mean absolute z-score
    z = (y - y.mean()) / y.std()
    np.testing.assert_allclose(reg.scales_, [1.0, np.mean(np.abs(z))], rtol=1e-10)
    assert reg.score(X, y) == pytest.approx(
        1 - np.sum((y - reg.predict(X)) ** 2) / np.sum((y - y.mean()) ** 2)
    )


def test_regressor_trainer_close_to_exact_in_units_of_y():
    X, y = _regression(8, n=200)
    y = 1000.0 + 50.0 * y
    exact = ALMORegressor(penalty="none").fit(X, y)
    trained = ALMORegressor(penalty="none", method="trainer", max_epochs=60, random_state=0).fit(
        X, y
    )
    opt = exact.certificate_.lower_bound
    value = trained.objective_losses(X, y).penalized_worst_case
    assert opt - 1e-9 <= value <= 1.03 * opt
    np.testing.assert_allclose(trained.coef_, exact.coef_, rtol=0.1, atol=0.05 * np.std(y))
