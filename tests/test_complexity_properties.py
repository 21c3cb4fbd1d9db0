"""Invariants of almo.complexity under hypothesis: how the complexities, the penalty and the
certificate scale, permute and duplicate, with the identities derived from their formulas as
references; and the penalty inside the trainer with networks, concatenated families and
float32 models."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from almo import BoxSimplex, MinimaxTrainer, ObjectiveFamily, Simplex, solve_linear
from almo.complexity import (
    RademacherPenalty,
    generalization_bound,
    linear_rademacher,
    mlp_rademacher,
    monte_carlo_rademacher,
    objective_statistics,
)

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


def matrices(min_rows=1, max_rows=12, max_cols=4):
    shapes = st.tuples(st.integers(min_rows, max_rows), st.integers(1, max_cols))
    return shapes.flatmap(lambda s: arrays(np.float64, s, elements=finite))


# --- closed forms --------------------------------------------------------------------------


@given(X=matrices(), a=st.floats(0.01, 100.0), W=st.floats(0.0, 10.0))
def test_linear_closed_form_is_homogeneous(X, a, W):
    base = linear_rademacher(X, norm=W)
    assert linear_rademacher(a * X, norm=W) == pytest.approx(a * base, rel=1e-9, abs=1e-12)
    assert linear_rademacher(X, norm=a * W) == pytest.approx(a * base, rel=1e-9, abs=1e-12)


@given(X=matrices(), seed=st.integers(0, 1000))
def test_linear_closed_form_ignores_row_order_and_rotations(X, seed):
    gen = np.random.default_rng(seed)
    perm = gen.permutation(X.shape[0])
    Q, _ = np.linalg.qr(gen.normal(size=(X.shape[1], X.shape[1])))
    base = linear_rademacher(X)
    assert linear_rademacher(X[perm]) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert linear_rademacher(X @ Q) == pytest.approx(base, rel=1e-9, abs=1e-12)


@given(X=matrices(), k=st.integers(2, 5))
def test_duplicating_the_sample_divides_by_sqrt_k(X, k):
    # sqrt(k Σ‖x‖²) / (k m) = R̂ / sqrt(k): more data of the same kind, smaller complexity
    assert linear_rademacher(np.tile(X, (k, 1))) == pytest.approx(
        linear_rademacher(X) / math.sqrt(k), rel=1e-9, abs=1e-12
    )


@given(X=matrices(), norms=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=4))
def test_grs_is_the_linear_form_times_the_depth_constant(X, norms):
    d = len(norms)
    expected = (math.sqrt(2 * d * math.log(2)) + 1) * float(np.prod(norms)) * linear_rademacher(X)
    assert mlp_rademacher(X, norms) == pytest.approx(expected, rel=1e-9, abs=1e-12)


# --- Monte Carlo --------------------------------------------------------------------------------


@settings(max_examples=25)
@given(X=matrices(min_rows=2), a=st.floats(0.1, 10.0), seed=st.integers(0, 100))
def test_mc_scales_exactly_with_the_same_draws(X, a, seed):
    one = monte_carlo_rademacher(X=X, norm=1.0, n_draws=200, seed=seed)
    scaled = monte_carlo_rademacher(X=a * X, norm=1.0, n_draws=200, seed=seed)
    wide = monte_carlo_rademacher(X=X, norm=a, n_draws=200, seed=seed)
    assert scaled.mean == pytest.approx(a * one.mean, rel=1e-9, abs=1e-12)
    assert wide.mean == pytest.approx(a * one.mean, rel=1e-9, abs=1e-12)
    assert one.mean <= linear_rademacher(X) * (1 + 1e-12) + 5 * one.stderr


@settings(max_examples=25)
@given(F=matrices(min_rows=1, max_rows=6, max_cols=8), seed=st.integers(0, 100))
def test_mc_finite_class_is_between_zero_mean_and_the_largest_row(F, seed):
    # sup over a class ≥ the value of any one member (mean 0); ≤ max_j ‖f_j‖_1 / m
    est = monte_carlo_rademacher(F, n_draws=300, seed=seed)
    m = F.shape[1]
    single = monte_carlo_rademacher(F[:1], n_draws=300, seed=seed)
    assert est.mean >= single.mean - 1e-12
    assert est.mean <= np.max(np.abs(F).sum(axis=1)) / m + 1e-12


@settings(max_examples=25)
@given(F=matrices(min_rows=2, max_rows=5, max_cols=6), seed=st.integers(0, 100))
def test_mc_symmetric_class_is_nonnegative_draw_by_draw(F, seed):
    # {f, −f, ...}: every sup is ≥ 0, so the mean and the lower end of its values are ≥ 0
    est = monte_carlo_rademacher(np.vstack([F, -F]), n_draws=200, seed=seed)
    assert est.mean >= 0.0


@given(batch=st.integers(1, 50), seed=st.integers(0, 100))
def test_mc_does_not_depend_on_the_batch_size_beyond_the_draw_order(batch, seed):
    # same draws in the same order whatever the batch, as long as the stream is consumed row
    # by row: one batch of 60 and 60 batches of 1 see the same signs
    F = np.arange(12.0).reshape(3, 4) - 5
    a = monte_carlo_rademacher(F, n_draws=60, seed=seed, batch=60)
    b = monte_carlo_rademacher(F, n_draws=60, seed=seed, batch=batch)
    assert a.mean == pytest.approx(b.mean, rel=1e-12, abs=1e-12)


# --- the penalty's coefficients ----------------------------------------------------------------


@settings(max_examples=30)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    seed=st.integers(0, 1000),
    beta=st.floats(0.0, 5.0),
    a=st.floats(0.1, 10.0),
)
def test_coefficients_are_linear_in_beta_and_the_feature_scale(sizes, seed, beta, a):
    gen = np.random.default_rng(seed)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    X = gen.normal(size=(ids.size, 3))
    fam = ObjectiveFamily(["hinge", "log_loss"], groups=len(sizes))
    unit = RademacherPenalty(1.0).fit(X, fam, ids).coefficients_
    assert RademacherPenalty(beta).fit(X, fam, ids).coefficients_ == pytest.approx(
        beta * unit, rel=1e-12, abs=1e-15
    )
    assert RademacherPenalty(1.0).fit(a * X, fam, ids).coefficients_ == pytest.approx(
        a * unit, rel=1e-9
    )
    perm = gen.permutation(ids.size)
    assert RademacherPenalty(1.0).fit(X[perm], fam, ids[perm]).coefficients_ == pytest.approx(
        unit, rel=1e-9
    )


@settings(max_examples=20)
@given(seed=st.integers(0, 1000), k=st.integers(2, 4))
def test_duplicated_data_divides_coefficients_by_sqrt_k(seed, k):
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(9, 2))
    ids = np.array([0, 1, 2] * 3)
    fam = ObjectiveFamily.concat([ObjectiveFamily("hinge"), ObjectiveFamily("hinge", groups=3)])
    one = RademacherPenalty(1.0).fit(X, fam, ids).coefficients_
    many = RademacherPenalty(1.0).fit(np.tile(X, (k, 1)), fam, np.tile(ids, k)).coefficients_
    assert many == pytest.approx(one / math.sqrt(k), rel=1e-9)


@given(scales=st.lists(st.floats(0.01, 100.0), min_size=2, max_size=2))
def test_coefficients_follow_the_scales(scales):
    X = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]])
    free = RademacherPenalty(1.0).fit(X, ObjectiveFamily(["hinge", "log_loss"]))
    norm = RademacherPenalty(1.0).fit(X, ObjectiveFamily(["hinge", "log_loss"], normalize=scales))
    assert norm.coefficients_ == pytest.approx(free.coefficients_ / np.array(scales))
    assert norm.raw_coefficients_ == pytest.approx(free.raw_coefficients_)


def test_statistics_of_a_family_without_groups_ignore_none(rng):
    X = rng.normal(size=(7, 3))
    st_ = objective_statistics(X, ObjectiveFamily(["hinge", "log_loss"]))
    assert st_.counts.tolist() == [7.0, 7.0]
    assert st_.sum_sq == pytest.approx([np.sum(X**2)] * 2)


# --- the certificate ---------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    p=st.integers(2, 5),
    seed=st.integers(0, 1000),
)
def test_bound_ignores_the_order_of_the_objectives(p, seed):
    gen = np.random.default_rng(seed)
    emp, rho = gen.uniform(0, 1, p), gen.uniform(0, 0.3, p)
    M, m = gen.uniform(0.5, 2, p), gen.integers(5, 300, p)
    perm = gen.permutation(p)
    a = generalization_bound(emp, rho, loss_bound=M, sample_sizes=m)
    b = generalization_bound(emp[perm], rho[perm], loss_bound=M[perm], sample_sizes=m[perm])
    assert a.value == pytest.approx(b.value, rel=1e-12)
    assert b.weights == pytest.approx(a.weights[perm])


@settings(max_examples=25)
@given(seed=st.integers(0, 1000), k=st.integers(2, 10))
def test_more_data_shrinks_the_concentration_term(seed, k):
    gen = np.random.default_rng(seed)
    emp, rho = gen.uniform(0, 1, 3), gen.uniform(0, 0.3, 3)
    m = gen.integers(5, 300, 3)
    small = generalization_bound(emp, rho, loss_bound=1.0, sample_sizes=m, epsilon=0.25)
    large = generalization_bound(emp, rho, loss_bound=1.0, sample_sizes=k * m, epsilon=0.25)
    ratio = large.term("concentration") / small.term("concentration")
    assert ratio == pytest.approx(1 / math.sqrt(k), rel=1e-9)


@given(p=st.integers(2, 6), m=st.integers(5, 1000))
def test_equal_groups_give_skewness_one_over_m_bar(p, m):
    # disjoint groups of equal size m: m̄_k = 1/p and s = max_λ Σ λ_k / m̄_k = p
    rep = generalization_bound(
        np.zeros(p), np.zeros(p), loss_bound=1.0, sample_sizes=[m] * p, epsilon=1.0
    )
    assert rep.parameters["s"] == pytest.approx(p)
    assert rep.parameters["m"] == p * m
    shared = generalization_bound(
        np.zeros(p), np.zeros(p), loss_bound=1.0, sample_sizes=[m] * p, shared=True, epsilon=1.0
    )
    assert shared.term("concentration") == pytest.approx(rep.term("concentration"))
    assert shared.parameters["s"] == pytest.approx(1.0)


def test_a_single_mixture_pays_no_cover():
    # Λ = {λ0}: a box with l = u; the cover term still counts (p−1) log(1 + 4/ε), a bound valid
    # for any Λ ⊆ Δ — but the complexity and empirical terms are those of λ0 exactly
    lam = np.array([0.25, 0.75])
    box = BoxSimplex(lam, lam)
    rep = generalization_bound(
        [0.4, 0.2], [0.1, 0.3], loss_bound=1.0, sample_sizes=[50, 50], mixture_set=box
    )
    assert rep.term("empirical worst case") == pytest.approx(0.25 * 0.4 + 0.75 * 0.2)
    assert rep.term("complexity") == pytest.approx(2 * (0.25 * 0.1 + 0.75 * 0.3))
    assert rep.weights == pytest.approx(lam)


# --- the penalty inside the trainer --------------------------------------------------------------


def _loader(X, y, g, steps):
    batch = (torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y), torch.as_tensor(g))
    return [batch] * steps


def test_mlp_penalty_trains_a_network_and_the_report_carries_it(rng, one_thread):
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    g = (X[:, 2] > 0.8).astype(int)
    fam = ObjectiveFamily.concat(
        [ObjectiveFamily("log_loss"), ObjectiveFamily("log_loss", groups=2)]
    )
    pen = RademacherPenalty(0.5, "mlp").fit(X, fam, g, y)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    trainer = MinimaxTrainer(net, fam, penalty=pen, verbose=False)
    trainer.fit(_loader(X, y, g, 40), epochs=1)
    report = trainer.evaluate(_loader(X, y, g, 1))
    r = pen(trainer.model)
    assert r.dtype == torch.float32 and r.shape == (3,)
    assert report.penalty == pytest.approx(r.detach().double().numpy(), rel=1e-5)
    # the smaller group's penalty is the largest of the three
    assert int(np.argmax(report.penalty)) == 1 + int(np.argmin(np.bincount(g)))
    assert trainer.mixture_set.contains(trainer.weights)


def test_penalty_with_a_family_calibrated_by_the_trainer(rng, one_thread):
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    g = np.zeros(60, dtype=int)
    g[:12] = 1
    fam = ObjectiveFamily("log_loss", groups=2, normalize="initial")
    pen = RademacherPenalty(0.2).fit(X, fam, g, y)  # before calibration: scales read later
    trainer = MinimaxTrainer(torch.nn.Linear(2, 2), fam, penalty=pen, verbose=False)
    trainer.fit(_loader(X, y, g, 5), epochs=1)
    assert not fam.needs_calibration
    assert pen.coefficients_ == pytest.approx(pen.raw_coefficients_ / fam.scale_array)


def test_solver_and_trainer_share_one_penalty_object(rng):
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=100) > 0).astype(int)
    g = (X[:, 1] > 0.7).astype(int)
    fam = ObjectiveFamily("log_loss", groups=2)
    pen = RademacherPenalty(0.05)
    sol = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=pen)
    # the solver fitted it: the same c_k drive the trainer's r_k for a model with the solver's W
    model = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(sol.coef_))
        model.bias.copy_(torch.as_tensor(sol.intercept_))
    r = pen(model).detach().numpy()
    assert r == pytest.approx(sol.report.penalty - 1e-3 * np.sum(sol.coef_**2), rel=1e-9)


def test_bound_of_the_penalized_solution_uses_its_own_norm(rng):
    X = rng.uniform(-1, 1, size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    g = (X[:, 1] > 0.5).astype(int)
    fam = ObjectiveFamily("log_loss", groups=2)
    reps = []
    for beta in (0.0, 0.5):
        pen = None if beta == 0 else RademacherPenalty(beta)
        sol = solve_linear(X, y, fam, groups=g, l2=1e-3, penalty=pen, method="cvxpy")
        reps.append(generalization_bound(sol, X=X, y=y, family=fam, groups=g))
    # a penalized model is smaller, so its class (and its complexity term) is no larger
    assert reps[1].parameters["norm"] < reps[0].parameters["norm"]
    assert reps[1].term("complexity") <= reps[0].term("complexity")
    assert Simplex(2).contains(reps[1].weights)


# --- a network certified through the generic form -------------------------------------------


def _net_data(n, gen):
    Z = gen.normal(size=(n, 2))
    Z /= np.maximum(1.0, np.linalg.norm(Z, axis=1, keepdims=True))  # ‖x‖ ≤ 1
    g = (gen.random(n) < 0.3).astype(np.int64)
    y = (Z[:, 0] * Z[:, 1] + 0.3 * gen.normal(size=n) > 0).astype(np.int64)
    return Z, y, g


def test_grs_certificate_covers_a_network(one_thread):
    # the class fixed in advance: bias-free ReLU networks 2 → 6 → 1 with ‖W_1‖_F ≤ 2 and
    # ‖W_2‖_F ≤ 2 (weights rescaled onto those balls after training). Scores then satisfy
    # |f(x)| ≤ 4 ‖x‖ ≤ 4 =: R; the hinge loss (μ = √2, scalar score: one column) is in
    # [0, 1 + √2 R]; ρ_k = μ · GRS(S_k). The certificate must hold on fresh data.
    radii = (2.0, 2.0)
    fresh = np.random.default_rng(99)
    Xt, yt, gt = _net_data(40_000, fresh)
    fam = ObjectiveFamily("hinge", groups=2)
    mu = math.sqrt(2.0)
    M = 1.0 + mu * radii[0] * radii[1]
    covered = 0
    for seed in range(8):
        gen = np.random.default_rng(seed)
        X, y, g = _net_data(200, gen)
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(2, 6, bias=False), torch.nn.ReLU(), torch.nn.Linear(6, 1, bias=False)
        )
        pen = RademacherPenalty(0.01, "mlp").fit(X, fam, g, y)
        trainer = MinimaxTrainer(net, fam, penalty=pen, verbose=False, seed=seed)
        trainer.fit(_loader(X, y, g, 60), epochs=1)
        model = trainer.model
        with torch.no_grad():
            for layer, r in zip((model[0], model[2]), radii, strict=True):
                layer.weight.mul_(min(1.0, r / float(layer.weight.norm())))
        rows = [X[g == 0], X[g == 1]]
        rho = np.array([mu * mlp_rademacher(rows_k, radii) for rows_k in rows])
        with torch.no_grad():
            train = fam.evaluate(model(torch.as_tensor(X, dtype=torch.float32)), y, g)
            test = fam.evaluate(model(torch.as_tensor(Xt, dtype=torch.float32)), yt, gt)
        rep = generalization_bound(
            train.normalized.double().numpy(),
            rho,
            loss_bound=M,
            sample_sizes=[len(r) for r in rows],
        )
        population = float(test.normalized.max())
        covered += rep.value >= population
        assert rep.term("complexity") == pytest.approx(2 * rho.max())
    assert covered == 8
