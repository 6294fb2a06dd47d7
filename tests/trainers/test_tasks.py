"""Tasks: registry, options, MNIST / CIFAR-10 files of the real formats, user factories."""

from __future__ import annotations

import dataclasses
import pickle
import re
import struct
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from paretune.trainers import (
    CIFAR10_FILES,
    MNIST_FILES,
    DataSplits,
    Strategy,
    Task,
    TaskSpec,
    TrainStatus,
    describe_tasks,
    get_task,
    list_tasks,
    read_idx,
    register_task,
    train,
)

BUILT_IN = [
    "digits-mlp",
    "digits-cnn",
    "synthetic",
    "mnist-mlp",
    "mnist-lenet5",
    "cifar10-resnet20",
    "diabetes-mlp",
]


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(folder: Path, *, train: int = 60, test: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        names = (
            ("train_images", "train_labels") if split == "train" else ("test_images", "test_labels")
        )
        labels = np.arange(count) % 10
        images = rng.integers(0, 256, size=(count, 28, 28))
        write_idx(folder / MNIST_FILES[names[0]], images)
        write_idx(folder / MNIST_FILES[names[1]], labels)
    return folder


def write_cifar(folder: Path, *, per_batch: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [i % 10 for i in range(per_batch)],
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        with (folder / name).open("wb") as stream:
            pickle.dump(batch, stream)
    return folder


def test_list_and_describe_tasks() -> None:
    assert list_tasks() == BUILT_IN
    assert set(describe_tasks()) == set(BUILT_IN)
    assert all(describe_tasks().values())


def test_unknown_task_and_options_list_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown task 'imagenet'\. Known: digits-mlp, "):
        get_task("imagenet")
    with pytest.raises(
        ValueError,
        match=r"Unknown option\(s\) depth for task 'synthetic'\. "
        r"Known: n_samples, n_features",
    ):
        get_task("synthetic", options={"depth": 3})
    with pytest.raises(ValueError, match="'n_informative' option of task 'synthetic' must be"):
        get_task("synthetic", options={"n_features": 4})
    with pytest.raises(ValueError, match="give data_dir"):
        get_task("mnist-mlp")


def test_duplicate_task_registration_raises() -> None:
    spec = TaskSpec(
        name="digits-mlp", description="again", builder=lambda d, o: get_task("x"), options={}
    )
    with pytest.raises(ValueError, match="already registered"):
        register_task(spec)


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "synthetic"])
def test_builtin_tasks_without_files_split_stratified(name: str) -> None:
    task = get_task(name)
    data = task.data()
    assert task.name == name and task.default_epochs >= 1 and task.description
    assert tuple(data.x_train.shape[1:]) == task.input_shape
    sizes = [len(data.y_train), len(data.y_val), len(data.y_test)]
    assert sizes[0] > sizes[1] > 0 and sizes[2] > 0
    for y in (data.y_train, data.y_val, data.y_test):  # every class in every split
        assert len(torch.unique(y)) == task.num_classes
    assert task.data() is data  # loaded once
    assert get_task(name).data().x_test.equal(data.x_test)  # the fixed split seed


def test_digits_split_seed_option_changes_the_split() -> None:
    a = get_task("digits-mlp").data()
    b = get_task("digits-mlp", options={"split_seed": 1}).data()
    assert not torch.equal(a.x_test, b.x_test)


def test_read_idx_reads_what_we_wrote(tmp_path: Path) -> None:
    array = np.arange(24).reshape(2, 3, 4)
    write_idx(tmp_path / "x", array)
    with (tmp_path / "x").open("rb") as stream:
        np.testing.assert_array_equal(read_idx(stream), array)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x09\x01")
    with (tmp_path / "bad").open("rb") as stream, pytest.raises(ValueError, match="magic"):
        read_idx(stream)


