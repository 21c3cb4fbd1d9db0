"""ALMOClassifier / ALMORegressor against independent references, routing, errors, the target."""

import random

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from almo import ALMOValueError, BoxSimplex, FixedWeights, RademacherPenalty, Simplex, solve_linear
from almo.estimators import ALMOClassifier, ALMORegressor


def _scaled(loader, n=None):
    X, y = loader(return_X_y=True)
    if n is not None:
        idx = np.random.default_rng(0).permutation(len(y))[:n]
        X, y = X[idx], y[idx]
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    return _scaled(load_breast_cancer)


@pytest.fixture(scope="module")
def small_digits():
    return _scaled(load_digits, n=400)


# -- the exact path against independent references -----------------------------------------
def test_fixed_single_log_loss_is_logistic_regression(cancer):
    X, y = cancer
    alpha = 1e-2
    clf = ALMOClassifier(
        losses="log_loss", weight_rule=FixedWeights([1.0]), penalty="none", alpha=alpha
    ).fit(X, y)
    # ours: (1/(n log 2)) Σ ll + α‖w‖²  ⇔  sklearn: ½‖w‖² + C Σ ll with C = 1/(2 α n log 2)
    ref = LogisticRegression(C=1 / (2 * alpha * len(y) * np.log(2)), tol=1e-10, max_iter=10_000)
    ref.fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert clf.scales_ == pytest.approx([np.log(2)])
    assert clf.certificate_.gap <= 1e-6


def test_fixed_single_squared_is_ridge():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 4))
    y = 50.0 + X @ np.array([3.0, -1.0, 0.0, 2.0]) * 10 + rng.normal(size=150)
    alpha = 1e-2
    reg = ALMORegressor(
        losses="squared", weight_rule=FixedWeights([1.0]), penalty="none", alpha=alpha
    ).fit(X, y)
    # standardized targets with mean ỹ² = 1: (1/n)Σ(ỹ - s)² + α‖w̃‖², i.e. Ridge(α n), in y units
    ref = Ridge(alpha=alpha * len(y), tol=1e-12).fit(X, y)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-6)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-8)
    np.testing.assert_allclose(reg.predict(X), ref.predict(X), rtol=1e-8)
    assert reg.scales_ == pytest.approx([1.0])


def test_exact_path_is_the_solvers_solution(small_digits):
    X, y = small_digits
    clf = ALMOClassifier(beta=0.1, alpha=1e-3).fit(X, y, groups=y)
    sol = solve_linear(
        X,
        y,
        ["log_loss", "squared"],
        groups=y,
        l2=1e-3,
        normalize="initial",
        penalty=RademacherPenalty(beta=0.1),
    )
    assert clf.objective_names_ == tuple(sol.names)
    np.testing.assert_allclose(clf.scales_, sol.scales, rtol=1e-12)
    np.testing.assert_allclose(clf.coef_, sol.coef_, atol=1e-5)
    assert clf.certificate_.value == pytest.approx(sol.value, rel=1e-6)
    assert clf.certificate_.lower_bound <= clf.certificate_.value
    assert clf.method_ == "exact" and clf.history_ is None
    np.testing.assert_allclose(clf.penalty_, sol.report.penalty, rtol=1e-6)


def test_objective_losses_match_sklearn_metrics(small_digits):
    X, y = small_digits
    clf = ALMOClassifier(losses=("log_loss", "squared")).fit(X, y)
    rep = clf.objective_losses(X, y)
    assert rep.names == ("log_loss", "squared")
    assert rep.raw[0] == pytest.approx(log_loss(y, clf.predict_proba(X)), rel=1e-9)
    onehot = np.eye(10)[y]
    assert rep.raw[1] == pytest.approx(((clf.decision_function(X) - onehot) ** 2).sum(1).mean())
    np.testing.assert_allclose(rep.normalized, rep.raw / clf.scales_)
    assert clf.scales_ == pytest.approx([np.log(10), 1.0])  # the zero model's values
    assert rep.worst_case == pytest.approx(rep.normalized.max())  # the simplex: a vertex
    assert clf.worst_case_loss(X, y) == rep.worst_case


def test_almo_beats_every_fixed_mixture_on_training_worst_case(cancer):
    X, y = cancer
    almo = ALMOClassifier().fit(X, y, groups=y)
    rng = np.random.default_rng(0)
    for lam in [np.full(4, 0.25), *rng.dirichlet(np.ones(4), size=3)]:
        fixed = ALMOClassifier(weight_rule=FixedWeights(lam)).fit(X, y, groups=y)
        assert np.allclose(fixed.weights_, lam)
        # the certified optimum of the penalized game is below any model's penalized worst case
        penalized = fixed.objective_losses(X, y, y).penalized_worst_case
        assert almo.certificate_.lower_bound <= penalized + 1e-9


