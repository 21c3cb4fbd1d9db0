"""ObjectiveFamily: layout, group means, absent groups, normalization, errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo._validation import ALMOValueError, NonFiniteLossError
from almo.losses import LOSSES, make_loss
from almo.objectives import ObjectiveFamily


def _batch(seed, n=30, c=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, c, generator=g, dtype=dtype)
    labels = torch.randint(0, c, (n,), generator=g)
    return scores, labels


def test_names_layout_and_constants():
    family = ObjectiveFamily(
        ["log_loss", "hinge", make_loss("huber", delta=2.0)], groups=["a", "b"]
    )
    assert family.p == 6
    assert family.names == [
        "log_loss@a",
        "log_loss@b",
        "hinge@a",
        "hinge@b",
        "huber(delta=2)@a",
        "huber(delta=2)@b",
    ]
    np.testing.assert_array_equal(family.lipschitz, [math.sqrt(2)] * 4 + [2.0, 2.0])
    assert family.lipschitz.dtype == np.float64
    np.testing.assert_array_equal(family.convex_for_linear, [True] * 6)
    np.testing.assert_array_equal(
        ObjectiveFamily(["hinge", "zero_one"]).differentiable, [True, False]
    )
    default = ObjectiveFamily()
    assert default.names == ["log_loss", "hinge", "squared"]
    assert default.group_names is None and default.n_groups == 1
    np.testing.assert_array_equal(default.lipschitz, [math.sqrt(2), math.sqrt(2), math.inf])
    np.testing.assert_allclose(default.lipschitz_within(1.0), [math.sqrt(2)] * 2 + [4.0])
    assert ObjectiveFamily("hinge", groups=3).names == [
        "hinge@group0",
        "hinge@group1",
        "hinge@group2",
    ]
    assert (
        repr(ObjectiveFamily(["hinge"], groups=3, normalize="initial"))
        == "ObjectiveFamily(losses=['hinge'], groups=3, normalize='initial')"
    )


def test_without_groups_means_equal_per_sample_means():
    scores, labels = _batch(1)
    family = ObjectiveFamily(["log_loss", "hinge", "squared", "brier", "zero_one"])
    per = family.per_sample(scores, labels)
    assert per.shape == (30, 5)
    torch.testing.assert_close(family(scores, labels), per.mean(dim=0), rtol=0, atol=1e-12)
    for k, loss in enumerate(family.losses):
        torch.testing.assert_close(per[:, k], loss(scores, labels), rtol=0, atol=0)
    sums, counts = family.sums_counts(scores, labels)
    torch.testing.assert_close(sums, per.sum(dim=0), rtol=0, atol=1e-12)
    torch.testing.assert_close(counts, torch.full((5,), 30.0, dtype=torch.float64))


@settings(max_examples=40, deadline=None)
@given(
    n_groups=st.integers(1, 6),
    ids=st.lists(st.integers(0, 5), min_size=1, max_size=25),
    seed=st.integers(0, 10_000),
)
def test_group_means_equal_a_python_loop(n_groups, ids, seed):
    ids = [i % n_groups for i in ids]  # some groups are absent whenever len(set(ids)) < G
    scores, labels = _batch(seed, n=len(ids))
    scores.requires_grad_(True)
    groups = torch.tensor(ids)
    family = ObjectiveFamily(["log_loss", "hinge", "zero_one"], groups=n_groups)
    sums, counts = family.sums_counts(scores, labels, groups)
    values = family(scores, labels, groups)
    assert values.shape == (3 * n_groups,)
    present = family.present(counts)
    for k, name in enumerate(family.names):
        loss_name, group = name.split("@")
        g = int(group.removeprefix("group"))
        assert k == family.losses.index(LOSSES[loss_name]) * n_groups + g  # loss-major
        members = [i for i, gid in enumerate(ids) if gid == g]
        assert counts[k] == len(members) and bool(present[k]) == bool(members)
        if members:
            expected = LOSSES[loss_name](scores[members], labels[members]).mean()
            torch.testing.assert_close(values[k], expected, rtol=0, atol=1e-12)
        else:
            assert values[k] == 0.0 and sums[k] == 0.0
    assert torch.isfinite(values).all()
    # absent groups: zero gradient; present differentiable objectives: some gradient
    absent = (~present).nonzero().flatten()
    if len(absent):
        (grad,) = torch.autograd.grad(
            values[absent].sum(), scores, allow_unused=True, retain_graph=True
        )
        assert grad is None or torch.count_nonzero(grad) == 0
    (grad,) = torch.autograd.grad(values[:n_groups].sum(), scores)  # log_loss rows
    assert torch.count_nonzero(grad) > 0


def test_group_gradients_match_loop_gradients():
    scores, labels = _batch(3, n=12)
    groups = torch.tensor([0, 2, 2, 0, 0, 2, 0, 2, 2, 2, 0, 0])  # group 1 absent
    family = ObjectiveFamily(["hinge", "squared"], groups=3)
    weights = torch.tensor([0.3, 0.5, 0.2, 0.1, 0.7, 0.4], dtype=torch.float64)

    def mixed(x):
        return (weights * family(x, labels, groups)).sum()

    def loop(x):
        total = x.new_zeros(())
        for k, name in enumerate(family.names):
            loss, g = name.split("@")
            m = groups == int(g[-1])
            if m.any():
                total = total + weights[k] * LOSSES[loss](x[m], labels[m]).mean()
        return total

    x = scores.clone().requires_grad_(True)
    (g1,) = torch.autograd.grad(mixed(x), x)
    (g2,) = torch.autograd.grad(loop(x), x)
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(mixed, (scores.clone().requires_grad_(True),))


def test_sums_counts_accumulate_to_full_batch_means():
    scores, labels = _batch(4, n=40)
    groups = torch.arange(40) % 4
    family = ObjectiveFamily(["log_loss", "brier"], groups=4)
    total_s, total_c = 0, 0
    for chunk in torch.arange(40).split(7):
        s, c = family.sums_counts(scores[chunk], labels[chunk], groups[chunk])
        total_s, total_c = total_s + s, total_c + c
    torch.testing.assert_close(
        family.reduce(total_s, total_c), family(scores, labels, groups), rtol=0, atol=1e-12
    )


def test_zero_one_objective_has_zero_gradient_inside_a_family():
    scores, labels = _batch(5)
    scores.requires_grad_(True)
    family = ObjectiveFamily(["zero_one", "log_loss"])
    values = family(scores, labels)
    (grad,) = torch.autograd.grad(values[0], scores, allow_unused=True, retain_graph=True)
    assert grad is None or torch.count_nonzero(grad) == 0
    assert not family.differentiable[0]


def test_float32_matches_float64_and_keeps_dtype():
    scores, labels = _batch(6)
    family = ObjectiveFamily(["log_loss", "hinge", "squared", "focal"], groups=2)
    groups = torch.arange(30) % 2
    v64 = family(scores, labels, groups)
    v32 = family(scores.float(), labels, groups)
    assert v32.dtype == torch.float32 and v64.dtype == torch.float64
    torch.testing.assert_close(v32.double(), v64, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    scores, labels = _batch(7)
    groups = torch.arange(30) % 3
    family = ObjectiveFamily(["log_loss", "hinge", "zero_one"], groups=3, normalize="initial")
    cpu = family.evaluate(scores, labels, groups)
    family = family.cuda()
    gpu = family.evaluate(scores.cuda(), labels.cuda(), groups.cuda())
    torch.testing.assert_close(gpu.raw.cpu(), cpu.raw, rtol=1e-9, atol=1e-12)


def test_regression_family():
    g = torch.Generator().manual_seed(8)
    pred, y = torch.randn(20, 1, generator=g), torch.randn(20, generator=g)
    family = ObjectiveFamily(["squared", "absolute", "huber", make_loss("pinball", tau=0.9)])
    values = family(pred, y)
    p, t = pred[:, 0], y
    r = t - p
    expected = torch.stack(
        [
            (p - t).square().mean(),
            (p - t).abs().mean(),
            torch.nn.functional.huber_loss(p, t),
            torch.maximum(0.9 * r, -0.1 * r).mean(),
        ]
    )
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-6)


# --- normalization ---------------------------------------------------------------------------


def test_calibrate_initial_normalizes_to_one_and_keeps_raw():
    scores, labels = _batch(9)
    family = ObjectiveFamily(["log_loss", "hinge", "squared"], normalize="initial")
    assert family.needs_calibration
    raw = family.evaluate(scores, labels).raw
    assert family.calibrate(scores, labels) is family
    assert not family.needs_calibration
    torch.testing.assert_close(family.scale, raw)
    torch.testing.assert_close(family(scores, labels), torch.ones(3, dtype=torch.float64))
    other, other_labels = _batch(10)
    values = family.evaluate(other, other_labels)
    torch.testing.assert_close(values.normalized, values.raw / raw)
    np.testing.assert_allclose(family.lipschitz, ObjectiveFamily().lipschitz)


def test_uncalibrated_family_refuses_and_absent_groups_stay_uncalibrated():
    scores, labels = _batch(11, n=10)
    family = ObjectiveFamily("log_loss", groups=3, normalize="initial")
    with pytest.raises(ALMOValueError, match=r"calibrated before use.*log_loss@group0"):
        family(scores, labels, torch.zeros(10, dtype=torch.long))
    family.calibrate(scores, labels, torch.zeros(10, dtype=torch.long))  # groups 1, 2 absent
    assert family.calibrated.tolist() == [True, False, False] and family.needs_calibration
    with pytest.raises(ALMOValueError, match=r"no scale yet for \['log_loss@group1', "):
        family(scores, labels, torch.zeros(10, dtype=torch.long))
    scale0 = family.scale[0].item()
    groups = torch.tensor([0, 1] * 5)
    family.calibrate(scores, labels, groups)  # every present group is (re)calibrated
    raw = family.evaluate(scores, labels, groups).raw
    assert family.scale[0].item() == pytest.approx(raw[0].item()) != scale0
    assert family.calibrated.tolist() == [True, True, False]
    # the scale and calibration state travel in the state dict
    restored = ObjectiveFamily("log_loss", groups=3, normalize="initial")
    restored.load_state_dict(family.state_dict())
    torch.testing.assert_close(restored.scale, family.scale)
    np.testing.assert_array_equal(restored.scale_array, family.scale_array)
    assert restored.needs_calibration
    restored.calibrate(scores, labels, torch.tensor([2] * 10))
    assert not restored.needs_calibration
    values = restored(scores, labels, torch.tensor([2] * 10))
    assert values[2].item() == pytest.approx(1.0)


def test_fixed_scales_and_no_normalization():
    scores, labels = _batch(12)
    fixed = ObjectiveFamily(["log_loss", "hinge"], normalize=[2.0, 4.0])
    plain = ObjectiveFamily(["log_loss", "hinge"])
    assert not fixed.needs_calibration and not plain.needs_calibration
    torch.testing.assert_close(plain.scale, torch.ones(2, dtype=torch.float64))
    factor = torch.tensor([2.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(fixed(scores, labels) * factor, plain(scores, labels))
    with pytest.raises(ALMOValueError, match="be 'initial' to calibrate"):
        fixed.calibrate(scores, labels)


def test_zero_initial_value_is_an_error_naming_the_objective_and_changes_nothing():
    scores = torch.tensor([[5.0, -5.0], [-5.0, 5.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1])
    family = ObjectiveFamily(["log_loss", "hinge"], normalize="initial")
    with pytest.raises(ALMOValueError, match=r"initial objective values.*'hinge': 0\.0"):
        family.calibrate(scores, labels)
    assert family.needs_calibration and not family.calibrated.any()
    torch.testing.assert_close(family.scale, torch.ones(2, dtype=torch.float64))
    with pytest.raises(ALMOValueError, match="calibrated before use"):
        family(scores, labels)  # still uncalibrated: the failed calibration changed nothing


def test_nonfinite_values_are_named():
    scores, labels = _batch(13, n=4)
    scores[2, 0] = math.nan
    family = ObjectiveFamily(["log_loss", "hinge"], groups=2)
    with pytest.raises(NonFiniteLossError, match=r"log_loss@group0.*hinge@group0"):
        family.evaluate(scores, labels, torch.tensor([1, 1, 0, 1]))
    inf_family = ObjectiveFamily(["hinge"], normalize="initial")
    scores[2, 0] = math.inf
    with pytest.raises(ALMOValueError, match=r"'hinge': (nan|inf)"):
        inf_family.calibrate(scores, labels)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"losses": []}, "at least one loss"),
        ({"losses": ["log_loss", "nope"]}, r"one of \[.*'hinge'.*\].*found 'nope'"),
        ({"losses": ["hinge", "hinge"]}, "distinct names"),
        ({"losses": [make_loss("focal", gamma=2.0), "focal"]}, "distinct names"),
        ({"losses": 3}, "loss spec or a sequence"),
        ({"groups": 0}, "positive number of groups"),
        ({"groups": True}, "None, a number of groups"),
        ({"groups": "abc"}, "None, a number of groups"),
        ({"groups": ["a", "a"]}, "distinct non-empty"),
        ({"groups": ["a@b"]}, "without '@'"),
        ({"normalize": "first"}, "None, 'initial' or p positive"),
        ({"normalize": [1.0, 2.0]}, "hold 3 finite positive scales"),
        ({"normalize": [1.0, 0.0, 1.0]}, "hold 3 finite positive scales"),
        ({"normalize": [1.0, math.nan, 1.0]}, "hold 3 finite positive scales"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ALMOValueError, match=match):
        ObjectiveFamily(**kwargs)


def test_single_specs_are_accepted():
    assert ObjectiveFamily("hinge").names == ["hinge"]
    assert ObjectiveFamily(("gap", lambda out, y: (out - y).abs())).names == ["gap"]
    assert ObjectiveFamily(make_loss("pinball", tau=0.2)).names == ["pinball(tau=0.2)"]
    assert ObjectiveFamily("hinge", groups=np.int64(2)).p == 2


@pytest.mark.parametrize(
    "groups,match",
    [
        (None, "one group id per sample"),
        (torch.tensor([0, 1, 3, 0]), r"lie in \[0, 2\].*\[0, 3\]"),
        (torch.tensor([0, -1, 2, 0]), r"lie in \[0, 2\]"),
        (torch.tensor([0.0, 1.0, 2.0, 0.0]), "integer group ids of shape"),
        (torch.tensor([0, 1, 2]), r"integer group ids of shape \(4,\)"),
    ],
)
def test_bad_group_ids(groups, match):
    scores, labels = _batch(14, n=4)
    family = ObjectiveFamily("hinge", groups=3)
    with pytest.raises(ALMOValueError, match=match):
        family(scores, labels, groups)


def test_groups_given_to_a_family_without_groups():
    scores, labels = _batch(15, n=4)
    with pytest.raises(ALMOValueError, match="family built without groups"):
        ObjectiveFamily("hinge")(scores, labels, torch.zeros(4, dtype=torch.long))


def test_bad_batch_raises_before_calibration_changes():
    scores, labels = _batch(16, n=4)
    family = ObjectiveFamily(["hinge", "absolute"], normalize="initial")
    with pytest.raises(ALMOValueError, match="floating for the regression losses"):
        family(scores, labels)
    assert not family.calibrated.any()


def test_numpy_targets_and_groups_are_accepted():
    scores, labels = _batch(17, n=6)
    family = ObjectiveFamily("log_loss", groups=2)
    groups = np.array([0, 1, 0, 1, 0, 1])
    torch.testing.assert_close(
        family(scores, labels.numpy(), groups), family(scores, labels, torch.as_tensor(groups))
    )
