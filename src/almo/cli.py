"""The ``almo`` command line: ``almo demo``, ``almo collapse``, ``almo bound`` ...

Each subcommand lives next to its concept and registers itself here through
``add_parser(subparsers)``; this module only dispatches, and holds the command line's one rule:
bad input of any subcommand ends in one line ``almo <command>: error: ...`` on stderr and exit
status 2, naming the flag to change. A library error that reaches :func:`main` is rewritten in
terms of the subcommand's flags (see :mod:`almo._cli`); no Python traceback reaches a user.

Examples
--------
>>> import contextlib, io
>>> err = io.StringIO()
>>> with contextlib.redirect_stderr(err):
...     main(["demo", "--seed", "-1"])
2
>>> print(err.getvalue().strip())
almo demo: error: `--seed` must be an integer >= 0; found -1. Fix: pass e.g. --seed 0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from almo import __version__
from almo._cli import (
    HelpFormatter,
    OneLineParser,
    flag_message,
    report,
    subparser,
)
from almo._validation import check_integer
from almo.exceptions import ALMOValueError, SolverError

if TYPE_CHECKING:
    from almo.mixtures import MixtureSet


def _demo_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="worst cases and projections over the mixture sets for a few loss vectors",
        description="Show how each mixture set Λ turns a loss vector into its worst case.",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random loss vectors (an integer >= 0)"
    )
    parser.set_defaults(func=_run_demo)


def _demo_sets() -> list[tuple[str, MixtureSet]]:
    from almo.mixtures import BoxSimplex, Polytope, PriorBall, Simplex

    prior = np.array([0.4, 0.3, 0.2, 0.1])
    return [
        ("Simplex(4)", Simplex(4)),
        ("BoxSimplex(l=0.1, u=0.5)", BoxSimplex([0.1] * 4, [0.5] * 4)),
        ("Polytope(λ1 + λ2 <= 0.6)", Polytope([[1.0, 1.0, 0.0, 0.0]], [0.6])),
        ("PriorBall(l1, r=0.3)", PriorBall(prior, 0.3, divergence="l1")),
        ("PriorBall(chi2, r=0.1)", PriorBall(prior, 0.1, divergence="chi2")),
        ("PriorBall(kl, r=0.1)", PriorBall(prior, 0.1, divergence="kl")),
    ]


def _fmt(v: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:.3f}" for x in v) + "]"


def _run_demo(args: argparse.Namespace) -> int:
    check_integer("--seed", args.seed, "pass e.g. --seed 0", low=0)
    rng = np.random.default_rng(args.seed)
    losses = [np.array([0.9, 0.5, 0.3, 0.1]), np.round(rng.gamma(2.0, 0.5, 4), 3)]
    print("almo demo — the worst mixture λ* over each set Λ, and max_λ∈Λ ⟨λ, ℓ⟩\n")
    for ell in losses:
        print(f"losses ℓ = {_fmt(ell)}   uniform average = {ell.mean():.4f}")
        print(f"  {'mixture set':<28}{'worst case':>11}   λ*")
        for name, mset in _demo_sets():
            wc = mset.worst_case(ell)
            print(f"  {name:<28}{wc.value:>11.4f}   {_fmt(wc.weights)}")
        print()
    v = np.array([0.8, 0.6, -0.2, 0.1])
    print(f"Euclidean projection of v = {_fmt(v)}:")
    for name, mset in _demo_sets():
        print(f"  {name:<28}{_fmt(np.asarray(mset.project(v)))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="almo",
        description="Agnostic learning with multiple objectives.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"almo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _demo_parser(subparsers)
    from almo.sources import cli as sources_cli

    sources_cli.add_parser(subparsers)
    from almo import bound_cli

    bound_cli.add_parser(subparsers)
    from almo.search import cli as search_cli

    search_cli.add_parser(subparsers)
    from almo import compare_cli

    compare_cli.add_parser(subparsers)
    # Every subcommand, whoever registered it, shows its defaults in --help.
    for sub in subparsers.choices.values():
        sub.formatter_class = HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``almo`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    0 on success, 2 on bad input (one line on stderr), 1 on an internal error (one line too,
    the traceback only with the environment variable ``ALMO_TRACEBACK=1``), 130 on Ctrl-C.
    """
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    command = getattr(args, "command", None)
    sub = subparser(parser, command)
    prog = sub.prog
    if extras:
        # Reported by the subcommand's parser: `almo demo: error: ...`, not `almo: error: ...`.
        sub.error(f"unrecognized arguments: {' '.join(extras)}")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ALMOValueError, SolverError) as err:
        # A value the parser could not judge (e.g. a vocabulary size the model refuses): the
        # same one line and exit status 2 as a parser error, in terms of the flags.
        return report(prog, flag_message(str(err), sub, getattr(args, "flag_aliases", None)))
    except MemoryError:
        return report(
            prog, "out of memory; Fix: lower the sizes (samples, replicates, vocabulary...)"
        )
    except OSError as err:
        where = f" {err.filename!r}" if err.filename else ""
        return report(prog, f"cannot read or write{where}: {err.strerror or err}")
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: still one line, the traceback on request
        if os.environ.get("ALMO_TRACEBACK"):
            raise
        return report(
            prog,
            f"internal error ({type(err).__name__}: {err}); please report it with the command "
            "line (ALMO_TRACEBACK=1 shows the traceback)",
            status=1,
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
