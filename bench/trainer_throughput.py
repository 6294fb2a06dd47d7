"""Trainer throughput against a minimal hand-written torch loop, measured in one run.

For each configuration the same model, data (tensors on the device, batched by index) and
batch size are trained by ``paretune.trainers.train`` and by the plain loop below (which also
computes the validation accuracy after each epoch, as the trainer must to report); the table
gives samples per second of each and their ratio (trainer / hand loop). The trainer's time is
its own ``train_seconds`` (training plus its per-epoch validation pass). Runs alternate; the
samples/s are the best of ``--repeats`` (other processes only slow a run down), "ratio" is
best over best and "median ratio" the median of the per-repeat (back-to-back) ratios.

A second table measures the DataLoader path (a task giving ``torch`` Datasets through
``Task.load_datasets``): the same data as map-style ``TensorDataset``s, read by the trainer and
by a hand loop over the same ``DataLoader`` settings (``--workers`` worker processes, shuffled
by a seeded generator), with the same model, optimizer, batch size and epochs.

The hand loops build Adam as the trainer does, with torch's fused update (one kernel a step);
``--plain-adam`` gives them torch's default Adam instead (a few kernels per update term).

Usage::

    python bench/trainer_throughput.py [--task digits-mlp] [--batch-size 32] [--epochs 10]
        [--repeats 5] [--device auto] [--workers 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from paretune.trainers import (
    DatasetSplits,
    LoaderOptions,
    Strategy,
    Task,
    get_task,
    resolve_device,
    train,
)
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


def hand_loop_samples_per_second(
    task: Task, *, batch_size: int, epochs: int, device: torch.device, seed: int, fused: bool
) -> float:
    """The minimal loop: Adam (``fused``: torch's one-kernel update, as the trainer builds it),
    cross-entropy, shuffled index batches of device tensors, and the validation accuracy after
    each epoch (the work the trainer does per epoch)."""
    data = task.data()
    x, y = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = task.new_model(0.0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        for first in range(0, len(x), batch_size):
            index = order[first : first + batch_size]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        float(loss.item())
        model.eval()
        with torch.no_grad():
            float((model(x_val).argmax(dim=1) == y_val).float().mean().item())
        model.train()
    return epochs * len(x) / (time.perf_counter() - start)


def trainer_samples_per_second(task: Task, strategy: Strategy, *, device: str) -> float:
    result = train(task, strategy, device=device)
    samples = len(task.datasets().train) if task.streams else len(task.data().x_train)  # type: ignore[arg-type]
    return strategy.epochs * samples / result.train_seconds


def dataset_task(task: Task, *, workers: int) -> Task:
    """``task``'s tensors as map-style datasets, streamed by DataLoaders with ``workers``."""
    data = task.data()
    datasets = DatasetSplits(
        train=TensorDataset(data.x_train, data.y_train),
        val=TensorDataset(data.x_val, data.y_val),
        test=TensorDataset(data.x_test, data.y_test),
    )
    return Task(
        name=f"{task.name}-datasets",
        build_model=task.build_model,
        load_datasets=lambda: datasets,
        input_shape=task.input_shape,
        num_classes=task.num_classes,
        loader_options=LoaderOptions(num_workers=workers, persistent_workers=workers > 0),
    )


def hand_loader_samples_per_second(
    task: Task,
    *,
    batch_size: int,
    epochs: int,
    device: torch.device,
    seed: int,
    workers: int,
    fused: bool,
) -> float:
    """The minimal DataLoader loop: Adam (``fused`` as above), cross-entropy, batches of a
    shuffled DataLoader with the same settings as the trainer's, and the validation accuracy
    after each epoch."""
    datasets = task.datasets()
    pin = device.type == "cuda"
    common = {"num_workers": workers, "persistent_workers": workers > 0, "pin_memory": pin}
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        datasets.train, batch_size=batch_size, shuffle=True, generator=generator, **common
    )
    val_loader = DataLoader(datasets.val, batch_size=1024, **common)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = task.new_model(0.0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    samples = len(datasets.train)  # type: ignore[arg-type]
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(epochs):
        total = torch.zeros((), device=device)
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=pin), y.to(device, non_blocking=pin)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        float(total.item())
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=device)
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device, non_blocking=pin), y.to(device, non_blocking=pin)
                correct += (model(x).argmax(dim=1) == y).sum()
        float(correct.item())
        model.train()
    return epochs * samples / (time.perf_counter() - start)


