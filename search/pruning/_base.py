"""The pruner interface: after each epoch, decide whether a trial goes on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from paretune.search.pruning._decision import Verdict

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialPruner"]


@runtime_checkable
class TrialPruner(Protocol):
    """Decides, after each reported epoch, whether a trial continues or stops.

    An implementation reads what it needs from ``study`` (other trials' curves, the
    ``objectives`` study attribute) and from ``metrics`` (the epoch's reported values:
    ``val_accuracy``, ``train_loss``, costs ...). It may write to ``trial`` (intermediate
    values, rung attributes). It must not train, sleep or sample. It answers with a
    :class:`Verdict`; a STOP carries the reason the trial records as its ``prune_reason``.
    A pruner that can prune by some objectives only may also define
    ``check_objectives(objectives)``, raising ``ValueError`` for the others: a study that
    names it is then refused when declared, before any trial runs (``mo-asha`` does).

    Examples:
        >>> from paretune.search import Decision, Verdict
        >>> class StopAfter:
        ...     def __init__(self, epochs): self.epochs = epochs
        ...     def decide(self, *, study, trial, epoch, metrics):
        ...         if epoch < self.epochs:
        ...             return Verdict(Decision.CONTINUE)
        ...         return Verdict(Decision.STOP, f"ran {self.epochs} epochs")
        >>> isinstance(StopAfter(3), TrialPruner)
        True
        >>> StopAfter(3).decide(study=None, trial=None, epoch=3, metrics={})
        Verdict(decision=<Decision.STOP: 'stop'>, reason='ran 3 epochs')
    """

    def decide(
        self,
        *,
        study: optuna.Study,
        trial: optuna.Trial,
        epoch: int,
        metrics: Mapping[str, float],
    ) -> Verdict:
        """A STOP verdict stops the trial after ``epoch`` (numbered from 1)."""
        ...
