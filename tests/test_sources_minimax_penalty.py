"""The Rademacher penalty of the true/synthetic family and the hindsight reference arm."""

import itertools
import math

import numpy as np
import pytest
import torch

from almo._validation import ALMOValueError
from almo.mixtures import BoxSimplex, Simplex
from almo.objectives import ObjectiveFamily
from almo.sources import zipf
from almo.sources.minimax import (
    RADEMACHER_BETA,
    UnigramLogits,
    _batches,
    logit_norm,
    simulate_minimax,
    unigram_penalty,
)
from almo.sources.softmax import one_thread
from almo.train import MinimaxTrainer
from almo.weights import FixedWeights, ProjectedAscent

P = zipf(12, 1.1)
RUN = dict(alpha=0.2, n=40, generations=2, replicates=1, epochs=4, seed=5)


def _model(logits):
    model = UnigramLogits(len(logits))
    with torch.no_grad():
        model.logits.copy_(torch.as_tensor(logits, dtype=torch.float32))
    return model


def test_the_penalty_vector_is_the_formula():
    w = np.array([1.0, -2.0, 0.5, 3.0])
    model = _model(w)
    for beta, sizes in [(1.0, (4, 16)), (RADEMACHER_BETA, (50, 950)), (0.3, (7, 3))]:
        pen = unigram_penalty(sizes, beta)
        expected = beta * 2.0 * np.linalg.norm(w) / np.sqrt(np.array(sizes, float))
        np.testing.assert_allclose(pen(model).detach().numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(pen.coefficients_, expected / np.linalg.norm(w), rtol=1e-12)
    # Around a centre w0 the complexity is the distance to it.
    w0 = torch.tensor([1.0, -1.0, 0.0, 0.0])
    pen = unigram_penalty((9, 25), 1.0, center=w0)
    dist = np.linalg.norm(w - w0.numpy())
    np.testing.assert_allclose(pen(model).detach().numpy(), [2 * dist / 3, 2 * dist / 5], 1e-6)
    assert logit_norm(model).item() == pytest.approx(np.linalg.norm(w))


def test_the_bound_holds_by_monte_carlo_on_a_small_sample():
    # R̂_S of the log loss over {‖w‖ ≤ W} is at most 2W/√m. Lower-estimate the sup over the
    # ball by the best of many random directions on its sphere (plus ±e_c), for 400 sign draws:
    # a lower estimate of R̂ must stay below the bound, and be a sizeable share of it.
    rng = np.random.default_rng(0)
    v, m, radius = 5, 8, 3.0
    y = rng.integers(0, v, size=m)
    dirs = rng.normal(size=(4000, v))
    dirs = np.vstack([dirs, np.eye(v), -np.eye(v)])
    ws = radius * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    lse = np.log(np.exp(ws).sum(axis=1))
    losses = -ws[:, y] + lse[:, None]  # (candidates, m)
    sigma = rng.choice([-1.0, 1.0], size=(400, m))
    estimate = np.mean(np.max(sigma @ losses.T, axis=1)) / m
    bound = 2 * radius / math.sqrt(m)
    assert estimate <= bound
    assert estimate > 0.3 * bound


def test_beta_zero_and_none_are_todays_arm_bitwise():
    base = simulate_minimax(P, **RUN)
    for spec in (0.0, 0):
        other = simulate_minimax(P, penalty=spec, **RUN)
        for arm in ("minimax", "pooled"):
            for m, values in base[arm].metrics.items():
                np.testing.assert_array_equal(values, other[arm].metrics[m])
        assert other["minimax"].info["mean_weights"] == base["minimax"].info["mean_weights"]

    # A penalty that is identically zero, passed through the trainer, changes nothing either.
    def zero(model):
        return 0.0 * logit_norm(model) * torch.ones(2)

    through = simulate_minimax(P, penalty=zero, **RUN)
    np.testing.assert_array_equal(through["minimax"].metrics["l2"], base["minimax"].metrics["l2"])
    assert through["minimax"].info["penalty"] == "zero"
    # The hindsight arm draws from its own generators: the other arms are unchanged.
    with_ref = simulate_minimax(P, hindsight=[0.0, 1.0], **RUN)
    for arm in ("minimax", "pooled"):
        np.testing.assert_array_equal(with_ref[arm].metrics["kl"], base[arm].metrics["kl"])


def _one_generation(beta, mset, rule, seed=0):
    """Train one generation as simulate_minimax does; return (‖w‖, averaged λ)."""
    rng = np.random.default_rng(seed)
    true_tokens = rng.choice(12, size=20, p=P)
    syn_tokens = rng.integers(0, 12, size=80)  # uniform: a larger loss than the true data's
    model = _model(np.log(P))
    family = ObjectiveFamily("log_loss", groups=["true", "synthetic"])
    pen = None if beta == 0 else unigram_penalty((20, 80), beta, family)
    trainer = MinimaxTrainer(
        model,
        family,
        mixture_set=mset,
        weight_rule=rule,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.1),
        seed=seed,
        verbose=False,
        average_model=False,
        device="cpu",
        penalty=pen,
    )
    with one_thread():
        trainer.fit(_batches(true_tokens, syn_tokens, 100, rng), epochs=60)
    return logit_norm(model).item(), trainer.average_weights


