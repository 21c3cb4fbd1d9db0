"""almo — agnostic learning with multiple objectives.

Train against the worst mixture λ of p objectives inside a convex set Λ of the simplex, compare
with fixed-weight ensembles, and certify the worst case.

The public API: mixture sets (:class:`Simplex`, :class:`BoxSimplex`, :class:`Polytope`,
:class:`PriorBall`), weight rules (:mod:`almo.weights`), objective families
(:class:`ObjectiveFamily`, :class:`ObjectiveBatch`, :class:`Loss`, :func:`make_loss`), the one
result vocabulary (:class:`ObjectiveReport`), the trainer
(:class:`MinimaxTrainer`), the certified solver for linear models (:func:`solve_linear`), the
scikit-learn estimators (:class:`ALMOClassifier`, :class:`ALMORegressor`), the comparison with
fixed-weight ensembles (:func:`compare`, :class:`ComparisonReport`) and the
contaminated-retraining simulator (:mod:`almo.sources`).
"""

from almo._validation import ALMOValueError, NonFiniteLossError
from almo.comparison import ComparisonReport, compare
from almo.complexity import (
    BoundReport,
    RademacherPenalty,
    cross_validated_beta,
    generalization_bound,
)
from almo.estimators import ALMOClassifier, ALMORegressor
from almo.exceptions import DivergenceError, SolverError
from almo.losses import LOSSES, Loss, make_loss
from almo.mixtures import BoxSimplex, MixtureSet, Polytope, PriorBall, Simplex, WorstCase
from almo.objectives import ObjectiveBatch, ObjectiveFamily, ObjectiveValues
from almo.report import ObjectiveReport
from almo.solvers import ConvergenceWarning, LinearSolution, solve_linear
from almo.train import (
    Callback,
    Checkpoint,
    EarlyStopping,
    Evaluation,
    History,
    MinimaxTrainer,
    ProgressBar,
)
from almo.weights import (
    Averaged,
    BestResponse,
    EveryK,
    ExponentiatedAscent,
    FixedWeights,
    HoldAbsent,
    ProjectedAscent,
    WeightRule,
)

__all__ = [
    "LOSSES",
    "ALMOClassifier",
    "ALMORegressor",
    "ALMOValueError",
    "Averaged",
    "BestResponse",
    "BoundReport",
    "BoxSimplex",
    "Callback",
    "Checkpoint",
    "ComparisonReport",
    "ConvergenceWarning",
    "DivergenceError",
    "EarlyStopping",
    "Evaluation",
    "EveryK",
    "ExponentiatedAscent",
    "FixedWeights",
    "History",
    "HoldAbsent",
    "LinearSolution",
    "Loss",
    "MinimaxTrainer",
    "MixtureSet",
    "NonFiniteLossError",
    "ObjectiveBatch",
    "ObjectiveFamily",
    "ObjectiveReport",
    "ObjectiveValues",
    "Polytope",
    "PriorBall",
    "ProgressBar",
    "ProjectedAscent",
    "RademacherPenalty",
    "Simplex",
    "SolverError",
    "WeightRule",
    "WorstCase",
    "compare",
    "cross_validated_beta",
    "generalization_bound",
    "make_loss",
    "solve_linear",
]
__version__ = "0.1.0"
