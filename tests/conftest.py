"""Shared fixtures: every test runs in its own working directory and with few threads."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Two cores on CI: keep BLAS/torch from oversubscribing when tests spawn processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A throw-away PostgreSQL server for the session (tests/postgres_server.py); the tests
    that use it are skipped, with the reason, where none can start."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "postgres_server", Path(__file__).with_name("postgres_server.py")
    )
    if spec is None or spec.loader is None:
        raise RuntimeError("tests/postgres_server.py is missing")
    helper = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("postgres_server", helper)
    spec.loader.exec_module(helper)
    try:
        server = helper.start()
    except helper.Unavailable as error:
        pytest.skip(f"no PostgreSQL server: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any, request: pytest.FixtureRequest) -> str:
    """A fresh database on the session's PostgreSQL server (one per test); its URL."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    url: str = postgres_server.create_database(f"{name}_{uuid.uuid4().hex[:8]}")
    return url


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory (studies write ``runs/`` relative to it)."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _group_for_workers(items)
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


def _group_for_workers(items: list[pytest.Item]) -> None:
    """Keep each module on one pytest-xdist worker, and every test that starts Ray on one.

    The suite runs on two workers (``-n 2 --dist loadgroup`` in pyproject.toml). A module's
    fixtures (a trained study, a PostgreSQL server) are built once that way. The tests marked
    ``ray`` share a worker so that two Ray runtimes never run at once: ``ray.init()`` without
    an address joins the last cluster started on the machine, and each wants the two cores.
    The other tests of a module with Ray tests keep to their module's worker (a module
    fixture they share with a Ray test is then built on both workers).
    A test that starts Ray must be marked ``ray`` (``tests/search/test_data_parallel_ray.py``
    found one that was not).

    pytest-xdist reads the groups in its own ``pytest_collection_modifyitems`` (it appends
    ``@group`` to each test's id), so the hook that sets them runs first (``tryfirst``);
    ``tests/test_workers.py`` checks that they arrive.
    """
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        group = "ray" if item.get_closest_marker("ray") is not None else module
        item.add_marker(pytest.mark.xdist_group(group))