def test_box_mixture_set_and_its_weights(cancer):
    X, y = cancer
    clf = ALMOClassifier(mixture_set=(0.1, 0.6)).fit(X, y, groups=y)
    assert isinstance(clf.mixture_set_, BoxSimplex)
    assert np.all(clf.weights_ >= 0.1 - 1e-9) and np.all(clf.weights_ <= 0.6 + 1e-9)
    assert clf.weights_.sum() == pytest.approx(1.0)
    rep = clf.objective_losses(X, y, y)
    assert np.all(rep.weights <= 0.6 + 1e-9)


def test_predict_proba_and_decision_function(cancer, small_digits):
    X, y = cancer
    clf = ALMOClassifier().fit(X, y)
    s = clf.decision_function(X)
    proba = clf.predict_proba(X)
    assert s.shape == (len(y),) and proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-s)))
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(s > 0).astype(int)])
    Xd, yd = small_digits
    multi = ALMOClassifier().fit(Xd, yd)
    p = multi.predict_proba(Xd)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(multi.predict(Xd), multi.classes_[p.argmax(1)])
    assert multi.coef_.shape == (10, Xd.shape[1]) and multi.intercept_.shape == (10,)


def test_string_labels_and_string_groups(cancer):
    X, y = cancer
    labels = np.array(["benign", "malignant"])[y]
    groups = np.where(X[:, 0] > 0, "large", "small")
    clf = ALMOClassifier().fit(X, labels, groups=groups)
    assert clf.objective_names_ == (
        "log_loss@large",
        "log_loss@small",
        "squared@large",
        "squared@small",
    )
    assert set(clf.predict(X)) <= {"benign", "malignant"}
    assert clf.score(X, labels) > 0.9


# -- the trainer path ---------------------------------------------------------------------------
def test_trainer_path_approaches_the_certified_optimum(cancer):
    X, y = cancer
    kw = dict(penalty="none", alpha=1e-2)
    exact = ALMOClassifier(**kw).fit(X, y, groups=y)
    trained = ALMOClassifier(
        method="trainer", max_epochs=40, batch_size=32, learning_rate=0.03, random_state=0, **kw
    ).fit(X, y, groups=y)
    assert trained.method_ == "trainer" and trained.certificate_ is None
    assert trained.n_iter_ == 40 and len(trained.history_.epochs) == 40
    value = trained.objective_losses(X, y, y).penalized_worst_case
    optimum = exact.certificate_.value
    assert optimum - 1e-6 <= value <= 1.04 * optimum  # measured: 2% above
    np.testing.assert_allclose(trained.scales_, exact.scales_)  # one scale on both paths


def test_fixed_weights_on_the_trainer_path(cancer):
    X, y = cancer
    lam = [0.7, 0.1, 0.1, 0.1]
    clf = ALMOClassifier(
        model=(8,), weight_rule=FixedWeights(lam), max_epochs=3, random_state=0
    ).fit(X, y, groups=y)
    np.testing.assert_allclose(clf.weights_, lam)
    np.testing.assert_allclose(clf.history_.epochs[-1].weights, lam)
    assert clf.module_ is not None and not hasattr(clf, "coef_")


def test_mlp_is_seeded_and_leaves_global_generators_alone(small_digits):
    X, y = small_digits
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    before = (torch.rand(1).item(), np.random.rand(), random.random())  # noqa: NPY002
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    a = ALMOClassifier(model="mlp", max_epochs=2, random_state=3).fit(X, y)
    after = (torch.rand(1).item(), np.random.rand(), random.random())  # noqa: NPY002
    assert before == after
    b = ALMOClassifier(model="mlp", max_epochs=2, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = ALMOClassifier(model="mlp", max_epochs=2, random_state=4).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    assert a.history_ is not None and a.n_iter_ == 2
    assert Simplex(2).contains(a.weights_)


def test_regressor_mlp_and_linear_agree_on_units():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    y = 1000.0 + 300.0 * X[:, 0] + 10.0 * rng.normal(size=300)
    lin = ALMORegressor().fit(X, y)
    assert lin.score(X, y) > 0.99
    assert lin.target_mean_ == pytest.approx(y.mean()) and lin.target_scale_ == pytest.approx(
        y.std()
    )
    net = ALMORegressor(model=(16,), max_epochs=30, batch_size=32, random_state=0).fit(X, y)
    assert net.score(X, y) > 0.9


# -- metadata routing ---------------------------------------------------------------------------
def test_groups_routed_through_pipeline_grid_search_and_cross_val(cancer):
    X, y = load_breast_cancer(return_X_y=True)
    g = (X[:, 0] > np.median(X[:, 0])).astype(int)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), ALMOClassifier().set_fit_request(groups=True))
        pipe.fit(X, y, groups=g)
        assert pipe[-1].objective_names_[0] == "log_loss@group0"
        assert len(pipe[-1].objective_names_) == 4
        search = GridSearchCV(
            pipe, {"almoclassifier__alpha": [1e-3, 1e-1]}, cv=StratifiedKFold(3)
        ).fit(X, y, groups=g)
        assert search.best_estimator_[-1].groups_.tolist() == [0, 1]
        assert search.best_params_["almoclassifier__alpha"] in (1e-3, 1e-1)
        scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3), params={"groups": g})
        assert scores.shape == (3,) and scores.min() > 0.9


