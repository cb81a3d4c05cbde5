"""House rules: the core stays platform-neutral, product code never imports ``tests``,
the import graph has no cycle, the kernel imports no feature and features none of each
other, and no module fills a registry by being imported."""

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
    from dialogs.kernel.catalog import keys

    assert keys("zh") == keys("en")
    assert len(keys("en")) > 50


# --- the import graph of the product -------------------------------------------------------
# Every import counts: module level, inside functions and under ``if TYPE_CHECKING:``.
# Module names as ``shared/tools/import_graph.py`` writes them: ``pkg/__init__.py`` is
# ``pkg``; ``from X import Y`` is an edge to ``X.Y`` when that is a module, else to the
# longest module that ``X`` starts with.

# Not product code: the tests, environments, generated data and Alembic migrations.
NOT_PRODUCT = {".venv", "tests", "data", "build", "node_modules", ".git", "migrations"}

# dialogs/: the kernel, and one package per feature (dialogs/README.md).
KERNEL = "dialogs.kernel"
# Kept at its old path for APScheduler job stores written before the move (it imports
# the kernel only).
ALIASES = {"dialogs.reminders"}
# Methods that fill a container (a registry) when called on another module's attribute.
FILLERS = {"append", "extend", "update", "setdefault", "add", "insert"}


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


def test_no_import_cycle() -> None:
    found = cycles(import_graph(ROOT)[0])
    assert sorted(sorted(c) for c in found) == []


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that cross the layers of dialogs/ and storage/ the wrong way.

    The kernel imports no feature; a feature imports the kernel and libraries, never
    another feature (features talk through the hooks the registry offers); storage
    imports only core; nothing below the composition root imports ``app``, and nothing
    in dialogs/, scoring/, contracts/ or storage/ imports an adapter.
    """
    found: list[str] = []
    for module, targets in graph.items():
        parts = module.split(".")
        for target in sorted(targets):
            top = target.split(".")
            if module.startswith(KERNEL) and top[0] == "dialogs" and not target.startswith(KERNEL):
                found.append(f"kernel imports a feature: {module} -> {target}")
            elif (
                parts[0] == "dialogs"
                and len(parts) > 2
                and top[0] == "dialogs"
                and len(top) > 1
                and top[1] not in (parts[1], "kernel")
            ):
                found.append(f"feature imports another feature: {module} -> {target}")
            if parts[0] == "storage" and top[0] not in ("storage", "core"):
                found.append(f"storage imports above itself: {module} -> {target}")
            if parts[0] in CORE and top[0] in ("app", "bot", "web", "bench"):
                found.append(f"core imports the layer above: {module} -> {target}")
    return found


def test_layers_of_dialogs_and_storage_hold() -> None:
    graph, _ = import_graph(ROOT)
    assert layer_violations(graph) == []
    features = {m.split(".")[1] for m in graph if m.startswith("dialogs.") and m.count(".") > 1}
    assert {"kernel", "interview", "invitations", "scheduling", "hiring"} <= features
    flat = sorted(
        m
        for m in graph
        if m.count(".") == 1 and m.startswith("dialogs.") and m.split(".")[1] not in features
    )
    assert flat == sorted(ALIASES), "dialogs/ holds the kernel and feature packages only"


def registries_filled_at_import(root: Path) -> list[str]:
    """Module-level statements that fill another module's container (a registry).

    ``other.NAME[key] = value`` or ``other.NAME.append(...)`` at the top of a module is
    registration by import; features declare a ``Feature`` value instead.
    """
    found: list[str] = []
    modules = product_modules(root)
    ours = {m.split(".")[0] for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        imported = {
            (alias.asname or alias.name).split(".")[0]
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
            if (
                (node.module or "").split(".")[0] in ours
                if isinstance(node, ast.ImportFrom)
                else alias.name.split(".")[0] in ours
            )
        }
        for node in tree.body:
            target: ast.expr | None = None
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = next((t for t in targets if isinstance(t, ast.Subscript)), None)
                target = target.value if isinstance(target, ast.Subscript) else None
            elif (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr in FILLERS
            ):
                target = node.value.func.value
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id in imported
            ):
                found.append(f"{module}:{node.lineno}: {target.value.id}.{target.attr}")
    return found


def test_no_registry_is_filled_by_importing_a_module() -> None:
    assert registries_filled_at_import(ROOT) == []


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


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    files = {
        "dialogs/__init__.py": "",
        "dialogs/kernel/__init__.py": "",
        "dialogs/kernel/router.py": "def f() -> None:\n    from dialogs.hiring import decisions\n",
        "dialogs/hiring/__init__.py": "",
        "dialogs/hiring/decisions.py": "from dialogs.kernel import router\n",
        "dialogs/hiring/stats.py": "from dialogs.interview.flow import handle\n",
        "dialogs/interview/__init__.py": "",
        "dialogs/interview/flow.py": (
            "import os\n"
            "from dialogs.kernel import router\n"
            "os.environ['NOT'] = 'a registry'\n"
            "router.COMMANDS['x'] = 1\n"
            "router.HOOKS.append(print)\n"
            "LOCAL: dict[str, int] = {}\n"
            "LOCAL['fine'] = 1\n"
            "def handle() -> None:\n    router.COMMANDS['y'] = 2\n"
        ),
        "storage/__init__.py": "",
        "storage/db.py": "from dialogs.kernel import router\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph, _ = import_graph(tmp_path)
    assert sorted(layer_violations(graph)) == [
        "feature imports another feature: dialogs.hiring.stats -> dialogs.interview.flow",
        "kernel imports a feature: dialogs.kernel.router -> dialogs.hiring",
        "kernel imports a feature: dialogs.kernel.router -> dialogs.hiring.decisions",
        "storage imports above itself: storage.db -> dialogs.kernel",
        "storage imports above itself: storage.db -> dialogs.kernel.router",
    ]
    assert cycles(graph) == {frozenset({"dialogs.kernel.router", "dialogs.hiring.decisions"})}
    # at import time only: a function that changes it at run time is not registration
    assert registries_filled_at_import(tmp_path) == [
        "dialogs.interview.flow:4: router.COMMANDS",
        "dialogs.interview.flow:5: router.HOOKS",
    ]
