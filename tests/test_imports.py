"""Imports go one way: no module of the package imports, even late, one that imports it back,
and the devserver needs nothing but the API contract and the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parent.parent / "rollbar_notifier"
NAME = "rollbar_notifier"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> Set[str]:
    """Every module ``path`` imports anywhere in it (function-level imports included), as
    absolute names: ``from .x import y`` imports ``pkg.x``, or ``pkg.x.y`` if that is a
    module. A submodule's implicit import of its parent package is not an edge."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


def graph() -> Dict[str, Set[str]]:
    return {name: {target for target in imports_of(path) if target in MODULES and target != name}
            for name, path in MODULES.items()}


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Each strongly connected group of more than one module (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    edges = graph()
    assert len(edges) > 40, "the walk found the package's modules"
    assert cycles(edges) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_devserver_imports_only_the_contract_and_the_standard_library() -> None:
    allowed = {NAME, f"{NAME}.contract"}
    outside: Dict[str, Set[str]] = {}
    for path in (PACKAGE / "devserver").rglob("*.py"):
        for target in imports_of(path):
            top = target.split(".")[0]
            inside_devserver = target.startswith(f"{NAME}.devserver")
            if top == "requests" or (top == NAME and not inside_devserver
                                     and target not in allowed):
                outside.setdefault(module_name(path), set()).add(target)
            elif top != NAME and hasattr(sys, "stdlib_module_names"):  # Python 3.10+
                assert top in sys.stdlib_module_names or top == "__future__", (path, target)
    assert outside == {}


def test_running_the_devserver_never_loads_requests() -> None:
    code = ("import sys, rollbar_notifier.devserver, rollbar_notifier.devserver.command\n"
            "from rollbar_notifier.devserver import DevServer\n"
            "with DevServer() as server: pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'urllib3')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
