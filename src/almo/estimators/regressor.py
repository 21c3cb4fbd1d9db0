"""ALMORegressor: a scikit-learn regressor trained against the worst mixture of objectives."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from almo._validation import fail
from almo.estimators._base import ALMOEstimator
from almo.estimators._data import check_finite
from almo.estimators._docs import ATTRIBUTES, PARAMETERS
from almo.estimators._paths import FitResult

_DOC = """Regressor trained against the worst mixture λ ∈ Λ of several objectives (ALMO).

Each loss (and each group of rows, with ``groups``) is one objective; the model minimizes
max over λ ∈ Λ of Σ_k λ_k (ℓ_k + r_k). A linear model with convex losses is solved exactly and
certified (:func:`almo.solve_linear`); other models train with :class:`almo.MinimaxTrainer`.

The losses see standardized targets (y − mean) / std of the training targets, and the model's
standardized predictions: ``objective_losses`` reports raw values in those units (squared errors
in variances, absolute errors in standard deviations, huber's ``delta`` in standard
deviations), so ``alpha``, ``beta`` and the scales do not depend on the units of y. ``predict``,
``coef_`` and ``intercept_`` are in the units of y.

Parameters
----------{parameters}
Attributes
----------{attributes}
Examples
--------
>>> import numpy as np
>>> from almo.estimators import ALMORegressor
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3))
>>> y = 10.0 + X @ np.array([1.0, -2.0, 0.5]) + 0.5 * rng.standard_t(3, size=200)
>>> reg = ALMORegressor().fit(X, y)
>>> reg.objective_names_, reg.certificate_.status
(('squared', 'absolute'), 'optimal')
>>> bool(np.abs(reg.coef_ - [1.0, -2.0, 0.5]).max() < 0.15), round(reg.intercept_, 1)
(True, 10.0)
"""


class ALMORegressor(RegressorMixin, ALMOEstimator):
    __doc__ = _DOC.format(
        parameters=PARAMETERS.format(losses='("squared", "absolute")', hidden="(64,)", beta="0.01"),
        attributes=ATTRIBUTES.format(coef="(d,) and a float."),
    )
    _task = "regression"

    def __init__(
        self,
        losses: Any = ("squared", "absolute"),
        *,
        mixture_set: Any = "simplex",
        weight_rule: Any = "auto",
        model: Any = "linear",
        penalty: Any = "rademacher",
        beta: Any = 0.01,
        alpha: float = 1e-3,
        normalize: Any = True,
        max_epochs: int = 100,
        batch_size: Any = "auto",
        learning_rate: float = 1e-2,
        center: bool = True,
        method: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
        device: Any = None,
    ) -> None:
        super().__init__(
            losses,
            mixture_set=mixture_set,
            weight_rule=weight_rule,
            model=model,
            penalty=penalty,
            beta=beta,
            alpha=alpha,
            normalize=normalize,
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            center=center,
            method=method,
            random_state=random_state,
            verbose=verbose,
            device=device,
        )

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        y = np.asarray(y, dtype=np.float64)
        self.target_mean_ = float(np.mean(y))
        std = float(np.std(y))
        self.target_scale_ = std if std > 0 and np.isfinite(std) else 1.0
        return (y - self.target_mean_) / self.target_scale_, 1

    def _targets_for_eval(self, y: np.ndarray) -> np.ndarray:
        try:
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise fail("y", "hold real numbers", y.dtype, "pass numeric targets") from None
        check_finite(values.reshape(-1, 1), "y")
        return (values - self.target_mean_) / self.target_scale_

    def _scores(self, X: np.ndarray) -> np.ndarray:
        """Predictions in standardized target units (what the losses see)."""
        if self.module_ is not None:
            return super()._scores(X)
        return (X @ self.coef_ + self.intercept_ - self.target_mean_) / self.target_scale_

    def _store_linear(self, res: FitResult) -> None:
        assert res.coef is not None and res.intercept is not None
        # The model was fitted on standardized targets: back to the units of y.
        coef = np.asarray(res.coef, dtype=np.float64).reshape(-1)
        intercept = float(np.asarray(res.intercept).reshape(-1)[0])
        self.coef_ = self.target_scale_ * coef
        self.intercept_ = self.target_scale_ * intercept + self.target_mean_

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (n,), in the units of y."""
        scores = self._scores(self._check_X(X))  # checks the fit first
        return self.target_mean_ + self.target_scale_ * scores
