"""Retraining with the two sources as one objective family: ALMO per generation.

Instead of pooling the data contamination-agnostically, each generation trains a unigram logits
model with :class:`~almo.train.MinimaxTrainer` on an :class:`~almo.objectives.ObjectiveFamily`
with two groups — the log loss on the true samples (group 0) and on the synthetic samples
(group 1) — against the worst mixture in Λ = {λ : λ_true ≥ α_min} (a
:class:`~almo.mixtures.BoxSimplex`). The baseline is the same trainer with fixed weights
(k/n, 1 − k/n): with k = round(α n) true samples this is exactly the contamination-agnostic
pooled log loss, so both arms share one code path and differ only in how λ moves.

Because the learner is told which samples are true, the composition is fixed (k = round(α n)
true draws per generation). The model is a softmax over V logits; each
generation is fine-tuned from the previous one (generation 0 is trained from zeros on the true
data); its synthetic samples come from softmax(logits) (tempered, top-k).

The complexity penalty
----------------------
``penalty=`` turns the minimax arm's game into Σ_k λ_k (ℓ_k + r_k) with the Rademacher penalty
of each source's own sample (:func:`unigram_penalty`). The model ignores its input, so think of
the feature as x ≡ 1: for the class H_W = {w : ‖w‖₂ ≤ W} and the log loss
ℓ(w, y) = −w_y + logsumexp(w) on a sample S_k of m_k tokens,

    m_k R̂_{S_k}(ℓ∘H_W) = E_σ sup_w [ −Σ_c w_c Σ_{i: y_i = c} σ_i + (Σ_i σ_i) logsumexp(w) ]
                      ≤ W E‖(Σ_{i: y_i = c} σ_i)_c‖₂ + W E|Σ_i σ_i|       (|lse(w) − log V| ≤ ‖w‖)
                      ≤ W sqrt(m_k) + W sqrt(m_k),

so R̂_{S_k} ≤ 2 W sqrt(m_k) / m_k = 2W / √m_k — the W sqrt(Σ_{i∈S_k} x_i²) / m_k of a linear
class with x ≡ 1, times 2 for the two terms of the log loss. The bound of ALMO carries 2·R, so
the bound's own constant is β = 2: r_k(w) = 2 · 2‖w‖₂ / √m_k. (Maurer's vector contraction over
V logit columns, what :class:`~almo.complexity.RademacherPenalty` applies to a model with more
than two outputs, gives μκ = √2·√(2V) in place of the 2 here: √V times looser for this model.)
The larger c_k of the small true group makes the penalty push λ_true up, never down: the
penalty regularizes the model the adversary trains, it does not undo the adversary's choice.

The reference arm ``hindsight=`` trains fixed weights (w, 1 − w) for each w of a grid and keeps
the w of least final l2 (mean over replicates): the best fixed real-data weight in hindsight,
an oracle no learner can pick without knowing P*.

Examples
--------
>>> from almo.sources import zipf
>>> out = simulate_minimax(
...     zipf(20), alpha=0.1, n=100, generations=2, replicates=1, alpha_min=0.5, epochs=5
... )
>>> sorted(out), out["minimax"].metrics["l2"].shape
(['minimax', 'pooled'], (1, 3))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from almo._validation import check_integer, check_number, check_positive, fail
from almo.sources.base import tempered
from almo.sources.categorical import check_distribution
from almo.sources.metrics import CATEGORICAL_METRICS, categorical_metrics
from almo.sources.schedules import ScheduleLike, alpha_values, n_values
from almo.sources.simulate import CollapseResult
from almo.sources.softmax import one_thread

if TYPE_CHECKING:
    from almo.complexity import RademacherPenalty
    from almo.mixtures import MixtureSet
    from almo.objectives import ObjectiveFamily
    from almo.weights import WeightRule

__all__ = ["RADEMACHER_BETA", "UnigramLogits", "logit_norm", "simulate_minimax", "unigram_penalty"]

logger = logging.getLogger(__name__)

#: β of ``penalty="rademacher"``: the 2 in front of the Rademacher term of ALMO's bound.
RADEMACHER_BETA = 2.0

PenaltyFn = Callable[[torch.nn.Module], torch.Tensor]
#: None, "rademacher", a number β >= 0, or a callable ``penalty(model) -> Tensor (2,)``.
PenaltyLike = str | float | PenaltyFn | None


class UnigramLogits(torch.nn.Module):
    """A next-token distribution softmax(w) that ignores its input: outputs (len(x), V) logits.

    Examples
    --------
    >>> import torch
    >>> UnigramLogits(4)(torch.zeros(3, 1)).shape
    torch.Size([3, 4])
    """

    def __init__(self, vocab: int) -> None:
        super().__init__()
        vocab = check_integer("vocab", vocab, "pass the vocabulary size, e.g. UnigramLogits(100)")
        self.logits = torch.nn.Parameter(torch.zeros(vocab))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def simulate_minimax(
    truth: np.ndarray,
    *,
    alpha: ScheduleLike,
    n: ScheduleLike,
    generations: int,
    replicates: int = 3,
    alpha_min: float = 0.5,
    alpha_max: float = 1.0,
    epochs: int = 30,
    batch_size: int | None = None,
    lr: float = 0.1,
    lambda_lr: float = 0.5,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    progress: bool = False,
    penalty: PenaltyLike = None,
    penalty_center: Literal["zero", "previous"] = "zero",
    hindsight: int | Sequence[float] | None = None,
) -> dict[str, CollapseResult]:
    """Retrain with ALMO over {true, synthetic} and with fixed pooling weights, side by side.

    Parameters
    ----------
    truth : array of shape (V,)
        P*.
    alpha, n : schedule-like
        True fraction and sample size per generation (generation 0 is all true).
    generations, replicates : int
        T and R (replicates run one after the other: each trains 2·T models).
    alpha_min, alpha_max : float
        Λ = {λ : alpha_min ≤ λ_true ≤ alpha_max} (the default alpha_max = 1 leaves only the
        lower bound). When the true samples' loss is the larger one the adversary moves λ_true
        up to alpha_max, and the model then learns mostly from the few true samples.
    epochs, batch_size, lr : int, int or None, float
        Training of each generation's model: Adam on the logits, warm-started from the previous
        generation (generation 0 from zeros, 3·epochs); full batches by default.
    lambda_lr : float
        Step of the projected-ascent rule on λ.
    temperature, top_k, seed, progress
        As in :func:`~almo.sources.simulate`.
    penalty : None, "rademacher", float or callable, default None
        The minimax arm's complexity penalty (the pooled arm stays the plain pooled log loss,
        the baseline). ``"rademacher"``: r_k(w) = β·2‖w‖₂/√m_k with the bound's constant
        β = 2 (:data:`RADEMACHER_BETA`) and group sizes m = (k, n − k) of each generation; a
        number: the same with that β ≥ 0 (β = 0 is the unpenalized game, run without a
        penalty); a callable ``penalty(model) -> Tensor (2,)``: passed to the trainer as is.
        Generation 0, shared by all arms, is never penalized.
    penalty_center : {"zero", "previous"}, default "zero"
        The class the β penalties measure: {‖w‖₂ ≤ W} (``"zero"``, r_k ∝ ‖w‖₂, which pulls the
        logits toward the uniform distribution) or {‖w − w_{t−1}‖₂ ≤ W} around the previous
        generation's logits, the warm start (``"previous"``, r_k ∝ ‖w − w_{t−1}‖₂). Both
        classes are fixed before generation t's samples are seen and have the same Rademacher
        bound; the second is the class a fine-tuned model actually ranges over.
    hindsight : int or sequence of float, optional
        Adds the reference arm "hindsight": fixed weights (w, 1 − w) for each w of the grid
        (an int G ≥ 2 means ``np.linspace(0, 1, G)``), trained on the same true samples and
        generation-0 model as the other arms, and reported for the w of least final l2 (mean
        over replicates) — an oracle. Costs G runs of the pooled arm.

    Returns
    -------
    dict with keys "minimax" and "pooled" (and "hindsight" when asked), each a
    :class:`~almo.sources.CollapseResult`; ``info["mean_weights"]`` holds, for "minimax", each
    generation's averaged λ (mean over replicates, (T + 1) × 2 nested lists) and
    ``info["penalty"]`` the penalty used; "hindsight" has ``info["grid"]``,
    ``info["grid_final"]`` (each metric's final mean per grid point), ``info["best_weight"]``
    and ``info["oracle"] = True``.

    Examples
    --------
    See the module docstring.
    """
    from almo.mixtures import BoxSimplex, Simplex
    from almo.objectives import ObjectiveFamily
    from almo.train import MinimaxTrainer
    from almo.weights import FixedWeights, ProjectedAscent

    p_star = check_distribution(truth)
    v = p_star.shape[0]
    a = alpha_values(alpha, generations)
    ns = n_values(n, generations)
    alpha_min = check_number(
        "alpha_min", alpha_min, "pass a fraction, e.g. alpha_min=0.5", low=0.0, high=1.0
    )
    alpha_max = check_number(
        "alpha_max", alpha_max, "pass a fraction, e.g. alpha_max=1.0", low=0.0, high=1.0
    )
    if alpha_min > alpha_max:
        raise fail(
            "alpha_min",
            "satisfy 0 <= alpha_min <= alpha_max <= 1",
            (alpha_min, alpha_max),
            "pass e.g. alpha_min=0.5, alpha_max=1.0",
        )
    epochs = check_integer("epochs", epochs, "pass e.g. epochs=10")
    replicates = check_integer("replicates", replicates, "pass e.g. replicates=3")
    batch_size = (
        int(ns.max())
        if batch_size is None
        else check_integer("batch_size", batch_size, "pass e.g. batch_size=64, or None")
    )
    seed = check_integer("seed", seed, "pass a non-negative integer, e.g. seed=0", low=0)
    check_positive("lr", lr)
    check_positive("lambda_lr", lambda_lr)
    pen_beta, pen_fn, pen_label = _resolve_penalty(penalty)
    if pen_beta is not None:
        ks = np.rint(a[1:] * ns[1:]).astype(np.int64)
        if np.any(ks < 1) or np.any(ks > ns[1:] - 1):
            raise fail(
                "penalty",
                "have both sources non-empty (1 <= round(alpha·n) <= n − 1) in every generation",
                f"true-sample counts {ks.tolist()} of n = {ns[1:].tolist()}",
                "raise alpha or n, or pass penalty=None",
            )
    if penalty_center not in ("zero", "previous"):
        raise fail(
            "penalty_center",
            "be 'zero' or 'previous'",
            penalty_center,
            "pass penalty_center='previous' to measure the distance from the warm start",
        )
    grid = _resolve_grid(hindsight)
    rng = np.random.default_rng(seed)
    family = ObjectiveFamily("log_loss", groups=["true", "synthetic"])
    box = BoxSimplex([alpha_min, 1.0 - alpha_max], [alpha_max, 1.0 - alpha_min])
    arms: dict[str, tuple[MixtureSet, str]] = {
        "minimax": (box, "minimax"),
        "pooled": (Simplex(2), "fixed"),
    }
    shape = (replicates, generations + 1)
    metrics = {arm: {k: np.zeros(shape) for k in CATEGORICAL_METRICS} for arm in arms}
    weights = np.zeros((*shape, 2))
    bar = tqdm(total=replicates * (generations + 1), disable=not progress, desc="collapse[almo]")

    def train(
        init: torch.Tensor,
        true_tokens: np.ndarray,
        syn_tokens: np.ndarray,
        mset: MixtureSet,
        rule: WeightRule,
        n_epochs: int,
        pen: PenaltyFn | None = None,
        gen: np.random.Generator = rng,
    ) -> tuple[torch.Tensor, np.ndarray]:
        model = UnigramLogits(v)
        with torch.no_grad():
            model.logits.copy_(init)
        trainer = MinimaxTrainer(
            model,
            family,
            mixture_set=mset,
            weight_rule=rule,
            optimizer=lambda params: torch.optim.Adam(params, lr=lr),
            seed=int(gen.integers(2**31)),
            verbose=False,
            average_model=False,
            device="cpu",
            penalty=pen,
        )
        loader = _batches(true_tokens, syn_tokens, batch_size, gen)
        with one_thread():
            trainer.fit(loader, epochs=n_epochs)
        return model.logits.detach().clone(), trainer.average_weights

    # What the hindsight arm reuses: each replicate's generation-0 model and true samples.
    starts: list[torch.Tensor] = []
    true_draws: list[list[np.ndarray]] = []
    for r in range(replicates):
        # Generation 0: one model for both arms, trained from zeros on true data alone.
        first = rng.choice(v, size=int(ns[0]), p=p_star)
        logits0, _ = train(
            torch.zeros(v),
            first,
            first[:0],
            Simplex(2),
            FixedWeights(np.array([1.0, 0.0])),
            3 * epochs,
        )
        logits = {arm: logits0 for arm in arms}
        for arm in arms:
            _record(metrics[arm], r, 0, _softmax(logits0), p_star)
        weights[r, 0] = (1.0, 0.0)
        starts.append(logits0)
        true_draws.append([])
        bar.update(1)
        for t in range(1, generations + 1):
            k = int(np.rint(a[t] * ns[t]))
            true_tokens = rng.choice(v, size=k, p=p_star)
            true_draws[r].append(true_tokens)
            for arm, (mset, kind) in arms.items():
                q = tempered(_softmax(logits[arm]), temperature, top_k)
                syn_tokens = rng.choice(v, size=int(ns[t]) - k, p=q)
                rule = (
                    FixedWeights(np.array([k / ns[t], 1.0 - k / ns[t]]))
                    if kind == "fixed"
                    else ProjectedAscent(lr=lambda_lr, schedule="inv_sqrt")
                )
                pen = None
                if kind == "minimax":
                    pen = pen_fn
                    if pen_beta is not None:
                        center = logits[arm] if penalty_center == "previous" else None
                        pen = unigram_penalty((k, int(ns[t]) - k), pen_beta, family, center)
                # Each generation fine-tunes the previous model (warm start), as in practice.
                logits[arm], lam = train(
                    logits[arm], true_tokens, syn_tokens, mset, rule, epochs, pen
                )
                _record(metrics[arm], r, t, _softmax(logits[arm]), p_star)
                if arm == "minimax":
                    weights[r, t] = lam
            bar.update(1)
    bar.close()
    info = {
        "alpha_min": alpha_min,
        "alpha_max": alpha_max,
        "epochs": epochs,
        "temperature": temperature,
        "top_k": top_k,
    }
    out = {
        arm: CollapseResult(
            metrics[arm],
            a,
            ns,
            f"{arm} (fixed composition)",
            int(seed),
            {
                **info,
                **(
                    {"mean_weights": weights.mean(axis=0).tolist(), "penalty": pen_label}
                    if arm == "minimax"
                    else {}
                ),
            },
        )
        for arm in arms
    }
    if grid is None:
        return out

    # The reference arm: fixed (w, 1 − w) over the grid, on the same true samples and the same
    # generation-0 models; each grid point draws its synthetic samples and batches from its own
    # generator, so the arms above are what they would be without it.
    runs = []
    hind_bar = tqdm(
        total=len(grid) * replicates * generations,
        disable=not progress,
        desc="collapse[hindsight]",
        unit="model",
    )
    for j, w in enumerate(grid):
        store = {m: np.zeros(shape) for m in CATEGORICAL_METRICS}
        for r in range(replicates):
            gen = np.random.default_rng([int(seed), 1 + j, r])
            cur = starts[r]
            _record(store, r, 0, _softmax(cur), p_star)
            for t in range(1, generations + 1):
                true_tokens = true_draws[r][t - 1]
                q = tempered(_softmax(cur), temperature, top_k)
                syn_tokens = gen.choice(v, size=int(ns[t]) - len(true_tokens), p=q)
                rule = FixedWeights(np.array([w, 1.0 - w]))
                cur, _ = train(cur, true_tokens, syn_tokens, Simplex(2), rule, epochs, None, gen)
                _record(store, r, t, _softmax(cur), p_star)
                hind_bar.update(1)
        runs.append(store)
    hind_bar.close()
    final = {m: [float(s[m][:, -1].mean()) for s in runs] for m in CATEGORICAL_METRICS}
    best = int(np.argmin(final["l2"]))
    out["hindsight"] = CollapseResult(
        runs[best],
        a,
        ns,
        "hindsight (fixed composition)",
        int(seed),
        {
            **info,
            "oracle": True,
            "grid": [float(w) for w in grid],
            "grid_final": final,
            "best_weight": float(grid[best]),
        },
    )
    return out


def logit_norm(model: torch.nn.Module) -> torch.Tensor:
    """‖w‖₂ of a :class:`UnigramLogits` model's logits: the complexity Ĉ(θ) of its penalty.

    Examples
    --------
    >>> import torch
    >>> m = UnigramLogits(2)
    >>> with torch.no_grad():
    ...     _ = m.logits.copy_(torch.tensor([3.0, 4.0]))
    >>> logit_norm(m).item()
    5.0
    """
    return torch.linalg.vector_norm(model.logits)


def unigram_penalty(
    sizes: Sequence[int],
    beta: float = RADEMACHER_BETA,
    family: ObjectiveFamily | None = None,
    center: torch.Tensor | None = None,
) -> RademacherPenalty:
    """The fitted penalty r_k(w) = β · 2‖w − w₀‖₂ / √m_k of a unigram logits model on m_k tokens.

    With w₀ = ``center`` (0 by default), 2‖w − w₀‖₂/√m_k bounds the empirical Rademacher
    complexity of the log loss over {w' : ‖w' − w₀‖₂ ≤ ‖w − w₀‖₂} on a sample of m_k tokens
    (derivation in the module notes). It is a
    :class:`~almo.complexity.RademacherPenalty` with ``bound=logit_norm`` (or the distance
    from ``center``), fitted on the
    feature x ≡ 1 (so sqrt(Σ_{i∈S_k} x_i²)/m_k = 1/√m_k), one score column (κ = 1), and its β
    set to 2β/μ so that its c_k = β' μ/√m_k equals 2β/√m_k for the log loss's μ.

    Parameters
    ----------
    sizes : sequence of int
        m_k ≥ 1 per group (here (k, n − k): true, synthetic).
    beta : float, default 2
        β ≥ 0; the default is the bound's own constant, :data:`RADEMACHER_BETA`.
    family : ObjectiveFamily, optional
        The family the trainer uses (default: the log loss on ``len(sizes)`` groups).
    center : Tensor of shape (V,), optional
        w₀, fixed before the samples are drawn (e.g. the previous generation's logits); the
        bound is the same for {w : ‖w − w₀‖₂ ≤ W} as for {w : ‖w‖₂ ≤ W}, since
        |lse(w₀ + u) − lse(w₀)| ≤ ‖u‖₂ and Σ_i σ_i ℓ(w₀, y_i) has mean zero.

    Examples
    --------
    >>> import torch
    >>> pen = unigram_penalty((4, 16), beta=1.0)
    >>> pen.coefficients_.tolist()  # 2/sqrt(4), 2/sqrt(16)
    [1.0, 0.5]
    >>> m = UnigramLogits(2)
    >>> with torch.no_grad():
    ...     _ = m.logits.copy_(torch.tensor([3.0, 4.0]))
    >>> pen(m).tolist()
    [5.0, 2.5]
    """
    from almo.complexity import RademacherPenalty
    from almo.objectives import ObjectiveFamily

    m = np.asarray(sizes)
    if m.ndim != 1 or m.size < 1 or m.dtype.kind not in "iu" or np.any(m < 1):
        raise fail(
            "sizes",
            "be a sequence of integers >= 1 (one sample size per group)",
            sizes,
            "pass e.g. sizes=(50, 950)",
        )
    beta = check_positive("beta", beta, allow_zero=True)
    if family is None:
        family = ObjectiveFamily("log_loss", groups=int(m.size))
    mu = np.array([np.nan if lo.lipschitz is None else lo.lipschitz for lo, _ in family.layout])
    if len(family.layout) != m.size or not (np.all(np.isfinite(mu)) and np.ptp(mu) == 0):
        raise fail(
            "family",
            "have one objective per group, all with the same finite Lipschitz constant",
            f"{len(family.layout)} objectives, mu = {mu.tolist()}",
            "pass ObjectiveFamily('log_loss', groups=len(sizes))",
        )
    groups = np.repeat(np.arange(m.size), m)
    bound: PenaltyFn = logit_norm
    if center is not None:
        w0 = center.detach().clone()

        def logit_distance(model: torch.nn.Module) -> torch.Tensor:
            w = cast(torch.Tensor, model.logits)
            return torch.linalg.vector_norm(w - w0.to(w))

        bound = logit_distance
    pen = RademacherPenalty(beta=2.0 * beta / mu[0], bound=bound, n_outputs=1)
    return pen.fit(np.ones((groups.size, 1)), family, groups)


def _resolve_penalty(penalty: Any) -> tuple[float | None, PenaltyFn | None, str | None]:
    """(β of the unigram penalty or None, the callable or None, a label for ``info``)."""
    if penalty is None:
        return None, None, None
    if isinstance(penalty, str):
        if penalty != "rademacher":
            raise fail(
                "penalty",
                "be None, 'rademacher', a number beta >= 0 or a callable penalty(model)",
                penalty,
                "pass penalty='rademacher' for the bound's constant beta = 2",
            )
        return RADEMACHER_BETA, None, f"rademacher (beta={RADEMACHER_BETA:g})"
    if callable(penalty):
        return None, penalty, getattr(penalty, "__name__", type(penalty).__name__)
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float, np.integer, np.floating)):
        raise fail(
            "penalty",
            "be None, 'rademacher', a number beta >= 0 or a callable penalty(model)",
            penalty,
            "pass e.g. penalty=0.5 or penalty='rademacher'",
        )
    beta = check_positive("penalty", float(penalty), allow_zero=True)
    if beta == 0.0:  # β = 0 is the unpenalized game: run exactly that
        return None, None, None
    return beta, None, f"beta={beta:g}"


def _resolve_grid(hindsight: Any) -> np.ndarray | None:
    """The grid of real-data weights w of the hindsight arm, or None."""
    if hindsight is None:
        return None
    if isinstance(hindsight, (int, np.integer)) and not isinstance(hindsight, bool):
        if hindsight < 2:
            raise fail(
                "hindsight",
                "be an integer >= 2 (grid points in [0, 1]) or a sequence of weights",
                hindsight,
                "pass e.g. hindsight=11",
            )
        return np.linspace(0.0, 1.0, int(hindsight))
    try:
        grid = np.asarray(hindsight, dtype=np.float64)
    except (TypeError, ValueError):
        grid = np.array([np.nan])
    if grid.ndim != 1 or grid.size < 1 or not np.all((grid >= 0.0) & (grid <= 1.0)):
        raise fail(
            "hindsight",
            "be an integer >= 2 or a non-empty sequence of weights in [0, 1]",
            hindsight,
            "pass e.g. hindsight=11 or hindsight=[0.05, 0.2, 0.5]",
        )
    return grid


def _softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), -1).numpy()


def _record(
    store: dict[str, np.ndarray], r: int, t: int, probs: np.ndarray, p_star: np.ndarray
) -> None:
    for k, values in categorical_metrics(probs[None], p_star).items():
        store[k][r, t] = values[0]


def _batches(
    true_tokens: np.ndarray, syn_tokens: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    all_tokens = np.concatenate([true_tokens, syn_tokens])
    all_groups = np.concatenate(
        [np.zeros(len(true_tokens), np.int64), np.ones(len(syn_tokens), np.int64)]
    )
    order = rng.permutation(len(all_tokens))
    tokens, groups = torch.as_tensor(all_tokens[order]), torch.as_tensor(all_groups[order])
    x = torch.zeros(len(tokens), 1)
    return [
        (x[i : i + batch_size], tokens[i : i + batch_size], groups[i : i + batch_size])
        for i in range(0, len(tokens), batch_size)
    ]
