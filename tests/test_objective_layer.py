"""The objective layer: ObjectiveBatch arithmetic, concatenated families, reports, and the
trainer and the certified solver reading ℓ through the same family."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from almo import BoxSimplex, ObjectiveFamily, PriorBall, Simplex, solve_linear
from almo._validation import ALMOValueError
from almo.losses import LOSSES
from almo.objective_batch import ObjectiveBatch
from almo.report import ObjectiveReport
from almo.train import MinimaxTrainer
from almo.weights import ProjectedAscent
from checks import assert_agree, assert_in_set, assert_worst_case_optimal, linear_max

# -- ObjectiveBatch ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.0, 1e6), min_size=1, max_size=8),
    st.data(),
)
def test_batch_means_are_sums_over_counts_over_scales(sums, data):
    p = len(sums)
    counts = data.draw(st.lists(st.integers(0, 50), min_size=p, max_size=p))
    scale = data.draw(st.lists(st.floats(1e-3, 1e3), min_size=p, max_size=p))
    b = ObjectiveBatch(np.array(sums), np.array(counts, float), np.array(scale))
    for k in range(p):
        expected = sums[k] / max(counts[k], 1) / scale[k]
        assert b.means()[k] == pytest.approx(expected, rel=1e-12, abs=0)
        assert b.means(normalized=False)[k] == pytest.approx(sums[k] / max(counts[k], 1))
    assert b.present.tolist() == [c > 0 for c in counts]


def test_batches_add_up_to_the_full_pass():
    family = ObjectiveFamily(["log_loss", "hinge"], groups=3)
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(40, 4, generator=g, dtype=torch.float64)
    labels, groups = torch.randint(0, 4, (40,), generator=g), torch.arange(40) % 3
    full = family.batch(scores, labels, groups)
    parts = [
        family.batch(scores[i : i + 7], labels[i : i + 7], groups[i : i + 7])
        for i in range(0, 40, 7)
    ]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    assert_agree(total.means(), full.means(), rtol=1e-12, what="summed batches vs one batch")
    np.testing.assert_array_equal(total.total_counts, full.total_counts)
    # ... and the one-pass means match a per-group Python loop.
    loop = [
        LOSSES[n](scores[groups == k], labels[groups == k]).double().mean().item()
        for n in ("log_loss", "hinge")
        for k in range(3)
    ]
    assert_agree(full.means(), np.array(loop), rtol=1e-6, what="batch means vs loop")


def test_theta_loss_gradient_is_the_gradient_of_the_weighted_means():
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize=[2.0, 0.5, 1.0, 4.0])
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(12, 3, generator=g, dtype=torch.float64, requires_grad=True)
    labels, groups = torch.randint(0, 3, (12,), generator=g), torch.tensor([0] * 5 + [1] * 7)
    lam = np.array([0.1, 0.2, 0.3, 0.4])
    b = family.batch(scores, labels, groups)
    (g1,) = torch.autograd.grad(b.theta_loss(lam), scores)
    (g2,) = torch.autograd.grad(
        torch.dot(torch.tensor(lam), family(scores, labels, groups)), scores
    )
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)
    assert b.theta_loss(lam).item() == pytest.approx(float(lam @ b.means()), rel=1e-12)
    assert_agree(b.values().detach().numpy(), b.means(), rtol=1e-12, what="values vs means")


def test_absent_objective_has_zero_mean_and_zero_coefficient():
    b = ObjectiveBatch(torch.tensor([2.0, 0.0]), torch.tensor([4.0, 0.0]), np.ones(2))
    assert b.means().tolist() == [0.5, 0.0] and b.present.tolist() == [True, False]
    assert b.coefficients([0.5, 0.5]).tolist() == [0.125, 0.5]  # 0-sum entry: no gradient


def test_all_reduce_is_a_no_op_alone_and_batches_check_their_inputs():
    from almo.train.distributed import DistributedContext

    b = ObjectiveBatch(torch.ones(3), torch.ones(3), np.ones(3))
    assert b.all_reduce(DistributedContext()) is b
    with pytest.raises(ALMOValueError, match=r"`counts` must have shape \(3,\)"):
        ObjectiveBatch(torch.ones(3), torch.ones(2), np.ones(3))
    with pytest.raises(ALMOValueError, match="same objectives and scales"):
        _ = b + ObjectiveBatch(torch.ones(3), torch.ones(3), np.full(3, 2.0))
    assert "ObjectiveBatch(p=3" in repr(b)


def test_empty_batch_is_refused_naming_the_outputs():
    family = ObjectiveFamily("log_loss", groups=2)
    with pytest.raises(ALMOValueError, match="`outputs` must hold at least one sample"):
        family.batch(
            torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        )


# -- concatenated families --------------------------------------------------------------------


def test_concatenated_family_equals_its_members_side_by_side():
    overall = ObjectiveFamily(["log_loss", "squared"])
    per_group = ObjectiveFamily("log_loss", groups=["north", "south"])
    both = ObjectiveFamily.concat([overall, per_group])
    assert both.p == 4 and both.names == overall.names + per_group.names
    g = torch.Generator().manual_seed(5)
    scores, labels = torch.randn(30, 3, generator=g), torch.randint(0, 3, (30,), generator=g)
    groups = torch.arange(30) % 2
    expected = torch.cat([overall(scores, labels), per_group(scores, labels, groups)])
    torch.testing.assert_close(both(scores, labels, groups), expected)
    np.testing.assert_array_equal(both.lipschitz[:2], overall.lipschitz)
    assert both.differentiable.tolist() == [True] * 4


def test_concatenated_family_calibrates_its_members_and_round_trips():
    members = [
        ObjectiveFamily("hinge", normalize="initial"),
        ObjectiveFamily("hinge", groups=2, normalize=[1.0, 2.0]),
    ]
    both = ObjectiveFamily.concat(members)
    assert both.needs_calibration
    g = torch.Generator().manual_seed(6)
    scores, labels = torch.randn(20, 3, generator=g), torch.randint(0, 3, (20,), generator=g)
    groups = torch.arange(20) % 2
    with pytest.raises(ALMOValueError, match="calibrated before use"):
        both(scores, labels, groups)
    both.calibrate(scores, labels, groups)
    assert not both.needs_calibration
    raw = LOSSES["hinge"](scores, labels).double().mean().item()
    assert both.scale_array.tolist() == pytest.approx([raw, 1.0, 2.0])
    again = ObjectiveFamily.concat(
        [
            ObjectiveFamily("hinge", normalize="initial"),
            ObjectiveFamily("hinge", groups=2, normalize=[1.0, 2.0]),
        ]
    )
    again.load_state_dict(both.state_dict())
    np.testing.assert_array_equal(again.scale_array, both.scale_array)


@pytest.mark.parametrize(
    "families,match",
    [
        ([], "non-empty sequence"),
        ([ObjectiveFamily("hinge"), ObjectiveFamily("hinge")], "distinct objective names"),
        (["hinge"], "non-empty sequence of ObjectiveFamily"),
    ],
)
def test_concatenation_errors(families, match):
    with pytest.raises(ALMOValueError, match=match):
        ObjectiveFamily.concat(families)


# -- the report vocabulary --------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.01, 10.0), min_size=3, max_size=3),
    st.lists(st.floats(0.1, 5.0), min_size=3, max_size=3),
    st.sampled_from(["simplex", "box", "ball"]),
)
def test_report_worst_case_is_the_lp_maximum(raw, scales, kind):
    sets = {
        "simplex": Simplex(3),
        "box": BoxSimplex([0.1] * 3, [0.6] * 3),
        "ball": PriorBall([0.5, 0.3, 0.2], 0.3, "l1"),
    }
    ms = sets[kind]
    rep = ObjectiveReport.from_values(["a", "b", "c"], raw, scales, ms, penalty=[0.0, 0.5, 0.1])
    normalized = np.array(raw) / np.array(scales)
    assert_agree(rep.normalized, normalized, rtol=1e-12, what="normalized")
    assert rep.worst_case == pytest.approx(linear_max(ms, normalized), abs=1e-7)
    assert_in_set(ms, rep.weights)
    assert_worst_case_optimal(ms, normalized, ms.worst_case(normalized), tol=1e-7)
    assert rep.value_at(rep.weights) == pytest.approx(rep.worst_case, abs=1e-9)
    assert rep.penalized_worst_case == pytest.approx(
        linear_max(ms, normalized + np.array([0.0, 0.5, 0.1])), abs=1e-7
    )
    back = ObjectiveReport.from_dict(rep.to_dict())
    assert back.names == rep.names and back.worst_case == rep.worst_case
    np.testing.assert_array_equal(back.objective, rep.objective)


def test_report_table_and_errors():
    rep = ObjectiveReport.from_values(
        ["log_loss", "hinge"], [0.9, 0.3], [1.0, 1.0], Simplex(2), penalty=[0.1, 0.1]
    )
    text = rep.table(digits=3)
    assert "log_loss" in text and "with penalty 1.000" in text
    assert rep.worst_objective == "log_loss" and rep.losses is not None
    with pytest.raises(ALMOValueError, match=r"`raw` must have shape \(2,\)"):
        ObjectiveReport.from_values(["a", "b"], [1.0], [1.0, 1.0], Simplex(2))


# -- the trainer on the layer -----------------------------------------------------------------


def _classification(n=120, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.argmax(x @ rng.normal(size=(d, classes)) + rng.normal(size=(n, classes)), axis=1)
    g = (rng.random(n) < 0.4).astype(int)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y), torch.tensor(g)


def _fit(eval_loader, seed=0):
    x, y, g = _classification()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 3))
    loader = DataLoader(TensorDataset(x, y, g), batch_size=16, shuffle=True)
    family = ObjectiveFamily(["log_loss", "hinge"], groups=2, normalize="initial")
    trainer = MinimaxTrainer(model, family, verbose=False)
    ev = None
    if eval_loader:
        ev = DataLoader(TensorDataset(x, y, g), batch_size=32, shuffle=True)
    trainer.fit(loader, epochs=3, eval_loader=ev)
    return trainer


def test_eval_loader_does_not_change_training():
    """Each evaluation pass over a shuffling loader (and the calibration pass) leaves every
    random generator as it found it: θ and λ are bitwise identical with and without it."""
    plain, evaluated = _fit(False), _fit(True)
    for a, b in zip(plain.model.parameters(), evaluated.model.parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(plain.weights, evaluated.weights)
    np.testing.assert_array_equal(plain.average_weights, evaluated.average_weights)
    assert evaluated.history.epochs[-1].averaged is not None


def test_averaged_model_is_what_the_epoch_record_evaluates():
    trainer = _fit(True)
    x, y, g = _classification()
    data = [(x, y, g)]
    record = trainer.history.epochs[-1].averaged
    mine = trainer.evaluate(data, model=trainer.averaged_model())
    again = trainer.evaluate(DataLoader(TensorDataset(x, y, g), batch_size=32))
    assert_agree(mine.raw, record.raw, rtol=1e-6, what="averaged model vs epoch record")
    assert mine.worst_case == pytest.approx(record.worst_case, rel=1e-6)
    # the last iterate is different from the average, and evaluate() defaults to it
    assert not np.allclose(again.raw, mine.raw)
    assert_agree(again.scales, trainer.family.scale_array, rtol=0, what="scales in the report")


def test_fixed_scales_make_runs_from_different_initial_models_comparable():
    x, y, g = _classification()
    scales = [1.2, 0.9, 1.1, 1.0]
    reports = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        family = ObjectiveFamily(["log_loss", "hinge"], groups=2, normalize=scales)
        trainer = MinimaxTrainer(torch.nn.Linear(4, 3), family, verbose=False)
        trainer.fit([(x, y, g)], epochs=2)
        reports.append(trainer.evaluate([(x, y, g)]))
    np.testing.assert_array_equal(reports[0].scales, reports[1].scales)
    # The same model judged by both families gives the same numbers.
    fam_a = ObjectiveFamily(["log_loss", "hinge"], groups=2, normalize=scales)
    fam_b = ObjectiveFamily(["log_loss", "hinge"], groups=2, normalize=scales)
    out = torch.nn.Linear(4, 3)(x)
    torch.testing.assert_close(fam_a(out, y, g), fam_b(out, y, g))


def test_uncalibrated_group_absent_from_training_data_is_a_clear_error():
    x, y, _ = _classification()
    family = ObjectiveFamily("log_loss", groups=3, normalize="initial")
    trainer = MinimaxTrainer(torch.nn.Linear(4, 3), family, verbose=False)
    groups = torch.arange(len(x)) % 2  # group2 never appears
    with pytest.raises(ALMOValueError, match=r"no samples for \['log_loss@group2'\]"):
        trainer.fit([(x, y, groups)], epochs=1)


def test_trainer_refuses_a_duck_typed_family():
    class Fake:
        p, names = 2, ["a", "b"]

        def sums_counts(self, *a):
            return torch.zeros(2), torch.ones(2)

    with pytest.raises(ALMOValueError, match="`family` must be an ObjectiveFamily"):
        MinimaxTrainer(torch.nn.Linear(2, 2), Fake())


# -- the solver on the same family ------------------------------------------------------------


def test_solver_and_trainer_share_names_p_and_scales():
    x, y, g = _classification(n=150)
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize="initial")
    sol = solve_linear(x.numpy().astype(float), y.numpy(), family, groups=g.numpy(), l2=0.01)
    assert not family.needs_calibration  # calibrated at W = 0 by the solver, in place
    assert list(sol.names) == family.names and sol.weights.shape == (family.p,)
    np.testing.assert_array_equal(sol.scales, family.scale_array)
    # scales are the W = 0 values: log C for the log loss, the squared norm of a one-hot
    np.testing.assert_allclose(sol.scales[:2], math.log(3), rtol=1e-12)
    np.testing.assert_allclose(sol.scales[2:], 1.0, rtol=1e-12)
    shorthand = solve_linear(
        x.numpy().astype(float),
        y.numpy(),
        ["log_loss", "squared"],
        groups=g.numpy(),
        l2=0.01,
        normalize="initial",
    )
    assert shorthand.names == sol.names
    assert shorthand.value == pytest.approx(sol.value, rel=1e-7)
    trainer = MinimaxTrainer(
        torch.nn.Linear(4, 3),
        family,
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.1),
    )
    trainer.fit([(x, y, g)], epochs=1)
    np.testing.assert_array_equal(trainer.family.scale_array, sol.scales)  # not recalibrated


def test_solution_report_is_consistent_with_its_value():
    x, y, g = _classification(n=100)
    sol = solve_linear(
        x.numpy().astype(float),
        y.numpy(),
        ["log_loss", "hinge"],
        groups=g.numpy(),
        l2=0.05,
        mixture_set=BoxSimplex([0.1] * 4, [0.7] * 4),
    )
    rep = sol.report
    assert rep.penalized_worst_case == pytest.approx(sol.value, rel=1e-10)
    penalty = 0.05 * float(np.sum(sol.coef_**2))
    np.testing.assert_allclose(rep.penalty, penalty, rtol=1e-10)
    np.testing.assert_array_equal(sol.losses, rep.normalized)
    assert rep.counts.tolist() == [float((g == 0).sum()), float((g == 1).sum())] * 2


def test_solver_keeps_declared_groups_and_refuses_empty_ones():
    x, y, _ = _classification(n=60)
    family = ObjectiveFamily("log_loss", groups=3)
    g = np.arange(60) % 2
    with pytest.raises(ALMOValueError, match=r"no rows for \['log_loss@group2'\]"):
        solve_linear(x.numpy().astype(float), y.numpy(), family, groups=g, l2=0.1)
    with pytest.raises(ALMOValueError, match=r"no rows for \['log_loss@group1'\]"):
        solve_linear(x.numpy().astype(float), y.numpy(), "log_loss", groups=g * 2, l2=0.1)
    with pytest.raises(ALMOValueError, match="`normalize` must be None when `losses` is an"):
        solve_linear(
            x.numpy().astype(float), y.numpy(), ObjectiveFamily("log_loss"), normalize="initial"
        )
    with pytest.raises(ALMOValueError, match=r"lie in \[0, 2\]"):
        solve_linear(x.numpy().astype(float), y.numpy(), family, groups=g + 2, l2=0.1)


def test_string_group_labels_name_the_groups_in_sorted_order():
    x, y, _ = _classification(n=60)
    labels = np.where(np.arange(60) % 3 == 0, "south", "north")
    sol = solve_linear(x.numpy().astype(float), y.numpy(), "log_loss", groups=labels, l2=0.1)
    assert sol.names == ("log_loss@north", "log_loss@south")


def test_trainer_reaches_the_solver_optimum_on_the_same_family():
    """The trainer's averaged iterate on a convex problem lands near the certified optimum of
    the same family (same names and scales), with a fixed mixture rule as a sanity bound."""
    x, y, g = _classification(n=150)
    xd = x.double()
    family = ObjectiveFamily(["log_loss", "squared"], groups=2, normalize="initial")
    sol = solve_linear(xd.numpy(), y.numpy(), family, groups=g.numpy(), l2=0.0, tol=1e-7)
    torch.manual_seed(0)
    trainer = MinimaxTrainer(
        torch.nn.Linear(4, 3).double(),
        family,
        method="mirror_prox",
        weight_rule=ProjectedAscent(lr=0.5),
        verbose=False,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.5),
    )
    h = trainer.fit([(xd, y, g)] * 300, epochs=1, eval_loader=[(xd, y, g)])
    averaged = h.epochs[-1].averaged
    assert averaged.names == sol.names
    assert sol.value <= averaged.worst_case + 1e-6
    assert averaged.worst_case <= sol.value * 1.01
