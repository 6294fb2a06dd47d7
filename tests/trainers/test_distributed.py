"""Data-parallel training: N gloo ranks compute what one worker computes at the same global batch.

The ranks run in processes started by ``ddp_ranks.py`` (a script: spawned processes import it
as their main module). Tolerance: the ranks' gradients are averaged by an all-reduce, so only
the float summation order differs from one worker; curves agree to 1e-4 (measured: 1e-6).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from paretune.trainers import (
    GlobalBatchSampler,
    ProcessGroup,
    Strategy,
    check_data_parallel,
    get_task,
    local_share,
    loss_weight,
    make_replay_task,
    train,
    write_replay_table,
)
from torch.utils.data import IterableDataset

SCRIPT = Path(__file__).with_name("ddp_ranks.py")
TOLERANCE = 1e-4
KEYS = ("train_loss", "val_accuracy", "sparsity")


def run_ranks(tmp_path: Path, name: str, **config: Any) -> dict[str, Any]:
    path, out = tmp_path / f"{name}.json", tmp_path / f"{name}-out.json"
    path.write_text(json.dumps({**config, "out": str(out)}))
    subprocess.run([sys.executable, str(SCRIPT), str(path)], check=True, timeout=300)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def assert_same_curve(one: list[dict[str, float]], other: list[dict[str, float]]) -> None:
    assert len(one) == len(other)
    for epoch, (a, b) in enumerate(zip(one, other, strict=True), start=1):
        for key in KEYS:
            assert a[key] == pytest.approx(b[key], abs=TOLERANCE), (epoch, key, a[key], b[key])


@pytest.mark.parametrize("batch", [1, 2, 5, 7, 64])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_shares_partition_the_batch_and_weights_average_to_one(batch: int, world: int) -> None:
    shares = [local_share(batch, world=world, rank=r) for r in range(world)]
    weights = [loss_weight(batch, world=world, rank=r) for r in range(world)]
    assert sum(shares) == batch
    assert sum(weights) / world == pytest.approx(1.0)
    index = torch.arange(batch)
    parts = [ProcessGroup(rank=r, world=world).share(index) for r in range(world)]
    used = [part for (part, weight) in parts if weight > 0]
    assert torch.equal(torch.cat(used), index)


def test_global_batch_sampler_reads_each_sample_once_per_epoch() -> None:
    samplers = [
        GlobalBatchSampler(
            23,
            batch_size=8,
            group=ProcessGroup(rank=r, world=3),
            generator=torch.Generator().manual_seed(5),
        )
        for r in range(3)
    ]
    for _ in range(2):  # two epochs, each a new permutation
        batches = [list(sampler) for sampler in samplers]
        assert {len(b) for b in batches} == {3}
        seen = sorted(i for rank in batches for batch in rank for i in batch)
        assert seen == list(range(23))


def test_check_data_parallel_refuses_a_replay_task_and_iterable_data(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    write_replay_table(table, [train(get_task("synthetic"), Strategy(epochs=1), device="cpu")])
    with pytest.raises(ValueError, match="replays recorded results and trains nothing"):
        check_data_parallel(make_replay_task(table), workers=2)
    check_data_parallel(make_replay_task(table), workers=1)

    class Stream(IterableDataset[Any]):
        def __iter__(self) -> Any:
            return iter([])

    from paretune.trainers import DatasetSplits, Task

    task = Task(
        name="endless",
        build_model=lambda dropout: torch.nn.Linear(2, 2),
        num_classes=2,
        load_datasets=lambda: DatasetSplits(train=Stream(), val=Stream(), test=Stream()),
    )
    with pytest.raises(ValueError, match="train dataset is an IterableDataset"):
        check_data_parallel(task, workers=2)


@pytest.mark.slow
def test_two_ranks_train_what_one_worker_trains_in_memory(tmp_path: Path) -> None:
    strategy = {
        "epochs": 3,
        "lr": 0.05,
        "optimizer": "momentum",
        "batch_size": 50,
        "prune_rate": 0.5,
        "bits": 4,
        "schedule": "cosine",
        "weight_decay": 1e-4,
        "l1": 1e-5,
    }
    out = run_ranks(tmp_path, "mlp", task="digits-mlp", strategy=strategy, workers=2, single=True)
    one, ranks = out["single"], out["ranks"]
    assert set(ranks) == {"0", "1"}
    for rank in ranks.values():
        assert_same_curve(one["curve"], rank["curve"])
        assert rank["val_accuracy"] == pytest.approx(one["val_accuracy"], abs=TOLERANCE)
        assert rank["size_bits"] == one["size_bits"]  # the same masks and bit width
        assert rank["reports"] == [1, 2, 3]  # report is called on every rank
    assert ranks["0"] == {**ranks["1"], "reports": ranks["0"]["reports"]}  # one result


@pytest.mark.slow
def test_three_ranks_stream_short_batches_like_one_worker(tmp_path: Path) -> None:
    # 203 samples in global batches of 16: 13 steps, the last of 11, split 4/4/3 over 3 ranks
    # (and a step of 16 split 6/5/5); dropout draws differ between ranks, so none here.
    strategy = {"epochs": 3, "lr": 0.1, "optimizer": "adam", "batch_size": 16, "grad_clip": 1.0}
    out = run_ranks(tmp_path, "stream", task="stream", strategy=strategy, workers=3, single=True)
    for rank in out["ranks"].values():
        assert_same_curve(out["single"]["curve"], rank["curve"])
        assert rank["test_accuracy"] == pytest.approx(out["single"]["test_accuracy"])


@pytest.mark.slow
def test_rank_zero_stops_every_rank(tmp_path: Path) -> None:
    strategy = {"epochs": 4, "lr": 0.05, "batch_size": 64}
    out = run_ranks(tmp_path, "stop", task="stream", strategy=strategy, workers=2, stop_at=2)
    for rank in out["ranks"].values():
        assert (rank["status"], rank["epochs"], rank["reports"]) == ("stopped", 2, [1, 2])


@pytest.mark.slow
def test_ranks_resume_from_the_checkpoint_rank_zero_wrote(tmp_path: Path) -> None:
    strategy = {"epochs": 3, "lr": 0.05, "batch_size": 32, "optimizer": "adam", "prune_rate": 0.3}
    whole = run_ranks(tmp_path, "whole", task="stream", strategy=strategy, workers=2)
    checkpoints = tmp_path / "ckpt"
    died = run_ranks(
        tmp_path,
        "died",
        task="stream",
        strategy=strategy,
        workers=2,
        exit_at=2,
        checkpoint_dir=str(checkpoints),
    )
    assert died["exited"] == {"rank": 0, "code": 3}
    assert (checkpoints / "paretune_checkpoint.pt").is_file()
    resumed = run_ranks(
        tmp_path,
        "resumed",
        task="stream",
        strategy=strategy,
        workers=2,
        checkpoint_dir=str(checkpoints),
    )
    for rank in resumed["ranks"].values():
        assert rank["reports"] == [3]  # epochs 1 and 2 came from the checkpoint
        assert_same_curve(whole["ranks"]["0"]["curve"], rank["curve"])


@pytest.mark.gpu
@pytest.mark.parametrize(
    "backend",
    [
        "gloo",  # two ranks may share one GPU through gloo (CUDA tensors via host memory)
        pytest.param(
            "nccl",
            marks=pytest.mark.skipif(
                torch.cuda.device_count() < 2, reason="NCCL needs one GPU per rank; fewer here"
            ),
        ),
    ],
)
def test_two_ranks_on_cuda_train_what_one_worker_trains(tmp_path: Path, backend: str) -> None:
    strategy = {
        "epochs": 3,
        "lr": 0.05,
        "optimizer": "momentum",
        "batch_size": 50,
        "prune_rate": 0.5,
        "bits": 4,
    }
    out = run_ranks(
        tmp_path,
        backend,
        task="digits-mlp",
        strategy=strategy,
        workers=2,
        single=True,
        device="cuda",
        backend=backend,
    )
    for rank in out["ranks"].values():
        assert_same_curve(out["single"]["curve"], rank["curve"])
