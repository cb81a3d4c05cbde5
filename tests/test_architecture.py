"""House rules: the core stays platform-neutral, product code never imports ``tests``,
and the import graph gains no cycle."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ["dialogs", "scoring", "contracts", "storage"]
PLATFORM_LIBS = {"telegram", "wechatpy"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_never_imports_a_chat_platform() -> None:
    offenders = []
    for package in CORE:
        for path in (ROOT / package).rglob("*.py"):
            bad = imported_modules(path) & PLATFORM_LIBS
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_core_never_imports_the_bot_adapters() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in CORE
        for path in (ROOT / package).rglob("*.py")
        if "bot" in imported_modules(path) or "web" in imported_modules(path)
    ]
    assert offenders == []


def test_message_catalogues_have_the_same_keys() -> None:
    from dialogs.catalog import keys

    assert keys("zh") == keys("en")
    assert len(keys("en")) > 50


# --- the import graph of the product -------------------------------------------------------
# Every import counts: module level, inside functions and under ``if TYPE_CHECKING:``.
# Module names as ``shared/tools/import_graph.py`` writes them: ``pkg/__init__.py`` is
# ``pkg``; ``from X import Y`` is an edge to ``X.Y`` when that is a module, else to the
# longest module that ``X`` starts with.

# Not product code: the tests, environments, generated data and Alembic migrations.
NOT_PRODUCT = {".venv", "tests", "data", "build", "node_modules", ".git", "migrations"}

# Import cycles among product modules that exist today and are being broken. The test
# fails on any cycle not listed here and on a listed one that no longer exists, so this
# list can only shrink: when a cycle gets smaller or goes away, write what remains of it
# here (or delete the entry). Never add one.
KNOWN_CYCLES: list[frozenset[str]] = [
    # dialogs/ with the composition root (app.wiring): being broken up.
    frozenset(
        {
            "app.wiring",
            "dialogs.availability",
            "dialogs.bulk_invite",
            "dialogs.contract_flow",
            "dialogs.engine",
            "dialogs.followup",
            "dialogs.hr",
            "dialogs.human_scores",
            "dialogs.interview",
            "dialogs.pipeline",
            "dialogs.privacy",
            "dialogs.ratelimit",
            "dialogs.reminders",
            "dialogs.results",
            "dialogs.retention",
            "dialogs.router",
            "dialogs.scheduling",
            "dialogs.staff",
            "dialogs.stats",
        }
    ),
]


def product_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file under ``root`` that is product code."""
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in NOT_PRODUCT and not d.startswith("."))
        for name in files:
            if name.endswith(".py"):
                parts = list((Path(folder) / name).relative_to(root).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = Path(folder) / name
    return found


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every dotted name ``module`` imports (``from X import Y`` gives ``X`` and ``X.Y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".") if package else []
                up = up[: len(up) - (node.level - 1)] if node.level > 1 else up
                base = ".".join([*up, base] if base else up)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """The edges between product modules, and every ``importer -> tests...`` import."""
    modules = product_modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    to_tests: list[str] = []
    for module, path in modules.items():
        for name in imported_names(module, path):
            if name.split(".")[0] == "tests":
                to_tests.append(f"{module} -> {name}")
            target = resolve(name)
            if target and target != module:
                graph[module].add(target)
    return graph, to_tests


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_product_code_never_imports_tests() -> None:
    _, to_tests = import_graph(ROOT)
    assert to_tests == [], "product code imports tests (shared fakes belong in testkit/)"


def test_no_import_cycle_beyond_the_known_ones() -> None:
    found = cycles(import_graph(ROOT)[0])
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert new == [], "new import cycle (or a known one changed: update KNOWN_CYCLES)"
    assert gone == [], "a known cycle is gone or smaller: remove or shrink it in KNOWN_CYCLES"


def test_the_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f() -> None:\n    from pkg import b\n",
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import X\n",
        "pkg/c.py": "from pkg.a import f\nX = 1\n",
        "pkg/d.py": "def g() -> None:\n    import tests.fakes.speech\n",
        "tests/t.py": "import pkg.d\n",
        "storage/migrations/m.py": "import tests\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph, to_tests = import_graph(tmp_path)
    assert sorted(graph) == ["pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"]
    assert graph["pkg.a"] == {"pkg", "pkg.b"}  # ``from pkg import b``: the module pkg.b
    assert graph["pkg.b"] == {"pkg.c"}  # relative, under TYPE_CHECKING
    assert graph["pkg.c"] == {"pkg.a"}  # ``pkg.a.f`` resolves to the module pkg.a
    assert to_tests == ["pkg.d -> tests.fakes.speech"]
    assert cycles(graph) == {frozenset({"pkg.a", "pkg.b", "pkg.c"})}
