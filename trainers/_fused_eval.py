"""Validation of fused members: every member's outputs in one stacked forward pass.

After each epoch a fused group validates all its members at once: the validation inputs go
through ``vmap(functional_call)`` over the stacked parameters (quantized rows where a member
quantizes, dropout off, no gradients), in chunks of ``EVAL_BATCH_SIZE // K`` samples, so the
pass holds about what one member's own validation holds. With the default metric each
member's correct predictions are counted on the device and read with one host sync for the
whole group; with the task's own metrics each member's outputs are kept and its metrics
computed as an unfused run computes them. A member's outputs differ from those of its own
model only in float rounding (a batched matmul adds in another order).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from ._data import EVAL_BATCH_SIZE
from ._metrics import compute_metrics

if TYPE_CHECKING:
    from ._run import _Run

__all__ = ["Validation", "validate_stacked"]

#: A member's validation: its metrics, or ValueError for a metric that is not finite.
Validation = Callable[[], dict[str, float]]


@torch.no_grad()
def validate_stacked(
    template: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    runs: Sequence[_Run],
) -> list[Validation]:
    """Each member's validation metrics from one stacked forward pass; one callable per run.

    Args:
        template: The model called functionally (as in the fused step).
        params: The stacked parameters the members compute with, shape ``(K, ...)``.
        buffers: The stacked buffers (the dropout rates), shape ``(K, ...)``.
        runs: The K members, in the stack's order (they share the task and its data).

    Examples:
        >>> from torch import nn
        >>> from paretune.trainers import Strategy, get_task
        >>> from paretune.trainers import Precision
        >>> from paretune.trainers._run import _Run
        >>> task = get_task("synthetic", options={"n_samples": 200})
        >>> runs = [_Run(task, Strategy(seed=s), device=torch.device("cpu"),
        ...              precision=Precision.FP32, fit_on_validation=False,
        ...              checkpoint_dir=None) for s in (0, 1)]
        >>> stacked = {n: torch.stack([r.model.get_parameter(n) for r in runs])
        ...            for n, _ in runs[0].model.named_parameters()}
        >>> checks = validate_stacked(runs[0].model, stacked, {}, runs)
        >>> [check() == run._validate() for check, run in zip(checks, runs)]
        [True, True]
    """
    first = runs[0]
    x, y = first.x_val, first.y_val
    if not len(y):  # the members' own validation says why (an empty split)
        return [run._validate for run in runs]
    rows = max(1, EVAL_BATCH_SIZE // len(runs))
    call = torch.func.vmap(
        functools.partial(_outputs, template), in_dims=(0, 0, None), randomness="same"
    )
    plain = first.plain_accuracy
    correct = torch.zeros(len(runs), dtype=torch.long, device=y.device)
    chunks: list[torch.Tensor] = []
    was_training = template.training
    template.eval()
    try:
        for start in range(0, len(x), rows):
            out = call(params, buffers, x[start : start + rows])  # (K, rows, ...)
            if plain:
                correct += (out.argmax(dim=2) == y[start : start + rows]).sum(dim=1)
            else:
                chunks.append(out)
    finally:
        template.train(was_training)
    if plain:
        return [functools.partial(dict, val_accuracy=c / len(y)) for c in correct.tolist()]
    outputs = torch.cat(chunks, dim=1)
    return [
        functools.partial(compute_metrics, run.metrics, outputs[row], y, prefix="val_")
        for row, run in enumerate(runs)
    ]


def _outputs(
    template: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    x: torch.Tensor,
) -> torch.Tensor:
    out: torch.Tensor = torch.func.functional_call(template, (params, buffers), (x,))
    return out
