"""Every docstring example in the installed package runs (doctest).

The examples run in one fresh interpreter, not in the pytest process: by the time this module
runs, earlier tests have left Ray and server threads behind, and a background thread touching
``linecache`` while doctest resets it made the run fail at random (KeyError in
``linecache.checkcache``). Each module is still reported as its own test.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ("paretune.spaces", "paretune.trainers", "paretune.search", "paretune.studies")

RUNNER = """\
import doctest, importlib, json, sys
results = {}
for name in sys.argv[1:]:
    try:
        module = importlib.import_module(name)
        outcome = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False
        )
        results[name] = {"failed": outcome.failed, "attempted": outcome.attempted, "error": ""}
    except Exception as error:  # an import error is a failure of that module, not of the run
        results[name] = {"failed": 1, "attempted": 0, "error": repr(error)}
print(json.dumps(results))
"""


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        names.append(package)
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=package + "."):
            names.append(info.name)
    return names


MODULES = _modules()


@pytest.fixture(scope="module")
def doctest_results() -> dict[str, dict[str, object]]:
    ran = subprocess.run(
        [sys.executable, "-c", RUNNER, *MODULES], capture_output=True, text=True, timeout=600
    )
    if ran.returncode != 0:
        pytest.fail(f"the doctest runner crashed:\n{ran.stderr[-4000:]}")
    lines = ran.stdout.strip().splitlines()
    results: dict[str, dict[str, object]] = json.loads(lines[-1])
    results["_output"] = {"text": "\n".join(lines[:-1])}
    return results


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, doctest_results: dict[str, dict[str, object]]) -> None:
    result = doctest_results[name]
    output = str(doctest_results["_output"]["text"])
    assert result["error"] == "", f"{name} failed to import: {result['error']}"
    assert result["failed"] == 0, f"{name}: failing examples\n{output[-4000:]}"
