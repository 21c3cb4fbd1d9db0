"""`almo demo` against independent references (scipy LPs, closed-form χ² and KL balls), help
texts, and bad arguments: one `almo <cmd>: error: ...` line and exit status 2."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq, linprog

from almo.cli import build_parser, main

PRIOR = np.array([0.4, 0.3, 0.2, 0.1])
ROW = re.compile(r"^  (\S.*?)\s+(-?\d+\.\d{4})   \[([^\]]*)\]$")
PROJ = re.compile(r"^  (\S.*?)\s+\[([^\]]*)\]$")


def _vec(text):
    return np.array([float(v) for v in text.split(",")])


def _lp_max(ell, a_ub=None, b_ub=None, bounds=(0.0, 1.0), extra=0):
    """max ⟨λ, ℓ⟩ over the simplex with extra constraints, by scipy's LP solver."""
    p = len(ell)
    c = np.concatenate([-ell, np.zeros(extra)])
    a_eq = np.concatenate([np.ones(p), np.zeros(extra)])[None]
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    assert res.status == 0
    return -res.fun


def _l1_ball(ell, r):
    # variables λ (4) and t (4) with |λ - prior| <= t, Σ t <= r
    eye = np.eye(4)
    a_ub = np.block([[eye, -eye], [-eye, -eye], [np.zeros((1, 4)), np.ones((1, 4))]])
    b_ub = np.concatenate([PRIOR, -PRIOR, [r]])
    return _lp_max(ell, a_ub, b_ub, bounds=(0.0, None), extra=4)


def _chi2_ball(ell, r):
    mean = PRIOR @ ell
    var = PRIOR @ (ell - mean) ** 2
    lam = PRIOR * (1 + np.sqrt(r / var) * (ell - mean))
    assert lam.min() >= 0  # the closed form holds when the ball stays inside the simplex
    return mean + np.sqrt(r * var)


def _kl_ball(ell, r):
    def lam(eta):
        w = PRIOR * np.exp(eta * (ell - ell.max()))
        return w / w.sum()

    eta = brentq(lambda e: np.sum(lam(e) * np.log(lam(e) / PRIOR)) - r, 1e-9, 50.0)
    return lam(eta) @ ell


REFERENCES = {
    "Simplex(4)": lambda ell: ell.max(),
    "BoxSimplex(l=0.1, u=0.5)": lambda ell: _lp_max(ell, bounds=(0.1, 0.5)),
    "Polytope(λ1 + λ2 <= 0.6)": lambda ell: _lp_max(ell, [[1.0, 1.0, 0.0, 0.0]], [0.6]),
    "PriorBall(l1, r=0.3)": lambda ell: _l1_ball(ell, 0.3),
    "PriorBall(chi2, r=0.1)": lambda ell: _chi2_ball(ell, 0.1),
    "PriorBall(kl, r=0.1)": lambda ell: _kl_ball(ell, 0.1),
}


