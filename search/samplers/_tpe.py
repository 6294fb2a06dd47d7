"""``tpe``: Optuna's ``TPESampler``, reading studies whose trials carry learning curves, and
reading the study once per trial.

paretune stores each epoch's metric as an intermediate value, in multi-objective studies too
(through the storage). Optuna's TPE ranks PRUNED trials by that value in the direction of
``study.direction``, which a multi-objective study does not have; so for such a study this
sampler reads the PRUNED trials without their intermediate values, as Optuna stores them
(:func:`paretune.search._optuna_compat.without_pruned_curves`).

Optuna's TPE samples a strategy's parameters one by one (``multivariate=False``, Optuna 5's
default for several objectives)
and, for each one, reads every trial of the study again, splits them into good and bad (for
several objectives: non-domination ranks and hypervolume contributions) and reads each trial's
parameters again: seven parameters cost seven splits, each linear in the study's size. This
sampler splits once per trial and reads each trial's parameters once, then builds the same
estimators from them: the suggestions are Optuna's, value for value, for a given seed (the
tests compare them). The split is kept for the trial being sampled only; a trial another
process finishes meanwhile counts from the next trial on, as it would for a trial asked a
moment earlier. This module imports Optuna and is imported when the sampler is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna import samplers
from optuna.samplers._tpe.sampler import (
    _get_infeasible_trial_score,
    _split_complete_trials,
    _split_infeasible_trials,
    _split_pruned_trials,
    default_gamma,
    default_gamma_multiobjective,
)
from optuna.trial import TrialState
from paretune.search._optuna_compat import without_pruned_curves
from paretune.search.samplers._split import split_complete_2d

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["TPESampler"]


@dataclass
class _Split:
    """One trial's reading of the study: its good and bad trials."""

    key: tuple[int, int]  # (study id, trial number)
    below: list[FrozenTrial]
    above: list[FrozenTrial]
    rows: dict[bool, np.ndarray | None]  # by handle_below: their rows in _Columns


_COMPLETE, _PRUNED, _INFEASIBLE, _RUNNING = 0, 1, 2, 3


def _number(trial: FrozenTrial) -> int:
    return trial.number


