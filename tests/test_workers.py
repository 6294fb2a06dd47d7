"""The suite's worker groups reach pytest-xdist (``tests/conftest.py``)."""

from __future__ import annotations

import pytest


def test_each_test_runs_in_its_module_group_on_a_worker(request: pytest.FixtureRequest) -> None:
    # under ``--dist loadgroup`` xdist appends the group to the test's id; a test without it
    # is scheduled alone, and its module's fixtures are built again on the other worker
    if not hasattr(request.config, "workerinput"):
        pytest.skip("runs on a pytest-xdist worker only (the suite's default, -n 2)")
    assert request.node.nodeid.endswith("@tests/test_workers.py")


@pytest.mark.ray
def test_a_ray_test_runs_in_the_ray_group(request: pytest.FixtureRequest) -> None:
    if not hasattr(request.config, "workerinput"):
        pytest.skip("runs on a pytest-xdist worker only (the suite's default, -n 2)")
    assert request.node.nodeid.endswith("@ray")
