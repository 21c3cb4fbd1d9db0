"""The convergence benchmark measures the solver's objective: the trainer's report equals it.

The benchmark (benchmarks/convergence.py) compares the trainer's averaged model with the
certified optimum; that gap means something only if both sides evaluate the same function. These
tests check it three ways: at W = 0, b = 0 against a closed form, at a random model against a
numpy evaluation, and at the solver's own solution against its reported value.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from almo.train import MinimaxTrainer
from almo.weights import Averaged, BestResponse, ExponentiatedAscent, ProjectedAscent

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


conv = _load("convergence")


@pytest.fixture(scope="module")
def digits():
    inst = conv.digits_instance(epochs=2)
    return inst, conv.certify(inst)


@pytest.fixture(scope="module")
def groups20():
    inst = conv.groups20_instance(epochs=2)
    return inst, conv.certify(inst)


def _numpy_objective(inst, scales: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalized objectives + l2‖W‖², loss-major, computed without the library."""
    scores = inst.X @ W.T + b
    onehot = np.eye(inst.n_classes)[inst.y]
    per_sample = {
        "log_loss": logsumexp(scores, axis=1) - scores[np.arange(len(inst.y)), inst.y],
        "squared": ((scores - onehot) ** 2).sum(axis=1),
    }
    raw = np.array(
        [
            per_sample[loss][inst.groups == g].mean()
            for loss in inst.losses
            for g in range(inst.n_groups)
        ]
    )
    return raw / scales + conv.L2 * (W**2).sum()


def _trainer_report(inst, optimum, W: np.ndarray, b: np.ndarray):
    trainer = conv.make_trainer(conv.rule_list()[0], inst, optimum, seed=0)
    with torch.no_grad():
        trainer.model.weight.copy_(torch.from_numpy(W))
        trainer.model.bias.copy_(torch.from_numpy(b))
    return trainer.evaluate([conv.tensors(inst)])


def test_digits_is_the_exact_solver_benchmarks_instance(digits):
    inst, _ = digits
    X, y, groups = _load("exact_solver").data(quick=False)
    np.testing.assert_array_equal(inst.X, X)
    np.testing.assert_array_equal(inst.y, y)
    np.testing.assert_array_equal(inst.groups, groups)
    assert inst.losses == ("log_loss", "squared")


@pytest.mark.parametrize("which", ["digits", "groups20"])
def test_report_at_zero_model_equals_the_solvers_objective_there(which, request, one_thread):
    inst, optimum = request.getfixturevalue(which)
    zero_w = np.zeros((inst.n_classes, inst.X.shape[1]))
    rep = _trainer_report(inst, optimum, zero_w, np.zeros(inst.n_classes))
    # At W = 0, b = 0 the scores vanish: log loss is log C and the multiclass squared loss
    # ‖0 − e_y‖² = 1 for every sample; the solver calibrated its scales there, so its objective
    # (normalized, no penalty at W = 0) is exactly 1.
    closed_form = {"log_loss": math.log(inst.n_classes), "squared": 1.0}
    expected_raw = [closed_form[loss] for loss in inst.losses for _ in range(inst.n_groups)]
    np.testing.assert_allclose(optimum.scales, expected_raw, rtol=1e-12)
    np.testing.assert_allclose(rep.raw, expected_raw, rtol=1e-12)
    assert abs(rep.penalized_worst_case - 1.0) <= 1e-10
    assert rep.names == optimum.names


@pytest.mark.parametrize("which", ["digits", "groups20"])
def test_report_at_random_model_equals_a_numpy_evaluation(which, request, rng, one_thread):
    inst, optimum = request.getfixturevalue(which)
    W = 0.3 * rng.normal(size=(inst.n_classes, inst.X.shape[1]))
    b = rng.normal(size=inst.n_classes)
    rep = _trainer_report(inst, optimum, W, b)
    reference = _numpy_objective(inst, optimum.scales, W, b)
    np.testing.assert_allclose(rep.normalized + rep.penalty, reference, rtol=1e-10)
    assert abs(rep.penalized_worst_case - reference.max()) <= 1e-10 * reference.max()


