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
    COST_SAMPLES,
    Example,
    LayerStats,
    layer_stats,
    measure_cost,
    measure_latency_ms,
    planned_cost,
    prunable_layers,
    prunable_weights,
    static_cost,
    task_example,
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
from ._distill import DISTILL_ALPHA, DISTILL_TEMPERATURE, distillation_loss
from ._evaluate import evaluate
from ._export import ExportedModel, export_model, load_exported, pack_weight, unpack_weight
from ._init import INIT_LAYERS, Init, initialize
from ._layers import (
    LAYER_TYPES,
    LayerFilter,
    PrunableLayer,
    check_strategy_fits,
    named_prunable_layers,
)
from ._optimizers import (
    OptimizerInfo,
    build_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
)
from ._pruning import MagnitudePruner, cubic_sparsity, global_magnitude_masks
from ._quant import (
    QuantConv1d,
    QuantConv2d,
    QuantConv3d,
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
from ._step import BatchStep, Precision
from ._strategy import BIT_WIDTHS, Strategy, conditional_parameters
from ._task import DataSplits, Task
from ._tasks import TaskSpec, cifar_augment, describe_tasks, get_task, list_tasks, register_task
from ._train import resolve_device, train
from ._transfer import check_applies, load_pretrained, split_parameters

__all__ = [
    "BIT_WIDTHS",
    "BatchStep",
    "CIFAR10_FILES",
    "COST_NAMES",
    "COST_SAMPLES",
    "DISTILL_ALPHA",
    "DISTILL_TEMPERATURE",
    "DataSplits",
    "Example",
    "ExportedModel",
    "FORMAT_VERSION",
    "INIT_LAYERS",
    "Init",
    "LAYER_TYPES",
    "LayerFilter",
    "LayerStats",
    "MNIST_FILES",
    "MagnitudePruner",
    "OptimizerInfo",
    "PrunableLayer",
    "Precision",
    "QuantConv1d",
    "QuantConv2d",
    "QuantConv3d",
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
    "check_applies",
    "check_files",
    "check_strategy_fits",
    "cifar10_splits",
    "cifar_augment",
    "conditional_parameters",
    "cubic_sparsity",
    "describe_tasks",
    "digits_splits",
    "distillation_loss",
    "evaluate",
    "export_model",
    "fake_quantize",
    "fused_fake_quantize",
    "get_task",
    "global_magnitude_masks",
    "initialize",
    "layer_stats",
    "learning_rate",
    "list_optimizers",
    "list_schedules",
    "list_tasks",
    "load_exported",
    "load_pretrained",
    "make_replay_task",
    "measure_cost",
    "measure_latency_ms",
    "mnist_splits",
    "named_prunable_layers",
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
    "split_parameters",
    "static_cost",
    "synthetic_splits",
    "task_example",
    "train",
    "unpack_weight",
    "write_replay_table",
]
