"""Which settings matter: fANOVA parameter importances per objective (Optuna's evaluator)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["importances"]


def importances(
    trials: Sequence[Any],
    objectives: Sequence[str],
    *,
    max_trials: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Parameter importances per objective with Optuna's fANOVA evaluator.

    At most ``max_trials`` COMPLETE trials (a seeded random subsample) are used and the
    forest is kept small (16 trees of depth 6), so the cost stays bounded (about half a second
    per objective) at any number of trials: Optuna's marginal variances grow about twofold per
    level of depth, and depth 8 took four times as long for the same ranking on 10,000
    synthetic trials (``bench/report_scale.py``). Parameters absent from some trial
    (conditional ones) are left out by Optuna.

    Args:
        trials: Frozen trials.
        objectives: The study's objectives (values are in this order).
        max_trials: Subsample size.
        seed: Seed of the evaluator's forest and the subsample.

    Returns:
        Objective -> parameter -> importance (normalized to sum to 1); an objective is
        missing when there are fewer than 3 usable trials or no parameter varies.
    """
    import optuna

    complete = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.COMPLETE
        and t.values is not None
        and len(t.values) == len(objectives)
        and all(math.isfinite(v) for v in t.values)
    ]
    if len(complete) < 3:
        return {}
    if len(complete) > max_trials:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(complete), size=max_trials, replace=False))
        complete = [complete[i] for i in keep]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        study = optuna.create_study(directions=["minimize"] * len(objectives))
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(  # params and values only: the curves and strategies are not needed
        [
            optuna.trial.create_trial(
                params=t.params, distributions=t.distributions, values=t.values
            )
            for t in complete
        ]
    )
    result: dict[str, dict[str, float]] = {}
    for index, name in enumerate(objectives):
        evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=16, max_depth=6, seed=seed)

        def target(trial: Any, i: int = index) -> float:
            return float(trial.values[i])

        try:
            values = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=target
            )
        except (ValueError, RuntimeError):
            continue
        if values:
            result[name] = {k: float(v) for k, v in values.items()}
    return result
