"""``rung-tpe``: TPE that learns from every trial at the highest well-filled rung (BOHB-style).

With early stopping most trials end PRUNED, and Optuna's TPE then learns almost nothing from
them: in a multi-objective study a pruned trial has no values, so it can only ever be a
"bad" example, and the "good" examples are the few trials that ran to the end. BOHB
(Falkner et al. 2018) fits its model at the largest budget that has enough observations
instead. This sampler does the same over the curves paretune records on every trial
(``curve`` user attribute: one entry per epoch, metrics and reported costs):

1. the rung is the last epoch that at least ``min_points`` finished trials (COMPLETE or
   PRUNED) reached;
2. each trial that reached it is a point (the first objective's metric at that epoch, in its
   direction, and each cost objective as reported there); the best ``gamma(n)`` of these
   ``n`` points by non-dominated rank
   (Optuna's own multi-objective split, hypervolume tie-break) are TPE's "good" trials, the
   rest "bad" (a point equal to a good one is good too);
3. a trial stopped before that epoch lost a comparison at an earlier rung: it is "bad";
   so is a running trial, with ``constant_liar`` (Optuna's default), as in ``TPESampler``.

Ranking at a rung, it also never proposes again a whole strategy that a finished trial
trained (while some candidate is new): training is seeded, so a repeat would cost epochs and
teach nothing. On a categorical grid, TPE otherwise spends most of its trials on repeats.

Until some epoch has ``min_points`` trials, and in a study whose trials carry no curves, it
is Optuna's ``TPESampler`` unchanged (startup trials, then Optuna's split; through
``paretune.search.samplers._tpe.TPESampler``, which reads multi-objective studies with learning
curves). Constraints are
not used at the rungs. It overrides ``TPESampler._sample`` and uses the estimator helpers of
Optuna 5's ``TPESampler``; the tests pin that behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.samplers._tpe.sampler import default_gamma, default_gamma_multiobjective
from optuna.trial import TrialState
from paretune.search._objectives import COSTS, metric_of
from paretune.search._optuna_compat import split_complete_trials
from paretune.search.pruning._mo_asha import rung_point
from paretune.search.pruning._mo_pruner import curve_entry_at
from paretune.search.samplers._tpe import TPESampler
from paretune.spaces import check_int

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["RungTPESampler", "rung_split"]


@dataclass(frozen=True)
class _AtRung:
    """One trial seen at the rung: the values Optuna's split ranks, and the trial itself."""

    values: tuple[float, ...]
    trial: FrozenTrial


def _reached(trial: FrozenTrial, memo: dict[Any, Any] | None) -> int:
    found = None if memo is None else memo.get(trial.number)
    if found is None:
        curve = trial.user_attrs.get("curve")
        found = len(curve) if isinstance(curve, Sequence) else 0
        if memo is not None:
            memo[trial.number] = found
    return int(found)


def rung_split(
    trials: Sequence[FrozenTrial],
    *,
    metrics: Sequence[str],
    min_points: int,
    n_below: Any,
    split: Any,
    direction: str = "maximize",
    memo: dict[Any, Any] | None = None,
) -> tuple[int, list[FrozenTrial], list[FrozenTrial]] | None:
    """Split finished trials into TPE's good and bad ones at the highest well-filled rung.

    Args:
        trials: Finished (COMPLETE or PRUNED) trials with ``curve`` user attributes.
        metrics: Curve keys of the objectives, the metric first (accuracy), then costs.
        min_points: Trials that must have reached an epoch for it to be the rung.
        n_below: ``n -> int``, how many of the ``n`` points at the rung are good (TPE's
            ``gamma``).
        split: ``(points, n_below) -> (good, bad)``, the ranking of points whose ``values``
            are ``(score, log1p(cost), ...)``, the score maximized (the metric, negated when
            it is minimized).
        direction: The first metric's direction (``"maximize"`` or ``"minimize"``).
        memo: A dict kept between calls over the same study's finished trials (which never
            change; keyed by trial number): each trial's epochs reached and its point at a
            rung are read once. None reads every trial afresh.

    Returns:
        ``(epoch, good, bad)``, or None when no epoch has ``min_points`` trials with every
        metric recorded.
    """
    reached = sorted((_reached(t, memo) for t in trials), reverse=True)
    if len(reached) < min_points or reached[min_points - 1] < 1:
        return None
    epoch = reached[min_points - 1]  # the last epoch that min_points trials reached
    points: list[_AtRung] = []
    bad: list[FrozenTrial] = []
    for trial in trials:
        key = (trial.number, epoch)
        if memo is not None and key in memo:
            values = memo[key]
        else:
            entry = curve_entry_at(trial.user_attrs.get("curve") or [], epoch)
            values = None if entry is None else _values(entry, metrics, direction)
            if memo is not None:
                memo[key] = values
        if values is None:
            bad.append(trial)
        else:
            points.append(_AtRung(values=values, trial=trial))
    if len(points) < min_points:
        return None
    good_points, bad_points = split(points, n_below(len(points)))
    # Equal points are equally good: a tie is not broken by chance (repeats of one strategy
    # would otherwise fill the bad side and draw TPE away from the best one).
    good_values = {p.values for p in good_points}
    good = [p.trial for p in good_points] + [p.trial for p in bad_points if p.values in good_values]
    bad += [p.trial for p in bad_points if p.values not in good_values]
    return epoch, good, bad


