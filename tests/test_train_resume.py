"""A run killed with SIGKILL and resumed from its last checkpoint ends bitwise identical."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from almo.train.checkpoint import load_checkpoint

SCRIPT = Path(__file__).parent / "train_scripts" / "resumable_run.py"


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_here(*args: str) -> None:
    """The uninterrupted reference, in this process (one thread, like the subprocesses)."""
    spec = importlib.util.spec_from_file_location("resumable_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    try:
        module.main(list(args))
    finally:
        torch.set_num_threads(threads)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> None:
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path):
    ref_out, out = tmp_path / "ref.pt", tmp_path / "resumed.pt"
    ckpt, marker = tmp_path / "run.ckpt", tmp_path / "hung"
    # Step 17: mid-epoch (12 steps per epoch), two steps after the checkpoint of step 15, so
    # the resumed run must replay the shuffled order, skip consumed batches and redo steps.
    victim = _start(
        str(tmp_path / "unused.pt"), str(ckpt), "--hang-at", "17", "--marker", str(marker)
    )
    _run_here(str(ref_out), str(tmp_path / "ref.ckpt"))  # while the victim starts up
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the victim run never reached step 17"
        time.sleep(0.05)
    assert ckpt.exists()
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert load_checkpoint(ckpt)["run"]["step"] == 15

    _finish(_start(str(out), str(ckpt), "--resume"))
    a, b = torch.load(ref_out, weights_only=True), torch.load(out, weights_only=True)
    assert a["step"] == b["step"] == 36
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for key in ("weights", "average", "step_weights", "step_losses", "worst"):
        assert torch.equal(a[key], b[key]), key
