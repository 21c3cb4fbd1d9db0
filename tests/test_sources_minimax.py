"""ALMO per generation: the two sources {true, synthetic} as one objective family."""

import numpy as np
import pytest

from almo._validation import ALMOValueError
from almo.sources import zipf
from almo.sources.minimax import simulate_minimax

P = zipf(12, 1.1)


def test_minimax_keeps_lambda_in_the_box_and_tracks_the_worse_source():
    out = simulate_minimax(
        P, alpha=0.1, n=100, generations=3, replicates=2, alpha_min=0.3, epochs=15, seed=1
    )
    lam = np.array(out["minimax"].info["mean_weights"])
    assert lam.shape == (4, 2)
    assert np.all(lam[1:, 0] >= 0.3 - 1e-9) and np.allclose(lam.sum(axis=1), 1.0)
    # The true samples are more diverse than the model's own, so their log loss is the larger
    # one and the adversary pushes λ_true above its floor.
    assert lam[1:, 0].mean() > 0.4  # well above the floor of 0.3
    for res in out.values():
        assert res.metrics["l2"].shape == (2, 4)
        assert np.all(np.isfinite(res.metrics["kl"]))
    # Generation 0 is the same model for both arms.
    np.testing.assert_array_equal(
        out["minimax"].metrics["l2"][:, 0], out["pooled"].metrics["l2"][:, 0]
    )


def test_fixed_weights_k_over_n_is_contamination_agnostic_pooling(rng):
    # The baseline arm: the trainer with FixedWeights((k/n, 1 − k/n)) minimizes the pooled log
    # loss, whose minimizer is the pooled empirical distribution.
    import torch

    from almo.mixtures import Simplex
    from almo.objectives import ObjectiveFamily
    from almo.sources.minimax import UnigramLogits, _batches
    from almo.sources.softmax import one_thread
    from almo.train import MinimaxTrainer
    from almo.weights import FixedWeights

    true_tokens = np.repeat(np.arange(6), [5, 4, 3, 3, 2, 3])  # k = 20
    syn_tokens = np.repeat(np.arange(6), [30, 20, 10, 10, 5, 5])  # n − k = 80
    model = UnigramLogits(6)
    trainer = MinimaxTrainer(
        model,
        ObjectiveFamily("log_loss", groups=["true", "synthetic"]),
        mixture_set=Simplex(2),
        weight_rule=FixedWeights([0.2, 0.8]),
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.2),
        verbose=False,
    )
    with one_thread():  # tiny tensors: a second thread only adds latency on a loaded machine
        trainer.fit(_batches(true_tokens, syn_tokens, 100, rng), epochs=300)
    pooled = np.bincount(np.concatenate([true_tokens, syn_tokens]), minlength=6) / 100
    fitted = torch.softmax(model.logits.detach().double(), -1).numpy()
    np.testing.assert_allclose(fitted, pooled, atol=2e-3)


def test_minimax_is_reproducible_and_validates():
    kw = dict(alpha=0.2, n=40, generations=2, replicates=1, epochs=5)
    a, b = simulate_minimax(P, seed=7, **kw), simulate_minimax(P, seed=7, **kw)
    np.testing.assert_array_equal(a["minimax"].metrics["l2"], b["minimax"].metrics["l2"])
    with pytest.raises(ALMOValueError, match="alpha_min"):
        simulate_minimax(P, alpha_min=1.5, **kw)
    with pytest.raises(ALMOValueError, match="epochs"):
        simulate_minimax(P, **{**kw, "epochs": 0})


def test_a_single_point_box_pins_lambda_at_every_generation():
    # alpha_min = alpha_max: Λ is one point, so the adversary cannot move λ; generation 0 is
    # trained on true data alone, λ = (1, 0).
    out = simulate_minimax(
        P,
        alpha=0.2,
        n=40,
        generations=2,
        replicates=1,
        alpha_min=0.3,
        alpha_max=0.3,
        epochs=4,
        seed=3,
    )
    lam = np.array(out["minimax"].info["mean_weights"])
    np.testing.assert_allclose(lam, [[1.0, 0.0], [0.3, 0.7], [0.3, 0.7]], atol=1e-12)
    assert out["minimax"].info["alpha_min"] == out["minimax"].info["alpha_max"] == 0.3
    assert "mean_weights" not in out["pooled"].info
    for res in out.values():
        assert res.n.tolist() == [40, 40, 40] and res.alpha.tolist() == [0.2, 0.2, 0.2]
        assert res.policy.endswith("(fixed composition)")
