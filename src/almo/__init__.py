"""almo — agnostic learning with multiple objectives.

Train against the worst mixture λ of p objectives inside a convex set Λ of the simplex, compare
with fixed-weight ensembles, and certify the worst case.

The public API: mixture sets (:class:`Simplex`, :class:`BoxSimplex`, :class:`Polytope`,
:class:`PriorBall`), weight rules (:mod:`almo.weights`), objective families
(:class:`ObjectiveFamily`, :class:`Loss`, :func:`make_loss`), the trainer
(:class:`MinimaxTrainer`).
"""

from almo._validation import ALMOValueError, NonFiniteLossError
from almo.losses import LOSSES, Loss, make_loss
from almo.mixtures import BoxSimplex, MixtureSet, Polytope, PriorBall, Simplex, WorstCase
from almo.objectives import ObjectiveFamily, ObjectiveValues
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
    ExponentiatedAscent,
    FixedWeights,
    ProjectedAscent,
    WeightRule,
)

__all__ = [
    "LOSSES",
    "ALMOValueError",
    "Averaged",
    "BestResponse",
    "BoxSimplex",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "Evaluation",
    "ExponentiatedAscent",
    "FixedWeights",
    "History",
    "Loss",
    "MinimaxTrainer",
    "MixtureSet",
    "NonFiniteLossError",
    "ObjectiveFamily",
    "ObjectiveValues",
    "Polytope",
    "PriorBall",
    "ProgressBar",
    "ProjectedAscent",
    "Simplex",
    "WeightRule",
    "WorstCase",
    "make_loss",
]
__version__ = "0.1.0"
