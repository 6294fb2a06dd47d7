"""A deterministic fake trainer for search-engine tests (importable by worker processes).

Accuracy grows with the epoch towards a ceiling set by ``lr`` (best near 0.01); size is
1000 bits per weight bit. The objective reports every epoch and stops when told to, like
``trainers.train``; options make it raise, diverge or sleep so the engine's failure paths run.
Tests put this folder on ``sys.path`` so spawned workers can import the factory.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

Reporter = Callable[[int, Mapping[str, float]], bool]


def ceiling(lr: float) -> float:
    """Final validation accuracy for a learning rate: 0.95 at lr=0.01, lower away from it."""
    return 0.95 - 0.2 * abs(math.log10(lr) + 2.0)


def fake_objective(
    params: dict[str, Any],
    report: Reporter,
    checkpoint_dir: str | None = None,
    *,
    raise_above_lr: float | None = None,
    diverge_above_lr: float | None = None,
    sleep_s: float = 0.0,
    block_file: str | None = None,
    started_dir: str | None = None,
    kill_once: str | None = None,
) -> dict[str, Any]:
    """Train nothing; return a TrainResult.to_dict()-shaped mapping."""
    lr = float(params["lr"])
    bits = int(params.get("bits", 32))
    epochs = int(params.get("epochs", 3))
    if started_dir is not None:
        Path(started_dir, f"{time.time_ns()}.started").write_text(repr(params))
    if kill_once is not None and not Path(kill_once).exists():
        Path(kill_once).write_text(repr(params))
        report(1, {"val_accuracy": 0.0})
        os.kill(os.getpid(), signal.SIGKILL)  # this worker dies mid-trial (power loss, OOM)
    if raise_above_lr is not None and lr > raise_above_lr:
        raise ValueError(f"lr={lr} is too large for this fake")
    curve: list[dict[str, float]] = []
    status, reason = "completed", ""
    for epoch in range(1, epochs + 1):
        if sleep_s:
            time.sleep(sleep_s)
        if block_file is not None and Path(block_file).exists():
            Path(block_file).with_suffix(".blocked").write_text(repr(params))
            while True:  # wait to be killed
                time.sleep(0.05)
        if diverge_above_lr is not None and lr > diverge_above_lr:
            status, reason = "diverged", f"loss is nan at epoch {epoch}"
            curve.append({"val_accuracy": 0.1, "train_loss": math.nan})
            break
        accuracy = ceiling(lr) * epoch / epochs
        metrics = {
            "val_accuracy": accuracy,
            "train_loss": 1.0 - accuracy,
            "size_bits": 1000.0 * bits,
        }
        curve.append(metrics)
        if report(epoch, metrics):
            status, reason = "stopped", f"stopped after epoch {epoch}"
            break
    last = curve[-1]
    return {
        "status": status,
        "reason": reason,
        "val_accuracy": last["val_accuracy"],
        "test_accuracy": last["val_accuracy"] - 0.01,
        "params": 1000,
        "nonzero_params": 900,
        "sparsity": 0.1,
        "size_bits": 1000.0 * bits,
        "bitops": 5000.0 * bits,
        "latency_ms": 0.5,
        "train_seconds": 0.001 * len(curve),
        "epochs": len(curve),
        "curve": curve,
        "strategy": dict(params),
    }


def make_fake(**options: Any) -> Callable[..., dict[str, Any]]:
    """Objective factory: ``partial(make_fake, raise_above_lr=0.1)`` pickles for workers."""
    return partial(fake_objective, **options)
