"""The import arrows of ../shared/ARCHITECTURE.md, checked on the source and at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spaces", "trainers", "search", "studies")

# package -> paretune packages and third-party top-level modules it must not import
FORBIDDEN: dict[str, set[str]] = {
    "spaces": {
        "paretune.trainers",
        "paretune.search",
        "paretune.studies",
        "torch",
        "ray",
        "plotly",
    },
    "trainers": {
        "paretune.search",
        "paretune.studies",
        "optuna",
        "ray",
        "plotly",
    },
    "search": {"paretune.trainers", "paretune.studies", "torch"},
    "studies": set(),
}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _violations(package: str) -> list[str]:
    bad: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module, line in _imports(path):
            for forbidden in FORBIDDEN[package]:
                if module == forbidden or module.startswith(forbidden + "."):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if module.split(".")[0] in PACKAGES:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (use paretune.*)")
    return bad


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_the_right_way(package: str) -> None:
    assert _violations(package) == []


def test_forbidden_import_is_detected(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import torch\nfrom paretune.search import Decision\n")
    found = [m for m, _ in _imports(bad)]
    assert found == ["torch", "paretune.search"]


@pytest.mark.parametrize("package", ["paretune.spaces", "paretune.search"])
def test_light_packages_import_no_heavy_modules(package: str) -> None:
    code = (
        f"import sys, {package}\n"
        "heavy = sorted(m for m in ('torch', 'ray', 'plotly') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"importing {package} imported {out}"
