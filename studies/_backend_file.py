"""The keys saying where a study's trials run: the ``[ray]`` table and the workers of a
data-parallel trial (top-level ``workers_per_trial`` for the local backend,
``[ray] workers_per_trial`` for Ray)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from paretune.studies._checks import Where
from paretune.studies._config import RayOptions
from paretune.studies._errors import format_value

__all__ = ["RAY_KEYS", "read_ray", "read_workers"]

RAY_KEYS = (
    "address",
    "gpus_per_trial",
    "cpus_per_trial",
    "max_concurrent",
    "storage_path",
    "max_failures",
    "workers_per_trial",
    "gpus_per_worker",
    "cpus_per_worker",
)
#: the GPUs a trial or a worker may ask for, as the messages say it
GPU_AMOUNT = "0, a whole number, or a fraction that divides 1 (0.5, 0.25, 0.2, ...)"


def read_workers(value: Any, *, where: Where, backend: str) -> int:
    """The local backend's processes per trial (top-level ``workers_per_trial``).

    Examples:
        >>> read_workers(2, where=Where("x.toml", "workers_per_trial"), backend="local")
        2
        >>> read_workers(2, where=Where("x.toml", "workers_per_trial"), backend="ray")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: workers_per_trial must be 1 with
        backend = "ray" (got 2): the Ray backend reads its workers from the [ray] table; write
        workers_per_trial = 2 there (sized with gpus_per_worker / cpus_per_worker)
    """
    workers = where.integer(value, minimum=1)
    if workers > 1 and backend == "ray":
        raise where.error(
            f'must be 1 with backend = "ray" (got {workers}): the Ray backend reads its workers '
            f"from the [ray] table; write workers_per_trial = {workers} there (sized with "
            "gpus_per_worker / cpus_per_worker)"
        )
    return workers


def read_gpus(value: Any, *, where: Where) -> float:
    """A GPU amount: 0, whole GPUs, or a share that divides one GPU evenly (the rule of
    ``paretune.search.executors.gpu_share``).

    Examples:
        >>> read_gpus(0.25, where=Where("x.toml", "ray.gpus_per_worker"))
        0.25
        >>> read_gpus(0.3, where=Where("x.toml", "ray.gpus_per_worker"))
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: ray.gpus_per_worker must be 0, a whole
        number, or a fraction that divides 1 (0.5, 0.25, 0.2, ...) (got 0.3)
    """
    from paretune.search.executors import gpu_share

    number = where.number(value, minimum=0.0)
    try:
        gpu_share(number)
    except ValueError:
        raise where.fail(GPU_AMOUNT, value) from None
    return number


def read_ray(
    table: Mapping[str, Any],
    *,
    at: Callable[[str], Where],
    backend: str,
    origins: Mapping[str, str],
) -> RayOptions:
    """The ``[ray]`` table (its keys already checked against ``RAY_KEYS``).

    Args:
        table: The table's keys and values, overrides applied.
        at: The place of one of its keys (``at("address")``), naming an override's flag.
        backend: The study's backend: ``[ray] workers_per_trial > 1`` needs ``"ray"``.
        origins: The overridden dotted keys and the flag naming each (``--workers-per-trial``).

    Examples:
        >>> def at(key):
        ...     return Where("x.toml", f"ray.{key}")
        >>> read_ray({"workers_per_trial": 2, "gpus_per_worker": 1}, at=at, backend="ray",
        ...          origins={}).gpus_per_worker
        1.0
        >>> read_ray({"workers_per_trial": 2, "gpus_per_trial": 1}, at=at, backend="ray",
        ...          origins={})
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: x.toml: ray.gpus_per_trial cannot be set with
        ray.workers_per_trial = 2 (got 1): a data-parallel trial is sized per worker; size each
        worker with gpus_per_worker / cpus_per_worker
    """
    options: dict[str, Any] = {}
    if "address" in table:
        options["address"] = at("address").string(table["address"])
    for key in ("gpus_per_trial", "gpus_per_worker"):
        if key in table:
            options[key] = read_gpus(table[key], where=at(key))
    for key, least in (
        ("cpus_per_trial", 1),
        ("cpus_per_worker", 1),
        ("max_concurrent", 1),
        ("max_failures", 0),
        ("workers_per_trial", 1),
    ):
        if key in table:
            options[key] = at(key).integer(table[key], minimum=least)
    if "storage_path" in table:
        options["storage_path"] = at("storage_path").string(table["storage_path"])
    workers = options.get("workers_per_trial", 1)
    if workers > 1:
        if backend != "ray":
            raise at("workers_per_trial").error(
                f'must be 1 with backend = "{backend}" (got {workers}): the local backend reads '
                f"its workers from the top level; write workers_per_trial = {workers} above the "
                "tables (or pass --workers-per-trial)"
            )
        flag = origins.get("ray.workers_per_trial")
        said = f"{flag} {workers}" if flag else f"ray.workers_per_trial = {workers}"
        for key in ("gpus_per_trial", "cpus_per_trial"):
            if key in table:
                raise at(key).error(
                    f"cannot be set with {said} (got {format_value(table[key])}): a "
                    "data-parallel trial is sized per worker; size each worker with "
                    "gpus_per_worker / cpus_per_worker"
                )
    return RayOptions(**options)
