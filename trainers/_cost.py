"""Cost of a model: parameters, sparsity, size in bits, BitOps and latency.

Definitions (the same for the planned costs of :func:`static_cost` and the measured ones):

* ``params``: trainable parameters.
* prunable weights: the weights of the layers of :func:`named_prunable_layers` (every
  ``nn.Linear`` and ``nn.Conv1d/2d/3d``, narrowed by the task's ``prunable`` filter); they are
  the ones pruned and quantized. Every other parameter (biases, normalization scales and
  shifts, embeddings, attention projections held by ``nn.MultiheadAttention``) stays float.
* ``sparsity``: fraction of the prunable weights that are exactly zero.
* ``nonzero_params``: trainable parameters that are not exactly zero.
* ``size_bits = nonzero prunable weights x bits + other parameters x 32`` (a sparse format's
  index overhead is not counted).
* ``bitops = sum over layers of nonzero weights x uses per weight x bits x act_bits`` where a
  weight's uses are the multiply-accumulates it takes part in for one sample (1 for a linear
  layer applied to a vector, the sequence length for one applied to a sequence, the output
  length / area / volume for a convolution, summed over every call of the layer) and
  ``act_bits`` is 32 when activations stay float.
* ``latency_ms``: median of timed batch-1 forward passes on the device, after warm-up, timed
  until the median is known to a stated precision (:func:`measure_latency`); its spread
  ``latency_ms_spread`` is the interquartile range of the timed passes.

Uses are counted by forward hooks on the real layers during one pass over an example: a batch
of the task's data (any number of samples, one tensor or several inputs), or zeros of the
task's ``input_shape``. A planned cost assumes the pruned weights are spread evenly over the
layers for ``bitops``; the measured one counts the real nonzero weights of each layer.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ._data import task_example
from ._inputs import Example
from ._inputs import forward as _forward
from ._inputs import map_inputs as _map
from ._layers import LayerFilter, PrunableLayer, named_prunable_layers
from ._strategy import Strategy
from ._task import Task
from ._task_params import build_task_model

__all__ = [
    "Example",
    "LayerStats",
    "layer_stats",
    "LATENCY_PRECISION",
    "Latency",
    "measure_cost",
    "measure_latency",
    "measure_latency_ms",
    "planned_cost",
    "prunable_layers",
    "prunable_weights",
    "static_cost",
]

#: Target relative standard error of the measured median latency (2 %).
LATENCY_PRECISION = 0.02

#: Standard error of a median per interquartile range and per 1/sqrt(n): for a normal
#: distribution the median's standard error is sqrt(pi / 2) x sigma / sqrt(n) and
#: sigma = IQR / 1.349 (a robust estimate that one slow pass does not inflate).
_MEDIAN_SE_PER_IQR = math.sqrt(math.pi / 2) / 1.349


def prunable_layers(model: nn.Module, *, select: LayerFilter | None = None) -> list[PrunableLayer]:
    """The pruned and quantized layers of ``model`` in module order.

    Every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` (exact types, or their quantized twins),
    narrowed by ``select(name, module)``: see :func:`named_prunable_layers`.
    """
    return [layer for _, layer in named_prunable_layers(model, select=select)]


def prunable_weights(model: nn.Module, *, select: LayerFilter | None = None) -> list[torch.Tensor]:
    """The weights of :func:`prunable_layers`."""
    return [layer.weight for layer in prunable_layers(model, select=select)]


@dataclass(frozen=True)
class LayerStats:
    """Shape facts of a model for one input sample.

    Attributes:
        params: Trainable parameters.
        prunable: Weights of the prunable layers.
        uses: For each prunable layer, the multiply-accumulates each weight takes part in for
            one sample (averaged over the samples of the example).
        sizes: For each prunable layer, its number of weights.
        names: For each prunable layer, its qualified name in the model.
    """

    params: int
    prunable: int
    uses: tuple[float, ...]
    sizes: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def macs(self) -> float:
        """Multiply-accumulates of one dense forward pass of one sample."""
        return sum(u * s for u, s in zip(self.uses, self.sizes, strict=True))


def _tensors(example: Example) -> list[torch.Tensor]:
    if isinstance(example, torch.Tensor):
        return [example]
    values = list(example.values()) if isinstance(example, Mapping) else list(example)
    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        raise TypeError(
            "The 'example' parameter must be a tensor, a sequence of tensors or a mapping of "
            f"names to tensors. Got {type(example).__name__} instead."
        )
    return values


def _resolve_example(
    model: nn.Module, input_shape: Sequence[int] | None, example: Example | None
) -> tuple[Example, int]:
    """The example on the model's device and its number of samples."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if (input_shape is None) == (example is None):
        raise ValueError("Give exactly one of input_shape (zeros of that shape) and example.")
    if example is None:
        return torch.zeros(1, *(input_shape or ()), device=device), 1
    samples = len(_tensors(example)[0])
    if samples < 1:
        raise ValueError("The 'example' parameter must hold at least one sample. Got 0 instead.")
    return _map(example, lambda t: t.to(device)), samples


@torch.no_grad()
def layer_stats(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example: Example | None = None,
    select: LayerFilter | None = None,
) -> LayerStats:
    """Count parameters and each prunable weight's uses with one forward pass.

    The pass runs on zeros of ``input_shape`` (one sample) or on ``example`` (a batch of real
    inputs; see :data:`Example`), in eval mode; forward hooks on the prunable layers read the
    output sizes, summed over every call of a layer and divided by the number of samples.

    Args:
        model: Any model.
        input_shape: Shape of one input sample.
        example: A batch of inputs instead of ``input_shape``.
        select: The task's ``prunable`` filter (see :func:`named_prunable_layers`).

    Examples:
        >>> stats = layer_stats(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(),
        ...     nn.Linear(8, 3)), (1, 4, 4))
        >>> stats.params, stats.prunable, stats.uses, stats.macs
        (47, 42, (4.0, 1.0), 96.0)
        >>> sequences = torch.randn(5, 7, 2)  # 5 samples of 7 steps
        >>> layer_stats(nn.Linear(2, 3), example=sequences).uses
        (7.0,)
    """
    named = named_prunable_layers(model, select=select)
    inputs, samples = _resolve_example(model, input_shape, example)
    totals = [0] * len(named)

    def count(index: int, layer: nn.Module, out: torch.Tensor) -> None:
        channels = out.shape[-1] if isinstance(layer, nn.Linear) else out.shape[1]
        totals[index] += int(out.numel()) // int(channels)

    hooks = [
        layer.register_forward_hook(
            lambda module, args, out, index=index: count(index, module, out)
        )
        for index, (_, layer) in enumerate(named)
    ]
    was_training = model.training
    model.eval()
    try:
        _forward(model, inputs)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    sizes = tuple(int(layer.weight.numel()) for _, layer in named)
    return LayerStats(
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        prunable=sum(sizes),
        uses=tuple(total / samples for total in totals),
        sizes=sizes,
        names=tuple(name for name, _ in named),
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

    The model is built on the CPU without touching the global random state. Uses are counted
    on zeros of the task's ``input_shape`` when it has one, else on a batch of its validation
    data (:func:`task_example`).

    Examples:
        >>> from paretune.trainers import Strategy, get_task
        >>> cost = static_cost(get_task("digits-mlp"), Strategy(prune_rate=0.5, bits=4))
        >>> cost["params"], cost["nonzero_params"]
        (50826.0, 25610.0)
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(strategy.seed)
        model = build_task_model(task, strategy)
    if task.input_shape:
        stats = layer_stats(model, task.input_shape, select=task.prunable)
    else:
        stats = layer_stats(model, example=task_example(task), select=task.prunable)
    return planned_cost(stats, strategy)


class Latency(NamedTuple):
    """A latency measurement: the median, its spread and how precisely it is known.

    Attributes:
        median_ms: Median milliseconds of a batch-1 forward pass (``latency_ms``).
        spread_ms: Interquartile range of the timed passes in milliseconds
            (``latency_ms_spread``): half of the passes took between the first and the third
            quartile, whose distance this is.
        repeats: Timed passes.
        rel_error: Estimated relative standard error of the median,
            ``0.93 x spread_ms / sqrt(repeats) / median_ms``.
        precision: The relative standard error aimed at.
        converged: Whether ``rel_error <= precision`` (False when a cap stopped the timing).
    """

    median_ms: float
    spread_ms: float
    repeats: int
    rel_error: float
    precision: float
    converged: bool


def _summary(times: Sequence[float], precision: float) -> Latency:
    """Median, interquartile range and the median's relative standard error of ``times``."""
    median = statistics.median(times)
    if len(times) > 1:
        first, _, third = statistics.quantiles(times, n=4, method="inclusive")
    else:
        first = third = median
    spread = third - first
    error = _MEDIAN_SE_PER_IQR * spread / math.sqrt(len(times)) / median if median > 0 else 0.0
    return Latency(median, spread, len(times), error, precision, error <= precision)


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example: Example | None = None,
    warmup: int = 5,
    precision: float = LATENCY_PRECISION,
    min_repeats: int = 21,
    max_repeats: int = 1000,
    max_seconds: float = 0.25,
) -> Latency:
    """Time batch-1 forward passes until their median is known to ``precision``.

    After ``warmup`` untimed passes, passes are timed one by one (``time.perf_counter``; the
    device is synchronized after each on CUDA). From ``min_repeats`` on, after every 10 more
    passes, the timing stops when the median's estimated relative standard error (from the
    interquartile range, see :class:`Latency`) is at most ``precision``, or when
    ``max_repeats`` passes or ``max_seconds`` of timed passes are reached (then ``converged``
    is False). On a tiny model that is a few milliseconds; the random state is not touched.
    The pass runs on zeros of ``input_shape`` or on the first sample of ``example``.

    Args:
        model: The model (timed in eval mode, its mode restored afterwards).
        input_shape: Shape of one input sample.
        example: A batch of inputs instead of ``input_shape`` (only its first sample is used).
        warmup: Untimed passes first.
        precision: Target relative standard error of the median (0.02: 2 %).
        min_repeats: Timed passes at least.
        max_repeats: Timed passes at most.
        max_seconds: Time spent in timed passes at most (checked with the stopping rule).

    Returns:
        The :class:`Latency`.

    Examples:
        >>> latency = measure_latency(nn.Linear(4, 2), (4,))
        >>> latency.median_ms > 0, latency.spread_ms >= 0, latency.repeats >= 21
        (True, True, True)
    """
    if not 0 < precision < 1:
        raise ValueError(
            f"The 'precision' parameter of measure_latency must be a float in (0, 1). "
            f"Got {precision!r} instead."
        )
    if not 1 <= min_repeats <= max_repeats:
        raise ValueError(
            "The 'min_repeats' and 'max_repeats' parameters of measure_latency must satisfy "
            f"1 <= min_repeats <= max_repeats. Got {min_repeats!r} and {max_repeats!r} instead."
        )
    if example is not None:
        example = _map(example, lambda t: t[:1])
    x, _ = _resolve_example(model, input_shape, example)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    cuda = device.type == "cuda"
    times: list[float] = []
    try:
        for _ in range(warmup):
            _forward(model, x)
        if cuda:
            torch.cuda.synchronize(device)
        while True:
            start = time.perf_counter()
            _forward(model, x)
            if cuda:
                torch.cuda.synchronize(device)
            times.append((time.perf_counter() - start) * 1000.0)
            n = len(times)
            check = n >= min_repeats and (n - min_repeats) % 10 == 0
            if n >= max_repeats or (
                check
                and (sum(times) >= max_seconds * 1000.0 or _summary(times, precision).converged)
            ):
                break
    finally:
        model.train(was_training)
    return _summary(times, precision)


def measure_latency_ms(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example: Example | None = None,
    warmup: int = 5,
    repeats: int = 21,
) -> float:
    """Median milliseconds of exactly ``repeats`` timed batch-1 forward passes, after warm-up.

    The pass runs on zeros of ``input_shape`` or on the first sample of ``example``. Training
    measures with :func:`measure_latency` (repeats until a stated precision, with a spread).
    """
    return measure_latency(
        model,
        input_shape,
        example=example,
        warmup=warmup,
        min_repeats=repeats,
        max_repeats=repeats,
    ).median_ms


@torch.no_grad()
def measure_cost(
    model: nn.Module, stats: LayerStats, *, bits: int, act_bits: int | None
) -> dict[str, float]:
    """Measured ``params``, ``nonzero_params``, ``sparsity``, ``size_bits`` and ``bitops``.

    The prunable layers are those named in ``stats`` (quantized twins keep their names).
    """
    layers = dict(named_prunable_layers(model))
    weights = [layers[name].weight for name in stats.names]
    nonzero_layer = [int(torch.count_nonzero(w)) for w in weights]
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
