"""Read a study's trials fast, for the commands that only read (status, report, select, trials).

Optuna reads a journal file by replaying every record through ``FrozenTrial`` copies and
parses the same distribution JSON once per trial and parameter; it reads an RDB storage
through the ORM, one object per row. For a study of 10,000 trials either takes seconds to
minutes. This module gives the same trials (``FrozenTrial`` equal field by field, datetimes
and distributions included) much sooner:

- a journal file is replayed here, with Optuna's rules (``JournalStorageReplayResult``), each
  distinct distribution JSON parsed once, and the trials built once at the end;
  :func:`load_study_fast` hands the result to an Optuna ``JournalStorage`` as if it had read
  the file itself (later records are read by Optuna as usual);
- an RDB storage (SQLite, PostgreSQL) is read with six bulk ``SELECT`` statements over
  Optuna's own tables, when the schema version is the one the installed Optuna expects;
- any other storage, or a journal Optuna itself would need to repair, is read by Optuna.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretune.search.study._storage import _scheme, make_storage, storage_path

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = ["load_study_fast"]

_CREATE_STUDY, _DELETE_STUDY, _STUDY_USER_ATTR, _STUDY_SYSTEM_ATTR = 0, 1, 2, 3
_CREATE_TRIAL, _PARAM, _STATE_VALUES, _INTERMEDIATE = 4, 5, 6, 7
_TRIAL_USER_ATTR, _TRIAL_SYSTEM_ATTR, _DISCARD_TRIALS = 8, 9, 10
_FINISHED = (1, 2, 3)  # TrialState COMPLETE, PRUNED, FAIL
_RUNNING = 0


class _Unreadable(Exception):
    """The journal holds something this reader does not replay; Optuna reads it instead."""


def _local(text: str) -> datetime:
    """A journal timestamp as Optuna shows it: naive local time."""
    return datetime.fromisoformat(text).astimezone().replace(tzinfo=None)


class _Trial:
    """A trial being replayed (mutable; frozen at the end)."""

    __slots__ = (
        "complete",
        "dists",
        "inter",
        "number",
        "params",
        "start",
        "state",
        "system",
        "user",
        "value",
        "values",
    )

    def __init__(self, number: int) -> None:
        self.number = number
        self.state = _RUNNING
        self.value: Any = None
        self.values: Any = None
        self.start: datetime | None = None
        self.complete: datetime | None = None
        self.params: dict[str, Any] = {}
        self.dists: dict[str, BaseDistribution] = {}
        self.user: dict[str, Any] = {}
        self.system: dict[str, Any] = {}
        self.inter: dict[int, float] = {}


class _Replay:
    """Optuna's journal replay rules, for a reader that never wrote a record."""

    def __init__(self) -> None:
        self.studies: dict[int, dict[str, Any]] = {}  # id -> name, directions, attrs
        self.trials: list[_Trial] = []  # by trial id
        self.trial_study: list[int] = []
        self.study_trials: dict[int, list[int]] = {}
        self.first_with: dict[int, dict[str, _Trial]] = {}  # study -> param -> first trial
        self.next_study_id = 0
        self._dists: dict[str, BaseDistribution] = {}
        self._compatible: dict[tuple[int, int], bool] = {}

    def dist(self, text: str) -> BaseDistribution:
        found = self._dists.get(text)
        if found is None:
            from optuna.distributions import json_to_distribution

            found = self._dists[text] = json_to_distribution(text)
        return found

    def _compatible_with(self, old: BaseDistribution, new: BaseDistribution) -> bool:
        key = (id(old), id(new))
        known = self._compatible.get(key)
        if known is None:
            from optuna.distributions import check_distribution_compatibility

            try:
                check_distribution_compatibility(old, new)
                known = True
            except Exception:
                known = False
            self._compatible[key] = known
        return known

    def _updatable(self, trial_id: Any) -> _Trial | None:
        if not isinstance(trial_id, int) or not 0 <= trial_id < len(self.trials):
            return None
        trial = self.trials[trial_id]
        return None if trial.state in _FINISHED else trial

    def apply(self, log: dict[str, Any]) -> None:
        op = log["op_code"]
        if op == _CREATE_TRIAL:
            self._create_trial(log)
        elif op == _PARAM:
            self._param(log)
        elif op == _STATE_VALUES:
            self._state_values(log)
        elif op == _INTERMEDIATE:
            trial = self._updatable(log["trial_id"])
            if trial is not None:
                trial.inter[log["step"]] = log["intermediate_value"]
        elif op == _TRIAL_USER_ATTR:
            trial = self._updatable(log["trial_id"])
            if trial is not None:
                trial.user.update(log["user_attr"])
        elif op == _TRIAL_SYSTEM_ATTR:
            trial = self._updatable(log["trial_id"])
            if trial is not None:
                trial.system.update(log["system_attr"])
        elif op == _CREATE_STUDY:
            name = log["study_name"]
            if all(study["name"] != name for study in self.studies.values()):
                study_id = self.next_study_id
                self.next_study_id += 1
                self.studies[study_id] = {
                    "name": name,
                    "directions": log["directions"],
                    "user": {},
                    "system": {},
                }
                self.study_trials[study_id] = []
                self.first_with[study_id] = {}
        elif op == _DELETE_STUDY:
            self.studies.pop(log["study_id"], None)
        elif op in (_STUDY_USER_ATTR, _STUDY_SYSTEM_ATTR):
            study = self.studies.get(log["study_id"])
            if study is not None:
                if op == _STUDY_USER_ATTR:
                    study["user"] = {**study["user"], **log["user_attr"]}
                else:
                    study["system"] = {**study["system"], **log["system_attr"]}
        elif op != _DISCARD_TRIALS:
            raise _Unreadable(f"unknown op_code {op!r}")

    def _create_trial(self, log: dict[str, Any]) -> None:
        study_id = log["study_id"]
        if study_id not in self.studies:
            return
        numbers = self.study_trials[study_id]
        trial = _Trial(len(numbers))
        if "distributions" in log:
            trial.dists = {k: self.dist(v) for k, v in log["distributions"].items()}
        if "params" in log:
            dists = trial.dists
            trial.params = {k: dists[k].to_external_repr(p) for k, p in log["params"].items()}
            first = self.first_with[study_id]
            for name in trial.params:
                first.setdefault(name, trial)
        start = log["datetime_start"]
        trial.start = None if start is None else _local(start)
        if "datetime_complete" in log:
            trial.complete = _local(log["datetime_complete"])
        trial.state = log.get("state", _RUNNING)
        trial.user = log.get("user_attrs", {})
        trial.system = log.get("system_attrs", {})
        trial.value = log.get("value")
        trial.values = log.get("values")
        trial.inter = {int(k): v for k, v in log.get("intermediate_values", {}).items()}
        numbers.append(len(self.trials))
        self.trial_study.append(study_id)
        self.trials.append(trial)

    def _param(self, log: dict[str, Any]) -> None:
        trial_id = log["trial_id"]
        trial = self._updatable(trial_id)
        if trial is None:
            return
        name = log["param_name"]
        dist = self.dist(log["distribution"])
        first = self.first_with.get(self.trial_study[trial_id])
        if first is None:  # the study was deleted; Optuna's check then fails: skip the record
            return
        holder = first.get(name)
        if holder is not None and not self._compatible_with(holder.dists[name], dist):
            return
        trial.params = {**trial.params, name: dist.to_external_repr(log["param_value_internal"])}
        trial.dists = {**trial.dists, name: dist}
        if holder is None or trial.number < holder.number:
            first[name] = trial

    def _state_values(self, log: dict[str, Any]) -> None:
        trial = self._updatable(log["trial_id"])
        if trial is None:
            return
        state = log["state"]
        if state == _RUNNING:
            if trial.state == _RUNNING:
                return
            trial.start = _local(log["datetime_start"])
        elif state in _FINISHED:
            trial.complete = _local(log["datetime_complete"])
        trial.state = state
        if log["values"] is not None:
            trial.values = log["values"]
            trial.value = None


