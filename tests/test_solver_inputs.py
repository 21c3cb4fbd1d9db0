"""solve_linear rejects bad input with an ALMOValueError naming the offending argument.

Every message built by ``almo._validation.fail`` starts with "`<argument>` must", so each case
checks *which* argument the error blames, not just that something failed.
"""

from __future__ import annotations

import numpy as np
import pytest

from almo import ObjectiveFamily
from almo._validation import ALMOValueError
from almo.losses import Loss, make_loss
from almo.mixtures import BoxSimplex, Simplex
from almo.solvers import solve_linear

X6 = np.arange(12.0).reshape(6, 2) / 10.0
Y6 = np.array([0, 1, 0, 1, 1, 0])
YR6 = np.linspace(-1.0, 1.0, 6)


def _call(**kwargs):
    base = dict(X=X6, y=Y6, losses="log_loss", l2=0.1)
    base.update(kwargs)
    return solve_linear(**base)


def _raises(argument, **kwargs):
    with pytest.raises(ALMOValueError, match=rf"^`{argument}` must") as info:
        _call(**kwargs)
    return str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(bad):
    X = X6.copy()
    X[3, 1] = bad
    msg = _raises("X", X=X)
    assert "[[3, 1]]" in msg and "Fix:" in msg


@pytest.mark.parametrize(
    "X", [np.arange(6.0), np.zeros((0, 2)), np.zeros((6, 0)), np.zeros((6, 2, 1)), [["a", "b"]] * 6]
)
def test_X_of_wrong_shape_or_kind(X):
    _raises("X", X=X)


@pytest.mark.parametrize(
    "y", [np.array([0, 1, 0]), np.zeros((6, 2), dtype=int), np.array(1), np.zeros(7, dtype=int)]
)
def test_y_of_wrong_shape(y):
    assert "shape (6,)" in _raises("y", y=y)


def test_y_column_vector_is_accepted():
    a = _call(y=Y6[:, None])
    b = _call()
    assert a.value == pytest.approx(b.value, abs=1e-12)


@pytest.mark.parametrize(
    ("losses", "y", "fragment"),
    [
        ("log_loss", YR6, "integer class labels"),
        (["hinge", "squared"], YR6, "integer class labels"),
        ("absolute", Y6, "floating regression targets"),
        (["huber", "squared"], Y6, "floating regression targets"),
        ("log_loss", np.zeros(6, dtype=int), "at least two classes"),
        ("log_loss", np.array(["a"] * 6), "at least two classes"),
        ("squared", np.r_[YR6[:5], np.nan], "finite regression targets"),
        ("huber", np.r_[YR6[:5], np.inf], "finite regression targets"),
    ],
)
def test_y_of_the_wrong_kind(losses, y, fragment):
    assert fragment in _raises("y", losses=losses, y=y)


@pytest.mark.parametrize(
    "losses",
    [
        ["log_loss", "absolute"],
        ["hinge", "huber"],
        ["squared_hinge", make_loss("pinball", tau=0.3)],
    ],
)
@pytest.mark.parametrize("y", [Y6, YR6])
def test_mixed_classification_and_regression_losses(losses, y):
    # The task mix is reported as such, whatever y holds.
    assert "all classification or all regression" in _raises("losses", losses=losses, y=y)


@pytest.mark.parametrize(
    "loss", ["brier", "focal", "zero_one", make_loss("focal", gamma=0.5), ["log_loss", "brier"]]
)
def test_non_convex_losses(loss):
    msg = _raises("losses", losses=loss)
    assert "convex in the weights" in msg and "MinimaxTrainer" in msg


def test_custom_losses_are_rejected():
    cube = Loss("cube", lambda out, y: (out - y).abs() ** 3, convex_for_linear=True)
    msg = _raises("losses", losses=["squared", cube], y=YR6)
    assert "'cube'" in msg and "custom losses need MinimaxTrainer" in msg


@pytest.mark.parametrize("losses", [[], (), 3, None])
def test_empty_or_non_list_losses(losses):
    _raises("losses", losses=losses)


@pytest.mark.parametrize(
    "ms", [Simplex(2), BoxSimplex(lower=[0.0] * 3, upper=[1.0] * 3), np.array([1.0]), "simplex"]
)
def test_mixture_set_of_the_wrong_size_or_type(ms):
    assert "MixtureSet over p = 1" in _raises("mixture_set", mixture_set=ms)


