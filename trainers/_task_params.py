"""A task's own parameters (model width, depth, any knob): resolved, checked, applied.

A :class:`~paretune.trainers.Task` declares its parameters in ``Task.params`` (each a
:class:`~paretune.trainers.TaskParam`, :mod:`._task_param`); a study searches
them beside the strategy fields; the sampled values travel in ``Strategy.task_params`` and the
model factory receives them as keyword arguments: ``build_model(dropout, **task_params)``
(the ones a strategy leaves out keep the factory's defaults, which should be the declared
defaults).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._strategy import Strategy
from ._task_param import TaskParam

if TYPE_CHECKING:
    from torch import nn

    from ._task import Task

__all__ = [
    "build_task_model",
    "declared_params",
    "resolve_params",
    "resolve_task_params",
    "strategy_from_params",
]


def declared_params(task: Task) -> dict[str, TaskParam]:
    """The task's parameters by name, checked: a tuple of :class:`TaskParam`, names distinct.

    Examples:
        >>> from paretune.trainers import get_task
        >>> list(declared_params(get_task("digits-mlp")))
        ['width', 'depth']
    """
    params = getattr(task, "params", ())
    if not isinstance(params, tuple) or not all(isinstance(p, TaskParam) for p in params):
        raise ValueError(
            "The 'params' parameter of Task must be a tuple of TaskParam. "
            f"Got {params!r} instead (task {task.name!r})."
        )
    result: dict[str, TaskParam] = {}
    for param in params:
        if param.name in result:
            raise ValueError(f"Task {task.name!r} declares the parameter {param.name!r} twice.")
        result[param.name] = param
    return result


def resolve_params(
    declared: Mapping[str, TaskParam], values: Mapping[str, Any], *, task: str
) -> dict[str, Any]:
    """Every declared parameter's value: ``values`` checked, the others at their defaults.

    Examples:
        >>> depth = TaskParam(name="depth", type="int", default=2, low=1, high=8)
        >>> resolve_params({"depth": depth}, {}, task="t")
        {'depth': 2}
        >>> resolve_params({"depth": depth}, {"width": 3}, task="t")
        Traceback (most recent call last):
        ...
        ValueError: Task 't' has no parameter 'width'. Known: depth.
    """
    unknown = [name for name in values if name not in declared]
    if unknown:
        known = ", ".join(declared) or "none (it declares no parameters)"
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(
            f"Task {task!r} has no parameter{plural} {', '.join(map(repr, unknown))}. "
            f"Known: {known}."
        )
    return {
        name: param.check(values[name], task=task) if name in values else param.default
        for name, param in declared.items()
    }


def resolve_task_params(task: Task, values: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`resolve_params` against ``task``'s declaration (``{}`` when it declares none)."""
    return resolve_params(declared_params(task), values, task=task.name)


def build_task_model(task: Task, strategy: Strategy) -> nn.Module:
    """A fresh model: ``build_model(dropout, **strategy.task_params)``.

    The factory receives the parameters the strategy sets (checked against the declaration);
    the others keep the factory's own defaults, which should be the declared ones. A strategy
    that sets none calls ``build_model(dropout)`` exactly as before task parameters existed.

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("digits-mlp")
        >>> model = build_task_model(task, Strategy(task_params={"width": 32, "depth": 1}))
        >>> [layer.out_features for layer in model if hasattr(layer, "out_features")]
        [32, 10]
    """
    resolve_task_params(task, strategy.task_params)  # a value outside its domain raises
    if not strategy.task_params or task.build_model is None:
        return task.new_model(strategy.dropout)
    build: Any = task.build_model
    model: nn.Module = build(strategy.dropout, **strategy.task_params)
    return model


def strategy_from_params(params: Mapping[str, Any], *, task: Task) -> Strategy:
    """A :class:`Strategy` from flat values: Strategy fields plus ``task``'s own parameters.

    The task's parameters go into ``Strategy.task_params`` (checked against the declaration);
    a nested ``task_params`` mapping is taken too. Any other key raises ``ValueError`` listing
    the Strategy fields and the task's parameters.

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("digits-mlp")
        >>> strategy_from_params({"lr": 0.01, "width": 64}, task=task).task_params
        {'width': 64}
        >>> strategy_from_params({"widht": 64}, task=task)
        Traceback (most recent call last):
        ...
        ValueError: Unknown key(s) widht for task 'digits-mlp'. Known: the Strategy fields \
(optimizer, lr, ...) and the task's parameters width, depth.
    """
    declared = declared_params(task)
    fields = [f.name for f in dataclasses.fields(Strategy)]
    values = {k: v for k, v in params.items() if k in fields}
    own = dict(values.pop("task_params", None) or {})
    own.update((k, v) for k, v in params.items() if k in declared)
    unknown = [str(k) for k in params if k not in fields and k not in declared]
    if unknown:
        names = ", ".join(declared) or "none"
        raise ValueError(
            f"Unknown key(s) {', '.join(unknown)} for task {task.name!r}. Known: the Strategy "
            f"fields ({', '.join(fields[:2])}, ...) and the task's parameters {names}."
        )
    resolve_params(declared, own, task=task.name)  # raises for a value out of its domain
    checked = {name: declared[name].check(value, task=task.name) for name, value in own.items()}
    return Strategy.from_dict({**values, "task_params": checked} if checked else values)
