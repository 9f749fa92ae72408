"""The layout of the ``landscape_hpc`` package, read from the source: no import cycle, and every
pydantic model a :class:`landscape_hpc.config.Spec`.

In the import graph every ``import`` and ``from ... import`` counts, also inside functions (a
function-level import hides a cycle, it does not remove it), but not those under ``if
TYPE_CHECKING:`` (never run).  A package's ``__init__`` is its own module; ``from .x import y``
imports the submodule ``x.y`` where there is one, else ``x``; importing ``a.b.c`` also runs the
packages ``a`` and ``a.b`` unless the importer lies inside them (they are then already being
imported).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "landscape_hpc"
Graph = dict[str, set[str]]


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under ``node`` that run, at any depth."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    children = node.orelse if _is_type_checking(node) else ast.iter_child_nodes(node)
    for child in children:
        yield from _imports(child)


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom,
             known: dict[str, Path]) -> set[str]:
    """The modules of the package that ``node`` in module ``name`` (file ``path``) imports, with
    the packages above them that importing them runs (not those ``name`` lies in)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        parts = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
        base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
        base = ".".join(filter(None, (base, node.module)))
        # 'from x import y': the submodule x.y where there is one, else x itself
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = set()
    for target in names:
        while target and target not in known:
            target = target.rpartition(".")[0]
        out.add(target)
        parent = target.rpartition(".")[0]
        while parent and not name.startswith(parent + "."):
            out.add(parent)
            parent = parent.rpartition(".")[0]
    return out - {"", name}


def import_graph(known: dict[str, Path] | None = None) -> Graph:
    """``{module: modules it imports}`` over the package."""
    known = modules() if known is None else known
    return {name: {t for node in _imports(ast.parse(path.read_text(), str(path)))
                   for t in _targets(name, path, node, known)}
            for name, path in known.items()}


def tangles(graph: Graph) -> list[set[str]]:
    """The strongly connected sets of two or more modules (each imports each, via the others)."""
    order, low, stack, found = {}, {}, [], []

    def visit(v: str) -> None:
        order[v] = low[v] = len(order)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            component = set(stack[stack.index(v):])
            del stack[stack.index(v):]
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return found


def cycle_in(graph: Graph, component: set[str]) -> list[str]:
    """A shortest cycle ``[a, b, ..., a]`` through the first module of ``component``."""
    start = min(component)
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        reached = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    reached.append(w)
        frontier = reached
    raise AssertionError(f"no cycle through {start}")


def test_graph_reads_imports_as_python_runs_them(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from . import c\n\ndef f():\n    from .sub.b import x\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nfrom .. import c\nfrom . import g\n")
    (pkg / "c.py").write_text("import p.sub\n")
    graph = import_graph(modules(pkg))
    assert graph == {"p": set(), "p.sub": {"p.sub.b"}, "p.a": {"p.sub", "p.sub.b"},
                     "p.sub.b": {"p.a", "p.c", "p.sub"}, "p.c": {"p.sub"}}
    assert tangles(graph) == [{"p.a", "p.c", "p.sub", "p.sub.b"}]
    assert cycle_in(graph, tangles(graph)[0]) == ["p.a", "p.sub.b", "p.a"]


def test_no_import_cycles():
    graph = import_graph()
    found = [f"{' -> '.join(cycle_in(graph, t))} (in all: {', '.join(sorted(t))})"
             for t in tangles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_every_spec_derives_from_config_spec():
    direct = [f"{name}.{node.name}" for name, path in modules().items()
              for node in ast.walk(ast.parse(path.read_text()))
              if isinstance(node, ast.ClassDef) and any(
                  getattr(b, "id", getattr(b, "attr", None)) == "BaseModel" for b in node.bases)]
    assert direct == ["landscape_hpc.config.Spec"], "derive these from config.Spec: " + ", ".join(
        d for d in direct if d != "landscape_hpc.config.Spec")


def test_the_store_and_its_schema_load_without_torch():
    """``status``, ``query`` and the analysis read stores: importing the store (and the record
    schema it derives its arrays from) must not import torch (over a second per command)."""
    code = ("import sys, landscape_hpc.store, landscape_hpc.dynamics.record; "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr
