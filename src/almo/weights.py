"""Weight rules: how the adversary's mixture λ moves given the loss vector ℓ.

Every rule is a small immutable configuration object with two pure functions, in the style of
optax: ``state = rule.init(mixture_set)`` and ``state = rule.update(state, losses)``. Nothing is
mutated; the state holds λ (``state.weights``, float64, always inside Λ), the number of updates
taken (``state.step``) and the mixture set it lives in. States serialize to plain arrays for
checkpoints with ``state.to_arrays()`` and come back with ``rule.restore(arrays, mixture_set)``.

Rules
-----
- :class:`ProjectedAscent` — AFL: λ ← Π_Λ(λ + γ_t ℓ).
- :class:`ExponentiatedAscent` — Group DRO: q ← q·exp(η ℓ)/Z; with smoothing c, DoReMi:
  q ← (1−c)·q + c/p.
- :class:`FixedWeights` — the fixed-weight ensemble baseline: λ never moves.
- :class:`BestResponse` — λ ← argmax over Λ of ⟨λ, ℓ⟩.
- :class:`Averaged` — wraps any rule and keeps the running mean of its iterates.
- :class:`EveryK` — wraps any rule: one step every k updates, on the mean of the k loss vectors.
- :class:`HoldAbsent` — wraps any rule: an objective absent from a batch (``present=False``)
  enters the step at its last observed value instead of the batch's placeholder.

Every ``update`` takes ``present=`` (bool mask of shape (p,), objectives observed in the batch);
plain rules treat every entry as observed, :class:`HoldAbsent` acts on the mask.

Examples
--------
>>> import numpy as np
>>> from almo import Simplex
>>> from almo.weights import ProjectedAscent, Averaged
>>> rule = Averaged(ProjectedAscent(lr=0.5))
>>> state = rule.init(Simplex(3))
>>> state = rule.update(state, np.array([1.0, 0.0, 0.0]))
>>> np.round(state.weights, 4).tolist(), np.round(state.average, 4).tolist()
([0.6667, 0.1667, 0.1667], [0.5, 0.25, 0.25])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from almo._validation import (
    check_count,
    check_finite_losses,
    check_instance,
    check_positive,
    fail,
)
from almo.mixtures import MixtureSet

__all__ = [
    "Averaged",
    "AveragedState",
    "BestResponse",
    "EveryK",
    "EveryKState",
    "ExponentiatedAscent",
    "FixedWeights",
    "HoldAbsent",
    "HoldAbsentState",
    "ProjectedAscent",
    "WeightRule",
    "WeightState",
]


@dataclass(frozen=True)
class WeightState:
    """State of a weight rule: λ, the number of updates taken, and the set Λ.

    Attributes
    ----------
    weights : np.ndarray of shape (p,)
        The current mixture λ (float64), inside ``mixture_set``.
    step : int
        How many updates produced it (0 after ``init``).
    mixture_set : MixtureSet
        The set Λ the rule keeps λ in (not serialized: pass it to ``restore``).
    """

    weights: np.ndarray
    step: int
    mixture_set: MixtureSet = field(repr=False, compare=False)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for a checkpoint: ``{"weights": (p,), "step": ()}``."""
        return {"weights": self.weights.copy(), "step": np.asarray(self.step, dtype=np.int64)}

    @property
    def mean_weights(self) -> np.ndarray:
        """The averaged iterate when a wrapper keeps one (:class:`Averaged`), else ``weights``."""
        inner = getattr(self, "inner", None)
        return self.weights if inner is None else inner.mean_weights


@dataclass(frozen=True)
class AveragedState(WeightState):
    """State of :class:`Averaged`: the last iterate, the running average, the inner state.

    ``weights`` is the last iterate λ_t (what the learner plays against next); ``average`` is
    (λ_0 + … + λ_t)/(t + 1), the averaged iterate that carries the O(1/√T) duality-gap guarantee.
    """

    average: np.ndarray = field(default_factory=lambda: np.zeros(0))
    inner: WeightState | None = None

    @property
    def mean_weights(self) -> np.ndarray:
        """The running average (what ``average`` holds)."""
        return self.average

    def to_arrays(self) -> dict[str, np.ndarray]:
        return _nested(self, {"average": self.average.copy()})


def _as_loss_vector(losses: Any, p: int) -> np.ndarray:
    """Losses as a float64 numpy vector of length p; clear errors for wrong length or NaN/inf."""
    if hasattr(losses, "detach"):
        losses = losses.detach().cpu().numpy()
    arr = np.asarray(losses, dtype=np.float64)
    if arr.shape != (p,):
        raise fail(
            "losses",
            f"be a vector of shape ({p},), one entry per objective",
            f"shape {arr.shape}",
            f"pass exactly {p} per-objective losses",
        )
    if not np.isfinite(arr).all():  # the cheap test first: this runs once per training step
        check_finite_losses(arr)
    return arr


class WeightRule:
    """Base class: ``init(mixture_set) -> state`` and ``update(state, losses) -> state``."""

    def init(self, mixture_set: MixtureSet) -> WeightState:
        """Start at the set's centre point ``mixture_set.uniform()``."""
        _check_set(mixture_set)
        return WeightState(np.asarray(mixture_set.uniform(), np.float64).copy(), 0, mixture_set)

    def update(self, state: WeightState, losses: Any, *, present: Any = None) -> WeightState:
        """One step on the loss vector ``losses`` (p,); returns a new state.

        ``present`` (bool (p,), optional) marks the objectives observed in the batch; plain
        rules use every entry as given (wrap the rule in :class:`HoldAbsent` to hold the others).
        """
        _check_state(state, WeightState, self)
        _check_weights("state.weights", state.weights, state.mixture_set, self)
        ell = _as_loss_vector(losses, state.mixture_set.p)
        return self._step(state, ell, present)

    def _step(self, state: WeightState, ell: np.ndarray, present: Any) -> WeightState:
        """``update`` after its checks: a wrapper calls its inner rule's ``_step`` with a loss
        vector already checked and a state whose λ it has checked (λ is shared along the
        chain), so one step validates once, not once per layer."""
        if type(self).update is not WeightRule.update:  # a rule with its own update (a user's)
            return self.update(state, ell, present=present)
        return WeightState(self._next(state, ell), state.step + 1, state.mixture_set)

    def _next(self, state: WeightState, losses: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def restore(self, arrays: dict[str, np.ndarray], mixture_set: MixtureSet) -> WeightState:
        """Rebuild a state written by ``state.to_arrays()``; checks λ lies in ``mixture_set``."""
        _check_set(mixture_set)
        weights = _array_entry(arrays, "weights", self)
        _check_weights("arrays['weights']", weights, mixture_set, self)
        return WeightState(weights, _step_entry(arrays, self), mixture_set)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def _check_state(state: Any, kind: type, rule: WeightRule | None = None) -> None:
    who = type(rule).__name__ if rule is not None else "this rule"
    check_instance(
        "state",
        state,
        kind,
        f"be a {kind.__name__} from {who}.init",
        "start with state = rule.init(mixture_set) and pass the returned states on",
    )


def _array_entry(arrays: Any, key: str, rule: WeightRule) -> np.ndarray:
    """``arrays[key]`` as a float64 copy, or a clear error naming the rule and the key."""
    who = type(rule).__name__
    if not hasattr(arrays, "keys") or not hasattr(arrays, "__getitem__"):
        raise fail(
            "arrays",
            f"be a dict written by state.to_arrays() for {who}",
            type(arrays).__name__,
            "pass the dict that state.to_arrays() returned (e.g. from a checkpoint)",
        )
    if key not in arrays:
        raise fail(
            "arrays",
            f"hold the key {key!r} that {who}'s state.to_arrays() writes",
            f"keys {sorted(map(str, arrays.keys()))}",
            f"restore with the rule that wrote the state; {who} needs {key!r}",
        )
    try:
        return np.array(arrays[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(
            f"arrays[{key!r}]",
            f"be an array of numbers for {who}",
            arrays[key],
            "restore a state written by this rule's to_arrays()",
        ) from None


def _step_entry(arrays: Any, rule: WeightRule, key: str = "step") -> int:
    value = _array_entry(arrays, key, rule)
    if value.shape != () or not np.isfinite(value) or value < 0 or value != np.round(value):
        raise fail(
            f"arrays[{key!r}]",
            f"be a count >= 0 (a scalar integer) for {type(rule).__name__}",
            arrays[key],
            "restore a state written by this rule's to_arrays()",
        )
    return int(value)


def _check_set(mixture_set: Any) -> None:
    check_instance(
        "mixture_set",
        mixture_set,
        MixtureSet,
        "be a MixtureSet (Simplex, BoxSimplex, Polytope, PriorBall)",
        "wrap the weights' constraints in a MixtureSet, e.g. almo.Simplex(p)",
    )


def _check_weights(
    name: str, weights: Any, mixture_set: MixtureSet, rule: WeightRule | None = None
) -> None:
    who = f" ({type(rule).__name__})" if rule is not None else ""
    weights = np.asarray(weights)
    if weights.dtype.kind not in "biuf":
        raise fail(name, f"be an array of numbers{who}", weights, "pass float weights")
    if weights.shape != (mixture_set.p,):
        raise fail(
            name,
            f"have shape ({mixture_set.p},) to match the mixture set",
            f"shape {weights.shape}",
            f"pass {mixture_set.p} weights",
        )
    if not np.all(np.isfinite(weights)) or not mixture_set.contains(weights, atol=1e-9):
        raise fail(
            name,
            f"lie in the mixture set {mixture_set!r}{who}",
            weights,
            "pass weights inside the set, e.g. mixture_set.project(weights), or start again "
            "from rule.init(mixture_set)",
        )


class ProjectedAscent(WeightRule):
    r"""Projected gradient ascent on λ (Agnostic Federated Learning's rule).

    .. math:: λ_{t} = Π_Λ(λ_{t-1} + γ_t ℓ_t), \quad γ_t = \text{lr} \;(\text{constant})
              \text{ or } \text{lr}/\sqrt{t} \;(\text{inv\_sqrt}),

    where t = 1, 2, … counts updates and Π_Λ is the Euclidean projection of the mixture set.

    Parameters
    ----------
    lr : float
        Step size γ (> 0). For losses of order 1 over T steps the theory suggests
        γ ≈ D / (G √T) with D the diameter of Λ (≤ √2) and G a bound on ‖ℓ‖.
    schedule : {"constant", "inv_sqrt"}
        Constant steps, or γ_t = lr/√t (anytime O(1/√T) regret).

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = ProjectedAscent(lr=1.0)
    >>> s = rule.update(rule.init(Simplex(2)), np.array([1.0, 0.0]))
    >>> s.weights.tolist()
    [1.0, 0.0]
    """

    def __init__(self, lr: float = 0.1, schedule: Literal["constant", "inv_sqrt"] = "constant"):
        self.lr = check_positive("lr", lr)
        if schedule not in ("constant", "inv_sqrt"):
            raise fail(
                "schedule",
                "be 'constant' or 'inv_sqrt'",
                schedule,
                "pass schedule='constant' or schedule='inv_sqrt'",
            )
        self.schedule = schedule

    def step_size(self, t: int) -> float:
        """γ_t for the t-th update (t ≥ 1)."""
        return self.lr if self.schedule == "constant" else self.lr / np.sqrt(t)

    def _next(self, state: WeightState, losses: np.ndarray) -> np.ndarray:
        gamma = self.step_size(state.step + 1)
        v = state.weights + gamma * losses
        # Every Λ lies in the hyperplane Σλ = 1, where Π_Λ(v + c·1) = Π_Λ(v): centring v keeps
        # the projection accurate when the losses are huge.
        v -= v.max()
        return np.asarray(state.mixture_set.project(v), np.float64)


class ExponentiatedAscent(WeightRule):
    r"""Exponentiated (entropic mirror) ascent on λ: Group DRO's rule, DoReMi's with smoothing.

    .. math:: q' = \frac{λ_{t-1} \odot \exp(η ℓ_t)}{\sum_k λ_{t-1,k} \exp(η ℓ_{t,k})}, \qquad
              λ_t = (1 - c)\, q' + c / p

    computed in the log domain so huge losses cannot overflow. With ``smoothing=0`` this is
    Group DRO's update (Sagawa et al. 2020, default η = 0.01); with c = 1e-3 and η = 1 on
    clipped excess losses it is DoReMi's (Xie et al. 2023).

    On a set Λ smaller than the simplex, the step above can leave Λ; the result is then mapped
    back by the set's KL (Bregman) projection (:meth:`~almo.MixtureSet.kl_project`: closed
    form on a box, an exponential-cone solve on other sets), which makes the rule mirror ascent
    proper on Λ: against a fixed loss its iterates converge to the worst case, where a
    Euclidean map-back can stall. ``state.weights`` always lies in Λ. When the step stays in Λ
    (always for :class:`~almo.Simplex`) no projection is applied and the update is exactly the
    peer's formula. Weights that are exactly 0 stay 0 unless smoothing or the
    projection lifts them.

    Parameters
    ----------
    lr : float
        η > 0.
    smoothing : float
        c in [0, 1): mixing with the uniform distribution after each step.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = ExponentiatedAscent(lr=np.log(3.0))
    >>> s = rule.update(rule.init(Simplex(2)), np.array([1.0, 0.0]))
    >>> np.round(s.weights, 6).tolist()
    [0.75, 0.25]
    """

    def __init__(self, lr: float = 0.01, smoothing: float = 0.0):
        self.lr = check_positive("lr", lr)
        try:
            c = float(smoothing)
        except (TypeError, ValueError):
            c = float("nan")
        if isinstance(smoothing, (bool, str)) or not (0.0 <= c < 1.0):
            raise fail(
                "smoothing",
                "lie in [0, 1)",
                smoothing,
                "pass a small mixing weight such as 1e-3 (DoReMi's default)",
            )
        self.smoothing = c

    def _next(self, state: WeightState, losses: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logits = np.log(state.weights) + self.lr * losses
        logits -= np.max(logits)
        q = np.exp(logits)
        q /= q.sum()
        if self.smoothing:
            q = (1.0 - self.smoothing) * q + self.smoothing / q.size
        if not state.mixture_set.contains(q, atol=1e-12):
            q = state.mixture_set.kl_project(q)
        return q


class FixedWeights(WeightRule):
    """The fixed-weight ensemble: λ is given and never moves (the baseline of every comparison).

    Parameters
    ----------
    weights : array-like of shape (p,)
        The mixture, checked at ``init`` to lie in the mixture set.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = FixedWeights([0.2, 0.8])
    >>> rule.update(rule.init(Simplex(2)), np.array([5.0, 0.0])).weights.tolist()
    [0.2, 0.8]
    """

    def __init__(self, weights: Any):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or not np.all(np.isfinite(w)):
            raise fail(
                "weights",
                "be a finite vector of shape (p,)",
                weights,
                "pass one weight per objective, e.g. [0.5, 0.5]",
            )
        self.weights = w

    def init(self, mixture_set: MixtureSet) -> WeightState:
        _check_set(mixture_set)
        _check_weights("weights", self.weights, mixture_set)
        return WeightState(self.weights.copy(), 0, mixture_set)

    def _next(self, state: WeightState, losses: np.ndarray) -> np.ndarray:
        return state.weights


class BestResponse(WeightRule):
    """λ jumps to the worst mixture of the current losses: argmax over Λ of ⟨λ, ℓ⟩.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = BestResponse()
    >>> rule.update(rule.init(Simplex(3)), np.array([0.1, 0.7, 0.3])).weights.tolist()
    [0.0, 1.0, 0.0]
    """

    def _next(self, state: WeightState, losses: np.ndarray) -> np.ndarray:
        return np.asarray(state.mixture_set.worst_case(losses).weights, np.float64).copy()


class Averaged(WeightRule):
    r"""Wrap a rule and keep the running average of its iterates next to the last one.

    .. math:: \bar λ_t = \bar λ_{t-1} + \frac{η + 1}{t + η + 1} (λ_t - \bar λ_{t-1})

    With ``power`` η = 0 this is the plain mean (λ_0 + … + λ_t)/(t + 1); with η > 0 it is
    polynomial-decay averaging (Shamir & Zhang 2013): iterate s weighs about (s/t)^η, so the
    early transient is forgotten while the average still spans a fraction ≈ (η+1)/(2η+1) of the
    run (its effective sample size). ``state.weights`` is the inner rule's last iterate;
    ``state.average`` the average, which lies in Λ because Λ is convex.

    Parameters
    ----------
    rule : WeightRule
        The rule whose iterates are averaged (not itself ``Averaged``).
    power : float, default 0
        η ≥ 0.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = Averaged(BestResponse())
    >>> s = rule.init(Simplex(2))
    >>> s = rule.update(s, np.array([1.0, 0.0]))
    >>> s.average.tolist()
    [0.75, 0.25]
    """

    def __init__(self, rule: WeightRule, power: float = 0.0):
        if not isinstance(rule, WeightRule) or isinstance(rule, Averaged):
            raise fail(
                "rule",
                "be a (non-averaged) WeightRule",
                rule,
                "pass e.g. Averaged(ProjectedAscent(lr=0.1))",
            )
        self.rule = rule
        self.power = check_positive("power", power, allow_zero=True)

    def init(self, mixture_set: MixtureSet) -> AveragedState:
        inner = self.rule.init(mixture_set)
        return AveragedState(inner.weights, 0, mixture_set, inner.weights.copy(), inner)

    def update(self, state: WeightState, losses: Any, *, present: Any = None) -> AveragedState:
        self._check(state)
        _check_weights("state.weights", state.weights, state.mixture_set, self)
        return self._step(state, _as_loss_vector(losses, state.mixture_set.p), present)

    @staticmethod
    def _check(state: WeightState) -> None:
        if not isinstance(state, AveragedState) or state.inner is None:
            raise fail(
                "state",
                "come from Averaged.init (an AveragedState)",
                type(state).__name__,
                "start with state = rule.init(mixture_set)",
            )

    def _step(self, state: WeightState, ell: np.ndarray, present: Any) -> AveragedState:
        self._check(state)
        assert isinstance(state, AveragedState) and state.inner is not None
        inner = self.rule._step(state.inner, ell, present)
        t = inner.step
        if self.power == 0:
            average = state.average + (inner.weights - state.average) / (t + 1)
        else:
            rate = (self.power + 1.0) / (t + self.power + 1.0)
            average = state.average + (inner.weights - state.average) * rate
        return AveragedState(inner.weights, t, state.mixture_set, average, inner)

    def restore(self, arrays: dict[str, np.ndarray], mixture_set: MixtureSet) -> AveragedState:
        inner = self.rule.restore(_inner_arrays(arrays), mixture_set)
        average = _array_entry(arrays, "average", self)
        _check_weights("arrays['average']", average, mixture_set, self)
        return AveragedState(inner.weights, inner.step, mixture_set, average, inner)


_BOOL = np.dtype(bool)


def _present_mask(present: Any, p: int) -> np.ndarray | None:
    """``present`` as a bool vector (p,), or None when every objective is observed."""
    if present is None:
        return None
    if isinstance(present, np.ndarray) and present.dtype is _BOOL and present.shape == (p,):
        return None if present.all() else present  # the per-step path: no conversion
    if hasattr(present, "detach"):
        present = present.detach().cpu().numpy()
    mask = np.asarray(present)
    if mask.shape != (p,) or mask.dtype != np.bool_:
        raise fail(
            "present",
            f"be a bool mask of shape ({p},), one entry per objective",
            f"{mask.dtype} of shape {mask.shape}",
            "pass counts > 0, or None",
        )
    return None if mask.all() else mask


@dataclass(frozen=True)
class EveryKState(WeightState):
    """State of :class:`EveryK`: the inner state, the running sum of losses since its last step.

    ``step`` counts the updates fed to the wrapper; ``inner.step`` the steps the inner rule took.
    """

    inner: WeightState | None = None
    acc: np.ndarray = field(default_factory=lambda: np.zeros(0))
    acc_n: int = 0

    def to_arrays(self) -> dict[str, np.ndarray]:
        return _nested(self, {"acc": self.acc.copy(), "acc_n": np.asarray(self.acc_n, np.int64)})


class EveryK(WeightRule):
    r"""Wrap a rule so that it steps once every ``k`` updates, on the mean of the k loss vectors.

    .. math:: λ \leftarrow \text{rule}\big(λ, \tfrac1k \textstyle\sum_{j=1}^{k} ℓ_j\big)
              \text{ after updates } k, 2k, 3k, \dots

    Between those updates λ does not move. The trainer's ``lambda_every=k`` is this wrapper.

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = EveryK(BestResponse(), k=2)
    >>> s = rule.update(rule.init(Simplex(2)), np.array([1.0, 0.0]))
    >>> s.weights.tolist()  # one update in: no step yet
    [0.5, 0.5]
    >>> rule.update(s, np.array([0.0, 3.0])).weights.tolist()  # mean [0.5, 1.5]
    [0.0, 1.0]
    """

    def __init__(self, rule: WeightRule, k: int):
        check_instance(
            "rule",
            rule,
            WeightRule,
            "be a WeightRule",
            "pass e.g. EveryK(ProjectedAscent(lr=0.1), k=4)",
        )
        self.rule, self.k = rule, check_count("k", k, "pass e.g. k=4 (k=1 steps every update)")

    def init(self, mixture_set: MixtureSet) -> EveryKState:
        inner = self.rule.init(mixture_set)
        return EveryKState(inner.weights, 0, mixture_set, inner, np.zeros(mixture_set.p), 0)

    def update(self, state: WeightState, losses: Any, *, present: Any = None) -> EveryKState:
        _check_state(state, EveryKState, self)
        _check_weights("state.weights", state.weights, state.mixture_set, self)
        return self._step(state, _as_loss_vector(losses, state.mixture_set.p), present)

    def _step(self, state: WeightState, ell: np.ndarray, present: Any) -> EveryKState:
        _check_state(state, EveryKState, self)
        assert isinstance(state, EveryKState) and state.inner is not None
        if self.k == 1:
            inner = self.rule._step(state.inner, ell, present)
            return EveryKState(
                inner.weights, state.step + 1, state.mixture_set, inner, state.acc, 0
            )
        acc, n = state.acc + ell, state.acc_n + 1
        if n < self.k:
            return EveryKState(
                state.weights, state.step + 1, state.mixture_set, state.inner, acc, n
            )
        inner = self.rule._step(state.inner, acc / n, present)
        return EveryKState(
            inner.weights, state.step + 1, state.mixture_set, inner, np.zeros_like(acc), 0
        )

    def restore(self, arrays: dict[str, np.ndarray], mixture_set: MixtureSet) -> EveryKState:
        inner = self.rule.restore(_inner_arrays(arrays), mixture_set)
        acc = _array_entry(arrays, "acc", self)
        if acc.shape != (mixture_set.p,):
            raise fail(
                "arrays['acc']",
                f"have shape ({mixture_set.p},)",
                acc.shape,
                "restore a state written by this rule's to_arrays()",
            )
        step, acc_n = _step_entry(arrays, self), _step_entry(arrays, self, "acc_n")
        return EveryKState(inner.weights, step, mixture_set, inner, acc, acc_n)


@dataclass(frozen=True)
class HoldAbsentState(WeightState):
    """State of :class:`HoldAbsent`: the inner state and each objective's last observed loss.

    ``last_seen`` is NaN for objectives never observed; ``held`` is the loss vector the last
    update passed on (absent objectives filled in).
    """

    inner: WeightState | None = None
    last_seen: np.ndarray = field(default_factory=lambda: np.zeros(0))
    held: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return _nested(self, {"last_seen": self.last_seen.copy(), "held": self.held.copy()})


class HoldAbsent(WeightRule):
    """Wrap a rule so that objectives absent from a batch keep their last observed loss.

    A group with no sample in a batch has mean 0 with no gradient; fed to λ as it is, the 0 would
    tell the adversary "this objective is solved". With ``present`` given, an absent objective
    enters the inner rule's step at its **last observed value**; before its first observation,
    at the mean of the objectives present in the same update — which leaves a projected-ascent
    step on the simplex unchanged (adding a constant to every coordinate does not move Π_Δ).

    Examples
    --------
    >>> import numpy as np
    >>> from almo import Simplex
    >>> rule = HoldAbsent(FixedWeights([0.5, 0.25, 0.25]))
    >>> s = rule.update(
    ...     rule.init(Simplex(3)),
    ...     np.array([0.25, 0.75, 0.0]),
    ...     present=np.array([True, True, False]),
    ... )
    >>> s.held.tolist()  # never seen: the mean of the present ones
    [0.25, 0.75, 0.5]
    >>> s = rule.update(s, np.array([0.4, 0.0, 0.1]), present=np.array([True, False, True]))
    >>> s.held.tolist()  # absent now: its last observed value
    [0.4, 0.75, 0.1]
    """

    def __init__(self, rule: WeightRule):
        check_instance(
            "rule",
            rule,
            WeightRule,
            "be a WeightRule",
            "pass e.g. HoldAbsent(ProjectedAscent(lr=0.1))",
        )
        self.rule = rule

    def init(self, mixture_set: MixtureSet) -> HoldAbsentState:
        inner = self.rule.init(mixture_set)
        p = mixture_set.p
        return HoldAbsentState(
            inner.weights, 0, mixture_set, inner, np.full(p, np.nan), np.full(p, np.nan)
        )

    def hold(self, state: WeightState, losses: Any, present: Any = None) -> np.ndarray:
        """The loss vector the inner rule would see (absent objectives filled in); pure."""
        _check_state(state, HoldAbsentState, self)
        assert isinstance(state, HoldAbsentState)
        p = state.mixture_set.p
        return self._hold(state, _as_loss_vector(losses, p), _present_mask(present, p))

    @staticmethod
    def _hold(state: HoldAbsentState, ell: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if mask is None:
            return ell
        held = np.where(mask, ell, state.last_seen)
        unseen = np.isnan(held)
        if unseen.any():
            held[unseen] = ell[mask].mean() if mask.any() else 0.0
        return held

    def update(self, state: WeightState, losses: Any, *, present: Any = None) -> HoldAbsentState:
        _check_state(state, HoldAbsentState, self)
        _check_weights("state.weights", state.weights, state.mixture_set, self)
        return self._step(state, _as_loss_vector(losses, state.mixture_set.p), present)

    def _step(self, state: WeightState, ell: np.ndarray, present: Any) -> HoldAbsentState:
        _check_state(state, HoldAbsentState, self)
        assert isinstance(state, HoldAbsentState) and state.inner is not None
        mask = _present_mask(present, state.mixture_set.p)
        held = self._hold(state, ell, mask)
        last = held if mask is None else np.where(mask, held, state.last_seen)
        inner = self.rule._step(state.inner, held, None)
        return HoldAbsentState(inner.weights, state.step + 1, state.mixture_set, inner, last, held)

    def restore(self, arrays: dict[str, np.ndarray], mixture_set: MixtureSet) -> HoldAbsentState:
        inner = self.rule.restore(_inner_arrays(arrays), mixture_set)
        p = mixture_set.p
        last = _array_entry(arrays, "last_seen", self)
        held = _array_entry(arrays, "held", self)
        if last.shape != (p,) or held.shape != (p,):
            raise fail(
                "arrays['last_seen']",
                f"have shape ({p},)",
                last.shape,
                "restore a state written by this rule's to_arrays()",
            )
        step = _step_entry(arrays, self)
        return HoldAbsentState(inner.weights, step, mixture_set, inner, last, held)


def _nested(state: Any, own: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A wrapper state's arrays: its own, its inner state's under "inner.", then λ and step."""
    assert state.inner is not None
    out = {f"inner.{k}": v for k, v in state.inner.to_arrays().items()}
    out.update(own)
    out.update(WeightState.to_arrays(state))
    return out


def _inner_arrays(arrays: Any) -> dict[str, np.ndarray]:
    """Inverse of the "inner." prefix of :func:`_nested`."""
    if not hasattr(arrays, "items"):
        raise fail(
            "arrays",
            "be a dict written by state.to_arrays()",
            type(arrays).__name__,
            "pass the dict that state.to_arrays() returned (e.g. from a checkpoint)",
        )
    return {k[len("inner.") :]: v for k, v in arrays.items() if k.startswith("inner.")}
