"""Freed CPU memory kept for reuse: each step's buffers fault in no new pages (glibc)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc only",
)

#: A step's worth of buffers (4 MiB and 1 MiB ones, some freed as the step goes on) allocated,
#: touched and freed, 5 times over; the page faults it takes. glibc's defaults give some of the
#: heap's top back each round and fault it in again.
CHURN = textwrap.dedent(
    """
    import json, resource, torch

    def churn():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            buffers = []
            for index in range(10):
                buffers += [torch.ones(2**20), torch.ones(2**18)]
                if index % 2:
                    buffers.pop(0)
            del buffers
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    churn()
    before = churn()
    """
)


#: Pages the churn allocates and touches: 5 rounds of 10 x 4 MiB and 10 x 1 MiB.
PAGES = 5 * 10 * (4 + 1) * 2**20 // 4096


def _run(after: str, env: dict[str, str] | None = None) -> dict[str, int]:
    script = CHURN + textwrap.dedent(after)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=True,
    )
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_keep_freed_memory_stops_the_page_faults_of_freed_buffers() -> None:
    got = _run(
        """
        from paretune.trainers import keep_freed_memory
        kept = keep_freed_memory()
        churn()
        print(json.dumps({"kept": kept, "before": before, "after": churn()}))
        """
    )
    assert got["kept"] is True
    # how often glibc's defaults give the top back depends on the process's history (30,565
    # faults here, 5,024 in CI); kept, the 64,000 pages the churn touches fault in none
    assert got["after"] < PAGES / 100
    assert got["after"] <= got["before"] / 10


def test_train_on_the_cpu_keeps_freed_memory() -> None:
    got = _run(
        """
        from paretune.trainers import Strategy, get_task, train
        train(get_task("synthetic", options={"n_samples": 200}), Strategy(epochs=1), device="cpu")
        churn()
        print(json.dumps({"before": before, "after": churn()}))
        """
    )
    assert got["after"] < PAGES / 100
    assert got["after"] <= got["before"] / 10


@pytest.mark.parametrize(
    "setting",
    [
        {"GLIBC_TUNABLES": "glibc.malloc.check=0"},
        {"MALLOC_TRIM_THRESHOLD_": str(6 * 2**20)},
    ],
)
def test_a_users_own_malloc_settings_are_left_alone(setting: dict[str, str]) -> None:
    got = _run(
        """
        from paretune.trainers import keep_freed_memory
        print(json.dumps({"kept": keep_freed_memory()}))
        """,
        env=setting,
    )
    assert got["kept"] is False
