"""Fused trials: K strategies of one task trained as one stacked model (``torch.func``).

Small models leave a CPU core or a GPU mostly waiting on Python: each optimizer step of a
digits MLP is a few dozen tiny kernels. :func:`train_fused` trains K compatible strategies
together, as HFTA does (Wang et al., MLSys 2021): every parameter is stacked to shape
``(K, *shape)``, the forward pass is ``torch.func.vmap`` of ``functional_call`` over the
stack (a batched matmul instead of K small ones), and the K losses are summed before one
backward pass, which gives each member exactly its own gradient.

Each member keeps everything of its own strategy:

* its model initialisation, data order (its own seeded generator, one permutation an epoch),
  optimizer and settings (:class:`~paretune.trainers._fused_optim.StackedOptimizer`), the
  learning rate of its schedule at each epoch, ``weight_decay``, ``l1``, ``grad_clip``;
* ``dropout`` (its own rate, its own random masks), its prune masks (its own
  :class:`MagnitudePruner`, applied to its rows), and its weight bit width (per-channel fake
  quantization of its rows, straight-through);
* its validation after each epoch (all members' in one stacked forward pass,
  :mod:`~paretune.trainers._fused_eval`), its reporter (a member the reporter stops leaves the
  group, which goes on), and divergence: a member whose loss is not finite ends DIVERGED
  alone.

Each member ends with the :class:`TrainResult` an unfused run would return (the same cost,
latency and final metrics, measured on its own model). ``train_seconds`` of a shared epoch is
the epoch's wall time divided by the members that trained in it.

What is not fused (:func:`fusable` gives the reason; such strategies train alone): tasks that
stream datasets, augment, start from pretrained weights, distil or split micro-batches;
``precision`` other than fp32, ``channels_last``, ``freeze_epochs``, activation quantization
(``act_bits``), an optimizer without a stacked update, and models with buffers (BatchNorm's
running statistics). Members differ from an unfused run only in float rounding (a batched
matmul adds in another order) and in dropout's random masks (drawn for the stack).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ._allocator import keep_freed_memory
from ._device import private_rng, resolve_device
from ._fused_eval import Validation, validate_stacked
from ._fused_optim import StackedOptimizer, family_order, fusable_optimizer
from ._layers import QuantizedLayer, named_prunable_layers
from ._result import Reporter, TrainResult, TrainStatus
from ._run import _Run
from ._schedules import learning_rate
from ._strategy import Precision, Strategy
from ._task import Task
from ._task_params import resolve_task_params
from ._transfer import check_applies

__all__ = ["NotFusableError", "fusable", "fusable_task", "fuse_key", "train_fused"]


class NotFusableError(ValueError):
    """Strategies that pass :func:`fusable` build models that cannot be stacked (other
    parameter shapes, or buffers such as BatchNorm's): train them one by one."""


def fusable_task(task: Task, *, model: nn.Module | None = None) -> str | None:
    """Why no strategy of ``task`` can be trained fused, or None when some can.

    ``model``: one the task built, to check too (its buffers).

    Examples:
        >>> from paretune.trainers import get_task
        >>> fusable_task(get_task("digits-mlp")) is None
        True
        >>> fusable_task(get_task("synthetic"), model=nn.BatchNorm1d(4))
        "the model has buffers (such as BatchNorm's running statistics)"
    """
    checks: list[tuple[bool, str]] = [
        (task.replay is not None, "a replay task trains nothing"),
        (task.streams, "the task streams datasets"),
        (task.augment is not None, "the task augments its batches"),
        (task.pretrained is not None, "the task starts from pretrained weights"),
        (task.teacher is not None, "the task distils from a teacher"),
        (task.micro_batch is not None, "the task splits batches into micro-batches"),
        (
            model is not None and any(True for _ in model.buffers()),
            "the model has buffers (such as BatchNorm's running statistics)",
        ),
    ]
    return next((reason for failed, reason in checks if failed), None)


def fusable(task: Task, strategy: Strategy) -> str | None:
    """Why ``strategy`` cannot be trained fused on ``task``, or None when it can.

    Examples:
        >>> from paretune.trainers import get_task
        >>> fusable(get_task("digits-mlp"), Strategy()) is None
        True
        >>> fusable(get_task("digits-mlp"), Strategy(act_bits=8))
        'activation quantization (act_bits=8)'
    """
    checks: list[tuple[bool, str]] = [
        (strategy.precision != Precision.FP32.value, f"precision {strategy.precision!r}"),
        (strategy.channels_last, "channels_last"),
        (bool(strategy.freeze_epochs), "freeze_epochs"),
        (
            strategy.act_bits is not None and strategy.act_bits < 32,
            f"activation quantization (act_bits={strategy.act_bits})",
        ),
    ]
    reason = fusable_task(task) or next((why for failed, why in checks if failed), None)
    return reason or fusable_optimizer(strategy)


def fuse_key(task: Task, strategy: Strategy) -> tuple[Any, ...]:
    """What fused members share: task, architecture (its parameters), batch size, epochs,
    and whether dropout layers exist (they change an MLP's layer list).

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("digits-mlp")
        >>> fuse_key(task, Strategy(lr=0.1)) == fuse_key(task, Strategy(lr=0.2, bits=4))
        True
        >>> fuse_key(task, Strategy()) == fuse_key(task, Strategy(batch_size=64))
        False
    """
    params = tuple(sorted((k, repr(v)) for k, v in strategy.task_params.items()))
    return (task.name, params, strategy.batch_size, strategy.epochs, strategy.dropout > 0)


class _RowDropout(nn.Module):
    """Dropout whose rate is a buffer, so each member of the stack has its own."""

    rate: torch.Tensor

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.register_buffer("rate", torch.tensor(rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = 1.0 - self.rate
        return x * (torch.rand_like(x) < keep) / keep


class _StraightThrough(torch.autograd.Function):
    """The first rows quantized per output channel, each with its own bit width (``qmax``
    per quantized row), the others as they are; the gradient passes unchanged."""

    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, qmax: torch.Tensor) -> torch.Tensor:
        data = w.detach()
        head = data[: len(qmax)]
        dims = tuple(range(2, w.dim()))
        # max |w| as max(-min, max): no |w| temporary (aminmax would be one pass, but its CPU
        # kernel over an inner dimension is not vectorized: 10-15x slower than the two)
        high = head.amax(dim=dims, keepdim=True)
        scale = torch.maximum(head.amin(dim=dims, keepdim=True).neg_(), high)
        scale = scale.div_(qmax.reshape(-1, *([1] * (w.dim() - 1))))
        scale = scale.clamp_min_(torch.finfo(w.dtype).tiny)
        out = _empty_as(data)  # written in place: no temporaries, no concatenation
        quantized = out[: len(qmax)]
        torch.div(head, scale, out=quantized).round_().mul_(scale)
        out[len(qmax) :] = data[len(qmax) :]
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def _empty_as(t: torch.Tensor) -> torch.Tensor:
    """An empty tensor shaped as ``t`` with its dimensions in ``t``'s memory order (dense):
    elementwise ops between the two then run in memory order, not transposing."""
    order = sorted(range(t.dim()), key=lambda d: -t.stride()[d])
    inverse = sorted(range(t.dim()), key=order.__getitem__)
    return t.new_empty([t.shape[d] for d in order]).permute(inverse)


def _by_row(device: torch.device) -> bool:
    """Whether each member's row is updated alone, with the gradients as autograd returns them.

    On the CPU (True) a row's tensors stay in cache: the l1 term and each member's optimizer
    (:class:`StackedOptimizer` per row) work on the row's per-layer views, and the gradients
    are used where autograd wrote them. Copying them into one flat gradient would be one more
    pass over the stack in memory (a tenth of a digits-mlp step at K = 16), and one indexed l1
    update of the stack's weight columns takes a slow strided path. On a GPU (False) the few
    kernels over the whole stack count: the gradients are copied into the flat gradient, l1 is
    one indexed update and the optimizer one stacked update per family.
    """
    return device.type == "cpu"


class _Group:
    """The stacked state of the members still training."""

    def __init__(self, runs: list[_Run], task: Task) -> None:
        self.runs = runs
        self.task = task
        first = runs[0].model
        names = [name for name, _ in first.named_parameters()]
        for run in runs[1:]:
            others = [(n, p.shape) for n, p in run.model.named_parameters()]
            if others != [(n, p.shape) for n, p in first.named_parameters()]:
                raise NotFusableError(
                    f"Task {task.name!r}: strategies {runs[0].strategy.to_dict()} and "
                    f"{run.strategy.to_dict()} build models with other parameters; they cannot "
                    "be fused."
                )
        reason = fusable_task(task, model=first)
        if reason is not None:
            raise NotFusableError(f"Task {task.name!r}: {reason}; it cannot be fused.")
        self.template = self._template(first)
        self.prunable = [
            f"{name}.weight" for name, _ in named_prunable_layers(first, select=task.prunable)
        ]
        # the prunable weights first, in the pruners' order: columns [0, n_prunable) of a row
        # are a member's prunable weights as one vector (masks, l1, magnitude ranking)
        self.names = self.prunable + [n for n in names if n not in self.prunable]
        device = runs[0].device
        # every member's parameters in one row of a flat (K, P) buffer, and their gradients
        # likewise: the optimizer, l1, clipping and masks then work on whole rows (a few
        # kernels a step, not a few per parameter); the stacked parameters are views of it
        self.spans: dict[str, tuple[int, int, torch.Size]] = {}
        offset = 0
        for name in self.names:
            shape = first.get_parameter(name).shape
            self.spans[name] = (offset, offset + shape.numel(), shape)
            offset += shape.numel()
        self.n_prunable = sum(self.spans[n][2].numel() for n in self.prunable)
        self.flat = torch.cat(
            [
                torch.stack([r.model.get_parameter(n).detach().flatten() for r in runs])
                for n in self.names
            ],
            dim=1,
        )
        self.rates = {
            f"{path}.rate": torch.tensor(
                [float(r.model.get_submodule(path).p) for r in runs],  # type: ignore[arg-type]
                device=device,
            )
            for path, module in self.template.named_modules()
            if isinstance(module, _RowDropout)
        }
        # the quantized members come first (see train_fused): one qmax each
        bits = [r.strategy.bits for r in runs if r.strategy.bits < 32]
        self.qmax = torch.tensor([float(2 ** (b - 1) - 1) for b in bits], device=device)
        # (K, n_prunable): 0 where a member pruned a weight
        self.mask: torch.Tensor | None = None
        self.by_row = _by_row(device)
        # each stacked parameter's dimensions in the order its memory holds them (the
        # identity until the first step lays them out as autograd returns their gradients)
        self.layouts: dict[str, tuple[int, ...]] = {}
        self.laid_out = False
        self._views()
        self.optimizer = StackedOptimizer(self._updated(), [r.strategy for r in runs])
        self._settle()
        self.forward = torch.func.vmap(
            self._member_loss, randomness="different" if self.rates else "error"
        )

    def _views(self) -> None:
        """The stacked parameters as leaf views of ``flat`` (``leaves``, to compute with) and
        as its ``(K, numel)`` column blocks (``columns``, to update: each row one vector in
        memory order); off the CPU their gradients are views of one flat gradient (each step
        copies the computed gradients into them)."""
        k = self.flat.shape[0]
        if not self.by_row:
            self.flat.grad = torch.zeros_like(self.flat)
        self.leaves: dict[str, torch.Tensor] = {}
        self.columns: dict[str, torch.Tensor] = {}
        for name, (start, stop, shape) in self.spans.items():
            order = self.layouts.get(name, tuple(range(len(shape) + 1)))
            stored = [(k, *shape)[d] for d in order]
            inverse = sorted(range(len(order)), key=order.__getitem__)
            leaf = self.flat[:, start:stop].view(stored).permute(inverse).requires_grad_()
            if self.flat.grad is not None:
                leaf.grad = self.flat.grad[:, start:stop].view(stored).permute(inverse)
            self.leaves[name] = leaf
            self.columns[name] = self.flat[:, start:stop]

    def _lay_out_as(self, grads: Sequence[torch.Tensor]) -> None:
        """Store each stacked parameter in the order autograd lays out its gradient (a linear
        layer's comes transposed): a row's parameter and gradient then match element for
        element, as the optimizers' fused kernels read them, with no copy of the gradient.
        Once, at the first step, before any update; the prunable weights stay first, each
        member's one vector in storage order (its mask, l1 and magnitude ranking)."""
        self.laid_out = True
        layouts = {}
        for name, grad in zip(self.leaves, grads, strict=True):
            order = (0, *sorted(range(1, grad.dim()), key=lambda d: -grad.stride()[d]))
            if order != tuple(range(grad.dim())) and grad.permute(order).is_contiguous():
                layouts[name] = order
        if not layouts:
            return
        old = self.leaves
        self.layouts = layouts
        self.flat = torch.empty_like(self.flat)
        self._views()
        with torch.no_grad():
            for name, leaf in self.leaves.items():
                leaf.copy_(old[name])
        self.optimizer.params = self._updated()
        self.optimizer.keep(list(range(len(self.runs))))  # onto the new rows (no state yet)

    def _updated(self) -> list[torch.Tensor]:
        """What the optimizer updates: each layer's stack (by row), or the flat buffer."""
        return list(self.columns.values()) if self.by_row else [self.flat]

    def _settle(self) -> None:
        """The members' l1 rows and strengths and clipping limits, built once per group (not
        at every step: on a GPU each would be a host-to-device copy)."""
        runs, device = self.runs, self.runs[0].device
        # (row, strength) of each member with l1: row by row, or as two tensors on a GPU
        self.l1_each = [(row, r.strategy.l1) for row, r in enumerate(runs) if r.strategy.l1 > 0]
        self.l1_rows: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.l1_each:
            rows, strength = zip(*self.l1_each, strict=True)
            self.l1_rows = (
                torch.tensor(rows, device=device),
                torch.tensor(strength, device=device),
            )
        clips = [r.strategy.grad_clip for r in runs]
        self.clip_limit: torch.Tensor | None = None
        if any(c is not None for c in clips):
            limits = [math.inf if c is None else c for c in clips]
            self.clip_limit = torch.tensor(limits, device=device)

    def _template(self, model: nn.Module) -> nn.Module:
        """A float copy of ``model`` to call functionally: no fake quantization (the rows are
        quantized beforehand), dropout rates read from the stack."""
        template = copy.deepcopy(model)
        for module in template.modules():
            if isinstance(module, QuantizedLayer):
                module.weight_bits = None
                module.act_bits = None
        for path, module in list(template.named_modules()):
            if isinstance(module, nn.Dropout):
                template.set_submodule(path, _RowDropout(module.p))
        return template.train()

    def _member_loss(
        self,
        params: dict[str, torch.Tensor],
        buffers: dict[str, torch.Tensor],
        x: torch.Tensor,
        y: torch.Tensor,
    ) -> torch.Tensor:
        logits = torch.func.functional_call(self.template, (params, buffers), (x,))
        loss: torch.Tensor = self.task.loss(logits, y)
        return loss

    def params(self) -> dict[str, torch.Tensor]:
        """The parameters the forward pass computes with (quantized rows where asked)."""
        if not len(self.qmax):
            return self.leaves
        out = dict(self.leaves)
        for name in self.prunable:
            out[name] = _StraightThrough.apply(  # type: ignore[no-untyped-call]
                self.leaves[name], self.qmax
            )
        return out

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: torch.Tensor, step: int) -> torch.Tensor:
        """One optimizer step of every member on its batch; the members' losses."""
        losses: torch.Tensor = self.forward(self.params(), self.rates, xb, yb)
        leaves = list(self.leaves.values())
        # the gradients as computed: used where they are (by row), or copied once into the
        # flat gradient's views (backward() would add them to it, after zeroing it)
        grads = torch.autograd.grad(losses.sum(), leaves, allow_unused=True, materialize_grads=True)
        if not self.laid_out:
            self._lay_out_as(grads)
            leaves = list(self.leaves.values())
        with torch.no_grad():
            for name, leaf, grad in zip(self.leaves, leaves, grads, strict=True):
                if self.by_row:  # each row's gradient as one vector in its parameter's order
                    order = self.layouts.get(name, tuple(range(grad.dim())))
                    stored = grad.permute(order).contiguous()  # (no copy once laid out)
                    self.columns[name].grad = stored.view(len(stored), -1)
                else:
                    leaf.grad.copy_(grad)  # type: ignore[union-attr]
            self._regularize()
            self.optimizer.step(lr)
            self._prune(step)
        return losses.detach()

    def _regularize(self) -> None:
        """l1 and gradient clipping, each member with its own strength."""
        n = self.n_prunable
        if self.l1_rows is not None and self.by_row:
            # the gradient of l1 * sum|w|, row by row (see _by_row), as BatchStep adds it
            prunable = [self.columns[name] for name in self.prunable]
            for row, l1 in self.l1_each:
                signs = torch._foreach_sign([w[row] for w in prunable])
                torch._foreach_add_([w.grad[row] for w in prunable], signs, alpha=l1)  # type: ignore[index]
        elif self.l1_rows is not None and self.flat.grad is not None:  # one indexed update
            index, strength = self.l1_rows
            weights = self.flat[index, :n]  # (a copy: those rows only)
            scaled = torch.sign(weights, out=weights).mul_(strength[:, None])
            self.flat.grad[:, :n].index_add_(0, index, scaled)
        if self.clip_limit is not None:
            # each member's global norm over its layers' gradients, as clip_grad_norm_ takes it
            grads = [g for g in self._grads() if g is not None]
            norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])
            total = torch.linalg.vector_norm(norms, dim=0)
            factor = (self.clip_limit / (total + 1e-6)).clamp(max=1.0)
            for grad in grads:
                grad.mul_(factor.reshape(-1, *([1] * (grad.dim() - 1))))

    def _grads(self) -> list[torch.Tensor | None]:
        """The gradients the optimizer reads."""
        return [p.grad for p in self._updated()]

    def _prune(self, step: int) -> None:
        """Each member's masks on its schedule, applied to its rows."""
        weights = self.flat[:, : self.n_prunable]
        for row, run in enumerate(self.runs):
            pruner = run.pruner
            if pruner is None or not pruner.due(step):
                continue
            # a row's prunable weights are the layers' weights one after the other, in the
            # pruner's order: one global ranking over the row is the pruner's own
            pruner.update_masks(step, [weights[row]])
            if self.mask is None:
                self.mask = torch.ones_like(weights)
            self.mask[row] = (pruner.masks or [])[0]
        if self.mask is not None:
            weights.mul_(self.mask)

    def validate(self) -> list[Validation]:
        """Every member's validation after an epoch, from one stacked forward pass."""
        return validate_stacked(self.template, self.params(), self.rates, self.runs)

    def write_back(self, row: int) -> None:
        """Copy member ``row``'s parameters into its own model (to measure it when it ends)."""
        model = self.runs[row].model
        with torch.no_grad():
            for name in self.names:
                model.get_parameter(name).copy_(self.leaves[name][row])

    def keep(self, rows: list[int]) -> None:
        """Go on with the members at ``rows`` only."""
        index = torch.tensor(rows, dtype=torch.long, device=self.runs[0].device)
        self.runs = [self.runs[r] for r in rows]
        self.flat = self.flat[index]
        self._views()
        self.rates = {n: rate[index] for n, rate in self.rates.items()}
        if self.mask is not None:
            self.mask = self.mask[index]
        self.qmax = self.qmax[index[index < len(self.qmax)]]
        self.optimizer.params = self._updated()
        self.optimizer.keep(rows)
        self._settle()


