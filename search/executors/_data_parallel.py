"""Data-parallel trials on this machine: one trial trained by N rank processes.

:class:`DataParallelObjective` is an :class:`~paretune.search.Objective` that starts ``workers``
rank processes (``torch.multiprocessing.start_processes``, ``spawn``). Each rank initializes
``torch.distributed``'s default process group on ``127.0.0.1`` (gloo on the CPU; NCCL for CUDA
tensors when there is a GPU per rank, else gloo with ranks sharing the GPUs), builds the
objective with the factory and calls it with the trial's params and one checkpoint directory
shared by every rank; the trainer finds the group and trains data-parallel.

Only the parent talks to the study: rank 0's ``report(epoch, metrics)`` is sent to the parent,
which calls the real reporter (curve + pruner) and sends its answer back (the trainer broadcasts
rank 0's answer to the other ranks, whose own ``report`` answers False); rank 0 sends the
outcome when the objective returns. A trial is therefore recorded once, by the executor.

A rank that dies (killed by a signal, or exiting without a Python exception) takes the others
down and the trial starts again on fresh ranks, resuming from the checkpoint directory, at most
``max_restarts`` times. A rank that raises fails the trial with that exception's message.
torch is imported only inside the functions (``import paretune.search`` stays light).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paretune.search.study._outcome import (
    ObjectiveFactory,
    Reporter,
    TrialOutcome,
    to_outcome,
)
from paretune.spaces import bad_parameter, check_int

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from torch.multiprocessing.spawn import (
        ProcessContext,
        ProcessExitedException,
        ProcessRaisedException,
    )

__all__ = ["DataParallelObjective"]

logger = logging.getLogger(__name__)

#: How long the parent waits for a rank's message before it looks at the rank processes.
_POLL_S = 0.05
#: How long the parent waits for rank 0's outcome once every rank has exited.
_DRAIN_S = 5.0
#: How long a rank may take to stop after SIGTERM before it is killed.
_STOP_S = 10.0


class DataParallelObjective:
    """Trains each trial on ``workers`` data-parallel rank processes of this machine.

    Calling it, ``objective(params, report, checkpoint_dir)``, starts the ranks, relays rank
    0's per-epoch reports to ``report`` (and its answer back), and returns rank 0's
    :class:`~paretune.search.TrialOutcome`. Every rank is given the same checkpoint
    directory: ``checkpoint_dir``, or a temporary one made for this call and removed after it.

    Args:
        objective_factory: Builds the objective in each rank (picklable: a module-level
            function or a ``functools.partial`` of one). The objective trains data-parallel
            when it finds an initialized ``torch.distributed`` group, as
            ``paretune.trainers.train`` does.
        workers: Rank processes per trial.
        max_restarts: How many times a trial whose rank died (a signal, an exit without a
            Python exception) is started again on fresh ranks, from its last checkpoint.

    Raises:
        ValueError: Bad arguments (scikit-learn wording).

    Examples:
        >>> objective = DataParallelObjective(objective_factory=dict, workers=2)
        >>> objective.workers, objective.max_restarts
        (2, 2)
        >>> DataParallelObjective(objective_factory=dict, workers=0)
        Traceback (most recent call last):
        ...
        ValueError: The 'workers' parameter of DataParallelObjective must be an int >= 1. \
