"""Metrics with directions: oracles against scikit-learn and hand formulas, the regression
task, the trainer's reports and results, and a NaN metric ending the run with its name."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from paretune.trainers import (
    DataSplits,
    Direction,
    Metric,
    Strategy,
    Task,
    TrainStatus,
    compute_metrics,
    get_metric,
    get_task,
    list_metrics,
    metric_directions,
    mse_loss,
    task_metrics,
    train,
)
from sklearn import metrics as skm
from torch import nn
from torch.nn import functional as F


@pytest.fixture
def classification() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(200, 7, generator=g), torch.randint(0, 7, (200,), generator=g)


@pytest.fixture
def regression() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(150, 1, generator=g) * 3, torch.randn(150, generator=g) * 2 + 1


def test_classification_metrics_match_scikit_learn(classification: tuple) -> None:
    outputs, y = classification
    predicted = outputs.argmax(dim=1).numpy()
    scores = outputs.double().numpy()
    assert get_metric("accuracy").compute(outputs, y) == skm.accuracy_score(y.numpy(), predicted)
    assert get_metric("top5_accuracy").compute(outputs, y) == pytest.approx(
        skm.top_k_accuracy_score(y.numpy(), scores, k=5, labels=np.arange(7))
    )
    assert get_metric("macro_f1").compute(outputs, y) == pytest.approx(
        skm.f1_score(y.numpy(), predicted, average="macro")
    )
    assert get_metric("loss").compute(outputs, y) == pytest.approx(
        skm.log_loss(y.numpy(), torch.softmax(outputs.double(), 1).numpy(), labels=np.arange(7))
    )


def test_regression_metrics_match_hand_formulas(regression: tuple) -> None:
    outputs, y = regression
    error = outputs.squeeze(1).double() - y.double()
    assert get_metric("rmse").compute(outputs, y) == pytest.approx(
        float(error.pow(2).mean().sqrt())
    )
    assert get_metric("mae").compute(outputs, y) == pytest.approx(float(error.abs().mean()))
    assert get_metric("loss").compute(outputs, y) == pytest.approx(float(error.pow(2).mean()))


@pytest.mark.parametrize("name", list_metrics())
def test_every_metric_has_a_direction_and_a_finite_value(
    name: str, classification: tuple, regression: tuple
) -> None:
    metric = get_metric(name)
    assert isinstance(metric.direction, Direction)
    outputs, y = regression if name in ("rmse", "mae") else classification
    assert math.isfinite(metric.compute(outputs, y))
    minimized = {"loss", "rmse", "mae"}
    assert (metric.direction is Direction.MINIMIZE) == (name in minimized)


def test_compute_metrics_names_a_nan_metric() -> None:
    broken = Metric(name="broken", direction="maximize", compute=lambda o, t: math.nan)
    with pytest.raises(ValueError, match="metric 'val_broken' is nan"):
        compute_metrics([broken], torch.zeros(2, 2), torch.zeros(2), prefix="val_")


def test_task_metric_field_is_checked() -> None:
    data = get_task("synthetic", options={"n_samples": 100}).load_data
    model = get_task("synthetic", options={"n_samples": 100}).build_model
    with pytest.raises(ValueError, match="Unknown metric 'f1'. Known: accuracy"):
        Task(name="t", build_model=model, load_data=data, num_classes=3, metrics=("f1",))
    with pytest.raises(ValueError, match="must not repeat"):
        Task(name="t", build_model=model, load_data=data, num_classes=3, metrics=("mae", "mae"))
    with pytest.raises(ValueError, match="num_classes=0 with a regression loss"):
        Task(name="t", build_model=model, load_data=data, num_classes=0)


@pytest.mark.parametrize("metrics", [("accuracy",), ("rmse", "top5_accuracy", "macro_f1")])
def test_a_regression_task_is_refused_metrics_of_classes(metrics: tuple[str, ...]) -> None:
    """Left at its default ``("accuracy",)``, every trial failed with an IndexError."""
    data = get_task("synthetic", options={"n_samples": 100}).load_data
    model = get_task("synthetic", options={"n_samples": 100}).build_model
    by_class = ", ".join(repr(m) for m in metrics if m != "rmse")
    with pytest.raises(
        ValueError,
        match=r"^Task 't' is a regression task \(num_classes=0\), whose outputs are no class "
        r"scores: give it metrics for real values, such as metrics=\('rmse', 'mae'\) "
        rf"\(got {by_class}, which need classes\)\.$",
    ):
        Task(
            name="t",
            build_model=model,
            load_data=data,
            num_classes=0,
            loss=mse_loss,
            metrics=metrics,
        )


def test_loss_metric_is_the_tasks_own_loss() -> None:
    task = get_task("diabetes-mlp")
    loss = {m.name: m for m in task_metrics(task)}["loss"]
    outputs, y = torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 0.0])
    assert loss.compute(outputs, y) == pytest.approx(float(mse_loss(outputs, y))) == 2.5
    assert metric_directions(task) == {
        "val_rmse": "minimize",
        "val_mae": "minimize",
        "val_loss": "minimize",
    }


def test_regression_task_trains_and_reports_every_metric() -> None:
    task = get_task("diabetes-mlp")
    assert task.regression and task.data().y_train.dtype == torch.float32
    seen: list[dict[str, float]] = []
    result = train(
        task,
        Strategy(epochs=4, lr=0.01, batch_size=32),
        device="cpu",
        report=lambda epoch, m: seen.append(dict(m)) is None and False,
    )
    assert result.status is TrainStatus.COMPLETED
    assert {"val_rmse", "val_mae", "val_loss"} <= set(seen[-1]) and "val_accuracy" not in seen[-1]
    assert set(result.metrics) == {
        f"{s}_{m}" for s in ("val", "test") for m in ("rmse", "mae", "loss")
    }
    assert math.isnan(result.val_accuracy) and math.isnan(result.test_accuracy)
    # the final metrics equal a hand computation on the kept model
    kept = train(task, Strategy(epochs=4, lr=0.01, batch_size=32), device="cpu", keep_model=True)
    assert kept.model is not None
    with torch.no_grad():
        out = kept.model(task.data().x_test).squeeze(1).double()
    rmse = float((out - task.data().y_test.double()).pow(2).mean().sqrt())
    assert kept.metrics["test_rmse"] == pytest.approx(rmse, rel=1e-5)
    assert kept.metrics["test_rmse"] == result.metrics["test_rmse"]  # seeded: same run
    # trained better than predicting the training mean
    baseline = float((task.data().y_val - task.data().y_train.mean()).pow(2).mean().sqrt())
    assert result.metrics["val_rmse"] < baseline


def test_default_classification_task_reports_as_before() -> None:
    task = get_task("synthetic", options={"n_samples": 200})
    result = train(task, Strategy(epochs=2, lr=0.01), device="cpu")
    assert list(result.curve[0])[0] == "val_accuracy" and "val_loss" not in result.curve[0]
    assert result.metrics == {
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
    }
    assert "metrics" not in result.to_dict()


def test_f1_task_reports_macro_f1_and_keeps_accuracy() -> None:
    base = get_task("synthetic", options={"n_samples": 200})
    task = Task(
        name="f1",
        build_model=base.build_model,
        load_data=base.load_data,
        num_classes=3,
        metrics=("macro_f1", "accuracy"),
    )
    result = train(task, Strategy(epochs=2, lr=0.01), device="cpu", keep_model=True)
    assert result.model is not None
    data = task.data()
    with torch.no_grad():
        predicted = result.model(data.x_val).argmax(1).numpy()
    expected = skm.f1_score(data.y_val.numpy(), predicted, average="macro")
    assert result.metrics["val_macro_f1"] == pytest.approx(expected)
    assert result.curve[-1]["val_macro_f1"] == pytest.approx(expected)
    assert result.val_accuracy == result.metrics["val_accuracy"]


def _tiny_regression(metric: Metric) -> Task:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    y = x.sum(1)
    data = DataSplits(x_train=x, y_train=y, x_val=x, y_val=y, x_test=x, y_test=y)
    return Task(
        name="tiny",
        build_model=lambda dropout: nn.Linear(3, 1),
        load_data=lambda: data,
        num_classes=0,
        loss=lambda out, t: F.mse_loss(out.squeeze(1), t),
        metrics=("rmse", metric),
    )


def test_a_nan_metric_fails_the_run_naming_the_metric() -> None:
    calls = []

    def flaky(outputs: torch.Tensor, targets: torch.Tensor) -> float:
        calls.append(1)
        return math.nan if len(calls) >= 2 else 1.0

    task = _tiny_regression(Metric(name="flaky", direction="minimize", compute=flaky))
    result = train(task, Strategy(epochs=3, lr=0.01), device="cpu")
    assert result.status is TrainStatus.DIVERGED
    assert result.reason == "validation metric 'val_flaky' is nan in epoch 2"
    assert result.epochs == 1 and result.metrics == {}


_FIRST_EPOCH = """
import sys
import torch
from torch import nn
from paretune.trainers import DataSplits, Strategy, Task, train