@pytest.mark.parametrize("which", ["digits", "groups20"])
def test_report_at_the_solvers_solution_equals_its_value(which, request, one_thread):
    inst, optimum = request.getfixturevalue(which)
    rep = _trainer_report(inst, optimum, optimum.coef, optimum.intercept)
    assert abs(rep.penalized_worst_case - optimum.value) <= 1e-10 * optimum.value
    # The certificate is tight: the benchmark's gaps are meaningful far below 0.1%.
    assert (optimum.value - optimum.lower_bound) / optimum.value <= 1e-7


def test_training_never_beats_the_certified_lower_bound(groups20, one_thread):
    inst, optimum = groups20
    run = conv.gap_curve(conv.rule_list()[1], inst, optimum, seed=0, epochs=2)
    floor = (optimum.lower_bound - optimum.value) / optimum.value
    assert run.model == "averaged" and len(run.gaps) == len(run.last) == 2
    assert all(g >= floor - 1e-12 for g in run.gaps + run.last)
    assert (
        run.gaps[-1] < run.gaps[0]
    )  # two epochs of Group DRO's rule on a convex problem: progress


def test_rules_share_the_default_optimizer_and_differ_in_lambda(digits, one_thread):
    inst, optimum = digits
    bare = MinimaxTrainer(
        conv.linear_model(inst, 0), inst.family(optimum.scales.copy()), verbose=False
    )
    trainers = {s.name: conv.make_trainer(s, inst, optimum, seed=0) for s in conv.rule_list()}
    assert next(iter(trainers)) == "almo defaults" and set(conv.PEERS) < set(trainers)
    for name, trainer in trainers.items():
        assert type(trainer.optimizer) is type(bare.optimizer), name
        assert trainer.optimizer.defaults == bare.optimizer.defaults, name
        expected_method = "mirror_prox" if name == "mirror-prox" else bare.method
        assert trainer.method == expected_method, name
    assert repr(trainers["almo defaults"].weight_rule) == repr(bare.weight_rule)
    assert repr(trainers["mirror-prox"].weight_rule) == repr(bare.weight_rule)
    inner = {name: t.weight_rule.rule for name, t in trainers.items()}
    assert isinstance(inner["Group DRO"], ExponentiatedAscent)
    assert (inner["Group DRO"].lr, inner["Group DRO"].smoothing) == (0.01, 0.0)
    assert isinstance(inner["DoReMi"], ExponentiatedAscent)
    assert (inner["DoReMi"].lr, inner["DoReMi"].smoothing) == (1.0, 1e-3)
    assert isinstance(trainers["DoReMi"].weight_rule, Averaged)
    assert isinstance(inner["AFL"], ProjectedAscent)
    assert (inner["AFL"].lr, inner["AFL"].schedule) == (0.1, "constant")
    assert isinstance(inner["best response"], BestResponse)


def test_batches_cover_every_row_once_per_epoch(groups20):
    inst, _ = groups20
    batches = conv.Batches(inst, batch_size=128)
    seen = torch.cat([x for x, _, _ in batches])
    assert len(list(batches)) == len(batches) == math.ceil(len(inst.y) / 128)
    order = torch.from_numpy(inst.X)
    # Every row exactly once: sorting both by their first feature gives the same rows.
    key = lambda t: t[torch.argsort(t[:, 0])]  # noqa: E731
    assert torch.equal(key(seen), key(order))


def test_epochs_to_and_the_median():
    gaps = [0.5, 0.02, 0.009, 0.011, 0.0005]
    assert conv.epochs_to(gaps, 1e-2) == 3.0  # the first epoch at or below, 1-based
    assert conv.epochs_to(gaps, 1e-3) == 5.0
    assert conv.epochs_to(gaps, 1e-4) == math.inf
    assert conv.upper_median([3.0, math.inf, 1.0]) == 3.0
    assert conv.upper_median([2.0, math.inf]) == math.inf
    assert conv.upper_median([5.0, 1.0, 4.0, 2.0, 3.0]) == 3.0
