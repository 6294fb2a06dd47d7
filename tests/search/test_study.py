"""open_study: storage URLs, create-or-resume, study attributes, clear refusals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import (
    MissingDriverError,
    StudySpec,
    is_parallel_safe,
    make_storage,
    open_study,
    storage_path,
    validate_storage_url,
)
from paretune.spaces import CategoricalDistribution, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={
        "lr": FloatDistribution(low=1e-4, high=1.0, log=True),
        "bits": CategoricalDistribution(choices=(4, 8)),
    }
)


def make(**changes: Any) -> StudySpec:
    fields: dict[str, Any] = {
        "name": "s",
        "storage": "sqlite:///runs/s.db",
        "objectives": ("accuracy", "size_bits"),
        "space": SPACE,
        "metadata": {"task": "digits-mlp", "data_dir": None},
    }
    fields.update(changes)
    return StudySpec(**fields)


def test_new_study_has_directions_and_attributes(workdir: Path) -> None:
    study = open_study(make(constraints={"bitops": 1e6}, sampler="nsga2", seed=3))
    loaded = optuna.load_study(study_name="s", storage="sqlite:///runs/s.db")
    assert [d.name for d in loaded.directions] == ["MAXIMIZE", "MINIMIZE"]
    attrs = loaded.user_attrs
    assert attrs["objectives"] == ["accuracy", "size_bits"]
    assert StrategySpace.from_json(attrs["space"]) == SPACE
    assert attrs["constraints"] == {"bitops": 1e6}
    assert attrs["metadata"] == {"task": "digits-mlp", "data_dir": None}
    assert (attrs["sampler"], attrs["pruner"], attrs["seed"]) == ("nsga2", "none", 3)
    assert isinstance(study.sampler, optuna.samplers.NSGAIISampler)
    assert (workdir / "runs" / "s.db").exists()


def test_reopening_resumes_the_same_study(workdir: Path) -> None:
    study = open_study(make())
    study.tell(study.ask(), [0.5, 10.0])
    again = open_study(make(metadata={"task": "other"}))  # metadata may differ; kept as created
    assert len(again.trials) == 1
    assert again.user_attrs["metadata"]["task"] == "digits-mlp"


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"objectives": ("accuracy", "bitops")}, "objectives"),
        ({"constraints": {"size_bits": 10.0}}, "constraints"),
        (
            {"space": StrategySpace(params={"lr": FloatDistribution(low=1e-3, high=1.0)})},
            "space",
        ),
    ],
)
def test_reopening_with_other_setup_is_refused(
    workdir: Path, changes: dict[str, Any], what: str
) -> None:
    open_study(make())
    with pytest.raises(ValueError, match=f"was created with {what} .*Give the study a new name"):
        open_study(make(**changes))


def test_journal_storage(workdir: Path) -> None:
    study = open_study(make(storage="journal:///runs/s.log"))
    study.tell(study.ask(), [0.5, 10.0])
    storage = make_storage("journal:///runs/s.log")
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 1


def test_sampler_and_pruner_are_checked_when_opening(workdir: Path) -> None:
    with pytest.raises(ValueError, match="Sampler 'cmaes' handles one objective"):
        open_study(make(sampler="cmaes"))
    with pytest.raises(ValueError, match="Unknown sampler 'bayes'. Known: cmaes"):
        open_study(make(sampler="bayes"))
    with pytest.raises(ValueError, match="Pruner 'median' works on single-objective studies"):
        open_study(make(pruner="median"))
    with pytest.raises(ValueError, match="Unknown option 'x' for sampler 'tpe'"):
        open_study(make(sampler_options={"x": 1}))
    assert not (workdir / "runs").exists()  # nothing created for a refused spec


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("runs/s.db", "The 'storage' parameter must be a storage URL. Got 'runs/s.db'"),
        ("sqlite://", "must name a file for sqlite"),
        ("sqlite:///", "must name a file for sqlite"),
        ("sqlite:///:memory:", "an in-memory SQLite database loses the study"),
        ("journal://runs/x.log", "must name a file for journal: journal:///PATH"),
        ("redis://localhost", "unsupported scheme 'redis'"),
        ("http://example.com/db", "unsupported scheme 'http'"),
        ("postgresql://", "must name a host and database"),
    ],
)
def test_bad_storage_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_storage_url(url)
    assert message in str(info.value)


@pytest.mark.skipif(
    importlib.util.find_spec("MySQLdb") is not None, reason="the MySQL driver is installed"
)
def test_a_server_url_without_its_driver_is_named_when_opened() -> None:
    expected = r"mysql://\.\.\. needs its database driver, which is not installed \(No module"
    with pytest.raises(MissingDriverError, match=expected):
        make_storage("mysql://user@localhost/db")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///runs/a.db",
        "sqlite:////tmp/a.db",
        "journal:///runs/a.log",
        "postgresql://user:pw@host:5432/db",
        "postgresql+psycopg2://user@host/db",
        "mysql+pymysql://user@host/db",
    ],
)
def test_good_storage_urls(url: str) -> None:
    assert validate_storage_url(url) == url
    assert is_parallel_safe(url) is not url.startswith("sqlite")
    assert (storage_path(url) is None) is url.startswith(("postgresql", "mysql"))


def test_sqlite_file_is_in_wal_mode_and_readable_by_plain_optuna(workdir: Path) -> None:
    import sqlite3

    study = open_study(make())
    study.tell(study.ask(), [0.5, 10.0])
    with sqlite3.connect(workdir / "runs" / "s.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plain = optuna.load_study(study_name="s", storage="sqlite:///runs/s.db")
    assert plain.trials[0].values == [0.5, 10.0]
    assert json.loads(plain.user_attrs["space"])["params"]["bits"]["choices"] == [4, 8]
