"""The ``mo-asha`` pruner: :class:`~paretune.search.pruning._mo_asha.MOAsha` for the local executor.

It keeps no state of its own. At a rung it reads, from the study's storage, the ``curve``
user attribute of every other trial (running, completed or pruned) that reached that epoch,
so trials run by other processes (``--jobs``) or earlier sessions of the same study count.
A trial's last epoch (no rung there) is its ``epochs``: sampled, or fixed in the study's
``space`` attribute, else the ``max_epochs`` option.
Points are built from the study's ``objectives`` attribute: the first objective's metric at
the rung (validation accuracy, or a task metric such as ``val_rmse`` in the study's direction
for it) and each cost objective as reported at that epoch (planned costs from epoch 1, measured ones
once reported; a cost some trial at the rung has not reported is left out of that
comparison).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from paretune.search._objectives import COSTS, metric_of
from paretune.search.pruning._decision import Decision, Verdict, stop_reason
from paretune.search.pruning._mo_asha import MOAsha, RungSpacing, TieBreak, rung_point
from paretune.spaces import is_int

if TYPE_CHECKING:
    import optuna

__all__ = ["MOAshaPruner", "curve_entry_at"]


def curve_entry_at(curve: Sequence[Mapping[str, Any]], epoch: int) -> Mapping[str, Any] | None:
    """The curve entry of ``epoch`` (by its ``epoch`` key if entries carry one, else by index)."""
    if len(curve) >= epoch:
        entry = curve[epoch - 1]
        if entry.get("epoch", epoch) == epoch:
            return entry
    for entry in curve:
        if entry.get("epoch") == epoch:
            return entry
    return None


def _epochs(value: Any) -> int | None:
    """``value`` as a number of epochs (an int, not a bool), else None."""
    return int(value) if is_int(value) else None


class MOAshaPruner:
    """Multi-objective asynchronous successive halving over a study's storage.

    Args:
        min_epochs: Grace period, the first rung (int >= 1; default 2).
        reduction_factor: Keep the top ``1 / reduction_factor`` at each rung (float > 1;
            default 2).
        max_epochs: Last epoch of a trial whose strategy does not say (its ``epochs``).
        tie_break: ``"crowding"`` or ``"epsilon-net"`` (see ``paretune.search.pruning._mo_asha``).
        rung_spacing: ``"asha"`` or ``"full-stretch"`` (the default; see
            ``paretune.search.pruning._mo_asha``). The defaults are the benchmark's best set-up.

    A STOP verdict's reason says the epoch, the accuracy reached and the trial's rank at the
    rung: ``"mo-asha pruner stopped the trial after epoch 2 (val_accuracy=0.5): rank 4 of 4
    at the 2-epoch rung; only the top 2 continue"``.

    Examples:
        >>> pruner = MOAshaPruner(min_epochs=2, reduction_factor=3, rung_spacing="asha")
        >>> pruner
        MOAshaPruner(min_epochs=2, reduction_factor=3, max_epochs=None, tie_break='crowding', \
rung_spacing='asha')
        >>> pruner.core.rungs(20)
        (2, 6, 18)
        >>> MOAshaPruner().core.rungs(20)  # the defaults: grace 2, η 2, full-stretch
        (2, 4, 8)
    """

    def __init__(
        self,
        *,
        min_epochs: int = 2,
        reduction_factor: float = 2.0,
        max_epochs: int | None = None,
        tie_break: str = "crowding",
        rung_spacing: str = "full-stretch",
    ) -> None:
        self.core = MOAsha(
            min_epochs=min_epochs,
            reduction_factor=reduction_factor,
            max_epochs=max_epochs,
            tie_break=tie_break,
            rung_spacing=rung_spacing,
        )
        self._space_epochs: dict[str, int | None] = {}
        self._direction = "maximize"  # of the first objective, read from the study

    def __repr__(self) -> str:
        core = self.core
        tie = core.tie_break.value if isinstance(core.tie_break, TieBreak) else core.tie_break
        spacing = core.rung_spacing
        spacing = spacing.value if isinstance(spacing, RungSpacing) else spacing
        return (
            f"MOAshaPruner(min_epochs={core.min_epochs}, reduction_factor={core.reduction_factor}"
            f", max_epochs={core.max_epochs}, tie_break={tie!r}, rung_spacing={spacing!r})"
        )

    def decide(
        self,
        *,
        study: optuna.Study,
        trial: optuna.Trial,
        epoch: int,
        metrics: Mapping[str, float],
    ) -> Verdict:
        """CONTINUE, or STOP when ``trial`` is outside the top share at this rung."""
        import optuna

        last = self._last_epoch(study, trial)
        if not self.core.is_rung(epoch, last):
            return Verdict(Decision.CONTINUE)
        metric_names, self._direction = self._metrics(study)
        point = self._point(metrics, metric_names)
        others: list[tuple[float, ...]] = []
        states = (
            optuna.trial.TrialState.RUNNING,
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
        )
        for other in sorted(
            study.get_trials(deepcopy=False, states=states), key=lambda t: t.number
        ):
            if other.number == trial.number:
                continue
            entry = curve_entry_at(other.user_attrs.get("curve") or [], epoch)
            if entry is not None:
                others.append(self._point(entry, metric_names))
        rung = self.core.judge(epoch=epoch, point=point, others=others, max_epochs=last)
        if rung.decision is Decision.STOP:
            reason = f"{stop_reason('mo-asha', epoch, metrics)}: {rung.ranking()}"
            return Verdict(Decision.STOP, reason)
        return Verdict(Decision.CONTINUE)

    def _last_epoch(self, study: optuna.Study, trial: optuna.Trial) -> int | None:
        """The trial's ``epochs``: strategy attribute, sampled parameter or fixed in the space."""
        strategy = trial.user_attrs.get("strategy")
        planned = _epochs(strategy.get("epochs") if isinstance(strategy, Mapping) else None)
        if planned is not None:
            return planned
        sampled = _epochs(trial.params.get("epochs"))
        if sampled is not None:
            return sampled
        fixed = self._fixed_epochs(study)
        if fixed is not None:
            return fixed
        if self.core.max_epochs is None:
            raise ValueError(
                f"The mo-asha pruner cannot tell the last epoch of trial {trial.number}: "
                "'epochs' is neither sampled nor fixed in the study's space. "
                "Set the pruner option max_epochs."
            )
        return None

    def _fixed_epochs(self, study: optuna.Study) -> int | None:
        name = study.study_name
        if name not in self._space_epochs:
            from paretune.spaces import Fixed, StrategySpace

            text = study.user_attrs.get("space")
            spec = StrategySpace.from_json(text).params.get("epochs") if text else None
            self._space_epochs[name] = _epochs(spec.value) if isinstance(spec, Fixed) else None
        return self._space_epochs[name]

    @staticmethod
    def check_objectives(objectives: Sequence[str]) -> None:
        """Refuse objectives mo-asha cannot rank by: one metric first, then costs only.

        ``StudySpec`` calls it when a study is declared, before any trial runs.

        Examples:
            >>> MOAshaPruner.check_objectives(["accuracy", "size_bits"])
            >>> MOAshaPruner.check_objectives(["size_bits", "accuracy"])
            Traceback (most recent call last):
            ...
            ValueError: The mo-asha pruner ranks trials by one metric and costs; the study's \
first objective must be 'accuracy' or a task metric val_<name>, the others costs. Got \
['size_bits', 'accuracy'] instead.
        """
        if (
            not objectives
            or objectives[0] in COSTS
            or any(name not in COSTS for name in objectives[1:])
        ):
            raise ValueError(
                "The mo-asha pruner ranks trials by one metric and costs; the study's first "
                "objective must be 'accuracy' or a task metric val_<name>, the others costs. "
                f"Got {list(objectives)!r} instead."
            )

    @staticmethod
    def _metrics(study: optuna.Study) -> tuple[tuple[str, ...], str]:
        """The curve keys of the objectives and the direction of the first one."""
        objectives = study.user_attrs.get("objectives")
        if not objectives:
            raise ValueError(
                f"The mo-asha pruner needs the study's objectives: study {study.study_name!r} "
                "has no 'objectives' attribute (open it with paretune.search.open_study)."
            )
        MOAshaPruner.check_objectives(objectives)
        direction = "minimize" if study.directions[0].name == "MINIMIZE" else "maximize"
        return tuple(metric_of(name) for name in objectives), direction

    def _point(self, values: Mapping[str, Any], names: Sequence[str]) -> tuple[float, ...]:
        """The rung point of ``values`` (the first metric in the study's direction)."""

        def value(name: str) -> float:
            raw = values.get(name)
            return math.nan if raw is None else float(raw)

        point: tuple[float, ...] = rung_point(
            accuracy=value(names[0]),
            costs=[value(name) for name in names[1:]],
            direction=self._direction,
        )
        return point
