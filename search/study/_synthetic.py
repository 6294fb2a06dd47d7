"""Synthetic trials written straight into an Optuna study (for report tests and benchmarks).

The records have the exact shape the search engine writes (params, values in objective
order, the user attributes ``strategy``, ``val_accuracy`` ... ``curve``, ``pruned_at_epoch``,
``fail_reason``, the curve metric's intermediate values, the objectives as metric names),
with accuracy and cost following plausible trends of bit width, prune rate and learning
rate, so a report of thousands of trials can be built without training anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from paretune.search._optuna_compat import set_metric_names
from paretune.search.study._curves import curve_metric

__all__ = ["add_synthetic_trials", "create_synthetic_study"]

_OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
_SCHEDULES = ("constant", "cosine", "step")
_BITS = (2, 3, 4, 6, 8, 32)
_BATCHES = (16, 32, 64, 128)
_PARAMS = 4810  # a 64-64-10 MLP
_MACS = 4736


def create_synthetic_study(
    *,
    storage: str | None,
    study_name: str,
    objectives: Sequence[str] = ("accuracy", "size_bits"),
    constraints: Mapping[str, float] | None = None,
    task: str = "synthetic",
) -> Any:
    """Create an empty study with the user attributes ``open_study`` writes.

    Args:
        storage: Optuna storage URL, or ``None`` for in-memory.
        study_name: Name of the study.
        objectives: ``"accuracy"`` and cost names, in order.
        constraints: Cost name -> largest allowed value (study user attribute).
        task: The task name stored in the study metadata.

    Returns:
        The new ``optuna.Study``.

    Examples:
        >>> study = create_synthetic_study(storage=None, study_name="demo")
        >>> study.user_attrs["objectives"]
        ['accuracy', 'size_bits']
    """
    import optuna

    directions: list[Any] = ["maximize" if o == "accuracy" else "minimize" for o in objectives]
    study = optuna.create_study(storage=storage, study_name=study_name, directions=directions)
    set_metric_names(study, objectives)
    study.set_user_attr("objectives", list(objectives))
    study.set_user_attr("constraints", dict(constraints or {}))
    study.set_user_attr("metadata", {"task": task, "task_options": {}, "data_dir": None})
    return study


def _trial(rng: np.random.Generator, objectives: Sequence[str], state_draw: float) -> Any:
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
    )

    optimizer = str(rng.choice(_OPTIMIZERS))
    lr = float(10 ** rng.uniform(-4, math.log10(0.3)))
    schedule = str(rng.choice(_SCHEDULES))
    batch = int(rng.choice(_BATCHES))
    prune = float(rng.uniform(0.0, 0.95))
    bits = int(rng.choice(_BITS))
    decay = float(10 ** rng.uniform(-6, -2))
    params = {
        "optimizer": optimizer,
        "lr": lr,
        "schedule": schedule,
        "batch_size": batch,
        "weight_decay": decay,
        "prune_rate": prune,
        "bits": bits,
    }
    distributions = {
        "optimizer": CategoricalDistribution(_OPTIMIZERS),
        "lr": FloatDistribution(1e-4, 0.3, log=True),
        "schedule": CategoricalDistribution(_SCHEDULES),
        "batch_size": CategoricalDistribution(_BATCHES),
        "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
        "prune_rate": FloatDistribution(0.0, 0.95),
        "bits": CategoricalDistribution(_BITS),
    }
    strategy: dict[str, Any] = {**params, "epochs": 20, "seed": 0, "dropout": 0.0}
    if optimizer == "momentum":
        strategy["momentum"] = 0.9
    if optimizer.startswith("adam"):
        strategy["beta1"], strategy["beta2"] = 0.9, 0.999
    best_lr = 1e-3 if optimizer.startswith("adam") or optimizer == "rmsprop" else 0.05
    final = (
        0.975
        - 0.06 * abs(math.log10(lr / best_lr)) ** 1.5
        - {2: 0.12, 3: 0.05, 4: 0.02, 6: 0.005, 8: 0.002}.get(bits, 0.0)
        - 0.25 * max(0.0, prune - 0.7) ** 2 * 8
        + float(rng.normal(0, 0.01))
    )
    final = float(min(max(final, 0.1), 0.995))
    nonzero = round(_PARAMS * (1 - prune))
    costs = {
        "params": float(_PARAMS),
        "nonzero_params": float(nonzero),
        "size_bits": float(nonzero * bits + _PARAMS * (prune > 0)),
        "bitops": float(_MACS * (1 - prune) * bits * 8),
        "latency_ms": float(0.05 + 0.0004 * nonzero * bits / 32 + rng.exponential(0.01)),
        "train_seconds": float(20 * 0.2 * 64 / batch),
    }
    rate = float(rng.uniform(0.2, 0.6))
    curve_acc = [0.1 + (final - 0.1) * (1 - math.exp(-rate * e)) for e in range(1, 21)]
    if state_draw < 0.03:
        state = optuna.trial.TrialState.FAIL
        epochs = int(rng.integers(1, 4))
    elif state_draw < 0.3:
        state = optuna.trial.TrialState.PRUNED
        epochs = int(rng.integers(2, 11))
    else:
        state = optuna.trial.TrialState.COMPLETE
        epochs = 20
    curve = [
        {
            "epoch": e,
            "val_accuracy": round(curve_acc[e - 1], 5),
            "train_loss": round(2.3 * math.exp(-rate * e), 5),
            "sparsity": round(prune * min(1.0, e / 10), 4),
            "train_seconds": round(costs["train_seconds"] * e / 20, 4),
        }
        for e in range(1, epochs + 1)
    ]
    metric = curve_metric(objectives)  # stored as intermediate values, as a real run does
    attrs: dict[str, Any] = {"strategy": strategy, "curve": curve, "epochs": epochs, **costs}
    attrs["sparsity"] = curve[-1]["sparsity"]
    values: list[float] | None = None
    if state == optuna.trial.TrialState.COMPLETE:
        attrs["val_accuracy"] = round(final, 5)
        attrs["test_accuracy"] = round(min(1.0, final - float(rng.normal(0.005, 0.01))), 5)
        attrs["status"] = "completed"
        values = [attrs["val_accuracy"] if o == "accuracy" else costs[o] for o in objectives]
    elif state == optuna.trial.TrialState.PRUNED:
        attrs["pruned_at_epoch"] = epochs
        attrs["prune_reason"] = f"dominated at epoch {epochs}"
    else:
        attrs["fail_reason"] = "diverged: training loss became nan"
    return optuna.trial.create_trial(
        state=state,
        values=values,
        params=params,
        distributions=distributions,
        user_attrs=attrs,
        intermediate_values={int(p["epoch"]): p[metric] for p in curve if metric in p},
    )


def add_synthetic_trials(study: Any, *, n_trials: int, seed: int = 0) -> None:
    """Append ``n_trials`` synthetic finished trials (about 70% complete, 27% pruned, 3% failed).

    Args:
        study: An ``optuna.Study`` made by :func:`create_synthetic_study` (its user attribute
            ``objectives`` orders the values).
        n_trials: How many trials to add.
        seed: Seed of this call's generator.

    Examples:
        >>> study = create_synthetic_study(storage=None, study_name="demo")
        >>> add_synthetic_trials(study, n_trials=20, seed=1)
        >>> len(study.trials)
        20
    """
    if n_trials < 0:
        raise ValueError(f"The 'n_trials' parameter must be an int >= 0. Got {n_trials} instead.")
    objectives = list(study.user_attrs.get("objectives", ["accuracy", "size_bits"]))
    rng = np.random.default_rng(seed)
    draws = rng.random(n_trials)
    study.add_trials([_trial(rng, objectives, float(d)) for d in draws])
