"""Dataset loaders of the built-in tasks: scikit-learn digits and synthetic data, MNIST idx
files and CIFAR-10 python batches from a user's directory.

Every loader returns :class:`DataSplits` of float32 inputs and int64 labels on the CPU, split
with a fixed seed (stratified), inputs standardized with training-split statistics.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, cast

import numpy as np
import torch

from ._preprocessing import Preprocessing
from ._safe_unpickle import load_arrays
from ._task import DataSplits

__all__ = [
    "CIFAR10_FILES",
    "CIFAR10_PREPROCESSING",
    "MNIST_FILES",
    "MNIST_PREPROCESSING",
    "check_files",
    "cifar10_splits",
    "digits_splits",
    "mnist_splits",
    "read_idx",
    "synthetic_splits",
]

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
_CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(1, 3, 1, 1)
_CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32).reshape(1, 3, 1, 1)

#: What :func:`mnist_splits` does to the raw pixels (the preprocessing of the MNIST tasks).
MNIST_PREPROCESSING = Preprocessing(
    mean=(0.1307 * 255,),
    std=(0.3081 * 255,),
    description="pixels 0-255 (the idx file's bytes as floats), shape 1x28x28; "
    "(x / 255 - 0.1307) / 0.3081 with MNIST's mean and std",
)
#: What :func:`cifar10_splits` does to the raw pixels (per RGB channel).
CIFAR10_PREPROCESSING = Preprocessing(
    mean=tuple(float(m) * 255 for m in _CIFAR_MEAN.flatten()),
    std=tuple(float(s) * 255 for s in _CIFAR_STD.flatten()),
    description="pixels 0-255 (the batches' bytes as floats), shape 3x32x32 (RGB); "
    "(x / 255 - mean) / std per channel with CIFAR-10's mean (0.4914, 0.4822, 0.4465) "
    "and std (0.2470, 0.2435, 0.2616)",
)


def _tensors(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    preprocessing: Preprocessing | None = None,
) -> DataSplits:
    def fx(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    def fy(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))

    return DataSplits(
        x_train=fx(x_train),
        y_train=fy(y_train),
        x_val=fx(x_val),
        y_val=fy(y_val),
        x_test=fx(x_test),
        y_test=fy(y_test),
        preprocessing=preprocessing,
    )


def _split3(x: np.ndarray, y: np.ndarray, *, seed: int, raw: str) -> DataSplits:
    """60 / 20 / 20 stratified split, standardized with the training split's mean and std
    (``raw`` says what the raw inputs are, for the recorded :class:`Preprocessing`)."""
    from sklearn.model_selection import train_test_split  # lazy: scikit-learn imports in ~1.5 s

    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, stratify=y, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed
    )
    mean, std = float(x_train.mean()), float(x_train.std()) or 1.0
    # the float32 numbers the arithmetic below really uses
    mean32, std32 = float(np.float32(mean)), float(np.float32(std))
    preprocessing = Preprocessing(
        mean=(mean32,),
        std=(std32,),
        description=f"{raw}, standardized with the training split's mean and std "
        f"(split seed {seed})",
    )
    return _tensors(
        (x_train - mean) / std,
        y_train,
        (x_val - mean) / std,
        y_val,
        (x_test - mean) / std,
        y_test,
        preprocessing,
    )


def digits_splits(*, split_seed: int = 0, image: bool = False) -> DataSplits:
    """scikit-learn's 8x8 digits (1797 samples), 60/20/20 stratified.

    Args:
        split_seed: Seed of the split.
        image: Shape inputs as 1x8x8 images instead of 64 features.

    Examples:
        >>> d = digits_splits()
        >>> tuple(d.x_train.shape), len(d.x_val), len(d.x_test)
        ((1078, 64), 359, 360)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data.astype(np.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    shape = "1x8x8" if image else "64 features"
    return _split3(x, bunch.target, seed=split_seed, raw=f"pixel values 0-16, {shape}")


def synthetic_splits(
    *,
    n_samples: int = 600,
    n_features: int = 20,
    n_informative: int = 10,
    n_classes: int = 3,
    seed: int = 0,
) -> DataSplits:
    """``sklearn.datasets.make_classification`` data, 60/20/20 stratified.

    Examples:
        >>> d = synthetic_splits(n_samples=100, n_features=5, n_informative=3, n_classes=2)
        >>> tuple(d.x_train.shape), int(d.y_train.max())
        ((60, 5), 1)
    """
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )
    return _split3(
        x.astype(np.float32), y, seed=seed, raw="make_classification's features as generated"
    )


def _find(directory: Path, name: str, *, dataset: str) -> Path:
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{dataset} file {name!r} not found in {str(directory)!r} (also looked for "
        f"{name + '.gz'!r}). Put the standard {dataset} files there."
    )


def _open(directory: Path, name: str, *, dataset: str) -> IO[bytes]:
    path = _find(directory, name, dataset=dataset)
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.GzipFile(path, "rb"))
    return path.open("rb")


def _cifar_directory(data_dir: str | Path) -> Path:
    directory = Path(data_dir)
    nested = directory / "cifar-10-batches-py"
    if not (directory / "test_batch").is_file() and nested.is_dir():
        return nested
    return directory


