"""Open (create or resume) the Optuna study of a :class:`StudySpec`; recover dead trials."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import TYPE_CHECKING, Any

from paretune.search._optuna_compat import set_metric_names, storage_of, trial_id_of
from paretune.search.study._lock import StudyLock
from paretune.search.study._record import record_failure
from paretune.search.study._space_reserve import keep_reserve
from paretune.search.study._spec import StudySpec
from paretune.search.study._storage import make_storage, storage_path

if TYPE_CHECKING:
    import optuna

__all__ = [
    "WORKER_ATTR",
    "StudyMismatchError",
    "mark_worker",
    "open_study",
    "recover_interrupted",
    "session_seed",
]

#: Trial system attribute naming the process that runs it: ``"HOST:PID:START"``.
WORKER_ATTR = "paretune:worker"


class StudyMismatchError(ValueError):
    """An existing study was created with other objectives, constraints or space.

    Attributes:
        name: The study's name.
        storage: Its storage URL.
        key: ``"objectives"``, ``"constraints"`` or ``"space"``.
        param: For ``"space"``, the first parameter that differs (``None`` when only the
            conditions do).
        stored: What the study holds (for a parameter, its JSON dict, ``None`` when absent).
        wanted: What this run has, in the same form.
    """

    def __init__(
        self,
        *,
        name: str,
        storage: str,
        key: str,
        param: str | None,
        stored: Any,
        wanted: Any,
        message: str,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.storage = storage
        self.key = key
        self.param = param
        self.stored = stored
        self.wanted = wanted


def open_study(spec: StudySpec, *, sampler_seed: int | None = None) -> optuna.Study:
    """Create the study of ``spec`` in its storage, or load it when it exists.

    A new study gets the user attributes ``objectives``, ``space`` (JSON), ``constraints``,
    ``metadata``, ``sampler``, ``pruner`` and ``seed``; an existing one must have been created
    with the same objectives, space and constraints (the one place that checks it). The
    objective names are the study's Optuna metric names (``study.metric_names``, set on an
    existing study that lacks them), so Optuna's plots, ``trials_dataframe()``
    (``values_accuracy``) and optuna-dashboard name the objectives. The
    sampler is the spec's own (:meth:`StudySpec.get_sampler`); the spec validated it and
    the pruner when it was built. Beside a storage file it keeps a 64 KiB space reserve
    (``<file>.reserve``), freed when the disk fills up so the running trial can still be
    recorded as failed.

    Args:
        spec: The study.
        sampler_seed: Seed of the sampler (default ``spec.seed``).

    Raises:
        StudyMismatchError: A study of the same name with other objectives / space /
            constraints.
        ValueError: A storage that refuses the study.

    Examples:
        >>> import tempfile
        >>> from paretune.spaces import FloatDistribution, StrategySpace
        >>> folder = tempfile.mkdtemp()
        >>> spec = StudySpec(name="demo", storage=f"sqlite:///{folder}/demo.db",
        ...     objectives=("accuracy", "size_bits"),
        ...     space=StrategySpace(params={"lr": FloatDistribution(low=1e-4, high=1.0, log=True)}))
        >>> study = open_study(spec)
        >>> [d.name for d in study.directions], study.user_attrs["objectives"]
        (['MAXIMIZE', 'MINIMIZE'], ['accuracy', 'size_bits'])
        >>> study.metric_names
        ['accuracy', 'size_bits']
    """
    storage = make_storage(spec.storage)
    path = storage_path(spec.storage)
    if path is not None:  # room to record a trial as failed when the disk fills up
        keep_reserve(path)
    with contextlib.closing(StudyLock(storage=spec.storage, study_id=None)) as lock, lock:
        # processes opening a new study at once: one creates it and writes its attributes
        return _create_or_load(spec, storage, sampler_seed)


def _create_or_load(
    spec: StudySpec, storage: optuna.storages.BaseStorage, sampler_seed: int | None
) -> optuna.Study:
    import optuna

    try:
        study = optuna.create_study(
            storage=storage,
            sampler=spec.get_sampler(seed=sampler_seed),
            study_name=spec.name,
            directions=[optuna.study.StudyDirection[d.upper()] for d in spec.directions],
            load_if_exists=True,
        )
    except ValueError as error:
        raise ValueError(f"Cannot open study {spec.name!r} in {spec.storage}: {error}") from None
    wanted: dict[str, Any] = {
        "objectives": list(spec.objectives),
        "space": spec.space.to_json(),
        "constraints": dict(spec.constraints),
    }
    stored = study.user_attrs
    if "objectives" not in stored:
        _check_not_foreign(spec, study)
        extra = {
            "metadata": dict(spec.metadata),
            "sampler": spec.sampler,
            "pruner": spec.pruner,
            "seed": spec.seed,
        }
        if spec.metric_directions:
            extra["metric_directions"] = dict(spec.metric_directions)
        for key, value in {**wanted, **extra}.items():
            study.set_user_attr(key, value)
        set_metric_names(study, spec.objectives)
        return study
    for key, value in wanted.items():
        _check_same(spec, key, stored.get(key), value)
    if study.metric_names is None:  # a study made before paretune named its metrics
        set_metric_names(study, spec.objectives)
    return study


def _check_not_foreign(spec: StudySpec, study: optuna.Study) -> None:
    """Refuse a study of this name that another program made (no paretune attributes) and
    that holds trials or other directions: paretune would write its attributes over it."""
    directions = [d.name.lower() for d in study.directions]
    n_trials = len(study.get_trials(deepcopy=False))
    if n_trials == 0 and directions == list(spec.directions):
        return  # made empty (by Optuna, or by a paretune run stopped before its attributes)
    raise ValueError(
        f"Cannot open study {spec.name!r} in {spec.storage}: it exists and was not made by "
        f"paretune (it has no 'objectives' attribute; {n_trials} trial(s), directions "
        f"{', '.join(directions)}; this run's: {', '.join(spec.directions)}); nothing was "
        "written to it. Give the study a new name."
    )


def _check_same(spec: StudySpec, key: str, before: Any, value: Any) -> None:
    """Refuse a stored ``key`` that differs from this run's ``value``."""
    param: str | None = None
    stored, now = before, value
    if key == "space" and isinstance(before, str):
        old, new = json.loads(before), json.loads(value)
        if old == new:
            return
        old_params, new_params = old.get("params", {}), new.get("params", {})
        for name in [*new_params, *(n for n in old_params if n not in new_params)]:
            if old_params.get(name) != new_params.get(name):
                param, stored, now = name, old_params.get(name), new_params.get(name)
                break
    elif before == value:
        return
    raise StudyMismatchError(
        name=spec.name,
        storage=spec.storage,
        key=key,
        param=param,
        stored=stored,
        wanted=now,
        message=(
            f"Study {spec.name!r} in {spec.storage} was created with {key} {before!r}; "
            f"this run has {value!r}. Give the study a new name (or a new storage) to "
            f"run with other {key}."
        ),
    )


