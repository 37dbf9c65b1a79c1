"""The package's import graph: no circles, a pytest-free core, one nova loader.

Read from the source (an AST walk of every module of ``pytest_actionsec/``), never by
importing it: every ``import`` and ``from ... import`` counts, those inside functions
(lazy imports) included; those in an ``if TYPE_CHECKING:`` block do not (they never
run). ``from package import name`` is an edge to the submodule ``name`` when there is
one, else to the package. Importing a module is not counted as importing its parent
packages, and ``importlib.import_module`` calls are not edges (the package's lazy
``__init__`` is the one module that uses it for the package's own modules; a test
below keeps it so).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest_actionsec

PACKAGE = "pytest_actionsec"
ROOT = Path(pytest_actionsec.__file__).parent

#: The pytest layer: the modules that may import pytest (or import a module that does).
#: The plugin adapts pytest; ``fuzz`` turns a collection error into pytest's own;
#: ``docs`` renders the plugin's options (it imports the plugin).
PLUGIN_LAYER = frozenset(
    {f"{PACKAGE}.plugin", f"{PACKAGE}.fuzz", f"{PACKAGE}.docs", f"{PACKAGE}.history.items"}
)

#: The one module that imports nova (and oslo's enginefacade).
NOVA_LOADER = f"{PACKAGE}.nova"
_NOVA_PACKAGES = ("nova", "oslo_db", "oslo_policy", "oslo_config")


@dataclass(frozen=True)
class Module:
    """One module of the package: its dotted name, file and parsed source."""

    name: str
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package a relative import of this module is relative to."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def package_modules(root: Path = ROOT) -> dict[str, Module]:
    """Every module of the package under ``root``, by dotted name."""
    out: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        out[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` that can run, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def imported_names(module: Module) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(module, names)`` for each runtime import of ``module`` (``names`` empty for
    ``import module``), relative imports resolved."""
    for node in _runtime_nodes(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target, tuple(alias.name for alias in node.names)


def _owner(dotted: str, modules: Mapping[str, Module]) -> str | None:
    """The package module ``dotted`` is (or is an attribute of), if any."""
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def import_graph(modules: Mapping[str, Module]) -> dict[str, set[str]]:
    """For each module, the package modules it imports at runtime."""
    graph: dict[str, set[str]] = {}
    for name, module in modules.items():
        edges: set[str] = set()
        for target, names in imported_names(module):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if subs:
                edges.update(subs)
            if len(subs) < len(names) or not names:
                owner = _owner(target, modules)
                if owner is not None:
                    edges.add(owner)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected set of two or more modules, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(component: list[str], graph: Mapping[str, set[str]]) -> str:
    """One circle: its modules, and each one's imports inside it."""
    short = [m.removeprefix(f"{PACKAGE}.") for m in component]
    lines = [f"circle of {len(component)}: {', '.join(short)}"]
    for member in component:
        inside = sorted(m.removeprefix(f"{PACKAGE}.") for m in graph[member] if m in component)
        lines.append(f"  {member.removeprefix(f'{PACKAGE}.')} imports {', '.join(inside)}")
    return "\n".join(lines)


def _reachable(start: str, graph: Mapping[str, set[str]]) -> dict[str, str]:
    """Every module ``start`` imports, directly or not, with the module importing it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for succ in graph.get(current, ()):
            if succ not in seen and succ != start:
                seen[succ] = current
                todo.append(succ)
    return seen


# --- the tests ---------------------------------------------------------------------------


def test_the_import_graph_has_no_circles() -> None:
    graph = import_graph(package_modules())
    found = cycles(graph)
    assert not found, "import circles in pytest_actionsec/:\n" + "\n".join(
        describe(c, graph) for c in found
    )


def _imports_pytest(module: Module) -> bool:
    return any(t.split(".")[0] in ("pytest", "_pytest") for t, _ in imported_names(module))


def pytest_in_core(modules: Mapping[str, Module]) -> list[str]:
    """How core modules (all but :data:`PLUGIN_LAYER`) reach pytest: importing it, or
    importing (directly or not) a module of the plugin layer; one line each."""
    graph = import_graph(modules)
    problems: list[str] = []
    for name in sorted(modules):
        if name in PLUGIN_LAYER:
            continue
        if _imports_pytest(modules[name]):
            problems.append(f"{name} imports pytest")
        for reached, via in sorted(_reachable(name, graph).items()):
            if reached in PLUGIN_LAYER:
                problems.append(f"{name} reaches {reached} ({via} imports it)")
    return problems


def test_the_core_never_imports_pytest() -> None:
    modules = package_modules()
    assert pytest_in_core(modules) == []
    # the plugin layer is what it says: each of its modules does reach pytest
    graph = import_graph(modules)
    for name in sorted(PLUGIN_LAYER):
        reached = {name, *_reachable(name, graph)}
        assert any(_imports_pytest(modules[m]) for m in reached), f"{name} imports no pytest"


def test_only_the_nova_loader_imports_nova() -> None:
    modules = package_modules()
    assert NOVA_LOADER in modules
    importers = {
        name: sorted(
            {target for target, _ in imported_names(m) if target.split(".")[0] in _NOVA_PACKAGES}
        )
        for name, m in modules.items()
        if name != NOVA_LOADER
    }
    assert {n: t for n, t in importers.items() if t} == {}
    # nor by name: a nova module named in a call (import_quietly("nova.x"), import_module(...))
    named = {
        name: sorted(
            node.args[0].value
            for node in ast.walk(m.tree)
            if isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.split(".")[0] in _NOVA_PACKAGES
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_quietly", "import_module", "__import__")
        )
        for name, m in modules.items()
        if name != NOVA_LOADER
    }
    assert {n: t for n, t in named.items() if t} == {}


def test_register_all_is_called_by_the_loader_only() -> None:
    callers = sorted(
        name
        for name, m in package_modules().items()
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Attribute) and node.attr == "register_all"
    )
    assert callers == [NOVA_LOADER]


def test_no_module_hides_an_import_of_the_package_in_importlib() -> None:
    """``importlib.import_module`` of the package's own modules (which the graph above does
    not see) only in the package's lazy ``__init__``."""
    hiding = sorted(
        name
        for name, m in package_modules().items()
        if name != PACKAGE
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
        and node.args
        and (
            isinstance(node.args[0], ast.JoinedStr)
            or (
                isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith(PACKAGE)
            )
        )
    )
    assert hiding == []


