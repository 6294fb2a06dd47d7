"""`StudySpec`: everything the search needs to open a study and run it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paretune.search._objectives import (
    COSTS,
    DIRECTIONS,
    OBJECTIVES,
    directions_of,
    is_metric,
    metric_of,
)
from paretune.search.pruning._base import TrialPruner
from paretune.search.pruning._registry import get_pruner
from paretune.search.samplers._registry import get_sampler
from paretune.search.study._storage import validate_storage_url
from paretune.spaces import StrategySpace, check_int, is_number

if TYPE_CHECKING:
    import optuna

__all__ = ["StudySpec", "UnusableError"]


class UnusableError(ValueError):
    """The sampler or pruner of a :class:`StudySpec` that its registry refuses to build.

    Attributes:
        parameter: ``"sampler"`` or ``"pruner"``.
        reason: The registry's message (unknown name, unknown option, too many objectives).

    Examples:
        >>> error = UnusableError("pruner", "Unknown pruner 'x'.")
        >>> error.parameter, str(error)
        ('pruner', "The 'pruner' parameter of StudySpec is not usable: Unknown pruner 'x'.")
    """

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"The {parameter!r} parameter of StudySpec is not usable: {reason}")
        self.parameter = parameter
        self.reason = reason


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

    Constructing a spec validates it, the sampler and the pruner included: they are built
    here, once (the registries check names and options), and handed on by
    :meth:`get_sampler` and :meth:`get_pruner`.

    Args:
        name: Study name in the storage.
        storage: Storage URL (see :func:`paretune.search.make_storage`).
        objectives: Objective names: ``accuracy`` (maximized), costs (minimized) and task
            metrics ``val_<name>`` (in the direction ``metric_directions`` gives them).
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
        metric_directions: ``val_<name>`` -> ``"maximize"`` / ``"minimize"`` of the task's
            metrics (every metric objective needs one; ``val_accuracy`` defaults to maximize).
            Stored as the study user attribute ``metric_directions``.

    Raises:
        ValueError: A field that is not allowed (scikit-learn wording);
            :class:`UnusableError` for a sampler or pruner its registry refuses.

    Examples:
        >>> from paretune.spaces import Fixed
        >>> spec = StudySpec(name="s", storage="sqlite:///runs/s.db",
        ...                  objectives=("accuracy", "size_bits"),
        ...                  space=StrategySpace(params={"epochs": Fixed(value=2)}))
        >>> spec.directions
        ('maximize', 'minimize')
        >>> StudySpec(name="s", storage="sqlite:///s.db", objectives=("val_rmse", "size_bits"),
        ...           space=spec.space, metric_directions={"val_rmse": "minimize"}).directions
        ('minimize', 'minimize')
        >>> StudySpec(name="s", storage="sqlite:///s.db", objectives=("val_rmse",),
        ...           space=spec.space)
        Traceback (most recent call last):
        ...
        ValueError: The 'metric_directions' parameter of StudySpec must give the direction of ...
        objective 'val_rmse' ('maximize' or 'minimize'). Got {} instead.
        >>> StudySpec(name="s", storage="sqlite:///s.db", objectives=("accuracy", "accuracy"),
        ...           space=spec.space)
        Traceback (most recent call last):
        ...
        ValueError: The 'objectives' parameter of StudySpec must not repeat a name. Got ...
        >>> StudySpec(name="s", storage="sqlite:///s.db", objectives=("accuracy", "size_bits"),
        ...           space=spec.space, sampler="cmaes")
        Traceback (most recent call last):
        ...
        paretune.search.study._spec.UnusableError: The 'sampler' parameter of StudySpec is not
        usable: Sampler 'cmaes' handles one objective; this study has 2. ...
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
    metric_directions: Mapping[str, str] = field(default_factory=dict)
    _sampler: optuna.samplers.BaseSampler = field(init=False, repr=False, compare=False)
    _pruner: TrialPruner = field(init=False, repr=False, compare=False)

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
            if objective not in OBJECTIVES and not is_metric(objective):
                raise ValueError(
                    f"The 'objectives' parameter of {owner} must hold names among "
                    f"{', '.join(OBJECTIVES)} or task metrics val_<name>. "
                    f"Got {objective!r} instead."
                )
        if len({metric_of(o) for o in objectives}) != len(objectives):
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
        check_int(self.seed, name="seed", owner=owner, minimum=0)
        constraints = _json_mapping(owner, "constraints", self.constraints)
        for cost, limit in constraints.items():
            if cost not in COSTS:
                raise ValueError(
                    f"The 'constraints' parameter of {owner} must constrain costs among "
                    f"{', '.join(COSTS)}. Got {cost!r} instead."
                )
            if not is_number(limit):
                raise ValueError(
                    f"The 'constraints' parameter of {owner} must give {cost!r} a finite "
                    f"number as its maximum. Got {limit!r} instead."
                )
            constraints[cost] = float(limit)
        object.__setattr__(self, "constraints", constraints)
        if self.max_total_epochs is not None:
            check_int(
                self.max_total_epochs,
                name="max_total_epochs",
                owner=owner,
                minimum=1,
                what="an int >= 1 or None",
            )
        object.__setattr__(self, "metadata", _json_mapping(owner, "metadata", self.metadata))
        self._check_metric_directions(owner)
        self._build()

    def _check_metric_directions(self, owner: str) -> None:
        given = _json_mapping(owner, "metric_directions", self.metric_directions)
        for name, direction in given.items():
            if not is_metric(name) or direction not in DIRECTIONS:
                raise ValueError(
                    f"The 'metric_directions' parameter of {owner} must map task metrics "
                    f"val_<name> to 'maximize' or 'minimize'. Got {name!r}: {direction!r} instead."
                )
        for objective in self.objectives:
            key = metric_of(objective)
            if is_metric(key) and key != "val_accuracy" and key not in given:
                raise ValueError(
                    f"The 'metric_directions' parameter of {owner} must give the direction of "
                    f"the objective {objective!r} ('maximize' or 'minimize'). "
                    f"Got {given!r} instead."
                )
        object.__setattr__(self, "metric_directions", given)

    def _build(self) -> None:
        """Build the sampler (seeded with ``seed``) and the pruner: their one validation."""
        n_objectives = len(self.objectives)
        try:
            sampler = get_sampler(
                self.sampler, seed=self.seed, n_objectives=n_objectives, **self.sampler_options
            )
        except (ValueError, TypeError) as error:
            raise UnusableError("sampler", str(error)) from None
        try:
            pruner = get_pruner(self.pruner, n_objectives=n_objectives, **self.pruner_options)
        except (ValueError, TypeError) as error:
            raise UnusableError("pruner", str(error)) from None
        check = getattr(pruner, "check_objectives", None)  # the objectives it can prune by
        if callable(check):
            try:
                check(self.objectives)
            except ValueError as error:
                raise UnusableError("pruner", str(error)) from None
        object.__setattr__(self, "_sampler", sampler)
        object.__setattr__(self, "_pruner", pruner)

    def __getstate__(self) -> dict[str, Any]:
        # A copy (another process, a Ray worker) builds its own sampler and pruner: a sampler
        # carries a random generator that must not be shared.
        return {k: v for k, v in self.__dict__.items() if k not in ("_sampler", "_pruner")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._build()

    def get_sampler(self, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
        """The study's sampler.

        Args:
            seed: Its seed; ``None`` or ``seed`` itself gives the sampler built with the spec
                (a resumed study or another worker gets a new one, seeded differently; see
                :func:`paretune.search.study.session_seed`).

        Examples:
            >>> from paretune.spaces import Fixed
            >>> spec = StudySpec(name="s", storage="sqlite:///s.db", objectives=("accuracy",),
            ...                  space=StrategySpace(params={"epochs": Fixed(value=2)}))
            >>> spec.get_sampler() is spec.get_sampler(seed=0), type(spec.get_sampler()).__name__
            (True, 'TPESampler')
            >>> spec.get_sampler(seed=5) is spec.get_sampler()
            False
        """
        if seed is None or seed == self.seed:
            return self._sampler
        built: optuna.samplers.BaseSampler = get_sampler(
            self.sampler, seed=seed, n_objectives=len(self.objectives), **self.sampler_options
        )
        return built

    def get_pruner(self) -> TrialPruner:
        """The study's pruner, built with the spec."""
        return self._pruner

    @property
    def directions(self) -> tuple[str, ...]:
        """``"maximize"`` / ``"minimize"`` per objective, in order."""
        return directions_of(self.objectives, self.metric_directions)