def _digit_runs() -> bytes:
    """A ``bytes.translate`` table: digits to ``0``, ``.eE`` to ``.``, newline kept, rest blank."""
    table = bytearray(b" " * 256)
    table[ord("0") : ord("9") + 1] = b"0" * 10
    for char in b".eE":
        table[char] = ord(".")
    table[ord("\n")] = ord("\n")
    return bytes(table)


_DIGIT_RUNS = _digit_runs()
_LONG_INT = b"0" * 19  # 2**63 has 19 digits: anything shorter fits in 64 bits


def _has_long_int(blob: bytes) -> bool:
    """Whether ``blob`` may hold an integer of 19 digits or more (JSON text)."""
    runs = blob.translate(_DIGIT_RUNS)
    return b" " + _LONG_INT in runs or b"\n" + _LONG_INT in runs or runs.startswith(_LONG_INT)


def _loads(blob: bytes) -> Callable[[bytes | str], Any]:
    """The JSON parser for the records in ``blob``: orjson's where it is installed (three
    times faster) and gives what Python's does, else Python's.

    orjson refuses ``NaN`` and ``Infinity`` (Python's parser then reads that record) and
    turns integers past 64 bits into floats: a blob that may hold one is read by Python's.
    """
    try:
        module = importlib.import_module("orjson")
    except ImportError:
        return json.loads
    if _has_long_int(blob):
        return json.loads
    fast: Callable[[bytes | str], Any] = module.loads

    def loads(text: bytes | str) -> Any:
        try:
            return fast(text)
        except ValueError:  # NaN, Infinity
            return json.loads(text)

    return loads


