"""Experiment tracking: each finished trial logged as an MLflow run, through MLflow's own API.

:class:`MLflowTracker` is an Optuna-style callback (``callback(study, frozen_trial)``) for the
executors' ``callbacks=``; ``paretune run`` adds one for a study file's ``[tracking]`` table
or ``--mlflow URI``. MLflow (``pip install paretune[tracking]``, mlflow-skinny) is imported
only when a trial is logged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from paretune.search._objectives import is_measurement
from paretune.spaces import bad_parameter

if TYPE_CHECKING:
    import datetime

    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["MLflowTracker"]

# MLflow's limits on one log_batch call
_MAX_METRICS = 1000
_MAX_PARAMS = 100


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _ms(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _flat(values: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """``values`` with each nested mapping spread into dotted keys (a task's own knobs,
    ``task_params``, become one MLflow param each: ``task_params.width``).

    Examples:
        >>> _flat({"lr": 0.1, "task_params": {"width": 32, "depth": 2}})
        {'lr': 0.1, 'task_params.width': 32, 'task_params.depth': 2}
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


class MLflowTracker:
    """Logs every trial that ends as one MLflow run (an Optuna-style callback).

    Each run is named ``trial-N`` (N: the Optuna trial number) in the experiment
    ``experiment`` (default: the study's name, created when missing), and holds:

    - params: the trial's strategy (every field, searched or fixed; the sampled parameters
      when the trial has no strategy), the task's own parameters each as its own param
      (``task_params.width``);
    - metrics per epoch: every number of the learning curve (``val_accuracy``,
      ``train_loss``, ...) at ``step = epoch``;
    - ``final/<name>``: the final measurements and costs (``final/val_accuracy``,
      ``final/test_accuracy``, ``final/size_bits``, ``final/epochs`` ...);
    - ``objective/<name>``: the objective values of a COMPLETE trial, named as the study
      names its objectives (``objective/accuracy``, ``objective/size_bits``);
    - tags: ``study``, ``trial`` (the number), ``state`` (``COMPLETE``, ``PRUNED``,
      ``FAIL``) and ``reason`` (why it was pruned or failed);
    - status ``FINISHED`` (``FAILED`` for a FAIL trial), with the trial's start and end time.

    :meth:`log_export` adds an exported model to a trial's run. Non-finite numbers are not
    logged. MLflow is imported on the first use.

    Args:
        tracking_uri: MLflow tracking URI (``"sqlite:///runs/mlflow.db"``, ``"http://host:5000"``,
            ``"file:./mlruns"`` where MLflow allows file stores); None: MLflow's default
            (``MLFLOW_TRACKING_URI``).
        experiment: MLflow experiment name; None: the study's name.

    Examples:
        >>> tracker = MLflowTracker(tracking_uri="sqlite:///runs/mlflow.db")
        >>> tracker
        MLflowTracker(tracking_uri='sqlite:///runs/mlflow.db', experiment=None)
        >>> MLflowTracker(experiment="")
        Traceback (most recent call last):
        ...
        ValueError: The 'experiment' parameter of MLflowTracker must be a non-empty str or \
None. Got '' instead.
    """

    def __init__(self, *, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        for name, value in (("tracking_uri", tracking_uri), ("experiment", experiment)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise bad_parameter(name, "MLflowTracker", "a non-empty str or None", value)
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self._client: Any = None
        self._experiment_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MLflowTracker(tracking_uri={self.tracking_uri!r}, experiment={self.experiment!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    # -- MLflow ------------------------------------------------------------------------------

    def client(self) -> Any:
        """The ``mlflow.MlflowClient`` of ``tracking_uri`` (made on the first call)."""
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def experiment_id(self, study_name: str | None = None) -> str:
        """The id of the experiment runs go to, created when missing.

        Args:
            study_name: The study's name, the experiment's name when ``experiment`` is None.

        Raises:
            ValueError: Neither ``experiment`` nor ``study_name`` is given, or the
                experiment was deleted in MLflow.
        """
        name = self.experiment or study_name
        if not name:
            raise ValueError(
                "MLflowTracker needs an experiment name: pass experiment= or study_name=."
            )
        if name not in self._experiment_ids:
            client = self.client()
            found = client.get_experiment_by_name(name)
            if found is None:
                experiment_id = str(client.create_experiment(name))
            elif found.lifecycle_stage == "deleted":
                raise ValueError(
                    f"The MLflow experiment {name!r} in {self.tracking_uri or 'the default store'}"
                    " was deleted; restore it (mlflow experiments restore) or name another one."
                )
            else:
                experiment_id = str(found.experiment_id)
            self._experiment_ids[name] = experiment_id
        return self._experiment_ids[name]

    # -- the callback ------------------------------------------------------------------------

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Log ``trial`` (finished) of ``study`` as one MLflow run."""
        self.log_trial(study, trial)

    def log_trial(self, study: optuna.Study, trial: FrozenTrial) -> str:
        """Log a finished trial as one MLflow run; return the run's id."""
        from mlflow.entities import Metric, Param

        client = self.client()
        attrs = trial.user_attrs
        tags = {"study": study.study_name, "trial": str(trial.number), "state": trial.state.name}
        reason = attrs.get("prune_reason") or attrs.get("fail_reason")
        if reason:
            tags["reason"] = str(reason)
        run = client.create_run(
            self.experiment_id(study.study_name),
            start_time=_ms(trial.datetime_start),
            tags=tags,
            run_name=f"trial-{trial.number}",
        )
        run_id: str = run.info.run_id
        strategy = attrs.get("strategy")
        values = dict(strategy) if isinstance(strategy, Mapping) else dict(trial.params)
        params = [Param(key, str(value)) for key, value in sorted(_flat(values).items())]
        stamp = _ms(trial.datetime_complete) or _ms(trial.datetime_start) or 0
        metrics = [
            Metric(key, number, stamp, step)
            for key, number, step in self._metric_points(study, trial)
        ]
        for chunk in _chunks(params, _MAX_PARAMS):
            client.log_batch(run_id, params=list(chunk))
        for chunk in _chunks(metrics, _MAX_METRICS):
            client.log_batch(run_id, metrics=list(chunk))
        failed = trial.state.name == "FAIL"
        client.set_terminated(
            run_id,
            status="FAILED" if failed else "FINISHED",
            end_time=_ms(trial.datetime_complete),
        )
        return run_id

    @staticmethod
    def _metric_points(study: optuna.Study, trial: FrozenTrial) -> Iterator[tuple[str, float, int]]:
        """``(key, value, step)`` of the curve, the final measurements and the objectives."""
        attrs = trial.user_attrs
        curve = attrs.get("curve")
        for point in curve if isinstance(curve, list) else []:
            epoch = point.get("epoch") if isinstance(point, Mapping) else None
            if isinstance(epoch, bool) or not isinstance(epoch, int):
                continue
            for key, value in point.items():
                number = _number(value)
                if key != "epoch" and number is not None:
                    yield str(key), number, epoch
        for key, value in sorted(attrs.items()):
            number = _number(value)
            if is_measurement(key) and number is not None:
                yield f"final/{key}", number, 0
        if trial.values is not None:
            names = study.metric_names or attrs.get("objectives") or []
            if len(names) != len(trial.values):
                names = [str(i) for i in range(len(trial.values))]
            for name, value in zip(names, trial.values, strict=True):
                number = _number(value)
                if number is not None:
                    yield f"objective/{name}", number, 0

    # -- exports -----------------------------------------------------------------------------

    def log_export(
        self,
        directory: str | os.PathLike[str],
        *,
        trial_number: int,
        study_name: str | None = None,
    ) -> str:
        """Log an exported model directory as artifacts (``model/``) of a trial's run.

        The run is the latest ``trial-N`` run of the experiment (of the study ``study_name``
        when given); a trial that was never logged gets a new run of that name.

        Args:
            directory: The exported model's folder.
            trial_number: The Optuna number of the trial the model was trained from.
            study_name: The study (names the experiment when ``experiment`` is None, and
                tells its runs from those of other studies in a shared experiment).

        Returns:
            The id of the run the artifacts were logged to.

        Raises:
            ValueError: ``directory`` is not a folder, or no experiment name is known.
        """
        path = os.fspath(directory)
        if not os.path.isdir(path):
            raise bad_parameter("directory", "MLflowTracker.log_export", "a folder", directory)
        if isinstance(trial_number, bool) or not isinstance(trial_number, int):
            raise bad_parameter(
                "trial_number", "MLflowTracker.log_export", "an int >= 0", trial_number
            )
        client = self.client()
        experiment_id = self.experiment_id(study_name)
        runs = [
            run
            for run in client.search_runs(
                [experiment_id],
                filter_string=f"tags.trial = '{trial_number}'",
                order_by=["attributes.start_time DESC"],
            )
            if study_name is None or run.data.tags.get("study") == study_name
        ]
        if runs:
            run_id: str = runs[0].info.run_id
        else:
            tags = {"trial": str(trial_number)}
            if study_name is not None:
                tags["study"] = study_name
            run = client.create_run(experiment_id, tags=tags, run_name=f"trial-{trial_number}")
            run_id = run.info.run_id
            client.set_terminated(run_id)
        client.log_artifacts(run_id, path, artifact_path="model")
        return run_id
