"""Contaminated iterative retraining: models, data policies, α_t/n_t schedules, metrics, theory.

Generation 0 fits n_0 true samples; generation t trains on n_t samples from
α_t·P* + (1 − α_t)·P̂_{t−1} (or another data policy) and refits. :func:`simulate` runs R
replicates × T generations as array operations; :mod:`almo.sources.theory` gives the exact
error curve of the categorical model; :func:`simulate_minimax` trains each generation against
the worst mixture of the true and synthetic sources instead; :func:`simulate_estimators` and
:func:`estimator_curve` compare estimators that know which samples are real (weighting,
filtration) with the contamination-agnostic one; :func:`regime_map` maps collapse and recovery
over α_t = α_0 (t+1)^(−a), n_t = n_0 (t+1)^b.

Examples
--------
>>> from almo.sources import CategoricalModel, risk_curve, simulate, zipf
>>> p = zipf(100, 1.1)
>>> res = simulate(
...     CategoricalModel(100), p, alpha=0.2, n=500, generations=10, replicates=200, seed=0
... )
>>> theory = risk_curve(p, alpha=0.2, n=500, generations=10)
>>> bool(abs(res.mean("l2")[-1] - theory[-1]) < 4 * res.stderr("l2")[-1])
True
"""

from almo.sources.base import GenerativeModel, tempered
from almo.sources.categorical import CategoricalModel, zipf
from almo.sources.continuous import Gaussian, GaussianModel, LinearTruth, RidgeModel
from almo.sources.data import CountData, SampleData
from almo.sources.estimators import (
    ESTIMATORS,
    estimator_curve,
    filtration_curve,
    optimal_weight,
    optimal_weights,
    simulate_estimators,
    weighted_curve,
)
from almo.sources.metrics import categorical_metrics, gaussian_metrics, tail_tokens
from almo.sources.minimax import UnigramLogits, simulate_minimax
from almo.sources.ngram import NGramModel, random_markov
from almo.sources.policies import POLICIES, Policy
from almo.sources.regimes import REGIMES, RegimeMap, regime, regime_boundaries, regime_map
from almo.sources.schedules import Schedule, as_schedule, constant, geometric, power_law
from almo.sources.simulate import CollapseResult, simulate
from almo.sources.softmax import SoftmaxBigramModel
from almo.sources.theory import collision_gap, risk_curve, stable_level

__all__ = [
    "ESTIMATORS",
    "POLICIES",
    "REGIMES",
    "CategoricalModel",
    "CollapseResult",
    "CountData",
    "Gaussian",
    "GaussianModel",
    "GenerativeModel",
    "LinearTruth",
    "NGramModel",
    "Policy",
    "RegimeMap",
    "RidgeModel",
    "SampleData",
    "Schedule",
    "SoftmaxBigramModel",
    "UnigramLogits",
    "as_schedule",
    "categorical_metrics",
    "collision_gap",
    "constant",
    "estimator_curve",
    "filtration_curve",
    "gaussian_metrics",
    "geometric",
    "optimal_weight",
    "optimal_weights",
    "power_law",
    "random_markov",
    "regime",
    "regime_boundaries",
    "regime_map",
    "risk_curve",
    "simulate",
    "simulate_estimators",
    "simulate_minimax",
    "stable_level",
    "tail_tokens",
    "tempered",
    "weighted_curve",
    "zipf",
]
