"""MinimaxTrainer against independent references: plain training, weighted losses, hand-written
SGDA / mirror-prox steps, replayed weight rules, manual evaluation."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from almo import Simplex
from almo.losses import LOSSES
from almo.objectives import ObjectiveFamily
from almo.train import Evaluation, History, LambdaCallback, MinimaxTrainer
from almo.weights import Averaged, ExponentiatedAscent, FixedWeights, ProjectedAscent
from checks import poly_average


def _data(n=96, d=5, classes=3, groups=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    g = torch.randint(0, groups, (n,), generator=gen)
    return x, y, g


def _batches(x, y, g=None, size=16):
    out = []
    for i in range(0, len(x), size):
        out.append(
            (x[i : i + size], y[i : i + size])
            if g is None
            else (x[i : i + size], y[i : i + size], g[i : i + size])
        )
    return out


def _mlp(d=5, classes=3, seed=1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Tanh(), torch.nn.Linear(8, classes))


def _params(model):
    return [q.detach().clone() for q in model.parameters()]


def _record_params(store):
    return LambdaCallback(on_step_end=lambda tr: store.append(_params(tr.model)))


def test_single_objective_is_plain_training_step_for_step():
    x, y, _ = _data()
    batches = _batches(x, y)
    model = _mlp()
    ref = copy.deepcopy(model)
    seen = []
    trainer = MinimaxTrainer(
        model,
        ObjectiveFamily("log_loss"),
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.3, momentum=0.9),
    )
    trainer.fit(batches, epochs=2, callbacks=[_record_params(seen)])
    opt = torch.optim.SGD(ref.parameters(), lr=0.3, momentum=0.9)
    step = 0
    for _ in range(2):
        for xb, yb in batches:
            opt.zero_grad()
            F.cross_entropy(ref(xb), yb).backward()
            opt.step()
            for a, b in zip(seen[step], ref.parameters(), strict=True):
                torch.testing.assert_close(a, b.detach(), rtol=1e-6, atol=1e-7)
            step += 1
    assert step == len(seen) == trainer.step == 12
    assert np.array_equal(trainer.weights, [1.0])


@pytest.mark.parametrize("grouped", [False, True])
def test_fixed_weights_equals_training_on_the_weighted_loss(grouped):
    x, y, g = _data()
    losses = ["log_loss", "hinge", "squared"]
    family = ObjectiveFamily(losses, groups=2 if grouped else None)
    g = g % 2 if grouped else None
    w = np.linspace(1.0, 2.0, family.p)
    w /= w.sum()
    model = _mlp()
    ref = copy.deepcopy(model)
    trainer = MinimaxTrainer(
        model,
        family,
        weight_rule=FixedWeights(w),
        verbose=False,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.01),
    )
    trainer.fit(_batches(x, y, g), epochs=2)
    opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    for _ in range(2):
        for batch in _batches(x, y, g):
            out = ref(batch[0])
            means = []
            for name in losses:  # loss-major layout: loss l, then group
                per = LOSSES[name](out, batch[1])
                if grouped:
                    means += [
                        per[batch[2] == k].mean() if (batch[2] == k).any() else per.sum() * 0
                        for k in range(2)
                    ]
                else:
                    means.append(per.mean())
            loss = sum(float(wk) * m for wk, m in zip(w, means, strict=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert np.array_equal(trainer.weights, w) and np.allclose(trainer.average_weights, w)


def test_sgda_weights_replay_the_rule_on_the_recorded_losses():
    x, y, g = _data()
    family = ObjectiveFamily(["log_loss", "hinge"], groups=3)
    rule = ProjectedAscent(lr=0.2)
    trainer = MinimaxTrainer(_mlp(), family, weight_rule=rule, verbose=False)
    history = trainer.fit(_batches(x, y, g), epochs=2)
    replay, state = Averaged(rule, power=trainer.average_power), None
    state = replay.init(Simplex(family.p))
    for k, losses in enumerate(history.step_losses):
        state = replay.update(state, losses)
        np.testing.assert_array_equal(state.weights, history.step_weights[k])
    np.testing.assert_allclose(state.average, trainer.average_weights, rtol=0, atol=1e-15)
    assert history.steps == list(range(1, 13))


def _manual_terms(model, batch, names):
    out = model(batch[0])
    return torch.stack([LOSSES[n](out, batch[1]).mean() for n in names])


@pytest.mark.parametrize("method", ["sgda", "simultaneous"])
def test_one_step_matches_hand_written_update(method):
    x, y, _ = _data(n=16)
    names = ["log_loss", "hinge", "squared"]
    model = _mlp()
    ref = copy.deepcopy(model)
    rule = ExponentiatedAscent(lr=0.7)
    trainer = MinimaxTrainer(
        model,
        ObjectiveFamily(names),
        weight_rule=rule,
        method=method,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.5),
        verbose=False,
    )
    trainer.fit([(x, y)], epochs=1)
    lam0 = torch.full((3,), 1 / 3)
    ell = _manual_terms(ref, (x, y), names)
    lam1 = rule.update(rule.init(Simplex(3)), ell.detach().numpy().astype(np.float64)).weights
    # sgda: the learner answers λ_t; simultaneous: it answers the adversary's new λ_{t+1}.
    lam_used = lam0 if method == "sgda" else torch.tensor(lam1, dtype=torch.float32)
    grads = torch.autograd.grad(torch.dot(lam_used, ell), list(ref.parameters()))
    for q, r, gr in zip(model.parameters(), ref.parameters(), grads, strict=True):
        torch.testing.assert_close(q.detach(), r.detach() - 0.5 * gr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trainer.weights, lam1, rtol=1e-6)


def test_mirror_prox_step_matches_extragradient_and_keeps_adam_state_clean():
    x, y, _ = _data(n=16)
    names = ["log_loss", "squared"]
    rule = ProjectedAscent(lr=0.5)
    model = _mlp()
    ref = copy.deepcopy(model)
    trainer = MinimaxTrainer(
        model,
        ObjectiveFamily(names),
        weight_rule=rule,
        method="mirror_prox",
        verbose=False,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.05),
    )
    trainer.fit([(x, y)], epochs=1)
    # Look-ahead with a throw-away Adam from the same (fresh) state.
    half = copy.deepcopy(ref)
    opt_half = torch.optim.Adam(half.parameters(), lr=0.05)
    ell0 = _manual_terms(half, (x, y), names)
    torch.dot(torch.full((2,), 0.5), ell0).backward()
    opt_half.step()
    s0 = rule.init(Simplex(2))
    lam_half = rule.update(s0, ell0.detach().double().numpy()).weights
    ell_half = _manual_terms(half, (x, y), names)
    grads = torch.autograd.grad(
        torch.dot(torch.tensor(lam_half, dtype=torch.float32), ell_half), list(half.parameters())
    )
    # The real step: one Adam step from the original point and state with the look-ahead grads.
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for r, gr in zip(ref.parameters(), grads, strict=True):
        r.grad = gr
    opt.step()
    for q, r in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(q, r, rtol=1e-5, atol=1e-6)
    for q, r in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(
            trainer.optimizer.state[q]["exp_avg_sq"],
            opt.state[r]["exp_avg_sq"],
            rtol=1e-5,
            atol=1e-9,
        )
        assert float(trainer.optimizer.state[q]["step"]) == 1.0
    lam1 = rule.update(s0, ell_half.detach().double().numpy()).weights
    np.testing.assert_allclose(trainer.weights, lam1, rtol=1e-5)


def test_lambda_every_steps_on_the_mean_of_the_window():
    x, y, g = _data()
    rule = ProjectedAscent(lr=0.3)
    trainer = MinimaxTrainer(
        _mlp(),
        ObjectiveFamily("log_loss", groups=3),
        weight_rule=rule,
        lambda_every=3,
        verbose=False,
    )
    h = trainer.fit(_batches(x, y, g), epochs=1)
    w, ell = h.step_weights, h.step_losses
    state = rule.init(Simplex(3))
    for t in range(6):
        if (t + 1) % 3 == 0:
            state = rule.update(state, ell[t - 2 : t + 1].mean(axis=0))
        np.testing.assert_allclose(w[t], state.weights, rtol=0, atol=1e-15)
    assert not np.array_equal(w[1], w[2])


def test_absent_groups_are_held_at_their_last_value():
    x, y, _ = _data(n=48)
    g = torch.tensor([0, 1, 2] * 5 + [0] + [0, 1] * 8 + [0] * 16)  # group 2 absent later on
    rule = ProjectedAscent(lr=0.3)
    trainer = MinimaxTrainer(
        _mlp(),
        ObjectiveFamily("log_loss", groups=3),
        weight_rule=rule,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.0),
        verbose=False,
    )
    h = trainer.fit(_batches(x, y, g), epochs=1)
    ell = h.step_losses
    assert ell[1][2] == ell[0][2] and ell[2][2] == ell[0][2]  # held, not 0
    assert ell[2][1] == ell[0][1] or ell[2][1] != 0.0
    # Never-seen objectives enter at the present objectives' mean (a neutral value).
    trainer2 = MinimaxTrainer(
        _mlp(), ObjectiveFamily("log_loss", groups=3), weight_rule=rule, verbose=False
    )
    first = trainer2.fit([(x[:8], y[:8], torch.zeros(8, dtype=torch.long))], epochs=1)
    assert np.allclose(first.step_losses[0], first.step_losses[0][0])
    np.testing.assert_allclose(trainer2.weights, np.full(3, 1 / 3))


def test_evaluation_matches_manual_means_and_averaged_iterate():
    x, y, g = _data()
    family = ObjectiveFamily(["log_loss", "zero_one"], groups=3)
    model = _mlp()
    iterates = [_params(model)]
    trainer = MinimaxTrainer(model, family, verbose=False)
    evalset = DataLoader(TensorDataset(x, y, g), batch_size=40)
    h = trainer.fit(
        _batches(x, y, g), epochs=1, eval_loader=evalset, callbacks=[_record_params(iterates)]
    )
    with torch.no_grad():
        out = model(x)
        manual = np.array(
            [
                LOSSES[n](out, y)[g == k].double().mean().item()
                for n in ("log_loss", "zero_one")
                for k in range(3)
            ]
        )
    ev = h.epochs[0].last
    assert isinstance(ev, Evaluation) and list(ev.names) == family.names
    np.testing.assert_allclose(ev.losses, manual, rtol=1e-6)
    assert ev.worst_case == pytest.approx(manual.max()) and ev.worst_weights[manual.argmax()] == 1
    mean_model = copy.deepcopy(model)
    with torch.no_grad():
        for k, q in enumerate(mean_model.parameters()):
            q.copy_(poly_average([it[k] for it in iterates], trainer.average_power))
    manual_avg = MinimaxTrainer(mean_model, family, verbose=False).evaluate(evalset)
    np.testing.assert_allclose(h.epochs[0].averaged.losses, manual_avg.losses, rtol=1e-5)
    np.testing.assert_allclose(trainer.evaluate(evalset).losses, ev.losses, rtol=1e-12)


def test_penalty_enters_theta_and_lambda_steps():
    x, y, _ = _data(n=32)
    w = np.array([0.25, 0.75])
    beta = torch.tensor([0.1, 0.3])

    def penalty(model):
        return beta * sum(q.square().sum() for q in model.parameters())

    model = _mlp()
    ref = copy.deepcopy(model)
    trainer = MinimaxTrainer(
        model,
        ObjectiveFamily(["log_loss", "hinge"]),
        penalty=penalty,
        weight_rule=FixedWeights(w),
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.1),
    )
    h = trainer.fit(_batches(x, y), epochs=1)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for xb, yb in _batches(x, y):
        ell = _manual_terms(ref, (xb, yb), ["log_loss", "hinge"]) + penalty(ref)
        opt.zero_grad()
        torch.dot(torch.tensor(w, dtype=torch.float32), ell).backward()
        opt.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # The λ step sees ℓ + r: at step 1 the recorded vector exceeds the bare losses by r(θ_0).
    r0 = penalty(_mlp()).detach().double().numpy()
    bare = _manual_terms(_mlp(), (x[:16], y[:16]), ["log_loss", "hinge"]).detach().double()
    np.testing.assert_allclose(h.step_losses[0], bare.numpy() + r0, rtol=1e-5)


def test_initial_normalization_is_the_initial_model_over_all_training_data():
    x, y, _g = _data()
    family = ObjectiveFamily(["log_loss", "hinge"], normalize="initial")
    model = _mlp()
    with torch.no_grad():
        out = model(x)
        expected = [LOSSES[n](out, y).double().mean().item() for n in ("log_loss", "hinge")]
    trainer = MinimaxTrainer(model, family, verbose=False)
    h = trainer.fit(_batches(x, y), epochs=1)
    assert bool(family.calibrated.all())
    np.testing.assert_allclose(family.scale_array, expected, rtol=1e-6)
    # The first step sees the first batch relative to the whole data: near 1, not exactly 1.
    first = _manual_terms(_mlp(), (x[:16], y[:16]), ["log_loss", "hinge"]).detach().double()
    np.testing.assert_allclose(h.step_losses[0], first.numpy() / expected, rtol=1e-5)


def test_history_round_trips_through_json_and_state_dict():
    x, y, g = _data()
    trainer = MinimaxTrainer(_mlp(), ObjectiveFamily("log_loss", groups=3), verbose=False)
    h = trainer.fit(_batches(x, y, g), epochs=2, eval_loader=_batches(x, y, g))
    import json

    back = History.from_dict(json.loads(h.to_json()))
    np.testing.assert_array_equal(back.step_weights, h.step_weights)
    assert back.epochs == [] or back.worst_case == h.worst_case
    again = History.from_state_dict(h.state_dict())
    np.testing.assert_array_equal(again.step_losses, h.step_losses)
    assert [e.to_dict() for e in again.epochs] == [e.to_dict() for e in h.epochs]
    assert len(h.epochs) == 2 and h.epochs[1].step == 12


def test_history_is_subsampled_for_large_p():
    x, y, _ = _data(n=64)
    g = torch.arange(64) % 64
    trainer = MinimaxTrainer(_mlp(), ObjectiveFamily("log_loss", groups=300), verbose=False)
    assert trainer.history_every == 3
    h = trainer.fit(_batches(x, y, g, size=8), epochs=1)
    assert h.steps == [3, 6] and h.step_weights.shape == (2, 300)
