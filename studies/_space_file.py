"""The ``[space]`` table of a study file, checked against the trainers' registries.

A scalar fixes a strategy field, a list makes it categorical and a table (``low``, ``high``,
``log``, ``step``) makes it a range. Sub-parameters that only apply to some optimizers or
schedules (``momentum``, ``beta1``, ``decay_gamma``, ``step_size`` ...) get the conditions
from ``trainers.conditional_parameters()``: they are sampled only where they apply. The task's
own parameters (``trainers.TaskParam``: ``width``, ``depth`` ...) are keys beside the strategy
fields, with the same syntax, checked against the task's declaration.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

from paretune.spaces import is_int
from paretune.studies._checks import Where
from paretune.studies._errors import StudyFileError, format_value

if typing.TYPE_CHECKING:
    from paretune.spaces import StrategySpace
    from paretune.trainers import Task, TaskParam

__all__ = ["fixed_task_params", "read_space", "strategy_fields"]

_RANGE_KEYS = ("low", "high", "log", "step")

#: The largest magnitude a float strategy field may have: training computes in float32, and
#: a larger value (``lr = 1e308``) overflows there, so every trial with it would fail.
MAX_FLOAT = 3.4028234663852886e38
#: The largest int strategy field (``epochs = 2**63`` could never end): an int32.
MAX_INT = 2**31 - 1

#: Strategy fields that need a layer to prune or quantize: field -> (layer kind, what it
#: does, whether a value asks for it).
_LAYER_FIELDS: dict[str, tuple[str, str, typing.Callable[[Any], bool]]] = {
    "prune_rate": ("prunable", "pruning", lambda v: v > 0),
    "l1": ("prunable", "an l1 penalty", lambda v: v > 0),
    "bits": ("quantizable", "quantization", lambda v: v < 32),
    "act_bits": ("quantizable", "activation quantization", lambda v: v < 32),
}

#: Strategy fields that need a pretrained start: field -> what it does.
_TRANSFER_FIELDS = {
    "freeze_epochs": "freezing the backbone",
    "backbone_lr_scale": "a backbone learning-rate scale",
}


def strategy_fields() -> dict[str, tuple[type, Any]]:
    """Each ``Strategy`` field with its value type (``int``, ``float``, ``str``, ``bool``)
    and its default.

    Returns:
        Field name -> (type, default), in the order of the dataclass.

    Examples:
        >>> fields = strategy_fields()
        >>> fields["lr"][0], fields["optimizer"][0], fields["batch_size"][0]
        (<class 'float'>, <class 'str'>, <class 'int'>)
    """
    from paretune.trainers import Strategy

    hints = typing.get_type_hints(Strategy)
    result: dict[str, tuple[type, Any]] = {}
    for field in dataclasses.fields(Strategy):
        if field.name == "task_params":  # the task's own parameters are keys of their own
            continue
        hint = hints[field.name]
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        default = field.default if field.default is not dataclasses.MISSING else None
        result[field.name] = (hint, default)
    return result


def _check_type(where: Where, kind: type, value: Any) -> Any:
    """A scalar of the field's type (ints are accepted for float fields), within the limits
    training can compute with (:data:`MAX_INT`, :data:`MAX_FLOAT`)."""
    if isinstance(value, Mapping | list):
        raise where.fail(f"a {_type_word(kind)}", value)
    if kind is bool:
        return where.boolean(value)
    if kind is int:
        return _within_limits(where, kind, where.integer(value))
    if kind is float:
        return _within_limits(where, kind, where.number(value))
    if not isinstance(value, kind):
        raise where.fail(f"a {_type_word(kind)}", value)
    return value


def _within_limits(where: Where, kind: type, value: Any) -> Any:
    """``value`` when training can use it; a larger one could only overflow or never end.

    Examples:
        >>> _within_limits(Where("x.toml", "space.lr.high"), float, 1e308)
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.lr.high must be a number
        between -3.4028234663852886e+38 and 3.4028234663852886e+38, the float32 range
        training computes in (got 1e+308)
        >>> _within_limits(Where("x.toml", "space.epochs"), int, 2**63)
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.epochs must be an integer
        <= 2147483647 (got 9223372036854775808)
    """
    if kind is int and value > MAX_INT:
        raise where.fail(f"an integer <= {MAX_INT}", value)
    if kind is float and abs(value) > MAX_FLOAT:
        raise where.fail(
            f"a number between {-MAX_FLOAT!r} and {MAX_FLOAT!r}, the float32 range training "
            "computes in",
            value,
        )
    return value


def _type_word(kind: type) -> str:
    return {int: "integer", float: "number", str: "string", bool: "boolean"}.get(
        kind, kind.__name__
    )


class _SpaceReader:
    """Reads one ``[space]`` table (kept as an object so each step stays short)."""

    def __init__(
        self,
        table: Mapping[str, Any],
        where: Where,
        task_params: Mapping[str, TaskParam] | None,
        task: str,
        built: Task | None = None,
    ) -> None:
        from paretune.trainers import conditional_parameters

        self.table = table
        self.where = where
        self.built = built  # the built task, for the checks of what it can use
        self.fields = strategy_fields()
        self.conditions = dict(conditional_parameters())
        self.task = task
        self.unchecked = task_params is None
        if task_params is None:  # the task could not be built: take other keys unchecked
            task_params = {}
        self.task_params = dict(task_params)

    # -- which parent values can occur -------------------------------------------------
    def possible(self, name: str) -> tuple[Any, ...] | None:
        """The values a field can take in this space (``None`` when it is a range)."""
        if name not in self.table:
            return (self.fields[name][1],)
        value = self.table[name]
        if isinstance(value, list):
            return tuple(value)
        if isinstance(value, Mapping):
            return None
        return (value,)

    def context(self, name: str) -> dict[str, Any]:
        """Parent values that make ``name`` apply, to check its values with ``Strategy``."""
        if name not in self.conditions:
            return {}
        parent, applies = self.conditions[name]
        possible = self.possible(parent) or applies
        chosen = next((v for v in possible if v in applies), applies[0])
        return {parent: chosen, **self.context(parent)}

    def probe(self, where: Where, name: str, value: Any) -> None:
        """Ask ``Strategy`` itself whether the value is allowed (the registries decide)."""
        from paretune.trainers import Strategy

        try:
            Strategy.from_dict({**self.context(name), name: value})
        except (ValueError, TypeError) as error:
            raise where.error(f"is not allowed (got {format_value(value)}): {error}") from None

    # -- one entry ----------------------------------------------------------------------
    def choices(
        self,
        where: Where,
        value: list[Any],
        *,
        check: Callable[[Where, Any], Any],
        then: Callable[[Where, Any], None] | None = None,
    ) -> Any:
        """A list of choices: each ``check``-ed, none repeated (``1`` and ``True`` differ),
        then ``then``-ed."""
        from paretune.spaces import CategoricalDistribution

        if not value:
            raise where.fail("a non-empty list of choices", value)
        choices: list[Any] = []
        for index, item in enumerate(value):
            item_where = Where(where.source, f"{where.key}[{index}]")
            item = check(item_where, item)
            if any(type(c) is type(item) and c == item for c in choices):
                raise item_where.error(f"repeats the choice {format_value(item)}")
            if then is not None:
                then(item_where, item)
            choices.append(item)
        return self.build(where, CategoricalDistribution, choices=tuple(choices))

    def entry(self, name: str, value: Any) -> Any:
        from paretune.spaces import Fixed

        where = self.where.child(name)
        if name not in self.fields:
            return self.task_entry(where, name, value)
        kind = self.fields[name][0]
        if isinstance(value, Mapping):
            return self.range(where, name, kind, value)
        if isinstance(value, list):
            return self.choices(
                where,
                value,
                check=lambda w, item: _check_type(w, kind, item),
                then=lambda w, item: self.probe(w, name, item),
            )
        fixed = _check_type(where, kind, value)
        self.probe(where, name, fixed)
        return self.build(where, Fixed, value=fixed)

    def range(self, where: Where, name: str, kind: type, table: Mapping[str, Any]) -> Any:
        if kind not in (int, float):
            raise where.error(
                f"cannot be a range: {name} takes a {_type_word(kind)}; write one value or a "
                f"list of choices (got {format_value(dict(table))})"
            )
        distribution = self.range_of(where, kind, table)
        for key in ("low", "high"):
            _within_limits(where.child(key), kind, table[key])
        self.probe(where.child("low"), name, distribution.low)
        self.probe(where.child("high"), name, distribution.high)
        return distribution

    # -- the task's own parameters -------------------------------------------------------
    def task_check(self, where: Where, name: str, value: Any) -> Any:
        """The value if the task's declaration allows it (anything, when unchecked)."""
        if isinstance(value, Mapping | list):
            raise where.fail("a single value", value)
        if self.unchecked:
            return value
        try:
            return self.task_params[name].check(value, task=self.task)
        except ValueError as error:
            raise where.error(f"is not allowed (got {format_value(value)}): {error}") from None

    def task_entry(self, where: Where, name: str, value: Any) -> Any:
        from paretune.spaces import Fixed

        if isinstance(value, list):
            return self.choices(where, value, check=lambda w, item: self.task_check(w, name, item))
        if not isinstance(value, Mapping):
            return self.build(where, Fixed, value=self.task_check(where, name, value))
        param = self.task_params.get(name)
        if param is not None and not param.is_range:
            raise where.error(
                f"cannot be a range: the parameter {name!r} of task {self.task!r} must be "
                f"{param.allowed}; write one value or a list of choices "
                f"(got {format_value(dict(value))})"
            )
        if param is None:  # unchecked: the bounds say
            integral = is_int(value.get("low")) and is_int(value.get("high"))
        else:
            integral = param.kind.value == "int"
        kind: type = int if integral else float
        distribution = self.range_of(where, kind, value)
        self.task_check(where.child("low"), name, distribution.low)
        self.task_check(where.child("high"), name, distribution.high)
        return distribution

    def range_of(self, where: Where, kind: type, table: Mapping[str, Any]) -> Any:
        """An int or float distribution from ``{ low, high, log, step }``."""
        from paretune.spaces import FloatDistribution, IntDistribution

        where.keys(table, _RANGE_KEYS)
        for key in ("low", "high"):
            if key not in table:
                raise where.error(f"needs '{key}' (a range is {{ low = ..., high = ... }})")
        if table.get("log") is True and "step" in table:
            raise where.error("cannot have both log = true and a step")
        options = {key: table[key] for key in _RANGE_KEYS if key in table}
        # The distribution checks the range; its message is reworded onto the key path.
        try:
            if kind is int:
                return IntDistribution(**options)
            return FloatDistribution(**options)
        except ValueError as error:
            raise _range_error(where, table, error) from None

    def build(self, where: Where, cls: Any, **kwargs: Any) -> Any:
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as error:
            raise where.error(f"is not a valid {cls.__name__}: {error}") from None

    # -- conditions ---------------------------------------------------------------------
    def condition(self, name: str) -> tuple[str, tuple[Any, ...]] | None:
        """The condition under which ``name`` is sampled, or ``None`` when it always is."""
        if name not in self.conditions:
            return None
        parent, applies = self.conditions[name]
        possible = self.possible(parent)
        if possible is None:
            return parent, tuple(applies)
        if not any(v in applies for v in possible):
            if parent in self.table:
                can = f"space.{parent} only allows {_listing(possible)}"
            else:
                can = (
                    f"{parent} is not in [space], so it is always "
                    f"{format_value(self.fields[parent][1])}"
                )
            raise self.where.child(name).error(
                f"can never be used: {name} only applies when {parent} is one of "
                f"{_listing(applies)}, but {can}"
            )
        if parent not in self.table:
            return None  # the parent is fixed at its default, where the sub-parameter applies
        return parent, tuple(applies)

    # -- what the task can use ------------------------------------------------------------
    def refuse(self, name: str, why: str) -> StudyFileError:
        value = format_value(self.table[name])
        return self.where.child(name).error(f"cannot be used (got {value}): {why}")

    def check_usable(self, task: Task, params: Mapping[str, Any]) -> None:
        """Refuse a field no trial of ``task`` can use: the run would fail trial by trial.

        Distillation needs ``Task.teacher``; ``freeze_epochs`` / ``backbone_lr_scale`` need
        ``Task.pretrained`` and ``Task.head`` (any value of them fails without, as in
        ``trainers.check_applies``). Pruning and quantization fields whose every value asks
        for a layer are refused when the task's model has none (``check_strategy_fits``).
        Replay tasks train nothing and are not checked.
        """
        if task.replay is not None:
            return
        if task.teacher is None:
            for name in ("distill_alpha", "distill_temperature"):
                if name in params:
                    raise self.refuse(
                        name,
                        f"task {task.name!r} has no teacher (Task.teacher); distillation needs one",
                    )
        for name, use in _TRANSFER_FIELDS.items():
            if name not in params:
                continue
            if task.pretrained is None:
                raise self.refuse(
                    name,
                    f"task {task.name!r} has no pretrained file (Task.pretrained); {use} needs one",
                )
            if not task.head:
                raise self.refuse(
                    name,
                    f"task {task.name!r} names no head (Task.head); {use} needs one to tell "
                    "the backbone from it",
                )
        asked = [name for name in _LAYER_FIELDS if name in params and _always(name, params[name])]
        if asked and not self.has_layers(task, params):
            from paretune.trainers import LAYER_TYPES

            kind, use, _ = _LAYER_FIELDS[asked[0]]
            kinds = ", ".join(t.__name__ for t in LAYER_TYPES)
            chosen = " chosen by its 'prunable' filter" if task.prunable is not None else ""
            raise self.refuse(
                asked[0],
                f"task {task.name!r} has no {kind} layer ({kinds}){chosen}; {use} needs one",
            )

    def has_layers(self, task: Task, params: Mapping[str, Any]) -> bool:
        """Whether the task's model has a layer to prune and quantize (True when unknown).

        The model is built with the task parameters the space fixes; when the space searches
        one, the layers may depend on it, and the check is left to each trial.
        """
        from paretune.trainers import Strategy, build_task_model, named_prunable_layers

        if task.build_model is None:
            return True
        fixed = fixed_task_params(params, self.task_params)
        if fixed is None:
            return True
        try:
            model = build_task_model(task, Strategy(task_params=fixed))
        except Exception:  # noqa: BLE001 - a model that cannot be built fails in its trial
            return True
        return bool(named_prunable_layers(model, select=task.prunable))

    def read(self, *, epochs: int | None) -> StrategySpace:
        from paretune.spaces import Fixed, StrategySpace

        known = [*self.fields, *self.task_params]
        if self.unchecked:
            known += [key for key in self.table if key not in self.fields]
        self.where.keys(self.table, known)
        params: dict[str, Any] = {}
        conditions: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for name, value in self.table.items():
            params[name] = self.entry(name, value)
            found = self.condition(name)
            if found is not None:
                conditions[name] = found
        if self.built is not None:
            self.check_usable(self.built, params)
        if epochs is not None and "epochs" in self.fields and "epochs" not in params:
            params["epochs"] = Fixed(value=epochs)
        try:
            return StrategySpace(params=params, conditions=conditions)
        except (ValueError, TypeError) as error:
            raise self.where.error(f"is not a valid space: {error}") from None


