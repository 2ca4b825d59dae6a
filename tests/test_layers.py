"""The package's layers: imports (those inside functions included) go downwards only, and no module imports
itself back through another (no cycle). ARCHITECTURE.md draws the same layers."""

from __future__ import annotations

import ast
from pathlib import Path

import exemplar

ROOT = Path(exemplar.__file__).parent

#: Bottom to top. A module may import modules of its own layer or below; ``experiments`` and
#: ``reporting`` share a layer but never import each other (both read ``analysis``).
LAYERS = [
    {"config", "validation", "fileio", "locks", "paper", "metrics", "results", "store"},
    {"data", "models"},
    {"parallel"},
    {"analysis"},
    {"experiments", "reporting"},
    {"site"},
    {"bench", "cli"},
]
APART = ({"experiments", "reporting"},)


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its code (inside functions too)."""
    f = MODULES[module]
    package = module if f.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            found |= {_resolve(a.name) for a in node.names if a.name.startswith("exemplar")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            if base.startswith("exemplar"):
                found |= {_resolve(f"{base}.{a.name}") for a in node.names}
    return found - {module, ""}


GRAPH = {m: imports_of(m) for m in MODULES}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(module: str) -> int:
    top = _top(module)
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    return -1  # the package itself


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "exemplar" and _layer(m) < 0] == []


def test_imports_go_downwards_only():
    upward = [f"{m} -> {d}" for m, deps in GRAPH.items() for d in deps if _layer(d) > _layer(m)]
    apart = [f"{m} -> {d}" for m, deps in GRAPH.items() for d in deps
             for pair in APART if _top(m) in pair and _top(d) in pair and _top(m) != _top(d)]
    assert upward + apart == []


def test_no_import_cycle():
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []
