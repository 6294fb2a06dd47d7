"""Reading a study file (TOML) into a validated, frozen :class:`StudyConfig`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from paretune import search
from paretune.search import COSTS, OBJECTIVES, is_parallel_safe, validate_storage_url
from paretune.search.samplers import default_sampler
from paretune.studies._backend_file import RAY_KEYS, read_ray, read_workers
from paretune.studies._builtin import resolve_study
from paretune.studies._checks import Where, check_depth
from paretune.studies._config import (
    BACKENDS,
    RayOptions,
    StudyConfig,
    StudyLocation,
    TrackingOptions,
    study_metadata,
)
from paretune.studies._duration import parse_duration
from paretune.studies._errors import StudyFileError, format_value
from paretune.studies._preflight import (
    check_data_parallel,
    check_device,
    check_fusable,
    check_precision,
    check_trainable,
)
from paretune.studies._space_file import fixed_task_params, read_space
from paretune.studies._toml_file import read_toml

if TYPE_CHECKING:
    from paretune import trainers

__all__ = [
    "TOP_LEVEL_KEYS",
    "RAY_KEYS",
    "TRACKING_KEYS",
    "backend_key",
    "load_config",
    "locate_study",
    "read_mapping",
    "read_study",
]

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "task",
    "task_options",
    "data_dir",
    "objectives",
    "constraints",
    "sampler",
    "pruner",
    "n_trials",
    "timeout",
    "seed",
    "storage",
    "max_total_epochs",
    "device",
    "backend",
    "jobs",
    "workers_per_trial",
    "fuse",
    "space",
    "ray",
    "tracking",
)
TRACKING_KEYS = ("mlflow", "experiment")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: The longest study name: Optuna's storages index study names of at most 512 characters.
MAX_NAME = 512
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def load_config(ref: str, *, overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Read and validate a study file.

    Args:
        ref: A path to a ``.toml`` study file or a built-in name (``"digits-quick"``).
        overrides: Values that replace the file's, by key (``"n_trials"``) or dotted key
            path (``"ray.address"``); they are validated like the file's own values.

    Returns:
        The frozen, validated config. The task is built to check its name and options, but
        its data is neither loaded nor required to be present yet.

    Raises:
        StudyFileError: When the file is missing, is not TOML, has an unknown key, or a
            value that is not allowed; the message names the file, the key path, the value
            and what is allowed.

    Examples:
        >>> config = load_config("digits-quick", overrides={"n_trials": 5})
        >>> config.spec.name, config.n_trials, config.spec.objectives
        ('digits-quick', 5, ('accuracy', 'size_bits'))
        >>> load_config("digits-quick", overrides={"n_trials": 0})
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: overrides['n_trials']: must be an integer
        >= 1 (got 0)
    """
    labels = {key: f"overrides[{key!r}]" for key in overrides or {}}
    return read_study(ref, overrides=overrides, labels=labels)


def read_study(
    ref: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    check_data: bool = False,
) -> StudyConfig:
    """:func:`load_config`, naming each override in errors by ``labels[key]`` (a CLI flag).

    Args:
        ref: A path to a ``.toml`` study file or a built-in name.
        overrides: Values that replace the file's (see :func:`load_config`).
        labels: How to name an overridden key in messages (``{"n_trials": "--n-trials"}``).
        check_data: Also require the task's data files to be present in ``data_dir``
            (``paretune run`` does; reading a study's status does not need the data).

    Returns:
        The frozen, validated config.
    """
    reader, data, path = _open(ref, overrides, labels, check_data=check_data)
    return reader.config(data, path)


def read_mapping(data: Mapping[str, Any], *, label: str, check_data: bool = False) -> StudyConfig:
    """Validate a study given as the mapping a study file's TOML parses to (no file).

    The same checks and messages as a study file, with ``label`` in place of the file name;
    ``name`` is required (there is no file name to default to).

    Args:
        data: Top-level keys to values (tables as dicts, arrays as lists).
        label: How to name the study in messages (``"Study"``).
        check_data: Also require the task's data (see :func:`read_study`).

    Returns:
        The frozen, validated config (its ``source`` is ``None``).

    Examples:
        >>> read_mapping({"name": "m", "task": "synthetic", "space": {"lr": 0.1}},
        ...              label="Study").spec.name
        'm'
        >>> lr = {"low": 0, "high": 0.1, "log": True}
        >>> read_mapping({"name": "m", "task": "synthetic", "space": {"lr": lr}}, label="Study")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: Study: space.lr.low must be > 0 when log =
        true (got 0)
    """
    check_depth(data, where=Where(label))
    return _Reader(label, {}, check_data=check_data).config(_deep_copy(data), None)


