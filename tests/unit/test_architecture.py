"""The arrows point one way: CLI -> flows -> clients. Checked on the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "indexer"

# A layer may import the layers after it in this list, never the ones before it.
LAYERS = [
    "indexer.cli",
    "indexer.serve",
    "indexer.sync",
    "indexer.alerts",
    "indexer.search",
    "indexer.store",
    "indexer.transform",
    "indexer.feed",
]
# Helpers of the simulator, the demo and the CLI only: the library never needs them.
TOOLS = ["indexer.simulator"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.startswith("indexer")}


def layer_of(name: str) -> int | None:
    for position, prefix in enumerate(LAYERS):
        if name == prefix or name.startswith(prefix + "."):
            return position
    return None


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    own = layer_of(module_name(path))
    if own is None:
        return
    upward = [name for name in imports_of(path) if (layer_of(name) or own + 1) < own]
    assert not upward, f"{module_name(path)} imports {upward}: move the shared part down"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_the_library_never_imports_the_simulator(path: Path) -> None:
    name = module_name(path)
    if name.startswith(("indexer.simulator", "indexer.cli")) or name == "indexer.__main__":
        return
    tools = [imp for imp in imports_of(path) if imp.startswith(tuple(TOOLS))]
    assert not tools, f"{name} imports {tools}"


def test_no_library_module_is_over_600_lines() -> None:
    long = {module_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}


def test_no_library_function_is_over_90_lines() -> None:
    long = {}
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > 90:
                    long[f"{module_name(path)}.{node.name}"] = size
    assert long == {}
