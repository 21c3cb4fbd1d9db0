"""The JSON schema of a comparison report (``ComparisonReport.to_json``), format ``almo-compare/1``.

The document has four parts:

- ``config``: what was compared — data set, task, objectives, Λ, weight rule, penalty, models,
  seeds, split, the fixed-weight sweep;
- ``arms``: the trained configurations of each model family — ``almo`` (λ moved by the weight
  rule against the worst case over Λ), ``uniform`` (λ = 1/p), ``single`` (all weight on one
  objective) and ``fixed`` (the rest of the sweep) — with their λ;
- ``runs``: one record per (model family, arm, seed): the held-out and training
  :class:`~almo.ObjectiveReport` (raw and normalized per-objective values with the scales shared
  by every arm of that seed, worst case over Λ and λ*), the mean objective, the score (accuracy
  or R²), the gap to the certified optimum for linear models, and the training curves (each
  objective on the training and the held-out split per epoch, λ per step);
- ``summary``: one row per (model family, arm): mean and standard error over the seeds of the
  held-out worst case, mean objective, score and each objective's values, and the mean rank of
  the held-out worst case (1 = lowest) among all rows.

Numbers that do not exist (a standard error from one seed, a gap without a certificate) are
``null``: JSON has no NaN.

Examples
--------
>>> REPORT_SCHEMA["properties"]["format"]["const"]
'almo-compare/1'
>>> sorted(REPORT_SCHEMA["required"])
['arms', 'config', 'format', 'runs', 'summary']
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMAT", "REPORT_SCHEMA"]

FORMAT = "almo-compare/1"

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_VEC = {"type": "array", "items": _NUM}
_VEC_OR_NULL = {"type": ["array", "null"], "items": _NUM}
_STAT = {
    "type": "object",
    "description": "mean and standard error over seeds (se null with one seed)",
    "required": ["mean", "se"],
    "properties": {"mean": _NUM_OR_NULL, "se": _NUM_OR_NULL},
    "additionalProperties": False,
}
_STAT_VEC = {
    "type": "object",
    "description": "per-objective mean and standard error over seeds",
    "required": ["mean", "se"],
    "properties": {
        "mean": {"type": "array", "items": _NUM_OR_NULL},
        "se": {"type": "array", "items": _NUM_OR_NULL},
    },
    "additionalProperties": False,
}

#: ObjectiveReport.to_dict() — one model's per-objective values on one split.
OBJECTIVE_REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "per-objective values of one model on one split (almo.ObjectiveReport)",
    "required": [
        "names",
        "raw",
        "normalized",
        "scales",
        "penalty",
        "worst_case",
        "weights",
        "penalized_worst_case",
    ],
    "properties": {
        "names": {"type": "array", "items": {"type": "string"}},
        "raw": {**_VEC, "description": "mean per-sample loss of each objective"},
        "normalized": {**_VEC, "description": "raw / scales"},
        "scales": {**_VEC, "description": "divisor of each objective, shared by all arms"},
        "penalty": {**_VEC, "description": "complexity term r_k (zeros: not included)"},
        "worst_case": {**_NUM, "description": "max over λ in Λ of <λ, normalized>"},
        "weights": {**_VEC, "description": "λ* attaining the worst case"},
        "penalized_worst_case": _NUM,
        "counts": _VEC_OR_NULL,
    },
}

_HISTORY = {
    "type": ["object", "null"],
    "description": "training curves of an arm trained by the torch trainer (null otherwise)",
    "required": ["epochs", "train", "held_out", "steps", "weights"],
    "properties": {
        "epochs": {"type": "array", "items": {"type": "integer"}},
        "train": {
            "type": "array",
            "items": _VEC,
            "description": "per epoch, normalized training-split loss of each objective of the "
            "model training returns at that epoch",
        },
        "held_out": {
            "type": ["array", "null"],
            "items": _VEC,
            "description": "normalized held-out loss of each objective of the same model at "
            "held_out_epochs (every epoch for the library's estimators, which evaluate the "
            "held-out split each epoch through fit's eval_set)",
        },
        "held_out_epochs": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "the epochs of held_out (default: epochs)",
        },
        "steps": {"type": "array", "items": {"type": "integer"}},
        "weights": {"type": "array", "items": _VEC, "description": "λ at each recorded step"},
    },
}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://almo.invalid/schemas/almo-compare-1.json",
    "title": "almo comparison report",
    "description": "ALMO against fixed-weight ensembles on the same data, split, scales and "
    "seeds, evaluated on a held-out split.",
    "type": "object",
    "required": ["format", "config", "arms", "runs", "summary"],
    "properties": {
        "format": {"const": FORMAT},
        "almo_version": {"type": "string"},
        "seconds": {**_NUM, "description": "wall-clock time of the whole comparison"},
        "config": {
            "type": "object",
            "required": [
                "dataset",
                "task",
                "objectives",
                "losses",
                "groups",
                "mixture_set",
                "weight_rule",
                "penalty",
                "normalize",
                "models",
                "seeds",
                "test_size",
                "n_train",
                "n_test",
                "n_features",
                "score",
                "fixed",
            ],
            "properties": {
                "dataset": {"type": "string"},
                "task": {"enum": ["classification", "regression"]},
                "objectives": {"type": "array", "items": {"type": "string"}},
                "losses": {"type": "array", "items": {"type": "string"}},
                "groups": {"type": ["array", "null"], "items": {"type": "string"}},
                "mixture_set": {"type": "string", "description": "Λ, as its repr"},
                "weight_rule": {"type": "string"},
                "penalty": {"type": "string"},
                "normalize": {"type": "boolean"},
                "models": {"type": "array", "items": {"type": "string"}},
                "seeds": {"type": "array", "items": {"type": "integer"}},
                "test_size": _NUM,
                "n_train": {"type": "integer"},
                "n_test": {"type": "integer"},
                "n_features": {"type": "integer"},
                "score": {"enum": ["accuracy", "r2"]},
                "fixed": {"type": "string", "description": "how the fixed λ were chosen"},
                "estimator_params": {"type": "object"},
                "certify": {"type": "boolean"},
            },
        },
        "arms": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "kind", "weights"],
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"enum": ["almo", "uniform", "single", "fixed"]},
                    "weights": {
                        **_VEC_OR_NULL,
                        "description": "the fixed λ (null for almo: λ moves)",
                    },
                    "objective": {"type": ["integer", "null"]},
                },
            },
        },
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "model",
                    "arm",
                    "seed",
                    "held_out",
                    "train",
                    "mean_objective",
                    "score",
                    "weights",
                    "gap_to_optimum",
                    "certificate",
                    "seconds",
                ],
                "properties": {
                    "model": {"type": "string"},
                    "arm": {"type": "string"},
                    "seed": {"type": "integer"},
                    "held_out": OBJECTIVE_REPORT_SCHEMA,
                    "train": OBJECTIVE_REPORT_SCHEMA,
                    "mean_objective": {
                        **_NUM,
                        "description": "held-out mean of the normalized objectives",
                    },
                    "score": {
                        **_NUM_OR_NULL,
                        "description": "held-out accuracy or R² (null when undefined, e.g. R² "
                        "of a constant target)",
                    },
                    "weights": {**_VEC, "description": "the λ the model was trained with"},
                    "gap_to_optimum": {
                        **_NUM_OR_NULL,
                        "description": "training penalized worst case minus the certified "
                        "lower bound of the minimax optimum (linear models)",
                    },
                    "certificate": {
                        "type": ["object", "null"],
                        "description": "certified optimum of the minimax problem (linear "
                        "ALMO): value, lower bound, gap",
                        "properties": {
                            "value": _NUM,
                            "lower_bound": _NUM,
                            "gap": _NUM,
                        },
                    },
                    "n_iter": {"type": ["integer", "null"]},
                    "seconds": _NUM,
                    "history": _HISTORY,
                },
            },
        },
        "summary": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "model",
                    "arm",
                    "kind",
                    "worst_case",
                    "mean_objective",
                    "score",
                    "rank",
                    "raw",
                    "normalized",
                    "gap_to_optimum",
                ],
                "properties": {
                    "model": {"type": "string"},
                    "arm": {"type": "string"},
                    "kind": {"enum": ["almo", "uniform", "single", "fixed"]},
                    "worst_case": _STAT,
                    "train_worst_case": _STAT,
                    "mean_objective": _STAT,
                    "score": _STAT,
                    "gap_to_optimum": _STAT,
                    "rank": {
                        **_NUM,
                        "description": "mean over seeds of the rank of the held-out worst "
                        "case among all rows (1 = lowest)",
                    },
                    "worst_objective": {"type": "string"},
                    "raw": _STAT_VEC,
                    "normalized": _STAT_VEC,
                },
            },
        },
    },
}
