"""What to try next: Optuna samplers by name (always seeded), paretune's ``tpe`` (Optuna's,
reading the study once a trial) and ``rung-tpe``."""

from __future__ import annotations

from paretune.search._optuna_compat import split_complete_trials, without_pruned_curves
from paretune.search.samplers._defaults import default_sampler
from paretune.search.samplers._log_pdf import mixture_log_pdf
from paretune.search.samplers._registry import (
    SamplerInfo,
    get_sampler,
    list_samplers,
    register_sampler,
    sampler_info,
)
from paretune.search.samplers._rung_tpe import RungTPESampler, rung_split
from paretune.search.samplers._split import nondomination_ranks_2d, split_complete_2d
from paretune.search.samplers._tpe import TPESampler

__all__ = [
    "RungTPESampler",
    "SamplerInfo",
    "TPESampler",
    "default_sampler",
    "get_sampler",
    "list_samplers",
    "mixture_log_pdf",
    "nondomination_ranks_2d",
    "register_sampler",
    "rung_split",
    "sampler_info",
    "split_complete_2d",
    "split_complete_trials",
    "without_pruned_curves",
]
