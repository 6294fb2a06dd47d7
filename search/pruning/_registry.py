"""Pruner registry: paretune's :class:`TrialPruner` objects by name.

The single-objective entries wrap Optuna's pruners: after each epoch the trial reports the
study's objective metric as an intermediate value and the Optuna pruner answers. Other
modules add entries with :func:`register_pruner` (for example ``mo-asha``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from paretune.search._components import ComponentInfo, Components
from paretune.search._objectives import metric_of
from paretune.search._optuna_compat import frozen_trial
from paretune.search.pruning._base import TrialPruner
from paretune.search.pruning._decision import Decision, Verdict, stop_reason
from paretune.search.pruning._mo_pruner import MOAshaPruner
from paretune.spaces import check_options

if TYPE_CHECKING:
    import optuna

__all__ = [
    "NoPruner",
    "OptunaPruner",
    "PrunerInfo",
    "get_pruner",
    "list_pruners",
    "pruner_info",
    "register_pruner",
]

PrunerFactory = Callable[..., TrialPruner]


class PrunerInfo(ComponentInfo[PrunerFactory]):
    """A registered pruner: its ``factory(**options) -> TrialPruner`` and capability flag."""


_PRUNERS: Components[PrunerInfo] = Components(kind="pruner", info=PrunerInfo)


def register_pruner(
    name: str, factory: PrunerFactory, *, multi_objective: bool, description: str
) -> None:
    """Add a pruner to the registry; a name already taken raises ``ValueError``.

    Examples:
        >>> register_pruner("median", NoPruner, multi_objective=True, description="")
        Traceback (most recent call last):
        ...
        ValueError: A pruner named 'median' is already registered. Registered: asha, ...
    """
    _PRUNERS.register(name, factory, multi_objective=multi_objective, description=description)


def list_pruners() -> list[str]:
    """Registered pruner names, sorted."""
    return _PRUNERS.names()


def pruner_info(name: str) -> PrunerInfo:
    """The registry entry for ``name``; unknown names raise ``ValueError`` listing the known."""
    return _PRUNERS.info(name)


def _refuse_multi_objective(name: str, n_objectives: int) -> None:
    multi = ", ".join(_PRUNERS.multi_objective_names())
    raise ValueError(
        f"Pruner {name!r} works on single-objective studies; this study has {n_objectives} "
        f"objectives. Pruners for several objectives: {multi}."
    )


def get_pruner(name: str, *, n_objectives: int | None = None, **options: Any) -> TrialPruner:
    """Build a pruner by name.

    Args:
        name: Registry name (:func:`list_pruners`).
        n_objectives: Objectives of the study it will prune; a single-objective pruner
            refuses more than one. None: checked later, when it first decides.
        **options: The pruner's keyword options (checked against its signature).

    Examples:
        >>> get_pruner("median", n_startup_trials=2)
        OptunaPruner(name='median', metric=None)
        >>> get_pruner("median", n_objectives=2)
        Traceback (most recent call last):
        ...
        ValueError: Pruner 'median' works on single-objective studies; this study has 2 ...
        >>> get_pruner("median", patience=3)
        Traceback (most recent call last):
        ...
        ValueError: Unknown option 'patience' for pruner 'median'. Known: interval_steps, ...
    """
    info = pruner_info(name)
    if n_objectives is not None and n_objectives > 1 and not info.multi_objective:
        _refuse_multi_objective(name, n_objectives)
    check_options("pruner", name, info.factory, options)
    try:
        return info.factory(**options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Invalid options {options!r} for pruner {name!r}: {error}") from None


class NoPruner:
    """Never stops a trial (the ``none`` pruner).

    Examples:
        >>> NoPruner().decide(study=None, trial=None, epoch=1, metrics={})
        Verdict(decision=<Decision.CONTINUE: 'continue'>, reason=None)
    """

    def decide(
        self,
        *,
        study: optuna.Study,
        trial: optuna.Trial,
        epoch: int,
        metrics: Mapping[str, float],
    ) -> Verdict:
        """Always :attr:`Decision.CONTINUE`."""
        return Verdict(Decision.CONTINUE)

    def __repr__(self) -> str:
        return "NoPruner()"


class OptunaPruner:
    """A single-objective Optuna pruner behind the :class:`TrialPruner` interface.

    Each epoch reports ``metrics[metric]`` as the trial's intermediate value and asks the
    Optuna pruner. ``metric`` defaults to the study's objective (``val_accuracy`` for
    ``accuracy``), read from the study attribute ``objectives``. A STOP's reason reads
    ``"median pruner stopped the trial after epoch 3 (val_accuracy=0.41)"``.

    Args:
        name: Registry name (for messages).
        pruner: The Optuna pruner.
        metric: Reported metric to prune on (None: the study's objective).
    """

    def __init__(
        self, *, name: str, pruner: optuna.pruners.BasePruner, metric: str | None = None
    ) -> None:
        self.name = name
        self.pruner = pruner
        self.metric = metric
        self._metric_of_study: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"OptunaPruner(name={self.name!r}, metric={self.metric!r})"

    def _metric_for(self, study: optuna.Study) -> str:
        if self.metric is not None:
            return self.metric
        if study.study_name not in self._metric_of_study:
            objectives = study.user_attrs.get("objectives")
            if not objectives:
                raise ValueError(
                    f"Pruner {self.name!r} cannot tell which metric to prune on: study "
                    f"{study.study_name!r} has no 'objectives' attribute. Pass metric=NAME."
                )
            self._metric_of_study[study.study_name] = metric_of(objectives[0])
        return self._metric_of_study[study.study_name]

    def decide(
        self,
        *,
        study: optuna.Study,
        trial: optuna.Trial,
        epoch: int,
        metrics: Mapping[str, float],
    ) -> Verdict:
        """Report the metric for ``epoch`` and return the Optuna pruner's answer."""
        n_objectives = len(study.directions)
        if n_objectives != 1:
            _refuse_multi_objective(self.name, n_objectives)
        metric = self._metric_for(study)
        if metric not in metrics:
            raise ValueError(
                f"Pruner {self.name!r} prunes on {metric!r}, which the trainer did not report. "
                f"Reported: {', '.join(sorted(metrics))}."
            )
        trial.report(float(metrics[metric]), epoch)
        if self.pruner.prune(study, frozen_trial(study, trial)):
            return Verdict(Decision.STOP, stop_reason(self.name, epoch, metrics))
        return Verdict(Decision.CONTINUE)


class _OptunaPrunerFactory:
    """Builds an :class:`OptunaPruner` around one Optuna pruner class (its signature + metric)."""

    def __init__(self, name: str, class_name: str) -> None:
        self._name = name
        self._class_name = class_name

    def _cls(self) -> Any:
        import optuna

        return getattr(optuna.pruners, self._class_name)

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self._cls())
        metric = inspect.Parameter("metric", inspect.Parameter.KEYWORD_ONLY, default=None)
        return signature.replace(parameters=[*signature.parameters.values(), metric])

    def __call__(self, *, metric: str | None = None, **options: Any) -> TrialPruner:
        return OptunaPruner(name=self._name, pruner=self._cls()(**options), metric=metric)


register_pruner("none", NoPruner, multi_objective=True, description="Never stop a trial early.")
for _name, _class_name, _description in [
    ("median", "MedianPruner", "Stop below the median of earlier trials at the same epoch."),
    ("percentile", "PercentilePruner", "Stop outside a percentile of earlier trials."),
    ("asha", "SuccessiveHalvingPruner", "Asynchronous successive halving (ASHA)."),
    ("hyperband", "HyperbandPruner", "Hyperband: several ASHA brackets."),
    ("threshold", "ThresholdPruner", "Stop when the metric leaves [lower, upper]."),
]:
    register_pruner(
        _name,
        _OptunaPrunerFactory(_name, _class_name),
        multi_objective=False,
        description=_description,
    )
register_pruner(
    "mo-asha",
    MOAshaPruner,
    multi_objective=True,
    description="Multi-objective ASHA: non-dominated sorting over accuracy and costs per rung.",
)
