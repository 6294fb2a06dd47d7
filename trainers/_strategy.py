"""The ``Strategy``: concrete, validated values for every training-strategy dimension."""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._init import Init
from ._optimizers import list_optimizers, optimizer_info
from ._schedules import list_schedules, schedule_info

__all__ = ["BIT_WIDTHS", "Precision", "Strategy", "conditional_parameters"]


class Precision(enum.Enum):
    """Arithmetic of the forward pass (``Strategy.precision``)."""

    FP32 = "fp32"
    BF16 = "bf16"  # autocast to bfloat16 (CPU or CUDA)
    FP16 = "fp16"  # autocast to float16 with a gradient scaler (CUDA only)


#: Allowed weight / activation bit widths; 32 means float (no quantization).
BIT_WIDTHS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 16, 32)

_OPTIMIZER_SUBS = ("momentum", "beta1", "beta2", "eps")
_SCHEDULE_SUBS = ("decay_gamma", "step_size")
#: Fields added after replay tables and studies were first recorded: ``to_dict`` leaves them
#: out while they hold their default, so old tables, studies and checkpoints keep matching.
_LATER_FIELDS = (
    "init",
    "freeze_epochs",
    "backbone_lr_scale",
    "distill_alpha",
    "distill_temperature",
    "grad_clip",
    "precision",
    "channels_last",
)


def _bad(name: str, what: str, value: Any) -> ValueError:
    return ValueError(f"The {name!r} parameter of Strategy must be {what}. Got {value!r} instead.")


