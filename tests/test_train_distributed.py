"""Two gloo ranks hold the same λ and match one process reading the same global batches."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

SCRIPT = Path(__file__).parent / "train_scripts" / "ddp_run.py"


def _reference_module():
    spec = importlib.util.spec_from_file_location("ddp_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)
def test_two_gloo_ranks_match_a_single_process(tmp_path):
    out = tmp_path / "rank"
    env = {
        **os.environ,
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), str(out)],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    module = _reference_module()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = {m: module.make_run(m, None, 1) for m in module.METHODS}
    finally:
        torch.set_num_threads(before)
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    ranks = [torch.load(f"{out}.{r}", weights_only=True) for r in range(2)]
    for method in module.METHODS:
        r0, r1, ref = ranks[0][method], ranks[1][method], reference[method]
        for key in ("weights", "average", "step_weights", "eval"):  # one λ on every rank
            assert torch.equal(r0[key], r1[key]), (method, key)
        for a, b in zip(r0["params"], r1["params"], strict=True):
            assert torch.equal(a, b), method
        for key in ("weights", "average", "step_weights", "eval"):
            torch.testing.assert_close(r0[key], ref[key], rtol=1e-5, atol=1e-5)
        for a, b in zip(r0["params"], ref["params"], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
