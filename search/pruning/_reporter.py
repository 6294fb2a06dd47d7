"""The reporter handed to a trainer: records the curve and asks the pruner after each epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paretune.search.pruning._base import TrialPruner
from paretune.search.pruning._decision import Decision, stop_reason
from paretune.search.study._curves import curve_metric, report_epoch

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialReporter"]


class TrialReporter:
    """``report(epoch, metrics) -> stop?`` for one running trial.

    Each call appends ``{"epoch": epoch, **metrics}`` to the trial's ``curve`` user attribute
    (so a running or killed trial shows how far it got), asks the pruner, then stores the
    epoch's value of the curve metric as the trial's Optuna intermediate value at
    ``step = epoch`` (``Trial.report`` for one objective, the storage for several), unless
    the pruner reported that step itself (an Optuna pruner reports the metric it prunes on).
    When the pruner's verdict is :attr:`Decision.STOP`, the call returns True and
    :attr:`prune_reason` holds the verdict's reason.

    Args:
        study: The study.
        trial: The running trial.
        pruner: Decides after each epoch.
        pruner_name: Name used in :attr:`prune_reason` when the verdict gives no reason.
        metric: The reported metric stored as intermediate values (None: the study's
            :func:`~paretune.search.study.curve_metric`, from its ``objectives`` attribute;
            a study without one stores none).

    Examples:
        >>> import optuna
        >>> from paretune.search import get_pruner
        >>> study = optuna.create_study(direction="maximize")
        >>> study.set_user_attr("objectives", ["accuracy"])
        >>> trial = study.ask()
        >>> report = TrialReporter(study=study, trial=trial,
        ...     pruner=get_pruner("threshold", lower=0.5), pruner_name="threshold")
        >>> report(1, {"val_accuracy": 0.2})
        True
        >>> report.prune_reason
        'threshold pruner stopped the trial after epoch 1 (val_accuracy=0.2)'
        >>> study.trials[0].intermediate_values
        {1: 0.2}
    """

    def __init__(
        self,
        *,
        study: optuna.Study,
        trial: optuna.Trial,
        pruner: TrialPruner,
        pruner_name: str,
        metric: str | None = None,
    ) -> None:
        self.study = study
        self.trial = trial
        self.pruner = pruner
        self.pruner_name = pruner_name
        self.metric = metric
        self._metric_read = metric is not None
        self.curve: list[dict[str, Any]] = []
        self.pruned_at_epoch: int | None = None
        self.prune_reason: str | None = None

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Record epoch ``epoch`` (from 1) and return True when the trial should stop."""
        point: dict[str, Any] = {"epoch": int(epoch)}
        for key, value in metrics.items():
            point[key] = float(value)
        self.curve.append(point)
        self.trial.set_user_attr("curve", self.curve)
        verdict = self.pruner.decide(
            study=self.study, trial=self.trial, epoch=int(epoch), metrics=metrics
        )
        metric = self._curve_metric()
        if metric is not None:
            report_epoch(self.trial, metric, int(epoch), point)
        if verdict.decision is Decision.STOP:
            self.pruned_at_epoch = int(epoch)
            self.prune_reason = verdict.reason or stop_reason(self.pruner_name, epoch, point)
            return True
        return False

    def _curve_metric(self) -> str | None:
        if not self._metric_read:
            self._metric_read = True
            objectives = self.study.user_attrs.get("objectives")
            if objectives:
                self.metric = curve_metric(objectives)
        return self.metric
