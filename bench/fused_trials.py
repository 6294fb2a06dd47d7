"""Trials per hour: K strategies trained fused (``train_fused``) over the same K one by one.

Both sides train the same K strategies, drawn at random (seeded) from a space over every
strategy dimension that fuses (optimizer, lr, schedule, weight decay, l1, dropout, prune rate,
bit width, seed) with one batch size and one epoch count, on the same task and device, and
return the same results (validation each epoch, cost, latency, final metrics). "one by one"
is ``train`` called K times. The CPU runs use one thread (``torch.set_num_threads(1)``), as a
trial does under ``run --jobs``. Each cell is the best of ``--repeat`` runs.

    python bench/fused_trials.py                       # digits-mlp and digits-cnn, K 4-32, CPU
    python bench/fused_trials.py --tasks digits-cnn --k 16 --device cuda
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import torch
from paretune.trainers import Strategy, get_task, train, train_fused

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "adagrad", "rmsprop")
SCHEDULES = ("constant", "linear", "cosine", "exponential", "step")


def draw(
    k: int, *, seed: int, epochs: int, batch_size: int, dropout: bool, uniform: bool = False
) -> list[Strategy]:
    """K random strategies of one fuse group (one batch size, one epoch count).

    ``uniform``: one optimizer (adam), float weights, no pruning or l1; lr, weight decay,
    schedule and seed still vary (a learning-rate sweep).
    """
    rng = random.Random(seed)
    strategies = []
    for index in range(k):
        optimizer = "adam" if uniform else rng.choice(OPTIMIZERS)
        adaptive = optimizer in ("adam", "adamw", "adagrad", "rmsprop")
        strategies.append(
            Strategy(
                optimizer=optimizer,
                lr=10 ** rng.uniform(-4, -2) if adaptive else 10 ** rng.uniform(-3, -0.5),
                schedule=rng.choice(SCHEDULES),
                weight_decay=rng.choice((0.0, 1e-5, 1e-4, 1e-3)),
                l1=0.0 if uniform else rng.choice((0.0, 0.0, 1e-5)),
                dropout=rng.choice((0.1, 0.3)) if dropout else 0.0,
                prune_rate=0.0 if uniform else rng.choice((0.0, 0.5, 0.8, 0.9)),
                bits=32 if uniform else rng.choice((2, 4, 8, 32)),
                batch_size=batch_size,
                epochs=epochs,
                seed=seed * 1000 + index,
            )
        )
    return strategies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits-mlp", "digits-cnn"])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dropout", action="store_true", help="every member uses dropout")
    parser.add_argument(
        "--uniform", action="store_true", help="one optimizer, float, no pruning (an lr sweep)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    kind = "uniform (adam, float, lr sweep)" if args.uniform else "mixed (every dimension)"
    print(
        f"device {args.device}, {args.threads} thread(s), {args.epochs} epochs, batch "
        f"{args.batch_size}, {kind} strategies, best of {args.repeat}; trials/hour"
    )
    print(f"{'task':<12} {'K':>3} {'one by one':>11} {'fused':>9} {'ratio':>6}")
    for name in args.tasks:
        task = get_task(name)
        train_fused(
            task,
            draw(2, seed=99, epochs=1, batch_size=args.batch_size, dropout=args.dropout),
            device=args.device,
        )  # warm-up
        for k in args.k:
            strategies = draw(
                k,
                seed=args.seed,
                epochs=args.epochs,
                batch_size=args.batch_size,
                dropout=args.dropout,
                uniform=args.uniform,
            )
            alone = fused = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                for strategy in strategies:
                    train(task, strategy, device=args.device)
                alone = min(alone, time.perf_counter() - start)
                start = time.perf_counter()
                train_fused(task, strategies, device=args.device)
                fused = min(fused, time.perf_counter() - start)
            print(
                f"{name:<12} {k:>3} {3600 * k / alone:>11.0f} {3600 * k / fused:>9.0f} "
                f"{alone / fused:>5.2f}x"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
