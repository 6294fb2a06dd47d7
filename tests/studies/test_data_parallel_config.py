"""Data-parallel trials in the study file and on the command line: top-level
``workers_per_trial`` (local backend), ``[ray] workers_per_trial``, ``gpus_per_worker`` and
``cpus_per_worker`` (Ray backend), the ``--workers-per-trial`` flag that goes to the key of the
study's backend, and the start-up refusal of tasks that cannot be split over workers (exit 2,
one line naming file, key, value and why)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from paretune.studies import StudyFileError, load_config
from paretune.trainers import Strategy, TrainResult, TrainStatus, write_replay_table

EXE = shutil.which("paretune")
needs_cli = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

HEAD = 'name = "x"\ntask = "synthetic"\ntask_options = { n_samples = 120 }\nn_trials = 1\n'
SPACE = "\n[space]\nepochs = 1\n"

STREAM_TASK = '''
import torch
from torch import nn
from torch.utils.data import IterableDataset
from paretune.trainers import DatasetSplits, Task


class Stream(IterableDataset):
    """Items one after another, no __len__: nothing to shard by index."""

    def __iter__(self):
        for i in range(24):
            yield torch.tensor([float(i % 3), 1.0]), i % 3


def stream():
    return Task(
        name="stream",
        build_model=lambda dropout: nn.Sequential(nn.Dropout(dropout), nn.Linear(2, 3)),
        load_datasets=lambda: DatasetSplits(train=Stream(), val=Stream(), test=Stream()),
        num_classes=3,
        input_shape=(2,),
        default_epochs=1,
    )
'''


def _file(folder: Path, text: str) -> Path:
    path = folder / "x.toml"
    path.write_text(text)
    return path


def _replay_table(path: Path) -> None:
    """Two recorded trials keyed by their own column ``op``."""
    results = [
        TrainResult(
            status=TrainStatus.COMPLETED, reason="", val_accuracy=accuracy,
            test_accuracy=accuracy, params=10, nonzero_params=10, sparsity=0.0,
            size_bits=320.0, bitops=0.0, latency_ms=0.1, train_seconds=1.0, epochs=1,
            curve=({"val_accuracy": accuracy},),
            strategy=Strategy(epochs=1, task_params={"op": op}),
        )
        for op, accuracy in (("a", 0.5), ("b", 0.7))
    ]  # fmt: skip
    write_replay_table(path, results, source_task="recorded")


# -- parsing ------------------------------------------------------------------------------


def test_the_defaults_train_each_trial_in_one_process(tmp_path: Path) -> None:
    config = load_config(str(_file(tmp_path, HEAD + SPACE)))
    assert config.workers_per_trial == 1
    assert config.ray.workers_per_trial == 1
    assert config.ray.gpus_per_worker == 0.0
    assert config.ray.cpus_per_worker == 1


def test_the_local_backend_reads_the_top_level_key(tmp_path: Path) -> None:
    config = load_config(str(_file(tmp_path, HEAD + "workers_per_trial = 3\n" + SPACE)))
    assert config.workers_per_trial == 3
    assert config.ray.workers_per_trial == 1


@pytest.mark.parametrize(
    ("ray", "expected"),
    [
        ("workers_per_trial = 4\ngpus_per_worker = 0.5\ncpus_per_worker = 2", (4, 0.5, 2)),
        ("workers_per_trial = 2\ngpus_per_worker = 2", (2, 2.0, 1)),
        ("workers_per_trial = 2\ngpus_per_worker = 0.2", (2, 0.2, 1)),
        ("workers_per_trial = 8", (8, 0.0, 1)),
        ("gpus_per_worker = 1\ncpus_per_worker = 3", (1, 1.0, 3)),
    ],
)
def test_the_ray_backend_reads_its_table(
    tmp_path: Path, ray: str, expected: tuple[int, float, int]
) -> None:
    config = load_config(str(_file(tmp_path, HEAD + 'backend = "ray"\n' + SPACE + "[ray]\n" + ray)))
    options = config.ray
    assert (options.workers_per_trial, options.gpus_per_worker, options.cpus_per_worker) == expected
    assert config.workers_per_trial == 1


def test_overrides_are_checked_like_the_file(tmp_path: Path) -> None:
    path = str(_file(tmp_path, HEAD + 'backend = "ray"\n' + SPACE))
    config = load_config(path, overrides={"ray.workers_per_trial": 2, "ray.gpus_per_worker": 1})
    assert (config.ray.workers_per_trial, config.ray.gpus_per_worker) == (2, 1.0)
    with pytest.raises(StudyFileError, match=r"overrides\['ray.cpus_per_worker'\]: must be an"):
        load_config(path, overrides={"ray.cpus_per_worker": 0})


# -- one error each: file, key, value, what is allowed ------------------------------------

GPU_RULE = r"must be 0, a whole number, or a fraction that divides 1 \(0\.5, 0\.25, 0\.2, \.\.\.\)"

BAD = [
    (
        "workers_per_trial = 0\n" + SPACE,
        "workers_per_trial",
        r"workers_per_trial must be an integer >= 1 \(got 0\)",
    ),
    (
        "workers_per_trial = 1.5\n" + SPACE,
        "workers_per_trial",
        r"workers_per_trial must be an integer >= 1 \(got 1\.5\)",
    ),
    (
        "workers_per_trial = true\n" + SPACE,
        "workers_per_trial",
        r"workers_per_trial must be an integer >= 1 \(got true\)",
    ),
    (
        'backend = "ray"\nworkers_per_trial = 2\n' + SPACE,
        "workers_per_trial",
        r'workers_per_trial must be 1 with backend = "ray" \(got 2\): the Ray backend reads its '
        r"workers from the \[ray\] table; write workers_per_trial = 2 there",
    ),
    (
        SPACE + "[ray]\nworkers_per_trial = 2\n",
        "ray.workers_per_trial",
        r'ray\.workers_per_trial must be 1 with backend = "local" \(got 2\): the local backend '
        r"reads its workers from the top level; write workers_per_trial = 2 above the tables",
    ),
    (
        'backend = "ray"\n' + SPACE + "[ray]\nworkers_per_trial = 0\n",
        "ray.workers_per_trial",
        r"ray\.workers_per_trial must be an integer >= 1 \(got 0\)",
    ),
    (
        'backend = "ray"\n' + SPACE + "[ray]\nworkers_per_trial = 2\ngpus_per_trial = 1\n",
        "ray.gpus_per_trial",
        r"ray\.gpus_per_trial cannot be set with ray\.workers_per_trial = 2 \(got 1\): a "
        r"data-parallel trial is sized per worker; size each worker with gpus_per_worker / "
        r"cpus_per_worker",
    ),
    (
        'backend = "ray"\n' + SPACE + "[ray]\ncpus_per_trial = 4\nworkers_per_trial = 2\n",
        "ray.cpus_per_trial",
        r"ray\.cpus_per_trial cannot be set with ray\.workers_per_trial = 2 \(got 4\): .*size "
        r"each worker with gpus_per_worker / cpus_per_worker",
    ),
    (
        SPACE + "[ray]\ngpus_per_worker = -1\n",
        "ray.gpus_per_worker",
        r"ray\.gpus_per_worker must be a number >= 0\.0 \(got -1\)",
    ),
    (
        SPACE + "[ray]\ngpus_per_worker = 0.3\n",
        "ray.gpus_per_worker",
        r"ray\.gpus_per_worker " + GPU_RULE + r" \(got 0\.3\)",
    ),
    (
        SPACE + "[ray]\ngpus_per_worker = 1.5\n",
        "ray.gpus_per_worker",
        r"ray\.gpus_per_worker " + GPU_RULE + r" \(got 1\.5\)",
    ),
    (
        SPACE + '[ray]\ngpus_per_worker = "one"\n',
        "ray.gpus_per_worker",
        r'ray\.gpus_per_worker must be a number >= 0\.0 \(got "one"\)',
    ),
    (
        SPACE + "[ray]\ngpus_per_trial = 0.3\n",
        "ray.gpus_per_trial",
        r"ray\.gpus_per_trial " + GPU_RULE + r" \(got 0\.3\)",
    ),
    (
        SPACE + "[ray]\ncpus_per_worker = 0\n",
        "ray.cpus_per_worker",
        r"ray\.cpus_per_worker must be an integer >= 1 \(got 0\)",
    ),
    (
        SPACE + "[ray]\ngpus_per_workers = 1\n",
        "ray.gpus_per_workers",
        r"ray\.gpus_per_workers is not a known key \(did you mean 'gpus_per_worker'\?\)\. Known: "
        r"address, cpus_per_trial, cpus_per_worker, gpus_per_trial, gpus_per_worker, "
        r"max_concurrent, max_failures, storage_path, workers_per_trial",
    ),
    (
        "workers_per_trail = 2\n" + SPACE,
        "workers_per_trail",
        r"workers_per_trail is not a known key \(did you mean 'workers_per_trial'\?\)",
    ),
]


@pytest.mark.parametrize(("text", "key", "message"), BAD, ids=[b[1] + ":" + b[2][:30] for b in BAD])
def test_a_bad_value_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = _file(tmp_path, HEAD + text)
    with pytest.raises(StudyFileError) as info:
        load_config(str(path))
    assert info.value.key == key
    assert re.fullmatch(re.escape(str(path)) + ": " + message + ".*", str(info.value)), str(
        info.value
    )


# -- the command line ---------------------------------------------------------------------


def _env(folder: Path) -> dict[str, str]:
    path = os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    storage = f"sqlite:///{folder / 'x.db'}"
    return subprocess.run(
        [EXE, *args, "--storage", storage, "--device", "cpu", "--quiet"],
        cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


REPLAY = """name = "x"\ntask = "replay:{folder}/recorded.npz"\nn_trials = 1\n"""

#: (study file, flags, the one line on stderr after "paretune: error: ")
REFUSED = [
    (
        HEAD + SPACE,
        ["--workers-per-trial", "0"],
        r"--workers-per-trial: must be an integer >= 1 \(got 0\)$",
    ),
    (
        HEAD + SPACE,
        ["--workers-per-trial", "two"],
        r"argument --workers-per-trial: invalid int value: 'two'",
    ),
    (
        HEAD + 'backend = "ray"\n' + SPACE,
        ["--workers-per-trial", "-3"],
        r"--workers-per-trial: must be an integer >= 1 \(got -3\)",
    ),
    (
        HEAD + SPACE,
        ["--backend", "ray", "--workers-per-trial", "2", "--gpus-per-trial", "1"],
        r"--gpus-per-trial: cannot be set with --workers-per-trial 2 \(got 1\.0\): a data-parallel "
        r"trial is sized per worker; size each worker with gpus_per_worker / cpus_per_worker",
    ),
    (  # the flag goes to [ray] when the file says backend = "ray"
        HEAD + 'backend = "ray"\n' + SPACE + "[ray]\ncpus_per_trial = 2\n",
        ["--workers-per-trial", "2"],
        r"{file}: ray\.cpus_per_trial cannot be set with --workers-per-trial 2 \(got 2\)",
    ),
    (
        HEAD + "workers_per_trial = 2\n" + SPACE,
        ["--backend", "ray"],
        r'{file}: workers_per_trial must be 1 with backend = "ray" \(got 2\)',
    ),
    (
        HEAD + SPACE,
        ["--backend", "ray", "--gpus-per-worker", "0.3"],
        r"--gpus-per-worker: " + GPU_RULE + r" \(got 0\.3\)",
    ),
    (
        HEAD + SPACE,
        ["--backend", "ray", "--cpus-per-worker", "0"],
        r"--cpus-per-worker: must be an integer >= 1 \(got 0\)",
    ),
    (
        REPLAY + "workers_per_trial = 2\n[space]\nop = [\"a\", \"b\"]\n",
        [],
        r"{file}: workers_per_trial must be 1 \(got 2\): Task 'replay:\S+/recorded\.npz' replays "
        r"recorded results and trains nothing, so it cannot run on 2 data-parallel workers; use 1 "
        r"worker per trial\.$",
    ),
    (
        REPLAY + "[space]\nop = [\"a\", \"b\"]\n",
        ["--workers-per-trial", "2"],
        r"--workers-per-trial: must be 1 \(got 2\): Task 'replay:\S+' .*use 1 worker per trial",
    ),
    (
        REPLAY + 'backend = "ray"\n[space]\nop = ["a", "b"]\n[ray]\nworkers_per_trial = 2\n',
        [],
        r"{file}: ray\.workers_per_trial must be 1 \(got 2\): Task 'replay:",
    ),
    (
        'name = "x"\ntask = "stream_task:stream"\nn_trials = 1\nworkers_per_trial = 2\n' + SPACE,
        [],
        r"{file}: workers_per_trial must be 1 \(got 2\): Task 'stream': its "
        r"train dataset is an IterableDataset, which cannot be sharded over 2 data-parallel "
        r"workers",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> list[tuple[Path, subprocess.CompletedProcess[str]]]:
    """Run every refused input (two at a time: the machine has two cores)."""
    folders = []
    for index, (text, _, _) in enumerate(REFUSED):
        folder = tmp_path_factory.mktemp(f"refused{index}")
        _replay_table(folder / "recorded.npz")
        (folder / "stream_task.py").write_text(STREAM_TASK)
        _file(folder, text.replace("{folder}", str(folder)))
        folders.append(folder)

    def run(item: tuple[Path, list[str]]) -> tuple[Path, subprocess.CompletedProcess[str]]:
        folder, flags = item
        return folder, _paretune(folder, "run", str(folder / "x.toml"), *flags)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, [(f, r[1]) for f, r in zip(folders, REFUSED, strict=True)]))


@needs_cli
@pytest.mark.parametrize(
    "index", range(len(REFUSED)), ids=[" ".join(r[1]) or r[0][-40:] for r in REFUSED]
)
def test_run_refuses_in_one_line_with_exit_2(
    refused: list[tuple[Path, subprocess.CompletedProcess[str]]], index: int
) -> None:
    folder, done = refused[index]
    expected = REFUSED[index][2].replace("{file}", re.escape(str(folder / "x.toml")))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("paretune")]
    assert len(lines) == 1, done.stderr
    assert re.match(r"paretune( run)?: error: " + expected, lines[0]), lines[0]
    assert not (folder / "x.db").exists()  # refused before the study was opened


@needs_cli
@pytest.mark.slow
def test_a_data_parallel_study_runs_and_says_so(tmp_path: Path) -> None:
    """Two local workers train the one trial of a tiny study; the run line says so."""
    import optuna

    _file(tmp_path, HEAD + SPACE)
    done = _paretune(tmp_path, "run", "x.toml", "--workers-per-trial", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(local, 1 job(s), 2 workers per trial)" in done.stdout
    study = optuna.load_study(study_name="x", storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]