# --- the walk itself can fail -----------------------------------------------------------------


def test_the_walk_finds_a_lazy_circle_and_ignores_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "a.py").write_text("from pytest_actionsec import b\n", encoding="utf-8")
    (pkg / "b.py").write_text(
        "def f():\n    from pytest_actionsec.sub.c import x\n    return x\n", encoding="utf-8"
    )
    (pkg / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pytest_actionsec import d\n"
        "from .. import a\n",
        encoding="utf-8",
    )
    (pkg / "d.py").write_text("import pytest_actionsec.sub.c\n", encoding="utf-8")
    graph = import_graph(package_modules(pkg))
    assert graph[f"{PACKAGE}.sub.c"] == {f"{PACKAGE}.a"}
    found = cycles(graph)
    assert found == [[f"{PACKAGE}.a", f"{PACKAGE}.b", f"{PACKAGE}.sub.c"]]
    text = describe(found[0], graph)
    assert text.splitlines()[0] == "circle of 3: a, b, sub.c"
    assert "  b imports sub.c" in text


def test_the_walk_finds_pytest_reached_from_the_core(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "plugin.py").write_text("import pytest\n", encoding="utf-8")
    (pkg / "core.py").write_text("def f():\n    from _pytest import nodes\n", encoding="utf-8")
    (pkg / "engine.py").write_text("from pytest_actionsec import helper\n", encoding="utf-8")
    (pkg / "helper.py").write_text(
        "def g():\n    import pytest_actionsec.plugin\n", encoding="utf-8"
    )
    (pkg / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pytest\n", encoding="utf-8"
    )
    assert pytest_in_core(package_modules(pkg)) == [
        f"{PACKAGE}.core imports pytest",
        f"{PACKAGE}.engine reaches {PACKAGE}.plugin ({PACKAGE}.helper imports it)",
        f"{PACKAGE}.helper reaches {PACKAGE}.plugin ({PACKAGE}.helper imports it)",
    ]
