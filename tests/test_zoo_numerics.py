"""A zoo of bad and extreme inputs for the mixture sets, their projections and the weight rules.

Each case either has an exact answer, checked as a property (the projection lies in the set to
1e-9 and satisfies the variational inequality, against an independent LP or conic solve), or
must raise one of the library's documented error types with a message that names the argument.
No case may warn or return NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from almo import BoxSimplex, Polytope, PriorBall, Simplex
from almo.exceptions import ALMOValueError
from almo.weights import (
    Averaged,
    BestResponse,
    EveryK,
    ExponentiatedAscent,
    FixedWeights,
    HoldAbsent,
    ProjectedAscent,
)
from checks import assert_agree, assert_projection_exact, assert_worst_case_optimal

P3 = [0.5, 0.3, 0.2]
SETS = {
    "simplex": lambda: Simplex(3),
    "box": lambda: BoxSimplex([0.1, 0.1, 0.1], [0.6, 0.6, 0.6]),
    "box-inf": lambda: BoxSimplex([0.2, 0.0, 0.0], [np.inf, 0.5, np.inf]),
    "polytope": lambda: Polytope([[1.0, -1.0, 0.0]], [0.1]),
    "l1": lambda: PriorBall(P3, 0.2, "l1"),
    "chi2": lambda: PriorBall(P3, 0.2, "chi2"),
    "kl": lambda: PriorBall(P3, 0.2, "kl"),
}
_CACHE: dict[str, object] = {}


def make(kind):
    if kind not in _CACHE:  # a polytope solves an LP when built: build each set once
        _CACHE[kind] = SETS[kind]()
    return _CACHE[kind]


def tol_for(kind) -> float:
    return 1e-6 if kind in ("chi2", "kl") else 1e-8


def silently(f, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return f(*args)


# --------------------------------------------------------------------------- extreme values

EXTREME = {
    "1e15 ties": [1e15, 1e15, 1e15],
    "1e17 one-hot": [1e17, 0.0, 0.0],
    "±1e300": [1e300, -1e300, 0.0],
    "1e300 ties": [1e300, 1e300, -1e300],
    "max float": [1.7e308, -1.7e308, 1.0],
    "offset 1e12": [1e12 + 0.1, 1e12 - 0.3, 1e12 + 0.2],
    "tiny 1e-300": [1e-300, -2e-300, 3e-300],
    "subnormal": [5e-324, 0.0, -5e-324],
    "mixed scales": [1e-300, 1e300, 1.0],
}


@pytest.mark.parametrize("values", EXTREME.values(), ids=EXTREME.keys())
@pytest.mark.parametrize("kind", SETS.keys())
def test_extreme_vectors_project_exactly(kind, values, request):
    if kind == "polytope" and max(abs(x) for x in values) > 1e305:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="known open issue: Polytope's QP at a spread of 3e308 sees the O(1) "
                "entries 308 orders of magnitude below the rest and returns a feasible, "
                "not optimal, point",
            )
        )
    s = make(kind)
    v = np.array(values)
    out = silently(s.project, v)
    assert out.dtype == np.float64 and np.all(np.isfinite(out))
    assert_projection_exact(s, v, out, tol=tol_for(kind))


def test_issue_examples_have_their_exact_answers():
    assert_agree(Simplex(3).project(np.array([1e15] * 3)), [1 / 3] * 3, atol=1e-15, what="ties")
    assert_agree(Simplex(3).project(np.array([1e17, 0, 0])), [1, 0, 0], atol=0, what="1e17")
    ball = PriorBall(P3, 0.2, "l1")
    got = ball.project(np.array([1e300, -1e300, 0.0]))
    assert_agree(got, [0.6, 0.2, 0.2], atol=1e-12, what="l1 ball at 1e300")
    box = BoxSimplex([0.1] * 3, [0.6] * 3)
    got = box.project(np.array([1e12 + 0.1, 1e12 - 0.3, 1e12 + 0.2]))
    assert abs(got.sum() - 1.0) <= 1e-15


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["simplex", "box", "l1", "kl"])
def test_both_backends_and_precisions_stay_in_the_set(kind, dtype, backend):
    s = make(kind)
    big = 1e30 if dtype == "float32" else 1e300
    v = np.array([[big, -big, 0.0], [1.0, 1.0, 1.0], [-big, 3.0, 2.0]], dtype=dtype)
    x = torch.from_numpy(v) if backend == "torch" else v
    out = np.asarray(silently(s.project, x), dtype=np.float64)
    atol = 1e-6 if dtype == "float32" else 1e-9
    for row in out:
        assert abs(row.sum() - 1.0) <= atol and row.min() >= -atol
        assert s.contains(row, atol=atol)


# --------------------------------------------------------------------------- degenerate sets


DEGENERATE = {
    "kl radius 0": (lambda: PriorBall([0.005, 0.005, 0.985, 0.005], 0.0, "kl"), [0, 0, 0, 1.0]),
    "chi2 radius 1e-16": (lambda: PriorBall([0.5, 0.5], 1e-16, "chi2"), [0.0, 1.0]),
    "l1 radius 0": (lambda: PriorBall([0.2, 0.8], 0.0, "l1"), [1e300, 0.0]),
    "box single point": (lambda: BoxSimplex([0.2, 0.8], [0.2, 0.8]), [-1e300, 1e300]),
    "polytope = simplex": (lambda: Polytope(np.zeros((1, 4)), [1.0]), [0.0, -1000.0, 1.0, 0.0]),
    "polytope 1e6": (lambda: Polytope([[1.0, 0, 0, 0, 0, 0]], [0.2]), [0, 0, 0, 0, -1e6, 0]),
}


@pytest.mark.parametrize("build, values", DEGENERATE.values(), ids=DEGENERATE.keys())
def test_degenerate_sets_project_exactly(build, values):
    s = build()
    v = np.array(values, dtype=np.float64)
    out = silently(s.project, v)
    tol = 1e-6 if isinstance(s, PriorBall) and s.divergence != "l1" else 1e-8
    assert_projection_exact(s, v, out, tol=tol)


WORST = {
    "chi2 near tie": (lambda: PriorBall([0.5, 0.5], 0.5, "chi2"), [0.5, 0.5 + 5e-10]),
    "chi2 tiny radius": (lambda: PriorBall([0.5, 0.5], 1e-16, "chi2"), [0.0, 1.0]),
    "kl subnormal gap": (
        lambda: PriorBall([0.005, 0.005, 0.005, 0.985], 1.0, "kl"),
        [0.0, 0.0, -1e-9, -2.225074e-318],
    ),
    "polytope 1e300": (lambda: Polytope([[1.0, -1.0, 0.0]], [0.1]), [1e300, 0.0, -1e300]),
    "box 1e300": (lambda: BoxSimplex([0.1] * 3, [0.6] * 3), [1e300, 1.0, -1e300]),
}


@pytest.mark.parametrize("build, values", WORST.values(), ids=WORST.keys())
def test_extreme_worst_cases_are_exact_and_silent(build, values):
    s = build()
    ell = np.array(values)
    result = silently(s.worst_case, ell)
    assert np.all(np.isfinite(result.weights))
    assert_worst_case_optimal(s, ell, result, tol=1e-6)


# --------------------------------------------------------------------------- input types


@pytest.mark.parametrize(
    "v",
    [
        np.array([1, 1, 1]),
        np.array([3, 0, -2], dtype=np.int8),
        np.array([2, 1, 0], dtype=np.uint16),
        [1, 2, 3],
        np.array([True, False, False]),
    ],
    ids=["int64", "int8", "uint16", "list of ints", "bool"],
)
def test_integer_arrays_are_projected_as_floats(v):
    out = Simplex(3).project(v)
    assert out.dtype == np.float64
    expected = Simplex(3).project(np.asarray(v, dtype=np.float64))
    assert_agree(out, expected, rtol=0, atol=0, what="integer input")


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8])
def test_integer_tensors_are_projected_as_floats(dtype):
    out = Simplex(3).project(torch.tensor([1, 1, 1], dtype=dtype))
    assert out.dtype.is_floating_point
    assert_agree(out, [1 / 3] * 3, rtol=0, atol=1e-7, what="integer tensor")
    out = BoxSimplex([0.1] * 3, [0.6] * 3).project(torch.tensor([5, 0, 0], dtype=dtype))
    assert_agree(out, [0.6, 0.2, 0.2], rtol=0, atol=1e-7, what="integer tensor, box")


BAD_V = {
    "complex": np.array([1 + 1j, 1, 1]),
    "complex tensor": torch.tensor([1 + 1j, 1, 1]),
    "strings": np.array(["a", "b", "c"]),
    "bytes": np.array([b"a", b"b", b"c"]),
    "objects": np.array([1.0, None, 2.0], dtype=object),
    "ragged": [[1.0, 2.0, 3.0], [1.0]],
    "datetimes": np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
    "nan": np.array([np.nan, 0.0, 0.0]),
    "inf": np.array([np.inf, 0.0, 0.0]),
    "-inf tensor": torch.tensor([-np.inf, 0.0, 0.0]),
    "wrong length": np.zeros(4),
    "scalar": 1.0,
    "None": None,
}


@pytest.mark.parametrize("v", BAD_V.values(), ids=BAD_V.keys())
@pytest.mark.parametrize("kind", ["simplex", "box", "l1"])
def test_bad_points_are_refused_naming_v(kind, v):
    with pytest.raises(ALMOValueError, match="`v`"):
        silently(make(kind).project, v)


@pytest.mark.parametrize(
    "losses",
    [np.array([1 + 2j, 0, 0]), np.array(["x", "y", "z"]), np.array([None, 1, 2], dtype=object)],
    ids=["complex", "strings", "objects"],
)
def test_bad_losses_are_refused_naming_losses(losses):
    with pytest.raises(ALMOValueError, match="`losses`"):
        silently(Simplex(3).worst_case, losses)


def test_complex_weights_are_refused_naming_weights():
    with pytest.raises(ALMOValueError, match="`weights`"):
        silently(Simplex(3).contains, np.array([0.5 + 1j, 0.5, 0.0]))


# --------------------------------------------------------------------------- weight rules

RULES = {
    "projected": lambda: ProjectedAscent(lr=0.1),
    "exponentiated": lambda: ExponentiatedAscent(lr=0.1),
    "fixed": lambda: FixedWeights([0.2, 0.3, 0.5]),
    "best response": lambda: BestResponse(),
    "averaged": lambda: Averaged(ProjectedAscent(lr=0.1)),
    "every-k": lambda: EveryK(ProjectedAscent(lr=0.1), k=2),
    "hold-absent": lambda: HoldAbsent(ProjectedAscent(lr=0.1)),
}


@pytest.mark.parametrize("state", [None, np.array([0.2, 0.3, 0.5]), {"weights": [1, 0, 0]}])
@pytest.mark.parametrize("name", RULES.keys())
def test_update_of_something_that_is_not_a_state(name, state):
    rule = RULES[name]()
    with pytest.raises(ALMOValueError, match=r"`state` must .*init"):
        rule.update(state, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", RULES.keys())
def test_update_of_a_state_whose_weights_left_the_set(name):
    import dataclasses

    rule = RULES[name]()
    state = rule.init(BoxSimplex([0.1] * 3, [0.6] * 3))
    outside = dataclasses.replace(state, weights=np.array([0.9, 0.05, 0.05]))
    with pytest.raises(ALMOValueError, match=r"`state.weights` must lie in the mixture set"):
        rule.update(outside, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", ["projected", "exponentiated", "fixed", "best response"])
@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.pop("step"), r"`arrays` must hold the key 'step'"),
        (lambda a: a.pop("weights"), r"`arrays` must hold the key 'weights'"),
        (lambda a: a.update(step=-1), r"`arrays\['step'\]` must be a count"),
        (lambda a: a.update(step=1.5), r"`arrays\['step'\]` must be a count"),
        (lambda a: a.update(weights=np.array([2.0, -1.0, 0.0])), r"`arrays\['weights'\]`"),
        (lambda a: a.update(weights="abc"), r"`arrays\['weights'\]`"),
    ],
    ids=["no step", "no weights", "negative step", "fractional step", "outside", "string"],
)
def test_restore_of_broken_arrays(name, change, match):
    rule = RULES[name]()
    arrays = rule.init(Simplex(3)).to_arrays()
    change(arrays)
    with pytest.raises(ALMOValueError, match=match) as err:
        rule.restore(arrays, Simplex(3))
    assert type(rule).__name__ in str(err.value)


@pytest.mark.parametrize("name", RULES.keys())
@pytest.mark.parametrize("arrays", [None, [1.0, 2.0], "weights"])
def test_restore_of_something_that_is_not_a_dict(name, arrays):
    with pytest.raises(ALMOValueError, match="`arrays` must be a dict"):
        RULES[name]().restore(arrays, Simplex(3))


@pytest.mark.parametrize("smoothing", ["a", None, True, -0.1, 1.0, float("nan"), [0.1]])
def test_bad_smoothing_is_refused_naming_it(smoothing):
    with pytest.raises(ALMOValueError, match="`smoothing` must lie in"):
        ExponentiatedAscent(lr=0.1, smoothing=smoothing)


@pytest.mark.parametrize("losses", [[1e300, -1e300, 0.0], [1e-300, 0.0, 2e-300], [1e15] * 3])
@pytest.mark.parametrize("name", RULES.keys())
def test_rules_stay_in_the_set_on_extreme_losses(name, losses):
    rule = RULES[name]()
    box = make("box")
    state = rule.init(box)
    for _ in range(3):
        state = silently(rule.update, state, np.array(losses))
        assert box.contains(state.weights, atol=1e-9)
