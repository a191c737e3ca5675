"""The runtime never imports Textual, the local path never pays for importing Modal, and no import cycles."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import grimp

import runtime

ROOT = Path(__file__).resolve().parents[2]


def test_no_runtime_module_imports_textual_or_the_modal_sdk_eagerly() -> None:
    modules = ["runtime"] + [
        m.name
        for m in pkgutil.walk_packages(runtime.__path__, "runtime.")
        # __main__ modules run their program when imported (the server would start serving).
        if not m.name.startswith("runtime.primitives.modal") and not m.name.endswith("__main__")
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('textual:', bad[:5])\n"
        "print('modal:', 'modal' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "textual: []" in out.stdout
    assert "modal: False" in out.stdout
    assert len(modules) > 20


#: Known cycles, each with the reason it is still here; a new cycle fails the test below.
KNOWN_CYCLES = [
    # /openapi.json is a route in http.routes() and is generated from routes() (a lazy import back).
    ["runtime.server.http", "runtime.server.openapi"],
]


def import_cycles(graph: grimp.ImportGraph, prefix: str) -> list[list[str]]:
    """Strongly connected groups of more than one module under ``prefix`` (Tarjan)."""
    modules = sorted(m for m in graph.modules if m == prefix or m.startswith(prefix + "."))
    inside = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.find_modules_directly_imported_by(module) & inside):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles_in_the_runtime_or_the_widgets() -> None:
    """Reads the real import graph (grimp, import-linter's engine): a cycle anywhere under runtime
    or among agent_tui.widgets fails, whether the import is at the top or inside a function.
    Which imports are allowed at all is the job of the contracts in pyproject.toml (lint-imports)."""
    graph = grimp.build_graph("runtime", "agent_tui")
    assert len(graph.modules) > 100
    assert import_cycles(graph, "runtime") == KNOWN_CYCLES
    assert import_cycles(graph, "agent_tui.widgets") == []
