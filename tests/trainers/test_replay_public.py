"""Replay as a public benchmarking tool (issue 16): a table holds only what a benchmark
recorded, and the writer and the loader refuse what no lookup could replay."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import paretune.trainers
import pytest
from paretune.trainers import (
    ReplayRun,
    Strategy,
    TrainResult,
    TrainStatus,
    make_replay_task,
    missing_replay_columns,
    write_replay_table,
)


def _result(strategy: Strategy, *, epochs: int, test_accuracy: float = 0.8) -> TrainResult:
    curve = tuple(
        {"val_accuracy": 0.5 + 0.01 * e, "size_bits": 100.0, "train_seconds": 1.0 + e}
        for e in range(epochs)
    )
    return TrainResult(
        status=TrainStatus.COMPLETED,
        reason="",
        val_accuracy=curve[-1]["val_accuracy"],
        test_accuracy=test_accuracy,
        params=10,
        nonzero_params=10,
        sparsity=0.0,
        size_bits=100.0,
        bitops=1.0,
        latency_ms=0.1,
        train_seconds=1.0,
        epochs=epochs,
        curve=curve,
        strategy=strategy,
    )


def _curve(epochs: int) -> list[dict[str, float]]:
    return [{"val_accuracy": 0.5 + 0.1 * e} for e in range(epochs)]


def test_the_writer_and_the_task_are_public() -> None:
    for name in ("ReplayRun", "make_replay_task", "missing_replay_columns", "write_replay_table"):
        assert name in paretune.trainers.__all__


def test_a_table_of_curves_alone_replays_with_the_rest_marked_missing(tmp_path: Path) -> None:
    runs = [
        ReplayRun(strategy=Strategy(lr=lr, epochs=3), curve=_curve(3), costs={"size_bits": 8.0})
        for lr in (0.01, 0.1)
    ]
    path = tmp_path / "curves.npz"
    write_replay_table(path, runs)
    with np.load(path) as data:
        assert "latency_ms" not in data.files and "test_accuracy" not in data.files
    task = make_replay_task(path)
    lacking = missing_replay_columns(task)
    assert set(lacking) == {
        "test_accuracy",
        "params",
        "nonzero_params",
        "sparsity",
        "bitops",
        "latency_ms",
        "train_seconds",
    }
    assert task.replay is not None
    result = task.replay(Strategy(lr=0.1, epochs=3), None)
    assert result.status is TrainStatus.COMPLETED and result.epochs == 3
    assert result.val_accuracy == pytest.approx(0.7) and result.size_bits == 8.0
    assert all(math.isnan(float(getattr(result, name))) for name in lacking)


def test_a_table_file_with_only_the_required_keys_loads(tmp_path: Path) -> None:
    path = tmp_path / "minimal.npz"
    np.savez(
        path,
        format_version=np.asarray(1),
        strategies=np.asarray([json.dumps(Strategy(epochs=2).to_dict())]),
        epochs=np.asarray([2]),
        curve_val_accuracy=np.asarray([[0.4, 0.6]]),
    )
    task = make_replay_task(path)
    assert "latency_ms" in missing_replay_columns(task)
    assert task.replay is not None
    assert task.replay(Strategy(epochs=2), None).val_accuracy == pytest.approx(0.6)


def test_a_curve_shorter_than_its_strategy_is_refused(tmp_path: Path) -> None:
    runs = [
        _result(Strategy(lr=0.1, epochs=20), epochs=20),
        _result(Strategy(lr=0.2, epochs=20), epochs=15),
    ]
    with pytest.raises(ValueError, match="row 1 holds a 15-epoch curve but its strategy trains 20"):
        write_replay_table(tmp_path / "t.npz", runs)
    path = tmp_path / "hand.npz"  # the same mistake in a table written by another tool
    np.savez(
        path,
        format_version=np.asarray(1),
        strategies=np.asarray([json.dumps(Strategy(epochs=20).to_dict())]),
        epochs=np.asarray([15]),
        curve_val_accuracy=np.full((1, 15), 0.5),
    )
    with pytest.raises(ValueError, match=r"hand.npz: row 0 holds a 15-epoch curve .* 20 epochs"):
        make_replay_task(path)


def test_a_diverged_run_may_end_early(tmp_path: Path) -> None:
    broke = ReplayRun(
        strategy=Strategy(lr=1.0, epochs=5),
        curve=_curve(2),
        status=TrainStatus.DIVERGED,
        reason="loss is nan",
    )
    path = tmp_path / "t.npz"
    write_replay_table(path, [broke, ReplayRun(strategy=Strategy(epochs=5), curve=_curve(5))])
    task = make_replay_task(path)
    assert task.replay is not None
    assert task.replay(Strategy(lr=1.0, epochs=5), None).status is TrainStatus.DIVERGED


def test_nan_accuracy_in_a_completed_curve_is_refused(tmp_path: Path) -> None:
    curve = [{"val_accuracy": 0.5}, {"val_accuracy": math.nan}, {"val_accuracy": 0.7}]
    run = ReplayRun(strategy=Strategy(epochs=3), curve=curve)
    with pytest.raises(ValueError, match="row 0: val_accuracy is NaN at epoch.s. 2"):
        write_replay_table(tmp_path / "t.npz", [run])


def test_nan_test_accuracy_is_refused_unless_missing_everywhere(tmp_path: Path) -> None:
    some = [
        _result(Strategy(lr=0.1, epochs=2), epochs=2),
        _result(Strategy(lr=0.2, epochs=2), epochs=2, test_accuracy=math.nan),
    ]
    with pytest.raises(ValueError, match=r"test_accuracy is missing \(NaN\) in row 1 of 2"):
        write_replay_table(tmp_path / "t.npz", some)
    every = [
        _result(Strategy(lr=lr, epochs=2), epochs=2, test_accuracy=math.nan) for lr in (0.1, 0.2)
    ]
    path = tmp_path / "none.npz"
    write_replay_table(path, every)
    assert missing_replay_columns(make_replay_task(path)) == ("test_accuracy",)


def test_an_unknown_cost_is_refused(tmp_path: Path) -> None:
    run = ReplayRun(strategy=Strategy(epochs=1), curve=_curve(1), costs={"flops": 3.0})
    with pytest.raises(ValueError, match="unknown cost.s. 'flops'. Known: params, "):
        write_replay_table(tmp_path / "t.npz", [run])
