"""The ``almo`` command line: ``almo demo``, ``almo collapse`` ...

Each subcommand lives next to its concept and registers itself here through
``add_parser(subparsers)``; this module only dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from almo import __version__
from almo.exceptions import ALMOValueError, SolverError

if TYPE_CHECKING:
    from almo.mixtures import MixtureSet


def _demo_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="worst cases and projections over the mixture sets for a few loss vectors",
        description="Show how each mixture set Λ turns a loss vector into its worst case.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random loss vectors")
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
    parser = argparse.ArgumentParser(
        prog="almo", description="Agnostic learning with multiple objectives."
    )
    parser.add_argument("--version", action="version", version=f"almo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _demo_parser(subparsers)
    from almo.sources import cli as sources_cli

    sources_cli.add_parser(subparsers)
    from almo import bound_cli

    bound_cli.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ALMOValueError, SolverError) as err:
        # A value the parser could not judge (e.g. a vocabulary size the model refuses): the
        # same one line `almo <command>: error: ...` and exit status 2 as a parser error.
        print(f"almo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
