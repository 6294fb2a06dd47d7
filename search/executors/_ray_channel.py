"""A small Ray actor that carries messages between the Tune driver and the trial workers.

Ray Tune's schedulers end a trial by killing its actor, so the trainer never returns and the
result a local run records (test accuracy, latency, the ``stopped`` status) is lost. paretune
instead passes the scheduler's decision to the trainer's ``report`` call, which answers
"stop", so the trainer ends cleanly and returns its result like a local pruned trial. The
driver writes stop requests here; each worker reads them after every reported epoch, and
writes the reason of an exception before it re-raises it (the driver records that reason on
the trial when Ray gives up retrying).

The driver's scheduler also notes every epoch it has seen of every trial. A one-worker trial
does not need it (Tune hands its next result to the scheduler before its ``report`` returns),
but the epochs of a data-parallel trial travel from the Ray Train workers to Tune
asynchronously, so rank 0 waits until the scheduler has seen its epoch before it reads the
stop request.

Only the driver creates the actor; workers look it up by name. This module imports Ray and is
itself only imported lazily, by the Ray executor.
"""

from __future__ import annotations

from typing import Any

import ray


class TrialChannel:
    """Stop requests and seen epochs (driver to worker), failure reasons (worker to driver).

    The plain class is usable without Ray, which is how the examples below run; the executor
    runs it as a named Ray actor (see :func:`open_channel`).

    Examples:
        >>> channel = TrialChannel()
        >>> channel.stop_requested("t1") is None
        True
        >>> channel.request_stop("t1", "asha: below the rung cutoff at epoch 2")
        >>> channel.stop_requested("t1")
        'asha: below the rung cutoff at epoch 2'
        >>> channel.note_error("t2", "CUDA out of memory")
        >>> channel.last_error("t2")
        'CUDA out of memory'
        >>> channel.seen("t1")
        0
        >>> channel.note_seen("t1", 2)
        >>> channel.note_seen("t1", 1)  # a retried trial replaying epoch 1
        >>> channel.seen("t1")
        2
        >>> channel.clear("t1")
        >>> channel.stop_requested("t1") is None and channel.seen("t1") == 0
        True
    """

    def __init__(self) -> None:
        self._stops: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._seen: dict[str, int] = {}

    def request_stop(self, trial_id: str, reason: str) -> None:
        """Ask the trial's trainer to stop after the epoch it just reported."""
        self._stops[trial_id] = reason

    def stop_requested(self, trial_id: str) -> str | None:
        """The reason the trial should stop, or None to continue."""
        return self._stops.get(trial_id)

    def note_seen(self, trial_id: str, epoch: int) -> None:
        """Record that the driver's scheduler has decided on the trial's ``epoch``.

        A scheduler notes an epoch after any stop request it makes for it, so a worker that
        finds the epoch seen finds the request too.
        """
        self._seen[trial_id] = max(self._seen.get(trial_id, 0), int(epoch))

    def seen(self, trial_id: str) -> int:
        """The latest epoch of the trial the scheduler has seen (0: none yet)."""
        return self._seen.get(trial_id, 0)

    def note_error(self, trial_id: str, reason: str) -> None:
        """Remember why the trial's last attempt raised."""
        self._errors[trial_id] = reason

    def last_error(self, trial_id: str) -> str | None:
        """Why the trial's last attempt raised, or None if it never said."""
        return self._errors.get(trial_id)

    def clear(self, trial_id: str) -> None:
        """Forget a finished trial."""
        self._stops.pop(trial_id, None)
        self._errors.pop(trial_id, None)
        self._seen.pop(trial_id, None)


def open_channel(name: str) -> Any:
    """The named channel actor: created by the first caller, shared by everyone after.

    The actor is owned by the driver's job, so it ends with the driver; a resumed run makes a
    new one (stop requests of the dead driver are moot: their trials were killed with it).
    It is pinned to the driver's node: on a cluster, a channel placed on another node would
    die with that node and end the whole run, where the node's trials only need a retry.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(
        node_id=ray.get_runtime_context().get_node_id(), soft=False
    )
    actor_class = ray.remote(num_cpus=0)(TrialChannel)
    return actor_class.options(
        name=name, get_if_exists=True, lifetime=None, scheduling_strategy=here
    ).remote()


def find_channel(name: str) -> Any:
    """The channel actor the driver made, looked up from a worker."""
    return ray.get_actor(name)
