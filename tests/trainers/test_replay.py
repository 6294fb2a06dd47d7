"""Replay tables: the documented format round-trips and replays like a trainer."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from paretune.trainers import (
    Strategy,
    TrainResult,
    TrainStatus,
    make_replay_task,
    write_replay_table,
)


def _run(strategy: Strategy, *, epochs: int = 4, diverge_at: int | None = None) -> TrainResult:
    last = diverge_at or epochs
    curve = tuple(
        {
            "val_accuracy": 0.5 + 0.1 * e * strategy.lr,
            "train_loss": 1.0 / e,
            "train_seconds": 0.5 * e,
            "size_bits": 1000.0 * strategy.bits,
            "bitops": 10.0,
            "params": 100.0,
            "nonzero_params": 100.0,
        }
        for e in range(1, last + 1)
    )
    return TrainResult(
        status=TrainStatus.DIVERGED if diverge_at else TrainStatus.COMPLETED,
        reason="loss is nan" if diverge_at else "",
        val_accuracy=curve[-1]["val_accuracy"],
        test_accuracy=0.42,
        params=100,
        nonzero_params=90,
        sparsity=0.1,
        size_bits=990.0 * strategy.bits,
        bitops=10.0,
        latency_ms=0.2,
        train_seconds=0.5 * last,
        epochs=last,
        curve=curve,
        strategy=strategy,
    )


@pytest.fixture
def table(tmp_path: Path) -> Path:
    runs = [
        _run(Strategy(optimizer=o, lr=lr, bits=b, epochs=4))
        for o, lr, b in itertools.product(("sgd", "adam"), (0.01, 0.1), (4, 8))
    ]
    runs.append(_run(Strategy(optimizer="sgd", lr=1.0, bits=4, epochs=4), diverge_at=2))
    path = tmp_path / "table.npz"
    write_replay_table(path, runs, source_task="toy")
    return path


def test_the_written_file_has_the_documented_keys(table: Path) -> None:
    with np.load(table) as data:
        assert int(data["format_version"]) == 1
        assert data["curve_val_accuracy"].shape == (9, 4)
        assert data["epochs"].tolist() == [4] * 8 + [2]
        assert math.isnan(float(data["curve_val_accuracy"][8, 3]))
        assert json.loads(str(data["strategies"][0]))["optimizer"] == "sgd"
        for key in ("test_accuracy", "params", "size_bits", "bitops", "latency_ms", "sparsity"):
            assert data[key].shape == (9,)


def test_replay_reports_every_epoch_and_returns_the_recorded_result(table: Path) -> None:
    task = make_replay_task(table)
    assert task.name == f"replay:{table}" and task.default_epochs == 4 and not task.trains
    assert "9 runs recorded on toy" in task.description
    seen: list[tuple[int, dict[str, float]]] = []

    def report(epoch: int, metrics: object) -> bool:
        seen.append((epoch, dict(metrics)))  # type: ignore[call-overload]
        return False

    strategy = Strategy(optimizer="adam", lr=0.1, bits=8, epochs=4)
    assert task.replay is not None
    result = task.replay(strategy, report)
    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    assert seen[1][1]["val_accuracy"] == pytest.approx(0.52)
    assert seen[0][1]["size_bits"] == 8000.0  # the planned cost, reported from epoch 1
    assert result.status is TrainStatus.COMPLETED and result.epochs == 4
    assert result.size_bits == 7920.0  # the measured final cost
    assert result.test_accuracy == pytest.approx(0.42)
    assert result.train_seconds == pytest.approx(2.0)
    assert result.strategy == strategy
    assert len(result.curve) == 4


def test_a_stopping_reporter_ends_the_replay_as_stopped(table: Path) -> None:
    task = make_replay_task(table)
    assert task.replay is not None
    result = task.replay(Strategy(optimizer="sgd", lr=0.01, bits=4, epochs=4), lambda e, m: e == 2)
    assert result.status is TrainStatus.STOPPED and result.epochs == 2
    assert result.val_accuracy == pytest.approx(0.5 + 0.1 * 2 * 0.01)
    assert math.isnan(result.test_accuracy)  # never measured at epoch 2
    assert len(result.curve) == 2


def test_a_diverged_run_replays_as_diverged(table: Path) -> None:
    task = make_replay_task(table)
    assert task.replay is not None
    result = task.replay(Strategy(optimizer="sgd", lr=1.0, bits=4, epochs=4), None)
    assert result.status is TrainStatus.DIVERGED and result.reason == "loss is nan"
    assert result.epochs == 2


def test_replay_goes_through_get_task_and_train(table: Path) -> None:
    from paretune.trainers import get_task, train

    task = get_task(f"replay:{table}")
    result = train(task, Strategy(optimizer="adam", lr=0.01, bits=4, epochs=4))
    assert result.status is TrainStatus.COMPLETED and result.epochs == 4


def test_a_strategy_not_held_names_the_nearest(table: Path) -> None:
    task = make_replay_task(table)
    assert task.replay is not None
    with pytest.raises(ValueError, match=r"does not hold this strategy") as error:
        task.replay(Strategy(optimizer="adam", lr=0.02, bits=8, epochs=4), None)
    message = str(error.value)
    assert message.index("{lr=0.01}") < message.index("{lr=0.1}")
    with pytest.raises(ValueError, match=r"epochs=4"):
        task.replay(Strategy(optimizer="adam", lr=0.01, bits=8, epochs=5), None)


def test_bad_files_are_refused_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        make_replay_task(tmp_path / "missing.npz")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, format_version=np.asarray(1), strategies=np.asarray(["{}"]))
    with pytest.raises(ValueError, match=r"wrong.npz: the replay table lacks epochs"):
        make_replay_task(wrong)
    old = tmp_path / "old.npz"
    np.savez(old, format_version=np.asarray(7))
    with pytest.raises(ValueError, match="format_version must be 1"):
        make_replay_task(old)


def test_write_refuses_repeats_and_empty(tmp_path: Path) -> None:
    run = _run(Strategy())
    with pytest.raises(ValueError, match="repeats a strategy"):
        write_replay_table(tmp_path / "t.npz", [run, run])
    with pytest.raises(ValueError, match="must not be empty"):
        write_replay_table(tmp_path / "t.npz", [])


def test_a_strategy_recorded_once_replays_for_any_seed(table: Path, tmp_path: Path) -> None:
    task = make_replay_task(table)
    assert task.replay is not None
    strategy = Strategy(optimizer="adam", lr=0.1, bits=8, epochs=4, seed=7)
    assert task.replay(strategy, None).strategy.seed == 7
    # 4-epoch curves under 4-epoch strategies (a shorter curve is refused since issue 16)
    twice = [_run(Strategy(seed=0, epochs=4)), _run(Strategy(seed=1, lr=0.002, epochs=4))]
    twice.append(_run(Strategy(seed=1, epochs=4)))
    path = tmp_path / "seeds.npz"
    write_replay_table(path, twice)
    seeded = make_replay_task(path)
    assert seeded.replay is not None
    assert seeded.replay(Strategy(seed=1, epochs=4), None).strategy.seed == 1
    with pytest.raises(ValueError, match="with the seeds 0, 1, not with seed 2"):
        seeded.replay(Strategy(seed=2, epochs=4), None)


def test_the_committed_benchmark_table_replays() -> None:
    path = Path(__file__).parents[2] / "bench" / "data" / "digits_mlp_grid.npz"
    if not path.exists():
        pytest.skip(reason=f"{path} is not in this checkout")
    task = make_replay_task(path)
    assert task.replay is not None and task.default_epochs == 20
    with np.load(path) as data:
        first = json.loads(str(data["strategies"][0]))
        assert len(data["strategies"]) >= 1000
    result = task.replay(Strategy.from_dict(first), None)
    assert result.status is TrainStatus.COMPLETED and result.epochs == 20
    assert 0.0 <= result.val_accuracy <= 1.0 and result.size_bits > 0
