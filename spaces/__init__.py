"""Search spaces over training strategies: distributions, conditions and Optuna sampling."""

from __future__ import annotations

__all__: list[str] = []
