"""Training strategies applied for real: optimizers, schedules, pruning, quantization, cost.

Examples:
    >>> from paretune import trainers
    >>> task = trainers.get_task("synthetic", options={"n_samples": 200})
    >>> result = trainers.train(task, trainers.Strategy(epochs=1), device="cpu")
    >>> result.status
    <TrainStatus.COMPLETED: 'completed'>
"""

from __future__ import annotations

from ._allocator import keep_freed_memory
from ._checks_task import check_task
from ._cost import (
    LATENCY_PRECISION,
    Example,
    Latency,
    LayerStats,
    layer_stats,
    measure_cost,
    measure_latency,
    measure_latency_ms,
    planned_cost,
    prunable_layers,
    prunable_weights,
    static_cost,
)
from ._data import COST_SAMPLES, seed_worker, task_example
from ._datasets import (
    CIFAR10_FILES,
    CIFAR10_PREPROCESSING,
    MNIST_FILES,
    MNIST_PREPROCESSING,
    check_files,
    cifar10_splits,
    digits_splits,
    mnist_splits,
    read_idx,
    synthetic_splits,
)
from ._device import resolve_device, torch_threads
from ._distill import DISTILL_ALPHA, DISTILL_TEMPERATURE, distillation_loss
from ._distributed import (
    GlobalBatchSampler,
    ProcessGroup,
    check_data_parallel,
    current_group,
    local_share,
    loss_weight,
)
from ._evaluate import Split, evaluate, predict, split_accuracy
from ._export import (
    EXPORT_FILES,
    ExportedModel,
    Provenance,
    export_model,
    load_exported,
    pack_weight,
    unpack_weight,
)
from ._export_dir import check_export_dir
from ._fused import NotFusableError, fusable, fusable_task, fuse_key, train_fused
from ._fused_optim import StackedOptimizer
from ._init import INIT_LAYERS, Init, initialize
from ._layers import (
    LAYER_TYPES,
    LayerFilter,
    PrunableLayer,
    check_strategy_fits,
    named_prunable_layers,
)
from ._metrics import (
    Direction,
    Metric,
    compute_metrics,
    get_metric,
    list_metrics,
    register_metric,
)
from ._models import MLP, DigitsCNN, LeNet5, ResNet20
from ._optimizers import (
    OptimizerInfo,
    OptimizerSettings,
    build_optimizer,
    list_optimizers,
    optimizer_info,
    register_optimizer,
)
from ._preprocessing import Normalize, Preprocessing
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
from ._replay import (
    FORMAT_VERSION,
    ReplayRun,
    make_replay_task,
    missing_replay_columns,
    write_replay_table,
)
from ._result import COST_NAMES, Reporter, TrainResult, TrainStatus
from ._schedules import (
    ScheduleInfo,
    ScheduleSettings,
    learning_rate,
    list_schedules,
    register_schedule,
    schedule_info,
)
from ._step import BatchStep
from ._strategy import BIT_WIDTHS, Precision, Strategy, conditional_parameters
from ._tabular import RegressionMLP, diabetes_splits, mse_loss
from ._task import (
    DatasetSplits,
    DataSplits,
    LoaderOptions,
    Task,
    metric_directions,
    task_metrics,
)
from ._task_param import TaskParam, TaskParamType
from ._task_params import (
    build_task_model,
    declared_params,
    resolve_task_params,
    strategy_from_params,
)
from ._tasks import TaskSpec, cifar_augment, describe_tasks, get_task, list_tasks, register_task
from ._train import train
from ._transfer import check_applies, load_pretrained, split_parameters

__all__ = [
    "MLP",
    "NotFusableError",
    "DigitsCNN",
    "LeNet5",
    "ResNet20",
    "BIT_WIDTHS",
    "BatchStep",
    "CIFAR10_FILES",
    "CIFAR10_PREPROCESSING",
    "COST_NAMES",
    "COST_SAMPLES",
    "DISTILL_ALPHA",
    "DISTILL_TEMPERATURE",
    "DataSplits",
    "DatasetSplits",
    "Direction",
    "Example",
    "EXPORT_FILES",
    "ExportedModel",
    "FORMAT_VERSION",
    "INIT_LAYERS",
    "GlobalBatchSampler",
    "Init",
    "LATENCY_PRECISION",
    "LAYER_TYPES",
    "Latency",
    "LayerFilter",
    "LayerStats",
    "LoaderOptions",
    "MNIST_FILES",
    "MNIST_PREPROCESSING",
    "MagnitudePruner",
    "Metric",
    "Normalize",
    "OptimizerInfo",
    "OptimizerSettings",
    "Precision",
    "Preprocessing",
    "ProcessGroup",
    "Provenance",
    "PrunableLayer",
    "QuantConv1d",
    "QuantConv2d",
    "QuantConv3d",
    "QuantLinear",
    "RegressionMLP",
    "ReplayRun",
    "Reporter",
    "ScheduleInfo",
    "ScheduleSettings",
    "Split",
    "StackedOptimizer",
    "Strategy",
    "Task",
    "TaskParam",
    "TaskParamType",
    "TaskSpec",
    "TrainResult",
    "TrainStatus",
    "bake_quantization",
    "build_optimizer",
    "build_task_model",
    "check_applies",
    "check_data_parallel",
    "check_export_dir",
    "check_task",
    "check_files",
    "check_strategy_fits",
    "cifar10_splits",
    "cifar_augment",
    "compute_metrics",
    "conditional_parameters",
    "cubic_sparsity",
    "current_group",
    "declared_params",
    "describe_tasks",
    "diabetes_splits",
    "digits_splits",
    "distillation_loss",
    "evaluate",
    "export_model",
    "fake_quantize",
    "fusable",
    "fusable_task",
    "fuse_key",
    "fused_fake_quantize",
    "get_metric",
    "get_task",
    "global_magnitude_masks",
    "initialize",
    "keep_freed_memory",
    "layer_stats",
    "learning_rate",
    "list_metrics",
    "list_optimizers",
    "list_schedules",
    "list_tasks",
    "load_exported",
    "load_pretrained",
    "local_share",
    "loss_weight",
    "make_replay_task",
    "measure_cost",
    "measure_latency",
    "measure_latency_ms",
    "metric_directions",
    "missing_replay_columns",
    "mnist_splits",
    "mse_loss",
    "named_prunable_layers",
    "optimizer_info",
    "pack_weight",
    "planned_cost",
    "predict",
    "prepare_quantization",
    "prunable_layers",
    "prunable_weights",
    "quantize_weight",
    "read_idx",
    "register_metric",
    "register_optimizer",
    "register_schedule",
    "register_task",
    "resolve_device",
    "torch_threads",
    "resolve_task_params",
    "schedule_info",
    "seed_worker",
    "split_accuracy",
    "split_parameters",
    "static_cost",
    "strategy_from_params",
    "synthetic_splits",
    "task_example",
    "task_metrics",
    "train",
    "train_fused",
    "unpack_weight",
    "write_replay_table",
]
