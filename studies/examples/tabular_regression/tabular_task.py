"""A tabular regression task read from a CSV file, with a metric of its own.

The CSV file has a header row, numeric feature columns and a float ``target`` column. The
rows are split 60/20/20 (seeded); features are standardised with the training split's
statistics, targets stay in their own units, so ``val_rmse`` reads in those units.

Write scikit-learn's bundled diabetes data as such a file (no download)::

    python studies/examples/tabular_regression/tabular_task.py data/data.csv

then run the study with this folder on the module path::

    PYTHONPATH=studies/examples/tabular_regression paretune run \\
        studies/examples/tabular_regression/tabular_regression.toml --data-dir data
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import torch
from paretune.trainers import DataSplits, Direction, Metric, RegressionMLP, Task, mse_loss
from torch import nn

TARGET = "target"
FILE = "data.csv"


def write_diabetes_csv(path: str | Path) -> Path:
    """Write scikit-learn's diabetes data (442 rows, 10 features) as a CSV file."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*bunch.feature_names, TARGET])
        for row, target in zip(bunch.data, bunch.target, strict=True):
            writer.writerow([*(f"{v:.8g}" for v in row), f"{target:.8g}"])
    return out


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of a CSV file with a ``target`` column (clear errors otherwise)."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 11:
        raise ValueError(f"{path}: needs a header and at least 10 rows; found {len(rows)} lines.")
    header, body = rows[0], rows[1:]
    if TARGET not in header:
        raise ValueError(f"{path}: no {TARGET!r} column (columns: {', '.join(header)}).")
    column = header.index(TARGET)
    try:
        values = np.asarray(body, dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: every value must be a number ({error}).") from None
    if values.ndim != 2 or values.shape[1] != len(header):
        raise ValueError(f"{path}: every row must have {len(header)} values.")
    features = np.delete(values, column, axis=1)
    return features, values[:, column]


def max_error(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """The largest absolute error over a split (a user metric, minimized)."""
    return float((outputs.reshape(targets.shape).float() - targets.float()).abs().max())


class _Data:
    """Loads the CSV once per process; picklable."""

    def __init__(self, path: Path, split_seed: int) -> None:
        self.path = path
        self.split_seed = split_seed
        self._splits: DataSplits | None = None

    def __call__(self) -> DataSplits:
        if self._splits is None:
            x, y = read_csv(self.path)
            order = np.random.default_rng(self.split_seed).permutation(len(x))
            n_train, n_val = int(0.6 * len(x)), int(0.2 * len(x))
            parts = np.split(order, [n_train, n_train + n_val])
            mean, std = x[parts[0]].mean(axis=0), x[parts[0]].std(axis=0) + 1e-12

            def tensor(values: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

            (xt, yt), (xv, yv), (xs, ys) = (((x[p] - mean) / std, y[p]) for p in parts)
            self._splits = DataSplits(
                x_train=tensor(xt), y_train=tensor(yt), x_val=tensor(xv), y_val=tensor(yv),
                x_test=tensor(xs), y_test=tensor(ys),
            )  # fmt: skip
        return self._splits


class _Model:
    """``build_model(dropout)``: an MLP whose output bias starts at the training mean."""

    def __init__(self, data: _Data, hidden: int) -> None:
        self.data = data
        self.hidden = hidden

    def __call__(self, dropout: float) -> nn.Module:
        splits = self.data()
        return RegressionMLP(
            in_features=splits.x_train.shape[1],
            hidden=(self.hidden, self.hidden // 2),
            bias=float(splits.y_train.mean()),
            dropout=dropout,
        )


def make_task(
    data_dir: str | None = None, *, file: str = FILE, hidden: int = 64, split_seed: int = 0
) -> Task:
    """The CSV regression task; ``file``, ``hidden`` and ``split_seed`` come from
    ``task_options``."""
    if data_dir is None:
        raise ValueError("The tabular-regression task needs data_dir (the folder of the CSV).")
    path = Path(data_dir) / file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (write one with tabular_task.py PATH).")
    data = _Data(path, split_seed)
    features = len(read_csv(path)[0][0])
    return Task(
        name="tabular-regression",
        description=f"MLP regression on {path.name}: RMSE vs size",
        default_epochs=40,
        build_model=_Model(data, hidden),
        load_data=data,
        input_shape=(features,),
        num_classes=0,
        loss=mse_loss,
        metrics=(
            "rmse",
            "mae",
            "loss",
            Metric(name="max_error", direction=Direction.MINIMIZE, compute=max_error),
        ),
    )


if __name__ == "__main__":
    print(write_diabetes_csv(sys.argv[1] if len(sys.argv) > 1 else FILE))
