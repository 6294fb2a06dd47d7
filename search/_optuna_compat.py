"""The few places paretune reaches past Optuna's public API, kept in one module.

Optuna's public API addresses a running trial by its ``Trial`` object or, for ``tell``, by its
number; recording attributes on a trial another process started, or handing an Optuna pruner
the frozen state of a live trial, needs the storage-level trial id.
"""

from __future__ import annotations

import types
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, cast

if TYPE_CHECKING:
    import optuna

__all__ = [
    "created_trial",
    "frozen_trial",
    "report_intermediate",
    "finish_times",
    "set_metric_names",
    "set_trial_params",
    "set_trial_user_attrs",
    "split_complete_trials",
    "storage_of",
    "trial_by_number",
    "TrialCursor",
    "new_trials",
    "trial_states_since",
    "trials_by_id",
    "trial_id_of",
    "without_pruned_curves",
]


class _HasValues(Protocol):
    @property
    def values(self) -> Sequence[float]: ...


_P = TypeVar("_P", bound=_HasValues)


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object behind ``study``."""
    return study._storage


def trial_by_number(study: optuna.Study, number: int) -> optuna.Trial:
    """A ``Trial`` handle on trial ``number`` of ``study`` (to set attributes / constraints)."""
    import optuna

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.Trial(study, trial_id)


def frozen_trial(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The current stored state of a live trial (what Optuna pruners read)."""
    return study._storage.get_trial(trial._trial_id)


def trial_id_of(trial: optuna.Trial) -> int:
    """The storage-level id of a live trial."""
    return trial._trial_id


def set_metric_names(study: optuna.Study, names: Sequence[str]) -> None:
    """Name the study's objectives (``study.set_metric_names``, without its warning).

    Optuna marks ``set_metric_names`` experimental and warns on each call; paretune names
    every study it opens, so the warning would be printed on every run.
    """
    import warnings

    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        study.set_metric_names(list(names))


