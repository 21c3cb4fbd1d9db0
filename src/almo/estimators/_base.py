"""What the classifier and the regressor share: ``fit``, the scores, the objective reports."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from almo._validation import fail
from almo.estimators._config import (
    Task,
    auto_batch_size,
    build_config,
    resolve_mixture_set,
    resolve_weight_rule,
)
from almo.estimators._data import (
    check_finite,
    encode_groups,
    group_names,
    make_family,
    targets_tensor,
    zero_model_scales,
)
from almo.estimators._paths import FitResult, Problem, fit_exact, fit_trainer
from almo.exceptions import ALMOValueError
from almo.report import ObjectiveReport

logger = logging.getLogger("almo.estimators")


class ALMOEstimator(BaseEstimator):
    """Shared machinery of :class:`ALMOClassifier` and :class:`ALMORegressor` (not public)."""

    _task: Task = "classification"

    def __init__(
        self,
        losses: Any = None,
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
        self.losses = losses
        self.mixture_set = mixture_set
        self.weight_rule = weight_rule
        self.model = model
        self.penalty = penalty
        self.beta = beta
        self.alpha = alpha
        self.normalize = normalize
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.center = center
        self.method = method
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # -- hooks of the two subclasses ----------------------------------------------------------
    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        """(targets for the losses, number of score columns); sets ``classes_`` if any."""
        raise NotImplementedError

    def _store_linear(self, res: FitResult) -> None:
        raise NotImplementedError

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, groups: Any = None, eval_set: Any = None) -> Any:
        """Train on (X, y), with one objective per loss and group; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features (scale them, e.g. with ``StandardScaler``: the ridge and
            the Rademacher penalty depend on their size).
        y : array-like of shape (n_samples,)
            Class labels (classifier) or real targets (regressor).
        groups : array-like of shape (n_samples,), optional
            A group label per row (numbers or strings): each loss then gives one objective per
            group (``"log_loss@group3"``), and the model is trained against the worst mixture
            of them. Routed by scikit-learn's metadata routing once requested with
            ``set_fit_request(groups=True)``.
        eval_set : tuple (X_eval, y_eval) or (X_eval, y_eval, groups_eval), optional
            Held-out data (never trained on). On the trainer path the fitted model (the
            averaged iterate) is evaluated on it at the end of every epoch:
            ``history_.held_out`` holds one :class:`~almo.ObjectiveReport` per epoch, beside
            the training data's in ``history_.epochs`` (``history_.held_out_curve()`` and
            ``history_.train_curve()`` give the normalized curves). Groups are required when
            ``groups`` is given, and every group needs rows. The exact path has no epochs: the
            set is checked, and ``objective_losses(X_eval, y_eval, groups_eval)`` gives its
            values.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from almo.estimators import ALMOClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = ALMOClassifier(method="trainer", max_epochs=4, random_state=0)
        >>> clf = clf.fit(X[::2], y[::2], groups=y[::2], eval_set=(X[1::2], y[1::2], y[1::2]))
        >>> len(clf.history_.held_out), clf.history_.held_out_curve().shape
        (4, (4, 6))
        """
        cfg = build_config(self, self._task)
        X, y = validate_data(
            self, X, y, ensure_all_finite=False, ensure_min_samples=2, dtype=np.float64
        )
        check_finite(X)
        targets, n_outputs = self._encode_targets(y)
        ids: np.ndarray | None = None
        names: list[str] | None = None
        labels: np.ndarray | None = None
        if groups is not None:
            labels, ids = encode_groups(groups, X.shape[0])
            names = group_names(labels)
        self.groups_ = labels
        held = None if eval_set is None else self._check_eval_set(eval_set)
        raw_family = make_family(cfg.losses, names, None)
        if cfg.normalize is True:
            scales = zero_model_scales(cfg.losses, names, targets, ids, n_outputs)
        elif cfg.normalize is False:
            scales = np.ones(raw_family.p)
        else:
            scales = np.asarray(cfg.normalize, dtype=np.float64)
            if scales.shape != (raw_family.p,):
                raise fail(
                    "normalize",
                    f"hold one scale per objective ({raw_family.p}: {raw_family.names[:4]}...)",
                    f"{scales.size} scales",
                    "pass normalize=True to take the zero model's values",
                )
        family = make_family(cfg.losses, names, scales)
        mixture_set = resolve_mixture_set(self.mixture_set, family.names)
        rule = resolve_weight_rule(self.weight_rule, mixture_set, family.names)
        problem = Problem(X, targets, ids, family, mixture_set, rule, n_outputs)
        if cfg.exact:
            res = fit_exact(problem, cfg.penalty, cfg.alpha)
        else:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            res = fit_trainer(
                problem,
                cfg.penalty,
                cfg.alpha,
                cfg.hidden,
                max_epochs=cfg.max_epochs,
                batch_size=auto_batch_size(X.shape[0])
                if cfg.batch_size is None
                else cfg.batch_size,
                learning_rate=cfg.learning_rate,
                seed=seed,
                verbose=bool(self.verbose),
                device=self.device,
                center=cfg.center,
                eval_data=held,
            )
        family.to("cpu")
        self.family_ = family
        self.mixture_set_ = mixture_set
        self.objective_names_ = tuple(family.names)
        self.scales_ = np.asarray(family.scale_array, dtype=np.float64).copy()
        self.weights_ = res.weights
        self.history_ = res.history
        self.n_iter_ = res.n_iter
        self.certificate_ = res.certificate
        self.solution_ = res.solution
        self.method_ = "exact" if cfg.exact else "trainer"
        self.module_ = res.module
        self.penalty_coefficients_ = (
            np.zeros(family.p) if res.penalty_coefficients is None else res.penalty_coefficients
        )
        self.penalty_ = np.zeros(family.p) if res.penalty is None else res.penalty
        if res.module is None:
            self._store_linear(res)
        logger.info(
            "fitted %s (%s path): λ max %.3f on %s",
            type(self).__name__,
            self.method_,
            float(self.weights_.max()),
            self.objective_names_[int(np.argmax(self.weights_))],
        )
        return self

    def _check_eval_set(self, eval_set: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(X, targets, group ids) of ``eval_set``, checked against the training data."""
        fix = (
            "pass eval_set=(X_test, y_test, groups_test)"
            if self.groups_ is not None
            else "pass eval_set=(X_test, y_test)"
        )
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise fail(
                "eval_set",
                "be a tuple (X, y) or (X, y, groups)",
                f"{type(eval_set).__name__} of length {len(eval_set)}"
                if isinstance(eval_set, (tuple, list))
                else type(eval_set).__name__,
                fix,
            )
        X_e, y_e = eval_set[0], eval_set[1]
        g_e = eval_set[2] if len(eval_set) == 3 else None
        try:
            X_e = validate_data(self, X_e, reset=False, ensure_all_finite=False, dtype=np.float64)
        except ValueError as exc:
            raise fail("eval_set", "hold features like X's", str(exc), fix) from None
        check_finite(X_e, "eval_set")
        y_arr = np.asarray(y_e)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = y_arr[:, 0]
        if y_arr.shape != (X_e.shape[0],):
            raise fail(
                "eval_set",
                f"hold one target per row of its X ({X_e.shape[0]})",
                f"targets of shape {y_arr.shape}",
                fix,
            )
        try:
            targets = self._targets_for_eval(y_arr)
        except ALMOValueError as exc:
            raise fail("eval_set", "hold targets like fit's y", str(exc), fix) from None
        ids = None
        if self.groups_ is None:
            if g_e is not None:
                raise fail(
                    "eval_set",
                    "hold no groups: the model is fitted without groups",
                    "group labels",
                    "pass eval_set=(X_test, y_test), or groups=... to fit",
                )
        else:
            if g_e is None:
                raise fail(
                    "eval_set",
                    "hold the rows' groups: the model is fitted with groups",
                    "(X, y) only",
                    fix,
                )
            try:
                _, ids = encode_groups(g_e, X_e.shape[0], known=self.groups_)
            except ALMOValueError as exc:
                raise fail(
                    "eval_set", "hold group labels like fit's groups", str(exc), fix
                ) from None
            missing = np.setdiff1d(np.arange(len(self.groups_)), ids)
            if missing.size:
                raise fail(
                    "eval_set",
                    "hold rows of every group (each objective needs a value)",
                    f"no rows of groups {self.groups_[missing].tolist()[:6]}",
                    "hold out a split stratified by group",
                )
        return X_e, targets, ids

    # -- scores -------------------------------------------------------------------------------
    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite=False, dtype=np.float64)
        check_finite(X)
        return X

    def _scores(self, X: np.ndarray) -> np.ndarray:
        """Model outputs: (n,) for regression and binary, (n, C) for multiclass."""
        if self.module_ is not None:
            with torch.no_grad():
                out = self.module_(torch.from_numpy(np.array(X, dtype=np.float64))).numpy()
            return out[:, 0] if out.shape[1] == 1 else out
        coef = np.asarray(self.coef_)
        if coef.ndim == 1:  # regression
            return X @ coef + float(self.intercept_)
        scores = X @ coef.T + np.asarray(self.intercept_)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    # -- objectives ---------------------------------------------------------------------------
    def objective_losses(self, X: Any, y: Any, groups: Any = None) -> ObjectiveReport:
        """The fitted model's objectives on (X, y): raw, normalized with the fitted scales, the
        worst case over the fitted Λ and the λ* attaining it.

        Parameters
        ----------
        X, y : array-like
            Data to evaluate on — held-out data for what the model learned.
        groups : array-like of shape (n_samples,), optional
            Group labels, required when the model was fitted with groups; every fitted group
            must have rows here (an objective without data has no value).

        Returns
        -------
        ObjectiveReport
            ``raw``, ``normalized`` (raw / ``scales_``), ``penalty`` (the model's r_k, the same
            on any data), ``worst_case`` and ``weights`` (λ*), in ``objective_names_`` order.
        """
        X = self._check_X(X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != (X.shape[0],):
            raise fail(
                "y",
                f"hold one target per row of X ({X.shape[0]})",
                f"shape {y.shape}",
                "pass y of the same length as X",
            )
        targets = self._targets_for_eval(y)
        ids = None
        if self.groups_ is not None:
            if groups is None:
                raise fail(
                    "groups",
                    "be given: the model was fitted with groups",
                    None,
                    "pass the rows' group labels, groups=...",
                )
            _, ids = encode_groups(groups, X.shape[0], known=self.groups_)
        elif groups is not None:
            raise fail(
                "groups",
                "be None: the model was fitted without groups",
                "group labels",
                "drop groups=..., or refit with groups",
            )
        scores = torch.from_numpy(np.ascontiguousarray(self._scores(X), dtype=np.float64))
        batch = self.family_.batch(
            scores, targets_tensor(targets), None if ids is None else torch.from_numpy(ids)
        )
        counts = np.asarray(batch.total_counts)
        if np.any(counts == 0):
            missing = [n for n, c in zip(self.objective_names_, counts, strict=True) if c == 0]
            raise fail(
                "groups",
                "give every fitted group at least one row",
                f"no rows for {missing[:6]}",
                "evaluate on data holding every group (e.g. a split stratified by group)",
            )
        return ObjectiveReport.from_values(
            self.objective_names_,
            batch.means(normalized=False),
            self.scales_,
            self.mixture_set_,
            penalty=self.penalty_,
            counts=counts,
        )

    def worst_case_loss(self, X: Any, y: Any, groups: Any = None) -> float:
        """max over λ ∈ Λ of ⟨λ, normalized objectives⟩ on (X, y) (no penalty): the number
        ALMO minimizes, measured on the data given."""
        return float(self.objective_losses(X, y, groups).worst_case)

    def _targets_for_eval(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "weights_")
