"""MinimaxTrainer's three methods over many steps, against a hand-written loop.

The reference below is plain torch and numpy: the per-group losses, SGD with momentum, the
simplex projection, the exponentiated step, the ``lambda_every`` window and the held values of
absent groups are all written out here. Models and data are float64, so the trainer and the
loop agree to round-off at every recorded step (θ, λ and the loss vector λ saw).
"""

import copy

import numpy as np
import pytest
import torch

from almo.objectives import ObjectiveFamily
from almo.train import LambdaCallback, MinimaxTrainer
from almo.weights import ExponentiatedAscent, FixedWeights, ProjectedAscent

LR, MOMENTUM = 0.2, 0.5
RTOL, ATOL = 1e-10, 1e-12


pytestmark = pytest.mark.usefixtures("one_thread")


# -- the reference, by hand -------------------------------------------------------------------
def _data(n=48, d=4, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=gen)
    return x, y


def _batches(x, y, g, size=8):
    return [(x[i : i + size], y[i : i + size], g[i : i + size]) for i in range(0, len(x), size)]


def _model(seed=3, d=4, classes=3):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, classes, dtype=torch.float64)


def _hand_losses(params, batch, n_groups, with_squared=True):
    """[log_loss@g0, …, log_loss@g(G-1), squared@g0, …]: per-group means, 0 when absent."""
    w, b = params
    x, y, g = batch
    out = x @ w.T + b
    log_loss = torch.logsumexp(out, dim=1) - out[torch.arange(len(y)), y]
    per = [log_loss]
    if with_squared:
        onehot = torch.zeros_like(out)
        onehot[torch.arange(len(y)), y] = 1.0
        per.append(((out - onehot) ** 2).sum(dim=1))
    means = []
    for loss in per:
        for k in range(n_groups):
            mask = (g == k).to(out.dtype)
            means.append((loss * mask).sum() / max(float(mask.sum()), 1.0))
    return torch.stack(means)


def _project_simplex(v):
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1), 0.0)


def _pa(lr):
    return lambda lam, ell: _project_simplex(lam + lr * ell)


def _ea(lr):
    def step(lam, ell):
        q = lam * np.exp(lr * (ell - ell.max()))
        return q / q.sum()

    return step


def _fixed(lam, ell):
    return lam


class _Adversary:
    """λ's state by hand: held values of absent objectives, then the k-window, then the rule."""

    def __init__(self, step, lam0, k=1):
        p = len(lam0)
        self.step, self.k = step, k
        self.lam, self.acc, self.n = np.array(lam0, float), np.zeros(p), 0
        self.last_seen = np.full(p, np.nan)

    def updated(self, ell, present):
        new = copy.copy(self)
        held = np.where(present, ell, self.last_seen)
        held[np.isnan(held)] = ell[present].mean()
        new.last_seen = np.where(present, held, self.last_seen)
        new.held = held
        new.acc, new.n = self.acc + held, self.n + 1
        if new.n == self.k:
            new.lam = self.step(self.lam, new.acc / self.k)
            new.acc, new.n = np.zeros_like(self.acc), 0
        return new


def _sgd(params, grads, bufs):
    """torch.optim.SGD(lr, momentum) written out; returns new parameters and buffers."""
    bufs = [g.clone() if b is None else MOMENTUM * b + g for g, b in zip(grads, bufs, strict=True)]
    new = [(q - LR * b).detach().requires_grad_() for q, b in zip(params, bufs, strict=True)]
    return new, bufs