def session_seed(seed: int, *, n_existing: int, worker: int) -> int:
    """The sampler seed of one worker of one run.

    A fresh study's first worker uses ``seed`` itself (same seed, same trials). A resumed
    study or another worker gets a seed derived from ``(seed, n_existing, worker)``, so it
    does not replay the random draws of the earlier run or of its sibling workers.

    Examples:
        >>> session_seed(7, n_existing=0, worker=0)
        7
        >>> session_seed(7, n_existing=10, worker=0) == session_seed(7, n_existing=10, worker=0)
        True
        >>> session_seed(7, n_existing=0, worker=1) != 7
        True
    """
    if n_existing == 0 and worker == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, n_existing, worker]).generate_state(1)[0])


def _process_start(pid: int) -> str:
    """The start time of process ``pid`` (Linux; empty elsewhere), to tell reused pids apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19] if len(fields) > 19 else ""


def _process_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def worker_token() -> str:
    """``"HOST:PID:START"`` of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def _is_dead(token: str) -> bool:
    """Whether the process named by ``token`` is known to be gone (only for this host)."""
    host, _, rest = token.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    if _process_state(pid) == "Z":
        return True
    return bool(start) and _process_start(pid) != start


def mark_worker(study: optuna.Study, trial: optuna.Trial) -> None:
    """Record which process runs ``trial`` (read by :func:`recover_interrupted`).

    When the storage refuses (a full disk), the trial is marked FAIL where the storage
    still allows it: a RUNNING trial without its worker would never be recovered.
    """
    import optuna

    storage = storage_of(study)
    try:
        storage.set_trial_system_attr(trial_id_of(trial), WORKER_ATTR, worker_token())
    except Exception:
        with contextlib.suppress(Exception):
            storage.set_trial_state_values(trial_id_of(trial), optuna.trial.TrialState.FAIL)
        raise


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose process died; queue their parameters to run again.

    A trial counts as orphaned when its worker attribute names a process on this host that no
    longer exists (killed, crashed, power loss). Trials of live processes and of other hosts
    are left alone. Each orphan becomes FAIL with ``fail_reason = "interrupted"`` and its
    sampled parameters are enqueued (with user attribute ``retry_of``).

    Returns:
        The numbers of the trials marked interrupted.
    """
    import optuna

    recovered: list[int] = []
    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        token = frozen.system_attrs.get(WORKER_ATTR)
        if not isinstance(token, str) or not _is_dead(token):
            continue
        curve = frozen.user_attrs.get("curve")
        try:
            record_failure(study, frozen.number, "interrupted", curve=curve)
        except RuntimeError:  # finished meanwhile by another process
            continue
        study.enqueue_trial(dict(frozen.params), user_attrs={"retry_of": frozen.number})
        recovered.append(frozen.number)
    return recovered
