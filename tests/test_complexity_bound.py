"""The generalization certificate: coverage on a known distribution (test 2 of the issue), every
term recomputed by hand, its monotonicity, the report's round trips, and the cross-validated β."""

import json
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo import (
    ALMOValueError,
    BoxSimplex,
    ObjectiveFamily,
    ObjectiveReport,
    Simplex,
    solve_linear,
)
from almo.complexity import (
    BoundReport,
    RademacherPenalty,
    cover_log_size,
    cross_validated_beta,
    generalization_bound,
    held_out_worst_case,
)
from almo.complexity._linear import loss_at_zero, norm_grid
from almo.complexity.bound import EPSILON_GRID
from almo.losses import LOSSES

# --- a distribution we know: features uniform in the unit ball, two groups of unequal size --


def draw(n, gen, d=3):
    Z = gen.normal(size=(n, d))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Z *= gen.uniform(size=(n, 1)) ** (1.0 / d)
    g = (gen.random(n) < 0.25).astype(np.int64)
    logit = 2.0 * Z[:, 0] - Z[:, 1] + 0.8 * g * Z[:, 2]
    y = (gen.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return Z, y, g


def family():
    return ObjectiveFamily.concat(
        [ObjectiveFamily("log_loss"), ObjectiveFamily(["log_loss", "hinge"], groups=2)]
    )


def test_certificate_covers_the_population_worst_case():
    # 40 independent training draws at δ = 0.05; the population worst case measured on a fresh
    # sample of 60 000 rows. The certificate must hold in >= 95% of the draws; the empirical
    # worst case alone must not (it is below the population in most draws), or the test has
    # no power.
    fresh = np.random.default_rng(2024)
    Xt, yt, gt = draw(60_000, fresh)
    covered, optimistic = 0, 0
    for seed in range(40):
        gen = np.random.default_rng(seed)
        X, y, g = draw(240, gen)
        fam = family()
        sol = solve_linear(X, y, fam, groups=g, l2=1e-2)
        rep = generalization_bound(
            sol, X=X, y=y, family=fam, groups=g, delta=0.05, feature_radius=math.sqrt(2.0)
        )
        population = held_out_worst_case(sol, Xt, yt, fam, gt)
        covered += rep.value >= population
        optimistic += rep.term("empirical worst case") < population
        # the loss bound M_k holds on the population too (it is what the bound assumes)
        scores = torch.as_tensor(Xt @ sol.coef_.T + sol.intercept_)
        per = fam.per_sample(scores, torch.as_tensor(yt)).numpy()
        assert per[:, 0].max() <= rep.loss_bound[0]
        assert per[:, 1].max() <= rep.loss_bound[-1]
    assert covered >= 38
    assert optimistic >= 20


def test_linear_bound_recomputed_by_hand(rng):
    X, y, g = draw(300, rng)
    fam = family()
    sol = solve_linear(X, y, fam, groups=g, l2=1e-2)
    rep = generalization_bound(sol, X=X, y=y, family=fam, groups=g, delta=0.1)
    Xa = np.hstack([X, np.ones((300, 1))])
    theta = np.hstack([sol.coef_, np.reshape(sol.intercept_, (-1, 1))])
    norm = np.linalg.norm(theta)
    B = 2.0 ** math.ceil(math.log2(norm))
    j = abs(math.ceil(math.log2(norm)))
    r = np.max(np.linalg.norm(Xa, axis=1))
    R = B * r
    rows = [Xa, Xa[g == 0], Xa[g == 1], Xa[g == 0], Xa[g == 1]]
    m = np.array([len(a) for a in rows], dtype=float)
    mu = np.full(5, math.sqrt(2.0))
    rho = mu * B * np.sqrt([np.sum(a**2) for a in rows]) / m
    zero = np.array([math.log(2)] * 3 + [1.0] * 2)  # log loss and hinge at a zero score
    M = zero + mu * R
    assert rep.complexity == pytest.approx(rho, rel=1e-12)
    assert rep.loss_bound == pytest.approx(M, rel=1e-12)
    assert rep.counts.tolist() == m.tolist()
    L_hat = sol.report.normalized.max()
    comp = 2 * rho.max()
    spread = np.max(M**2 / m)
    base = math.log(1 / 0.1) + math.log(1.5 * (j + 1) * (j + 2)) + math.log(EPSILON_GRID)

    def total(eps):
        log_n = 4 * math.log(1 + 4 / eps)
        return M.max() * eps + 3 * math.sqrt(spread * (log_n + base) / 2)

    best = min(total(2.0**-i) for i in range(EPSILON_GRID))
    assert rep.value == pytest.approx(L_hat + comp + best, rel=1e-12)
    assert rep.term("empirical worst case") == pytest.approx(L_hat)
    assert rep.parameters["norm_radius"] == B
    assert rep.weights[np.argmax(rho)] == pytest.approx(1.0)


def test_norm_radius_and_radii_given_in_advance(rng):
    X, y, g = draw(200, rng)
    fam = family()
    sol = solve_linear(X, y, fam, groups=g, l2=1e-2)
    kw = {"X": X, "y": y, "family": fam, "groups": g}
    grid = generalization_bound(sol, **kw)
    fixed = generalization_bound(sol, norm_radius=grid.parameters["norm_radius"], **kw)
    # same class, no union over the grid of norms: smaller by the grid's log-weight only
    assert fixed.value < grid.value
    assert fixed.term("complexity") == pytest.approx(grid.term("complexity"))
    with pytest.raises(ALMOValueError, match="model's norm"):
        generalization_bound(sol, norm_radius=grid.parameters["norm"] / 2, **kw)
    wide = generalization_bound(sol, feature_radius=5.0, **kw)
    assert wide.value > grid.value
    assert any("r = 5" in a for a in wide.assumptions)
    assert any("the sample's max" in a for a in grid.assumptions)


def test_multiclass_uses_vector_contraction(rng):
    X = rng.normal(size=(150, 3))
    y = np.argmax(X @ rng.normal(size=(3, 4)) + rng.normal(size=(150, 4)), axis=1)
    fam = ObjectiveFamily(["log_loss", "hinge"])
    sol = solve_linear(X, y, fam, l2=1e-2)
    rep = generalization_bound(sol, X=X, y=y, family=fam)
    assert rep.parameters["contraction"] == pytest.approx([math.sqrt(8)] * 2)
    B, r = rep.parameters["norm_radius"], rep.parameters["feature_radius"]
    Xa = np.hstack([X, np.ones((150, 1))])
    assert rep.complexity[0] == pytest.approx(
        math.sqrt(8) * math.sqrt(2) * B * math.sqrt(np.sum(Xa**2)) / 150
    )
    assert rep.loss_bound[0] == pytest.approx(math.log(4) + math.sqrt(2) * B * r)


def test_regression_with_a_non_lipschitz_loss(rng):
    X = rng.uniform(-1, 1, size=(120, 2))
    y = X @ np.array([1.0, -0.5]) + 0.1 * rng.normal(size=120)
    sol = solve_linear(X, y, ["squared", "absolute"], l2=1e-2, normalize="initial")
    rep = generalization_bound(sol, X=X, y=y, family=["squared", "absolute"])
    R, ymax = rep.parameters["score_radius"], float(np.max(np.abs(y)))
    mu_sq = LOSSES["squared"].lipschitz_within(max(R, ymax))
    assert rep.parameters["lipschitz"] == pytest.approx([mu_sq, 1.0])
    assert rep.loss_bound == pytest.approx(
        (np.array([ymax**2, ymax]) + np.array([mu_sq, 1.0]) * R) / sol.scales
    )
    assert any("|y| ≤" in a for a in rep.assumptions)


def test_loss_at_zero_by_hand():
    assert loss_at_zero(LOSSES["hinge"], 1, "binary", 1.0) == 1.0
    assert loss_at_zero(LOSSES["log_loss"], 1, "binary", 1.0) == pytest.approx(math.log(2))
    assert loss_at_zero(LOSSES["absolute"], 1, "regression", 3.0) == 3.0
    assert norm_grid(1.0) == (1.0, pytest.approx(math.log(3.0)))
    assert norm_grid(0.0)[0] == 2.0**-60


def test_linear_form_input_errors(rng):
    X, y, g = draw(100, rng)
    fam = family()
    sol = solve_linear(X, y, fam, groups=g, l2=1e-2)
    with pytest.raises(ALMOValueError, match="X, y, family"):
        generalization_bound(sol)
    with pytest.raises(ALMOValueError, match="solution's objectives"):
        generalization_bound(sol, X=X, y=y, family=ObjectiveFamily("log_loss"), groups=g)
    with pytest.raises(ALMOValueError, match="training data"):
        generalization_bound(sol, X=X[:90], y=y[:90], family=fam, groups=g[:90])
    with pytest.raises(ALMOValueError, match="delta"):
        generalization_bound(sol, X=X, y=y, family=fam, groups=g, delta=1.0)


def test_shorthand_family_and_string_groups(rng):
    X, y, g = draw(150, rng)
    labels = np.where(g == 1, "south", "north")
    sol = solve_linear(X, y, ["log_loss"], groups=labels, l2=1e-2)
    rep = generalization_bound(sol, X=X, y=y, family=["log_loss"], groups=labels)
    assert rep.names == tuple(sol.names)
    assert rep.counts.tolist() == [float(np.sum(labels == "north")), float(np.sum(g == 1))]


# --- the generic form --------------------------------------------------------------------------


def test_generic_form_by_hand():
    rep = generalization_bound(
        [0.2, 0.5, 0.4],
        complexities=[0.05, 0.1, 0.02],
        loss_bound=[1.0, 2.0, 1.0],
        sample_sizes=[100, 50, 400],
        delta=0.05,
        epsilon=0.1,
    )
    spread = max(1 / 100, 4 / 50, 1 / 400)
    conc = 3 * math.sqrt(spread * (2 * math.log(41) + math.log(20)) / 2)
    assert rep.terms[0].value == 0.5
    assert rep.term("complexity") == pytest.approx(0.2)
    assert rep.term("cover") == pytest.approx(0.2)
    assert rep.term("concentration") == pytest.approx(conc)
    assert rep.value == pytest.approx(0.5 + 0.2 + 0.2 + conc)
    assert rep.epsilon == 0.1
    # s = m · max_λ Σ λ_k (M_k/M)² / m_k with m = Σ m_k (disjoint samples)
    assert rep.parameters["s"] == pytest.approx(550 * spread / 4)
    expected = generalization_bound(
        [0.2, 0.5, 0.4],
        [0.05, 0.1, 0.02],
        loss_bound=[1.0, 2.0, 1.0],
        sample_sizes=[100, 50, 400],
        epsilon=0.1,
        expected=True,
    )
    assert expected.term("concentration") == pytest.approx(conc / 3)


def test_shared_sample_and_float_source():
    rep = generalization_bound(
        0.7, [0.1, 0.2], loss_bound=1.0, sample_sizes=[10, 500], shared=True, epsilon=1.0
    )
    assert rep.counts.tolist() == [500.0, 500.0]
    assert rep.term("empirical worst case") == 0.7
    assert math.isnan(rep.empirical[0])
    d = rep.to_dict()
    assert d["empirical"] == [None, None]
    json.dumps(d)
    assert BoundReport.from_dict(d).value == rep.value


def test_objective_report_source_and_its_names():
    report = ObjectiveReport.from_values(["a@g0", "a@g1"], [0.3, 0.6], [1.0, 2.0], Simplex(2))
    rep = generalization_bound(report, [0.01, 0.02], loss_bound=1.0, sample_sizes=[50, 50])
    assert rep.names == ("a@g0", "a@g1")
    assert rep.term("empirical worst case") == pytest.approx(0.3)


def test_epsilon_is_the_best_of_the_grid():
    kw = {"complexities": [0.05, 0.05], "loss_bound": 1.0, "sample_sizes": [300, 30]}
    rep = generalization_bound([0.3, 0.3], **kw)
    M, spread = 1.0, 1 / 30
    base = math.log(20) + math.log(EPSILON_GRID)

    def total(eps):
        return M * eps + 3 * math.sqrt(spread * (math.log(1 + 4 / eps) + base) / 2)

    values = {2.0**-i: total(2.0**-i) for i in range(EPSILON_GRID)}
    best = min(values, key=values.get)
    assert rep.epsilon == best
    assert rep.term("cover") + rep.term("concentration") == pytest.approx(values[best])


@settings(max_examples=30)
@given(
    p=st.integers(1, 5),
    data=st.data(),
)
def test_bound_is_monotone(p, data):
    vals = st.floats(0.0, 1.0)
    emp = np.array(data.draw(st.lists(vals, min_size=p, max_size=p)))
    rho = np.array(data.draw(st.lists(st.floats(0.0, 0.5), min_size=p, max_size=p)))
    m = np.array(data.draw(st.lists(st.integers(5, 500), min_size=p, max_size=p)))
    kw = {"loss_bound": 1.0, "sample_sizes": m}
    base = generalization_bound(emp, rho, delta=0.05, **kw)
    assert base.value >= base.term("empirical worst case") + base.term("complexity")
    assert generalization_bound(emp, rho, delta=0.01, **kw).value >= base.value
    assert generalization_bound(emp, rho + 0.1, **kw).value > base.value
    assert generalization_bound(emp, rho, loss_bound=2.0, sample_sizes=m).value > base.value
    if p >= 2:
        box = BoxSimplex([0.0] * p, [min(1.0, 2.0 / p)] * p)
        assert generalization_bound(emp, rho, mixture_set=box, **kw).value <= base.value + 1e-12
    assert cover_log_size(p, 0.5) == pytest.approx((p - 1) * math.log(9))


def test_generic_form_errors():
    with pytest.raises(ALMOValueError, match="generic form"):
        generalization_bound([0.1, 0.2], [0.1, 0.1])
    with pytest.raises(ALMOValueError, match="one training objective per complexity"):
        generalization_bound([0.1], [0.1, 0.1], loss_bound=1.0, sample_sizes=[5, 5])
    with pytest.raises(ALMOValueError, match="sample_sizes"):
        generalization_bound([0.1], [0.1], loss_bound=1.0, sample_sizes=[0])
    with pytest.raises(ALMOValueError, match="loss_bound"):
        generalization_bound([0.1], [0.1], loss_bound=-1.0, sample_sizes=[3])
    with pytest.raises(ALMOValueError, match="mixture_set"):
        generalization_bound([0.1], [0.1], loss_bound=1.0, sample_sizes=[3], mixture_set=Simplex(2))
    with pytest.raises(ALMOValueError, match="epsilon"):
        generalization_bound([0.1], [0.1], loss_bound=1.0, sample_sizes=[3], epsilon=0.0)
    with pytest.raises(ALMOValueError, match="be finite"):
        generalization_bound([np.nan], [0.1], loss_bound=1.0, sample_sizes=[3])


# --- the report --------------------------------------------------------------------------------


def test_report_round_trip_table_and_repr(rng):
    X, y, g = draw(150, rng)
    fam = family()
    sol = solve_linear(X, y, fam, groups=g, l2=1e-2)
    rep = generalization_bound(sol, X=X, y=y, family=fam, groups=g)
    back = BoundReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.value == rep.value and back.terms == rep.terms
    assert np.array_equal(back.complexity, rep.complexity)
    assert back.assumptions == rep.assumptions
    table = rep.table(digits=3)
    assert table.startswith("| term | formula | value |")
    for t in rep.terms:
        assert f"| {t.name} | {t.formula} | {t.value:.3f} |" in table
    assert f"**{rep.value:.3f}**" in table
    for name in rep.names:
        assert f"| {name} |" in table
    assert repr(rep).startswith(f"BoundReport(value={rep.value:.6g}, empirical worst case=")
    with pytest.raises(ALMOValueError, match="be one of"):
        rep.term("nope")


# --- cross-validated β ------------------------------------------------------------------------


def test_held_out_worst_case_equals_the_training_report(rng):
    X, y, g = draw(120, rng)
    fam = family()
    sol = solve_linear(X, y, fam, groups=g, l2=1e-2)
    assert held_out_worst_case(sol, X, y, fam, g) == pytest.approx(sol.report.worst_case)
    Xm = rng.normal(size=(90, 3))
    ym = np.array(["a", "b", "c"])[np.argmax(Xm, axis=1)]
    fm = ObjectiveFamily("log_loss")
    solm = solve_linear(Xm, ym, fm, l2=1e-2)
    assert held_out_worst_case(solm, Xm, ym, fm) == pytest.approx(solm.report.worst_case)
    yr = Xm[:, 0] - Xm[:, 1]
    fr = ObjectiveFamily(["squared", "absolute"])
    solr = solve_linear(Xm, yr, fr, l2=1e-2)
    assert held_out_worst_case(solr, Xm, yr, fr) == pytest.approx(solr.report.worst_case)


def test_cross_validation_scores_by_hand(rng):
    X, y, g = draw(90, rng)
    fam = ObjectiveFamily("log_loss", groups=2)
    sel = cross_validated_beta(
        X, y, fam, groups=g, betas=[0.0, 50.0], n_splits=3, l2=1e-2, fit_intercept=False
    )
    assert sel.fold_scores.shape == (2, 3)
    assert sel.scores == pytest.approx(sel.fold_scores.mean(axis=1))
    # β = 50 pins W at 0 (no intercept): every held-out log loss is log 2
    assert sel.fold_scores[1] == pytest.approx([math.log(2)] * 3, abs=1e-4)
    assert sel.beta == sel.betas[np.argmin(sel.scores)]
    assert np.all(sel.stderr >= 0)


def test_default_grid_holds_zero_and_the_bound_constant(rng):
    X, y, g = draw(90, rng)
    fam = ObjectiveFamily("log_loss", groups=2, normalize="initial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # large β: W pinned at 0, a slower certificate
        sel = cross_validated_beta(X, y, fam, groups=g, n_splits=3, l2=1e-2, method="cvxpy")
    assert not fam.needs_calibration  # calibrated once, on all the data
    ref = RademacherPenalty().fit(X, fam, g, y).beta_
    assert sel.betas[0] == 0.0 and sel.betas[-1] == pytest.approx(ref)
    assert sel.beta in sel.betas


def test_cross_validation_errors(rng):
    X, y, g = draw(60, rng)
    fam = ObjectiveFamily("log_loss", groups=2)
    with pytest.raises(ALMOValueError, match="n_splits"):
        cross_validated_beta(X, y, fam, groups=g, n_splits=1)
    with pytest.raises(ALMOValueError, match="smallest group"):
        cross_validated_beta(X, y, fam, groups=np.r_[np.zeros(58), [1, 1]].astype(int))
    with pytest.raises(ALMOValueError, match="betas"):
        cross_validated_beta(X, y, fam, groups=g, betas=[-1.0])
    with pytest.raises(ALMOValueError, match="ObjectiveFamily"):
        cross_validated_beta(X, y, "log_loss", groups=g)
    sel = cross_validated_beta(X, y, ObjectiveFamily("log_loss"), betas=[0.0], n_splits=2)
    assert sel.beta == 0.0


def test_cross_validation_with_a_box_and_regression(rng):
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -1.0, 0.5]) + rng.standard_t(3, size=120)
    g = (X[:, 0] > 0.5).astype(int)
    fam = ObjectiveFamily(["squared", "absolute"], groups=2, normalize=[1.0, 1.0, 1.0, 1.0])
    box = BoxSimplex([0.1] * 4, [0.6] * 4)
    sel = cross_validated_beta(
        X,
        y,
        fam,
        groups=g,
        betas=[0.0, 0.01, 100.0],
        n_splits=3,
        mixture_set=box,
        l2=1e-2,
        method="cvxpy",
    )
    assert sel.scores.shape == (3,)
    # a huge β leaves only the intercept: much worse than the fitted model on held-out data
    assert sel.scores[2] > sel.scores[0] + 0.5
    assert sel.beta in (0.0, 0.01)


def test_held_out_worst_case_over_a_box(rng):
    X, y, g = draw(100, rng)
    fam = family()
    box = BoxSimplex([0.1] * 5, [0.5] * 5)
    sol = solve_linear(X, y, fam, groups=g, mixture_set=box, l2=1e-2)
    value = held_out_worst_case(sol, X, y, fam, g, mixture_set=box)
    assert value == pytest.approx(sol.report.worst_case)
    assert value <= held_out_worst_case(sol, X, y, fam, g) + 1e-12


def test_table_rows_carry_the_per_objective_numbers():
    rep = generalization_bound(
        [0.25, 0.5], [0.125, 0.0625], loss_bound=[1.0, 2.0], sample_sizes=[10, 30], epsilon=0.5
    )
    lines = rep.table(digits=4).splitlines()
    assert "| objective0 | 10 | 0.2500 | 0.1250 | 1.0000 | 1.0000 |" in lines
    assert "| objective1 | 30 | 0.5000 | 0.0625 | 2.0000 | 0.0000 |" in lines
    assert any(
        line.startswith("- objective k's normalized loss lies in [0, M_k]") for line in lines
    )
