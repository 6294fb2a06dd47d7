"""A write-through cache of the running trials this process owns, in front of any storage.

Optuna reads a running trial back from its storage several times while it runs: ``Trial()``
loads it when ``ask`` creates it, and ``tell`` loads it twice more. For an RDB storage each load
is six SQL queries (the trial and its five attribute tables), about a third of a trial's
bookkeeping, and Optuna's own ``_CachedStorage`` only caches *finished* trials. Yet the process
that runs a trial is the only one that writes it, so after each of its own writes it already
knows what the storage holds.

:class:`OwnedTrialCache` keeps that copy. Every write still goes to the storage first (the
storage stays the truth, durable after each call, and still refuses to update a trial another
process has finished); only then is the local copy updated. Reads of an owned running trial are
answered from the copy; everything else passes through. A trial stops being owned when this
process finishes it, or when a write to it fails. The last trials it finished are kept as
stored (a finished trial never changes): ``tell`` and the callbacks read them back at once.
Within :meth:`OwnedTrialCache.params_together` (sampling a strategy) the parameters are kept
and written in one transaction when the strategy is whole, not one per parameter.

Two questions asked at every trial are answered from a count of the trials by state instead of
from Optuna's cached list of every trial (read, then sorted: linear in the study): how many
trials each state holds (:meth:`OwnedTrialCache.count_states`, the slot count), and whether any
trial is queued (``Study.ask`` lists the WAITING trials before it creates one). The count is
kept up to date from the storage: a finished trial never changes state, so each update reads
only the states of the trials created since and of those still open (by primary key). The
samplers read the trials finished since their last read the same way
(:meth:`OwnedTrialCache.read_new_trials`), loading only other processes' trials.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import OrderedDict
from collections.abc import Container, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage
from paretune.search._optuna_compat import (
    TrialCursor,
    created_trial,
    finish_times,
    set_trial_params,
    set_trial_user_attrs,
    trial_states_since,
    trials_by_id,
)

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.study import StudyDirection
    from optuna.study._frozen import FrozenStudy
    from optuna.trial import FrozenTrial, TrialState
    from paretune.spaces import StrategySpace

__all__ = ["OwnedTrialCache", "suggest_strategy"]


_FINISHED_KEPT = 64  # trials just finished by this process, answered from memory


class _StateCount:
    """One study's trials by state: finished ones counted once, open ones re-read.

    As Optuna's ``_CachedStorage``, it reads the trials above the highest finished trial id it
    has seen and those it saw open (RUNNING or WAITING); a finished trial never changes.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished: dict[TrialState, int] = {}
        self.finished_ids: set[int] = set()
        self.open: dict[int, TrialState] = {}  # RUNNING or WAITING trials by id
        self.last_id = -1  # the highest finished trial id read

    def update(self, rows: list[tuple[int, TrialState]]) -> dict[TrialState, int]:
        """Take the states read since the last update; the counts now."""
        for trial_id, state in rows:
            if not state.is_finished():
                self.open[trial_id] = state
                continue
            self.open.pop(trial_id, None)
            self.last_id = max(self.last_id, trial_id)
            if trial_id not in self.finished_ids:
                self.finished_ids.add(trial_id)
                self.finished[state] = self.finished.get(state, 0) + 1
        counts = dict(self.finished)
        for state in self.open.values():
            counts[state] = counts.get(state, 0) + 1
        return counts