def test_larger_beta_moves_lambda_to_the_small_group_and_shrinks_the_logits():
    box = BoxSimplex([0.1, 0.1], [0.9, 0.9])
    norm0, lam0 = _one_generation(0.0, box, ProjectedAscent(lr=0.5, schedule="inv_sqrt"))
    norm1, lam1 = _one_generation(2.0, box, ProjectedAscent(lr=0.5, schedule="inv_sqrt"))
    # Without the penalty the synthetic (uniform) loss is the larger: λ_true at its floor. The
    # penalty adds c_true − c_syn = 2β‖w‖(1/√20 − 1/√80) > 0 to the true side: λ_true rises.
    assert lam0[0] < 0.2
    assert lam1[0] > lam0[0] + 0.3
    assert norm1 < 0.8 * norm0
    # With λ held fixed, ‖w‖ falls as β grows (the penalty's only effect on θ).
    fixed = [_one_generation(b, Simplex(2), FixedWeights([0.5, 0.5]))[0] for b in (0, 0.2, 1, 4)]
    assert all(a > b for a, b in itertools.pairwise(fixed)), fixed


def test_the_penalized_arm_records_lambda_and_its_penalty():
    out = simulate_minimax(P, penalty="rademacher", **RUN)
    lam = np.array(out["minimax"].info["mean_weights"])
    assert lam.shape == (3, 2) and np.allclose(lam.sum(axis=1), 1.0)
    assert np.all(lam[1:, 0] >= 0.5 - 1e-9)
    assert out["minimax"].info["penalty"] == "rademacher (beta=2)"
    assert "penalty" not in out["pooled"].info
    # Generation 0 is shared and never penalized.
    np.testing.assert_array_equal(
        out["minimax"].metrics["l2"][:, 0], out["pooled"].metrics["l2"][:, 0]
    )
    prev = simulate_minimax(P, penalty=1.5, penalty_center="previous", **RUN)
    assert prev["minimax"].info["penalty"] == "beta=1.5"
    assert np.all(np.isfinite(prev["minimax"].metrics["kl"]))


def test_the_hindsight_arm_is_the_argmin_of_its_own_grid():
    grid = [0.0, 0.2, 0.6, 1.0]
    out = simulate_minimax(P, **{**RUN, "replicates": 2}, hindsight=grid)
    ref = out["hindsight"]
    final = np.array(ref.info["grid_final"]["l2"])
    assert ref.info["oracle"] is True and ref.info["grid"] == grid
    assert ref.info["best_weight"] == grid[int(np.argmin(final))]
    assert ref.mean("l2")[-1] == pytest.approx(final.min(), rel=1e-12)
    assert set(ref.info["grid_final"]) >= {"l2", "tv", "kl"}
    # Every grid point starts from the shared generation-0 model.
    np.testing.assert_array_equal(ref.metrics["l2"][:, 0], out["pooled"].metrics["l2"][:, 0])
    assert (
        np.linspace(0, 1, 3).tolist()
        == simulate_minimax(P, **RUN, hindsight=3)["hindsight"].info["grid"]
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"penalty": "bound"}, "penalty"),
        ({"penalty": -1.0}, "penalty"),
        ({"penalty": float("nan")}, "penalty"),
        ({"penalty": True}, "penalty"),
        ({"penalty": [1.0, 2.0]}, "penalty"),
        ({"penalty": 1.0, "alpha": 0.001}, "penalty"),  # round(α n) = 0: no true sample
        ({"penalty_center": "origin"}, "penalty_center"),
        ({"hindsight": 1}, "hindsight"),
        ({"hindsight": True}, "hindsight"),
        ({"hindsight": []}, "hindsight"),
        ({"hindsight": [0.5, 1.5]}, "hindsight"),
        ({"hindsight": "grid"}, "hindsight"),
    ],
)
def test_bad_inputs_are_refused_by_name(kwargs, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}` must") as err:
        simulate_minimax(P, **{**RUN, **kwargs})
    assert "Fix:" in str(err.value)


@pytest.mark.parametrize(
    ("sizes", "beta", "argument"),
    [((0, 5), 1.0, "sizes"), ((2.5, 3), 1.0, "sizes"), ((), 1.0, "sizes"), ((3, 4), -1, "beta")],
)
def test_unigram_penalty_refuses_bad_sizes_and_beta(sizes, beta, argument):
    with pytest.raises(ALMOValueError, match=f"`{argument}` must"):
        unigram_penalty(sizes, beta)


def test_unigram_penalty_refuses_a_family_that_does_not_match():
    with pytest.raises(ALMOValueError, match="`family` must"):
        unigram_penalty((3, 4), 1.0, ObjectiveFamily("log_loss", groups=3))