def _hand_run(
    method, model, batches, epochs, step, lam0, n_groups, k=1, penalty=None, squared=True
):
    params = [q.detach().clone().requires_grad_() for q in model.parameters()]
    bufs = [None] * len(params)
    adv = _Adversary(step, lam0, k)

    def losses(ps, batch):
        ell = _hand_losses(ps, batch, n_groups, squared)
        return ell if penalty is None else ell + penalty(ps)

    def grads(ps, lam, ell):
        return torch.autograd.grad(torch.dot(torch.from_numpy(lam), ell), ps)

    record = []
    for _ in range(epochs):
        for batch in batches:
            present = np.array([bool((batch[2] == k).any()) for k in range(n_groups)])
            present = np.tile(present, 2 if squared else 1)
            ell = losses(params, batch)
            vec = ell.detach().numpy()
            if method == "sgda":
                g = grads(params, adv.lam, ell)
                params, bufs = _sgd(params, g, bufs)
                adv = adv.updated(vec, present)
            elif method == "simultaneous":
                adv = adv.updated(vec, present)
                params, bufs = _sgd(params, grads(params, adv.lam, ell), bufs)
            else:  # mirror_prox: the look-ahead's buffers are thrown away
                half, _ = _sgd(params, grads(params, adv.lam, ell), bufs)
                lam_half = adv.updated(vec, present).lam
                ell_half = losses(half, batch)
                params, bufs = _sgd(params, grads(half, lam_half, ell_half), bufs)
                adv = adv.updated(ell_half.detach().numpy(), present)
            record.append(([q.detach().clone() for q in params], adv.lam.copy(), adv.held))
    return record


def _fit(method, model, batches, epochs, rule, family, **kwargs):
    seen = []

    def on_step(tr):
        seen.append([q.detach().clone() for q in tr.model.parameters()])

    trainer = MinimaxTrainer(
        model,
        family,
        weight_rule=rule,
        method=method,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=LR, momentum=MOMENTUM),
        verbose=False,
        device="cpu",
        history_every=1,
        **{"average_power": 0.0, **kwargs},  # the plain means the hand-written loop keeps
    )
    history = trainer.fit(batches, epochs=epochs, callbacks=[LambdaCallback(on_step_end=on_step)])
    return trainer, history, seen


