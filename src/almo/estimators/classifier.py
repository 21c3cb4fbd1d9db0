"""ALMOClassifier: a scikit-learn classifier trained against the worst mixture of objectives."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from almo._validation import fail
from almo.estimators._base import ALMOEstimator
from almo.estimators._docs import ATTRIBUTES, PARAMETERS
from almo.estimators._paths import FitResult

_DOC = """Classifier trained against the worst mixture λ ∈ Λ of several objectives (ALMO).

Each loss (and each group of rows, with ``groups``) is one objective; the model minimizes
max over λ ∈ Λ of Σ_k λ_k (ℓ_k + r_k), the worst case over the mixtures in Λ, instead of one
fixed weighting. A linear model with convex losses is solved exactly and certified
(:func:`almo.solve_linear`); other models train with :class:`almo.MinimaxTrainer`. The public
behaviour is the same either way.

Parameters
----------{parameters}
Attributes
----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in score-column order.{attributes}
Notes
-----
``predict_proba`` is the sigmoid (binary) or softmax (multiclass) of the scores. It is a
probability model fitted by maximum likelihood when ``log_loss`` is among the losses (under the
ALMO weighting); with margin losses only (hinge...) it is a monotone map of the scores, ranked
like ``decision_function`` but not calibrated.

Examples
--------
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.preprocessing import StandardScaler
>>> from almo.estimators import ALMOClassifier
>>> X, y = load_breast_cancer(return_X_y=True)
>>> X = StandardScaler().fit_transform(X)
>>> clf = ALMOClassifier().fit(X, y, groups=y)  # one objective per loss and class
>>> clf.objective_names_
('log_loss@group0', 'log_loss@group1', 'squared@group0', 'squared@group1')
>>> clf.method_, clf.certificate_.status, bool(clf.score(X, y) > 0.95)
('exact', 'optimal', True)
>>> bool(clf.worst_case_loss(X, y, groups=y) <= clf.certificate_.value)
True
"""


class ALMOClassifier(ClassifierMixin, ALMOEstimator):
    __doc__ = _DOC.format(
        parameters=PARAMETERS.format(losses='("log_loss", "squared")', hidden="(64,)", beta="0.1"),
        attributes=ATTRIBUTES.format(
            coef="(1, d) and (1,) for two classes (scikit-learn's layout), (C, d) and (C,) "
            "otherwise."
        ),
    )
    _task = "classification"

    def __init__(
        self,
        losses: Any = ("log_loss", "squared"),
        *,
        mixture_set: Any = "simplex",
        weight_rule: Any = "auto",
        model: Any = "linear",
        penalty: Any = "rademacher",
        beta: Any = 0.1,
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
        check_classification_targets(y)
        classes, ids = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise fail(
                "y",
                "hold at least 2 classes",
                f"1 class ({classes.tolist()})",
                "fit on data with rows of every class (check the split or the labels)",
            )
        self.classes_ = classes
        return ids.astype(np.int64), 1 if classes.size == 2 else int(classes.size)

    def _targets_for_eval(self, y: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(self.classes_, y), 0, self.classes_.size - 1)
        unknown = self.classes_[pos] != y
        if unknown.any():
            raise fail(
                "y",
                f"hold only the classes seen in fit ({self.classes_.tolist()[:10]})",
                f"unseen labels {np.unique(y[unknown]).tolist()[:6]}",
                "evaluate on labels the model was trained on",
            )
        return pos.astype(np.int64)

    def _store_linear(self, res: FitResult) -> None:
        assert res.coef is not None and res.intercept is not None
        self.coef_ = np.atleast_2d(np.asarray(res.coef, dtype=np.float64))
        self.intercept_ = np.atleast_1d(np.asarray(res.intercept, dtype=np.float64))

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores: shape (n,) for two classes (> 0 means ``classes_[1]``), else (n, C)."""
        return self._scores(self._check_X(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, C): sigmoid or softmax of the scores (see the notes)."""
        s = self.decision_function(X)
        if s.ndim == 1:
            p1 = expit(s)
            return np.column_stack([1.0 - p1, p1])
        return np.asarray(softmax(s, axis=1))

    def predict(self, X: Any) -> np.ndarray:
        """The class of the largest score (``classes_[1]`` when the binary score is > 0)."""
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else np.argmax(s, axis=1)
        return np.asarray(self.classes_[idx])
