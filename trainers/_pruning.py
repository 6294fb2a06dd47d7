"""Gradual global magnitude pruning with the cubic schedule of Zhu & Gupta (2017).

The target sparsity at training step ``t`` rises from 0 at ``begin`` to ``s_f`` at ``end``::

    s_t = s_f * (1 - (1 - (t - begin) / (end - begin)) ** 3)

Masks are recomputed only at the update points (every ``frequency`` steps from ``begin``, and
exactly ``s_f`` at ``end``): the ``round(s_t * n)`` weights of smallest magnitude across all
prunable layers (global ranking) get a zero mask. Between updates, and after ``end``, the masks
are only re-applied (one fused multiply after each optimizer step), so pruned weights stay at
exactly zero for the rest of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["MagnitudePruner", "cubic_sparsity", "global_magnitude_masks"]


def cubic_sparsity(step: int, *, target: float, begin: int, end: int) -> float:
    """Zhu & Gupta's sparsity at ``step``.

    Examples:
        >>> [round(cubic_sparsity(t, target=0.9, begin=0, end=4), 4) for t in range(6)]
        [0.0, 0.5203, 0.7875, 0.8859, 0.9, 0.9]
    """
    if step < begin:
        return 0.0
    if step >= end:
        return target
    progress = (step - begin) / (end - begin)
    return target * (1.0 - (1.0 - progress) ** 3)


@torch.no_grad()
def global_magnitude_masks(weights: Sequence[torch.Tensor], sparsity: float) -> list[torch.Tensor]:
    """Masks zeroing exactly ``round(sparsity * n)`` smallest-magnitude weights over all layers.

    Examples:
        >>> masks = global_magnitude_masks([torch.tensor([3.0, -1.0]), torch.tensor([0.5])], 0.5)
        >>> [m.tolist() for m in masks]
        [[1.0, 0.0], [0.0]]
    """
    flat = torch.cat([w.detach().abs().flatten().float() for w in weights])
    count = round(sparsity * flat.numel())
    mask = torch.ones_like(flat)
    if count > 0:
        mask[torch.topk(flat, count, largest=False, sorted=False).indices] = 0.0
    masks: list[torch.Tensor] = []
    offset = 0
    for w in weights:
        masks.append(mask[offset : offset + w.numel()].view_as(w).to(w.dtype))
        offset += w.numel()
    return masks


class MagnitudePruner:
    """Holds the masks of ``weights`` and updates them on the cubic schedule.

    Args:
        weights: The prunable weight parameters (pruned in place).
        target: Final sparsity ``s_f`` in [0, 1).
        begin: First step of the schedule.
        end: Step at which ``target`` is reached (``>= begin``).
        frequency: Steps between mask updates (>= 1).

    Examples:
        >>> w = torch.nn.Parameter(torch.arange(1.0, 11.0))
        >>> pruner = MagnitudePruner([w], target=0.5, begin=0, end=2, frequency=1)
        >>> for step in range(3):
        ...     pruner.after_step(step)
        >>> int((w == 0).sum()), pruner.sparsity
        (5, 0.5)
    """

    def __init__(
        self,
        weights: Sequence[torch.Tensor],
        *,
        target: float,
        begin: int,
        end: int,
        frequency: int,
    ) -> None:
        if not 0.0 <= target < 1.0:
            raise ValueError(
                f"The 'target' parameter of MagnitudePruner must be a float in "
                f"[0, 1). Got {target!r} instead."
            )
        if end < begin or begin < 0 or frequency < 1:
            raise ValueError(
                "MagnitudePruner needs 0 <= begin <= end and frequency >= 1 "
                f"(got begin={begin}, end={end}, frequency={frequency})."
            )
        self.weights = list(weights)
        # Detached aliases share the parameters' storage: in-place masking needs no grad mode.
        self._data = [w.detach() for w in self.weights]
        self.target = target
        self.begin = begin
        self.end = end
        self.frequency = frequency
        self.masks: list[torch.Tensor] | None = None
        self.sparsity = 0.0
        self._next_update = begin
        self._done = target == 0.0

    def after_step(self, step: int) -> None:
        """Call after the optimizer step number ``step`` (from 0): update or re-apply masks."""
        self.update_masks(step)
        if self.masks is not None:
            torch._foreach_mul_(self._data, self.masks)

    def due(self, step: int) -> bool:
        """Whether the masks are recomputed after step number ``step``."""
        return not self._done and step >= self._next_update

    def update_masks(self, step: int, weights: Sequence[torch.Tensor] | None = None) -> bool:
        """Recompute the masks if :meth:`due` (from ``weights``, by default the pruned ones)
        without applying them; True when they changed."""
        if not self.due(step):
            return False
        self.sparsity = cubic_sparsity(step, target=self.target, begin=self.begin, end=self.end)
        self.masks = global_magnitude_masks(
            self.weights if weights is None else weights, self.sparsity
        )
        self._done = step >= self.end
        self._next_update = min(step + self.frequency, self.end)
        return True

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (masks, schedule position)."""
        return {
            "masks": self.masks,
            "sparsity": self.sparsity,
            "next_update": self._next_update,
            "done": self._done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        masks = state["masks"]
        if masks is not None:
            masks = [m.to(w.device, w.dtype) for m, w in zip(masks, self.weights, strict=True)]
        self.masks = masks
        self.sparsity = float(state["sparsity"])
        self._next_update = int(state["next_update"])
        self._done = bool(state["done"])
