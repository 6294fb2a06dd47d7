"""OwnedTrialCache: reads of this process's running trials from memory, writes through."""

from __future__ import annotations

import contextlib
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
    storage = trial.storage
    together = (
        storage.params_together(trial._trial_id)
        if isinstance(storage, OwnedTrialCache)
        else contextlib.nullcontext()
    )
    with together:  # the cache writes them in one round trip
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


@pytest.mark.parametrize("state", ["complete", "pruned", "fail"])
def test_a_trial_just_finished_is_read_back_from_memory_as_stored(
    sqlite_cache: tuple[OwnedTrialCache, list[str]], tmp_path: Path, state: str
) -> None:
    storage, statements = sqlite_cache
    study = optuna.create_study(
        storage=storage, study_name="f", directions=["maximize", "minimize"]
    )
    other = _plain(f"sqlite:///{tmp_path}/c.db")
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("curve", [{"epoch": 1, "accuracy": x}])
    trial.set_constraint("size_bits", -1.0)
    storage.set_trial_intermediate_value(trial._trial_id, 1, x)
    if state == "complete":
        told = study.tell(trial, [x, float("inf")])
    else:
        told = study.tell(trial, state=optuna.trial.TrialState[state.upper()])
    statements.clear()
    mine = storage.get_trial(trial._trial_id)
    assert statements == []  # from memory
    stored = other.get_trial(trial._trial_id)
    assert mine == stored and told == stored  # every field, times included
    assert mine.datetime_complete is not None


def test_parameters_sampled_together_are_written_at_once_with_optunas_checks(
    sqlite_cache: tuple[OwnedTrialCache, list[str]], tmp_path: Path
) -> None:
    storage, statements = sqlite_cache
    sampler = optuna.samplers.RandomSampler(seed=0)  # (reads nothing)
    study = optuna.create_study(storage=storage, study_name="p", sampler=sampler)
    other = _plain(f"sqlite:///{tmp_path}/c.db")
    first = study.ask()
    first.suggest_categorical("bits", [4, 8])
    trial = study.ask()
    from sqlalchemy import event

    commits: list[int] = []
    event.listen(storage.storage._backend.engine, "commit", lambda _conn: commits.append(1))
    statements.clear()
    with storage.params_together(trial._trial_id):
        bits = trial.suggest_categorical("bits", [4, 8])
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        assert storage.get_trial(trial._trial_id).params == {"bits": bits, "lr": lr}
        assert other.get_trial(trial._trial_id).params == {}  # not written yet
        assert not [s for s in statements if s.startswith(("INSERT", "UPDATE"))]
    assert other.get_trial(trial._trial_id).params == {"bits": bits, "lr": lr}
    assert len(commits) == 1  # one transaction for both (Optuna: one each)
    assert len([s for s in statements if s.startswith("INSERT INTO trial_params")]) == 2
    # Optuna's check: a name's distribution cannot change within a study; nothing is written
    third = study.ask()
    refused = pytest.raises(ValueError, match="Cannot set different distribution kind")
    with refused, storage.params_together(third._trial_id):
        third.suggest_float("bits", 0.0, 1.0)
        third.suggest_float("momentum", 0.0, 1.0)
    assert other.get_trial(third._trial_id).params == {}
    # a block that raises still writes what was sampled (the trial is then failed with it)
    fourth = study.ask()
    with (
        pytest.raises(RuntimeError, match="sampler broke"),
        storage.params_together(fourth._trial_id),
    ):
        momentum = fourth.suggest_float("momentum", 0.0, 1.0)
        raise RuntimeError("sampler broke")
    assert other.get_trial(fourth._trial_id).params == {"momentum": momentum}


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


