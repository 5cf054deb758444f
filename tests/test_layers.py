"""The package's import graph: no module imports, at its top, one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import vaekit

ROOT = Path(vaekit.__file__).parent


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports() -> dict[str, set[str]]:
    """vaekit module -> the vaekit modules its top-level statements import."""
    paths = {_module(p): p for p in ROOT.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in paths.items():
        found = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found |= {t for t in map(resolve, targets) if t and t.startswith("vaekit") and t != name}
        graph[name] = found
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = top_level_imports()
    assert len(graph) > 50 and "vaekit.models.backbones" in graph["vaekit.models"]
    cycles = []
    for start in graph:  # depth-first from each module, looking for a way back to it
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    assert not cycles, cycles[:3]
