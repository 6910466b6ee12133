"""domain/ is pure: it imports nothing from the other layers and reads no clock, environment or file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
MODULES = sorted(DOMAIN.glob("*.py"))
OTHER_LAYERS = ("adapters", "workers", "projections", "cashback", "schemas")
IO_MODULES = ("os", "sys", "subprocess", "socket", "sqlite3", "psycopg", "kafka", "pathlib", "io", "shutil",
              "requests", "httpx", "time", "random", "logging", "structlog")
CLOCK_CALLS = ("now", "today", "utcnow", "time", "monotonic", "perf_counter", "getenv", "open")


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_domain_module_imports_no_other_layer_and_no_io(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for name in _imports(tree):
        top = name.split(".")[0]
        assert top not in OTHER_LAYERS, f"{module.name} imports {name}"
        assert top not in IO_MODULES, f"{module.name} imports {name}: the domain does no I/O"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_domain_module_reads_no_clock_and_no_environment(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            assert name not in CLOCK_CALLS, f"{module.name}:{node.lineno} calls {name}(): time comes in as an argument"
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            pytest.fail(f"{module.name}:{node.lineno} reads the environment")


def test_the_purity_check_sees_the_domain() -> None:
    assert len(MODULES) >= 8 and (DOMAIN / "registration.py") in MODULES
