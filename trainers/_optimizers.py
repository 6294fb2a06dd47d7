"""The optimizer registry: each entry says which sub-parameters it takes and builds itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from paretune.spaces import Registry

__all__ = [
    "OptimizerInfo",
    "OptimizerSettings",
    "build_optimizer",
    "list_optimizers",
    "optimizer_info",
    "register_optimizer",
]


class OptimizerSettings(Protocol):
    """What an optimizer is built from: the fields a :class:`~paretune.trainers.Strategy`
    has for it (this registry reads them; it does not depend on the Strategy class)."""

    @property
    def optimizer(self) -> str: ...
    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def momentum(self) -> float | None: ...
    @property
    def beta1(self) -> float | None: ...
    @property
    def beta2(self) -> float | None: ...
    @property
    def eps(self) -> float | None: ...


@dataclass(frozen=True, kw_only=True)
class OptimizerInfo:
    """One optimizer: its torch class and capability flags.

    Attributes:
        name: Registry name (``"adam"``).
        description: One line for listings.
        torch_class: The ``torch.optim`` class built.
        has_momentum: Takes ``momentum`` (default ``default_momentum``).
        has_betas: Takes ``beta1`` / ``beta2`` (defaults 0.9 / 0.999).
        has_eps: Takes ``eps`` (default ``default_eps``).
        nesterov: SGD with Nesterov momentum.
        decoupled_weight_decay: ``weight_decay`` is decoupled (AdamW) instead of an L2 term.
        default_momentum: Default ``momentum`` where ``has_momentum``.
        default_eps: Default ``eps`` where ``has_eps``.
        min_momentum_exclusive: ``momentum`` must be > 0 (Nesterov), not only >= 0.

    Examples:
        >>> optimizer_info("nesterov").has_momentum, optimizer_info("adam").has_momentum
        (True, False)
        >>> optimizer_info("adamw").sub_parameters
        ('beta1', 'beta2', 'eps')
    """

    name: str
    description: str
    torch_class: type[torch.optim.Optimizer]
    has_momentum: bool = False
    has_betas: bool = False
    has_eps: bool = False
    nesterov: bool = False
    decoupled_weight_decay: bool = False
    default_momentum: float | None = None
    default_eps: float | None = None
    min_momentum_exclusive: bool = False

    @property
    def sub_parameters(self) -> tuple[str, ...]:
        """The Strategy fields this optimizer takes besides ``lr`` and ``weight_decay``."""
        names: list[str] = []
        if self.has_momentum:
            names.append("momentum")
        if self.has_betas:
            names += ["beta1", "beta2"]
        if self.has_eps:
            names.append("eps")
        return tuple(names)

    def torch_kwargs(self, strategy: OptimizerSettings) -> dict[str, Any]:
        """Keyword arguments for ``torch_class`` resolved from ``strategy``."""
        kwargs: dict[str, Any] = {"lr": strategy.lr, "weight_decay": strategy.weight_decay}
        if self.torch_class is torch.optim.SGD:
            kwargs["momentum"] = strategy.momentum if self.has_momentum else 0.0
            kwargs["nesterov"] = self.nesterov
        elif self.has_momentum:
            kwargs["momentum"] = strategy.momentum
        if self.has_betas:
            kwargs["betas"] = (strategy.beta1, strategy.beta2)
        if self.has_eps:
            kwargs["eps"] = strategy.eps
        return kwargs


_OPTIMIZERS: Registry[OptimizerInfo] = Registry(kind="optimizer")


def register_optimizer(info: OptimizerInfo) -> None:
    """Add an optimizer; a duplicate name raises ``ValueError``."""
    _OPTIMIZERS.register(info.name, info)


def optimizer_info(name: str) -> OptimizerInfo:
    """The registry entry for ``name``; unknown names raise listing the known ones."""
    return _OPTIMIZERS.get(name)


def list_optimizers() -> list[str]:
    """Names of every registered optimizer.

    Examples:
        >>> list_optimizers()
        ['sgd', 'momentum', 'nesterov', 'adam', 'adamw', 'adagrad', 'rmsprop']
    """
    return _OPTIMIZERS.names()


#: torch optimizers with a fused (one-kernel) update on the CPU, from torch 2.4 on
_FUSED_KERNEL = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad)


def build_optimizer(
    params: Iterable[torch.Tensor], strategy: OptimizerSettings, *, fused: bool = False
) -> torch.optim.Optimizer:
    """The torch optimizer ``strategy`` asks for, over ``params``.

    Args:
        params: The parameters to update.
        strategy: Its ``optimizer`` and settings (``lr``, ``momentum``, ``weight_decay`` …).
        fused: Use torch's fused update (one kernel over all ``params``) where the optimizer
            has one (Adam, AdamW, SGD, Adagrad), and the plain one where this torch refuses it.

    Examples:
        >>> from paretune.trainers import Strategy
        >>> layer = torch.nn.Linear(2, 2)
        >>> opt = build_optimizer(layer.parameters(), Strategy(optimizer="nesterov", lr=0.1))
        >>> type(opt).__name__, opt.defaults["momentum"], opt.defaults["nesterov"]
        ('SGD', 0.9, True)
    """
    info = optimizer_info(strategy.optimizer)
    kwargs = info.torch_kwargs(strategy)
    if fused and issubclass(info.torch_class, _FUSED_KERNEL):
        params = list(params)
        try:  # torch < 2.4 has no fused kernels on the CPU
            return info.torch_class(params, **kwargs, fused=True)
        except RuntimeError:
            pass
    return info.torch_class(params, **kwargs)


for _info in (
    OptimizerInfo(name="sgd", description="plain SGD", torch_class=torch.optim.SGD),
    OptimizerInfo(
        name="momentum",
        description="SGD with heavy-ball momentum",
        torch_class=torch.optim.SGD,
        has_momentum=True,
        default_momentum=0.9,
    ),
    OptimizerInfo(
        name="nesterov",
        description="SGD with Nesterov momentum",
        torch_class=torch.optim.SGD,
        has_momentum=True,
        nesterov=True,
        default_momentum=0.9,
        min_momentum_exclusive=True,
    ),
    OptimizerInfo(
        name="adam",
        description="Adam (weight_decay is an L2 term)",
        torch_class=torch.optim.Adam,
        has_betas=True,
        has_eps=True,
        default_eps=1e-8,
    ),
    OptimizerInfo(
        name="adamw",
        description="AdamW (decoupled weight decay)",
        torch_class=torch.optim.AdamW,
        has_betas=True,
        has_eps=True,
        decoupled_weight_decay=True,
        default_eps=1e-8,
    ),
    OptimizerInfo(
        name="adagrad",
        description="Adagrad",
        torch_class=torch.optim.Adagrad,
        has_eps=True,
        default_eps=1e-10,
    ),
    OptimizerInfo(
        name="rmsprop",
        description="RMSprop (smoothing 0.99)",
        torch_class=torch.optim.RMSprop,
        has_momentum=True,
        has_eps=True,
        default_momentum=0.0,
        default_eps=1e-8,
    ),
):
    register_optimizer(_info)