def _full_count(storage: optuna.storages.BaseStorage, study_id: int) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        counts[trial.state] = counts.get(trial.state, 0) + 1
    return counts


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_state_counts_follow_every_process_writing_the_study(kind: str, tmp_path: Path) -> None:
    TrialState = optuna.trial.TrialState
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/c.db"
        mine, theirs = make_storage(url), _plain(url)
    else:
        theirs = optuna.storages.InMemoryStorage()
        mine = OwnedTrialCache(storage=theirs)
    assert isinstance(mine, OwnedTrialCache)
    study = optuna.create_study(storage=mine, study_name="c", directions=["minimize"])
    other = optuna.load_study(study_name="c", storage=theirs)
    steps = [
        lambda: study.ask(),
        lambda: other.ask(),
        lambda: other.tell(other.trials[1].number, 1.0),
        lambda: study.tell(0, state=TrialState.FAIL),
        lambda: other.enqueue_trial({"x": 0.5}),
        lambda: [other.tell(other.ask(), 2.0) for _ in range(3)],
        lambda: other.tell(other.ask(), state=TrialState.PRUNED),
        lambda: study.ask(),  # pops the queued trial
        lambda: other.ask(),
    ]
    for step in steps:
        step()
        assert mine.count_states(study._study_id) == _full_count(theirs, study._study_id)
    assert _full_count(theirs, study._study_id) == {
        TrialState.COMPLETE: 4,
        TrialState.FAIL: 1,
        TrialState.PRUNED: 1,
        TrialState.RUNNING: 2,
    }


def test_a_trial_queued_by_another_process_is_popped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    storage = make_storage(url)
    study = optuna.create_study(storage=storage, study_name="w")
    first = study.ask()  # the count has seen the study without a queued trial
    study.tell(first, 0.0)
    optuna.load_study(study_name="w", storage=_plain(url)).enqueue_trial({"x": 0.75})
    trial = study.ask()
    assert trial.suggest_float("x", 0.0, 1.0) == 0.75
    assert study.ask().number == 2  # nothing queued any more: a new trial


def test_state_counts_with_more_open_trials_than_an_in_list_takes(tmp_path: Path) -> None:
    TrialState = optuna.trial.TrialState
    url = f"sqlite:///{tmp_path}/many.db"
    mine, theirs = make_storage(url), _plain(url)
    assert isinstance(mine, OwnedTrialCache)
    study_id = mine.create_new_study([optuna.study.StudyDirection.MINIMIZE], "many")
    ids = [theirs.create_new_trial(study_id) for _ in range(520)]
    assert mine.count_states(study_id) == {TrialState.RUNNING: 520}
    for trial_id in ids[::2]:
        theirs.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    theirs.create_new_trial(study_id)
    assert mine.count_states(study_id) == {TrialState.RUNNING: 261, TrialState.COMPLETE: 260}


def test_new_trials_read_with_one_query_in_one_process(
    sqlite_cache: tuple[OwnedTrialCache, list[str]],
) -> None:
    storage, statements = sqlite_cache
    study = optuna.create_study(
        storage=storage, study_name="n", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    finished, running, cursor = storage.read_new_trials(study._study_id, None)
    assert [t.number for t in finished] == [0, 1, 2] and running == []
    for number in range(3, 6):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
        statements.clear()
        finished, running, cursor = storage.read_new_trials(study._study_id, cursor)
        assert len(statements) == 1  # the states of new and open trials; nothing loaded
        assert [t.number for t in finished] == [number] and running == []
        assert finished[0] == study._storage.storage.get_trial(trial._trial_id)


def test_new_trials_follow_another_process(tmp_path: Path) -> None:
    """Trials finished or running in another process are loaded; each finished trial is
    given once, as stored; a running one with its parameters as they are now."""
    url = f"sqlite:///{tmp_path}/two.db"
    mine, theirs = make_storage(url), make_storage(url)
    assert isinstance(mine, OwnedTrialCache)
    sampler = optuna.samplers.RandomSampler(seed=1)
    study = optuna.create_study(storage=mine, study_name="two", sampler=sampler)
    other = optuna.load_study(study_name="two", storage=theirs, sampler=sampler)
    plain = _plain(url)
    cursor, given = None, []
    for _ in range(4):
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
        live = other.ask()
        live.suggest_int("n", 1, 9)
        other.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
        finished, running, cursor = mine.read_new_trials(study._study_id, cursor)
        given += [t.number for t in finished]
        for t in finished:
            assert t == plain.get_trial(t._trial_id)
        assert [t.number for t in running] == [live.number]
        assert running[0].params == {"n": live.params["n"]}
        other.tell(live, 0.5)
    finished, running, cursor = mine.read_new_trials(study._study_id, cursor)
    given += [t.number for t in finished]
    assert running == []
    assert sorted(given) == [t.number for t in plain.get_all_trials(study._study_id)]
    assert len(given) == len(set(given)) == 16
