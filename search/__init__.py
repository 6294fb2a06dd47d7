"""Optuna studies, samplers and pruners by name, executors, Pareto math and reports."""

from __future__ import annotations

from paretune.search._decision import Decision
from paretune.search._pareto import (
    crowding_distance,
    hypervolume,
    knee_point,
    non_dominated_sort,
    pareto_front_mask,
)

__all__ = [
    "Decision",
    "crowding_distance",
    "hypervolume",
    "knee_point",
    "non_dominated_sort",
    "pareto_front_mask",
]
