"""The store package's imports go one way: entity and rule modules share what both dialects use
and never import a dialect; a dialect never imports the other; nothing in the store imports a
layer above it; and the modules' imports form no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import tickwork.store

STORE = Path(tickwork.store.__file__).parent
# Where a backend is picked for a URL: the only shared modules that know the dialects.
OPENERS = {"tickwork.store.open", "tickwork.store.engines"}
LAYERS_ABOVE = ("tickwork.service", "tickwork.runtime", "tickwork.api", "tickwork.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(STORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, *, module_level: bool) -> set[str]:
    """The tickwork modules ``path`` imports (only at module level, if asked: the lazy imports
    inside functions are how the openers keep psycopg out of SQLite processes)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import module`` imports the module; ``from module import name``
            # the module.
            found.update(
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in TICKWORK else node.module
                for a in node.names
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("tickwork")}


TICKWORK = {module_name(p) for p in STORE.parent.rglob("*.py")}
MODULES = {module_name(p): p for p in STORE.rglob("*.py") if "migrations" not in p.parts}


def test_shared_modules_never_import_a_dialect() -> None:
    for name, path in MODULES.items():
        if name in OPENERS or ".sqlite" in name or ".postgres" in name:
            continue
        dialects = {
            m for m in imports_of(path, module_level=False) if ".sqlite" in m or ".postgres" in m
        }
        assert not dialects, f"{name} imports {dialects}"


def test_a_dialect_never_imports_the_other() -> None:
    for name, path in MODULES.items():
        for mine, other in ((".sqlite", ".postgres"), (".postgres", ".sqlite")):
            if mine in name:
                crossing = {m for m in imports_of(path, module_level=False) if other in m}
                assert not crossing, f"{name} imports {crossing}"


def test_the_store_imports_only_domain_errors_and_itself() -> None:
    # tickwork.lazy is the leaf that defers a package's names to first use.
    allowed = ("tickwork.store", "tickwork.domain", "tickwork.errors", "tickwork.lazy")
    for name, path in MODULES.items():
        for m in imports_of(path, module_level=False):
            assert m.startswith(allowed), f"{name} imports {m}"
            assert not m.startswith(LAYERS_ABOVE)


def test_no_import_cycle_among_store_modules() -> None:
    graph = {
        name: {m for m in imports_of(path, module_level=True) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }
    assert graph["tickwork.store.sqlstore"] >= {"tickwork.store.jobs", "tickwork.store.database"}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, " -> ".join((*trail, name))
        if name in done:
            return
        for dep in graph[name]:
            visit(dep, (*trail, name))
        done.add(name)

    for name in graph:
        visit(name, ())