#: A distribution's error: "The 'low' parameter of FloatDistribution must be .... Got 0 instead."
_DISTRIBUTION_ERROR = re.compile(r"The '(?P<key>\w+)' parameter of \w+ must (?P<rule>.+?)\. Got .*")

#: Python words in a distribution's rule -> the words of a study file.
_FILE_WORDS = (
    (" or None", ""),
    ("an int", "an integer"),
    ("a finite float", "a finite number"),
    ("a float", "a number"),
    ("a bool", "true or false"),
    ("log=True", "log = true"),
)


def _range_error(where: Where, table: Mapping[str, Any], error: ValueError) -> StudyFileError:
    """A distribution's ``ValueError`` as a study-file error at ``space.NAME.KEY``.

    Examples:
        >>> from paretune.spaces import FloatDistribution
        >>> try:
        ...     FloatDistribution(low=0.5, high=0.1)
        ... except ValueError as error:
        ...     print(_range_error(Where("x.toml", "space.lr"), {"low": 0.5, "high": 0.1}, error))
        x.toml: space.lr.high must be >= low = 0.5 (got 0.1)
    """
    match = _DISTRIBUTION_ERROR.fullmatch(str(error))
    if match is None or match["key"] not in table:
        return where.error(f"is not a valid range (got {format_value(dict(table))}): {error}")
    key, rule = match["key"], match["rule"]
    # "be a float >= low=0.5": the type is the field's; the bound is the file's value
    rule = re.sub(r"^be (an int|a float) (?=[<>])", "be ", rule)
    rule = re.sub(r"\blow=\S+", lambda _: f"low = {format_value(table['low'])}", rule)
    for python, toml in _FILE_WORDS:
        rule = rule.replace(python, toml)
    return where.child(key).error(f"must {rule} (got {format_value(table[key])})")