g = torch.Generator().manual_seed(0)
x = torch.randn(60, 4, generator=g)
y = torch.randint(0, 3, (60,), generator=g)
splits = DataSplits(
    x_train=x[:30], y_train=y[:30], x_val=x[30:45], y_val=y[30:45], x_test=x[45:], y_test=y[45:]
)
task = Task(name="small", build_model=lambda dropout: nn.Linear(4, 3), load_data=lambda: splits,
            input_shape=(4,), num_classes=3, metrics=("accuracy", "macro_f1"))
before = "sklearn.metrics" in sys.modules
result = train(task, Strategy(epochs=1, batch_size=10), device="cpu")
print(before, result.curve[0]["val_macro_f1"] >= 0, result.train_seconds)
"""

_IMPORT = (
    "import time; t = time.perf_counter(); import sklearn.metrics; print(time.perf_counter() - t)"
)


@pytest.mark.slow
def test_the_first_epoch_does_not_pay_for_a_metrics_import() -> None:
    """scikit-learn's metrics are imported before the first epoch's clock starts."""
    ran = subprocess.run(
        [sys.executable, "-c", _FIRST_EPOCH], capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    before, computed, seconds = ran.stdout.split()
    assert before == "False" and computed == "True"  # the run imported it, and used it
    importing = subprocess.run(
        [sys.executable, "-c", _IMPORT], capture_output=True, text=True, timeout=300
    )
    # an epoch of 30 samples is about a hundredth of the import it no longer includes
    assert float(seconds) < float(importing.stdout) / 4, (seconds, importing.stdout)
