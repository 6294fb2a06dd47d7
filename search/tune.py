"""The Ray Tune adapters: what :func:`paretune.search.run_ray` hands to Ray, public for tests.

Importing this module imports Ray (``pip install "paretune[ray]"``); ``paretune.search`` itself
never does.
"""

from __future__ import annotations

from paretune.search.executors._ray_channel import TrialChannel, open_channel
from paretune.search.executors._ray_executor import CtrlCWatch
from paretune.search.executors._ray_searcher import StudySearcher
from paretune.search.executors._ray_train import run_data_parallel_trial, train_worker
from paretune.search.executors._ray_trainable import epoch_result, final_result, run_trial
from paretune.search.pruning._ray_scheduler import (
    EpochNoteScheduler,
    StudyPrunerScheduler,
    make_scheduler,
    study_searcher,
)

__all__ = [
    "CtrlCWatch",
    "EpochNoteScheduler",
    "StudyPrunerScheduler",
    "StudySearcher",
    "TrialChannel",
    "epoch_result",
    "final_result",
    "make_scheduler",
    "open_channel",
    "run_data_parallel_trial",
    "run_trial",
    "study_searcher",
    "train_worker",
]
