"""The study objective pins torch's CPU threads per worker process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from paretune.studies._objective import TrainingObjective


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_are_refused(threads: object) -> None:
    with pytest.raises(ValueError, match="'threads' parameter of TrainingObjective"):
        TrainingObjective(task="synthetic", threads=threads)  # type: ignore[arg-type]


@pytest.mark.parametrize(("threads", "expected"), [(1, "1"), (2, "2")])
def test_worker_threads_are_set_when_the_task_is_built(threads: int, expected: str) -> None:
    code = (
        "import torch\n"
        "from paretune.studies._objective import TrainingObjective\n"
        f"o = TrainingObjective(task='synthetic', threads={threads})\n"
        "o.task()\n"
        "print(torch.get_num_threads())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert out == expected
