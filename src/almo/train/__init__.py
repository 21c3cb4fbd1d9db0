"""Training a torch model against the worst mixture of its objectives.

:class:`MinimaxTrainer` runs the game; :class:`History` and :class:`Evaluation` hold what it
reports; callbacks add progress bars, early stopping and checkpoints. The same trainer with
:class:`~almo.weights.FixedWeights` trains the fixed-weight ensemble baseline.
"""

from almo.train.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    LambdaCallback,
    ProgressBar,
)
from almo.train.checkpoint import load_checkpoint, save_checkpoint
from almo.train.distributed import DistributedContext, init_distributed
from almo.train.history import EpochRecord, Evaluation, History
from almo.train.trainer import MinimaxTrainer

__all__ = [
    "Callback",
    "Checkpoint",
    "DistributedContext",
    "EarlyStopping",
    "EpochRecord",
    "Evaluation",
    "History",
    "LambdaCallback",
    "MinimaxTrainer",
    "ProgressBar",
    "init_distributed",
    "load_checkpoint",
    "save_checkpoint",
]
