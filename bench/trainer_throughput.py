"""Trainer throughput against a minimal hand-written torch loop, measured in one run.

For each configuration the same model, data (tensors on the device, batched by index) and
batch size are trained by ``paretune.trainers.train`` and by the plain loop below (which also
computes the validation accuracy after each epoch, as the trainer must to report); the table
gives samples per second of each and their ratio (trainer / hand loop). The trainer's time is
its own ``train_seconds`` (training plus its per-epoch validation pass). Runs alternate; the
samples/s are the best of ``--repeats`` (other processes only slow a run down), "ratio" is
best over best and "median ratio" the median of the per-repeat (back-to-back) ratios.

Usage::

    python bench/trainer_throughput.py [--task digits-mlp] [--batch-size 32] [--epochs 10]
        [--repeats 5] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from paretune.trainers import Strategy, Task, get_task, resolve_device, train
from torch.nn import functional as F


def hand_loop_samples_per_second(
    task: Task, *, batch_size: int, epochs: int, device: torch.device, seed: int
) -> float:
    """The minimal loop: Adam, cross-entropy, shuffled index batches of device tensors, and
    the validation accuracy after each epoch (the work the trainer does per epoch)."""
    data = task.data()
    x, y = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = task.new_model(0.0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
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
    return strategy.epochs * len(task.data().x_train) / result.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = resolve_device(args.device)
    task = get_task(args.task)
    configs = {
        "float, no pruning": Strategy(batch_size=args.batch_size, epochs=args.epochs),
        "prune 0.9 + 4-bit QAT": Strategy(
            batch_size=args.batch_size, epochs=args.epochs, prune_rate=0.9, bits=4
        ),
    }
    # warm up both paths (first optimizer import, allocator, kernels)
    hand_loop_samples_per_second(task, batch_size=args.batch_size, epochs=1, device=device, seed=0)
    for strategy in configs.values():
        train(task, strategy.replace(epochs=1), device=str(device))

    hand: list[float] = []
    ours: dict[str, list[float]] = {name: [] for name in configs}
    for repeat in range(args.repeats):
        hand.append(
            hand_loop_samples_per_second(
                task, batch_size=args.batch_size, epochs=args.epochs, device=device, seed=repeat
            )
        )
        for name, strategy in configs.items():
            ours[name].append(
                trainer_samples_per_second(task, strategy.replace(seed=repeat), device=str(device))
            )

    # Each repeat runs the hand loop and the trainer back to back. Other processes only ever
    # slow a run down, so the best of the repeats is the least disturbed measurement of each.
    hand_rate = max(hand)
    threads = torch.get_num_threads()
    print(
        f"task {args.task}, batch size {args.batch_size}, {args.epochs} epochs x "
        f"{len(task.data().x_train)} samples, device {device}, torch threads {threads}, "
        f"best of {args.repeats}\n"
    )
    print("| configuration | trainer samples/s | hand loop samples/s | ratio | median ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, rates in ours.items():
        rate = max(rates)
        paired = statistics.median(r / h for r, h in zip(rates, hand, strict=True))
        print(
            f"| {name} | {rate:,.0f} | {hand_rate:,.0f} | {rate / hand_rate:.2f} | {paired:.2f} |"
        )


if __name__ == "__main__":
    main()
