"""Imports run one way: no cycles between the project's modules, and the light modules stay light."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGES = ("rag", "embeddings", "ui", "train")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Project modules imported when this module is imported: module-level statements only
    (an import inside a function is a deliberate deferral) and not under `if TYPE_CHECKING:`."""
    found: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)

    visit(tree.body)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    known = {_module_name(p) for p in files}
    graph = {}
    for path in files:
        name = _module_name(path)
        deps = _top_level_imports(ast.parse(path.read_text(), str(path)), known)
        # Importing a.b imports the package a first; that edge is Python's, not a design choice.
        graph[name] = {d for d in deps if d != name and not name.startswith(d + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := walk(dep)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_back_into_a_module_that_imports_it():
    graph = import_graph()
    assert "rag.retrieve" in graph and "rag.types" in graph["rag.retrieve"]  # the walk sees real edges
    assert find_cycle(graph) is None


def test_the_pure_modules_load_neither_faiss_nor_torch():
    code = (
        "import sys, rag.question, rag.text, rag.types, ui.render\n"
        "print(sorted(m for m in ('faiss', 'torch', 'transformers', 'spacy', 'gradio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_module_map_names_every_module():
    import rag

    documented = rag.__doc__ or ""
    design = (ROOT / "DESIGN.md").read_text()
    for name in import_graph():
        if name.startswith(("rag.", "embeddings.")):
            short = name.split(".", 1)[1] + ".py"
            assert short in documented or name in documented, f"rag/__init__.py's module map lacks {name}"
            assert name.replace(".", "/") + ".py" in design, f"DESIGN.md's diagram lacks {name}"
