"""The package's imports go one way: no import cycles, and no layer imports a layer above it.

The import graph is read with `ast` from the installed packages' files (tiledsl, tiledsl.lowering,
tiledsl.kernels), nothing is imported. Module-level and function-level imports are both edges (a
lazy import still ties the two modules together); imports under ``if TYPE_CHECKING:`` are not.
Importing a package's submodule also runs the package's ``__init__``; that implicit edge is left
out, as it would put every module in a cycle with the package that re-exports it.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

# The layers, lowest first: a module may import from its own layer and from the layers below it,
# never from one above. Keep this table and the one in docs/architecture.md the same.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("leaf", ("tiledsl.errors", "tiledsl.settings", "tiledsl.dtypes", "tiledsl.specs", "tiledsl.targets",
              "tiledsl.report", "tiledsl.capabilities")),
    ("language", ("tiledsl.language",)),
    ("ir", ("tiledsl.ir",)),
    ("backend contract", ("tiledsl.backends",)),
    ("cost model", ("tiledsl.schedule",)),
    ("passes", ("tiledsl.passes",)),
    ("front end", ("tiledsl.frontend",)),
    ("executors", ("tiledsl.interp", "tiledsl.eager", "tiledsl.lowering")),
    ("runtime", ("tiledsl.runtime",)),
    ("autotuner", ("tiledsl.tune",)),
    ("top", ("tiledsl", "tiledsl.demo", "tiledsl.cli", "tiledsl.__main__", "tiledsl._cli", "tiledsl.kernels")),
)

# The eager mode is the independent oracle the compiled paths are checked against: it shares the
# language, dtypes and errors with them and nothing else.
EAGER_MAY_IMPORT = ("tiledsl.eager", "tiledsl.language", "tiledsl.dtypes", "tiledsl.errors",
                    "tiledsl.settings", "tiledsl.specs")

ROOTS = ("tiledsl", "tiledsl.lowering", "tiledsl.kernels")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the installed packages: dotted name -> file."""
    found: dict[str, Path] = {}
    for root in ROOTS:
        base = _package_dir(root)
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([root, *parts])
            # a nested package installed from another folder (tiledsl.lowering) is read from there
            if root == "tiledsl" and parts and parts[0] in ("lowering", "kernels"):
                continue
            found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in the tree except under ``if TYPE_CHECKING:``."""
    out: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    walk(sub)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append(child)
            walk(child)

    walk(tree)
    return out


def _resolve(mod: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_package else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """module -> the modules of these packages it imports."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                src = _resolve(mod, is_package, node)
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src for a in node.names]
            graph[mod].update(t for t in targets if t in mods and t != mod)
    return {m: frozenset(deps) for m, deps in graph.items()}


def _sccs(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _cycles_from(graph: dict[str, frozenset[str]], start: str, allowed: set[str], limit: int,
                 found: list[list[str]]) -> None:
    """Append every elementary cycle through `start` whose other modules are in `allowed`."""
    path = [start]

    def dfs(v: str) -> None:
        for w in sorted(graph[v]):
            if len(found) >= limit:
                return
            if w == start:
                found.append([*path, start])
            elif w in allowed and w not in path:
                path.append(w)
                dfs(w)
                path.pop()

    dfs(start)


def cycles(graph: dict[str, frozenset[str]], limit: int = 200) -> list[list[str]]:
    """Every elementary cycle (up to `limit`), each starting at its smallest module."""
    found: list[list[str]] = []
    for comp in _sccs(graph):
        for start in comp:
            # cycles through `start` using only modules greater than it: each cycle found once
            _cycles_from(graph, start, {m for m in comp if m > start}, limit, found)
    return found


def layer_of(mod: str) -> tuple[int, str]:
    """The layer of a module: the longest prefix in `LAYERS` that names it."""
    best: tuple[int, int, str] | None = None
    for rank, (layer, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), rank, layer)
    assert best is not None, f"{mod} is in no layer: add it to LAYERS"
    return best[1], best[2]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_module_has_a_layer() -> None:
    for mod in modules():
        layer_of(mod)


def test_imports_go_down_the_layers() -> None:
    bad = []
    for mod, deps in sorted(import_graph().items()):
        rank, layer = layer_of(mod)
        for dep in sorted(deps):
            dep_rank, dep_layer = layer_of(dep)
            if dep_rank > rank:
                bad.append(f"{mod} ({layer}) imports {dep} ({dep_layer})")
    assert not bad, "imports that go up a layer:\n" + "\n".join(bad)


def _under(mod: str, prefixes: tuple[str, ...]) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def test_the_eager_mode_stays_independent() -> None:
    bad = [f"{mod} imports {dep}" for mod, deps in sorted(import_graph().items()) if _under(mod, ("tiledsl.eager",))
           for dep in sorted(deps) if not _under(dep, EAGER_MAY_IMPORT)]
    assert not bad, "the eager mode imports the compiler:\n" + "\n".join(bad)


def test_the_graph_sees_lazy_imports() -> None:
    # the reader itself: a function-level import is an edge, a TYPE_CHECKING one is not
    tree = ast.parse("import a\nif TYPE_CHECKING:\n    import b\ndef f():\n    import c\n")
    assert [n.names[0].name for n in _imports(tree)] == ["a", "c"]
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
