"""scikit-learn's own estimator checks, on both training paths.

No check is expected to fail: ``expected_failed_checks`` is empty for every configuration.
(pandas is not a dependency, so the DataFrame checks skip themselves.)
"""

import warnings

import pytest
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from almo.estimators import ALMOClassifier, ALMORegressor

ESTIMATORS = [
    ALMOClassifier(),
    ALMORegressor(),
    # The trainer path, kept fast: a few epochs are enough for the checks' easy data.
    ALMOClassifier(method="trainer", max_epochs=5, random_state=0),
    ALMORegressor(model=(8,), max_epochs=10, batch_size=32, learning_rate=0.05, random_state=0),
]


@pytest.fixture(autouse=True)
def _quiet_skips():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkipTestWarning)
        yield


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: {})
def test_sklearn_compatible(estimator, check):
    check(estimator)
