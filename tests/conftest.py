"""Shared fixtures: every test runs in its own working directory and with few threads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Two cores on CI: keep BLAS/torch from oversubscribing when tests spawn processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory (studies write ``runs/`` relative to it)."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a hard requirement
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is present on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
