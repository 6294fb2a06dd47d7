"""A ``torch.optim`` optimizer's fused CPU update, called without the optimizer's per-call work.

On the CPU a fused group updates each member's row with the member's own ``torch.optim``
optimizer (:class:`~paretune.trainers._fused_optim.StackedOptimizer`). With ``fused=True``
the update itself is one kernel (``torch._fused_sgd_``, ``_fused_adam_``, ``_fused_adamw_``,
``_fused_adagrad_``) over a row that stays in cache: a few dozen microseconds for a digits
MLP. ``optimizer.step()`` around it costs two to four times as much again in Python (the
profiler and hook wrappers, gathering the state, grouping the tensors by device and dtype),
and a group of 16 members pays it 16 times a step. :func:`row_kernel` makes, once the first
``step()`` has created the optimizer's state, the call ``step()`` would make, with the same
state tensors and settings; the tests compare every row with ``torch.optim`` step by step
(``tests/trainers/test_fused.py``). A trial trained alone calls its optimizer the same way
(:class:`~paretune.trainers.BatchStep`, on the CPU; ``tests/trainers/test_step_update.py``).
RMSprop has no fused kernel: its row runs the ops of
torch's single-tensor update directly (a quarter of what ``step()`` costs). Where torch has
no fused kernel (a torch without fused CPU kernels) or the optimizer uses a setting the call
leaves out (``maximize``, ``amsgrad``, ``differentiable``, ``centered``, several parameter
groups), there is none and ``step()`` is used. The kernels are torch's private operators,
called as ``torch.optim`` calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["DirectStep", "RowKernel", "row_kernel"]

#: ``kernel(grads, lr)``: one update of the optimizer's parameters with ``grads``.
RowKernel = Callable[[Sequence[torch.Tensor], float], None]


class DirectStep:
    """One optimizer's update by the direct call of its fused kernel (:func:`row_kernel`), made
    after a ``step()`` and used while the state it updates is still the optimizer's.

    Examples:
        >>> w = torch.ones(3, requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, fused=True)
        >>> direct = DirectStep(opt)
        >>> direct([torch.ones(3)], 0.1)  # nothing made yet: the caller runs step()
        False
        >>> w.grad = torch.ones(3)
        >>> opt.step()
        >>> direct.made()
        >>> direct([torch.ones(3)], 0.1), [round(v, 4) for v in w.tolist()]
        (True, [0.71, 0.71, 0.71])
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.kernel: RowKernel | None = None
        # a state tensor the kernel updates: load_state_dict puts new ones in place
        self._made_with: torch.Tensor | None = None

    def __call__(self, grads: Sequence[torch.Tensor], lr: float) -> bool:
        """Update with ``grads`` (one per parameter, in order) at ``lr``; False, doing nothing,
        where there is no direct call (none made, or the state was replaced): then run
        ``step()`` and :meth:`made`."""
        if self.kernel is None or self._made_with is not _first_state(self.optimizer):
            return False
        with torch.no_grad():  # as step() runs it
            self.kernel(grads, lr)
        return True

    def made(self) -> None:
        """Make the direct call of the optimizer as it is now (after a ``step()``, or after
        its parameters were replaced)."""
        self.kernel = row_kernel(self.optimizer)
        self._made_with = _first_state(self.optimizer)