def train_fused(
    task: Task,
    strategies: Sequence[Strategy],
    *,
    reports: Sequence[Reporter | None] | None = None,
    device: str = "auto",
    keep_model: bool = False,
) -> list[TrainResult]:
    """Train ``strategies`` on ``task`` as one fused group; one result per strategy.

    Each strategy trains as :func:`~paretune.trainers.train` would train it alone (module
    docstring: what is shared, what differs), reporting to its own ``reports[i]`` after each
    epoch; a reporter that returns True stops its member only (status STOPPED).

    Args:
        task: What to train (in-memory data; see :func:`fusable`).
        strategies: The members: :func:`fusable` on ``task`` and one :func:`fuse_key`.
        reports: Optional reporter per strategy.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
        keep_model: Return each member's trained model in ``TrainResult.model``.

    Examples:
        >>> from paretune.trainers import get_task
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> results = train_fused(task, [Strategy(epochs=2, lr=0.01, seed=s) for s in range(3)],
        ...                       device="cpu")
        >>> [(r.status.value, r.epochs, len(r.curve)) for r in results]
        [('completed', 2, 2), ('completed', 2, 2), ('completed', 2, 2)]
    """
    if not isinstance(task, Task):
        raise TypeError(
            f"The 'task' parameter of train_fused must be a Task. Got {task!r} instead."
        )
    strategies = list(strategies)
    if not strategies or not all(isinstance(s, Strategy) for s in strategies):
        raise TypeError(
            "The 'strategies' parameter of train_fused must be a non-empty sequence of "
            f"Strategy. Got {strategies!r} instead."
        )
    listeners = list(reports) if reports is not None else [None] * len(strategies)
    if len(listeners) != len(strategies):
        raise ValueError(
            f"train_fused got {len(listeners)} reporters for {len(strategies)} strategies; "
            "give one per strategy (or None)."
        )
    key = fuse_key(task, strategies[0])
    for index, strategy in enumerate(strategies):
        reason = fusable(task, strategy)
        if reason is not None:
            raise ValueError(f"Strategy {index} cannot be fused on task {task.name!r}: {reason}.")
        if fuse_key(task, strategy) != key:
            raise ValueError(
                f"Strategy {index} cannot be fused with strategy 0: fused strategies share "
                "task parameters, batch_size, epochs and whether dropout is used "
                f"(got {fuse_key(task, strategy)} and {key})."
            )
        resolve_task_params(task, strategy.task_params)
        check_applies(task, strategy)
    target = resolve_device(device)
    if target.type == "cpu":
        keep_freed_memory()
    # the quantized members first (one slice of the stack is quantized), then by optimizer
    # family (each family's rows update as views of the stack)
    placed = sorted(
        range(len(strategies)),
        key=lambda i: (strategies[i].bits == 32, family_order(strategies[i])),
    )
    runs: list[_Run] = []
    for strategy in (strategies[i] for i in placed):
        with private_rng(target, strategy.seed):
            runs.append(
                _Run(
                    task,
                    strategy,
                    device=target,
                    precision=Precision.FP32,
                    fit_on_validation=False,
                    checkpoint_dir=None,
                )
            )
    order = {id(run): i for i, run in zip(placed, runs, strict=True)}
    results: list[TrainResult | None] = [None] * len(runs)
    reporter = {id(run): listeners[order[id(run)]] for run in runs}
    with private_rng(target, strategies[0].seed):
        group = _Group(runs, task)
        _loop(
            group,
            reporter,
            lambda run, status, reason: results.__setitem__(
                order[id(run)], run._result(status, reason, keep_model=keep_model)
            ),
        )
    return [r for r in results if r is not None]


