"""The shape of the server package: no import cycles, and every scope rule in one module."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import server
from server.services import scopes

SERVER = Path(server.__file__).parent

# What Access knows of a user's geography. Only access.py (which computes it) and scopes.py
# (which turns it into the rows of each resource) may read it; anywhere else it would be a
# scope rule a security reviewer of scopes.py does not see.
GEOGRAPHY = frozenset({"grid_clause", "building_clause", "sees_grid", "sees_building",
                       "require_grid", "grid_ids", "building_ids", "everywhere"})
GEOGRAPHY_HOMES = frozenset({"server.services.access", "server.services.scopes"})


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package at ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, in_function: bool = False,
             ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement run at some point, with whether it sits inside a function.

    Imports under ``if TYPE_CHECKING:`` never run and are left out; a class body runs at
    import time, so its imports count as module-level.
    """
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _imports(ast.Module(body=node.orelse, type_ignores=[]), in_function)
        else:
            nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from _imports(node, in_function or nested)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             known: Mapping[str, Path]) -> set[str]:
    """The modules of ``known`` an import statement loads (a name imported from a package
    is its submodule if there is one, else the package)."""

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                 for alias in node.names]
    return {target for name in names if (target := owner(name)) and target != module}


def import_graph(root: Path, *, inside_functions: bool) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (``inside_functions``: those too)."""
    known = module_files(root)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        edges = graph.setdefault(module, set())
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, in_function in _imports(tree):
            if in_function and not inside_functions:
                continue
            for target in _targets(node, module, path.name == "__init__.py", known):
                # Left out: a function's import of its own ancestor package. The app factory
                # (server.create_app) imports the blueprints and commands while it builds an
                # app, and they read server.__version__ or call create_app when they run. A
                # package is always imported before its submodules, so such an import starts
                # no import: it reads a module that is already loaded, and cannot deadlock.
                if in_function and module.startswith(f"{target}."):
                    continue
                edges.add(target)
    return graph


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first walk meets, each as ``[a, b, ..., a]``; none: ``[]``."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []  # the walk from its start to the module being visited

    def visit(node: str) -> None:
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in done:
                visit(nxt)
        path.pop()
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start)
    return cycles


def _render(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_import_cycle_among_server_modules():
    """Module-level imports of server/ form no cycle."""
    cycles = find_cycles(import_graph(SERVER, inside_functions=False))
    assert not cycles, f"import cycles:\n{_render(cycles)}"


def test_no_import_cycle_even_counting_imports_inside_functions():
    """An import put inside a function to dodge a cycle hides the cycle, it does not end it."""
    cycles = find_cycles(import_graph(SERVER, inside_functions=True))
    assert not cycles, f"import cycles through function-level imports:\n{_render(cycles)}"


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


@pytest.mark.parametrize(("importer", "expected"), [
    ("from pkg import b\n", [["pkg.a", "pkg.b", "pkg.a"]]),
    ("from . import b\n", [["pkg.a", "pkg.b", "pkg.a"]]),
    ("import pkg.b\n", [["pkg.a", "pkg.b", "pkg.a"]]),
    ("def f():\n    from pkg.b import thing\n", [["pkg.a", "pkg.b", "pkg.a"]]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n", []),
])
def test_cycle_finder_sees_every_way_of_importing(tmp_path, importer, expected):
    """The graph is built from absolute, relative and function-level imports, not typing's."""
    root = _write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": importer,
                             "pkg/b.py": "from pkg.a import thing\n"})
    assert find_cycles(import_graph(root, inside_functions=True)) == expected


def test_function_import_of_own_package_is_no_cycle(tmp_path):
    """The app-factory pattern: the package builds the app from submodules that read it."""
    root = _write(tmp_path, {
        "pkg/__init__.py": "def create_app():\n    from pkg import views\n",
        "pkg/views.py": "def version():\n    from pkg import __version__\n"})
    assert find_cycles(import_graph(root, inside_functions=True)) == []
    assert find_cycles(import_graph(root, inside_functions=False)) == []


def _geography_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [f"{path.relative_to(SERVER.parent)}:{node.lineno} .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in GEOGRAPHY]


def test_only_scopes_turns_a_users_geography_into_rows():
    """Every rule of which rows a caller may see or use lives in server/services/scopes.py."""
    found = [read for module, path in module_files(SERVER).items()
             if module not in GEOGRAPHY_HOMES for read in _geography_reads(path)]
    assert not found, "scope rules outside server/services/scopes.py:\n" + "\n".join(found)


def test_scopes_docstring_names_every_rule():
    """A security reviewer reads the module docstring: every public rule is listed there."""
    doc = scopes.__doc__ or ""
    rules = [name for name in scopes.__all__ if inspect.isfunction(getattr(scopes, name))]
    missing = [name for name in rules if f"``{name}``" not in doc]
    assert rules and not missing, f"not in the scopes.py docstring: {missing}"
