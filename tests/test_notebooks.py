"""Every notebook in notebooks/ runs top to bottom at its quick sizes and is committed clean.

Each notebook is executed with nbclient in a fresh kernel started from this interpreter
(``sys.executable -m ipykernel_launcher``: the ``python3`` kernelspec that ships with ipykernel
names a bare ``python``, which need not be the virtual environment's), with
``ALMO_NOTEBOOK_QUICK=1`` so that it picks its small sizes, and a time limit per cell. A failing
cell is reported by its number, its source and the error it raised.

The execution runs in a child process: the kernel's messaging sockets then live and die there,
away from pytest's check for unclosed resources.

The notebooks are found by globbing, so a new notebook is tested as soon as it is added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 180
QUICK_LINE = 'QUICK = os.environ.get("ALMO_NOTEBOOK_QUICK", "0") == "1"'

# Run in the child: execute the notebook, print one JSON line saying how it went.
RUNNER = r"""
import json, sys
import nbclient, nbformat
from jupyter_client.manager import KernelManager
from nbclient.exceptions import CellExecutionError, CellTimeoutError

path, timeout = sys.argv[1], int(sys.argv[2])
nb = nbformat.read(path, as_version=4)
km = KernelManager(kernel_name="python3")
km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
client = nbclient.NotebookClient(
    nb, km=km, timeout=timeout, kernel_name="python3",
    resources={"metadata": {"path": sys.argv[3]}},
)
result = {"ok": True}
try:
    client.execute()
except (CellExecutionError, CellTimeoutError) as exc:
    result = {"ok": False, "kind": type(exc).__name__, "message": str(exc)}
    number = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            result.update(
                cell=number, source=cell.source,
                error=f"{errors[0].get('ename')}: {errors[0].get('evalue')}",
            )
            break
print("NOTEBOOK-RESULT " + json.dumps(result))
"""


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_clean(path: Path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec name must be 'python3'"
    )
    assert nb.cells, f"{path.name} has no cells"
    assert nb.cells[0].cell_type == "markdown", f"{path.name} must open with a markdown cell"
    assert nb.cells[-1].cell_type == "markdown", f"{path.name} must end with a markdown cell"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} is committed with outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and QUICK_LINE in code[0].source, (
        f"{path.name}: the first code cell must read the quick flag: {QUICK_LINE}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path):
    env = dict(os.environ, ALMO_NOTEBOOK_QUICK="1", OMP_NUM_THREADS="1")
    env.pop("MPLBACKEND", None)  # the kernel uses its inline backend
    cells = sum(c.cell_type == "code" for c in _read(path).cells)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(path), str(CELL_TIMEOUT_S), str(path.parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=CELL_TIMEOUT_S * max(cells, 1) + 60,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("NOTEBOOK-RESULT ")]
    if not lines:
        pytest.fail(
            f"{path.name}: the runner stopped (exit {proc.returncode})\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    result = json.loads(lines[-1].removeprefix("NOTEBOOK-RESULT "))
    if not result["ok"]:
        if result["kind"] == "CellTimeoutError":
            head = f"a cell ran past {CELL_TIMEOUT_S} s"
        else:
            head = f"code cell {result.get('cell', '?')} failed with {result.get('error', '?')}"
        pytest.fail(
            f"{path.name}: {head}\n--- cell source ---\n{result.get('source', '')}\n"
            f"--- details ---\n{result['message'][-4000:]}",
            pytrace=False,
        )
