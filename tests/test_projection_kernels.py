"""Low-level projection kernels against references written here, independent of the library.

- ``project_simplex`` against the textbook sort-based projection (Held–Wolfe–Crowder / Duchi et
  al.), row by row in plain Python, on random, tied, huge-spread and one-hot inputs, in numpy and
  torch, float32 and float64, 1-D and 2-D.
- ``project_box_simplex`` on its degenerate boxes (equal bounds, Σ lower = 1), against the
  closed form for infinite upper bounds, and against a cvxpy QP written here for mixed bounds.
- ``solve_threshold`` through its defining equation Σ s_i clip(a_i − τ, l_i, u_i) = target.

``tests/test_projections.py`` compares with cvxpy on generic inputs and covers the sampled fast
paths; this file targets the edge inputs and the exact contracts of each kernel.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from almo.projections import project_box_simplex, project_simplex, solve_threshold

EPS64 = np.finfo(np.float64).eps


# --------------------------------------------------------------------------- references


def textbook_simplex(v: np.ndarray) -> np.ndarray:
    """Sort-based projection of one vector: ρ = max{j : u_j − (Σ_{k≤j} u_k − 1)/j > 0}."""
    v = np.asarray(v, dtype=np.float64)
    u = sorted(v.tolist(), reverse=True)
    total, tau = 0.0, 0.0
    for j, uj in enumerate(u, start=1):
        total += uj
        t = (total - 1.0) / j
        if uj - t > 0:
            tau = t
    return np.maximum(v - tau, 0.0)


def cvxpy_box_projection(v: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """min ‖x − v‖² s.t. Σx = 1, lower ≤ x ≤ upper (finite entries of upper only)."""
    v = v - v.mean()  # the projection ignores shifts along 1; keeps the QP well scaled
    x = cp.Variable(v.size)
    cons = [cp.sum(x) == 1, x >= lower]
    finite = np.flatnonzero(np.isfinite(upper))
    if finite.size:
        cons.append(x[finite] <= upper[finite])
    tight = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}
    cp.Problem(cp.Minimize(cp.sum_squares(x - v)), cons).solve(solver=cp.CLARABEL, **tight)
    return np.asarray(x.value)


def round_off(v: np.ndarray) -> float:
    """Error inherent in representing v in float64: the projection is 1-Lipschitz."""
    return 16 * v.shape[-1] * EPS64 * float(np.abs(v).max())


# --------------------------------------------------------------------------- inputs


def simplex_inputs(kind: str, p: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.normal(scale=2.0, size=p)
    if kind == "tied":  # every value repeated, including the ones next to τ
        return np.repeat(rng.normal(size=max(1, p // 3)), 3)[:p]
    if kind == "all_equal":
        return np.full(p, rng.normal())
    if kind == "huge_spread":  # magnitudes 1e-6 … 1e6 with both signs
        return rng.choice([-1.0, 1.0], p) * 10.0 ** rng.uniform(-6, 6, p)
    if kind == "one_hot":
        v = np.zeros(p)
        v[rng.integers(p)] = 1.0
        return v
    if kind == "two_top_ties":  # the two largest are equal and far above the rest
        v = rng.uniform(-1, 0, p)
        v[:2] = 5.0
        return v
    raise ValueError(kind)


SIMPLEX_KINDS = ["random", "tied", "all_equal", "huge_spread", "one_hot", "two_top_ties"]


# --------------------------------------------------------------------------- textbook examples


@pytest.mark.parametrize(
    ("v", "expected"),
    [
        ([0.5, 0.5], [0.5, 0.5]),
        ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0]),
        ([2.0, 0.0], [1.0, 0.0]),  # τ = 1: the second entry sits exactly at zero
        ([0.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]),
        ([3.0, 3.0, -7.0], [0.5, 0.5, 0.0]),
        ([0.9, 0.4, -1.0], [0.75, 0.25, 0.0]),
        ([-5.0], [1.0]),
    ],
)
def test_simplex_hand_computed_examples(v, expected):
    np.testing.assert_allclose(project_simplex(np.array(v)), expected, rtol=0, atol=1e-15)
    got = project_simplex(torch.tensor(v, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- simplex vs reference


@pytest.mark.parametrize("kind", SIMPLEX_KINDS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_simplex_matches_textbook_in_1d_and_batches(kind, backend, dtype):
    p, n = 9, 5
    batch = np.stack([simplex_inputs(kind, p, seed) for seed in range(n)])
    batch = batch.astype(dtype)  # the reference then sees exactly the rounded input
    ref = np.stack([textbook_simplex(row) for row in batch.astype(np.float64)])

    def run(x):
        if backend == "torch":
            out = project_simplex(torch.from_numpy(x))
            assert isinstance(out, torch.Tensor) and out.dtype == getattr(torch, dtype)
            return out.numpy()
        out = project_simplex(x)
        assert isinstance(out, np.ndarray) and out.dtype == np.dtype(dtype)
        return out

    atol = (4 * np.finfo(dtype).eps) + round_off(batch.astype(np.float64))
    got = run(batch)
    assert got.shape == (n, p)
    np.testing.assert_allclose(got, ref, rtol=0, atol=atol)
    for i in range(n):
        row = run(batch[i])
        np.testing.assert_allclose(row, ref[i], rtol=0, atol=atol)
        # The batched kernel and the one-vector kernel give the same row (within 2 ulp of 1).
        np.testing.assert_allclose(row, got[i], rtol=0, atol=2 * np.finfo(dtype).eps)
        total = float(row.astype(np.float64).sum())
        assert abs(total - 1.0) <= 4 * p * np.finfo(dtype).eps + round_off(batch[i])
        assert row.min() >= 0


def test_simplex_torch_batch_rows_are_bitwise_the_single_rows():
    # Torch uses one kernel for every shape: a row's result must not depend on its neighbours.
    rng = np.random.default_rng(3)
    v = torch.tensor(rng.normal(size=(6, 13)))
    whole = project_simplex(v)
    for i in range(6):
        assert torch.equal(whole[i], project_simplex(v[i]))
        assert torch.equal(whole[i], project_simplex(v[[i, (i + 1) % 6]])[0])


def test_simplex_three_dimensional_batch():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(2, 3, 7))
    got = project_simplex(v)
    for idx in np.ndindex(2, 3):
        np.testing.assert_allclose(got[idx], textbook_simplex(v[idx]), rtol=0, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False),
            st.sampled_from([0.0, 1.0, -1.0, 0.5]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_simplex_matches_textbook_hypothesis(values):
    v = np.array(values)
    atol = 1e-15 + round_off(v)
    np.testing.assert_allclose(project_simplex(v), textbook_simplex(v), rtol=0, atol=atol)
    np.testing.assert_allclose(project_simplex(v[None])[0], textbook_simplex(v), atol=atol)


@pytest.mark.parametrize("offset", [1e8, -1e8, 1e12])
def test_simplex_huge_offset_rounding_only(offset):
    # |v| ≥ 1e8: the answer is known only up to the rounding of v itself (δ ≈ 16 p ε |v|).
    rng = np.random.default_rng(5)
    v = offset + rng.uniform(-1, 1, 8)
    delta = round_off(v)
    for got in (project_simplex(v), project_simplex(v[None])[0]):
        np.testing.assert_allclose(got, textbook_simplex(v), rtol=0, atol=delta)
        assert abs(got.sum() - 1.0) <= delta and got.min() >= 0


@pytest.mark.parametrize("scale", [1e8, 1e15])
def test_simplex_huge_dominant_entry_is_one_hot(scale):
    v = np.array([scale, 1.0, -scale, 0.0])
    np.testing.assert_array_equal(project_simplex(v), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(project_simplex(torch.tensor(v)).numpy(), [1.0, 0.0, 0.0, 0.0])


def test_simplex_is_shift_invariant_and_idempotent():
    rng = np.random.default_rng(6)
    v = rng.normal(size=(4, 10))
    x = project_simplex(v)
    np.testing.assert_allclose(project_simplex(v + 3.25), x, rtol=0, atol=1e-14)
    np.testing.assert_allclose(project_simplex(x), x, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- box simplex


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_box_with_equal_bounds_is_that_point(backend):
    point = np.array([0.1, 0.2, 0.3, 0.4])
    rng = np.random.default_rng(7)
    v = rng.normal(scale=10, size=(3, 4))
    x = torch.tensor(v) if backend == "torch" else v
    got = project_box_simplex(x, point, point)
    got = got.numpy() if backend == "torch" else got
    np.testing.assert_allclose(got, np.broadcast_to(point, (3, 4)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(project_box_simplex(v[0], point, point), point, atol=1e-15)


@pytest.mark.parametrize("upper", [0.5, np.inf])
def test_box_with_lower_bounds_summing_to_one_is_the_lower_point(upper):
    lower = np.array([0.05, 0.15, 0.3, 0.5])  # Σ lower = 1: only λ = lower fits
    rng = np.random.default_rng(8)
    for v in rng.normal(scale=5, size=(4, 4)):
        got = project_box_simplex(v, lower, np.full(4, upper))
        np.testing.assert_allclose(got, lower, rtol=0, atol=1e-15)


def test_box_with_upper_bounds_summing_to_one_is_the_upper_point():
    upper = np.array([0.25, 0.25, 0.4, 0.1])
    rng = np.random.default_rng(9)
    for v in rng.normal(scale=5, size=(4, 4)):
        np.testing.assert_allclose(project_box_simplex(v, 0.0, upper), upper, atol=1e-15)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_box_with_infinite_upper_is_a_shifted_scaled_simplex(seed, backend):
    # λ = l + μ with μ ≥ 0, Σμ = s = 1 − Σl: μ is s · Π_Δ((v − l)/s).
    rng = np.random.default_rng(seed)
    p = 7
    lower = rng.uniform(0, 0.9 / p, p)
    s = 1.0 - lower.sum()
    v = rng.normal(scale=2, size=(3, p))
    expected = np.stack([lower + s * textbook_simplex((row - lower) / s) for row in v])
    x = torch.tensor(v) if backend == "torch" else v
    got = project_box_simplex(x, lower, np.full(p, np.inf))
    got = got.numpy() if backend == "torch" else got
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    # Scalar bounds: lower 0, upper inf is exactly the simplex.
    np.testing.assert_allclose(
        project_box_simplex(v, 0.0, np.inf), project_simplex(v), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("seed", range(6))
def test_box_with_mixed_infinite_and_finite_bounds_matches_cvxpy(seed):
    rng = np.random.default_rng(100 + seed)
    p = int(rng.integers(3, 12))
    lower = rng.uniform(0, 0.5 / p, p)
    upper = np.where(rng.random(p) < 0.5, np.inf, lower + rng.uniform(0, 2.0 / p, p))
    upper[0] = np.inf  # at least one unbounded entry: Σ upper ≥ 1 always holds
    v = rng.normal(scale=rng.choice([0.1, 1.0, 30.0]), size=p)
    got = project_box_simplex(v, lower, upper)
    np.testing.assert_allclose(got, cvxpy_box_projection(v, lower, upper), rtol=0, atol=2e-7)
    assert abs(got.sum() - 1.0) <= 1e-14
    assert np.all(got >= lower) and np.all(got <= upper)
    # KKT: one threshold τ = v_i − λ_i for free entries; entries at l have v_i − l_i ≤ τ, at u ≥ τ.
    free = (got > lower + 1e-12) & (got < upper - 1e-12)
    if free.any():
        tau = float(np.mean((v - got)[free]))
        assert np.ptp((v - got)[free]) <= 1e-13 * max(1.0, np.abs(v).max())
        at_l = ~free & (got <= lower + 1e-12)
        at_u = ~free & ~at_l
        assert np.all(v[at_l] - lower[at_l] <= tau + 1e-12)
        assert np.all(v[at_u] - upper[at_u] >= tau - 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_batches_and_torch_agree_with_one_row_numpy(dtype):
    rng = np.random.default_rng(11)
    p = 6
    lower = np.full(p, 0.05)
    upper = np.array([0.5, 0.5, 0.3, np.inf, 0.2, 0.25])
    v = rng.normal(scale=3, size=(5, p)).astype(dtype)
    batch = project_box_simplex(v, lower, upper)
    tb = project_box_simplex(torch.from_numpy(v), lower, upper)
    assert batch.dtype == dtype and tb.dtype == getattr(torch, np.dtype(dtype).name)
    tol = 4 * np.finfo(dtype).eps
    for i in range(5):
        row = project_box_simplex(v[i], lower, upper)
        expected = cvxpy_box_projection(v[i].astype(np.float64), lower, upper)
        np.testing.assert_allclose(row, expected, rtol=0, atol=max(tol, 2e-7))
        np.testing.assert_allclose(batch[i], row, rtol=0, atol=tol)
        np.testing.assert_allclose(tb[i].numpy(), row, rtol=0, atol=tol)


# --------------------------------------------------------------------------- solve_threshold


def clip_sum(a, lower, upper, tau, scale=None):
    s = np.ones_like(a) if scale is None else scale
    return (s * np.clip(a - np.asarray(tau)[..., None], lower, upper)).sum(-1)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 1.0),
    st.booleans(),
    st.booleans(),
)
def test_solve_threshold_satisfies_its_equation(p, seed, frac, some_inf, scaled):
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=rng.choice([1e-3, 1.0, 1e3]), size=(3, p))
    lower = rng.uniform(-1, 1, (3, p))
    upper = lower + rng.uniform(0, 2, (3, p))
    if some_inf:
        upper[:, 0] = np.inf
    s = rng.uniform(0.2, 5, (3, p)) if scaled else None
    ss = np.ones_like(a) if s is None else s
    lo_total = (ss * lower).sum(-1)
    hi_total = np.where(some_inf, lo_total + 10.0, (ss * upper).sum(-1))
    target = lo_total + frac * (hi_total - lo_total)  # any target in [Σ s l, Σ s u]
    tau = solve_threshold(a, lower, upper, target=target, scale=s)
    assert tau.shape == (3,) and np.all(np.isfinite(tau))
    scale = 1.0 + np.abs(a).max() + np.abs(lower).max() + np.abs(target).max()
    err = np.abs(clip_sum(a, lower, upper, tau, s) - target)
    assert np.all(err <= 64 * p * EPS64 * scale * ss.max()), err
    # Rows solved one by one give the same thresholds.
    for i in range(3):
        one = solve_threshold(a[i], lower[i], upper[i], target=target[i], scale=ss[i])
        assert abs(clip_sum(a[i], lower[i], upper[i], one, ss[i]) - target[i]) <= err.max() + (
            64 * p * EPS64 * scale * ss.max()
        )


def test_solve_threshold_hand_values():
    # Σ (a − τ)+ = 1 with a = (0.5, 0.2): both active, τ = (0.7 − 1)/2 = −0.15.
    tau = solve_threshold(np.array([0.5, 0.2]), np.zeros(2), np.full(2, np.inf))
    assert float(tau) == pytest.approx(-0.15, abs=1e-15)
    # Σ clip(a − τ, 0, 0.4) = 1 with a = (1, 1, 1): τ = 1 − 1/3.
    tau = solve_threshold(np.ones(3), np.zeros(3), np.full(3, 0.4))
    assert float(tau) == pytest.approx(2.0 / 3.0, abs=1e-15)
    # Target 2.5 with slopes (1, 4) and no bounds active: (3 − τ) + 4(1 − τ) = 2.5 → τ = 0.9.
    tau = solve_threshold(
        np.array([3.0, 1.0]),
        np.full(2, -10.0),
        np.full(2, 10.0),
        target=2.5,
        scale=np.array([1.0, 4.0]),
    )
    assert float(tau) == pytest.approx(0.9, abs=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_solve_threshold_torch_equation(dtype):
    rng = np.random.default_rng(12)
    a = rng.normal(size=(4, 8))
    lower = np.zeros((4, 8))
    upper = np.where(rng.random((4, 8)) < 0.3, np.inf, rng.uniform(0.1, 0.5, (4, 8)))
    upper[:, 0] = np.inf
    t = [torch.tensor(x, dtype=dtype) for x in (a, lower, upper)]
    tau = solve_threshold(*t, target=torch.tensor([1.0, 0.5, 2.0, 0.0], dtype=dtype))
    assert isinstance(tau, torch.Tensor) and tau.shape == (4,) and tau.dtype == dtype
    got = clip_sum(t[0].double().numpy(), lower, upper, tau.double().numpy())
    tol = 1e-5 if dtype == torch.float32 else 1e-13
    np.testing.assert_allclose(got, [1.0, 0.5, 2.0, 0.0], rtol=0, atol=tol)


def test_solve_threshold_targets_at_the_ends_of_the_range():
    a = np.array([0.3, -0.2, 1.1])
    lower, upper = np.array([0.0, 0.1, 0.2]), np.array([0.5, 0.6, 0.7])
    for target in (lower.sum(), upper.sum()):
        tau = solve_threshold(a, lower, upper, target=target)
        assert np.isfinite(tau)
        assert abs(clip_sum(a, lower, upper, tau) - target) <= 1e-15
