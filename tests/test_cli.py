"""The command line: `almo demo` prints worst cases that match the mixture sets."""

import subprocess
import sys

import numpy as np
import pytest

from almo import BoxSimplex
from almo.cli import main


def test_demo_prints_worst_cases(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    # the first loss vector is [0.9, 0.5, 0.3, 0.1]: the simplex's worst case is its max and the
    # box [0.1, 0.5]^4 fills the largest losses first: 0.5*0.9 + 0.3*0.5 + 0.1*0.3 + 0.1*0.1
    assert "Simplex(4)                       0.9000   [1.000, 0.000, 0.000, 0.000]" in out
    box = BoxSimplex([0.1] * 4, [0.5] * 4).worst_case(np.array([0.9, 0.5, 0.3, 0.1]))
    assert box.value == pytest.approx(0.64, abs=1e-12)
    assert f"{box.value:>11.4f}" in out
    assert out.count("PriorBall") >= 6


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "almo.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.startswith("almo ")
