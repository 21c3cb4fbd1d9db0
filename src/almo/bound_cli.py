"""``almo bound``: fit a certified linear model and print its generalization certificate.

Examples::

    almo bound --dataset breast_cancer --groups classes --losses log_loss --beta bound
    almo bound --dataset wine --groups classes --beta cv --save wine.json
    almo bound --load wine.json --delta 0.01

With ``--dataset`` (a scikit-learn bundled data set: breast_cancer, digits, iris, wine) it
standardizes the features (fitted on the training split), solves the minimax problem with
:func:`almo.solve_linear` and the :class:`~almo.complexity.RademacherPenalty` of ``--beta``
(``0`` for none, ``bound`` for the bound's constant, ``cv`` for the cross-validated choice, or a
number), prints the :class:`~almo.complexity.BoundReport` as a markdown table and, next to it,
the worst case measured on the held-out split. ``--save FILE`` writes the model, its report and
the certificate (JSON); ``--load FILE`` prints a saved certificate again, recomputed for a new
``--delta`` / ``--epsilon`` from the saved statistics (no data needed).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from almo._cli import check_writable_file
from almo._validation import check_integer, check_number, fail

__all__ = ["DATASETS", "add_parser", "check_args", "load_saved", "run"]

DATASETS = ("breast_cancer", "digits", "iris", "wine")
FORMAT = "almo-bound/1"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``bound`` and its arguments on ``subparsers``; returns the parser.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> args = add_parser(sub).parse_args(["--dataset", "iris", "--beta", "0.5"])
    >>> args.dataset, args.beta, args.delta  # δ: 0.05, or the saved one with --load
    ('iris', '0.5', None)
    """
    p = subparsers.add_parser(
        "bound",
        help="fit a certified linear model and print its generalization certificate",
        description="Upper bound on the population worst case over Λ of a linear model "
        "fitted with solve_linear: L̂_Λ + 2 max_λ R(G, λ) + M ε + concentration.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--dataset", choices=DATASETS, help="a scikit-learn bundled data set (or --load)"
    )
    src.add_argument("--load", type=Path, help="a JSON file written by --save (or --dataset)")
    p.add_argument(
        "--groups",
        default="classes",
        help="'classes' (one objective per class), 'none', or 'feature:J' (feature J above "
        "or below its median)",
    )
    p.add_argument("--losses", default="log_loss", help="comma-separated loss names")
    p.add_argument("--beta", default="bound", help="'bound', 'cv', or a number (0: no penalty)")
    p.add_argument("--l2", type=float, default=1e-3, help="ridge term of the solver")
    p.add_argument(
        "--delta",
        type=float,
        default=None,
        help="failure probability δ in (0, 1) (default: 0.05, or the saved one with --load)",
    )
    p.add_argument(
        "--epsilon", type=float, default=None, help="cover radius ε > 0 (default: optimized)"
    )
    p.add_argument("--test-size", type=float, default=0.3, help="held-out fraction")
    p.add_argument("--seed", type=int, default=0, help="split and cross-validation seed")
    p.add_argument(
        "--save",
        type=Path,
        help="write the model and its certificate here, as JSON (default: not saved)",
    )
    p.add_argument("--json", action="store_true", help="print the certificate as JSON")
    p.set_defaults(func=run, delta_default=0.05)
    return p


def _groups(spec: str, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray | None, int | None]:
    if spec == "none":
        return None, None
    if spec == "classes":
        return y.astype(np.int64), int(y.max()) + 1
    if spec.startswith("feature:"):
        try:
            j = int(spec.split(":", 1)[1])
            if j < 0:
                raise IndexError(j)
            column = X[:, j]
        except (ValueError, IndexError):
            raise fail(
                "--groups",
                f"name a feature index in [0, {X.shape[1] - 1}]",
                spec,
                "pass e.g. --groups feature:0",
            ) from None
        return (column > np.median(column)).astype(np.int64), 2
    raise fail("--groups", "be 'classes', 'none' or 'feature:J'", spec, "pass --groups classes")


