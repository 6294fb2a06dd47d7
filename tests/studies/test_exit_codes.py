"""Exit codes that tell the truth: what would fail every trial is refused before the first
one (exit 2, naming the key and value), and a run that stops on failed trials exits 1 and
says why, once per distinct reason. Run on the installed command in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

FAILING_TASK = """
import dataclasses

import torch
from torch import nn
from paretune.trainers import get_task


class Broken(nn.Linear):
    def forward(self, x):
        if torch.is_grad_enabled():  # the check before the first trial passes; training fails
            raise RuntimeError("the forward pass fails on purpose")
        return super().forward(x)


def broken(n_samples=60):
    task = get_task("synthetic", options={"n_samples": n_samples})
    return dataclasses.replace(task, build_model=lambda *args, **kwargs: Broken(20, 3))
"""


def paretune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def _study(folder: Path, task: str, space: str = "lr = 0.01\nepochs = 1\n") -> None:
    (folder / "s.toml").write_text(
        f'name = "s"\ntask = "{task}"\nsampler = "random"\nn_trials = 3\n[space]\n{space}'
    )


def test_cuda_without_cuda_is_refused_before_the_first_trial(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is usable here")
    _study(tmp_path, "synthetic")
    done = paretune("run", "s.toml", "--device", "cuda", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        'paretune: error: --device: is not usable on this machine (got "cuda"): '
    ), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()  # no study was created, no trial recorded


def test_a_range_that_can_only_overflow_is_refused_with_its_limit(tmp_path: Path) -> None:
    _study(tmp_path, "synthetic", "lr = { low = 1e-3, high = 1e308, log = true }\nepochs = 1\n")
    done = paretune("run", "s.toml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "s.toml: space.lr.high must be a number between" in done.stderr
    assert "3.4028234663852886e+38" in done.stderr and "(got 1e+308)" in done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_ten_failed_trials_in_a_row_exit_1_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "failing_tasks.py").write_text(FAILING_TASK)
    _study(tmp_path, "failing_tasks:broken")
    done = paretune("run", "s.toml", "--quiet", cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert (
        "paretune: error: the run stopped: the last 10 trials failed. Reasons: RuntimeError: "
        "the forward pass fails on purpose (10 trials)"
    ) in done.stderr, done.stderr
