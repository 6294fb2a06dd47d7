"""A study another program (plain Optuna) made under the same name: ``run`` never writes to
it, ``status`` reads it, ``select`` says why it has nothing to choose from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY = """\
name = "{name}"
task = "synthetic"
task_options = {{ n_samples = 60 }}
storage = "sqlite:///plain.db"
sampler = "random"
n_trials = 1

[space]
lr = 0.01
epochs = 1
"""


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run(
        [*prefix, *args], cwd=folder, env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    one = optuna.create_study(study_name="one", storage=storage)
    one.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    two = optuna.create_study(
        study_name="two", storage=storage, directions=["maximize", "minimize"]
    )
    two.optimize(lambda t: (t.suggest_float("lr", 0.01, 0.1), 3.0), n_trials=2)
    optuna.create_study(study_name="empty", storage=storage, direction="maximize")
    for name in ("one", "two", "empty"):
        (tmp_path / f"{name}.toml").write_text(STUDY.format(name=name))
    return tmp_path


def _stored(folder: Path, name: str) -> tuple[dict[str, object], list[tuple[str, object]]]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'plain.db'}")
    return dict(study.user_attrs), [(t.state.name, t.values) for t in study.trials]


@pytest.mark.parametrize(
    ("name", "described"),
    [
        ("one", "3 trial(s), directions minimize; this run's: maximize"),
        ("two", "2 trial(s), directions maximize, minimize; this run's: maximize"),
    ],
)
def test_run_refuses_a_study_another_program_made_and_writes_nothing(
    folder: Path, name: str, described: str
) -> None:
    before = _stored(folder, name)
    done = _paretune(folder, "run", f"{name}.toml")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Cannot open study '{name}'" in lines[0]
    assert f"was not made by paretune (it has no 'objectives' attribute; {described})" in lines[0]
    assert _stored(folder, name) == before


def test_an_empty_study_of_the_same_directions_is_taken_up(folder: Path) -> None:
    done = _paretune(folder, "run", "empty.toml")
    assert done.returncode == 0, done.stderr
    attrs, trials = _stored(folder, "empty")
    assert attrs["objectives"] == ["accuracy"] and len(trials) == 1


def test_status_reads_it_and_select_says_why_it_cannot_choose(folder: Path) -> None:
    storage = f"sqlite:///{folder / 'plain.db'}"
    shown = _paretune(folder, "status", "--storage", storage, "--study", "one")
    assert shown.returncode == 0, shown.stderr
    assert "complete       3" in shown.stdout
    assert "(no Pareto front: the study was not made by paretune" in shown.stdout
    chosen = _paretune(folder, "select", "--storage", storage, "--study", "two")
    assert chosen.returncode == 2
    assert chosen.stderr.strip().splitlines() == [
        "paretune: error: study 'two' was not made by paretune: it records no objectives, "
        "strategies or costs to select from"
    ]


def test_trials_names_its_value_columns_as_optuna_does(folder: Path) -> None:
    storage = f"sqlite:///{folder / 'plain.db'}"
    written = _paretune(folder, "trials", "--storage", storage, "--study", "two")
    assert written.returncode == 0, written.stderr
    header = written.stdout.splitlines()[0].split(",")
    frame = optuna.load_study(study_name="two", storage=storage).trials_dataframe()
    values = [c for c in frame.columns if c.startswith("values")]
    assert values == ["values_0", "values_1"] and header[2:4] == values
