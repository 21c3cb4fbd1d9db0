"""On a small convex problem the trainer reaches the minimax optimum computed by cvxpy, and λ
stays in Λ throughout for every mixture set and rule (property test)."""

import cvxpy as cp
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import mixtures
from almo.objectives import ObjectiveFamily
from almo.train import LambdaCallback, MinimaxTrainer
from almo.weights import BestResponse, ExponentiatedAscent, ProjectedAscent


def _losses_and_groups():
    """Overall log loss and squared loss, then the log loss of each of two groups (p = 4)."""
    return ObjectiveFamily.concat(
        [ObjectiveFamily(["log_loss", "squared"]), ObjectiveFamily("log_loss", groups=2)]
    )


def _instance(n=150, d=4, classes=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    g = (rng.random(n) < 0.3).astype(int)
    w = rng.normal(size=(d, classes))
    noise = 1.5 * rng.normal(size=(n, classes)) + g[:, None] * np.array([0.0, 0.0, 1.0])
    return x, np.argmax(x @ w + noise, axis=1), g


def _cvxpy_optimum(x, y, g):
    """min over (W, b) of max_k L_k: the epigraph form min t s.t. L_k(W, b) <= t."""
    n, d = x.shape
    classes = int(y.max()) + 1
    w, b, t = cp.Variable((d, classes)), cp.Variable(classes), cp.Variable()
    scores = x @ w + np.ones((n, 1)) @ cp.reshape(b, (1, classes), order="C")
    onehot = np.eye(classes)[y]

    def log_loss(mask):
        s = scores[mask]
        return (
            cp.sum(cp.log_sum_exp(s, axis=1)) - cp.sum(cp.multiply(onehot[mask], s))
        ) / mask.sum()

    losses = [
        log_loss(np.ones(n, bool)),
        cp.sum_squares(scores - onehot) / n,
        log_loss(g == 0),
        log_loss(g == 1),
    ]
    problem = cp.Problem(cp.Minimize(t), [loss <= t for loss in losses])
    problem.solve()
    assert problem.status == cp.OPTIMAL
    return problem.value


def test_averaged_iterate_reaches_the_cvxpy_minimax_optimum(one_thread):
    x, y, g = _instance()
    optimum = _cvxpy_optimum(x, y, g)
    batch = (torch.tensor(x), torch.tensor(y), torch.tensor(g))
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 3).double()
    trainer = MinimaxTrainer(
        model,
        _losses_and_groups(),
        method="mirror_prox",
        weight_rule=ProjectedAscent(lr=0.5),
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=1.0),
    )
    history = trainer.fit([batch] * 400, epochs=1, eval_loader=[batch])
    averaged = history.epochs[-1].averaged
    assert list(averaged.names) == ["log_loss", "squared", "log_loss@group0", "log_loss@group1"]
    # Every point's worst case is >= the optimum; the averaged iterate is within 1% of it.
    assert optimum * (1 - 1e-6) <= averaged.worst_case <= optimum * 1.01
    assert history.epochs[-1].last.worst_case <= optimum * 1.01


def _sets(p, data):
    lower = np.full(p, data.draw(st.floats(0.0, 0.8 / p)))
    upper = np.full(p, data.draw(st.floats(1.2 / p, 1.0)))
    a = np.zeros((1, p))
    a[0, 0] = 1.0  # λ_0 <= cap: the first objective may not take all the weight
    cap = data.draw(st.floats(0.05, 0.6))
    return [mixtures.Simplex(p), mixtures.BoxSimplex(lower, upper), mixtures.Polytope(a, [cap])]


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_lambda_stays_in_the_mixture_set_throughout(data):
    p = 3
    lr = data.draw(st.floats(0.05, 20.0))
    rule = data.draw(
        st.sampled_from([ProjectedAscent(lr=lr), ExponentiatedAscent(lr=lr), BestResponse()])
    )
    method = data.draw(st.sampled_from(["sgda", "simultaneous", "mirror_prox"]))
    seed = data.draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(16, 4, generator=gen), torch.randint(0, 2, (16,), generator=gen)
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 16, 8)]
    for mixture_set in _sets(p, data):
        outside = []

        def check(tr, mixture_set=mixture_set, outside=outside):
            for w in (tr.weights, tr.average_weights):
                if not mixture_set.contains(w, atol=1e-9):
                    outside.append((tr.step, w))

        torch.manual_seed(seed)
        trainer = MinimaxTrainer(
            torch.nn.Linear(4, 2),
            ObjectiveFamily(["log_loss", "hinge", "squared"]),
            mixture_set=mixture_set,
            weight_rule=rule,
            method=method,
            verbose=False,
            optimizer=lambda ps: torch.optim.SGD(ps, lr=0.5),
        )
        trainer.fit(batches, epochs=2, callbacks=[LambdaCallback(on_step_end=check)])
        assert outside == [], (type(mixture_set).__name__, outside[:2])
        assert trainer.step == 4
