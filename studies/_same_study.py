"""A study is one study: an existing study keeps the task it was created with.

``open_study`` refuses other objectives, constraints or space; this refuses another
``task``, ``task_options`` or ``data_dir`` (stored in the study's ``metadata``), so CNN trials
never join an MLP front while the study still says it trains the MLP.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paretune.studies._config import StudyConfig

__all__ = ["TASK_KEYS", "check_same_task"]

#: The study-file keys an existing study must keep (they say what its trials train).
TASK_KEYS = ("task", "task_options", "data_dir")


def check_same_task(config: StudyConfig) -> None:
    """Refuse to run ``config`` into an existing study created with another task, task
    options or data folder (a study that does not exist yet, or that recorded none of them,
    is left alone; nothing is created).

    Raises:
        StudyMismatchError: With ``key`` the first of :data:`TASK_KEYS` that differs.
    """
    from paretune import search

    spec = config.spec
    path = search.storage_path(spec.storage)
    if path is not None and not os.path.exists(path):  # False for a name too long, too
        return
    storage = search.make_storage(spec.storage)
    try:
        study_id = storage.get_study_id_from_name(spec.name)
    except KeyError:
        return
    stored = storage.get_study_user_attrs(study_id).get("metadata")
    if not isinstance(stored, dict):
        return
    for key in TASK_KEYS:
        if key not in stored:
            continue
        before, now = stored[key], spec.metadata.get(key)
        if _same(key, before, now):
            continue
        raise search.StudyMismatchError(
            name=spec.name,
            storage=spec.storage,
            key=key,
            param=None,
            stored=before,
            wanted=now,
            message=(
                f"Study {spec.name!r} in {spec.storage} was created with {key} {before!r}; "
                f"this run has {now!r}. Give the study a new name (or a new storage) to run "
                f"with another {key}."
            ),
        )


def _same(key: str, before: Any, now: Any) -> bool:
    """Whether a stored value and this run's are the same (a data folder: the same folder).

    Examples:
        >>> _same("data_dir", "data", "./data"), _same("task", "digits-mlp", "digits-cnn")
        (True, False)
        >>> _same("task_options", {"n_samples": 100}, {"n_samples": 100.0})
        True
    """
    if before == now:
        return True
    if key == "data_dir" and isinstance(before, str) and isinstance(now, str):
        return Path(before).expanduser().resolve() == Path(now).expanduser().resolve()
    return False