def test_mixture_set_size_counts_groups():
    # 2 losses × 3 groups = 6 objectives: a Simplex(2) over the losses alone is wrong.
    msg = _raises(
        "mixture_set",
        losses=["log_loss", "squared"],
        groups=[0, 1, 2, 0, 1, 2],
        mixture_set=Simplex(2),
    )
    assert "p = 6" in msg


@pytest.mark.parametrize("method", ["fast", "", None, "CVXPY"])
def test_bad_method(method):
    _raises("method", method=method)


@pytest.mark.parametrize("tol", [0.0, -1e-6, np.nan, np.inf, "small"])
def test_bad_tol(tol):
    _raises("tol", tol=tol)


@pytest.mark.parametrize("max_iter", [0, -3, 2.5, True])
def test_bad_max_iter(max_iter):
    _raises("max_iter", max_iter=max_iter)


@pytest.mark.parametrize("l2", [-0.1, np.nan, np.inf, "none"])
def test_bad_l2(l2):
    _raises("l2", l2=l2)


@pytest.mark.parametrize(
    "groups",
    [
        np.zeros(5, dtype=int),
        np.zeros((6, 2), dtype=int),
        np.linspace(0, 1, 6),
        np.array([True] * 6),
        np.zeros(7, dtype=int),
    ],
)
def test_groups_of_the_wrong_shape_or_dtype(groups):
    assert "shape (6,)" in _raises("groups", groups=groups)


def test_negative_group_ids():
    _raises("groups", groups=np.array([0, 1, -1, 0, 1, 0]))


def test_empty_declared_group():
    # Integer ids declare groups 0..max: group1 has no rows.
    msg = _raises("groups", losses=["log_loss", "squared"], groups=[0, 2, 0, 2, 2, 0])
    assert "log_loss@group1" in msg and "squared@group1" in msg
    assert "log_loss@group0" not in msg


def test_empty_group_of_a_family():
    family = ObjectiveFamily(["log_loss"], groups=3)
    assert "log_loss@group2" in _raises("groups", losses=family, groups=[0, 1, 0, 1, 1, 0])


def test_string_groups_are_labels_not_ids():
    sol = _call(groups=np.array(["b", "a", "b", "a", "a", "b"]))
    assert sol.names == ("log_loss@a", "log_loss@b")


@pytest.mark.parametrize("normalize", ["initial", [1.0], np.ones(1)])
def test_family_with_normalize(normalize):
    family = ObjectiveFamily(["log_loss"])
    assert "ObjectiveFamily" in _raises("normalize", losses=family, normalize=normalize)


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [
        (None, "one group id per sample"),
        (np.array(["a", "b"] * 3), "integer group ids"),
        (np.array([0, 1, 2, 0, 1, 0]), "lie in [0, 1]"),
        (np.array([0, 1, -1, 0, 1, 0]), "lie in [0, 1]"),
    ],
)
def test_family_group_ids(groups, fragment):
    family = ObjectiveFamily(["log_loss"], groups=2)
    assert fragment in _raises("groups", losses=family, groups=groups)


def test_family_without_groups_rejects_group_ids():
    family = ObjectiveFamily(["log_loss", "squared"])
    _raises("groups", losses=family, groups=np.zeros(6, dtype=int))


def test_family_normalization_length():
    with pytest.raises(ALMOValueError, match=r"^`normalize` must"):
        ObjectiveFamily(["log_loss", "squared"], normalize=[1.0])
    _raises("normalize", losses=["log_loss", "squared"], normalize=[1.0])


def test_dual_newton_needs_smooth_losses_and_l2():
    msg = _raises("method", losses=["log_loss", "hinge"], method="dual_newton")
    assert "hinge" in msg
    msg = _raises("method", method="dual_newton", l2=0.0, y=np.array([0, 0, 0, 1, 1, 1]))
    assert "separable" in msg and "l2 > 0" in msg


def test_valid_family_solves_like_the_shorthand():
    family = ObjectiveFamily(["log_loss", "squared"], groups=2)
    groups = np.array([0, 1, 0, 1, 1, 0])
    a = _call(losses=family, groups=groups)
    b = _call(losses=["log_loss", "squared"], groups=groups)
    assert a.names == b.names
    assert a.value == pytest.approx(b.value, abs=1e-7)
