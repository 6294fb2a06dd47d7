"""optuna-dashboard (the real server, on 127.0.0.1) reads a paretune study: trials and front."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pytest
from paretune.search import pareto_front_mask
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_dashboard_serves_the_trials_and_the_pareto_front(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    study = create_synthetic_study(storage=storage, study_name="dash")
    add_synthetic_trials(study, n_trials=40, seed=4)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    mask = pareto_front_mask([[-t.values[0], t.values[1]] for t in complete])
    expected_front = {t.number for t, on in zip(complete, mask, strict=True) if on}

    port = _free_port()
    command = shutil.which("optuna-dashboard")
    prefix = [command] if command else [sys.executable, "-m", "optuna_dashboard"]
    server = subprocess.Popen(
        [*prefix, storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                studies = _get(f"{base}/api/studies")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        listed = {s["study_name"]: s for s in studies["study_summaries"]}  # type: ignore[index]
        assert "dash" in listed
        detail = _get(f"{base}/api/studies/{listed['dash']['study_id']}")
        assert detail["name"] == "dash"  # type: ignore[index]
        assert detail["directions"] == ["maximize", "minimize"]  # type: ignore[index]
        served = detail["trials"]  # type: ignore[index]
        assert [t["number"] for t in served] == [t.number for t in trials]
        first = next(t for t in served if t["state"] == "Complete")
        attrs = {a["key"]: a["value"] for a in first["user_attrs"]}
        assert "strategy" in attrs and "size_bits" in attrs and "curve" in attrs
        best = {t["number"] for t in detail["best_trials"]}  # type: ignore[index]
        assert best == expected_front
        values = np.array([t["values"] for t in detail["best_trials"]])  # type: ignore[index]
        assert values.shape == (len(expected_front), 2)
    finally:
        server.terminate()
        server.wait(timeout=30)