def _replay_file(path: Path) -> tuple[_Replay, int, int]:
    """The replay of every complete record; the number of records and the bytes read.

    A last line without its end (a write cut short) is left out, as Optuna does.

    Raises:
        _Unreadable: A record that is not JSON before the last one, or an unknown record.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    end = data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")
    lines.pop()  # the empty piece after the last newline
    replay = _Replay()
    loads = _loads(data)
    apply = replay.apply
    count = 0
    for index, line in enumerate(lines):
        try:
            log = loads(line)
        except ValueError:
            if index == len(lines) - 1:  # Optuna skips an unreadable last record too
                return replay, count, -1
            raise _Unreadable("a damaged record") from None
        try:
            apply(log)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise _Unreadable(repr(error)) from error
        count += 1
    return replay, count, end


def _frozen(replay: _Replay) -> list[FrozenTrial]:
    """Every trial, frozen (built as Optuna builds them, without its copies)."""
    from optuna.trial import FrozenTrial, TrialState

    states = {state.value: state for state in TrialState}
    return [
        FrozenTrial(
            number=t.number,
            state=states[t.state],
            value=t.value,
            datetime_start=t.start,
            datetime_complete=t.complete,
            params=t.params,
            distributions=t.dists,
            user_attrs=t.user,
            system_attrs=t.system,
            intermediate_values=t.inter,
            trial_id=trial_id,
            values=t.values,
        )
        for trial_id, t in enumerate(replay.trials)
    ]


#: What :func:`_journal_storage` fills in Optuna's ``JournalStorageReplayResult``.
_REPLAY_FIELDS = (
    "log_number_read",
    "_studies",
    "_trials",
    "_study_id_to_trial_ids",
    "_trial_id_to_study_id",
    "_next_study_id",
)


def _journal_storage(path: Path) -> optuna.storages.JournalStorage | None:
    """Optuna's journal storage on ``path``, its trials replayed here (None: let Optuna)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal._storage import JournalStorageReplayResult
    from optuna.study._frozen import FrozenStudy
    from optuna.study._study_direction import StudyDirection
    from paretune.search.study._journal_file import JournalFile

    backend = JournalFile(os.fspath(path))  # cuts a torn last record, as every opener does
    prefix = f"{uuid.uuid4()}-"
    result = JournalStorageReplayResult(prefix)
    if not all(hasattr(result, name) for name in _REPLAY_FIELDS) or not hasattr(
        backend, "_log_number_offset"
    ):  # another Optuna than the one this replay follows (5.0)
        return None
    try:
        replay, count, end = _replay_file(path)
    except _Unreadable:
        return None
    trials = _frozen(replay)
    result._trials = dict(enumerate(trials))
    result._study_id_to_trial_ids = {k: list(v) for k, v in replay.study_trials.items()}
    result._trial_id_to_study_id = dict(enumerate(replay.trial_study))
    result._next_study_id = replay.next_study_id
    result._studies = {
        study_id: FrozenStudy(
            study_name=study["name"],
            direction=None,
            user_attrs=study["user"],
            system_attrs=study["system"],
            study_id=study_id,
            directions=[StudyDirection(d) for d in study["directions"]],
        )
        for study_id, study in replay.studies.items()
    }
    result.log_number_read = count
    if end >= 0:  # where Optuna's reader goes on from (else it counts the lines again)
        backend._log_number_offset[count] = end
    storage = JournalStorage.__new__(JournalStorage)
    storage._worker_id_prefix = prefix
    storage._backend = backend
    storage._thread_lock = threading.Lock()
    storage._replay_result = result
    storage._sync_with_backend()  # records appended since the file was read
    return storage


def load_study_fast(*, storage: str, study_name: str) -> optuna.Study:
    """Load an existing study, reading a journal file's trials fast (see the module).

    The study is Optuna's own (``optuna.load_study``): any later call reads the storage as
    Optuna does. Other storages are opened by :func:`make_storage`.

    Raises:
        KeyError: No study ``study_name`` in ``storage`` (as ``optuna.load_study``).
    """
    import optuna

    path = storage_path(storage)
    opened: optuna.storages.BaseStorage | None = None
    if _scheme(storage) == "journal" and path is not None and path.exists():
        opened = _journal_storage(path)
    if opened is None:
        opened = make_storage(storage, existing=True)
    return optuna.load_study(study_name=study_name, storage=opened)
