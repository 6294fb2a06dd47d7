"""The installed ``paretune`` command, run in a subprocess as a user would run it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

TINY = """\
name = "tiny"
task = "synthetic"
task_options = {{ n_samples = {samples} }}
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = {n_trials}
seed = 1

[space]
optimizer = ["sgd", "momentum", "adam"]
lr = {{ low = 1e-3, high = 0.3, log = true }}
momentum = {{ low = 0.5, high = 0.95 }}
prune_rate = {{ low = 0.0, high = 0.5 }}
bits = [4, 8, 32]
epochs = {epochs}
"""

USER_ATTRS = (
    "strategy",
    "val_accuracy",
    "test_accuracy",
    "params",
    "nonzero_params",
    "sparsity",
    "size_bits",
    "bitops",
    "latency_ms",
    "train_seconds",
    "epochs",
    "curve",
)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def paretune(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert EXE is not None
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env()
    )


def write_tiny(folder: Path, *, n_trials: int = 3, epochs: int = 2, samples: int = 200) -> Path:
    path = folder / "tiny.toml"
    path.write_text(TINY.format(n_trials=n_trials, epochs=epochs, samples=samples))
    return path


def load(folder: Path, name: str = "tiny") -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/runs/{name}.db")


def finished(study: Any) -> dict[int, tuple[list[float], dict[str, Any]]]:
    import optuna

    return {
        t.number: (t.values, t.params)
        for t in study.get_trials(deepcopy=False)
        if t.state is optuna.trial.TrialState.COMPLETE
    }


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("tiny")
    write_tiny(folder)
    return folder, paretune("run", "tiny.toml", cwd=folder)


def test_tiny_study_runs(tiny_run: tuple[Path, Any]) -> None:
    folder, done = tiny_run
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "ran 3 trial(s)" in done.stdout and "3/3 finished trials" in done.stdout
    # the progress bar: trials run, ETA, and the study's done / pruned / failed, front size
    assert "3/3 trials: 100%" in done.stderr
    assert "done=3/3, pruned=0, failed=0, front=" in done.stderr
    assert (folder / "runs" / "tiny.db").is_file()


def test_optuna_reads_the_study_with_every_attribute(tiny_run: tuple[Path, Any]) -> None:
    import json

    import optuna

    folder, _ = tiny_run
    study = load(folder)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    attrs = study.user_attrs
    assert attrs["objectives"] == ["accuracy", "size_bits"]
    assert set(json.loads(attrs["space"])["params"]) >= {"optimizer", "lr", "bits", "epochs"}
    assert attrs["constraints"] == {}
    assert attrs["metadata"]["task"] == "synthetic"
    assert attrs["metadata"]["task_options"] == {"n_samples": 200}
    trials = study.get_trials()
    assert len(trials) == 3
    for trial in trials:
        assert trial.state is optuna.trial.TrialState.COMPLETE
        assert set(USER_ATTRS) <= set(trial.user_attrs), trial.user_attrs.keys()
        assert trial.values == [trial.user_attrs["val_accuracy"], trial.user_attrs["size_bits"]]
        strategy = trial.user_attrs["strategy"]
        for name, value in trial.params.items():
            assert strategy[name] == pytest.approx(value)
        assert strategy["epochs"] == 2 and trial.user_attrs["epochs"] == 2
        assert len(trial.user_attrs["curve"]) == 2
        assert ("momentum" in trial.params) == (trial.params["optimizer"] == "momentum")


def test_status_shows_states_and_the_front(tiny_run: tuple[Path, Any]) -> None:
    folder, _ = tiny_run
    shown = paretune("status", "tiny.toml", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    assert "3/3 finished trials" in shown.stdout
    assert "complete" in shown.stdout and "saved by pruning: 0" in shown.stdout
    assert "Pareto front (" in shown.stdout
    header = next(line for line in shown.stdout.splitlines() if line.startswith("trial"))
    assert header.split()[:3] == ["trial", "accuracy", "size_bits"]


def test_rerunning_a_finished_study_runs_nothing(tiny_run: tuple[Path, Any]) -> None:
    folder, _ = tiny_run
    again = paretune("run", "tiny.toml", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert "nothing to run" in again.stdout
    assert len(load(folder).trials) == 3


def _copy_tiny(tiny_run: tuple[Path, Any], folder: Path) -> None:
    """The finished tiny study's storage, copied into ``folder/runs`` (left as it is)."""
    (folder / "runs").mkdir()
    shutil.copy(tiny_run[0] / "runs" / "tiny.db", folder / "runs" / "tiny.db")