def print_table(
    title: str, hand: list[float], ours: dict[str, list[float]], *, repeats: int
) -> None:
    hand_rate = max(hand)
    print(f"{title}, best of {repeats}\n")
    print("| configuration | trainer samples/s | hand loop samples/s | ratio | median ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, rates in ours.items():
        rate = max(rates)
        paired = statistics.median(r / h for r, h in zip(rates, hand, strict=True))
        print(
            f"| {name} | {rate:,.0f} | {hand_rate:,.0f} | {rate / hand_rate:.2f} | {paired:.2f} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--no-loader", action="store_true", help="skip the DataLoader table")
    parser.add_argument(
        "--plain-adam",
        action="store_true",
        help="the hand loops use torch's default Adam (the trainer uses its fused update)",
    )
    args = parser.parse_args()
    fused = not args.plain_adam

    device = resolve_device(args.device)
    task = get_task(args.task)
    configs = {
        "float, no pruning": Strategy(batch_size=args.batch_size, epochs=args.epochs),
        "prune 0.9 + 4-bit QAT": Strategy(
            batch_size=args.batch_size, epochs=args.epochs, prune_rate=0.9, bits=4
        ),
    }
    # warm up both paths (first optimizer import, allocator, kernels)
    hand_loop_samples_per_second(
        task, batch_size=args.batch_size, epochs=1, device=device, seed=0, fused=fused
    )
    for strategy in configs.values():
        train(task, strategy.replace(epochs=1), device=str(device))

    hand: list[float] = []
    ours: dict[str, list[float]] = {name: [] for name in configs}
    for repeat in range(args.repeats):
        hand.append(
            hand_loop_samples_per_second(
                task,
                batch_size=args.batch_size,
                epochs=args.epochs,
                device=device,
                seed=repeat,
                fused=fused,
            )
        )
        for name, strategy in configs.items():
            ours[name].append(
                trainer_samples_per_second(task, strategy.replace(seed=repeat), device=str(device))
            )

    # Each repeat runs the hand loop and the trainer back to back. Other processes only ever
    # slow a run down, so the best of the repeats is the least disturbed measurement of each.
    threads = torch.get_num_threads()
    head = (
        f"task {args.task}, batch size {args.batch_size}, {args.epochs} epochs x "
        f"{len(task.data().x_train)} samples, device {device}, torch threads {threads}, "
        f"hand loop Adam {'fused' if fused else 'torch default'}"
    )
    print_table(f"in-memory tensors: {head}", hand, ours, repeats=args.repeats)
    if args.no_loader:
        return

    streamed = dataset_task(task, workers=args.workers)

    def hand_loader(epochs: int, seed: int) -> float:
        return hand_loader_samples_per_second(
            streamed,
            batch_size=args.batch_size,
            epochs=epochs,
            device=device,
            seed=seed,
            workers=args.workers,
            fused=fused,
        )

    hand_loader(1, 0)  # warm up
    train(streamed, configs["float, no pruning"].replace(epochs=1), device=str(device))
    hand_l: list[float] = []
    ours_l: dict[str, list[float]] = {name: [] for name in configs}
    for repeat in range(args.repeats):
        hand_l.append(hand_loader(args.epochs, repeat))
        for name, strategy in configs.items():
            ours_l[name].append(
                trainer_samples_per_second(
                    streamed, strategy.replace(seed=repeat), device=str(device)
                )
            )
    print_table(
        f"DataLoader ({args.workers} workers): {head}", hand_l, ours_l, repeats=args.repeats
    )


if __name__ == "__main__":
    main()
