"""A task's own parameters through the ``paretune`` command: run, status, select --export.

The installed command runs in a subprocess, as a user runs it; each study is small (a few
trials of one epoch) to stay fast on 2 cores.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from paretune.search import make_storage
from paretune.trainers import Strategy, TrainResult, TrainStatus, load_exported, write_replay_table
from torch import nn

optuna.logging.set_verbosity(optuna.logging.WARNING)

OPS = ("none", "skip", "conv1x1", "conv3x3", "avgpool")
COLUMNS = tuple(f"op_{i}" for i in range(6))


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run([*prefix, *args], cwd=folder, capture_output=True, text=True, timeout=600)


def _load(folder: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(f"sqlite:///{folder}/s.db"))


@pytest.fixture(scope="module")
def width_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("width")
    (folder / "width.toml").write_text(
        'name = "width"\ntask = "digits-mlp"\nobjectives = ["accuracy", "size_bits"]\n'
        f'storage = "sqlite:///{folder}/s.db"\nsampler = "random"\nn_trials = 4\nseed = 1\n'
        'device = "cpu"\n\n[space]\nlr = 0.01\nepochs = 1\nwidth = [8, 24, 40]\ndepth = 1\n'
    )
    ran = _paretune(folder, "run", "width.toml")
    assert ran.returncode == 0, ran.stderr
    return folder


def test_width_is_searched_and_recorded_under_its_own_name(width_study: Path) -> None:
    trials = _load(width_study, "width").trials
    assert len(trials) == 4
    for trial in trials:
        assert trial.state is optuna.trial.TrialState.COMPLETE
        assert trial.params["width"] in (8, 24, 40)
        strategy = trial.user_attrs["strategy"]
        assert strategy["task_params"] == {"width": trial.params["width"], "depth": 1}
        # one hidden layer of `width` units: the recorded parameter count says it was applied
        width = trial.params["width"]
        assert trial.user_attrs["params"] == 64 * width + width + width * 10 + 10
    assert len({t.params["width"] for t in trials}) > 1


def test_status_shows_the_task_parameters_as_columns(width_study: Path) -> None:
    shown = _paretune(width_study, "status", "width.toml")
    assert shown.returncode == 0, shown.stderr
    header = next(line for line in shown.stdout.splitlines() if line.startswith("trial "))
    assert header.split()[-2:] == ["width", "depth"]


def test_select_exports_a_model_of_the_chosen_width(width_study: Path, tmp_path: Path) -> None:
    chosen = _paretune(
        width_study, "select", "width.toml", "--json", "--export", str(tmp_path / "model")
    )
    assert chosen.returncode == 0, chosen.stderr
    document = json.loads(chosen.stdout)
    width = document["chosen"]["strategy"]["width"]
    exported = load_exported(tmp_path / "model")
    assert exported.strategy.task_params == {"width": width, "depth": 1}
    saved = json.loads((tmp_path / "model" / "strategy.json").read_text())
    assert saved["task_params"] == {"width": width, "depth": 1}
    linears = [m for m in exported.model.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [width, 10]


def test_report_tables_show_the_task_parameters(width_study: Path) -> None:
    made = _paretune(width_study, "report", "width.toml", "--output", "report.html")
    assert made.returncode == 0, made.stderr
    page = (width_study / "report.html").read_text()
    # each task parameter is a column where it varies on the front, else in the line of values
    # the front shares ("Same for all …: <b>depth</b> 2")
    for name in ("width", "depth"):
        assert f'<th class="t">{name}</th>' in page or f"<b>{name}</b> " in page, name
    assert '<th class="t">width</th>' in page or '<th class="t">depth</th>' in page


def _accuracy(cell: dict[str, str]) -> float:
    """Made up, and different for every cell (the oracle of a lookup)."""
    return 0.3 + sum(OPS.index(cell[c]) * 2.0**-i for i, c in enumerate(COLUMNS)) / 10


def _write_nas_table(path: Path) -> list[dict[str, str]]:
    """Every cell of six columns of two operations each: 64 rows."""
    cells = [
        dict(zip(COLUMNS, ops, strict=True))
        for ops in itertools.product(*[(OPS[i % 5], OPS[(i + 2) % 5]) for i in range(6)])
    ]
    results = []
    for i, cell in enumerate(cells):
        accuracy = _accuracy(cell)
        results.append(
            TrainResult(
                status=TrainStatus.COMPLETED, reason="", val_accuracy=accuracy,
                test_accuracy=accuracy, params=100 + i, nonzero_params=100 + i, sparsity=0.0,
                size_bits=3200.0 + 32 * i, bitops=0.0, latency_ms=0.1, train_seconds=1.0,
                epochs=2, curve=({"val_accuracy": accuracy / 2}, {"val_accuracy": accuracy}),
                strategy=Strategy(epochs=2, task_params=cell),
            )
        )  # fmt: skip
    write_replay_table(path, results, source_task="nas-like")
    return cells


def test_replay_table_searched_under_its_own_column_names(tmp_path: Path) -> None:
    cells = _write_nas_table(tmp_path / "nas.npz")
    space = "\n".join(f"{c} = {json.dumps(sorted({cell[c] for cell in cells}))}" for c in COLUMNS)
    (tmp_path / "nas.toml").write_text(
        f'name = "nas"\ntask = "replay:{tmp_path}/nas.npz"\n'
        'objectives = ["accuracy", "size_bits"]\n'
        f'storage = "sqlite:///{tmp_path}/s.db"\nsampler = "random"\nn_trials = 6\n\n'
        f"[space]\n{space}\n"
    )
    listed = _paretune(tmp_path, "spaces", "--task", f"replay:{tmp_path}/nas.npz")
    assert listed.returncode == 0, listed.stderr
    assert all(f"\n{c} " in listed.stdout for c in COLUMNS)
    ran = _paretune(tmp_path, "run", "nas.toml")
    assert ran.returncode == 0, ran.stderr
    trials = _load(tmp_path, "nas").trials
    assert len(trials) == 6
    for trial in trials:
        assert trial.state is optuna.trial.TrialState.COMPLETE
        assert set(trial.params) == set(COLUMNS)
        assert trial.user_attrs["strategy"]["task_params"] == trial.params
        assert trial.values[0] == pytest.approx(_accuracy(trial.params))
        assert trial.values[1] == 3200.0 + 32 * cells.index(trial.params)
    best = max(trials, key=lambda t: t.values[0])
    selected = _paretune(tmp_path, "select", "nas.toml", "--json")
    assert selected.returncode == 0, selected.stderr
    chosen = json.loads(selected.stdout)["chosen"]
    picked = next(t for t in trials if t.number == chosen["trial"])
    assert picked.values[0] == best.values[0]  # the most accurate
    assert {c: chosen["strategy"][c] for c in COLUMNS} == picked.params
    shown = _paretune(tmp_path, "status", "nas.toml")
    assert all(c in shown.stdout for c in COLUMNS)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("width = 0", "space.width is not allowed (got 0): The parameter 'width' of task "
         "'digits-mlp' must be an int in [1, 4096]. Got 0 instead."),
        ("width = [16, 16]", "space.width[1] repeats the choice 16"),
        ("width = { low = 8, high = 9000 }", "space.width.high is not allowed (got 9000)"),
        ("width = 1.5", "must be an int in [1, 4096]. Got 1.5 instead."),
        ("widht = 16", "space.widht is not a known key (did you mean 'width'?). Known: "),
    ],
)  # fmt: skip
def test_bad_task_parameter_values_exit_2_with_one_line(
    tmp_path: Path, space: str, message: str
) -> None:
    (tmp_path / "bad.toml").write_text(
        f'task = "digits-mlp"\nstorage = "sqlite:///{tmp_path}/s.db"\n\n[space]\n{space}\n'
    )
    ran = _paretune(tmp_path, "run", "bad.toml")
    assert ran.returncode == 2
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], ran.stderr
    if "widht" in space:
        assert "depth" in lines[0] and "width" in lines[0] and "lr" in lines[0]


def test_a_range_over_a_categorical_column_is_refused(tmp_path: Path) -> None:
    _write_nas_table(tmp_path / "nas.npz")
    (tmp_path / "bad.toml").write_text(
        f'task = "replay:{tmp_path}/nas.npz"\nstorage = "sqlite:///{tmp_path}/s.db"\n\n'
        "[space]\nop_0 = { low = 1, high = 2 }\n"
    )
    ran = _paretune(tmp_path, "run", "bad.toml")
    assert ran.returncode == 2
    assert "space.op_0 cannot be a range: the parameter 'op_0' of task" in ran.stderr


def test_spaces_with_a_task_that_cannot_be_built_prints_nothing_but_the_error(
    tmp_path: Path,
) -> None:
    listed = _paretune(tmp_path, "spaces", "--task", "nosuch")
    assert listed.returncode == 2 and listed.stdout == ""
    assert listed.stderr.strip().splitlines() == [
        "paretune: error: --task: Unknown task 'nosuch'. Known: digits-mlp, digits-cnn, "
        "synthetic, mnist-mlp, mnist-lenet5, cifar10-resnet20, diabetes-mlp, replay:PATH, "
        "package.module:factory."
    ]