@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-lenet5"])
def test_mnist_tasks_load_idx_files_and_train(tmp_path: Path, name: str) -> None:
    folder = write_mnist(tmp_path / "mnist")
    task = get_task(name, data_dir=str(folder))
    data = task.data()
    assert tuple(data.x_train.shape[1:]) == (1, 28, 28)
    assert len(data.x_train) + len(data.x_val) == 60 and len(data.x_test) == 20
    assert len(data.x_val) == 5  # one twelfth, as 5000 of MNIST's 60000
    result = train(task, Strategy(epochs=1, batch_size=16, prune_rate=0.5, bits=4), device="cpu")
    assert result.status is TrainStatus.COMPLETED


def test_mnist_gzip_files_are_read(tmp_path: Path) -> None:
    import gzip

    folder = write_mnist(tmp_path / "mnist")
    for name in MNIST_FILES.values():
        raw = (folder / name).read_bytes()
        (folder / name).unlink()
        with gzip.open(folder / (name + ".gz"), "wb") as stream:
            stream.write(raw)
    assert len(get_task("mnist-mlp", data_dir=str(folder)).data().x_test) == 20


@pytest.mark.parametrize("missing", list(MNIST_FILES.values()))
def test_missing_mnist_file_is_named(tmp_path: Path, missing: str) -> None:
    folder = write_mnist(tmp_path / "mnist")
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"MNIST file '{re.escape(missing)}' not found"):
        get_task("mnist-mlp", data_dir=str(folder))


def test_cifar10_task_loads_python_batches_and_trains(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path / "cifar-10-batches-py")
    task = get_task("cifar10-resnet20", data_dir=str(tmp_path))  # finds the nested folder
    data = task.data()
    assert tuple(data.x_train.shape[1:]) == (3, 32, 32)
    assert len(data.x_train) + len(data.x_val) == 50 and len(data.x_test) == 10
    assert task.augment is not None
    result = train(task, Strategy(epochs=1, batch_size=25), device="cpu")
    assert result.status is TrainStatus.COMPLETED
    assert result.params == 269722
    assert folder.is_dir()


def test_missing_cifar_file_is_named(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="CIFAR-10 file 'data_batch_3' not found"):
        get_task("cifar10-resnet20", data_dir=str(folder))


def test_cifar_augment_flips_and_crops_deterministically() -> None:
    from paretune.trainers import cifar_augment

    batch = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    first = cifar_augment(batch, torch.Generator().manual_seed(5))
    second = cifar_augment(batch, torch.Generator().manual_seed(5))
    assert torch.equal(first, second) and first.shape == batch.shape
    # every output pixel is an input pixel of the same sample and channel, or padding
    for sample in range(2):
        for channel in range(3):
            values = set(batch[sample, channel].flatten().tolist()) | {0.0}
            assert set(first[sample, channel].flatten().tolist()) <= values


def _decode(output: torch.Tensor) -> tuple[bool, int, int]:
    """(flipped, dy, dx) of one augmented image whose pixels encode 1 + row * 32 + col."""
    v1, v2 = int(output[0, 16, 16]) - 1, int(output[0, 16, 17]) - 1  # always inside the image
    (r1, c1), c2 = divmod(v1, 32), v2 % 32
    flipped = c2 < c1
    return flipped, r1 - 12, (19 - c1) if flipped else (c1 - 12)


def test_cifar_augment_is_a_4_pixel_padded_crop_and_a_fair_flip() -> None:
    from paretune.trainers import cifar_augment

    n = 3000
    image = 1.0 + torch.arange(32 * 32, dtype=torch.float32).view(1, 1, 32, 32)
    batch = image.expand(n, 3, 32, 32).clone()
    out = cifar_augment(batch, torch.Generator().manual_seed(0))
    seen = [_decode(o) for o in out]
    flips = sum(flipped for flipped, _, _ in seen)
    assert abs(flips / n - 0.5) < 0.04
    assert {(dy, dx) for _, dy, dx in seen} == {(a, b) for a in range(9) for b in range(9)}
    for o, (flipped, dy, dx) in zip(out[:200], seen[:200], strict=True):
        source = batch[0].flip(2) if flipped else batch[0]  # torchvision's RandomCrop(32, 4)
        expected = F.pad(source, (4, 4, 4, 4))[:, dy : dy + 32, dx : dx + 32]  # + hflip
        assert torch.equal(o, expected)
    assert not torch.equal(out, cifar_augment(batch, torch.Generator().manual_seed(1)))


