"""The training loop: reporting, stopping, divergence, determinism, resume, devices."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from paretune.trainers import (
    COST_NAMES,
    Strategy,
    Task,
    TrainResult,
    TrainStatus,
    get_task,
    static_cost,
    train,
)

REPORTED = {
    "val_accuracy",
    "train_loss",
    "lr",
    "sparsity",
    "train_seconds",
    "size_bits",
    "bitops",
    "params",
    "nonzero_params",
}


@pytest.fixture(scope="module")
def task() -> Task:
    return get_task("synthetic", options={"n_samples": 300})


def test_report_gets_every_metric_after_every_epoch(task: Task) -> None:
    seen: list[tuple[int, dict[str, float]]] = []

    def report(epoch: int, metrics: Mapping[str, float]) -> bool:
        seen.append((epoch, dict(metrics)))
        return False

    strategy = Strategy(epochs=3, prune_rate=0.5, bits=8)
    result = train(task, strategy, report=report, device="cpu")
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    planned = static_cost(task, strategy)
    for _, metrics in seen:
        assert set(metrics) == REPORTED
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
        assert {k: metrics[k] for k in planned} == planned
    assert [s["train_seconds"] for _, s in seen] == sorted(s["train_seconds"] for _, s in seen)
    assert list(result.curve) == [metrics for _, metrics in seen]
    assert result.status is TrainStatus.COMPLETED and result.reason == ""
    assert result.epochs == 3


def test_report_true_stops_cleanly_after_that_epoch(task: Task) -> None:
    result = train(
        task, Strategy(epochs=10), report=lambda epoch, metrics: epoch == 2, device="cpu"
    )
    assert result.status is TrainStatus.STOPPED
    assert result.epochs == 2 and len(result.curve) == 2
    assert "epoch 2" in result.reason
    assert 0.0 <= result.test_accuracy <= 1.0


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_diverging_lr_ends_as_diverged_without_raising(task: Task, optimizer: str) -> None:
    result = train(task, Strategy(optimizer=optimizer, lr=1e12, epochs=5), device="cpu")
    assert result.status is TrainStatus.DIVERGED
    assert "nan" in result.reason or "inf" in result.reason
    assert result.epochs < 5
    json.dumps(result.to_dict(), allow_nan=False)


def test_same_seed_same_result_other_seed_other_result(task: Task) -> None:
    strategy = Strategy(epochs=3, dropout=0.2, prune_rate=0.5, bits=4, l1=1e-4)
    first, second = train(task, strategy, device="cpu"), train(task, strategy, device="cpu")
    assert first.curve == tuple(
        {**point, "train_seconds": first.curve[i]["train_seconds"]}
        for i, point in enumerate(second.curve)
    )
    assert (first.val_accuracy, first.test_accuracy, first.nonzero_params) == (
        second.val_accuracy,
        second.test_accuracy,
        second.nonzero_params,
    )
    other = train(task, strategy.replace(seed=1), device="cpu")
    assert [p["train_loss"] for p in other.curve] != [p["train_loss"] for p in first.curve]


def test_training_leaves_the_global_rng_alone(task: Task) -> None:
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    train(task, Strategy(epochs=1, dropout=0.3), device="cpu")
    static_cost(task, Strategy())
    assert torch.equal(torch.rand(3), expected)


def test_result_to_dict_is_json(task: Task) -> None:
    result = train(task, Strategy(epochs=1), device="cpu", keep_model=True)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["status"] == "completed"
    assert Strategy.from_dict(data["strategy"]) == result.strategy
    assert "model" not in data
    for name in COST_NAMES:
        assert data[name] >= 0
    assert result.model is not None and not result.model.training
    assert train(task, Strategy(epochs=1), device="cpu").model is None


def test_checkpoint_resume_equals_an_uninterrupted_run(task: Task, tmp_path: Path) -> None:
    strategy = Strategy(epochs=4, dropout=0.2, prune_rate=0.6, bits=4)
    full = train(task, strategy, device="cpu")
    stopped = train(
        task,
        strategy,
        device="cpu",
        checkpoint_dir=str(tmp_path),
        report=lambda epoch, metrics: epoch == 2,
    )
    assert stopped.epochs == 2
    resumed = train(task, strategy, device="cpu", checkpoint_dir=str(tmp_path))
    assert resumed.status is TrainStatus.COMPLETED and resumed.epochs == 4
    assert [p["train_loss"] for p in resumed.curve] == [p["train_loss"] for p in full.curve]
    assert (resumed.val_accuracy, resumed.test_accuracy, resumed.sparsity) == (
        full.val_accuracy,
        full.test_accuracy,
        full.sparsity,
    )


def test_checkpoint_of_another_strategy_is_refused(task: Task, tmp_path: Path) -> None:
    train(task, Strategy(epochs=1), device="cpu", checkpoint_dir=str(tmp_path))
    with pytest.raises(ValueError, match="belongs to another run"):
        train(task, Strategy(epochs=1, lr=0.5), device="cpu", checkpoint_dir=str(tmp_path))


def test_fit_on_validation_trains_on_more_samples(task: Task) -> None:
    data = task.data()
    strategy = Strategy(epochs=1, batch_size=len(data.x_train))
    plain = train(task, strategy, device="cpu")
    both = train(task, strategy, device="cpu", fit_on_validation=True)
    # One full batch per epoch without validation data; two batches with it.
    assert plain.curve[0]["train_loss"] != both.curve[0]["train_loss"]
    assert both.status is TrainStatus.COMPLETED


def test_l1_shrinks_the_weights(task: Task) -> None:
    def weight_norm(result: TrainResult) -> float:
        assert result.model is not None
        return sum(
            float(m.weight.detach().abs().sum()) for m in result.model if hasattr(m, "weight")
        )

    plain = train(task, Strategy(epochs=3), device="cpu", keep_model=True)
    l1 = train(task, Strategy(epochs=3, l1=1e-2), device="cpu", keep_model=True)
    assert weight_norm(l1) < 0.8 * weight_norm(plain)


def test_dropout_is_in_the_model_and_changes_training(task: Task) -> None:
    model = task.new_model(0.3)
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in model.modules())
    plain = train(task, Strategy(epochs=1), device="cpu")
    dropped = train(task, Strategy(epochs=1, dropout=0.3), device="cpu")
    assert plain.curve[0]["train_loss"] < dropped.curve[0]["train_loss"]


def test_bad_arguments_raise(task: Task) -> None:
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        train(task, Strategy(epochs=1), device="cpu", amp=True)
    with pytest.raises(ValueError, match="The 'device' parameter of train must be"):
        train(task, Strategy(epochs=1), device="tpu")
    with pytest.raises(TypeError, match="must be a Strategy"):
        train(task, {"lr": 0.1}, device="cpu")  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train(task, Strategy(epochs=1), device="cuda")


def test_replay_task_delegates_and_trains_nothing() -> None:
    calls: list[Strategy] = []

    def replay(strategy: Strategy, report: object) -> TrainResult:
        calls.append(strategy)
        return TrainResult(
            status=TrainStatus.COMPLETED,
            reason="",
            val_accuracy=0.5,
            test_accuracy=0.5,
            params=1,
            nonzero_params=1,
            sparsity=0.0,
            size_bits=32.0,
            bitops=0.0,
            latency_ms=0.0,
            train_seconds=0.0,
            epochs=1,
            curve=(),
            strategy=strategy,
        )

    task = Task(name="recorded", default_epochs=3, description="recorded", replay=replay)
    result = train(task, Strategy(epochs=1))
    assert calls == [Strategy(epochs=1)] and result.val_accuracy == 0.5
    with pytest.raises(ValueError, match="replays recorded results"):
        static_cost(task, Strategy())


def test_large_data_stays_on_the_host_with_the_same_result(
    task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = Strategy(epochs=2, prune_rate=0.5)
    on_device = train(task, strategy, device="cpu")
    monkeypatch.setattr("paretune.trainers._run.DEVICE_DATA_LIMIT_BYTES", 0)
    on_host = train(task, strategy, device="cpu")
    assert [p["train_loss"] for p in on_host.curve] == [p["train_loss"] for p in on_device.curve]
    assert on_host.test_accuracy == on_device.test_accuracy
