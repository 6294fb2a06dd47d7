"""``paretune select --export`` and ``StudyResult.export``: a retrain like a trial (one torch
thread, progress per epoch), an honest card, a folder that is never overwritten or written
through a link unasked, and no code imported because a storage names it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from paretune import trainers
from paretune.search import make_storage
from paretune.studies import Study, StudyResult, UntrustedTaskError

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY = """
name = "export-mini"
task = "digits-mlp"
objectives = ["accuracy", "size_bits"]
sampler = "random"
pruner = "none"
n_trials = 2
seed = 0

[space]
optimizer = "adam"
lr = { low = 3e-3, high = 1e-2, log = true }
prune_rate = 0.6
bits = 4
epochs = 2
"""

#: A user task module that leaves a marker file when it is imported.
EVIL = """
from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("the storage ran my code")

def make():
    raise RuntimeError("never reached")
"""


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run([*prefix, *args], cwd=folder, capture_output=True, text=True, timeout=600)


def _refused(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paretune: error: "), done.stderr
    assert words in lines[0], lines[0]


@pytest.mark.slow
def test_select_export_retrains_like_a_trial_and_writes_an_honest_export(workdir: Path) -> None:
    (workdir / "mini.toml").write_text(STUDY)
    ran = _paretune(workdir, "run", "mini.toml", "--quiet", "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    (workdir / "taken").mkdir()
    (workdir / "taken" / "notes.txt").write_text("mine")
    _refused(
        _paretune(workdir, "select", "mini.toml", "--export", "taken"),
        "already holds files: export into a new folder, or pass --force to write over them",
    )
    (workdir / "elsewhere").mkdir()
    (workdir / "link").symlink_to(workdir / "elsewhere", target_is_directory=True)
    _refused(
        _paretune(workdir, "select", "mini.toml", "--export", "link", "--force"), "symbolic link"
    )
    _refused(_paretune(workdir, "select", "mini.toml", "--force"), "needs --export DIR")
    assert list((workdir / "elsewhere").iterdir()) == []

    done = _paretune(
        workdir, "select", "mini.toml", "--knee", "--export", "model", "--json", "--device", "cpu"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    chosen, exported = document["chosen"], document["export"]
    number = chosen["trial"]
    assert f"retraining trial {number}: epoch 2/2" in done.stderr  # progress per epoch
    assert exported["val_accuracy"] == chosen["val_accuracy"]  # the study's, not the retrain's
    assert exported["threads"] == 1 and exported["onnx_skipped"] is None

    folder = workdir / "model"
    loaded = trainers.load_exported(folder)
    metrics = loaded.metrics
    assert metrics["study"] == "export-mini" and metrics["trial"] == number
    assert metrics["val_accuracy"] == chosen["val_accuracy"] != 1.0
    assert metrics["test_accuracy"] == exported["test_accuracy"]
    task = trainers.get_task("digits-mlp")
    assert trainers.evaluate(loaded.network, task) == exported["test_accuracy"]
    assert loaded.strategy.to_dict() == trainers.Strategy.from_dict(chosen["strategy"]).to_dict()
    assert metrics["threads"] == 1 and metrics["epochs"] == 2
    assert metrics["size_bits"] == exported["size_bits"]
    weights = [
        m.weight.detach() for m in loaded.network.modules() if isinstance(m, torch.nn.Linear)
    ]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros >= 0.55  # prune_rate 0.6: really sparse
    for w in weights:  # 4-bit weights, one scale per output channel: <= 16 values per row
        assert max(torch.unique(row).numel() for row in w) <= 16
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"(study 'export-mini', trial {number})" in card
    assert f"| validation accuracy | {chosen['val_accuracy']:.4f}" in card
    assert f"| test accuracy | {exported['test_accuracy']:.4f}" in card
    assert "with 1 torch thread (train + validation splits)" in card
    assert (folder / "model.onnx").is_file() and not (folder / "model.pt").exists()


def _storage_naming(folder: Path, task: str) -> str:
    """A SQLite storage holding one complete trial of a study whose metadata names ``task``."""
    url = f"sqlite:///{folder}/evil.db"
    study = optuna.create_study(
        study_name="evil", storage=make_storage(url), directions=["maximize", "minimize"]
    )
    study.set_user_attr("objectives", ["accuracy", "size_bits"])
    study.set_user_attr(
        "metadata", {"task": task, "task_options": {"command": "touch RAN"}, "data_dir": None}
    )
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.9, 1000.0],
            user_attrs={
                "val_accuracy": 0.9,
                "size_bits": 1000.0,
                "strategy": {"lr": 0.01, "epochs": 1},
            },
        )
    )
    return url


@pytest.mark.slow
def test_a_task_named_only_by_the_storage_is_never_imported(tmp_path: Path) -> None:
    (tmp_path / "evil_task.py").write_text(EVIL)
    url = _storage_naming(tmp_path, "evil_task:make")
    refused = _paretune(tmp_path, "select", "--storage", url, "--study", "evil", "--export", "out")
    _refused(refused, "which is code (a user task)")
    assert "--trust-task" in refused.stderr
    (tmp_path / "other.toml").write_text(
        f'name = "evil"\ntask = "synthetic"\nstorage = "{url}"\n[space]\nlr = 0.1\n'
    )
    refused = _paretune(tmp_path, "select", "other.toml", "--export", "out")
    _refused(refused, "the study file given names 'synthetic' instead")
    with pytest.raises(UntrustedTaskError, match="'evil_task:make', which is code"):
        StudyResult.open(name="evil", storage=url).export(0, tmp_path / "out")
    (tmp_path / "os").mkdir()
    url = _storage_naming(tmp_path / "os", "os:system")  # its options name a command to run
    _refused(
        _paretune(tmp_path, "select", "--storage", url, "--study", "evil", "--export", "out"),
        "'os:system', which is code",
    )
    assert not (tmp_path / "IMPORTED").exists() and not (tmp_path / "RAN").exists()
    assert not (tmp_path / "out").exists()


PROBE = """
import torch
from paretune.trainers import DataSplits, Task

THREADS = []


def _model(dropout):
    THREADS.append(torch.get_num_threads())  # the threads torch trains with
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return DataSplits(x_train=x[:80], y_train=y[:80], x_val=x[80:100], y_val=y[80:100],
                      x_test=x[100:], y_test=y[100:])


def make_task():
    return Task(name="probe_task:make_task", build_model=_model, load_data=_data,
                input_shape=(4,), num_classes=2)
"""


@pytest.mark.slow
def test_the_python_export_of_a_user_task_uses_one_thread_and_its_card_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "probe_task.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    study = Study(
        name="probe",
        task="probe_task:make_task",
        objectives=["accuracy", "size_bits"],
        space={"lr": 0.05, "epochs": 2, "bits": 8},
        n_trials=1,
        storage=f"sqlite:///{tmp_path}/probe.db",
        device="cpu",
    )
    result = study.run()
    import probe_task

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        probe_task.THREADS.clear()
        exported = result.export(0, tmp_path / "model", device="cpu")
        assert probe_task.THREADS and set(probe_task.THREADS) == {1}
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(previous)
    assert exported.threads == 1 and exported.onnx_skipped == ""
    with pytest.raises(ValueError, match="never imports code on its own"):
        trainers.load_exported(exported.directory)
    card = (exported.directory / "MODEL_CARD.md").read_text()
    block = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)[0]
    assert "get_task('probe_task:make_task'" in block
    ran = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert re.search(r"tensor\(\[\d\]\)", ran.stdout), ran.stdout