def _beta(text: str) -> float | str:
    if text in ("bound", "cv"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise fail("--beta", "be 'bound', 'cv' or a number >= 0", text, "pass e.g. --beta 0.1")
    return value


def fit_dataset(args: argparse.Namespace) -> dict[str, Any]:
    """Load, split, standardize, solve and certify; returns what ``--save`` writes."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from almo.complexity import RademacherPenalty, cross_validated_beta, generalization_bound
    from almo.complexity.selection import held_out_worst_case
    from almo.objectives import ObjectiveFamily
    from almo.solvers import solve_linear

    beta = _beta(args.beta)
    X, y = getattr(datasets, f"load_{args.dataset}")(return_X_y=True)
    groups, n_groups = _groups(args.groups, X, y)
    strata = y if groups is None else groups * (int(y.max()) + 1) + y
    try:
        idx_tr, idx_te = train_test_split(
            np.arange(len(y)), test_size=args.test_size, random_state=args.seed, stratify=strata
        )
    except ValueError as err:  # a split too small to hold every class (and group) on each side
        raise fail(
            "--test-size",
            "leave every class (and group) at least one row in each split",
            f"{args.test_size} of {len(y)} rows ({err})",
            "pass e.g. --test-size 0.3",
        ) from None
    scaler = StandardScaler().fit(X[idx_tr])
    X_tr, X_te = scaler.transform(X[idx_tr]), scaler.transform(X[idx_te])
    g_tr = None if groups is None else groups[idx_tr]
    g_te = None if groups is None else groups[idx_te]
    losses = [s.strip() for s in args.losses.split(",") if s.strip()]
    family = ObjectiveFamily(losses, groups=n_groups)
    if beta == "cv":
        beta = cross_validated_beta(
            X_tr, y[idx_tr], family, g_tr, n_splits=3, l2=args.l2, seed=args.seed
        ).beta
    penalty = None if beta == 0 else RademacherPenalty(beta)
    sol = solve_linear(X_tr, y[idx_tr], family, groups=g_tr, l2=args.l2, penalty=penalty)
    delta = args.delta if args.delta is not None else args.delta_default
    rep = generalization_bound(
        sol, X=X_tr, y=y[idx_tr], family=family, groups=g_tr, delta=delta, epsilon=args.epsilon
    )
    held = held_out_worst_case(sol, X_te, y[idx_te], family, g_te)
    return {
        "format": FORMAT,
        "dataset": args.dataset,
        "groups": args.groups,
        "losses": losses,
        "beta": None if penalty is None else penalty.beta_,
        "l2": args.l2,
        "seed": args.seed,
        "test_size": args.test_size,
        "n_train": len(idx_tr),
        "n_test": len(idx_te),
        "coef": np.asarray(sol.coef_).tolist(),
        "intercept": np.asarray(sol.intercept_).tolist(),
        "scaler_mean": scaler.mean_.tolist(),
        "scaler_scale": scaler.scale_.tolist(),
        "solver": {"value": sol.value, "gap": sol.gap, "status": sol.status},
        "report": sol.report.to_dict(),
        "held_out_worst_case": held,
        "bound": rep.to_dict(),
    }


def load_saved(path: Path) -> dict[str, Any]:
    """Read a file written by ``almo bound --save``, checked.

    Examples
    --------
    >>> load_saved(Path("no-such-file.json"))
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `--load` must name a readable JSON file ...
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise fail(
            "--load", "name a readable JSON file written by --save", str(path), str(err)
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise fail(
            "--load",
            f"be a file written by almo bound --save (format {FORMAT!r})",
            str(path),
            "write it with almo bound --dataset ... --save FILE",
        )
    return data


def _recompute(data: dict[str, Any], delta: float | None, epsilon: float | None) -> Any:
    """The saved certificate, recomputed from its statistics for a new δ or ε."""
    from almo.complexity.bound import BoundReport, assemble
    from almo.mixtures import Simplex

    rep = BoundReport.from_dict(data["bound"])
    if delta is None and epsilon is None:
        return rep
    par = rep.parameters
    return assemble(
        rep.names,
        rep.empirical,
        rep.term("empirical worst case"),
        rep.complexity,
        rep.loss_bound,
        rep.counts,
        Simplex(len(rep.names)),
        rep.delta if delta is None else delta,
        epsilon,
        constant=float(par["constant"]),
        log_weight=float(par.get("log_weight", 0.0)),
        total=float(par["m"]),
        assumptions=rep.assumptions,
        parameters={k: v for k, v in par.items() if k not in _DERIVED},
    )


_DERIVED = ("M", "s", "m", "log_cover", "log_1_over_delta_prime", "constant")


def check_args(args: argparse.Namespace) -> None:
    """Check the flags of ``almo bound`` before any work; errors name the flag.

    Examples
    --------
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> check_args(add_parser(sub).parse_args(["--dataset", "iris", "--l2", "-1"]))
    Traceback (most recent call last):
    ...
    almo.exceptions.ALMOValueError: `--l2` must be a finite number >= 0; found -1.0. Fix: ...
    """
    if args.delta is not None:
        check_number(
            "--delta",
            args.delta,
            "pass e.g. --delta 0.05",
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
    if args.epsilon is not None:
        check_number(
            "--epsilon",
            args.epsilon,
            "pass a cover radius > 0, e.g. --epsilon 0.01, or omit it to optimize it",
            low=0,
            low_open=True,
        )
    if args.load is None:
        _beta(args.beta)
        check_number("--l2", args.l2, "pass e.g. --l2 0.001", low=0)
        check_number(
            "--test-size",
            args.test_size,
            "pass e.g. --test-size 0.3",
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
        check_integer("--seed", args.seed, "pass e.g. --seed 0", low=0)
        if not [s for s in args.losses.split(",") if s.strip()]:
            raise fail("--losses", "name at least one loss", args.losses, "pass --losses log_loss")
    if args.save is not None:
        check_writable_file("--save", args.save)


def run(args: argparse.Namespace) -> int:
    """Run ``almo bound`` with parsed arguments; prints the certificate, returns 0."""
    check_args(args)
    if args.load is not None:
        data = load_saved(args.load)
        report = _recompute(data, args.delta, args.epsilon)
        data["bound"] = report.to_dict()
    else:
        data = fit_dataset(args)
        from almo.complexity.bound import BoundReport

        report = BoundReport.from_dict(data["bound"])
    if args.save is not None:
        args.save.write_text(json.dumps(data, indent=1))
    if args.json:
        print(json.dumps(data["bound"], indent=1))
        return 0
    beta = data["beta"]
    print(
        f"almo bound — {data['dataset']} (groups: {data['groups']}, losses: "
        f"{', '.join(data['losses'])}, β = {'none' if beta is None else f'{beta:.4g}'}), "
        f"{data['n_train']} training rows\n"
    )
    print(report.table())
    held = data["held_out_worst_case"]
    verdict = "below" if held <= report.value else "ABOVE"
    print(
        f"\nheld-out worst case ({data['n_test']} rows): {held:.4f} — {verdict} the "
        f"certificate {report.value:.4f}"
    )
    return 0