def _compare(record, history, seen):
    assert len(record) == len(seen) == len(history.steps)
    for t, (params, lam, held) in enumerate(record):
        for a, b in zip(seen[t], params, strict=True):
            torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=f"θ at step {t + 1}")
        np.testing.assert_allclose(history.step_weights[t], lam, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(history.step_losses[t], held, rtol=RTOL, atol=ATOL)


# -- the three methods, several steps -----------------------------------------------------------
RULES = {
    "projected": (lambda: ProjectedAscent(lr=0.8), _pa(0.8)),
    "exponentiated": (lambda: ExponentiatedAscent(lr=1.5), _ea(1.5)),
    "fixed": (lambda: FixedWeights([0.1, 0.2, 0.3, 0.4]), _fixed),
}


@pytest.mark.parametrize("rule_name", sorted(RULES))
@pytest.mark.parametrize("method", ["sgda", "simultaneous", "mirror_prox"])
def test_two_epochs_match_the_hand_written_loop(method, rule_name):
    x, y = _data()
    g = torch.arange(48) % 2  # both groups in every batch
    batches = _batches(x, y, g)
    make_rule, hand_step = RULES[rule_name]
    lam0 = np.array([0.1, 0.2, 0.3, 0.4]) if rule_name == "fixed" else np.full(4, 0.25)
    model = _model()
    record = _hand_run(method, model, batches, 2, hand_step, lam0, n_groups=2)
    family = ObjectiveFamily(["log_loss", "squared"], groups=2)
    trainer, history, seen = _fit(method, model, batches, 2, make_rule(), family)
    _compare(record, history, seen)
    assert trainer.step == 12
    if rule_name != "fixed":  # λ really moved, so the order of the updates mattered
        assert np.abs(history.step_weights[-1] - 0.25).max() > 0.05
    # The running mean of λ covers λ_0 … λ_12.
    mean = (lam0 + sum(r[1] for r in record)) / 13
    np.testing.assert_allclose(trainer.average_weights, mean, rtol=1e-10, atol=1e-12)


def test_the_three_methods_give_three_different_runs():
    x, y = _data()
    g = torch.arange(48) % 2
    family = ObjectiveFamily(["log_loss", "squared"], groups=2)
    ends = {}
    for method in ("sgda", "simultaneous", "mirror_prox"):
        trainer, _, _ = _fit(method, _model(), _batches(x, y, g), 1, ProjectedAscent(0.8), family)
        ends[method] = trainer.model.weight.detach().clone()
    assert not torch.allclose(ends["sgda"], ends["simultaneous"], rtol=0, atol=1e-6)
    assert not torch.allclose(ends["sgda"], ends["mirror_prox"], rtol=0, atol=1e-6)
    assert not torch.allclose(ends["simultaneous"], ends["mirror_prox"], rtol=0, atol=1e-6)


# -- lambda_every ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["sgda", "simultaneous", "mirror_prox"])
def test_lambda_every_window_runs_across_epochs(method):
    """k = 4 with 6 batches an epoch: the second window spans the epoch boundary."""
    x, y = _data()
    g = torch.arange(48) % 2
    batches = _batches(x, y, g)
    model = _model()
    record = _hand_run(method, model, batches, 2, _pa(0.8), np.full(4, 0.25), 2, k=4)
    family = ObjectiveFamily(["log_loss", "squared"], groups=2)
    trainer, history, seen = _fit(
        method, model, batches, 2, ProjectedAscent(0.8), family, lambda_every=4
    )
    _compare(record, history, seen)
    w = history.step_weights
    prev = np.vstack([np.full(4, 0.25), w[:-1]])
    moved = [t + 1 for t in range(12) if not np.array_equal(w[t], prev[t])]
    assert moved == [4, 8, 12]
    assert trainer.lambda_rule.rule.k == 4


# -- absent groups -----------------------------------------------------------------------------
def test_absent_groups_enter_lambda_at_their_last_value_and_carry_no_gradient():
    x, y = _data(n=40)
    # batch 1: groups 0, 1 (2 never seen yet); batch 2: all; batch 3: 0 only; batch 4: 1, 2;
    # batch 5: 2 only.
    g = torch.tensor(
        [0, 1, 0, 1, 0, 1, 0, 1]
        + [0, 1, 2, 0, 1, 2, 0, 1]
        + [0] * 8
        + [1, 2, 1, 2, 1, 2, 1, 2]
        + [2] * 8
    )
    batches = _batches(x, y, g)
    for method in ("sgda", "mirror_prox"):
        model = _model()
        record = _hand_run(method, model, batches, 2, _pa(0.8), np.full(3, 1 / 3), 3, squared=False)
        family = ObjectiveFamily("log_loss", groups=3)
        _, history, seen = _fit(method, model, batches, 2, ProjectedAscent(0.8), family)
        _compare(record, history, seen)
        ell = history.step_losses
        # batch 1: group 2 unseen enters at the mean of groups 0 and 1
        assert ell[0][2] == pytest.approx((ell[0][0] + ell[0][1]) / 2, rel=1e-12)
        # batch 3 (group 0 only): groups 1, 2 keep the values of batch 2 exactly
        assert ell[2][1] == ell[1][1] and ell[2][2] == ell[1][2]
        # batch 5 (group 2 only): group 0 from batch 3, group 1 from batch 4
        assert ell[4][0] == ell[2][0] and ell[4][1] == ell[3][1]
        # second epoch, batch 1: group 2 now held at its value from batch 5, not the mean
        assert ell[5][2] == ell[4][2]


# -- penalty -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["sgda", "simultaneous", "mirror_prox"])
def test_penalty_moves_theta_by_lambda_dot_grad_r_and_lambda_by_r(method):
    c = torch.tensor([0.05, 0.4, 0.1, 0.2], dtype=torch.float64)

    def hand_penalty(ps):
        return c * (ps[0] ** 2).sum()

    def penalty(model):
        return c * (model.weight**2).sum()

    x, y = _data()
    g = torch.arange(48) % 2
    batches = _batches(x, y, g)
    model = _model()
    record = _hand_run(
        method, model, batches, 1, _pa(0.8), np.full(4, 0.25), 2, penalty=hand_penalty
    )
    family = ObjectiveFamily(["log_loss", "squared"], groups=2)
    _, history, seen = _fit(
        method, model, batches, 1, ProjectedAscent(0.8), family, penalty=penalty
    )
    _compare(record, history, seen)
    # Without the penalty the run is different: it is not a no-op.
    plain = _hand_run(method, _model(), batches, 1, _pa(0.8), np.full(4, 0.25), 2)
    assert not np.allclose(plain[-1][1], record[-1][1], rtol=0, atol=1e-6)
    assert not torch.allclose(plain[-1][0][0], record[-1][0][0], rtol=0, atol=1e-6)
