"""When to stop: the pruner interface, the pruners by name and the pure decision cores.

The Ray Tune adapter (``paretune.search.pruning._ray_scheduler``) imports Ray, so it is loaded
by the Ray executor only.
"""

from __future__ import annotations

from paretune.search.pruning._base import TrialPruner
from paretune.search.pruning._decision import Decision, Verdict
from paretune.search.pruning._mo_asha import (
    MOAsha,
    RungSpacing,
    RungVerdict,
    TieBreak,
    promotion_order,
    rung_point,
)
from paretune.search.pruning._mo_pruner import MOAshaPruner, curve_entry_at
from paretune.search.pruning._registry import (
    NoPruner,
    OptunaPruner,
    PrunerInfo,
    get_pruner,
    list_pruners,
    pruner_info,
    register_pruner,
)
from paretune.search.pruning._reporter import TrialReporter

__all__ = [
    "Decision",
    "MOAsha",
    "MOAshaPruner",
    "NoPruner",
    "OptunaPruner",
    "PrunerInfo",
    "RungSpacing",
    "RungVerdict",
    "TieBreak",
    "TrialPruner",
    "TrialReporter",
    "Verdict",
    "curve_entry_at",
    "get_pruner",
    "list_pruners",
    "promotion_order",
    "pruner_info",
    "register_pruner",
    "rung_point",
]