def _as_float(name: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(name, what, value)
    result = float(value)
    if not math.isfinite(result):
        raise _bad(name, what, value)
    return result


def _as_int(name: str, value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(name, what, value)
    return int(value)


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """How to train: optimizer, rate schedule, batch size, regularization, pruning, bits.

    Sub-parameters (``momentum``, ``beta1``, ``beta2``, ``eps``, ``decay_gamma``,
    ``step_size``) are ``None`` by default and filled with their defaults where the chosen
    optimizer or schedule takes them; setting one that does not apply raises ``ValueError``.

    Attributes:
        optimizer: One of :func:`list_optimizers`.
        lr: Base learning rate (> 0).
        momentum: Momentum in [0, 1) for optimizers with ``has_momentum``.
        beta1: Adam's first-moment decay in [0, 1) (adam family).
        beta2: Adam's second-moment decay in [0, 1) (adam family).
        eps: Denominator term (> 0) for optimizers with ``has_eps``.
        schedule: One of :func:`list_schedules`.
        warmup_epochs: Epochs of linear warm-up before the schedule (>= 0).
        decay_gamma: Decay factor in (0, 1] (exponential, step).
        step_size: Epochs between decays (>= 1, step).
        batch_size: Samples per step (>= 1).
        weight_decay: L2 strength (decoupled for adamw), >= 0.
        l1: L1 strength on the prunable weights, >= 0.
        dropout: Dropout probability in [0, 1).
        prune_rate: Fraction of the prunable weights that end at exactly zero, in [0, 1).
        bits: Weight bit width, one of :data:`BIT_WIDTHS` (32 = float).
        act_bits: Activation bit width (``None`` = float activations).
        epochs: Epochs to train (>= 1).
        seed: Seed of every random choice of the run (>= 0).
        init: Weight initialisation of Linear / Conv layers, an :class:`Init` value
            (``"default"`` keeps the model factory's).
        freeze_epochs: Epochs with the backbone frozen (>= 0), for a task with a pretrained
            file (``None`` = 0).
        backbone_lr_scale: Learning-rate multiplier (> 0) of the backbone, for a task with a
            pretrained file (``None`` = 1).
        distill_alpha: Weight in [0, 1] of the distillation term, for a task with a teacher
            (``None`` = ``DISTILL_ALPHA``).
        distill_temperature: Distillation temperature (> 0), for a task with a teacher
            (``None`` = ``DISTILL_TEMPERATURE``).
        grad_clip: Max global gradient norm (> 0; ``None`` = no clipping).
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast and a
            gradient scaler; CUDA only), a :class:`Precision` value.
        channels_last: Model and 4-D inputs in channels-last memory format (conv nets).
        task_params: The task's own parameters (``{"width": 128}``), JSON scalars by name;
            see :class:`TaskParam` (left out of :meth:`to_dict` while empty).

    Fields from ``init`` on are left out of :meth:`to_dict` while at their defaults.

    Examples:
        >>> s = Strategy(optimizer="momentum", lr=0.05)
        >>> s.momentum, s.beta1
        (0.9, None)
        >>> Strategy(optimizer="adam", momentum=0.9)
        Traceback (most recent call last):
        ...
        ValueError: The 'momentum' parameter of Strategy does not apply to optimizer 'adam' \
(it applies to momentum, nesterov, rmsprop). Got 0.9 instead; leave it None.
        >>> Strategy(lr=-0.1)
        Traceback (most recent call last):
        ...
        ValueError: The 'lr' parameter of Strategy must be a float > 0. Got -0.1 instead.
        >>> Strategy.from_dict(Strategy(schedule="step").to_dict()) == Strategy(schedule="step")
        True
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    schedule: str = "constant"
    warmup_epochs: int = 0
    decay_gamma: float | None = None
    step_size: int | None = None
    batch_size: int = 32
    weight_decay: float = 0.0
    l1: float = 0.0
    dropout: float = 0.0
    prune_rate: float = 0.0
    bits: int = 32
    act_bits: int | None = None
    epochs: int = 20
    seed: int = 0
    init: str = "default"
    freeze_epochs: int | None = None
    backbone_lr_scale: float | None = None
    distill_alpha: float | None = None
    distill_temperature: float | None = None
    grad_clip: float | None = None
    precision: str = "fp32"
    channels_last: bool = False
    task_params: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if self.optimizer not in list_optimizers():
            raise _bad("optimizer", f"one of {', '.join(list_optimizers())}", self.optimizer)
        if self.schedule not in list_schedules():
            raise _bad("schedule", f"one of {', '.join(list_schedules())}", self.schedule)
        lr = _as_float("lr", self.lr, "a float > 0")
        if lr <= 0:
            raise _bad("lr", "a float > 0", self.lr)
        put(self, "lr", lr)
        for name, low in (("weight_decay", 0.0), ("l1", 0.0)):
            value = _as_float(name, getattr(self, name), "a float >= 0")
            if value < low:
                raise _bad(name, "a float >= 0", getattr(self, name))
            put(self, name, value)
        for name in ("dropout", "prune_rate"):
            value = _as_float(name, getattr(self, name), "a float in [0, 1)")
            if not 0.0 <= value < 1.0:
                raise _bad(name, "a float in [0, 1)", getattr(self, name))
            put(self, name, value)
        for name, low in (("batch_size", 1), ("epochs", 1), ("warmup_epochs", 0), ("seed", 0)):
            value = _as_int(name, getattr(self, name), f"an int >= {low}")
            if value < low:
                raise _bad(name, f"an int >= {low}", getattr(self, name))
            put(self, name, value)
        widths = "an int in {" + ", ".join(map(str, BIT_WIDTHS)) + "}"
        bits = _as_int("bits", self.bits, widths)
        if bits not in BIT_WIDTHS:
            raise _bad("bits", widths, self.bits)
        put(self, "bits", bits)
        if self.act_bits is not None:
            act_bits = _as_int("act_bits", self.act_bits, f"None or {widths}")
            if act_bits not in BIT_WIDTHS:
                raise _bad("act_bits", f"None or {widths}", self.act_bits)
            put(self, "act_bits", act_bits)
        self._resolve_optimizer_subs()
        self._resolve_schedule_subs()
        self._check_later_fields()
        self._check_task_params()

    def _check_task_params(self) -> None:
        what = "a mapping of parameter names (not Strategy fields) to str, int, float or bool"
        values = self.task_params
        if not isinstance(values, Mapping):
            raise _bad("task_params", what, values)
        fields = {field.name for field in dataclasses.fields(self)}
        for name, value in values.items():
            scalar = isinstance(value, str | bool | int) or (
                isinstance(value, float) and math.isfinite(value)
            )
            if not isinstance(name, str) or not name.isidentifier() or name in fields:
                raise _bad("task_params", what, dict(values))
            if not scalar:
                raise _bad("task_params", what, dict(values))
        object.__setattr__(self, "task_params", dict(values))

    def _check_later_fields(self) -> None:
        put = object.__setattr__
        for name, choices in (
            ("init", [member.value for member in Init]),
            ("precision", [member.value for member in Precision]),
        ):
            value = getattr(self, name)
            if isinstance(value, Init | Precision):  # the enum member -> its value
                put(self, name, value.value)
            elif not isinstance(value, str) or value not in choices:
                raise _bad(name, f"one of {', '.join(choices)}", value)
        if not isinstance(self.channels_last, bool):
            raise _bad("channels_last", "a bool", self.channels_last)
        if self.freeze_epochs is not None:
            freeze = _as_int("freeze_epochs", self.freeze_epochs, "None or an int >= 0")
            if freeze < 0:
                raise _bad("freeze_epochs", "None or an int >= 0", self.freeze_epochs)
            put(self, "freeze_epochs", freeze)
        for name in ("backbone_lr_scale", "distill_temperature", "grad_clip"):
            if getattr(self, name) is not None:
                value = _as_float(name, getattr(self, name), "None or a float > 0")
                if value <= 0:
                    raise _bad(name, "None or a float > 0", getattr(self, name))
                put(self, name, value)
        if self.distill_alpha is not None:
            alpha = _as_float("distill_alpha", self.distill_alpha, "None or a float in [0, 1]")
            if not 0.0 <= alpha <= 1.0:
                raise _bad("distill_alpha", "None or a float in [0, 1]", self.distill_alpha)
            put(self, "distill_alpha", alpha)

    def _not_applicable(self, name: str, parent: str) -> ValueError:
        parents = conditional_parameters()[name][1]
        value = getattr(self, parent)
        return ValueError(
            f"The {name!r} parameter of Strategy does not apply to {parent} {value!r} "
            f"(it applies to {', '.join(parents)}). Got {getattr(self, name)!r} instead; "
            "leave it None."
        )

    def _resolve_optimizer_subs(self) -> None:
        info = optimizer_info(self.optimizer)
        put = object.__setattr__
        for name in _OPTIMIZER_SUBS:
            if name not in info.sub_parameters and getattr(self, name) is not None:
                raise self._not_applicable(name, "optimizer")
        if info.has_momentum:
            if self.momentum is None:
                put(self, "momentum", info.default_momentum)
            what = "a float in (0, 1)" if info.min_momentum_exclusive else "a float in [0, 1)"
            momentum = _as_float("momentum", self.momentum, what)
            low_ok = momentum > 0 if info.min_momentum_exclusive else momentum >= 0
            if not (low_ok and momentum < 1):
                raise _bad("momentum", what, self.momentum)
            put(self, "momentum", momentum)
        if info.has_betas:
            for name, default in (("beta1", 0.9), ("beta2", 0.999)):
                value = default if getattr(self, name) is None else getattr(self, name)
                beta = _as_float(name, value, "a float in [0, 1)")
                if not 0 <= beta < 1:
                    raise _bad(name, "a float in [0, 1)", value)
                put(self, name, beta)
        if info.has_eps:
            value = info.default_eps if self.eps is None else self.eps
            eps = _as_float("eps", value, "a float > 0")
            if eps <= 0:
                raise _bad("eps", "a float > 0", value)
            put(self, "eps", eps)

    def _resolve_schedule_subs(self) -> None:
        info = schedule_info(self.schedule)
        put = object.__setattr__
        for name in _SCHEDULE_SUBS:
            if name not in info.sub_parameters and getattr(self, name) is not None:
                raise self._not_applicable(name, "schedule")
        if info.has_decay_gamma:
            value = info.default_decay_gamma if self.decay_gamma is None else self.decay_gamma
            gamma = _as_float("decay_gamma", value, "a float in (0, 1]")
            if not 0 < gamma <= 1:
                raise _bad("decay_gamma", "a float in (0, 1]", value)
            put(self, "decay_gamma", gamma)
        if info.has_step_size:
            value = max(1, self.epochs // 3) if self.step_size is None else self.step_size
            step = _as_int("step_size", value, "an int >= 1")
            if step < 1:
                raise _bad("step_size", "an int >= 1", value)
            put(self, "step_size", step)

    def to_dict(self) -> dict[str, Any]:
        """Every field with its resolved value (JSON-able).

        The fields added later (``init`` ... ``channels_last``) appear only when they differ
        from their default, so replay tables, stored studies and checkpoints written before
        they existed keep matching the same strategies.

        Examples:
            >>> Strategy(optimizer="sgd").to_dict()["momentum"] is None
            True
            >>> "precision" in Strategy().to_dict()
            False
            >>> Strategy(precision="bf16").to_dict()["precision"]
            'bf16'
        """
        values = dataclasses.asdict(self)
        for field in dataclasses.fields(self):
            if field.name in _LATER_FIELDS and values[field.name] == field.default:
                del values[field.name]
        if not values["task_params"]:  # kept out while empty, like the later fields
            del values["task_params"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Strategy:
        """A Strategy from a mapping of field values; unknown keys raise ``ValueError``.

        Examples:
            >>> Strategy.from_dict({"optimizer": "sgd", "lr": 0.1}).lr
            0.1
            >>> Strategy.from_dict({"learning_rate": 0.1})
            Traceback (most recent call last):
            ...
            ValueError: Unknown Strategy field(s) learning_rate. Known: optimizer, lr, ...
        """
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [key for key in values if key not in known]
        if unknown:
            raise ValueError(
                f"Unknown Strategy field(s) {', '.join(map(str, unknown))}. "
                f"Known: {', '.join(known)}."
            )
        return cls(**dict(values))

    def replace(self, **changes: Any) -> Strategy:
        """A copy with ``changes``; sub-parameters that stop applying are dropped.

        Unlike :func:`dataclasses.replace`, switching ``optimizer`` or ``schedule`` resets the
        resolved sub-parameters of the old choice (unless given in ``changes``).

        Examples:
            >>> Strategy(optimizer="adam").replace(optimizer="momentum").beta1 is None
            True
        """
        values = self.to_dict()
        conditions = conditional_parameters()
        for name, (parent, _) in conditions.items():
            if parent in changes and name not in changes:
                values[name] = None
        values.update(changes)
        return Strategy.from_dict(values)


def conditional_parameters() -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Each sub-parameter -> (parent field, parent values where it applies), from the registries.

    Examples:
        >>> conditions = conditional_parameters()
        >>> conditions["beta1"]
        ('optimizer', ('adam', 'adamw'))
        >>> conditions["step_size"]
        ('schedule', ('step',))
    """
    result: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for name in _OPTIMIZER_SUBS:
        parents = tuple(o for o in list_optimizers() if name in optimizer_info(o).sub_parameters)
        result[name] = ("optimizer", parents)
    for name in _SCHEDULE_SUBS:
        parents = tuple(s for s in list_schedules() if name in schedule_info(s).sub_parameters)
        result[name] = ("schedule", parents)
    return result
