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
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import optuna
from optuna.samplers._tpe.sampler import default_gamma, default_gamma_multiobjective
from paretune.search._objectives import COSTS, metric_of
from paretune.search._optuna_compat import split_complete_trials
from paretune.search.pruning._mo_asha import rung_point
from paretune.search.pruning._mo_pruner import curve_entry_at
from paretune.search.samplers._split import below_2d
from paretune.search.samplers._tpe import TPESampler
from paretune.spaces import check_int

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["RungTPESampler", "rung_split"]


class _Point(NamedTuple):
    """A point at the rung: its values, and its position among the points."""

    values: tuple[float, ...]
    position: int


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
        columns = self.known(study)
        # running trials (with constant_liar, Optuna's default) count as bad ones
        live = columns.update(study, running=self._constant_liar)
        running = [t for t in live if t.number != trial.number]
        if self._gamma is None:
            self._gamma = (
                default_gamma if len(study.directions) <= 1 else default_gamma_multiobjective
            )
        metrics = tuple(metric_of(name) for name in objectives)
        rungs = columns.memo.setdefault(("rungs", metrics, direction), _Rungs(metrics, direction))
        found = rungs.split(columns, min_points=self.min_points, n_below=self._gamma)
        if found is None:
            return super()._sample(study, trial, search_space)
        self.last_rung, good, bad = found
        below = self._parzen(study, search_space, good, [], handle_below=True)
        above = self._parzen(study, search_space, bad, running, handle_below=False, sort=False)
        samples = below.sample(self._rng.rng, self._n_ei_candidates)
        scores = self._compute_acquisition_func(samples, below, above)
        repeats = rungs.repeats(samples, search_space, columns)
        if repeats.any() and not repeats.all():
            scores = np.where(repeats, -np.inf, scores)
        chosen = TPESampler._compare(samples, scores)
        return {name: dist.to_external_repr(chosen[name]) for name, dist in search_space.items()}


#: A rung split over rows: (epoch, good rows, bad rows).
_RungSplit = tuple[int, "NDArray[np.int64]", "NDArray[np.int64]"]


class _Rungs:
    """What rung-tpe keeps of a study's finished trials (the rows of the sampler's columns):
    the epochs each reached, its point at each rung asked, the strategies trained. Each
    finished trial is read once; the split is :func:`rung_split` over arrays."""

    def __init__(self, metrics: tuple[str, ...], direction: str) -> None:
        self.metrics, self.direction = metrics, direction
        self.reached = np.empty(0, dtype=np.int64)  # by row
        self.points: dict[int, NDArray[np.float64]] = {}  # epoch -> by row (NaN: no point)
        self.strategies: dict[tuple[Any, ...], tuple[set[tuple[float, ...]], int]] = {}
        # split's last (key, split)
        self._last: tuple[tuple[int, int, Any], _RungSplit | None] | None = None

    def split(self, columns: Any, *, min_points: int, n_below: Any) -> _RungSplit | None:
        """:func:`rung_split` of every finished trial (in trial-number order): ``(epoch, good
        rows, bad rows)`` in the same order as its lists, or None.

        The same rows give the same split: it is made again only when trials were added (a
        parameter sampled apart from the others, in a multivariate study, asks again)."""
        trials: list[FrozenTrial] = columns.trials
        key = (len(trials), min_points, n_below)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        found = self._split(columns, min_points=min_points, n_below=n_below)
        self._last = (key, found)
        return found

    def _split(self, columns: Any, *, min_points: int, n_below: Any) -> _RungSplit | None:
        """What :meth:`split` returns, made."""
        trials: list[FrozenTrial] = columns.trials
        if len(self.reached) < len(trials):
            more = [_reached(t, None) for t in trials[len(self.reached) :]]
            self.reached = np.concatenate([self.reached, np.asarray(more, dtype=np.int64)])
        rows = columns.rows_by_number()
        if len(rows) < min_points:
            return None
        epoch = int(np.sort(self.reached[rows])[::-1][min_points - 1])
        if epoch < 1:
            return None
        values = self._points_at(epoch, trials)[rows]
        has = ~np.isnan(values[:, 0])
        if int(has.sum()) < min_points:
            return None
        point_rows, point_values = rows[has], values[has]
        n = max(0, min(int(n_below(len(point_rows))), len(point_rows)))
        if point_values.shape[1] == 2 and 0 < n < len(point_rows):
            good_at = below_2d(point_values * [-1.0, 1.0], n)  # in trial-number order
            chosen = np.zeros(len(point_rows), dtype=bool)
            chosen[good_at] = True
            bad_at = np.flatnonzero(~chosen)
        else:  # in the order of Optuna's split
            points = [_Point(tuple(v), i) for i, v in enumerate(point_values.tolist())]
            good_points, bad_points = split_complete_trials(points, point_values.shape[1], n)
            good_at = np.array([p.position for p in good_points], dtype=np.int64)
            bad_at = np.array([p.position for p in bad_points], dtype=np.int64)
        # Equal points are equally good: a tie is not broken by chance (repeats of one strategy
        # would otherwise fill the bad side and draw TPE away from the best one).
        equal = _rows_in(point_values[bad_at], point_values[good_at])
        good = np.concatenate([point_rows[good_at], point_rows[bad_at[equal]]])
        bad = np.concatenate([rows[~has], point_rows[bad_at[~equal]]])
        return epoch, good, bad

    def _points_at(self, epoch: int, trials: list[FrozenTrial]) -> NDArray[np.float64]:
        """Each row's point at ``epoch`` (``_values``; NaN where it has none)."""
        width = len(self.metrics)
        have = self.points.get(epoch, np.empty((0, width)))
        if len(have) < len(trials):
            more = []
            for t in trials[len(have) :]:
                entry = curve_entry_at(t.user_attrs.get("curve") or [], epoch)
                values = None if entry is None else _values(entry, self.metrics, self.direction)
                more.append((math.nan,) * width if values is None else values)
            have = np.concatenate([have, np.asarray(more, dtype=float).reshape(-1, width)])
            self.points[epoch] = have
        return have

    def repeats(
        self,
        samples: Mapping[str, NDArray[np.float64]],
        search_space: Mapping[str, BaseDistribution],
        columns: Any,
    ) -> NDArray[np.bool_]:
        """Which candidates would train again a strategy some finished trial trained.

        Only trials whose every parameter is in ``search_space`` can be repeated whole (a
        candidate over part of the parameters is not a whole strategy).
        """
        names = sorted(search_space)
        key = tuple((n, search_space[n]) for n in names)
        seen, done = self.strategies.get(key, (set(), 0))
        params: list[dict[str, Any]] = columns.params
        for p in params[done:]:
            if p.keys() == search_space.keys():
                seen.add(tuple(search_space[n].to_internal_repr(p[n]) for n in names))
        self.strategies[key] = seen, len(params)
        count = len(next(iter(samples.values()))) if samples else 0
        if not seen:
            return np.zeros(count, dtype=bool)
        return np.array(
            [tuple(float(samples[n][i]) for n in names) in seen for i in range(count)], dtype=bool
        )


def _rows_in(values: NDArray[np.float64], among: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which rows of ``values`` equal some row of ``among`` (as tuples of floats compare)."""
    if len(among) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    if values.shape[1] == 2:  # a pair of floats read as one complex number, exactly
        pairs = np.ascontiguousarray(values).view(np.complex128).ravel()
        return np.isin(pairs, np.ascontiguousarray(among).view(np.complex128).ravel())
    wanted = set(map(tuple, among.tolist()))
    return np.fromiter((tuple(v) in wanted for v in values.tolist()), dtype=bool, count=len(values))
