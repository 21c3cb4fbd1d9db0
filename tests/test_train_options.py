"""MinimaxTrainer's options against hand computations: mixture sets, history_every, the averaged
λ and θ, evaluation with fixed scales, seeding, the ObjectiveBatch θ loss, and bad arguments."""

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from almo import BoxSimplex, Polytope, PriorBall, Simplex
from almo._validation import ALMOValueError
from almo.objectives import ObjectiveFamily
from almo.train import LambdaCallback, MinimaxTrainer
from almo.weights import ExponentiatedAscent, ProjectedAscent
from checks import poly_average, poly_weights

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n=48, d=4, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=gen)
    g = torch.arange(n) % 2
    return x, y, g


def _batches(x, y, g, size=8):
    return [(x[i : i + size], y[i : i + size], g[i : i + size]) for i in range(0, len(x), size)]


def _model(seed=3):
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 3, dtype=torch.float64)


def _family(**kw):
    return ObjectiveFamily(["log_loss", "hinge"], groups=2, **kw)


def _trainer(model=None, **kw):
    kw.setdefault("optimizer", lambda ps: torch.optim.SGD(ps, lr=0.3))
    return MinimaxTrainer(
        _model() if model is None else model, _family(), verbose=False, device="cpu", **kw
    )


def _hand_losses(out, y, g, n_groups=2):
    """[log_loss@g0, log_loss@g1, hinge@g0, hinge@g1] by hand (float64, 0 when absent)."""
    rows = torch.arange(len(y))
    true = out[rows, y]
    log_loss = torch.logsumexp(out, dim=1) - true
    other = out.clone()
    other[rows, y] = -torch.inf
    hinge = torch.clamp(1.0 + other.max(dim=1).values - true, min=0.0)
    means = []
    for loss in (log_loss, hinge):
        for k in range(n_groups):
            mask = (g == k).to(out.dtype)
            means.append((loss * mask).sum() / max(float(mask.sum()), 1.0))
    return torch.stack(means)


def _project_box(v, lo, hi):
    """Euclidean projection on {lo ≤ λ ≤ hi, Σλ = 1}: bisection on the shift τ."""
    a, b = v.min() - hi.max() - 1.0, v.max() - lo.min() + 1.0
    for _ in range(200):
        tau = (a + b) / 2
        if np.clip(v - tau, lo, hi).sum() > 1.0:
            a = tau
        else:
            b = tau
    return np.clip(v - (a + b) / 2, lo, hi)


def _box_worst_case(ell, lo, hi):
    """max ⟨λ, ℓ⟩ over the box simplex: the lower bounds, then mass to the largest losses."""
    lam, left = lo.copy(), 1.0 - lo.sum()
    for k in np.argsort(-ell):
        add = min(hi[k] - lo[k], left)
        lam[k] += add
        left -= add
    return float(lam @ ell), lam


