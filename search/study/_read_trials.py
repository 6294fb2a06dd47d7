"""Read an RDB study's trials (SQLite, PostgreSQL) with bulk SQL, and :func:`read_trials`,
the one call the commands that only read use, whatever the storage.

Optuna reads an RDB storage through the ORM, one object per row: for 10,000 trials that takes
tens of seconds. Here the study's rows are read with six bulk ``SELECT`` statements over
Optuna's own tables (when the schema version is the one the installed Optuna expects), and the
``FrozenTrial`` objects built once, equal field by field to Optuna's. A command that needs
only part of each trial (``paretune status`` needs no curve) can leave the rest unread.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from paretune.search.study._fast_read import _loads, _Replay

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["read_trials"]

_LITERAL = {"literal_binds": True}  # the one bound value is the study id, an int


def read_trials(
    study: optuna.Study,
    *,
    omit: Collection[str] = (),
    params: bool = True,
    intermediate_values: bool = True,
) -> list[FrozenTrial]:
    """Every trial of ``study``, as ``study.get_trials(deepcopy=False)`` gives them, sooner.

    An RDB storage (SQLite, PostgreSQL) is read with bulk SQL over Optuna's tables; a journal
    study opened by :func:`~paretune.search.study.load_study_fast` is already read; any other
    storage is read by Optuna. The trials are shared, not copied: do not change them.

    Args:
        study: The study to read.
        omit: User attributes a caller does not need (``"curve"``, the largest), left unread
            on an RDB storage for finished trials; a running trial keeps all of its own (its
            curve tells how far it got). Other storages read everything anyway.
        params: False leaves the sampled parameters unread on an RDB storage (``params``
            and ``distributions`` then are ``{}``; the ``strategy`` attribute holds them).
        intermediate_values: False leaves the reported values unread on an RDB storage
            (``intermediate_values`` then is ``{}``).

    Examples:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
        >>> read_trials(study) == study.get_trials()
        True
    """
    rdb = _rdb_of(study._storage)
    if rdb is not None:
        trials = _rdb_trials(
            rdb,
            study._study_id,
            omit=omit,
            with_params=params,
            intermediate_values=intermediate_values,
        )
        if trials is not None:
            return trials
    return study.get_trials(deepcopy=False)


def _rdb_of(storage: Any) -> Any:
    """The ``RDBStorage`` under paretune's and Optuna's caches (None when there is none)."""
    from optuna.storages import RDBStorage

    for _ in range(4):
        if isinstance(storage, RDBStorage):
            return storage
        inner = next(
            (getattr(storage, a) for a in ("storage", "_backend") if hasattr(storage, a)), None
        )
        if inner is None:
            return None
        storage = inner
    return None


def _rdb_trials(
    rdb: Any,
    study_id: int,
    *,
    omit: Collection[str],
    with_params: bool,
    intermediate_values: bool,
) -> list[FrozenTrial] | None:
    """The study's trials in six bulk SELECTs (None: a schema this code does not know).

    ``omit``, ``with_params`` (``params``) and ``intermediate_values`` as in
    :func:`read_trials`.

    Enum and datetime columns are read as the database gives them (SQLAlchemy's per-row
    converters cost more than the query) and converted here as Optuna's models do.
    """
    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.trial import FrozenTrial, TrialState

    trials_t = models.TrialModel.__table__
    values_t = models.TrialValueModel.__table__
    params_t = models.TrialParamModel.__table__
    user_t = models.TrialUserAttributeModel.__table__
    system_t = models.TrialSystemAttributeModel.__table__
    inter_t = models.TrialIntermediateValueModel.__table__
    version_t = models.VersionInfoModel.__table__
    # stored names of the value types (Optuna's enums, written by name)
    special = {"INF_POS": float("inf"), "INF_NEG": float("-inf"), "NAN": float("nan")}
    states = {state.name: state for state in TrialState}

    def raw(column: Any) -> Any:
        return sa.type_coerce(column, sa.String).label(column.name)

    alone = False  # whether the storage holds no other study's trials

    def of_study(table: Any, *columns: Any) -> Any:
        statement = sa.select(table.c.trial_id, *columns)
        if not alone:  # (alone, the join costs more than reading the other rows: none)
            statement = statement.join(trials_t, trials_t.c.trial_id == table.c.trial_id).where(
                trials_t.c.study_id == study_id
            )
        return statement.order_by(next(iter(table.primary_key.columns)))

    with rdb.engine.connect() as connection:
        version = connection.execute(sa.select(version_t.c.schema_version)).scalar()
        if version != models.SCHEMA_VERSION:
            return None
        others = sa.select(sa.func.count()).where(trials_t.c.study_id != study_id)
        alone = connection.execute(others).scalar() == 0
        cursor = connection.connection.dbapi_connection.cursor()

        def fetch(statement: Any) -> list[Any]:
            """Rows as the driver gives them (SQLAlchemy's per-row work costs more)."""
            sql = statement.compile(dialect=connection.dialect, compile_kwargs=_LITERAL)
            cursor.execute(str(sql))
            found: list[Any] = cursor.fetchall()
            return found

        try:
            rows = fetch(
                sa.select(
                    trials_t.c.trial_id,
                    trials_t.c.number,
                    raw(trials_t.c.state),
                    raw(trials_t.c.datetime_start),
                    raw(trials_t.c.datetime_complete),
                )
                .where(trials_t.c.study_id == study_id)
                .order_by(trials_t.c.trial_id)
            )
            values = fetch(
                of_study(
                    values_t, values_t.c.objective, values_t.c.value, raw(values_t.c.value_type)
                )
            )
            params = (
                fetch(
                    of_study(
                        params_t,
                        params_t.c.param_name,
                        params_t.c.param_value,
                        params_t.c.distribution_json,
                    )
                )
                if with_params
                else []
            )
            user_rows = of_study(user_t, user_t.c.key, user_t.c.value_json)
            if omit:  # finished trials without those attributes; running ones keep theirs
                if alone:
                    user_rows = user_rows.join(trials_t, trials_t.c.trial_id == user_t.c.trial_id)
                user_rows = user_rows.where(
                    sa.or_(
                        user_t.c.key.not_in(sorted(omit)),
                        sa.type_coerce(trials_t.c.state, sa.String) == "RUNNING",
                    )
                )
            users = fetch(user_rows)
            systems = fetch(of_study(system_t, system_t.c.key, system_t.c.value_json))
            inters = (
                []
                if not intermediate_values
                else fetch(
                    of_study(
                        inter_t,
                        inter_t.c.step,
                        inter_t.c.intermediate_value,
                        raw(inter_t.c.intermediate_value_type),
                    )
                )
            )
        finally:
            cursor.close()

    replay = _Replay()  # its distribution cache
    index = {row[0]: i for i, row in enumerate(rows)}
    n = len(rows)  # (rows of no trial, left by a deleted one, go to a last slot, unused)
    trial_values: list[dict[int, float]] = [{} for _ in range(n + 1)]
    trial_params: list[dict[str, Any]] = [{} for _ in range(n + 1)]
    trial_dists: list[dict[str, BaseDistribution]] = [{} for _ in range(n + 1)]
    trial_user: list[dict[str, Any]] = [{} for _ in range(n + 1)]
    trial_system: list[dict[str, Any]] = [{} for _ in range(n + 1)]
    trial_inter: list[dict[int, float]] = [{} for _ in range(n + 1)]
    for trial_id, objective, value, kind in values:
        trial_values[index.get(trial_id, n)][objective] = special.get(kind, value)
    for trial_id, name, value, text in params:
        i = index.get(trial_id, n)
        dist = replay.dist(text)
        trial_params[i][name] = dist.to_external_repr(value)
        trial_dists[i][name] = dist
    texts = "\n".join(text for rows_ in (users, systems) for _, _, text in rows_)
    loads = _loads(texts.encode("utf-8"))
    for table, attrs in ((users, trial_user), (systems, trial_system)):
        for trial_id, key, text in table:
            attrs[index.get(trial_id, n)][key] = loads(text)
    for trial_id, step, value, kind in inters:
        trial_inter[index.get(trial_id, n)][step] = special.get(kind, value)

    frozen: list[FrozenTrial] = []
    for i, (trial_id, number, state, start, complete) in enumerate(rows):
        objectives = trial_values[i]
        frozen.append(
            FrozenTrial(
                number=number,
                state=states[state],
                value=None,
                values=[objectives[k] for k in range(len(objectives))] if objectives else None,
                datetime_start=_utc_to_local(start),
                datetime_complete=_utc_to_local(complete),
                params=trial_params[i],
                distributions=trial_dists[i],
                user_attrs=trial_user[i],
                system_attrs=trial_system[i],
                intermediate_values=trial_inter[i],
                trial_id=trial_id,
            )
        )
    return frozen


def _utc_to_local(value: datetime | str | None) -> datetime | None:
    """A stored naive UTC time (SQLite gives text) as naive local time, as Optuna shows it."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    quarter = value.replace(minute=value.minute - value.minute % 15, second=0, microsecond=0)
    return value + _local_offset(quarter)


@functools.lru_cache(maxsize=4096)
def _local_offset(quarter: datetime) -> timedelta:
    """The local time zone's offset from UTC at a quarter hour of UTC (offsets change only at
    quarter hours in every time zone, so one conversion serves the trials of that quarter)."""
    offset = quarter.replace(tzinfo=timezone.utc).astimezone().utcoffset()
    return offset if offset is not None else timedelta(0)
