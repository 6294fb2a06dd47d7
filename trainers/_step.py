"""One optimizer step on one batch: micro-batches, mixed precision, distillation, l1, clipping.

``batch_size`` stays the effective batch: a batch larger than the micro-batch is split, each
micro-batch's (mean) loss is weighted by its share of the batch, and the gradients accumulate,
so the step equals one step on the whole batch up to float rounding (layers that mix samples,
such as BatchNorm in training mode, see micro-batch statistics instead). The inputs of a batch
are a tensor (``model(x)``), a tuple of tensors (``model(*x)``) or a dict of tensors
(``model(**x)``), sliced sample-wise into micro-batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ._distill import distillation_loss
from ._inputs import Example, forward, slice_inputs
from ._row_kernels import DirectStep
from ._strategy import Precision

__all__ = ["BatchStep"]


class BatchStep:
    """Callable ``step(x, y) -> loss`` doing one optimizer step on the batch ``(x, y)``.

    Args:
        model: The model in training mode.
        optimizer: Its optimizer.
        loss: ``loss(logits, labels)`` -> the mean loss of a batch.
        device_type: ``"cpu"`` or ``"cuda"`` (for autocast and the gradient scaler).
        micro_batch: Largest micro-batch (None: the whole batch at once).
        precision: :class:`Precision` of the forward pass.
        l1: Strength of the l1 gradient ``l1 * sign(w)`` added to ``l1_weights``.
        l1_weights: The prunable weights.
        grad_clip: Max global gradient norm (None: no clipping).
        channels_last: Feed 4-D inputs in channels-last memory format.
        teacher: Optional teacher model (eval mode); its logits make the distillation loss.
        distill_alpha: Weight of the distillation term.
        distill_temperature: Distillation temperature.

    Examples:
        >>> model = nn.Linear(3, 2)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> step = BatchStep(model, opt, nn.functional.cross_entropy, device_type="cpu")
        >>> loss = step(torch.ones(8, 3), torch.zeros(8, dtype=torch.long))
        >>> loss.shape
        torch.Size([])
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        *,
        device_type: str,
        micro_batch: int | None = None,
        precision: Precision = Precision.FP32,
        l1: float = 0.0,
        l1_weights: Sequence[torch.Tensor] = (),
        grad_clip: float | None = None,
        channels_last: bool = False,
        teacher: nn.Module | None = None,
        distill_alpha: float = 0.0,
        distill_temperature: float = 1.0,
    ) -> None:
        if precision is Precision.FP16 and device_type != "cuda":
            raise ValueError("precision 'fp16' needs a CUDA device; this run is on the CPU.")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss
        self.device_type = device_type
        self.micro_batch = micro_batch
        self.precision = precision
        self.l1 = l1
        self.l1_weights = list(l1_weights)
        self.grad_clip = grad_clip
        self.channels_last = channels_last
        self.teacher = teacher
        self.distill_alpha = distill_alpha
        self.distill_temperature = distill_temperature
        self.scaler = torch.amp.GradScaler(device_type) if precision is Precision.FP16 else None
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.direct = DirectStep(optimizer)  # made after the first step() (on the CPU)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision is Precision.FP32:
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision is Precision.BF16 else torch.float16
        return torch.autocast(self.device_type, dtype=dtype)

    def _loss(self, x: Example, y: torch.Tensor) -> torch.Tensor:
        if self.channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            logits = self.model(x) if isinstance(x, torch.Tensor) else forward(self.model, x)
            loss = self.loss_fn(logits, y)
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_logits = forward(self.teacher, x)
                loss = distillation_loss(
                    logits,
                    teacher_logits,
                    loss,
                    alpha=self.distill_alpha,
                    temperature=self.distill_temperature,
                )
        return loss

    def _update(self) -> None:
        """``optimizer.step()``; on the CPU, where the optimizer has a fused update, the direct
        call of it (:class:`~paretune.trainers._row_kernels.DirectStep`: the same kernel on the
        same state, without ``step()``'s per-call work, about 0.1 ms a step, a few times what
        the update of a small model takes). On a GPU ``step()`` runs (the direct call is not
        checked there yet)."""
        grads = [p.grad for p in self.params if p.grad is not None]  # (a frozen layer has none)
        lr = float(self.optimizer.param_groups[0]["lr"])
        if len(grads) == len(self.params) and self.direct(grads, lr):
            return
        self.optimizer.step()
        if self.device_type == "cpu":
            self.direct.made()

    def __call__(self, x: Example, y: torch.Tensor, *, weight: float = 1.0) -> torch.Tensor:
        """One optimizer step on the batch; returns the batch's (detached) mean loss.

        ``weight`` scales the loss that is differentiated (a data-parallel rank's share of the
        global batch), not the loss returned.
        """
        optimizer, scaler = self.optimizer, self.scaler
        for p in self.params:  # optimizer.zero_grad(set_to_none=True), without its wrappers
            p.grad = None
        size = len(y)
        parts: list[tuple[Example, torch.Tensor]]
        if self.micro_batch is None or self.micro_batch >= size:
            parts = [(x, y)]
        else:
            step = self.micro_batch
            parts = [(slice_inputs(x, i, i + step), y[i : i + step]) for i in range(0, size, step)]
        total: torch.Tensor | None = None
        for xm, ym in parts:
            loss = self._loss(xm, ym)
            if len(parts) > 1:  # mean over the micro-batch -> its share of the batch mean
                loss = loss * (len(ym) / size)
            scaled = loss if weight == 1.0 else loss * weight
            if scaler is not None:
                scaler.scale(scaled).backward()  # type: ignore[no-untyped-call]
            else:
                scaled.backward()  # type: ignore[no-untyped-call]
            total = loss.detach() if total is None else total + loss.detach()
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.l1 > 0:  # the gradient of l1 * sum|w| over the prunable weights
            grads = [w.grad for w in self.l1_weights if w.grad is not None]
            signs = torch._foreach_sign([w for w in self.l1_weights if w.grad is not None])
            torch._foreach_add_(grads, signs, alpha=self.l1)
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            self._update()
        if total is None:  # pragma: no cover - a batch is never empty
            raise ValueError("An empty batch cannot be trained on.")
        return total
