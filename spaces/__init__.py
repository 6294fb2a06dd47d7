"""Search spaces over training strategies: distributions, conditions and Optuna sampling."""

from __future__ import annotations

from paretune.spaces._distributions import (
    CategoricalDistribution,
    Distribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
    distribution_from_dict,
)
from paretune.spaces._space import StrategySpace
from paretune.spaces._suggest import SuggestTrial, suggest

__all__ = [
    "CategoricalDistribution",
    "Distribution",
    "Fixed",
    "FloatDistribution",
    "IntDistribution",
    "StrategySpace",
    "SuggestTrial",
    "distribution_from_dict",
    "suggest",
]
