"""``tpe``: Optuna's ``TPESampler``, reading studies whose trials carry learning curves, and
reading each finished trial once.

paretune stores each epoch's metric as an intermediate value, in multi-objective studies too
(through the storage). Optuna's TPE ranks PRUNED trials by that value in the direction of
``study.direction``, which a multi-objective study does not have; so for such a study this
sampler ranks the PRUNED trials as Optuna ranks trials without intermediate values, as Optuna
stores them (:func:`paretune.search._optuna_compat.without_pruned_curves`).

Optuna's TPE samples a strategy's parameters one by one (``multivariate=False``, Optuna 5's
default for several objectives) and, for each one, reads every trial of the study again,
counts them, splits them into good and bad (for several objectives: non-domination ranks and
hypervolume contributions) and reads each trial's parameters again: seven parameters cost
seven splits, each linear in the study's size, in Python. This sampler keeps the finished
trials as arrays (a finished trial never changes): each is classified, keyed and converted
once, when first seen; per trial it splits once, over the arrays (two objectives: the ranks
in one sorted pass, :func:`~paretune.search.samplers._split.below_2d`), and scores the
candidates over the components that count, Optuna's density to rounding
(:func:`~paretune.search.samplers._log_pdf.mixture_log_pdf`). The suggestions are Optuna's,
value for value, for a given seed (the tests compare them; only two candidates scored within
rounding of each other could come out in the other order). Multivariate, the search space
(the distributions every finished trial shares) is kept the same way. The split is kept for
the trial being sampled only; a trial another process finishes meanwhile counts from the next
trial on, as it would for a trial asked a moment earlier. This module imports Optuna and is imported
when the sampler is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna import samplers
from optuna.samplers._tpe.sampler import (
    _get_infeasible_trial_score,
    _get_pruned_trial_score,
    _split_complete_trials,
    default_gamma,
    default_gamma_multiobjective,
)
from optuna.study import StudyDirection
from optuna.trial import TrialState
from paretune.search._optuna_compat import TrialCursor, new_trials
from paretune.search.samplers._log_pdf import acquisition
from paretune.search.samplers._split import below_2d

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["TPESampler"]


@dataclass
class _Split:
    """One trial's reading of the study: its good and bad trials.

    Finished trials are rows of :class:`_Columns` (in trial-number order); running ones (read
    as liars, always bad) are kept as they are read.
    """

    key: tuple[int, int]  # (study id, trial number)
    n: int  # finished (COMPLETE or PRUNED) trials read
    below: np.ndarray
    above: np.ndarray
    running: list[FrozenTrial]


_COMPLETE, _PRUNED, _INFEASIBLE = 0, 1, 2
_SPLIT_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


class _Columns:
    """The study's finished trials, kept across trials: each read, classified and converted once.

    A finished trial never changes, so each one becomes a row: its number, its kind (complete,
    pruned or infeasible, in Optuna's order of tests), the key Optuna's split sorts that kind
    by, and each parameter's internal value (one column per parameter, NaN where the trial has
    no such parameter). A running trial (read as a liar) is read afresh each time: its
    parameters may still grow.
    """

    def __init__(self) -> None:
        self.row: dict[int, int] = {}  # finished trial number -> row
        self.memo: dict[Any, Any] = {}  # for subclasses (rung-tpe's points at a rung)
        self.params: list[dict[str, Any]] = []  # by row
        self.columns: dict[tuple[str, BaseDistribution], np.ndarray] = {}
        self._numbers: list[int] = []  # by row
        self.trials: list[FrozenTrial] = []  # by row
        # each kind's rows and split keys, as added; and as arrays (extended when read)
        self._added: list[tuple[list[int], list[tuple[float, ...]]]] = [
            ([], []),
            ([], []),
            ([], []),
        ]
        self._arrays: list[tuple[np.ndarray, np.ndarray]] = [
            (np.empty(0, dtype=np.int64), np.empty((0, 0))) for _ in range(3)
        ]
        self._number_array = np.empty(0, dtype=np.int64)
        self._cursor: TrialCursor | None = None  # where update stands in the storage
        # Optuna's IntersectionSearchSpace(include_pruned=True) over the rows, kept as they come
        self.intersection: dict[str, BaseDistribution] | None = None

    def add(self, trial: FrozenTrial, study: optuna.Study) -> None:
        """Keep finished ``trial`` as the next row."""
        key: tuple[float, ...]
        if (violation := _get_infeasible_trial_score(trial)) > 0:
            kind, key = _INFEASIBLE, (violation,)
        elif trial.state == TrialState.COMPLETE:
            kind, key = _COMPLETE, _complete_key(trial, study)
        elif trial.state == TrialState.PRUNED:
            kind = _PRUNED
            # a multi-objective study's pruned trials are read without their curves
            # (without_pruned_curves): Optuna's score of a trial without intermediate values
            key = (1.0, 0.0) if study._is_multi_objective() else _pruned_score(trial, study)
        else:
            raise ValueError(f"TPE cannot split trial {trial.number} in state {trial.state.name}.")
        row = self.row[trial.number] = len(self.params)
        distributions = trial.distributions
        if self.intersection is None:
            self.intersection = dict(distributions)
        elif self.intersection:
            self.intersection = {
                name: dist
                for name, dist in self.intersection.items()
                if distributions.get(name) == dist
            }
        self.params.append(trial.params)
        self.trials.append(trial)
        self._numbers.append(trial.number)
        rows, keys = self._added[kind]
        rows.append(row)
        keys.append(key)

    def read(self, study: optuna.Study, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """Keep the finished trials of ``trials`` not seen yet; return the running ones."""
        running = []
        row = self.row
        for t in trials:
            if t.number in row:
                continue
            if t.state == TrialState.RUNNING:
                running.append(t)  # not kept: its constraints are not set yet
            else:
                self.add(t, study)
        return running

    def update(self, study: optuna.Study, *, running: bool) -> list[FrozenTrial]:
        """Keep the study's finished (COMPLETE or PRUNED) trials not seen yet; return the
        RUNNING ones (in trial-number order) if ``running``, else none.

        Where the storage allows, only the trials finished since the last call are read
        (:func:`~paretune.search._optuna_compat.new_trials`); otherwise the study's list.
        """
        found = new_trials(study._storage, study._study_id, self._cursor)
        if found is None:
            states = [TrialState.COMPLETE, TrialState.PRUNED]
            states += [TrialState.RUNNING] if running else []
            trials = study._get_trials(deepcopy=False, states=states, use_cache=not running)
            return self.read(study, trials)
        finished, live, self._cursor = found
        for t in sorted(finished, key=lambda t: t.number):
            if t.state in _SPLIT_STATES and t.number not in self.row:
                self.add(t, study)
        return sorted(live, key=lambda t: t.number) if running else []

    def _all_numbers(self) -> np.ndarray:
        """The trial number of each row."""
        if len(self._number_array) < len(self._numbers):
            more = np.asarray(self._numbers[len(self._number_array) :], dtype=np.int64)
            self._number_array = np.concatenate([self._number_array, more])
        return self._number_array

    def _kind_rows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each kind's rows in trial-number order, with their split keys."""
        numbers = self._all_numbers()
        found = []
        for kind, (rows, keys) in enumerate(self._added):
            row_array, key_array = self._arrays[kind]
            if len(row_array) < len(rows):
                done = len(row_array)
                row_array = np.concatenate([row_array, np.asarray(rows[done:], dtype=np.int64)])
                new_keys = np.asarray(keys[done:], dtype=float)
                key_array = new_keys if done == 0 else np.concatenate([key_array, new_keys])
                self._arrays[kind] = row_array, key_array
            order = _number_order(numbers[row_array])
            found.append((row_array[order], key_array[order]))
        return found

    def split(self, study: optuna.Study, n_below: int) -> tuple[np.ndarray, np.ndarray]:
        """Optuna's ``_split_trials`` over the finished rows: the good and the bad rows, each
        in trial-number order (the same trials as Optuna's lists, in the same order)."""
        below_parts, above_parts = [], []
        for kind, (rows, keys) in zip(
            (_COMPLETE, _PRUNED, _INFEASIBLE), self._kind_rows(), strict=True
        ):
            n = max(0, min(n_below, len(rows)))
            if kind == _COMPLETE and len(study.directions) == 2 and 0 < n < len(rows):
                chosen = np.zeros(len(rows), dtype=bool)
                chosen[below_2d(keys, n)] = True
                below_parts.append(rows[chosen])
                above_parts.append(rows[~chosen])
            elif kind == _COMPLETE and len(study.directions) > 2:
                complete = [self.trials[r] for r in rows.tolist()]
                good, _ = _split_complete_trials(complete, study, n)
                good_rows = np.array([self.row[t.number] for t in good], dtype=np.int64)
                chosen = np.isin(rows, good_rows)
                below_parts.append(rows[chosen])
                above_parts.append(rows[~chosen])
            else:  # Python's stable sort by the key, as Optuna sorts (columns last to first)
                order = np.lexsort(keys.T[::-1]) if len(rows) else rows
                below_parts.append(rows[order[:n]])
                above_parts.append(rows[order[n:]])
            n_below = max(0, n_below - n)
        numbers = self._all_numbers()
        below, above = np.concatenate(below_parts), np.concatenate(above_parts)
        return (
            below[_number_order(numbers[below])],
            above[_number_order(numbers[above])],
        )

    def rows_by_number(self) -> np.ndarray:
        """Every row, in trial-number order."""
        return _number_order(self._all_numbers())

    def numbers(self, rows: np.ndarray) -> np.ndarray:
        """The trial numbers of ``rows``."""
        numbers: np.ndarray = self._all_numbers()[rows]
        return numbers

    def rows(
        self, study: optuna.Study, trials: list[FrozenTrial]
    ) -> tuple[np.ndarray, list[FrozenTrial]]:
        """The rows of the finished ones of ``trials`` (COMPLETE or PRUNED), and the running
        ones (read afresh)."""
        finished: list[FrozenTrial] = []
        running: list[FrozenTrial] = []
        for t in trials:
            (finished if t.state.is_finished() else running).append(t)
            if t.state.is_finished() and t.number not in self.row:
                self.add(t, study)
        rows = np.fromiter((self.row[t.number] for t in finished), dtype=np.int64)
        return rows, running

    def observations(
        self, rows: np.ndarray, search_space: dict[str, BaseDistribution]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``TPESampler._get_internal_repr`` of the trials at ``rows``, in the same order: the
        values of the trials that have every parameter of ``search_space``, and which of
        ``rows`` those are."""
        picked = {name: self._column(name, dist)[rows] for name, dist in search_space.items()}
        present = np.ones(len(rows), dtype=bool)
        for values in picked.values():
            present &= ~np.isnan(values)
        return {name: values[present] for name, values in picked.items()}, present

    def _column(self, name: str, dist: BaseDistribution) -> np.ndarray:
        """The column of ``name`` under ``dist``, converted up to the last row seen."""
        key = (name, dist)
        column = self.columns.get(key, np.empty(0))
        done = len(column)
        if done < len(self.params):
            more = np.fromiter(
                (
                    dist.to_internal_repr(p[name]) if name in p else np.nan
                    for p in self.params[done:]
                ),
                dtype=float,
                count=len(self.params) - done,
            )
            column = np.concatenate([column, more])
            self.columns[key] = column
        return column


def _number_order(numbers: np.ndarray) -> np.ndarray:
    """``np.argsort(numbers, kind="stable")``, without the sort where ``numbers`` are in order
    already (rows are added in trial-number order, unless trials finish out of order)."""
    if len(numbers) < 2 or bool((numbers[1:] >= numbers[:-1]).all()):
        return np.arange(len(numbers))
    order: np.ndarray = np.argsort(numbers, kind="stable")
    return order


def _complete_key(trial: FrozenTrial, study: optuna.Study) -> tuple[float, ...]:
    """What Optuna's split ranks a complete trial by: its values, each to be minimized."""
    values = trial.values
    if len(values) == 1:
        value = float(values[0])
        return (value if study.direction == StudyDirection.MINIMIZE else -value,)
    return tuple(
        -float(v) if d == StudyDirection.MAXIMIZE else float(v)
        for v, d in zip(values, study.directions, strict=True)
    )


def _pruned_score(trial: FrozenTrial, study: optuna.Study) -> tuple[float, float]:
    """Optuna's ``_get_pruned_trial_score`` (one objective)."""
    score = _get_pruned_trial_score(trial, study)
    return (float(score[0]), float(score[1]))


class TPESampler(samplers.TPESampler):
    """Optuna's ``TPESampler`` for studies with learning curves, reading the study once per
    trial (module docstring). Its options are Optuna's.

    Examples:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(directions=["maximize", "minimize"],
        ...                             sampler=TPESampler(seed=0, n_startup_trials=1))
        >>> for number in range(3):
        ...     trial = study.ask()
        ...     x = trial.suggest_float("x", 0.0, 1.0)
        ...     study._storage.set_trial_intermediate_value(trial._trial_id, 1, x)
        ...     state = optuna.trial.TrialState.PRUNED if number else None
        ...     _ = study.tell(trial, None if state else [x, x], state=state)
        >>> 0.0 <= study.ask().suggest_float("x", 0.0, 1.0) <= 1.0
        True
    """

    # what it keeps (set on first use: the constructor stays Optuna's, so its options are
    # checked, and listed, as Optuna's)
    _split: _Split | None = None
    _owner: tuple[int, int] | None = None  # (id of the storage, study id) of _known
    _known: _Columns

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (Ray Tune saves its searcher) without what it keeps of a study."""
        state = dict(self.__dict__)
        for name in ("_split", "_owner", "_known"):
            state.pop(name, None)
        return state

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Optuna's (multivariate: the distributions every finished trial shares), from the
        finished trials kept (each intersected once) instead of the study's list of every
        trial, read again each trial."""
        if not self._is_multivariate(study) or self._group:
            return super().infer_relative_search_space(study, trial)
        columns = self.known(study)
        columns.update(study, running=False)
        space = columns.intersection or {}
        return {name: dist for name, dist in sorted(space.items()) if not dist.single()}

    def _sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Optuna's, counting the finished trials kept (``infer_relative_search_space`` has
        just read the new ones)."""
        if self._group:
            return super()._sample_relative(study, trial, search_space)
        if search_space == {} or len(self.known(study).row) < self._n_startup_trials:
            return {}
        return self._sample(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Optuna's, counting the finished trials from the trial's split (made once) instead
        of reading the study again for each parameter."""
        if self._is_multivariate(study):
            if self._group or self._warn_independent_sampling:  # (Optuna's warning)
                return super().sample_independent(study, trial, param_name, param_distribution)
            columns = self.known(study)
            columns.update(study, running=False)
            finished = len(columns.row)
        else:
            finished = self._split_for(study, trial).n
        if finished < self._n_startup_trials:
            return self._random_sampler.sample_independent(
                study, trial, param_name, param_distribution
            )
        return self._sample(study, trial, {param_name: param_distribution})[param_name]

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        split = self._split_for(study, trial)
        below = self._parzen(study, search_space, split.below, [], handle_below=True)
        above = self._parzen(study, search_space, split.above, split.running, handle_below=False)
        samples = below.sample(self._rng.rng, self._n_ei_candidates)
        scores = self._compute_acquisition_func(samples, below, above)
        chosen = samplers.TPESampler._compare(samples, scores)
        return {name: dist.to_external_repr(chosen[name]) for name, dist in search_space.items()}

    def _compute_acquisition_func(
        self, samples: dict[str, np.ndarray], mpe_below: Any, mpe_above: Any
    ) -> np.ndarray:
        """Optuna's log density ratio, to rounding, over the components that count
        (:func:`~paretune.search.samplers._log_pdf.mixture_log_pdf`)."""
        return acquisition(samples, mpe_below, mpe_above)

    def known(self, study: optuna.Study) -> _Columns:
        """What this sampler keeps of ``study``'s finished trials (new for another study)."""
        owner = self._owner
        if owner is None or owner != (id(study._storage), study._study_id):
            self._split = None
            self._owner, self._known = (id(study._storage), study._study_id), _Columns()
        return self._known

    def _split_for(self, study: optuna.Study, trial: FrozenTrial) -> _Split:
        """Optuna's split of the study for ``trial`` (``TPESampler._sample``), made once."""
        columns = self.known(study)  # (another study: nothing kept, no split either)
        key = (study._study_id, trial.number)
        if self._split is not None and self._split.key == key:
            return self._split
        running = columns.update(study, running=self._constant_liar)
        n = len(columns.row)  # the finished ones (running ones do not count)
        # the trial being sampled is not one of its own liars
        running = [t for t in running if t.number != trial.number]
        if self._gamma is None:
            self._gamma = (
                default_gamma if len(study.directions) <= 1 else default_gamma_multiobjective
            )
        below, above = columns.split(study, self._gamma(n))
        self._split = _Split(key=key, n=n, below=below, above=above, running=running)
        return self._split

    def _build_parzen_estimator(
        self,
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        trials: list[FrozenTrial],
        handle_below: bool,
    ) -> Any:
        """Optuna's estimator over ``trials`` (as subclasses call it), each finished trial's
        parameters converted once (read as Optuna reads them when some are running)."""
        rows, running = self.known(study).rows(study, trials)
        if running:
            return super()._build_parzen_estimator(study, search_space, trials, handle_below)
        return self._parzen(study, search_space, rows, [], handle_below=handle_below)

    def _parzen(
        self,
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        rows: np.ndarray,
        running: list[FrozenTrial],
        *,
        handle_below: bool,
        sort: bool = True,
    ) -> Any:
        """Optuna's ``_build_parzen_estimator`` over the finished trials at ``rows`` (their
        parameters read from the columns) and the ``running`` ones (read as Optuna reads
        them): merged in trial-number order (``sort``), or the running ones last."""
        columns = self.known(study)
        arrays, present = columns.observations(rows, search_space)
        if running:
            numbers = [columns.numbers(rows[present])]
            parts = {name: [values] for name, values in arrays.items()}
            for t in running:
                params = self._get_params(t, study)
                if search_space.keys() <= params.keys():
                    numbers.append(np.array([t.number]))
                    for name, dist in search_space.items():
                        parts[name].append(np.array([dist.to_internal_repr(params[name])]))
            order = np.argsort(np.concatenate(numbers), kind="stable") if sort else slice(None)
            arrays = {name: np.concatenate(p)[order] for name, p in parts.items()}
        if handle_below and study._is_multi_objective():
            n_below = len(next(iter(arrays.values()))) if arrays else 0
            return self._parzen_estimator_cls(
                arrays, search_space, self._parzen_estimator_parameters, np.ones(n_below)
            )
        return self._parzen_estimator_cls(arrays, search_space, self._parzen_estimator_parameters)
