"""The ``init`` dimension: redraw the Linear / Conv weights of a model with ``torch.nn.init``."""

from __future__ import annotations

import enum

import torch
from torch import nn

__all__ = ["INIT_LAYERS", "Init", "initialize"]

#: The layer types whose weights an ``init`` scheme other than ``default`` draws anew.
INIT_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class Init(enum.Enum):
    """Weight initialisation schemes (``DEFAULT`` keeps what the model factory made)."""

    DEFAULT = "default"
    XAVIER_UNIFORM = "xavier_uniform"
    XAVIER_NORMAL = "xavier_normal"
    KAIMING_UNIFORM = "kaiming_uniform"
    KAIMING_NORMAL = "kaiming_normal"


def _draw(weight: torch.Tensor, scheme: Init, generator: torch.Generator) -> None:
    if scheme is Init.XAVIER_UNIFORM:
        nn.init.xavier_uniform_(weight, generator=generator)
    elif scheme is Init.XAVIER_NORMAL:
        nn.init.xavier_normal_(weight, generator=generator)
    elif scheme is Init.KAIMING_UNIFORM:
        nn.init.kaiming_uniform_(weight, nonlinearity="relu", generator=generator)
    else:
        nn.init.kaiming_normal_(weight, nonlinearity="relu", generator=generator)


@torch.no_grad()
def initialize(model: nn.Module, init: str | Init, *, seed: int) -> int:
    """Draw the weights of every :data:`INIT_LAYERS` layer of ``model`` with ``init``.

    Layers are visited in ``model.modules()`` order with one generator per device, seeded with
    ``seed``, so the same seed gives the same tensors. Xavier schemes use gain 1; Kaiming
    schemes use ``mode="fan_in"`` and ``nonlinearity="relu"`` (He et al. 2015). Biases are set
    to zero (Glorot & Bengio 2010 and He et al. 2015 start from zero biases). ``"default"``
    changes nothing: weights and biases stay as the model's factory made them.

    Args:
        model: The model to initialise in place.
        init: An :class:`Init` or its value.
        seed: Seed of the draws.

    Returns:
        How many layers were initialised.

    Examples:
        >>> layer = nn.Linear(400, 300)
        >>> initialize(layer, "xavier_uniform", seed=0)
        1
        >>> bound = (6 / (400 + 300)) ** 0.5
        >>> bool(layer.weight.abs().max() <= bound), float(layer.bias.abs().sum())
        (True, 0.0)
        >>> initialize(layer, "default", seed=0)
        0
    """
    scheme = Init(init)
    if scheme is Init.DEFAULT:
        return 0
    generators: dict[torch.device, torch.Generator] = {}
    count = 0
    for module in model.modules():
        if not isinstance(module, INIT_LAYERS):
            continue
        weight = module.weight
        if not isinstance(weight, torch.Tensor):  # pragma: no cover - Linear / Conv have one
            continue
        if weight.device not in generators:
            generators[weight.device] = torch.Generator(device=weight.device).manual_seed(seed)
        _draw(weight, scheme, generators[weight.device])
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()
        count += 1
    return count
