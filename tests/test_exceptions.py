"""The library's error and warning types: one module, a stable hierarchy, one warnings filter."""

import pickle
import warnings

import pytest
import sklearn.exceptions

import almo
from almo import _validation, exceptions
from almo.exceptions import (
    ALMOValueError,
    ConvergenceWarning,
    DivergenceError,
    NonFiniteLossError,
    SolverError,
)


@pytest.mark.parametrize(
    "error, bases",
    [
        (ALMOValueError, (ValueError,)),
        (NonFiniteLossError, (ALMOValueError, ValueError, FloatingPointError)),
        (DivergenceError, (ALMOValueError, ValueError, FloatingPointError)),
        (SolverError, (RuntimeError,)),
    ],
)
def test_hierarchy(error, bases):
    assert all(issubclass(error, base) for base in bases)
    assert error.__module__ == "almo.exceptions"
    assert error.__doc__ and error.__doc__.strip()


def test_solver_errors_are_not_value_errors():
    # A failed solve is not bad input: `except ValueError` must not swallow it.
    assert not issubclass(SolverError, ValueError)
    assert not issubclass(DivergenceError, NonFiniteLossError)
    assert not issubclass(NonFiniteLossError, DivergenceError)


def test_one_class_everywhere():
    assert ConvergenceWarning is sklearn.exceptions.ConvergenceWarning
    assert ConvergenceWarning is almo.ConvergenceWarning is almo.solvers.ConvergenceWarning
    assert _validation.ALMOValueError is ALMOValueError is almo.ALMOValueError
    assert _validation.NonFiniteLossError is NonFiniteLossError is almo.NonFiniteLossError
    assert almo.SolverError is SolverError and almo.DivergenceError is DivergenceError
    assert set(exceptions.__all__) == {
        "ALMOValueError",
        "ConvergenceWarning",
        "DivergenceError",
        "NonFiniteLossError",
        "ReproducibilityWarning",
        "SolverError",
    }
    from almo.train import checkpoint

    assert checkpoint.ReproducibilityWarning is exceptions.ReproducibilityWarning


def test_one_filter_covers_scikit_learn_and_almo():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", almo.ConvergenceWarning)
        warnings.warn("from almo", almo.ConvergenceWarning, stacklevel=1)
        warnings.warn("from sklearn", sklearn.exceptions.ConvergenceWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["from almo", "from sklearn"]


def test_fail_builds_the_standard_error():
    err = _validation.fail("tol", "be > 0", -1.0, "pass e.g. 1e-6")
    assert type(err) is ALMOValueError
    assert str(err) == "`tol` must be > 0; found -1.0. Fix: pass e.g. 1e-6"


def test_non_finite_losses_raise_the_named_error():
    with pytest.raises(NonFiniteLossError, match=r"objective 1") as info:
        _validation.check_finite_losses([0.1, float("inf")], where="step 3")
    assert isinstance(info.value, FloatingPointError) and "step 3" in str(info.value)


@pytest.mark.parametrize(
    "error", [ALMOValueError, NonFiniteLossError, DivergenceError, SolverError]
)
def test_errors_pickle(error):
    # Errors cross process boundaries (torch.distributed, joblib) intact.
    copy = pickle.loads(pickle.dumps(error("what failed. Fix: do this")))
    assert type(copy) is error and str(copy) == "what failed. Fix: do this"
