"""OwnedTrialCache: reads of this process's running trials from memory, writes through."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import make_storage
from paretune.search.study import OwnedTrialCache

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _plain(url: str) -> optuna.storages.BaseStorage:
    if url.startswith("journal:///"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url[len("journal:///") :]))
    return optuna.storages.get_storage(optuna.storages.RDBStorage(url))


STORAGES = ("sqlite", "journal", "memory")


def _url(kind: str, folder: Path, name: str) -> str:
    return (
        f"sqlite:///{folder}/{name}.db" if kind == "sqlite" else f"journal:///{folder}/{name}.log"
    )


def _storage(kind: str, folder: Path, name: str) -> optuna.storages.BaseStorage:
    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    return _plain(_url(kind, folder, name))


def _objective(trial: optuna.Trial) -> tuple[float, float]:
    kind = trial.suggest_categorical("kind", ["a", "b"])
    x = trial.suggest_float("x", -2.0, 2.0)
    if kind == "a":
        trial.suggest_int("n", 1, 8)
    trial.set_user_attr("curve", [{"epoch": 1, "x": x}])
    trial.storage.set_trial_system_attr(trial._trial_id, "worker", f"w{trial.number}")
    trial.storage.set_trial_intermediate_value(trial._trial_id, 1, x)
    if kind == "b" and x > 1.5:
        raise RuntimeError("diverged")  # a failing trial is recorded FAIL by optimize
    return x * x, abs(x)


def _summary(study: optuna.Study) -> list[tuple[Any, ...]]:
    return [
        (
            t.number,
            t.state,
            t.values,
            t.params,
            t.distributions,
            t.user_attrs,
            t.system_attrs,
            t.intermediate_values,
        )
        for t in study.get_trials()
    ]


@pytest.mark.parametrize("kind", STORAGES)
def test_a_study_through_the_cache_is_the_study_without_it(kind: str, tmp_path: Path) -> None:
    studies = []
    for name, wrap in (("plain", False), ("cached", True)):
        storage = _storage(kind, tmp_path, name)
        study = optuna.create_study(
            storage=OwnedTrialCache(storage=storage) if wrap else storage,
            directions=["minimize", "minimize"],
            sampler=optuna.samplers.RandomSampler(seed=3),
        )
        study.enqueue_trial({"kind": "a", "x": 0.5, "n": 2})  # a queued trial is popped too
        study.optimize(_objective, n_trials=25, catch=(RuntimeError,))
        studies.append(study)
    plain, cached = studies
    assert _summary(cached) == _summary(plain)
    assert any(t.state is optuna.trial.TrialState.FAIL for t in cached.trials)
    if kind != "memory":  # and what is stored is the same as what was read
        reread = optuna.load_study(
            study_name=cached.study_name, storage=_plain(_url(kind, tmp_path, "cached"))
        )
        assert _summary(reread) == _summary(cached)


@pytest.fixture
def sqlite_cache(tmp_path: Path) -> Iterator[tuple[OwnedTrialCache, list[str]]]:
    from sqlalchemy import event

    storage = make_storage(f"sqlite:///{tmp_path}/c.db")
    assert isinstance(storage, OwnedTrialCache)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = storage.storage._backend.engine
    event.listen(engine, "before_cursor_execute", count)
    yield storage, statements
    event.remove(engine, "before_cursor_execute", count)


def test_reads_of_an_owned_trial_query_nothing_and_match_the_database(
    sqlite_cache: tuple[OwnedTrialCache, list[str]], tmp_path: Path
) -> None:
    storage, statements = sqlite_cache
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize"])
    other = _plain(f"sqlite:///{tmp_path}/c.db")  # a second connection: what is really stored
    trial = study.ask()
    trial_id = trial._trial_id
    trial.suggest_float("lr", 1e-3, 1.0, log=True)
    trial.suggest_categorical("bits", [4, 8])
    trial.set_user_attr("curve", [{"epoch": 1, "accuracy": 0.5}])
    storage.set_trial_user_attrs(trial_id, {"a": 1, "b": [1, 2]})
    storage.set_trial_system_attr(trial_id, "worker", "host:1:2")
    storage.set_trial_intermediate_value(trial_id, 1, 0.5)
    statements.clear()
    mine = storage.get_trial(trial_id)
    assert statements == []  # answered from memory
    stored = other.get_trial(trial_id)
    for field in (
        "number",
        "state",
        "datetime_start",
        "params",
        "distributions",
        "user_attrs",
        "system_attrs",
        "intermediate_values",
    ):
        assert getattr(mine, field) == getattr(stored, field), field
    mine.user_attrs["a"] = 99  # a copy: the caller cannot corrupt the cache
    assert storage.get_trial(trial_id).user_attrs["a"] == 1
    study.tell(trial, 0.7)
    assert not storage.owns(trial_id)
    assert other.get_trial(trial_id).values == [0.7]


def test_the_storage_stays_the_truth_when_another_process_finishes_the_trial(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    storage = make_storage(url)
    study = optuna.create_study(storage=storage, study_name="t")
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    assert isinstance(storage, OwnedTrialCache) and storage.owns(trial._trial_id)
    # another process (a recovery pass) fails the trial behind this one's back
    _plain(url).set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        trial.set_user_attr("late", 1)
    assert not storage.owns(trial._trial_id)  # a failed write gives the trial up
    assert storage.get_trial(trial._trial_id).state is optuna.trial.TrialState.FAIL


def test_a_popped_queued_trial_is_owned_with_its_fixed_params(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path}/q.db")
    study = optuna.create_study(storage=storage, study_name="q")
    study.enqueue_trial({"x": 0.25})
    trial = study.ask()
    assert isinstance(storage, OwnedTrialCache) and storage.owns(trial._trial_id)
    assert trial.suggest_float("x", 0.0, 1.0) == 0.25
    assert storage.get_trial(trial._trial_id).params == {"x": 0.25}


def test_the_cache_pickles_empty_and_keeps_working(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path}/p.db")
    study = optuna.create_study(storage=storage, study_name="p")
    trial = study.ask()
    clone = pickle.loads(pickle.dumps(storage))
    assert isinstance(clone, OwnedTrialCache) and not clone.owns(trial._trial_id)
    assert clone.get_trial(trial._trial_id).number == trial.number
    assert clone._backend.url == storage._backend.url  # storage attributes pass through


def test_only_a_storage_is_accepted() -> None:
    with pytest.raises(TypeError, match="storage must be an optuna.storages.BaseStorage; got str"):
        OwnedTrialCache(storage="sqlite:///x.db")  # type: ignore[arg-type]
