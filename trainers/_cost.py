"""Cost of a model: parameters, sparsity, size in bits, BitOps and latency.

Definitions (the same for the planned costs of :func:`static_cost` and the measured ones):

* ``params``: trainable parameters.
* prunable weights: the weights of every ``nn.Linear`` and ``nn.Conv2d`` layer; they are the
  ones pruned and quantized. Every other parameter (biases, normalization scales and shifts)
  stays float.
* ``sparsity``: fraction of the prunable weights that are exactly zero.
* ``nonzero_params``: trainable parameters that are not exactly zero.
* ``size_bits = nonzero prunable weights x bits + other parameters x 32`` (a sparse format's
  index overhead is not counted).
* ``bitops = sum over layers of nonzero weights x uses per weight x bits x act_bits`` where a
  weight's uses are the multiply-accumulates it takes part in for one sample (1 for a linear
  layer, the output height x width for a convolution) and ``act_bits`` is 32 when activations
  stay float.
* ``latency_ms``: median of timed batch-1 forward passes on the device, after warm-up.

A planned cost assumes the pruned weights are spread evenly over the layers for ``bitops``;
the measured one counts the real nonzero weights of each layer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._strategy import Strategy
from ._task import Task

__all__ = [
    "LayerStats",
    "layer_stats",
    "measure_cost",
    "measure_latency_ms",
    "planned_cost",
    "prunable_layers",
    "prunable_weights",
    "static_cost",
]


def prunable_layers(model: nn.Module) -> list[nn.Linear | nn.Conv2d]:
    """The ``nn.Linear`` / ``nn.Conv2d`` layers (subclasses included) in module order."""
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def prunable_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weights of :func:`prunable_layers`."""
    return [layer.weight for layer in prunable_layers(model)]


@dataclass(frozen=True)
class LayerStats:
    """Shape facts of a model for one input sample.

    Attributes:
        params: Trainable parameters.
        prunable: Weights of the prunable layers.
        uses: For each prunable layer, the multiply-accumulates each weight takes part in.
        sizes: For each prunable layer, its number of weights.
    """

    params: int
    prunable: int
    uses: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one dense forward pass of one sample."""
        return sum(u * s for u, s in zip(self.uses, self.sizes, strict=True))


@torch.no_grad()
def layer_stats(model: nn.Module, input_shape: Sequence[int]) -> LayerStats:
    """Count parameters and each prunable weight's uses with one batch-1 forward pass.

    Examples:
        >>> stats = layer_stats(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(),
        ...     nn.Linear(8, 3)), (1, 4, 4))
        >>> stats.params, stats.prunable, stats.uses, stats.macs
        (47, 42, (4, 1), 96)
    """
    layers = prunable_layers(model)
    outputs: dict[int, torch.Size] = {}
    hooks = [
        layer.register_forward_hook(
            lambda module, args, out, index=index: outputs.__setitem__(index, out.shape)
        )
        for index, layer in enumerate(layers)
    ]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    uses: list[int] = []
    for index, layer in enumerate(layers):
        shape = outputs.get(index)
        if shape is None:
            uses.append(0)  # a layer the forward pass never reached does no work
            continue
        channels = shape[-1] if isinstance(layer, nn.Linear) else shape[1]
        uses.append(int(torch.Size(shape).numel()) // int(channels))
    return LayerStats(
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        prunable=sum(int(w.numel()) for w in prunable_weights(model)),
        uses=tuple(uses),
        sizes=tuple(int(w.numel()) for w in prunable_weights(model)),
    )


def planned_cost(stats: LayerStats, strategy: Strategy) -> dict[str, float]:
    """The costs a model with ``stats`` will have after training with ``strategy``."""
    pruned = round(strategy.prune_rate * stats.prunable)
    act_bits = strategy.act_bits or 32
    return {
        "params": float(stats.params),
        "nonzero_params": float(stats.params - pruned),
        "size_bits": float(
            (stats.prunable - pruned) * strategy.bits + (stats.params - stats.prunable) * 32
        ),
        "bitops": float(stats.macs * (1.0 - strategy.prune_rate) * strategy.bits * act_bits),
    }


def static_cost(task: Task, strategy: Strategy) -> dict[str, float]:
    """Planned ``params``, ``nonzero_params``, ``size_bits`` and ``bitops`` (no training).

    The model is built on the CPU without touching the global random state.

    Examples:
        >>> from paretune.trainers import Strategy, get_task
        >>> cost = static_cost(get_task("digits-mlp"), Strategy(prune_rate=0.5, bits=4))
        >>> cost["params"], cost["nonzero_params"]
        (50826.0, 25610.0)
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(strategy.seed)
        model = task.new_model(strategy.dropout)
    return planned_cost(layer_stats(model, task.input_shape), strategy)


@torch.no_grad()
def measure_latency_ms(
    model: nn.Module, input_shape: Sequence[int], *, warmup: int = 5, repeats: int = 21
) -> float:
    """Median milliseconds of a batch-1 forward pass, after ``warmup`` untimed passes."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(1, *input_shape, device=device)
    was_training = model.training
    model.eval()
    cuda = device.type == "cuda"
    times: list[float] = []
    try:
        for index in range(warmup + repeats):
            start = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(device)
            if index >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        model.train(was_training)
    return statistics.median(times)


@torch.no_grad()
def measure_cost(
    model: nn.Module, stats: LayerStats, *, bits: int, act_bits: int | None
) -> dict[str, float]:
    """Measured ``params``, ``nonzero_params``, ``sparsity``, ``size_bits`` and ``bitops``."""
    nonzero_layer = [int(torch.count_nonzero(w)) for w in prunable_weights(model)]
    nonzero_prunable = sum(nonzero_layer)
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters() if p.requires_grad)
    other = stats.params - stats.prunable
    bitops = sum(n * u for n, u in zip(nonzero_layer, stats.uses, strict=True))
    return {
        "params": float(stats.params),
        "nonzero_params": float(nonzero),
        "sparsity": 1.0 - nonzero_prunable / stats.prunable if stats.prunable else 0.0,
        "size_bits": float(nonzero_prunable * bits + other * 32),
        "bitops": float(bitops * bits * (act_bits or 32)),
    }
