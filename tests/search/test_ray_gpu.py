"""Fractional GPUs on Ray: four trials share one GPU, each capped at a quarter of its memory."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import StudySpec, run_ray
from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace
from paretune.studies import TrainingObjective

ray = pytest.importorskip("ray", reason="ray is not installed")


class ProbedObjective:
    """The real training objective, plus a marker file with the GPU share each call saw."""

    def __init__(self, *, marker_dir: str, greedy: bool = False) -> None:
        self.inner = TrainingObjective(task="digits-mlp", device="cuda")
        self.marker_dir = marker_dir
        self.greedy = greedy

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Any,
        checkpoint_dir: str | None = None,
        gpu_memory_fraction: float | None = None,
    ) -> dict[str, Any]:
        import torch

        result: dict[str, Any] = self.inner(
            params, report, checkpoint_dir=checkpoint_dir, gpu_memory_fraction=gpu_memory_fraction
        )
        cap = torch.cuda.memory.get_per_process_memory_fraction(0)
        marker = Path(self.marker_dir, f"{os.getpid()}-{params['lr']}.json")
        marker.write_text(
            json.dumps({"cap": cap, "visible": os.environ.get("CUDA_VISIBLE_DEVICES")})
        )
        if self.greedy:  # half the GPU, twice this trial's share
            total = torch.cuda.get_device_properties(0).total_memory
            torch.empty(total // 2, dtype=torch.uint8, device="cuda")
        return result


def probed(marker_dir: str, greedy: bool = False) -> ProbedObjective:
    return ProbedObjective(marker_dir=marker_dir, greedy=greedy)


@pytest.fixture
def gpu_ray() -> Iterator[None]:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _spec(tmp: Path, name: str) -> StudySpec:
    return StudySpec(
        name=name,
        storage=f"sqlite:///{tmp}/{name}.db",
        objectives=("accuracy", "size_bits"),
        sampler="random",
        space=StrategySpace(
            params={
                "optimizer": CategoricalDistribution(choices=("sgd", "adam")),
                "lr": FloatDistribution(low=1e-3, high=0.1, log=True),
                "epochs": Fixed(value=3),
            }
        ),
    )


def _most_at_once(trials: list[optuna.trial.FrozenTrial]) -> int:
    events = []
    for trial in trials:
        assert trial.datetime_start is not None and trial.datetime_complete is not None
        events += [(trial.datetime_start, 1), (trial.datetime_complete, -1)]
    running = most = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        most = max(most, running)
    return most


@pytest.mark.gpu
@pytest.mark.ray
def test_quarter_gpus_run_four_trials_at_once_each_capped(gpu_ray: None, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = _spec(tmp_path, "packed")
    summary = run_ray(
        spec,
        objective_factory=functools.partial(probed, str(markers)),
        n_trials=4,
        gpus_per_trial=0.25,
        cpus_per_trial=1,
        storage_path=tmp_path / "ray",
    )
    trials = optuna.load_study(study_name="packed", storage=spec.storage).trials
    assert summary.complete == 4
    assert _most_at_once(trials) == 4
    seen = [json.loads(path.read_text()) for path in markers.iterdir()]
    assert len(seen) == 4
    assert all(marker["cap"] == pytest.approx(0.25) for marker in seen)
    assert all(marker["visible"] not in (None, "") for marker in seen)  # the GPU Ray assigned


@pytest.mark.gpu
@pytest.mark.ray
def test_a_trial_over_its_gpu_share_fails_alone_with_out_of_memory(
    gpu_ray: None, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = _spec(tmp_path, "greedy")
    summary = run_ray(
        spec,
        objective_factory=functools.partial(probed, str(markers), True),
        n_trials=1,
        gpus_per_trial=0.25,
        max_failures=0,
        storage_path=tmp_path / "ray",
    )
    trials = optuna.load_study(study_name="greedy", storage=spec.storage).trials
    assert summary.failed == 1 and summary.done == 0
    assert "OutOfMemoryError" in trials[0].user_attrs["fail_reason"]