def _first_state(optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
    """One state tensor of ``optimizer`` (None while it has none)."""
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                return value
    return None


def row_kernel(optimizer: torch.optim.Optimizer) -> RowKernel | None:
    """The fused update ``optimizer.step()`` runs, as a direct call; None where there is none.

    Call after ``optimizer.step()`` ran once (the state exists then). The kernel updates the
    optimizer's own parameters and state in place, as ``step()`` would with the parameters'
    gradients set to ``grads`` and the learning rate to ``lr``.

    Examples:
        >>> w = torch.ones(3, requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, fused=True)
        >>> w.grad = torch.ones(3)
        >>> opt.step()
        >>> kernel = row_kernel(opt)
        >>> kernel([torch.ones(3)], 0.1)  # buffer 0.9 * 1 + 1 = 1.9
        >>> [round(v, 4) for v in w.tolist()]
        [0.71, 0.71, 0.71]
    """
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if group.get("maximize") or group.get("differentiable"):
        return None
    if not group.get("fused") and type(optimizer) is not torch.optim.RMSprop:
        return None
    params = list(group["params"])
    state = [optimizer.state.get(p, {}) for p in params]
    if type(optimizer) is torch.optim.SGD:
        return _sgd(group, params, state)
    if type(optimizer) in (torch.optim.Adam, torch.optim.AdamW):
        return _adam(optimizer, group, params, state)
    if type(optimizer) is torch.optim.Adagrad:
        return _adagrad(group, params, state)
    if type(optimizer) is torch.optim.RMSprop:
        return _rmsprop(group, params, state)
    return None


def _sgd(
    group: dict[str, object], params: list[torch.Tensor], state: list[dict[str, torch.Tensor]]
) -> RowKernel | None:
    op = getattr(torch, "_fused_sgd_", None)
    momentum = float(group["momentum"])  # type: ignore[arg-type]
    buffers = [s.get("momentum_buffer") for s in state] if momentum != 0 else []
    if op is None or any(b is None for b in buffers):
        return None
    weight_decay, dampening = float(group["weight_decay"]), float(group["dampening"])  # type: ignore[arg-type]
    nesterov = bool(group["nesterov"])

    def kernel(grads: Sequence[torch.Tensor], lr: float) -> None:
        op(
            params,
            list(grads),
            buffers,
            weight_decay=weight_decay,
            momentum=momentum,
            lr=lr,
            dampening=dampening,
            nesterov=nesterov,
            maximize=False,
            is_first_step=False,
        )

    return kernel


def _adam(
    optimizer: torch.optim.Optimizer,
    group: dict[str, object],
    params: list[torch.Tensor],
    state: list[dict[str, torch.Tensor]],
) -> RowKernel | None:
    decoupled = bool(group.get("decoupled_weight_decay", type(optimizer) is torch.optim.AdamW))
    op = getattr(torch, "_fused_adamw_" if decoupled else "_fused_adam_", None)
    if (
        op is None
        or group.get("amsgrad")
        or not all({"step", "exp_avg", "exp_avg_sq"} <= s.keys() for s in state)
    ):
        return None
    steps = [s["step"] for s in state]
    exp_avgs = [s["exp_avg"] for s in state]
    exp_avg_sqs = [s["exp_avg_sq"] for s in state]
    beta1, beta2 = (float(b) for b in group["betas"])  # type: ignore[attr-defined]
    weight_decay, eps = float(group["weight_decay"]), float(group["eps"])  # type: ignore[arg-type]

    settings = {"beta1": beta1, "beta2": beta2, "weight_decay": weight_decay, "eps": eps}
    return _stepped(op, params, [exp_avgs, exp_avg_sqs, []], steps, amsgrad=False, **settings)


def _adagrad(
    group: dict[str, object], params: list[torch.Tensor], state: list[dict[str, torch.Tensor]]
) -> RowKernel | None:
    op = getattr(torch, "_fused_adagrad_", None)
    if op is None or not all({"step", "sum"} <= s.keys() for s in state):
        return None
    steps = [s["step"] for s in state]
    sums = [s["sum"] for s in state]
    lr_decay, weight_decay, eps = (float(group[k]) for k in ("lr_decay", "weight_decay", "eps"))  # type: ignore[arg-type]

    return _stepped(
        op, params, [sums], steps, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps
    )


def _rmsprop(
    group: dict[str, object], params: list[torch.Tensor], state: list[dict[str, torch.Tensor]]
) -> RowKernel | None:
    """RMSprop has no fused kernel: its single-tensor update (what ``step()`` runs on the CPU),
    op for op, without the per-call work around it."""
    momentum = float(group["momentum"])  # type: ignore[arg-type]
    keys = {"step", "square_avg"} | ({"momentum_buffer"} if momentum > 0 else set())
    if group.get("centered") or group.get("foreach") or not all(keys <= s.keys() for s in state):
        return None
    steps = [s["step"] for s in state]
    averages = [s["square_avg"] for s in state]
    buffers = [s["momentum_buffer"] for s in state] if momentum > 0 else []
    alpha, eps, weight_decay = (float(group[k]) for k in ("alpha", "eps", "weight_decay"))  # type: ignore[arg-type]

    def kernel(row: Sequence[torch.Tensor], lr: float) -> None:
        torch._foreach_add_(steps, 1)
        grads = list(row)
        # torch's foreach ops on the CPU run each tensor's op in turn: the single-tensor update,
        # one call per op for the whole row
        if weight_decay != 0:
            grads = list(torch._foreach_add(grads, params, alpha=weight_decay))
        torch._foreach_mul_(averages, alpha)
        torch._foreach_addcmul_(averages, grads, grads, value=1 - alpha)
        avg = list(torch._foreach_sqrt(averages))
        torch._foreach_add_(avg, eps)
        if momentum > 0:
            torch._foreach_mul_(buffers, momentum)
            torch._foreach_addcdiv_(buffers, grads, avg)
            torch._foreach_add_(params, buffers, alpha=-lr)
        else:
            torch._foreach_addcdiv_(params, grads, avg, value=-lr)

    return kernel


def _stepped(
    op: Any,
    params: list[torch.Tensor],
    buffers: list[list[torch.Tensor]],
    steps: list[torch.Tensor],
    **settings: Any,
) -> RowKernel:
    """``op(params, grads, *buffers, steps, lr=lr, maximize=False, **settings)`` after
    counting the step, as ``torch.optim``'s fused Adam and Adagrad do."""

    def kernel(grads: Sequence[torch.Tensor], lr: float) -> None:
        torch._foreach_add_(steps, 1)
        op(params, list(grads), *buffers, steps, lr=lr, maximize=False, **settings)

    return kernel
