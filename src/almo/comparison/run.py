"""``compare``: ALMO against fixed-weight ensembles on the same data, split, scales and seeds.

For each seed: one stratified train/held-out split, features standardized on the training
split; then for each model family ("linear", "mlp", hidden sizes) the ALMO estimator is fitted
first and its scales (calibrated on the training split) are handed to every other arm of the
seed — uniform λ, each objective alone, the rest of the fixed-λ sweep — so that every worst
case of the seed is measured in the same units. All arms of a (seed, family) start from the
same seeded model. Each fitted model is evaluated on both splits through the estimator's
``objective_losses``; the worst case is then taken over the compared Λ for every arm (fixed
arms train on their own λ, which need not lie in Λ).

Linear models fitted exactly come with a certificate of the minimax optimum on the training
split; each linear arm's gap to it is its training penalized worst case minus the certified
lower bound.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from almo._validation import fail
from almo.comparison.arms import check_fixed, describe_fixed, fixed_arms
from almo.comparison.report import Arm, ComparisonReport, Run
from almo.estimators import ALMOClassifier, ALMORegressor
from almo.mixtures import BoxSimplex, MixtureSet, Simplex
from almo.report import ObjectiveReport

__all__ = ["DEFAULT_LOSSES", "DEFAULT_MODELS", "compare", "resolve_task"]

DEFAULT_LOSSES = ("log_loss", "hinge", "squared")
DEFAULT_MODELS = ("linear", "mlp")
#: Most recorded steps kept per training curve in the report (evenly subsampled).
MAX_CURVE_POINTS = 400


def resolve_task(y: np.ndarray, losses: Sequence[Any], task: str = "auto") -> str:
    """ "classification" or "regression": from ``task``, else the losses, else the target.

    A loss made only for one task decides; with losses good for both (squared), a target of
    strings, booleans or at most 50 distinct integers is a classification target.

    Examples
    --------
    >>> import numpy as np
    >>> resolve_task(np.array([0.5, 1.5, 2.25]), ["squared"])
    'regression'
    >>> resolve_task(np.array([0, 1, 1]), ["squared", "hinge"])
    'classification'
    """
    if task in ("classification", "regression"):
        return task
    if task != "auto":
        raise fail("task", "be 'auto', 'classification' or 'regression'", task, "pass 'auto'")
    from almo.losses import LOSSES

    tasks = {getattr(LOSSES.get(str(getattr(s, "name", s))), "task", "both") for s in losses}
    if "classification" in tasks:
        return "classification"
    if "regression" in tasks:
        return "regression"
    if y.dtype.kind in "OUSb":
        return "classification"
    values = np.unique(y)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return "classification" if integral and len(values) <= 50 else "regression"


def _mixture(spec: Any, p: int) -> MixtureSet:
    if isinstance(spec, MixtureSet):
        if spec.p != p:
            raise fail("mixture_set", f"have p = {p} objectives", spec.p, f"build it for p={p}")
        return spec
    if isinstance(spec, str) and spec == "simplex":
        return Simplex(p)
    if isinstance(spec, tuple | list) and len(spec) == 2:
        lower, upper = spec
        if np.ndim(lower) == 0 and np.ndim(upper) == 0:
            lo, hi = float(lower), float(upper)
            if not (lo * p <= 1.0 + 1e-12 and hi * p >= 1.0 - 1e-12):
                raise fail(
                    "mixture_set",
                    f"hold a mixture of the p = {p} objectives: lower·p <= 1 <= upper·p",
                    f"({lo:g}, {hi:g}): {lo * p:g} <= 1 <= {hi * p:g} fails",
                    f"pass bounds with lower <= {1 / p:.4g} <= upper, or 'simplex'",
                )
            return BoxSimplex(lo, hi, p=p)
        return BoxSimplex(lower, upper)
    raise fail(
        "mixture_set",
        "be 'simplex', a MixtureSet, or box bounds (lower, upper)",
        spec,
        "pass mixture_set='simplex' or e.g. mixture_set=(0.1, 0.6)",
    )


def _seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise fail("seeds", "be >= 1 (a count) or a list of seeds", seeds, "pass seeds=3")
        return list(range(int(seeds)))
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        out = []
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise fail(
            "seeds", "be a count or distinct integers >= 0", seeds, "pass seeds=3 or [0, 1, 2]"
        )
    return out


def _split(
    n: int, y: np.ndarray, groups: np.ndarray | None, test_size: float, seed: int, strat: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Train/held-out indices: stratified on (group, class), else class, else not at all."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    candidates: list[np.ndarray | None] = []
    if strat:
        codes = np.unique(y, return_inverse=True)[1]
        if groups is not None:
            gcodes = np.unique(groups, return_inverse=True)[1]
            candidates.append(gcodes * (codes.max() + 1) + codes)
        candidates.append(codes)
    elif groups is not None:
        candidates.append(np.unique(groups, return_inverse=True)[1])
    candidates.append(None)
    for strata in candidates:
        try:
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
        except ValueError:  # a stratum too small for both sides
            continue
        return np.sort(tr), np.sort(te)
    raise fail(
        "test_size",
        "leave rows on both sides of the split",
        f"{test_size} of {n} rows",
        "pass e.g. test_size=0.3 and more rows",
    )


class _Progress:
    """tqdm over the fits in a terminal or notebook; one line per fit in a log; else quiet."""

    def __init__(self, total: int, verbose: bool) -> None:
        self.total, self.done, self.bar = total, 0, None
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        self.lines = bool(verbose) and not interactive
        if verbose and interactive:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="compare", unit="fit", dynamic_ncols=True)

    def update(self, run: Run) -> None:
        self.done += 1
        what = f"seed {run.seed} · {run.model} · {run.arm}"
        result = f"held-out worst case {run.held_out.worst_case:.4g} ({run.seconds:.1f} s)"
        if self.bar is not None:
            self.bar.set_postfix_str(f"{what}: {result}", refresh=False)
            self.bar.update(1)
        elif self.lines:
            print(f"compare [{self.done}/{self.total}] {what}: {result}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _estimator(task: str, params: dict[str, Any]) -> Any:
    cls = ALMOClassifier if task == "classification" else ALMORegressor
    return cls(**params)


def _fit(est: Any, X: np.ndarray, y: np.ndarray, groups: Any, eval_set: tuple[Any, ...]) -> Any:
    """``est.fit``, with the held-out split as ``eval_set`` when the estimator takes one."""
    try:
        takes_eval = "eval_set" in inspect.signature(est.fit).parameters
    except (TypeError, ValueError):  # a callable without a signature
        takes_eval = False
    if takes_eval:
        return est.fit(X, y, groups=groups, eval_set=eval_set)
    return est.fit(X, y, groups=groups)


def _history(est: Any, scales: np.ndarray, held_out: np.ndarray) -> dict[str, Any] | None:
    """Training curves of a model fitted by the torch trainer, in the shared scales.

    ``train``: per epoch, the training-split objectives of the model the estimator returns (the
    averaged iterate; the last one when there is no average), from the epoch's full evaluation
    pass, else the mean loss vector the λ steps saw. ``held_out``: per epoch, the same model's
    held-out objectives (the estimator's ``history_.held_out``, from ``eval_set``); an
    estimator that records none gives the fitted model's held-out values at the last epoch.
    """
    h = getattr(est, "history_", None)
    if h is None or not getattr(h, "epochs", None):
        return None
    fitted = np.asarray(getattr(est, "scales_", scales), np.float64)
    train = []
    for e in h.epochs:
        ev = e.averaged if e.averaged is not None else e.last
        if ev is not None:
            train.append(np.asarray(ev.raw, np.float64) / scales)
        else:  # normalized with the estimator's scales, penalty included
            train.append(np.asarray(e.train_losses, np.float64) * fitted / scales)
    held_reports = list(getattr(h, "held_out", None) or [])
    if len(held_reports) == len(h.epochs):
        held = [(np.asarray(r.raw, np.float64) / scales).tolist() for r in held_reports]
        held_epochs = [int(e.epoch) + 1 for e in h.epochs]
    else:
        held = [np.asarray(held_out, np.float64).tolist()]
        held_epochs = [int(h.epochs[-1].epoch) + 1]
    steps = list(h.steps)
    weights = np.asarray(h.step_weights)
    if len(steps) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(steps) - 1, MAX_CURVE_POINTS).round().astype(int))
        steps, weights = [steps[i] for i in keep], weights[keep]
    return {
        "epochs": [int(e.epoch) + 1 for e in h.epochs],
        "train": [v.tolist() for v in train],
        "held_out": held,
        "held_out_epochs": held_epochs,
        "steps": [int(s) for s in steps],
        "weights": weights.tolist(),
    }


def _certificate(est: Any) -> dict[str, float] | None:
    cert = getattr(est, "certificate_", None)
    if cert is None:
        return None

    def get(key: str) -> float | None:
        v = cert.get(key) if isinstance(cert, dict) else getattr(cert, key, None)
        return None if v is None else float(v)

    value, lower, gap = get("value"), get("lower_bound"), get("gap")
    if value is None:
        return None
    lower = value if lower is None else lower
    return {"value": value, "lower_bound": lower, "gap": value - lower if gap is None else gap}


def compare(
    X: Any,
    y: Any,
    groups: Any = None,
    *,
    losses: Sequence[Any] = DEFAULT_LOSSES,
    models: Sequence[Any] = DEFAULT_MODELS,
    mixture_set: Any = "simplex",
    weight_rule: Any = "auto",
    penalty: Any = "rademacher",
    normalize: bool = True,
    fixed: Any = "auto",
    seeds: Any = 3,
    test_size: float = 0.3,
    task: str = "auto",
    dataset: str = "data",
    estimator_params: dict[str, Any] | None = None,
    certify: bool = True,
    verbose: bool = False,
) -> ComparisonReport:
    """Train ALMO and fixed-weight ensembles on the same data, split, scales and seeds, and
    compare them on a held-out split.

    Parameters
    ----------
    X : array (n, d)
        Features (finite numbers).
    y : array (n,)
        Class labels (classification) or numbers (regression).
    groups : array (n,), optional
        Group of each row: each loss then gives one objective per group.
    losses : sequence of loss specs, default ("log_loss", "hinge", "squared")
    models : sequence, default ("linear", "mlp")
        Model families: "linear", "mlp", or a tuple of hidden layer sizes.
    mixture_set : "simplex", MixtureSet or (lower, upper), default "simplex"
        Λ: ALMO trains against its worst case, and every arm's worst case is taken over it.
    weight_rule : "auto" or WeightRule
        How ALMO moves λ (see the estimators).
    penalty : "rademacher" (default), "none", or a RademacherPenalty
        The estimators' complexity penalty (its β: ``estimator_params={"beta": ...}``).
    normalize : bool, default True
        Divide each objective by its scale, calibrated once per seed by the first ALMO fit and
        shared by every arm of the seed. False: raw losses.
    fixed : str or array (K, p), default "auto"
        The fixed-λ sweep beyond uniform and single objectives (see
        :func:`~almo.comparison.arms.fixed_arms`).
    seeds : int or sequence of int, default 3
        A count (seeds 0, 1, ...) or the seeds: each gives a new split and model initialization.
    test_size : float, default 0.3
        Held-out fraction.
    task : "auto", "classification" or "regression"
    dataset : str
        Name of the data in the report.
    estimator_params : dict, optional
        More parameters for every estimator: ``alpha``, ``max_epochs``, ``batch_size``,
        ``learning_rate``, ``method``, ``device``... (``method="trainer"`` trains linear
        models with the torch trainer too; ``"auto"`` solves them exactly when the losses are
        convex).
    certify : bool, default True
        For a linear family whose ALMO model was not solved exactly, solve the same minimax
        problem once per seed with the certified solver (one extra fit, not an arm) for the
        certified optimum and each linear model's gap to it.
    verbose : bool, default False
        Progress: a tqdm bar in a terminal or notebook, one line per fitted model otherwise.

    Returns
    -------
    ComparisonReport

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> rep = compare(
    ...     X,
    ...     y,
    ...     losses=["log_loss", "squared"],
    ...     models=["linear"],
    ...     seeds=1,
    ...     fixed="grid:2",
    ...     dataset="iris",
    ... )  # doctest: +SKIP
    >>> print(rep.table())  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2 or X_arr.shape[0] < 4:
        raise fail("X", "be a 2-D array with at least 4 rows", X_arr.shape, "pass X of (n, d)")
    if not np.all(np.isfinite(X_arr)):
        bad = int((~np.isfinite(X_arr)).any(axis=1).sum())
        raise fail("X", "be finite", f"{bad} rows with NaN or inf", "drop or impute those rows")
    y_arr = np.asarray(y)
    if y_arr.shape != (X_arr.shape[0],):
        raise fail("y", f"have shape ({X_arr.shape[0]},)", y_arr.shape, "pass one label per row")
    g_arr = None
    if groups is not None:
        g_arr = np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.int64)
        if g_arr.shape != y_arr.shape:
            raise fail("groups", f"have shape {y_arr.shape}", g_arr.shape, "one id per row")
    losses = list(losses)
    task = resolve_task(y_arr, losses, task)
    if task == "classification" and len(np.unique(y_arr)) < 2:
        raise fail("y", "hold at least 2 classes", np.unique(y_arr), "pass a target that varies")
    seed_list = _seeds(seeds)
    models = list(models)
    if not models:
        raise fail("models", "name at least one model family", models, "pass ['linear']")
    # The objectives are the losses × the groups: check what depends on their number now, not
    # after the first model has trained.
    p_expected = len(losses) * (1 if g_arr is None else len(np.unique(g_arr)))
    check_fixed(fixed, p_expected)
    _mixture(mixture_set, p_expected)
    from sklearn.preprocessing import StandardScaler

    common = {"losses": losses, "penalty": penalty, **(estimator_params or {})}
    runs: list[Run] = []
    names: list[str] | None = None
    arms: list[Arm] | None = None
    lam_set: MixtureSet | None = None
    progress: _Progress | None = None
    n_train = n_test = 0
    try:
        for seed in seed_list:
            tr, te = _split(len(y_arr), y_arr, g_arr, test_size, seed, task == "classification")
            scaler = StandardScaler().fit(X_arr[tr])
            X_tr, X_te = scaler.transform(X_arr[tr]), scaler.transform(X_arr[te])
            y_tr, y_te = y_arr[tr], y_arr[te]
            g_tr = None if g_arr is None else g_arr[tr]
            g_te = None if g_arr is None else g_arr[te]
            n_train, n_test = len(tr), len(te)
            scales: np.ndarray | None = None
            for model in models:
                model_name = model if isinstance(model, str) else _model_name(model)
                seed_runs: list[Run] = []
                cert: dict[str, float] | None = None
                k = 0  # the arms are known once the first fit has named the objectives
                while arms is None or k < len(arms):
                    arm = Arm("ALMO", "almo") if arms is None else arms[k]
                    k += 1
                    params = {**common, "model": model, "random_state": seed, "verbose": False}
                    if arm.kind == "almo":
                        params["mixture_set"] = mixture_set
                        params["weight_rule"] = weight_rule
                    else:
                        from almo.weights import FixedWeights

                        params["mixture_set"] = "simplex"
                        params["weight_rule"] = FixedWeights(np.array(arm.weights))
                    # The first ALMO fit of the seed calibrates; every later fit reuses its
                    # scales, so all worst cases of the seed are in the same units.
                    params["normalize"] = scales if normalize and scales is not None else normalize
                    start = time.perf_counter()
                    held_set = (X_te, y_te) if g_te is None else (X_te, y_te, g_te)
                    est = _fit(_estimator(task, params), X_tr, y_tr, g_tr, held_set)
                    seconds = time.perf_counter() - start
                    held_rep = est.objective_losses(X_te, y_te, groups=g_te)
                    train_rep = est.objective_losses(X_tr, y_tr, groups=g_tr)
                    if names is None:
                        names = list(held_rep.names)
                        lam_set = _mixture(mixture_set, len(names))
                        arms = fixed_arms(names, fixed)
                        progress = _Progress(len(seed_list) * len(models) * len(arms), verbose)
                    assert lam_set is not None and progress is not None
                    if scales is None:
                        scales = np.asarray(getattr(est, "scales_", held_rep.scales), np.float64)
                    held = ObjectiveReport.from_values(
                        names, held_rep.raw, scales, lam_set, counts=held_rep.counts
                    )
                    train = ObjectiveReport.from_values(
                        names,
                        train_rep.raw,
                        scales,
                        lam_set,
                        penalty=train_rep.penalty,
                        counts=train_rep.counts,
                    )
                    if arm.kind == "almo":
                        cert = _certificate(est)
                        if cert is None and certify and model == "linear":
                            shared = scales if normalize else False
                            exact = _estimator(
                                task, {**params, "method": "exact", "normalize": shared}
                            )
                            cert = _certificate(exact.fit(X_tr, y_tr, groups=g_tr))
                    fitted = np.asarray(getattr(est, "weights_", arm.weights), np.float64)
                    run = Run(
                        model_name,
                        arm.name,
                        seed,
                        held,
                        train,
                        float(est.score(X_te, y_te)),
                        tuple(fitted.tolist()),
                        None,
                        cert if arm.kind == "almo" else None,
                        seconds,
                        getattr(est, "n_iter_", None),
                        _history(est, scales, held.normalized),
                    )
                    seed_runs.append(run)
                    progress.update(run)
                if cert is not None:
                    seed_runs = [_with_gap(r, cert) for r in seed_runs]
                runs += seed_runs
    finally:
        if progress is not None:
            progress.close()
    assert names is not None and arms is not None and lam_set is not None
    config = {
        "dataset": dataset,
        "task": task,
        "objectives": names,
        "losses": [str(getattr(s, "name", s)) for s in losses],
        "groups": None if g_arr is None else [str(v) for v in np.unique(np.asarray(groups))],
        "mixture_set": repr(lam_set),
        "weight_rule": repr(weight_rule),
        "penalty": repr(penalty),
        "normalize": bool(normalize),
        "models": [m if isinstance(m, str) else _model_name(m) for m in models],
        "seeds": seed_list,
        "test_size": float(test_size),
        "n_train": n_train,
        "n_test": n_test,
        "n_features": int(X_arr.shape[1]),
        "score": "accuracy" if task == "classification" else "r2",
        "fixed": describe_fixed(fixed, len(names)),
        "estimator_params": {k: repr(v) for k, v in (estimator_params or {}).items()},
        "certify": bool(certify),
    }
    return ComparisonReport(config, arms, runs, time.perf_counter() - t0)


def _model_name(model: Any) -> str:
    try:
        return "mlp(" + ",".join(str(int(h)) for h in model) + ")"
    except (TypeError, ValueError):
        return repr(model)


def _with_gap(run: Run, cert: dict[str, float]) -> Run:
    from dataclasses import replace

    gap = run.train.penalized_worst_case - cert["lower_bound"]
    return replace(run, gap_to_optimum=float(gap) if math.isfinite(gap) else None)
