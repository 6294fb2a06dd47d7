"""The import arrows of ../shared/ARCHITECTURE.md, checked on the source and at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Collection
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

# file -> forbidden modules it may still import (inside functions: importing its package must
# stay light, which test_light_packages_import_no_heavy_modules checks at run time). The local
# data-parallel launcher starts torch.distributed ranks, which only torch can do.
EXEMPT: dict[str, set[str]] = {"search/executors/_data_parallel.py": {"torch"}}


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
        exempt = EXEMPT.get(path.relative_to(ROOT).as_posix(), set())
        for module, line in _imports(path):
            for forbidden in FORBIDDEN[package] - exempt:
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


def _module_name(root: Path, path: Path, prefix: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([prefix, *parts])


def _runtime_imports(path: Path, modules: Collection[str]) -> list[str]:
    """Modules a module imports when it runs (function-level imports too; ``TYPE_CHECKING``
    blocks not). ``from pkg import sub`` imports the module ``pkg.sub`` when there is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append(sub if sub in modules else node.module)
    return found


def import_cycles(root: Path, prefix: str) -> list[list[str]]:
    """Circles in the graph of imports between the modules of the package at ``root``.

    A module importing ``pkg.sub`` depends on ``pkg/sub/__init__.py`` (or ``pkg/sub.py``), not
    on every parent package: what a circle means here is two modules that need each other.
    """
    modules = {_module_name(root, p, prefix): p for p in sorted(root.rglob("*.py"))}
    graph = {
        name: sorted({m for m in _runtime_imports(path, modules) if m in modules and m != name})
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name)
    return cycles


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_inside_a_package(package: str) -> None:
    assert import_cycles(ROOT / package, f"paretune.{package}") == []


def test_an_import_circle_is_detected(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from paretune.pkg._a import a\n")
    (pkg / "_a.py").write_text("def a():\n    from paretune.pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from paretune.pkg.sub._b import b\n")
    (pkg / "sub" / "_b.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from paretune.pkg import _c\n"
        "import paretune.pkg._a\nb = 1\n"
    )
    (pkg / "_c.py").write_text("from paretune.pkg.sub._b import b\n")
    cycles = import_cycles(pkg, "paretune.pkg")
    assert cycles == [
        ["paretune.pkg._a", "paretune.pkg.sub", "paretune.pkg.sub._b", "paretune.pkg._a"]
    ]


def test_tests_and_benches_import_public_modules_only() -> None:
    private: list[str] = []
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module, line in _imports(path):
                parts = module.split(".")
                if parts[0] == "paretune" and any(p.startswith("_") for p in parts):
                    private.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert private == []