def test_groups_not_requested_are_an_error_under_routing():
    X, y = _scaled(load_breast_cancer, n=100)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), ALMOClassifier())
        with pytest.raises(ValueError, match="groups"):
            pipe.fit(X, y, groups=y)


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"losses": "no_such_loss"}, "no_such_loss"),
        ({"losses": ("absolute",)}, "losses.*ALMORegressor"),
        ({"losses": ()}, "at least one loss"),
        ({"mixture_set": "cube"}, "mixture_set.*simplex"),
        ({"mixture_set": Simplex(3)}, "mixture_set.*p = 2"),
        ({"weight_rule": FixedWeights([1.0])}, "weight_rule.*one weight per objective"),
        ({"weight_rule": "uniform"}, "weight_rule"),
        ({"model": "cnn"}, "model"),
        ({"model": (0,)}, "model"),
        ({"penalty": "l1"}, "penalty"),
        ({"beta": -1.0}, "beta"),
        ({"alpha": -1.0}, "alpha"),
        ({"normalize": [1.0, -1.0]}, "normalize"),
        ({"normalize": [1.0, 1.0, 1.0]}, "normalize.*one scale per objective"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"method": "fast"}, "method"),
        ({"method": "exact", "model": "mlp"}, "method.*not linear"),
    ],
)
def test_bad_parameters_name_the_parameter(params, match):
    X, y = _scaled(load_breast_cancer, n=60)
    with pytest.raises(ALMOValueError, match=match):
        ALMOClassifier(**params).fit(X, y)


def test_fixed_weights_outside_the_box_is_refused():
    X, y = _scaled(load_breast_cancer, n=60)
    with pytest.raises(ALMOValueError, match="inside the mixture set"):
        ALMOClassifier(mixture_set=(0.2, 0.8), weight_rule=FixedWeights([1.0, 0.0])).fit(X, y)


def test_bad_data_is_refused_with_a_fix():
    X, y = _scaled(load_breast_cancer, n=60)
    bad = X.copy()
    bad[[3, 7], 1] = np.nan
    with pytest.raises(ALMOValueError, match=r"NaN or inf in 2 of 60 rows.*first is row 3.*Fix"):
        ALMOClassifier().fit(bad, y)
    with pytest.raises(ALMOValueError, match=r"`groups` must hold one group label per row"):
        ALMOClassifier().fit(X, y, groups=y[:-1])
    with pytest.raises(ALMOValueError, match=r"`y` must hold at least 2 classes; found .1 class"):
        ALMOClassifier().fit(X, np.zeros(60, dtype=int))
    with pytest.raises(ALMOValueError, match=r"groups.*finite"):
        ALMOClassifier().fit(X, y, groups=np.where(y > 0, 1.0, np.nan))
    with pytest.raises(ValueError, match="Unknown label type"):
        ALMOClassifier().fit(X, np.linspace(0, 1, 60))


def test_evaluation_errors():
    X, y = _scaled(load_breast_cancer, n=80)
    g = np.arange(80) % 3
    clf = ALMOClassifier().fit(X, y, groups=g)
    with pytest.raises(ALMOValueError, match=r"groups.*be given"):
        clf.objective_losses(X, y)
    with pytest.raises(ALMOValueError, match=r"unseen labels \[7\]"):
        clf.objective_losses(X, y, groups=np.where(g == 2, 7, g))
    with pytest.raises(ALMOValueError, match="no rows for"):
        clf.objective_losses(X, y, groups=np.where(g == 2, 1, g))
    with pytest.raises(ALMOValueError, match="unseen labels"):
        clf.objective_losses(X, np.where(y == 1, 5, y), groups=g)
    plain = ALMOClassifier().fit(X, y)
    with pytest.raises(ALMOValueError, match=r"groups.*be None"):
        plain.worst_case_loss(X, y, groups=g)
    with pytest.raises(ALMOValueError, match=r"y.*one target per row"):
        plain.objective_losses(X, y[:-1])


# -- the target: held-out worst case below the uniform ensemble's --------------------------------
@pytest.mark.parametrize("loader", [load_breast_cancer, load_digits])
def test_held_out_worst_case_below_uniform_ensemble(loader):
    X, y = loader(return_X_y=True)
    almo_wc, uniform_wc = [], []
    for seed in range(3):
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
        scaler = StandardScaler().fit(Xa)
        Xa, Xb = scaler.transform(Xa), scaler.transform(Xb)
        almo = ALMOClassifier(random_state=seed).fit(Xa, ya, groups=ya)
        p = len(almo.objective_names_)
        uniform = ALMOClassifier(random_state=seed, weight_rule=FixedWeights(np.full(p, 1 / p)))
        uniform.fit(Xa, ya, groups=ya)
        almo_wc.append(almo.worst_case_loss(Xb, yb, groups=yb))
        uniform_wc.append(uniform.worst_case_loss(Xb, yb, groups=yb))
    assert np.mean(almo_wc) < np.mean(uniform_wc)