def _demo(capsys, seed):
    assert main(["demo", "--seed", str(seed)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out.splitlines()


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_demo_worst_cases_match_independent_references(capsys, seed):
    lines = _demo(capsys, seed)
    blocks, current = [], None
    for line in lines:
        if line.startswith("losses ℓ = "):
            current = {"ell": _vec(line.split("[")[1].split("]")[0]), "rows": {}}
            mean = float(line.rsplit("=", 1)[1])
            assert mean == pytest.approx(current["ell"].mean(), abs=5e-5)
            blocks.append(current)
        elif line.startswith("Euclidean"):
            current = None
        elif current is not None and (m := ROW.match(line)):
            current["rows"][m.group(1)] = (float(m.group(2)), _vec(m.group(3)))
    assert len(blocks) == 2
    np.testing.assert_array_equal(blocks[0]["ell"], [0.9, 0.5, 0.3, 0.1])
    # the second vector is the seeded gamma draw the demo documents (rounded to 3 decimals)
    expected = np.round(np.random.default_rng(seed).gamma(2.0, 0.5, 4), 3)
    np.testing.assert_allclose(blocks[1]["ell"], expected, rtol=0, atol=5e-4)
    for block in blocks:
        ell = block["ell"]
        assert set(block["rows"]) == set(REFERENCES)
        for name, (value, lam) in block["rows"].items():
            assert value == pytest.approx(REFERENCES[name](ell), abs=2e-4), name
            # λ* is printed to 3 decimals: it sums to 1 and attains the printed value
            assert lam.sum() == pytest.approx(1.0, abs=2.5e-3), name
            assert lam @ ell == pytest.approx(value, abs=5e-4 * ell.sum() + 1e-4), name
            assert value >= ell @ PRIOR - 1e-4 or not name.startswith("PriorBall")
            assert value <= ell.max() + 1e-4


def test_demo_projections_are_feasible_and_the_simplex_one_is_exact(capsys):
    lines = _demo(capsys, 0)
    start = next(i for i, s in enumerate(lines) if s.startswith("Euclidean projection"))
    proj = {m.group(1): _vec(m.group(2)) for s in lines[start + 1 :] if (m := PROJ.match(s))}
    assert set(proj) == set(REFERENCES)
    for name, lam in proj.items():
        assert lam.sum() == pytest.approx(1.0, abs=2.5e-3), name
        assert lam.min() >= 0.0, name
    # by hand: v = (0.8, 0.6, -0.2, 0.1); the simplex threshold is τ = (0.8 + 0.6 - 1) / 2 = 0.2
    np.testing.assert_allclose(proj["Simplex(4)"], [0.6, 0.4, 0.0, 0.0], atol=5e-4)
    # the box [0.1, 0.5]: clip(v - τ) with τ = 0.3 sums to 1
    np.testing.assert_allclose(proj["BoxSimplex(l=0.1, u=0.5)"], [0.5, 0.3, 0.1, 0.1], atol=5e-4)
    assert proj["Polytope(λ1 + λ2 <= 0.6)"][:2].sum() <= 0.6 + 1e-3
    assert np.abs(proj["PriorBall(l1, r=0.3)"] - PRIOR).sum() <= 0.3 + 2e-3
    chi2 = proj["PriorBall(chi2, r=0.1)"]
    assert np.sum((chi2 - PRIOR) ** 2 / PRIOR) <= 0.1 + 5e-3


def test_demo_is_deterministic_per_seed(capsys):
    a = _demo(capsys, 7)
    b = _demo(capsys, 7)
    c = _demo(capsys, 8)
    assert a == b and a != c


# -- help and errors ---------------------------------------------------------------------------
def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: almo ")
    assert "demo" in out and "collapse" in out and "--version" in out


@pytest.mark.parametrize("cmd", ["demo", "collapse"])
def test_subcommand_help(capsys, cmd):
    with pytest.raises(SystemExit) as info:
        main([cmd, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: almo {cmd} ")
    assert "--seed" in out


def test_parser_defaults():
    args = build_parser().parse_args(["demo"])
    assert args.command == "demo" and args.seed == 0
    assert build_parser().parse_args([]).command is None


@pytest.mark.parametrize(
    ("argv", "prefix", "needle"),
    [
        (["demo", "--seed", "x"], "almo demo: error: ", "argument --seed: invalid int value: 'x'"),
        (["collapse", "--n", "abc"], "almo collapse: error: ", "argument --n: invalid int"),
        (["collapse", "--alpha", "0,abc"], "almo collapse: error: ", "argument --alpha"),
        (["collapse", "--grid-n", "1,2.5"], "almo collapse: error: ", "argument --grid-n"),
        (["collapse", "--model", "nope"], "almo collapse: error: ", "argument --model"),
        (["collapse", "--policy", "nope"], "almo collapse: error: ", "argument --policy"),
        (["bogus"], "almo: error: ", "invalid choice: 'bogus'"),
        # unknown options are reported by the subcommand, not by the top-level parser
        (["demo", "--bogus"], "almo demo: error: ", "unrecognized arguments: --bogus"),
        (["collapse", "--alpha", "0.1", "extra"], "almo collapse: error: ", "extra"),
        (["collapse", "--alpha", ""], "almo collapse: error: ", "argument --alpha"),
    ],
)
def test_bad_arguments_give_one_error_line_and_status_2(capsys, argv, prefix, needle):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    # One line, without argparse's usage block.
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(prefix) and needle in captured.err


def _console_script():
    script = Path(sys.executable).with_name("almo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "almo.cli"]


def test_console_script_bad_argument_exit_status_and_stderr():
    proc = subprocess.run(
        [*_console_script(), "demo", "--seed", "1.5"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "almo demo: error: argument --seed: invalid int value: '1.5'\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["collapse", "--vocab", "-3", "--generations", "2", "--quiet"], "`--vocab` must be"),
        (["collapse", "--n", "0", "--generations", "2", "--quiet"], "`--n` must"),
        (["demo", "--seed", "-1"], "`--seed` must be an integer >= 0"),
    ],
)
def test_values_refused_by_the_library_give_one_error_line_and_status_2(capsys, argv, needle):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"almo {argv[0]}: error: ")
    assert needle in lines[0] and "Traceback" not in captured.err


def test_python_dash_m_almo_returns_the_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "almo", "collapse", "--vocab", "-3", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "almo collapse: error: `--vocab` must be an integer >= 1; found -3. "
        "Fix: pass e.g. --vocab 1000"
    ]
