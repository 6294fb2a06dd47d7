"""A study declared, validated and run in Python: :class:`Study`.

A :class:`Study` says what a study file says, with the same keys and values, and is checked
by the same loader with the same messages (``Study: space.lr.low must be > 0 when log = true
(got 0)``); :meth:`Study.run` runs it through the executors ``paretune run`` uses and returns
a :class:`~paretune.studies.StudyResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretune.studies._api_result import StudyResult
from paretune.studies._config import StudyConfig
from paretune.studies._failures import RunFailedError, failed_run_line
from paretune.studies._loader import TOP_LEVEL_KEYS, read_mapping, read_study
from paretune.studies._runner import check_existing, execute, optuna_warnings_only
from paretune.studies._task_ref import check_main_task, task_reference

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["LABEL", "Study", "run_declared", "study_from_file"]

#: How a study declared in Python is named in messages (in place of a study file).
LABEL = "Study"

#: Reads the study's config; ``check_data=True`` also requires the task's data.
_Reader = Callable[..., StudyConfig]


def _toml_like(value: Any) -> Any:
    """The value as a parsed TOML file holds it: mappings as dicts, sequences as lists.

    Examples:
        >>> _toml_like({"bits": (4, 8), "lr": {"low": 1e-3, "high": 0.1}})
        {'bits': [4, 8], 'lr': {'low': 0.001, 'high': 0.1}}
    """
    if isinstance(value, Mapping):
        return {key: _toml_like(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_toml_like(item) for item in value]
    return value


class Study:
    """A study declared in Python: what a study file says, validated on construction.

    Every argument is the study-file key of the same name, with the same values and
    defaults (``paretune spaces`` lists the strategy fields, ``paretune tasks`` the tasks):
    a bad value raises :class:`~paretune.studies.StudyFileError` (a ``ValueError``) naming
    the argument and what is allowed, as for a study file. The task is built to check its
    name and options; its data is read only by :meth:`run`.

    Args:
        name: The Optuna study name (letters, digits, ``-``, ``_``, ``.``). Required.
        task: The task (``"digits-mlp"``, ``"replay:PATH"``, ``"package.module:make_task"``),
            or the factory function itself (``task=make_task``: stored as its import path,
            ``"__main__:make_task"`` for one defined in the running script or notebook).
            Required.
        space: The search space, as a study file's ``[space]`` table: a value fixes a field,
            a list (or tuple) makes it a choice, a dict ``{"low", "high", "log", "step"}`` a
            range. Required.
        description: One line for people.
        task_options: Options handed to the task factory.
        data_dir: Where the task finds (or downloads) its data.
        objectives: ``"accuracy"`` (or a metric the task declares, ``"val_rmse"``) and/or
            costs (``"size_bits"``, ``"bitops"``, ``"latency_ms"``, ...), in order.
        constraints: Cost -> largest allowed value (``{"size_bits": 50_000}``).
        sampler: A sampler name (``"tpe"``, ``"nsga2"``, ...) or a dict with ``"name"`` and
            its options (``{"name": "nsga2", "population_size": 12}``); ``None``: a study
            file's default (``"rung-tpe"`` for several objectives with a pruner, else
            ``"tpe"``).
        pruner: A pruner name (``"none"``, ``"mo-asha"``, ``"median"``, ...) or a dict.
        n_trials: Finished (complete + pruned) trials the study should hold; ``None``: 20,
            or with ``max_total_epochs`` until the budget is spent.
        seed: The sampler's seed.
        storage: An Optuna storage URL; ``None`` for ``sqlite:///runs/<name>.db``.
        timeout: Stop starting trials after this many seconds (or ``"10m"``, ``"1h30m"``).
        max_total_epochs: The epoch budget of the whole study.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (paretune trains on the
            CPU and on CUDA GPUs; Apple's ``mps`` is not supported).
        backend: ``"local"`` or ``"ray"``.
        jobs: Worker processes of the local backend (needs a journal or server storage).
        workers_per_trial: Processes training each trial data-parallel (local backend).
        fuse: Trials trained at once as one fused model where compatible (one process, or
            one Ray trial, per group; ``paretune.trainers.train_fused``).
        ray: The ``[ray]`` table: ``address``, ``gpus_per_trial``, ``cpus_per_trial``, ...
        tracking: The ``[tracking]`` table: ``mlflow`` (a tracking URI) and ``experiment``.

    Raises:
        StudyFileError: A value is not allowed (``Study: n_trials must be an integer >= 1
            (got 0)``).

    Examples:
        >>> study = Study(name="demo", task="synthetic", objectives=["accuracy", "size_bits"],
        ...               space={"lr": {"low": 1e-3, "high": 0.3, "log": True}, "bits": [4, 8]})
        >>> study.name, study.storage, study.config.n_trials
        ('demo', 'sqlite:///runs/demo.db', 20)
        >>> Study(name="bad demo!", task="synthetic", space={"lr": 0.1})
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: Study: name must be a name of letters,
        digits, '-', '_' or '.' starting with a letter or digit (got "bad demo!")
        >>> Study(name="demo", task="synthetic", space={"lr": {"low": 0, "high": 1, "log": True}})
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: Study: space.lr.low must be > 0 when log =
        true (got 0)
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        task: str | Callable[..., Any] | None = None,
        space: Mapping[str, Any] | None = None,
        description: str | None = None,
        task_options: Mapping[str, Any] | None = None,
        data_dir: str | Path | None = None,
        objectives: Sequence[str] | str = ("accuracy",),
        constraints: Mapping[str, float] | None = None,
        sampler: str | Mapping[str, Any] | None = None,
        pruner: str | Mapping[str, Any] = "none",
        n_trials: int | None = None,
        seed: int = 0,
        storage: str | None = None,
        timeout: float | str | None = None,
        max_total_epochs: int | None = None,
        device: str = "auto",
        backend: str = "local",
        jobs: int = 1,
        workers_per_trial: int = 1,
        fuse: int = 1,
        ray: Mapping[str, Any] | None = None,
        tracking: Mapping[str, str] | None = None,
    ) -> None:
        given = {
            "name": name,
            "description": description,
            "task": task_reference(task, label=LABEL),
            "task_options": task_options,
            "data_dir": str(data_dir) if isinstance(data_dir, Path) else data_dir,
            "objectives": objectives,
            "constraints": constraints,
            "sampler": sampler,
            "pruner": pruner,
            "n_trials": n_trials,
            "timeout": timeout,
            "seed": seed,
            "storage": storage,
            "max_total_epochs": max_total_epochs,
            "device": device,
            "backend": backend,
            "jobs": jobs,
            "workers_per_trial": workers_per_trial,
            "fuse": fuse,
            "space": space,
            "ray": ray,
            "tracking": tracking,
        }
        # None means "not given": the key is left out, as a study file leaves it out.
        data = {key: _toml_like(value) for key, value in given.items() if value is not None}
        self._setup(partial(read_mapping, data, label=LABEL), LABEL)

    def _setup(self, reader: _Reader, label: str) -> None:
        self._reader = reader
        self._label = label
        self._config: StudyConfig = reader(check_data=False)
        check_main_task(self._config, label=label)

    @classmethod
    def from_file(cls, study: str | Path, /, **overrides: Any) -> Study:
        """A study from a study file or a built-in name, with keys replaced by ``overrides``.

        Args:
            study: A ``.toml`` file or a built-in name (``"digits-quick"``).
            **overrides: Study-file keys to replace (``n_trials=5``, ``storage=URL``); a
                table (``space``, ``ray``) is replaced as a whole. ``None`` removes the key.

        Raises:
            StudyFileError: The file, or an override, holds a value that is not allowed.
            TypeError: An override is not a study-file key.

        Examples:
            >>> Study.from_file("digits-quick", n_trials=5).config.n_trials
            5
            >>> Study.from_file("digits-quick", n_trials=0)
            Traceback (most recent call last):
            ...
            paretune.studies._errors.StudyFileError: Study.from_file(n_trials=...): must be an
            integer >= 1 (got 0)
        """
        unknown = [key for key in overrides if key not in TOP_LEVEL_KEYS]
        if unknown:
            raise TypeError(
                f"Study.from_file() got an unexpected keyword argument {unknown[0]!r}. "
                f"Known: {', '.join(sorted(TOP_LEVEL_KEYS))}"
            )
        labels = {key: f"Study.from_file({key}=...)" for key in overrides}
        return study_from_file(
            str(study), overrides={k: _toml_like(v) for k, v in overrides.items()}, labels=labels
        )

    @property
    def config(self) -> StudyConfig:
        """The validated study (``config.spec`` is what the search engine sees)."""
        return self._config

    @property
    def name(self) -> str:
        """The Optuna study name."""
        return self._config.spec.name

    @property
    def storage(self) -> str:
        """The Optuna storage URL."""
        return self._config.spec.storage

    def __repr__(self) -> str:
        return (
            f"Study(name={self.name!r}, task={self._config.task!r}, "
            f"objectives={list(self._config.spec.objectives)!r}, "
            f"n_trials={self._config.n_trials}, storage={self.storage!r})"
        )

    def run(
        self,
        *,
        progress: bool = False,
        callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    ) -> StudyResult:
        """Run the study, or resume it until it holds ``n_trials`` finished trials.

        Blocks until the run ends. It prints nothing (Optuna's log level is WARNING while it
        runs) unless ``progress`` is true. The task's data is checked first, as ``paretune
        run`` checks it. Re-running a finished study runs nothing; a larger ``n_trials``
        extends it.

        Args:
            progress: Draw ``paretune run``'s progress display on stderr.
            callbacks: Optuna-style callbacks, each called as ``callback(study, trial)``
                after every finished trial (as in ``optuna.Study.optimize``).

        Returns:
            The study and what this run did (:attr:`StudyResult.summary`).

        Raises:
            StudyFileError: The task's data is missing or unusable, or the storage holds a
                study of this name created with another space, objectives or constraints.
            RunFailedError: The run stopped because its last trials all failed (10 in a
                row): the message gives their reasons, the error's ``result`` the study.

        Examples:
            >>> import tempfile
            >>> folder = tempfile.TemporaryDirectory()
            >>> study = Study(name="demo", task="synthetic", task_options={"n_samples": 200},
            ...               objectives=["accuracy", "size_bits"],
            ...               space={"lr": {"low": 1e-3, "high": 0.3, "log": True}, "epochs": 1},
            ...               n_trials=2, storage=f"sqlite:///{folder.name}/demo.db")
            >>> result = study.run()
            >>> len(result.study.trials), result.summary.ran, len(result.front) > 0
            (2, 2, True)
            >>> study.run().summary.stop_reason.value  # it holds n_trials: nothing to run
            'already_done'
            >>> folder.cleanup()
        """
        from paretune.search import StopReason
        from paretune.search.executors import MAX_CONSECUTIVE_FAILURES

        result = run_declared(self, progress=progress, callbacks=callbacks)
        if result.summary is not None and result.summary.stop_reason is StopReason.FAILURES:
            line = failed_run_line(result.study, MAX_CONSECUTIVE_FAILURES)
            raise RunFailedError(f"{self._label}: {line}", result=result)
        return result

    def load(self) -> StudyResult:
        """The study as its storage holds it now, without running anything.

        Returns:
            The study (:attr:`StudyResult.summary` is ``None``).

        Raises:
            LookupError: The storage holds no study of this name (it is never created).
        """
        return StudyResult.open(name=self.name, storage=self.storage, trusted_task=self.config.task)


def study_from_file(
    study: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Study:
    """A :class:`Study` read from a study file, naming each override by ``labels[key]``
    in messages (``paretune run`` passes its flags: ``{"n_trials": "--n-trials"}``)."""
    reader = partial(read_study, study, overrides=overrides, labels=labels)
    declared = Study.__new__(Study)
    declared._setup(reader, study)
    return declared


def run_declared(
    study: Study,
    *,
    progress: bool = False,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    on_start: Callable[[StudyConfig], None] | None = None,
) -> StudyResult:
    """:meth:`Study.run`, calling ``on_start(config)`` once the data is checked and before
    the first trial (``paretune run`` prints its description there)."""
    config = study._reader(check_data=True)
    check_existing(config, label=study._label)  # refused before the run's first line
    if on_start is not None:
        on_start(config)
    summary = execute(config, label=study._label, progress=progress, callbacks=callbacks)
    with optuna_warnings_only():
        return StudyResult.open(name=config.spec.name, storage=config.spec.storage, summary=summary)