def test_larger_n_trials_resumes_and_loses_nothing(
    tiny_run: tuple[Path, Any], tmp_path: Path
) -> None:
    _copy_tiny(tiny_run, tmp_path)
    write_tiny(tmp_path)
    before = finished(load(tmp_path))
    # another sampler seed for the new trials is allowed: the study stays the same
    more = paretune("run", "tiny.toml", "--n-trials", "5", "--seed", "5", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "ran 2 trial(s)" in more.stdout
    after = finished(load(tmp_path))
    assert len(after) == 5
    assert {n: after[n] for n in before} == before


def test_a_user_task_factory_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "mytasks.py").write_text(
        "from paretune.trainers import get_task\n\n"
        "def make_task(n_samples=100):\n"
        "    return get_task('synthetic', options={'n_samples': n_samples})\n"
    )
    (tmp_path / "mine.toml").write_text(
        'name = "mine"\ntask = "mytasks:make_task"\ntask_options = { n_samples = 150 }\n'
        'sampler = "random"\nn_trials = 2\n[space]\nlr = { low = 0.01, high = 0.1 }\n'
        "epochs = 1\n"
    )
    done = paretune("run", "mine.toml", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "trials:" not in done.stderr  # --quiet: no progress bar
    study = load(tmp_path, "mine")
    assert study.user_attrs["metadata"]["task"] == "mytasks:make_task"
    assert [t.user_attrs["epochs"] for t in study.trials] == [1, 1]


def test_a_changed_space_is_refused_naming_the_key(
    tiny_run: tuple[Path, Any], tmp_path: Path
) -> None:
    _copy_tiny(tiny_run, tmp_path)
    path = write_tiny(tmp_path)
    path.write_text(path.read_text().replace("bits = [4, 8, 32]", "bits = [2, 8]"))
    changed = paretune("run", "tiny.toml", "--n-trials", "4", cwd=tmp_path)
    assert changed.returncode == 2, changed.stderr
    assert "Traceback" not in changed.stderr
    assert (
        "tiny.toml: space.bits = [2, 8] differs: the study 'tiny' in sqlite:///runs/tiny.db "
        "was created with bits = [4, 8, 32]; to search differently give the study a new name"
    ) in changed.stderr
    assert len(load(tmp_path).trials) == 3


def test_changed_task_options_are_refused_before_the_runs_first_line(
    tiny_run: tuple[Path, Any], tmp_path: Path
) -> None:
    _copy_tiny(tiny_run, tmp_path)
    write_tiny(tmp_path, samples=150)
    changed = paretune("run", "tiny.toml", "--n-trials", "4", cwd=tmp_path)
    assert changed.returncode == 2 and changed.stdout == ""  # no 'study tiny: ...' line first
    (line,) = changed.stderr.strip().splitlines()
    assert "tiny.toml: task_options = { n_samples = 150 } differs" in line
    assert len(load(tmp_path).trials) == 3


def test_status_of_a_study_never_run(tmp_path: Path) -> None:
    write_tiny(tmp_path)
    shown = paretune("status", "tiny.toml", cwd=tmp_path)
    assert shown.returncode == 2  # bad input, as in every command that reads a study
    assert "no study 'tiny' yet" in shown.stderr and "paretune run tiny.toml" in shown.stderr
    assert not (tmp_path / "runs").exists()


def test_spaces_and_tasks_list_the_registries(tmp_path: Path) -> None:
    spaces = paretune("spaces", cwd=tmp_path)
    assert spaces.returncode == 0, spaces.stderr
    for word in ("momentum", "cosine", "nsga2", "median", "decay_gamma", "optimizer in"):
        assert word in spaces.stdout
    tasks = paretune("tasks", cwd=tmp_path)
    assert tasks.returncode == 0, tasks.stderr
    for word in ("digits-mlp", "cifar10-resnet20", "replay:PATH"):
        assert word in tasks.stdout


@pytest.mark.slow
def test_digits_quick_the_readme_job_finishes_in_under_3_minutes(tmp_path: Path) -> None:
    started = time.monotonic()
    done = paretune("run", "digits-quick", cwd=tmp_path, timeout=600)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "60/60 finished trials" in done.stdout
    assert seconds < 180, f"digits-quick took {seconds:.0f} s"
    study = load(tmp_path, "digits-quick")
    best = max(t.values[0] for t in study.best_trials)
    assert best > 0.9  # an MLP on 8x8 digits reaches over 90% validation accuracy
    assert len(study.best_trials) >= 2  # a front, not a single point


# --- interruptions -----------------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paretune ended early: {process.communicate()}")
        try:
            if condition():
                return
        except Exception:  # the storage may not exist yet, or be locked for a moment
            pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the study did not get there in time")


def _mid_trial(folder: Path, *, epochs: int) -> Callable[[], bool]:
    """True once two trials are complete and one is running with most of its epochs ahead.

    Waiting for an early epoch (not any epoch) leaves the signal a window of several epochs to
    land in, so the trial cannot finish between this check and the kill.
    """
    import optuna

    def check() -> bool:
        trials = load(folder).get_trials(deepcopy=False)
        complete = sum(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
        running = [
            t
            for t in trials
            if t.state is optuna.trial.TrialState.RUNNING
            and 1 <= len(t.user_attrs.get("curve") or ()) <= epochs // 3
        ]
        return complete >= 2 and bool(running)

    return check


def _default_sigint() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and children
    # inherit that; give the child the default handler so Ctrl-C reaches it as it would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(folder: Path, *args: str) -> subprocess.Popen[str]:
    assert EXE is not None
    return subprocess.Popen(
        [EXE, "run", "tiny.toml", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_default_sigint,
    )


@pytest.mark.slow
def test_sigkill_mid_study_then_rerun_loses_no_completed_trial(tmp_path: Path) -> None:
    import optuna

    write_tiny(tmp_path, n_trials=30, epochs=15, samples=1500)
    process = _start(tmp_path)
    _wait_for(_mid_trial(tmp_path, epochs=15), process, limit=240)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    killed = load(tmp_path).get_trials()
    done = finished(load(tmp_path))
    running = [t.number for t in killed if t.state is optuna.trial.TrialState.RUNNING]
    assert running, "SIGKILL should leave the running trial RUNNING in the storage"

    target = len(done) + 2
    again = paretune("run", "tiny.toml", "--n-trials", str(target), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "recovered trial(s)" in again.stdout
    study = load(tmp_path)
    after = finished(study)
    assert {n: after[n] for n in done} == done  # every completed trial kept, unchanged
    assert len(after) == target
    by_number = {t.number: t for t in study.get_trials()}
    for number in running:
        assert by_number[number].state is optuna.trial.TrialState.FAIL
        assert by_number[number].user_attrs["fail_reason"] == "interrupted"
    # the interrupted strategy was tried again
    retried = [t for t in study.get_trials() if t.user_attrs.get("retry_of") in running]
    assert retried and retried[0].params == by_number[running[0]].params


@pytest.mark.slow
def test_ctrl_c_records_the_running_trial_and_the_next_run_resumes(tmp_path: Path) -> None:
    import optuna

    write_tiny(tmp_path, n_trials=30, epochs=15, samples=1500)
    process = _start(tmp_path)
    _wait_for(_mid_trial(tmp_path, epochs=15), process, limit=240)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    study = load(tmp_path)
    states = [t.state for t in study.get_trials()]
    assert optuna.trial.TrialState.RUNNING not in states
    failed = [t for t in study.get_trials() if t.state is optuna.trial.TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in failed] == ["interrupted"]
    done = finished(study)

    again = paretune("run", "tiny.toml", "--n-trials", str(len(done) + 1), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = finished(load(tmp_path))
    assert {n: after[n] for n in done} == done and len(after) == len(done) + 1


# --- bad input: exit 2, one line naming file / key / value / what is allowed, no traceback -------

GOOD_SPACE = "[space]\nlr = { low = 1e-3, high = 0.1, log = true }\nepochs = 1\n"
HEAD = 'name = "bad"\ntask = "synthetic"\n'

# (files to write, arguments after "paretune", pattern the one-line error must match)
BAD_INPUTS: list[tuple[dict[str, str], list[str], str]] = [
    ({}, ["run", "missing.toml"], r"missing\.toml: no such file"),
    ({}, ["run", "digits-quik"], r"digits-quik: .*did you mean 'digits-quick'"),
    ({"s.toml": "task = \n"}, ["run", "s.toml"], r"s\.toml: is not valid TOML"),
    (
        {"s.toml": HEAD + 'smapler = "tpe"\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: smapler is not a known key \(did you mean 'sampler'\?\)\. Known: ",
    ),
    (
        {"s.toml": HEAD + "[space]\nlr = { low = 0, high = 1, log = true }\n"},
        ["run", "s.toml"],
        r"s\.toml: space\.lr\.low must be > 0 when log = true \(got 0\)",
    ),
    (
        {"s.toml": HEAD + '[space]\noptimizer = ["adamx"]\n'},
        ["run", "s.toml"],
        r"s\.toml: space\.optimizer\[0\] is not allowed \(got \"adamx\"\).*sgd, momentum, nesterov",
    ),
    (
        {"s.toml": HEAD + '[space]\noptimizer = "sgd"\nmomentum = 0.9\n'},
        ["run", "s.toml"],
        r"s\.toml: space\.momentum can never be used: momentum only applies when optimizer",
    ),
    (
        {"s.toml": HEAD + 'objectives = ["accuracy", "speed"]\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: objectives\[1\] must be one of \"accuracy\", \"size_bits\".*\(got \"speed\"\)",
    ),
    (
        {"s.toml": HEAD + 'sampler = "anneal"\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: sampler must be one of \"cmaes\", .*\(got \"anneal\"\)",
    ),
    (
        {"s.toml": HEAD + 'objectives = ["accuracy", "bitops"]\npruner = "median"\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: pruner is not usable \(got \"median\"\): .*single-objective",
    ),
    (
        {"s.toml": HEAD + 'timeout = "soon"\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: timeout must be a duration > 0 .*\(got \"soon\"\)",
    ),
    (
        {"s.toml": HEAD + "constraints = { accuracy = 1 }\n" + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: constraints\.accuracy is not a cost that can be constrained\. Known: size_bits",
    ),
    (
        {"s.toml": 'task = "imagenet"\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: task must be one of \"digits-mlp\", .*\(got \"imagenet\"\)",
    ),
    (
        {"s.toml": HEAD + 'storage = "runs/x.db"\n' + GOOD_SPACE},
        ["run", "s.toml"],
        r"s\.toml: storage is not usable \(got \"runs/x\.db\"\)",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--n-trials", "0"],
        r"--n-trials: must be an integer >= 1 \(got 0\)",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--jobs", "4"],
        r"--jobs: must be 1 with a SQLite storage .*journal:///",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--storage", "mongodb://x/y"],
        r"--storage: is not usable \(got \"mongodb://x/y\"\)",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--device", "gpu"],
        r"--device: must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\" \(got \"gpu\"\)",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--backend", "slurm"],
        r"--backend: must be one of \"local\", \"ray\" \(got \"slurm\"\)",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--gpus-per-trial", "-1"],
        r"--gpus-per-trial: must be a number >= 0\.0 \(got -1\.0\)",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--timeout", "soon"],
        r"argument --timeout: must be a duration > 0",
    ),
    (
        {"s.toml": HEAD + GOOD_SPACE},
        ["run", "s.toml", "--n-trials", "many"],
        r"argument --n-trials: invalid int value: 'many'",
    ),
    (
        {"s.toml": 'task = "cifar10-resnet20"\n' + GOOD_SPACE},
        ["run", "s.toml", "--data-dir", "nowhere"],
        r"--data-dir: does not hold the task's data: CIFAR-10 file 'data_batch_1' not found",
    ),
    ({}, ["status", "nope.toml"], r"nope\.toml: no such file"),
    ({}, ["frobnicate"], r"invalid choice: 'frobnicate'"),
]


@pytest.fixture(scope="module")
def bad_results(tmp_path_factory: pytest.TempPathFactory) -> list[subprocess.CompletedProcess[str]]:
    """Run every bad input at once (two at a time: the machine has two cores)."""
    folders = []
    for index, (files, _, _) in enumerate(BAD_INPUTS):
        folder = tmp_path_factory.mktemp(f"bad{index}")
        for name, text in files.items():
            (folder / name).write_text(text)
        folders.append(folder)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(
            pool.map(
                lambda item: paretune(*item[1][1], cwd=item[0]),
                zip(folders, BAD_INPUTS, strict=True),
            )
        )


@pytest.mark.parametrize("index", range(len(BAD_INPUTS)), ids=[" ".join(b[1]) for b in BAD_INPUTS])
def test_bad_input_exits_2_with_one_message(
    bad_results: list[subprocess.CompletedProcess[str]], index: int
) -> None:
    import re

    result = bad_results[index]
    pattern = BAD_INPUTS[index][2]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert re.search(pattern, result.stderr), result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("paretune")]
    assert len(lines) == 1, result.stderr


def test_the_bad_input_table_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 15
