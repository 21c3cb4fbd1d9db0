"""Continuous generative models: a Gaussian (mean and covariance) and ridge linear regression.

Both keep their samples (:class:`~almo.sources.data.SampleData`), R replicates at once.

- :class:`GaussianModel` fits the sample mean and covariance (``ddof=0`` is the MLE) and samples
  N(μ̂, τ·Σ̂) at temperature τ. Retrained on its own samples, the mean drifts as a random walk
  (its error grows about linearly in t) while the variance shrinks.
- :class:`RidgeModel` is the regression setting of model-collapse studies: features
  x ~ N(0, I_d), labels y = x·w + ε with ε ~ N(0, σ²). A fitted model generates synthetic data
  by labelling fresh features with its own ŵ and noise variance. The test MSE on true data is
  exact: E(x·ŵ − y)² = ‖ŵ − w*‖² + σ*².

Examples
--------
>>> import numpy as np
>>> model = GaussianModel(dim=2)
>>> truth = model.truth_params((np.zeros(2), np.eye(2)))
>>> rng = np.random.default_rng(0)
>>> fitted = model.fit(model.sample(truth, np.array([500, 500]), rng))
>>> fitted.mean.shape, fitted.cov.shape
((2, 2), (2, 2, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from almo._validation import check_integer, check_positive, fail
from almo.sources.base import check_temperature
from almo.sources.data import SampleData
from almo.sources.metrics import gaussian_metrics

__all__ = ["Gaussian", "GaussianModel", "LinearTruth", "RidgeModel"]


class Gaussian(NamedTuple):
    """Gaussian parameters of R replicates: ``mean`` (R, d), ``cov`` (R, d, d)."""

    mean: np.ndarray
    cov: np.ndarray


class LinearTruth(NamedTuple):
    """Linear-Gaussian regression parameters: ``weights`` (R, d), ``noise`` variance (R,)."""

    weights: np.ndarray
    noise: np.ndarray


def _no_top_k(top_k: int | None) -> None:
    if top_k is not None:
        raise fail(
            "top_k",
            "be None for continuous models",
            top_k,
            "use temperature to rescale the variance; top-k applies to token models",
        )


def _truth_arrays(
    truth: Any, shapes: tuple[tuple[int, ...], ...], form: str, dim: int
) -> list[np.ndarray]:
    """The arrays of a truth tuple as float64 of the given shapes (1-element sizes reshaped)."""
    fix = f"pass {form} with d = {dim} (the model's `dim`)"
    if not isinstance(truth, (tuple, list)) or len(truth) != len(shapes):
        raise fail("truth", f"be {form}", truth, fix)
    out = []
    for part, shape in zip(truth, shapes, strict=True):
        try:
            arr = np.asarray(part, dtype=float)
        except (TypeError, ValueError):
            raise fail("truth", f"be {form} of numbers", part, fix) from None
        if arr.size != int(np.prod(shape)):
            raise fail("truth", f"hold arrays of shapes {list(shapes)}", arr.shape, fix)
        arr = arr.reshape(shape)
        if not np.all(np.isfinite(arr)):
            raise fail("truth", "be finite", arr, fix)
        out.append(arr)
    return out


def _psd_root(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, -1, -2)))
    return vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]


def _padded_normal(rng: np.random.Generator, n: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    n = np.asarray(n, dtype=np.int64)
    width = int(n.max()) if n.size else 0
    mask = np.arange(width)[None, :] < n[:, None]
    return rng.standard_normal((n.shape[0], width, dim)), mask


@dataclass(frozen=True)
class GaussianModel:
    """Multivariate Gaussian in ``dim`` dimensions, fitted by sample mean and covariance.

    Parameters
    ----------
    dim : int
        Dimension d.
    ddof : int
        Covariance normalization n − ddof; 0 is the MLE, 1 the unbiased estimate.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[0.0], [2.0]]])
    >>> GaussianModel(1).fit(SampleData(x, None, np.ones((1, 2), bool))).cov.tolist()
    [[[1.0]]]
    """

    dim: int = 1
    ddof: int = 0

    def __post_init__(self) -> None:
        check_integer("dim", self.dim, "pass e.g. dim=1")
        if isinstance(self.ddof, bool) or self.ddof not in (0, 1):
            raise fail("ddof", "be 0 (MLE) or 1 (unbiased)", self.ddof, "pass ddof=0")

    def truth_params(self, truth: tuple[np.ndarray, np.ndarray]) -> Gaussian:
        """(mean (d,), cov (d, d)) as parameters with R = 1."""
        d = int(self.dim)
        mean, cov = _truth_arrays(truth, ((d,), (d, d)), "(mean (d,), cov (d, d))", d)
        if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() < -1e-12:
            raise fail(
                "truth",
                "hold a symmetric positive semi-definite covariance",
                cov,
                "pass e.g. (np.zeros(d), np.eye(d))",
            )
        return Gaussian(mean[None], cov[None])

    def sample(
        self,
        params: Gaussian,
        n: np.ndarray,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> SampleData:
        """``n[r]`` draws from N(μ_r, τ Σ_r) per replicate."""
        _no_top_k(top_k)
        tau = check_temperature(temperature)
        z, mask = _padded_normal(rng, n, self.dim)
        root = _psd_root(params.cov * tau)  # PSD root: a collapsed covariance is fine
        x = params.mean[:, None, :] + z @ np.swapaxes(root, -1, -2)
        return SampleData(x, None, mask)

    def fit(
        self,
        data: SampleData,
        previous: Gaussian | None = None,
        rng: np.random.Generator | None = None,
    ) -> Gaussian:
        """Masked sample mean and covariance; replicates with n <= ddof keep ``previous``."""
        w = data.mask.astype(float)
        count = w.sum(axis=1)
        ok = count > self.ddof
        safe = np.where(count > 0, count, 1.0)
        mean = np.einsum("rm,rmd->rd", w, data.x) / safe[:, None]
        centred = (data.x - mean[:, None, :]) * w[..., None]
        cov = (
            np.einsum("rmi,rmj->rij", centred, centred)
            / np.where(ok, count - self.ddof, 1.0)[:, None, None]
        )
        if not ok.all():
            if previous is None:
                raise fail(
                    "data",
                    f"hold more than ddof={self.ddof} samples per replicate",
                    f"{int(count.min())} samples",
                    "draw more samples per generation",
                )
            mean[~ok] = np.broadcast_to(previous.mean, mean.shape)[~ok]
            cov[~ok] = np.broadcast_to(previous.cov, cov.shape)[~ok]
        return Gaussian(mean, cov)

    def metrics(self, params: Gaussian, truth_params: Gaussian) -> dict[str, np.ndarray]:
        """``mean_error``, ``var_error`` and ``w2`` (squared W2) per replicate."""
        return gaussian_metrics(params.mean, params.cov, truth_params.mean[0], truth_params.cov[0])


@dataclass(frozen=True)
class RidgeModel:
    """Ridge linear regression with its linear-Gaussian data generator.

    Parameters
    ----------
    dim : int
        Number of features d (features are N(0, I_d)).
    ridge : float
        Penalty κ >= 0 of ŵ = (XᵀX + κI)⁺ Xᵀy (the pseudo-inverse keeps n < d defined).
    synthetic_noise : float or None
        Label-noise variance of synthetic data. None: the fitted residual variance (a generative
        model sampling from what it learned). A number (e.g. the true σ²): that fixed variance,
        the setting of Gerstgrasser et al. (2024).

    Examples
    --------
    >>> import numpy as np
    >>> model = RidgeModel(dim=3)
    >>> truth = model.truth_params((np.ones(3), 0.25))
    >>> fitted = model.fit(model.sample(truth, np.array([200]), np.random.default_rng(0)))
    >>> bool(np.abs(fitted.weights - 1).max() < 0.2)
    True
    """

    dim: int = 10
    ridge: float = 0.0
    synthetic_noise: float | None = None

    def __post_init__(self) -> None:
        check_integer("dim", self.dim, "pass e.g. dim=10")
        check_positive("ridge", self.ridge, allow_zero=True)
        if self.synthetic_noise is not None:
            check_positive("synthetic_noise", self.synthetic_noise, allow_zero=True)

    def truth_params(self, truth: tuple[np.ndarray, float]) -> LinearTruth:
        """(w* (d,), σ*²) as parameters with R = 1."""
        d = int(self.dim)
        if not isinstance(truth, (tuple, list)) or len(truth) != 2:
            raise fail(
                "truth",
                "be a pair (weights (d,), noise variance)",
                truth,
                f"pass e.g. (np.ones({d}), 1.0)",
            )
        (w,) = _truth_arrays(truth[:1], ((d,),), "(weights (d,), noise variance)", d)
        s2 = check_positive("noise variance", truth[1], allow_zero=True)
        return LinearTruth(w[None], np.array([s2]))

    def sample(
        self,
        params: LinearTruth,
        n: np.ndarray,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> SampleData:
        """Fresh features, labels x·w_r + N(0, τ σ_r²) (σ_r² = ``synthetic_noise`` if set)."""
        _no_top_k(top_k)
        tau = check_temperature(temperature)
        x, mask = _padded_normal(rng, n, self.dim)
        eps = rng.standard_normal(mask.shape) * np.sqrt(tau * params.noise)[:, None]
        y = np.einsum("rmd,rd->rm", x, params.weights) + eps
        return SampleData(x, y, mask)

    def fit(
        self,
        data: SampleData,
        previous: LinearTruth | None = None,
        rng: np.random.Generator | None = None,
    ) -> LinearTruth:
        """Masked ridge fit and residual variance (MLE, or ``synthetic_noise``).

        Replicates without data keep ``previous``.
        """
        if data.y is None:
            raise fail(
                "data",
                "carry labels y for the ridge model",
                "SampleData with y=None",
                "pass the SampleData that RidgeModel.sample returned",
            )
        w = data.mask.astype(float)
        x = data.x * w[..., None]
        y = np.where(data.mask, data.y, 0.0)
        gram = np.einsum("rmi,rmj->rij", x, x) + self.ridge * np.eye(self.dim)
        weights = np.einsum(
            "rij,rj->ri", np.linalg.pinv(gram, hermitian=True), np.einsum("rmi,rm->ri", x, y)
        )
        count = w.sum(axis=1)
        resid = (y - np.einsum("rmd,rd->rm", x, weights)) * w
        noise = (resid**2).sum(axis=1) / np.where(count > 0, count, 1.0)
        if self.synthetic_noise is not None:
            noise = np.full_like(noise, self.synthetic_noise)
        empty = count == 0
        if empty.any():
            if previous is None:
                raise fail(
                    "data",
                    "hold at least one sample per replicate",
                    "an empty replicate",
                    "draw n >= 1 samples per generation",
                )
            weights[empty] = np.broadcast_to(previous.weights, weights.shape)[empty]
            noise[empty] = np.broadcast_to(previous.noise, noise.shape)[empty]
        return LinearTruth(weights, noise)

    def metrics(self, params: LinearTruth, truth_params: LinearTruth) -> dict[str, np.ndarray]:
        """``weight_error`` ‖ŵ − w*‖² and the exact ``test_mse`` = ‖ŵ − w*‖² + σ*²."""
        err = ((params.weights - truth_params.weights) ** 2).sum(axis=1)
        return {
            "weight_error": err,
            "test_mse": err + truth_params.noise[0],
            "noise": params.noise.copy(),
        }