def _values(
    entry: Mapping[str, Any], metrics: Sequence[str], direction: str
) -> tuple[float, ...] | None:
    """``(score, log1p(cost), ...)``, costs scaled as mo-asha scales them at its rungs.

    The score is maximized: the metric, or minus the metric when it is minimized (RMSE).
    """
    raw = [entry.get(name) for name in metrics]
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in raw):
        return None
    numbers = [float(v) for v in raw]  # type: ignore[arg-type]
    if not all(math.isfinite(v) for v in numbers[1:]):
        return None
    point = rung_point(
        accuracy=numbers[0],
        costs=[max(0.0, cost) for cost in numbers[1:]],
        direction=direction,
    )
    if not math.isfinite(point[0]):
        if direction == "minimize":
            return None  # no worst value to stand in: the trial is a bad one
        return (0.0, *point[1:])  # accuracy's worst value
    return (-point[0], *point[1:])


def _repeats(
    samples: Mapping[str, NDArray[np.float64]],
    search_space: Mapping[str, BaseDistribution],
    trials: Sequence[FrozenTrial],
    memo: dict[Any, Any] | None = None,
) -> NDArray[np.bool_]:
    """Which candidates would train again a strategy some finished trial trained.

    Only trials whose every parameter is in ``search_space`` can be repeated whole (a
    candidate over part of the parameters is not a whole strategy). ``memo`` (as in
    :func:`rung_split`) keeps the strategies seen, so each finished trial is read once.
    """
    names = sorted(search_space)
    key = ("repeats", *((n, search_space[n]) for n in names))
    seen, done = memo.setdefault(key, (set(), set())) if memo is not None else (set(), set())
    for t in trials:
        if t.number not in done:
            if memo is not None:
                done.add(t.number)
            if t.params.keys() == search_space.keys():
                seen.add(tuple(search_space[n].to_internal_repr(t.params[n]) for n in names))
    count = len(next(iter(samples.values()))) if samples else 0
    if not seen:
        return np.zeros(count, dtype=bool)
    return np.array(
        [tuple(float(samples[n][i]) for n in names) in seen for i in range(count)], dtype=bool
    )


class RungTPESampler(TPESampler):
    """Optuna's ``TPESampler`` whose good/bad split is made at a rung (module docstring).

    Args:
        min_points: Trials that must have reached an epoch for TPE to rank trials there
            (int >= 2); BOHB's default is the number of parameters + 1.
        **tpe_options: Keyword arguments of ``optuna.samplers.TPESampler`` (``seed``,
            ``n_startup_trials``, ``multivariate`` ...).

    Examples:
        >>> sampler = RungTPESampler(seed=0, min_points=12)
        >>> sampler.min_points
        12
    """

    def __init__(self, *, min_points: int = 15, **tpe_options: Any) -> None:
        check_int(min_points, name="min_points", owner="RungTPESampler", minimum=2)
        super().__init__(**tpe_options)
        self.min_points = min_points
        self.last_rung: int | None = None

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self.last_rung = None
        objectives = study.user_attrs.get("objectives")
        if (
            not objectives
            or objectives[0] in COSTS
            or any(name not in COSTS for name in objectives[1:])
        ):
            return super()._sample(study, trial, search_space)
        direction = "minimize" if study.directions[0].name == "MINIMIZE" else "maximize"
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if self._gamma is None:
            self._gamma = (
                default_gamma if len(study.directions) <= 1 else default_gamma_multiobjective
            )
        found = rung_split(
            trials,
            metrics=[metric_of(name) for name in objectives],
            direction=direction,
            min_points=self.min_points,
            n_below=self._gamma,
            split=lambda points, n: split_complete_trials(points, len(objectives), n),
            memo=self.known(study).memo,
        )
        if found is None:
            return super()._sample(study, trial, search_space)
        self.last_rung, good, bad = found
        if self._constant_liar:  # Optuna's default: running trials count as bad ones
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            bad += [t for t in running if t.number != trial.number]
        below = self._build_parzen_estimator(study, search_space, good, handle_below=True)
        above = self._build_parzen_estimator(study, search_space, bad, handle_below=False)
        samples = below.sample(self._rng.rng, self._n_ei_candidates)
        scores = self._compute_acquisition_func(samples, below, above)
        repeats = _repeats(samples, search_space, trials, memo=self.known(study).memo)
        if repeats.any() and not repeats.all():
            scores = np.where(repeats, -np.inf, scores)
        chosen = TPESampler._compare(samples, scores)
        return {name: dist.to_external_repr(chosen[name]) for name, dist in search_space.items()}
