"""The solvers' view of the losses: convex forms from the registry in :mod:`almo.losses`.

Each loss's numpy and cvxpy forms live next to its torch function; this module only names what
the solvers read.
"""

from __future__ import annotations

from almo._validation import fail
from almo.losses import ScoreLoss, SolverTask, Targets, make_loss

__all__ = ["ScoreLoss", "Targets", "score_loss"]


def score_loss(name: str, task: SolverTask, params: dict[str, float]) -> ScoreLoss:
    """The convex form of the built-in loss ``name`` with ``params`` on ``task``.

    Examples
    --------
    >>> score_loss("huber", "regression", {"delta": 0.5})
    Huber(delta=0.5)
    """
    form = make_loss(name, **params).convex_form(task)
    if form is None:
        raise fail(
            "losses",
            f"be convex in the scores of a {task} linear model",
            name,
            "use a loss with a convex form for this task",
        )
    return form
