"""Compare ALMO with fixed-weight ensembles and report the worst case: :func:`compare`.

:func:`compare` trains, for each seed and model family, the ALMO estimator and the fixed-weight
ensembles (uniform λ, each objective alone, a sweep of fixed λ) on the same split, with the same
scales and the same seeded initial model, and evaluates them on a held-out split. The
:class:`ComparisonReport` it returns holds every run and writes JSON (schema
:data:`REPORT_SCHEMA`), CSV, markdown and the figures of :mod:`almo.plots`. ``almo compare``
is its command line.
"""

from almo.comparison.arms import fixed_arms, simplex_lattice
from almo.comparison.report import Arm, ComparisonReport, Run, mean_se
from almo.comparison.run import DEFAULT_LOSSES, DEFAULT_MODELS, compare, resolve_task
from almo.comparison.schema import FORMAT, REPORT_SCHEMA

__all__ = [
    "DEFAULT_LOSSES",
    "DEFAULT_MODELS",
    "FORMAT",
    "REPORT_SCHEMA",
    "Arm",
    "ComparisonReport",
    "Run",
    "compare",
    "fixed_arms",
    "mean_se",
    "resolve_task",
    "simplex_lattice",
]
