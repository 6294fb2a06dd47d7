"""The study objective pins torch's CPU threads per worker process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from paretune.studies import TrainingObjective


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_are_refused(threads: object) -> None:
    with pytest.raises(ValueError, match="'threads' parameter of TrainingObjective"):
        TrainingObjective(task="synthetic", threads=threads)  # type: ignore[arg-type]


@pytest.mark.parametrize(("threads", "expected"), [(1, "1"), (2, "2")])
def test_worker_threads_are_set_when_the_task_is_built(threads: int, expected: str) -> None:
    code = (
        "import torch\n"
        "from paretune.studies import TrainingObjective\n"
        f"o = TrainingObjective(task='synthetic', threads={threads})\n"
        "o.task()\n"
        "print(torch.get_num_threads())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert out == expected


def test_the_outcome_carries_every_measurement_a_train_result_has() -> None:
    """search's MEASUREMENTS / COSTS are the one list: trainers' cost names are among them."""
    from paretune.search import COSTS, MEASUREMENTS, OutcomeState
    from paretune.studies import trial_outcome
    from paretune.trainers import COST_NAMES, Strategy, TrainResult, TrainStatus

    assert set(COST_NAMES) == set(COSTS)
    result = TrainResult(
        status=TrainStatus.DIVERGED,
        reason="loss is nan at epoch 1",
        val_accuracy=0.1,
        test_accuracy=0.1,
        params=10,
        nonzero_params=9,
        sparsity=0.1,
        size_bits=288.0,
        bitops=5.0,
        latency_ms=0.2,
        latency_ms_spread=0.01,
        train_seconds=1.5,
        epochs=1,
        curve=({"val_accuracy": 0.1},),
        strategy=Strategy(),
    )
    outcome = trial_outcome(result)
    assert outcome.state is OutcomeState.FAIL and outcome.reason == "loss is nan at epoch 1"
    assert outcome.to_dict() == result.to_dict()
    assert set(outcome.measurements) == set(MEASUREMENTS)