def check_files(dataset: str, data_dir: str | Path) -> None:
    """Raise ``FileNotFoundError`` naming the first missing file of ``dataset`` in ``data_dir``.

    Args:
        dataset: ``"mnist"`` or ``"cifar10"``.
        data_dir: The user's dataset directory.

    Examples:
        >>> check_files("mnist", "/nonexistent")
        Traceback (most recent call last):
        ...
        FileNotFoundError: MNIST file 'train-images-idx3-ubyte' not found in '/nonexistent' ...
    """
    if dataset == "mnist":
        for name in MNIST_FILES.values():
            _find(Path(data_dir), name, dataset="MNIST")
    elif dataset == "cifar10":
        for name in CIFAR10_FILES:
            _find(_cifar_directory(data_dir), name, dataset="CIFAR-10")
    else:
        raise ValueError(f"Unknown dataset {dataset!r}. Known: mnist, cifar10.")


def read_idx(stream: IO[bytes]) -> np.ndarray:
    """An array from the IDX format of MNIST (big-endian header, unsigned bytes).

    Examples:
        >>> import io
        >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
        >>> read_idx(io.BytesIO(raw)).tolist()
        [7, 8, 9]
    """
    header = stream.read(4)
    if len(header) != 4 or header[0] != 0 or header[1] != 0 or header[2] != 0x08:
        raise ValueError("Not an IDX file of unsigned bytes (bad magic number).")
    ndim = header[3]
    dims = np.frombuffer(stream.read(4 * ndim), dtype=">u4").astype(np.int64)
    count = int(np.prod(dims)) if ndim else 0
    data = np.frombuffer(stream.read(count), dtype=np.uint8)
    if data.size != count:
        raise ValueError(f"IDX file is truncated: expected {count} values, got {data.size}.")
    return data.reshape(tuple(int(d) for d in dims))


def _stratified_holdout(
    x: np.ndarray, y: np.ndarray, *, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    classes = len(np.unique(y))
    stratify = y if size >= classes and len(y) - size >= classes else None
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=size, stratify=stratify, random_state=seed
    )
    return x_train, x_val, y_train, y_val


def mnist_splits(
    data_dir: str | Path, *, validation_size: int | None = None, split_seed: int = 0
) -> DataSplits:
    """MNIST from the four idx files (optionally .gz) in ``data_dir``.

    The training file is split into train and validation (``validation_size``, default one
    twelfth = 5000 of 60000); ``t10k`` is the test split. Inputs are 1x28x28, normalized with
    MNIST's mean 0.1307 and std 0.3081.
    """
    directory = Path(data_dir)
    arrays: dict[str, np.ndarray] = {}
    for key, name in MNIST_FILES.items():
        with _open(directory, name, dataset="MNIST") as stream:
            arrays[key] = read_idx(stream)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise ValueError(f"MNIST {split} images and labels differ in length.")

    def images(a: np.ndarray) -> np.ndarray:
        return ((a.astype(np.float32) / 255.0 - 0.1307) / 0.3081).reshape(-1, 1, 28, 28)

    x, y = images(arrays["train_images"]), arrays["train_labels"].astype(np.int64)
    size = validation_size if validation_size is not None else max(1, round(len(y) / 12))
    x_train, x_val, y_train, y_val = _stratified_holdout(x, y, size=size, seed=split_seed)
    return _tensors(
        x_train,
        y_train,
        x_val,
        y_val,
        images(arrays["test_images"]),
        arrays["test_labels"].astype(np.int64),
    )


def _cifar_batch(directory: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    where = f"CIFAR-10 file {str(_find(directory, name, dataset='CIFAR-10'))!r}"
    with _open(directory, name, dataset="CIFAR-10") as stream:
        # never pickle.load: a batch is data, read without running anything it names
        batch = load_arrays(stream, source=where)
    if not isinstance(batch, dict):
        raise ValueError(f"{where} holds a {type(batch).__name__}, not a dict of data and labels.")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{where} has no 'data' / 'labels' entries.")
    x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    return x, np.asarray(labels, dtype=np.int64)


def cifar10_splits(
    data_dir: str | Path, *, validation_size: int | None = None, split_seed: int = 0
) -> DataSplits:
    """CIFAR-10 from the python batches in ``data_dir`` (or its ``cifar-10-batches-py``).

    The five training batches are split into train and validation (``validation_size``,
    default a tenth = 5000); ``test_batch`` is the test split. Inputs are 3x32x32, normalized
    per channel.
    """
    directory = _cifar_directory(data_dir)
    parts = [_cifar_batch(directory, name) for name in CIFAR10_FILES]

    def images(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0 - _CIFAR_MEAN) / _CIFAR_STD

    x = images(np.concatenate([p[0] for p in parts[:-1]]))
    y = np.concatenate([p[1] for p in parts[:-1]])
    size = validation_size if validation_size is not None else max(1, round(len(y) / 10))
    x_train, x_val, y_train, y_val = _stratified_holdout(x, y, size=size, seed=split_seed)
    return _tensors(x_train, y_train, x_val, y_val, images(parts[-1][0]), parts[-1][1])
