"""``paretune report``, ``select`` and ``status`` name a metric study's quality objective and
its direction (``val_rmse``, lower is better), through the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from paretune.search import OutcomeState, StudySpec, TrialOutcome, open_study, record_result
from paretune.spaces import Fixed, FloatDistribution, StrategySpace

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: (val_rmse, test_rmse, size_bits) of each complete trial.
POINTS = ((50.0, 49.0, 4000.0), (55.0, 56.5, 1000.0), (60.0, 61.0, 2000.0), (48.0, 47.25, 9000.0))


def _paretune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    return subprocess.run(
        [EXE, *args], cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A ``val_rmse`` / ``size_bits`` study recorded as ``paretune run`` records one."""
    folder = tmp_path_factory.mktemp("quality")
    storage = f"sqlite:///{folder / 'q.db'}"
    space = StrategySpace(
        params={"lr": FloatDistribution(low=1e-3, high=1.0, log=True), "epochs": Fixed(value=2)}
    )
    spec = StudySpec(name="q", storage=storage, objectives=("val_rmse", "size_bits"), space=space,
                     metric_directions={"val_rmse": "minimize"})  # fmt: skip
    opened = open_study(spec)
    for rmse, test, size in POINTS:
        outcome = TrialOutcome(
            state=OutcomeState.COMPLETE,
            measurements={"val_rmse": rmse, "test_rmse": test, "size_bits": size, "epochs": 2},
            curve=({"val_rmse": rmse + 5}, {"val_rmse": rmse}),
            strategy={"lr": 0.01, "bits": 8},
        )
        record_result(opened, opened.ask(), outcome)
    (folder / "q.toml").write_text(
        'name = "q"\ntask = "diabetes-mlp"\nobjectives = ["val_rmse", "size_bits"]\n'
        f'storage = "{storage}"\nn_trials = 4\n[space]\nlr = 0.01\n'
    )
    return folder, storage


def test_report_speaks_of_val_rmse_lower_is_better(study: tuple[Path, str]) -> None:
    folder, storage = study
    done = _paretune("report", "--storage", storage, "--study", "q", "-o", "r.html", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    body = (folder / "r.html").read_text().split("</head>", 1)[1]
    assert "best val_rmse (lower is better)" in body
    assert "val_rmse (min), size_bits (min)" in body
    assert "<th>val_rmse</th><th>test_rmse</th>" in body
    assert "val_rmse \\u2014 lower is better" in body  # the front's axis (JSON-escaped dash)
    assert "best validation accuracy" not in body and "higher is better" not in body


def test_select_names_the_metric_its_direction_and_its_test_value(
    study: tuple[Path, str],
) -> None:
    folder, storage = study
    text = _paretune("select", "--storage", storage, "--study", "q", cwd=folder)
    assert text.returncode == 0, text.stderr
    assert "chosen: trial 3 (most accurate)" in text.stdout
    assert "best on val_rmse (lower is better)" in text.stdout
    assert "val_rmse 48 (lower is better); test_rmse 47.25" in text.stdout
    assert "all 4 complete trials: val_rmse 48 (test 47.25), size_bits 9 kbit" in text.stdout
    assert "Next best: trial 0 at 50." in text.stdout  # 4 significant digits, not 50.0000
    assert "validation accuracy" not in text.stdout
    knee = _paretune("select", "--storage", storage, "--study", "q", "--knee", cwd=folder)
    assert knee.returncode == 0, knee.stderr
    assert "improving val_rmse further (lower is better)" in knee.stdout
    document = json.loads(
        _paretune("select", "--storage", storage, "--study", "q", "--json", cwd=folder).stdout
    )
    assert document["metric"] == "val_rmse" and document["metric_direction"] == "minimize"
    assert document["chosen"]["val_rmse"] == 48.0 and document["chosen"]["test_rmse"] == 47.25
    assert "test_accuracy" not in document["chosen"]
    assert [entry["test_rmse"] for entry in document["front"]] == [56.5, 49.0, 47.25]


def test_status_shows_test_rmse_and_the_direction(study: tuple[Path, str]) -> None:
    folder, storage = study
    done = _paretune("status", "--storage", storage, str(folder / "q.toml"), cwd=folder)
    assert done.returncode == 0, done.stderr
    title, head, _, first, *_ = done.stdout.split("\nPareto front")[1].splitlines()
    assert title == " (3 trials; val_rmse: lower is better)"
    assert head.split()[:4] == ["trial", "val_rmse", "size_bits", "test_rmse"]
    assert first.split()[:4] == ["3", "48", "9kbit", "47.25"]
