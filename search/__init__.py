"""Optuna studies, samplers and pruners by name, executors, Pareto math and reports."""

from __future__ import annotations

from paretune.search._decision import Decision

__all__ = ["Decision"]
