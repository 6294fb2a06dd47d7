"""The study's pruner as a Ray Tune ``TrialScheduler``.

Single-objective pruners map to Ray's own schedulers, timed in epochs: ``asha`` to
``ASHAScheduler``, ``hyperband`` to ``AsyncHyperBandScheduler`` with several brackets,
``median`` to ``MedianStoppingRule`` (their Optuna option names are translated). Every other
registered pruner (``mo-asha``, ``percentile``, ``threshold`` ...) runs through
:class:`StudyPrunerScheduler`, a ``TrialScheduler`` that calls the same pruner object the local
executor uses: ``mo-asha`` decides with the pure core
:class:`paretune.search.pruning.MOAsha` over the curves in the study's storage, exactly as in a
local run.

A scheduler's STOP is not carried out by killing the trial (what Ray does, losing the
trainer's result): :class:`StopByReport` turns it into a stop request on the trial channel,
which the trainer's next ``report`` returns as True, so the trainer stops cleanly and its
result is recorded as a PRUNED trial, as in a local run.

This module imports Ray and is only imported lazily, by the Ray executor.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ray
from paretune.search._objectives import direction_of, metric_of
from paretune.search.executors._ray_channel import open_channel
from paretune.search.executors._ray_trainable import (
    EPOCH_KEY,
    METRICS_KEY,
    RESULT_KEY,
    TRIAL_NUMBER_KEY,
)
from paretune.search.pruning._decision import Decision
from ray.tune.schedulers import (
    AsyncHyperBandScheduler,
    FIFOScheduler,
    MedianStoppingRule,
    TrialScheduler,
)

if TYPE_CHECKING:
    from paretune.search.study._spec import StudySpec
    from paretune.spaces import StrategySpace

#: Pruners that run as Ray Tune's own schedulers, with the Optuna options each understands.
RAY_NATIVE: dict[str, tuple[str, ...]] = {
    "asha": ("min_resource", "reduction_factor", "min_early_stopping_rate"),
    "hyperband": ("min_resource", "max_resource", "reduction_factor"),
    "median": ("n_startup_trials", "n_warmup_steps"),
}


def max_epochs_of(space: StrategySpace, default: int = 1000) -> int:
    """The most epochs any strategy of ``space`` trains (``default`` if the space leaves it).

    Examples:
        >>> from paretune.spaces import Fixed, IntDistribution, StrategySpace
        >>> max_epochs_of(StrategySpace(params={"epochs": IntDistribution(low=2, high=9)},
        ...                             conditions={}))
        9
        >>> max_epochs_of(StrategySpace(params={"epochs": Fixed(value=4)}, conditions={}))
        4
    """
    from paretune.spaces import CategoricalDistribution, Fixed, IntDistribution

    dist = space.params.get("epochs")
    if isinstance(dist, Fixed):
        return int(dist.value)
    if isinstance(dist, IntDistribution):
        return int(dist.high)
    if isinstance(dist, CategoricalDistribution):
        numbers = [int(c) for c in dist.choices if isinstance(c, (int, float))]
        return max(numbers, default=default)
    return default


def _resource(value: Any, default: int) -> int:
    return default if value in (None, "auto") else int(value)


def make_scheduler(spec: StudySpec, *, channel_name: str) -> TrialScheduler:
    """The Ray Tune scheduler that runs the study's pruner (FIFO for ``none``).

    Raises:
        ValueError: An unknown pruner or option (the message lists the known ones).
    """
    from paretune.search import get_pruner

    name = spec.pruner
    options = dict(spec.pruner_options)
    # The registry checks the name and the options (as for a local run).
    get_pruner(name, n_objectives=len(spec.objectives), **options)
    if name == "none":
        return FIFOScheduler()  # type: ignore[no-untyped-call]
    if name not in RAY_NATIVE:
        return StopByReport(StudyPrunerScheduler(spec=spec), pruner=name, channel_name=channel_name)
    unknown = sorted(set(options) - set(RAY_NATIVE[name]))
    if unknown:
        raise ValueError(
            f"The option(s) {', '.join(map(repr, unknown))} of the {name} pruner have no Ray "
            f"Tune equivalent. Known on the Ray backend: {', '.join(RAY_NATIVE[name])}."
        )
    max_epochs = max_epochs_of(spec.space)
    objective = spec.objectives[0]
    metric = metric_of(objective)
    mode = "max" if direction_of(objective) == "maximize" else "min"
    inner: TrialScheduler
    if name in ("asha", "hyperband"):
        factor = float(options.get("reduction_factor", 4 if name == "asha" else 3))
        grace = _resource(options.get("min_resource"), 1)
        top = _resource(options.get("max_resource"), max_epochs)
        if name == "asha":
            grace = grace * int(factor ** int(options.get("min_early_stopping_rate", 0)))
            brackets = 1
        else:
            brackets = max(1, int(math.floor(math.log(max(top / grace, 1.0), factor))) + 1)
        inner = AsyncHyperBandScheduler(
            time_attr=EPOCH_KEY,
            metric=metric,
            mode=mode,
            max_t=max(top, grace),
            grace_period=grace,
            reduction_factor=factor,
            brackets=brackets,
            stop_last_trials=False,
        )
    else:  # median
        inner = MedianStoppingRule(
            time_attr=EPOCH_KEY,
            metric=metric,
            mode=mode,
            grace_period=float(options.get("n_warmup_steps", 0)) + 1.0,
            min_samples_required=max(1, int(options.get("n_startup_trials", 5))),
            min_time_slice=0,
            hard_stop=True,
        )
    return StopByReport(inner, pruner=name, channel_name=channel_name)


def _stop_reason(pruner: str, scheduler: str, epoch: int, metrics: Mapping[str, float]) -> str:
    """The prune reason, worded as the local reporter words it (plus the Ray scheduler).

    Examples:
        >>> _stop_reason("asha", "AsyncHyperBandScheduler", 2, {"val_accuracy": 0.31, "lr": 1.0})
        'asha pruner (Ray Tune AsyncHyperBandScheduler) stopped the trial after epoch 2 \
(val_accuracy=0.31)'
    """
    shown = ", ".join(
        f"{key}={value:.4g}"
        for key, value in metrics.items()
        if key in ("val_accuracy", "train_loss") and math.isfinite(value)
    )
    return f"{pruner} pruner (Ray Tune {scheduler}) stopped the trial after epoch {epoch}" + (
        f" ({shown})" if shown else ""
    )


class StopByReport(TrialScheduler):
    """Wraps a scheduler so that its STOP reaches the trainer through ``report``.

    The wrapped scheduler sees each epoch of each trial once, until it says STOP; then the
    trial gets a stop request on the channel and this scheduler answers CONTINUE, so Tune lets
    the trainer finish the epoch cleanly and send its result (recorded PRUNED).

    Args:
        inner: The scheduler that decides.
        pruner: The study's pruner name (for the prune reason).
        channel_name: Name of the trial channel actor.
    """

    _supports_buffered_results = False  # the decision must reach the trainer's next report

    def __init__(self, inner: TrialScheduler, *, pruner: str, channel_name: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._inner = inner
        self._pruner = pruner
        self._channel_name = channel_name
        self._stopping: set[str] = set()

    @property
    def metric(self) -> Any:
        return self._inner.metric

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return bool(self._inner.set_search_properties(metric, mode, **spec))

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._inner.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._stopping.discard(trial.trial_id)
        self._inner.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if RESULT_KEY in result or METRICS_KEY not in result:
            return TrialScheduler.CONTINUE  # the trainer's final result
        if trial.trial_id in self._stopping:
            return TrialScheduler.CONTINUE
        decision = self._inner.on_trial_result(tune_controller, trial, result)
        if decision != TrialScheduler.STOP:
            return str(decision)
        epoch = int(result[EPOCH_KEY])
        planned = trial.config.get("epochs")
        if planned is not None and epoch >= int(planned):
            return TrialScheduler.CONTINUE  # its last epoch: the trainer ends anyway
        reason = getattr(self._inner, "last_reason", None) or _stop_reason(
            self._pruner, type(self._inner).__name__, epoch, json.loads(result[METRICS_KEY])
        )
        channel = open_channel(self._channel_name)
        ray.get(channel.request_stop.remote(trial.trial_id, reason))
        self._stopping.add(trial.trial_id)
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._stopping.discard(trial.trial_id)
        self._inner.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._stopping.discard(trial.trial_id)
        self._inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        return self._inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        return str(self._inner.debug_string())

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))


class StudyPrunerScheduler(FIFOScheduler):
    """Any paretune pruner (``mo-asha``, ``percentile``, ``threshold`` ...) as a Ray scheduler.

    It calls the very pruner the local executor uses, ``get_pruner(spec.pruner, ...)``, with
    the study and the trial's Optuna trial (its number travels in the Tune config), so the
    decision is the local one: ``mo-asha`` reads the other trials' curves from the storage
    and decides with :class:`paretune.search.pruning._mo_asha.MOAsha`. Run it inside
    :class:`StopByReport`.

    Args:
        spec: The study.
    """

    def __init__(self, *, spec: StudySpec) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._spec = spec
        self._pruner: Any = None
        self._study: Any = None
        self.last_reason: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pruner": None, "_study": None}

    def _setup(self) -> None:
        if self._study is None:
            from paretune.search import get_pruner, open_study

            spec = self._spec
            self._study = open_study(spec)
            self._pruner = get_pruner(
                spec.pruner, n_objectives=len(spec.objectives), **spec.pruner_options
            )

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        from paretune.search._optuna_compat import trial_by_number

        self._setup()
        self.last_reason = None
        metrics = json.loads(result[METRICS_KEY])
        handle = trial_by_number(self._study, int(trial.config[TRIAL_NUMBER_KEY]))
        decision = self._pruner.decide(
            study=self._study, trial=handle, epoch=int(result[EPOCH_KEY]), metrics=metrics
        )
        if decision is Decision.STOP:
            self.last_reason = getattr(self._pruner, "last_reason", None)
            return str(TrialScheduler.STOP)
        return str(TrialScheduler.CONTINUE)

    def debug_string(self) -> str:
        return f"paretune pruner {self._spec.pruner!r}"
