"""Where to run: the local executor (this process or N processes) and the Ray Tune executor.

A trial may itself run on several data-parallel ranks: locally in a
:class:`DataParallelObjective` (``run_local(..., workers_per_trial=N)``).

Both go through the same ask -> train -> tell path, call the same
:class:`~paretune.search.Objective`, and keep one run state (``_run_state.py``: argument checks,
trial counts, front size, stop reason) to report the same :class:`Progress` and
:class:`RunSummary`. Ray is imported only when :func:`run_ray` runs.
"""

from __future__ import annotations

from paretune.search.executors._callbacks import check_callbacks
from paretune.search.executors._counters import MAX_CONSECUTIVE_FAILURES, RunCounters
from paretune.search.executors._data_parallel import DataParallelObjective
from paretune.search.executors._interrupts import redeliver_dropped_interrupts
from paretune.search.executors._local import run_local
from paretune.search.executors._ray_executor import gpu_share, run_ray
from paretune.search.executors._run_state import TrialCounts
from paretune.search.executors._summary import Progress, RunSummary, StopReason
from paretune.search.study._outcome import Objective, ObjectiveFactory

__all__ = [
    "MAX_CONSECUTIVE_FAILURES",
    "DataParallelObjective",
    "Objective",
    "ObjectiveFactory",
    "Progress",
    "RunCounters",
    "RunSummary",
    "StopReason",
    "TrialCounts",
    "check_callbacks",
    "gpu_share",
    "redeliver_dropped_interrupts",
    "run_local",
    "run_ray",
]
