"""A zoo of bad input, tried as a hostile user would: the command line and the sources library.

Command line: every bad argument list of every subcommand must end in exactly one line
``almo <command>: error: ...`` on stderr, exit status 2, no traceback, and the message must name
the flag to change (``--top-k``), never the Python argument behind it (``top_k``). The table
runs in-process through :func:`almo.cli.main`; two entries run as ``python -m almo`` too. Every
subcommand registered on the parser, including ones added later, also gets the generic checks:
an unknown flag, a non-number for each numeric flag, and ``--help`` with every flag's default.

Library: bad values given to the public functions of :mod:`almo.sources` raise
:class:`~almo.exceptions.ALMOValueError` with the argument named in backquotes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from almo.cli import build_parser, main
from almo.exceptions import ALMOValueError
from almo.sources import (
    CategoricalModel,
    GaussianModel,
    NGramModel,
    RidgeModel,
    SoftmaxBigramModel,
    categorical_metrics,
    constant,
    geometric,
    power_law,
    random_markov,
    risk_curve,
    simulate,
    stable_level,
    tempered,
    zipf,
)

# A file where a folder is expected, and a folder below it: neither can be written.
A_FILE = Path(__file__)
UNDER_A_FILE = A_FILE / "out"

# Short runs, so that an entry the checks let through would fail on its own assertions fast.
FAST = ["--generations", "2", "--replicates", "2", "--no-grid", "--quiet"]

# (argument list, flag the message must name)
ZOO: list[tuple[list[str], str]] = [
    # -- almo collapse: the values of the issue
    (["collapse", "--alpha", "1.5"], "--alpha"),
    (["collapse", "--n", "0"], "--n"),
    (["collapse", "--generations", "-1"], "--generations"),
    (["collapse", "--vocab", "0"], "--vocab"),
    (["collapse", "--replicates", "0"], "--replicates"),
    (["collapse", "--temperature", "-1"], "--temperature"),
    (["collapse", "--top-k", "0"], "--top-k"),
    (["collapse", "--zipf", "nan"], "--zipf"),
    (["collapse", "--grid-n", "0"], "--grid-n"),
    (["collapse", "--out", str(UNDER_A_FILE)], "--out"),
    (["collapse", "--out", str(A_FILE)], "--out"),
    (["collapse", "--alpha", ""], "--alpha"),
    # -- almo collapse: more of each kind
    (["collapse", "--alpha", ","], "--alpha"),
    (["collapse", "--alpha", "nan"], "--alpha"),
    (["collapse", "--alpha", "0.1,-0.1"], "--alpha"),
    (["collapse", "--alpha", "inf"], "--alpha"),
    (["collapse", "--alpha", "0,abc"], "--alpha"),
    (["collapse", "--alpha"], "--alpha"),
    (["collapse", "--grid-alpha", "2"], "--grid-alpha"),
    (["collapse", "--grid-alpha", ""], "--grid-alpha"),
    (["collapse", "--grid-n", "10,-5"], "--grid-n"),
    (["collapse", "--grid-n", "1,2.5"], "--grid-n"),
    (["collapse", "--grid-replicates", "0"], "--grid-replicates"),
    (["collapse", "--n", "-5"], "--n"),
    (["collapse", "--n", "1e3"], "--n"),
    (["collapse", "--n", ""], "--n"),
    (["collapse", "--vocab", "-3"], "--vocab"),
    (["collapse", "--vocab", "ten"], "--vocab"),
    (["collapse", "--zipf", "-1"], "--zipf"),
    (["collapse", "--zipf", "inf"], "--zipf"),
    (["collapse", "--temperature", "0"], "--temperature"),
    (["collapse", "--temperature", "nan"], "--temperature"),
    (["collapse", "--temperature", "inf"], "--temperature"),
    (["collapse", "--top-k", "-2"], "--top-k"),
    (["collapse", "--top-k", "1.5"], "--top-k"),
    (["collapse", "--model", "gaussian", "--top-k", "3"], "--top-k"),
    (["collapse", "--model", "nope"], "--model"),
    (["collapse", "--model", "ngram", "--order", "1"], "--order"),
    (["collapse", "--model", "ngram", "--order", "9"], "--order"),
    (["collapse", "--model", "ngram", "--vocab", "100000"], "--vocab"),
    (["collapse", "--model", "softmax", "--order", "3"], "--order"),
    (["collapse", "--model", "ngram", "--length", "0"], "--length"),
    (["collapse", "--model", "gaussian", "--dim", "0"], "--dim"),
    (["collapse", "--model", "ridge", "--dim", "-1"], "--dim"),
    (["collapse", "--alpha", "0.5", "--alpha-exponent", "1"], "--alpha-exponent"),
    (["collapse", "--alpha-exponent", "nan"], "--alpha-exponent"),
    (["collapse", "--n", "2", "--n-exponent", "-5"], "--n-exponent"),
    (["collapse", "--n-exponent", "inf"], "--n-exponent"),
    (["collapse", "--policy", "keep"], "--policy"),
    (["collapse", "--compare-policy", "keep"], "--compare-policy"),
    (["collapse", "--seed", "-1"], "--seed"),
    (["collapse", "--seed", "0.5"], "--seed"),
    (["collapse", "--alpha-min", "1.5"], "--alpha-min"),
    (["collapse", "--alpha-min", "nan"], "--alpha-min"),
    (["collapse", "--almo-generations", "0"], "--almo-generations"),
    (["collapse", "--almo-replicates", "0"], "--almo-replicates"),
    (["collapse", "--bogus"], "--bogus"),
    (["collapse", "--replicates", "3", "extra"], "extra"),
    # -- almo demo
    (["demo", "--bogus"], "--bogus"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--seed", "x"], "--seed"),
    (["demo", "--seed", "1.5"], "--seed"),
    (["demo", "--seed"], "--seed"),
    # -- almo bound
    (["bound"], "--dataset"),
    (["bound", "--dataset", "iris", "--load", "x.json"], "--load"),
    (["bound", "--dataset", "mnist"], "--dataset"),
    (["bound", "--dataset", "iris", "--beta", "-1"], "--beta"),
    (["bound", "--dataset", "iris", "--beta", "nan"], "--beta"),
    (["bound", "--dataset", "iris", "--beta", "lots"], "--beta"),
    (["bound", "--dataset", "iris", "--groups", "rows"], "--groups"),
    (["bound", "--dataset", "iris", "--groups", "feature:9"], "--groups"),
    (["bound", "--dataset", "iris", "--groups", "feature:-1"], "--groups"),
    (["bound", "--dataset", "iris", "--groups", "feature:x"], "--groups"),
    (["bound", "--dataset", "iris", "--losses", "foo"], "--losses"),
    (["bound", "--dataset", "iris", "--losses", ","], "--losses"),
    (["bound", "--dataset", "iris", "--losses", "log_loss,log_loss"], "--losses"),
    (["bound", "--dataset", "iris", "--l2", "-1"], "--l2"),
    (["bound", "--dataset", "iris", "--l2", "nan"], "--l2"),
    (["bound", "--dataset", "iris", "--delta", "0"], "--delta"),
    (["bound", "--dataset", "iris", "--delta", "2"], "--delta"),
    (["bound", "--dataset", "iris", "--delta", "nan"], "--delta"),
    (["bound", "--dataset", "iris", "--epsilon", "0"], "--epsilon"),
    (["bound", "--dataset", "iris", "--epsilon", "-1"], "--epsilon"),
    (["bound", "--dataset", "iris", "--test-size", "0"], "--test-size"),
    (["bound", "--dataset", "iris", "--test-size", "1.5"], "--test-size"),
    (["bound", "--dataset", "iris", "--test-size", "0.999"], "--test-size"),
    (["bound", "--dataset", "iris", "--test-size", "0.001"], "--test-size"),
    (["bound", "--dataset", "iris", "--seed", "-1"], "--seed"),
    (["bound", "--dataset", "iris", "--save", str(UNDER_A_FILE)], "--save"),
    (["bound", "--dataset", "iris", "--save", str(A_FILE.parent)], "--save"),
    (["bound", "--load", "/nonexistent/file.json"], "--load"),
    (["bound", "--load", str(A_FILE)], "--load"),
    (["bound", "--load", str(A_FILE.parent)], "--load"),
    # -- no subcommand, an unknown one
    (["bogus"], "bogus"),
    (["--bogus"], "--bogus"),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors exit through parser.error
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _command(argv: list[str]) -> str:
    commands = set(_subcommands())
    return f"almo {argv[0]}" if argv and argv[0] in commands else "almo"


def test_the_zoo_is_large_and_covers_every_subcommand():
    assert len(ZOO) >= 50
    covered = {argv[0] for argv, _ in ZOO}
    assert {"demo", "collapse", "bound"} <= covered


@pytest.mark.parametrize(("argv", "flag"), ZOO, ids=[" ".join(a) or "<empty>" for a, _ in ZOO])
def test_bad_arguments_end_in_one_line_naming_the_flag(argv, flag, capsys, tmp_path):
    args = argv
    if argv[:1] == ["collapse"]:  # the zoo's own flags come last and win
        args = [argv[0], *FAST, "--out", str(tmp_path), *argv[1:]]
    status, out, err = _run(args, capsys)
    assert status == 2, (status, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith(f"{_command(argv)}: error: "), lines[0]
    assert flag in lines[0], lines[0]


def test_messages_name_flags_not_python_arguments(capsys):
    # The library's names (`top_k`, `exponent`, `vocab`) must not reach the user.
    for argv, python_name in [
        (["collapse", "--top-k", "0", *FAST], "`top_k`"),
        (["collapse", "--zipf", "nan", *FAST], "`exponent`"),
        (["collapse", "--vocab", "0", *FAST], "`vocab`"),
        (["collapse", "--grid-replicates", "0", *FAST], "`replicates`"),
    ]:
        _, _, err = _run(argv, capsys)
        assert python_name not in err and "=" not in err.split("Fix:")[-1], err


def test_top_k_names_the_vocabulary_of_the_run(capsys):
    _, _, err = _run(["collapse", "--vocab", "40", "--top-k", "0", *FAST], capsys)
    assert "keep all 40 tokens" in err and "--top-k 20" in err, err


@pytest.mark.parametrize(
    ("argv", "first_line"),
    [
        (["demo", "--bogus"], "almo demo: error: unrecognized arguments: --bogus"),
        (["collapse", "--zipf", "nan", "--quiet"], "almo collapse: error: `--zipf` must be"),
    ],
)
def test_python_dash_m_almo_gives_the_same_line(argv, first_line):
    proc = subprocess.run(
        [sys.executable, "-m", "almo", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(first_line)


# --------------------------------------------------------------------------- every subcommand


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in sub._actions if a.option_strings and a.dest not in ("help", "version")]


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_subcommand_reports_an_unknown_flag_itself(command, capsys):
    status, _, err = _run([command, "--no-such-flag"], capsys)
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"almo {command}: error: "), err
    # argparse checks required flags first: then the message names those instead.
    assert "--no-such-flag" in err or "required" in err, err


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_numeric_flag_refuses_text_in_one_line(command, capsys):
    numeric = [a for a in _options(_subcommands()[command]) if a.type in (int, float)]
    for action in numeric:
        flag = action.option_strings[-1]
        status, _, err = _run([command, flag, "not-a-number"], capsys)
        assert status == 2 and len(err.splitlines()) == 1, (flag, err)
        assert err.startswith(f"almo {command}: error: ") and flag in err, err


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_help_shows_every_flag_with_its_help_and_default(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in _options(_subcommands()[command]):
        flag = action.option_strings[-1]
        assert action.help, f"{command} {flag} has no help text"
        assert flag in text
        if action.default is None:
            continue  # nothing to show: the help text says what happens without the flag
        default = " ".join(str(action.default).split())
        assert f"(default: {default})" in text, f"{command} {flag}: no default shown"


# --------------------------------------------------------------------------- library zoo

P = zipf(5, 1.0)
RUN = dict(alpha=0.1, n=5, generations=1)

LIBRARY: list[tuple[object, str]] = [
    (lambda: zipf(5, float("nan")), "exponent"),
    (lambda: zipf(5, "1.1"), "exponent"),
    (lambda: zipf(np.inf), "vocab"),
    (lambda: zipf(True), "vocab"),
    (lambda: CategoricalModel(3.5), "vocab"),
    (lambda: CategoricalModel(3, smoothing=None), "smoothing"),
    (lambda: CategoricalModel(3, smoothing=np.nan), "smoothing"),
    (lambda: CategoricalModel(3, kl_smoothing=0.0), "kl_smoothing"),
    (lambda: CategoricalModel(3, which=5), "which"),
    (lambda: CategoricalModel(3).truth_params([[0.5, 0.5, 0.0]]), "truth"),
    (lambda: NGramModel(3, order=2.5), "order"),
    (lambda: NGramModel(3, smoothing="x"), "smoothing"),
    (lambda: NGramModel(3, kl_smoothing=np.inf), "kl_smoothing"),
    (lambda: SoftmaxBigramModel(3, batch=0), "batch"),
    (lambda: SoftmaxBigramModel(3, lr=np.nan), "lr"),
    (lambda: GaussianModel(2).truth_params((np.zeros(2), np.full((2, 2), np.nan))), "truth"),
    (lambda: GaussianModel(1, ddof=True), "ddof"),
    (lambda: RidgeModel(2, ridge="a"), "ridge"),
    (lambda: RidgeModel(2).truth_params((np.ones(2), np.nan)), "noise variance"),
    (lambda: RidgeModel(2).truth_params((np.ones(2),)), "truth"),
    (lambda: random_markov(3, concentration=0.0), "concentration"),
    (lambda: random_markov(3, concentration=np.inf), "concentration"),
    (lambda: random_markov(3, seed=1.5), "seed"),
    (lambda: random_markov(None), "vocab"),
    (lambda: tempered(P, -np.inf), "temperature"),
    (lambda: tempered(P, 1.0, None or -1), "top_k"),
    (lambda: constant(None), "value"),
    (lambda: power_law(1.0, "x"), "exponent"),
    (lambda: power_law(1.0, 1.0, offset=np.nan), "offset"),
    (lambda: geometric(None, 0.5), "scale"),
    (lambda: simulate(CategoricalModel(5), P, alpha=np.nan, n=5, generations=1), "alpha"),
    (lambda: simulate(CategoricalModel(5), P, alpha=0.1, n=np.inf, generations=1), "n"),
    (lambda: simulate(CategoricalModel(5), P, alpha=0.1, n=5, generations=1.5), "generations"),
    (lambda: simulate(CategoricalModel(5), P, replicates="3", **RUN), "replicates"),
    (lambda: simulate(CategoricalModel(5), P, temperature="hot", **RUN), "temperature"),
    (lambda: simulate(CategoricalModel(5), P, top_k=2.5, **RUN), "top_k"),
    (lambda: simulate(CategoricalModel(5), P, seed=None, **RUN), "seed"),
    (lambda: simulate(CategoricalModel(5), np.full(5, np.nan), **RUN), "truth"),
    (lambda: risk_curve(np.array([0.5, 0.2]), 0.1, 10, 3), "p_star"),
    (lambda: risk_curve(2.0, 0.1, 10, 3), "p_star"),
    (lambda: stable_level("x", 0.1, 10), "p_star"),
    (lambda: categorical_metrics(P[None], P, ["kl"], kl_smoothing=-1e-3), "kl_smoothing"),
]


def test_the_library_zoo_is_large():
    assert len(LIBRARY) >= 20


@pytest.mark.parametrize("index", range(len(LIBRARY)))
def test_bad_library_input_raises_almo_value_error_naming_the_argument(index):
    call, argument = LIBRARY[index]
    with pytest.raises(ALMOValueError) as info:
        call()
    message = str(info.value)
    assert re.match(rf"`{re.escape(argument)}` must ", message), message
    assert "; found " in message and ". Fix: " in message, message
