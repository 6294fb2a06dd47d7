"""Training strategies applied for real: optimizers, schedules, pruning, quantization, cost."""

from __future__ import annotations

__all__: list[str] = []
