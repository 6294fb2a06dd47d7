"""The training loop: one readable function from a Task and a Strategy to a TrainResult.

How each strategy dimension acts on the run:

* ``optimizer`` and its sub-parameters: the torch optimizer of the registry entry;
  ``weight_decay`` is its L2 term (decoupled for adamw).
* ``lr``, ``schedule``, ``warmup_epochs``: :func:`learning_rate` of the epoch, written into
  the optimizer before each epoch.
* ``batch_size``: shuffled index batches (a seeded generator of the run) of tensors that live
  on the device; for a dataset task (``Task.load_datasets``), the batches of a ``DataLoader``
  shuffled by the same generator (see :mod:`paretune.trainers._data`).
* ``l1``: ``l1 * sign(w)`` added to the gradient of every prunable weight, i.e. the gradient
  of ``l1 * sum|w|`` (not added to the reported loss).
* ``dropout``: passed to the task's model factory.
* ``prune_rate``: :class:`MagnitudePruner` from ``PRUNE_BEGIN`` to ``PRUNE_END`` of the steps.
* ``bits`` / ``act_bits``: quantization-aware layers; the weights are baked at the end.
* ``seed``: model initialisation, dropout, shuffling and augmentation (torch's global
  generators are forked for the run and restored afterwards).
* ``init``: :func:`initialize` redraws the Linear / Conv weights (before a pretrained file).
* ``freeze_epochs``, ``backbone_lr_scale`` (task with ``pretrained``): the backbone (all but
  ``Task.head``) has ``requires_grad`` off for the first epochs and its own optimizer group
  whose learning rate is the schedule's times the scale.
* ``distill_alpha``, ``distill_temperature`` (task with ``teacher``): the loss of
  :func:`distillation_loss`, the teacher in eval mode under ``no_grad``.
* ``grad_clip``, ``precision``, ``channels_last`` and ``Task.micro_batch``: :class:`BatchStep`.
"""

from __future__ import annotations

from ._allocator import keep_freed_memory
from ._device import private_rng, resolve_device
from ._distributed import check_data_parallel, current_group
from ._result import Reporter, TrainResult
from ._run import _Run
from ._strategy import Precision, Strategy
from ._task import Task
from ._task_params import resolve_task_params
from ._transfer import check_applies

__all__ = ["train"]


def train(
    task: Task,
    strategy: Strategy,
    *,
    report: Reporter | None = None,
    device: str = "auto",
    amp: bool = False,
    fit_on_validation: bool = False,
    keep_model: bool = False,
    checkpoint_dir: str | None = None,
) -> TrainResult:
    """Train ``task``'s model with ``strategy`` and measure the result.

    After every epoch the model is evaluated on the validation split and
    ``report(epoch, metrics)`` is called with ``val_<name>`` of every ``Task.metrics``
    (``val_accuracy`` by default), ``train_loss``, ``lr``,
    ``sparsity`` (current), ``train_seconds`` (cumulative) and the planned ``size_bits``,
    ``bitops``, ``params`` and ``nonzero_params``; returning True stops training cleanly
    (status STOPPED). A NaN or infinite training loss, or a metric that is not a finite
    number, ends the run as DIVERGED (no exception; the reason names the loss or metric).

    Args:
        task: What to train (a replay task's ``replay`` is called instead of training).
        strategy: How to train.
        report: Optional ``report(epoch, metrics) -> stop``.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
        amp: Mixed precision (bfloat16 autocast); CUDA only. Same as the strategy's
            ``precision="bf16"``, kept for existing callers.
        fit_on_validation: Train on train + validation (for a final model).
        keep_model: Return the trained model in ``TrainResult.model``.
        checkpoint_dir: Save the state there after each epoch and resume from it if present.

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> result = train(task, Strategy(epochs=2, lr=0.01), device="cpu")
        >>> result.status.value, result.epochs, len(result.curve)
        ('completed', 2, 2)
    """
    if not isinstance(task, Task):
        raise TypeError(f"The 'task' parameter of train must be a Task. Got {task!r} instead.")
    if not isinstance(strategy, Strategy):
        raise TypeError(
            f"The 'strategy' parameter of train must be a Strategy. Got {strategy!r} instead."
        )
    resolve_task_params(task, strategy.task_params)  # a value outside its domain raises
    group = current_group()  # set up by a data-parallel launcher, else None
    if group is not None and task.replay is not None:
        check_data_parallel(task, workers=group.world)  # raises: a replay trains nothing
    if task.replay is not None:
        return task.replay(strategy, report)
    target = resolve_device(device)
    if target.type == "cpu":
        keep_freed_memory()
    if amp and target.type != "cuda":
        raise ValueError("amp=True needs a CUDA device; this run is on the CPU.")
    precision = Precision(strategy.precision)
    if amp and precision is Precision.FP16:
        raise ValueError("amp=True (bfloat16) contradicts the strategy's precision 'fp16'.")
    if amp:
        precision = Precision.BF16
    if precision is Precision.FP16 and target.type != "cuda":
        raise ValueError(
            "The 'precision' parameter of Strategy 'fp16' needs a CUDA device; "
            "this run is on the CPU (use 'bf16')."
        )
    check_applies(task, strategy)
    with private_rng(target, strategy.seed):
        return _Run(
            task,
            strategy,
            device=target,
            precision=precision,
            fit_on_validation=fit_on_validation,
            checkpoint_dir=checkpoint_dir,
            group=group,
        ).run(report, keep_model=keep_model)
