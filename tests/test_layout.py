"""The package's rooms and the one direction imports run between them (issue 11).

api -> intake -> notices <- worker -> delivery; tools may use anything. Flask lives at the
edge only (api/, tools/). Read from the source with ast, so a new module is checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "notifier"

# room -> rooms it must never import
FORBIDDEN = {
    "intake": {"api", "worker", "tools"},
    "notices": {"api", "intake", "worker", "tools"},
    "worker": {"api", "intake", "tools"},
    "delivery": {"api", "intake", "notices", "worker", "tools"},
    "rendering": {"api", "intake", "notices", "worker", "delivery", "tools"},
    "core": {"api", "intake", "notices", "worker", "tools"},
    "api": set(),
    "tools": set(),
}
FLASK_ROOMS = {"api", "tools"}
ROOMS = {"api", "intake", "notices", "worker", "delivery", "rendering", "tools"}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else "core"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
GRAPH = {_module(p): _imports(p) for p in SOURCES}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    module = _module(path)
    room = _room(module)
    wrong = sorted(
        name
        for name in GRAPH[module]
        if name.startswith("notifier.") and _room(name) in FORBIDDEN[room] and name in GRAPH
    )
    assert not wrong, f"{module} ({room}) imports {wrong}"
    if room not in FLASK_ROOMS:
        flask = sorted(n for n in GRAPH[module] if n == "flask" or n.startswith("flask."))
        assert not flask, f"{module} imports Flask outside api/ and tools/"


def test_no_import_cycles() -> None:
    edges = {m: {n for n in names if n in GRAPH and n != m} for m, names in GRAPH.items()}
    # a package's __init__ importing its own modules is not a cycle through the package
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The direction check sees a worker module importing intake (a planted violation)."""
    planted = tmp_path / "bad.py"
    planted.write_text("from notifier.intake.accept import accept_event\nimport flask\n")
    names = _imports(planted)
    assert "notifier.intake.accept" in names
    assert _room("notifier.intake.accept") in FORBIDDEN["worker"]
    assert "flask" in names
