"""The callbacks a study's ``[tracking]`` table asks for (``paretune run --mlflow URI``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paretune.studies._errors import StudyFileError, format_value

if TYPE_CHECKING:
    from paretune.studies._config import StudyConfig

__all__ = ["open_tracker", "tracking_callbacks"]


def tracking_callbacks(config: StudyConfig, *, label: str) -> list[Any]:
    """The Optuna-style callbacks that log the study's trials where ``[tracking]`` says.

    With ``tracking.mlflow`` set, one :class:`paretune.search.MLflowTracker`, whose store
    and experiment are opened here, before any trial runs: a store MLflow cannot open (or
    MLflow not installed) is a bad study, reported at once.

    Raises:
        StudyFileError: MLflow is not installed, or refuses the URI or the experiment.

    Examples:
        >>> from paretune.studies import read_mapping
        >>> config = read_mapping({"name": "m", "task": "synthetic", "space": {"lr": 0.1}},
        ...                       label="Study")
        >>> tracking_callbacks(config, label="Study")
        []
    """
    tracking = config.tracking
    if tracking.mlflow is None:
        return []
    from paretune.search import MLflowTracker

    tracker = MLflowTracker(tracking_uri=tracking.mlflow, experiment=tracking.experiment)
    open_tracker(tracker, study_name=config.spec.name, label=label, key="tracking.mlflow")
    return [tracker]


def open_tracker(tracker: Any, *, study_name: str, label: str, key: str) -> None:
    """Open an ``MLflowTracker``'s store and experiment now, before any trial runs.

    Raises:
        StudyFileError: MLflow is not installed, or refuses the URI or the experiment
            (the message names ``key``: ``tracking.mlflow``, or ``callbacks`` for a tracker
            passed to ``Study.run``).
    """
    got = f"(got {format_value(tracker.tracking_uri)})"
    try:
        tracker.experiment_id(study_name)
    except ImportError:
        raise StudyFileError(
            label, key, f"needs MLflow {got}: pip install 'paretune[tracking]' (mlflow-skinny)"
        ) from None
    except Exception as error:  # MLflow raises its own exception types (MlflowException ...)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StudyFileError(label, key, f"cannot be opened by MLflow {got}: {first}") from None