Got 0 instead.
    """

    def __init__(
        self, *, objective_factory: ObjectiveFactory, workers: int, max_restarts: int = 2
    ) -> None:
        owner = "DataParallelObjective"
        if not callable(objective_factory):
            raise bad_parameter(
                "objective_factory", owner, "a callable returning an Objective", objective_factory
            )
        self.objective_factory = objective_factory
        self.workers = check_int(workers, name="workers", owner=owner, minimum=1)
        self.max_restarts = check_int(max_restarts, name="max_restarts", owner=owner, minimum=0)

    def __repr__(self) -> str:
        return (
            f"DataParallelObjective(objective_factory={self.objective_factory!r}, "
            f"workers={self.workers}, max_restarts={self.max_restarts})"
        )

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Reporter | None,
        checkpoint_dir: str | None = None,
    ) -> TrialOutcome:
        """Train the strategy ``params`` describe on ``workers`` ranks.

        Raises:
            RuntimeError: A rank raised (the message is its exception's ``Type: message``),
                a rank died in every attempt, or rank 0 ended without an outcome.
            KeyboardInterrupt: Re-raised after the ranks are stopped.
        """
        relay = _Relay(report)
        own_dir = checkpoint_dir is None
        directory = tempfile.mkdtemp(prefix="paretune-dp-") if own_dir else str(checkpoint_dir)
        deaths: list[str] = []
        try:
            for attempt in range(1, self.max_restarts + 2):
                try:
                    return self._attempt(params, relay, directory)
                except _RankDied as died:
                    deaths.append(f"attempt {attempt}: {died}")
                    if attempt <= self.max_restarts:
                        logger.warning(
                            "Data-parallel trial: %s; starting it again from its last "
                            "checkpoint (attempt %d of %d).",
                            died,
                            attempt + 1,
                            self.max_restarts + 1,
                        )
            raise RuntimeError(
                f"A rank of the {self.workers}-rank trial died in each of its "
                f"{self.max_restarts + 1} attempts (max_restarts={self.max_restarts}): "
                + "; ".join(deaths)
                + "."
            )
        finally:
            if own_dir:
                shutil.rmtree(directory, ignore_errors=True)

    def _attempt(self, params: Mapping[str, Any], relay: _Relay, directory: str) -> TrialOutcome:
        """Start the ranks once and wait for rank 0's outcome (raises :class:`_RankDied`)."""
        from torch.multiprocessing.spawn import (
            ProcessExitedException,
            ProcessRaisedException,
            start_processes,
        )

        context = multiprocessing.get_context("spawn")
        messages: Queue[tuple[Any, ...]] = context.Queue()
        answers: Queue[bool] = context.Queue()
        ranks = start_processes(  # type: ignore[no-untyped-call]
            _rank_main,
            args=(
                _RankArgs(
                    objective_factory=self.objective_factory,
                    workers=self.workers,
                    port=_free_port(),
                    params=dict(params),
                    checkpoint_dir=directory,
                    relay=relay.report is not None,
                ),
                messages,
                answers,
            ),
            nprocs=self.workers,
            join=False,
            start_method="spawn",
        )
        outcome: TrialOutcome | None = None
        try:
            try:
                while not ranks.join(timeout=0):
                    outcome = _serve(messages, answers, relay, timeout=_POLL_S) or outcome
            except (ProcessExitedException, ProcessRaisedException) as error:
                if outcome is not None:  # rank 0 had finished: a late failure changes nothing
                    return outcome
                raise _failure(ranks, error) from None
            if outcome is None:  # every rank exited: the outcome is the one message left
                outcome = _serve(messages, answers, relay, timeout=_DRAIN_S)
            if outcome is None:
                raise RuntimeError(
                    f"The {self.workers} ranks of the trial exited without an outcome from "
                    "rank 0 (interrupted?)."
                )
            return outcome
        finally:
            _stop(ranks)
            for channel in (messages, answers):
                channel.cancel_join_thread()
                channel.close()


class _Relay:
    """The parent's side of rank 0's reports: calls the real reporter once per epoch.

    An epoch reported again (a restarted trial that had not saved it) gets the answer given
    the first time, so the study's reporter sees every epoch once.
    """

    def __init__(self, report: Reporter | None) -> None:
        self.report = report
        self.answers: dict[int, bool] = {}

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        if epoch not in self.answers:
            self.answers[epoch] = bool(self.report is not None and self.report(epoch, metrics))
        return self.answers[epoch]


def _serve(
    messages: Queue[tuple[Any, ...]], answers: Queue[bool], relay: _Relay, *, timeout: float
) -> TrialOutcome | None:
    """Handle the next message of rank 0 (waiting up to ``timeout``): the outcome, if it is."""
    try:
        message = messages.get(timeout=timeout)
    except queue.Empty:
        return None
    if message[0] == "report":
        answers.put(relay(int(message[1]), message[2]))
        return None
    return TrialOutcome.from_dict(message[1])


class _RankDied(Exception):
    """A rank ended without a Python exception (a signal, ``os._exit``): worth a restart."""


def _failure(
    ranks: ProcessContext, error: ProcessExitedException | ProcessRaisedException
) -> Exception:
    """What ``error`` (raised by ``ranks.join``, every rank now stopped) means for the trial.

    A rank that died without a traceback is the cause even when another rank's traceback came
    first (a peer's death breaks the collectives of the others): that is a :class:`_RankDied`,
    and so is a group port taken by another process between :func:`_free_port` and rank 0's
    listening on it. Otherwise the earliest traceback is the cause, and the trial fails with
    its message.
    """
    import pickle

    from torch.multiprocessing.spawn import ProcessExitedException

    world = len(ranks.processes)
    raised = {
        index: path for index, path in enumerate(ranks.error_files) if os.path.isfile(str(path))
    }
    died = [
        index
        for index, process in enumerate(ranks.processes)
        if index not in raised and process.exitcode not in (None, 0, -signal.SIGTERM)
    ]
    if isinstance(error, ProcessExitedException):
        died.insert(0, error.error_index)
    try:
        if died:
            index = died[0]
            return _RankDied(f"rank {index} of {world} {_death(ranks.processes[index].exitcode)}")
        first = min(raised, key=lambda index: os.stat(raised[index]).st_mtime_ns)
        with open(raised[first], "rb") as file:
            message = _raised_message(str(pickle.load(file)))
        if "EADDRINUSE" in message:  # another process took the free port first: pick another
            return _RankDied(f"rank {first} of {world} found the group's port taken")
        return RuntimeError(message)
    finally:
        for path in raised.values():
            os.remove(path)


def _death(exitcode: int | None) -> str:
    """How a rank process ended, in words.

    Examples:
        >>> _death(-9), _death(3)
        ('was killed by signal SIGKILL', 'exited with code 3')
    """
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"{-exitcode}"
        return f"was killed by signal {name}"
    return f"exited with code {exitcode}"


#: The first line of an exception in a traceback: ``ValueError: ...``, ``pkg.Error: ...``.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")


def _raised_message(trace: str) -> str:
    """The ``Type: message`` part of a formatted traceback (of its last exception).

    Examples:
        >>> _raised_message("Traceback (most recent call last):\\n  File \\"x.py\\", line 1\\n"
        ...     "    f()\\nValueError: bad lr\\n")
        'ValueError: bad lr'
        >>> _raised_message("KeyError: 'x'")
        "KeyError: 'x'"
    """
    lines = trace.rstrip().splitlines()
    for index in range(len(lines) - 1, 0, -1):
        line, before = lines[index], lines[index - 1]
        if (
            _EXCEPTION_LINE.match(line)
            and before.startswith((" ", "Traceback"))
            and not line.startswith(" ")
        ):
            return "\n".join(lines[index:]).strip()
    return lines[-1].strip() if lines else "an unknown error"


def _stop(ranks: ProcessContext) -> None:
    """End the rank processes still running (SIGTERM, then SIGKILL) and reap them all."""
    for process in ranks.processes:
        if process.is_alive():
            process.terminate()
    for process in ranks.processes:
        process.join(_STOP_S)
        if process.is_alive():
            process.kill()
            process.join()
    for path in ranks.error_files:
        if os.path.isfile(str(path)):
            os.remove(path)


def _free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now (rank 0 serves the group's store on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def group_backend(*, workers: int, gpus: int) -> tuple[str, int | None]:
    """The process-group backend of ``workers`` ranks, and over how many GPUs they spread.

    With a GPU per rank, CUDA tensors go through NCCL (rank ``r`` on GPU ``r``); with fewer
    GPUs than ranks, the ranks share them (rank ``r`` on GPU ``r % gpus``) and gloo carries
    everything (NCCL refuses two ranks on one GPU). Without a GPU: gloo, and no GPU.

    Examples:
        >>> group_backend(workers=2, gpus=0)
        ('gloo', None)
        >>> group_backend(workers=2, gpus=4)
        ('cpu:gloo,cuda:nccl', 4)
        >>> group_backend(workers=4, gpus=2)
        ('gloo', 2)
    """
    if gpus <= 0:
        return "gloo", None
    if gpus >= workers:
        return "cpu:gloo,cuda:nccl", gpus
    return "gloo", gpus


@dataclass(frozen=True)
class _RankArgs:
    """What every rank process is started with (pickled into it)."""

    objective_factory: ObjectiveFactory
    workers: int
    port: int
    params: dict[str, Any]
    checkpoint_dir: str
    relay: bool


class _ParentReport:
    """Rank 0's ``report``: send the epoch to the parent and wait for its answer (stop?)."""

    def __init__(self, messages: Queue[tuple[Any, ...]], answers: Queue[bool]) -> None:
        self.messages = messages
        self.answers = answers

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        self.messages.put(("report", int(epoch), dict(metrics)))
        return bool(self.answers.get())


def _never_stop(epoch: int, metrics: Mapping[str, float]) -> bool:
    """The ``report`` of ranks other than 0 (the trainer uses rank 0's answer)."""
    return False


def _rank_main(
    rank: int,
    args: _RankArgs,
    messages: Queue[tuple[Any, ...]],
    answers: Queue[bool],
) -> None:
    """The body of rank process ``rank``: join the group, run the objective, leave the group."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    backend, used = group_backend(workers=args.workers, gpus=gpus)
    if used is not None:
        torch.cuda.set_device(rank % used)
    dist.init_process_group(
        backend,
        init_method=f"tcp://127.0.0.1:{args.port}",
        rank=rank,
        world_size=args.workers,
    )
    report: Reporter = _never_stop  # rank 0 relays to the parent's reporter, if it has one
    if args.relay and rank == 0:
        report = _ParentReport(messages, answers)
    objective = args.objective_factory()
    result = objective(args.params, report, checkpoint_dir=args.checkpoint_dir)
    if rank == 0:
        messages.put(("outcome", to_outcome(result).to_dict()))
        messages.close()
        messages.join_thread()  # the outcome is in the pipe before this rank exits
    dist.destroy_process_group()
