"""scikit-learn estimators: :class:`ALMOClassifier` and :class:`ALMORegressor`.

They train one model against the worst mixture of several objectives — losses, groups of rows,
or both — and follow scikit-learn's contract: parameters stored untouched, checked in ``fit``;
``fit(X, y, groups=None)`` with ``groups`` routed through metadata routing
(``set_fit_request(groups=True)``) in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``;
``predict``, ``score`` and, beyond scikit-learn, ``objective_losses`` (an
:class:`~almo.ObjectiveReport`: raw and normalized objectives, the worst case over Λ and λ*)
and ``worst_case_loss``.

A fixed-weight ensemble — the baseline of every comparison — is the same estimator with
``weight_rule=FixedWeights(λ)``: same data checks, same scales, same model.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.model_selection import train_test_split
>>> from sklearn.preprocessing import StandardScaler
>>> from almo import FixedWeights
>>> from almo.estimators import ALMOClassifier
>>> X, y = load_breast_cancer(return_X_y=True)
>>> X = StandardScaler().fit_transform(X)
>>> Xa, Xb, ya, yb = train_test_split(X, y, random_state=0, stratify=y)
>>> almo = ALMOClassifier().fit(Xa, ya, groups=ya)
>>> uniform = ALMOClassifier(weight_rule=FixedWeights(np.full(4, 0.25))).fit(Xa, ya, groups=ya)
>>> bool(almo.worst_case_loss(Xa, ya, ya) < uniform.worst_case_loss(Xa, ya, ya))  # training
True
>>> print(almo.objective_losses(Xb, yb, groups=yb).table(digits=2))  # held out
objective        raw normalized penalty   λ*
log_loss@group0 ...
worst case ...
"""

from almo.estimators._paths import Certificate
from almo.estimators.classifier import ALMOClassifier
from almo.estimators.regressor import ALMORegressor

__all__ = ["ALMOClassifier", "ALMORegressor", "Certificate"]
