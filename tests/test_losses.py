"""Per-sample losses against independent references (scikit-learn, torch, numpy formulas)."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    brier_score_loss,
    hinge_loss,
    log_loss,
    mean_absolute_error,
    mean_pinball_loss,
    mean_squared_error,
)

from almo._validation import ALMOValueError
from almo.losses import LOSSES, Loss, make_loss, resolve_loss

TOL = 1e-10  # float64 agreement with the references


def _t(a):
    return torch.as_tensor(np.asarray(a))


def _softmax(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(s):
    return 1.0 / (1.0 + np.exp(-s))


@pytest.fixture
def multiclass(rng):
    n, c = 40, 4
    scores = rng.normal(scale=1.5, size=(n, c))
    labels = rng.integers(0, c, size=n)
    labels[:c] = np.arange(c)  # every class present, as scikit-learn expects
    return scores, labels


@pytest.fixture
def binary(rng):
    n = 40
    scores = rng.normal(scale=1.5, size=n)
    labels = rng.integers(0, 2, size=n)
    labels[:2] = [0, 1]
    return scores, labels


@pytest.fixture
def regression(rng):
    n = 40
    pred = rng.normal(size=n)
    y = pred + rng.normal(scale=2.0, size=n)
    return pred, y


def _per_sample(name, outputs, targets):
    return LOSSES[name](_t(outputs), _t(targets)).numpy()


# --- classification references ---------------------------------------------------------------


def test_log_loss_matches_sklearn_per_sample(multiclass, binary):
    s, y = multiclass
    got = _per_sample("log_loss", s, y)
    probs = _softmax(s)
    ref = [
        log_loss(y[i : i + 1], probs[i : i + 1], labels=range(s.shape[1])) for i in range(len(y))
    ]
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    s, y = binary
    got = _per_sample("log_loss", s, y)
    assert abs(got.mean() - log_loss(y, _sigmoid(s))) < TOL


def test_hinge_matches_sklearn_crammer_singer_and_binary(multiclass, binary):
    s, y = multiclass
    got = _per_sample("hinge", s, y)
    ref = [hinge_loss(y[i : i + 1], s[i : i + 1], labels=range(s.shape[1])) for i in range(len(y))]
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    assert abs(got.mean() - hinge_loss(y, s, labels=range(s.shape[1]))) < TOL
    s, y = binary
    got = _per_sample("hinge", s, y)
    assert abs(got.mean() - hinge_loss(y, s)) < TOL
    np.testing.assert_allclose(got, np.maximum(0, 1 - (2 * y - 1) * s), rtol=0, atol=TOL)


def test_squared_hinge_matches_numpy(multiclass):
    s, y = multiclass
    true = s[np.arange(len(y)), y]
    other = np.where(np.eye(s.shape[1], dtype=bool)[y], -np.inf, s).max(axis=1)
    ref = np.maximum(0.0, 1.0 - (true - other)) ** 2
    np.testing.assert_allclose(_per_sample("squared_hinge", s, y), ref, rtol=0, atol=TOL)


def test_squared_on_one_hot_matches_sklearn(multiclass, binary):
    s, y = multiclass
    onehot = np.eye(s.shape[1])[y]
    # samples as "outputs": raw_values gives each sample's mean over classes
    ref = mean_squared_error(onehot.T, s.T, multioutput="raw_values") * s.shape[1]
    np.testing.assert_allclose(_per_sample("squared", s, y), ref, rtol=0, atol=TOL)
    s, y = binary
    got = _per_sample("squared", s, y)
    assert abs(got.mean() - mean_squared_error(2 * y - 1, s)) < TOL


def test_brier_matches_sklearn_and_numpy(multiclass, binary):
    s, y = multiclass
    got = _per_sample("brier", s, y)
    probs = _softmax(s)
    ref = ((probs - np.eye(s.shape[1])[y]) ** 2).sum(axis=1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    assert abs(got.mean() - brier_score_loss(y, probs, labels=range(s.shape[1]))) < TOL
    s, y = binary
    got = _per_sample("brier", s, y)
    assert abs(got.mean() - brier_score_loss(y, _sigmoid(s))) < TOL


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_focal_matches_numpy(multiclass, gamma):
    s, y = multiclass
    pt = _softmax(s)[np.arange(len(y)), y]
    ref = -((1 - pt) ** gamma) * np.log(pt)
    got = make_loss("focal", gamma=gamma)(_t(s), _t(y)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=TOL)


def test_focal_gamma_zero_is_log_loss(multiclass):
    s, y = multiclass
    np.testing.assert_allclose(
        make_loss("focal", gamma=0)(_t(s), _t(y)).numpy(),
        _per_sample("log_loss", s, y),
        rtol=0,
        atol=TOL,
    )


def test_zero_one_matches_numpy(multiclass, binary):
    s, y = multiclass
    np.testing.assert_array_equal(_per_sample("zero_one", s, y), s.argmax(axis=1) != y)
    s, y = binary
    np.testing.assert_array_equal(_per_sample("zero_one", s, y), (s > 0).astype(int) != y)


@pytest.mark.parametrize("name", ["log_loss", "hinge", "squared_hinge", "focal", "zero_one"])
def test_binary_score_equals_two_logits_zero_s(binary, name):
    """A binary score s is the two logits (0, s); (n, 1) outputs equal (n,)."""
    s, y = binary
    two = np.stack([np.zeros_like(s), s], axis=1)
    a = _per_sample(name, s, y)
    np.testing.assert_allclose(a, _per_sample(name, two, y), rtol=0, atol=TOL)
    np.testing.assert_allclose(a, _per_sample(name, s[:, None], y[:, None]), rtol=0, atol=TOL)


def test_binary_brier_is_half_the_two_column_sum(binary):
    s, y = binary
    two = np.stack([np.zeros_like(s), s], axis=1)
    np.testing.assert_allclose(
        2 * _per_sample("brier", s, y), _per_sample("brier", two, y), rtol=0, atol=TOL
    )


# --- regression references -------------------------------------------------------------------


def test_squared_and_absolute_match_sklearn(regression):
    pred, y = regression
    np.testing.assert_allclose(
        _per_sample("squared", pred, y),
        mean_squared_error(y[None], pred[None], multioutput="raw_values"),
        rtol=0,
        atol=TOL,
    )
    np.testing.assert_allclose(
        _per_sample("absolute", pred, y),
        mean_absolute_error(y[None], pred[None], multioutput="raw_values"),
        rtol=0,
        atol=TOL,
    )
    # (n, 1) predictions and targets are accepted
    np.testing.assert_allclose(
        _per_sample("squared", pred[:, None], y[:, None]), (pred - y) ** 2, rtol=0, atol=TOL
    )


@pytest.mark.parametrize("tau", [0.05, 0.5, 0.9])
def test_pinball_matches_sklearn(regression, tau):
    pred, y = regression
    got = make_loss("pinball", tau=tau)(_t(pred), _t(y)).numpy()
    ref = mean_pinball_loss(y[None], pred[None], alpha=tau, multioutput="raw_values")
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_huber_matches_torch_huber_and_smooth_l1(regression, delta):
    pred, y = map(_t, regression)
    got = make_loss("huber", delta=delta)(pred, y)
    ref = torch.nn.functional.huber_loss(pred, y, reduction="none", delta=delta)
    torch.testing.assert_close(got, ref, rtol=0, atol=TOL)
    smooth = torch.nn.functional.smooth_l1_loss(pred, y, reduction="none", beta=delta)
    torch.testing.assert_close(got, delta * smooth, rtol=0, atol=TOL)


# --- gradients -------------------------------------------------------------------------------

DIFFERENTIABLE_CLS = ["log_loss", "hinge", "squared_hinge", "squared", "brier", "focal"]
DIFFERENTIABLE_REG = ["squared", "absolute", "huber", "pinball"]


@pytest.mark.parametrize("name", DIFFERENTIABLE_CLS)
def test_gradcheck_classification(name, multiclass):
    s, y = multiclass
    scores = _t(s[:12]).requires_grad_(True)
    labels = _t(y[:12])
    loss = make_loss("focal", gamma=1.5) if name == "focal" else LOSSES[name]
    assert torch.autograd.gradcheck(lambda x: loss(x, labels), (scores,), atol=1e-7)


@pytest.mark.parametrize("name", DIFFERENTIABLE_REG)
def test_gradcheck_regression(name, regression):
    pred, y = regression
    # keep residuals away from kinks (0 for absolute/pinball) so finite differences are valid
    keep = np.abs(pred - y) > 1e-3
    x = _t(pred[keep][:12]).requires_grad_(True)
    t = _t(y[keep][:12])
    assert torch.autograd.gradcheck(lambda v: LOSSES[name](v, t), (x,), atol=1e-7)


def test_zero_one_refuses_backward(multiclass):
    s, y = multiclass
    scores = _t(s).requires_grad_(True)
    out = LOSSES["zero_one"](scores, _t(y))
    assert not out.requires_grad
    assert not LOSSES["zero_one"].differentiable
    with pytest.raises(RuntimeError):
        out.sum().backward()
    assert all(LOSSES[n].differentiable for n in LOSSES if n != "zero_one")


# --- Lipschitz constants ---------------------------------------------------------------------


def _score_pairs(rng, n, dim, scale):
    a = rng.normal(scale=scale, size=(n, dim))
    b = a + rng.normal(scale=rng.choice([1e-3, 0.1, 1.0, 5.0], size=(n, 1)), size=(n, dim))
    return a, b


@pytest.mark.parametrize("name", ["log_loss", "hinge", "brier", "focal", "focal_half"])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_lipschitz_classification_empirical(rng, name, dim):
    loss = make_loss("focal", gamma=0.5) if name == "focal_half" else LOSSES[name]
    worst = 0.0
    for scale in (0.5, 3.0, 20.0):
        a, b = _score_pairs(rng, 400, dim, scale)
        if dim == 1:
            a, b = a[:, 0], b[:, 0]
        y = _t(rng.integers(0, max(dim, 2), size=400))
        diff = (loss(_t(a), y) - loss(_t(b), y)).abs().numpy()
        dist = np.linalg.norm((a - b).reshape(400, -1), axis=1)
        worst = max(worst, float((diff / dist).max()))
        # gradient norms at the points: a sup-norm check of the same constant
        x = _t(a).requires_grad_(True)
        (g,) = torch.autograd.grad(loss(x, y).sum(), x)
        worst = max(worst, float(g.reshape(400, -1).norm(dim=1).max()))
    assert worst <= loss.lipschitz + 1e-9


def test_lipschitz_sqrt2_is_attained_by_log_loss_and_hinge():
    # true class very negative, one rival very positive: gradient e_c - e_y, norm √2
    s = torch.tensor([[-30.0, 30.0, 0.0]], dtype=torch.float64, requires_grad=True)
    for name in ("log_loss", "hinge"):
        (g,) = torch.autograd.grad(LOSSES[name](s, torch.tensor([0])).sum(), s)
        assert abs(float(g.norm()) - math.sqrt(2)) < 1e-9


@pytest.mark.parametrize(
    "name,params",
    [
        ("absolute", {}),
        ("huber", {"delta": 0.7}),
        ("pinball", {"tau": 0.2}),
        ("pinball", {"tau": 0.8}),
    ],
)
def test_lipschitz_regression_empirical_and_tight(rng, name, params):
    loss = make_loss(name, **params)
    a, b = _score_pairs(rng, 2000, 1, 3.0)
    y = _t(rng.normal(scale=3.0, size=2000))
    ratio = (loss(_t(a[:, 0]), y) - loss(_t(b[:, 0]), y)).abs() / _t(np.abs(a - b)[:, 0])
    assert float(ratio.max()) <= loss.lipschitz + 1e-9
    assert float(ratio.max()) >= 0.95 * loss.lipschitz  # the constant is the tight one


@pytest.mark.parametrize("name", ["squared", "squared_hinge"])
def test_unbounded_losses_report_inf_and_a_local_constant(rng, name):
    loss = LOSSES[name]
    assert loss.lipschitz == math.inf
    radius = 2.0
    a = rng.normal(size=(500, 3))
    a *= radius * rng.uniform(size=(500, 1)) / np.linalg.norm(a, axis=1, keepdims=True)
    x = _t(a).requires_grad_(True)
    (g,) = torch.autograd.grad(loss(x, _t(rng.integers(0, 3, size=500))).sum(), x)
    assert float(g.norm(dim=1).max()) <= loss.lipschitz_within(radius)
    if name == "squared":  # regression: |ŷ|, |y| ≤ R
        p = _t(rng.uniform(-radius, radius, 500)).requires_grad_(True)
        (g,) = torch.autograd.grad(loss(p, _t(rng.uniform(-radius, radius, 500))).sum(), p)
        assert float(g.abs().max()) <= loss.lipschitz_within(radius)
    assert LOSSES["zero_one"].lipschitz == math.inf


# --- registry, specs and errors --------------------------------------------------------------


def test_registry_flags():
    convex = {"log_loss", "hinge", "squared_hinge", "squared", "absolute", "huber", "pinball"}
    assert {n for n, loss in LOSSES.items() if loss.convex_for_linear} == convex
    assert set(LOSSES) == convex | {"brier", "focal", "zero_one"}
    assert all(loss.name == n for n, loss in LOSSES.items())
    with pytest.raises(TypeError):
        LOSSES["mine"] = LOSSES["hinge"]  # read-only


def test_make_loss_names_and_params():
    assert make_loss("huber") is LOSSES["huber"]
    assert make_loss("huber", delta=1.0).name == "huber"
    assert make_loss("huber", delta=2.5).name == "huber(delta=2.5)"
    assert make_loss("huber", delta=2.5).lipschitz == 2.5
    assert make_loss("huber", delta=2.5).kind == "huber"  # the registry entry, not the name
    assert make_loss("pinball", tau=0.9).lipschitz == pytest.approx(0.9)
    assert make_loss("focal", gamma=1).params == {"gamma": 1.0}
    assert "Loss(name='hinge'" in repr(LOSSES["hinge"])


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("focal", {"gamma": -0.5}, r"focal\.gamma.*>= 0.*-0\.5"),
        ("huber", {"delta": 0.0}, r"huber\.delta.*> 0"),
        ("huber", {"delta": -1.0}, r"huber\.delta.*> 0"),
        ("pinball", {"tau": 0.0}, r"pinball\.tau.*\(0, 1\)"),
        ("pinball", {"tau": 1.0}, r"pinball\.tau.*\(0, 1\)"),
        ("pinball", {"tau": 1.5}, r"pinball\.tau.*\(0, 1\)"),
        ("huber", {"tau": 0.5}, r"huber parameters.*\['delta'\]"),
        ("hinge", {"delta": 1.0}, r"hinge parameters.*no parameters"),
        ("hnige", {}, r"one of \[.*'hinge'.*'log_loss'"),
    ],
)
def test_bad_loss_specs(name, params, match):
    with pytest.raises(ALMOValueError, match=match):
        make_loss(name, **params)


def test_custom_losses():
    cube = resolve_loss(("cube", lambda out, y: (out - y).abs() ** 3))
    assert cube.task == "custom" and cube.lipschitz == math.inf and cube.differentiable
    torch.testing.assert_close(cube(torch.tensor([2.0]), torch.tensor([0.0])), torch.tensor([8.0]))
    bad = Loss("bad", lambda out, y: (out - y).mean())
    with pytest.raises(ALMOValueError, match=r"loss 'bad'.*shape \(3,\).*shape \(\)"):
        bad(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ALMOValueError, match="without '@'"):
        Loss("a@b", lambda out, y: out)
    assert Loss("a", lambda out, y: out, lipschitz=None).lipschitz == math.inf
    for bad_mu in (0.0, -1.0, math.nan, "big"):
        with pytest.raises(ALMOValueError, match="lipschitz"):
            Loss("a", lambda out, y: out, lipschitz=bad_mu)
    with pytest.raises(ALMOValueError, match="loss names, Loss objects"):
        resolve_loss(3)


@pytest.mark.parametrize(
    "name,outputs,targets,match",
    [
        ("hinge", torch.zeros(3, 2), torch.zeros(4, dtype=torch.long), r"n = len\(targets\)"),
        ("hinge", torch.zeros(3, 2), torch.zeros(3), "integer class labels.*y.long"),
        ("hinge", torch.zeros(3, 2), torch.tensor([0, 2, 1]), r"labels in \[0, 1\].*\[0, 2\]"),
        ("log_loss", torch.zeros(3), torch.tensor([0, -1, 1]), r"labels in \[0, 1\]"),
        ("absolute", torch.zeros(3), torch.tensor([0, 1, 1]), "floating.*absolute"),
        ("absolute", torch.zeros(3, 2), torch.zeros(3), r"\(n,\) or \(n, 1\) for regression"),
        ("squared", torch.zeros(3, 2), torch.zeros(3), r"\(n,\) or \(n, 1\) for regression"),
        ("squared", torch.zeros(3, 2, 2), torch.zeros(3), r"shape \(n,\) or \(n, C\)"),
        ("hinge", torch.zeros(3, 2, dtype=torch.long), torch.zeros(3), "floating torch tensor"),
        ("hinge", np.zeros((3, 2)), torch.zeros(3), "floating torch tensor.*ndarray"),
    ],
)
def test_bad_batches(name, outputs, targets, match):
    with pytest.raises(ALMOValueError, match=match):
        LOSSES[name](outputs, targets)
