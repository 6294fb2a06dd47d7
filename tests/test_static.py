"""The code base is mypy-clean (strict) and ruff-clean, as the style guide asks.

mypy cannot follow the editable install's import hook, and the four folders import as
``paretune.<folder>`` only through the ``package-dir`` mapping; the test builds that package as
a tree of symbolic links in a temporary folder so that mypy resolves ``paretune.*`` across
folders exactly as Python does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spaces", "trainers", "search", "studies")


def _tool(name: str) -> None:
    """Fail in CI, skip elsewhere, when ``python -m name`` cannot run."""
    if not _module_available(name):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed; install the 'test' extra")
        pytest.skip(f"{name} is not installed")


def _module_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.mark.slow
def test_mypy_strict_over_the_whole_package(tmp_path: Path) -> None:
    _tool("mypy")
    tree = tmp_path / "paretune"
    tree.mkdir()
    for name in PACKAGES:
        (tree / name).symlink_to(ROOT / name, target_is_directory=True)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "-p",
            "paretune",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("command", [("check",), ("format", "--check")])
def test_ruff(command: tuple[str, ...]) -> None:
    _tool("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PACKAGES, "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
