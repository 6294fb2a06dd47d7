"""SIGTERM (what Kubernetes, Slurm and ``kill`` send) is Ctrl-C: the running trial is
recorded as failed (interrupted) and queued first for the next run, and ``paretune run``
exits 143 (128 + SIGTERM). Run on the installed command in a subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

EPOCHS = 40
#: 3,000 samples: epochs of a few tens of milliseconds, so a poll (every 0.2 s, plus the read)
#: finds a trial in its first third (the study's trials are not over before one does)
STUDY = f"""\
name = "term"
task = "synthetic"
task_options = {{ n_samples = 3000 }}
sampler = "random"
n_trials = 5
seed = 3
[space]
lr = {{ low = 1e-3, high = 0.1, log = true }}
epochs = {EPOCHS}
"""


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _trials(folder: Path) -> list[FrozenTrial]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (folder / "runs" / "term.db").exists():  # the run has not opened it yet
        return []
    import sqlalchemy.exc

    try:
        study = optuna.load_study(study_name="term", storage=f"sqlite:///{folder}/runs/term.db")
    except KeyError:  # not created yet
        return []
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
        return []  # the run is creating the tables at this moment (it opens them all the same)
    return list(study.get_trials())


def _running_early(folder: Path) -> bool:
    """A trial is running and has reported an epoch, well before its last one (so the signal
    lands mid-trial, not between trials)."""
    import optuna

    return any(
        t.state is optuna.trial.TrialState.RUNNING
        and 1 <= len(t.intermediate_values) <= EPOCHS // 3
        for t in _trials(folder)
    )


@pytest.mark.slow
def test_sigterm_mid_trial_records_it_interrupted_exits_143_and_it_runs_first_next(
    tmp_path: Path,
) -> None:
    import optuna

    (tmp_path / "term.toml").write_text(STUDY)
    assert EXE is not None
    process = subprocess.Popen(
        [EXE, "run", "term.toml", "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        # started as a background job is (`paretune run ... &`): SIGINT ignored, also by the
        # workers it starts unless they set their own handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 240
    while not _running_early(tmp_path):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no trial started in time"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err

    trials = _trials(tmp_path)
    states = [t.state for t in trials]
    assert optuna.trial.TrialState.RUNNING not in states
    failed = [t for t in trials if t.state is optuna.trial.TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in failed] == ["interrupted"]
    stopped = failed[0]
    # n_trials counts the study's finished trials: the signal may land in a later trial
    finished = sum(
        t.state.is_finished() and t.state is not optuna.trial.TrialState.FAIL for t in trials
    )

    again = subprocess.run(
        [EXE, "run", "term.toml", "--quiet", "--n-trials", str(finished + 1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert again.returncode == 0, again.stderr
    after = _trials(tmp_path)
    first_new = min(
        (t for t in after if t.number > stopped.number),
        key=lambda t: t.number,
    )
    assert first_new.user_attrs.get("retry_of") == stopped.number
    assert first_new.params == stopped.params
    assert first_new.state is optuna.trial.TrialState.COMPLETE


@pytest.mark.slow
def test_sigterm_with_worker_processes_interrupts_each_running_trial(tmp_path: Path) -> None:
    """``--jobs 2``: SIGTERM reaches only the parent (as Kubernetes sends it); the parent
    passes it on as Ctrl-C, so each worker records its trial interrupted and queues it."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    # long trials (400 epochs of about 0.2 s): the signal lands while both run, even on a busy
    # machine where reading the journal between polls takes a while
    (tmp_path / "term.toml").write_text(
        STUDY.replace(f"epochs = {EPOCHS}", "epochs = 400")
        .replace("n_samples = 3000", "n_samples = 20000")
        .replace("n_trials = 5", 'n_trials = 4\njobs = 2\nstorage = "journal:///runs/term.log"')
    )
    log = tmp_path / "runs" / "term.log"

    def trials() -> list[FrozenTrial]:
        if not log.exists():
            return []
        storage = JournalStorage(JournalFileBackend(str(log)))
        try:
            return list(optuna.load_study(study_name="term", storage=storage).get_trials())
        except KeyError:
            return []

    assert EXE is not None
    process = subprocess.Popen(
        [EXE, "run", "term.toml", "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        # started as a background job is (`paretune run ... &`): SIGINT ignored, also by the
        # workers it starts unless they set their own handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 240
    while sum(t.state is optuna.trial.TrialState.RUNNING for t in trials()) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the two workers did not start trials in time"
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    # each worker records its trial and exits on the parent's Ctrl-C (the parent would wait
    # 60 s for a worker that does not, then terminate it)
    _, err = process.communicate(timeout=55)
    assert process.returncode == 143, err
    after = trials()
    states = [t.state for t in after]
    assert optuna.trial.TrialState.RUNNING not in states
    failed = [t for t in after if t.state is optuna.trial.TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in failed] == ["interrupted", "interrupted"]
    queued = [t for t in after if t.state is optuna.trial.TrialState.WAITING]
    assert sorted(t.user_attrs["retry_of"] for t in queued) == sorted(t.number for t in failed)
