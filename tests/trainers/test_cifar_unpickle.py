"""CIFAR-10 python batches are read as data: a batch that names code to run is refused and
nothing of it runs."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from paretune.trainers import CIFAR10_FILES, cifar10_splits

PER_BATCH = 20


def _batch(seed: int) -> dict[bytes, Any]:
    """A batch in CIFAR-10's own layout (10 classes, 3x32x32 uint8 rows, list of labels)."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch %d of 5" % seed,
        b"labels": [int(label) for label in np.arange(PER_BATCH) % 10],
        b"data": rng.integers(0, 256, size=(PER_BATCH, 3 * 32 * 32), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(PER_BATCH)],
    }


def _write_batches(folder: Path, *, protocol: int, old_numpy: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(CIFAR10_FILES):
        raw = pickle.dumps(_batch(seed), protocol=protocol)
        if old_numpy:  # the module name of the original (Python 2, numpy 1) batches
            raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(raw)


@pytest.mark.parametrize(("protocol", "old_numpy"), [(2, True), (2, False), (4, False), (5, False)])
def test_cifar_batches_load_as_data(tmp_path: Path, protocol: int, old_numpy: bool) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_batches(folder, protocol=protocol, old_numpy=old_numpy)
    splits = cifar10_splits(tmp_path, validation_size=10)
    assert tuple(splits.x_train.shape) == (5 * PER_BATCH - 10, 3, 32, 32)
    assert tuple(splits.x_val.shape) == (10, 3, 32, 32)
    assert tuple(splits.x_test.shape) == (PER_BATCH, 3, 32, 32)
    assert splits.y_test.tolist() == _batch(5)[b"labels"]
    # the test split is not shuffled: its pixels are the file's, normalized per channel
    pixels = _batch(5)[b"data"].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    mean = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(splits.x_test.numpy(), (pixels - mean) / std, rtol=1e-5)


class _Payload:
    """Unpickles by calling ``exec``: what a crafted batch can do under ``pickle.load``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_crafted_batch_is_refused_and_runs_nothing(tmp_path: Path, protocol: int) -> None:
    _write_batches(tmp_path, protocol=protocol)
    marker = tmp_path / "RAN"
    evil = {**_batch(1), b"labels": _Payload(marker)}
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=protocol))
    with pytest.raises(ValueError) as raised:
        cifar10_splits(tmp_path, validation_size=10)
    message = str(raised.value)
    where = f"CIFAR-10 file {str(tmp_path / 'data_batch_2')!r}"
    # protocol 2 writes Python 2's module name of exec
    assert f"{where} names {'__builtin__' if protocol == 2 else 'builtins'}.exec" in message
    assert "nothing in it was run" in message
    assert not marker.exists()


def test_a_batch_that_is_not_a_pickle_names_the_file(tmp_path: Path) -> None:
    _write_batches(tmp_path, protocol=4)
    (tmp_path / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match=r"test_batch' is not a readable pickle"):
        cifar10_splits(tmp_path, validation_size=10)