class OwnedTrialCache(BaseStorage):
    """A storage that answers reads of the running trials this process owns from memory.

    A trial is owned once this process creates it (``create_new_trial``) or moves it to RUNNING
    (``set_trial_state_values``, as ``Study.ask`` does to pop a queued trial); it is loaded from
    the storage once and kept up to date by this process's own writes.

    Args:
        storage: The storage to put in front of (any Optuna storage).

    Examples:
        >>> import optuna
        >>> storage = OwnedTrialCache(storage=optuna.storages.InMemoryStorage())
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(storage=storage)
        >>> trial = study.ask()
        >>> x = trial.suggest_float("x", 0.0, 1.0)
        >>> storage.owns(trial._trial_id), storage.get_trial(trial._trial_id).params == {"x": x}
        (True, True)
        >>> _ = study.tell(trial, x)
        >>> storage.owns(trial._trial_id)
        False
    """

    def __init__(self, *, storage: BaseStorage) -> None:
        if not isinstance(storage, BaseStorage):
            raise TypeError(
                f"storage must be an optuna.storages.BaseStorage; got {type(storage).__name__}."
            )
        self.storage = storage
        self._lock = threading.Lock()
        # trial id -> the trial as this process last wrote it (None: owned, not loaded yet)
        self._owned: dict[int, FrozenTrial | None] = {}
        # study id -> its trials counted by state (see count_states)
        self._counts: dict[int, _StateCount] = {}
        # trial id -> parameters sampled inside params_together, not written yet
        self._deferred: dict[int, list[tuple[str, float, BaseDistribution]]] = {}
        # the trials this process finished last, as stored (a finished trial never changes)
        self._finished: OrderedDict[int, FrozenTrial] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        # Pickled copies (a Ray searcher's checkpoint) start with an empty cache.
        return {"storage": self.storage}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(storage=state["storage"])  # type: ignore[misc]

    def __getattr__(self, name: str) -> Any:
        # Storage-specific attributes (an RDB storage's ``engine``, ``url`` ...) pass through.
        if name == "storage":
            raise AttributeError(name)
        return getattr(self.storage, name)

    def owns(self, trial_id: int) -> bool:
        """Whether ``trial_id`` is a running trial this process owns."""
        with self._lock:
            return trial_id in self._owned

    # --- the owned trials ---------------------------------------------------------------------

    def _write(self, trial_id: int, write: Any, apply: Any) -> None:
        """Run ``write`` on the storage, then ``apply`` it to the owned copy (if loaded)."""
        try:
            write()
        except BaseException:
            with self._lock:
                self._owned.pop(trial_id, None)  # the stored state is unknown now
            raise
        with self._lock:
            cached = self._owned.get(trial_id)
            if cached is not None:
                apply(cached)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = self.storage.create_new_trial(study_id, template_trial)
        with self._lock:
            self._owned[trial_id] = created_trial(self.storage, study_id, trial_id)
        return trial_id

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            owned = trial_id in self._owned
            cached = self._owned.get(trial_id, self._finished.get(trial_id))
            if cached is not None:
                return copy.deepcopy(cached)
        trial = self.storage.get_trial(trial_id)
        if owned:
            with self._lock:
                if trial_id in self._owned:
                    self._owned[trial_id] = copy.deepcopy(trial)
        return trial

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        def apply(trial: FrozenTrial) -> None:
            external = distribution.to_external_repr(param_value_internal)
            trial.params = {**trial.params, param_name: external}
            trial.distributions = {**trial.distributions, param_name: distribution}

        with self._lock:
            deferred = self._deferred.get(trial_id)
            if deferred is not None:  # inside params_together: written at its end
                deferred.append((param_name, param_value_internal, distribution))
                if (cached := self._owned.get(trial_id)) is not None:
                    apply(cached)
                return
        self._write(
            trial_id,
            lambda: self.storage.set_trial_param(
                trial_id, param_name, param_value_internal, distribution
            ),
            apply,
        )

    @contextlib.contextmanager
    def params_together(self, trial_id: int) -> Iterator[None]:
        """Write the parameters an owned trial is given inside the block in one round trip,
        at its end (:func:`~paretune.search._optuna_compat.set_trial_params`), also when the
        block raises.

        Sampling a strategy sets each parameter as it is drawn: one database transaction each,
        which, with the storage's checks, is a quarter of a short trial's bookkeeping. Inside
        the block they are kept (reads of the trial, here, see them at once) and written
        together, with the same checks, when it ends: other processes see the strategy when
        it is whole. A trial this process does not own is written as usual.

        Examples:
            >>> import optuna
            >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
            >>> storage = OwnedTrialCache(storage=optuna.storages.InMemoryStorage())
            >>> study = optuna.create_study(storage=storage)
            >>> trial = study.ask()
            >>> with storage.params_together(trial._trial_id):
            ...     x = trial.suggest_float("x", 0.0, 1.0)
            ...     y = trial.suggest_int("y", 0, 3)
            ...     storage.storage.get_trial(trial._trial_id).params  # not written yet
            {}
            >>> storage.storage.get_trial(trial._trial_id).params == {"x": x, "y": y}
            True
        """
        with self._lock:
            if trial_id not in self._owned or trial_id in self._deferred:
                deferring = False
            else:
                self._deferred[trial_id] = []
                deferring = True
        if not deferring:
            yield
            return
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the block's error is the one to raise
                self._write_deferred(trial_id)
            raise
        self._write_deferred(trial_id)

    def _write_deferred(self, trial_id: int) -> None:
        with self._lock:
            params = self._deferred.pop(trial_id, [])
        if params:
            self._write(
                trial_id, lambda: set_trial_params(self.storage, trial_id, params), lambda _: None
            )

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        try:
            changed = self.storage.set_trial_state_values(trial_id, state, values)
        except BaseException:
            with self._lock:
                self._owned.pop(trial_id, None)
            raise
        if state.is_finished():
            self._keep_finished(trial_id, state, values)
            return changed
        with self._lock:
            if changed and trial_id not in self._owned:
                self._owned[trial_id] = None  # popped from the queue: ours from now on
            elif trial_id in self._owned:
                self._owned[trial_id] = None  # reload on the next read (datetime_start)
        return changed

    def _keep_finished(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None
    ) -> None:
        """Stop owning a trial just finished; keep it as stored where its times can be read
        (``Study.tell`` reads it back at once, callbacks again)."""
        with self._lock:
            cached = self._owned.pop(trial_id, None)
        if cached is None:
            return
        try:
            times = finish_times(self.storage, trial_id)
        except Exception:  # read from the storage next time
            return
        if times is None:
            return
        cached.state = state
        if values is not None:
            cached.values = [float(v) for v in values]
        cached.datetime_start, cached.datetime_complete = times
        with self._lock:
            self._finished[trial_id] = cached
            while len(self._finished) > _FINISHED_KEPT:
                self._finished.popitem(last=False)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        def apply(trial: FrozenTrial) -> None:
            trial.intermediate_values = {**trial.intermediate_values, step: intermediate_value}

        self._write(
            trial_id,
            lambda: self.storage.set_trial_intermediate_value(trial_id, step, intermediate_value),
            apply,
        )

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.set_trial_user_attrs(trial_id, {key: value})

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """Set several user attributes at once (one round trip where the storage allows)."""

        def apply(trial: FrozenTrial) -> None:
            trial.user_attrs = {**trial.user_attrs, **copy.deepcopy(dict(attrs))}

        self._write(trial_id, lambda: set_trial_user_attrs(self.storage, trial_id, attrs), apply)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        def apply(trial: FrozenTrial) -> None:
            trial.system_attrs = {**trial.system_attrs, key: copy.deepcopy(value)}

        self._write(
            trial_id, lambda: self.storage.set_trial_system_attr(trial_id, key, value), apply
        )

    # --- everything else passes through -------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return self.storage.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self.storage.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.storage.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.storage.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.storage.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.storage.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self.storage.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.storage.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.storage.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self.storage.get_all_studies()

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self.storage.get_trial_number_from_id(trial_id)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        from optuna.trial import TrialState

        # Study.ask looking for a queued trial: usually none, which the count tells
        waiting_only = isinstance(states, tuple) and states == (TrialState.WAITING,)
        if waiting_only and not self.count_states(study_id).get(TrialState.WAITING):
            return []
        return self.storage.get_all_trials(study_id, deepcopy=deepcopy, states=states)

    def count_states(self, study_id: int) -> dict[TrialState, int]:
        """The study's trials counted by state (in SQL for an RDB storage).

        Examples:
            >>> import optuna
            >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
            >>> storage = OwnedTrialCache(storage=optuna.storages.InMemoryStorage())
            >>> study = optuna.create_study(storage=storage)
            >>> _ = study.ask()
            >>> {s.name: n for s, n in storage.count_states(study._study_id).items()}
            {'RUNNING': 1}
        """
        with self._lock:
            count = self._counts.setdefault(study_id, _StateCount())
        with count.lock:
            rows = trial_states_since(
                self.storage, study_id, after=count.last_id, ids=tuple(count.open)
            )
            if rows is not None:
                return count.update(rows)
        found: dict[TrialState, int] = {}
        for trial in self.storage.get_all_trials(study_id, deepcopy=False):
            found[trial.state] = found.get(trial.state, 0) + 1
        return found

    def read_new_trials(
        self, study_id: int, cursor: TrialCursor | None
    ) -> tuple[list[FrozenTrial], list[FrozenTrial], TrialCursor] | None:
        """The study's trials finished since ``cursor``, the RUNNING ones now, and the next
        cursor (:func:`~paretune.search._optuna_compat.new_trials`); None when the storage is
        not an RDB one.

        The states of the trials created since, and of those open at the last read, come from
        one query by primary key. A trial this process just finished is taken as kept
        (:meth:`set_trial_state_values`), one it runs from its copy; only the others, finished
        or running in other processes, are loaded (six queries for all of them). A single
        process's study is so read with one small query a trial, where Optuna's cache loads
        the last two trials.

        Examples:
            >>> import optuna, tempfile
            >>> from paretune.search import make_storage
            >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
            >>> storage = make_storage(f"sqlite:///{tempfile.mkdtemp()}/s.db")
            >>> study = optuna.create_study(storage=storage)
            >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
            >>> finished, running, cursor = storage.read_new_trials(study._study_id, None)
            >>> [t.number for t in finished], running
            ([0, 1], [])
            >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
            >>> [t.number for t in storage.read_new_trials(study._study_id, cursor)[0]]
            [2]
        """
        from optuna.trial import TrialState

        last, still_open = (-1, frozenset[int]()) if cursor is None else cursor[:2]
        rows = trial_states_since(self.storage, study_id, after=last, ids=still_open)
        if rows is None:
            return None
        finished: list[FrozenTrial] = []
        running: list[FrozenTrial] = []
        load: set[int] = set()
        with self._lock:
            for trial_id, state in rows:
                if state.is_finished():
                    kept = self._finished.get(trial_id)
                    if kept is None:
                        load.add(trial_id)
                    else:
                        finished.append(copy.deepcopy(kept))
                elif state == TrialState.RUNNING:
                    owned = self._owned.get(trial_id)  # (its writes go through here)
                    if owned is None:
                        load.add(trial_id)
                    else:
                        running.append(copy.deepcopy(owned))
        if load:
            loaded = trials_by_id(self.storage, study_id, load)
            if loaded is None:
                return None
            for trial in loaded:
                if trial.state.is_finished():
                    finished.append(trial)
                elif trial.state == TrialState.RUNNING:
                    running.append(trial)
        done = {t._trial_id for t in finished}
        # still open: every trial read but not given as finished (one read as finished whose
        # load found nothing is asked for again)
        opened = frozenset(i for i, _ in rows if i not in done)
        last = max([last, *done])
        return finished, running, TrialCursor(last, opened, "owned")

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        return self.storage.get_n_trials(study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self.storage.get_best_trial(study_id)

    def remove_session(self) -> None:
        self.storage.remove_session()


def suggest_strategy(space: StrategySpace, trial: optuna.Trial) -> dict[str, Any]:
    """``paretune.spaces.suggest(space, trial)``, the parameters written in one round trip
    where the trial's storage is an :class:`OwnedTrialCache` that owns it
    (:meth:`OwnedTrialCache.params_together`).

    Examples:
        >>> import optuna
        >>> from paretune.spaces import FloatDistribution, StrategySpace
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(storage=OwnedTrialCache(
        ...     storage=optuna.storages.InMemoryStorage()))
        >>> trial = study.ask()
        >>> space = StrategySpace(params={"lr": FloatDistribution(low=1e-3, high=0.1, log=True)})
        >>> params = suggest_strategy(space, trial)
        >>> study.trials[0].params == params
        True
    """
    from paretune.spaces import suggest

    storage = trial.storage
    if not isinstance(storage, OwnedTrialCache):
        return suggest(space, trial)
    with storage.params_together(trial._trial_id):
        return suggest(space, trial)
