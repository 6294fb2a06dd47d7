"""Samples per second of one data-parallel trial on N workers against the same trial on one.

The task is an MLP on in-memory random data, big enough that a step's compute outweighs the
gradient all-reduce (``--width 1024``: 1.3 M parameters, 5 MB of gradients a step). Every
worker count trains the same strategy at the same global batch (``--batch``), in spawned
processes with one torch thread each and a gloo (CPU) or NCCL (GPU) process group, through
``paretune.trainers.train`` as a study's trial would. Measured per run: training samples per
second over the epochs after the first (the first pays start-up and allocation), the wall
time of the whole trial including starting the processes, and the final validation accuracy
(which must agree between the runs: N workers train what one trains).

    python bench/data_parallel.py                       # 1 and 2 workers on the CPU
    python bench/data_parallel.py --workers 1 2 4 8     # a machine with 8 free cores
    python bench/data_parallel.py --device cuda --workers 1 2 --backend gloo  # 2 ranks, 1 GPU

On one GPU, NCCL refuses two ranks on the same device, so ``--backend gloo`` (which moves CUDA
tensors through host memory) is how two ranks share it; that run shows the path works, not a
speed-up. A speed-up on GPUs needs one GPU per rank (NCCL).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from paretune import trainers
from torch import nn

FEATURES, CLASSES = 256, 10


def make_task(samples: int, width: int) -> trainers.Task:
    """Random inputs with labels from a fixed random teacher (learnable, nothing to download)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples + 2048, FEATURES, generator=generator)
    teacher = torch.randn(FEATURES, CLASSES, generator=generator)
    y = (x @ teacher).argmax(dim=1)

    def load() -> trainers.DataSplits:
        return trainers.DataSplits(
            x_train=x[:samples],
            y_train=y[:samples],
            x_val=x[samples : samples + 1024],
            y_val=y[samples : samples + 1024],
            x_test=x[samples + 1024 :],
            y_test=y[samples + 1024 :],
        )

    def build(dropout: float) -> nn.Module:
        return nn.Sequential(
            nn.Linear(FEATURES, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, CLASSES),
        )

    return trainers.Task(name="wide-mlp", build_model=build, num_classes=CLASSES, load_data=load)


def rank_main(rank: int, args: dict[str, Any], world: int, port: int, queue: Any) -> None:
    torch.set_num_threads(1)
    cuda = args["device"] == "cuda"
    backend = args["backend"] if args["backend"] != "auto" else ("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(rank % torch.cuda.device_count())
    if world > 1:
        dist.init_process_group(
            backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
        )
    task = make_task(args["samples"], args["width"])
    strategy = trainers.Strategy(
        epochs=args["epochs"], lr=0.05, optimizer="momentum", batch_size=args["batch"]
    )
    stamps: list[float] = []

    def report(epoch: int, metrics: Any) -> bool:
        stamps.append(time.perf_counter())
        return False

    started = time.perf_counter()
    result = trainers.train(task, strategy, device=args["device"], report=report)
    if rank == 0:
        # Epochs 2..N: training + validation, after the first epoch's warm-up.
        seconds = stamps[-1] - stamps[0]
        queue.put(
            {
                "samples_per_s": args["samples"] * (len(stamps) - 1) / seconds,
                "train_s": time.perf_counter() - started,
                "val_accuracy": result.val_accuracy,
            }
        )
    if world > 1:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(args: dict[str, Any], world: int) -> dict[str, Any]:
    queue = mp.get_context("spawn").SimpleQueue()
    started = time.perf_counter()
    mp.start_processes(
        rank_main, args=(args, world, free_port(), queue), nprocs=world, start_method="spawn"
    )
    row: dict[str, Any] = queue.get()
    row["wall_s"] = time.perf_counter() - started
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--backend", choices=["auto", "gloo", "nccl"], default="auto")
    parser.add_argument("--samples", type=int, default=16384)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    options = parser.parse_args()
    args = vars(options) | {"json": None}
    params = sum(p.numel() for p in make_task(8, options.width).new_model(0.0).parameters())
    print(
        f"wide MLP {params / 1e6:.2f} M params, {options.samples} samples, global batch "
        f"{options.batch}, {options.epochs} epochs, {options.device}, backend {options.backend}; "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}"
    )
    rows = []
    base: float | None = None
    print(f"{'workers':>7} {'samples/s':>10} {'vs 1':>6} {'trial s':>8} {'val acc':>8}")
    for world in options.workers:
        row = run(args, world) | {"workers": world}
        base = row["samples_per_s"] if base is None else base
        row["speedup"] = row["samples_per_s"] / base
        rows.append(row)
        print(
            f"{world:>7} {row['samples_per_s']:>10.0f} {row['speedup']:>5.2f}x "
            f"{row['wall_s']:>8.1f} {row['val_accuracy']:>8.4f}"
        )
        sys.stdout.flush()
    if options.json is not None:
        options.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