class _WithoutPrunedCurves:
    """A multi-objective study whose PRUNED trials read without intermediate values."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, *args: Any, **kwargs: Any) -> list[optuna.trial.FrozenTrial]:
        import copy

        from optuna.trial import TrialState

        trials: list[optuna.trial.FrozenTrial] = []
        for trial in self._study._get_trials(*args, **kwargs):
            if trial.state is TrialState.PRUNED and trial.intermediate_values:
                trial = copy.copy(trial)
                trial.intermediate_values = {}
            trials.append(trial)
        return trials


def without_pruned_curves(study: optuna.Study) -> optuna.Study:
    """``study`` as Optuna's TPE reads a multi-objective study (itself for one objective).

    Optuna's TPE ranks PRUNED trials by their last intermediate value in the direction of
    ``study.direction``, which a multi-objective study does not have: it raises. Optuna never
    stores intermediate values in multi-objective studies (``Trial.report`` refuses them);
    paretune does (the learning curves). Through this view TPE sees those PRUNED trials
    without them, as Optuna would have stored them: every other read goes to ``study``.
    """
    if len(study.directions) <= 1:
        return study
    view: Any = _WithoutPrunedCurves(study)
    return cast("optuna.Study", view)


def report_intermediate(trial: optuna.Trial, step: int, value: float) -> bool:
    """Store ``value`` as the trial's intermediate value at ``step``, unless it holds one.

    A single-objective study goes through ``Trial.report``. ``Trial.report`` refuses a
    multi-objective study, so there the value goes to the storage directly (the same write
    ``Trial.report`` makes). The step is read from the trial's own cache first: a step already
    reported (by an Optuna pruner, or by the trainer's relay) is left as it is, without
    Optuna's "already reported" warning.

    Returns:
        Whether the value was stored.
    """
    cached = trial._cached_frozen_trial.intermediate_values
    if step in cached:
        return False
    if len(trial.study.directions) == 1:
        trial.report(float(value), step)
    else:
        trial.storage.set_trial_intermediate_value(trial._trial_id, step, float(value))
        cached[step] = float(value)
    return True


def set_trial_user_attrs(
    storage: optuna.storages.BaseStorage, trial_id: int, attrs: Mapping[str, Any]
) -> None:
    """Set several user attributes of a running trial in one storage round trip.

    Optuna's storages write one attribute per call (one database transaction, or one locked
    journal append, each). Recording a trial sets about a dozen, so for the two storages
    paretune uses most they are batched: one transaction for an RDB storage, one append for a
    journal file. Any other storage gets one call per attribute.
    """
    if not attrs:
        return
    batch = getattr(type(storage), "set_trial_user_attrs", None)
    if batch is not None:  # a paretune storage wrapper (OwnedTrialCache) batches itself
        batch(storage, trial_id, attrs)
        return
    import optuna
    from optuna.storages import JournalStorage, RDBStorage

    backend = storage
    if isinstance(storage, optuna.storages._CachedStorage):
        backend = storage._backend
    if isinstance(backend, RDBStorage) and hasattr(backend, "_set_trial_attr_without_commit"):
        _set_rdb_user_attrs(backend, trial_id, attrs)
        return
    if isinstance(backend, JournalStorage) and hasattr(backend, "_replay_result"):
        from optuna.storages.journal._storage import JournalOperation

        with backend._thread_lock:
            worker_id = backend._replay_result.worker_id
            backend._backend.append_logs(
                [
                    {
                        "op_code": JournalOperation.SET_TRIAL_USER_ATTR,
                        "worker_id": worker_id,
                        "trial_id": trial_id,
                        "user_attr": {key: value},
                    }
                    for key, value in attrs.items()
                ]
            )
            backend._sync_with_backend()
        return
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)


def set_trial_params(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    params: Sequence[tuple[str, float, optuna.distributions.BaseDistribution]],
) -> None:
    """Set several sampled parameters ``(name, internal value, distribution)`` of a running
    trial in one storage round trip.

    Optuna writes each parameter as it is sampled: for an RDB storage one transaction each
    (the trial read, its state checked, the row inserted, a commit), a quarter of a no-op
    trial's bookkeeping. Here an RDB storage (behind Optuna's ``_CachedStorage`` or not) gets
    one transaction with Optuna's own checks: the trial still updatable, each distribution
    compatible with the one the study already holds for that name (from the cache's record
    where it has one, as ``_CachedStorage.set_trial_param``, else read). Any other storage
    gets one call per parameter.
    """
    if not params:
        return
    import optuna
    from optuna.storages import RDBStorage

    cache = storage if isinstance(storage, optuna.storages._CachedStorage) else None
    backend = cache._backend if cache is not None else storage
    if not (isinstance(backend, RDBStorage) and hasattr(backend, "check_trial_is_updatable")):
        for name, value, distribution in params:
            storage.set_trial_param(trial_id, name, value, distribution)
        return
    from optuna.distributions import (
        check_distribution_compatibility,
        distribution_to_json,
        json_to_distribution,
    )
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    known: dict[str, Any] = {}
    if cache is not None:
        with cache._lock:
            study_id, _ = cache._trial_id_to_study_id_and_number[trial_id]
            known = cache._studies[study_id].param_distribution
    with _create_scoped_session(backend.scoped_session, True) as session:
        trial: Any = models.TrialModel.find_or_raise_by_id(trial_id, session)
        backend.check_trial_is_updatable(trial_id, trial.state)
        rows = []
        for name, value, distribution in params:
            previous = known.get(name)
            if previous is None:
                record: Any = (
                    session.query(models.TrialParamModel)
                    .join(models.TrialModel)
                    .filter(models.TrialModel.study_id == trial.study_id)
                    .filter(models.TrialParamModel.param_name == name)
                    .first()
                )
                if record is not None:
                    previous = json_to_distribution(record.distribution_json)
            if previous is not None:
                check_distribution_compatibility(previous, distribution)
            rows.append(
                models.TrialParamModel(
                    trial_id=trial_id,
                    param_name=name,
                    param_value=value,
                    distribution_json=distribution_to_json(distribution),
                )
            )
        session.add_all(rows)
    if cache is not None:
        with cache._lock:
            for name, _, distribution in params:
                known.setdefault(name, distribution)


def finish_times(storage: optuna.storages.BaseStorage, trial_id: int) -> tuple[Any, Any] | None:
    """``(datetime_start, datetime_complete)`` of a trial as an RDB storage holds them (one
    single-row query, where ``get_trial`` makes six); None for any other storage."""
    from optuna.storages import RDBStorage

    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        return None
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(backend.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        return trial.datetime_start, trial.datetime_complete  # (Optuna's time-zone handling)


class TrialCursor(NamedTuple):
    """Where a reader of a study's new trials stands (see :func:`new_trials`)."""

    position: int  # reader-specific: cache entries seen, or the highest finished trial id
    open: frozenset[int]  # trials seen not finished then (numbers, or ids)
    source: str  # "owned", "cached" or "" (nothing read yet)


