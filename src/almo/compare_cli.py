"""``almo compare``: ALMO against fixed-weight ensembles, on a bundled data set or a CSV file.

Examples::

    almo compare                                   # digits, 3 losses, linear + MLP, 3 seeds
    almo compare --dataset breast_cancer --groups classes --losses log_loss
    almo compare --data train.csv --target label --groups site --out results
    almo compare --config compare.toml --seeds 5   # flags override the file

It runs :func:`almo.comparison.compare`, prints the summary table (held-out worst case over Λ,
the objective attaining it, mean objective, accuracy or R², rank; mean ± standard error over
the seeds) and writes ``report.json`` (schema ``almo-compare/1``), ``report.csv``,
``report.md`` and the PNG figures into ``--out``.

``--config FILE.toml`` holds the same options under the flags' names (``losses = ["log_loss",
"hinge"]``, ``epochs = 10``, ``test-size = 0.25``...); a flag given on the command line wins.
Bad input ends in one line ``almo compare: error: ...`` naming the flag to change.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from almo._cli import check_writable_dir
from almo._validation import check_integer, check_number, fail

__all__ = ["DATASETS", "DEFAULTS", "add_parser", "load_config", "read_csv", "run"]

#: Bundled scikit-learn data sets (classification, and diabetes for regression).
DATASETS = ("digits", "breast_cancer", "iris", "wine", "diabetes")
#: The defaults of every option (also what a --config file may set).
DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data": None,
    "target": None,
    "groups": "none",
    "losses": "log_loss,hinge,squared",
    "model": "linear,mlp",
    "mixture": "simplex",
    "rule": "auto",
    "penalty": "rademacher",
    "alpha": None,
    "method": "trainer",
    "certify": True,
    "epochs": 8,
    "seeds": 3,
    "fixed": "auto",
    "test_size": 0.3,
    "task": "auto",
    "normalize": True,
    "dropna": False,
    "out": "almo-compare",
    "plots": True,
    "quiet": False,
}
_MISSING = {"", "na", "nan", "null", "none", "n/a", "?"}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``compare`` and its arguments on ``subparsers``; returns the parser.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> args = add_parser(sub).parse_args(["--seeds", "2", "--model", "linear"])
    >>> args.dataset, args.seeds, args.model, args.losses
    ('digits', 2, 'linear', 'log_loss,hinge,squared')
    """
    d = DEFAULTS
    p = subparsers.add_parser(
        "compare",
        help="train ALMO and fixed-weight ensembles on the same split; report the worst case",
        description="Train ALMO and fixed-weight ensembles (uniform λ, each objective alone, a "
        "sweep of fixed λ) on the same data, split, scales and seeds; print the held-out "
        "worst case over Λ of each, and write a JSON/CSV/markdown report and PNG plots.",
    )
    src = p.add_argument_group("data")
    src.add_argument("--dataset", choices=DATASETS, default=d["dataset"], help="a bundled data set")
    src.add_argument(
        "--data",
        type=Path,
        metavar="FILE.csv",
        help="a CSV file with a header row, used instead of --dataset (with --target)",
    )
    src.add_argument("--target", metavar="COL", help="the target column of --data")
    src.add_argument(
        "--groups",
        default=d["groups"],
        metavar="COL",
        help="a column of --data holding each row's group (one objective per loss and "
        "group), 'classes' (a group per class) or 'none'",
    )
    src.add_argument(
        "--dropna", action="store_true", help="drop rows of --data with missing values"
    )
    src.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default=d["task"],
        help="what the target is ('auto': from the losses and the target)",
    )
    game = p.add_argument_group("objectives and models")
    game.add_argument("--losses", default=d["losses"], help="comma-separated loss names")
    game.add_argument(
        "--model",
        default=d["model"],
        help="comma-separated model families: linear, mlp, or mlp:64x32 (hidden sizes)",
    )
    game.add_argument(
        "--mixture",
        default=d["mixture"],
        help="Λ: 'simplex', or box bounds 'L,U' on every λ_k (e.g. 0.05,0.6)",
    )
    game.add_argument(
        "--rule",
        default=d["rule"],
        help="how ALMO moves λ: auto, projected[:LR], exponentiated[:LR]",
    )
    game.add_argument(
        "--penalty",
        default=d["penalty"],
        help="'rademacher' (the estimators' Rademacher penalty), 'none', or a β >= 0 for it",
    )
    game.add_argument(
        "--alpha", type=float, default=d["alpha"], help="ridge strength (default: estimators')"
    )
    game.add_argument(
        "--method",
        choices=("trainer", "auto", "exact"),
        default=d["method"],
        help="how linear models train: the torch trainer like the MLP, or solved exactly "
        "('auto'/'exact', certified: about 4 minutes for the 33 linear fits of digits)",
    )
    game.add_argument(
        "--certify",
        action=argparse.BooleanOptionalAction,
        default=d["certify"],
        help="solve the linear minimax problem exactly once per seed: the certified optimum "
        "and each linear model's gap to it",
    )
    game.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=d["normalize"],
        help="divide each objective by its scale (calibrated once per seed, shared by all)",
    )
    run_g = p.add_argument_group("runs and output")
    run_g.add_argument(
        "--epochs", type=int, default=d["epochs"], help="training epochs of each torch model"
    )
    run_g.add_argument(
        "--seeds", type=int, default=d["seeds"], help="number of seeds (split + initialization)"
    )
    run_g.add_argument(
        "--fixed",
        default=d["fixed"],
        help="fixed-λ sweep beyond uniform and single objectives: auto, grid:R, dirichlet:K",
    )
    run_g.add_argument("--test-size", type=float, default=d["test_size"], help="held-out share")
    run_g.add_argument("--out", type=Path, default=Path(d["out"]), help="report folder")
    run_g.add_argument(
        "--plots", action=argparse.BooleanOptionalAction, default=True, help="write PNG plots"
    )
    run_g.add_argument("--quiet", action="store_true", help="no progress output")
    run_g.add_argument(
        "--config",
        type=Path,
        metavar="FILE.toml",
        help="read options from a TOML file (keys: the flags' names); flags override it",
    )
    p.set_defaults(func=run, given_flags=())
    _record_given(p)
    return p