class _Columns:
    """Each parameter's internal values over the study's finished trials, kept across trials.

    A finished trial's parameters never change, so each is converted once (row ``i`` of every
    column is the ``i``-th finished trial seen; NaN where it has no such parameter). A running
    trial (read as a liar) is read afresh each time: its parameters may still grow.
    """

    def __init__(self) -> None:
        self.row: dict[int, int] = {}  # finished trial number -> row
        self.kind: dict[int, int] = {}  # finished trial number -> _COMPLETE, _PRUNED, _INFEASIBLE
        self.memo: dict[Any, Any] = {}  # for subclasses (rung-tpe's points at a rung)
        self.params: list[dict[str, Any]] = []  # by row
        self.columns: dict[tuple[str, BaseDistribution], np.ndarray] = {}

    def split(
        self, study: optuna.Study, trials: list[FrozenTrial], n_below: int
    ) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
        """Optuna's ``_split_trials(study, trials, n_below)``, each finished trial classified
        (complete, pruned or infeasible) once: the same lists, in the same order."""
        groups: list[list[FrozenTrial]] = [[], [], [], []]
        for t in trials:
            kind = self.kind.get(t.number)
            if kind is None:  # Optuna's order of tests: running, infeasible, complete, pruned
                if t.state == TrialState.RUNNING:
                    groups[_RUNNING].append(t)  # not kept: its constraints are not set yet
                    continue
                if _get_infeasible_trial_score(t) > 0:
                    kind = _INFEASIBLE
                elif t.state == TrialState.COMPLETE:
                    kind = _COMPLETE
                elif t.state == TrialState.PRUNED:
                    kind = _PRUNED
                else:
                    raise ValueError(f"TPE cannot split trial {t.number} in state {t.state.name}.")
                self.kind[t.number] = kind
            groups[kind].append(t)
        complete, pruned, infeasible, running = groups
        if len(study.directions) == 2:
            below_complete, above_complete = split_complete_2d(complete, study, n_below)
        else:
            below_complete, above_complete = _split_complete_trials(complete, study, n_below)
        n_below = max(0, n_below - len(below_complete))
        below_pruned, above_pruned = _split_pruned_trials(pruned, study, n_below)
        n_below = max(0, n_below - len(below_pruned))
        below_infeasible, above_infeasible = _split_infeasible_trials(infeasible, n_below)
        below = below_complete + below_pruned + below_infeasible
        above = above_complete + above_pruned + above_infeasible + running
        below.sort(key=_number)
        above.sort(key=_number)
        return below, above

    def rows(self, trials: list[FrozenTrial]) -> np.ndarray | None:
        """The rows of ``trials`` (None when one is running: those are read afresh)."""
        if any(not t.state.is_finished() for t in trials):
            return None
        for t in trials:
            if t.number not in self.row:
                self.row[t.number] = len(self.params)
                self.params.append(t.params)
        return np.fromiter((self.row[t.number] for t in trials), dtype=np.int64, count=len(trials))

    def observations(
        self, rows: np.ndarray, search_space: dict[str, BaseDistribution]
    ) -> dict[str, np.ndarray]:
        """``TPESampler._get_internal_repr`` of the trials at ``rows``, in the same order: the
        values of the trials that have every parameter of ``search_space``."""
        picked = {name: self._column(name, dist)[rows] for name, dist in search_space.items()}
        present = np.ones(len(rows), dtype=bool)
        for values in picked.values():
            present &= ~np.isnan(values)
        return {name: values[present] for name, values in picked.items()}

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

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        view = without_pruned_curves(study)
        split = self._split_for(view, trial)
        below = self._estimator(view, search_space, split, handle_below=True)
        above = self._estimator(view, search_space, split, handle_below=False)
        samples = below.sample(self._rng.rng, self._n_ei_candidates)
        scores = self._compute_acquisition_func(samples, below, above)
        chosen = samplers.TPESampler._compare(samples, scores)
        return {name: dist.to_external_repr(chosen[name]) for name, dist in search_space.items()}

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
        if self._constant_liar:
            states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING]
        else:
            states = [TrialState.COMPLETE, TrialState.PRUNED]
        trials = study._get_trials(deepcopy=False, states=states, use_cache=not self._constant_liar)
        if self._constant_liar:  # the trial being sampled is not one of its own liars
            trials = [t for t in trials if t.number != trial.number]
        if self._gamma is None:
            self._gamma = (
                default_gamma if len(study.directions) <= 1 else default_gamma_multiobjective
            )
        n = sum(t.state != TrialState.RUNNING for t in trials)  # running ones do not count
        below, above = columns.split(study, trials, self._gamma(n))
        rows = {True: columns.rows(below), False: columns.rows(above)}
        self._split = _Split(key=key, below=below, above=above, rows=rows)
        return self._split

    def _estimator(
        self,
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        split: _Split,
        *,
        handle_below: bool,
    ) -> Any:
        """``_build_parzen_estimator`` over the good (``handle_below``) or bad trials of
        ``split``, each finished trial's parameters converted once."""
        trials = split.below if handle_below else split.above
        return self._parzen(study, search_space, trials, split.rows[handle_below], handle_below)

    def _build_parzen_estimator(
        self,
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        trials: list[FrozenTrial],
        handle_below: bool,
    ) -> Any:
        """Optuna's estimator over ``trials`` (as subclasses call it), each finished trial's
        parameters converted once."""
        rows = self.known(study).rows(trials)
        return self._parzen(study, search_space, trials, rows, handle_below)

    def _parzen(
        self,
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        trials: list[FrozenTrial],
        rows: np.ndarray | None,
        handle_below: bool,
    ) -> Any:
        """Optuna's ``_build_parzen_estimator``, reading the parameters of the trials at
        ``rows`` from the columns (None: running trials among them, read as Optuna does)."""
        if rows is None:
            arrays: dict[str, np.ndarray] = self._get_internal_repr(trials, search_space, study)
        else:
            arrays = self.known(study).observations(rows, search_space)
        if handle_below and study._is_multi_objective():
            n_below = len(next(iter(arrays.values()))) if arrays else 0
            return self._parzen_estimator_cls(
                arrays, search_space, self._parzen_estimator_parameters, np.ones(n_below)
            )
        return self._parzen_estimator_cls(arrays, search_space, self._parzen_estimator_parameters)
