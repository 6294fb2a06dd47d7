"""One training run's state and loop (:class:`_Run`): what :func:`~paretune.trainers.train`
runs, and what a fused group's members are built as (:mod:`._fused`).

How each strategy dimension acts on the run is the module docstring of :mod:`._train`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._checkpoint import load_checkpoint, save_checkpoint
from ._checks_task import forward_error
from ._cost import (
    layer_stats,
    measure_cost,
    measure_latency,
    planned_cost,
    prunable_weights,
)
from ._data import (
    COST_SAMPLES,
    CheckedBatches,
    classifies,
    eval_batches,
    first_inputs,
    make_loader,
    steps_per_epoch,
    train_dataset,
)
from ._distill import DISTILL_ALPHA, DISTILL_TEMPERATURE, load_teacher
from ._distributed import ProcessGroup, check_data_parallel, loss_weight
from ._evaluate import Split, predict, split_accuracy
from ._init import initialize
from ._inputs import to_device
from ._layers import check_strategy_fits
from ._metrics import compute_metrics, load_metric_code
from ._optimizers import build_optimizer
from ._pruning import MagnitudePruner
from ._quant import bake_quantization, prepare_quantization
from ._result import Reporter, TrainResult, TrainStatus
from ._schedules import learning_rate
from ._step import BatchStep
from ._strategy import Precision, Strategy
from ._task import Task, task_metrics
from ._task_params import build_task_model
from ._transfer import load_pretrained, split_parameters

__all__ = [
    "DEVICE_DATA_LIMIT_BYTES",
    "PRUNE_BEGIN",
    "PRUNE_END",
    "PRUNE_UPDATES",
]

#: Gradual pruning runs from this fraction of the training steps ...
PRUNE_BEGIN = 0.1
#: ... to this one (then the masks are only kept) ...
PRUNE_END = 0.7
#: ... with about this many mask updates.
PRUNE_UPDATES = 20
#: Training inputs larger than this stay in host memory and go to the device batch by batch;
#: smaller ones are copied to the device once and batched there by index.
DEVICE_DATA_LIMIT_BYTES = 4 * 2**30


def _seconds_since(start: float) -> float:
    return time.perf_counter() - start


class _Run:
    """The state of one training run; :meth:`run` is the loop."""

    def __init__(
        self,
        task: Task,
        strategy: Strategy,
        *,
        device: torch.device,
        precision: Precision,
        fit_on_validation: bool,
        checkpoint_dir: str | None,
        group: ProcessGroup | None = None,
    ) -> None:
        self.task = task
        self.group = group
        self.strategy = strategy
        self.device = device
        self.precision = precision
        self.fit_on_validation = fit_on_validation
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)

        self.val_split: Split
        self.test_split: Split
        if task.streams:  # datasets through DataLoaders; the training loader is made below
            datasets = task.datasets()
            if group is not None:
                check_data_parallel(task, workers=group.world, datasets=datasets)
            self.train_set = train_dataset(task, datasets, fit_on_validation=fit_on_validation)
            self.val_split = eval_batches(task, "val", device=device, datasets=datasets)
            self.val_shard: Split = self.val_split
            if group is not None:  # each rank validates its shard; the figures are gathered
                self.val_shard = eval_batches(
                    task, "val", device=device, datasets=datasets, group=group
                )
            self.test_split = eval_batches(task, "test", device=device, datasets=datasets)
            self.example = first_inputs(task, "val", datasets=datasets)
            steps = steps_per_epoch(self.train_set, strategy.batch_size)
        else:
            data = task.data()
            x_train, y_train = data.x_train, data.y_train
            if fit_on_validation:
                x_train = torch.cat([x_train, data.x_val])
                y_train = torch.cat([y_train, data.y_val])
            self.on_host = x_train.nbytes > DEVICE_DATA_LIMIT_BYTES
            if self.on_host:
                if device.type == "cuda":  # page-locked memory makes the batch copies faster
                    x_train, y_train = x_train.pin_memory(), y_train.pin_memory()
                self.x_train, self.y_train = x_train, y_train
                self.x_val, self.y_val = data.x_val, data.y_val
            else:
                self.x_train, self.y_train = x_train.to(device), y_train.to(device)
                self.x_val, self.y_val = data.x_val.to(device), data.y_val.to(device)
            self.x_test, self.y_test = data.x_test, data.y_test
            self.val_split, self.test_split = (self.x_val, self.y_val), (self.x_test, self.y_test)
            self.val_shard = self.val_split
            if group is not None:
                self.val_shard = (group.shard(self.x_val), group.shard(self.y_val))
            self.example = data.x_val[:COST_SAMPLES]  # cost: BitOps and latency on real inputs
            steps = math.ceil(len(self.x_train) / strategy.batch_size)

        model = build_task_model(task, strategy)
        initialize(model, strategy.init, seed=strategy.seed)
        if task.pretrained is not None:
            load_pretrained(model, task.pretrained, task=task.name, head=task.head)
        self.model: nn.Module = model.to(device)
        if strategy.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        check_strategy_fits(task.name, self.model, strategy, select=task.prunable)
        try:
            self.stats = layer_stats(self.model, example=self.example, select=task.prunable)
        except RuntimeError as error:
            if not task.streams:
                raise
            raise forward_error(task, self.example, error) from error
        self.planned = planned_cost(self.stats, strategy)
        self.weights = prunable_weights(self.model, select=task.prunable)
        prepare_quantization(
            self.model, bits=strategy.bits, act_bits=strategy.act_bits, select=task.prunable
        )
        # What the batch step runs: the model, or on several ranks its DDP wrapper (pruning,
        # quantization and the cost keep reading the model itself).
        self.net = self.model
        if group is not None:
            self.net = group.wrap(self.model, find_unused=bool(strategy.freeze_epochs))
            if not group.lead:  # dropout draws differ between ranks, as in one large batch
                torch.manual_seed(strategy.seed + 1_000_003 * group.rank)
        self.backbone: list[nn.Parameter] = []
        self.optimizer = self._build_optimizer()
        self.teacher = load_teacher(task, device)
        if self.teacher is not None and strategy.channels_last:
            self.teacher = self.teacher.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        alpha, temperature = strategy.distill_alpha, strategy.distill_temperature
        self.batch_step = BatchStep(
            self.net,
            self.optimizer,
            task.loss,
            device_type=device.type,
            micro_batch=task.micro_batch,
            precision=precision,
            l1=strategy.l1,
            l1_weights=self.weights,
            grad_clip=strategy.grad_clip,
            channels_last=strategy.channels_last,
            teacher=self.teacher,
            distill_alpha=DISTILL_ALPHA if alpha is None else alpha,
            distill_temperature=DISTILL_TEMPERATURE if temperature is None else temperature,
        )

        self.steps_per_epoch = steps
        self.pruner: MagnitudePruner | None = None
        if strategy.prune_rate > 0:
            if steps is None:
                raise ValueError(
                    f"Task {task.name!r}: pruning schedules its masks over the training steps, "
                    "so the iterable train dataset must define __len__ (its samples per epoch)."
                )
            total = steps * strategy.epochs
            begin = round(PRUNE_BEGIN * total)
            end = max(begin, min(total - 1, round(PRUNE_END * total)))
            self.pruner = MagnitudePruner(
                self.weights,
                target=strategy.prune_rate,
                begin=begin,
                end=end,
                frequency=max(1, (end - begin) // PRUNE_UPDATES),
            )
        self.shuffle = torch.Generator().manual_seed(strategy.seed)
        self.loader: CheckedBatches | None = None
        if task.streams:  # shuffling and the workers' seeds come from self.shuffle
            loader = make_loader(
                self.train_set,
                task=task,
                batch_size=strategy.batch_size,
                train=True,
                generator=self.shuffle,
                device=device,
                group=group,
            )
            classify = classifies(task)
            self.loader = CheckedBatches(loader, task=task, split="train", classify=classify)
        self.augment_rng: torch.Generator | None = None
        if task.augment is not None:
            rank = 0 if group is None else group.rank
            self.augment_rng = torch.Generator(device=device).manual_seed(
                strategy.seed + 1 + 1_000_003 * rank
            )
        self.epoch = 0
        self.step = 0
        self.train_seconds = 0.0
        self.curve: list[dict[str, float]] = []
        self.metrics = task_metrics(task)
        load_metric_code(self.metrics)  # before the first epoch's clock
        self.plain_accuracy = [m.name for m in self.metrics] == ["accuracy"] and isinstance(
            task.metrics[0], str
        )

    def run(self, report: Reporter | None, *, keep_model: bool) -> TrainResult:
        """Train epoch by epoch, report, then measure the final model."""
        self._resume()
        status, reason = TrainStatus.COMPLETED, ""
        while self.epoch < self.strategy.epochs:
            started = time.perf_counter()
            lr = learning_rate(self.strategy, self.epoch + 1)
            train_loss = self._train_epoch(lr)
            if self.group is not None:  # the global batches' mean loss, the same on every rank
                train_loss = self.group.mean(train_loss)
            ended, reason, metrics = self.end_epoch(
                train_loss, lr, functools.partial(_seconds_since, started)
            )
            if ended is not None:
                status = ended
                break
            self._save()
            stop = report is not None and report(self.epoch, dict(metrics))
            if self.group is not None:  # rank 0 decides for every rank
                stop = self.group.broadcast(bool(stop))
            if stop:
                status = TrainStatus.STOPPED
                reason = f"stopped by the reporter after epoch {self.epoch}"
                break
        return self._result(status, reason, keep_model=keep_model)

    def end_epoch(
        self,
        train_loss: float,
        lr: float,
        elapsed: Callable[[], float],
        validate: Callable[[], dict[str, float]] | None = None,
    ) -> tuple[TrainStatus | None, str, dict[str, float]]:
        """After an epoch: check the loss, validate (``validate()``, by default the model's
        own validation), count the epoch and its seconds (``elapsed()``, read after
        validating) and add its point to the curve. Returns the status the run ends with
        (None: it goes on), the reason, and the point."""
        if not math.isfinite(train_loss):
            reason = f"training loss became {train_loss} in epoch {self.epoch + 1}"
            return TrainStatus.DIVERGED, reason, {}
        try:
            val = (validate or self._validate)()
        except ValueError as error:  # a NaN metric
            return TrainStatus.DIVERGED, f"validation {error} in epoch {self.epoch + 1}", {}
        self.epoch += 1
        self.train_seconds += elapsed()
        metrics = {
            **val,
            "train_loss": train_loss,
            "lr": lr,
            "sparsity": self.pruner.sparsity if self.pruner else 0.0,
            "train_seconds": self.train_seconds,
            **self.planned,
        }
        self.curve.append(metrics)
        return None, "", metrics

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """One parameter group, or backbone + head groups for a pretrained task with a head.

        With torch's fused update where the optimizer has one (Adam, AdamW, SGD, Adagrad: one
        kernel over every parameter, where the default makes a few per update term): a
        digits-mlp trial with Adam trains in 0.75x the time on the CPU.
        """
        strategy, task = self.strategy, self.task
        if task.pretrained is None or not task.head:
            return build_optimizer(self.model.parameters(), strategy, fused=True)
        self.backbone, head = split_parameters(self.model, task.head, task=task.name)
        optimizer = build_optimizer(self.backbone, strategy, fused=True)
        optimizer.add_param_group({"params": head})
        scale = strategy.backbone_lr_scale
        optimizer.param_groups[0]["lr_scale"] = 1.0 if scale is None else scale
        return optimizer

    def _train_epoch(self, lr: float) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr
        frozen = self.epoch < (self.strategy.freeze_epochs or 0)
        for weight in self.backbone:
            weight.requires_grad_(not frozen)
        if self.loader is not None:
            return self._stream_epoch(self.loader)
        x, y, batch_size = self.x_train, self.y_train, self.strategy.batch_size
        augment, augment_rng = self.task.augment, self.augment_rng
        pruner, batch_step = self.pruner, self.batch_step
        on_host, device = self.on_host, self.device
        order = torch.randperm(len(x), generator=self.shuffle)
        if not on_host:
            order = order.to(device)
        total = torch.zeros((), device=self.device)
        self.model.train()
        ranks, share = self.group, 1.0
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            if ranks is not None:  # this rank's slice of the global batch
                index, share = ranks.share(index)
            xb, yb = x[index], y[index]
            if on_host:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if augment is not None and augment_rng is not None:
                xb = augment(xb, augment_rng)
            loss = batch_step(xb, yb, weight=share)
            if pruner is not None:
                pruner.after_step(self.step)
            self.step += 1
            total += loss if ranks is None else loss * share
        return float(total.item()) / math.ceil(len(x) / batch_size)

    def _stream_epoch(self, loader: CheckedBatches) -> float:
        """One epoch over the training DataLoader; the mean of its batch losses."""
        augment, augment_rng = self.task.augment, self.augment_rng
        pruner, batch_step, device = self.pruner, self.batch_step, self.device
        non_blocking = device.type == "cuda"
        total = torch.zeros((), device=device)
        batches = 0
        ranks, share = self.group, 1.0
        size = len(self.train_set) if ranks is not None else 0  # type: ignore[arg-type]
        self.model.train()
        for inputs, targets in loader:
            if ranks is not None:  # this rank's share of the global batch number `batches`
                batch = min(self.strategy.batch_size, size - batches * self.strategy.batch_size)
                share = loss_weight(batch, world=ranks.world, rank=ranks.rank)
            xb = to_device(inputs, device, non_blocking=non_blocking)
            yb = targets.to(device, non_blocking=non_blocking)
            if augment is not None and augment_rng is not None:
                if not isinstance(xb, torch.Tensor):
                    raise TypeError(
                        f"Task {self.task.name!r}: Task.augment takes a tensor batch; these "
                        "inputs are not one (augment in the train dataset's transform instead)."
                    )
                xb = augment(xb, augment_rng)
            loss = batch_step(xb, yb, weight=share)
            if pruner is not None:
                pruner.after_step(self.step)
            self.step += 1
            batches += 1
            total += loss if ranks is None else loss * share
        return float(total.item()) / batches

    def _result(self, status: TrainStatus, reason: str, *, keep_model: bool) -> TrainResult:
        for weight in self.backbone:  # a model frozen until the end trains again if reused
            weight.requires_grad_(True)
        bake_quantization(self.model)
        self.model.eval()
        group = self.group
        if group is not None and not group.lead:  # rank 0 measures; every rank returns it
            fields: dict[str, Any] = group.broadcast({})
            return TrainResult(**fields, model=self.model if keep_model else None)
        result = self._measure(status, reason)
        if group is not None:
            fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
            group.broadcast({k: v for k, v in fields.items() if k != "model"})
        return dataclasses.replace(result, model=self.model) if keep_model else result

    def _measure(self, status: TrainStatus, reason: str) -> TrainResult:
        """Cost, latency and final metrics of the trained model (on one rank)."""
        cost = measure_cost(
            self.model, self.stats, bits=self.strategy.bits, act_bits=self.strategy.act_bits
        )
        metrics: dict[str, float] = {}
        if status is not TrainStatus.DIVERGED:
            try:
                metrics = self._evaluate(self.val_split, prefix="val_")
                metrics |= self._evaluate(self.test_split, prefix="test_")
            except ValueError as error:  # a NaN metric of the final model
                status, reason, metrics = TrainStatus.DIVERGED, f"final model: {error}", {}
        val_accuracy, test_accuracy = self._accuracies(status, metrics)
        latency = measure_latency(self.model, example=self.example)
        return TrainResult(
            status=status,
            reason=reason,
            val_accuracy=val_accuracy,
            test_accuracy=test_accuracy,
            params=int(cost["params"]),
            nonzero_params=int(cost["nonzero_params"]),
            sparsity=cost["sparsity"],
            size_bits=cost["size_bits"],
            bitops=cost["bitops"],
            latency_ms=latency.median_ms,
            latency_ms_spread=latency.spread_ms,
            train_seconds=self.train_seconds,
            epochs=self.epoch,
            curve=tuple(self.curve),
            strategy=self.strategy,
            metrics=metrics,
        )

    def _validate(self) -> dict[str, float]:
        """The validation metrics after an epoch; on several ranks, of the gathered shards."""
        if self.group is None:
            return self._evaluate(self.val_split, prefix="val_")
        outputs, targets = predict(self.model, self.val_shard, device=self.device)
        outputs, targets = self.group.gather_outputs(outputs, targets)
        return compute_metrics(self.metrics, outputs, targets, prefix="val_")

    def _evaluate(self, split: Split, *, prefix: str) -> dict[str, float]:
        """``{prefix + name: value}`` of the task's metrics on one split (NaN raises)."""
        if self.plain_accuracy:  # the default ("accuracy",): no outputs kept on the host
            return {f"{prefix}accuracy": split_accuracy(self.model, split, device=self.device)}
        outputs, targets = predict(self.model, split, device=self.device)
        return compute_metrics(self.metrics, outputs, targets, prefix=prefix)

    def _accuracies(self, status: TrainStatus, metrics: dict[str, float]) -> tuple[float, float]:
        """Validation and test accuracy (NaN for regression, 0 after a divergence)."""
        if self.task.regression:
            return math.nan, math.nan
        if status is TrainStatus.DIVERGED:
            return 0.0, 0.0
        if "val_accuracy" in metrics:
            return metrics["val_accuracy"], metrics["test_accuracy"]
        return (
            split_accuracy(self.model, self.val_split, device=self.device),
            split_accuracy(self.model, self.test_split, device=self.device),
        )

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "strategy": self.strategy.to_dict(),
            "task": self.task.name,
            "fit_on_validation": self.fit_on_validation,
            "epoch": self.epoch,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "curve": self.curve,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "pruner": self.pruner.state_dict() if self.pruner else None,
            "shuffle_rng": self.shuffle.get_state(),
            "augment_rng": self.augment_rng.get_state() if self.augment_rng else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
        }
        return state

    def _save(self) -> None:
        if self.checkpoint_dir is None:
            return
        if self.group is None:
            save_checkpoint(self.checkpoint_dir, self._state())
            return
        # One file, written by rank 0, holding every rank's random state (dropout, augment).
        rngs = self.group.gather(self._rank_rng())
        if self.group.lead:
            save_checkpoint(self.checkpoint_dir, {**self._state(), "rank_rngs": rngs})

    def _rank_rng(self) -> dict[str, Any]:
        return {
            "torch_rng": torch.get_rng_state(),
            "augment_rng": self.augment_rng.get_state() if self.augment_rng else None,
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
        }

    def _resume(self) -> None:
        if self.checkpoint_dir is None:
            return
        state = load_checkpoint(self.checkpoint_dir)
        if state is None:
            return
        if state["strategy"] != self.strategy.to_dict() or state["task"] != self.task.name:
            raise ValueError(
                f"The checkpoint in {str(self.checkpoint_dir)!r} belongs to another run "
                f"(task {state['task']!r}, strategy {state['strategy']}); use an empty directory."
            )
        if state["fit_on_validation"] != self.fit_on_validation:
            raise ValueError("The checkpoint was written with another fit_on_validation.")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.pruner is not None and state["pruner"] is not None:
            self.pruner.load_state_dict(state["pruner"])
        ranks = state.get("rank_rngs")
        if self.group is not None and ranks is not None and len(ranks) == self.group.world:
            state = {**state, **ranks[self.group.rank]}  # this rank's own random state
        self.shuffle.set_state(state["shuffle_rng"])
        if self.augment_rng is not None and state["augment_rng"] is not None:
            self.augment_rng.set_state(state["augment_rng"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.train_seconds = float(state["train_seconds"])
        self.curve = [dict(point) for point in state["curve"]]
