"""Build the digits-mlp replay table used by ``bench/mo_pruning.py``.

Trains every strategy of a full-factorial grid (every training dimension varied) on the
``digits-mlp`` task with the real trainer, recording the per-epoch validation accuracy, the
cumulative training time, the test accuracy and the measured costs, and writes them as a
replay table (``paretune.trainers.write_replay_table``) to ``bench/data/digits_mlp_grid.npz``.

Run once: about 1.1 s per strategy on one free core (20 minutes); the committed table took
66 minutes on a 2-core machine shared with other jobs::

    OMP_NUM_THREADS=1 python bench/make_table.py
    OMP_NUM_THREADS=1 python bench/make_table.py --seed 1 --out /tmp/digits_mlp_grid_seed1.npz

``--seed`` is every strategy's training seed (data order, initial weights): the same grid
trained again with another seed is a table ``bench/mo_pruning.py --table`` has never been
tuned on.

The grid is a full factorial so that a sampler over the same categorical space only ever
asks for strategies the table holds.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import torch
from paretune.trainers import Strategy, get_task, train, write_replay_table

#: Levels of each varied dimension; everything else keeps the Strategy default.
GRID: dict[str, tuple[Any, ...]] = {
    "optimizer": ("momentum", "adam"),
    "lr": (0.001, 0.003, 0.01, 0.03),
    "schedule": ("constant", "cosine"),
    "batch_size": (32, 128),
    "weight_decay": (0.0, 0.001),
    "dropout": (0.0, 0.25),
    "prune_rate": (0.0, 0.8, 0.95),
    "bits": (2, 4, 8),
}
#: Dimensions held at one value (the table still records them).
FIXED: dict[str, Any] = {"warmup_epochs": 0, "l1": 0.0, "act_bits": None, "seed": 0}

OUT = Path(__file__).parent / "data" / "digits_mlp_grid.npz"


def grid_strategies(epochs: int, seed: int = 0) -> list[Strategy]:
    """Every strategy of the grid, in a fixed order."""
    names = list(GRID)
    fixed = {**FIXED, "seed": seed}
    return [
        Strategy.from_dict({**fixed, **dict(zip(names, values, strict=True)), "epochs": epochs})
        for values in itertools.product(*(GRID[name] for name in names))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="train only the first N")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0, help="every strategy's training seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    task = get_task("digits-mlp")
    strategies = grid_strategies(args.epochs, args.seed)
    if args.limit is not None:
        strategies = strategies[:: max(1, len(strategies) // args.limit)][: args.limit]
    partial = args.out.with_suffix(".partial.pkl")
    results = pickle.loads(partial.read_bytes()) if partial.exists() else []
    start = time.perf_counter()
    for index in range(len(results), len(strategies)):
        results.append(train(task, strategies[index], device="cpu"))
        if (index + 1) % 50 == 0 or index + 1 == len(strategies):
            partial.write_bytes(pickle.dumps(results))
            elapsed = time.perf_counter() - start
            print(f"{index + 1}/{len(strategies)} trained, {elapsed:.0f} s", flush=True)
    write_replay_table(args.out, results, source_task="digits-mlp")
    partial.unlink(missing_ok=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(results)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