def _loop(
    group: _Group,
    reporter: dict[int, Reporter | None],
    done: Callable[[_Run, TrainStatus, str], None],
) -> None:
    """Epochs of the group until every member has ended."""
    first = group.runs[0]
    x, y, batch_size = first.x_train, first.y_train, first.strategy.batch_size
    device, epochs = first.device, first.strategy.epochs
    step = 0
    for epoch in range(1, epochs + 1):
        if not group.runs:
            return
        started = time.perf_counter()
        rates = [learning_rate(r.strategy, epoch) for r in group.runs]
        lr = torch.tensor(rates, device=device)
        orders = torch.stack([torch.randperm(len(x), generator=r.shuffle) for r in group.runs])
        if first.on_host:
            raise ValueError("Fused training needs the training data on the device.")
        orders = orders.to(device)
        total = torch.zeros(len(group.runs), device=device)
        for start in range(0, len(x), batch_size):
            index = orders[:, start : start + batch_size]
            total += group.step(x[index], y[index], lr, step)
            step += 1
        losses = (total / math.ceil(len(x) / batch_size)).tolist()
        share = (time.perf_counter() - started) / len(group.runs)
        checks = group.validate()
        keep: list[int] = []
        for row, run in enumerate(group.runs):
            run.step = step
            status, reason = _epoch_end(run, losses[row], rates[row], share, checks[row], reporter)
            if status is None:
                keep.append(row)
            else:
                group.write_back(row)
                done(run, status, reason)
        if not keep:  # every member ended this epoch
            return
        if len(keep) < len(group.runs):
            group.keep(keep)
    for row, run in enumerate(group.runs):
        group.write_back(row)
        done(run, TrainStatus.COMPLETED, "")


def _epoch_end(
    run: _Run,
    train_loss: float,
    lr: float,
    seconds: float,
    validate: Validation,
    reporter: dict[int, Reporter | None],
) -> tuple[TrainStatus | None, str]:
    """End a member's epoch and report it, as :meth:`_Run.run` does, with its validation from
    the stacked pass; the status it ends with (None: it goes on)."""
    status, reason, metrics = run.end_epoch(train_loss, lr, lambda: seconds, validate)
    if status is not None:
        return status, reason
    report = reporter[id(run)]
    if report is not None and report(run.epoch, dict(metrics)):
        return TrainStatus.STOPPED, f"stopped by the reporter after epoch {run.epoch}"
    return None, ""