def fixed_task_params(
    params: Mapping[str, Any], declared: Collection[str]
) -> dict[str, Any] | None:
    """The task parameters a space fixes, or ``None`` when it searches one of them.

    A model built from them is the model of every trial only when the space fixes each task
    parameter it names; otherwise the model depends on a sampled value.

    Examples:
        >>> from paretune.spaces import CategoricalDistribution, Fixed
        >>> fixed_task_params({"width": Fixed(value=32), "lr": Fixed(value=0.1)}, ["width"])
        {'width': 32}
        >>> fixed_task_params({"width": CategoricalDistribution(choices=(16, 32))}, ["width"])
    """
    from paretune.spaces import Fixed

    own = {name: params[name] for name in declared if name in params}
    if not all(isinstance(d, Fixed) for d in own.values()):
        return None
    return {name: d.value for name, d in own.items()}


def _always(name: str, distribution: Any) -> bool:
    """Whether every value ``distribution`` can give to ``name`` asks for a layer.

    The tests of :data:`_LAYER_FIELDS` are thresholds, so a range asks always when both of
    its ends do.
    """
    asks = _LAYER_FIELDS[name][2]
    if hasattr(distribution, "choices"):
        values = list(distribution.choices)
    elif hasattr(distribution, "low"):
        values = [distribution.low, distribution.high]
    else:
        values = [distribution.value]
    return all(v is not None and asks(v) for v in values)


