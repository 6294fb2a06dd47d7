"""``paretune run --backend ray`` on a two-node Ray cluster on this machine: trials spread over
both nodes, and a node killed mid-run loses nothing.

The head (``ray start --head``, 1 CPU) and a second node (``ray start --address``, 1 CPU, its
own IP 127.0.0.2 and a ``node2`` resource) each run ``ray start --block`` in a session of
their own. Ray Tune records, with every result, the IP of the node that produced it
(``node_ip`` in the experiment's ``result.json``, next to the study's trial number): that is
how the tests see where each trial ran. The second node is killed as a machine dies: SIGKILL
to every process it started (its raylet and the workers on it), nothing stopped cleanly.
"""

from __future__ import annotations

import contextlib
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
from typing import Any

import optuna
import pytest

pytest.importorskip("ray", reason="ray is not installed")

NODE2_IP = "127.0.0.2"
# The test cluster runs without Ray's token authentication; every driver must say so too.
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _can_bind(ip: str) -> bool:
    try:
        with socket.socket() as sock:
            sock.bind((ip, 0))
    except OSError:
        return False
    return True


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


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a ``ray start --block``: SIGTERM stops exactly the processes it started."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (read from /proc: Ray's workers start their own
    process groups, so a process-group kill would miss them)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    """The head node (1 CPU) on 127.0.0.1; yields its address."""
    if shutil.which("ray") is None:
        pytest.skip("the `ray` command is not on PATH")
    if not sys.platform.startswith("linux") or not _can_bind(NODE2_IP):
        pytest.skip(f"a second node needs its own loopback address {NODE2_IP} (Linux)")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="rm", dir="/tmp")  # short: Ray's socket paths
    process = subprocess.Popen(
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
            "1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--temp-dir",
            temp_dir,
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, process, 120)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


#: Waits until the cluster holds two live nodes, the second one at NODE2_IP.
WAIT_FOR_NODES = """\
import sys, time
import ray

ray.init(address=sys.argv[1], logging_level="ERROR")
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    alive = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
    if len(alive) == 2 and sys.argv[2] in alive:
        sys.exit(0)
    time.sleep(0.5)
sys.exit(f"live nodes: {alive}")
"""


@pytest.fixture
def node2(head: str) -> Iterator[subprocess.Popen[bytes]]:
    """A second node (1 CPU, IP 127.0.0.2) joined to the head; yields its ``ray start``."""
    process = subprocess.Popen(
        [
            "ray",
            "start",
            "--block",
            "--address",
            head,
            "--node-ip-address",
            NODE2_IP,
            "--num-cpus",
            "1",
            "--resources",
            json.dumps({"node2": 1}),
            "--disable-usage-stats",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        joined = subprocess.run(
            [sys.executable, "-c", WAIT_FOR_NODES, head, NODE2_IP],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert joined.returncode == 0, joined.stderr[-2000:]
        yield process
    finally:
        _stop(process)


STUDY = """\
name = "{name}"
task = "synthetic"
objectives = ["accuracy"]
sampler = "random"
n_trials = {n_trials}
seed = 0

[task_options]
n_samples = {samples}

[space]
optimizer = ["sgd", "adam"]
lr = {{ low = 1e-3, high = 0.1, log = true }}
epochs = {epochs}
"""


def _write_study(folder: Path, **values: Any) -> Path:
    path = folder / "study.toml"
    path.write_text(STUDY.format(**values))
    return path


def _results(folder: Path, name: str) -> dict[int, list[tuple[str, int]]]:
    """Each study trial's Tune results so far: ``(node_ip, epoch)`` in the order reported."""
    rows: dict[int, list[tuple[str, int]]] = {}
    for path in sorted((folder / "runs" / "ray" / name).glob("*/result.json")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # the line being written
                continue
            if "epoch" in row and "paretune_result" not in row:  # one row per epoch
                number = int(row["config"]["paretune_trial"])
                rows.setdefault(number, []).append((row["node_ip"], int(row["epoch"])))
    return rows


def _trials(folder: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{folder}/runs/{name}.db"
    return optuna.load_study(study_name=name, storage=storage).trials


def _epochs(trial: optuna.trial.FrozenTrial) -> list[int]:
    return [int(point["epoch"]) for point in trial.user_attrs["curve"]]


def test_trials_spread_over_both_nodes(
    head: str, node2: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # trials long enough (seconds each) that the second node's first worker, which starts
    # while the head trains, takes one: Tune reuses a finished trial's actor for the next
    # trial, so with short trials the head's one actor could train them all
    epochs = 12
    _write_study(tmp_path, name="spread", n_trials=4, samples=12000, epochs=epochs)
    done = subprocess.run(
        ["paretune", "run", "study.toml", "--backend", "ray", "--address", head, "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=480,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    trials = _trials(tmp_path, "spread")
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all(_epochs(t) == list(range(1, epochs + 1)) for t in trials)
    where = {
        number: {ip for ip, _ in rows} for number, rows in _results(tmp_path, "spread").items()
    }
    assert sorted(where) == [0, 1, 2, 3]
    nodes = set().union(*where.values())
    assert len(nodes) == 2 and NODE2_IP in nodes, where  # both nodes trained trials


def test_a_node_killed_mid_run_loses_nothing(
    head: str, node2: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    epochs = 8
    # seconds-long trials, so the second node's first worker takes one (see the test above)
    _write_study(tmp_path, name="killed", n_trials=3, samples=12000, epochs=epochs)
    run = subprocess.Popen(
        ["paretune", "run", "study.toml", "--backend", "ray", "--address", head, "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        # Kill the second node once one of its trials has checkpointed an epoch.
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
            on_node2 = [
                (number, rows)
                for number, rows in _results(tmp_path, "killed").items()
                if rows and rows[-1][0] == NODE2_IP and rows[-1][1] < epochs
            ]
            if on_node2:
                victim = on_node2[0][0]
        assert victim is not None, "no trial ran on the second node before the run ended"
        for pid in _descendants(node2.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = run.communicate(timeout=480)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, out[-2000:] + err[-4000:]

    # nothing lost, nothing recorded twice: exactly n_trials trials, each complete and whole
    trials = _trials(tmp_path, "killed")
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert all(_epochs(t) == list(range(1, epochs + 1)) for t in trials)
    # the victim's trial went on from its checkpoint on the head: not from epoch 1
    rows = _results(tmp_path, "killed")[victim]
    before = [epoch for ip, epoch in rows if ip == NODE2_IP]
    after = [epoch for ip, epoch in rows if ip != NODE2_IP]
    assert before and after, rows
    assert rows[: len(before)] == [(NODE2_IP, e) for e in before], rows  # node 2, then the head
    assert after[0] > 1 and after[-1] == epochs, rows
    # it resumed from the last checkpoint: at most the epoch under way when killed re-ran, or
    # none, when that epoch's checkpoint was stored but Tune's result row for it never reached
    # the driver's result.json (the study's curve above is whole either way)
    assert after[0] <= before[-1] + 2, rows
