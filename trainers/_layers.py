"""Which layers of a model are pruned and quantized, and the check that a strategy can use them.

A layer is a *candidate* when its type is exactly ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d`` or
``nn.Conv3d`` (or paretune's quantized twin of one of them). Subclasses are left alone: their
``forward`` may not be the one paretune replaces, and some are not even called through their
``forward`` (``nn.MultiheadAttention`` reads its ``out_proj`` weight directly, so a swapped
quantized layer or a forward hook would never see it). A task narrows the candidates with its
``prunable(name, module) -> bool`` filter (``Task.prunable``); the chosen layers' weights are
the ones pruned, quantized and counted at ``bits`` bits. Everything else (biases, embeddings,
normalization layers, ``MultiheadAttention``'s packed ``in_proj_weight`` and its ``out_proj``)
stays dense float and is counted at 32 bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from ._strategy import Strategy

__all__ = [
    "LAYER_TYPES",
    "LayerFilter",
    "PrunableLayer",
    "QuantizedLayer",
    "check_strategy_fits",
    "named_prunable_layers",
]

#: The layer types whose weights paretune prunes and quantizes (exact types, not subclasses).
LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

#: ``filter(qualified_name, module) -> keep``: narrows the candidate layers of a model.
LayerFilter = Callable[[str, nn.Module], bool]

#: What :func:`named_prunable_layers` returns: instances of ``LAYER_TYPES`` (or their twins).
PrunableLayer = nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d


class QuantizedLayer:
    """Marks paretune's quantized twins (``QuantLinear``, ``QuantConv1d`` …) as candidates.

    Attributes:
        weight_bits: Bits of the fake-quantized weights (``None``: float).
        act_bits: Bits of the fake-quantized inputs (``None``: float).
    """

    weight_bits: int | None = None
    act_bits: int | None = None


def named_prunable_layers(
    model: nn.Module, *, select: LayerFilter | None = None
) -> list[tuple[str, PrunableLayer]]:
    """The ``(qualified name, layer)`` pairs pruned and quantized in ``model``, in module order.

    Args:
        model: Any model.
        select: Optional ``select(name, module) -> bool`` keeping only some candidates.

    Examples:
        >>> model = nn.Sequential(nn.Embedding(5, 4), nn.Conv1d(4, 4, 3), nn.LayerNorm(2),
        ...     nn.Linear(2, 3))
        >>> [name for name, _ in named_prunable_layers(model)]
        ['1', '3']
        >>> [name for name, _ in named_prunable_layers(model, select=lambda n, m: n != "3")]
        ['1']
    """
    chosen: list[tuple[str, PrunableLayer]] = []
    for name, module in model.named_modules():
        if not isinstance(module, PrunableLayer):
            continue
        if type(module) not in LAYER_TYPES and not isinstance(module, QuantizedLayer):
            continue  # a subclass paretune does not control (MultiheadAttention's out_proj)
        if select is not None and not select(name, module):
            continue
        chosen.append((name, module))
    return chosen


def check_strategy_fits(
    task_name: str, model: nn.Module, strategy: Strategy, *, select: LayerFilter | None = None
) -> None:
    """Raise when ``strategy`` prunes, regularizes or quantizes a model with no layer for it.

    Examples:
        >>> from paretune.trainers import Strategy
        >>> check_strategy_fits("bag", nn.Sequential(nn.Embedding(9, 2)), Strategy(bits=4))
        Traceback (most recent call last):
        ...
        ValueError: Task 'bag' has no quantizable layer (Linear, Conv1d, Conv2d, Conv3d) but the
        strategy asks bits=4.
    """
    if named_prunable_layers(model, select=select):
        return
    asks = [
        ("prunable", "prune_rate", strategy.prune_rate, strategy.prune_rate > 0),
        ("prunable", "l1", strategy.l1, strategy.l1 > 0),
        ("quantizable", "bits", strategy.bits, strategy.bits < 32),
        ("quantizable", "act_bits", strategy.act_bits, (strategy.act_bits or 32) < 32),
    ]
    for kind, field, value, asked in asks:
        if asked:
            kinds = ", ".join(t.__name__ for t in LAYER_TYPES)
            chosen = " chosen by its 'prunable' filter" if select is not None else ""
            raise ValueError(
                f"Task {task_name!r} has no {kind} layer ({kinds}){chosen} "
                f"but the strategy asks {field}={value!r}."
            )
