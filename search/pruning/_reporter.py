"""The reporter handed to a trainer: records the curve and asks the pruner after each epoch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paretune.search.pruning._base import TrialPruner
from paretune.search.pruning._decision import Decision

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialReporter"]


class TrialReporter:
    """``report(epoch, metrics) -> stop?`` for one running trial.

    Each call appends ``{"epoch": epoch, **metrics}`` to the trial's ``curve`` user attribute
    (so a running or killed trial shows how far it got) and asks the pruner; when the pruner
    says :attr:`Decision.STOP`, the call returns True and :attr:`prune_reason` says why.

    Args:
        study: The study.
        trial: The running trial.
        pruner: Decides after each epoch.
        pruner_name: Name used in :attr:`prune_reason`.

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
    """

    def __init__(
        self,
        *,
        study: optuna.Study,
        trial: optuna.Trial,
        pruner: TrialPruner,
        pruner_name: str,
    ) -> None:
        self.study = study
        self.trial = trial
        self.pruner = pruner
        self.pruner_name = pruner_name
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
        decision = self.pruner.decide(
            study=self.study, trial=self.trial, epoch=int(epoch), metrics=metrics
        )
        if decision is Decision.STOP:
            self.pruned_at_epoch = int(epoch)
            shown = ", ".join(
                f"{k}={v:.4g}"
                for k, v in point.items()
                if k in ("val_accuracy", "train_loss") and math.isfinite(v)
            )
            self.prune_reason = (
                f"{self.pruner_name} pruner stopped the trial after epoch {epoch}"
                + (f" ({shown})" if shown else "")
            )
            return True
        return False
