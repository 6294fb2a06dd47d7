"""The objective a study trains: sampled params -> ``Strategy`` -> ``trainers.train``.

Executors receive an *objective factory* (a ``functools.partial`` of :func:`build_objective`,
so it pickles into worker processes and Ray workers); each worker calls it once to get its
own :class:`TrainingObjective`, which builds the task once and trains one strategy per call.
:func:`trial_outcome` is the one place a ``trainers.TrainResult`` becomes the
:class:`~paretune.search.TrialOutcome` that ``search`` records.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from paretune.search import MEASUREMENTS, OutcomeState, TrialOutcome
from paretune.search.study import Reporter
from paretune.spaces import check_int

if TYPE_CHECKING:
    from paretune.studies._config import StudyConfig
    from paretune.trainers import Task, TrainResult

__all__ = ["TrainingObjective", "build_objective", "objective_factory", "trial_outcome"]


def trial_outcome(result: TrainResult) -> TrialOutcome:
    """The :class:`~paretune.search.TrialOutcome` of a training run.

    Completed -> COMPLETE, stopped by the reporter -> PRUNED, diverged -> FAIL (with the
    trainer's reason); every measurement, each task metric (``val_rmse``, ``test_rmse`` ...),
    the curve and the strategy are carried over. A regression task's accuracies (NaN) are left
    out, and so is a ``latency_ms_spread`` that was not measured (a replayed run).

    Examples:
        >>> from paretune.trainers import Strategy, TrainResult, TrainStatus
        >>> r = TrainResult(status=TrainStatus.STOPPED, reason="pruned", val_accuracy=0.5,
        ...     test_accuracy=0.5, params=10, nonzero_params=10, sparsity=0.0, size_bits=320.0,
        ...     bitops=0.0, latency_ms=0.1, train_seconds=1.0, epochs=1,
        ...     curve=({"val_accuracy": 0.5},), strategy=Strategy())
        >>> outcome = trial_outcome(r)
        >>> outcome.state, outcome.reason, outcome.measurements["size_bits"], outcome.epochs
        (<OutcomeState.PRUNED: 'pruned'>, 'pruned', 320.0, 1)
    """
    from paretune.trainers import TrainStatus

    state = {
        TrainStatus.COMPLETED: OutcomeState.COMPLETE,
        TrainStatus.STOPPED: OutcomeState.PRUNED,
        TrainStatus.DIVERGED: OutcomeState.FAIL,
    }[result.status]
    measurements: dict[str, float] = {name: getattr(result, name) for name in MEASUREMENTS}
    for name in ("val_accuracy", "test_accuracy", "latency_ms_spread"):
        if math.isnan(measurements[name]):  # no accuracy (regression), no spread (replay)
            del measurements[name]
    measurements.update(result.metrics)
    return TrialOutcome(
        state=state,
        measurements=measurements,
        curve=tuple(dict(point) for point in result.curve),
        strategy=result.strategy.to_dict(),
        reason=result.reason,
    )


class TrainingObjective:
    """Trains one strategy per call and returns its :class:`~paretune.search.TrialOutcome`.

    Args:
        task: Task name (``"digits-mlp"``, ``"replay:PATH"``, ``"pkg.mod:make_task"``).
        task_options: Options of the task factory.
        data_dir: Where the task finds its data (``None`` for the task's default).
        device: Where to train (``"auto"``, ``"cpu"``, ``"cuda"`` ...).
        threads: CPU threads torch uses in this worker process. 1 by default: the models
            trained here are small, one thread trains them as fast as two, and a trial then
            never fights its neighbours (``--jobs``, Ray, a busy machine) for cores — with
            more threads than free cores, torch's spinning worker threads slowed trials of
            digits-quick down up to 100x. ``None`` leaves torch's own default.

    Examples:
        >>> objective = TrainingObjective(task="synthetic", task_options={"n_samples": 300})
        >>> outcome = objective({"optimizer": "adam", "lr": 0.01, "epochs": 2}, None)
        >>> outcome.state, outcome.epochs, outcome.strategy["optimizer"]
        (<OutcomeState.COMPLETE: 'complete'>, 2, 'adam')
        >>> 0.0 <= outcome.measurements["val_accuracy"] <= 1.0
        True
    """

    def __init__(
        self,
        *,
        task: str,
        task_options: Mapping[str, Any] | None = None,
        data_dir: str | None = None,
        device: str = "auto",
        threads: int | None = 1,
    ) -> None:
        if threads is not None:
            check_int(
                threads,
                name="threads",
                owner="TrainingObjective",
                minimum=1,
                what="an int >= 1 or None",
            )
        self.task_name = task
        self.threads = threads
        self.task_options = dict(task_options or {})
        self.data_dir = data_dir
        self.device = device
        self._task: Task | None = None

    def task(self) -> Task:
        """The task, built on first use and kept (its data is loaded once per worker)."""
        if self._task is None:
            from paretune.trainers import get_task

            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)

            self._task = get_task(self.task_name, data_dir=self.data_dir, options=self.task_options)
        return self._task

    def __call__(
        self,
        params: Mapping[str, Any],
        report: Reporter | None,
        checkpoint_dir: str | None = None,
        gpu_memory_fraction: float | None = None,
    ) -> TrialOutcome:
        """Train the strategy ``params`` describe.

        Args:
            params: Strategy field values and the task's own parameters (missing ones take
                their defaults, and ``epochs`` the task's ``default_epochs``).
            report: Called after every epoch; returning True stops training.
            checkpoint_dir: Where to save/resume per-epoch state (Ray fault tolerance).
            gpu_memory_fraction: This process's share of its GPU (Ray fractional GPUs): the
                CUDA caching allocator is capped at it, so a trial that outgrows its share
                fails alone with an out-of-memory error instead of starving its neighbours.

        Returns:
            The run's outcome (:func:`trial_outcome` of the ``TrainResult``).
        """
        from paretune.trainers import strategy_from_params, train

        if gpu_memory_fraction is not None:
            import torch

            if torch.cuda.is_available():
                torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
        task = self.task()
        values = dict(params)
        values.setdefault("epochs", task.default_epochs)
        strategy = strategy_from_params(values, task=task)
        result = train(
            task, strategy, report=report, device=self.device, checkpoint_dir=checkpoint_dir
        )
        return trial_outcome(result)

    def run_group(
        self,
        params: Sequence[Mapping[str, Any]],
        reports: Sequence[Reporter | None],
        *,
        gpu_memory_fraction: float | None = None,
    ) -> list[TrialOutcome | Exception]:
        """Train several strategies at once (the executor's ``fuse = K``).

        Strategies that :func:`paretune.trainers.fusable` accepts and that share a
        :func:`paretune.trainers.fuse_key` train as one fused group
        (:func:`paretune.trainers.train_fused`); the others, and a group whose models cannot
        be stacked, train one by one. Each strategy reports to its own ``reports[i]``.
        ``gpu_memory_fraction`` caps the process's GPU memory as in :meth:`__call__` (a Ray
        group on a fractional GPU).

        Returns:
            One outcome per strategy, in order, or the error its training raised (that trial
            fails alone; an error of a fused group's training fails each of its members).

        Examples:
            >>> objective = TrainingObjective(task="synthetic", task_options={"n_samples": 300})
            >>> outcomes = objective.run_group(
            ...     [{"lr": 0.01, "epochs": 2, "seed": s} for s in range(3)], [None] * 3)
            >>> [(o.state.value, o.epochs) for o in outcomes]
            [('complete', 2), ('complete', 2), ('complete', 2)]
        """
        from paretune.trainers import (
            NotFusableError,
            check_applies,
            fusable,
            fuse_key,
            resolve_task_params,
            strategy_from_params,
            train,
            train_fused,
        )

        if len(params) != len(reports):
            raise ValueError(
                f"run_group got {len(reports)} reporters for {len(params)} parameter sets."
            )
        if gpu_memory_fraction is not None:
            import torch

            if torch.cuda.is_available():
                torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
        task = self.task()
        out: list[TrialOutcome | Exception | None] = [None] * len(params)
        groups: dict[tuple[Any, ...], list[int]] = {}
        strategies = {}
        for index, values in enumerate(params):
            try:
                strategy = strategy_from_params(
                    {"epochs": task.default_epochs, **values}, task=task
                )
                resolve_task_params(task, strategy.task_params)
                check_applies(task, strategy)
            except Exception as error:  # this trial fails alone, as it would unfused
                out[index] = error
                continue
            strategies[index] = strategy
            key = fuse_key(task, strategy) if fusable(task, strategy) is None else ("alone", index)
            groups.setdefault(key, []).append(index)
        for members in groups.values():
            results: list[Any] = []
            if len(members) > 1:
                try:
                    results = list(
                        train_fused(
                            task,
                            [strategies[i] for i in members],
                            reports=[reports[i] for i in members],
                            device=self.device,
                        )
                    )
                except NotFusableError:
                    results = []  # one by one, below
                except Exception as error:
                    results = [error] * len(members)
            if not results:
                for i in members:
                    try:
                        results.append(
                            train(task, strategies[i], report=reports[i], device=self.device)
                        )
                    except Exception as error:
                        results.append(error)
            for i, result in zip(members, results, strict=True):
                out[i] = result if isinstance(result, Exception) else trial_outcome(result)
        return [o if o is not None else ValueError("not trained") for o in out]


def build_objective(
    *,
    task: str,
    task_options: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    threads: int | None = 1,
) -> TrainingObjective:
    """Make a :class:`TrainingObjective` (the function an objective factory partially applies).

    Examples:
        >>> build_objective(task="synthetic").task_name
        'synthetic'
    """
    return TrainingObjective(
        task=task, task_options=task_options, data_dir=data_dir, device=device, threads=threads
    )


def objective_factory(config: StudyConfig) -> functools.partial[TrainingObjective]:
    """The picklable objective factory of a study.

    Args:
        config: The study config (task, task options, data directory, device).

    Returns:
        A ``functools.partial`` of :func:`build_objective` holding only plain values.

    Examples:
        >>> import pickle
        >>> from paretune.studies import load_config
        >>> factory = objective_factory(load_config("digits-quick"))
        >>> pickle.loads(pickle.dumps(factory))().task_name
        'digits-mlp'
    """
    return functools.partial(
        build_objective,
        task=config.task,
        task_options=dict(config.task_options),
        data_dir=config.data_dir,
        device=config.device,
    )
