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

    Weights of equal magnitude at the cut are zeroed in order (layer by layer, then by flat
    index), as a stable sort would rank them, so the masks are the same on every device.

    Examples:
        >>> masks = global_magnitude_masks([torch.tensor([3.0, -1.0]), torch.tensor([0.5])], 0.5)
        >>> [m.tolist() for m in masks]
        [[1.0, 0.0], [0.0]]
        >>> [m.tolist() for m in global_magnitude_masks([torch.tensor([0.0, 2.0, 0.0, 0.0])], 0.5)]
        [[0.0, 1.0, 0.0, 1.0]]
    """
    flat = torch.cat([w.detach().abs().flatten().float() for w in weights])
    keep = _keep_all_but_smallest(flat, round(sparsity * flat.numel()))
    masks: list[torch.Tensor] = []
    offset = 0
    for w in weights:
        masks.append(keep[offset : offset + w.numel()].view_as(w).to(w.dtype))
        offset += w.numel()
    return masks


#: Radix selection keys on the top bits of a non-negative float32 (its exponent and 5 bits of
#: mantissa): 8,192 bins, 32 to each power of two.
_SHIFT = 18
_BINS = 1 << (31 - _SHIFT)


def _keep_all_but_smallest(flat: torch.Tensor, count: int) -> torch.Tensor:
    """A float mask of ``flat`` (non-negative float32) with exactly ``count`` zeros: every value
    below the ``count``-th smallest and, at it, the first ties in index order.

    A radix selection: for non-negative floats the int32 bit patterns order as the values, so
    one histogram of the top bits finds the bin holding the cut, and only that bin is ranked.
    On one CPU thread it takes 0.33 ms for digits-mlp's 38,160 weights, ``torch.topk`` 0.6 ms.
    """
    if count <= 0:
        return torch.ones_like(flat)
    if count >= flat.numel():
        return torch.zeros_like(flat)
    key = (flat.view(torch.int32) >> _SHIFT) & (_BINS - 1)
    cumulative = torch.bincount(key, minlength=_BINS).cumsum_(0)
    cut_bin = int(torch.searchsorted(cumulative, count))
    below = int(cumulative[cut_bin - 1]) if cut_bin > 0 else 0
    in_bin = flat[key == cut_bin]
    cut = torch.kthvalue(in_bin, count - below).values
    if bool(cut.isnan()):  # a diverged layer: NaN ranks above every number, in index order
        keep = flat.isnan()
        nans = keep.nonzero().squeeze(1)
        keep[nans[: count - (flat.numel() - nans.numel())]] = False
        return keep.to(flat.dtype)
    keep = (flat <= cut).logical_not_()  # NaN is kept: it ranks above every number
    if below + int((in_bin <= cut).sum()) == count:  # the cut falls after the last tie
        return keep.to(flat.dtype)
    smaller = below + int((in_bin < cut).sum())
    at_cut = (flat == cut).nonzero().squeeze(1)
    keep[at_cut[count - smaller :]] = True
    return keep.to(flat.dtype)


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