def new_trials(
    storage: optuna.storages.BaseStorage, study_id: int, cursor: TrialCursor | None
) -> tuple[list[optuna.trial.FrozenTrial], list[optuna.trial.FrozenTrial], TrialCursor] | None:
    """The study's trials finished since ``cursor`` (each once), the RUNNING ones now, and the
    cursor to pass next time; None when neither reader below serves ``storage``.

    ``Study.get_trials`` filters and sorts every trial of the study on every call; a reader that
    keeps what it has seen (the TPE samplers' columns) needs only what is new:

    - an :class:`~paretune.search.study.OwnedTrialCache` over an RDB storage reads the states
      of the new and open trials (one query by primary key) and loads only the trials this
      process did not just finish itself (:meth:`~paretune.search.study.OwnedTrialCache.
      read_new_trials`);
    - else Optuna's ``_CachedStorage`` (as is, or behind the owned cache): the trials it added
      after the ones seen (it keeps them in a dict by number, in the order it first read them;
      an update replaces the entry in place) and those open when last read.
    """
    import itertools

    import optuna

    read = getattr(type(storage), "read_new_trials", None)
    if read is not None and (cursor is None or cursor.source == "owned"):
        owned: tuple[list[Any], list[Any], TrialCursor] | None = read(storage, study_id, cursor)
        if owned is not None:
            return owned
    cache: Any = storage
    if not isinstance(cache, optuna.storages._CachedStorage):
        cache = getattr(storage, "storage", None)
        if not isinstance(cache, optuna.storages._CachedStorage):
            return None
    seen, numbers = (0, frozenset[int]()) if cursor is None else cursor[:2]
    try:
        cache._read_trials_from_remote_storage(study_id)
        with cache._lock:
            trials = cache._studies[study_id].trials
            found = list(itertools.islice(trials.values(), seen, None))
            found.extend(trials[number] for number in numbers if number in trials)
            seen = len(trials)
    except (AttributeError, KeyError):  # another Optuna version's cache
        return None
    finished = [t for t in found if t.state.is_finished()]
    running = [t for t in found if t.state == optuna.trial.TrialState.RUNNING]
    still_open = frozenset(t.number for t in found if not t.state.is_finished())
    return finished, running, TrialCursor(seen, still_open, "cached")


def trials_by_id(
    storage: optuna.storages.BaseStorage, study_id: int, ids: Collection[int]
) -> list[optuna.trial.FrozenTrial] | None:
    """The study's trials with ``ids``, read from an RDB storage (six queries, as Optuna reads
    trials); None for any other storage."""
    from optuna.storages import RDBStorage

    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        return None
    if not ids:
        return []
    wanted = set(ids)
    found = backend._get_trials(study_id, None, wanted, trial_id_greater_than=max(wanted))
    return [t for t in found if t._trial_id in wanted]


