"""Metric objectives through the installed ``paretune`` command: a CSV regression study with
mo-asha on ``val_rmse``, its report and ``select --max val_rmse=...``; a macro-F1 study; an
objective the task does not compute (exit 2, one line)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "studies" / "examples" / "tabular_regression"
EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

F1_TASK = """
from paretune.trainers import Task, get_task


def make_task():
    base = get_task("synthetic", options={"n_samples": 300})
    return Task(name="f1-task", build_model=base.build_model, load_data=base.load_data,
                num_classes=3, default_epochs=3, metrics=("macro_f1", "accuracy"))
"""


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tabular_task", EXAMPLE / "tabular_task.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _paretune(*args: str, cwd: Path, path: Path = EXAMPLE) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def regression_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The example study on a diabetes CSV file: 8 trials of 6 epochs, mo-asha at 2 epochs."""
    folder = tmp_path_factory.mktemp("tabular")
    _example().write_diabetes_csv(folder / "data.csv")
    study = folder / "study.toml"
    study.write_text(
        (EXAMPLE / "tabular_regression.toml")
        .read_text()
        .replace("n_trials = 24", "n_trials = 8")
        .replace('{ name = "nsga2", population_size = 8 }', '"random"')
        .replace("min_epochs = 5, reduction_factor = 3", "min_epochs = 2, reduction_factor = 2")
        .replace("epochs = 40", "epochs = 6")
        .replace("hidden = 64", "hidden = 16")
    )
    storage = f"sqlite:///{folder / 'r.db'}"
    done = _paretune(
        "run", str(study), "--data-dir", str(folder), "--storage", storage, "--device", "cpu",
        "--quiet", cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, storage


@pytest.mark.slow
def test_regression_study_records_rmse_minimized_with_mo_asha(
    regression_study: tuple[Path, str],
) -> None:
    _, storage = regression_study
    study = optuna.load_study(study_name="tabular-regression", storage=storage)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.user_attrs["metric_directions"] == {"val_rmse": "minimize"}
    trials = study.get_trials()
    complete = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    assert complete and all(t.values[0] == t.user_attrs["val_rmse"] for t in complete)
    assert all("test_max_error" in t.user_attrs for t in complete)
    assert all(
        t.user_attrs["curve"][-1]["val_rmse"] > 0 for t in trials if t.user_attrs.get("curve")
    )
    pruned = [t for t in trials if t.state is optuna.trial.TrialState.PRUNED]
    for trial in pruned:  # mo-asha names the minimized metric in its reason
        assert "val_rmse=" in trial.user_attrs["prune_reason"]


@pytest.mark.slow
def test_report_and_select_treat_lower_rmse_as_better(regression_study: tuple[Path, str]) -> None:
    folder, storage = regression_study
    study = optuna.load_study(study_name="tabular-regression", storage=storage)
    complete = [t for t in study.get_trials() if t.state is optuna.trial.TrialState.COMPLETE]
    rmse = {t.number: t.user_attrs["val_rmse"] for t in complete}
    size = {t.number: t.user_attrs["size_bits"] for t in complete}
    report = _paretune("report", "--storage", storage, "--study", "tabular-regression",
                       "-o", str(folder / "r.html"), cwd=folder)  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    assert "val_rmse" in (folder / "r.html").read_text()

    best = _paretune("select", "--storage", storage, "--study", "tabular-regression", "--json",
                     cwd=folder)  # fmt: skip
    assert best.returncode == 0, best.stderr
    document = json.loads(best.stdout)
    assert document["chosen"]["trial"] == min(rmse, key=lambda n: (rmse[n], size[n]))
    # every front member: no other complete trial is lower on both rmse and size
    for entry in document["front"]:
        n = entry["trial"]
        assert not any(rmse[m] < rmse[n] and size[m] < size[n] for m in rmse)

    cap = sorted(rmse.values())[len(rmse) // 2]  # about half the trials are within it
    capped = _paretune("select", "--storage", storage, "--study", "tabular-regression",
                       "--json", "--max", f"val_rmse={cap}", cwd=folder)  # fmt: skip
    assert capped.returncode == 0, capped.stderr
    chosen = json.loads(capped.stdout)["chosen"]
    within = [n for n in rmse if rmse[n] <= cap]
    assert chosen["val_rmse"] <= cap
    assert chosen["trial"] == min(within, key=lambda n: (size[n], rmse[n], n))

    nothing = _paretune("select", "--storage", storage, "--study", "tabular-regression",
                        "--max", "val_rmse=1", cwd=folder)  # fmt: skip
    assert nothing.returncode == 3 and "val_rmse <= 1" in nothing.stdout
    wrong = _paretune("select", "--storage", storage, "--study", "tabular-regression",
                      "--min", "val_macro_f1=0.5", cwd=folder)  # fmt: skip
    assert wrong.returncode == 2
    assert "the study's metric objective is val_rmse" in wrong.stderr

    status = _paretune("status", "--storage", storage, str(folder / "study.toml"), cwd=folder)
    assert status.returncode == 0, status.stderr
    first = status.stdout.split("Pareto front")[1].splitlines()[3].split()
    assert math.isclose(float(first[1]), min(rmse.values()), rel_tol=1e-3)


def test_an_objective_the_task_does_not_compute_is_exit_2_in_one_line(tmp_path: Path) -> None:
    study = tmp_path / "s.toml"
    study.write_text(
        'task = "diabetes-mlp"\nobjectives = ["val_macro_f1", "size_bits"]\n'
        "[space]\nlr = 0.01\nepochs = 1\n"
    )
    done = _paretune("run", str(study), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(study.name) in lines[0] and "objectives[0]" in lines[0]
    assert '"val_macro_f1"' in lines[0] and "diabetes-mlp" in lines[0]
    assert "val_rmse, val_mae, val_loss" in lines[0]


@pytest.mark.slow
def test_a_macro_f1_objective_is_maximized(tmp_path: Path) -> None:
    (tmp_path / "f1_task.py").write_text(F1_TASK)
    study = tmp_path / "f1.toml"
    study.write_text(
        'name = "f1"\ntask = "f1_task:make_task"\nobjectives = ["val_macro_f1", "size_bits"]\n'
        'n_trials = 3\nsampler = "random"\n[space]\nlr = { low = 0.001, high = 0.1, log = true }\n'
        "bits = [4, 32]\nepochs = 2\n"
    )
    storage = f"sqlite:///{tmp_path / 'f1.db'}"
    done = _paretune("run", str(study), "--storage", storage, "--device", "cpu", "--quiet",
                     cwd=tmp_path, path=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = optuna.load_study(study_name="f1", storage=storage)
    assert [d.name for d in loaded.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = loaded.get_trials()
    assert len(trials) == 3
    for trial in trials:
        assert trial.values[0] == trial.user_attrs["val_macro_f1"]
        assert 0.0 <= trial.user_attrs["test_macro_f1"] <= 1.0
    best = _paretune("select", "--storage", storage, "--study", "f1", "--json",
                     "--min", "val_macro_f1=0.0", cwd=tmp_path, path=tmp_path)  # fmt: skip
    assert best.returncode == 0, best.stderr
    chosen = json.loads(best.stdout)["chosen"]
    sizes = [t.user_attrs["size_bits"] for t in trials]
    assert chosen["costs"]["size_bits"] == min(sizes)  # only a floor: the cheapest meeting it
    exported = _paretune("select", str(study), "--storage", storage, "--knee", "--export",
                         "model", "--device", "cpu", cwd=tmp_path, path=tmp_path)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    line = next(x for x in exported.stdout.splitlines() if x.startswith("exported to"))
    # the study's own metric first, measured on the test split, then the accuracy
    assert f"test_macro_f1 {metrics['test_metrics']['test_macro_f1']:.4g} (val_macro_f1 " in line
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in line
