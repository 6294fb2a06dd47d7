"""A task given to :class:`~paretune.studies.Study` as its factory function: its import path.

A study stores its task as a name (``"digits-mlp"``, ``"package.module:make_task"``): worker
processes, Ray workers and a later ``paretune select --export`` find the factory again by that
name. So ``Study(task=make_task)`` stands for ``"module:make_task"`` where that name leads
back to the same function (a function at the top level of a module, of the running script or
of a notebook: ``"__main__:make_task"``), and anything that no name leads back to (a lambda, a
function defined inside another, a ``Task`` already made) is refused with what to pass.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, Any

from paretune.studies._errors import StudyFileError, cut

if TYPE_CHECKING:
    from paretune.studies._config import StudyConfig

__all__ = ["check_main_task", "task_reference"]


def task_reference(task: Any, *, label: str) -> Any:
    """``task`` as a study's ``task`` key holds it: a factory function becomes its import path.

    Anything else is returned unchanged, for the study's own checks.

    Args:
        task: What was given as ``task``.
        label: How the study is named in messages (``"Study"``).

    Raises:
        StudyFileError: ``task`` is a ``Task``, or a function no import path leads back to.

    Examples:
        >>> from paretune.trainers import get_task
        >>> task_reference(get_task, label="Study")
        'paretune.trainers._tasks:get_task'
        >>> task_reference("digits-mlp", label="Study")
        'digits-mlp'
        >>> task_reference(lambda: None, label="Study")
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: Study: task is a function no import path leads
        back to (got <lambda>): define the factory at the top level of a module, script or
        notebook, or pass its path "package.module:make_task"
        >>> task_reference(get_task("synthetic"), label="Study")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        paretune.studies._errors.StudyFileError: Study: task must be a task name or the
        function that makes the task (got Task(name='synthetic', ...)): pass the factory, \
task=make_task, or its path "package.module:make_task"
    """
    from paretune.trainers import Task

    if isinstance(task, Task):
        shown = f"Task(name={cut(task.name)!r}, ...)"
        raise StudyFileError(
            label,
            "task",
            f"must be a task name or the function that makes the task (got {shown}): pass the "
            'factory, task=make_task, or its path "package.module:make_task"',
        )
    if isinstance(task, str) or not callable(task):
        return task
    if isinstance(task, functools.partial):
        raise StudyFileError(
            label,
            "task",
            f"must be a task name or the function that makes the task (got "
            f"functools.partial of {getattr(task.func, '__name__', '?')}): pass the function, "
            "and its arguments as task_options",
        )
    module = getattr(task, "__module__", None)
    name = getattr(task, "__qualname__", None) or getattr(task, "__name__", None)
    if (
        not isinstance(module, str)
        or not isinstance(name, str)
        or not name.isidentifier()  # "<lambda>", "outer.<locals>.inner", "Class.method"
        or getattr(sys.modules.get(module), name, None) is not task
    ):
        raise StudyFileError(
            label,
            "task",
            f"is a function no import path leads back to (got {name or type(task).__name__}): "
            "define the factory at the top level of a module, script or notebook, or pass its "
            'path "package.module:make_task"',
        )
    return f"{module}:{name}"


def check_main_task(config: StudyConfig, *, label: str) -> None:
    """Refuse a task of the running script (``"__main__:make_task"``) that the study's worker
    processes could not import.

    Worker processes of ``jobs > 1`` and of local ``workers_per_trial > 1`` start by running
    the script again (``multiprocessing``'s ``spawn``), which an interactive session (a
    notebook, ``python -``) has no file for; Ray workers never run it.

    Raises:
        StudyFileError: The task is in ``__main__`` and the study's workers cannot import it.
    """
    if not config.task.startswith("__main__:"):
        return
    if config.backend == "ray":
        raise StudyFileError(
            label,
            "task",
            f"names a function of the running script (got {config.task!r}), which Ray workers "
            "cannot import: move the factory into a module they import (installed, or on "
            'PYTHONPATH) and pass its path "package.module:make_task"',
        )
    spawned = "jobs" if config.jobs > 1 else "workers_per_trial"
    count = config.jobs if config.jobs > 1 else config.workers_per_trial
    script = getattr(sys.modules.get("__main__"), "__file__", None)  # "<stdin>" for python -
    if count > 1 and not (isinstance(script, str) and os.path.isfile(script)):
        raise StudyFileError(
            label,
            "task",
            f"names a function of this interactive session (got {config.task!r}), which the "
            f"worker processes of {spawned}={count} cannot import: use {spawned}=1, or move the "
            'factory into a module and pass its path "package.module:make_task"',
        )