def trial_states_since(
    storage: optuna.storages.BaseStorage,
    study_id: int,
    *,
    after: int,
    ids: Collection[int],
) -> list[tuple[int, optuna.trial.TrialState]] | None:
    """``(trial id, state)`` of the study's trials with an id above ``after`` or in ``ids``,
    read from the database by primary key (more than 500 ``ids``: every trial from the lowest
    of them, a superset); None when ``storage`` is not an RDB storage.

    What :class:`~paretune.search.study._trial_cache.OwnedTrialCache` counts trials with: a
    finished trial never changes state, so only new trials and those still open are read.
    """
    from optuna.storages import RDBStorage

    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        return None
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    model = models.TrialModel
    if len(ids) > 500:  # past what every database takes in one IN list: read a range
        after, ids = min(after, min(ids) - 1), ()
    newer = model.trial_id > after
    with _create_scoped_session(backend.scoped_session) as session:
        query = session.query(model.trial_id, model.state).filter(model.study_id == study_id)
        if ids:
            query = query.filter(sqlalchemy.or_(newer, model.trial_id.in_(list(ids))))
        else:
            query = query.filter(newer)
        rows = query.all()
    return [(int(trial_id), state) for trial_id, state in rows]


def _set_rdb_user_attrs(
    backend: optuna.storages.RDBStorage, trial_id: int, attrs: Mapping[str, Any]
) -> None:
    """One transaction; on SQLite and PostgreSQL one multi-row upsert statement."""
    import json

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    model = models.TrialUserAttributeModel
    with _create_scoped_session(backend.scoped_session, True) as session:
        dialect = backend.engine.name
        if dialect not in ("sqlite", "postgresql"):
            for key, value in attrs.items():
                backend._set_trial_attr_without_commit(session, model, trial_id, key, value)
            return
        from sqlalchemy.dialects import postgresql, sqlite

        insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
        trial: Any = models.TrialModel.find_or_raise_by_id(trial_id, session)
        backend.check_trial_is_updatable(trial_id, trial.state)
        rows = [
            {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for key, value in attrs.items()
        ]
        statement = insert(model).values(rows)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[model.trial_id, model.key],
                set_={"value_json": statement.excluded.value_json},
            )
        )


def created_trial(
    storage: optuna.storages.BaseStorage, study_id: int, trial_id: int
) -> optuna.trial.FrozenTrial | None:
    """The trial ``create_new_trial`` just made, if ``storage`` kept it (no query), else None.

    Optuna's ``_CachedStorage`` keeps the ``FrozenTrial`` its backend returned on creation; for
    any other storage (or another Optuna version) the trial is loaded on its first read.
    """
    import copy

    try:
        _, number = storage._trial_id_to_study_id_and_number[trial_id]  # type: ignore[attr-defined]
        trial = storage._studies[study_id].trials[number]  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError):
        return None
    if getattr(trial, "_trial_id", None) != trial_id:
        return None
    found: optuna.trial.FrozenTrial = copy.deepcopy(trial)
    return found


def split_complete_trials(
    points: Sequence[_P], n_objectives: int, n_below: int
) -> tuple[list[_P], list[_P]]:
    """TPE's split of points into the ``n_below`` best and the rest (Optuna's own ranking).

    ``points`` carry ``values``: accuracy (maximized) first, then costs (minimized). One
    value: the highest accuracies. More: Optuna's multi-objective split (non-dominated rank,
    then hypervolume subset selection among the last rank), as ``TPESampler`` makes it.
    """
    import optuna
    from optuna.samplers._tpe.sampler import _split_complete_trials_multi_objective

    n_below = max(0, min(int(n_below), len(points)))
    if n_objectives == 1:
        ranked = sorted(points, key=lambda p: p.values[0], reverse=True)
        return ranked[:n_below], ranked[n_below:]
    directions = [optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * (
        n_objectives - 1
    )
    view = types.SimpleNamespace(directions=directions)
    if n_objectives == 2:  # the same split, in O(n log n)
        from paretune.search.samplers._split import split_complete_2d

        return split_complete_2d(points, view, n_below)
    split: Any = _split_complete_trials_multi_objective  # typed for FrozenTrials only
    good, bad = split(points, view, n_below)
    return list(good), list(bad)
