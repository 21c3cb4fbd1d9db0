"""Projection kernels: exactness against cvxpy and the sorted reference, numpy vs torch, dtypes,
batches, and the fast one-vector paths (bracketing, sampling) on inputs built to stress them."""

import cvxpy as cp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from almo.projections import project_box_simplex, project_simplex, solve_threshold

TIGHT = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}


def cvxpy_projection(v, lower=None, upper=None):
    x = cp.Variable(v.size)
    cons = [cp.sum(x) == 1, x >= (0 if lower is None else lower)]
    if upper is not None:
        cons.append(x <= upper)
    cp.Problem(cp.Minimize(cp.sum_squares(x - v)), cons).solve(solver=cp.CLARABEL, **TIGHT)
    return x.value


def random_box(rng, p):
    lower = rng.uniform(0, 1.0 / p, p) * rng.uniform(0, 1)
    upper = lower + rng.uniform(0, 3.0 / p, p) + 1e-3
    upper *= max(1.0, 1.02 / upper.sum())  # Σ upper > 1
    return lower, upper


def test_simplex_matches_cvxpy(rng):
    for _ in range(15):
        p = int(rng.integers(2, 40))
        v = rng.normal(scale=rng.uniform(0.1, 5), size=p)
        x = project_simplex(v)
        np.testing.assert_allclose(x, cvxpy_projection(v), atol=1e-6)
        assert abs(x.sum() - 1) < 1e-9 and x.min() >= 0


def test_box_simplex_matches_cvxpy(rng):
    for _ in range(15):
        p = int(rng.integers(2, 40))
        lower, upper = random_box(rng, p)
        v = rng.normal(size=p)
        x = project_box_simplex(v, lower, upper)
        np.testing.assert_allclose(x, cvxpy_projection(v, lower, upper), atol=1e-6)
        assert abs(x.sum() - 1) < 1e-9
        assert np.all(x >= lower - 1e-12) and np.all(x <= upper + 1e-12)


def test_box_with_loose_bounds_is_the_simplex(rng):
    v = rng.normal(size=12)
    np.testing.assert_allclose(project_box_simplex(v, 0.0, 1.0), project_simplex(v), atol=1e-12)


vectors = arrays(
    np.float64,
    st.integers(1, 30),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
)


@settings(max_examples=50, deadline=None)
@given(vectors)
def test_simplex_projection_properties(v):
    x = project_simplex(v)
    assert x.min() >= 0 and abs(x.sum() - 1) <= 1e-9
    np.testing.assert_allclose(project_simplex(x), x, atol=1e-12)  # idempotent
    # Optimality (variational inequality): <v - x, y - x> <= 0 for every vertex y.
    g = v - x
    assert g.max() - g @ x <= 1e-9 * (1 + np.abs(v).max())


@settings(max_examples=40, deadline=None)
@given(vectors, st.integers(0, 2**32 - 1))
def test_box_projection_properties(v, seed):
    lower, upper = random_box(np.random.default_rng(seed), v.size)
    x = project_box_simplex(v, lower, upper)
    assert abs(x.sum() - 1) <= 1e-9
    assert np.all(x >= lower - 1e-12) and np.all(x <= upper + 1e-12)
    np.testing.assert_allclose(project_box_simplex(x, lower, upper), x, atol=1e-12)
    # Optimality: free entries share one τ = v_i - x_i.
    free = (x > lower + 1e-9) & (x < upper - 1e-9)
    if free.sum() > 1:
        assert np.ptp((v - x)[free]) <= 1e-9 * (1 + np.abs(v).max())


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 5), (1, 9)])
def test_batched_rows_equal_one_by_one(rng, shape):
    v = rng.normal(size=shape)
    lower, upper = random_box(rng, shape[-1])
    xs, xb = project_simplex(v), project_box_simplex(v, lower, upper)
    assert xs.shape == shape and xb.shape == shape
    for idx in np.ndindex(shape[:-1]):
        np.testing.assert_allclose(xs[idx], project_simplex(v[idx]), atol=1e-12)
        np.testing.assert_allclose(xb[idx], project_box_simplex(v[idx], lower, upper), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_agrees_with_numpy_and_keeps_dtype(rng, dtype):
    v = rng.normal(size=(5, 11))
    lower, upper = random_box(rng, 11)
    t = torch.tensor(v, dtype=dtype)
    ts, tb = project_simplex(t), project_box_simplex(t, lower, upper)
    assert ts.dtype == dtype and tb.dtype == dtype and ts.device == t.device
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(ts.numpy(), project_simplex(v), atol=tol)
    np.testing.assert_allclose(tb.numpy(), project_box_simplex(v, lower, upper), atol=tol)


def test_float32_stays_float32_and_accurate(rng):
    v = (1000 + rng.normal(size=5000)).astype(np.float32)  # large offset: τ needs float64
    x = project_simplex(v)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, project_simplex(v.astype(np.float64)), atol=1e-7)
    lower, upper = random_box(rng, 5000)
    y = project_box_simplex(v, lower, upper)
    assert y.dtype == np.float32 and abs(float(y.sum(dtype=np.float64)) - 1) < 1e-5


def test_integer_input_gives_float64():
    assert project_simplex(np.array([3, 1, 0])).dtype == np.float64


def hard_inputs(rng, p):
    """Inputs that defeat the cheap bounds or the sample: close, tied, sorted, heavy-tailed."""
    return {
        "gaussian": rng.normal(size=p),
        "close": 1.0 + 1e-3 * rng.random(p),
        "tight": 1e-5 * rng.random(p),  # about half of the entries end up active
        "all_active": 1e-7 * rng.random(p),
        "ties": np.repeat(rng.normal(size=p // 100), 100),
        "sorted": np.sort(rng.normal(size=p)),
        "spikes": np.where(rng.random(p) < 1e-4, 50.0, 0.0) + 1e-9 * rng.random(p),
        "cauchy": rng.standard_cauchy(p),
    }


@pytest.mark.parametrize(
    "kind", ["gaussian", "close", "tight", "all_active", "ties", "sorted", "spikes", "cauchy"]
)
def test_fast_paths_equal_the_sorted_kernel(kind):
    rng = np.random.default_rng(7)
    p = 60_000  # above the size where the one-vector paths start sampling
    v = hard_inputs(rng, p)[kind]
    # A batch of one row takes the vectorized sort-based kernel: an independent reference.
    np.testing.assert_allclose(project_simplex(v), project_simplex(v[None])[0], atol=1e-12)
    for lower, upper in [(0.5 / p, 10.0 / p), random_box(rng, p), (0.0, 1.0)]:
        fast = project_box_simplex(v, lower, upper)
        ref = project_box_simplex(v[None], lower, upper)[0]
        np.testing.assert_allclose(fast, ref, atol=1e-12)
        assert abs(fast.sum() - 1) < 1e-9


def test_solve_threshold_with_scales(rng):
    a, s = rng.normal(size=20), rng.uniform(0.1, 3, 20)
    lo, hi = np.zeros(20), rng.uniform(0.05, 0.2, 20)
    tau = solve_threshold(a, lo, hi, target=1.0, scale=s)
    assert abs((s * np.clip(a - tau, lo, hi)).sum() - 1.0) < 1e-12
    taus = solve_threshold(
        np.stack([a, -a]), np.stack([lo, lo]), np.stack([hi, hi]), target=np.array([1.0, 0.5])
    )
    assert taus.shape == (2,)
    assert abs(np.clip(-a - taus[1], lo, hi).sum() - 0.5) < 1e-12
