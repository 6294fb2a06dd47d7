"""The image-folder example: PNG files on disk through a 2-worker DataLoader, via ``paretune run``.

The test writes a small folder of PNG images (3 classes, 16x16), runs the example's study
file through the installed command with pruning and 4-bit QAT, and checks each trial's
recorded sparsity and size against the cost formula, with the prunable-weight count taken from
the example's own model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import optuna
import pytest
import tomllib
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "studies" / "examples" / "image_folder"
EXE = shutil.which("paretune")
pytestmark = pytest.mark.skipif(EXE is None, reason="the paretune command is not installed")

CLASSES = ("circle", "cross", "square")
PER_SPLIT = {"train": 12, "val": 4, "test": 4}  # images per class: 60 in all


def _draw(shape: str, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(6, 10, size=2)
    if shape == "circle":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= 16
    elif shape == "cross":
        mask = (np.abs(yy - cy) <= 1) | (np.abs(xx - cx) <= 1)
    else:
        mask = (np.abs(yy - cy) <= 4) & (np.abs(xx - cx) <= 4)
    image = rng.integers(0, 40, size=(size, size, 3)).astype(np.uint8)
    image[mask] = rng.integers(180, 255, size=3).astype(np.uint8)
    return image


def write_image_folder(root: Path, *, seed: int = 0) -> Path:
    """``root/<split>/<class>/*.png`` with 60 RGB images of 16x16 pixels."""
    rng = np.random.default_rng(seed)
    for split, count in PER_SPLIT.items():
        for shape in CLASSES:
            folder = root / split / shape
            folder.mkdir(parents=True)
            for index in range(count):
                Image.fromarray(_draw(shape, rng)).save(folder / f"{index}.png")
    return root


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "image_folder_task", EXAMPLE / "image_folder_task.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("images") / "shapes")


def test_the_example_task_reads_the_folder(image_root: Path) -> None:
    task = load_example().make_task(str(image_root), size=16, num_workers=0)
    datasets = task.datasets()
    assert [len(getattr(datasets, s)) for s in ("train", "val", "test")] == [36, 12, 12]
    image, label = datasets.val[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and label == 0
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert task.num_classes == 3


@pytest.mark.slow
def test_image_folder_study_runs_with_workers_pruning_and_4_bit_qat(
    image_root: Path, tmp_path: Path
) -> None:
    study = tomllib.loads((EXAMPLE / "image_folder.toml").read_text())
    assert study["task"] == "image_folder_task:make_task"
    assert study["task_options"]["num_workers"] == 2
    study_file = tmp_path / "study.toml"
    study_file.write_text(
        (EXAMPLE / "image_folder.toml")
        .read_text()
        .replace("size = 32,", "size = 16,")
        .replace("n_trials = 24", "n_trials = 3")
        .replace('sampler = { name = "nsga2", population_size = 8 }', 'sampler = "random"')
        .replace("prune_rate = { low = 0.0, high = 0.9 }", "prune_rate = 0.5")
        .replace("bits = [2, 4, 8, 32]", "bits = 4")
        .replace("epochs = 10", "epochs = 2")
    )
    storage = f"sqlite:///{tmp_path / 'image-folder.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    assert EXE is not None
    done = subprocess.run(
        [
            EXE,
            "run",
            str(study_file),
            "--data-dir",
            str(image_root),
            "--storage",
            storage,
            "--device",
            "cpu",
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    task = load_example().make_task(str(image_root), size=16, num_workers=0)
    model = task.new_model(0.0)
    prunable = sum(
        m.weight.numel()
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    )
    params = sum(p.numel() for p in model.parameters())
    trials = optuna.load_study(study_name="image-folder", storage=storage).get_trials()
    assert len(trials) == 3
    for trial in trials:
        assert trial.state is optuna.trial.TrialState.COMPLETE, trial.user_attrs
        attrs = trial.user_attrs
        assert attrs["params"] == params
        # Magnitude pruning zeroes 50 % of the prunable weights; 4-bit rounding may zero a few more.
        assert 0.5 <= attrs["sparsity"] < 0.6
        nonzero_prunable = round((1.0 - attrs["sparsity"]) * prunable)
        assert attrs["size_bits"] == nonzero_prunable * 4 + (params - prunable) * 32
        assert attrs["epochs"] == 2 and len(attrs["curve"]) == 2
        assert 0.0 <= attrs["val_accuracy"] <= 1.0


def test_the_example_refuses_a_folder_without_its_splits(tmp_path: Path) -> None:
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="val is missing"):
        load_example().make_task(str(tmp_path))


if __name__ == "__main__":  # pragma: no cover - write a folder to try the example by hand
    write_image_folder(Path(sys.argv[1]))
