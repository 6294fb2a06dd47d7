"""Run ``trainers.train`` on N gloo ranks (and once on 1 worker) and write what each returned.

Used by tests/trainers/test_distributed.py as a script (``python ddp_ranks.py CONFIG.json``):
the ranks are spawned processes that import this file as their main module, which a pytest
test module cannot be. CONFIG: ``task`` ("digits-mlp" or "stream": a dataset task defined
here), ``strategy`` (Strategy fields), ``workers``, ``out`` (JSON written by the parent),
``stop_at`` (rank 0's report asks to stop after this epoch), ``exit_at`` (rank 0 exits after
this epoch's checkpoint, as a killed worker would), ``checkpoint_dir``, ``single`` (also train
on 1 worker in the parent), ``device`` ("cpu" or "cuda": rank r on GPU r mod count) and
``backend`` ("gloo" or "nccl").
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from paretune import trainers
from torch import nn
from torch.utils.data import TensorDataset


def stream_task() -> trainers.Task:
    """A dataset task (DataLoader path): 203 training samples, so batches end short."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(303, 12, generator=generator)
    y = (x[:, :3].sum(dim=1) > 0).long() + (x[:, 3] > 1).long()

    def load() -> trainers.DatasetSplits:
        return trainers.DatasetSplits(
            train=TensorDataset(x[:203], y[:203]),
            val=TensorDataset(x[203:253], y[203:253]),
            test=TensorDataset(x[253:], y[253:]),
        )

    def build(dropout: float) -> nn.Module:
        return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 3))

    return trainers.Task(name="stream", build_model=build, num_classes=3, load_datasets=load)


def get_task(name: str) -> trainers.Task:
    return stream_task() if name == "stream" else trainers.get_task(name)


def summary(result: trainers.TrainResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "epochs": result.epochs,
        "curve": [dict(point) for point in result.curve],
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "size_bits": result.size_bits,
        "sparsity": result.sparsity,
    }


def rank_main(rank: int, config: dict[str, Any], port: int, queue: Any) -> None:
    torch.set_num_threads(1)
    world = config["workers"]
    device = config.get("device", "cpu")
    if device == "cuda":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group(
        config.get("backend", "gloo"),
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
    )
    reports: list[int] = []

    def report(epoch: int, metrics: Any) -> bool:
        reports.append(epoch)
        if rank == 0 and epoch == config.get("exit_at"):
            os._exit(3)  # after this epoch's checkpoint, like a worker killed mid-run
        return rank == 0 and epoch == config.get("stop_at")

    result = trainers.train(
        get_task(config["task"]),
        trainers.Strategy(**config["strategy"]),
        device=device,
        report=report,
        checkpoint_dir=config.get("checkpoint_dir"),
    )
    queue.put((rank, {**summary(result), "reports": reports}))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main(path: str) -> None:
    with open(path) as file:
        config = json.load(file)
    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    if config.get("single"):
        strategy = trainers.Strategy(**config["strategy"])
        device = config.get("device", "cpu")
        out["single"] = summary(trainers.train(get_task(config["task"]), strategy, device=device))
    queue = mp.get_context("spawn").SimpleQueue()
    context = mp.start_processes(
        rank_main,
        args=(config, free_port(), queue),
        nprocs=config["workers"],
        join=False,
        start_method="spawn",
    )
    try:
        while not context.join():
            pass
    except mp.ProcessExitedException as error:
        out["exited"] = {"rank": error.error_index, "code": error.exit_code}
    ranks = {}
    while not queue.empty():
        rank, result = queue.get()
        ranks[str(rank)] = result
    out["ranks"] = ranks
    with open(config["out"], "w") as file:
        json.dump(out, file)


if __name__ == "__main__":
    main(sys.argv[1])
