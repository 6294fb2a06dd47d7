"""The fast trial reader gives exactly Optuna's trials (journal, SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from optuna.trial import FrozenTrial, TrialState
from paretune.search import load_study_fast, make_storage, read_trials
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

NAME = "fast"
STATES = {
    TrialState.COMPLETE,
    TrialState.PRUNED,
    TrialState.FAIL,
    TrialState.RUNNING,
    TrialState.WAITING,
}


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (also inside lists and dicts), types included."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_same_trials(fast: list[FrozenTrial], slow: list[FrozenTrial]) -> None:
    """Field by field: every attribute of every trial, datetimes and distributions too."""
    assert [t.number for t in fast] == [t.number for t in slow]
    for mine, theirs in zip(fast, slow, strict=True):
        assert isinstance(mine, FrozenTrial)
        assert mine.__dict__.keys() == theirs.__dict__.keys()
        for key, value in theirs.__dict__.items():
            assert _same(mine.__dict__[key], value), (mine.number, key, mine.__dict__[key], value)
        for when in (mine.datetime_start, mine.datetime_complete):
            assert when is None or (isinstance(when, datetime) and when.tzinfo is None)
        assert {k: distribution_to_json(d) for k, d in mine.distributions.items()} == {
            k: distribution_to_json(d) for k, d in theirs.distributions.items()
        }
        assert mine.params == theirs.params
        mine._validate()
        if not any(
            isinstance(v, float) and math.isnan(v) for v in mine.intermediate_values.values()
        ):
            assert mine == theirs


def _fill(study: optuna.Study) -> None:
    """Trials in every state, with every kind of value the storages keep."""
    add_synthetic_trials(study, n_trials=40, seed=3)

    def suggest(trial: optuna.Trial) -> None:
        trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam", "adamw", "rmsprop"])
        trial.suggest_categorical("batch_size", [16, 32, 64, 128])
        trial.suggest_float("lr", 1e-4, 0.3, log=True)
        trial.suggest_float("prune_rate", 0.0, 0.95)
        trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
        trial.suggest_int("width", 8, 64, log=True)
        trial.suggest_int("depth", 1, 4)
        trial.suggest_categorical("flag", [True, False, None])

    def report(trial: optuna.Trial, step: int, value: float) -> None:
        # Trial.report is for one objective; the storage keeps curves of any study
        study._storage.set_trial_intermediate_value(trial._trial_id, step, value)

    done = study.ask()
    suggest(done)
    done.set_user_attr("curve", [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2}])
    done.set_user_attr("nan", math.nan)
    done.set_user_attr("huge", 2**70)
    done.set_user_attr("text", 'quote " <b> é')
    study._storage.set_trial_system_attr(done._trial_id, "paretune:worker", "host:1:2")
    report(done, 0, 0.25)
    report(done, 1, math.inf)
    report(done, 2, -math.inf)
    study.tell(done, [0.75, 1234.0])

    pruned = study.ask()
    suggest(pruned)
    report(pruned, 0, math.nan)
    report(pruned, 3, 0.1)
    study.tell(pruned, state=TrialState.PRUNED)

    failed = study.ask()
    suggest(failed)
    failed.set_user_attr("fail_reason", "diverged")
    study.tell(failed, state=TrialState.FAIL)

    inf_values = study.ask()
    suggest(inf_values)
    study.tell(inf_values, [-math.inf, math.inf])

    running = study.ask()
    suggest(running)
    report(running, 0, 0.5)
    running.set_user_attr("partial", {"a": [1, 2.5, None]})

    study.enqueue_trial({"optimizer": "adam", "lr": 0.01}, user_attrs={"queued": True})
    study.add_trial(
        optuna.trial.create_trial(
            params={"optimizer": "sgd", "lr": 0.05, "depth": 2},
            distributions={
                "optimizer": CategoricalDistribution(
                    ["sgd", "momentum", "adam", "adamw", "rmsprop"]
                ),
                "lr": FloatDistribution(1e-4, 0.3, log=True),
                "depth": IntDistribution(1, 4),
            },
            values=[0.5, 99.0],
            intermediate_values={0: 0.1, 5: math.nan},
            user_attrs={"imported": "yes"},
            system_attrs={"origin": [1, 2]},
        )
    )


def _storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "journal":
        return f"journal:///{tmp_path / 'study.log'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.mark.parametrize(
    "kind", ["journal", "sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]
)
def test_fast_read_equals_optuna(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _storage_url(kind, tmp_path, request)
    storage = make_storage(url)
    create_synthetic_study(storage=storage, study_name=NAME)
    sampler = optuna.samplers.RandomSampler(seed=0)
    _fill(optuna.load_study(study_name=NAME, storage=storage, sampler=sampler))
    slow = optuna.load_study(study_name=NAME, storage=make_storage(url)).get_trials()
    assert {t.state for t in slow} == STATES
    study = load_study_fast(storage=url, study_name=NAME)
    fast = read_trials(study)
    assert_same_trials(fast, slow)
    assert study.user_attrs == optuna.load_study(study_name=NAME, storage=storage).user_attrs
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    # a second study in the same storage: each reads only its own trials
    other = create_synthetic_study(storage=storage, study_name="other")
    add_synthetic_trials(other, n_trials=7, seed=5)
    for name in (NAME, "other"):
        slow = optuna.load_study(study_name=name, storage=make_storage(url)).get_trials()
        assert_same_trials(read_trials(load_study_fast(storage=url, study_name=name)), slow)


def _journal_line(log: dict[str, Any]) -> str:
    return json.dumps({"worker_id": "another-worker", **log}, separators=(",", ":")) + "\n"


def test_journal_replays_optuna_rules(tmp_path: Path) -> None:
    """Two studies in one file, a deleted one, records Optuna ignores, a torn last line."""
    path = tmp_path / "study.log"
    url = f"journal:///{path}"
    storage = make_storage(url)
    gone = optuna.create_study(study_name="gone", storage=storage)
    other = optuna.create_study(study_name="other", storage=storage)
    study = optuna.create_study(study_name=NAME, storage=storage, directions=["maximize"])
    for index in range(4):
        for each in (study, other, gone):
            trial = each.ask()
            trial.suggest_float("x", 0.0, 1.0)
            each.tell(trial, float(index))
    optuna.delete_study(study_name="gone", storage=storage)
    running = study.ask()
    first = study.get_trials()[0]
    with open(path, "a", encoding="utf-8") as handle:
        lines = [
            # an incompatible distribution for a known parameter: Optuna skips the record
            {
                "op_code": 5,
                "trial_id": running._trial_id,
                "param_name": "x",
                "param_value_internal": 1.0,
                "distribution": distribution_to_json(CategoricalDistribution(["a", "b"])),
            },
            # a new parameter, compatible
            {
                "op_code": 5,
                "trial_id": running._trial_id,
                "param_name": "y",
                "param_value_internal": 1.0,
                "distribution": distribution_to_json(CategoricalDistribution(["a", "b"])),
            },
            # updates of a finished trial: ignored
            {"op_code": 8, "trial_id": first._trial_id, "user_attr": {"late": 1}},
            {"op_code": 6, "trial_id": first._trial_id, "state": 2, "values": None},
            # a trial that does not exist, a study that does not exist
            {"op_code": 9, "trial_id": 10_000, "system_attr": {"k": 1}},
            {"op_code": 4, "study_id": 99, "datetime_start": "2026-01-01T00:00:00+00:00"},
            # RUNNING again for a running trial: ignored
            {
                "op_code": 6,
                "trial_id": running._trial_id,
                "state": 0,
                "values": None,
                "datetime_start": "2030-01-01T00:00:00.000000+00:00",
            },
            {"op_code": 7, "trial_id": running._trial_id, "step": 4, "intermediate_value": None},
            {"op_code": 10, "study_id": 2, "trial_ids": []},
        ]
        handle.write("".join(_journal_line(log) for log in lines))
    slow_all = optuna.load_study(study_name=NAME, storage=make_storage(url)).get_trials()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"op_code":8,"worker_id":"w","trial_id":1,"user_at')  # torn: no end
    assert slow_all[-1].params == {"y": "b"}  # the incompatible "x" was skipped
    for name in (NAME, "other"):
        slow = optuna.load_study(study_name=name, storage=make_storage(url)).get_trials()
        assert_same_trials(read_trials(load_study_fast(storage=url, study_name=name)), slow)
    with pytest.raises(KeyError):
        load_study_fast(storage=url, study_name="gone")


def test_journal_study_reads_records_written_later(tmp_path: Path) -> None:
    """The loaded study is Optuna's own: trials told after it was read show up."""
    url = f"journal:///{tmp_path / 'study.log'}"
    writer = create_synthetic_study(storage=make_storage(url), study_name=NAME)
    add_synthetic_trials(writer, n_trials=5, seed=1)
    study = load_study_fast(storage=url, study_name=NAME)
    assert len(read_trials(study)) == 5
    add_synthetic_trials(writer, n_trials=3, seed=2)
    assert_same_trials(read_trials(study), writer.get_trials())
    trial = study.ask()  # and it can write
    study.tell(trial, [0.5, 10.0])
    assert_same_trials(
        read_trials(study),
        optuna.load_study(study_name=NAME, storage=make_storage(url)).get_trials(),
    )


