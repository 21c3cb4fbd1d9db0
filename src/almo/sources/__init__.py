"""Contaminated iterative retraining: models, data policies, α_t/n_t schedules, metrics, theory.

Generation 0 fits n_0 true samples; generation t trains on n_t samples from
α_t·P* + (1 − α_t)·P̂_{t−1} (or another data policy) and refits. :func:`simulate` runs R
replicates × T generations as array operations; :mod:`almo.sources.theory` gives the exact
error curve of the categorical model; :func:`simulate_minimax` trains each generation against
the worst mixture of the true and synthetic sources instead.

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
from almo.sources.metrics import categorical_metrics, gaussian_metrics, tail_tokens
from almo.sources.minimax import UnigramLogits, simulate_minimax
from almo.sources.ngram import NGramModel, random_markov
from almo.sources.policies import POLICIES, Policy
from almo.sources.schedules import Schedule, as_schedule, constant, geometric, power_law
from almo.sources.simulate import CollapseResult, simulate
from almo.sources.softmax import SoftmaxBigramModel
from almo.sources.theory import collision_gap, risk_curve, stable_level

__all__ = [
    "POLICIES",
    "CategoricalModel",
    "CollapseResult",
    "CountData",
    "Gaussian",
    "GaussianModel",
    "GenerativeModel",
    "LinearTruth",
    "NGramModel",
    "Policy",
    "RidgeModel",
    "SampleData",
    "Schedule",
    "SoftmaxBigramModel",
    "UnigramLogits",
    "as_schedule",
    "categorical_metrics",
    "collision_gap",
    "constant",
    "gaussian_metrics",
    "geometric",
    "power_law",
    "random_markov",
    "risk_curve",
    "simulate",
    "simulate_minimax",
    "stable_level",
    "tail_tokens",
    "tempered",
    "zipf",
]
