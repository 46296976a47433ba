"""No import circle inside chattn: the graph of who imports whom (every import statement,
top-level or inside a function) has no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import chattn

PACKAGE = Path(chattn.__file__).parent


def _name(path: Path) -> str:
    parts = ("chattn",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """chattn module -> the chattn modules it imports (``from . import x`` counts as module ``x``)."""
    files = {_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for me, path in files.items():
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in files else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[me] = {d for d in deps if d in files and d != me}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}                  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_is_read_from_the_sources():
    graph = import_graph()
    assert "chattn.models.checkpoints" in graph["chattn.models.resnet"]
    assert {"chattn.base", "chattn.registry", "chattn.squeeze"} <= graph["chattn.modules.se"]


def test_no_import_circle_in_chattn():
    assert find_cycle(import_graph()) is None
