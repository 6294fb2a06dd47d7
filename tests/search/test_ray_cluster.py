"""run_ray on a real ``ray start --head`` cluster: the CLI, and a driver interrupted and resumed.

The cluster is started with ``ray start --head --block`` and stopped by terminating that
process, which stops exactly the Ray processes it started (``ray stop`` would stop every Ray
on the machine, other users' included).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

pytest.importorskip("ray", reason="ray is not installed")

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the Ray head did not listen on port {port} within {seconds} s")


# The test cluster runs without Ray's token authentication; every driver must say so too
# (an earlier ray.init in this process sets RAY_AUTH_MODE=token in os.environ).
NO_AUTH = {"RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A one-node Ray cluster (2 CPUs) on 127.0.0.1; yields its address."""
    if shutil.which("ray") is None:
        pytest.skip("the `ray` command is not on PATH")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths
    env = {**os.environ, **NO_AUTH}
    head = subprocess.Popen(
        [
            "ray",
            "start",
            "--head",
            "--block",
            "--port",
            str(port),
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--temp-dir",
            temp_dir,
        ],  # fmt: skip
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, head, 60)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


STUDY = """\
name = "cluster-cli"
task = "synthetic"
objectives = ["accuracy"]
sampler = "random"
n_trials = 2
seed = 0

[task_options]
n_samples = 300

[space]
optimizer = ["sgd", "adam"]
lr = { low = 1e-3, high = 0.1, log = true }
epochs = 2
"""


@pytest.mark.ray
@pytest.mark.slow
def test_cli_runs_the_study_on_the_cluster(cluster: str, workdir: Path) -> None:
    Path("study.toml").write_text(STUDY)
    done = subprocess.run(
        ["paretune", "run", "study.toml", "--backend", "ray", "--address", cluster],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **NO_AUTH},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    study = optuna.load_study(study_name="cluster-cli", storage="sqlite:///runs/cluster-cli.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(t.user_attrs["epochs"] == 2 for t in study.trials)
    assert Path("runs", "ray", "cluster-cli").is_dir()  # the Ray experiment, next to the study


# Trials long enough that one seen early in its run is still running when Ctrl-C lands (a
# trial seen one epoch before its end could finish first, leaving only fresh trials running).
EPOCHS = 15
EPOCH_SECONDS = 0.4

DRIVER = """\
import functools, importlib.util, sys
from pathlib import Path
from ray import cloudpickle

spec = importlib.util.spec_from_file_location("ray_helpers", {helpers!r})
helpers = importlib.util.module_from_spec(spec)
sys.modules["ray_helpers"] = helpers
spec.loader.exec_module(helpers)
cloudpickle.register_pickle_by_value(helpers)

from paretune.search import run_ray
from paretune.spaces import Fixed, FloatDistribution, StrategySpace

# A continuous lr: each trial's lr names it in the objective's marker files.
space = StrategySpace(
    params={{
        "lr": FloatDistribution(low=0.05, high=1.6, log=True),
        "epochs": Fixed(value={epochs}),
    }}
)
summary = run_ray(
    helpers._spec(Path({tmp!r}), "resumed", space=space),
    objective_factory=functools.partial(helpers.sleepy, {seconds}, {markers!r}),
    n_trials=4,
    address={address!r},
    max_concurrent=2,
    storage_path=Path({tmp!r}, "ray"),
)
print("done", summary.done)
"""


@pytest.mark.ray
@pytest.mark.slow
def test_an_interrupted_driver_is_resumed_without_duplicates(cluster: str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    script = DRIVER.format(
        helpers=str(HERE / "test_ray_executor.py"),
        tmp=str(tmp_path),
        markers=str(markers),
        address=cluster,
        epochs=EPOCHS,
        seconds=EPOCH_SECONDS,
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **NO_AUTH},
    )
    storage = f"sqlite:///{tmp_path}/resumed.db"
    deadline = time.monotonic() + 120
    complete: list[optuna.trial.FrozenTrial] = []
    midway: list[optuna.trial.FrozenTrial] = []
    while time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name="resumed", storage=storage).trials
        except KeyError:  # the driver has not created the study yet
            continue
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        midway = [
            t
            for t in trials
            # Two epochs reported: the driver has surely received the first epoch's checkpoint.
            # At most a third: two thirds of the trial are left for the signal to land in.
            if t.state == optuna.trial.TrialState.RUNNING
            and 2 <= len(t.user_attrs.get("curve", [])) <= EPOCHS // 3
        ]
        if complete and midway:
            break
    assert complete and midway, "no trial completed or half-way before the interruption"
    driver.send_signal(signal.SIGINT)  # Ctrl-C
    output, _ = driver.communicate(timeout=120)
    assert driver.returncode != 0, output.decode()[-3000:]
    assert b"running the same command again resumes them" in output

    # The trials left running, by lr, with the epochs the interrupted driver had recorded.
    interrupted = {
        t.params["lr"]: len(t.user_attrs.get("curve", []))
        for t in optuna.load_study(study_name="resumed", storage=storage).trials
        if t.state == optuna.trial.TrialState.RUNNING
    }
    assert max(interrupted.values(), default=0) >= 2, interrupted  # one was half-way
    first_run = set(markers.iterdir())
    before = {t.number: t.datetime_complete for t in complete}
    # Run the same command again: a fresh driver restores the experiment and completes it.
    resumed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **NO_AUTH},
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "done 4" in resumed.stdout
    trials = optuna.load_study(study_name="resumed", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4  # none twice
    for trial in trials:
        assert [p["epoch"] for p in trial.user_attrs["curve"]] == list(range(1, EPOCHS + 1))
        if trial.number in before:  # recorded before the interruption, left alone
            assert trial.datetime_complete == before[trial.number]
    # Each interrupted trial continued from the last checkpoint the driver had received: the
    # one of its last recorded epoch, or of the epoch before (the last one's may have been on
    # its way). Epoch 1 only for a trial that had recorded at most one epoch.
    first_epoch = {
        call["lr"]: call["start"]
        for call in (json.loads(path.read_text()) for path in set(markers.iterdir()) - first_run)
    }
    for lr, recorded in interrupted.items():
        assert recorded <= first_epoch[lr] <= recorded + 1, (lr, recorded, first_epoch)
