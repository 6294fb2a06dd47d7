"""Study files, the wiring of space + trainer + search, the Python API and the ``paretune`` CLI.

In Python, :class:`Study` declares a study (the keys of a study file, checked the same way)
and runs it; :class:`StudyResult` reads what it holds (front, trials as a DataFrame) and
selects and exports a strategy, as ``paretune select`` does.
"""

from __future__ import annotations

from paretune.studies._api import Study
from paretune.studies._api_result import StudyResult
from paretune.studies._api_select import Export, UntrustedTaskError
from paretune.studies._builtin import builtin_studies, resolve_study
from paretune.studies._cli import main
from paretune.studies._config import RayOptions, StudyConfig, StudyLocation
from paretune.studies._duration import parse_duration
from paretune.studies._errors import StudyFileError
from paretune.studies._failures import RunFailedError
from paretune.studies._loader import load_config, locate_study, read_mapping, read_study
from paretune.studies._objective import (
    TrainingObjective,
    build_objective,
    objective_factory,
    trial_outcome,
)
from paretune.studies._progress import ProgressBar
from paretune.studies._runner import run_study
from paretune.studies._space_file import strategy_fields
from paretune.studies._table import format_number
from paretune.studies._terminate import terminate_as_interrupt

__all__ = [
    "Export",
    "ProgressBar",
    "RayOptions",
    "RunFailedError",
    "Study",
    "StudyConfig",
    "StudyFileError",
    "StudyLocation",
    "StudyResult",
    "TrainingObjective",
    "UntrustedTaskError",
    "build_objective",
    "builtin_studies",
    "format_number",
    "load_config",
    "locate_study",
    "main",
    "objective_factory",
    "parse_duration",
    "read_mapping",
    "read_study",
    "resolve_study",
    "run_study",
    "strategy_fields",
    "terminate_as_interrupt",
    "trial_outcome",
]
