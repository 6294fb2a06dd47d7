"""Studies that look like digits-quick and digits-full, written as Optuna trials (no training).

The front of ``digits_like`` lies between validation accuracy 0.975 and 0.99, its two
cheapest points are 12 bits apart (41,324 and 41,336 bits), several trials diverged (accuracy
0.1) and some settings are the same in every trial (beta1, beta2, eps): the cases that made
the report hard to read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from paretune.search.study import create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS = 20_000  # weights of the dense model: 640,000 bits in float32

#: (size_bits, validation accuracy, lr, bits, batch_size, train_seconds) of each trial.
FRONT = [
    (41_324.0, 0.975, 0.0275, 4, 128, 0.9),
    (41_336.0, 0.978, 0.0135, 4, 64, 1.4),
    (43_000.0, 0.984, 0.0135, 4, 32, 2.1),
    (73_000.0, 0.990, 0.0135, 8, 32, 2.6),
]
DOMINATED = [
    (90_000.0 + 40_000 * k, 0.95 + 0.004 * (k % 8), 0.01 * (1 + k % 5), 8, 64, 1.8)
    for k in range(24)
]
DIVERGED = [(120_000.0 * (k + 1), 0.1, 0.3, 32, 32, 1.5) for k in range(6)]


def _trial(
    spec: tuple[float, float, float, int, int, float],
    objectives: Sequence[str],
    param: str,
) -> Any:
    size, accuracy, lr, bits, batch, seconds = spec
    measured = {
        "params": float(PARAMS),
        "nonzero_params": size / bits,
        "size_bits": size,
        "sparsity": 1 - size / bits / PARAMS,
        "bitops": size * 22.0,
        "latency_ms": 0.11 + size * 1e-8,
        "train_seconds": seconds,
    }
    strategy = {
        "optimizer": "adam", "lr": lr, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
        "schedule": "constant", "batch_size": batch, "bits": bits, param: "same",
        "prune_rate": round(1 - size / bits / PARAMS, 4), "epochs": 10, "seed": 0,
    }  # fmt: skip
    values = [accuracy if o == "accuracy" else measured[o] for o in objectives]
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE,
        values=values,
        params={"lr": lr, "bits": bits, "batch_size": batch, param: "same"},
        distributions={
            "lr": FloatDistribution(1e-3, 0.3, log=True),
            "bits": CategoricalDistribution([4, 8, 32]),
            "batch_size": CategoricalDistribution([32, 64, 128]),
            param: CategoricalDistribution(["same", "other"]),
        },
        user_attrs={
            **measured,
            "val_accuracy": accuracy,
            "test_accuracy": accuracy - 0.005,
            "strategy": strategy,
            "curve": [{"epoch": e, "val_accuracy": accuracy * e / 10} for e in range(1, 11)],
        },
    )


def digits_like(
    name: str = "digits-quick",
    *,
    objectives: Sequence[str] = ("accuracy", "size_bits"),
    param: str = "dropout",
) -> optuna.Study:
    """An in-memory study of the trials above (``param``: a searched parameter's name)."""
    study = create_synthetic_study(
        storage=None, study_name=name, objectives=tuple(objectives), task="digits-mlp"
    )
    study.add_trials([_trial(s, objectives, param) for s in (*FRONT, *DOMINATED, *DIVERGED)])
    return study


@pytest.fixture(scope="session")
def make_study() -> Callable[..., optuna.Study]:
    """:func:`digits_like`, for tests that build their own study."""
    return digits_like
