"""``almo collapse``: simulate iterative retraining on contaminated data (placeholder)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``collapse``."""
    parser = subparsers.add_parser("collapse", help="simulate retraining on contaminated data")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``almo collapse``."""
    return 0
