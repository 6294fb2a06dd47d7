"""Training strategies applied for real: optimizers, schedules, pruning, quantization, cost.

Examples:
    >>> from paretune import trainers
    >>> task = trainers.get_task("synthetic", options={"n_samples": 200})
    >>> result = trainers.train(task, trainers.Strategy(epochs=1), device="cpu")
    >>> result.status
    <TrainStatus.COMPLETED: 'completed'>
"""

from __future__ import annotations

from ._cost import static_cost
from ._datasets import read_idx
from ._evaluate import evaluate
from ._export import ExportedModel, export_model, load_exported
from ._optimizers import (
    OptimizerInfo,
    build_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
)
from ._quant import quantize_weight
from ._result import COST_NAMES, Reporter, TrainResult, TrainStatus
from ._schedules import (
    ScheduleInfo,
    learning_rate,
    list_schedules,
    register_schedule,
    schedule_info,
)
from ._strategy import BIT_WIDTHS, Strategy, conditional_parameters
from ._task import DataSplits, Task
from ._tasks import TaskSpec, describe_tasks, get_task, list_tasks, register_task
from ._train import resolve_device, train

__all__ = [
    "BIT_WIDTHS",
    "COST_NAMES",
    "DataSplits",
    "ExportedModel",
    "OptimizerInfo",
    "Reporter",
    "ScheduleInfo",
    "Strategy",
    "Task",
    "TaskSpec",
    "TrainResult",
    "TrainStatus",
    "build_optimizer",
    "conditional_parameters",
    "describe_tasks",
    "evaluate",
    "export_model",
    "get_task",
    "learning_rate",
    "list_optimizers",
    "list_schedules",
    "list_tasks",
    "load_exported",
    "optimizer_info",
    "quantize_weight",
    "read_idx",
    "register_optimizer",
    "register_schedule",
    "register_task",
    "resolve_device",
    "schedule_info",
    "static_cost",
    "train",
]
