"""Search spaces over training strategies: distributions, conditions and Optuna sampling.

As the bottom of the house (it imports no other paretune package, and no torch, ray or
plotly), it also holds what every package needs: the registry helper and the parameter checks.
"""

from __future__ import annotations

from paretune.spaces._checks import bad_parameter, check_int, check_number, is_int, is_number
from paretune.spaces._distributions import (
    CategoricalDistribution,
    Distribution,
    Fixed,
    FloatDistribution,
    IntDistribution,
    distribution_from_dict,
)
from paretune.spaces._registry import Registry, check_options
from paretune.spaces._space import StrategySpace
from paretune.spaces._suggest import SuggestTrial, suggest

__all__ = [
    "CategoricalDistribution",
    "Distribution",
    "Fixed",
    "FloatDistribution",
    "IntDistribution",
    "Registry",
    "StrategySpace",
    "SuggestTrial",
    "bad_parameter",
    "check_int",
    "check_number",
    "check_options",
    "distribution_from_dict",
    "is_int",
    "is_number",
    "suggest",
]
