"""Kernels of the prior balls (``almo._balls``) against references written here.

Ball = {λ ∈ Δ : D(λ, λ0) ≤ r} for D = l1, χ² = Σ(λ − λ0)²/λ0, KL = Σ λ log(λ/λ0).

- ``divergence`` on hand-computed values;
- ``shrink_to_ball`` lands inside the ball, on the segment towards the prior;
- ``worst_case_l1/chi2/kl`` against cvxpy maximization over the ball (written here), for radii
  from 0 to past the point where the ball covers the simplex; KL also against the exponential
  tilt whose temperature is found by scipy root finding on its dual equation KL(β) = r;
- ``project_ball`` / ``project_kl`` against a cvxpy QP and through the variational inequality
  max_{λ∈B} ⟨v − π, λ − π⟩ ≤ 0, the max again a cvxpy solve.

The kernels are called directly, not through :class:`almo.PriorBall` (whose guards for r = 0
and constant losses are tested in ``test_mixtures.py`` and ``test_properties_sets.py``).
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import rel_entr

from almo._balls import (
    divergence,
    project_ball,
    project_kl,
    shrink_to_ball,
    worst_case_chi2,
    worst_case_kl,
    worst_case_l1,
)

TIGHT = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}
KINDS = ["l1", "chi2", "kl"]
PRIOR = np.array([0.1, 0.2, 0.3, 0.4])


# --------------------------------------------------------------------------- references


def ref_divergence(x, prior, kind: str):
    """The divergence as a cvxpy expression (x a variable) for the references below."""
    if kind == "l1":
        return cp.norm1(x - prior)
    if kind == "chi2":
        return cp.sum(cp.multiply(1.0 / prior, cp.square(x - prior)))
    return cp.sum(cp.rel_entr(x, prior))


def solve(problem: cp.Problem) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Clarabel may report "almost solved" at these tolerances
        try:
            problem.solve(solver=cp.CLARABEL, **TIGHT)
        except cp.SolverError:
            problem.solve(solver=cp.CLARABEL)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status


def cvxpy_ball_max(g, prior, radius, kind) -> float:
    """max ⟨g, λ⟩ over the ball (g should be of order one)."""
    x = cp.Variable(prior.size)
    cons = [x >= 0, cp.sum(x) == 1, ref_divergence(x, prior, kind) <= radius]
    problem = cp.Problem(cp.Maximize(g @ x), cons)
    solve(problem)
    return float(problem.value)


def cvxpy_ball_projection(v, prior, radius, kind) -> np.ndarray:
    v = v - v.mean()
    x = cp.Variable(prior.size)
    cons = [x >= 0, cp.sum(x) == 1, ref_divergence(x, prior, kind) <= radius]
    solve(cp.Problem(cp.Minimize(cp.sum_squares(x - v)), cons))
    return np.asarray(x.value)


def kl_tilt_by_root(ell, prior, radius) -> np.ndarray:
    """λ ∝ λ0 exp(β ℓ) with KL(λ ‖ λ0) = r, β from brentq (the dual of the KL worst case)."""
    u = (ell - ell.max()) / np.ptp(ell)

    def tilt(beta):
        w = prior * np.exp(beta * u)
        return w / w.sum()

    def excess(log_beta):
        return float(rel_entr(tilt(np.exp(log_beta)), prior).sum()) - radius

    log_beta = brentq(excess, -25.0, 6.0, xtol=1e-14, rtol=1e-14, maxiter=500)
    return tilt(np.exp(log_beta))


def numpy_divergence(w, prior, kind) -> float:
    if kind == "l1":
        return float(np.abs(w - prior).sum())
    if kind == "chi2":
        return float(((w - prior) ** 2 / prior).sum())
    pos = w > 0
    return float((w[pos] * np.log(w[pos] / prior[pos])).sum())


def cover_radius(prior, kind) -> float:
    """A radius whose ball is the whole simplex (max of D over the vertices, plus a margin)."""
    vertices = np.eye(prior.size)
    return 1.01 * max(numpy_divergence(e, prior, kind) for e in vertices)


def in_ball(w, prior, radius, kind, atol):
    assert np.all(np.isfinite(w))
    assert w.min() >= -atol, w
    assert abs(w.sum() - 1.0) <= atol, w.sum()
    assert numpy_divergence(np.maximum(w, 0), prior, kind) <= radius + atol


# --------------------------------------------------------------------------- divergence


def test_divergence_hand_values():
    prior = np.array([0.5, 0.5])
    w = np.array([0.75, 0.25])
    assert divergence(w, prior, "l1") == pytest.approx(0.5, abs=1e-15)
    # χ²: 0.25²/0.5 · 2 = 0.25.
    assert divergence(w, prior, "chi2") == pytest.approx(0.25, abs=1e-15)
    kl = 0.75 * np.log(1.5) + 0.25 * np.log(0.5)
    assert divergence(w, prior, "kl") == pytest.approx(kl, abs=1e-15)
    # A vertex: l1 = 2(1 − λ0_i), χ² = 1/λ0_i − 1, KL = −log λ0_i; zeros contribute 0 to KL.
    e = np.array([0.0, 0.0, 1.0, 0.0])
    assert divergence(e, PRIOR, "l1") == pytest.approx(1.4, abs=1e-15)
    assert divergence(e, PRIOR, "chi2") == pytest.approx(1 / 0.3 - 1, abs=1e-14)
    assert divergence(e, PRIOR, "kl") == pytest.approx(-np.log(0.3), abs=1e-15)
    for kind in KINDS:
        assert divergence(PRIOR, PRIOR, kind) == 0.0


def test_divergence_is_along_the_last_axis():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(4), size=(2, 3))
    for kind in KINDS:
        got = divergence(w, PRIOR, kind)
        assert got.shape == (2, 3)
        for idx in np.ndindex(2, 3):
            assert got[idx] == pytest.approx(numpy_divergence(w[idx], PRIOR, kind), abs=1e-14)


# --------------------------------------------------------------------------- shrink_to_ball


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("radius", [0.0, 1e-8, 0.05, 0.5])
def test_shrink_to_ball_lands_inside_on_the_segment(kind, radius):
    rng = np.random.default_rng(1)
    w = rng.dirichlet(0.3 * np.ones(4), size=8)
    w[0] = [1.0, 0.0, 0.0, 0.0]  # a vertex, zeros included
    out = shrink_to_ball(w, PRIOR, radius, kind)
    assert out.shape == w.shape
    for before, after in zip(w, out, strict=True):
        in_ball(after, PRIOR, radius, kind, atol=1e-14)
        # after = λ0 + θ (w − λ0) with θ ∈ [0, 1].
        step = before - PRIOR
        theta = float(step @ (after - PRIOR) / (step @ step))
        assert -1e-12 <= theta <= 1 + 1e-12
        np.testing.assert_allclose(after, PRIOR + theta * step, rtol=0, atol=1e-14)
        d = numpy_divergence(before, PRIOR, kind)
        if d <= radius:
            # Points inside stay put (up to the round-off of λ0 + 1·(w − λ0)).
            np.testing.assert_allclose(after, before, rtol=0, atol=1e-15)
        elif kind != "kl" and radius > 0:
            # l1 and χ² scale exactly (θ and θ²): the result is on the sphere.
            assert numpy_divergence(after, PRIOR, kind) == pytest.approx(radius, rel=1e-12)


# --------------------------------------------------------------------------- worst cases

WORST = {"l1": worst_case_l1, "chi2": worst_case_chi2, "kl": worst_case_kl}
LOSSES = {
    "spread": np.array([0.3, -1.0, 0.8, 0.1]),
    "top_tie": np.array([1.0, 0.2, 1.0, -0.5]),
    "top_on_small_prior": np.array([1.0, 0.0, 0.1, 0.2]),
    "huge": 1e6 * np.array([0.3, -1.0, 0.8, 0.1]),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("radius", [1e-4, 0.05, 0.3, 1.0, "cover"])
def test_worst_case_matches_cvxpy_max(kind, loss, radius):
    ell = LOSSES[loss]
    r = cover_radius(PRIOR, kind) if radius == "cover" else radius
    w = WORST[kind](ell, PRIOR, r)
    in_ball(w, PRIOR, r, kind, atol=1e-12)
    scale = float(np.abs(ell).max())
    unit = ell / scale
    ref = cvxpy_ball_max(unit, PRIOR, r, kind)
    tol = 1e-8 if kind == "l1" else 1e-6
    assert w @ unit == pytest.approx(ref, abs=tol)
    if radius == "cover":  # the ball holds every vertex: the plain max of ℓ is reached
        assert w @ ell == pytest.approx(ell.max(), abs=1e-12 * scale)


@pytest.mark.parametrize(("kind", "atol"), [("l1", 1e-15), ("kl", 1e-8)])
def test_worst_case_radius_zero_is_the_prior(kind, atol):
    # KL: the kernel evaluates KL(tilt β) as β⟨w, u⟩ − log z, which cancels for β → 0; its
    # bisection then stops at a β of rounding size, a few 1e-9 away from the prior (still
    # inside the ball to ~1e-16 in KL). atol documents that accuracy.
    ell = LOSSES["spread"]
    np.testing.assert_allclose(WORST[kind](ell, PRIOR, 0.0), PRIOR, rtol=0, atol=atol)


def test_worst_case_chi2_radius_zero_is_the_prior():
    w = worst_case_chi2(LOSSES["spread"], PRIOR, 0.0)
    np.testing.assert_allclose(w, PRIOR, rtol=0, atol=1e-15)


def test_worst_case_l1_closed_form():
    # r/2 = 0.15 of mass leaves the smallest losses (index 1, then 3) for the largest (index 2).
    w = worst_case_l1(LOSSES["spread"], PRIOR, 0.3)
    np.testing.assert_allclose(w, [0.1, 0.05, 0.45, 0.4], rtol=0, atol=1e-15)
    w = worst_case_l1(LOSSES["spread"], PRIOR, 0.7)  # 0.35: all of index 1, 0.15 of index 3
    np.testing.assert_allclose(w, [0.1, 0.0, 0.65, 0.25], rtol=0, atol=1e-15)


@pytest.mark.parametrize("radius", [1e-6, 0.01, 0.2, 0.8])
@pytest.mark.parametrize("loss", ["spread", "top_on_small_prior", "huge"])
def test_worst_case_kl_is_the_tilt_of_the_scipy_root(radius, loss):
    ell = LOSSES[loss]
    w = worst_case_kl(ell, PRIOR, radius)
    np.testing.assert_allclose(w, kl_tilt_by_root(ell, PRIOR, radius), rtol=0, atol=1e-10)
    assert numpy_divergence(w, PRIOR, "kl") == pytest.approx(radius, rel=1e-8)


@pytest.mark.parametrize("radius", [1e-9, 1e-6, 0.01, 0.2])
def test_worst_case_chi2_active_constraint_and_closed_form_shape(radius):
    # Optimal λ ∝ λ0 (ℓ − c)+ with χ²(λ) = r when the ball does not reach the best face.
    ell = LOSSES["spread"]
    w = worst_case_chi2(ell, PRIOR, radius)
    assert numpy_divergence(w, PRIOR, "chi2") == pytest.approx(radius, rel=1e-9)
    ratio = w / PRIOR  # = κ (ℓ − c) on the support: affine in ℓ with positive slope
    pos = ratio > 1e-14
    slope, intercept = np.polyfit(ell[pos], ratio[pos], 1)
    assert slope > 0
    np.testing.assert_allclose(ratio[pos], slope * ell[pos] + intercept, rtol=0, atol=1e-12)
    assert np.all(slope * ell[~pos] + intercept <= 1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
def test_worst_case_random_priors(kind, seed):
    rng = np.random.default_rng(40 + seed)
    p = int(rng.integers(3, 9))
    prior = rng.dirichlet(np.ones(p)) * 0.95 + 0.05 / p
    ell = rng.normal(size=p)
    r = float(rng.choice([0.01, 0.2, 0.7]))
    w = WORST[kind](ell, prior, r)
    in_ball(w, prior, r, kind, atol=1e-12)
    assert w @ ell == pytest.approx(cvxpy_ball_max(ell, prior, r, kind), abs=1e-6)


# --------------------------------------------------------------------------- projections


def variational_gap(v, proj, prior, radius, kind) -> float:
    """max_{λ∈B} ⟨v − π, λ − π⟩ (≤ 0 exactly when π is the projection), on a unit scale."""
    g = v - proj
    size = max(1.0, float(np.abs(g - g.mean()).max()))
    g = (g - g.mean()) / size
    if radius == 0.0:
        return float(g @ (prior - proj))
    return cvxpy_ball_max(g, prior, radius, kind) - float(g @ proj)


def project(v, prior, radius, kind):
    """Both projection kernels behind one call: project_kl needs its precondition checked."""
    if kind != "kl":
        return project_ball(v[None], prior, radius, kind)[0]
    free = project_ball(v[None], prior, np.inf, "l1")[0]  # the simplex projection
    if divergence(free, prior, "kl") <= radius:
        return free
    return project_kl(v, prior, radius)


PROJ_INPUTS = {
    "gaussian": np.array([0.9, -0.3, 0.2, 1.4]),
    "one_hot": np.array([0.0, 1.0, 0.0, 0.0]),
    "ties": np.array([0.7, 0.7, -0.2, -0.2]),
    "large": 40.0 * np.array([0.5, -1.0, 0.2, 0.05]),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(PROJ_INPUTS))
@pytest.mark.parametrize("radius", [0.0, 0.02, 0.3, "cover"])
def test_projection_matches_cvxpy_and_the_variational_inequality(kind, name, radius):
    v = PROJ_INPUTS[name]
    r = cover_radius(PRIOR, kind) if radius == "cover" else radius
    if kind == "kl" and r == 0.0:
        pytest.skip("project_kl needs r > 0; PriorBall handles KL radius 0 itself")
    got = project(v, PRIOR, r, kind)
    in_ball(got, PRIOR, r, kind, atol=1e-12)
    if r == 0.0:
        np.testing.assert_array_equal(got, PRIOR)
        return
    tol = 1e-8 if kind == "l1" else 1e-6
    assert variational_gap(v, got, PRIOR, r, kind) <= tol
    np.testing.assert_allclose(got, cvxpy_ball_projection(v, PRIOR, r, kind), rtol=0, atol=1e-5)
    if radius == "cover":
        np.testing.assert_allclose(
            got, project_ball(v[None], PRIOR, np.inf, "l1")[0], rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("kind", ["l1", "chi2"])
def test_project_ball_batches_equal_rows_and_constraint_is_active(kind):
    rng = np.random.default_rng(7)
    prior = rng.dirichlet(np.ones(5)) * 0.9 + 0.02
    v = rng.normal(scale=2.0, size=(6, 5))
    v[0] = prior  # already inside: returned as its simplex projection, i.e. itself
    r = 0.1
    batch = project_ball(v, prior, r, kind)
    np.testing.assert_allclose(batch[0], prior, rtol=0, atol=1e-15)
    for i in range(6):
        np.testing.assert_allclose(
            batch[i], project_ball(v[i : i + 1], prior, r, kind)[0], rtol=0, atol=1e-13
        )
    outside = divergence(project_ball(v, prior, np.inf, "l1"), prior, kind) > r
    assert outside[1:].all()
    # The ball constraint is active for rows whose simplex projection lies outside it.
    np.testing.assert_allclose(divergence(batch[1:], prior, kind), r, rtol=1e-7)


@pytest.mark.parametrize("radius", [1e-4, 0.05, 0.5])
def test_project_kl_kkt_form(radius):
    # Stationarity: π_i + μ log(π_i/λ0_i) = v_i − τ' for one μ > 0, τ' (π > 0 on the support).
    rng = np.random.default_rng(9)
    prior = rng.dirichlet(np.ones(6)) * 0.91 + 0.015  # sums to 1
    v = rng.normal(scale=1.5, size=6)
    pi = project_kl(v, prior, radius)
    assert numpy_divergence(pi, prior, "kl") == pytest.approx(radius, rel=1e-6)
    a = np.log(pi / prior)
    b = v - pi
    # b = μ a + τ': a straight line through the six points.
    mu, tau = np.polyfit(a, b, 1)
    assert mu > 0
    np.testing.assert_allclose(b, mu * a + tau, rtol=0, atol=1e-7 * max(1.0, np.ptp(b)))


def test_project_kl_of_a_prior_with_zeros_stays_on_the_support():
    prior = np.array([0.5, 0.0, 0.3, 0.2])
    v = np.array([0.0, 5.0, 0.1, 0.9])
    with warnings.catch_warnings():
        # divergence(·, prior, "kl") computes log(1/0) at the zero of the prior before masking
        # it out: a spurious RuntimeWarning (PriorBall itself rejects such priors for KL).
        warnings.simplefilter("ignore", RuntimeWarning)
        pi = project_kl(v, prior, 0.05)
    assert pi[1] == 0.0
    in_ball(pi, prior, 0.05, "kl", atol=1e-12)
    sub = prior > 0
    ref = cvxpy_ball_projection(v[sub], prior[sub], 0.05, "kl")
    np.testing.assert_allclose(pi[sub], ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale", [1e8, 1e12, 1e100, 1e300])
@pytest.mark.parametrize("kind", ["l1", "chi2", "kl"])
def test_projection_of_huge_vectors(kind, scale):
    v = scale * np.array([0.5, -1.0, 0.2, 0.05])
    got = project(v, PRIOR, 0.3, kind)
    in_ball(got, PRIOR, 0.3, kind, atol=1e-9)
    # Π(s·d) tends to the maximizer of ⟨d, λ⟩ over the ball as s grows (unique here; the gap is
    # O(1/s) for the curved balls and 0 for l1 once s is large): the worst-case kernel.
    d = v / scale
    np.testing.assert_allclose(got, WORST[kind](d, PRIOR, 0.3), rtol=0, atol=1e-6)
