"""`StudySpec`: everything the search needs to open a study and run it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paretune.search._objectives import COSTS, OBJECTIVES, direction_of
from paretune.search.study._storage import validate_storage_url
from paretune.spaces import StrategySpace

__all__ = ["StudySpec"]


def _json_mapping(owner: str, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a mapping. Got {value!r} instead."
        )
    try:
        json.dumps(dict(value))
    except (TypeError, ValueError):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be JSON-serializable. Got {value!r} instead."
        ) from None
    return dict(value)


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """A study to open or resume: name, storage, objectives, space, sampler, pruner, budget.

    Args:
        name: Study name in the storage.
        storage: Storage URL (see :func:`paretune.search.make_storage`).
        objectives: Objective names, accuracy maximized and costs minimized.
        space: The strategy space sampled by every trial.
        sampler: Sampler name (:func:`paretune.search.list_samplers`).
        sampler_options: Extra keyword arguments for the sampler.
        pruner: Pruner name (:func:`paretune.search.list_pruners`).
        pruner_options: Extra keyword arguments for the pruner.
        seed: Seed of the sampler (and of anything else random in the search).
        constraints: Cost name -> largest allowed value (recorded with
            ``trial.set_constraint`` as ``cost - max``, feasible when ``<= 0``).
        max_total_epochs: Stop starting trials once this many epochs have been trained in
            the study (None: no limit).
        metadata: JSON-able extras stored as a study user attribute (task, data_dir, ...).

    Examples:
        >>> from paretune.spaces import Fixed
        >>> spec = StudySpec(name="s", storage="sqlite:///runs/s.db",
        ...                  objectives=("accuracy", "size_bits"),
        ...                  space=StrategySpace(params={"epochs": Fixed(value=2)}))
        >>> spec.directions
        ('maximize', 'minimize')
        >>> StudySpec(name="s", storage="sqlite:///s.db", objectives=("accuracy", "accuracy"),
        ...           space=spec.space)
        Traceback (most recent call last):
        ...
        ValueError: The 'objectives' parameter of StudySpec must not repeat a name. Got ...
    """

    name: str
    storage: str
    objectives: tuple[str, ...]
    space: StrategySpace
    sampler: str = "tpe"
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner: str = "none"
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    constraints: Mapping[str, float] = field(default_factory=dict)
    max_total_epochs: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(
                f"The 'name' parameter of {owner} must be a non-empty str. "
                f"Got {self.name!r} instead."
            )
        validate_storage_url(self.storage)
        if isinstance(self.objectives, str) or not isinstance(self.objectives, (tuple, list)):
            raise ValueError(
                f"The 'objectives' parameter of {owner} must be a sequence of names. "
                f"Got {self.objectives!r} instead."
            )
        objectives = tuple(self.objectives)
        if not objectives:
            raise ValueError(
                f"The 'objectives' parameter of {owner} must name at least one objective. "
                f"Got {self.objectives!r} instead."
            )
        for objective in objectives:
            if objective not in OBJECTIVES:
                raise ValueError(
                    f"The 'objectives' parameter of {owner} must hold names among "
                    f"{', '.join(OBJECTIVES)}. Got {objective!r} instead."
                )
        if len(set(objectives)) != len(objectives):
            raise ValueError(
                f"The 'objectives' parameter of {owner} must not repeat a name. "
                f"Got {list(objectives)!r} instead."
            )
        object.__setattr__(self, "objectives", objectives)
        if not isinstance(self.space, StrategySpace):
            raise ValueError(
                f"The 'space' parameter of {owner} must be a StrategySpace. "
                f"Got {self.space!r} instead."
            )
        for name in ("sampler", "pruner"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"The {name!r} parameter of {owner} must be a non-empty str. "
                    f"Got {value!r} instead."
                )
        sampler_options = _json_mapping(owner, "sampler_options", self.sampler_options)
        for reserved in ("seed", "constraints_func"):
            if reserved in sampler_options:
                raise ValueError(
                    f"The 'sampler_options' parameter of {owner} must not set {reserved!r}: "
                    f"paretune sets it (from 'seed' and 'constraints'). "
                    f"Got {sampler_options!r} instead."
                )
        object.__setattr__(self, "sampler_options", sampler_options)
        object.__setattr__(
            self, "pruner_options", _json_mapping(owner, "pruner_options", self.pruner_options)
        )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(
                f"The 'seed' parameter of {owner} must be an int >= 0. Got {self.seed!r} instead."
            )
        constraints = _json_mapping(owner, "constraints", self.constraints)
        for cost, limit in constraints.items():
            if cost not in COSTS:
                raise ValueError(
                    f"The 'constraints' parameter of {owner} must constrain costs among "
                    f"{', '.join(COSTS)}. Got {cost!r} instead."
                )
            if (
                isinstance(limit, bool)
                or not isinstance(limit, (int, float))
                or not math.isfinite(limit)
            ):
                raise ValueError(
                    f"The 'constraints' parameter of {owner} must give {cost!r} a finite "
                    f"number as its maximum. Got {limit!r} instead."
                )
            constraints[cost] = float(limit)
        object.__setattr__(self, "constraints", constraints)
        limit = self.max_total_epochs
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(
                f"The 'max_total_epochs' parameter of {owner} must be an int >= 1 or None. "
                f"Got {limit!r} instead."
            )
        object.__setattr__(self, "metadata", _json_mapping(owner, "metadata", self.metadata))

    @property
    def directions(self) -> tuple[str, ...]:
        """``"maximize"`` / ``"minimize"`` per objective, in order."""
        return tuple(direction_of(o) for o in self.objectives)
