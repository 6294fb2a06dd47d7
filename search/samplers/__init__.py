"""What to try next: Optuna samplers by name (always seeded) and paretune's ``rung-tpe``."""

from __future__ import annotations

from paretune.search._optuna_compat import split_complete_trials
from paretune.search.samplers._defaults import default_sampler
from paretune.search.samplers._registry import (
    SamplerInfo,
    get_sampler,
    list_samplers,
    register_sampler,
    sampler_info,
)
from paretune.search.samplers._rung_tpe import RungTPESampler, rung_split

__all__ = [
    "RungTPESampler",
    "SamplerInfo",
    "default_sampler",
    "get_sampler",
    "list_samplers",
    "register_sampler",
    "rung_split",
    "sampler_info",
    "split_complete_trials",
]