def _recording(cls: type[argparse.Action]) -> type[argparse.Action]:
    """A subclass of the action class ``cls`` that records its ``dest`` in ``given_flags``."""
    if cls not in _RECORDING:

        def __call__(
            self: argparse.Action,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: Any,
            option_string: str | None = None,
        ) -> None:
            cls.__call__(self, parser, namespace, values, option_string)
            given = tuple(getattr(namespace, "given_flags", ()))
            namespace.given_flags = (*given, self.dest)

        _RECORDING[cls] = type(f"Recorded{cls.__name__}", (cls,), {"__call__": __call__})
    return _RECORDING[cls]


_RECORDING: dict[type[argparse.Action], type[argparse.Action]] = {}


def _record_given(parser: argparse.ArgumentParser) -> None:
    """Make every option of ``parser`` note that it was given (even at its default value).

    ``--config`` then fills only the options absent from the command line: ``--seeds 3``
    wins over ``seeds = 2`` in the file although 3 is the default.
    """
    for action in parser._actions:
        if action.option_strings and action.dest not in ("help", "config"):
            action.__class__ = _recording(type(action))


# -- configuration ------------------------------------------------------------------------------
def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML file of options (keys: flag names, with - or _), checked.

    Lists become comma-separated strings (``losses = ["log_loss", "hinge"]``).
    """
    import importlib

    try:
        tomllib = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        try:
            tomllib = importlib.import_module("tomli")
        except ModuleNotFoundError:
            raise fail(
                "--config",
                "be read by a TOML parser (Python >= 3.11, or the tomli package)",
                str(path),
                "use Python 3.11+ or pip install tomli; or pass the options as flags",
            ) from None
    if not path.is_file():
        raise fail("--config", "name an existing TOML file", str(path), "pass --config run.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # TOMLDecodeError is a ValueError
        raise fail(
            "--config", "be valid TOML", f"{path}: {err}", "fix the file (key = value lines)"
        ) from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in DEFAULTS:
            keys = ", ".join(k.replace("_", "-") for k in DEFAULTS)
            raise fail("--config", f"use only the keys {keys}", key, f"remove '{key}' from {path}")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[name] = value
    return out


def _merge_config(args: argparse.Namespace) -> None:
    """Options from ``--config`` fill every option not given on the command line.

    The parser of :func:`add_parser` records the options given (``args.given_flags``, even
    those given at their default value); a namespace built otherwise counts an option at its
    default value as absent.
    """
    if args.config is None:
        return
    given = getattr(args, "given_flags", None)
    for name, value in load_config(args.config).items():
        if given is not None:
            absent = name not in given
        else:
            current, default = getattr(args, name), DEFAULTS[name]
            absent = current == default or (name == "out" and current == Path(default))
        if absent:
            setattr(args, name, Path(value) if name in ("out", "data") else value)


# -- data ---------------------------------------------------------------------------------------
def _is_missing(text: str) -> bool:
    return text.strip().lower() in _MISSING


def read_csv(
    path: Path, target: str | None, groups: str | None, dropna: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    """Read features, target and groups from a CSV file with a header row, checked.

    Every problem raises the standard error naming the flag to change (``--data``,
    ``--target``, ``--groups``, ``--dropna``). Returns ``(X, y, groups or None, feature names)``.
    """
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise fail("--data", "name an existing CSV file", f"{path} ({what})", "pass --data a.csv")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise fail(
            "--data", "be a UTF-8 CSV file", f"{path} ({err})", "pass --data with a CSV file"
        ) from None
    if len(rows) < 2:
        raise fail(
            "--data",
            "hold a header row and data rows",
            f"{path} ({len(rows)} non-empty lines)",
            "pass --data with a CSV file that has a header and rows",
        )
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    columns = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    if target is None:
        raise fail(
            "--target",
            f"name the target column of {path.name}",
            "no --target",
            f"pass --target COLUMN (columns: {columns})",
        )
    for flag, name in (("--target", target), ("--groups", groups)):
        if name is not None and name not in header:
            raise fail(
                flag,
                f"name a column of {path.name} (columns: {columns})",
                name,
                f"pass e.g. {flag} {header[-1] if flag == '--target' else header[0]}",
            )
    bad_len = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad_len:
        raise fail(
            "--data",
            f"have {len(header)} cells on every row",
            f"{len(bad_len)} rows that differ (first: line {bad_len[0]})",
            "fix those lines of --data",
        )
    t_idx = header.index(target)
    g_idx = None if groups is None else header.index(groups)
    f_idx = [j for j in range(len(header)) if j not in (t_idx, g_idx)]
    if not f_idx:
        raise fail("--data", "hold at least one feature column", columns, "add feature columns")
    missing = np.array([[_is_missing(r[j]) for j in range(len(header))] for r in body])
    used = [t_idx, *f_idx] + ([] if g_idx is None else [g_idx])
    bad_rows: np.ndarray = np.asarray(missing[:, used].any(axis=1), dtype=bool)
    if bad_rows.any() and not dropna:
        cols = [header[j] for j in used if missing[:, j].any()]
        raise fail(
            "--data",
            "have no missing values (NaN or empty cells) in the used columns",
            f"{int(bad_rows.sum())} of {len(body)} rows with missing values "
            f"(in {', '.join(cols[:6])}{', ...' if len(cols) > 6 else ''})",
            "pass --dropna to drop those rows, or fill the cells",
        )
    keep: list[bool] = (~bad_rows).tolist()
    body = [r for r, ok in zip(body, keep, strict=True) if ok]
    if len(body) < 4:
        raise fail(
            "--data",
            "keep at least 4 complete rows",
            f"{len(body)} rows" + (" after --dropna" if dropna else ""),
            "pass --data with more complete rows",
        )
    X = np.empty((len(body), len(f_idx)), dtype=np.float64)
    for c, j in enumerate(f_idx):
        for i, r in enumerate(body):
            try:
                X[i, c] = float(r[j])
            except ValueError:
                raise fail(
                    "--data",
                    "have numeric feature columns",
                    f"column '{header[j]}' holds {r[j].strip()!r} (line {i + 2})",
                    f"encode '{header[j]}' as numbers or remove it, or pass --target "
                    f"{header[j]} if it is the target",
                ) from None
    if not np.all(np.isfinite(X)):
        n_bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise fail(
            "--data",
            "have finite features",
            f"{n_bad} rows with inf",
            "remove or fill those values of --data",
        )
    y_text = [r[t_idx].strip() for r in body]
    try:
        y: np.ndarray = np.array([float(v) for v in y_text])
    except ValueError:
        y = np.array(y_text)
    g = None if g_idx is None else np.array([r[g_idx].strip() for r in body])
    return X, y, g, [header[j] for j in f_idx]


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return np.asarray(X, np.float64), np.asarray(y)


# -- flags -> compare() arguments ---------------------------------------------------------------
def _losses(text: str, task: str) -> list[str]:
    from almo.losses import LOSSES

    names = [s.strip() for s in str(text).split(",") if s.strip()]
    known = ", ".join(sorted(LOSSES))
    if not names:
        raise fail("--losses", "name at least one loss", text, "pass --losses log_loss,hinge")
    for name in names:
        if name not in LOSSES:
            raise fail(
                "--losses", f"be names among {known}", name, "pass e.g. --losses log_loss,hinge"
            )
        other = {"classification": "regression", "regression": "classification"}.get(task)
        if LOSSES[name].task == other:
            raise fail(
                "--losses",
                f"be {task} losses for this target",
                f"{name} (a {other} loss)",
                "pass --losses squared,absolute for a numeric target, or --task "
                "classification" + (" with a class target" if task == "regression" else ""),
            )
    if len(set(names)) != len(names):
        once = ",".join(dict.fromkeys(names))
        raise fail("--losses", "not repeat a loss", text, f"pass each loss once: --losses {once}")
    return names


def _models(text: str) -> list[Any]:
    out: list[Any] = []
    for item in (s.strip() for s in str(text).split(",") if s.strip()):
        if item in ("linear", "mlp"):
            out.append(item)
            continue
        sizes = item.partition(":")[2] if item.startswith("mlp:") else ""
        try:
            hidden = tuple(int(h) for h in sizes.split("x"))
        except ValueError:
            hidden = ()
        if not hidden or any(h < 1 for h in hidden):
            raise fail(
                "--model",
                "list linear, mlp or mlp:AxB (hidden layer sizes)",
                item,
                "pass e.g. --model linear,mlp:64x32",
            )
        out.append(hidden)
    if not out:
        raise fail("--model", "name at least one model", text, "pass --model linear")
    return out


def _mixture(text: str) -> Any:
    if text == "simplex":
        return "simplex"
    try:
        lower, upper = (float(v) for v in str(text).split(","))
    except ValueError:
        lower = upper = math.nan
    if not (0 <= lower <= upper <= 1):
        raise fail(
            "--mixture",
            "be 'simplex' or box bounds 'L,U' with 0 <= L <= U <= 1",
            text,
            "pass e.g. --mixture 0.05,0.6",
        )
    return (lower, upper)


def _rule(text: str) -> Any:
    from almo.weights import ExponentiatedAscent, ProjectedAscent

    name, _, lr_text = str(text).partition(":")
    if name == "auto" and not lr_text:
        return "auto"
    rules = {"projected": ProjectedAscent, "exponentiated": ExponentiatedAscent}
    lr = math.nan
    if name in rules:
        try:
            lr = float(lr_text) if lr_text else 0.1
        except ValueError:
            pass
    if not (lr > 0 and math.isfinite(lr)):
        raise fail(
            "--rule",
            "be auto, projected[:LR] or exponentiated[:LR] with LR > 0",
            text,
            "pass e.g. --rule exponentiated:0.1",
        )
    return rules[name](lr=lr)


def _penalty(text: str) -> tuple[str, float | None]:
    """(the estimators' ``penalty``, its ``beta`` or None for their default)."""
    if text in ("rademacher", "none"):
        return text, None
    try:
        beta = float(text)
    except ValueError:
        beta = math.nan
    if not (beta >= 0 and math.isfinite(beta)):
        raise fail(
            "--penalty", "be 'rademacher', 'none' or a β >= 0", text, "pass e.g. --penalty 0.1"
        )
    return ("none", None) if beta == 0 else ("rademacher", beta)


def _check_fixed(text: str, p: int) -> None:
    from almo.comparison.arms import check_fixed

    check_fixed(
        str(text),
        p,
        name="--fixed",
        fix="pass e.g. --fixed grid:3, --fixed dirichlet:8 or --fixed auto",
        fix_large="pass e.g. --fixed dirichlet:8 for many objectives",
    )


def _check_box(text: str, mixture: Any, p: int) -> None:
    """Box bounds L, U hold a mixture of p objectives only when L·p ≤ 1 ≤ U·p."""
    if not isinstance(mixture, tuple):
        return
    lower, upper = mixture
    if lower * p <= 1.0 + 1e-12 and upper * p >= 1.0 - 1e-12:
        return
    raise fail(
        "--mixture",
        f"hold a mixture of the {p} objectives: L·p ≤ 1 ≤ U·p",
        f"{text!r} ({lower:g}·{p} = {lower * p:g}, {upper:g}·{p} = {upper * p:g})",
        f"pass --mixture L,U with L ≤ {1 / p:.3g} ≤ U, e.g. --mixture "
        f"{min(lower, 0.5 / p):.2g},{max(upper, min(1.0, 2.0 / p)):.2g}, or --mixture simplex",
    )


def _groups(spec: str, y: np.ndarray, csv_groups: np.ndarray | None) -> np.ndarray | None:
    if csv_groups is not None:
        return csv_groups
    if spec == "none":
        return None
    if spec == "classes":
        return y
    raise fail(
        "--groups",
        "be 'classes' or 'none' with --dataset (a column name needs --data)",
        spec,
        "pass --groups classes",
    )


def run(args: argparse.Namespace) -> int:
    """Check the flags, load the data, compare, print the table and write the report."""
    _merge_config(args)
    check_integer("--seeds", args.seeds, "pass e.g. --seeds 3", low=1)
    check_integer("--epochs", args.epochs, "pass e.g. --epochs 10", low=1)
    check_number("--test-size", args.test_size, "pass e.g. --test-size 0.3", low=0.05, high=0.9)
    if args.alpha is not None:
        check_number("--alpha", args.alpha, "pass e.g. --alpha 0.001", low=0.0)
    models = _models(args.model)
    mixture = _mixture(args.mixture)
    rule = _rule(args.rule)
    penalty, beta = _penalty(args.penalty)
    if args.data is not None:
        csv_groups = None if args.groups in ("none", "classes") else args.groups
        X, y, g, _ = read_csv(args.data, args.target, csv_groups, args.dropna)
        dataset = args.data.name
    else:
        if args.target is not None:
            raise fail("--target", "come with --data", args.target, "pass --data FILE.csv")
        X, y = _bundled(args.dataset)
        g, dataset = None, args.dataset
    from almo.comparison import resolve_task

    task = args.task
    if task == "auto":
        task = resolve_task(y, ["squared"], "auto")  # from the target alone
    losses = _losses(args.losses, task)
    if task == "classification":
        classes = np.unique(y)
        if len(classes) < 2:
            raise fail(
                "--target",
                "hold at least 2 classes",
                f"1 class ({classes[0]!r})",
                "pass --target with another column, or data with several classes",
            )
    elif y.dtype.kind not in "fiu":
        raise fail(
            "--task",
            "be classification for a non-numeric target",
            f"regression on {y[:3].tolist()}...",
            "pass --task classification",
        )
    groups = _groups(args.groups, y, g)
    # The objectives are the losses × the groups: the flags that depend on their number are
    # checked now, before any model trains.
    p = len(losses) * (1 if groups is None else len(np.unique(groups)))
    _check_fixed(args.fixed, p)
    _check_box(args.mixture, mixture, p)
    out = check_writable_dir("--out", args.out)
    params: dict[str, Any] = {"max_epochs": int(args.epochs), "method": args.method}
    if args.alpha is not None:
        params["alpha"] = float(args.alpha)
    if beta is not None:
        params["beta"] = beta
    from almo.comparison import compare

    report = compare(
        X,
        y,
        groups,
        losses=losses,
        models=models,
        mixture_set=mixture,
        weight_rule=rule,
        penalty=penalty,
        normalize=bool(args.normalize),
        fixed=args.fixed,
        seeds=int(args.seeds),
        test_size=float(args.test_size),
        task=task,
        dataset=dataset,
        estimator_params=params,
        certify=bool(args.certify),
        verbose=not args.quiet,
    )
    paths = report.save(out, plots=bool(args.plots))
    print(
        f"almo compare — {dataset}: {len(report.objectives)} objectives, "
        f"{len(report.seeds)} seeds, {report.config['n_train']} training / "
        f"{report.config['n_test']} held-out rows ({report.seconds:.0f} s)\n"
    )
    print(report.table())
    print()
    print(f"report: {paths['json']}, {paths['csv']}, {paths['markdown']}")
    figures = [str(v) for k, v in paths.items() if k not in ("json", "csv", "markdown")]
    if figures:
        print(f"plots: {', '.join(figures)}")
    sys.stdout.flush()
    return 0