def test_cifar_task_augments_the_training_batches_only_and_seeded(tmp_path: Path) -> None:
    from paretune.trainers import cifar_augment

    write_cifar(tmp_path)
    task = get_task("cifar10-resnet20", data_dir=str(tmp_path))
    assert task.augment is cifar_augment
    assert (
        get_task("cifar10-resnet20", data_dir=str(tmp_path), options={"augment": False}).augment
        is None
    )
    data = task.data()
    train_rows = {tuple(row.flatten().tolist()) for row in data.x_train}

    def run(seed: int) -> list[torch.Tensor]:
        seen: list[torch.Tensor] = []

        def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            assert all(tuple(row.flatten().tolist()) in train_rows for row in batch)
            out = cifar_augment(batch, generator)
            seen.append(out)
            return out

        augmented = dataclasses.replace(task, augment=augment)
        train(augmented, Strategy(epochs=2, batch_size=16, seed=seed), device="cpu")
        return seen

    first, again, other = run(0), run(0), run(1)
    assert sum(len(b) for b in first) == 2 * len(data.x_train)  # no validation or test batch
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_user_task_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "my_tasks_for_paretune.py"
    module.write_text(
        textwrap.dedent("""
        from paretune.trainers import get_task, Task
        import dataclasses

        def make_task(*, width=8, data_dir=None):
            base = get_task("synthetic", options={"n_samples": 100, "hidden": width})
            return dataclasses.replace(base, name=f"mine-{width}-{data_dir}")

        def not_a_task(**kwargs):
            return 3
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    task = get_task("my_tasks_for_paretune:make_task", options={"width": 4}, data_dir="/d")
    assert isinstance(task, Task) and task.name == "mine-4-/d"
    assert train(task, Strategy(epochs=1), device="cpu").status is TrainStatus.COMPLETED
    with pytest.raises(TypeError, match="not a Task"):
        get_task("my_tasks_for_paretune:not_a_task")
    with pytest.raises(ValueError, match="has no callable 'missing'"):
        get_task("my_tasks_for_paretune:missing")
    with pytest.raises(ValueError, match="Cannot import the module"):
        get_task("no_such_module_paretune:make")


def test_task_validation() -> None:
    with pytest.raises(ValueError, match="needs either replay or both build_model and load_data"):
        Task(name="x")
    with pytest.raises(ValueError, match="'default_epochs' parameter of Task must be an int >= 1"):
        Task(name="x", default_epochs=0, replay=lambda s, r: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="has 3 inputs but 2 labels"):
        DataSplits(
            x_train=torch.zeros(3, 1),
            y_train=torch.zeros(2),
            x_val=torch.zeros(1, 1),
            y_val=torch.zeros(1),
            x_test=torch.zeros(1, 1),
            y_test=torch.zeros(1),
        )


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "synthetic", "mnist-lenet5"])
def test_built_in_tasks_pickle_and_train_after_a_round_trip(tmp_path: Path, name: str) -> None:
    data_dir = str(write_mnist(tmp_path / "mnist")) if name.startswith("mnist") else None
    task = get_task(name, data_dir=data_dir)
    task.data()  # the loaded data is not pickled along
    copy = pickle.loads(pickle.dumps(task))
    assert copy.name == task.name and copy.options == task.options
    assert torch.equal(copy.data().x_test, task.data().x_test)
    strategy = Strategy(epochs=1, batch_size=64)
    assert (
        train(copy, strategy, device="cpu").to_dict()["val_accuracy"]
        == train(task, strategy, device="cpu").to_dict()["val_accuracy"]
    )