# -- mixture sets --------------------------------------------------------------------------------
def _sets():
    return {
        "box": BoxSimplex(lower=0.1, upper=0.4, p=4),
        "polytope": Polytope(A=[[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], b=[0.0, 0.6]),
        "prior_l1": PriorBall([0.4, 0.3, 0.2, 0.1], radius=0.3, divergence="l1"),
        "prior_chi2": PriorBall([0.25, 0.25, 0.25, 0.25], radius=0.1, divergence="chi2"),
        "prior_kl": PriorBall([0.25, 0.25, 0.25, 0.25], radius=0.05, divergence="kl"),
    }


@pytest.mark.parametrize("rule", ["projected", "exponentiated"])
@pytest.mark.parametrize("name", ["box", "polytope", "prior_l1", "prior_chi2", "prior_kl"])
def test_lambda_stays_in_the_set_at_every_recorded_step(name, rule):
    x, y, g = _data()
    batches = _batches(x, y, g)

    def make_rule():
        return ProjectedAscent(lr=3.0) if rule == "projected" else ExponentiatedAscent(lr=4.0)

    mixture_set = _sets()[name]
    trainer = _trainer(mixture_set=mixture_set, weight_rule=make_rule(), history_every=1)
    h = trainer.fit(batches, epochs=2)
    assert h.step_weights.shape == (12, 4)
    for t, w in enumerate(h.step_weights):
        assert mixture_set.contains(w, atol=1e-7), f"step {t + 1}: {w} outside {name}"
    assert mixture_set.contains(trainer.average_weights, atol=1e-7)
    for record in h.epochs:
        assert mixture_set.contains(record.weights, atol=1e-7)
        assert mixture_set.contains(record.average_weights, atol=1e-7)
    # The same steps on the whole simplex leave the set: the constraint did act.
    free = _trainer(weight_rule=make_rule(), history_every=1).fit(batches, epochs=2)
    assert not all(mixture_set.contains(w, atol=1e-4) for w in free.step_weights)


def test_box_simplex_steps_are_hand_projected_ascent_steps():
    x, y, g = _data()
    lo, hi = np.full(4, 0.1), np.array([0.4, 0.4, 0.5, 0.3])
    trainer = _trainer(
        mixture_set=BoxSimplex(lower=lo, upper=hi),
        weight_rule=ProjectedAscent(lr=2.0),
        history_every=1,
    )
    h = trainer.fit(_batches(x, y, g), epochs=2)
    lam = _project_box(np.full(4, 0.25), lo, hi)
    np.testing.assert_allclose(lam, 0.25, rtol=0, atol=1e-12)
    hit_bound = False
    for t, ell in enumerate(h.step_losses):
        lam = _project_box(lam + 2.0 * ell, lo, hi)
        np.testing.assert_allclose(h.step_weights[t], lam, rtol=0, atol=1e-9)
        hit_bound |= bool(np.isclose(lam, hi, atol=1e-9).any())
    assert hit_bound


# -- history_every -----------------------------------------------------------------------------
@pytest.mark.parametrize("every", [3, 5])
def test_history_every_keeps_every_kth_step_and_leaves_training_alone(every):
    x, y, g = _data()
    batches = _batches(x, y, g)
    full = _trainer(weight_rule=ProjectedAscent(lr=0.5), history_every=1)
    sparse = _trainer(weight_rule=ProjectedAscent(lr=0.5), history_every=every)
    hf, hs = full.fit(batches, epochs=2), sparse.fit(batches, epochs=2)
    assert hf.steps == list(range(1, 13))
    assert hs.steps == list(range(every, 13, every))
    rows = [s - 1 for s in hs.steps]
    np.testing.assert_array_equal(hs.step_weights, hf.step_weights[rows])
    np.testing.assert_array_equal(hs.step_losses, hf.step_losses[rows])
    assert torch.equal(full.model.weight, sparse.model.weight)
    assert sparse.history_every == every and sparse.config()["history_every"] == every


def test_history_every_defaults_to_one_per_hundred_objectives():
    assert _trainer().history_every == 1
    family = ObjectiveFamily("log_loss", groups=250)
    assert MinimaxTrainer(torch.nn.Linear(4, 3), family, verbose=False).history_every == 2


# -- averaged λ and θ ----------------------------------------------------------------------------
@pytest.mark.parametrize("lambda_every", [1, 2])
def test_average_weights_is_the_mean_of_the_lambda_iterates(lambda_every):
    """The average covers λ_0 and each λ step (every ``lambda_every`` θ steps), per epoch too,
    with the polynomial-decay weights of the trainer's ``average_power``."""
    x, y, g = _data()
    trainer = _trainer(
        weight_rule=ProjectedAscent(lr=0.7), history_every=1, lambda_every=lambda_every
    )
    h = trainer.fit(_batches(x, y, g), epochs=2)
    iterates = [np.full(4, 0.25)] + [
        h.step_weights[t] for t in range(12) if (t + 1) % lambda_every == 0
    ]
    power = trainer.average_power
    assert power == 7.0  # the default
    np.testing.assert_allclose(
        trainer.average_weights, poly_average(iterates, power), rtol=0, atol=1e-14
    )
    first_epoch = iterates[: 1 + 6 // lambda_every]
    np.testing.assert_allclose(
        h.epochs[0].average_weights, poly_average(first_epoch, power), rtol=0, atol=1e-14
    )
    np.testing.assert_array_equal(h.epochs[1].weights, h.step_weights[-1])
    assert not np.allclose(trainer.average_weights, trainer.weights, atol=1e-3)


def test_averaged_model_is_the_mean_of_the_parameter_iterates():
    x, y, g = _data()
    model = _model()
    iterates = [[q.detach().clone() for q in model.parameters()]]
    cb = LambdaCallback(
        on_step_end=lambda tr: iterates.append([q.detach().clone() for q in tr.model.parameters()])
    )
    trainer = _trainer(model, weight_rule=ProjectedAscent(lr=0.5))
    trainer.fit(_batches(x, y, g), epochs=2, callbacks=[cb])
    assert len(iterates) == 13
    avg = trainer.averaged_model()
    assert avg is not trainer.model
    for k, q in enumerate(avg.parameters()):
        expected = poly_average([it[k] for it in iterates], trainer.average_power)
        torch.testing.assert_close(q.detach(), expected, rtol=1e-12, atol=1e-13)
        assert not torch.allclose(q, iterates[-1][k], atol=1e-4)  # not the last iterate
    # The copy is independent: training it does not touch the trainer's model.
    with torch.no_grad():
        avg.weight.add_(1.0)
    torch.testing.assert_close(trainer.model.weight.detach(), iterates[-1][0], rtol=0, atol=0)


@pytest.mark.parametrize("power", [0.0, 1.0, 7.0])
def test_the_averages_weigh_iterates_by_the_chosen_power(power):
    x, y, g = _data()
    model = _model()
    iterates = [[q.detach().clone() for q in model.parameters()]]
    cb = LambdaCallback(
        on_step_end=lambda tr: iterates.append([q.detach().clone() for q in tr.model.parameters()])
    )
    trainer = _trainer(model, weight_rule=ProjectedAscent(lr=0.5), average_power=power)
    h = trainer.fit(_batches(x, y, g), epochs=2, callbacks=[cb])
    for k, q in enumerate(trainer.averaged_model().parameters()):
        expected = poly_average([it[k] for it in iterates], power)
        torch.testing.assert_close(q.detach(), expected, rtol=1e-12, atol=1e-13)
    lam = [np.full(4, 0.25), *h.step_weights]
    np.testing.assert_allclose(trainer.average_weights, poly_average(lam, power), atol=1e-14)
    if power == 0:
        np.testing.assert_allclose(trainer.average_weights, np.mean(lam, axis=0), atol=1e-15)
    else:  # the last iterates weigh more than the first
        w = poly_weights(len(lam), power)
        assert w[-1] > w[len(w) // 2] > w[1] and w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "high"])
def test_bad_average_power_is_refused(bad):
    with pytest.raises(ALMOValueError, match="average_power"):
        _trainer(average_power=bad)


def test_without_average_model_the_averaged_model_is_the_last_iterate():
    x, y, g = _data()
    trainer = _trainer(average_model=False)
    h = trainer.fit(_batches(x, y, g), epochs=1, eval_loader=[(x, y, g)])
    avg = trainer.averaged_model()
    for a, b in zip(avg.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert h.epochs[0].averaged is None and h.epochs[0].last is not None


# -- evaluation with fixed scales --------------------------------------------------------------
def test_evaluate_with_fixed_scales_matches_a_hand_computation():
    x, y, g = _data(n=45)
    g = torch.tensor([0, 1, 1] * 15)  # unequal group sizes: 15 and 30
    scales = np.array([2.0, 0.5, 1.5, 0.8])
    lo, hi = np.full(4, 0.05), np.full(4, 0.6)
    c = torch.tensor([0.01, 0.02, 0.03, 0.04], dtype=torch.float64)

    def penalty(m):
        return c * (m.weight**2).sum()

    model = _model()
    trainer = MinimaxTrainer(
        model,
        _family(normalize=scales),
        mixture_set=BoxSimplex(lower=lo, upper=hi),
        penalty=penalty,
        verbose=False,
        device="cpu",
    )
    loader = DataLoader(TensorDataset(x, y, g), batch_size=7)  # uneven batches
    report = trainer.evaluate(loader)
    with torch.no_grad():
        raw = _hand_losses(x @ model.weight.T + model.bias, y, g).numpy()
        r = penalty(model).numpy()
    np.testing.assert_allclose(report.raw, raw, rtol=1e-12, atol=0)
    np.testing.assert_allclose(report.normalized, raw / scales, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(report.scales, scales)
    np.testing.assert_array_equal(report.counts, [15, 30, 15, 30])
    np.testing.assert_allclose(report.penalty, r, rtol=1e-12, atol=0)
    value, lam = _box_worst_case(raw / scales, lo, hi)
    assert report.worst_case == pytest.approx(value, rel=1e-8)
    np.testing.assert_allclose(report.weights, lam, rtol=0, atol=1e-8)
    pen_value, _ = _box_worst_case(raw / scales + r, lo, hi)
    assert report.penalized_worst_case == pytest.approx(pen_value, rel=1e-8)
    # A fixed-scale family is never recalibrated by fit.
    trainer.fit(_batches(x, y, g, size=9), epochs=1)
    np.testing.assert_array_equal(trainer.family.scale_array, scales)


def test_evaluate_without_every_group_names_the_missing_objectives():
    x, y, _ = _data()
    trainer = _trainer()
    with pytest.raises(ALMOValueError, match=r"eval_loader.*log_loss@group1.*hinge@group1"):
        trainer.evaluate([(x, y, torch.zeros(48, dtype=torch.long))])


# -- seeding -----------------------------------------------------------------------------------
def _seeded_run(seed):
    x, y, g = _data(n=64)
    torch.manual_seed(11)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 6, dtype=torch.float64),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(6, 3, dtype=torch.float64),
    )
    loader = DataLoader(TensorDataset(x, y, g), batch_size=8, shuffle=True)
    trainer = MinimaxTrainer(
        model,
        _family(),
        weight_rule=ExponentiatedAscent(lr=0.5),
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.05),
        seed=seed,
        verbose=False,
        device="cpu",
        history_every=1,
    )
    h = trainer.fit(loader, epochs=2, eval_loader=loader)
    return trainer, h


def test_the_same_seed_gives_bitwise_identical_runs():
    (a, ha), (b, hb) = _seeded_run(5), _seeded_run(5)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(ha.step_weights, hb.step_weights)
    np.testing.assert_array_equal(ha.step_losses, hb.step_losses)
    np.testing.assert_array_equal(a.average_weights, b.average_weights)
    assert ha.epochs[-1].last.raw.tolist() == hb.epochs[-1].last.raw.tolist()
    c, hc = _seeded_run(6)  # another seed: other shuffles and dropout masks
    assert not np.array_equal(ha.step_losses, hc.step_losses)
    assert not torch.equal(a.model[0].weight, c.model[0].weight)


# -- ObjectiveBatch θ loss ------------------------------------------------------------------------
def test_theta_loss_gradient_equals_autograd_of_hand_weighted_group_means():
    gen = torch.Generator().manual_seed(7)
    scores = torch.randn(20, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 4, (20,), generator=gen)
    scales = np.array([1.5, 0.5, 2.0, 1.0, 0.25, 3.0])
    family = ObjectiveFamily(["log_loss", "hinge"], groups=3, normalize=scales)
    lam = np.array([0.05, 0.1, 0.15, 0.2, 0.22, 0.28])
    for groups in (torch.tensor([0] * 6 + [1] * 9 + [2] * 5), torch.tensor([0, 2] * 10)):
        batch = family.batch(scores, labels, groups)
        (got,) = torch.autograd.grad(batch.theta_loss(lam), scores)
        hand = _hand_losses(scores, labels, groups, n_groups=3)
        counts = torch.stack([(groups == k).sum() for k in range(3)]).repeat(2)
        weighted = torch.dot(torch.tensor(lam / scales), hand)
        (want,) = torch.autograd.grad(weighted, scores)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            batch.means(), hand.detach().numpy() / scales, rtol=1e-12, atol=0
        )
        np.testing.assert_array_equal(batch.total_counts, counts.numpy())
        np.testing.assert_array_equal(batch.present, counts.numpy() > 0)
        assert batch.theta_loss(lam).item() == pytest.approx(float(lam @ batch.means()), rel=1e-12)
    # In the last batch (group 1 absent) a group-2 sample's gradient comes from its own group's
    # two terms only.
    row = 1
    hand = _hand_losses(scores, labels, groups, n_groups=3)
    (g_row,) = torch.autograd.grad(
        (lam[2] / scales[2]) * hand[2] + (lam[5] / scales[5]) * hand[5], scores
    )
    torch.testing.assert_close(got[row], g_row[row], rtol=1e-12, atol=1e-12)


# -- bad arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize("epochs", [0, -2, True, 1.5, "3", None])
def test_bad_epochs_are_refused_before_any_step(epochs):
    x, y, g = _data()
    trainer = _trainer()
    before = trainer.model.weight.detach().clone()
    with pytest.raises(ALMOValueError, match=r"^`epochs` must be an integer >= 1"):
        trainer.fit(_batches(x, y, g), epochs=epochs)
    assert trainer.step == 0 and torch.equal(trainer.model.weight, before)


def _bad_batches():
    x, y, g = _data(n=8)
    return {
        "dict": [{"x": x, "y": y}],
        "4-tuple": [(x, y, g, g)],
        "1-tuple": [(x,)],
        "bare tensor": [x],
    }


@pytest.mark.parametrize("kind", ["dict", "4-tuple", "1-tuple", "bare tensor"])
def test_loaders_yielding_other_than_pairs_or_triples_name_train_loader(kind):
    trainer = _trainer()
    before = trainer.model.weight.detach().clone()
    with pytest.raises(ALMOValueError, match=r"^`train_loader` must yield \(x, y\)"):
        trainer.fit(_bad_batches()[kind], epochs=1)
    assert trainer.step == 0 and torch.equal(trainer.model.weight, before)


@pytest.mark.parametrize(
    "mixture_set",
    [Simplex(3), BoxSimplex(lower=0.1, upper=0.5, p=5), PriorBall([0.5, 0.5], radius=0.2)],
)
def test_a_mixture_set_of_the_wrong_size_names_mixture_set(mixture_set):
    with pytest.raises(ALMOValueError, match=r"^`mixture_set` must have p = family.p = 4"):
        _trainer(mixture_set=mixture_set)


@pytest.mark.parametrize("penalty", [3.0, "l2", torch.zeros(4)])
def test_a_non_callable_penalty_names_penalty(penalty):
    with pytest.raises(ALMOValueError, match=r"^`penalty` must be callable"):
        _trainer(penalty=penalty)


@pytest.mark.parametrize(
    "result",
    [torch.zeros(3), torch.zeros(4, 1), torch.zeros(()), [0.0] * 4, 0.0],
    ids=["short", "column", "scalar", "list", "float"],
)
def test_a_penalty_of_the_wrong_shape_names_penalty_before_any_step(result):
    x, y, g = _data()
    trainer = _trainer(penalty=lambda m: result)
    before = trainer.model.weight.detach().clone()
    with pytest.raises(ALMOValueError, match=r"^`penalty` must return a tensor of shape \(4,\)"):
        trainer.fit(_batches(x, y, g), epochs=1)
    assert trainer.step == 0 and torch.equal(trainer.model.weight, before)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"lambda_every": 0}, "lambda_every"),
        ({"lambda_every": -3}, "lambda_every"),
        ({"lambda_every": True}, "lambda_every"),
        ({"history_every": 0}, "history_every"),
        ({"history_every": -1}, "history_every"),
        ({"method": "adam"}, "method"),
        ({"weight_rule": "projected"}, "weight_rule"),
        ({"optimizer": 0.1}, "optimizer"),
        ({"optimizer": lambda ps: "sgd"}, "optimizer"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, argument):
    with pytest.raises(ALMOValueError, match=rf"^`{argument}` must"):
        _trainer(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"lambda_every": 2.5}, "lambda_every"),
        ({"lambda_every": "2"}, "lambda_every"),
        ({"lambda_every": None}, "lambda_every"),
        ({"lambda_every": "x"}, "lambda_every"),
        ({"history_every": 2.5}, "history_every"),
        ({"history_every": True}, "history_every"),
    ],
)
def test_non_integer_lambda_every_and_history_every_are_refused(kwargs, argument):
    with pytest.raises(ALMOValueError, match=rf"^`{argument}` must"):
        _trainer(**kwargs)


def test_bad_fit_arguments_are_named():
    x, y, g = _data()
    batches = _batches(x, y, g)
    with pytest.raises(ALMOValueError, match=r"^`eval_loader` must yield at least one batch"):
        _trainer().fit(batches, epochs=1, eval_loader=[])
    with pytest.raises(ALMOValueError, match=r"^`callbacks` must contain Callback instances"):
        _trainer().fit(batches, epochs=1, callbacks=[lambda tr: None])
    with pytest.raises(ALMOValueError, match=r"^`train_loader` must yield at least one batch"):
        _trainer().fit(iter([]), epochs=1)


def test_an_optimizer_instance_is_used_as_given():
    x, y, g = _data()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    before = copy.deepcopy(model)
    trainer = MinimaxTrainer(model, _family(), optimizer=opt, verbose=False, device="cpu")
    trainer.fit(_batches(x, y, g), epochs=1)
    assert trainer.optimizer is opt
    for a, b in zip(model.parameters(), before.parameters(), strict=True):
        assert torch.equal(a, b)  # lr = 0: θ never moved, λ did
    assert not np.allclose(trainer.weights, 0.25)
