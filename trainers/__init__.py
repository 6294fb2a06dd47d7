"""Training strategies applied for real: optimizers, schedules, pruning, quantization, cost.

Examples:
    >>> from paretune import trainers
    >>> task = trainers.get_task("synthetic", options={"n_samples": 200})
    >>> result = trainers.train(task, trainers.Strategy(epochs=1), device="cpu")
    >>> result.status
    <TrainStatus.COMPLETED: 'completed'>
"""

from __future__ import annotations

from ._cost import (
    LayerStats,
    layer_stats,
    measure_cost,
    measure_latency_ms,
    planned_cost,
    prunable_layers,
    prunable_weights,
    static_cost,
)
from ._datasets import (
    CIFAR10_FILES,
    MNIST_FILES,
    check_files,
    cifar10_splits,
    digits_splits,
    mnist_splits,
    read_idx,
    synthetic_splits,
)
from ._evaluate import evaluate
from ._export import ExportedModel, export_model, load_exported, pack_weight, unpack_weight
from ._optimizers import (
    OptimizerInfo,
    build_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
)
from ._pruning import MagnitudePruner, cubic_sparsity, global_magnitude_masks
from ._quant import (
    QuantConv2d,
    QuantLinear,
    bake_quantization,
    fake_quantize,
    fused_fake_quantize,
    prepare_quantization,
    quantize_weight,
)
from ._replay import FORMAT_VERSION, make_replay_task, write_replay_table
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
from ._tasks import TaskSpec, cifar_augment, describe_tasks, get_task, list_tasks, register_task
from ._train import resolve_device, train

__all__ = [
    "BIT_WIDTHS",
    "CIFAR10_FILES",
    "COST_NAMES",
    "DataSplits",
    "ExportedModel",
    "FORMAT_VERSION",
    "LayerStats",
    "MNIST_FILES",
    "MagnitudePruner",
    "OptimizerInfo",
    "QuantConv2d",
    "QuantLinear",
    "Reporter",
    "ScheduleInfo",
    "Strategy",
    "Task",
    "TaskSpec",
    "TrainResult",
    "TrainStatus",
    "bake_quantization",
    "build_optimizer",
    "check_files",
    "cifar10_splits",
    "cifar_augment",
    "conditional_parameters",
    "cubic_sparsity",
    "describe_tasks",
    "digits_splits",
    "evaluate",
    "export_model",
    "fake_quantize",
    "fused_fake_quantize",
    "get_task",
    "global_magnitude_masks",
    "layer_stats",
    "learning_rate",
    "list_optimizers",
    "list_schedules",
    "list_tasks",
    "load_exported",
    "make_replay_task",
    "measure_cost",
    "measure_latency_ms",
    "mnist_splits",
    "optimizer_info",
    "pack_weight",
    "planned_cost",
    "prepare_quantization",
    "prunable_layers",
    "prunable_weights",
    "quantize_weight",
    "read_idx",
    "register_optimizer",
    "register_schedule",
    "register_task",
    "resolve_device",
    "schedule_info",
    "static_cost",
    "synthetic_splits",
    "train",
    "unpack_weight",
    "write_replay_table",
]
