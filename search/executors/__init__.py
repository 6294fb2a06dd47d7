"""Where to run: the local executor (this process or N processes) and the Ray Tune executor.

Both go through the same ask -> train -> tell path and report the same :class:`Progress` and
:class:`RunSummary`. Ray is imported only when :func:`run_ray` runs.
"""

from __future__ import annotations

from paretune.search.executors._local import Objective, ObjectiveFactory, run_local
from paretune.search.executors._ray_executor import gpu_share, run_ray
from paretune.search.executors._summary import Progress, RunSummary, StopReason

__all__ = [
    "Objective",
    "ObjectiveFactory",
    "Progress",
    "RunSummary",
    "StopReason",
    "gpu_share",
    "run_local",
    "run_ray",
]