def locate_study(
    ref: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> StudyLocation:
    """Where a study file's study lives, reading only the keys that say so (fast: no torch).

    For commands that only read a study's storage (``status``): the file's name, storage,
    objectives and n_trials are validated; its task and space are not looked at.

    Args:
        ref: A path to a ``.toml`` study file or a built-in name.
        overrides: Values that replace the file's (``{"storage": URL}``).
        labels: How to name an overridden key in messages (``{"storage": "--storage"}``).

    Returns:
        The study's name, storage URL, objectives, n_trials and file.

    Examples:
        >>> location = locate_study("digits-quick")
        >>> location.name, location.storage
        ('digits-quick', 'sqlite:///runs/digits-quick.db')
    """
    reader, data, path = _open(ref, overrides, labels, check_data=False)
    return reader.location(data, path)


def backend_key(ref: str, key: str, *, overrides: Mapping[str, Any] | None = None) -> str:
    """The key path of a setting each backend reads from its own place: ``key`` at the top
    level for the local backend, ``ray.key`` for Ray.

    The backend is the one the file names, or ``overrides["backend"]`` (a ``--backend``
    flag). A file that cannot be read, or that names no known backend, gives ``key``: reading
    the study then reports what is wrong with it.

    Examples:
        >>> backend_key("digits-quick", "workers_per_trial")
        'workers_per_trial'
        >>> backend_key("digits-quick", "workers_per_trial", overrides={"backend": "ray"})
        'ray.workers_per_trial'
    """
    try:
        _, data, _ = _open(ref, overrides, None, check_data=False)
    except StudyFileError:
        return key
    return f"ray.{key}" if data.get("backend") == "ray" else key


def _open(
    ref: str,
    overrides: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None,
    *,
    check_data: bool,
) -> tuple[_Reader, dict[str, Any], Path]:
    """Read the TOML of a study reference, with the overrides applied."""
    path, source = resolve_study(ref)
    raw = read_toml(path, source=source)
    data: dict[str, Any] = _deep_copy(raw)
    origins: dict[str, str] = {}
    for key, value in (overrides or {}).items():
        _set_path(data, key, value)
        origins[key] = (labels or {}).get(key, f"overrides[{key!r}]")
    return _Reader(source, origins, check_data=check_data), data, path


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


class _Reader:
    """Validates each top-level key; errors for overridden keys name the override."""

    def __init__(self, source: str, origins: Mapping[str, str], *, check_data: bool) -> None:
        self.source = source
        self.origins = origins
        self.check_data = check_data
        self.built_task: trainers.Task | None = None  # set by task(): the objectives' check

    def at(self, key: str) -> Where:
        if key in self.origins:
            return Where(self.origins[key])
        return Where(self.source, key)

    def location(self, data: Mapping[str, Any], path: Path) -> StudyLocation:
        Where(self.source).keys(data, TOP_LEVEL_KEYS)
        name = self.name(data.get("name", path.stem.replace("_", "-")))
        return StudyLocation(
            name=name,
            storage=self.storage(data.get("storage", search.default_storage_url(name))),
            objectives=self.objectives(data.get("objectives", ["accuracy"])),
            # None: no n_trials and an epoch budget, the study runs until it is spent
            n_trials=(
                None
                if "n_trials" not in data and "max_total_epochs" in data
                else self.at("n_trials").integer(data.get("n_trials", 20), minimum=1)
            ),
            source=path.resolve(),
        )

    def config(self, data: Mapping[str, Any], path: Path | None) -> StudyConfig:
        root = Where(self.source)
        root.keys(data, TOP_LEVEL_KEYS)
        if "task" not in data:
            raise root.error('has no task: add e.g. task = "digits-mlp"')
        if "space" not in data and path is None:  # declared in Python
            raise root.error(
                'has no space: say which strategy fields to search (space={"lr": 0.1})'
            )
        if "space" not in data:
            raise root.error("has no [space] table: say which strategy fields to search")
        # Keys that need no trainer come first: a mistake there is reported without
        # importing torch.
        if path is None and "name" not in data:
            raise root.error('has no name: add e.g. name = "my-study"')
        name = self.name(data["name"] if path is None else data.get("name", _stem(path)))
        if "description" in data:
            self.at("description").string(data["description"])
        objectives = self.objectives(data.get("objectives", ["accuracy"]))
        # numpy's generators (Optuna's samplers) take seeds below 2**32
        seed = self.at("seed").integer(data.get("seed", 0), minimum=0, maximum=2**32 - 1)
        n_trials = self.at("n_trials").integer(data.get("n_trials", 20), minimum=1)
        timeout = None
        if "timeout" in data:
            try:
                timeout = parse_duration(data["timeout"])
            except ValueError as error:
                raise self.at("timeout").error(
                    f"{error} (got {format_value(data['timeout'])})"
                ) from None
        max_epochs = None
        if "max_total_epochs" in data:
            max_epochs = self.at("max_total_epochs").integer(data["max_total_epochs"], minimum=1)
        until_budget = max_epochs is not None and "n_trials" not in data
        if until_budget and max_epochs is not None:
            # Every finished trial trains at least one epoch: the budget is spent before the
            # study could hold this many, so the budget alone ends the run.
            n_trials = max_epochs
        storage = self.storage(data.get("storage", search.default_storage_url(name)))
        constraints = self.constraints(data.get("constraints", {}))
        device = self.device(data.get("device", "auto"))
        backend = self.at("backend").string(data.get("backend", "local"), choices=BACKENDS)
        jobs = self.jobs(data.get("jobs", 1), storage)
        ray = self.ray(data.get("ray", {}), backend)
        tracking = self.tracking(data.get("tracking", {}))
        workers = read_workers(
            data.get("workers_per_trial", 1), where=self.at("workers_per_trial"), backend=backend
        )
        fuse = self.fuse(data.get("fuse", 1), workers=workers)
        data_dir = None
        if "data_dir" in data:
            data_dir = str(Path(self.at("data_dir").string(data["data_dir"])).expanduser())
        task_options = self.at("task_options").table(data.get("task_options", {}))
        pruner, pruner_options = self.named_table(
            self.at("pruner"), data.get("pruner", "none"), search.list_pruners()
        )
        # No sampler named: the benchmark's best for the study (rung-tpe when it prunes
        # several objectives, else tpe; see paretune.search.samplers.default_sampler).
        default = default_sampler(n_objectives=len(objectives), pruner=pruner)
        sampler, sampler_options = self.named_table(
            self.at("sampler"), data.get("sampler", default), search.list_samplers()
        )
        task, default_epochs, task_params = self.task(data["task"], task_options, data_dir)
        metric_directions = self.metric_directions(objectives)
        space = read_space(
            data["space"],
            self.at("space"),
            epochs=default_epochs,
            task_params=task_params,
            task=task,
            unchecked=task_params is None,
            built=self.built_task,
        )
        if self.check_data and backend == "local":  # Ray workers may have other devices
            check_device(self.at("device"), device)
            check_precision(self.at("space").child("precision"), space, device)
        if self.check_data and self.built_task is not None:
            built = self.built_task
            # the task parameters the space fixes (None: it searches one, the model is unknown)
            fixed = fixed_task_params(space.params, task_params or {})
            check_trainable(self.at("task"), built, data["task"], space, fixed)
            if backend == "ray" and ray.workers_per_trial > 1:
                key = "ray.workers_per_trial"
                check_data_parallel(self.at(key), built, ray.workers_per_trial)
            elif workers > 1:
                check_data_parallel(self.at("workers_per_trial"), built, workers)
            if fuse > 1:
                check_fusable(self.at("fuse"), built, fuse, fixed)
        source = path.resolve() if path is not None else None
        spec = self.spec(
            data,
            name=name,
            storage=storage,
            objectives=objectives,
            space=space,
            sampler=sampler,
            sampler_options=sampler_options,
            pruner=pruner,
            pruner_options=pruner_options,
            seed=seed,
            constraints=constraints,
            max_total_epochs=max_epochs,
            metric_directions=metric_directions,
            metadata=study_metadata(
                task=task,
                task_options=task_options,
                data_dir=data_dir,
                device=device,
                source=source,
            ),
        )
        return StudyConfig(
            spec=spec,
            task=task,
            task_options=MappingProxyType(_deep_copy(task_options)),
            data_dir=data_dir,
            n_trials=n_trials,
            until_budget=until_budget,
            timeout=timeout,
            device=device,
            backend=backend,
            jobs=jobs,
            workers_per_trial=workers,
            fuse=fuse,
            ray=ray,
            tracking=tracking,
            source=source,
        )

    def spec(self, data: Mapping[str, Any], **fields: Any) -> search.StudySpec:
        """Build the search spec: it builds the sampler and the pruner, their one check."""
        try:
            return search.StudySpec(**fields)
        except search.UnusableError as error:
            value = data.get(error.parameter, fields[error.parameter])
            raise self.at(error.parameter).error(
                f"is not usable (got {format_value(value)}): {error.reason}"
            ) from None
        except ValueError as error:  # every field was checked above: not expected
            raise Where(self.source).error(f"is not a valid study: {error}") from None

    # -- one key each ----------------------------------------------------------------------
    def name(self, value: Any) -> str:
        where = self.at("name")
        if isinstance(value, str) and len(value) > MAX_NAME:
            raise where.fail(f"a name of at most {MAX_NAME} characters", value)
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise where.fail(
                "a name of letters, digits, '-', '_' or '.' starting with a letter or digit",
                value,
            )
        return value

    def objectives(self, value: Any) -> tuple[str, ...]:
        where = self.at("objectives")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise where.fail(f'a non-empty list of {_names(OBJECTIVES)} or "val_<metric>"', value)
        seen: list[str] = []
        for index, item in enumerate(value):
            item_where = Where(where.source, f"{where.key}[{index}]") if where.key else where
            if not search.is_metric(item):
                item = item_where.string(item, choices=[*OBJECTIVES, "val_<metric>"])
            if item in seen:
                raise item_where.error(f"repeats the objective {format_value(item)}")
            seen.append(item)
        return tuple(seen)

    def metric_directions(self, objectives: tuple[str, ...]) -> dict[str, str]:
        """Check that the task computes every metric objective; their directions.

        ``val_accuracy`` (``accuracy``) is left out: it is maximized by default.
        """
        from paretune import trainers

        task = self.built_task
        if task is None:  # the task's data is not there yet (check_data off)
            return {}
        try:
            declared = trainers.metric_directions(task)
        except ValueError as error:
            raise self.at("task").error(f"does not give usable metrics: {error}") from None
        lacking = trainers.missing_replay_columns(task)  # a replay table's missing columns
        for index, objective in enumerate(objectives):
            key = search.metric_of(objective)
            if key in lacking:
                raise self.at(f"objectives[{index}]").error(
                    f"names {format_value(objective)}, which the replay table of task "
                    f"{task.name!r} does not hold (missing there: {', '.join(lacking)})"
                )
            if key in COSTS or key in declared:
                continue
            raise self.at(f"objectives[{index}]").error(
                f"names {format_value(objective)}, which task {task.name!r} does not compute "
                f"(its metrics: {', '.join(declared)}; or a cost: {', '.join(COSTS)})"
            )
        wanted = {search.metric_of(o) for o in objectives} - {"val_accuracy"}
        return {key: direction for key, direction in declared.items() if key in wanted}

    def named_table(self, where: Where, value: Any, known: list[str]) -> tuple[str, dict[str, Any]]:
        """A sampler or pruner: ``"name"`` or ``{ name = "...", option = ... }``.

        The name must be one of ``known``; the options are checked when the spec builds it.
        """
        if isinstance(value, Mapping):
            if "name" not in value:
                raise where.error(f"needs 'name' (got {format_value(dict(value))})")
            options = {k: _deep_copy(v) for k, v in value.items() if k != "name"}
            return where.child("name").string(value["name"], choices=known), options
        return where.string(value, choices=known), {}

    def task(
        self, value: Any, options: Mapping[str, Any], data_dir: str | None
    ) -> tuple[str, int | None, dict[str, trainers.TaskParam] | None]:
        """The task name, its default epochs and its own parameters (the task is built, its
        data is not loaded).

        The default epochs and the parameters are ``None`` when the task's data files are
        missing and ``check_data`` is off.
        """
        from paretune import trainers

        where = self.at("task")
        name = where.string(value)
        factory = name.startswith("replay:") or re.fullmatch(r"[\w.]+:\w+", name)
        known = trainers.list_tasks()
        if not factory and name not in known:
            raise where.fail(
                f'one of {_names(known)}, "replay:PATH" or "package.module:make_task"', value
            )
        try:
            task = trainers.get_task(name, data_dir=data_dir, options=dict(options))
        except FileNotFoundError as error:
            # The task is well named but its data is not (yet) there: only a run needs it.
            if self.check_data:
                if factory or data_dir is None:
                    raise where.error(f"cannot find its data: {error}") from None
                raise self.at("data_dir").error(f"does not hold the task's data: {error}") from None
            return name, None, None
        except (ValueError, TypeError, ImportError, OSError) as error:
            blame = self.at("task_options") if options and not factory else where
            raise blame.error(f"does not give a usable task {name!r}: {error}") from None
        self.built_task = task
        try:
            params = trainers.declared_params(task)
        except ValueError as error:
            raise where.error(f"does not give a usable task {name!r}: {error}") from None
        return name, task.default_epochs, params

    def storage(self, value: Any) -> str:
        where = self.at("storage")
        url = where.string(value)
        try:
            validate_storage_url(url)
            if search.storage_path(url) is None:  # a server: its port must be a number
                urlsplit(url).port  # noqa: B018  (reading it checks it)
        except ValueError as error:
            raise where.error(f"is not usable (got {format_value(value)}): {error}") from None
        return str(url)

    def jobs(self, value: Any, storage: str) -> int:
        where = self.at("jobs")
        jobs = where.integer(value, minimum=1)
        if jobs > 1 and not is_parallel_safe(storage):
            raise where.error(
                f"must be 1 with a SQLite storage ({storage}), which fails under parallel "
                f'writers (got {jobs}). Use storage = "journal:///runs/NAME.log" for several '
                'processes on one machine, or "postgresql://USER@HOST/DB" for several machines'
            )
        return int(jobs)

    def fuse(self, value: Any, *, workers: int) -> int:
        """Trials trained together as one fused model (one process, or one Ray trial, each)."""
        where = self.at("fuse")
        fuse = int(where.integer(value, minimum=1))
        if fuse > 1 and workers > 1:
            raise where.error(
                f"must be 1 when workers_per_trial = {workers} (got {fuse}): a fused group "
                "trains in one process"
            )
        return fuse

    def constraints(self, value: Any) -> dict[str, float]:
        where = self.at("constraints")
        table = where.table(value)
        result: dict[str, float] = {}
        for key, bound in table.items():
            if key not in COSTS:
                raise where.child(key).error(
                    f"is not a cost that can be constrained. Known: {', '.join(COSTS)}"
                )
            result[key] = where.child(key).number(bound, minimum=0.0, strict=True)
        return result

    def device(self, value: Any) -> str:
        where = self.at("device")
        if not isinstance(value, str) or not _DEVICE.fullmatch(value):
            raise where.fail('"auto", "cpu", "cuda" or "cuda:N"', value)
        return value

    def tracking(self, value: Any) -> TrackingOptions:
        """The ``[tracking]`` table: ``mlflow`` (a tracking URI) and ``experiment``."""
        where = self.at("tracking")
        table = where.table(value)
        where.keys(table, TRACKING_KEYS)
        options = {
            key: self.at(f"tracking.{key}").string(table[key])
            for key in TRACKING_KEYS
            if key in table
        }
        if "experiment" in options and "mlflow" not in options:
            raise self.at("tracking.experiment").error(
                f"needs tracking.mlflow (got {format_value(table['experiment'])}): name the "
                'MLflow tracking URI too, e.g. mlflow = "sqlite:///runs/mlflow.db"'
            )
        return TrackingOptions(**options)

    def ray(self, value: Any, backend: str) -> RayOptions:
        where = self.at("ray")
        table = where.table(value)
        where.keys(table, RAY_KEYS)
        return read_ray(
            table, at=lambda key: self.at(f"ray.{key}"), backend=backend, origins=self.origins
        )


def _stem(path: Path) -> str:
    """The default study name of a file: its stem, ``_`` -> ``-``."""
    return path.stem.replace("_", "-")


def _names(values: Any) -> str:
    return ", ".join(format_value(v) for v in values)
