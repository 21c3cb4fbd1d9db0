"""The estimators' parameters turned into library objects, each checked once in ``fit``.

scikit-learn stores parameters untouched in ``__init__``; everything here runs at the start of
``fit`` and fails early with a message naming the parameter, the rule, the value and a fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from almo._validation import check_integer, check_number, fail
from almo.complexity import RademacherPenalty
from almo.losses import Loss, resolve_loss
from almo.mixtures import BoxSimplex, MixtureSet, Simplex
from almo.weights import FixedWeights, WeightRule

Task = Literal["classification", "regression"]
#: Hidden layer sizes of ``model="mlp"``.
DEFAULT_HIDDEN = (64,)
METHODS = ("auto", "exact", "trainer")


@dataclass(frozen=True)
class Config:
    """The checked, resolved parameters of one ``fit``."""

    losses: tuple[Loss, ...]
    hidden: tuple[int, ...] | None  # None: a linear model
    penalty: RademacherPenalty | None
    alpha: float
    normalize: bool | np.ndarray
    max_epochs: int
    batch_size: int | None  # None: "auto", chosen from the number of rows
    learning_rate: float
    exact: bool  # the certified solver, else the trainer
    center: bool  # trainer path: centre the inputs (a reparametrization)


#: ``batch_size="auto"``: at least this many steps per epoch, batches of at most AUTO_BATCH rows.
AUTO_STEPS = 16
AUTO_BATCH = 128
AUTO_MIN_BATCH = 16


def auto_batch_size(n: int) -> int:
    """Rows per step for ``batch_size="auto"``: ``n / 16`` clipped to [16, 128].

    Small data sets then still take 16 steps per epoch (the trainer's step-size schedule and
    averaging count in steps), large ones batches of 128 rows.

    Examples
    --------
    >>> auto_batch_size(100), auto_batch_size(569), auto_batch_size(1797), auto_batch_size(10**6)
    (16, 36, 113, 128)
    """
    return int(min(AUTO_BATCH, max(AUTO_MIN_BATCH, -(-n // AUTO_STEPS))))


def resolve_losses(losses: Any, task: Task) -> tuple[Loss, ...]:
    """Loss objects for ``task``; unknown names and losses of the other task are refused."""
    if losses is None or (
        not isinstance(losses, (str, Loss, tuple, list)) and not callable(losses)
    ):
        raise fail(
            "losses",
            "be a loss name, a Loss, or a sequence of them",
            losses,
            "pass e.g. losses=('log_loss', 'hinge')"
            if task == "classification"
            else "pass e.g. losses=('squared', 'absolute')",
        )
    is_pair = (
        isinstance(losses, tuple)
        and len(losses) == 2
        and isinstance(losses[0], str)
        and callable(losses[1])
    )
    specs = [losses] if isinstance(losses, (str, Loss)) or is_pair else list(losses)
    if not specs:
        raise fail("losses", "hold at least one loss", losses, "pass e.g. losses=('log_loss',)")
    resolved = tuple(resolve_loss(s) for s in specs)
    other = "regression" if task == "classification" else "classification"
    wrong = [loss.name for loss in resolved if loss.task == other]
    if wrong:
        estimator = "ALMORegressor" if task == "classification" else "ALMOClassifier"
        example = "('log_loss', 'hinge')" if task == "classification" else "('squared', 'absolute')"
        raise fail(
            "losses",
            f"be {task} losses for this estimator",
            f"{other} losses {wrong}",
            f"pass e.g. losses={example}, or use {estimator} for {other}",
        )
    names = [loss.name for loss in resolved]
    if len(set(names)) != len(names):
        raise fail("losses", "have distinct names", names, "drop the repeated loss")
    return resolved


def resolve_model(model: Any) -> tuple[int, ...] | None:
    """None for ``"linear"``, the hidden layer sizes otherwise."""
    if isinstance(model, str):
        if model == "linear":
            return None
        if model == "mlp":
            return DEFAULT_HIDDEN
    elif isinstance(model, (tuple, list)) and model:
        return tuple(
            check_integer("model", h, "pass hidden layer sizes such as model=(64, 32)", low=1)
            for h in model
        )
    raise fail(
        "model",
        "be 'linear', 'mlp' or a non-empty tuple of hidden layer sizes",
        model,
        "pass model='linear', model='mlp' or e.g. model=(64, 32)",
    )


def resolve_penalty(
    penalty: Any, beta: Any, hidden: tuple[int, ...] | None
) -> RademacherPenalty | None:
    """The Rademacher penalty to fit (a fresh one each ``fit``), or None."""
    if penalty is None or (isinstance(penalty, str) and penalty == "none"):
        return None
    if isinstance(penalty, str) and penalty == "rademacher":
        if isinstance(beta, str) and beta == "bound":
            b: float | str = "bound"
        else:
            b = check_number("beta", beta, "pass e.g. beta=0.1, beta=0 or beta='bound'", low=0)
        return RademacherPenalty(beta=b, bound="linear" if hidden is None else "mlp")
    if isinstance(penalty, RademacherPenalty):
        # A copy: the estimator fits it, and must not change the user's parameter object.
        return RademacherPenalty(
            beta=penalty.beta,
            bound=penalty.bound,
            clip=penalty.clip,
            n_outputs=penalty.n_outputs,
        )
    raise fail(
        "penalty",
        "be 'rademacher', 'none' (or None), or a RademacherPenalty",
        penalty,
        "pass penalty='rademacher' (with beta=...) or penalty='none'",
    )


def resolve_normalize(normalize: Any) -> bool | np.ndarray:
    """True (scales of the zero model), False (no scaling) or the given positive scales."""
    if isinstance(normalize, (bool, np.bool_)):
        return bool(normalize)
    if isinstance(normalize, str) and normalize == "initial":
        return True
    try:
        arr = np.asarray(normalize, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise fail(
            "normalize",
            "be True, False, 'initial' or a vector of positive scales (one per objective)",
            normalize,
            "pass normalize=True",
        )
    return arr


def resolve_mixture_set(mixture_set: Any, names: Sequence[str]) -> MixtureSet:
    """Λ over the p objectives ``names``: the simplex, a MixtureSet, or box bounds (l, u)."""
    p = len(names)
    shown = ", ".join(names[:4]) + (", ..." if p > 4 else "")
    if isinstance(mixture_set, str) and mixture_set == "simplex":
        return Simplex(p)
    if isinstance(mixture_set, MixtureSet):
        if mixture_set.p != p:
            raise fail(
                "mixture_set",
                f"have p = {p} objectives ({shown})",
                f"a set over p = {mixture_set.p}",
                f"build it over {p} objectives, e.g. almo.Simplex({p}), or pass 'simplex'",
            )
        return mixture_set
    if isinstance(mixture_set, (tuple, list)) and len(mixture_set) == 2:
        lower, upper = mixture_set
        return BoxSimplex(lower=lower, upper=upper, p=p)
    raise fail(
        "mixture_set",
        "be 'simplex', an almo MixtureSet, or box bounds (lower, upper)",
        mixture_set,
        f"pass mixture_set='simplex' or e.g. mixture_set=(0.5 / {p}, 1.0)",
    )


def resolve_weight_rule(
    weight_rule: Any, mixture_set: MixtureSet, names: Sequence[str]
) -> WeightRule | None:
    """None for ``"auto"``; a WeightRule, with a FixedWeights λ checked against Λ."""
    if isinstance(weight_rule, str) and weight_rule == "auto":
        return None
    if not isinstance(weight_rule, WeightRule):
        raise fail(
            "weight_rule",
            "be 'auto' or an almo WeightRule",
            weight_rule,
            "pass weight_rule='auto', or e.g. almo.FixedWeights([...]) for a fixed-weight model",
        )
    if isinstance(weight_rule, FixedWeights):
        lam = np.asarray(weight_rule.weights, dtype=np.float64)
        p = len(names)
        if lam.shape != (p,):
            raise fail(
                "weight_rule",
                f"fix one weight per objective ({p}: {', '.join(names[:4])}"
                f"{', ...' if p > 4 else ''})",
                f"{lam.size} weights",
                f"pass FixedWeights(np.full({p}, 1 / {p})) for the uniform mixture",
            )
        if not mixture_set.contains(lam):
            raise fail(
                "weight_rule",
                "fix a λ inside the mixture set",
                lam,
                "pass weights that sum to 1 and respect the mixture set's bounds",
            )
    return weight_rule


def resolve_method(method: Any, losses: Sequence[Loss], hidden: tuple[int, ...] | None) -> bool:
    """True for the certified solver: "exact", or "auto" with a linear model and convex losses."""
    if not isinstance(method, str) or method not in METHODS:
        raise fail("method", f"be one of {METHODS}", method, "pass method='auto'")
    convex = hidden is None and all(loss.convex_for_linear for loss in losses)
    if method == "exact" and not convex:
        why = (
            f"model={hidden!r} is not linear"
            if hidden is not None
            else f"losses {[loss.name for loss in losses if not loss.convex_for_linear]} are not "
            "convex for a linear model"
        )
        raise fail(
            "method",
            "be 'auto' or 'trainer' unless the model is linear and every loss convex",
            why,
            "pass method='auto' (it trains with the MinimaxTrainer here)",
        )
    return method == "exact" or (method == "auto" and convex)


def build_config(est: Any, task: Task) -> Config:
    """Check every parameter of ``est`` that does not depend on the data."""
    losses = resolve_losses(est.losses, task)
    hidden = resolve_model(est.model)
    penalty = resolve_penalty(est.penalty, est.beta, hidden)
    alpha = check_number("alpha", est.alpha, "pass e.g. alpha=1e-3 (alpha=0: no ridge)", low=0)
    normalize = resolve_normalize(est.normalize)
    max_epochs = check_integer("max_epochs", est.max_epochs, "pass e.g. max_epochs=100", low=1)
    batch_size: int | None = None
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        batch_size = check_integer(
            "batch_size", est.batch_size, "pass e.g. batch_size=128 or batch_size='auto'", low=1
        )
    if not isinstance(est.center, (bool, np.bool_)):
        raise fail("center", "be True or False", est.center, "pass center=True")
    lr = check_number(
        "learning_rate", est.learning_rate, "pass e.g. learning_rate=1e-2", low=0, low_open=True
    )
    exact = resolve_method(est.method, losses, hidden)
    return Config(
        losses,
        hidden,
        penalty,
        alpha,
        normalize,
        max_epochs,
        batch_size,
        lr,
        exact,
        bool(est.center),
    )
