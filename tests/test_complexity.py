"""almo.complexity: Rademacher closed forms against Monte Carlo, per-objective statistics against
brute force, the penalty's coefficients against hand formulas, its gradients against finite
differences, and its effect on the trainer and the certified solver."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from almo import ALMOValueError, MinimaxTrainer, ObjectiveFamily, solve_linear
from almo.complexity import (
    RademacherPenalty,
    contraction_factors,
    grs_depth_factor,
    linear_rademacher,
    mlp_rademacher,
    monte_carlo_rademacher,
    objective_lipschitz,
    objective_statistics,
    weighted_complexity,
)
from almo.losses import LOSSES, make_loss

# --- Monte Carlo against the closed forms (test 1 of the issue) -----------------------------


def test_linear_mc_between_khintchine_and_jensen(rng):
    # sup over {‖w‖ ≤ W} is exactly W ‖Σ σ_i x_i‖ / m; its mean lies in [closed / √2, closed]
    X = rng.normal(size=(40, 5)) * rng.uniform(0.1, 3.0, size=(40, 1))
    closed = linear_rademacher(X, norm=2.5)
    est = monte_carlo_rademacher(X=X, norm=2.5, n_draws=6000, seed=3)
    assert est.mean <= closed + 4 * est.stderr
    assert est.mean >= closed / math.sqrt(2) - 4 * est.stderr
    # with many rows the sum is close to Gaussian: E‖g‖ for d = 5 is within 10% of sqrt(E‖g‖²)
    assert est.mean >= 0.85 * closed


def test_linear_mc_matches_exact_enumeration_in_one_dimension(rng):
    # d = 1: E|Σ σ_i x_i| by enumerating all 2^12 sign vectors, the exact R̂
    x = rng.uniform(-2, 2, size=12)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=12)))
    exact = float(np.mean(np.abs(signs @ x))) / 12
    est = monte_carlo_rademacher(X=x[:, None], norm=1.0, n_draws=20000, seed=5)
    assert abs(est.mean - exact) <= 4 * est.stderr
    assert est.covers(exact, slack=2 * est.stderr)
    # and the Jensen closed form is above the exact value, the Khintchine bound below it
    closed = linear_rademacher(x[:, None])
    assert closed / math.sqrt(2) <= exact <= closed


def test_mc_second_moment_equals_closed_form_squared(rng):
    # E‖Σ σ_i x_i‖² = Σ ‖x_i‖² exactly: the square of the closed form times m²
    X = rng.normal(size=(30, 3))
    m = X.shape[0]
    sigma = rng.integers(0, 2, size=(40000, m)) * 2.0 - 1.0
    sq = np.sum((sigma @ X) ** 2, axis=1)
    closed = linear_rademacher(X)
    se = sq.std(ddof=1) / math.sqrt(sq.size)
    assert abs(sq.mean() - (closed * m) ** 2) <= 4 * se


def test_finite_directions_approach_the_ball(rng):
    # the same sign draws (same seed): a finite set of H unit directions in 2-D has sup between
    # cos(π/H) times the ball's and the ball's, draw by draw, hence in the mean
    X = rng.normal(size=(25, 2))
    H = 64
    angles = 2 * np.pi * np.arange(H) / H
    W = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    finite = monte_carlo_rademacher(W @ X.T, n_draws=3000, seed=11)
    ball = monte_carlo_rademacher(X=X, norm=1.0, n_draws=3000, seed=11)
    assert finite.mean <= ball.mean + 1e-12
    assert finite.mean >= math.cos(math.pi / H) * ball.mean - 1e-12


def test_finite_class_known_values():
    # one hypothesis: E σ·f / m = 0; {f, −f}: E |σ·f| / m
    f = np.array([[1.0, -2.0, 0.5, 3.0]])
    one = monte_carlo_rademacher(f, n_draws=20000, seed=0)
    assert one.covers(0.0, slack=one.stderr)
    pair = np.vstack([f, -f])
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    exact = float(np.mean(np.abs(signs @ f[0]))) / 4
    est = monte_carlo_rademacher(pair, n_draws=20000, seed=1)
    assert abs(est.mean - exact) <= 4 * est.stderr


def test_finite_class_below_massart(rng):
    # Massart: R̂ ≤ max_j ‖f_j‖ sqrt(2 log H) / m
    F = rng.normal(size=(50, 30))
    est = monte_carlo_rademacher(F, n_draws=4000, seed=2)
    massart = np.max(np.linalg.norm(F, axis=1)) * math.sqrt(2 * math.log(50)) / 30
    assert est.high <= massart
    assert est.low > 0


def test_vector_contraction_bounds_a_softmax_loss_class(rng):
    # finite set of C-output linear maps with ‖W‖_F = B: the log-loss class stays below
    # κ μ B sqrt(Σ‖x‖²)/m with κ = √(2C) (Maurer) — and the plain scalar form μ R̂ would be
    # exceeded by no more than that factor
    m, d, C, B = 30, 4, 3, 2.0
    X = rng.normal(size=(m, d))
    y = torch.as_tensor(rng.integers(0, C, size=m))
    Ws = rng.normal(size=(200, C, d))
    Ws *= B / np.linalg.norm(Ws, axis=(1, 2), keepdims=True)
    scores = torch.as_tensor(np.einsum("hcd,md->hmc", Ws, X))
    values = np.stack([LOSSES["log_loss"](s, y).numpy() for s in scores])
    est = monte_carlo_rademacher(values, n_draws=3000, seed=4)
    fam = ObjectiveFamily("log_loss")
    kappa = contraction_factors(fam, C)[0]
    assert kappa == pytest.approx(math.sqrt(6))
    bound = kappa * LOSSES["log_loss"].lipschitz * linear_rademacher(X, norm=B)
    assert est.high <= bound


def test_grs_bound_dominates_finite_relu_networks(rng):
    m, d, h = 20, 3, 8
    X = rng.normal(size=(m, d))
    values = []
    for _ in range(300):
        W1 = rng.normal(size=(h, d))
        W1 *= 1.5 / np.linalg.norm(W1)
        w2 = rng.normal(size=h)
        w2 *= 0.8 / np.linalg.norm(w2)
        values.append(np.maximum(X @ W1.T, 0.0) @ w2)
    est = monte_carlo_rademacher(np.array(values), n_draws=3000, seed=6)
    assert est.high <= mlp_rademacher(X, [1.5, 0.8])


def test_closed_form_values_by_hand():
    X = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert linear_rademacher(X, norm=2.0) == pytest.approx(2 * 5 / 2)
    assert grs_depth_factor(3) == pytest.approx(math.sqrt(6 * math.log(2)) + 1)
    assert mlp_rademacher(X, [2.0, 3.0, 0.5]) == pytest.approx(grs_depth_factor(3) * 3.0 * 5 / 2)
    assert linear_rademacher(X, norm=0.0) == 0.0
    assert weighted_complexity([0.2, 0.8], [1.0, 0.5], [1.0, 2.0]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: linear_rademacher([[np.nan]]),
        lambda: linear_rademacher(np.zeros((0, 2))),
        lambda: linear_rademacher([[1.0]], norm=-1.0),
        lambda: mlp_rademacher([[1.0]], []),
        lambda: mlp_rademacher([[1.0]], [1.0, -2.0]),
        lambda: grs_depth_factor(0),
        lambda: monte_carlo_rademacher(),
        lambda: monte_carlo_rademacher(np.ones((2, 2)), X=np.ones((2, 2))),
        lambda: monte_carlo_rademacher(np.ones((2, 2)), n_draws=0),
        lambda: monte_carlo_rademacher(np.ones((2, 2)), confidence=1.0),
        lambda: weighted_complexity([1.0], [1.0, 2.0], [1.0]),
    ],
)
def test_bad_input_is_named(call):
    with pytest.raises(ALMOValueError, match="must"):
        call()


def test_mc_interval_is_symmetric_and_reproducible():
    F = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    a = monte_carlo_rademacher(F, n_draws=500, seed=9, batch=7)
    b = monte_carlo_rademacher(F, n_draws=500, seed=9, batch=7)
    assert a == b
    assert a.high - a.mean == pytest.approx(a.mean - a.low)
    assert a.high - a.mean == pytest.approx(1.959964 * a.stderr, rel=1e-5)


# --- per-objective statistics ----------------------------------------------------------------


@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    seed=st.integers(0, 10_000),
)
def test_statistics_match_brute_force(sizes, seed):
    gen = np.random.default_rng(seed)
    G = len(sizes)
    ids = np.repeat(np.arange(G), sizes)
    gen.shuffle(ids)
    X = gen.normal(size=(ids.size, 3))
    fam = ObjectiveFamily.concat(
        [ObjectiveFamily("hinge"), ObjectiveFamily(["log_loss", "hinge"], groups=G)]
    )
    st_ = objective_statistics(X, fam, ids)
    for k, (_, g) in enumerate(fam.layout):
        rows = X if g is None else X[ids == g]
        assert st_.counts[k] == rows.shape[0]
        assert st_.sum_sq[k] == pytest.approx(np.sum(rows**2))
        assert st_.radius[k] == pytest.approx(np.max(np.linalg.norm(rows, axis=1)))
    assert st_.total == ids.size
    assert np.allclose(st_.linear(2.0), 2 * np.sqrt(st_.sum_sq) / st_.counts)


def test_statistics_errors():
    fam = ObjectiveFamily("hinge", groups=3)
    X = np.ones((4, 2))
    with pytest.raises(ALMOValueError, match="groups"):
        objective_statistics(X, fam)
    with pytest.raises(ALMOValueError, match=r"no rows for \['hinge@group2'\]"):
        objective_statistics(X, fam, [0, 1, 1, 0])
    with pytest.raises(ALMOValueError, match="integer group id"):
        objective_statistics(X, fam, [0, 1, 3, 0])
    with pytest.raises(ALMOValueError, match="integer group id"):
        objective_statistics(X, fam, [0.0, 1.0, 2.0, 0.0])
    # a torch tensor of ids is read like the trainer's
    st_ = objective_statistics(torch.ones(4, 2), fam, torch.tensor([0, 1, 2, 2]))
    assert st_.counts.tolist() == [1.0, 1.0, 2.0]


# --- Lipschitz constants and contraction -------------------------------------------------------


def test_lipschitz_from_the_registry():
    fam = ObjectiveFamily(["hinge", "squared", "squared_hinge", "log_loss"])
    mu = objective_lipschitz(fam, 3.0)
    expected = [
        LOSSES["hinge"].lipschitz,
        LOSSES["squared"].lipschitz_within(3.0),
        LOSSES["squared_hinge"].lipschitz_within(3.0),
        LOSSES["log_loss"].lipschitz,
    ]
    assert mu.tolist() == pytest.approx(expected)
    reg = ObjectiveFamily([make_loss("huber", delta=2.5), make_loss("pinball", tau=0.9)])
    assert objective_lipschitz(reg, 1.0).tolist() == pytest.approx([2.5, 0.9])


def test_zero_one_and_unknown_losses_are_refused():
    with pytest.raises(ALMOValueError, match="zero_one"):
        objective_lipschitz(ObjectiveFamily(["hinge", "zero_one"]), 1.0)
    mine = ObjectiveFamily([("gap", lambda out, y: (out - y).abs())])
    with pytest.raises(ALMOValueError, match="gap"):
        objective_lipschitz(mine, 1.0)


def test_contraction_factors_by_layout():
    fam = ObjectiveFamily(["log_loss", "hinge", "squared", ("mine", lambda o, y: o.sum(1))])
    assert contraction_factors(fam, 1).tolist() == [1.0] * 4
    assert contraction_factors(fam, 2).tolist() == [1.0, 1.0, 2.0, 2.0]
    assert contraction_factors(fam, 5).tolist() == pytest.approx([math.sqrt(10)] * 4)


def test_two_column_losses_depend_on_the_difference_only(rng):
    # the reason κ = 1 for two logit columns: adding c to both columns changes nothing
    s = torch.as_tensor(rng.normal(size=(20, 2)))
    y = torch.as_tensor(rng.integers(0, 2, size=20))
    for name in ("log_loss", "hinge", "squared_hinge", "focal", "brier"):
        a = LOSSES[name](s, y)
        b = LOSSES[name](s + 1.7, y)
        assert torch.allclose(a, b, atol=1e-12), name
    assert not torch.allclose(LOSSES["squared"](s, y), LOSSES["squared"](s + 1.7, y))


# --- the penalty -------------------------------------------------------------------------------


def _groups_data(rng, sizes=(60, 15), d=4):
    ids = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.normal(size=(ids.size, d))
    y = (X[:, 0] + 0.5 * rng.normal(size=ids.size) > 0).astype(int)
    return X, y, ids


def test_coefficients_match_the_formula(rng):
    X, y, g = _groups_data(rng)
    fam = ObjectiveFamily.concat(
        [
            ObjectiveFamily("log_loss", normalize=[2.0]),
            ObjectiveFamily(["hinge", "squared"], groups=2, normalize=[1.0, 4.0, 0.5, 2.0]),
        ]
    )
    pen = RademacherPenalty(beta=0.7).fit(X, fam, g, y)
    mu = np.array([math.sqrt(2), math.sqrt(2), math.sqrt(2), 4.0, 4.0])  # squared on R = 1
    rows = [X, X[g == 0], X[g == 1], X[g == 0], X[g == 1]]
    raw = [0.7 * mu[k] * np.sqrt(np.sum(r**2)) / len(r) for k, r in enumerate(rows)]
    assert pen.raw_coefficients_ == pytest.approx(raw, rel=1e-12)
    assert pen.coefficients_ == pytest.approx(np.array(raw) / fam.scale_array, rel=1e-12)
    assert pen.linear_coefficients(X, fam, g, y) == pytest.approx(pen.coefficients_)
    assert pen.beta_ == 0.7


@pytest.mark.parametrize(
    ("y", "beta"),
    [
        (np.array([0, 1, 0, 1, 1, 0]), 2.0),
        (np.array([0, 1, 2, 1, 2, 0]), 2 * math.sqrt(6)),
        (np.array([0.5, 1.0, -2.0, 0.0, 1.0, 3.0]), 2.0),
        (None, 2.0),
    ],
)
def test_bound_beta_is_twice_the_contraction(y, beta):
    losses = "squared" if y is not None and y.dtype.kind == "f" else "log_loss"
    pen = RademacherPenalty().fit(np.ones((6, 2)), ObjectiveFamily(losses), y=y)
    assert pen.beta_ == pytest.approx(beta)


def test_n_outputs_and_clip_override():
    X, fam = np.ones((4, 1)), ObjectiveFamily("squared")
    y = np.array([0, 1, 1, 0])
    two = RademacherPenalty(n_outputs=2).fit(X, fam, y=y)
    assert two.contraction_ == 2.0 and two.beta_ == 4.0
    wide = RademacherPenalty(beta=1.0, clip=5.0).fit(X, fam, y=y)
    assert wide.lipschitz_[0] == pytest.approx(LOSSES["squared"].lipschitz_within(5.0))
    reg = RademacherPenalty(beta=1.0).fit(X, fam, y=np.array([0.5, -3.0, 1.0, 0.0]))
    assert reg.radius_ == 3.0


@given(sizes=st.lists(st.integers(1, 40), min_size=2, max_size=5, unique=True))
def test_small_groups_pay_more(sizes):
    # rows of equal norm r: c_k = β μ r / sqrt(m_k), strictly decreasing in m_k
    ids = np.repeat(np.arange(len(sizes)), sizes)
    X = np.full((ids.size, 2), 0.6)
    fam = ObjectiveFamily("hinge", groups=len(sizes))
    c = RademacherPenalty(beta=1.0).fit(X, fam, ids).coefficients_
    order = np.argsort(sizes)
    assert np.all(np.diff(c[order]) < 0)
    r = math.sqrt(0.72)
    assert c == pytest.approx(math.sqrt(2) * r / np.sqrt(sizes))


def test_call_values_for_each_bound(rng):
    X, y, g = _groups_data(rng)
    fam = ObjectiveFamily("log_loss", groups=2)
    lin = torch.nn.Linear(4, 1).double()
    pen = RademacherPenalty(beta=1.0).fit(X, fam, g, y)
    r = pen(lin)
    assert r.shape == (2,) and r.dtype == torch.float64
    norm = float(torch.linalg.vector_norm(lin.weight.detach()))
    assert r.detach().numpy() == pytest.approx(pen.coefficients_ * norm)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
        torch.nn.ReLU(),
        torch.nn.Linear(3, 1),
    ).double()
    mlp = RademacherPenalty(beta=1.0, bound="mlp").fit(X, fam, g, y)
    prod = np.prod([float(torch.linalg.vector_norm(m.weight.detach())) for m in net[::2]])
    expected = mlp.coefficients_ * grs_depth_factor(3) * prod
    assert mlp(net).detach().numpy() == pytest.approx(expected)
    own = RademacherPenalty(beta=1.0, bound=lambda m: m.weight.abs().sum()).fit(X, fam, g, y)
    assert own(lin).detach().numpy() == pytest.approx(
        pen.coefficients_ * float(lin.weight.detach().abs().sum())
    )


def test_unfitted_and_uncalibrated_penalties_say_what_to_do(rng):
    pen = RademacherPenalty()
    with pytest.raises(ALMOValueError, match="be fitted before use"):
        pen(torch.nn.Linear(2, 1))
    with pytest.raises(ALMOValueError, match="be fitted"):
        _ = pen.coefficients_
    fam = ObjectiveFamily("log_loss", normalize="initial")
    X = rng.normal(size=(10, 2))
    y = np.arange(10) % 2
    pen.fit(X, fam, y=y)
    with pytest.raises(ALMOValueError, match="calibrated"):
        pen(torch.nn.Linear(2, 1))
    fam.calibrate(torch.zeros(10), torch.as_tensor(y))
    # scales read at call time: log 2 at the zero model
    assert pen.coefficients_ == pytest.approx(pen.raw_coefficients_ / math.log(2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": -1.0}, "beta"),
        ({"beta": "auto"}, "beta"),
        ({"bound": "conv"}, "bound"),
        ({"clip": 0.0}, "clip"),
        ({"n_outputs": 0}, "n_outputs"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        RademacherPenalty(**kwargs)


def test_model_shape_errors(rng):
    X, y, g = _groups_data(rng)
    fam = ObjectiveFamily("log_loss", groups=2)
    two = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    with pytest.raises(ALMOValueError, match="exactly one"):
        RademacherPenalty(1.0).fit(X, fam, g, y)(two)
    with pytest.raises(ALMOValueError, match="at least one"):
        RademacherPenalty(1.0, "mlp").fit(X, fam, g, y)(torch.nn.ReLU())
    bad = RademacherPenalty(1.0, bound=lambda m: torch.ones(3)).fit(X, fam, g, y)
    with pytest.raises(ALMOValueError, match="scalar tensor"):
        bad(two)
    with pytest.raises(ALMOValueError, match="ObjectiveFamily"):
        RademacherPenalty().fit(X, "log_loss", g, y)


def test_repr():
    assert repr(RademacherPenalty()) == "RademacherPenalty(beta='bound', bound='linear')"
    fitted = RademacherPenalty(0.5, "mlp").fit(np.ones((3, 1)), ObjectiveFamily("hinge"))
    assert repr(fitted) == "RademacherPenalty(beta=0.5, bound='mlp', p=1)"


# --- gradients against finite differences (test 4) --------------------------------------------


@pytest.mark.parametrize("bound", ["linear", "mlp", "callable"])
def test_penalty_gradients_match_finite_differences(rng, bound):
    X, y, g = _groups_data(rng)
    fam = ObjectiveFamily(["log_loss", "hinge"], groups=2)
    if bound == "linear":
        model = torch.nn.Linear(4, 3).double()
        pen = RademacherPenalty(0.3).fit(X, fam, g, y)
    elif bound == "mlp":
        model = torch.nn.Sequential(
            torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
        ).double()
        pen = RademacherPenalty(0.3, "mlp").fit(X, fam, g, y)
    else:
        model = torch.nn.Linear(4, 2).double()
        pen = RademacherPenalty(0.3, lambda m: (m.weight**2).sum() + m.bias.abs().sum()).fit(
            X, fam, g, y
        )
    params = list(model.parameters())
    weights = torch.as_tensor(rng.uniform(0.1, 1.0, size=fam.p))
    value = (weights * pen(model)).sum()
    grads = torch.autograd.grad(value, params, allow_unused=True)
    h = 1e-6
    for p, grad in zip(params, grads, strict=True):
        grad = torch.zeros_like(p) if grad is None else grad
        flat = p.detach().view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + h
                up = float((weights * pen(model)).sum())
                flat[i] = old - h
                down = float((weights * pen(model)).sum())
                flat[i] = old
            assert (up - down) / (2 * h) == pytest.approx(float(grad.view(-1)[i]), abs=1e-6)


def test_gradient_of_the_norm_is_the_unit_direction(rng):
    X, y, g = _groups_data(rng)
    fam = ObjectiveFamily("log_loss", groups=2)
    pen = RademacherPenalty(1.0).fit(X, fam, g, y)
    model = torch.nn.Linear(4, 1).double()
    pen(model)[1].backward()
    W = model.weight.detach()
    assert torch.allclose(model.weight.grad, pen.coefficients_[1] * W / W.norm())
    assert model.bias.grad is None or torch.all(model.bias.grad == 0)


# --- the trainer and the solver (test 3) -------------------------------------------------------


def _train(penalty, X, y, g, steps=60):
    torch.manual_seed(0)
    fam = ObjectiveFamily("log_loss", groups=2)
    if penalty is not None:
        penalty.fit(X, fam, g, y)
    model = torch.nn.Linear(X.shape[1], 2).double()
    trainer = MinimaxTrainer(model, fam, penalty=penalty, verbose=False, seed=0)
    batch = (torch.as_tensor(X), torch.as_tensor(y), torch.as_tensor(g))
    trainer.fit([batch] * steps, epochs=1)
    return trainer, batch


def test_beta_zero_is_exactly_unpenalized_in_the_trainer(rng, one_thread):
    X, y, g = _groups_data(rng)
    free, _ = _train(None, X, y, g)
    zero, _ = _train(RademacherPenalty(0.0), X, y, g)
    for a, b in zip(free.model.parameters(), zero.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(free.weights, zero.weights)


def test_trainer_reports_the_penalty_and_shrinks_the_model(rng, one_thread):
    X, y, g = _groups_data(rng)
    pen = RademacherPenalty(2.0)
    trainer, batch = _train(pen, X, y, g)
    report = trainer.evaluate([batch])
    expected = pen(trainer.model).detach().numpy()
    assert report.penalty == pytest.approx(expected, rel=1e-6)
    free, _ = _train(None, X, y, g)
    norm = float(trainer.model.weight.detach().norm())
    assert norm < float(free.model.weight.detach().norm())


def test_beta_zero_is_exactly_unpenalized_in_the_solver(rng):
    X, y, g = _groups_data(rng)
    fam = ObjectiveFamily("log_loss", groups=2)
    free = solve_linear(X, y, fam, groups=g, l2=1e-3)
    zero = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=RademacherPenalty(0.0))
    assert np.array_equal(free.coef_, zero.coef_)
    assert np.array_equal(free.weights, zero.weights)
    assert free.value == zero.value


def test_larger_beta_smaller_norm_and_lambda_follows_the_penalty(rng):
    X, y, g = _groups_data(rng, sizes=(150, 20))
    fam = ObjectiveFamily("log_loss", groups=2)
    norms, small = [], []
    for beta in (0.0, 0.05, 0.2, 0.8, 1.5):
        pen = RademacherPenalty(beta)
        sol = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=pen, method="cvxpy")
        assert sol.status == "optimal"
        norms.append(float(np.linalg.norm(sol.coef_)))
        small.append(sol.weights[1])
        # the solver's penalty is c_k ‖W‖ with the penalty's own c_k
        assert sol.penalty_coefficients == pytest.approx(pen.coefficients_)
        # λ* is a worst case of the penalized objectives ℓ_k + r_k
        game = sol.report.normalized + pen.coefficients_ * norms[-1]
        assert float(sol.weights @ game) == pytest.approx(game.max(), abs=1e-5)
    assert all(a > b for a, b in itertools.pairwise(norms))
    # the penalty moves λ (as the best response to ℓ + r above says), not only W
    assert abs(small[3] - small[0]) > 0.1


def test_auto_agrees_with_cvxpy_when_the_penalty_nearly_pins_w(rng):
    """Newton on the dual stalls where g(λ) is flat (W pinned at 0 by the penalty); "auto"
    then hands over to the conic form and still certifies."""
    X, y, g = _groups_data(rng, sizes=(150, 20))
    fam = ObjectiveFamily("log_loss", groups=2)
    fast = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=RademacherPenalty(1.2))
    assert fast.status == "optimal" and fast.gap <= 1e-6 * max(1.0, fast.value)
    ref = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=RademacherPenalty(1.2), method="cvxpy")
    assert fast.value == pytest.approx(ref.value, abs=1e-6)
