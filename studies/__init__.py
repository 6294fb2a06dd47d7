"""Study files, the wiring of space + trainer + search, and the ``paretune`` CLI."""

from __future__ import annotations

from paretune.studies._builtin import builtin_studies, resolve_study
from paretune.studies._config import RayOptions, StudyConfig, StudyLocation
from paretune.studies._duration import parse_duration
from paretune.studies._errors import StudyFileError
from paretune.studies._loader import load_config, locate_study
from paretune.studies._objective import TrainingObjective, build_objective, objective_factory
from paretune.studies._runner import run_study

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
    "objective_factory",
    "parse_duration",
    "resolve_study",
    "run_study",
]