def test_other_storages_read_by_optuna() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    add_synthetic_trials(study, n_trials=10, seed=0)
    assert_same_trials(read_trials(study), study.get_trials())


@pytest.mark.parametrize("other_study", [False, True], ids=["alone", "beside-another"])
def test_partial_read_leaves_out_what_is_not_asked(tmp_path: Path, other_study: bool) -> None:
    """``omit`` drops those user attributes of finished trials only (a running trial keeps its
    curve); ``params`` / ``intermediate_values`` False leave those unread; the rest is the
    same as Optuna's, field by field."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = make_storage(url)
    if other_study:
        add_synthetic_trials(create_synthetic_study(storage=storage, study_name="x"), n_trials=4)
    study = create_synthetic_study(storage=storage, study_name=NAME)
    add_synthetic_trials(study, n_trials=12, seed=3)
    running = study.ask()
    storage.set_trial_intermediate_value(running._trial_id, 0, 0.5)
    running.set_user_attr("curve", [{"val_accuracy": 0.5}])
    slow = study.get_trials()
    assert any("curve" in t.user_attrs for t in slow if t.state is TrialState.COMPLETE)
    fast = read_trials(
        load_study_fast(storage=url, study_name=NAME),
        omit=("curve",),
        params=False,
        intermediate_values=False,
    )
    expected = []
    for trial in slow:
        keep_curve = trial.state is TrialState.RUNNING
        attrs = {k: v for k, v in trial.user_attrs.items() if k != "curve" or keep_curve}
        expected.append(
            optuna.trial.FrozenTrial(
                number=trial.number,
                state=trial.state,
                value=None,
                values=trial.values,
                datetime_start=trial.datetime_start,
                datetime_complete=trial.datetime_complete,
                params={},
                distributions={},
                user_attrs=attrs,
                system_attrs=trial.system_attrs,
                intermediate_values={},
                trial_id=trial._trial_id,
            )
        )
    assert_same_trials(fast, expected)
    assert fast[-1].user_attrs["curve"] == [{"val_accuracy": 0.5}]
    # the default reads everything
    assert_same_trials(read_trials(load_study_fast(storage=url, study_name=NAME)), slow)