def _listing(values: Any) -> str:
    return ", ".join(format_value(v) for v in values)


def read_space(
    table: Any,
    where: Where,
    *,
    epochs: int | None = None,
    task_params: Mapping[str, TaskParam] | None = None,
    task: str = "",
    unchecked: bool = False,
    built: Task | None = None,
) -> StrategySpace:
    """Turn the ``[space]`` table of a study file into a ``StrategySpace``.

    Args:
        table: The parsed ``[space]`` table.
        where: The file and key path (``space``) for error messages.
        epochs: The task's default epochs, fixed when the table does not set ``epochs``.
        task_params: The task's own parameters by name (``trainers.declared_params``):
            keys beside the strategy fields, their values checked against the declaration.
        task: The task's name, for error messages.
        unchecked: The task could not be built (its data is missing): keys that are not
            strategy fields are taken as its parameters without checks.
        built: The built task: fields it can never use (distillation without a teacher,
            freezing without a pretrained file, pruning or quantization of a model with no
            such layer, in every value the space allows) are refused before any training.

    Returns:
        The space, with conditions for the sub-parameters that only apply to some
        optimizers or schedules.

    Raises:
        StudyFileError: For an unknown field, a value of the wrong type, a value the
            trainers or the task's declaration refuse, a malformed range, a sub-parameter
            that can never apply, or a field the built task can never use.

    Examples:
        >>> space = read_space({"optimizer": ["sgd", "momentum"], "momentum": {"low": 0.5,
        ...     "high": 0.99}, "lr": {"low": 1e-3, "high": 0.1, "log": True}},
        ...     Where("x.toml", "space"))
        >>> dict(space.conditions)["momentum"][0]
        'optimizer'
        >>> read_space({"lr": {"low": 0, "high": 1, "log": True}}, Where("x.toml", "space"))
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.lr.low must be > 0 when log =
        true (got 0)
        >>> from paretune.trainers import TaskParam
        >>> width = TaskParam(name="width", type="int", default=256, low=1, high=4096)
        >>> read_space({"width": [64, 128]}, Where("x.toml", "space"),
        ...     task_params={"width": width}, task="digits-mlp").params["width"].choices
        (64, 128)
        >>> read_space({"width": 0}, Where("x.toml", "space"), task_params={"width": width},
        ...     task="digits-mlp")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.width is not allowed (got 0):
        The parameter 'width' of task 'digits-mlp' must be an int in [1, 4096]. Got 0 instead.
        >>> from paretune.trainers import get_task
        >>> read_space({"distill_alpha": [0.3, 0.7]}, Where("x.toml", "space"),
        ...     built=get_task("digits-mlp"))
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: space.distill_alpha cannot be used
        (got [0.3, 0.7]): task 'digits-mlp' has no teacher (Task.teacher); distillation needs one
    """
    mapping = where.table(table)
    if not mapping:
        raise where.error("is empty: give at least one strategy field (e.g. lr = { ... })")
    declared = None if unchecked else dict(task_params or {})
    return _SpaceReader(mapping, where, declared, task, built).read(epochs=epochs)
