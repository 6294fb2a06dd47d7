"""The validated, frozen content of a study file: the search spec plus how to run it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paretune.search import StudySpec

__all__ = [
    "BACKENDS",
    "RayOptions",
    "StudyConfig",
    "StudyLocation",
    "TrackingOptions",
    "study_metadata",
]

BACKENDS = ("local", "ray")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """How a study runs on Ray Tune (the ``[ray]`` table of a study file).

    Attributes:
        address: The Ray cluster to join (``"auto"``, ``"ray://host:10001"``); ``None``
            starts a local Ray.
        gpus_per_trial: Share of a GPU each trial gets (``0.5`` = two trials per GPU).
        cpus_per_trial: CPUs each trial gets.
        max_concurrent: Most trials running at once; ``None`` lets Ray decide.
        storage_path: Where Ray keeps trial checkpoints (a shared directory on a cluster).
        max_failures: How many times a trial whose worker died is retried.
        workers_per_trial: Workers training each trial data-parallel (Ray Train inside
            Tune); 1 trains each trial in one process.
        gpus_per_worker: Share of a GPU each worker of a data-parallel trial gets (used when
            ``workers_per_trial > 1``, in place of ``gpus_per_trial``).
        cpus_per_worker: CPUs each worker of a data-parallel trial gets (used when
            ``workers_per_trial > 1``, in place of ``cpus_per_trial``).

    Examples:
        >>> RayOptions().max_failures
        2
        >>> RayOptions(gpus_per_trial=0.25).gpus_per_trial
        0.25
        >>> RayOptions(workers_per_trial=4, gpus_per_worker=1.0).workers_per_trial
        4
    """

    address: str | None = None
    gpus_per_trial: float = 0.0
    cpus_per_trial: int = 1
    max_concurrent: int | None = None
    storage_path: str | None = None
    max_failures: int = 2
    workers_per_trial: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: int = 1


@dataclass(frozen=True, kw_only=True)
class TrackingOptions:
    """Where a study's trials are logged (the ``[tracking]`` table of a study file).

    Attributes:
        mlflow: MLflow tracking URI (``"sqlite:///runs/mlflow.db"``, ``"http://host:5000"``):
            each finished trial becomes an MLflow run there. ``None``: no MLflow logging.
        experiment: MLflow experiment name; ``None`` for the study's name.

    Examples:
        >>> TrackingOptions().mlflow is None
        True
        >>> TrackingOptions(mlflow="sqlite:///runs/mlflow.db").experiment is None
        True
    """

    mlflow: str | None = None
    experiment: str | None = None


@dataclass(frozen=True, kw_only=True)
class StudyLocation:
    """Where a study lives and what it should hold (the part of a study file ``status``
    needs; see ``locate_study``).

    Attributes:
        name: The Optuna study name.
        storage: Optuna storage URL.
        objectives: Objective names, in order.
        n_trials: Finished trials the study should hold (None: the file sets an epoch budget
            and no n_trials; the study runs until the budget is spent).
        source: The study file.
    """

    name: str
    storage: str
    objectives: tuple[str, ...]
    n_trials: int | None
    source: Path


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """Everything a study file says, validated (build one with ``load_config``).

    The search's part (name, storage, objectives, space, sampler, pruner, seed, constraints,
    epoch budget, task metadata) is a ``paretune.search.StudySpec``, validated when it is
    built; the config adds what only running the study needs.

    Attributes:
        spec: The study as the search engine sees it (``config.spec.name``,
            ``config.spec.objectives``, ``config.spec.space`` ...).
        task: The task name (``"digits-mlp"``, ``"replay:PATH"``, ``"pkg.mod:make_task"``).
        task_options: Options handed to the task factory.
        data_dir: Where the task finds (or downloads) its data; ``None`` for the default.
        n_trials: How many finished (complete or pruned) trials the study should hold.
        until_budget: True when the study file sets ``max_total_epochs`` and no ``n_trials``:
            the run ends when the epoch budget is spent (``n_trials`` is then the budget, a
            bound the study cannot reach since every finished trial trains an epoch or more).
        timeout: Seconds after which no new trial starts; ``None`` for no limit.
        device: Where trials train (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        backend: ``"local"`` (this machine, ``jobs`` processes) or ``"ray"``.
        jobs: Worker processes of the local backend.
        workers_per_trial: Processes training each trial of the local backend
            data-parallel (the Ray backend's is ``ray.workers_per_trial``).
        fuse: Trials asked at once and trained as one fused model where they are
            compatible (``paretune.trainers.train_fused``), in one process or one Ray
            trial; 1: one at a time.
        ray: Options of the Ray backend.
        tracking: Where trials are logged (MLflow).
        source: The study file this config was read from (``None`` when built in Python).
    """

    spec: StudySpec
    task: str
    task_options: Mapping[str, Any] = field(default_factory=_empty)
    data_dir: str | None = None
    n_trials: int = 20
    until_budget: bool = False
    timeout: float | None = None
    device: str = "auto"
    backend: str = "local"
    jobs: int = 1
    workers_per_trial: int = 1
    fuse: int = 1
    ray: RayOptions = field(default_factory=RayOptions)
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    source: Path | None = None


def study_metadata(
    *,
    task: str,
    task_options: Mapping[str, Any],
    data_dir: str | None,
    device: str,
    source: Path | None,
) -> dict[str, Any]:
    """What a study stores about its task (the spec's ``metadata``, a study user attribute).

    Returns:
        A JSON-able dict: task, task_options, data_dir, device, source.

    Examples:
        >>> study_metadata(task="digits-mlp", task_options={"width": (8, 8)}, data_dir=None,
        ...                device="cpu", source=None)["task_options"]
        {'width': [8, 8]}
    """
    return {
        "task": task,
        "task_options": _plain(task_options),
        "data_dir": data_dir,
        "device": device,
        "source": str(source) if source is not None else None,
    }


def _plain(value: Any) -> Any:
    """Deep copy of mappings/sequences into plain dicts/lists (JSON-able, picklable)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
