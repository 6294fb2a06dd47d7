"""``paretune run`` on a real PostgreSQL server (and a journal file): separate processes end
with exactly ``n_trials``, a killed run loses nothing, and the Ray backend writes there too.

The server is the session's throw-away one (tests/postgres_server.py); each test gets its own
database. Every ``paretune run`` is the installed command in its own process, as on several
hosts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

EXE = shutil.which("paretune")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXE is None, reason="the paretune command is not installed"),
]

STUDY = """\
name = "quota"
task = "synthetic"
task_options = {{ n_samples = {samples} }}
objectives = ["accuracy", "size_bits"]
sampler = "random"
n_trials = {n_trials}
seed = 0

[space]
optimizer = ["sgd", "adam"]
lr = {{ low = 1e-3, high = 0.3, log = true }}
epochs = {epochs}
"""


def _write(folder: Path, *, n_trials: int, epochs: int = 1, samples: int = 200) -> None:
    text = STUDY.format(n_trials=n_trials, epochs=epochs, samples=samples)
    (folder / "quota.toml").write_text(text)


def _start(folder: Path, storage: str, *args: str) -> subprocess.Popen[str]:
    assert EXE is not None
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "RAY_AUTH_MODE": "disabled",
    }
    return subprocess.Popen(
        [EXE, "run", "quota.toml", "--storage", storage, "--quiet", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    from paretune.search import make_storage

    study = optuna.load_study(study_name="quota", storage=make_storage(storage))
    return study.get_trials(deepcopy=False)


def _assert_exact(storage: str, n_trials: int) -> list[optuna.trial.FrozenTrial]:
    """Exactly ``n_trials`` finished trials, none left RUNNING or queued, no number or
    strategy twice among them."""
    trials = _trials(storage)
    states = [t.state for t in trials]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials, f"{len(finished)} finished trials: {states}"
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    strategies = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(strategies)) == len(strategies)
    return trials


@pytest.mark.parametrize("kind", ["postgresql", "journal"])
def test_four_runs_of_fifty_trials_end_with_exactly_fifty(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "postgresql":
        storage: str = request.getfixturevalue("postgres_url")
    else:
        storage = f"journal:///{tmp_path}/runs/quota.log"
    _write(tmp_path, n_trials=50)
    runs = [_start(tmp_path, storage) for _ in range(4)]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert "Traceback" not in err
    trials = _assert_exact(storage, 50)
    # each trial was run by one of the four processes (the worker token names its pid)
    pids = {t.system_attrs["paretune:worker"].split(":")[1] for t in trials}
    assert pids <= {str(run.pid) for run in runs}
    assert len(pids) >= 2, "the four runs should share the trials"
    # no run claims more than the study holds; the last one to end says 50/50
    for out, _ in outputs:
        held = [line for line in out.splitlines() if "The study holds" in line]
        assert held and "/50 finished trials" in held[0] and "51/50" not in held[0]
    assert any("holds 50/50 finished trials" in out for out, _ in outputs)


#: The killed run's trials are long enough that most of its life is spent mid-trial.
KILL_EPOCHS = 60


def _running_of(storage: str, pid: int) -> list[Any]:
    # plain Optuna: opening paretune's storage takes an advisory lock a frozen run may hold
    study = optuna.load_study(study_name="quota", storage=storage)
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state is TrialState.RUNNING
        and t.system_attrs.get("paretune:worker", "").split(":")[1:2] == [str(pid)]
        and 1 <= len(t.user_attrs.get("curve") or ()) < KILL_EPOCHS
    ]


def _kill_mid_trial(victim: subprocess.Popen[str], storage: str) -> list[Any]:
    """SIGKILL ``victim`` while one of its trials is mid-way; return that trial.

    Once a look sees the run mid-trial, the run is frozen (SIGSTOP), looked at again and killed
    while still frozen, so what the second look saw is what the kill leaves behind: the trial
    cannot finish between the check and the kill, however fast its epochs are. A look that
    waits on something the frozen run holds is given up after a few seconds.
    """
    deadline = time.monotonic() + 300
    with futures.ThreadPoolExecutor(max_workers=1) as pool:
        while True:
            assert time.monotonic() < deadline, "the run never got mid-trial"
            assert victim.poll() is None, victim.communicate()
            try:
                seen = _running_of(storage, victim.pid)
            except KeyError:  # the study does not exist yet
                seen = []
            if seen:
                victim.send_signal(signal.SIGSTOP)
                look = pool.submit(_running_of, storage, victim.pid)
                try:
                    caught = look.result(timeout=5)
                except futures.TimeoutError:  # the builtin one from Python 3.11
                    caught = []
                if caught:
                    victim.send_signal(signal.SIGKILL)  # its trial stays RUNNING in the storage
                    return caught
                victim.send_signal(signal.SIGCONT)
                futures.wait([look])
            time.sleep(0.05)


def test_a_run_killed_mid_trial_beside_another_then_resumed(
    tmp_path: Path, postgres_url: str
) -> None:
    _write(tmp_path, n_trials=8, epochs=KILL_EPOCHS, samples=400)
    survivor, victim = _start(tmp_path, postgres_url), _start(tmp_path, postgres_url)
    caught = _kill_mid_trial(victim, postgres_url)
    victim.communicate(timeout=60)
    out, err = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, err
    # the survivor took the dead run's slot back: FAIL interrupted, its strategy queued again
    again = _start(tmp_path, postgres_url)
    again_out, again_err = again.communicate(timeout=600)
    assert again.returncode == 0, again_err
    trials = _assert_exact(postgres_url, 8)
    killed = next(t for t in trials if t.number == caught[0].number)
    assert killed.state is TrialState.FAIL
    assert killed.user_attrs["fail_reason"] == "interrupted"
    retried = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params


@pytest.mark.ray
def test_the_ray_backend_and_a_local_run_share_a_postgresql_study(
    tmp_path: Path, postgres_url: str
) -> None:
    pytest.importorskip("ray", reason="ray is not installed")
    _write(tmp_path, n_trials=6, epochs=3, samples=600)
    ray_run = _start(tmp_path, postgres_url, "--backend", "ray", "--storage-path", "ray")

    def ray_started() -> bool:
        try:
            return any(
                t.system_attrs.get("paretune:worker", "").split(":")[1:2] == [str(ray_run.pid)]
                for t in _trials(postgres_url)
            )
        except Exception:  # the study may not exist yet
            return False

    deadline = time.monotonic() + 300
    while not ray_started():  # the local run joins once the Ray driver has asked a trial
        assert time.monotonic() < deadline, "the Ray run started no trial"
        assert ray_run.poll() is None, ray_run.communicate()
        time.sleep(0.2)
    local = _start(tmp_path, postgres_url)
    for run in (ray_run, local):
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err + out
    trials = _assert_exact(postgres_url, 6)
    pids = {t.system_attrs["paretune:worker"].split(":")[1] for t in trials}
    assert str(ray_run.pid) in pids and pids <= {str(ray_run.pid), str(local.pid)}
