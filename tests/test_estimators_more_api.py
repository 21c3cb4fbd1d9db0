"""ALMOClassifier / ALMORegressor: held-out curves from ``eval_set``, the automatic batch size,
groups through metadata routing, string group labels, and an error naming the argument for
every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from almo import ALMOValueError, FixedWeights, Simplex
from almo.estimators import ALMOClassifier, ALMORegressor
from almo.estimators._config import auto_batch_size
from almo.estimators._paths import FitHistory


def _data(seed=0, n=120, d=4, n_groups=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.7 * rng.normal(size=n) > 0).astype(int)
    g = np.arange(n) % n_groups
    return X, y, g


@pytest.fixture(scope="module")
def split():
    X, y, g = _data(0, n=200)
    return X[:140], y[:140], g[:140], X[140:], y[140:], g[140:]


@pytest.fixture(scope="module")
def trained(split):
    Xa, ya, ga, Xb, yb, gb = split
    clf = ALMOClassifier(method="trainer", max_epochs=6, random_state=0)
    return clf.fit(Xa, ya, groups=ga, eval_set=(Xb, yb, gb))


# -- eval_set: held-out curves ------------------------------------------------------------------
def test_eval_set_records_one_held_out_report_per_epoch(trained):
    h = trained.history_
    assert isinstance(h, FitHistory)
    assert len(h.epochs) == len(h.held_out) == 6
    assert h.held_out_curve().shape == h.train_curve().shape == (6, 6)
    assert all(r.names == trained.objective_names_ for r in h.held_out)
    np.testing.assert_allclose(h.held_out[0].scales, trained.scales_)


def test_last_held_out_epoch_is_the_fitted_models_held_out_value(trained, split):
    *_, Xb, yb, gb = split
    rep = trained.objective_losses(Xb, yb, gb)
    last = trained.history_.held_out[-1]
    np.testing.assert_allclose(last.raw, rep.raw, rtol=1e-10)
    assert trained.history_.held_out_worst_case[-1] == pytest.approx(rep.worst_case, rel=1e-10)


def test_last_training_epoch_is_the_fitted_models_training_value(trained, split):
    Xa, ya, ga, *_ = split
    rep = trained.objective_losses(Xa, ya, ga)
    np.testing.assert_allclose(trained.history_.train_curve()[-1], rep.normalized, rtol=1e-10)
    np.testing.assert_allclose(
        trained.history_.train_curve(normalized=False)[-1], rep.raw, rtol=1e-10
    )


def test_held_out_curves_differ_from_training_curves(trained):
    h = trained.history_
    assert not np.allclose(h.held_out_curve(), h.train_curve())
    assert np.all(np.isfinite(h.held_out_curve()))
    # the curve moves: the first epoch's model is not the last one's
    assert not np.allclose(h.held_out_curve()[0], h.held_out_curve()[-1])


def test_eval_set_does_not_change_the_training_run(split, trained):
    Xa, ya, ga, *_ = split
    plain = ALMOClassifier(method="trainer", max_epochs=6, random_state=0).fit(Xa, ya, groups=ga)
    np.testing.assert_array_equal(plain.decision_function(Xa), trained.decision_function(Xa))
    np.testing.assert_array_equal(plain.weights_, trained.weights_)
    assert plain.history_.held_out == []
    assert plain.history_.held_out_curve().shape == (0, 6)


def test_history_round_trips_through_plain_python(trained):
    h = trained.history_
    d = json.loads(json.dumps(h.to_dict()))
    back = FitHistory.from_dict(d)
    np.testing.assert_allclose(back.held_out_curve(), h.held_out_curve())
    np.testing.assert_allclose(back.train_curve(), h.train_curve())
    assert back.held_out_worst_case == pytest.approx(h.held_out_worst_case)


def test_eval_set_without_groups_and_as_a_list(split):
    Xa, ya, _, Xb, yb, _ = split
    clf = ALMOClassifier(method="trainer", max_epochs=2, random_state=0)
    clf.fit(Xa, ya, eval_set=[Xb, yb])
    assert clf.history_.held_out_curve().shape == (2, 2)


def test_eval_set_on_the_exact_path_is_checked_only(split):
    Xa, ya, ga, Xb, yb, gb = split
    clf = ALMOClassifier().fit(Xa, ya, groups=ga, eval_set=(Xb, yb, gb))
    assert clf.method_ == "exact" and clf.history_ is None
    with pytest.raises(ALMOValueError, match="`eval_set`"):
        ALMOClassifier().fit(Xa, ya, groups=ga, eval_set=(Xb, yb))


def test_regressor_eval_set_in_units_of_y():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(160, 3))
    y = 100.0 + 20.0 * (X @ [1.0, -1.0, 0.5]) + rng.normal(size=160)
    reg = ALMORegressor(method="trainer", max_epochs=5, random_state=0)
    reg.fit(X[:100], y[:100], eval_set=(X[100:], y[100:]))
    last = reg.history_.held_out[-1]
    np.testing.assert_allclose(last.raw, reg.objective_losses(X[100:], y[100:]).raw, rtol=1e-10)
    z = (y[100:] - reg.predict(X[100:])) / np.std(y[:100])
    np.testing.assert_allclose(last.raw[0], np.mean(z**2), rtol=1e-8)


def test_mlp_eval_set_string_groups():
    X, y, g = _data(1, n=150)
    labels = np.array(["north", "south", "west"])[g]
    clf = ALMOClassifier(model=(5,), max_epochs=3, random_state=0)
    clf.fit(X[:100], y[:100], groups=labels[:100], eval_set=(X[100:], y[100:], labels[100:]))
    assert clf.objective_names_[:3] == ("log_loss@north", "log_loss@south", "log_loss@west")
    assert len(clf.history_.held_out) == 3


@pytest.mark.parametrize(
    ("eval_set", "match"),
    [
        ("held out", "tuple"),
        ((np.ones((5, 4)),), "tuple"),
        ((np.ones((5, 4)), np.zeros(5), np.zeros(5), 1), "tuple"),
        ((np.ones((5, 3)), np.zeros(5), np.zeros(5)), "features"),
        ((np.ones((5, 4)), np.zeros(4), np.zeros(5)), "one target per row"),
        ((np.full((5, 4), np.nan), np.zeros(5), np.zeros(5)), "finite"),
        ((np.ones((5, 4)), np.full(5, 7), np.zeros(5)), "classes seen in fit"),
        ((np.ones((5, 4)), np.zeros(5)), "groups"),
        ((np.ones((5, 4)), np.zeros(5), np.full(5, 9)), "groups seen in fit"),
        ((np.ones((5, 4)), np.zeros(5), np.zeros(4)), "one group label per row"),
        ((np.ones((5, 4)), np.zeros(5), np.zeros(5)), "every group"),
    ],
)
def test_bad_eval_set_names_itself(eval_set, match):
    X, y, g = _data(2, n=60)
    clf = ALMOClassifier(method="trainer", max_epochs=1)
    with pytest.raises(ALMOValueError, match=match) as info:
        clf.fit(X, y, groups=g, eval_set=eval_set)
    assert str(info.value).startswith("`eval_set`")


def test_eval_set_with_groups_for_a_model_without_groups():
    X, y, g = _data(2, n=60)
    with pytest.raises(ALMOValueError, match=r"`eval_set`.*without groups"):
        ALMOClassifier(method="trainer", max_epochs=1).fit(X, y, eval_set=(X, y, g))


# -- batch size "auto" --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "expected"), [(2, 16), (256, 16), (257, 17), (569, 36), (2048, 128), (10**7, 128)]
)
def test_auto_batch_size(n, expected):
    assert auto_batch_size(n) == expected
    assert 16 <= auto_batch_size(n) <= 128


def test_auto_batch_size_gives_at_least_16_steps_per_epoch_on_small_data():
    X, y, g = _data(4, n=200)
    clf = ALMOClassifier(method="trainer", max_epochs=2, random_state=0).fit(X, y, groups=g)
    steps = clf.history_.epochs[0].step
    assert steps == int(np.ceil(200 / auto_batch_size(200))) >= 13
    big = ALMOClassifier(method="trainer", max_epochs=1, batch_size=200, random_state=0)
    assert big.fit(X, y, groups=g).history_.epochs[0].step == 1


# -- metadata routing -------------------------------------------------------------------------
@pytest.fixture
def routing():
    sklearn.set_config(enable_metadata_routing=True)
    yield
    sklearn.set_config(enable_metadata_routing=False)


def test_pipeline_routes_groups_and_eval_set_is_requestable(routing):
    X, y, g = _data(5, n=150)
    clf = ALMOClassifier().set_fit_request(groups=True)
    pipe = make_pipeline(StandardScaler(), clf).fit(X, y, groups=g)
    fitted = pipe[-1]
    assert fitted.objective_names_[0] == "log_loss@group0"
    assert len(fitted.objective_names_) == 6
    with pytest.raises(Exception, match="groups"):
        make_pipeline(StandardScaler(), ALMOClassifier()).fit(X, y, groups=g)


def test_grid_search_routes_groups_to_fit_and_splitter(routing):
    X, y, g = _data(6, n=150)
    clf = ALMOClassifier().set_fit_request(groups=True)
    search = GridSearchCV(clf, {"alpha": [1e-3, 1e-1]}, cv=GroupKFold(3))
    search.fit(X, y, groups=g)
    assert search.best_params_["alpha"] in (1e-3, 1e-1)
    assert search.best_estimator_.groups_.tolist() == [0, 1, 2]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_cross_val_score_with_string_groups(routing):
    X, y, g = _data(7, n=150, n_groups=2)
    labels = np.where(g == 0, "a", "b")
    clf = ALMOClassifier().set_fit_request(groups=True)
    scores = cross_val_score(clf, X, y, params={"groups": labels}, cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0.5) & (scores <= 1.0))


def test_string_group_labels_map_like_integers():
    X, y, g = _data(8, n=120, n_groups=2)
    labels = np.where(g == 0, "left", "right")
    a = ALMOClassifier().fit(X, y, groups=labels)
    b = ALMOClassifier().fit(X, y, groups=g)
    assert a.objective_names_ == (
        "log_loss@left",
        "log_loss@right",
        "squared@left",
        "squared@right",
    )
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)
    np.testing.assert_allclose(a.worst_case_loss(X, y, labels), b.worst_case_loss(X, y, g))
    with pytest.raises(ALMOValueError, match="unseen labels"):
        a.worst_case_loss(X, y, np.where(g == 0, "left", "up"))


# -- every bad input names its argument ---------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"losses": None}, "losses"),
        ({"losses": ()}, "losses"),
        ({"losses": "nonsense"}, "loss"),
        ({"losses": ("log_loss", "log_loss")}, "losses"),
        ({"losses": "absolute"}, "losses"),
        ({"mixture_set": "cube"}, "mixture_set"),
        ({"mixture_set": Simplex(7)}, "mixture_set"),
        ({"weight_rule": "fixed"}, "weight_rule"),
        ({"weight_rule": FixedWeights([0.5, 0.5])}, "weight_rule"),
        ({"weight_rule": FixedWeights([0.9, 0.9, 0.1, 0.1])}, "weight_rule"),
        ({"model": "tree"}, "model"),
        ({"model": ()}, "model"),
        ({"model": (0,)}, "model"),
        ({"penalty": "l1"}, "penalty"),
        ({"beta": -1.0}, "beta"),
        ({"alpha": -1.0}, "alpha"),
        ({"normalize": "yes"}, "normalize"),
        ({"normalize": [1.0, 2.0]}, "normalize"),
        ({"normalize": [1.0, -1.0, 1.0, 1.0]}, "normalize"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "big"}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"center": "yes"}, "center"),
        ({"method": "fast"}, "method"),
        ({"method": "exact", "model": "mlp"}, "method"),
    ],
)
def test_bad_parameters_name_themselves(params, name):
    X, y, g = _data(9, n=40, n_groups=2)
    with pytest.raises(ALMOValueError, match=f"`{name}") as info:
        ALMOClassifier(**params).fit(X, y, groups=g)
    assert "fix" in str(info.value).lower() or "pass" in str(info.value)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"losses": "hinge"}, "losses"), ({"losses": ("squared", "log_loss")}, "losses")],
)
def test_regressor_refuses_classification_losses(params, name):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ALMOValueError, match=f"`{name}`.*ALMOClassifier"):
        ALMORegressor(**params).fit(X, X[:, 0])


def test_bad_data_names_itself():
    X, y, g = _data(10, n=40, n_groups=2)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ALMOValueError, match=r"`X`.*1 of 40 rows"):
        ALMOClassifier().fit(bad, y)
    with pytest.raises(ALMOValueError, match=r"`y`.*2 classes"):
        ALMOClassifier().fit(X, np.zeros(40))
    with pytest.raises(ALMOValueError, match=r"`groups`.*one group label per row"):
        ALMOClassifier().fit(X, y, groups=g[:-1])
    with pytest.raises(ALMOValueError, match=r"`groups`.*finite"):
        ALMOClassifier().fit(X, y, groups=np.where(g == 0, np.nan, 1.0))


def test_bad_evaluation_inputs_name_themselves():
    X, y, g = _data(11, n=60, n_groups=2)
    clf = ALMOClassifier().fit(X, y, groups=g)
    with pytest.raises(ALMOValueError, match=r"`groups`.*be given"):
        clf.objective_losses(X, y)
    with pytest.raises(ALMOValueError, match=r"`y`.*one target per row"):
        clf.objective_losses(X, y[:-1], g)
    with pytest.raises(ALMOValueError, match=r"`groups`.*every fitted group"):
        clf.objective_losses(X[g == 0], y[g == 0], g[g == 0])
    with pytest.raises(ALMOValueError, match=r"`y`.*classes seen in fit"):
        clf.objective_losses(X, np.where(y == 0, 5, 1), g)
    plain = ALMOClassifier().fit(X, y)
    with pytest.raises(ALMOValueError, match=r"`groups`.*be None"):
        plain.worst_case_loss(X, y, g)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ALMOValueError, match="`X`"):
        plain.predict(bad)


def test_unfitted_estimators_refuse_to_predict():
    from sklearn.exceptions import NotFittedError

    X, y, _ = _data(12, n=20)
    for est in (ALMOClassifier(), ALMORegressor()):
        with pytest.raises(NotFittedError):
            est.predict(X)
    with pytest.raises(NotFittedError):
        ALMOClassifier().worst_case_loss(X, y)


# -- compare hands the held-out split to the estimators ----------------------------------------
def test_compare_fit_passes_eval_set_only_to_estimators_that_take_it(split):
    from almo.comparison.run import _fit

    Xa, ya, ga, Xb, yb, gb = split
    seen = {}

    class Plain:
        def fit(self, X, y, groups=None):
            seen["plain"] = groups is not None
            return self

    class Curves:
        def fit(self, X, y, groups=None, eval_set=None):
            seen["curves"] = len(eval_set)
            return self

    _fit(Plain(), Xa, ya, ga, (Xb, yb, gb))
    _fit(Curves(), Xa, ya, ga, (Xb, yb, gb))
    assert seen == {"plain": True, "curves": 3}


def test_compare_history_holds_a_held_out_row_per_epoch(trained, split):
    from almo.comparison.run import _history

    *_, Xb, yb, gb = split
    held = trained.objective_losses(Xb, yb, gb)
    h = _history(trained, trained.scales_, held.normalized)
    assert h["held_out_epochs"] == h["epochs"] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(h["held_out"], trained.history_.held_out_curve(), rtol=1e-12)
    np.testing.assert_allclose(h["held_out"][-1], held.normalized, rtol=1e-10)


def test_epoch_plot_legend_says_which_split_each_line_is():
    from almo.plots import plot_epoch_losses

    curves = plot_epoch_losses([1, 2, 3], np.ones((3, 2)), np.ones((3, 2)), ["a", "b"])
    assert curves.legends[0].get_title().get_text().endswith("dashed: held-out split")
    point = plot_epoch_losses(
        [1, 2, 3], np.ones((3, 2)), np.ones((1, 2)), ["a", "b"], held_out_epochs=[3]
    )
    assert point.legends[0].get_title().get_text().endswith("◆: held-out split")
