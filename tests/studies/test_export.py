"""``paretune select --export``: a real retrain, and the export reloads with the same accuracy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from paretune import trainers

pytestmark = pytest.mark.slow

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
epochs = 3
"""


def _paretune(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("paretune")
    prefix = [command] if command else [sys.executable, "-m", "paretune.studies"]
    return subprocess.run([*prefix, *args], cwd=folder, capture_output=True, text=True, timeout=600)


def test_export_retrains_and_reloads_sparse_and_quantized(workdir: Path) -> None:
    (workdir / "mini.toml").write_text(STUDY)
    ran = _paretune(workdir, "run", "mini.toml", "--quiet", "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    done = _paretune(
        workdir, "select", "mini.toml", "--knee", "--export", "model", "--json", "--device", "cpu"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    exported = document["export"]
    assert exported["reloaded_test_accuracy"] == exported["test_accuracy"]

    folder = workdir / "model"
    assert {"MODEL_CARD.md", "strategy.json", "metrics.json"} <= {p.name for p in folder.iterdir()}
    loaded = trainers.load_exported(folder)
    assert (
        loaded.strategy.to_dict()
        == trainers.Strategy.from_dict(document["chosen"]["strategy"]).to_dict()
    )
    task = trainers.get_task("digits-mlp")
    assert trainers.evaluate(loaded.model, task, split="test") == exported["test_accuracy"]
    assert loaded.metrics["test_accuracy"] == exported["test_accuracy"]

    weights = [m.weight.detach() for m in loaded.model.modules() if isinstance(m, torch.nn.Linear)]
    assert weights
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros >= 0.55  # prune_rate 0.6: really sparse
    for w in weights:  # 4-bit weights, one scale per output channel: <= 16 values per row
        assert max(torch.unique(row).numel() for row in w) <= 16
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    for word in ("accuracy", "sparsity", "bits"):
        assert word in card.lower()
