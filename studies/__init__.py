"""Study files, the wiring of space + trainer + search, and the ``paretune`` CLI."""

from __future__ import annotations

from paretune.studies._builtin import builtin_studies, resolve_study
from paretune.studies._cli import main
from paretune.studies._config import RayOptions, StudyConfig, StudyLocation
from paretune.studies._duration import parse_duration
from paretune.studies._errors import StudyFileError
from paretune.studies._loader import load_config, locate_study, read_study
from paretune.studies._objective import (
    TrainingObjective,
    build_objective,
    objective_factory,
    trial_outcome,
)
from paretune.studies._runner import run_study
from paretune.studies._space_file import strategy_fields

__all__ = [
    "RayOptions",
    "StudyConfig",
    "StudyFileError",
    "StudyLocation",
    "TrainingObjective",
    "build_objective",
    "builtin_studies",
    "load_config",
    "locate_study",
    "main",
    "objective_factory",
    "parse_duration",
    "read_study",
    "resolve_study",
    "run_study",
    "strategy_fields",
    "trial_outcome",
]
